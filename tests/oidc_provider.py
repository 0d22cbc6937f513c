"""A real OpenID Connect provider on 127.0.0.1 for the sign-in tests: discovery, an
authorization endpoint that signs in whoever the test says (no consent screen), a token
endpoint that checks the client, the code, the redirect and PKCE, and returns an RS256
identity token with the nonce it was given; and the signing keys. Streamlit's st.login
talks to it exactly as to Google or Okta.

    with OidcProvider(email="mia@staff.example") as provider:
        provider.secrets_toml(redirect_uri=...)   # what .streamlit/secrets.toml holds
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.delivery_servers import free_port

CLIENT_ID = "closeloop-test"
CLIENT_SECRET = "test-client-secret-" + "x" * 20


class OidcProvider:
    def __init__(self, *, email: str, email_verified: bool = True, name: str = "Test User"):
        self.email, self.email_verified, self.name = email, email_verified, name
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.codes: dict[str, dict] = {}
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ the test's view
    def secrets_toml(self, *, redirect_uri: str, cookie_secret: str | None = None) -> str:
        return "\n".join([
            "[auth]",
            f'redirect_uri = "{redirect_uri}"',
            f'cookie_secret = "{cookie_secret or secrets.token_urlsafe(32)}"',
            f'client_id = "{CLIENT_ID}"',
            f'client_secret = "{CLIENT_SECRET}"',
            f'server_metadata_url = "{self.issuer}/.well-known/openid-configuration"',
            ""])

    def __enter__(self) -> OidcProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                provider.requests.append(url.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, provider.metadata())
                if url.path == "/jwks":
                    return self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                if url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    if query.get("client_id") != CLIENT_ID:
                        return self._json(400, {"error": "unauthorized_client"})
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = query
                    target = query["redirect_uri"] + "?" + urlencode(
                        {"code": code, "state": query.get("state", "")})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                return self._json(404, {"error": "not found"})

            def do_POST(self):
                url = urlparse(self.path)
                provider.requests.append(url.path)
                if url.path != "/token":
                    return self._json(404, {"error": "not found"})
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                client_id, client_secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client_id, _, client_secret = base64.b64decode(auth[6:]).decode() \
                        .partition(":")
                if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
                    return self._json(401, {"error": "invalid_client"})
                asked = provider.codes.pop(form.get("code", ""), None)
                if asked is None or form.get("redirect_uri") != asked["redirect_uri"]:
                    return self._json(400, {"error": "invalid_grant"})
                if "code_challenge" in asked:
                    verifier = form.get("code_verifier", "")
                    digest = base64.urlsafe_b64encode(
                        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                    if digest != asked["code_challenge"]:
                        return self._json(400, {"error": "invalid_grant"})
                return self._json(200, {
                    "access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                    "expires_in": 300, "id_token": provider.id_token(asked.get("nonce"))})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ------------------------------------------------------------------ protocol
    def metadata(self) -> dict:
        return {"issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"]}

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": hashlib.sha256(self.email.encode()).hexdigest(),
                  "aud": CLIENT_ID, "iat": now, "exp": now + 300, "email": self.email,
                  "email_verified": self.email_verified, "name": self.name}
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)

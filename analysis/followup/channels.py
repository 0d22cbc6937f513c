"""The ways a message leaves: email over SMTP and JSON webhooks signed like Stripe's.

Every webhook carries `Closeloop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` and an `Idempotency-Key` header, so a receiver can check that it came from us,
refuse replays older than its tolerance, and drop a message it has already seen. Every
email carries a Message-ID made from the same key.

    send_email(settings, to="ana@example.com", subject="...", body="...", key="case-12-f1")
    send_webhook(url, {"event": "case.resolved", ...}, secret=..., key="event-991")
    verify_signature(header, body, secret)   # what a receiver runs
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

from analysis.settings import DeliverySettings

TIMEOUT_S = 20
SIGNATURE_HEADER = "Closeloop-Signature"
TOLERANCE_S = 300
"""A receiver refuses signatures older than five minutes: a captured request cannot be
replayed later."""


class DeliveryError(Exception):
    """A send that failed; `permanent` when retrying cannot help (a refused address)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def send_email(settings: DeliverySettings, *, to: str, subject: str, body: str, key: str,
               html: bool = False) -> str:
    """Send one email; returns its Message-ID. Raises DeliveryError."""
    if not settings.can_email:
        raise DeliveryError("email is not set up: set CLOSELOOP_SMTP_HOST and "
                            "CLOSELOOP_SMTP_FROM (or [smtp] in .streamlit/secrets.toml)",
                            permanent=True)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_from, to, subject
    message_id = make_msgid(idstring=hashlib.sha256(key.encode()).hexdigest()[:24],
                            domain="closeloop.local")
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if html:
        message.set_content(_plain(body))
        message.add_alternative(body, subtype="html")
    else:
        message.set_content(body)
    try:
        if settings.smtp_security == "ssl":
            client = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                      timeout=TIMEOUT_S, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password or "")
            refused = client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"the mail server refused {to}: {exc.recipients}",
                            permanent=True) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"the mail server refused our login: {exc.smtp_code}",
                            permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email to {to} failed: {type(exc).__name__}: {exc}") from None
    if refused:
        raise DeliveryError(f"the mail server refused {', '.join(refused)}", permanent=True)
    return message_id


def _plain(html: str) -> str:
    import re
    from html import unescape

    text = re.sub(r"<br\s*/?>|</p>", "\n", html, flags=re.IGNORECASE)
    return unescape(re.sub(r"<[^>]+>", "", text))


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify_signature(header: str, body: bytes, secret: str, *, now: float | None = None,
                     tolerance_s: int = TOLERANCE_S) -> bool:
    """True when the header signs this body with this secret within the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        stamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def send_webhook(url: str, payload: dict, *, secret: str | None, key: str,
                 timestamp: int | None = None) -> int:
    """POST the payload as JSON, signed when there is a secret; returns the HTTP status.
    Raises DeliveryError (permanent for a 4xx other than 408/429)."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": key,
               "User-Agent": "Closeloop"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret, timestamp=timestamp)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
        raise DeliveryError(f"webhook {url} answered {exc.code} {exc.reason}",
                            permanent=permanent) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"webhook {url} unreachable: {reason}") from None

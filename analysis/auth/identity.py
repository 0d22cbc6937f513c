"""Sign-in through an identity provider (OpenID Connect; the app uses Streamlit's st.login).

The provider proves who someone is (their email); Closeloop's own account for that email says
what they may do (its role), as for a password sign-in. Nobody gets in on the provider's
word alone: an email without an active account is refused, and so is an email the
provider does not say is verified (`email_verified` true), and a proof more than
`MAX_PROOF_AGE` old (Streamlit keeps st.user for 30 days; a session that ended must not
come back by itself). An account signed in this way drops an unused one-time
password (the provider is how this person signs in), so no such password stays usable.

Which providers are set up comes from the `[auth]` section of `.streamlit/secrets.toml`
(Streamlit's own format): `client_id` directly in `[auth]` is the default provider,
each `[auth.NAME]` section with a `client_id` a named one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlite_utils

from analysis.auth import accounts
from analysis.store import write_transaction
from analysis.store.clock import utcnow

DEFAULT_PROVIDER_LABEL = "your organisation's sign-in"
MAX_PROOF_AGE = timedelta(minutes=10)
"""How old the provider's identity token (its `iat`) may be when a Closeloop session is
opened from it: a session starts only from a sign-in at the provider just now."""


def configured_providers(auth_secrets: Mapping | None) -> list[str | None]:
    """The providers `auth_secrets` (the `[auth]` section) sets up: None for the default
    provider, then the names of the named ones; [] when sign-in by a provider is off
    (no section, or no `cookie_secret` and `redirect_uri`, which every provider needs)."""
    if not auth_secrets or not auth_secrets.get("redirect_uri") \
            or not auth_secrets.get("cookie_secret"):
        return []
    found: list[str | None] = [None] if auth_secrets.get("client_id") else []
    found += sorted(name for name, value in auth_secrets.items()
                    if isinstance(value, Mapping) and value.get("client_id"))
    return found


def provider_label(name: str | None) -> str:
    """What the sign-in button calls a provider: its section name ("google" -> "Google")."""
    return DEFAULT_PROVIDER_LABEL if not name else name.replace("_", " ").title()


def sign_in_with_identity(db: sqlite_utils.Database, claims: Mapping, *,
                          now: datetime | None = None) -> accounts.Session:
    """A new Session for the person whose email the provider's `claims` (st.user) carry, or
    AuthError: no email, a proof older than MAX_PROOF_AGE (reason "stale": ask to sign in
    at the provider again), an unverified email, or no active account for it. Every
    outcome but a stale proof is a sign-in event, as for passwords."""
    now = now or utcnow()
    email = str(claims.get("email") or "").strip()
    if not email:
        with write_transaction(db, changes_figures=False):
            accounts.record_sign_in_event(db, "unknown user", email=None, person_id=None,
                                          now=now)
        raise accounts.AuthError("The identity provider sent no email address, so Closeloop "
                                 "cannot tell who you are. Ask your administrator to "
                                 "release the email claim.", reason="unknown user")
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or isinstance(issued, bool) \
            or now.timestamp() - issued > MAX_PROOF_AGE.total_seconds():
        # Streamlit keeps st.user for 30 days: an old proof must not reopen a session
        # that ended (idle or absolute expiry, a password reset, a sign-out elsewhere).
        raise accounts.AuthError("Sign in again.", reason="stale")
    if claims.get("email_verified") not in (True, "true"):
        # Missing counts as unverified: some providers let a user type any email.
        with write_transaction(db, changes_figures=False):
            accounts.record_sign_in_event(db, "unknown user", email=email, person_id=None,
                                          now=now)
        raise accounts.AuthError(f"The identity provider does not say that {email} is "
                                 "verified, so Closeloop cannot trust it.",
                                 reason="unknown user")
    row = db.execute(
        "SELECT p.id, p.active, a.must_change_password FROM people p "
        "JOIN accounts a ON a.person_id = p.id WHERE p.email = ? COLLATE NOCASE "
        "ORDER BY p.active DESC LIMIT 1", [email]).fetchone()
    if row is None or not row[1]:
        with write_transaction(db, changes_figures=False):
            accounts.record_sign_in_event(db, "unknown user", email=email,
                                          person_id=row[0] if row else None, now=now)
        raise accounts.AuthError(f"There is no active Closeloop account for {email}: ask an "
                                 "administrator to add you.", reason="unknown user")
    person_id = row[0]
    if row[2]:
        accounts.drop_one_time_password(db, person_id)
    return accounts.open_session(db, person_id, email=email, now=now)

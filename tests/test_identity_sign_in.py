"""Sign-in through an identity provider (st.login, issue 24): the provider proves the email,
Closeloop's account for it gives the role; no account, no entry. Unit tests of
analysis.auth.identity, and the gate under AppTest with st.user seeded (AppTest.user). The
whole redirect dance against a real OIDC provider is tests/e2e/test_sign_in_journey.py."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.auth import accounts, identity
from analysis.cases import people
from tests.test_sign_in import (  # noqa: F401 - fixtures shared with the password sign-in
    APP,
    EMAILS,
    PASSWORD,
    clock,
    sign_in_mode,
    staffed,
    titles,
)


def test_providers_come_from_the_auth_section():
    shared = {"redirect_uri": "https://cx.example/oauth2callback", "cookie_secret": "s" * 32}
    assert identity.configured_providers(None) == []
    assert identity.configured_providers({"client_id": "x"}) == []   # no redirect, no cookie
    assert identity.configured_providers({**shared, "client_id": "x"}) == [None]
    assert identity.configured_providers(
        {**shared, "google": {"client_id": "g"}, "okta": {"client_id": "o"},
         "expose_tokens": ["id"]}) == ["google", "okta"]
    assert identity.provider_label("google") == "Google"
    assert identity.provider_label("azure_ad") == "Azure Ad"
    assert identity.provider_label(None) == identity.DEFAULT_PROVIDER_LABEL


@pytest.fixture
def person(db):
    with store.write_transaction(db):
        person_id = people.save_person(db, "Ann Analyst", "Ann@Staff.example", capacity=0,
                                       actor="test")
    return person_id


def proof(**claims) -> dict:
    """Claims as a provider sends them at a sign-in just now: verified, issued now."""
    return {"email_verified": True, "iat": int(time.time()), **claims}


def events(db) -> list[tuple]:
    return db.execute("SELECT email, outcome FROM sign_in_events ORDER BY id").fetchall()


def test_a_verified_email_with_an_account_signs_in_with_the_account_s_role(db, person):
    accounts.create_account(db, person, app_role="analyst", password=PASSWORD, actor="test")
    session = identity.sign_in_with_identity(db, proof(email="ann@staff.example"))
    assert session.app_role == "analyst" and session.person_id == person
    assert accounts.session_for(db, session.token).email == "Ann@Staff.example"
    assert events(db)[-1] == ("ann@staff.example", "signed in")


@pytest.mark.parametrize(("claims", "says"), [
    (proof(email="nobody@staff.example"), "There is no active Closeloop account for"),
    (proof(email="ann@staff.example", email_verified=False), "does not say that"),
    (proof(email="ann@staff.example", email_verified="false"), "does not say that"),
    ({"email": "ann@staff.example", "iat": int(time.time())}, "does not say that"),
    (proof(name="No Email"), "sent no email address"),
    (proof(email="ann@staff.example", iat=int(time.time()) - 3600), "Sign in again"),
    ({"email": "ann@staff.example", "email_verified": True}, "Sign in again"),
])
def test_no_account_an_unverified_missing_or_stale_proof_is_refused(db, person, claims, says):
    accounts.create_account(db, person, app_role="admin", password=PASSWORD, actor="test")
    with pytest.raises(accounts.AuthError, match=says):
        identity.sign_in_with_identity(db, claims)
    assert not db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]


def test_an_inactive_person_is_refused(db, person):
    accounts.create_account(db, person, app_role="admin", password=PASSWORD, actor="test")
    db.execute("UPDATE people SET active = 0 WHERE id = ?", [person])
    with pytest.raises(accounts.AuthError, match="no active Closeloop account"):
        identity.sign_in_with_identity(db, proof(email="ann@staff.example"))
    assert events(db)[-1] == ("ann@staff.example", "unknown user")


def test_signing_in_by_provider_drops_an_unused_one_time_password(db, person):
    one_time = accounts.create_account(db, person, app_role="viewer", actor="test")
    assert one_time
    session = identity.sign_in_with_identity(db, proof(email="ann@staff.example"))
    assert not session.must_change_password
    with pytest.raises(accounts.AuthError):
        accounts.sign_in(db, "Ann@Staff.example", one_time)


# ----------------------------------------------------------------------------- the gate


def provider_app(user: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": True, **proof(**user)}
    return at.run()


def test_the_app_signs_in_whoever_the_provider_proved(staffed):  # noqa: F811 - the fixture
    at = provider_app({"email": EMAILS["manager"], "email_verified": True})
    assert not at.exception
    assert titles(at) == ["Overview"]
    assert any(f"Signed in as {EMAILS['manager']} (manager)" in c.value
               for c in at.sidebar.caption)
    at.switch_page("pages/case_settings.py").run()
    assert "The manager role may not view page:case_settings." in [e.value for e in at.error]
    # one session for the browser session, however many runs
    at.switch_page("pages/overview.py").run()
    db = store.connect(staffed["path"])
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE person_id = ?",
                      [staffed["people"]["manager"]]).fetchone()[0] == 1
    db.close()


def test_an_old_proof_does_not_reopen_an_ended_session(staffed):  # noqa: F811 - the fixture
    """st.user outlives Closeloop's session (30 days): after an expiry or a reset the
    sign-in form comes back instead of a silent new session."""
    at = provider_app({"email": EMAILS["manager"], "iat": int(time.time()) - 9 * 3600})
    assert not at.exception
    assert titles(at) == ["Sign in to Closeloop"]
    assert not at.error
    db = store.connect(staffed["path"])
    assert not db.execute("SELECT COUNT(*) FROM sessions WHERE person_id = ?",
                          [staffed["people"]["manager"]]).fetchone()[0]
    db.close()


def test_the_app_refuses_a_proven_email_without_an_account(staffed):  # noqa: F811 - the fixture
    at = provider_app({"email": "stranger@elsewhere.example", "email_verified": True})
    assert not at.exception
    assert titles(at) == ["Sign in to Closeloop"]
    assert [e.value for e in at.error] == ["Closeloop cannot let you in with this identity."]
    assert any("There is no active Closeloop account for stranger@elsewhere.example" in t.value
               for t in at.text)
    at.run()   # a rerun records no second refusal
    db = store.connect(staffed["path"])
    assert db.execute("SELECT COUNT(*) FROM sign_in_events WHERE email = ?",
                      ["stranger@elsewhere.example"]).fetchone()[0] == 1
    db.close()
    assert [b.label for b in at.button] == ["Sign out of the identity provider"]
    assert not at.metric and not at.dataframe

"""Users and roles (issue 24): accounts, passwords, sign-in throttling, sessions, and the
permission table."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from analysis.auth import accounts as acc
from analysis.auth import permissions as perm
from analysis.cases.people import save_person, save_team
from analysis.store import to_iso

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
GOOD = "correct horse battery staple"
PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch):
    """Argon2id with small parameters: the tests hash dozens of times on a busy machine."""
    monkeypatch.setattr(acc, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                       parallelism=1))
    monkeypatch.setattr(acc, "_dummy_hash", None)


def person(db, email="ana@example.org", name="Ana Lima", **kwargs) -> int:
    return save_person(db, name, email, actor="test", now=NOW, **kwargs)


def account(db, role="manager", password=GOOD, email="ana@example.org", **kwargs) -> int:
    person_id = person(db, email, **kwargs)
    acc.create_account(db, person_id, app_role=role, password=password, actor="test", now=NOW)
    return person_id


def row(db, person_id) -> dict:
    return next(db.query("SELECT * FROM accounts WHERE person_id = ?", [person_id]))


def events(db) -> list[str]:
    return [r["outcome"] for r in db.query("SELECT outcome FROM sign_in_events ORDER BY id")]


# ------------------------------------------------------------------ hashing


def test_stored_hash_is_argon2id_never_the_password(db):
    person_id = account(db)
    stored = row(db, person_id)["password_hash"]
    assert stored.startswith("$argon2id$")
    assert GOOD not in stored
    assert PasswordHasher().verify(stored, GOOD)
    dump = "\n".join(db.iterdump())
    assert GOOD not in dump


def test_default_hasher_is_argon2id_at_library_defaults(monkeypatch):
    monkeypatch.undo()
    default = PasswordHasher()
    assert acc._hasher.type == default.type
    assert (acc._hasher.time_cost, acc._hasher.memory_cost, acc._hasher.parallelism) == (
        default.time_cost, default.memory_cost, default.parallelism)


def test_rehash_when_parameters_change(db, monkeypatch):
    person_id = account(db)
    old = row(db, person_id)["password_hash"]
    assert "m=1024,t=1,p=1" in old
    monkeypatch.setattr(acc, "_hasher", PasswordHasher(time_cost=2, memory_cost=2048,
                                                       parallelism=1))
    acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    new = row(db, person_id)["password_hash"]
    assert new != old and "m=2048,t=2,p=1" in new
    assert PasswordHasher().verify(new, GOOD)
    acc.sign_in(db, "ana@example.org", GOOD, now=NOW)      # no further rehash needed
    assert row(db, person_id)["password_hash"] == new


# ------------------------------------------------------------------ passwords


def test_one_time_password_returned_once_and_must_be_changed(db):
    person_id = person(db)
    one_time = acc.create_account(db, person_id, app_role="analyst", actor="admin@x", now=NOW)
    assert isinstance(one_time, str) and len(one_time) >= 20
    stored = row(db, person_id)
    assert stored["must_change_password"] == 1 and one_time not in stored["password_hash"]
    assert stored["created_by"] == "admin@x" and stored["app_role"] == "analyst"
    session = acc.sign_in(db, "ana@example.org", one_time, now=NOW)
    assert session.must_change_password
    acc.set_password(db, person_id, GOOD, actor="ana@example.org", now=NOW,
                     keep_token=session.token)
    assert row(db, person_id)["must_change_password"] == 0
    assert not acc.session_for(db, session.token, now=NOW).must_change_password
    with pytest.raises(acc.AuthError):
        acc.sign_in(db, "ana@example.org", one_time, now=NOW)


@pytest.mark.parametrize("bad", [
    "short", "elevenchars", "password1234", "Password2024!", "123456789012", "qwertyuiop12",
    "aaaaaaaaaaaaaaaa", "abcabcabcabc", "abcdefghijklm", "ana@example.org-2025!", "x" * 2000,
    "Ana Lima rocks so hard",
])
def test_weak_password_refused_naming_the_field(db, bad):
    person_id = person(db)
    with pytest.raises(acc.AccountError, match=r"^password: "):
        acc.create_account(db, person_id, app_role="viewer", password=bad, actor="t", now=NOW)
    assert db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 0
    acc.create_account(db, person_id, app_role="viewer", password=GOOD, actor="t", now=NOW)
    with pytest.raises(acc.AccountError, match=r"^password: "):
        acc.set_password(db, person_id, bad, actor="t", now=NOW)


def test_short_password_message_names_the_minimum():
    assert acc.password_problem("short") == "password: must have at least 12 characters"
    assert acc.password_problem(GOOD) is None


def test_account_errors_name_the_field(db):
    person_id = account(db)
    with pytest.raises(acc.AccountError, match="^person: .*already has an account"):
        acc.create_account(db, person_id, app_role="viewer", actor="t", now=NOW)
    with pytest.raises(acc.AccountError, match="^app role: "):
        acc.create_account(db, person(db, "bo@example.org"), app_role="agent", actor="t")
    with pytest.raises(acc.AccountError, match="^person: there is no person 999"):
        acc.create_account(db, 999, app_role="viewer", actor="t")


# ------------------------------------------------------------------ sign-in


def test_sign_in_creates_session_storing_only_the_token_hash(db):
    person_id = account(db, team_id=None)
    session = acc.sign_in(db, "  ANA@example.org ", GOOD, now=NOW)
    assert session.person_id == person_id and session.app_role == "manager"
    assert session.email == "ana@example.org" and len(session.token) >= 40
    stored = list(db.query("SELECT * FROM sessions"))
    assert len(stored) == 1
    assert stored[0]["token_hash"] == hashlib.sha256(session.token.encode()).hexdigest()
    assert session.token not in "\n".join(db.iterdump())
    assert stored[0]["expires_at"] == "2025-03-10T09:00:00Z"
    assert events(db) == ["signed in"]
    assert acc.session_for(db, session.token, now=NOW).person_id == person_id


def test_wrong_password_counted_and_reset_by_success(db):
    person_id = account(db)
    for attempt in (1, 2):
        with pytest.raises(acc.AuthError) as refused:
            acc.sign_in(db, "ana@example.org", "not the password", now=NOW)
        assert refused.value.reason == "wrong password"
        assert str(refused.value) == acc.SIGN_IN_REFUSED
        assert row(db, person_id)["failed_attempts"] == attempt
    acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    assert row(db, person_id)["failed_attempts"] == 0
    assert events(db) == ["wrong password", "wrong password", "signed in"]


def fail(db, times, at):
    for _ in range(times):
        with pytest.raises(acc.AuthError):
            acc.sign_in(db, "ana@example.org", "wrong wrong wrong", now=at)


def test_lock_after_five_failures_doubling_on_repeat(db):
    person_id = account(db)
    fail(db, 4, NOW)
    assert row(db, person_id)["locked_until"] is None
    with pytest.raises(acc.AuthError) as refused:
        acc.sign_in(db, "ana@example.org", "wrong wrong wrong", now=NOW)
    assert refused.value.locked_until == NOW + timedelta(minutes=15)
    assert row(db, person_id)["locked_until"] == "2025-03-03T09:15:00Z"
    # While locked even the right password is refused, and not counted.
    with pytest.raises(acc.AuthError, match="locked until 2025-03-03T09:15:00Z") as locked:
        acc.sign_in(db, "ana@example.org", GOOD, now=NOW + timedelta(minutes=14))
    assert locked.value.reason == "locked"
    assert row(db, person_id)["failed_attempts"] == 5
    # The second lock without a success in between lasts twice as long, the third 4 times.
    second = NOW + timedelta(minutes=15)
    fail(db, 5, second)
    assert row(db, person_id)["locked_until"] == to_iso(second + timedelta(minutes=30))
    third = second + timedelta(minutes=30)
    fail(db, 5, third)
    assert row(db, person_id)["locked_until"] == to_iso(third + timedelta(hours=1))
    # After the lock, the right password works and the next lock is 15 minutes again.
    free = third + timedelta(hours=1)
    acc.sign_in(db, "ana@example.org", GOOD, now=free)
    assert row(db, person_id)["failed_attempts"] == 0
    assert row(db, person_id)["locked_until"] is None
    fail(db, 5, free)
    assert row(db, person_id)["locked_until"] == to_iso(free + timedelta(minutes=15))
    assert events(db).count("locked") == 1


def test_lock_durations_cap_at_24_hours():
    assert [acc.lock_duration(n) for n in (1, 4, 6)] == [None, None, None]
    assert acc.lock_duration(5) == timedelta(minutes=15)
    assert acc.lock_duration(10) == timedelta(minutes=30)
    assert acc.lock_duration(30) == timedelta(hours=8)
    assert acc.lock_duration(35) == timedelta(hours=16)
    assert acc.lock_duration(40) == acc.lock_duration(5000) == timedelta(hours=24)


def test_unknown_user_refused_like_a_wrong_password(db):
    account(db)
    with pytest.raises(acc.AuthError) as unknown:
        acc.sign_in(db, "nobody@example.org", GOOD, now=NOW)
    with pytest.raises(acc.AuthError) as wrong:
        acc.sign_in(db, "ana@example.org", "wrong wrong wrong", now=NOW)
    assert str(unknown.value) == str(wrong.value) == acc.SIGN_IN_REFUSED
    assert unknown.value.reason == "unknown user"
    assert acc._dummy_hash is not None          # a hash check ran for the unknown user too
    assert events(db) == ["unknown user", "wrong password"]
    assert next(db.query("SELECT email, person_id FROM sign_in_events WHERE id = 1")) == {
        "email": "nobody@example.org", "person_id": None}


def test_person_without_account_or_inactive_is_refused_like_unknown(db):
    person(db, "bo@example.org", "Bo Berg")
    with pytest.raises(acc.AuthError, match=acc.SIGN_IN_REFUSED) as no_account:
        acc.sign_in(db, "bo@example.org", GOOD, now=NOW)
    assert no_account.value.reason == "unknown user"
    person_id = account(db)
    session = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    save_person(db, "Ana Lima", "ana@example.org", active=False, person_id=person_id,
                actor="t", now=NOW)
    with pytest.raises(acc.AuthError, match=acc.SIGN_IN_REFUSED):
        acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    assert acc.session_for(db, session.token, now=NOW) is None


# ------------------------------------------------------------------ sessions


def test_session_idle_expiry(db):
    account(db)
    session = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    later = NOW + timedelta(hours=7, minutes=59)
    seen = acc.session_for(db, session.token, now=later)
    assert seen.last_seen_at == later and seen.expires_at == later + timedelta(hours=8)
    assert acc.session_for(db, session.token, now=later + timedelta(hours=8)) is None
    assert events(db) == ["signed in", "expired"]
    assert acc.session_for(db, session.token, now=later) is None    # stays ended
    assert events(db) == ["signed in", "expired"]


def test_session_absolute_expiry(db):
    account(db)
    session = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    at = NOW
    while at + timedelta(hours=7) < NOW + timedelta(days=7):
        at += timedelta(hours=7)
        assert acc.session_for(db, session.token, now=at) is not None
    assert acc.session_for(db, session.token, now=NOW + timedelta(days=7)) is None
    assert events(db)[-1] == "expired"


def test_unknown_token_has_no_session(db):
    account(db)
    assert acc.session_for(db, "made-up", now=NOW) is None
    assert acc.session_for(db, None, now=NOW) is None
    assert acc.session_for(db, "", now=NOW) is None


def test_sign_out_ends_the_session(db):
    account(db)
    session = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    other = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    acc.sign_out(db, session.token, now=NOW + timedelta(minutes=5))
    assert acc.session_for(db, session.token, now=NOW + timedelta(minutes=6)) is None
    assert acc.session_for(db, other.token, now=NOW + timedelta(minutes=6)) is not None
    acc.sign_out(db, session.token, now=NOW + timedelta(minutes=7))       # no-op
    assert events(db) == ["signed in", "signed in", "signed out"]


def test_new_password_ends_other_sessions(db):
    person_id = account(db)
    kept = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    ended = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    acc.set_password(db, person_id, "another long passphrase", actor="ana", now=NOW,
                     keep_token=kept.token)
    assert acc.session_for(db, kept.token, now=NOW) is not None
    assert acc.session_for(db, ended.token, now=NOW) is None
    one_time = acc.reset_password(db, person_id, actor="admin", now=NOW)
    assert acc.session_for(db, kept.token, now=NOW) is None
    assert acc.sign_in(db, "ana@example.org", one_time, now=NOW).must_change_password


def test_session_knows_the_persons_teams(db):
    north = save_team(db, "North", actor="t", now=NOW)
    person_id = account(db, team_id=north)
    south = save_team(db, "South", manager_id=person_id, actor="t", now=NOW)
    save_team(db, "West", actor="t", now=NOW)
    session = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    assert session.team_ids == {north, south}


# ------------------------------------------------------------------ first admin and roles


def test_ensure_first_admin_is_idempotent(db):
    one_time = acc.ensure_first_admin(db, email="boss@example.org", name="Boss", now=NOW)
    assert isinstance(one_time, str)
    assert acc.ensure_first_admin(db, email="boss@example.org", name="Boss", now=NOW) is None
    assert acc.ensure_first_admin(db, email="other@example.org", name="O", now=NOW) is None
    assert db.execute("SELECT COUNT(*) FROM people").fetchone()[0] == 1
    listed = acc.list_accounts(db)
    assert [(a["email"], a["app_role"], a["must_change_password"]) for a in listed] == [
        ("boss@example.org", "admin", 1)]
    assert "password_hash" not in listed[0]
    assert acc.sign_in(db, "boss@example.org", one_time, now=NOW).app_role == "admin"
    assert next(db.query("SELECT capacity FROM people"))["capacity"] == 0


def test_ensure_first_admin_with_password_and_existing_person(db):
    person_id = account(db, role="viewer")
    assert acc.ensure_first_admin(db, email="ANA@example.org", name="Ana", password=GOOD + "!",
                                  now=NOW) is None
    assert row(db, person_id)["app_role"] == "admin"
    assert acc.sign_in(db, "ana@example.org", GOOD + "!", now=NOW).app_role == "admin"


def test_last_admin_cannot_be_demoted(db):
    admin = account(db, role="admin")
    with pytest.raises(acc.AccountError, match="^app role: this is the last admin"):
        acc.set_role(db, admin, "viewer", actor="t", now=NOW)
    other = account(db, role="analyst", email="bo@example.org", name="Bo Berg")
    acc.set_role(db, other, "admin", actor="t", now=NOW)
    acc.set_role(db, admin, "viewer", actor="t", now=NOW)
    assert row(db, admin)["app_role"] == "viewer"



def test_the_last_active_admin_cannot_be_made_inactive_on_the_people_list(db):
    """Case settings saves people through save_person: unticking "Active" on the last
    admin would leave nobody to manage users or settings."""
    from analysis.cases.people import PeopleError

    admin = account(db, role="admin")
    with pytest.raises(PeopleError, match="^active: this is the last active admin"):
        save_person(db, "Ana Lima", "ana@example.org", active=False, person_id=admin,
                    actor="t", now=NOW)
    other = account(db, role="admin", email="bo@example.org", name="Bo Berg")
    save_person(db, "Ana Lima", "ana@example.org", active=False, person_id=admin, actor="t",
                now=NOW)
    assert acc.session_for(db, acc.sign_in(db, "bo@example.org", GOOD, now=NOW).token,
                           now=NOW).person_id == other


# ------------------------------------------------------------------ permissions

A, M, N, V = "admin", "manager", "analyst", "viewer"
EXPECTED_PAGES = {
    "overview": {A, M, N, V}, "trends": {A, M, N, V}, "benchmarks": {A, M, N, V},
    "impact": {A, M, N, V}, "themes": {A, M, N, V}, "theme_quality": {A, N},
    "improvements": {A, N}, "templates": {A, N}, "import": {A, N}, "cases": {A, M},
    "case_settings": {A}, "users": {A},
}
EXPECTED_ACTIONS = {
    "work cases": {A, M}, "send follow-ups": {A, M}, "edit case settings": {A},
    "edit templates": {A, N}, "edit improvements": {A, N}, "edit themes": {A, N},
    "edit alerts": {A, N}, "import": {A, N}, "manage users": {A}, "export unmasked": {A},
    "view customer data": {A, M}, "read comments unmasked": {A, M, N},
}


def test_every_page_file_has_access_rules():
    files = {p.stem for p in PAGES_DIR.glob("*.py") if p.name != "__init__.py"}
    assert files == set(perm.PAGE_ACCESS) == set(EXPECTED_PAGES)


def test_every_action_is_in_the_table():
    assert set(perm.ACTIONS) == set(EXPECTED_ACTIONS) | {f"view page:{p}" for p in
                                                         EXPECTED_PAGES}


@pytest.mark.parametrize("role", perm.ROLES)
@pytest.mark.parametrize("page", sorted(EXPECTED_PAGES))
def test_page_access(role, page):
    allowed = role in EXPECTED_PAGES[page]
    assert perm.can(role, f"view page:{page}") is allowed
    assert perm.can(role, f"view page:{page}.py") is allowed
    assert (page in perm.pages_for(role)) is allowed
    if allowed:
        perm.require(role, f"view page:{page}")
    else:
        with pytest.raises(perm.PermissionDenied, match=f"{role}.*view page:{page}"):
            perm.require(role, f"view page:{page}")


@pytest.mark.parametrize("role", perm.ROLES)
@pytest.mark.parametrize("action", sorted(EXPECTED_ACTIONS))
def test_action_access(role, action):
    allowed = role in EXPECTED_ACTIONS[action]
    assert perm.can(role, action) is allowed
    if allowed:
        perm.require(role, action)
    else:
        with pytest.raises(perm.PermissionDenied, match=f"The {role} role may not {action}"):
            perm.require(role, action)


def test_viewers_read_only_and_customer_data():
    assert perm.pages_for(V) == ["overview", "trends", "benchmarks", "impact", "themes"]
    assert not any(perm.can(V, a) for a in EXPECTED_ACTIONS)
    assert [perm.shows_customer_data(r) for r in perm.ROLES] == [True, True, False, False]
    assert perm.pages_for(A) == list(perm.PAGE_ACCESS)


def test_unknown_role_or_action():
    assert not perm.can(None, "view page:overview")
    assert not perm.can("agent", "work cases")
    with pytest.raises(perm.PermissionDenied, match="'agent' is not a role"):
        perm.require("agent", "work cases")
    with pytest.raises(ValueError, match="unknown action"):
        perm.can(A, "delete everything")
    with pytest.raises(ValueError, match="unknown action"):
        perm.can(A, "view page:nope")


@pytest.mark.parametrize("action", sorted(perm.TEAM_ACTIONS))
def test_manager_limited_to_their_teams(action):
    mine = {3, 5}
    assert perm.can(M, action, team_ids=mine, case_team_id=3)
    assert not perm.can(M, action, team_ids=mine, case_team_id=4)
    assert not perm.can(M, action, team_ids=mine, case_team_id=None)   # a case without a team
    assert not perm.can(M, action, team_ids=None, case_team_id=3)
    assert perm.can(M, action, team_ids=mine)                         # not about one case
    assert perm.can(A, action, team_ids=set(), case_team_id=4)         # admins: every case
    assert not perm.can(N, action, team_ids={4}, case_team_id=4)
    with pytest.raises(perm.PermissionDenied, match=f"manager role may {action} only for "
                                                    "cases of their own teams"):
        perm.require(M, action, team_ids=mine, case_team_id=4)


def test_manager_session_teams_drive_the_case_check(db):
    north = save_team(db, "North", actor="t", now=NOW)
    south = save_team(db, "South", actor="t", now=NOW)
    account(db, role="manager", team_id=north)
    session = acc.sign_in(db, "ana@example.org", GOOD, now=NOW)
    assert perm.can(session.app_role, "work cases", team_ids=session.team_ids,
                    case_team_id=north)
    assert not perm.can(session.app_role, "work cases", team_ids=session.team_ids,
                        case_team_id=south)


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", True), ("localhost", True), ("LOCALHOST", True), ("::1", True),
    ("[::1]", True), (" 127.0.0.1 ", True), ("0.0.0.0", False), ("", False), (None, False),
    ("::", False), ("192.168.1.10", False), ("127.0.0.2", False), ("localhost.evil.com", False),
    ("example.org", False),
])
def test_local_mode_allowed(address, allowed):
    assert perm.local_mode_allowed(address) is allowed

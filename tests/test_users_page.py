"""Users page under AppTest, through app.py (issue 24): an admin adds an account (its one-time
password shown once), changes a role, resets a password, deactivates and reactivates an
account and sees the sign-in events; the last admin is never demoted or deactivated; bad
input is refused naming the field, nothing saved. Other roles are refused the page and its
writes on the server. Local mode (127.0.0.1) acts as admin; an empty store works."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.auth import accounts, users
from analysis.cases import people
from tests.stores import no_write_permission
from tests.test_cases_page import APP, NOW, ok, table

PAGE = "pages/users.py"
PASSWORD = "Tulip-Kettle-Orbit-93"
ADMIN, ANALYST = "ada@staff.example", "nils@staff.example"


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch):
    """Argon2id with small parameters: these tests hash many times on a busy machine."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                            parallelism=1))
    monkeypatch.setattr(accounts, "_dummy_hash", None)


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def sign_in_mode():
    st_config.set_option("server.address", "0.0.0.0")
    yield
    st_config.set_option("server.address", "127.0.0.1")


def read(path, reader):
    db = store.connect(path)
    try:
        return reader(db)
    finally:
        db.close()


def accounts_by_email(path) -> dict[str, dict]:
    return {row["email"]: row for row in read(path, lambda db: users.user_rows(db, now=NOW))}


def staff(path) -> None:
    """An admin and an analyst with PASSWORD, and a team."""
    db = store.connect(path)
    with store.write_transaction(db):
        people.save_team(db, "Customer care", actor="test", now=NOW)
        for email, name in ((ADMIN, "Ada Admin"), (ANALYST, "Nils Analyst")):
            people.save_person(db, name, email, capacity=0, actor="test", now=NOW)
    for email, role in ((ADMIN, "admin"), (ANALYST, "analyst")):
        person_id = db.execute("SELECT id FROM people WHERE email = ?", [email]).fetchone()[0]
        accounts.create_account(db, person_id, app_role=role, password=PASSWORD, actor="test",
                                now=NOW)
    db.close()


def open_page(token: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if token:
        at.session_state["_auth_token"] = token
    at.run()
    at.switch_page(PAGE).run()
    return at


def token_for(path, email: str) -> str:
    return read(path, lambda db: accounts.sign_in(db, email, PASSWORD).token)


def refused(at: AppTest, failure: str, field: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [failure]
    detail = " ".join(t.value for t in at.text)
    assert field in detail, detail


def shown_password(at: AppTest) -> str | None:
    codes = [c.value for c in at.code]
    assert len(codes) <= 1, codes
    return codes[0] if codes else None


def fill_add_form(at: AppTest, email: str, name: str = "", role: str = "viewer",
                  team: int | None = None) -> AppTest:
    at.text_input(key="users_add_email").input(email)
    at.text_input(key="users_add_name").input(name)
    at.selectbox(key="users_add_role").set_value(role)
    if team is not None:
        at.selectbox(key="users_add_team").set_value(team)
    return at.button(key="users_add").click().run()


# ------------------------------------------------------------------ local mode (admin)


def test_an_empty_store_shows_the_page_and_an_account_can_be_added(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    ok(at)
    assert at.title[0].value == "Users"
    captions = " ".join(c.value for c in at.caption)
    assert "No accounts yet" in captions and "Local mode" in captions
    assert "No sign-in yet" in captions
    assert shown_password(at) is None
    assert not at.main.markdown, [m.value for m in at.main.markdown]  # no stray text

    fill_add_form(at, "ana@example.org", "Ana Lima", "analyst")
    ok(at)
    assert any("Account added." in s.value for s in at.success)
    one_time = shown_password(at)
    assert one_time and len(one_time) >= 16
    assert "ana@example.org" in [t.value for t in at.text]
    row = table(at, "Must change password").iloc[0]
    assert (row["Email"], row["Name"], row["Role"], bool(row["Active"])) == (
        "ana@example.org", "Ana Lima", "analyst", True)
    session = read(db_path, lambda db: accounts.sign_in(db, "ana@example.org", one_time))
    assert session.app_role == "analyst" and session.must_change_password
    # shown once: the next run no longer has it
    at.run()
    ok(at)
    assert shown_password(at) is None
    assert at.text_input(key="users_add_email").value == ""


def test_an_existing_person_gets_an_account_in_their_team(db_path, clock):
    staff(db_path)
    team = read(db_path, people.teams)[0]["id"]
    db = store.connect(db_path)
    with store.write_transaction(db):
        people.save_person(db, "Mia Manager", "mia@example.org", role="manager", capacity=5,
                           actor="test", now=NOW)
    db.close()
    at = open_page()
    fill_add_form(at, "mia@example.org", role="manager", team=team)
    ok(at)
    row = accounts_by_email(db_path)["mia@example.org"]
    assert (row["role"], row["teams"], row["name"]) == ("manager", "Customer care",
                                                         "Mia Manager")


@pytest.mark.parametrize("email, name, field", [
    ("ana@example.org", "", "name:"),
    ("not an address", "Ana Lima", "email:"),
    ("", "Ana Lima", "email: required"),
    (ADMIN, "", "already has an account"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(db_path, clock, email,
                                                                     name, field):
    staff(db_path)
    at = open_page()
    fill_add_form(at, email, name)
    refused(at, "Not added.", field)
    assert shown_password(at) is None
    assert set(accounts_by_email(db_path)) == {ADMIN, ANALYST}
    assert len(read(db_path, people.people)) == 2
    assert at.text_input(key="users_add_email").value == email  # kept to be corrected


def test_a_role_is_changed_and_the_last_admin_cannot_be_demoted(db_path, clock):
    staff(db_path)
    at = open_page()
    admin_id = accounts_by_email(db_path)[ADMIN]["person_id"]
    at.selectbox(key="users_pick").set_value(admin_id).run()
    at.selectbox(key=f"users_role_{admin_id}").set_value("viewer")
    at.button(key="users_change_role").click().run()
    refused(at, "Not changed.", "last admin")
    assert accounts_by_email(db_path)[ADMIN]["role"] == "admin"

    analyst_id = accounts_by_email(db_path)[ANALYST]["person_id"]
    at.selectbox(key="users_pick").set_value(analyst_id).run()
    at.selectbox(key=f"users_role_{analyst_id}").set_value("admin")
    at.button(key="users_change_role").click().run()
    ok(at)
    assert accounts_by_email(db_path)[ANALYST]["role"] == "admin"
    at.selectbox(key="users_pick").set_value(admin_id).run()
    at.selectbox(key=f"users_role_{admin_id}").set_value("viewer")
    at.button(key="users_change_role").click().run()
    ok(at)
    assert accounts_by_email(db_path)[ADMIN]["role"] == "viewer"


def test_a_reset_shows_a_new_one_time_password_once_and_ends_the_sessions(db_path, clock):
    staff(db_path)
    token = token_for(db_path, ANALYST)
    at = open_page()
    at.selectbox(key="users_pick").set_value(accounts_by_email(db_path)[ANALYST]["person_id"])
    at.run()
    at.button(key="users_reset").click().run()
    ok(at)
    one_time = shown_password(at)
    assert one_time and ANALYST in [t.value for t in at.text]
    assert read(db_path, lambda db: accounts.session_for(db, token, now=NOW)) is None
    assert read(db_path, lambda db: accounts.sign_in(db, ANALYST, one_time)).must_change_password
    assert accounts_by_email(db_path)[ANALYST]["must_change_password"] is True


def test_deactivate_and_reactivate_and_never_the_last_admin(db_path, clock):
    staff(db_path)
    at = open_page()
    ids = {email: row["person_id"] for email, row in accounts_by_email(db_path).items()}
    at.selectbox(key="users_pick").set_value(ids[ADMIN]).run()
    at.button(key="users_deactivate").click().run()
    refused(at, "Not changed.", "last active admin")
    assert accounts_by_email(db_path)[ADMIN]["active"] is True

    at.selectbox(key="users_pick").set_value(ids[ANALYST]).run()
    at.button(key="users_deactivate").click().run()
    ok(at)
    assert accounts_by_email(db_path)[ANALYST]["active"] is False
    with pytest.raises(accounts.AuthError):
        read(db_path, lambda db: accounts.sign_in(db, ANALYST, PASSWORD))
    at.button(key="users_reactivate").click().run()
    ok(at)
    assert accounts_by_email(db_path)[ANALYST]["active"] is True


def test_recent_sign_in_events_are_listed_newest_first(db_path, clock):
    staff(db_path)
    token_for(db_path, ANALYST)
    with pytest.raises(accounts.AuthError):
        read(db_path, lambda db: accounts.sign_in(db, "who@example.org", "whatever it is"))
    at = open_page()
    ok(at)
    events = table(at, "Outcome")
    assert list(events["Outcome"]) == ["unknown user", "signed in"]
    assert list(events["Email (as typed)"]) == ["who@example.org", ANALYST]


def test_a_read_only_store_shows_the_accounts_with_every_write_off(db_path, clock):
    staff(db_path)
    db = store.connect(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with no_write_permission(db_path.parent, db_path):
        at = open_page()
        assert not at.exception, [e.value for e in at.exception]
        assert set(table(at, "Must change password")["Email"]) == {ADMIN, ANALYST}
        for key in ("users_add", "users_change_role", "users_reset", "users_deactivate"):
            assert at.button(key=key).disabled, key


# ------------------------------------------------------------------ sign-in mode


def test_a_signed_in_admin_manages_users_and_the_writes_record_them(db_path, clock,
                                                                     sign_in_mode):
    staff(db_path)
    at = open_page(token_for(db_path, ADMIN))
    ok(at)
    assert at.title[-1].value == "Users"
    assert not any("Local mode" in c.value for c in at.caption)
    fill_add_form(at, "vic@example.org", "Vic Viewer", "viewer")
    ok(at)
    assert shown_password(at)
    # An admin cannot reset their own password here: that would end the very session
    # that is to show the new one.
    at.selectbox(key="users_pick").set_value(accounts_by_email(db_path)[ADMIN]["person_id"])
    at.run()
    assert at.button(key="users_reset").disabled
    at.selectbox(key="users_pick").set_value(accounts_by_email(db_path)[ANALYST]["person_id"])
    at.run()
    assert not at.button(key="users_reset").disabled
    created_by = read(db_path, lambda db: db.execute(
        "SELECT a.created_by FROM accounts a JOIN people p ON p.id = a.person_id "
        "WHERE p.email = 'vic@example.org'").fetchone()[0])
    assert created_by == ADMIN


def test_an_analyst_is_refused_the_page_on_the_server(db_path, clock, sign_in_mode):
    staff(db_path)
    at = open_page(token_for(db_path, ANALYST))
    assert not at.exception
    assert "Users" not in [t.value for t in at.title]
    assert "The analyst role may not view page:users" in " ".join(e.value for e in at.error)
    assert not [b for b in at.button if str(b.key).startswith("users_")]


def test_an_analyst_s_direct_write_is_refused_and_nothing_changes(db_path, clock,
                                                                  sign_in_mode):
    """The write path itself, past any page: run_write on the Users page checks
    "manage users" against the signed-in role again."""
    staff(db_path)

    def script():
        import streamlit as st

        from analysis import store
        from analysis.auth import users
        from pages import current_actor, run_write, show_flash

        def promote():
            users.change_role(store.connect(), "nils@staff.example", "admin",
                              actor=current_actor())

        st.button("Promote", key="promote", on_click=lambda: run_write(promote, "Done."))
        show_flash()

    for email, allowed in ((ANALYST, False), (ADMIN, True)):
        at = AppTest.from_function(script)
        at.session_state["_auth_token"] = token_for(db_path, email)
        at.session_state["_auth_page"] = "users"
        at.run()
        at.button(key="promote").click().run()
        assert not at.exception
        if allowed:
            assert [s.value for s in at.success] == ["Done."]
        else:
            assert [e.value for e in at.error] == ["Not done."]
            assert "analyst role may not manage users" in at.text[0].value
            assert accounts_by_email(db_path)[ANALYST]["role"] == "analyst"
    assert accounts_by_email(db_path)[ANALYST]["role"] == "admin"

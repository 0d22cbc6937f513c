"""Sign-in mode (issue 24): an app listening beyond 127.0.0.1 shows nothing but the sign-in
form until someone signs in; then every page and every write is checked on the server
against the role (analysis.auth.permissions), events record the signed-in email, and a
manager sees only their own teams' cases. Local mode (127.0.0.1) says so on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.auth import PAGE_ACCESS, ROLES, accounts, gate, shows_customer_data
from analysis.cases import people
from tests.test_cases_page import NOW, build_store, events, get_case

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PASSWORD = "Tulip-Kettle-Orbit-93"
TITLES = {"overview": "Overview", "themes": "Themes", "trends": "Trends",
          "benchmarks": "Benchmarks", "theme_quality": "Theme quality",
          "improvements": "Improvements", "impact": "Impact", "cases": "Case queue",
          "case_settings": "Case settings", "templates": "Templates",
          "import": "Import feedback", "users": "Users"}
EMAILS = {role: f"{role}@staff.example" for role in ROLES}


@pytest.fixture
def sign_in_mode():
    st_config.set_option("server.address", "0.0.0.0")
    yield
    st_config.set_option("server.address", "127.0.0.1")


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def staffed(db_path, clock, sign_in_mode):
    """The case-page store (seven cases of "Customer care"), a second team owning two of
    them, and one account per role; the manager manages Customer care only."""
    found = build_store(db_path)
    db = store.connect(db_path)
    with store.write_transaction(db):
        other = people.save_team(db, "Back office", actor="test", now=NOW)
        ids = {role: people.save_person(db, role.capitalize(), EMAILS[role],
                                        team_id=found["team"] if role == "manager" else None,
                                        role="manager" if role == "manager" else "agent",
                                        capacity=0, actor="test", now=NOW)
               for role in ROLES}
        cases = [r[0] for r in db.execute("SELECT id FROM cases ORDER BY id")]
        db.execute(f"UPDATE cases SET team_id = ? WHERE id IN ({cases[0]}, {cases[1]})",
                   [other])
    for role in ROLES:
        accounts.create_account(db, ids[role], app_role=role, password=PASSWORD, actor="test")
    db.close()
    return {"path": db_path, "team": found["team"], "other": other, "people": ids,
            "cases": cases, "other_cases": cases[:2], "team_cases": cases[2:]}


def token_for(path, role: str, emails: dict[str, str] = EMAILS) -> str:
    """A signed-in session's token for the account of `role` (its email from `emails`)."""
    db = store.connect(path)
    try:
        return accounts.sign_in(db, emails[role], PASSWORD).token
    finally:
        db.close()


def app(token: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if token:
        at.session_state["_auth_token"] = token
    return at.run()


def submit(at: AppTest) -> AppTest:
    """Click the form's button and run. AppTest drops what app.py itself draws (here the
    form) on a run that resumes on the page hash it finished on; an empty hash makes it
    request the default page as a fresh browser would (tests/test_app.py, rerun)."""
    at.button[0].click()
    at._finished_page_script_hash = ""
    return at.run()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def test_sign_in_required_only_off_loopback():
    assert not gate.sign_in_required("127.0.0.1")
    assert not gate.sign_in_required("localhost")
    for address in ("0.0.0.0", "", None, "::", "192.168.1.4"):
        assert gate.sign_in_required(address)
    assert set(gate.WRITE_ACTION) == set(PAGE_ACCESS)


def test_local_mode_shows_the_banner_and_no_sign_in(seeded_db):
    at = app()
    assert not at.exception
    assert titles(at) == ["Overview"]
    assert any("Local mode: no sign-in" in c.value for c in at.sidebar.caption)
    assert not at.text_input


def test_the_sign_in_form_is_all_there_is(staffed):
    at = app()
    assert not at.exception
    assert titles(at) == ["Sign in to Closeloop"]
    assert [t.label for t in at.text_input] == ["Email", "Password"]
    assert not at.metric and not at.dataframe and not at.multiselect
    assert not any("Local mode" in c.value for c in at.sidebar.caption)


def test_a_wrong_password_is_refused_and_the_right_one_signs_in(staffed):
    at = app()
    at.text_input(key="sign_in_email").input(EMAILS["viewer"])
    at.text_input(key="sign_in_password").input("not the password at all")
    submit(at)
    assert accounts.SIGN_IN_REFUSED in errors(at)
    assert titles(at) == ["Sign in to Closeloop"]
    at.text_input(key="sign_in_password").input(PASSWORD)
    submit(at)
    assert not at.exception
    assert titles(at) == ["Overview"]
    assert any(EMAILS["viewer"] in c.value for c in at.sidebar.caption)


def test_signing_out_ends_the_session(staffed):
    at = app(token_for(staffed["path"], "analyst"))
    assert titles(at) == ["Overview"]
    at.sidebar.button(key="sign_out").click().run()
    assert titles(at) == ["Sign in to Closeloop"]


PAGE_FILES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_is_allowed_or_refused_per_page_access(staffed, role):
    """Table-driven over pages/: every page is registered (a link reaches it), so the page's
    own start (page_start) must refuse on the server."""
    assert set(PAGE_FILES) == set(PAGE_ACCESS)
    at = app(token_for(staffed["path"], role))
    for page in PAGE_FILES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (role, page, [e.value for e in at.exception])
        if role in PAGE_ACCESS[page]:
            assert TITLES[page] in titles(at), (role, page, errors(at))
        else:
            assert TITLES[page] not in titles(at), (role, page)
            assert f"The {role} role may not view page:{page}" in errors(at), (role, page)


@pytest.mark.parametrize("role", ROLES)
def test_the_menu_lists_only_the_role_s_pages(staffed, role):
    at = app(token_for(staffed["path"], role))
    assert not at.exception
    links = {link.proto.page or "overview" for link in at.sidebar.get("page_link")}
    assert links == {p for p in PAGE_ACCESS if role in PAGE_ACCESS[p]}, role


def test_a_viewer_s_write_is_refused_on_the_server(staffed):
    """The write path itself, not a disabled button: run_write refuses, and the page's store
    connection is read-only for a role that may not write there."""
    token = token_for(staffed["path"], "viewer")

    def script():
        import streamlit as st

        from pages import run_write, show_flash

        def write():
            st.session_state["wrote"] = True

        st.button("Write", key="write", on_click=lambda: run_write(write, "Done."))
        show_flash()

    at = AppTest.from_function(script)
    at.session_state["_auth_token"] = token
    at.session_state["_auth_page"] = "themes"
    at.run()
    at.button(key="write").click().run()
    assert not at.exception
    assert "wrote" not in at.session_state
    assert [e.value for e in at.error] == ["Not done."]
    assert "viewer role may not edit themes" in at.text[0].value

    # the same for an analyst on the themes page: allowed
    at = AppTest.from_function(script)
    at.session_state["_auth_token"] = token_for(staffed["path"], "analyst")
    at.session_state["_auth_page"] = "themes"
    at.run()
    at.button(key="write").click().run()
    assert at.session_state["wrote"] is True


def test_a_viewer_gets_the_themes_page_read_only(staffed):
    at = app(token_for(staffed["path"], "viewer"))
    at.switch_page("pages/themes.py").run()
    assert not at.exception
    assert "Themes" in titles(at)
    buttons = [b for b in at.button if b.key != "sign_out"]
    assert all(b.disabled for b in buttons), [(b.key, b.disabled) for b in buttons]


def test_a_manager_sees_only_their_team_s_cases_and_events_record_them(staffed):
    at = app(token_for(staffed["path"], "manager"))
    at.switch_page("pages/cases.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, errors(at)
    shown = next(d.value for d in at.dataframe if "due" in d.value.columns)
    listed = {int(c) for c in shown["case"]}
    assert listed and listed <= set(staffed["team_cases"])
    assert not listed & set(staffed["other_cases"])
    assert not [s for s in at.selectbox if s.key == "cases_me"]  # no "who am I" when signed in
    case_id = int(shown["case"].iloc[0])
    at.selectbox(key="cases_pick").set_value(case_id).run()
    at.button(key=f"cases_ack_{case_id}").click().run()
    assert not at.exception
    assert get_case(staffed["path"], case_id)["status"] == "acknowledged"
    assert events(staffed["path"], case_id)[-1][-1] == EMAILS["manager"]
    # customer data: a manager may see it
    assert shows_customer_data("manager")
    assert any("Customer:" in t.value and "hidden" not in t.value for t in at.text)


def test_a_manager_cannot_open_another_team_s_case_by_link(staffed):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["_auth_token"] = token_for(staffed["path"], "manager")
    at.query_params["case"] = str(staffed["other_cases"][0])
    at.run()
    at.switch_page("pages/cases.py").run()
    assert not at.exception
    assert all(f"Case #{staffed['other_cases'][0]}" != s.value for s in at.subheader)


def test_roles_without_customer_data_never_open_the_case_queue():
    for role in ROLES:
        if not shows_customer_data(role):
            assert role not in PAGE_ACCESS["cases"]


def test_first_start_makes_the_admin_once(db):
    one_time = gate.first_start(db, {"CLOSELOOP_ADMIN_EMAIL": "boss@staff.example"},
                                server_address="0.0.0.0")
    assert one_time and len(one_time) >= 16
    assert gate.first_start(db, {"CLOSELOOP_ADMIN_EMAIL": "boss@staff.example"},
                            server_address="0.0.0.0") is None
    session = accounts.sign_in(db, "boss@staff.example", one_time)
    assert session.app_role == "admin" and session.must_change_password
    assert gate.first_start(db, {}, server_address="127.0.0.1") is None


def test_a_one_time_password_forces_a_new_one_first(db_path, sign_in_mode):
    db = store.connect(db_path)
    one_time = gate.first_start(db, {"CLOSELOOP_ADMIN_EMAIL": "boss@staff.example"},
                                server_address="0.0.0.0")
    token = accounts.sign_in(db, "boss@staff.example", one_time).token
    db.close()
    at = app(token)
    assert titles(at) == ["Choose a new password"]
    at.text_input(key="new_password").input(PASSWORD)
    at.text_input(key="new_password_2").input(PASSWORD)
    submit(at)
    assert not at.exception
    assert titles(at) == ["Overview"]


def test_signed_in_the_templates_page_acts_as_you_whatever_was_picked_before(staffed):
    """A "who am I" pick left in the browser session (local mode's picker) must not let a
    signed-in analyst act as someone else: no picker, and writes record the signed-in
    email."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["_auth_token"] = token_for(staffed["path"], "analyst")
    at.session_state["_cases_actor"] = "someone.else@example.org"
    at.run()
    at.switch_page("pages/templates.py").run()
    assert not at.exception
    assert not [s for s in at.selectbox if s.label == "Who am I"]
    assert f"Acting as {EMAILS['analyst']} (signed in)." in [c.value for c in at.caption]
    assert at.session_state["_cases_actor"] is None


def test_a_published_demo_password_signs_nobody_in_unless_allowed(db_path, sign_in_mode,
                                                                   monkeypatch):
    """The README publishes the demo users' passwords: on a server that needs sign-in they
    open nothing, unless CLOSELOOP_DEMO_USERS=allow (trying the roles on your machine)."""
    from analysis.demo.staff import DEMO_USERS, seed_demo_users

    db = store.connect(db_path)
    with store.write_transaction(db):
        seed_demo_users(db, actor="test")
    db.close()
    _, _, email, password = DEMO_USERS[0]
    monkeypatch.delenv(gate.DEMO_USERS_ALLOWED, raising=False)
    at = app()
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    submit(at)
    assert not at.exception
    assert titles(at) == ["Sign in to Closeloop"]
    assert errors(at) == "Not signed in: this password is published."
    assert any("CLOSELOOP_DEMO_USERS=allow" in t.value for t in at.text)

    monkeypatch.setenv(gate.DEMO_USERS_ALLOWED, "allow")
    at.text_input(key="sign_in_password").input(password)
    submit(at)
    assert titles(at) == ["Overview"]
    assert any(f"Signed in as {email} (admin)" in c.value for c in at.sidebar.caption)

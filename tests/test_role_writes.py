"""Every write against every role (issue 24): the server decides, not the buttons.

- the write gate (`pages.run_write`) of every page, for every role: allowed exactly when
  analysis.auth.permissions says so;
- the case queue's per-case check (`pages.case_write_check`): a manager works and writes
  follow-ups for their own teams' cases only, whatever a forged request names;
- every button and form of every page a read-only role can open, clicked as that role, even
  when drawn disabled (as a hand-made request would; Streamlit drops a disabled widget's
  change, and the gates above stand behind it): the store's data does not change;
- a manager's queue health counts their teams' cases, and opening a case's customer
  record is audited under the signed-in email.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.auth import PAGE_ACCESS, ROLES, accounts, gate, permissions
from analysis.cases import people
from analysis.privacy import forget
from analysis.sweep import run_sweep
from tests import case_stores
from tests.test_sign_in import APP, PASSWORD
from tests.test_sign_in import token_for as sign_in_token

EMAILS = {role: f"{role}.writes@staff.example" for role in ROLES}
AUDIT_TABLES = {"sessions", "sign_in_events", "record_views"}
"""Tables a read may write to: the session's last use, sign-in events, the view audit."""


def revision(path) -> int:
    db = store.connect(path)
    try:
        return store.revision(db)
    finally:
        db.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A 3,000-row demo with its truth themes, swept over its whole period (alerts, trigger
    tasks, cases), a second team owning some of the cases, and one account per role; the
    manager manages the demo's care team."""
    from analysis import demo
    from tests.stores import seed_truth_sentiment, seed_truth_themes

    folder = tmp_path_factory.mktemp("role_writes")
    path = folder / "closeloop.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOSELOOP_DB", str(path))
        db = store.connect(path)
        now = store.from_iso("2026-11-28T12:00:00Z")
        demo.generate_demo(db, rows=3000, seed=7, truth_path=folder / "truth.json",
                           actor="test", now=now)
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        if not db.execute("SELECT COUNT(*) FROM themes").fetchone()[0]:
            seed_truth_themes(db, truth)
        seed_truth_sentiment(db, truth, now=truth["now"])
        care, _ = case_stores.team(db, members=3, capacity=50, now=now)
        run_sweep(db, now=datetime.fromisoformat(truth["now"]),
                  since=date.fromisoformat(truth["period"]["start_date"]), actor="test")
        with store.write_transaction(db):
            other = people.save_team(db, "Back office", actor="test")
            ids = {role: people.save_person(
                db, f"{role.capitalize()} Writes", EMAILS[role],
                team_id=care if role == "manager" else None,
                role="manager" if role == "manager" else "agent", capacity=0, actor="test")
                for role in ROLES}
            cases = [r[0] for r in db.execute(
                "SELECT id FROM cases WHERE team_id = ? AND status != 'merged' ORDER BY id",
                [care])]
            moved = cases[: len(cases) // 3]
            db.execute(f"UPDATE cases SET team_id = ? WHERE id IN "
                       f"({', '.join(map(str, moved))})", [other])
        for role in ROLES:
            accounts.create_account(db, ids[role], app_role=role, password=PASSWORD,
                                    actor="test")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    assert moved and len(cases) > len(moved)
    return path, {"care": care, "other": other, "other_cases": moved,
                  "team_cases": cases[len(moved):]}


@pytest.fixture
def staffed(template, db_path, monkeypatch):
    import shutil

    shutil.copyfile(template[0], db_path)
    st_config.set_option("server.address", "0.0.0.0")
    yield db_path, template[1]
    st_config.set_option("server.address", "127.0.0.1")


def token_for(path, role: str) -> str:
    return sign_in_token(path, role, EMAILS)


def fingerprint(path) -> dict[str, str]:
    """A digest of every table's rows but the audit tables, to see that nothing changed."""
    db = store.connect(path)
    try:
        out = {}
        for table in db.table_names():
            if table in AUDIT_TABLES or table.startswith("sqlite_"):
                continue
            rows = sorted(repr(r) for r in db.execute(f"SELECT * FROM [{table}]"))
            out[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return out
    finally:
        db.close()


def gate_script():
    import streamlit as st

    from pages import run_write, show_flash

    def write():
        st.session_state["wrote"] = True

    st.button("Write", key="write", on_click=lambda: run_write(write, "Done."))
    show_flash()


WRITING_PAGES = sorted(gate.WRITE_ACTION)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_s_write_gate_follows_the_permissions(staffed, role):
    """One AppTest per role, the write tried on behalf of every page: the outcome is what
    the permissions table says, and a refusal names the role and the action."""
    path, _ = staffed
    token = token_for(path, role)
    for page in WRITING_PAGES:
        at = AppTest.from_function(gate_script)
        at.session_state["_auth_token"] = token
        at.session_state["_auth_page"] = page
        at.run()
        at.button(key="write").click().run()
        assert not at.exception, (role, page)
        action = gate.WRITE_ACTION[page]
        allowed = permissions.can(role, action) if action else role == "admin"
        assert at.session_state["wrote"] if allowed else "wrote" not in at.session_state, \
            (role, page)
        if not allowed:
            assert [e.value for e in at.error] == ["Not done."], (role, page)
            assert f"{role} role may not" in at.text[0].value, (role, page, at.text[0].value)


def case_write_script():
    import streamlit as st

    from analysis import store as store_
    from analysis.auth import permissions as permissions_
    from pages import case_write_check

    wanted = st.session_state["try"]
    outcomes = {}
    for action, case_ids in wanted:
        try:
            case_write_check(case_ids, action)(store_.connect())
        except permissions_.PermissionDenied as exc:
            outcomes[f"{action}:{case_ids}"] = str(exc)
        else:
            outcomes[f"{action}:{case_ids}"] = "allowed"
    st.session_state["outcomes"] = outcomes


@pytest.mark.parametrize("role", ROLES)
def test_case_writes_are_checked_per_case_on_the_server(staffed, role):
    path, found = staffed
    own, foreign = found["team_cases"][0], found["other_cases"][0]
    tries = [(action, ids) for action in ("work cases", "send follow-ups")
             for ids in ([own], [foreign], [own, foreign])]
    at = AppTest.from_function(case_write_script)
    at.session_state["_auth_token"] = token_for(path, role)
    at.session_state["try"] = tries
    at.run()
    assert not at.exception
    outcomes = at.session_state["outcomes"]
    for action, ids in tries:
        said = outcomes[f"{action}:{ids}"]
        if role == "admin":
            assert said == "allowed"
        elif role == "manager":
            if ids == [own]:
                assert said == "allowed", said
            else:
                assert said == (f"Case #{foreign}: the manager role may {action} only for "
                                "cases of their own teams. Nothing was changed."), said
        else:
            assert said == f"The {role} role may not work cases.", said


def click_everything(at: AppTest) -> list[str]:
    """Click every button (form submits included) the page draws, one per run, enabled or
    not; returns the keys or labels clicked."""
    clicked, seen = [], set()
    for _ in range(60):
        todo = [b for b in at.button if (b.key or b.label) not in seen
                and b.key != "sign_out"]
        if not todo:
            return clicked
        button = todo[0]
        seen.add(button.key or button.label)
        clicked.append(button.key or button.label)
        button.proto.disabled = False  # what a hand-made request does; AppTest would refuse
        button.click()
        at.run()
        assert not at.exception, (clicked[-1], [e.value for e in at.exception])
    return clicked


READ_ONLY_VISITS = [(role, page) for role in ROLES for page in PAGE_ACCESS
                    if role in PAGE_ACCESS[page] and gate.WRITE_ACTION[page]
                    and not permissions.can(role, gate.WRITE_ACTION[page])]


def test_read_only_visits_cover_the_pages_that_write():
    assert ("viewer", "themes") in READ_ONLY_VISITS
    assert ("viewer", "trends") in READ_ONLY_VISITS
    assert ("manager", "themes") in READ_ONLY_VISITS
    assert ("viewer", "overview") in READ_ONLY_VISITS   # "Load demo data" imports


@pytest.mark.parametrize(("role", "page"), READ_ONLY_VISITS)
def test_a_role_that_may_not_write_changes_nothing_by_clicking_everything(staffed, role,
                                                                           page):
    path, _ = staffed
    token = token_for(path, role)
    before = fingerprint(path)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["_auth_token"] = token
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    clicked = click_everything(at)
    assert clicked or page not in ("themes", "trends"), f"{page} drew no button for {role}"
    after = fingerprint(path)
    changed = sorted(t for t in after if after[t] != before.get(t))
    assert not changed, (role, page, clicked, changed)


def test_signed_in_page_views_keep_the_caches_warm(staffed):
    """A session's last use is written on every run; that must not count as a change of the
    figures (the store's revision, which every cached read keys on)."""
    path, _ = staffed
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["_auth_token"] = token_for(path, "viewer")
    at.run()
    before = revision(path)
    for page in ("themes", "trends", "overview"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
    assert revision(path) == before


def open_as(path, role: str, page: str) -> AppTest:
    """The app signed in as `role`, on `page`."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["_auth_token"] = token_for(path, role)
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_manager_s_queue_health_counts_their_teams_cases_only(staffed):
    path, found = staffed
    at = open_as(path, "manager", "cases")
    db = store.connect(path)
    open_here = db.execute(
        "SELECT COUNT(*) FROM cases WHERE team_id = ? AND status IN "
        "('new', 'acknowledged', 'in progress', 'waiting on customer')",
        [found["care"]]).fetchone()[0]
    db.close()
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Open"] == f"{open_here:,}"
    assert any(c.value.startswith("Your teams' cases.") for c in at.caption)


def test_opening_a_case_audits_the_view_of_the_customer_record_once(staffed):
    path, found = staffed
    at = open_as(path, "manager", "cases")
    db = store.connect(path)
    picked = at.selectbox(key="cases_pick").value
    key = db.execute("SELECT customer_key FROM cases WHERE id = ?", [picked]).fetchone()[0]
    assert key
    at.run()  # a rerun of the same case is not a second view
    views = forget.views_of(db, key)
    db.close()
    assert [(v["actor"], v["what"]) for v in views] == [(EMAILS["manager"], f"case #{picked}")]


def test_on_an_empty_store_only_roles_that_import_may_load_the_demo(db_path):
    db = store.connect(db_path)
    with store.write_transaction(db):
        ids = {role: people.save_person(db, role.capitalize(), EMAILS[role], capacity=0,
                                        actor="test") for role in ROLES}
    for role in ROLES:
        accounts.create_account(db, ids[role], app_role=role, password=PASSWORD, actor="test")
    db.close()
    st_config.set_option("server.address", "0.0.0.0")
    try:
        for role in ROLES:
            at = AppTest.from_file(APP, default_timeout=60)
            at.session_state["_auth_token"] = token_for(db_path, role)
            at.run()
            assert not at.exception
            load = next(b for b in at.button if b.label.startswith("Load demo data"))
            assert load.disabled is not permissions.can(role, "import"), role
    finally:
        st_config.set_option("server.address", "127.0.0.1")


@pytest.mark.parametrize("button", ["tpl_seed", "tpl_ob_drain"])
def test_a_templates_write_from_an_open_tab_stops_when_the_role_is_taken_away(staffed, button):
    """Callbacks run before the page's own checks: a tab opened as an analyst must not
    keep writing once the account is a viewer."""
    path, found = staffed
    at = open_as(path, "analyst", "templates")
    db = store.connect(path)
    person = db.execute("SELECT id FROM people WHERE email = ?", [EMAILS["analyst"]]).fetchone()[0]
    accounts.set_role(db, person, "viewer", actor="test")
    db.close()
    before = fingerprint(path)
    at.button(key=button).click().run()
    assert not at.exception
    # the write is refused; the page itself then refuses the viewer
    assert at.session_state["_flash"][2] == "The viewer role may not edit templates."
    assert "The viewer role may not view page:templates." in [e.value for e in at.error]
    after = fingerprint(path)
    assert [t for t in after if after[t] != before[t]] == []

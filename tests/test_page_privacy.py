"""Who sees what on every page but the Case queue (issue 24), in sign-in mode, one role at a
time, on a store whose comments carry a planted email, phone number, Luhn-valid card number
and IBAN, from a customer with a name, an email and an id:

- a viewer sees none of the planted values anywhere on a page (tables, texts, charts,
  select boxes);
- an analyst reads comments as written but never the customer's name, email or id: not
  in the whom-to-tell list (though "tell them" still reaches the customer), not in a
  template preview against the customer's case, not in the outbox;
- an admin sees them all, and each such view is in the audit of record views.

The whole page is searched: every element's protobuf as text (a table's Arrow bytes keep
its strings readable), so a value the page sends to the browser anywhere is found."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.auth import ROLES, accounts
from analysis.cases import people
from analysis.followup import outbox
from analysis.followup import templates as tpl
from analysis.improvements.records import Improvement, add_improvement, link_evidence
from analysis.privacy.display import HIDDEN
from analysis.privacy.forget import views_of
from analysis.themes import admin
from analysis.views import themes as views_themes
from tests.test_cases_page import (
    NOW,
    STAFF,
    WAIT,
    add_feedback,
    add_team,
    add_themes,
    sweep,
    table,
)
from tests.test_sign_in import sign_in_mode  # noqa: F401 - a fixture
from tests.test_sign_in import token_for

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PASSWORD = "Tulip-Kettle-Orbit-93"
EMAILS = {role: f"{role}.privacy@staff.example" for role in ROLES}

NAME, EMAIL, CUSTOMER_ID = "Philippa Quartermain", "philippa.q@customers.example", "CUST-9931"
KEY = f"id:{CUSTOMER_ID}"
COMMENT = ("Waited an hour at the desk. Call me on 020 7946 0958 or write to "
           "reach.me@planted.example; refund to card 4111 1111 1111 1111 or to IBAN "
           "GB82 WEST 1234 5698 7654 32 please")
COMMENT_SECRETS = ("020 7946 0958", "7946", "reach.me", "planted.example",
                   "4111 1111 1111 1111", "1111 1111", "GB82 WEST", "5698 7654")
CUSTOMER_SECRETS = ("Philippa", "Quartermain", "philippa.q", "customers.example", "CUST-9931")
READ_ONLY = ("overview", "trends", "benchmarks", "impact")


@pytest.fixture
def planted(db_path, monkeypatch, sign_in_mode):  # noqa: F811 - the fixture
    """Three comments of the named customer about waiting (one corrected to "staff"), on
    the map; the recovery case the sweep opens for them; a shipped improvement with that
    feedback as evidence; the starter templates; a follow-up to the customer and a weekly
    report to staff in the outbox; one account per role."""
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    db = store.connect(db_path)
    add_themes(db)
    add_team(db)
    customer = {"customer_id": CUSTOMER_ID, "customer_name": NAME, "customer_email": EMAIL,
                "location": "North", "score_type": "nps", "score": 2, "theme": WAIT,
                "comment": COMMENT}
    ids = add_feedback(db, [customer | {"received_at": NOW - timedelta(hours=h)}
                            for h in (1, 2, 3)])
    add_feedback(db, [{"customer_email": "someone.else@example.org", "location": "South",
                       "score_type": "nps", "score": 9, "theme": STAFF,
                       "received_at": NOW - timedelta(hours=4)}])
    sweep(db, NOW)
    admin.correct_theme(db, ids[2], WAIT, STAFF, actor="test", now=NOW)
    (case_id,) = [r[0] for r in db.execute("SELECT id FROM cases WHERE customer_key = ?", [KEY])]
    with store.write_transaction(db):
        db.execute("INSERT INTO theme_models (id, version, path, params, n_documents, "
                   "n_themes, is_active, created_at, created_by) VALUES (1, 'v1', '/nowhere', "
                   "'{}', 4, 2, 1, '2026-01-01T00:00:00Z', 'test')")
        db.conn.executemany("INSERT INTO comment_map (feedback_id, model_id, x, y) "
                            "VALUES (?, 1, ?, ?)", [(i, float(i), 1.0) for i in ids])
        improvement = add_improvement(db, Improvement(
            title="More staff at the desk", locations=("North",), theme_ids=(WAIT,),
            effective_date=(NOW - timedelta(days=1)).date(), status="shipped"),
            actor="test", now=NOW)
        link_evidence(db, improvement, ids, via="test", actor="test", now=NOW)
        tpl.seed_templates(db, actor="test", now=NOW)
        outbox.queue_message(db, kind="follow-up", channel="email", recipient=EMAIL,
                             subject=f"About your visit, {NAME}", body=f"<p>Hi {NAME},</p>",
                             case_id=case_id, customer_key=KEY, key="privacy-follow-up",
                             actor="test", now=NOW)
        outbox.queue_message(db, kind="weekly report", channel="email",
                             recipient="boss@staff.example", subject="Weekly report",
                             body="<p>The week</p>", key="privacy-report", actor="test",
                             now=NOW)
        person_ids = {role: people.save_person(db, role.capitalize(), EMAILS[role],
                                               capacity=0, actor="test", now=NOW)
                      for role in ROLES}
    for role in ROLES:
        accounts.create_account(db, person_ids[role], app_role=role, password=PASSWORD,
                                actor="test")
    acknowledge = next(t.id for t in tpl.list_templates(db)
                       if t.name == "Acknowledge" and t.channel == "email")
    db.close()
    return {"path": db_path, "case": case_id, "improvement": improvement,
            "template": acknowledge}


def open_page(path, role: str, page: str, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["_auth_token"] = token_for(path, role, EMAILS)
    for name, value in (state or {}).items():
        at.session_state[name] = value
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_text(at: AppTest) -> str:
    """Everything the page sent: each element's protobuf as text (tables as Arrow bytes,
    whose strings stay readable; charts as their JSON; select boxes with their options)."""
    found: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            found.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    found += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(found)


def shown(text: str, secrets) -> list[str]:
    return [s for s in secrets if s in text]


def themes_opened(at: AppTest) -> AppTest:
    """The waiting theme's drill-down and comments, and the map."""
    at.selectbox(key="themes_pick").set_value(str(WAIT)).run()
    at.toggle(key="themes_show_map").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def quality_opened(at: AppTest) -> AppTest:
    at.selectbox(key="audit_theme").set_value(WAIT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def templates_state(planted) -> dict:
    return {"tpl_pick": planted["template"], "tpl_case": planted["case"]}


# ----------------------------------------------------------------------------- viewers

@pytest.mark.parametrize("page", READ_ONLY)
def test_a_viewer_sees_no_planted_value_on_the_read_only_pages(planted, page):
    text = page_text(open_page(planted["path"], "viewer", page))
    assert shown(text, COMMENT_SECRETS + CUSTOMER_SECRETS) == []


def test_a_viewer_reads_the_themes_comments_masked(planted):
    at = themes_opened(open_page(planted["path"], "viewer", "themes"))
    text = page_text(at)
    assert shown(text, COMMENT_SECRETS + CUSTOMER_SECRETS) == []
    # the comments are there, masked: quotes, the comment list and the map's hover texts
    assert any("[phone]" in t.value and "[email]" in t.value for t in at.text)
    comments = next(d.value for d in at.dataframe if "comment" in d.value.columns)
    assert all("[card]" in c and "[iban]" in c for c in comments["comment"])
    assert "[phone]" in str(at.get("plotly_chart")[-1].proto)


def test_a_viewer_s_search_finds_nothing_of_the_masked_text_to_show(planted):
    at = themes_opened(open_page(planted["path"], "viewer", "themes"))
    unsearched = [c.value for c in at.caption if "comments; showing" in c.value]
    at.text_input(key=f"themes_search_{WAIT}").input("planted").run()
    assert shown(page_text(at), COMMENT_SECRETS) == []
    # a count of matches would tell what the mask hides: no search for numbers or "@"
    at.text_input(key=f"themes_search_{WAIT}").input("4111").run()
    assert views_themes.MASKED_SEARCH_REFUSED in [c.value for c in at.caption]
    assert [c.value for c in at.caption if "comments; showing" in c.value] == unsearched


def test_an_analyst_may_search_for_numbers(planted):
    at = themes_opened(open_page(planted["path"], "analyst", "themes"))
    at.text_input(key=f"themes_search_{WAIT}").input("4111").run()
    assert views_themes.MASKED_SEARCH_REFUSED not in [c.value for c in at.caption]


# ----------------------------------------------------------------------------- analysts

@pytest.mark.parametrize("page, opened", [("themes", themes_opened),
                                          ("theme_quality", quality_opened)])
def test_an_analyst_reads_comments_as_written_but_no_customer(planted, page, opened):
    text = page_text(opened(open_page(planted["path"], "analyst", page)))
    assert shown(text, COMMENT_SECRETS) == list(COMMENT_SECRETS)
    assert shown(text, CUSTOMER_SECRETS) == []


@pytest.mark.parametrize("page", READ_ONLY)
def test_an_analyst_sees_no_customer_on_the_read_only_pages(planted, page):
    assert shown(page_text(open_page(planted["path"], "analyst", page)), CUSTOMER_SECRETS) == []


def test_an_analyst_sees_how_many_to_tell_but_not_who_and_can_still_tell_them(planted):
    i = planted["improvement"]
    at = open_page(planted["path"], "analyst", "improvements")
    assert shown(page_text(at), CUSTOMER_SECRETS) == []
    whom = table(at, "customer_email")
    assert list(whom["customer_name"]) == [HIDDEN] and list(whom["customer_email"]) == [HIDDEN]
    assert list(whom["customer_key"]) == [HIDDEN] and list(whom["linked_feedback"]) == [3]
    assert "1 customer(s) to tell." in [c.value for c in at.caption]
    evidence = table(at, "via")
    assert set(evidence["customer_key"]) == {HIDDEN}
    at.button(key=f"impr_tell_send_{i}").click().run()
    assert not at.exception
    assert shown(page_text(at), CUSTOMER_SECRETS) == []
    db = store.connect(planted["path"])
    try:
        sent = db.execute("SELECT recipient, customer_key FROM outbox WHERE kind = "
                          "'improvement shipped'").fetchall()
        assert sent == [(EMAIL, KEY)]
        assert views_of(db, KEY) == []   # nothing of the customer was shown: no view
    finally:
        db.close()


def test_an_analyst_previews_a_real_case_without_its_customer(planted):
    at = open_page(planted["path"], "analyst", "templates", templates_state(planted))
    assert at.selectbox(key="tpl_case").value == planted["case"]
    text = page_text(at)
    assert shown(text, CUSTOMER_SECRETS) == []
    assert shown(text, COMMENT_SECRETS) == []      # the customer's words in a message to them
    assert f"Hi {HIDDEN}," in at.code[0].value
    # the outbox: the staff message in full, the one to the customer without who or what
    messages = table(at, "attempts")
    assert set(messages["to"]) == {HIDDEN, "boss@staff.example"}
    assert set(messages["subject"]) == {HIDDEN, "Weekly report"}


def test_an_admin_s_test_send_of_a_real_case_is_hidden_from_analysts(planted):
    """The test carries the customer's name and words (the preview's): tied to the case, so
    the outbox shows it to analysts without who or what."""
    at = open_page(planted["path"], "admin", "templates", templates_state(planted))
    at.text_input(key="tpl_test_to").input("boss@staff.example")
    at.button(key="tpl_test_send").click().run()
    assert not at.exception
    db = store.connect(planted["path"])
    try:
        case_id, body = db.execute("SELECT case_id, body FROM outbox WHERE kind = 'test'"
                                   ).fetchone()
    finally:
        db.close()
    assert case_id == planted["case"] and NAME in body
    at = open_page(planted["path"], "analyst", "templates", templates_state(planted))
    assert shown(page_text(at), CUSTOMER_SECRETS) == []
    assert "boss@staff.example" in set(table(at, "attempts")["to"])   # the weekly report


# ----------------------------------------------------------------------------- admins

def test_an_admin_sees_the_customer_and_the_view_is_recorded(planted):
    at = open_page(planted["path"], "admin", "improvements")
    assert shown(page_text(at), CUSTOMER_SECRETS) == list(CUSTOMER_SECRETS)
    whom = table(at, "customer_email")
    assert list(whom["customer_email"]) == [EMAIL] and list(whom["customer_name"]) == [NAME]
    at.run()   # a rerun records nothing new
    db = store.connect(planted["path"])
    try:
        viewed = views_of(db, KEY)
    finally:
        db.close()
    i = planted["improvement"]
    assert [(v["actor"], v["what"]) for v in viewed] == [
        (EMAILS["admin"], f"evidence of improvement #{i}"),
        (EMAILS["admin"], f"whom to tell of improvement #{i}")]


def test_an_admin_previews_the_real_case_and_the_view_is_recorded(planted):
    at = open_page(planted["path"], "admin", "templates", templates_state(planted))
    text = page_text(at)
    assert f"Hi {NAME}," in at.code[0].value
    assert shown(text, (EMAIL,)) == [EMAIL]              # the outbox's message to them
    db = store.connect(planted["path"])
    try:
        whats = {v["what"] for v in views_of(db, KEY)}
    finally:
        db.close()
    assert whats == {f"template preview of case #{planted['case']}", "outbox messages"}


@pytest.mark.parametrize("page, opened", [("themes", themes_opened),
                                          ("theme_quality", quality_opened)])
def test_an_admin_reads_comments_as_written(planted, page, opened):
    text = page_text(opened(open_page(planted["path"], "admin", page)))
    assert shown(text, COMMENT_SECRETS) == list(COMMENT_SECRETS)


def test_a_view_that_cannot_be_recorded_is_not_shown(planted, monkeypatch):
    """A store that refuses the audit's write (busy, full, read-only): the customer's
    data stays hidden, and the page says why."""
    from analysis.privacy import forget

    def refuse(*args, **kwargs):
        raise store.StoreError("the store is busy")

    monkeypatch.setattr(forget, "record_view", refuse)
    at = open_page(planted["path"], "admin", "improvements")
    assert shown(page_text(at), CUSTOMER_SECRETS) == []
    assert any("could not record" in c.value for c in at.caption)



def test_record_views_once_records_each_view_once_a_session(db):
    from analysis.privacy.forget import record_views_once

    seen: set = set()
    assert record_views_once(db, ["id:A", "id:B", "id:A", None], actor="ann", what="list",
                             seen=seen, now=NOW)
    assert record_views_once(db, ["id:A"], actor="ann", what="list", seen=seen, now=NOW)
    assert record_views_once(db, ["id:A"], actor="ann", what="preview", seen=seen, now=NOW)
    assert [v["what"] for v in views_of(db, "id:A")] == ["list", "preview"]
    assert [v["what"] for v in views_of(db, "id:B")] == ["list"]
    db.execute("PRAGMA query_only = 1")
    assert not record_views_once(db, ["id:C"], actor="ann", what="list", seen=seen, now=NOW)
    assert record_views_once(db, [], actor="ann", what="list", seen=seen, now=NOW)
    assert ("id:C", "list") not in seen

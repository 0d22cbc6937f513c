"""Journey in headless Chromium against the real app: a manager writes a follow-up from a
case, it reaches the local SMTP server, and the case shows "followed up".

The SMTP server (aiosmtpd, tests/delivery_servers.py) runs in this process; the app server
is started with CLOSELOOP_SMTP_* pointing at it (start_app copies this process's
environment). The store is seeded from code relative to the real clock (the server reads
the time itself): tests/test_cases_page.py's cases, the starter templates, and customer
c3's case resolved. Every step waits for a specific element or text (Playwright's
auto-retrying `expect`)."""

from __future__ import annotations

import re
import sqlite3
import time

import pytest
from playwright.sync_api import expect

from .conftest import screenshot, start_app

pytestmark = pytest.mark.browser
CUSTOMER = "c3@example.org"
SMTP_FROM = "care@closeloop.example"
WORKAROUND = "we have refunded your visit & <b>checked the rota</b>"


@pytest.fixture(scope="module")
def smtp_server(chromium_path):
    from tests.delivery_servers import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def followup_store(e2e_dir, chromium_path):
    from analysis import store
    from analysis.cases import records
    from analysis.followup.templates import seed_templates
    from tests.test_cases_page import build_store

    path = e2e_dir / "followup" / "closeloop.db"
    path.parent.mkdir()
    now = store.utcnow().replace(microsecond=0)
    build_store(path, now=now)
    db = store.connect(path)
    case_id = next(r["id"] for r in records.list_cases(db, now=now, status="all")
                   if r["customer_key"] == f"email:{CUSTOMER}")
    with store.write_transaction(db):
        seed_templates(db, actor="e2e", now=now)
        records.change_status(db, case_id, "resolved", actor="e2e", now=now,
                              note="Refunded the visit", resolution_category="refund issued")
    db.close()
    return path, case_id


@pytest.fixture(scope="module")
def followup_app(followup_store, smtp_server):
    with pytest.MonkeyPatch.context() as env:   # the child process copies os.environ
        env.setenv("CLOSELOOP_SMTP_HOST", "127.0.0.1")
        env.setenv("CLOSELOOP_SMTP_PORT", str(smtp_server.port))
        env.setenv("CLOSELOOP_SMTP_SECURITY", "none")
        env.setenv("CLOSELOOP_SMTP_FROM", SMTP_FROM)
        server = start_app(followup_store[0], name="followup")
    yield server
    server.stop()


def wait_for_app_idle(page) -> None:
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)


def pick(page, container, label: str, option: str) -> None:
    """Choose `option` in the select box labelled `label`, by typing it as a user does."""
    widget = container.filter(has=page.get_by_text(label, exact=True))
    expect(widget).to_have_count(1)
    widget.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()


def received(smtp_server, timeout: float = 30.0) -> list:
    deadline = time.monotonic() + timeout
    while not smtp_server.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    return list(smtp_server.messages)


def test_a_manager_writes_a_follow_up_it_reaches_the_smtp_server_and_the_case_is_followed_up(
        page, followup_app, followup_store, smtp_server):
    db_path, case_id = followup_store
    page.goto(followup_app.url + "/")
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    wait_for_app_idle(page)
    # The resolved case, opened by its link (it is no longer in the open queue).
    page.goto(f"{followup_app.url}/cases?case={case_id}")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name=f"Case #{case_id}")).to_be_visible()
    expect(main).to_contain_text("Status: resolved")
    wait_for_app_idle(page)
    pick(page, main.get_by_test_id("stSelectbox"), "Who am I",
         "Ann Lee (team lead, Customer care)")
    wait_for_app_idle(page)

    # Write follow-up: the apology suits a resolved recovery case; the preview is this case's.
    main.get_by_test_id("stExpander").filter(has_text="Write follow-up").get_by_text(
        "Write follow-up").click()
    writer = main.get_by_test_id("stExpander").filter(has_text="Write follow-up")
    expect(writer.get_by_test_id("stSelectbox").filter(has_text="Template")
           .get_by_role("combobox")).to_have_value("Recovery apology (email, en)")
    expect(writer).to_contain_text(f"To: {CUSTOMER}")
    expect(writer).to_contain_text("Subject: I'm sorry about your visit to North (staff)")
    preview = writer.get_by_test_id("stHtml")
    expect(preview).to_contain_text("Hi there,")
    box = writer.get_by_role("textbox", name="What they can do meanwhile (workaround)")
    box.fill(WORKAROUND)
    box.press("Enter")
    # The customer-facing text is escaped: shown as typed, never as markup.
    expect(preview).to_contain_text(f"Here is what we are doing about it: {WORKAROUND}.")
    expect(preview.locator("b")).to_have_count(0)
    wait_for_app_idle(page)

    writer.get_by_role("button", name="Send now").click()
    expect(main.get_by_test_id("stAlert").filter(has_text="Follow-up sent.")).to_be_visible()
    expect(main).to_contain_text("Status: followed up")
    wait_for_app_idle(page)

    [mail] = received(smtp_server)
    assert mail["To"] == CUSTOMER and mail["From"] == SMTP_FROM
    assert mail["Subject"] == "I'm sorry about your visit to North (staff)"
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    text = html.get_payload(decode=True).decode()
    assert "we have refunded your visit &amp; &lt;b&gt;checked the rota&lt;/b&gt;" in text

    # The timeline shows the follow-up queued and sent, and the move to followed up.
    main.get_by_role("tab", name="Timeline").click()
    timeline = main.get_by_test_id("stDataFrame").filter(
        has=page.locator("[role=columnheader]", has_text="change"))
    expect(timeline).to_have_count(1)
    for event in ("follow-up queued", "follow-up sent"):   # the event column, exactly
        expect(timeline.locator("td").filter(
            has_text=re.compile(rf"^\s*{event}\s*$"))).to_have_count(1)
    expect(timeline.locator("td", has_text="resolved → followed up")).to_have_count(1)

    db = sqlite3.connect(db_path)
    assert db.execute("SELECT status FROM cases WHERE id = ?", [case_id]).fetchone() == (
        "followed up",)
    assert db.execute("SELECT kind, status, recipient, created_by FROM outbox").fetchall() == [
        ("follow-up", "sent", CUSTOMER, "ann@example.org")]
    db.close()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(main).not_to_contain_text("Traceback")
    assert not page.js_errors, page.js_errors
    screenshot(page, "journey-follow-up-sent")
    expect(page).to_have_url(re.compile(r"/cases"))

"""Journey in headless Chromium against the real app: a manager opens the case queue, says
who they are, acknowledges the case due first and resolves it with a category, and the
case's timeline shows both changes, recorded under their email.

The store is seeded from code (tests/test_cases_page.py's builder) relative to the real
clock, since the server reads the time itself. Every step waits for a specific element or
text (Playwright's auto-retrying `expect`)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import expect

from .conftest import screenshot, start_app

pytestmark = pytest.mark.browser
NOTE = "Called the customer & refunded <b>the visit</b>"
CATEGORY = "service recovery provided"


@pytest.fixture(scope="module")
def cases_store(e2e_dir, chromium_path):
    from analysis import store
    from tests.test_cases_page import build_store

    path = e2e_dir / "cases" / "closeloop.db"
    path.parent.mkdir()
    found = build_store(path, now=store.utcnow().replace(microsecond=0))
    return path, found


@pytest.fixture(scope="module")
def cases_app(cases_store):
    server = start_app(cases_store[0], name="cases")
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


def test_a_manager_acknowledges_and_resolves_a_case_and_the_timeline_shows_both(
        page, cases_app, cases_store):
    db_path, _ = cases_store
    page.goto(cases_app.url + "/")
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="Case queue").click()
    expect(page).to_have_url(re.compile(r"/cases"))
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Case queue")).to_be_visible()
    open_tile = main.get_by_test_id("stMetric").filter(has_text="Open")
    expect(open_tile.first.get_by_test_id("stMetricValue")).to_have_text("7")
    expect(main.get_by_test_id("stDataFrame").filter(
        has=page.locator("[role=columnheader]", has_text="priority parts"))).to_have_count(1)
    wait_for_app_idle(page)

    # Who am I: Ann, so the changes are hers.
    selects = main.get_by_test_id("stSelectbox")
    pick(page, selects, "Who am I", "Ann Lee (team lead, Customer care)")
    wait_for_app_idle(page)

    # The case due first is open below the list.
    picker = selects.filter(has_text="Open case").get_by_role("combobox")
    expect(picker).to_have_value(re.compile(r"^#\d+ "))
    case_id = int(re.match(r"^#(\d+) ", picker.input_value()).group(1))
    expect(main.get_by_role("heading", name=f"Case #{case_id}")).to_be_visible()
    expect(main).to_contain_text("Status: new")

    main.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(main.get_by_test_id("stAlert").filter(
        has_text=f"Case #{case_id} acknowledged.")).to_be_visible()
    expect(main).to_contain_text("Status: acknowledged")
    wait_for_app_idle(page)

    # Resolve: the move, the category and a note, in one form.
    form = main.get_by_test_id("stForm").filter(has_text="Move to")
    pick(page, form.get_by_test_id("stSelectbox"), "Move to", "resolved")
    pick(page, form.get_by_test_id("stSelectbox"), "Resolution category (needed to resolve)",
         CATEGORY)
    form.get_by_role("textbox", name="Note with the change").fill(NOTE)
    form.get_by_role("button", name="Change status").click()
    expect(main.get_by_test_id("stAlert").filter(
        has_text=f"Case #{case_id} is now resolved.")).to_be_visible()
    expect(main).to_contain_text(f"Resolution: {CATEGORY}: {NOTE}")
    wait_for_app_idle(page)
    expect(main.get_by_role("textbox", name="Note with the change")).to_have_value("")

    # The timeline shows both changes, by Ann.
    main.get_by_role("tab", name="Timeline").click()
    timeline = main.get_by_test_id("stDataFrame").filter(
        has=page.locator("[role=columnheader]", has_text="change"))
    expect(timeline).to_have_count(1)
    expect(timeline.locator("td", has_text="new → acknowledged")).to_have_count(1)
    expect(timeline.locator("td", has_text="acknowledged → resolved")).to_have_count(1)

    stored = sqlite3.connect(db_path).execute(
        "SELECT status, resolution_category, resolution_note FROM cases WHERE id = ?",
        [case_id]).fetchone()
    assert stored == ("resolved", CATEGORY, NOTE)
    changes = sqlite3.connect(db_path).execute(
        "SELECT from_status, to_status, actor FROM case_events WHERE case_id = ? AND "
        "event = 'status' ORDER BY id", [case_id]).fetchall()
    assert changes == [("new", "acknowledged", "ann@example.org"),
                       ("acknowledged", "resolved", "ann@example.org")]
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(main).not_to_contain_text("Traceback")
    assert not page.js_errors, page.js_errors
    screenshot(page, "journey-cases-resolved")

"""Journey in headless Chromium against the real app: an operations lead tags a change
(Harbour Street's extra staff at peak times, the demo's injected improvement: its wait-time
share halved from the truth's date) and reads its verdict, with an interval and a p-value.

Every step waits for a specific element or text (Playwright's auto-retrying `expect`)."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from playwright.sync_api import expect

from .conftest import screenshot, start_app

pytestmark = pytest.mark.browser
VERDICT = re.compile(r"It worked: wait time share % fell by \d+\.\d points against the "
                     r"comparison locations \(95% CI -\d+\.\d to -\d+\.\d; randomization "
                     r"p = 0\.0\d\d")
TITLE = "Extra staff at peak times"


@pytest.fixture(scope="module")
def improvement_store(e2e_dir, chromium_path):
    """A 20,000-row demo store (seed 7, history ending 2026-11-28) labelled with its true
    themes, so the theme the change targets is the truth's "wait time"."""
    from analysis import demo, store
    from tests.stores import seed_truth_themes

    path = e2e_dir / "improvements" / "closeloop.db"
    path.parent.mkdir()
    db = store.connect(path)
    demo.generate_demo(db, rows=20_000, seed=7, truth_path=path.parent / "truth.json",
                       actor="test", now=store.from_iso("2026-11-28T12:00:00Z"))
    truth = json.loads((path.parent / "truth.json").read_text(encoding="utf-8"))
    seed_truth_themes(db, truth)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path, truth


@pytest.fixture(scope="module")
def improvement_app(improvement_store):
    server = start_app(improvement_store[0], name="improvements")
    yield server
    server.stop()


def wait_for_app_idle(page) -> None:
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)


def pick(page, container, label: str, option: str) -> None:
    """Choose `option` in the select box or multiselect labelled `label`, by typing it as a
    user does in a long list (the dropdown draws only the options in view)."""
    widget = container.filter(has=page.get_by_text(label, exact=True))
    expect(widget).to_have_count(1)
    widget.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_an_ops_lead_tags_a_change_and_reads_its_verdict(page, improvement_app,
                                                        improvement_store):
    db_path, truth = improvement_store
    change = truth["improvement"]
    page.goto(improvement_app.url + "/")
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="Improvements").click()
    expect(page).to_have_url(re.compile(r"/improvements"))
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Improvements")).to_be_visible()
    expect(main).to_contain_text("No improvements yet")
    wait_for_app_idle(page)

    # The form is open on a store without improvements.
    form = main.get_by_test_id("stForm")
    expect(form).to_have_count(1)
    form.get_by_role("textbox", name="Title").fill(TITLE)
    pick(page, form.get_by_test_id("stMultiSelect"), "Locations affected", change["location"])
    pick(page, form.get_by_test_id("stMultiSelect"), "Targeted themes", change["theme"])
    pick(page, form.get_by_test_id("stSelectbox"), "Status", "Shipped")
    # The date field is three spin buttons (year, month, day); typing fills each in turn.
    day = form.get_by_test_id("stDateInput").filter(has_text="Effective date")
    day.locator("[data-type=year]").click()
    page.keyboard.type(change["date"].replace("-", ""))
    page.keyboard.press("Tab")
    expect(day.locator("input[type=date]")).to_have_value(change["date"])
    form.get_by_role("button", name="Save improvement").click()
    expect(main.get_by_test_id("stAlert").filter(has_text="Improvement saved")).to_be_visible()
    wait_for_app_idle(page)

    # It is listed, and open below the list (as a pick from "Open improvement").
    picker = main.get_by_test_id("stSelectbox").filter(has_text="Open improvement")
    expect(picker.get_by_role("combobox")).to_have_value(re.compile(rf"^#1 {TITLE}"))
    expect(page).to_have_url(re.compile(r"[?&]improvement=1\b"))
    expect(main.get_by_role("heading", name="Did it work?")).to_be_visible()

    # The verdict: plain language with its interval and p-value.
    verdict = main.get_by_test_id("stAlert").filter(has_text="It worked")
    expect(verdict).to_have_count(1)
    expect(verdict).to_contain_text(VERDICT)
    expect(main.get_by_test_id("stMetric").filter(has_text="p-value")).to_be_visible()
    wait_for_app_idle(page)
    metrics = {m.get_by_test_id("stMetricLabel").inner_text().strip():
               m.get_by_test_id("stMetricValue").inner_text().strip()
               for m in main.get_by_test_id("stMetric").all()}
    assert "95% interval" in metrics, metrics
    low, high = (float(v.replace("\u2212", "-")) for v in metrics["95% interval"].split(" to "))
    assert low < change["effect"]["measured_share_change"] * 100 < high < 0, metrics
    assert float(metrics["p-value"]) <= 0.05, metrics
    expect(main.get_by_test_id("stPlotlyChart")).to_have_count(2)  # measure, event study
    expect(main.get_by_text("Every estimate")).to_be_visible()

    stored = sqlite3.connect(db_path).execute(
        "SELECT i.title, i.status, i.effective_date, i.created_by, l.location, t.name "
        "FROM improvements i JOIN improvement_locations l ON l.improvement_id = i.id "
        "JOIN improvement_themes it ON it.improvement_id = i.id "
        "JOIN themes t ON t.id = it.theme_id").fetchall()
    assert stored == [(TITLE, "shipped", change["date"], "e2e", change["location"],
                       change["theme"])]
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(main).not_to_contain_text("Traceback")
    assert not page.js_errors, page.js_errors
    screenshot(page, "journey-improvements-verdict")

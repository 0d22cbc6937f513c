"""User journeys in headless Chromium against the real app (streamlit run app.py).

Streamlit renders asynchronously over a websocket: every step waits for a specific element
or text (Playwright's auto-retrying `expect`), never for a fixed time.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import (
    ROOT,
    build_demo_db,
    child_env,
    python_executable,
    screenshot,
    start_app,
)

pytestmark = pytest.mark.browser
KPI_LABELS = ["NPS", "CSAT", "CES (1-7)", "Responses", "Negative feedback"]
NAV_PAGES = ["Overview", "Themes", "Trends", "Benchmarks", "Theme quality", "Improvements",
             "Impact",
             "Case queue", "Case settings", "Templates", "Import"]


# ------------------------------------------------------------------------------ helpers

def number(text: str) -> float:
    match = re.search(r"[-+\u2212]?[\d,]*\.?\d+", text)
    assert match, f"no number in {text!r}"
    return float(match.group(0).replace(",", "").replace("\u2212", "-"))


def metric_values(page) -> dict[str, str]:
    """Label -> shown value of every st.metric, once all KPI tiles are on the page."""
    metrics = page.get_by_test_id("stMetric")
    expect(metrics).to_have_count(len(KPI_LABELS))
    return {m.get_by_test_id("stMetricLabel").inner_text().strip():
            m.get_by_test_id("stMetricValue").inner_text().strip() for m in metrics.all()}


def wait_for_app_idle(page) -> None:
    """The script run has finished: Streamlit's "Running..." status widget is gone."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)


def expect_navigation(page) -> None:
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_be_visible()
    for name in NAV_PAGES:
        expect(nav.get_by_role("link", name=name)).to_be_visible()


def selected_tags(page, label: str) -> list[str]:
    box = page.get_by_test_id("stMultiSelect").filter(has=page.get_by_text(label, exact=True))
    expect(box).to_have_count(1)
    return [t.strip() for t in box.locator("[data-tag] span[title]").all_inner_texts()]


def date_range(page) -> tuple[str, str]:
    inputs = page.get_by_test_id("stSidebar").get_by_test_id("stDateInput").locator("input[type=date]")
    expect(inputs).to_have_count(2)
    return inputs.nth(0).get_attribute("value"), inputs.nth(1).get_attribute("value")


def assert_no_traceback(page, *, strict: bool = False) -> None:
    """No exception box, no traceback, no JavaScript error. `strict`: not even the word
    "Error" (pages with data legitimately say "Error bars: 95% Wilson intervals")."""
    main = page.get_by_test_id("stMain")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(main).not_to_contain_text("Traceback")
    expect(main).not_to_contain_text(re.compile(r"\w+Error\b|Exception"))
    if strict:
        expect(main).not_to_contain_text("Error")
    assert not page.js_errors, page.js_errors


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def sql(db_path, statement: str, params=()) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(statement, params).fetchall()


# ------------------------------------------------------------------------------ journeys

@pytest.fixture
def fresh_demo_app(demo_db):
    """A server nobody has opened yet: its very first session is the newcomer's."""
    server = start_app(demo_db, name="fresh")
    yield server
    server.stop()


def test_journey_1_a_newcomer_sees_the_overview_then_themes(page, fresh_demo_app, demo_db):
    page.goto(fresh_demo_app.url + "/")
    # The first session on a fresh server must show the navigation (st.navigation).
    expect_navigation(page)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shown = metric_values(page)
    assert list(shown) == KPI_LABELS
    for label, value in shown.items():
        assert re.search(r"\d", value), f"{label} shows no number: {value!r}"
    responses = number(shown["Responses"])
    assert responses > 0
    # The numbers are the store's: Responses in the default period, counted here in SQL.
    start, end = date_range(page)
    expected = sql(demo_db, "SELECT COUNT(*) FROM feedback WHERE received_at >= ? AND received_at < ?",
                   [f"{start}T00:00:00Z",
                    f"{date.fromisoformat(end) + timedelta(days=1)}T00:00:00Z"])[0][0]
    assert responses == expected
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_be_visible()
    expect(page.get_by_role("heading", name="Locations")).to_be_visible()
    busiest = sql(demo_db, "SELECT location FROM feedback GROUP BY location ORDER BY COUNT(*) DESC")
    # The grid draws on a canvas; its accessible table carries the cell text.
    expect(table.locator("[role=columnheader]").first).to_have_text("Location")
    expect(table.locator("td[role=gridcell]").first).to_be_attached()
    cells = table.locator("td[aria-colindex='1']").all_text_contents()
    assert set(cells) & {row[0] for row in busiest}, cells
    wait_for_app_idle(page)
    assert_no_traceback(page)
    screenshot(page, "journey1-overview")

    # Then the Themes page: the store `python -m analysis demo` built (as `make run` does)
    # already has themes in two levels, so the newcomer reads them without any Refresh.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Themes").click()
    expect(page.get_by_role("heading", name="Themes").first).to_be_visible()
    main = page.get_by_test_id("stMain")
    largest = sql(demo_db, "SELECT p.name FROM themes p JOIN parent_theme_assignments a "
                           "ON a.theme_id = p.id WHERE p.status = 'active' GROUP BY p.id "
                           "ORDER BY COUNT(*) DESC LIMIT 1")
    assert largest, "the demo store has no parent theme (see build_demo_db)"
    parents_table = main.get_by_test_id("stDataFrame").first
    expect(parents_table).to_be_visible()
    expect(parents_table.locator("[role=columnheader]").first).to_be_attached()
    expect(parents_table.locator("td[role=gridcell]", has_text=largest[0][0]).first).to_be_attached()
    expect(main.get_by_text("No themes yet")).to_have_count(0)
    wait_for_app_idle(page)
    assert_no_traceback(page)
    screenshot(page, "journey1-themes")


BAD_CSV = (
    "id,received_at,location,nps,comment\n"
    "e2e-1,2026-01-05,E2E Harbour,9,The new self-checkout saved me ten minutes\n"
    "e2e-2,2026-01-06,E2E Harbour,3,Queue at the till was far too long\n"
    "e2e-3,not-a-date,E2E Harbour,8,This row has a broken date\n"
    "e2e-4,2026-01-07,E2E Harbour,15,Score outside the NPS scale\n"
    "e2e-5,2026-01-08,E2E Harbour,10,Staff were kind and quick\n"
)


def test_journey_2_an_analyst_imports_then_explores_themes(page, demo_app, demo_db, tmp_path):
    upload = tmp_path / "survey_with_bad_rows.csv"
    upload.write_text(BAD_CSV, encoding="utf-8")
    batches_before = sql(demo_db, "SELECT COUNT(*) FROM import_batches")[0][0]

    # In through the front door, as an analyst would (a direct /import link can raise a
    # "Page not found" dialog: see test_direct_links_open_their_page_without_a_dialog).
    page.goto(demo_app.url + "/")
    expect_navigation(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Import").click()
    expect(page).to_have_url(re.compile(r"/import"))
    uploader = page.get_by_test_id("stFileUploader")
    expect(uploader).to_be_visible()
    uploader.locator("input[type=file]").set_input_files(str(upload))
    # The page may import on upload or after a confirming button (mapping preview first).
    main = page.get_by_test_id("stMain")
    summary = re.compile(r"imported\s+3", re.IGNORECASE)
    button = main.get_by_role("button", name=re.compile(r"^Import", re.IGNORECASE))
    expect(main.get_by_text(summary).or_(button).first).to_be_visible()
    if not main.get_by_text(summary).count():
        button.first.click()
    expect(main).to_contain_text(summary)
    expect(main).to_contain_text(re.compile(r"rejected\s+2", re.IGNORECASE))
    # The reject reasons name the row and the field, and show what was wrong.
    expect(main).to_contain_text("not-a-date")
    expect(main).to_contain_text(re.compile(r"score 15 is outside the NPS scale"))
    rejects = sql(demo_db, "SELECT r.row_number, r.field FROM import_rejects r JOIN import_batches b "
                           "ON b.id = r.batch_id WHERE b.file_name = ? ORDER BY r.row_number",
                  [upload.name])
    assert rejects == [(3, "received_at"), (4, "score")]
    assert sql(demo_db, "SELECT COUNT(*) FROM import_batches")[0][0] == batches_before + 1
    rejects_table = main.get_by_test_id("stDataFrame").filter(has_text="cannot read the date")
    reject_row = rejects_table.locator("tr", has_text="not-a-date")
    if reject_row.count():  # rejects in a st.dataframe: the row's cells hold number and field
        cells = [c.strip() for c in reject_row.first.locator("td").all_text_contents()]
        assert "3" in cells and any("received_at" in c or "date" in c for c in cells), cells
    else:  # rejects written out as text
        expect(main).to_contain_text(re.compile(r"row 3\b.*(received_at|date)", re.IGNORECASE | re.DOTALL))
    wait_for_app_idle(page)
    assert_no_traceback(page)
    screenshot(page, "journey2-import")

    # Then the themes: find a theme and read its quotes.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Themes").click()
    expect(page.get_by_role("heading", name="Themes").first).to_be_visible()
    theme = sql(demo_db, "SELECT t.id, t.name FROM themes t JOIN theme_assignments a "
                         "ON a.theme_id = t.id WHERE t.status = 'active' GROUP BY t.id "
                         "ORDER BY COUNT(*) DESC LIMIT 1")
    assert theme, "the demo database has no fitted theme (see build_demo_db)"
    theme_name = theme[0][1]
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Theme to explore")
    expect(picker).to_be_visible()
    picker.click()
    page.get_by_role("option", name=theme_name, exact=True).first.click()
    expect(main.get_by_role("heading", name="Theme detail")).to_be_visible()
    expect(main.get_by_test_id("stText").filter(has_text=theme_name).first).to_be_visible()
    expect(main).to_contain_text("Representative comments")
    quotes = main.get_by_test_id("stText").filter(has_text=re.compile("^\u201c"))
    expect(quotes.first).to_be_visible()
    quote = quotes.first.inner_text().strip().strip("\u201c\u201d")
    assert quote, "an empty quote"
    known = sql(demo_db, "SELECT COUNT(*) FROM feedback f JOIN theme_assignments a ON a.feedback_id = f.id "
                         "WHERE a.theme_id = ? AND f.comment = ?", [theme[0][0], quote])[0][0]
    assert known >= 1, f"quote {quote!r} is not a comment of theme {theme_name!r}"
    wait_for_app_idle(page)
    assert_no_traceback(page)
    screenshot(page, "journey2-themes")


def test_journey_3_a_shared_link_applies_its_filters_everywhere(page, demo_app, demo_db):
    location, = sql(demo_db, "SELECT location FROM feedback WHERE location LIKE '% %' "
                             "GROUP BY location ORDER BY COUNT(*) DESC LIMIT 1")[0]
    last = date.fromisoformat(sql(demo_db, "SELECT MAX(substr(received_at, 1, 10)) FROM feedback")[0][0])
    start, end = last - timedelta(days=59), last - timedelta(days=10)
    window = [f"{start}T00:00:00Z", f"{end + timedelta(days=1)}T00:00:00Z"]
    expected_all = sql(demo_db, "SELECT COUNT(*) FROM feedback WHERE received_at >= ? "
                                "AND received_at < ?", window)[0][0]
    expected = sql(demo_db, "SELECT COUNT(*) FROM feedback WHERE received_at >= ? "
                            "AND received_at < ? AND location = ?", window + [location])[0][0]
    promoters, detractors, n = sql(
        demo_db, "SELECT SUM(score >= 9), SUM(score <= 6), COUNT(*) FROM feedback WHERE "
                 "score_type = 'nps' AND received_at >= ? AND received_at < ? AND location = ?",
        window + [location])[0]
    assert 0 < expected < expected_all

    # First the same period without the location, to see the numbers change.
    page.goto(f"{demo_app.url}/?start={start}&end={end}")
    expect_navigation(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Responses")).to_contain_text(
        f"{expected_all:,}")

    page.goto(f"{demo_app.url}/?location={location.replace(' ', '+')}&start={start}&end={end}")
    expect_navigation(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Responses")).to_contain_text(f"{expected:,}")
    shown = metric_values(page)
    assert number(shown["Responses"]) == expected
    assert number(shown["NPS"]) == pytest.approx(100 * (promoters - detractors) / n, abs=0.051)
    assert selected_tags(page, "Location") == [location]
    assert date_range(page) == (start.isoformat(), end.isoformat())
    table = page.get_by_test_id("stDataFrame")
    expect(table.locator("td[aria-colindex='1']")).to_have_count(1)
    expect(table.locator("td[aria-colindex='1']")).to_have_text(location)
    wait_for_app_idle(page)
    assert query(page.url).get("location") == [location]

    # Another page: same filters in the sidebar and in the URL.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Themes").click()
    expect(page).to_have_url(re.compile(r"/themes\?"))
    expect(page.get_by_role("heading", name="Themes").first).to_be_visible()
    wait_for_app_idle(page)
    params = query(page.url)
    assert params.get("location") == [location]
    assert params.get("start") == [start.isoformat()] and params.get("end") == [end.isoformat()]
    assert selected_tags(page, "Location") == [location]
    assert date_range(page) == (start.isoformat(), end.isoformat())
    assert_no_traceback(page)

    # And back: the overview still shows the filtered numbers.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Overview").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Responses")).to_contain_text(f"{expected:,}")
    assert query(page.url).get("location") == [location]
    screenshot(page, "journey3-shared-link")


@pytest.mark.parametrize("path", ["/", "/themes", "/import"])
def test_every_page_works_on_an_empty_database(page, empty_app, path):
    page.goto(empty_app.url + path)
    expect_navigation(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading").first).to_be_visible()
    if path == "/":
        expect(main).to_contain_text("No feedback yet")
        expect(main).to_contain_text(re.compile(r"import", re.IGNORECASE))
        expect(main.get_by_role("button", name=re.compile("Load demo data"))).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text("No feedback yet")
    wait_for_app_idle(page)
    assert_no_traceback(page, strict=True)
    screenshot(page, f"empty{path.replace('/', '-') if path != '/' else '-overview'}")


@pytest.mark.parametrize("path", [
    "/", "/import", "/themes",
])
def test_direct_links_open_their_page_without_a_dialog(page, demo_app, path):
    page.goto(f"{demo_app.url}{path}?nps_group=promoters")
    expect_navigation(page)
    expect(page.get_by_test_id("stMain").get_by_role("heading").first).to_be_visible()
    wait_for_app_idle(page)
    # The dialog, when it comes, comes with the first script run: the heading is after it.
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert query(page.url).get("nps_group") == ["promoters"]


@pytest.mark.parametrize("path", ["/themes", "/theme_quality", "/improvements", "/cases",
                                  "/case_settings", "/templates", "/import"])
def test_a_fresh_servers_first_session_on_a_page_link_gets_the_whole_app(page, demo_db, path):
    """Until st.navigation has run once, Streamlit serves a pages/ folder as old-style pages
    and runs a linked page without app.py: no shared filters, no navigation titles."""
    server = start_app(demo_db, name=f"fresh{path.replace('/', '-')}")
    try:
        page.goto(f"{server.url}{path}?nps_group=promoters")
        expect_navigation(page)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar.get_by_role("heading", name="Filters")).to_be_visible()
        expect(sidebar).to_contain_text("Date range")
        assert selected_tags(page, "NPS group") == ["Promoters"]
        expect(page.get_by_test_id("stMain").get_by_role("heading").first).to_be_visible()
        wait_for_app_idle(page)
        expect(page.get_by_role("dialog")).to_have_count(0)
        assert urlsplit(page.url).path == path
    finally:
        server.stop()


# ------------------------------------------------------------ journey 4: a spike alert

SPIKE_ROWS = 4000  # as tests/test_trends_page.py: enough history at Northgate to test it
ACK_NOTE = "Card terminal replaced & refunds sent <b>today</b>"


def run_cli(db_path, *args: str) -> str:
    """`python -m analysis ...` on `db_path` as a scheduler runs it (CLOSELOOP_DB set)."""
    command = [python_executable(), "-m", "analysis", *args]
    out = subprocess.run(command, cwd=ROOT, env=child_env(db_path), capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def spike_store(e2e_dir, chromium_path):
    """(store, truth): a demo store of this journey's own (it writes an acknowledgement and
    runs a sweep, so the shared demo store stays as the other journeys expect it), with
    the demo's true themes as its themes and the sweep replayed over its history.

    Why not the tiny-pipeline themes of `build_demo_db`: their hashing vectors spread the
    injected billing comments over several fitted themes, so the sweep raises no alert at
    Northgate in the spike week (checked with 2,000 and 20,000 rows). Labelled with the
    truth, as tests/test_trends_page.py does, the store holds the injected spike's alert."""
    from analysis import store
    from tests.stores import seed_truth_themes

    path = e2e_dir / "spike" / "closeloop.db"
    path.parent.mkdir()
    # A fixed end: the rows drawn follow the clock, and some draws of 4,000 rows leave the
    # spike week too thin to alert on.
    build_demo_db(path, rows=SPIKE_ROWS, themes=False, now="2026-11-28T12:00:00Z")
    truth = json.loads((path.parent / "demo_truth.json").read_text(encoding="utf-8"))
    db = store.connect(path)
    try:
        seed_truth_themes(db, truth)
    finally:
        db.close()
    # The replay `python -m analysis demo` runs after its theme fit, through the CLI.
    output = run_cli(path, "sweep", "--db", str(path), "--since",
                     truth["period"]["start_date"], "--now", truth["now"])
    assert "spike alerts:" in output, output
    return path, truth


@pytest.fixture(scope="module")
def spike_app(spike_store):
    server = start_app(spike_store[0], name="spike")
    yield server
    server.stop()


def open_alert(page, alert_id: int) -> None:
    """On the Trends page: list every alert (a closed episode is not an open alert) and
    pick `alert_id` for review."""
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Spike alerts")).to_be_visible()
    status = main.get_by_test_id("stRadio").filter(has_text="All alerts")
    expect(status).to_have_count(1)
    status.get_by_text("All alerts", exact=True).click()
    expect(status.locator("input[type=radio]").nth(1)).to_be_checked()
    picker = main.get_by_test_id("stSelectbox").filter(has_text="Alert to review")
    expect(picker).to_be_visible()
    box = picker.get_by_role("combobox")  # its value is the picked option's label
    if not box.input_value().startswith(f"#{alert_id} "):
        picker.click()
        # Typed, not scrolled to: the dropdown draws only the options in view, and a long
        # alert list (days and weeks, all of the demo's history) puts this one out of it.
        box.fill(f"#{alert_id} ")
        page.get_by_role("option", name=re.compile(rf"^#{alert_id} ")).click()
    expect(box).to_have_value(re.compile(rf"^#{alert_id} "))
    wait_for_app_idle(page)


def alert_row_cells(page, alert_id: int) -> dict[str, str]:
    """Column -> text of the alert's row in the alert list. The grid's accessible table
    holds only the columns in view, so it is read scrolled to each end: the row is found
    by its id (the first column) at the left, then by its row index."""
    table = page.get_by_test_id("stDataFrame").filter(
        has=page.locator("[role=columnheader]", has_text="flagged periods"))
    expect(table).to_have_count(1)
    scroller = table.locator(".dvn-scroller").first
    found: dict[str, str] = {}
    row = table.locator("tbody tr").filter(
        has=page.locator("td[aria-colindex='1']", has_text=re.compile(rf"^\s*{alert_id}\s*$")))
    for scroll, edge in (("0", "id"), ("e.scrollWidth", "snoozed_until")):
        scroller.evaluate(f"e => {{ e.scrollLeft = {scroll}; }}")
        expect(table.locator("[role=columnheader]", has_text=re.compile(f"^{edge}$"))
               ).to_be_attached()
        expect(row).to_have_count(1)
        headers = {h.get_attribute("aria-colindex"): h.inner_text().strip()
                   for h in table.locator("[role=columnheader]").all()}
        found.update((headers[c.get_attribute("aria-colindex")], c.inner_text().strip())
                     for c in row.locator("td").all())
        row = table.locator(f"tbody tr[aria-rowindex='{row.get_attribute('aria-rowindex')}']")
    assert found["id"] == str(alert_id), found
    return found


def test_journey_4_an_analyst_follows_a_spike_alert_to_its_comments_and_acknowledges_it(
        page, spike_app, spike_store):
    db_path, truth = spike_store
    spike = truth["spike"]
    # The injected spike's alert, read from the store: the weekly episode at the spike's
    # location whose first period is the spike week.
    found = sql(db_path, "SELECT a.id, a.theme_id, t.name, a.first_period, a.period_end, "
                         "a.status, a.review FROM alerts a JOIN themes t ON t.id = a.theme_id "
                         "WHERE a.granularity = 'week' AND a.location = ? AND a.first_period = ?",
                [spike["location"], spike["week_start"]])
    assert len(found) == 1, f"no single alert for the injected spike {spike}: {found}"
    alert_id, theme_id, theme, first, last, status, review = found[0]
    assert theme == spike["theme"] and review == "new"
    sentence = f"{theme} at {spike['location']}: "
    main = page.get_by_test_id("stMain")

    # The Trends page, straight from a link, lists the alert with its flagged spike week.
    page.goto(spike_app.url + "/trends")
    expect_navigation(page)
    expect(main.get_by_role("heading", name="Trends")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    open_alert(page, alert_id)
    row = alert_row_cells(page, alert_id)
    assert row["alert"].startswith(sentence), row
    assert row["first_period"] == spike["week_start"] == first
    assert spike["week_start"] in row["flagged periods"].split(", ")
    assert (row["status"], row["review"]) == (status, "new")
    expect(main.get_by_test_id("stText").filter(has_text=row["alert"])).to_have_count(1)
    expect(main.get_by_test_id("stCaptionContainer").filter(
        has_text=re.compile(r"(Open|Closed): .* Not reviewed yet\."))).to_have_count(1)
    assert_no_traceback(page)

    # Its link opens the Themes page on the alert's theme, dates and location.
    link = main.get_by_role("link", name="Open the comments of this episode on the Themes page")
    expect(link).to_be_visible()
    params = query(link.get_attribute("href"))
    assert params == {"start": [first], "end": [last], "location": [spike["location"]],
                      "theme": [str(theme_id)]}, params
    if link.get_attribute("target") == "_blank":  # a markdown link opens in a new tab
        with page.context.expect_page() as opened:
            link.click()
        themes_page = opened.value
        themes_page.js_errors = []  # type: ignore[attr-defined]
        themes_page.on("pageerror", lambda exc: themes_page.js_errors.append(str(exc)))
    else:
        link.click()
        themes_page = page
    expect(themes_page).to_have_url(re.compile(r"/themes\?"))
    themes_main = themes_page.get_by_test_id("stMain")
    expect(themes_main.get_by_role("heading", name="Themes").first).to_be_visible()
    expect(themes_main.get_by_role("heading", name="Theme detail")).to_be_visible()
    wait_for_app_idle(themes_page)
    assert selected_tags(themes_page, "Location") == [spike["location"]]
    assert date_range(themes_page) == (first, last)
    shown = query(themes_page.url)
    assert shown.get("theme") == [str(theme_id)] and shown.get("location") == [spike["location"]]
    picker = themes_main.get_by_test_id("stSelectbox").filter(has_text="Theme to explore")
    expect(picker.get_by_role("combobox")).to_have_value(theme)
    expect(themes_main.get_by_test_id("stText").filter(has_text=re.compile(
        rf"^{re.escape(theme)}$")).first).to_be_visible()
    # Its comments: those of the theme at that location in the episode's dates.
    episode = ("FROM feedback f JOIN theme_assignments a ON a.feedback_id = f.id WHERE "
               "a.theme_id = ? AND f.location = ? AND f.received_at >= ? AND f.received_at < ?")
    window = [theme_id, spike["location"], f"{first}T00:00:00Z",
              f"{date.fromisoformat(last) + timedelta(days=1)}T00:00:00Z"]
    comments = {c for (c,) in sql(db_path, f"SELECT DISTINCT f.comment {episode}", window)}
    total = sql(db_path, f"SELECT COUNT(DISTINCT f.id) {episode}", window)[0][0]
    assert total >= spike["spike_count"] > 0
    expect(themes_main.get_by_test_id("stCaptionContainer").filter(
        has_text=f"{total:,} comments;")).to_have_count(1)
    table = themes_main.get_by_test_id("stDataFrame").filter(
        has=themes_page.locator("[role=columnheader]", has_text="Comment"))
    expect(table).to_have_count(1)
    expect(table.locator("td[role=gridcell]").first).to_be_attached()
    headers = [h.strip() for h in table.locator("[role=columnheader]").all_inner_texts()]
    rows = [[c.strip() for c in r.locator("td").all_inner_texts()]
            for r in table.locator("tbody tr").all()]
    assert rows, "no comment rows"
    for cells in rows:
        values = dict(zip(headers, cells))
        assert values["Location"] == spike["location"], values
        assert values["Comment"] in comments, values
    assert_no_traceback(themes_page)
    screenshot(themes_page, "journey4-themes-from-alert")

    # Back to Trends, where the analyst acknowledges the alert with a note.
    if themes_page is not page:
        themes_page.close()
        page.bring_to_front()
    else:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Trends").click()
        expect(main.get_by_role("heading", name="Trends")).to_be_visible()
    open_alert(page, alert_id)
    note = main.locator(f".st-key-trends_ack_note_{alert_id} input")
    expect(note).to_be_editable()
    note.fill(ACK_NOTE)
    note.press("Enter")
    wait_for_app_idle(page)
    main.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(main).to_contain_text("Alert acknowledged.")
    expect(main.get_by_test_id("stText").filter(has_text=f"Reviewed by e2e: {ACK_NOTE}")
           ).to_have_count(1)
    expect(main.get_by_test_id("stCaptionContainer").filter(has_text="Acknowledged.")
           ).to_have_count(1)
    wait_for_app_idle(page)
    assert alert_row_cells(page, alert_id)["review"] == "acknowledged"
    assert sql(db_path, "SELECT review, reviewed_by, note FROM alerts WHERE id = ?",
               [alert_id]) == [("acknowledged", "e2e", ACK_NOTE)]

    # The next scheduled sweep, as cron runs it, keeps the acknowledgement.
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    output = run_cli(db_path, "sweep", "--db", str(db_path), "--now", stamp)
    assert "spike alerts:" in output, output
    page.reload()
    expect(main.get_by_role("heading", name="Trends")).to_be_visible()
    # The page says when the scheduled sweep ran, even though it found nothing new.
    expect(main.get_by_test_id("stCaptionContainer").filter(
        has_text=f"(as of {stamp})")).to_have_count(1)
    open_alert(page, alert_id)
    row = alert_row_cells(page, alert_id)
    assert row["review"] == "acknowledged" and row["reviewed_by"] == "e2e", row
    expect(main.get_by_test_id("stText").filter(has_text=f"Reviewed by e2e: {ACK_NOTE}")
           ).to_have_count(1)
    expect(main.get_by_test_id("stCaptionContainer").filter(has_text="Acknowledged.")
           ).to_have_count(1)
    assert sql(db_path, "SELECT review, reviewed_by, note FROM alerts WHERE id = ?",
               [alert_id]) == [("acknowledged", "e2e", ACK_NOTE)]
    events = [e for (e,) in sql(db_path, "SELECT event FROM alert_events WHERE alert_id = ? "
                                         "ORDER BY id", [alert_id])]
    assert events[0] == "opened" and events.count("acknowledged") == 1, events
    wait_for_app_idle(page)
    assert_no_traceback(page)
    screenshot(page, "journey4-trends")


# ---------------------------------------------------- journey 5: benchmarks from a link

BENCH_NOW = "2026-11-28T12:00:00Z"  # a fixed demo history: the same link, the same table
BENCH_START, BENCH_END = "2026-03-01", "2026-11-27"
BENCH_LOCATIONS = ["Harbour Street", "Northgate", "Old Town", "Station Square", "Westfield Mall"]
BENCH_MIN_N = 30  # the page's default minimum n
RANKED_HEADER = ["rank", "group", "n", "estimate", "ci_low", "ci_high", "shrunk", "shrunk_low",
                 "shrunk_high", "diff", "diff_low", "diff_high", "p_value", "q_value", "label"]


@pytest.fixture(scope="module")
def bench_store(e2e_dir, chromium_path):
    """A demo store of this journey's own, reproducible (`--now` fixed), with the demo's true
    themes (no model fit), so that the heatmap and key drivers have something to show."""
    from analysis import store
    from tests.stores import seed_truth_themes

    path = e2e_dir / "bench" / "closeloop.db"
    path.parent.mkdir()
    truth_path = path.parent / "demo_truth.json"
    run_cli(path, "demo", "--db", str(path), "--rows", "2000", "--seed", "7", "--truth",
            str(truth_path), "--no-themes", "--now", BENCH_NOW)
    db = store.connect(path)
    try:
        seed_truth_themes(db, json.loads(truth_path.read_text(encoding="utf-8")))
    finally:
        db.close()
    return path


@pytest.fixture(scope="module")
def bench_app(bench_store):
    server = start_app(bench_store, name="bench")
    yield server
    server.stop()


def test_journey_5_a_leader_opens_benchmarks_from_a_shared_link_and_downloads_the_table(
        page, bench_app, bench_store, tmp_path):
    db_path = bench_store
    # What the link asks for, counted here in SQL: CSAT answers per linked location in the
    # linked dates, and the share of satisfied ones (4-5 on the 1-5 scale).
    window = [f"{BENCH_START}T00:00:00Z", f"{BENCH_END}T23:59:59Z"]
    marks = ", ".join("?" * len(BENCH_LOCATIONS))
    counted = {loc: (n, share) for loc, n, share in sql(
        db_path, "SELECT location, COUNT(*), 100.0 * AVG(score >= 4) FROM feedback WHERE "
                 "score_type = 'csat' AND score IS NOT NULL AND received_at >= ? AND "
                 f"received_at <= ? AND location IN ({marks}) GROUP BY location",
        window + BENCH_LOCATIONS)}
    assert set(counted) == set(BENCH_LOCATIONS), counted
    ranked_groups = {loc for loc, (n, _) in counted.items() if n >= BENCH_MIN_N}
    assert 2 <= len(ranked_groups) < len(BENCH_LOCATIONS), counted  # ranked and too-few rows
    all_n = sum(n for n, _ in counted.values())
    network = sum(n * share for n, share in counted.values()) / all_n

    # A shared link opened in a new browser (a new session) on a server nobody opened yet.
    link = "/benchmarks?" + urlencode(
        [("metric", "csat"), ("by", "location"), ("start", BENCH_START), ("end", BENCH_END)]
        + [("location", loc) for loc in BENCH_LOCATIONS])
    page.goto(bench_app.url + link)
    expect_navigation(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Benchmarks")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    # The page's own choices come from the link...
    for label, shown in (("Metric", "CSAT (%)"), ("Compare by", "Location")):
        picker = main.get_by_test_id("stSelectbox").filter(has_text=label)
        expect(picker).to_have_count(1)
        expect(picker.get_by_role("combobox")).to_have_value(shown)
    # ...and so do the sidebar filters.
    wait_for_app_idle(page)
    assert selected_tags(page, "Location") == BENCH_LOCATIONS
    assert date_range(page) == (BENCH_START, BENCH_END)
    params = query(page.url)
    assert params.get("metric") == ["csat"] and params.get("by") == ["location"], params
    assert params.get("location") == BENCH_LOCATIONS, params
    assert (params.get("start"), params.get("end")) == ([BENCH_START], [BENCH_END]), params
    tile = main.get_by_test_id("stMetric").filter(has_text="Network CSAT")
    expect(tile).to_have_count(1)
    expect(tile.get_by_test_id("stMetricValue")).to_have_text(f"{network:.1f}")
    expect(main).to_contain_text(f"n={all_n:,}")

    # The ranked table: one row per linked location, raw and shrunk columns.
    expect(main.get_by_role("heading", name="Ranking by location")).to_be_visible()
    table = main.get_by_test_id("stDataFrame").filter(
        has=page.locator("[role=columnheader]", has_text=re.compile("^shrunk$")))
    expect(table).to_have_count(1)
    for header in ("rank", "Location", "n", "raw", "raw 95% low", "shrunk"):
        expect(table.locator("[role=columnheader]", has_text=re.compile(f"^{re.escape(header)}$"))
               ).to_have_count(1)
    expect(table.locator("tbody tr")).to_have_count(len(BENCH_LOCATIONS))
    headers = [h.strip() for h in table.locator("[role=columnheader]").all_inner_texts()]
    shown_rows = [dict(zip(headers, (c.strip() for c in r.locator("td").all_inner_texts())))
                  for r in table.locator("tbody tr").all()]
    assert {r["Location"] for r in shown_rows} == set(BENCH_LOCATIONS), shown_rows
    for row in shown_rows:
        n, share = counted[row["Location"]]
        assert number(row["n"]) == n and number(row["raw"]) == pytest.approx(share, abs=0.051), row
        assert 0 <= number(row["shrunk"]) <= 100, row
    assert_no_traceback(page)

    # The leader downloads the ranked table.
    button = main.get_by_test_id("stDownloadButton").filter(has_text="Ranked table (CSV)")
    expect(button).to_have_count(1)
    with page.expect_download() as started:
        button.get_by_role("button").click()
    download = started.value
    assert download.suggested_filename == "benchmark_csat_location.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == RANKED_HEADER
    got = list(reader)
    assert [r["group"] for r in got] == [r["Location"] for r in shown_rows]  # the same order
    assert {r["group"] for r in got} == set(BENCH_LOCATIONS) and len(got) == len(BENCH_LOCATIONS)

    # Its values: n and the raw value as counted in SQL; the raw intervals as the CLI gives
    # them (a group's own numbers do not depend on the other groups)...
    cli = {r["group"]: r for r in json.loads(run_cli(
        db_path, "benchmarks", "--db", str(db_path), "--metric", "csat", "--by", "location",
        "--from", BENCH_START, "--to", BENCH_END, "--format", "json"))}
    for row in got:
        n, share = counted[row["group"]]
        assert int(row["n"]) == n == cli[row["group"]]["n"], row
        for column in ("estimate", "ci_low", "ci_high"):
            assert float(row[column]) == pytest.approx(cli[row["group"]][column], rel=1e-9), (
                column, row, cli[row["group"]])
        assert float(row["estimate"]) == pytest.approx(share, rel=1e-9), row
    # ...and the shrunk values, tests and ranks as the benchmark library computes them for
    # the link's filters (the network is the linked locations only, so not the CLI's).
    from analysis import store
    from analysis.benchmarks import metrics, ranking
    from analysis.domain.filters import Filters

    db = store.connect(db_path)
    try:
        expected = ranking.benchmark(
            db, metrics.metric_for(db, "csat"), by="location", min_n=BENCH_MIN_N,
            filters=Filters(start=date.fromisoformat(BENCH_START),
                            end=date.fromisoformat(BENCH_END), locations=tuple(BENCH_LOCATIONS)))
    finally:
        db.close()
    library = {r["group"]: r for r in expected.rows}
    for row in got:
        want = library[row["group"]]
        for column in RANKED_HEADER[3:-1]:
            if want[column] is None:
                assert row[column] == "", (column, row)
            else:
                assert float(row[column]) == pytest.approx(want[column], rel=1e-9), (column, row)
        assert row["label"] == want["label"], row
        if row["group"] in ranked_groups:
            assert int(row["rank"]) == want["rank"] and row["label"] != "too few responses", row
        else:
            assert row["rank"] == "" and row["label"] == "too few responses", row
    ranks = [int(r["rank"]) for r in got if r["rank"]]
    assert ranks == list(range(1, len(ranked_groups) + 1))  # ranked first, in rank order
    wait_for_app_idle(page)
    assert_no_traceback(page)
    screenshot(page, "journey5-benchmarks")
    # Nothing meant for developers above the title: a bare string in a page script is
    # written to the page by Streamlit's "magic" (the PARAMS note in pages/benchmarks.py).
    stray = "(widget key, allowed values)"  # the run is over: read once, no waiting
    shows_note = stray in main.inner_text()
    assert not shows_note, f"the page shows a note from its code: {stray!r}"

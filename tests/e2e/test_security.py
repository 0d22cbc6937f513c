"""User text is never rendered as HTML or as Markdown that can run script.

Customers write the comments, files name the locations, analysts name the themes: all of it
is attacker-controlled. The payloads below go into the store through the real importer and
the real theme admin, then every page that shows them is opened in Chromium, and the page
must show the raw text literally, with no script run, no <script>/<img onerror>/javascript:
link from user text in the DOM, and no Markdown emphasis made of it.
"""

from __future__ import annotations

import csv
import io
import re
import time
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from .conftest import UI_TIMEOUT_MS, build_demo_db, screenshot, start_app

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
LINK = "[click](javascript:window.__pwned=1)"
BOLD = "**bold** and _em_ and `code`"
PAYLOADS = [SCRIPT, IMG, LINK, BOLD]
THEME_NAME = "<img src=x onerror=\"window.__pwned=2\"> **Queues**"
LOCATION = "<b onmouseover=\"window.__pwned=3\">Evil</b> Street"


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _dom_snapshot(page) -> dict:
    return page.evaluate("""() => ({
        scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('__pwned')).length,
        handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(
            a => a.name.startsWith('on') && a.value.includes('__pwned'))).length,
        js_links: [...document.querySelectorAll('a[href]')].filter(
            a => a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length,
        emphasis: [...document.querySelectorAll('strong, b, em, i')].filter(
            e => ['bold', 'em', 'Queues', 'Evil'].includes(e.textContent.trim())).length,
        text: document.body.textContent,
    })""")


def assert_inert(page, shown: list[str]) -> None:
    """No user text ran or became markup; each text in `shown` is on the page, verbatim."""
    for text in shown:  # waits for late elements (dataframes draw after the script run)
        expect(page.locator("body")).to_contain_text(text)
    assert page.evaluate("() => typeof window.__pwned") == "undefined", "user text ran as script"
    # The data grid rebuilds its cells while it redraws: a snapshot taken in that moment can
    # miss a text the page shows, so the snapshot is retaken until it holds them all.
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while True:
        found = _dom_snapshot(page)
        if all(text in found["text"] for text in shown) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    assert found["scripts"] == 0, "a <script> from user text is in the DOM"
    assert found["handlers"] == 0, "an on* handler from user text is in the DOM"
    assert found["js_links"] == 0, "a javascript: link from user text is in the DOM"
    assert found["emphasis"] == 0, "user text was rendered as Markdown emphasis"
    for text in shown:
        assert text in found["text"], f"{text!r} is not shown literally"
    assert not page.js_errors, page.js_errors


@pytest.fixture(scope="module")
def hostile_db(e2e_dir, chromium_path):
    """A small demo store, plus comments, a location and a theme name that are payloads."""
    from analysis import ingest, store
    from analysis.themes import admin as theme_admin

    path = e2e_dir / "hostile" / "closeloop.db"
    path.parent.mkdir()
    build_demo_db(path)  # demo data and tiny-pipeline themes, as for the journeys
    db = store.connect(path)
    last_day = db.execute("SELECT MAX(substr(received_at, 1, 10)) FROM feedback").fetchone()[0]
    upload = path.parent / "hostile.csv"
    upload.write_text(csv_text(
        [["id", "received_at", "location", "nps", "comment"]]
        + [[f"h{i}", last_day, LOCATION, "2", text] for i, text in enumerate(PAYLOADS)]),
        encoding="utf-8")
    result = ingest.import_file(db, upload, actor="e2e")
    assert result.imported == len(PAYLOADS)
    # An analyst's theme holding only the payloads, so its representative quotes are
    # payloads; then renamed by an analyst to a payload of its own.
    theme_id = theme_admin.add_seed_theme(db, "Injected", ["pwned"], actor="e2e")
    for (feedback_id,) in db.execute("SELECT id FROM feedback WHERE import_batch = ? ORDER BY id",
                                     [result.batch_id]).fetchall():
        theme_admin.correct_theme(db, feedback_id, None, theme_id, actor="e2e")
    theme_admin.rename_theme(db, theme_id, THEME_NAME, actor="e2e")
    db.close()
    return path


@pytest.fixture(scope="module")
def hostile_app(hostile_db):
    server = start_app(hostile_db, name="hostile")
    yield server
    server.stop()


def test_comments_and_theme_names_on_the_themes_page_stay_text(page, hostile_app):
    page.goto(hostile_app.url + "/")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Themes").click()
    main = page.get_by_test_id("stMain")
    picker = main.get_by_test_id("stSelectbox").filter(has_text="Theme to explore")
    expect(picker).to_be_visible()
    picker.click()
    # Typed, as an analyst does in a long list: the dropdown draws only the options in view,
    # and this small theme can sit below forty others.
    page.keyboard.type("Queues")
    page.get_by_role("option", name=THEME_NAME, exact=True).click()
    expect(main.get_by_role("heading", name="Theme detail")).to_be_visible()
    # Analyst corrections carry probability 1: the payloads are the representative quotes.
    quotes = main.get_by_test_id("stText").filter(has_text=re.compile("^\u201c"))
    expect(quotes).to_have_count(3)
    shown_quotes = [q.strip().strip("\u201c\u201d") for q in quotes.all_inner_texts()]
    assert shown_quotes == PAYLOADS[:3]  # the three first payloads, by feedback id
    expect(main.get_by_test_id("stText").filter(has_text=THEME_NAME).first).to_be_visible()
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    assert_inert(page, PAYLOADS[:3] + [THEME_NAME])
    # The comments table, narrowed to the payloads by the page's own search (all words must
    # match, so one search per group of payloads).
    search = main.get_by_role("textbox", name="Search these comments")
    for words, expected in (("pwned", PAYLOADS[:3]), ("bold", [BOLD])):
        search.fill(words)
        search.press("Enter")
        expect(main.get_by_text(re.compile(rf"^{len(expected)} comments;"))).to_be_visible()
        table = main.get_by_test_id("stDataFrame").last
        for text in expected:
            expect(table.locator("td[role=gridcell]", has_text=text).first).to_be_attached()
        expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
        assert_inert(page, expected + [THEME_NAME])
    screenshot(page, "security-themes")


def test_a_hostile_file_on_the_import_page_stays_text(page, hostile_app, tmp_path):
    rows = [["id", "received_at", "location", "nps", "comment"]]
    rows += [[f"x{i}", "2026-01-0" + str(i + 1), LOCATION, "7", text] for i, text in enumerate(PAYLOADS)]
    rows += [[f"bad{i}", text, LOCATION, "7", text] for i, text in enumerate(PAYLOADS)]  # bad dates
    upload = tmp_path / "hostile_upload.csv"
    upload.write_text(csv_text(rows), encoding="utf-8")
    # Tall enough that the rejects grid is on screen when it is drawn: the grid's accessible
    # table (the only DOM copy of its cells) holds only what was on screen at the time.
    page.set_viewport_size({"width": 1440, "height": 3000})
    page.goto(hostile_app.url + "/")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Import").click()
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(upload))
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name=re.compile(r"^Import", re.IGNORECASE)).first.click()
    expect(main).to_contain_text(re.compile(r"rejected\s+4", re.IGNORECASE))
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    for text in PAYLOADS:
        expect(main).to_contain_text(f"cannot read the date {text!r}")
    # Rejects say "cannot read the date '<script>...'": the payload is in the reason, as text.
    assert_inert(page, [f"cannot read the date {SCRIPT!r}", LOCATION] + PAYLOADS)
    screenshot(page, "security-import")


def test_a_hostile_location_on_the_overview_stays_text(page, hostile_app):
    page.goto(f"{hostile_app.url}/?{urlencode({'location': LOCATION})}")
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    box = page.get_by_test_id("stMultiSelect").filter(has_text="Location")
    expect(box.locator("[data-tag]")).to_have_count(1)
    expect(page.get_by_test_id("stDataFrame").locator("td[aria-colindex='1']").first).to_have_text(LOCATION)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    assert_inert(page, [LOCATION])
    screenshot(page, "security-overview")

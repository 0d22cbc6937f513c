"""Bad input on the Import page, in the browser (issue 25): every failure is a clear, short
message, one bad row never costs the good ones, and the app keeps working afterwards.

The server has a store of its own: these imports must not change what other browser tests
read from the shared demo and empty stores.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.stores import no_write_permission

from .conftest import build_demo_db, screenshot, start_app
from .test_journeys import (
    assert_no_traceback,
    expect_navigation,
    sql,
    wait_for_app_idle,
)

pytestmark = pytest.mark.browser
FAST_ANSWER_MS = 30_000  # "within seconds": generous for a loaded 2-core machine


@pytest.fixture(scope="module")
def store_path(e2e_dir, chromium_path):
    path = e2e_dir / "bad-input" / "closeloop.db"
    path.parent.mkdir()
    build_demo_db(path, rows=300, themes=False)
    return path


@pytest.fixture(scope="module")
def app(store_path):
    server = start_app(store_path, name="bad-input")
    yield server
    server.stop()


def open_import_page(page, app) -> None:
    page.goto(app.url + "/")
    expect_navigation(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import feedback")).to_be_visible()


def upload(page, path) -> None:
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(path))


def import_it(page):
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name="Import").click()
    expect(main.get_by_role("heading", name="Result")).to_be_visible()
    wait_for_app_idle(page)
    return main


def test_bad_dates_offsets_and_scores_are_rejects_and_the_good_rows_land(page, app, store_path,
                                                                       tmp_path):
    upload_file = tmp_path / "bad-values.csv"
    upload_file.write_text(
        "date,comment,nps\n"
        "2024-05-01T10:00:00Z,good one,9\n"
        "9999-12-31T23:00:00-05:00,year ten thousand,8\n"
        "2024-01-03T10:00:00-25:00,offset beyond a day,7\n"
        "2024,a year alone,6\n"
        "3000-01-01,far future,5\n"
        "2024-05-02T10:00:00Z,half a point,7.5\n"
        "2024-05-03T10:00:00Z,good two,3\n", encoding="utf-8")
    open_import_page(page, app)
    upload(page, upload_file)
    main = import_it(page)
    expect(main).to_contain_text(re.compile(r"imported 2, duplicates skipped 0, rejected 5"))
    for reason in ["'9999-12-31T23:00:00-05:00' is in the future",
                   "UTC offset -25:00, outside -14:00 to +14:00",
                   "'2024' has no day", "'3000-01-01' is in the future",
                   "NPS scores are whole numbers; score 7.5 is not"]:
        expect(main).to_contain_text(reason)
    assert sql(store_path, "SELECT COUNT(*) FROM feedback WHERE comment IN "
                           "('good one', 'good two')") == [(2,)]
    assert_no_traceback(page)
    # The pages that read dates still work after the import.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Overview").click()
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    wait_for_app_idle(page)
    assert_no_traceback(page)


def test_a_50_mb_file_on_one_line_is_refused_within_seconds_in_a_short_message(page, app,
                                                                             tmp_path):
    huge = tmp_path / "one-line.csv"
    huge.write_bytes(b"x" * 50_000_000)
    open_import_page(page, app)
    upload(page, huge)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("the first line is 50,000,000 characters long",
                                 timeout=FAST_ANSWER_MS)
    wait_for_app_idle(page)
    assert len(main.inner_text()) < 20_000, "the page repeats the file's content"
    assert_no_traceback(page)
    screenshot(page, "bad-input-huge-line")


def test_an_unclosed_quote_is_named_and_the_rows_after_it_are_imported(page, app, tmp_path):
    upload_file = tmp_path / "quote.csv"
    upload_file.write_text('date,comment,nps\n2024-05-04,"never closed,9\n'
                           "2024-05-05,after the quote,8\n2024-05-06,and another,10\n",
                           encoding="utf-8")
    open_import_page(page, app)
    upload(page, upload_file)
    main = import_it(page)
    expect(main).to_contain_text(re.compile(r"imported 2, duplicates skipped 0, rejected 1"))
    expect(main).to_contain_text("an unclosed quote opens in this row")
    assert_no_traceback(page)


def test_duplicated_headers_and_mixed_encodings_are_warned_before_and_after(page, app,
                                                                          tmp_path):
    upload_file = tmp_path / "mixed.csv"
    upload_file.write_bytes("date,Comment,NPS,Comment\n".encode() +
                            "2024-05-07,Très bien,9,x\n".encode("utf-8") +
                            "2024-05-08,Très mal,2,y\n".encode("cp1252"))
    open_import_page(page, app)
    upload(page, upload_file)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Read with warnings")
    expect(main).to_contain_text("the header 'Comment' appears 2 times")
    expect(main).to_contain_text("not UTF-8 like the rest of the file")
    main = import_it(page)
    expect(main).to_contain_text("Imported with warnings")
    expect(main).not_to_contain_text("TrÃ¨s")
    assert_no_traceback(page)


def test_a_read_only_store_is_browsable_and_switches_importing_off(page, e2e_dir, tmp_path):
    path = e2e_dir / "read-only" / "closeloop.db"
    path.parent.mkdir()
    build_demo_db(path, rows=300, themes=False)
    upload_file = tmp_path / "ok.csv"
    upload_file.write_text("date,comment,nps\n2024-05-09,fine,9\n", encoding="utf-8")
    with no_write_permission(path.parent, path):
        server = start_app(path, name="read-only", log_dir=tmp_path)
        try:
            page.goto(server.url + "/")
            expect(page.get_by_test_id("stSidebar")).to_contain_text("Read-only")
            expect(page.get_by_test_id("stMetric").first).to_be_visible()
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Import").click()
            upload(page, upload_file)
            main = page.get_by_test_id("stMain")
            expect(main).to_contain_text("The database is read-only: importing is switched off.")
            expect(main.get_by_role("button", name="Import")).to_be_disabled()
            wait_for_app_idle(page)
            assert_no_traceback(page)
        finally:
            server.stop()
    assert sql(path, "SELECT COUNT(*) FROM feedback WHERE comment = 'fine'") == [(0,)]

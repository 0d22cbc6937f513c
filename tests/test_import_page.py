"""The Import page, driven through Streamlit's AppTest with the upload held in session state."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis import store

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "import.py")
SURVEY = (b"Response ID,Recorded Date,NPS,Comment,Store\n"
          b"r1,2024-03-05 10:00,9,Great staff,Paris\n"
          b"r2,2024-03-06 11:00,11,Off the scale,Lyon\n"
          b"r3,2024-03-07 12:00,,,Lyon\n"
          b"r4,2024-03-08 13:00,=cmd|' /C calc'!A0,formula in score,Nice\n")


def page(db_path, upload=None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if upload is not None:
        at.session_state["upload"] = upload
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def selectbox(at, label):
    return next(s for s in at.selectbox if s.label == label)


def metric(at, label):
    return next(m for m in at.metric if m.label == label).value


def test_empty_database_shows_the_uploader_and_no_imports_yet(db_path):
    at = page(db_path)
    assert at.title[0].value == "Import feedback"
    assert [i.value for i in at.info] == ["No imports yet."]
    assert not at.button


def test_upload_shows_preview_and_detected_mapping(db_path):
    at = page(db_path, {"name": "survey.csv", "data": SURVEY})
    preview = at.dataframe[0].value
    assert list(preview.columns) == ["Response ID", "Recorded Date", "NPS", "Comment", "Store"]
    assert len(preview) == 4
    assert selectbox(at, "Date (required)").value == "Recorded Date"
    assert selectbox(at, "Score").value == "NPS"
    assert selectbox(at, "Comment").value == "Comment"
    assert selectbox(at, "Location").value == "Store"
    assert selectbox(at, "Response id").value == "Response ID"
    assert selectbox(at, "Customer email").value == "(not in file)"


def test_import_button_imports_and_lists_rejects_with_reasons(db_path):
    at = page(db_path, {"name": "survey.csv", "data": SURVEY})
    at.button(key="import_button").click().run()
    assert not at.exception
    assert metric(at, "Rows read") == "4"
    assert metric(at, "Imported") == "1"
    assert metric(at, "Duplicates skipped") == "0"
    assert metric(at, "Rejected") == "3"
    rejects = at.dataframe[1].value
    assert rejects["row_number"].tolist() == [2, 3, 4]
    assert rejects["reason"].tolist() == [
        "score 11 is outside the NPS scale 0-10",
        "the comment is empty and there is no score",
        "the score \"=cmd|' /C calc'!A0\" is not a number"]
    assert at.get("download_button")
    batches = at.dataframe[2].value
    assert batches.loc[0, "file_name"] == "survey.csv"
    assert batches.loc[0, "imported"] == 1

    # Importing again: everything already there is a duplicate.
    at.button(key="import_button").click().run()
    assert metric(at, "Imported") == "0"
    assert metric(at, "Duplicates skipped") == "1"


def test_changing_the_mapping_changes_what_is_imported(db_path):
    at = page(db_path, {"name": "survey.csv", "data": SURVEY})
    selectbox(at, "Location").select("(not in file)").run()
    at.button(key="import_button").click().run()
    db = store.connect(db_path)
    assert db.execute("SELECT location FROM feedback").fetchall() == [(None,)]


def test_file_problems_are_shown_as_an_error_not_a_traceback(db_path):
    at = page(db_path, {"name": "nodate.csv", "data": b"Comment,Store\n**bold** [x](y),Paris\n"})
    at.button(key="import_button").click().run()
    assert not at.exception
    assert at.error[0].value == "This file cannot be imported:"
    assert "no date column" in at.code[0].value
    assert not at.markdown or all("**bold**" not in m.value for m in at.markdown)


def test_unreadable_upload_shows_an_error(db_path):
    at = page(db_path, {"name": "book.xlsx", "data": b"PK\x03\x04rest"})
    assert at.error[0].value == "This file cannot be imported:"
    assert "xlsx" in at.code[0].value


@pytest.mark.parametrize("name", ["r.jsonl"])
def test_jsonl_upload_with_a_bad_line(db_path, name):
    data = b'{"date": "2024-03-05", "text": "fine"}\n{oops\n'
    at = page(db_path, {"name": name, "data": data})
    at.button(key="import_button").click().run()
    assert metric(at, "Imported") == "1"
    assert metric(at, "Rejected") == "1"
    assert at.dataframe[1].value.loc[0, "reason"].startswith("the line is not valid JSON")


# ----------------------------------------------------------------- issue 25: hostile files

def test_a_50_mb_one_line_upload_is_refused_within_seconds_in_a_short_message(db_path):
    started = time.perf_counter()
    at = page(db_path, {"name": "big.csv", "data": b"x" * 50_000_000})
    assert time.perf_counter() - started < 20
    assert at.error[0].value == "This file cannot be imported:"
    message = at.code[0].value
    assert message.startswith("big.csv: the first line is 50,000,000 characters long;")
    assert len(message) < 400
    assert not at.dataframe  # no preview, no "column name" of 50 MB


def test_random_bytes_upload_is_refused_as_not_text(db_path):
    data = random.Random(7).randbytes(20_000).replace(b"\x00", b"\x01")
    at = page(db_path, {"name": "noise.csv", "data": data})
    assert "not a text file" in at.code[0].value
    assert len(at.code[0].value) < 300


def test_an_upload_over_the_size_limit_is_refused_before_reading(db_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_MAX_UPLOAD_MB", "1")
    data = b"date,comment\n" + b"2024-03-05,fine\n" * 100_000
    at = page(db_path, {"name": "large.csv", "data": data})
    assert at.error[0].value == "This file cannot be imported:"
    assert "CLOSELOOP_MAX_UPLOAD_MB" in at.code[0].value
    assert not at.button


def test_the_preview_cuts_a_huge_cell_to_a_short_excerpt(db_path):
    data = b"date,comment\n2024-03-05," + b"w" * 2_000_000 + b"\n2024-03-06,short\n"
    at = page(db_path, {"name": "huge.csv", "data": data})
    preview = at.dataframe[0].value
    cell = preview.loc[0, "comment"]
    assert len(cell) < 600 and "(a 2,000,000-character value)" in cell
    assert preview.loc[1, "comment"] == "short"


def test_reader_warnings_show_in_the_preview_and_in_the_result_as_plain_text(db_path):
    data = (b"Date,Comment,NPS,Comment\n"
            b"2024-03-05,**first**,9,second\n"
            b"2024-03-06,\"unclosed,7,x\n"
            b"2024-03-07,third,8,y\n")
    at = page(db_path, {"name": "dup.csv", "data": data})
    assert [w.value for w in at.warning] == ["Read with warnings:"]
    expected = ("the header 'Comment' appears 2 times (columns 2 and 4); the second is read "
                "as 'Comment.1' and is not imported unless you map it")
    assert at.code[0].value == expected
    at.button(key="import_button").click().run()
    assert not at.exception
    assert at.session_state["import_result"]["warnings"] == [expected]
    assert [w.value for w in at.warning] == ["Read with warnings:", "Imported with warnings:"]
    assert metric(at, "Imported") == "2" and metric(at, "Rejected") == "1"
    reasons = at.dataframe[1].value["reason"].tolist()
    assert reasons[0].startswith("an unclosed quote opens in this row (line 3")
    assert all("**first**" not in m.value for m in at.markdown)

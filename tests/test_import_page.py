"""The Import page, driven through Streamlit's AppTest with the upload held in session state."""

from __future__ import annotations

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

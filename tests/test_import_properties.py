"""Bad input, property-based: whatever bytes a user uploads, the importer answers with a clear
ImportFileError or per-row rejects, never another exception, never a half import; and every
CSV the app hands out is safe to open in a spreadsheet.

Examples are bounded and deadlines off so the file stays fast on 2 shared cores; each
property holds for every example, so a failure shrinks to a minimal file worth a bug report.
"""

from __future__ import annotations

import csv
import io
import re
import uuid

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from analysis import ingest, store
from analysis.reports import csv_safety as exporting
from analysis.reports import export

FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
INJECTIONS = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
              "@SUM(1+9)*cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")',
              "\t=1+1", "\r=1+1", " =1+1", "=1+1\n=2+2"]


def counts(db) -> dict[str, int]:
    return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("feedback", "import_batches", "import_rejects")}


def try_import(db, path, **kwargs):
    """Import and check the contract; return the result, or None after a clean refusal."""
    before = counts(db)
    try:
        result = ingest.import_file(db, path, actor="prop", **kwargs)
    except ingest.ImportFileError as exc:
        assert str(exc).strip(), "an ImportFileError must say what is wrong"
        assert counts(db) == before, "a refused file must leave nothing behind"
        return None
    after = counts(db)
    assert result.rows_read == result.imported + result.duplicates + result.rejected
    assert after["feedback"] - before["feedback"] == result.imported
    assert after["import_batches"] - before["import_batches"] == 1
    assert after["import_rejects"] - before["import_rejects"] == result.rejected
    batch = db.execute("SELECT rows_read, imported, duplicates, rejected, finished_at "
                       "FROM import_batches WHERE id = ?", [result.batch_id]).fetchone()
    assert batch[:4] == (result.rows_read, result.imported, result.duplicates, result.rejected)
    assert batch[4] is not None, "a committed batch is a finished batch"
    for reject in db.execute("SELECT row_number, reason FROM import_rejects WHERE batch_id = ?",
                             [result.batch_id]):
        assert 1 <= reject[0] <= result.rows_read and reject[1].strip()
    return result


def csv_bytes(header, rows, *, encoding="utf-8", delimiter=",") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def assert_spreadsheet_safe(data: bytes) -> list[list[str]]:
    """Every cell of a CSV export either starts harmlessly or is a plain number."""
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            stripped = cell.lstrip(" ")
            if stripped.startswith(FORMULA_TRIGGERS):
                assert PLAIN_NUMBER.match(cell), (
                    f"row {r}, column {c}: {cell!r} would run as a spreadsheet formula")
    return rows


# ---------------------------------------------------------------------- arbitrary input

@FAST
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".jsonl", ".json", ".txt"]))
@example(data=b"", suffix=".csv")
@example(data=b"\xff\xfe\x00", suffix=".csv")
@example(data=b"PK\x03\x04junk", suffix=".csv")
@example(data=b"received_at,comment\n\x00\x00,\x00", suffix=".csv")
@example(data=b'received_at,comment\n"2025-01-01,"unterminated', suffix=".csv")
@example(data=b'{"received_at": "2025-01-01", "comment": 1}\n{bad json\n', suffix=".jsonl")
@example(data=b'[{"received_at": "2025-01-01"}, 3]', suffix=".json")
def test_arbitrary_bytes_are_imported_or_refused_clearly(db, tmp_path, data, suffix):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(data)
    try_import(db, path)


cells = st.text(max_size=40)
dates = st.one_of(st.sampled_from(["2025-01-05", "2025-01-05T10:00:00Z", "05/01/2025",
                                   "2025-13-40", "", "yesterday", "2025-02-29"]), cells)
scores = st.one_of(st.sampled_from(["0", "10", "11", "-1", "7.5", "nan", "inf", "", "x",
                                    "1e3", "9,5"]), cells)


@FAST
@given(rows=st.lists(st.tuples(dates, scores, cells, cells), max_size=25),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_structured_rows_are_all_accounted_for(db, tmp_path, rows, delimiter):
    path = tmp_path / "survey.csv"
    path.write_bytes(csv_bytes(["received_at", "nps_score", "comment", "location"], rows,
                               delimiter=delimiter))
    result = try_import(db, path)
    if result is not None:
        # csv.writer never writes a blank line for a row, so every row is read and counted.
        assert result.rows_read == len(rows)


@FAST
@given(comments=st.lists(st.text(min_size=1, max_size=60).filter(str.strip), min_size=1, max_size=8),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_unicode_encodings_round_trip(db, tmp_path, comments, encoding):
    run = uuid.uuid4().hex  # examples share the database: ids must not collide across them
    rows = [[f"2025-03-{i % 28 + 1:02d}", f"{run}-{i}", c] for i, c in enumerate(comments)]
    path = tmp_path / "unicode.csv"
    path.write_bytes(csv_bytes(["received_at", "id", "comment"], rows, encoding=encoding))
    result = try_import(db, path)
    if result is None:
        return  # e.g. a comment holding a NUL: refused, cleanly
    assert (result.imported, result.duplicates, result.rejected) == (len(comments), 0, 0)
    stored = [r[0] for r in db.execute("SELECT comment FROM feedback WHERE import_batch = ? "
                                       "ORDER BY id", [result.batch_id])]
    # What was imported is exactly what was written (the importer strips outer whitespace).
    assert stored == [c.strip() for c in comments]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16-le", "utf-16-be", "utf-32"])
def test_other_encodings_never_crash(db, tmp_path, encoding):
    text = "Caf\u00e9 cr\u00e8me, na\u00efve \u00fcber \u00a3 \u00e6\u00f8\u00e5"
    rows = [["2025-01-02", text], ["2025-01-03", "plain"]]
    path = tmp_path / "encoded.csv"
    path.write_bytes(csv_bytes(["received_at", "comment"], rows, encoding=encoding))
    result = try_import(db, path)
    if encoding in ("cp1252", "latin-1"):
        assert result is not None and result.imported == 2
        stored = [r[0] for r in db.execute("SELECT comment FROM feedback ORDER BY id")]
        assert stored[0] == text, "a Western-European file must not turn into mojibake"


def test_a_one_megabyte_comment_is_stored_whole(db, tmp_path):
    huge = ("word " * 210_000).strip()  # ~1 MB
    path = tmp_path / "huge.csv"
    path.write_bytes(csv_bytes(["received_at", "comment", "nps"], [["2025-01-02", huge, "9"],
                                                                   ["2025-01-03", "short", "3"]]))
    result = try_import(db, path)
    assert result is not None and result.imported == 2
    stored = db.execute("SELECT length(comment) FROM feedback ORDER BY length(comment) DESC "
                        "LIMIT 1").fetchone()[0]
    assert stored == len(huge)


def test_a_one_megabyte_field_in_a_bad_row_is_a_reject_not_a_crash(db, tmp_path):
    path = tmp_path / "huge_bad.csv"
    path.write_bytes(csv_bytes(["received_at", "comment", "nps"],
                               [["not a date", "x" * 1_000_000, "9"], ["2025-01-03", "ok", "3"]]))
    result = try_import(db, path)
    assert result is not None and (result.imported, result.rejected) == (1, 1)


# ---------------------------------------------------------------------- missing columns

@pytest.mark.parametrize("header,rows", [
    (["comment", "location"], [["great", "North"]]),                 # no date
    (["received_at", "location"], [["2025-01-01", "North"]]),        # no comment, no score
    (["received_at", "score"], [["2025-01-01", "7"]]),               # score without a scale
    (["when", "what"], [["2025-01-01", "hello"]]),                   # nothing recognisable
    (["received_at"], []),                                           # header only
])
def test_missing_columns_are_a_clear_file_error(db, tmp_path, header, rows):
    path = tmp_path / "missing.csv"
    path.write_bytes(csv_bytes(header, rows))
    before = counts(db)
    with pytest.raises(ingest.ImportFileError) as raised:
        ingest.import_file(db, path, actor="prop")
    message = str(raised.value)
    assert "missing.csv" in message, "the message names the file"
    assert counts(db) == before


def test_mapping_to_a_column_the_file_lacks_is_a_clear_file_error(db, tmp_path):
    path = tmp_path / "mapped.csv"
    path.write_bytes(csv_bytes(["Date received", "Narrative"], [["2025-01-01", "hi"]]))
    before = counts(db)
    with pytest.raises(ingest.ImportFileError, match="(?i)no such column|not found|Nope"):
        ingest.import_file(db, path, mapping={"received_at": "Date received", "comment": "Nope"},
                           actor="prop")
    assert counts(db) == before


def test_a_write_that_fails_midway_leaves_no_half_batch(db, tmp_path, monkeypatch):
    rows = [[f"2025-01-{i % 28 + 1:02d}", f"id{i}", f"comment {i}"] for i in range(500)]
    path = tmp_path / "midway.csv"
    path.write_bytes(csv_bytes(["received_at", "id", "comment"], rows + [["bad date", "x", "y"]]))
    real_insert = ingest.importing.insert_feedback_columns

    def insert_then_fail(*args, **kwargs):
        real_insert(*args, **kwargs)  # rows are written inside the transaction...
        raise RuntimeError("disk full")  # ...then the writer dies before the commit

    monkeypatch.setattr(ingest.importing, "insert_feedback_columns", insert_then_fail)
    before = counts(db)
    revision = store.revision(db)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest.import_file(db, path, actor="prop")
    assert counts(db) == before
    assert store.revision(db) == revision
    monkeypatch.undo()
    result = try_import(db, path)
    assert (result.imported, result.rejected) == (500, 1)


def test_reimporting_the_same_file_adds_nothing(db, tmp_path):
    rows = [[f"2025-01-{i % 28 + 1:02d}", f"id{i}", f"comment {i}", str(i % 11)] for i in range(50)]
    path = tmp_path / "again.csv"
    path.write_bytes(csv_bytes(["received_at", "id", "comment", "nps"], rows))
    first = try_import(db, path)
    second = try_import(db, path)
    assert (first.imported, second.imported, second.duplicates) == (50, 0, 50)


# ---------------------------------------------------------------------- formula injection


trigger_text = st.builds(lambda t, rest: t + rest, st.sampled_from(list(FORMULA_TRIGGERS) + [" =", "  +"]),
                         st.text(max_size=30))


@FAST
@given(values=st.lists(st.one_of(trigger_text, st.text(max_size=30), st.sampled_from(INJECTIONS),
                                 st.sampled_from(["-3", "+1.5", "1e5", "-", "+", "@", "="])),
                       min_size=1, max_size=20))
def test_to_safe_csv_neutralises_every_formula(values):
    frame = pd.DataFrame({"comment": values, "=evil_header": values,
                          "n": range(len(values))})
    rows = assert_spreadsheet_safe(exporting.to_safe_csv(frame))
    assert len(rows) == len(values) + 1
    for original, written in zip(values, (r[0] for r in rows[1:])):
        # Neutralised means one leading quote, nothing else changed (nothing is lost).
        assert written in (original, "'" + original) or (original == "" and written == "")


@pytest.mark.parametrize("payload", INJECTIONS)
def test_the_feedback_export_neutralises_imported_formulas(db, tmp_path, payload):
    rows = [["2025-01-02", payload, payload, payload, "9"], ["2025-01-03", "fine", "North", "B2C", "3"]]
    path = tmp_path / "formulas.csv"
    path.write_bytes(csv_bytes(["received_at", "comment", "location", "segment", "nps"], rows))
    result = try_import(db, path)
    assert result is not None
    out = tmp_path / "export.csv"
    export.export_feedback(db, out)
    exported = assert_spreadsheet_safe(out.read_bytes())
    header = exported[0]
    stored = db.execute("SELECT comment, location, segment FROM feedback ORDER BY id").fetchone()
    first = dict(zip(header, exported[1]))
    for column, value in zip(("comment", "location", "segment"), stored):
        # Neutralised, not mangled: one leading quote and the text otherwise intact.
        assert first[column] == ("'" + value if value.lstrip(" ").startswith(FORMULA_TRIGGERS)
                                 else value)


@FAST
@given(comment=st.one_of(trigger_text, st.sampled_from(INJECTIONS)))
def test_any_imported_formula_is_neutralised_in_the_feedback_export(db, tmp_path, comment):
    assume(comment.strip())
    path = tmp_path / "one.csv"
    path.write_bytes(csv_bytes(["received_at", "comment", "location"],
                               [["2025-01-02", comment, comment]]))
    try_import(db, path)
    out = tmp_path / "export.csv"
    export.export_feedback(db, out)
    assert_spreadsheet_safe(out.read_bytes())

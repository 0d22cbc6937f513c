"""Feedback export: exact columns, one row per response, themes joined, formulas defused."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from test_theme_queries import CURRENT, NOW, T0, seed_theme_store

from analysis import store
from analysis.domain.filters import Filters
from analysis.ingest.feedback import insert_feedback
from analysis.reports import export

EXPECTED_COLUMNS = ["external_id", "received_at", "location", "segment", "score_type", "score",
                    "comment", "sentiment_label", "sentiment_score", "theme_id", "theme",
                    "parent_theme_id", "parent_theme"]


def _read(path) -> list[dict]:
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == EXPECTED_COLUMNS
    return list(reader)


def test_exact_columns_and_one_row_per_feedback(db, tmp_path):
    seed_theme_store(db)
    out = tmp_path / "export.csv"
    # A small batch size exercises the batching (215 rows in 9 batches).
    n = export.export_feedback(db, out, batch_rows=25)
    rows = _read(out)
    assert n == len(rows) == 215
    assert len({r["external_id"] for r in rows}) == 215
    by_id = {r["external_id"]: r for r in rows}
    both = by_id["cur-0"]  # primary Waiting time (1), secondary Staff
    assert both["theme_id"] == "1" and both["theme"] == "Waiting time; Staff"
    assert both["parent_theme_id"] == "10" and both["parent_theme"] == "Service"
    assert both["sentiment_label"] == "negative" and float(both["sentiment_score"]) == -0.6
    assert both["location"] == "North" and both["segment"] == "retail"
    assert both["score_type"] == "nps" and float(both["score"]) == 3
    assert both["received_at"] == "2025-03-04T10:00:00Z"
    assert by_id["cur-30"]["theme"] == "Staff" and by_id["cur-30"]["theme_id"] == "2"
    # Merged themes are not current themes; unthemed rows have empty theme cells.
    assert by_id["cur-99"]["theme"] == "" and by_id["cur-99"]["theme_id"] == ""
    assert by_id["cur-99"]["parent_theme"] == "" and by_id["cur-99"]["parent_theme_id"] == ""
    assert by_id["blank-0"]["comment"] == ""


def test_filters_limit_the_export(db, tmp_path):
    seed_theme_store(db)
    out = tmp_path / "south.csv"
    n = export.export_feedback(db, out, filters=Filters(start=CURRENT.start, end=CURRENT.end,
                                                        locations=("South",)))
    rows = _read(out)
    assert n == len(rows) == 50 and {r["location"] for r in rows} == {"South"}


def test_formula_injection_is_neutralised(db, tmp_path):
    hostile = ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0",
               "@SUM(A1:A9)", "-2+3"]
    with store.write_transaction(db):
        insert_feedback(db, [
            {"external_id": f"x{k}", "source": "test", "received_at": "2025-03-01T09:00:00Z",
             "comment": text, "location": "=cmd()"} for k, text in enumerate(hostile)
        ], batch_id=None, actor="test", now=NOW)
        db.execute("INSERT INTO themes (id, name, created_at, created_by, updated_at) "
                   "VALUES (1, '=1+1', ?, 'test', ?)", [T0, T0])
        db.execute("INSERT INTO theme_assignments (feedback_id, theme_id, probability, "
                   "is_primary, origin, assigned_at) SELECT id, 1, 0.9, 1, 'fit', ? "
                   "FROM feedback", [T0])
    out = tmp_path / "hostile.csv"
    assert export.export_feedback(db, out) == 4
    rows = _read(out)
    for row in rows:
        for column in ("comment", "location", "theme"):
            assert not row[column].startswith(("=", "+", "-", "@")), (column, row[column])
    assert rows[0]["comment"] == "'" + hostile[0]
    assert rows[0]["theme"] == "'=1+1"


def test_empty_store_writes_header_only(db, tmp_path):
    out = tmp_path / "empty.csv"
    assert export.export_feedback(db, out) == 0
    assert _read(out) == []
    assert not list(tmp_path.glob(".empty.csv*"))  # no temporary file left behind


def test_dates_filter_previous_period_untouched(db, tmp_path):
    seed_theme_store(db)
    out = tmp_path / "feb.csv"
    n = export.export_feedback(db, out, filters=Filters(start=date(2025, 2, 1),
                                                        end=date(2025, 3, 3)))
    assert n == 100 and all(r["external_id"].startswith("prev-") for r in _read(out))


@pytest.mark.parametrize("batch_rows", [1, 1000])
def test_batch_size_does_not_change_the_file(db, tmp_path, batch_rows):
    seed_theme_store(db)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    export.export_feedback(db, a, batch_rows=batch_rows)
    export.export_feedback(db, b, batch_rows=97)
    assert a.read_bytes() == b.read_bytes()

"""One hostile value never costs the good rows, and whatever the importer accepts, every page
renders (issue 25), property-based.

A file of good rows gets one hostile value (a date out of range, an impossible UTC offset, a
year alone, a fraction on a whole-number scale, a score no survey writes, an empty row) at
any row and field: every good row must be imported, and the hostile one rejected with its
row number, field and a reason. Then rows the importer accepts, with any text in them, go
through every page of the app.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from analysis import ingest
from tests.test_app import APP, PAGES, assert_clean

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
BOUNDED = settings(max_examples=30, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])
HEADER = ["date", "comment", "nps", "store"]
# Text as people type it, in any script; control characters are left to the reader's tests.
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
               ).filter(lambda s: s.strip())


def moments(low: datetime = EARLIEST, high: datetime = NOW):
    span = int((high - low).total_seconds())
    return st.integers(0, span).map(lambda s: low + timedelta(seconds=s))


good_rows = st.lists(
    st.tuples(moments(), TEXT, st.integers(0, 10), st.sampled_from(["North", "Harbour", ""])),
    min_size=1, max_size=12)

# (field, value) pairs that must each be rejected.
hostile_dates = st.one_of(
    moments(NOW + timedelta(days=2), datetime(9999, 12, 31, tzinfo=timezone.utc)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    moments(datetime(1, 1, 2, tzinfo=timezone.utc), EARLIEST - timedelta(days=1)).map(
        lambda d: d.date().isoformat()),  # strftime("%Y") does not pad years below 1000
    st.tuples(moments(), st.integers(15, 99), st.sampled_from("+-")).map(
        lambda t: t[0].strftime("%Y-%m-%dT%H:%M:%S") + f"{t[2]}{t[1]:02d}:00"),
    st.integers(2000, 2026).map(str),
    st.tuples(st.integers(2000, 2026), st.integers(1, 12)).map(lambda t: f"{t[0]}-{t[1]:02d}"),
    st.sampled_from(["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00", "soon",
                     "2024-02-30", "31/31/2024"]),
).map(lambda v: ("received_at", v))
hostile_scores = st.one_of(
    st.floats(0, 10).filter(lambda x: x != int(x)).map(lambda x: f"{x:.2f}"),
    st.integers(11, 10**6).map(str), st.integers(-10**6, -1).map(str),
    st.sampled_from(["1e1", "9,5", "7.5", "nan", "inf", "ten", "0x9", "½"]),
).map(lambda v: ("score", v))
hostile = st.one_of(hostile_dates, hostile_scores)


def csv_bytes(rows) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def as_cells(row, index: int, token: str) -> list[str]:
    moment, comment, score, location = row
    # Index and token keep every good row distinct, within a file and from rows stored by
    # earlier examples (hypothesis replays rows while it shrinks): none is a duplicate.
    return [moment.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{token} {index}: {comment}", str(score),
            location]


@BOUNDED
@given(rows=good_rows, bad=hostile, where=st.integers(0, 12))
def test_one_hostile_value_is_rejected_and_every_good_row_imported(db, tmp_path, rows, bad,
                                                                  where):
    field, value = bad
    token = uuid.uuid4().hex
    cells = [as_cells(row, i, token) for i, row in enumerate(rows)]
    position = where % (len(cells) + 1)
    hostile_row = as_cells(rows[0], len(cells), token)
    hostile_row[{"received_at": 0, "score": 2}[field]] = value
    cells.insert(position, hostile_row)
    path = tmp_path / "hostile.csv"
    path.write_bytes(csv_bytes(cells))

    result = ingest.import_file(db, path, actor="prop", now=NOW)

    assert (result.imported, result.rejected) == (len(rows), 1), ingest.rejects_frame(
        db, result.batch_id).to_dict("records")
    (reject,) = ingest.rejects_frame(db, result.batch_id).to_dict("records")
    assert reject["row_number"] == position + 1
    assert reject["field"] == field
    assert reject["reason"].strip() and len(reject["reason"]) < 300


@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=good_rows, locations=st.lists(TEXT, min_size=1, max_size=3))
def test_whatever_the_importer_accepts_every_page_renders(db, tmp_path, rows, locations):
    cells = [as_cells(row, i, uuid.uuid4().hex) for i, row in enumerate(rows)]
    for i, cell in enumerate(cells):
        cell[3] = locations[i % len(locations)]
    path = tmp_path / "accepted.csv"
    path.write_bytes(csv_bytes(cells))
    ingest.import_file(db, path, actor="prop", now=NOW)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert_clean(at)
    for page in PAGES:
        at.switch_page(page).run()
        assert_clean(at)

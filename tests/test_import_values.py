"""Every value is checked before it is stored (issue 25): dates in a plausible window, UTC
offsets that exist, whole dates, whole-number scores; stores written before these checks
are cleaned by a migration; pages keep working whatever a stored date holds."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from streamlit.testing.v1 import AppTest

from analysis import ingest, store
from analysis.domain.filters import date_bounds
from analysis.ingest import feedback
from tests.test_app import APP, PAGES, assert_clean

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def import_text(db, tmp_path, text: str, name: str = "f.csv", **kwargs):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    kwargs.setdefault("actor", "tester")
    kwargs.setdefault("now", NOW)
    return ingest.import_file(db, path, **kwargs)


def rejects(db, batch_id: int) -> list[dict]:
    return ingest.rejects_frame(db, batch_id).to_dict("records")


def stored(db, column: str = "comment") -> list:
    return [r[0] for r in db.execute(f"SELECT {column} FROM feedback ORDER BY id")]


# ----------------------------------------------------------------------------- dates

def test_a_date_past_year_9999_in_utc_is_rejected_and_the_good_rows_stay(db, tmp_path):
    result = import_text(db, tmp_path, "date,comment\n9999-12-31T23:00:00-05:00,far\n"
                                       "2024-01-02,good\n0001-01-01T00:00:00+01:00,early\n")
    assert (result.imported, result.rejected) == (1, 2)
    assert stored(db) == ["good"]
    far, early = rejects(db, result.batch_id)
    assert far["row_number"] == 1 and far["field"] == "received_at"
    assert "'9999-12-31T23:00:00-05:00' is in the future" in far["reason"]
    assert "'0001-01-01T00:00:00+01:00' is before 2000-01-01" in early["reason"]


@pytest.mark.parametrize("value, offset", [
    ("2024-01-03T10:00:00-25:00", "-25:00"), ("2024-01-04T10:00:00+9900", "+99:00"),
    ("2024-01-04T10:00:00+14:30", "+14:30"), ("Tue, 02 Jan 2024 10:00:00 +2500", "+25:00"),
    ("2024-01-04 10:00 +05:75", "+05:75"),
])
def test_an_impossible_utc_offset_is_a_reject_not_an_aborted_import(db, tmp_path, value,
                                                                    offset):
    result = import_text(db, tmp_path, f"date,comment\n\"{value}\",bad\n2024-01-05,good\n")
    assert (result.imported, result.rejected) == (1, 1)
    (reject,) = rejects(db, result.batch_id)
    assert reject["field"] == "received_at"
    assert f"UTC offset {offset}, outside -14:00 to +14:00" in reject["reason"]


def test_the_widest_real_offsets_are_accepted(db, tmp_path):
    import_text(db, tmp_path, "date,comment\n2024-01-03T10:00:00+14:00,kiribati\n"
                              "2024-01-03T10:00:00-12:00,baker island\n")
    assert stored(db, "received_at") == ["2024-01-02T20:00:00Z", "2024-01-03T22:00:00Z"]


@pytest.mark.parametrize("value", ["2024", "2024-03", "03/2024", "March 2024", "Mar 2024",
                                   "2024/03"])
def test_a_year_or_month_alone_is_rejected_instead_of_dated_to_its_first_day(db, tmp_path,
                                                                            value):
    result = import_text(db, tmp_path, f"date,comment\n{value},vague\n2024-01-05,good\n")
    (reject,) = rejects(db, result.batch_id)
    assert reject["reason"] == (f"the date {value!r} has no day (a year or a month alone); "
                                "give the full date")


@pytest.mark.parametrize("value", ["3000-01-01", "9999-12-31", "2026-11-29T12:00:01Z"])
def test_a_date_more_than_a_day_ahead_of_now_is_rejected(db, tmp_path, value):
    result = import_text(db, tmp_path, f"date,comment\n{value},ahead\n")
    (reject,) = rejects(db, result.batch_id)
    assert f"the date {value!r} is in the future" in reject["reason"]


def test_a_date_within_a_day_of_now_is_accepted(db, tmp_path):
    result = import_text(db, tmp_path, "date,comment\n2026-11-29T11:59:59Z,time zones differ\n")
    assert result.imported == 1


def test_the_earliest_plausible_date_is_a_setting(db, tmp_path, monkeypatch):
    text = "date,comment\n1998-05-01,old review\n2024-01-01,new\n"
    result = import_text(db, tmp_path, text)
    assert "before 2000-01-01" in rejects(db, result.batch_id)[0]["reason"]
    monkeypatch.setenv("CLOSELOOP_EARLIEST_DATE", "1995-01-01")
    import_text(db, tmp_path, text, name="again.csv")
    assert "old review" in stored(db)


def test_a_bad_earliest_date_setting_names_the_variable(monkeypatch):
    from analysis.settings import get_settings

    monkeypatch.setenv("CLOSELOOP_EARLIEST_DATE", "last tuesday")
    with pytest.raises(ValueError, match="CLOSELOOP_EARLIEST_DATE must be a date"):
        get_settings()


def test_fractions_of_a_second_are_dropped_not_rounded(db, tmp_path):
    import_text(db, tmp_path, "date,comment\n2024-01-03T10:00:59.9Z,late in the second\n")
    assert stored(db, "received_at") == ["2024-01-03T10:00:59Z"]


# ----------------------------------------------------------------------------- scores

@pytest.mark.parametrize("score, reason", [
    ("7.5", "NPS scores are whole numbers; score 7.5 is not"),
    ("9,5", "NPS scores are whole numbers; score 9,5 is not"),
    ("1e1", "the score '1e1' is not written as a plain number (digits, with a decimal point "
            "or comma)"),
    ("0x9", "the score '0x9' is not a number"),
    ("1,000", "the score '1,000' is not a number"),  # a thousands separator, not 1.000
    ("inf", "the score 'inf' is not written as a plain number (digits, with a decimal point "
            "or comma)"),
])
def test_nps_scores_are_whole_numbers_written_plainly(db, tmp_path, score, reason):
    result = import_text(db, tmp_path, f'date,comment,nps\n2024-01-01,x,"{score}"\n')
    (reject,) = rejects(db, result.batch_id)
    assert (reject["field"], reject["reason"]) == ("score", reason)


def test_whole_numbers_with_a_zero_fraction_are_whole(db, tmp_path):
    result = import_text(db, tmp_path, "date,comment,csat\n2024-01-01,x,4.0\n2024-01-02,y,+5\n")
    assert result.imported == 2
    assert stored(db, "score") == [4.0, 5.0]


def test_review_ratings_may_have_half_stars_but_no_other_fraction(db, tmp_path):
    result = import_text(db, tmp_path, 'date,comment,rating\n2024-01-01,a,4.5\n'
                                       '2024-01-02,b,"3,5"\n2024-01-03,c,4.3\n')
    assert stored(db, "score") == [4.5, 3.5]
    (reject,) = rejects(db, result.batch_id)
    assert reject["reason"] == "ratings are whole or half stars; score 4.3 is neither"


# ----------------------------------------------------------------------------- stored rows

def insert_raw(db, rows: list[tuple]) -> None:
    """Rows as an older version (or a hand edit) could have stored them, past the importer."""
    with store.write_transaction(db):
        for i, (received_at, score_type, score) in enumerate(rows):
            db.execute(
                "INSERT INTO feedback (source, received_at, score_type, score, comment, "
                "dedup_key, created_at, created_by) VALUES ('old', ?, ?, ?, ?, ?, ?, 'old')",
                [received_at, score_type, score, f"row {i}", f"key {i}", store.to_iso(NOW)])


BROKEN_ROWS = [
    ("10000-01-01T04:00:00Z", "nps", 9), ("0000-12-31T23:00:00Z", "nps", 3),
    ("2024-02-30T10:00:00Z", None, None), ("garbage", "csat", 4),
    ("3000-01-01T00:00:00Z", "nps", 8), ("2024-03-01T10:00:00Z", "nps", 7.5),
]
GOOD_ROWS = [("2024-03-02T10:00:00Z", "nps", 9), ("2024-03-03T10:00:00Z", "rating", 4.5)]


def test_stored_rows_that_break_the_rules_move_to_the_rejects_with_their_reason(db):
    insert_raw(db, BROKEN_ROWS + GOOD_ROWS)
    with store.write_transaction(db):
        moved = feedback.reject_stored_implausible_rows(
            db, earliest="2000-01-01T00:00:00Z", latest="2026-11-29T12:00:00Z",
            actor="tester", now=NOW)
    assert moved == len(BROKEN_ROWS)
    assert stored(db) == ["row 6", "row 7"]
    batch = db.execute("SELECT id, file_name, rows_read, rejected, actor FROM import_batches"
                       ).fetchone()
    assert batch[1:] == ("(rows already stored)", 6, 6, "tester")
    found = rejects(db, batch[0])
    reasons = [r["reason"] for r in found]
    assert reasons == [
        "the stored date '10000-01-01T04:00:00Z' is not a real UTC date and time",
        "the stored date '0000-12-31T23:00:00Z' is not a real UTC date and time",
        "the stored date '2024-02-30T10:00:00Z' is not a real UTC date and time",
        "the stored date 'garbage' is not a real UTC date and time",
        "the stored date 3000-01-01T00:00:00Z is in the future (later than "
        "2026-11-29T12:00:00Z)",
        "the stored score 7.5 is between the steps of the nps scale",
    ]
    assert [r["field"] for r in found] == ["received_at"] * 5 + ["score"]
    assert json.loads(found[0]["raw"])["comment"] == "row 0"  # the whole row is kept


def test_the_migration_moves_stored_dates_that_are_no_real_moment_and_keeps_the_rest(db_path):
    db = store.connect(db_path)
    insert_raw(db, BROKEN_ROWS + GOOD_ROWS)
    # As if the store were one written by the previous version: m005 not applied yet.
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_reject_implausible_stored_rows'")
    assert store.apply_migrations(db) == ["m005_reject_implausible_stored_rows"]
    # The four dates pages cannot read move; a future date and a half NPS point are policy,
    # left to `python -m analysis check`, not to a migration.
    assert stored(db) == ["row 4", "row 5", "row 6", "row 7"]
    found = db.execute("SELECT r.field, r.reason, r.raw, b.actor FROM import_rejects r "
                       "JOIN import_batches b ON b.id = r.batch_id ORDER BY r.row_number"
                       ).fetchall()
    assert [r[1] for r in found] == [
        f"the stored date {d!r} is not a real UTC date and time (found in the store by "
        "migration m005)" for d in ("10000-01-01T04:00:00Z", "0000-12-31T23:00:00Z",
                                    "2024-02-30T10:00:00Z", "garbage")]
    assert {(r[0], r[3]) for r in found} == {("received_at", "migration m005")}
    assert json.loads(found[0][2])["comment"] == "row 0"


def test_date_bounds_skip_stored_dates_that_are_no_real_moment(db):
    insert_raw(db, BROKEN_ROWS[:4] + GOOD_ROWS)
    assert date_bounds(db) == (date(2024, 3, 2), date(2024, 3, 3))


def test_date_bounds_of_a_store_holding_only_broken_dates_are_none(db):
    insert_raw(db, BROKEN_ROWS[:2])
    assert date_bounds(db) is None


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_on_a_store_holding_unreadable_dates(seeded_db, page):
    insert_raw(seeded_db, BROKEN_ROWS)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert_clean(at)
    at.switch_page(page).run()
    assert_clean(at)


def test_a_file_error_quotes_column_names_at_a_bounded_length(db, tmp_path):
    header = ",".join(["x" * 50_000] + [f"c{i}" for i in range(100)])
    with pytest.raises(ingest.ImportFileError) as error:
        import_text(db, tmp_path, header + "\n" + ",".join("1" * 101) + "\n")
    message = str(error.value)
    assert "no date column found" in message
    assert "(a 50,000-character value)" in message and "(81 more)" in message
    assert len(message) < 2_000


def test_the_overview_says_how_many_stored_dates_it_leaves_out(seeded_db):
    insert_raw(seeded_db, BROKEN_ROWS[:4])
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert_clean(at)
    (warning,) = [w.value for w in at.warning]
    # 0000-12-31 and 2024-02-30 have the stored shape: the figures keep them (no period
    # shows them), so the count, which names what the figures leave out, does not.
    assert warning.startswith("2 stored responses have a date that is not a real moment")

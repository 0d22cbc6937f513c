"""Local days and ISO weeks (`analysis.trends.periods`) in zones with summer time.

Every case is checked twice: the Python rule (`period_of`) and the SQL SQLite runs
(`local_period_sql`), on moments whose local date differs from their UTC date.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest

from analysis.store.clock import from_iso, to_iso
from analysis.trends import periods
from analysis.trends.series import cell_counts
from tests.test_trends_series import add_feedback, add_theme

YEAR = (date(2025, 1, 1), date(2025, 12, 31))


def sql_period(moment: str, granularity: str, tz: str, start: date = YEAR[0],
               end: date = YEAR[1]) -> str:
    """What the SQL gives for one stored moment."""
    expression = periods.local_period_sql(granularity, tz, start, end)
    with sqlite3.connect(":memory:") as conn:
        return conn.execute(f"SELECT {expression} FROM (SELECT ? AS received_at) f",
                            [moment]).fetchone()[0]


def both(moment: str, granularity: str, tz: str) -> tuple[str, str]:
    return (periods.period_of(from_iso(moment), granularity, tz).isoformat(),
            sql_period(moment, granularity, tz))


# ------------------------------------------------------------------ weeks and days


@pytest.mark.parametrize("moment, tz, local_week, utc_week", [
    # Sunday 2025-11-02 23:30 in New York (EST, after the autumn change) is Monday 04:30 UTC.
    ("2025-11-03T04:30:00Z", "America/New_York", "2025-10-27", "2025-11-03"),
    # Sunday 2025-07-13 23:30 in New York (EDT) is Monday 03:30 UTC.
    ("2025-07-14T03:30:00Z", "America/New_York", "2025-07-07", "2025-07-14"),
    # Sunday 2025-07-13 23:30 in Paris (CEST) is 21:30 UTC: the same week either way.
    ("2025-07-13T21:30:00Z", "Europe/Paris", "2025-07-07", "2025-07-07"),
    # Monday 2025-07-14 00:30 in Paris is still Sunday in UTC: the next local week.
    ("2025-07-13T22:30:00Z", "Europe/Paris", "2025-07-14", "2025-07-07"),
    # Monday 2025-01-13 00:30 in Paris (CET) is Sunday 23:30 UTC.
    ("2025-01-12T23:30:00Z", "Europe/Paris", "2025-01-13", "2025-01-06"),
])
def test_a_late_sunday_comment_falls_in_its_local_week(moment, tz, local_week, utc_week):
    assert both(moment, "week", tz) == (local_week, local_week)
    assert both(moment, "week", "UTC") == (utc_week, utc_week)


@pytest.mark.parametrize("moment, tz, local_day", [
    # Paris spring change 2025-03-30: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    ("2025-03-29T22:59:59Z", "Europe/Paris", "2025-03-29"),
    ("2025-03-29T23:00:00Z", "Europe/Paris", "2025-03-30"),   # local midnight, CET
    ("2025-03-30T00:59:59Z", "Europe/Paris", "2025-03-30"),   # 01:59:59 CET
    ("2025-03-30T01:00:00Z", "Europe/Paris", "2025-03-30"),   # 03:00 CEST
    ("2025-03-30T21:59:59Z", "Europe/Paris", "2025-03-30"),   # 23:59:59 CEST
    ("2025-03-30T22:00:00Z", "Europe/Paris", "2025-03-31"),   # midnight after a 23 h day
    # Paris autumn change 2025-10-26: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
    ("2025-10-25T22:00:00Z", "Europe/Paris", "2025-10-26"),
    ("2025-10-26T22:30:00Z", "Europe/Paris", "2025-10-26"),   # 23:30 CET, a 25 h day
    ("2025-10-26T23:00:00Z", "Europe/Paris", "2025-10-27"),
    # New York spring change 2025-03-09 07:00 UTC, autumn change 2025-11-02 06:00 UTC.
    ("2025-03-10T03:59:59Z", "America/New_York", "2025-03-09"),  # 23:59:59 EDT
    ("2025-03-10T04:00:00Z", "America/New_York", "2025-03-10"),
    ("2025-11-03T04:59:59Z", "America/New_York", "2025-11-02"),  # 23:59:59 EST
    ("2025-11-03T05:00:00Z", "America/New_York", "2025-11-03"),
])
def test_days_on_summer_time_changes_are_local_days(moment, tz, local_day):
    assert both(moment, "day", tz) == (local_day, local_day)


@pytest.mark.parametrize("tz", ["Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("granularity", ["day", "week"])
def test_sql_and_python_agree_every_quarter_hour_around_each_change(tz, granularity):
    expression = periods.local_period_sql(granularity, tz, *YEAR)
    moments = []
    for change in periods.utc_offsets(tz, *YEAR)[1:]:
        centre = from_iso(change[0])
        moments += [to_iso(centre + timedelta(minutes=15 * k)) for k in range(-4 * 30, 4 * 30)]
    with sqlite3.connect(":memory:") as conn:
        found = [conn.execute(f"SELECT {expression} FROM (SELECT ? AS received_at) f",
                              [m]).fetchone()[0] for m in moments]
    expected = [periods.period_of(from_iso(m), granularity, tz).isoformat() for m in moments]
    assert found == expected


def test_utc_is_the_stored_date_unchanged():
    assert periods.utc_offsets("UTC", *YEAR) == [(None, 0)]
    assert periods.local_time_sql("f.received_at", "UTC", *YEAR) == "f.received_at"
    assert periods.local_period_sql("day", "UTC", *YEAR) == "date(f.received_at)"
    assert both("2025-03-30T23:59:59Z", "day", "UTC") == ("2025-03-30", "2025-03-30")
    assert both("2025-03-31T00:00:00Z", "week", "UTC") == ("2025-03-31", "2025-03-31")
    assert both("2025-03-30T23:59:59Z", "week", "UTC") == ("2025-03-24", "2025-03-24")


# ------------------------------------------------------------------ offsets


def test_utc_offsets_finds_each_transition_to_the_second():
    assert periods.utc_offsets("Europe/Paris", *YEAR) == [
        (None, 3600), ("2025-03-30T01:00:00Z", 7200), ("2025-10-26T01:00:00Z", 3600)]
    assert periods.utc_offsets("America/New_York", *YEAR) == [
        (None, -18000), ("2025-03-09T07:00:00Z", -14400), ("2025-11-02T06:00:00Z", -18000)]


def test_utc_offsets_over_two_years_has_four_transitions_and_none_for_a_fixed_zone():
    found = periods.utc_offsets("Europe/Paris", date(2024, 1, 1), date(2025, 12, 31))
    assert [at for at, _ in found] == [None, "2024-03-31T01:00:00Z", "2024-10-27T01:00:00Z",
                                       "2025-03-30T01:00:00Z", "2025-10-26T01:00:00Z"]
    assert periods.utc_offsets("Asia/Tokyo", *YEAR) == [(None, 32400)]


def test_utc_offsets_sees_a_change_on_the_first_and_last_day_of_the_range():
    spring = date(2025, 3, 30)
    assert periods.utc_offsets("Europe/Paris", spring, spring)[1] == \
        ("2025-03-30T01:00:00Z", 7200)
    autumn = date(2025, 10, 26)
    assert periods.utc_offsets("Europe/Paris", autumn, autumn)[-1] == \
        ("2025-10-26T01:00:00Z", 3600)


# ------------------------------------------------------------------ period arithmetic


def test_period_bounds_follow_local_midnights_across_a_change():
    spring = date(2025, 3, 30)
    assert periods.period_opening(spring, "Europe/Paris") == datetime(2025, 3, 29, 23, tzinfo=UTC)
    assert periods.period_close(spring, "day", "Europe/Paris") == \
        datetime(2025, 3, 30, 22, tzinfo=UTC)
    week = date(2025, 10, 20)
    assert periods.period_opening(week, "Europe/Paris") == datetime(2025, 10, 19, 22, tzinfo=UTC)
    assert periods.period_close(week, "week", "Europe/Paris") == \
        datetime(2025, 10, 26, 23, tzinfo=UTC)
    assert periods.period_end(week, "week") == date(2025, 10, 26)
    assert periods.period_end(spring, "day") == spring


def test_periods_between_starts_weeks_on_monday_and_keeps_the_last_partial_week():
    assert periods.periods_between(date(2025, 1, 8), date(2025, 1, 20), "week") == [
        date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20)]
    assert periods.periods_between(date(2025, 1, 30), date(2025, 2, 1), "day") == [
        date(2025, 1, 30), date(2025, 1, 31), date(2025, 2, 1)]
    assert periods.periods_between(date(2025, 2, 1), date(2025, 1, 30), "day") == []


def test_an_unknown_granularity_is_refused():
    with pytest.raises(ValueError, match="granularity must be 'day' or 'week'"):
        periods.check_granularity("month")
    with pytest.raises(ValueError, match="month"):
        periods.local_period_sql("month", "UTC", *YEAR)


# ------------------------------------------------------------------ through the store


@pytest.mark.parametrize("tz, moments, weeks", [
    # Sunday 23:30 New York in summer, and Monday 00:30: two local weeks.
    ("America/New_York", ["2025-07-14T03:30:00Z", "2025-07-14T04:30:00Z"],
     {"2025-07-07": 1, "2025-07-14": 1}),
    # Sunday 23:30 and Monday 00:30 in Paris in summer: two local weeks, one UTC week.
    ("Europe/Paris", ["2025-07-13T21:30:00Z", "2025-07-13T22:30:00Z"],
     {"2025-07-07": 1, "2025-07-14": 1}),
    ("UTC", ["2025-07-13T21:30:00Z", "2025-07-13T22:30:00Z"], {"2025-07-07": 2}),
])
def test_cell_counts_buckets_by_the_closeloop_tz_setting(db, monkeypatch, tz, moments, weeks):
    monkeypatch.setenv("CLOSELOOP_TZ", tz)
    add_theme(db, 1, "Billing")
    add_feedback(db, [(from_iso(m), "North", 1, {1: 1}) for m in moments])
    counts = cell_counts(db, granularity="week", first=date(2025, 7, 1),
                         last=date(2025, 7, 20), level="theme")
    north = counts.volume[counts.volume["location"] == "North"]
    assert dict(zip(north["period"], north["commented"])) == weeks
    mentions = counts.mentions[counts.mentions["location"] == "North"]
    assert dict(zip(mentions["period"], mentions["mentions"])) == weeks


def test_cell_counts_window_uses_local_midnights(db, monkeypatch):
    """Only comments inside the local periods asked for count: 23:30 UTC on the last
    Sunday is already Monday in Paris, outside the window."""
    monkeypatch.setenv("CLOSELOOP_TZ", "Europe/Paris")
    add_theme(db, 1, "Billing")
    add_feedback(db, [(from_iso("2025-01-05T23:30:00Z"), "North", 1, {1: 1}),   # Mon 6th
                      (from_iso("2025-01-12T22:30:00Z"), "North", 1, {1: 0}),   # Sun 12th
                      (from_iso("2025-01-12T23:30:00Z"), "North", 1, {1: 0})])  # Mon 13th
    counts = cell_counts(db, granularity="week", first=date(2025, 1, 6),
                         last=date(2025, 1, 12), level="theme")
    assert counts.periods == ["2025-01-06"]
    north = counts.volume[counts.volume["location"] == "North"]
    assert north["commented"].tolist() == [2]

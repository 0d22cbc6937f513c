"""Days and ISO weeks in the `CLOSELOOP_TZ` time zone, in SQL.

Stored moments are UTC; a shop in Paris counts a complaint at 23:30 local time on the day
it was made. SQLite knows no time zones, so `local_period_sql` writes the zone's offsets as
a CASE over its transitions (two a year for a zone with summer time, none for UTC):

    local_period_sql("week", "Europe/Paris", date(2025, 1, 1), date(2025, 12, 31))
    # date(datetime(f.received_at, CASE WHEN f.received_at < '2025-03-30T01:00:00Z'
    #      THEN '+3600 seconds' ... END), '-6 days', 'weekday 1')

A period is named by its first day ('YYYY-MM-DD'); weeks start on Monday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

from analysis.store.clock import to_iso

GRANULARITIES = ("day", "week")
PERIOD_DAYS = {"day": 1, "week": 7}


def check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be 'day' or 'week', got {granularity!r}")
    return granularity


def utc_offsets(tz: str, start: date, end: date) -> list[tuple[str | None, int]]:
    """The zone's UTC offset in seconds over [start, end], as (from, offset) pairs: `from` is
    the UTC moment (store format) the offset starts at, None for the first. Found by walking
    the days and then bisecting each change to the second."""
    zone = ZoneInfo(tz)
    first = datetime.combine(start - timedelta(days=2), time(), timezone.utc)
    last = datetime.combine(end + timedelta(days=2), time(), timezone.utc)

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(zone).utcoffset().total_seconds())

    changes: list[tuple[str | None, int]] = [(None, offset(first))]
    moment = first
    while moment < last:
        following = moment + timedelta(days=1)
        if offset(following) != offset(moment):
            low, high = moment, following  # offset(low) != offset(high)
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if offset(middle) == offset(low):
                    low = middle
                else:
                    high = middle
            changes.append((to_iso(high), offset(high)))
        moment = following
    return changes


def local_time_sql(column: str, tz: str, start: date, end: date) -> str:
    """SQL for `column` (a stored UTC moment) as local wall-clock time in `tz`, exact for
    moments between `start` and `end` (and the first/last offset outside them)."""
    changes = utc_offsets(tz, start, end)
    if len(changes) == 1:
        seconds = changes[0][1]
        return column if seconds == 0 else f"datetime({column}, '{seconds:+d} seconds')"
    branches = []
    for (_, seconds), (until, _) in pairwise(changes):
        branches.append(f"WHEN {column} < '{until}' THEN '{seconds:+d} seconds'")
    branches.append(f"ELSE '{changes[-1][1]:+d} seconds'")
    return f"datetime({column}, CASE {' '.join(branches)} END)"


def local_period_sql(granularity: str, tz: str, start: date, end: date,
                     column: str = "f.received_at") -> str:
    """SQL giving the first day ('YYYY-MM-DD') of the local day or ISO week `column` is in."""
    local = local_time_sql(column, tz, start, end)
    if check_granularity(granularity) == "day":
        return f"date({local})"
    # Monday on or before the day: back six days, then forward to the next Monday.
    return f"date({local}, '-6 days', 'weekday 1')"


def period_of(moment: datetime, granularity: str, tz: str) -> date:
    """First day of the local day or ISO week holding `moment`."""
    day = moment.astimezone(ZoneInfo(tz)).date()
    if check_granularity(granularity) == "week":
        return day - timedelta(days=day.weekday())
    return day


def period_end(period_start: date, granularity: str) -> date:
    """Last day (inclusive) of the period starting on `period_start`."""
    return period_start + timedelta(days=PERIOD_DAYS[check_granularity(granularity)] - 1)


def period_close(period_start: date, granularity: str, tz: str) -> datetime:
    """The UTC moment the period ends (its next period's local midnight)."""
    following = period_start + timedelta(days=PERIOD_DAYS[check_granularity(granularity)])
    return datetime.combine(following, time(), ZoneInfo(tz)).astimezone(timezone.utc)


def period_opening(period_start: date, tz: str) -> datetime:
    """The UTC moment the period begins (its first local midnight)."""
    return datetime.combine(period_start, time(), ZoneInfo(tz)).astimezone(timezone.utc)


def periods_between(first: date, last: date, granularity: str) -> list[date]:
    """Period starts from the period holding `first` to the one holding `last`."""
    step = timedelta(days=PERIOD_DAYS[check_granularity(granularity)])
    if granularity == "week":
        first = first - timedelta(days=first.weekday())
    out, current = [], first
    while current <= last:
        out.append(current)
        current += step
    return out

"""The business-hours clock for SLA deadlines: when a location is open, and how much open time
lies between two moments.

A location's calendar is its time zone, its opening hours per weekday, its public holidays
(the `holidays` package, by country and subdivision) and any extra closed days; or it runs
around the clock. Pausing while a case waits on the customer is the caller's business: it
adds up the open minutes of the spans when the clock runs.

    london = BusinessCalendar(timezone="Europe/London", country="GB", subdivision="ENG")
    due = add_business_minutes(london, opened_at, 240)        # 4 business hours later
    used = business_minutes_between(london, opened_at, now)
    BusinessCalendar.from_dict({"timezone": "Europe/Berlin", "country": "DE",
                                "subdivision": "BY", "hours": {"mon": [["09:00", "17:00"]]}})

Every datetime in and out is timezone-aware; results are in UTC (`datetime.UTC`). Naive input
raises ValueError, since a wall time without a zone is ambiguous for a clock that has one.

Opening hours are local wall times, turned into real (UTC) intervals day by day. On a
daylight-saving change the real elapsed time counts: a 09:00-17:00 day is 8 hours, but a
00:00-24:00 day is 23 hours in spring and 25 in autumn. A wall time that occurs twice opens at
its first occurrence and closes at its second; one that does not exist (skipped by the clocks)
is the moment the clocks jump. Intervals are half-open: open at 09:00, closed at 17:00, so a
deadline that uses up the last open minute falls at 17:00 on the same day, not at the next
opening.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("09:00", "17:00"),),) * 5 + ((), ())
"""Monday to Friday 09:00-17:00, closed at the weekend."""
SEARCH_DAYS = 3 * 366
"""How many days in a row without open time mean the calendar is never open: a clock must
fail, not hang, on a calendar whose every day is closed."""

_TIME = re.compile(r"^([0-9]{2}):([0-9]{2})$")
_FIELDS = ("timezone", "hours", "country", "subdivision", "closed_days", "around_the_clock")

Interval = tuple[datetime, datetime]


class CalendarError(ValueError):
    """A calendar that cannot be used, or a clock that cannot run; the message names the
    field."""


@dataclass(frozen=True)
class BusinessCalendar:
    """When one location is open.

    timezone      IANA name ("Europe/London"); opening hours and closed days are local
    hours         per weekday, 0=Mon..6=Sun: a tuple of ("HH:MM", "HH:MM") open intervals,
                  sorted, not overlapping, close after open, "24:00" allowed as a close
    country       ISO 3166-1 alpha-2 code for public holidays ("GB"), or None for none
    subdivision   the holidays package's subdivision code ("ENG", "BY", "CA"), or None
    closed_days   extra closed local dates (a refurbishment, a staff day)
    around_the_clock  24x7: business time is wall time; hours, holidays and closed days
                  are then ignored (but still checked)

    Hashable (every field is a tuple or scalar), so a day's open intervals are cached per
    (calendar, date). Construction checks everything; `from_dict` reads the stored form.
    """

    timezone: str = "UTC"
    hours: tuple[tuple[tuple[str, str], ...], ...] = DEFAULT_HOURS
    country: str | None = None
    subdivision: str | None = None
    closed_days: tuple[date, ...] = ()
    around_the_clock: bool = False

    def __post_init__(self) -> None:
        # Normalise to tuples (lists would make the calendar unhashable) and sorted unique
        # closed days (so equal calendars compare and hash equal), then check.
        hours = self.hours
        if not isinstance(hours, (tuple, list)) or len(hours) != 7:
            raise CalendarError("hours: give one entry per weekday, Monday first (7 in all)")
        object.__setattr__(self, "hours", tuple(
            tuple(_pair(WEEKDAYS[i], n, interval) for n, interval in enumerate(day))
            if isinstance(day, (tuple, list)) else _bad_day(WEEKDAYS[i])
            for i, day in enumerate(hours)))
        if not isinstance(self.closed_days, (tuple, list)):
            raise CalendarError("closed_days: give a list of dates")
        for n, day in enumerate(self.closed_days):
            if not isinstance(day, date) or isinstance(day, datetime):
                raise CalendarError(f"closed_days[{n}]: {day!r} is not a date")
        object.__setattr__(self, "closed_days", tuple(sorted(set(self.closed_days))))
        if not isinstance(self.around_the_clock, bool):
            raise CalendarError("around_the_clock: give true or false")
        _check_timezone(self.timezone)
        _check_holidays(self.country, self.subdivision)
        week = [_day_minutes(self.hours, weekday) for weekday in range(7)]  # checks each day
        if not self.around_the_clock and not any(week):
            raise CalendarError("hours: open at no time in the whole week (set around_the_clock "
                                "for a clock that always runs)")

    @classmethod
    def from_dict(cls, d: dict) -> BusinessCalendar:
        """Read the stored form (see `as_dict`). Missing keys take the defaults; a weekday
        missing from "hours" is closed. Raises CalendarError naming the field."""
        if not isinstance(d, dict):
            raise CalendarError(f"calendar: expected a mapping, got {type(d).__name__}")
        unknown = sorted(set(d) - set(_FIELDS), key=str)
        if unknown:
            raise CalendarError(f"{unknown[0]}: unknown field (known: {', '.join(_FIELDS)})")
        values: dict = {}
        if "timezone" in d:
            values["timezone"] = d["timezone"]
        if "hours" in d:
            values["hours"] = _hours_from_dict(d["hours"])
        for name in ("country", "subdivision"):
            if d.get(name) is not None:
                values[name] = d[name]
        if d.get("closed_days") is not None:
            values["closed_days"] = _closed_days_from_list(d["closed_days"])
        if "around_the_clock" in d:
            values["around_the_clock"] = d["around_the_clock"]
        return cls(**values)

    def as_dict(self) -> dict:
        """The stored form: plain JSON types, every field present; `from_dict` reads it back
        to an equal calendar."""
        return {
            "timezone": self.timezone,
            "hours": {WEEKDAYS[i]: [list(pair) for pair in day]
                      for i, day in enumerate(self.hours)},
            "country": self.country,
            "subdivision": self.subdivision,
            "closed_days": [day.isoformat() for day in self.closed_days],
            "around_the_clock": self.around_the_clock,
        }


# ------------------------------------------------------------------ the clock


def open_intervals(calendar: BusinessCalendar, start_utc: datetime,
                   end_utc: datetime) -> list[Interval]:
    """The open periods within [start, end), in UTC, clipped to it, in order; touching
    periods (a 24:00 close and the next 00:00 opening) are joined."""
    start, end = _utc(start_utc, "start_utc"), _utc(end_utc, "end_utc")
    if end <= start:
        return []
    if calendar.around_the_clock:
        return [(start, end)]
    found: list[Interval] = []
    for opens, closes in _intervals_from(calendar, start, end):
        if found and opens <= found[-1][1]:
            found[-1] = (found[-1][0], closes)
        else:
            found.append((opens, closes))
    return found


def business_minutes_between(calendar: BusinessCalendar, start_utc: datetime,
                             end_utc: datetime) -> float:
    """Open minutes in [start, end); 0 if end <= start."""
    start, end = _utc(start_utc, "start_utc"), _utc(end_utc, "end_utc")
    if end <= start:
        return 0.0
    if calendar.around_the_clock:
        return (end - start) / _MINUTE
    total = timedelta(0)
    for opens, closes in _intervals_from(calendar, start, end):
        total += closes - opens
    return total / _MINUTE


def add_business_minutes(calendar: BusinessCalendar, start_utc: datetime,
                         minutes: float) -> datetime:
    """The UTC moment at which `minutes` of open time have passed since start. Started while
    closed, the clock starts at the next opening; 0 minutes returns start unchanged. Exact to
    the microsecond, so business_minutes_between(c, s, add_business_minutes(c, s, m)) == m.
    Raises CalendarError if the calendar has no open time for SEARCH_DAYS days in a row."""
    start = _utc(start_utc, "start_utc")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) \
            or not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes: expected a finite number >= 0, got {minutes!r}")
    # Work in timedelta (whole microseconds) rather than float minutes, so that summing many
    # intervals cannot drift and the inverse above holds exactly.
    remaining = timedelta(minutes=minutes)
    if remaining <= timedelta(0):
        return start
    if calendar.around_the_clock:
        return start + remaining
    for opens, closes in _intervals_from(calendar, start, None):
        if closes - opens >= remaining:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("unreachable: _intervals_from raises when it runs dry")


def is_open(calendar: BusinessCalendar, moment_utc: datetime) -> bool:
    """Whether the location is open at this moment (open at the opening time, closed at the
    closing time)."""
    moment = _utc(moment_utc, "moment_utc")
    if calendar.around_the_clock:
        return True
    return any(True for _ in _intervals_from(calendar, moment, moment + _TICK))


def next_opening(calendar: BusinessCalendar, moment_utc: datetime) -> datetime:
    """The first moment at or after this one when the location is open: the moment itself if
    open now. Raises CalendarError if it is never open (see SEARCH_DAYS)."""
    moment = _utc(moment_utc, "moment_utc")
    if calendar.around_the_clock:
        return moment
    for opens, _ in _intervals_from(calendar, moment, None):
        return opens
    raise AssertionError("unreachable: _intervals_from raises when it runs dry")


# ------------------------------------------------------------------ how it works

_MINUTE = timedelta(minutes=1)
_TICK = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)


def _intervals_from(calendar: BusinessCalendar, start: datetime, end: datetime | None):
    """Yield the open intervals clipped to [start, end) (end None: without end), in order,
    walking local days. Raises CalendarError after SEARCH_DAYS days in a row with no open
    time, so an unbounded walk always ends."""
    tz = _zone(calendar.timezone)
    # A local day's intervals lie within that local day, but when a daylight-saving change
    # crosses midnight a wall time can belong to the neighbouring date: start a day early and
    # end a day late, and never count time twice (`covered`).
    day = start.astimezone(tz).date() - _ONE_DAY
    last = None if end is None else end.astimezone(tz).date() + _ONE_DAY
    covered, idle = start, 0
    while last is None or day <= last:
        intervals = _day_intervals(calendar, day)
        for opens, closes in intervals:
            opens = max(opens, covered)
            if end is not None:
                closes = min(closes, end)
            if closes > opens:
                yield opens, closes
                covered = closes
        if end is None:
            idle = 0 if intervals else idle + 1
            if idle > SEARCH_DAYS:
                raise CalendarError(
                    f"hours: no open time in {SEARCH_DAYS} days after {start.isoformat()} "
                    f"(every day closed by hours, closed_days or holidays?)")
        day += _ONE_DAY


@lru_cache(maxsize=20_000)
def _day_intervals(calendar: BusinessCalendar, day: date) -> tuple[Interval, ...]:
    """One local day's open intervals in UTC, sorted and merged. Cached: a sweep asks for the
    same few weeks of the same few calendars over and over."""
    if day in calendar.closed_days:
        return ()
    if calendar.country and day in _holiday_dates(calendar.country, calendar.subdivision,
                                                  day.year):
        return ()
    tz = _zone(calendar.timezone)
    found: list[Interval] = []
    for open_minute, close_minute in _day_minutes(calendar.hours, day.weekday()):
        opens = _local_to_utc(day, open_minute, tz, latest=False)
        closes = _local_to_utc(day, close_minute, tz, latest=True)
        if closes <= opens:          # the whole interval fell into a skipped hour
            continue
        if found and opens <= found[-1][1]:   # a repeated hour made two intervals meet
            found[-1] = (found[-1][0], max(closes, found[-1][1]))
        else:
            found.append((opens, closes))
    return tuple(found)


def _local_to_utc(day: date, minute: int, tz: ZoneInfo, *, latest: bool) -> datetime:
    """The UTC moment of a local wall time ("24:00" is the next day's 00:00)."""
    wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    first = wall.replace(tzinfo=tz).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return first
    if first < second:
        # Clocks went back: the wall time happens twice. Opening at the first and closing at
        # the second keeps every moment with that wall time inside the interval.
        return second if latest else first
    # Clocks went forward past this wall time (zoneinfo then gives fold=0 the old offset, so
    # `first` is after the jump and `second` before). Use the jump itself: a shop "opening at
    # 01:30" on a night that goes 01:00 -> 02:00 opens at 02:00.
    return _transition(tz, second, first)


def _transition(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The moment the UTC offset changes, between two UTC moments; tz data changes offsets on
    whole seconds, so a bisection on seconds finds it exactly."""
    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
    offset_after = after.astimezone(tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=1024)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """One year's public holidays (observed days included: GB's Monday after a Christmas on
    Saturday). Built once per (country, subdivision, year): the package builds the year's
    rules on first touch, which costs far more than a set lookup."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


# ------------------------------------------------------------------ checking


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name}: expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}: naive datetime {moment.isoformat()}; give a timezone-aware "
                         f"(UTC) datetime")
    return moment.astimezone(UTC)


def _check_timezone(name) -> None:
    if not isinstance(name, str) or not name:
        raise CalendarError(f"timezone: expected an IANA time zone name, got {name!r}")
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ZoneInfo raises KeyError subclass, ValueError or IsADirectoryError ("America").
        raise CalendarError(f"timezone: unknown time zone {name!r} (IANA names are "
                            f"case-sensitive, e.g. 'Europe/London', 'UTC')") from None


def _check_holidays(country, subdivision) -> None:
    if country is None:
        if subdivision is not None:
            raise CalendarError(f"subdivision: {subdivision!r} given without a country")
        return
    if not isinstance(country, str) or not country:
        raise CalendarError(f"country: expected an ISO country code, got {country!r}")
    if subdivision is not None and (not isinstance(subdivision, str) or not subdivision):
        raise CalendarError(f"subdivision: expected a subdivision code, got {subdivision!r}")
    supported = holidays.list_supported_countries()
    if country not in supported:
        hint = f" (did you mean {country.upper()!r}?)" if country.upper() in supported else ""
        raise CalendarError(f"country: no public holidays known for {country!r}{hint}")
    try:
        # The package also accepts subdivision aliases ("California"); let it decide.
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        codes = ", ".join(supported[country]) or "none"
        raise CalendarError(f"subdivision: {country} has no subdivision {subdivision!r} "
                            f"(known: {codes})") from None


def _minute_of_day(text, field: str, *, close: bool) -> int:
    match = _TIME.match(text) if isinstance(text, str) else None
    if not match:
        raise CalendarError(f"{field}: expected a time as \"HH:MM\", got {text!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not close)):
        allowed = "00:00-24:00" if close else "00:00-23:59"
        raise CalendarError(f"{field}: {text!r} is not a time of day ({allowed})")
    return hour * 60 + minute


def _day_minutes(hours: tuple, weekday: int) -> tuple[tuple[int, int], ...]:
    """One weekday's intervals as minutes since local midnight, checked."""
    return _parse_day(hours[weekday], WEEKDAYS[weekday])


@lru_cache(maxsize=1024)
def _parse_day(day: tuple, name: str) -> tuple[tuple[int, int], ...]:
    spans = []
    for n, (opens, closes) in enumerate(day):
        field = f"hours.{name}[{n}]"
        open_minute = _minute_of_day(opens, field, close=False)
        close_minute = _minute_of_day(closes, field, close=True)
        if close_minute <= open_minute:
            raise CalendarError(f"{field}: closes at {closes} but opens at {opens}; close must "
                                f"be after open (overnight: split at 24:00)")
        spans.append((open_minute, close_minute, field))
    spans.sort()
    for (_, previous_close, previous), (open_minute, _, field) in pairwise(spans):
        if open_minute < previous_close:
            raise CalendarError(f"{field}: overlaps {previous}")
    return tuple((o, c) for o, c, _ in spans)


def _pair(weekday: str, n: int, interval) -> tuple[str, str]:
    if not isinstance(interval, (tuple, list)) or len(interval) != 2:
        raise CalendarError(f"hours.{weekday}[{n}]: expected [open, close], got {interval!r}")
    for text in interval:
        if not isinstance(text, str):   # checked here: a list inside would be unhashable
            raise CalendarError(f"hours.{weekday}[{n}]: expected a time as \"HH:MM\", got "
                                f"{text!r}")
    return (interval[0], interval[1])


def _bad_day(weekday: str):
    raise CalendarError(f"hours.{weekday}: expected a list of [open, close] intervals")


def _hours_from_dict(value) -> tuple:
    if not isinstance(value, dict):
        raise CalendarError("hours: expected a mapping of weekday (mon..sun) to intervals")
    unknown = sorted((key for key in value if key not in WEEKDAYS), key=str)
    if unknown:
        raise CalendarError(f"hours.{unknown[0]}: unknown weekday (use {', '.join(WEEKDAYS)})")
    return tuple(value.get(weekday) or () for weekday in WEEKDAYS)


def _closed_days_from_list(value) -> tuple[date, ...]:
    if not isinstance(value, (list, tuple)):
        raise CalendarError("closed_days: expected a list of dates as \"YYYY-MM-DD\"")
    days = []
    for n, text in enumerate(value):
        try:
            days.append(date.fromisoformat(text))
        except (TypeError, ValueError):
            raise CalendarError(f"closed_days[{n}]: expected a date as \"YYYY-MM-DD\", got "
                                f"{text!r}") from None
    return tuple(days)

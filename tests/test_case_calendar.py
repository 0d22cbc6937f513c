"""The business-hours clock: known answers on fixed dates (weekends, public holidays by country
and subdivision, closed days, split shifts, daylight-saving changes), the inverse property
between adding and measuring, the stored form and its errors."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from analysis.cases.calendar import (
    DEFAULT_HOURS,
    BusinessCalendar,
    CalendarError,
    add_business_minutes,
    business_minutes_between,
    is_open,
    next_opening,
    open_intervals,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")

ALL_DAY = ((("00:00", "24:00"),),) * 7
NINE_TO_FIVE_DAILY = ((("09:00", "17:00"),),) * 7
SPLIT = ((("09:00", "12:00"), ("13:00", "17:00")),) * 5 + ((), ())


def local(tz: ZoneInfo, *args) -> datetime:
    """A local wall time as the UTC moment the functions take."""
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def england(**kwargs) -> BusinessCalendar:
    return BusinessCalendar(timezone="Europe/London", country="GB", subdivision="ENG", **kwargs)


# ------------------------------------------------------------------ weekends and hours


def test_an_hour_added_friday_1630_lands_monday_0930():
    calendar = BusinessCalendar(timezone="America/New_York")
    due = add_business_minutes(calendar, local(NEW_YORK, 2025, 6, 13, 16, 30), 60)
    assert due == local(NEW_YORK, 2025, 6, 16, 9, 30)
    assert due.tzinfo is UTC


def test_using_the_last_open_minute_ends_at_closing_not_at_the_next_opening():
    calendar = BusinessCalendar(timezone="Europe/London")
    assert add_business_minutes(calendar, local(LONDON, 2025, 6, 13, 16, 0), 60) \
        == local(LONDON, 2025, 6, 13, 17, 0)


def test_a_start_in_closed_hours_starts_the_clock_at_the_next_opening():
    calendar = BusinessCalendar(timezone="Europe/London")
    saturday = local(LONDON, 2025, 6, 14, 10, 0)
    assert add_business_minutes(calendar, saturday, 30) == local(LONDON, 2025, 6, 16, 9, 30)
    before_opening = local(LONDON, 2025, 6, 16, 7, 0)
    assert add_business_minutes(calendar, before_opening, 30) == local(LONDON, 2025, 6, 16, 9, 30)
    after_closing = local(LONDON, 2025, 6, 16, 19, 0)
    assert add_business_minutes(calendar, after_closing, 30) == local(LONDON, 2025, 6, 17, 9, 30)


def test_zero_minutes_returns_the_start_even_when_closed():
    calendar = BusinessCalendar(timezone="Europe/London")
    saturday = local(LONDON, 2025, 6, 14, 10, 0)
    assert add_business_minutes(calendar, saturday, 0) == saturday


def test_split_shift_skips_the_lunch_break():
    calendar = BusinessCalendar(timezone="Europe/Berlin", hours=SPLIT)
    assert add_business_minutes(calendar, local(BERLIN, 2025, 6, 16, 11, 30), 60) \
        == local(BERLIN, 2025, 6, 16, 13, 30)
    at_lunch = local(BERLIN, 2025, 6, 16, 12, 15)
    assert not is_open(calendar, at_lunch)
    assert next_opening(calendar, at_lunch) == local(BERLIN, 2025, 6, 16, 13, 0)
    assert add_business_minutes(calendar, at_lunch, 30) == local(BERLIN, 2025, 6, 16, 13, 30)
    monday = (local(BERLIN, 2025, 6, 16, 0, 0), local(BERLIN, 2025, 6, 17, 0, 0))
    assert business_minutes_between(calendar, *monday) == 7 * 60
    assert open_intervals(calendar, *monday) == [
        (local(BERLIN, 2025, 6, 16, 9, 0), local(BERLIN, 2025, 6, 16, 12, 0)),
        (local(BERLIN, 2025, 6, 16, 13, 0), local(BERLIN, 2025, 6, 16, 17, 0))]


def test_a_default_week_holds_forty_business_hours():
    calendar = BusinessCalendar(timezone="Europe/London")
    assert calendar.hours == DEFAULT_HOURS
    week = (local(LONDON, 2025, 6, 16, 0, 0), local(LONDON, 2025, 6, 23, 0, 0))
    assert business_minutes_between(calendar, *week) == 40 * 60
    assert len(open_intervals(calendar, *week)) == 5


def test_open_intervals_are_clipped_to_the_range_and_touching_days_are_joined():
    calendar = BusinessCalendar(timezone="Europe/London", hours=ALL_DAY)
    start, end = local(LONDON, 2025, 6, 16, 10, 0), local(LONDON, 2025, 6, 19, 15, 0)
    assert open_intervals(calendar, start, end) == [(start, end)]
    assert open_intervals(calendar, end, start) == []


def test_is_open_includes_the_opening_and_excludes_the_closing_moment():
    calendar = BusinessCalendar(timezone="Europe/London")
    assert is_open(calendar, local(LONDON, 2025, 6, 16, 9, 0))
    assert is_open(calendar, local(LONDON, 2025, 6, 16, 16, 59))
    assert not is_open(calendar, local(LONDON, 2025, 6, 16, 17, 0))
    assert not is_open(calendar, local(LONDON, 2025, 6, 14, 12, 0))


def test_next_opening_is_the_moment_itself_when_open():
    calendar = BusinessCalendar(timezone="Europe/London")
    moment = local(LONDON, 2025, 6, 16, 12, 0)
    assert next_opening(calendar, moment) == moment
    assert next_opening(calendar, local(LONDON, 2025, 6, 13, 18, 0)) \
        == local(LONDON, 2025, 6, 16, 9, 0)


def test_business_minutes_between_is_zero_for_an_empty_or_reversed_range():
    calendar = BusinessCalendar(timezone="Europe/London")
    moment = local(LONDON, 2025, 6, 16, 12, 0)
    assert business_minutes_between(calendar, moment, moment) == 0
    assert business_minutes_between(calendar, moment, moment - timedelta(hours=3)) == 0


def test_aware_non_utc_input_counts_as_its_instant_and_output_is_utc():
    calendar = BusinessCalendar(timezone="Europe/London")
    start = datetime(2025, 6, 16, 12, 0, tzinfo=timezone(timedelta(hours=2)))  # 11:00 BST
    due = add_business_minutes(calendar, start, 60)
    assert due == local(LONDON, 2025, 6, 16, 12, 0) and due.tzinfo is UTC


# ------------------------------------------------------------------ holidays and closed days


def test_english_easter_holidays_are_skipped():
    start = local(LONDON, 2025, 4, 17, 16, 30)        # Thursday before Good Friday
    assert add_business_minutes(england(), start, 60) == local(LONDON, 2025, 4, 22, 9, 30)
    plain = BusinessCalendar(timezone="Europe/London")
    assert add_business_minutes(plain, start, 60) == local(LONDON, 2025, 4, 18, 9, 30)
    easter_monday = (local(LONDON, 2025, 4, 21, 0, 0), local(LONDON, 2025, 4, 22, 0, 0))
    assert business_minutes_between(england(), *easter_monday) == 0
    assert not is_open(england(), local(LONDON, 2025, 4, 21, 12, 0))


def test_independence_day_is_skipped_in_the_us():
    calendar = BusinessCalendar(timezone="America/New_York", country="US")
    start = local(NEW_YORK, 2025, 7, 3, 16, 30)       # Thursday; the 4th is a Friday
    assert add_business_minutes(calendar, start, 60) == local(NEW_YORK, 2025, 7, 7, 9, 30)


def test_holidays_of_the_next_year_are_found_across_new_year():
    start = local(LONDON, 2025, 12, 31, 16, 30)
    assert add_business_minutes(england(), start, 60) == local(LONDON, 2026, 1, 2, 9, 30)


def test_observed_holidays_count_like_the_holiday_itself():
    # Christmas 2022 was a Sunday: England's substitute day was Tuesday 27 December.
    start = local(LONDON, 2022, 12, 23, 16, 30)
    assert add_business_minutes(england(), start, 60) == local(LONDON, 2022, 12, 28, 9, 30)


def test_a_subdivision_holiday_counts_only_in_that_subdivision():
    # Epiphany, Monday 6 January 2025, is a public holiday in Bavaria, not in Berlin.
    start = local(BERLIN, 2025, 1, 3, 16, 30)         # Friday
    bavaria = BusinessCalendar(timezone="Europe/Berlin", country="DE", subdivision="BY")
    berlin = BusinessCalendar(timezone="Europe/Berlin", country="DE", subdivision="BE")
    germany = BusinessCalendar(timezone="Europe/Berlin", country="DE")
    assert add_business_minutes(bavaria, start, 60) == local(BERLIN, 2025, 1, 7, 9, 30)
    assert add_business_minutes(berlin, start, 60) == local(BERLIN, 2025, 1, 6, 9, 30)
    assert add_business_minutes(germany, start, 60) == local(BERLIN, 2025, 1, 6, 9, 30)


def test_extra_closed_days_are_skipped():
    calendar = BusinessCalendar(timezone="Europe/London", closed_days=(date(2025, 12, 24),))
    start = local(LONDON, 2025, 12, 23, 16, 30)
    assert add_business_minutes(calendar, start, 60) == local(LONDON, 2025, 12, 25, 9, 30)
    with_holidays = england(closed_days=(date(2025, 12, 24),))
    assert add_business_minutes(with_holidays, start, 60) == local(LONDON, 2025, 12, 29, 9, 30)


# ------------------------------------------------------------------ around the clock


def test_around_the_clock_is_wall_time():
    calendar = england(around_the_clock=True)        # holidays are then ignored
    rng = random.Random(7)
    for _ in range(200):
        start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(3 * 10**7))
        minutes = rng.uniform(0, 20_000)
        due = add_business_minutes(calendar, start, minutes)
        assert due == start + timedelta(minutes=minutes)
        assert business_minutes_between(calendar, start, due) == pytest.approx(minutes, abs=1e-6)
        assert is_open(calendar, start) and next_opening(calendar, start) == start
    easter = (local(LONDON, 2025, 4, 18, 0, 0), local(LONDON, 2025, 4, 22, 0, 0))
    assert business_minutes_between(calendar, *easter) == 4 * 24 * 60
    assert open_intervals(calendar, *easter) == [easter]


# ------------------------------------------------------------------ daylight saving


@pytest.mark.parametrize("zone, day, hours", [
    ("Europe/London", date(2025, 3, 30), 23),        # spring forward, 01:00 -> 02:00
    ("Europe/London", date(2025, 10, 26), 25),       # fall back, 02:00 -> 01:00
    ("Europe/London", date(2025, 6, 15), 24),
    ("America/New_York", date(2025, 3, 9), 23),
    ("America/New_York", date(2025, 11, 2), 25),
])
def test_a_whole_open_day_is_its_real_length_across_dst(zone, day, hours):
    tz = ZoneInfo(zone)
    midnight = local(tz, day.year, day.month, day.day)
    next_midnight = local(tz, *(day + timedelta(days=1)).timetuple()[:3])
    all_day = BusinessCalendar(timezone=zone, hours=ALL_DAY)
    assert business_minutes_between(all_day, midnight, next_midnight) == hours * 60
    assert open_intervals(all_day, midnight, next_midnight) == [(midnight, next_midnight)]
    # ... and the clock keeps real time: a day's worth of minutes ends at the next midnight.
    assert add_business_minutes(all_day, midnight, hours * 60) == next_midnight
    nine_to_five = BusinessCalendar(timezone=zone, hours=NINE_TO_FIVE_DAILY)
    assert business_minutes_between(nine_to_five, midnight, next_midnight) == 480


@pytest.mark.parametrize("zone, day", [
    ("Europe/London", date(2025, 3, 30)), ("Europe/London", date(2025, 10, 26)),
    ("America/New_York", date(2025, 3, 9)), ("America/New_York", date(2025, 11, 2))])
def test_nine_to_five_opens_and_closes_at_local_wall_time_on_dst_days(zone, day):
    tz = ZoneInfo(zone)
    calendar = BusinessCalendar(timezone=zone, hours=NINE_TO_FIVE_DAILY)
    before = local(tz, *(day - timedelta(days=1)).timetuple()[:3], 16, 0)
    # An hour left on the eve of the change, and two more: the next day's 11:00 local.
    assert add_business_minutes(calendar, before, 180) == local(tz, day.year, day.month,
                                                                day.day, 11, 0)


def test_business_days_around_the_clock_count_the_real_hours_of_dst_weekends():
    # Open 24 hours Monday to Friday: the weekend's clock change does not touch business time,
    # and a week is 120 hours either side of it.
    calendar = BusinessCalendar(timezone="Europe/London", hours=((("00:00", "24:00"),),) * 5
                                + ((), ()), country="GB", subdivision="ENG")
    week = (local(LONDON, 2025, 3, 24), local(LONDON, 2025, 3, 31), local(LONDON, 2025, 4, 7))
    assert business_minutes_between(calendar, week[0], week[1]) == 120 * 60
    assert business_minutes_between(calendar, week[1], week[2]) == 120 * 60
    friday_evening = local(LONDON, 2025, 3, 28, 23, 0)
    assert add_business_minutes(calendar, friday_evening, 120) == local(LONDON, 2025, 3, 31, 1, 0)


def test_hours_inside_the_skipped_hour_open_when_the_clocks_jump():
    # London, 30 March 2025: 01:00 GMT becomes 02:00 BST. "01:30-02:30" opens at the jump.
    calendar = BusinessCalendar(timezone="Europe/London", hours=((("01:30", "02:30"),),) * 7)
    day = (local(LONDON, 2025, 3, 30), local(LONDON, 2025, 3, 31))
    assert open_intervals(calendar, *day) == [
        (datetime(2025, 3, 30, 1, 0, tzinfo=UTC), datetime(2025, 3, 30, 1, 30, tzinfo=UTC))]
    # An interval wholly inside the skipped hour is no open time at all.
    skipped = BusinessCalendar(timezone="Europe/London", hours=((("01:10", "01:50"),),) * 7)
    assert business_minutes_between(skipped, *day) == 0


def test_hours_around_the_repeated_hour_include_both_passes():
    # London, 26 October 2025: 02:00 BST becomes 01:00 GMT, so 01:00-02:00 happens twice.
    calendar = BusinessCalendar(timezone="Europe/London", hours=((("00:30", "01:30"),),) * 7)
    day = (local(LONDON, 2025, 10, 26), local(LONDON, 2025, 10, 27))
    assert open_intervals(calendar, *day) == [
        (datetime(2025, 10, 25, 23, 30, tzinfo=UTC), datetime(2025, 10, 26, 1, 30, tzinfo=UTC))]


# ------------------------------------------------------------------ properties

CALENDARS = [
    england(),
    BusinessCalendar(timezone="America/New_York", country="US", subdivision="NY", hours=SPLIT),
    BusinessCalendar(timezone="Europe/Berlin", country="DE", subdivision="BY", hours=ALL_DAY[:5]
                     + ((), ()), closed_days=(date(2025, 12, 24), date(2025, 12, 31))),
    BusinessCalendar(timezone="Australia/Sydney", country="AU", subdivision="NSW",
                     hours=((("08:30", "18:00"),),) * 6 + ((("10:00", "16:00"),),)),
    BusinessCalendar(timezone="Asia/Kolkata", hours=NINE_TO_FIVE_DAILY),
    BusinessCalendar(timezone="America/Los_Angeles", hours=((("00:00", "02:30"),
                                                             ("22:00", "24:00")),) * 7),
    BusinessCalendar(around_the_clock=True),
]


@pytest.mark.parametrize("calendar", CALENDARS, ids=lambda c: c.timezone)
def test_business_minutes_between_inverts_add_business_minutes(calendar):
    rng = random.Random(20250101)
    base = datetime(2024, 9, 1, tzinfo=UTC)           # spans both DST changes of 2025
    for _ in range(400):
        start = base + timedelta(seconds=rng.randrange(500 * 86400),
                                 microseconds=rng.randrange(10**6))
        minutes = rng.choice([rng.uniform(0, 600), rng.uniform(0, 20_000), rng.randrange(5000)])
        due = add_business_minutes(calendar, start, minutes)
        assert due >= start
        assert business_minutes_between(calendar, start, due) == pytest.approx(minutes, abs=1e-6)
        if minutes > 0:
            # The deadline is never in closed time: the moment before it was open.
            assert is_open(calendar, due - timedelta(microseconds=1))
        # The other way round: adding what lies between start and end reaches end, or the
        # last closing before it when end is in closed time.
        end = start + timedelta(minutes=rng.uniform(0, 30_000))
        reached = add_business_minutes(calendar, start,
                                       business_minutes_between(calendar, start, end))
        assert reached <= end + timedelta(microseconds=1)
        assert business_minutes_between(calendar, reached, end) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("calendar", CALENDARS[:4] + CALENDARS[5:6], ids=lambda c: c.timezone)
def test_open_minutes_match_a_minute_by_minute_count_of_local_wall_times(calendar):
    # An independent definition: a minute is open when its local wall time falls in that
    # weekday's hours on a day that is not a holiday or closed. Ranges around DST changes.
    tz = ZoneInfo(calendar.timezone)
    import holidays as holidays_package
    off = set(calendar.closed_days)
    if calendar.country:
        off |= set(holidays_package.country_holidays(calendar.country,
                                                     subdiv=calendar.subdivision,
                                                     years=(2025, 2026)))
    hours = [[(int(o[:2]) * 60 + int(o[3:]), int(c[:2]) * 60 + int(c[3:])) for o, c in day]
             for day in calendar.hours]
    for start in (datetime(2025, 3, 5, tzinfo=UTC), datetime(2025, 3, 26, tzinfo=UTC),
                  datetime(2025, 4, 2, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC),
                  datetime(2025, 10, 22, tzinfo=UTC), datetime(2025, 10, 29, tzinfo=UTC),
                  datetime(2025, 12, 20, tzinfo=UTC)):
        end = start + timedelta(days=9)
        count, moment = 0, start
        while moment < end:
            wall = moment.astimezone(tz)
            minute = wall.hour * 60 + wall.minute
            if wall.date() not in off and any(o <= minute < c for o, c in
                                              hours[wall.weekday()]):
                count += 1
            moment += timedelta(minutes=1)
        assert business_minutes_between(calendar, start, end) == count


def test_a_sweep_sized_batch_is_cheap():
    # ~10,000 cases per sweep: warm calls spanning about a week should take microseconds.
    calendar = england()
    rng = random.Random(3)
    starts = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(525_600))
              for _ in range(2000)]
    for start in starts:                               # warm the day cache
        add_business_minutes(calendar, start, 2400)
    began = time.perf_counter()
    for start in starts:
        business_minutes_between(calendar, start, add_business_minutes(calendar, start, 2400))
    per_call = (time.perf_counter() - began) / (2 * len(starts))
    assert per_call < 1e-3                             # typically ~10-20 microseconds


# ------------------------------------------------------------------ stored form


def test_from_dict_and_as_dict_round_trip():
    calendar = BusinessCalendar(timezone="Europe/Berlin", hours=SPLIT, country="DE",
                                subdivision="BY",
                                closed_days=(date(2025, 12, 31), date(2025, 12, 24)))
    stored = calendar.as_dict()
    assert stored["hours"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert stored["hours"]["sat"] == []
    assert stored["closed_days"] == ["2025-12-24", "2025-12-31"]
    assert BusinessCalendar.from_dict(stored) == calendar
    assert hash(BusinessCalendar.from_dict(stored)) == hash(calendar)
    assert BusinessCalendar.from_dict(BusinessCalendar().as_dict()) == BusinessCalendar()


def test_from_dict_fills_defaults_and_missing_weekdays_are_closed():
    assert BusinessCalendar.from_dict({}) == BusinessCalendar()
    calendar = BusinessCalendar.from_dict({"timezone": "Europe/London",
                                           "hours": {"sat": [["10:00", "14:00"]]}})
    assert calendar.hours == ((),) * 5 + ((("10:00", "14:00"),), ())
    assert BusinessCalendar.from_dict({"around_the_clock": True, "hours": {}}).around_the_clock


def test_calendars_are_hashable_and_lists_are_made_tuples():
    calendar = BusinessCalendar(hours=[[["09:00", "17:00"]]] * 5 + [[], []],
                                closed_days=[date(2025, 1, 2)])
    assert calendar == BusinessCalendar(closed_days=(date(2025, 1, 2),))
    assert {calendar: 1}[BusinessCalendar(closed_days=(date(2025, 1, 2),))] == 1


@pytest.mark.parametrize("stored, field", [
    ("not a mapping", "calendar"),
    ({"zone": "UTC"}, "zone"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "europe/london"}, "timezone"),
    ({"timezone": "America"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": None}, "timezone"),
    ({"country": "XX"}, "country"),
    ({"country": "gb"}, "country"),
    ({"country": 44}, "country"),
    ({"country": "DE", "subdivision": "XX"}, "subdivision"),
    ({"subdivision": "BY"}, "subdivision"),
    ({"hours": [["09:00", "17:00"]]}, "hours"),
    ({"hours": {"monday": [["09:00", "17:00"]]}}, "hours.monday"),
    ({"hours": {"mon": "09:00-17:00"}}, "hours.mon"),
    ({"hours": {"mon": [["09:00"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [[9, 17]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["25:00", "26:00"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["09:00", "17:60"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["9:00", "17:00"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["24:00", "24:00"]]}}, "hours.mon[0]"),
    ({"hours": {"tue": [["17:00", "09:00"]]}}, "hours.tue[0]"),
    ({"hours": {"tue": [["09:00", "09:00"]]}}, "hours.tue[0]"),
    ({"hours": {"wed": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "hours.wed[1]"),
    ({"hours": {}}, "hours"),
    ({"hours": {"mon": []}, "around_the_clock": False}, "hours"),
    ({"closed_days": "2025-12-24"}, "closed_days"),
    ({"closed_days": ["2025-12-24", "24/12/2025"]}, "closed_days[1]"),
    ({"closed_days": [20251224]}, "closed_days[0]"),
    ({"around_the_clock": "yes"}, "around_the_clock"),
])
def test_every_from_dict_error_names_the_field(stored, field):
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar.from_dict(stored)
    assert str(caught.value).startswith(f"{field}:"), str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_errors_say_what_is_wrong():
    def message(stored):
        with pytest.raises(CalendarError) as caught:
            BusinessCalendar.from_dict(stored)
        return str(caught.value)

    assert "did you mean 'GB'" in message({"country": "gb"})
    assert "ENG" in message({"country": "GB", "subdivision": "Narnia"})   # lists the codes
    assert "overlaps hours.wed[0]" in message(
        {"hours": {"wed": [["09:00", "13:00"], ["12:00", "17:00"]]}})
    assert "close must be after open" in message({"hours": {"tue": [["17:00", "09:00"]]}})
    assert "unknown time zone" in message({"timezone": "Mars/Olympus"})


def test_adjacent_intervals_and_24_00_are_allowed():
    calendar = BusinessCalendar.from_dict(
        {"hours": {"mon": [["13:00", "24:00"], ["00:00", "13:00"]]}})
    monday = (datetime(2025, 6, 16, tzinfo=UTC), datetime(2025, 6, 17, tzinfo=UTC))
    assert open_intervals(calendar, *monday) == [monday]


def test_direct_construction_is_checked_too():
    with pytest.raises(CalendarError, match="^timezone:"):
        BusinessCalendar(timezone="Nowhere/Town")
    with pytest.raises(CalendarError, match="^hours:"):
        BusinessCalendar(hours=((("09:00", "17:00"),),) * 5)
    with pytest.raises(CalendarError, match=r"^closed_days\[0\]:"):
        BusinessCalendar(closed_days=("2025-12-24",))


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("call", [
    lambda c, naive: add_business_minutes(c, naive, 60),
    lambda c, naive: business_minutes_between(c, naive, datetime(2025, 7, 1, tzinfo=UTC)),
    lambda c, naive: business_minutes_between(c, datetime(2025, 5, 1, tzinfo=UTC), naive),
    lambda c, naive: open_intervals(c, naive, datetime(2025, 7, 1, tzinfo=UTC)),
    lambda c, naive: is_open(c, naive),
    lambda c, naive: next_opening(c, naive),
])
def test_naive_datetimes_are_refused(call):
    with pytest.raises(ValueError, match="naive"):
        call(BusinessCalendar(), datetime(2025, 6, 16, 12, 0))


@pytest.mark.parametrize("minutes", [-1, float("nan"), float("inf"), "60", None])
def test_minutes_must_be_a_finite_non_negative_number(minutes):
    with pytest.raises(ValueError, match="minutes"):
        add_business_minutes(BusinessCalendar(), datetime(2025, 6, 16, tzinfo=UTC), minutes)


def test_a_never_open_calendar_raises_instead_of_hanging():
    # Open only on Mondays, and every Monday for the next five years is closed.
    mondays = tuple(date(2025, 6, 16) + timedelta(weeks=n) for n in range(5 * 53))
    calendar = BusinessCalendar(hours=((("09:00", "17:00"),),) + ((),) * 6, closed_days=mondays)
    start = datetime(2025, 6, 16, tzinfo=UTC)
    began = time.perf_counter()
    with pytest.raises(CalendarError, match="no open time"):
        add_business_minutes(calendar, start, 60)
    with pytest.raises(CalendarError, match="no open time"):
        next_opening(calendar, start)
    assert time.perf_counter() - began < 5
    # A bounded question still has an answer: nothing is open.
    assert business_minutes_between(calendar, start, start + timedelta(days=1800)) == 0
    assert not is_open(calendar, start + timedelta(hours=10))

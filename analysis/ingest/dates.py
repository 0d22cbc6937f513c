"""Timestamps in the many formats that survey and review exports use -> UTC ISO strings."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dateutil import parser as dateutil_parser
from pandas.tseries.api import guess_datetime_format

from analysis import store
from analysis.domain.dates import plausible_window
from analysis.messages import excerpt
from analysis.settings import get_settings

# Patterns for whole columns are strings, not compiled: pandas hands a string to Arrow's
# regex engine (RE2, in C), a compiled pattern to Python's `re` one value at a time, which
# cost more than all the date parsing. Digits are spelled [0-9] because the engines
# disagree on \d: Python's also takes other scripts' digits (pandas' number parser does
# not, so an Arabic-Indic epoch crashed the import); such values take the slower paths.
_EPOCH_S = r"^[0-9]{9,10}(\.[0-9]+)?$"
_EPOCH_MS = r"^[0-9]{12,13}$"
_ISO_PREFIX = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
               r"[ \t]*(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$")
_ISO_AWARE_END = (r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?[ \t]*"
                  r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$")
_ISO_SHAPE = re.compile(r"^9999-99-99")
_AWARE_ISO_SHAPE = re.compile(r"99:99(:99(\.9+)?)?\s*(a|[+-]99(:?99)?)$")

_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %I:%M%p")
_MONTH_FIRST = tuple(f"%m{s}%d{s}{y}{t}" for s in "/-" for y in ("%Y", "%y") for t in _TIMES)
_DAY_FIRST = tuple(f"%d{s}%m{s}{y}{t}" for s in "/.-" for y in ("%Y", "%y") for t in _TIMES)
_OTHER_FORMATS = (
    "%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y.%m.%d", "%Y%m%d",
    "%b %d, %Y", "%B %d, %Y", "%b %d, %Y %H:%M", "%b %d, %Y %I:%M %p", "%B %d, %Y %I:%M %p",
    "%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y", "%d %b %Y %H:%M", "%d-%b-%Y", "%d-%b-%y",
    "%a, %d %b %Y %H:%M:%S %z", "%a %b %d %H:%M:%S %Y", "%A, %B %d, %Y",
)
_DATEUTIL_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def _day_first(values: pd.Series) -> bool:
    candidates = values[values.str.contains(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b",
                                            regex=True)]
    if candidates.empty:
        return False
    parts = pc.extract_regex(pa.array(candidates.tolist(), type=pa.string()),
                             r"^\s*(?P<first>\d{1,2})(?P<sep>[/.-])(?P<second>\d{1,2})")
    first = pc.cast(pc.struct_field(parts, "first"), pa.int32())
    second = pc.cast(pc.struct_field(parts, "second"), pa.int32())
    if pc.any(pc.greater(second, 12)).as_py():
        return False
    if pc.any(pc.greater(first, 12)).as_py():
        return True
    # Ambiguous throughout: dotted dates are a day-first convention, slashes month-first.
    dotted = pc.sum(pc.equal(pc.struct_field(parts, "sep"), ".")).as_py() or 0
    return dotted * 2 > len(candidates)


def _to_utc_seconds(parsed: pd.Series, tz: str) -> np.ndarray:
    """datetime Series (naive: local time in tz; aware: any zone) -> UTC datetime64[s]."""
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(tz, ambiguous=np.zeros(len(parsed), dtype=bool),
                                       nonexistent="shift_forward")
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")


def _parse_with(values: pd.Series, fmt: str) -> pd.Series:
    aware = "%z" in fmt or fmt == "ISO8601-aware"
    fmt = "ISO8601" if fmt.startswith("ISO8601") else fmt
    return pd.to_datetime(values, format=fmt, errors="coerce", utc=aware)


def _candidate_formats(shape: str, sample: list[str], day_first: bool) -> list[str]:
    if _ISO_SHAPE.match(shape):
        return ["ISO8601-aware" if _AWARE_ISO_SHAPE.search(shape) else "ISO8601"]
    guessed = [guess_datetime_format(v, dayfirst=day_first) for v in sample[:3]]
    slashed = (_DAY_FIRST + _MONTH_FIRST) if day_first else (_MONTH_FIRST + _DAY_FIRST)
    out = []
    for fmt in [g for g in guessed if g] + list(slashed) + list(_OTHER_FORMATS):
        if fmt not in out and _reads_whole_date(fmt):
            out.append(fmt)
    return out


def _reads_whole_date(fmt: str) -> bool:
    """A format that reads "%Y" or "%Y-%m" would date "2024" to its first of January."""
    return (("%d" in fmt or "%j" in fmt) and any(m in fmt for m in ("%m", "%b", "%B"))
            and ("%Y" in fmt or "%y" in fmt))


def _fallback_parse(value: str, tz: ZoneInfo, day_first: bool) -> datetime | None:
    """One value that no vectorised format read. Reject values that lack a day, month or
    year (dateutil would fill them from a default date) rather than guess them."""
    try:
        first, second = (dateutil_parser.parse(value, dayfirst=day_first, default=d)
                         for d in _DATEUTIL_DEFAULTS)
    except (ValueError, OverflowError, TypeError):
        return None
    if first.date() != second.date():
        return None
    if first.tzinfo is None:
        return first.replace(tzinfo=tz)
    offset = first.utcoffset()
    if offset is None or abs(offset) > MAX_UTC_OFFSET:
        return None
    return first


MAX_UTC_OFFSET = timedelta(hours=14)
"""The widest offset any time zone uses (Kiribati, UTC+14; the other end is UTC-12)."""

# Arrow regex patterns (see the note at the top). A trailing UTC offset after a time of day,
# as ISO 8601, RFC 2822 and most exports write it, and the offsets that can be real.
_HAS_OFFSET = (r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?[ \t]*(?:[Gg][Mm][Tt]|[Uu][Tt][Cc])?"
               r"[ \t]*[+-][0-9]{2}(?::?[0-9]{2})?[ \t]*$")
_REAL_OFFSET = r"[+-](?:(?:0[0-9]|1[0-3])(?::?[0-5][0-9])?|14(?::?00)?)[ \t]*$"
# A year alone, or a year and month without a day ("2024", "2024-03", "03/2024", "Mar 2024").
_PARTIAL = (r"^(?:[0-9]{4}(?:[-/.][0-9]{1,2})?|[0-9]{1,2}[-/.][0-9]{4}|"
            r"[A-Za-z]{3,9}\.?,?[ \t]+[0-9]{4})$")
_OFFSET_PARTS = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})?\s*$")


def parse_dates(values, *, tz: str | None = None) -> list[str | None]:
    """Timestamps in mixed formats -> UTC 'YYYY-MM-DDTHH:MM:SSZ' strings (None: unreadable).

    Vectorised: each distinct value is parsed once; values are grouped by shape (digits and
    letters blurred) and each group is read with one format; only values that no format
    reads go through dateutil one by one. A value without a day (a year or a month alone)
    or with a UTC offset beyond +-14 hours is unreadable: guessing its day, or its moment,
    would store a date nobody gave.
    """
    codes, _, parsed, _ = _parse_unique(values, tz=tz)
    return _expand(_to_iso(parsed), codes).tolist()


def check_dates(values, *, now: datetime, earliest: date | None = None,
                tz: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`parse_dates` for the importer: (UTC ISO string or None, reason or None) per value.

    Besides being readable, a date must lie in the plausible window: not before `earliest`
    (default: the setting CLOSELOOP_EARLIEST_DATE) and at most a day after `now`. An empty
    value gets no reason here; the importer words that one itself.
    """
    earliest_iso, latest_iso = plausible_window(now, earliest)
    codes, raw, parsed, reasons = _parse_unique(values, tz=tz)
    low = np.datetime64(earliest_iso[:-1], "s")
    high = np.datetime64(latest_iso[:-1], "s")
    known = ~np.isnat(parsed)
    too_early = known & (parsed < low)
    too_late = known & (parsed > high)
    iso = _to_iso(parsed)
    for position in np.flatnonzero(too_early | too_late):
        value = excerpt(raw.iloc[position])
        reasons[position] = (
            f"the date {value} is before {earliest_iso[:10]}, the earliest plausible "
            "date (setting CLOSELOOP_EARLIEST_DATE)" if too_early[position] else
            f"the date {value} is in the future (later than {latest_iso.replace('T', ' ')[:16]}"
            " UTC, a day from now)")
        iso[position] = None
    return _expand(iso, codes), _expand(reasons, codes)


def _expand(per_unique: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return per_unique[codes] if len(codes) else np.empty(0, dtype=object)


def _to_iso(parsed: np.ndarray) -> np.ndarray:
    # Years past 9999 format with five digits: still an object array of str, never a crash.
    text = np.datetime_as_string(parsed, unit="s").astype(str)
    return np.where(np.isnat(parsed), None, np.char.add(text, "Z")).astype(object)


def _unreadable_reasons(u: pd.Series) -> np.ndarray:
    """Why a value will not be parsed at all: no day in it, or an impossible UTC offset.

    Both are found column-wise; Python words the reason only for the values found."""
    reasons = np.full(len(u), None, dtype=object)
    partial = u.str.match(_PARTIAL).to_numpy(dtype=bool)
    for position in np.flatnonzero(partial):
        reasons[position] = (f"the date {excerpt(u.iloc[position])} has no day (a year or a "
                             "month alone); give the full date")
    offset = u.str.contains(_HAS_OFFSET).to_numpy(dtype=bool) & ~partial
    impossible = offset & ~u.str.contains(_REAL_OFFSET).to_numpy(dtype=bool)
    for position in np.flatnonzero(impossible):
        value = u.iloc[position]
        sign, hours, minutes = _OFFSET_PARTS.search(value).groups()
        reasons[position] = (f"the date {excerpt(value)} has the UTC offset "
                             f"{sign}{hours}:{minutes or '00'}, outside -14:00 to +14:00")
    return reasons


def _parse_unique(values, *, tz: str | None = None
                  ) -> tuple[np.ndarray, pd.Series, np.ndarray, np.ndarray]:
    """(codes, distinct, parsed, reasons): each row's index into the distinct values (as
    stripped strings); per distinct value its UTC datetime64[s] (NaT: unreadable) and, when
    unreadable for a reason more telling than "cannot read", that reason."""
    tz = tz or get_settings().timezone
    zone = ZoneInfo(tz)
    strings = pd.Series(values, dtype="str").fillna("").str.strip()
    codes, uniques = pd.factorize(strings)
    u = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    parsed = np.full(len(u), np.datetime64("NaT"), dtype="datetime64[s]")
    reasons = _unreadable_reasons(u)
    todo = u.ne("").to_numpy(dtype=bool, copy=True) & np.equal(reasons, None)

    epoch_s = u.str.match(_EPOCH_S).to_numpy(dtype=bool)
    if epoch_s.any():
        seconds = pd.to_numeric(u[epoch_s])
        parsed[epoch_s] = pd.to_datetime(seconds, unit="s", utc=True).dt.tz_localize(
            None).to_numpy().astype("datetime64[s]")
        todo &= ~epoch_s
    epoch_ms = u.str.match(_EPOCH_MS).to_numpy(dtype=bool)
    if epoch_ms.any():
        parsed[epoch_ms] = pd.to_datetime(pd.to_numeric(u[epoch_ms]), unit="ms", utc=True
                                          ).dt.tz_localize(None).to_numpy().astype(
            "datetime64[s]")
        todo &= ~epoch_ms

    def take(group: pd.Series, fmt: str) -> None:
        """Parse `group` (distinct values, indexed by position) with `fmt`; keep what reads."""
        result = _parse_with(group, fmt)
        ok = result.notna().to_numpy()
        if ok.any():
            positions = group.index.to_numpy()[ok]
            parsed[positions] = _to_utc_seconds(result[ok], tz)
            todo[positions] = False

    # Fast lane for ISO 8601, the most common export format: no shape grouping needed.
    iso_like = todo & u.str.match(_ISO_PREFIX).to_numpy(dtype=bool)
    if iso_like.any():
        candidates = u[iso_like]
        aware = candidates.str.contains(_ISO_AWARE_END).to_numpy(dtype=bool)
        for mask, fmt in ((aware, "ISO8601-aware"), (~aware, "ISO8601")):
            if mask.any():
                take(candidates[mask], fmt)

    if todo.any():
        rest = u[todo]
        day_first = _day_first(rest)
        shapes = rest.str.replace(r"\d", "9", regex=True).str.replace(
            r"[A-Za-z]+", "a", regex=True)
        groups = shapes.groupby(shapes, sort=False).groups
        if len(groups) <= 200:  # beyond that the column is free text: go value by value
            for shape, index in groups.items():
                if "9" not in shape:
                    # Every candidate format reads a day or a year in digits: trying all
                    # eighty on "n/a" or "not a date" only recompiles strptime's patterns.
                    continue
                group = rest.loc[index]
                sample = group.iloc[:20]
                best, best_hits = None, 0
                for fmt in _candidate_formats(shape, sample.tolist(), day_first):
                    hits = int(_parse_with(sample, fmt).notna().sum())
                    if hits > best_hits:
                        best, best_hits = fmt, hits
                    if hits == len(sample):
                        break
                if best is not None:
                    take(group, best)
        for position in np.flatnonzero(todo):
            moment = _fallback_parse(u.iloc[position], zone, day_first)
            if moment is None:
                continue
            try:
                parsed[position] = np.datetime64(store.to_iso(moment)[:-1], "s")
            except (ValueError, OverflowError):  # in UTC it falls past year 9999
                reasons[position] = (f"the date {excerpt(u.iloc[position])} is out of range")

    return codes, u, parsed, reasons

"""The filters every page shares, and their round trip through a URL's query string.

    f = Filters.from_query_params({"start": "2025-01-01", "location": ["North", "Harbour"]})
    where, params = f.where_sql()      # "f.received_at >= ? AND f.location IN (?, ?)", [...]
    f.to_query_params()                # back to the URL, so a view can be sent as a link

`where_sql` expects the feedback table aliased as `f`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta

from analysis.domain.dates import STORED_DATE_SHAPE, valid_date_sql
from analysis.domain.scores import NPS_GROUPS, nps_group_sql

# Filter field -> feedback column, for the multi-value dimension filters.
DIMENSIONS = {
    "locations": "location",
    "segments": "segment",
    "channels": "channel",
    "touchpoints": "touchpoint",
}
THEME_PARAM = "theme"
"""The theme a Themes page link opens (`?theme=ID`): a page's own parameter, kept in the URL
beside the shared filters."""
PAGE_PARAMS = (THEME_PARAM, "metric", "by", "improvement", "case")
"""Query parameters that belong to one page (the Themes page's theme, the Benchmarks page's
metric and grouping, the Improvements page's improvement, the Case queue's case); app.py
keeps them when it rewrites the filters."""

# Short, readable names in the URL.
_PARAM_NAMES = {
    "locations": "location",
    "segments": "segment",
    "channels": "channel",
    "touchpoints": "touchpoint",
    "nps_groups": "nps_group",
}


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # inclusive, UTC date
    end: date | None = None  # inclusive, UTC date
    locations: tuple[str, ...] = field(default_factory=tuple)
    segments: tuple[str, ...] = field(default_factory=tuple)
    channels: tuple[str, ...] = field(default_factory=tuple)
    touchpoints: tuple[str, ...] = field(default_factory=tuple)
    nps_groups: tuple[str, ...] = field(default_factory=tuple)

    def where_sql(self, *, with_dates: bool = True,
                  readable_dates_only: bool = True) -> tuple[str, list]:
        # By default a stored date of another shape (a five-digit year, text written by
        # hand) is left out: it sorts wrongly as text and breaks date parsers. A GLOB costs
        # next to nothing; the full calendar check (domain.dates.valid_date_sql) is kept for
        # where it pays. An export, which parses no date, keeps such rows so they can be fixed.
        clauses: list[str] = (["f.received_at GLOB ?"] if readable_dates_only else ["1 = 1"])
        params: list = [STORED_DATE_SHAPE] if readable_dates_only else []
        if with_dates and self.start:
            clauses.append("f.received_at >= ?")
            params.append(f"{self.start.isoformat()}T00:00:00Z")
        if with_dates and self.end:
            clauses.append("f.received_at <= ?")
            params.append(f"{self.end.isoformat()}T23:59:59Z")  # no day after 9999-12-31
        for name, column in DIMENSIONS.items():
            values = getattr(self, name)
            if values:
                clauses.append(f"f.{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        if self.nps_groups:
            clauses.append("(" + " OR ".join(nps_group_sql(g) for g in self.nps_groups) + ")")
        return " AND ".join(clauses), params

    def previous_period(self) -> Filters | None:
        """The same filters over the equally long period just before this one."""
        if not (self.start and self.end):
            return None
        length = (self.end - self.start).days + 1
        try:
            return replace(self, start=self.start - timedelta(days=length),
                           end=self.start - timedelta(days=1))
        except OverflowError:  # a period reaching back past year 1 has no predecessor
            return None

    def to_query_params(self) -> dict[str, str | list[str]]:
        params: dict[str, str | list[str]] = {}
        if self.start:
            params["start"] = self.start.isoformat()
        if self.end:
            params["end"] = self.end.isoformat()
        for name, param in _PARAM_NAMES.items():
            values = getattr(self, name)
            if values:
                params[param] = list(values)
        return params

    @classmethod
    def from_query_params(cls, params: Mapping[str, str | list[str]]) -> Filters:
        """Parse a query string; values that make no sense are dropped, never raised on,
        because a link can be hand-edited or stale."""

        def values(key: str) -> tuple[str, ...]:
            raw = params.get(key, [])
            items = [raw] if isinstance(raw, str) else list(raw)
            return tuple(dict.fromkeys(v for v in items if v))

        def day(key: str) -> date | None:
            got = values(key)
            try:
                parsed = date.fromisoformat(got[0]) if got else None
            except ValueError:
                return None
            # Year 1 or 9999 leaves no room for the day after or the period before.
            return parsed if parsed is None or _EARLIEST_DAY <= parsed <= _LATEST_DAY else None

        start, end = day("start"), day("end")
        if start and end and start > end:
            start, end = end, start
        kwargs = {name: values(param) for name, param in _PARAM_NAMES.items()}
        kwargs["nps_groups"] = tuple(g for g in kwargs["nps_groups"] if g in NPS_GROUPS)
        return cls(start=start, end=end, **kwargs)

    def is_default(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self))


_EARLIEST_DAY, _LATEST_DAY = date(1000, 1, 1), date(9000, 12, 31)


def clamp_dates(picked: Sequence[date | None], bounds: tuple[date, date]) -> tuple[date, date]:
    """`picked` (start, end; the picker may hold one date or none) as a pair inside `bounds`
    (first and last day with feedback), in order, a missing end filled from the bounds:
    what the sidebar's date picker can show."""
    low, high = bounds
    start, end = (tuple(picked) + (None, None))[:2]
    start = min(max(start or low, low), high)
    end = min(max(end or high, low), high)
    return (start, end) if start <= end else (end, start)


def filter_options(db) -> dict[str, list[str]]:
    """Distinct values of each dimension, for the sidebar's select boxes."""
    options = {}
    for name, column in DIMENSIONS.items():
        rows = db.execute(
            f"SELECT DISTINCT {column} FROM feedback WHERE {column} IS NOT NULL "
            f"AND {column} != '' ORDER BY {column}"
        ).fetchall()
        options[name] = [r[0] for r in rows]
    return options


def date_bounds(db) -> tuple[date, date] | None:
    """First and last day with feedback, or None on an empty store.

    Only dates the pages can read count: a stored value that is no real moment (written
    by hand, or by a version before the importer checked) must not take every page down.
    Ordered scans of the date index, stopping at the first valid row at either end.
    """
    valid = valid_date_sql("received_at")
    first = db.execute(f"SELECT received_at FROM feedback WHERE {valid} "
                       "ORDER BY received_at LIMIT 1").fetchone()
    if first is None:
        return None
    last = db.execute(f"SELECT received_at FROM feedback WHERE {valid} "
                      "ORDER BY received_at DESC LIMIT 1").fetchone()
    return date.fromisoformat(first[0][:10]), date.fromisoformat(last[0][:10])

"""The stored date: one shape (UTC ISO 8601 with a Z, to the second), and the SQL that tells
a real moment from text of that shape."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from analysis.settings import get_settings
from analysis.store.clock import to_iso

FUTURE_TOLERANCE = timedelta(days=1)
"""How far past `now` a date may lie: clocks and time zones differ, by hours, not days."""


def plausible_window(now: datetime, earliest: date | None = None) -> tuple[str, str]:
    """(earliest, latest) plausible feedback moments as stored-format strings: from
    `earliest` (default: the setting CLOSELOOP_EARLIEST_DATE) to a day after `now`. The
    importer checks new rows and `python -m analysis check` stored ones against it."""
    earliest = earliest or get_settings().earliest_date
    return f"{earliest.isoformat()}T00:00:00Z", to_iso(now + FUTURE_TOLERANCE)

STORED_DATE_SHAPE = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z"
"""The shape of `feedback.received_at` as a GLOB pattern (a shape, not yet a real date)."""


def valid_date_sql(column: str = "f.received_at") -> str:
    """SQL, true where `column` holds a real UTC moment in the store's one format.

    julianday() reads the text and strftime() writes it back: only a real calendar moment
    (no 30 February, no hour 24, no five-digit year) comes back unchanged. Readers skip
    other values instead of handing them to a date parser that would raise.
    """
    return (f"(COALESCE(strftime('%Y-%m-%dT%H:%M:%SZ', julianday({column})) = {column}, 0)"
            f" AND {column} >= '0001')")

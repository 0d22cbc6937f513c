"""The stored date: one shape (UTC ISO 8601 with a Z, to the second), and the SQL that tells
a real moment from text of that shape."""

from __future__ import annotations

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

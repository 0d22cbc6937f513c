"""How stored UTC timestamps become days, weeks and months, in SQL.

Weeks start on Monday (ISO 8601), the first of each period is its label, and every page and
series buckets the same way.
"""

from __future__ import annotations

PERIODS = ("D", "W", "M")


def period_start_sql(freq: str, column: str = "f.received_at") -> str:
    """SQL giving the first day ('YYYY-MM-DD') of the day, week or month `column` falls in."""
    if freq not in PERIODS:
        raise ValueError(f"freq must be one of {', '.join(PERIODS)}, got {freq!r}")
    return {
        "D": f"date({column})",
        # Monday on or before the day: step back six days, then forward to the next Monday.
        "W": f"date({column}, '-6 days', 'weekday 1')",
        "M": f"date({column}, 'start of month')",
    }[freq]

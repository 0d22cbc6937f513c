"""Consistency: a location better (or worse) than the rest of the network on a theme month
after month is a practice to learn from (or a location that needs help), where one month's
difference may be chance.

    consistent_differences(db, months=3)
    # [{"location": "Old Town", "theme_id": 4, "theme": "Bins overflowing",
    #   "direction": "worse", "months": ["2026-08-01", "2026-09-01", "2026-10-01"],
    #   "shares": [18.9, 20.1, 17.5], "rest_shares": [8.8, 9.1, 8.6], "p_values": [...]}]

Per month (UTC), location and theme: the share of the location's commented responses that
mention the theme against the same share over every other location, with the two-proportion
z test. A pair is flagged when each of the last `months` complete months differs in the same
direction at `alpha`; at 5% a month, chance alone flags a pair three months running about
once in 8,000 (0.025^3 per direction), so a network of 10 locations x 15 themes raises a
false flag about once in fifty years of monthly looks. "Worse" follows the theme's
direction: a higher share of a mostly negative theme is worse.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlite_utils

from analysis.benchmarks.metrics import metric_for
from analysis.domain.comments import has_comment_sql
from analysis.domain.dates import valid_date_sql
from analysis.domain.periods import period_start_sql
from analysis.stats.proportions import two_proportion_test
from analysis.themes.queries.base import CHILD, PARENT
from analysis.trends.series import active_assignments_sql, default_level


def _monthly_counts(db, level: str, first: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    month = period_start_sql("M")
    valid = valid_date_sql("f.received_at")
    volume = pd.DataFrame(db.execute(
        f"""SELECT {month}, f.location, COUNT(*) FROM feedback f
            WHERE {valid} AND f.received_at >= ? AND {has_comment_sql('f')}
              AND f.location IS NOT NULL AND f.location != '' GROUP BY 1, 2""",
        [first]).fetchall(), columns=["month", "location", "n"])
    mentions = pd.DataFrame(db.execute(
        f"""SELECT {month}, f.location, ta.theme_id, COUNT(*) FROM feedback f
            JOIN {active_assignments_sql(level)} ta ON ta.feedback_id = f.id
            WHERE {valid} AND f.received_at >= ? AND {has_comment_sql('f')}
              AND f.location IS NOT NULL AND f.location != '' GROUP BY 1, 2, 3""",
        [first]).fetchall(), columns=["month", "location", "theme_id", "x"])
    return volume, mentions


def consistent_differences(db: sqlite_utils.Database, *, months: int = 3,
                           today: date | None = None, level: str | None = None,
                           alpha: float = 0.05, min_n: int = 30) -> list[dict]:
    """Location x theme pairs better or worse than the rest in each of the last `months`
    complete months before `today` (default: the latest feedback's month is the running
    one)."""
    level = level or default_level(db)
    if level not in (CHILD, PARENT):
        raise ValueError(f"unknown theme level {level!r}")
    if today is None:
        row = db.execute(f"SELECT MAX(received_at) FROM feedback f WHERE "
                         f"{valid_date_sql('f.received_at')}").fetchone()
        if not row or not row[0]:
            return []
        today = date.fromisoformat(row[0][:10])
    current = today.replace(day=1)
    wanted = []
    year, month = current.year, current.month
    for _ in range(months):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        wanted.append(date(year, month, 1).isoformat())
    wanted.reverse()
    volume, mentions = _monthly_counts(db, level, f"{wanted[0]}T00:00:00Z")
    if volume.empty or mentions.empty:
        return []
    names = dict(db.execute("SELECT id, name FROM themes").fetchall())
    totals = volume.groupby("month")["n"].sum()
    theme_totals = mentions.groupby(["month", "theme_id"])["x"].sum()
    n_at = volume.set_index(["month", "location"])["n"]
    x_at = mentions.set_index(["month", "location", "theme_id"])["x"]
    directions = {}
    found = []
    for location in sorted(set(volume["location"])):
        for theme_id in sorted(set(mentions["theme_id"])):
            signs, shares, rest_shares, p_values = [], [], [], []
            for m in wanted:
                n = int(n_at.get((m, location), 0))
                rest_n = int(totals.get(m, 0)) - n
                if n < min_n or rest_n < min_n:
                    break
                x = int(x_at.get((m, location, theme_id), 0))
                rest_x = int(theme_totals.get((m, theme_id), 0)) - x
                test = two_proportion_test("share", x, n, rest_x, rest_n)
                if test.p_value is None or test.p_value >= alpha:
                    break
                signs.append(1 if test.estimate > 0 else -1)
                shares.append(round(x / n * 100, 1))
                rest_shares.append(round(rest_x / rest_n * 100, 1))
                p_values.append(test.p_value)
            if len(signs) < months or len(set(signs)) != 1:
                continue
            if theme_id not in directions:
                directions[theme_id] = metric_for(db, f"theme:{theme_id}").higher_is_better
            higher = signs[0] > 0
            better = higher == directions[theme_id]
            found.append({"location": location, "theme_id": int(theme_id),
                          "theme": names.get(theme_id, f"Theme {theme_id}"),
                          "direction": "better" if better else "worse", "months": wanted,
                          "shares": shares, "rest_shares": rest_shares,
                          "p_values": p_values})
    return found

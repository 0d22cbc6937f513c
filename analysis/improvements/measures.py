"""The measure an improvement targets, per location and local ISO week, as sums.

An improvement names a metric (NPS, CSAT, CES, rating, negative share) or themes; the
measure is the metric when set, else the share of comments mentioning any targeted theme
(or a child of it). Every measure is a mean of one value per response (benchmarks'
`value_sql`: NPS +100/0/-100, shares 100/0), so per (location, week) the sums n, total and
total_sq carry everything the impact tests need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlite_utils

from analysis.benchmarks.metrics import Metric, theme_value_sql, value_sql
from analysis.domain.dates import STORED_DATE_SHAPE, valid_date_sql
from analysis.improvements.records import Improvement, theme_names
from analysis.store.clock import to_iso
from analysis.themes.queries.base import theme_members
from analysis.trends.periods import local_period_sql, period_close, period_opening

CELL_COLUMNS = ["location", "week", "n", "total", "total_sq"]


@dataclass(frozen=True)
class Measure:
    label: str
    unit: str
    """"points" (0-100 scales and NPS) or the scale's own unit ("stars", "CES points")."""
    higher_is_better: bool
    value: str
    where: str
    value_params: tuple
    where_params: tuple


def measure_for(db: sqlite_utils.Database, improvement: Improvement) -> Measure:
    if improvement.metric:
        metric = Metric.parse(improvement.metric)
        value, where, value_params, where_params = value_sql(db, metric)
        unit = {"rating": "stars", "ces": "CES points"}.get(metric.name, "points")
        return Measure(metric.label, unit, metric.higher_is_better, value, where,
                       tuple(value_params), tuple(where_params))
    members = sorted({m for t in improvement.theme_ids for m in theme_members(db, int(t))})
    value, where, value_params, where_params = theme_value_sql(members)
    names = theme_names(db, improvement.theme_ids)
    label = " or ".join(names[t] for t in improvement.theme_ids) + " share %"
    return Measure(label, "points", False, value, where, tuple(value_params),
                   tuple(where_params))


def weekly_cells(db: sqlite_utils.Database, measure: Measure, *, first: date, last: date,
                 tz: str) -> pd.DataFrame:
    """Per location and local ISO week (Monday, as a date) from the week of `first` to the
    week of `last`: n, total and total_sq of the measure's values (no rows where n = 0)."""
    week = local_period_sql("week", tz, first, last)
    start, stop = to_iso(period_opening(first, tz)), to_iso(period_close(last, "week", tz))
    rows = db.execute(
        f"""SELECT location, week, COUNT(*), SUM(v), SUM(v * v) FROM
            (SELECT f.location, {week} AS week, {measure.value} AS v
             FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
             WHERE f.received_at GLOB ? AND f.received_at >= ? AND f.received_at < ?
               AND {valid_date_sql('f.received_at')} AND {measure.where}
               AND f.location IS NOT NULL AND f.location != '')
            GROUP BY location, week""",
        [*measure.value_params, STORED_DATE_SHAPE, start, stop, *measure.where_params]
    ).fetchall()
    frame = pd.DataFrame(rows, columns=CELL_COLUMNS)
    frame["week"] = pd.to_datetime(frame["week"]).dt.date
    return frame.astype({"n": int, "total": float, "total_sq": float})

"""What a benchmark measures, per group, as sums SQL can aggregate.

Every metric is the mean of one value per response, so one set of sums (n, sum, sum of
squares) serves its estimate, its comparison and its shrinkage:

    nps        +100 promoter, 0 passive, -100 detractor (NPS answers)
    csat       100 when satisfied (4-5), else 0 (CSAT answers)
    ces        the 1-7 answer (CES answers; higher is easier)
    rating     the 1-5 answer (review ratings)
    negative   100 when the response is negative (sentiment, else score band)
    theme:ID   100 when the comment mentions the theme (commented responses)
    theme_negative:ID  100 when a comment mentioning the theme is negative (its mentions)

    rows = group_sums(db, Metric.parse("nps"), by="location", filters=Filters(...))
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from analysis.domain.comments import has_comment_sql
from analysis.domain.filters import DIMENSIONS, Filters
from analysis.domain.scores import CSAT_SATISFIED_MIN, nps_group_sql
from analysis.stats import estimates as stats_sql
from analysis.themes.queries.base import theme_members

BY = ("location", "segment", "channel", "touchpoint")
METRICS = ("nps", "csat", "ces", "rating", "negative")


class MetricError(ValueError):
    """A metric or grouping that does not exist; the message names it."""


@dataclass(frozen=True)
class Metric:
    name: str
    """nps, csat, ces, rating, negative, theme:ID or theme_negative:ID."""
    label: str
    kind: str
    """share (0/100 values: Wilson intervals, beta-binomial shrinkage), nps, or mean."""
    higher_is_better: bool
    theme_id: int | None = None

    @classmethod
    def parse(cls, text: str, theme_name: str | None = None) -> Metric:
        text = text.strip()
        fixed = {
            "nps": cls("nps", "NPS", "nps", True),
            "csat": cls("csat", "CSAT %", "share", True),
            "ces": cls("ces", "CES (1-7)", "mean", True),
            "rating": cls("rating", "Mean rating", "mean", True),
            "negative": cls("negative", "Negative share %", "share", False),
        }
        if text in fixed:
            return fixed[text]
        head, sep, tail = text.partition(":")
        if head in ("theme", "theme_negative") and sep and tail.strip().isdigit():
            theme_id = int(tail)
            name = theme_name or f"Theme {theme_id}"
            if head == "theme_negative":
                return cls(f"theme_negative:{theme_id}", f"{name}: negative share %", "share",
                           False, theme_id)
            return cls(f"theme:{theme_id}", f"{name} share %", "share", False, theme_id)
        raise MetricError(f"metric must be one of nps, csat, ces, rating, negative, theme:ID "
                          f"or theme_negative:ID, got {text[:40]!r}")


def metric_for(db: sqlite_utils.Database, text: str) -> Metric:
    """`Metric.parse`, with a theme's name and direction from the store: a theme whose
    mentions are mostly negative is a problem (a higher share is worse); one mostly positive
    ("staff were so friendly") is the other way round."""
    metric = Metric.parse(text)
    if metric.theme_id is None:
        return metric
    row = db.execute("SELECT name FROM themes WHERE id = ?", [metric.theme_id]).fetchone()
    if row is None:
        raise MetricError(f"there is no theme {metric.theme_id}")
    members = theme_members(db, metric.theme_id)
    marks = ", ".join("?" * len(members))
    negative, total = db.execute(
        f"""SELECT SUM(s.label = 'negative'), COUNT(s.label) FROM
            (SELECT DISTINCT feedback_id FROM theme_assignments WHERE theme_id IN ({marks})) a
            JOIN sentiment s ON s.feedback_id = a.feedback_id""", members).fetchone()
    if metric.name.startswith("theme_negative:"):
        return Metric(metric.name, f"{row[0]}: negative share %", "share", False,
                      metric.theme_id)
    mostly_negative = not total or (negative or 0) * 2 >= total
    return Metric(metric.name, f"{row[0]} share %", "share", not mostly_negative,
                  metric.theme_id)


def check_by(by: str) -> str:
    if by not in BY:
        raise MetricError(f"by must be one of {', '.join(BY)}, got {by[:40]!r}")
    return by


def value_sql(db: sqlite_utils.Database, metric: Metric) -> tuple[str, str, list, list]:
    """(value SQL, extra WHERE, the value's params, the WHERE's params) over `feedback f`
    LEFT JOIN `sentiment s`: one value per counted response."""
    if metric.name == "nps":
        return (f"(CASE WHEN {nps_group_sql('promoters')} THEN 100.0 "
                f"WHEN {nps_group_sql('detractors')} THEN -100.0 ELSE 0.0 END)",
                "f.score_type = 'nps' AND f.score IS NOT NULL", [], [])
    if metric.name == "csat":
        return (f"(CASE WHEN f.score >= {CSAT_SATISFIED_MIN} THEN 100.0 ELSE 0.0 END)",
                "f.score_type = 'csat' AND f.score IS NOT NULL", [], [])
    if metric.name in ("ces", "rating"):
        return ("f.score", f"f.score_type = '{metric.name}' AND f.score IS NOT NULL", [],
                [])
    if metric.name == "negative":
        return (f"(CASE WHEN {stats_sql.SQL_IS_NEGATIVE} THEN 100.0 ELSE 0.0 END)",
                f"({stats_sql.SQL_IS_NEGATIVE}) IS NOT NULL", [], [])
    return theme_value_sql(theme_members(db, metric.theme_id),
                           negative=metric.name.startswith("theme_negative:"))


def theme_value_sql(members: list[int], *, negative: bool = False) -> tuple[str, str, list, list]:
    """`value_sql` of a theme whose comments are those of the child themes `members`
    (a parent's children, or the union of several themes')."""
    marks = ", ".join("?" * len(members))
    mentions = (f"EXISTS (SELECT 1 FROM theme_assignments tx JOIN themes tt ON tt.id = "
                f"tx.theme_id AND tt.status = 'active' WHERE tx.feedback_id = f.id AND "
                f"tx.theme_id IN ({marks}))")
    if negative:
        # Among the responses whose comment mentions the theme (and have a sentiment).
        return ("(CASE WHEN s.label = 'negative' THEN 100.0 ELSE 0.0 END)",
                f"{has_comment_sql('f')} AND s.label IS NOT NULL AND {mentions}", [],
                list(members))
    return (f"(CASE WHEN {mentions} THEN 100.0 ELSE 0.0 END)", has_comment_sql("f"),
            list(members), [])


def group_sums(db: sqlite_utils.Database, metric: Metric, *, by: str = "location",
               filters: Filters | None = None) -> list[dict]:
    """Per group (rows without a value for `by` left out): n, total, total_sq of the
    metric's values, ordered by group."""
    column = DIMENSIONS_BY[check_by(by)]
    where, params = (filters or Filters()).where_sql()
    value, extra, value_params, extra_params = value_sql(db, metric)
    rows = db.execute(
        f"""SELECT f.{column} AS grp, COUNT(*) AS n, SUM(v) AS total, SUM(v * v) AS total_sq
            FROM (SELECT f.{column}, {value} AS v FROM feedback f
                  LEFT JOIN sentiment s ON s.feedback_id = f.id
                  WHERE {where} AND {extra}) f
            WHERE f.{column} IS NOT NULL AND f.{column} != ''
            GROUP BY f.{column} ORDER BY f.{column}""",
        [*value_params, *params, *extra_params]).fetchall()
    return [{"group": g, "n": int(n), "total": float(t or 0), "total_sq": float(q or 0)}
            for g, n, t, q in rows]


DIMENSIONS_BY = {column: column for column in DIMENSIONS.values()}

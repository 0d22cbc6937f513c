"""Key drivers: the score points each theme costs, and what fixing it would be worth.

    drivers = key_drivers(db, metric="nps")                # every location, adjusted
    drivers = key_drivers(db, metric="nps", location="Old Town")
    drivers.rows[0]  # {"theme_id": 3, "theme": "Wait times", "share": 24.1, "points": -11.8,
                     #  "ci_low": -14.0, "ci_high": -9.6, "p_value": 1e-20,
                     #  "opportunity": 2.1, "opportunity_low": ..., ...}

One row per commented response with a score: its value (NPS +100/0/-100, CSAT 100/0, the
rating), an indicator per theme it mentions, and its location and segment. An OLS
regression of the value on every theme indicator with location and segment fixed effects
(statsmodels, HC3 robust errors) gives each theme's points: how much lower (or higher) the
score is when a comment mentions it, the other themes, location and segment held equal.
Observational: a theme is associated with the score, which is not proof it causes it.

The opportunity of a location on a theme: its score if the theme's share there fell to the
network's best-quartile share (the 25th percentile of the locations' shares): points x
(that share - the location's share), with the interval of the points carried through;
zero where the location is already at or below it, or where the theme does not cost
points. Themes sorted by opportunity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlite_utils
import statsmodels.api as sm

from analysis.domain.comments import has_comment_sql
from analysis.domain.filters import Filters
from analysis.domain.scores import CSAT_SATISFIED_MIN, nps_group_sql
from analysis.themes.queries.base import PARENT, assignment_table
from analysis.trends.series import active_assignments_sql, default_level

DRIVER_METRICS = ("nps", "csat", "rating")
DRIVER_TEST = ("OLS of the score on theme indicators with location and segment fixed "
               "effects, HC3 robust errors")
MIN_MENTIONS = 20
"""A theme mentioned fewer times is left out of the model: its points would be noise."""


class DriverError(ValueError):
    pass


@dataclass
class Drivers:
    metric: str
    location: str | None
    n: int
    level: str
    rows: list[dict]
    test: str = DRIVER_TEST


def _value_sql(metric: str) -> tuple[str, str]:
    if metric == "nps":
        return (f"(CASE WHEN {nps_group_sql('promoters')} THEN 100.0 "
                f"WHEN {nps_group_sql('detractors')} THEN -100.0 ELSE 0.0 END)",
                "f.score_type = 'nps'")
    if metric == "csat":
        return (f"(CASE WHEN f.score >= {CSAT_SATISFIED_MIN} THEN 100.0 ELSE 0.0 END)",
                "f.score_type = 'csat'")
    if metric == "rating":
        return "f.score", "f.score_type = 'rating'"
    raise DriverError(f"metric must be one of {', '.join(DRIVER_METRICS)}, got {metric!r}")


def driver_frame(db: sqlite_utils.Database, metric: str, *, level: str,
                 filters: Filters | None = None) -> tuple[pd.DataFrame, dict[int, str]]:
    """(responses x [value, location, segment, t<theme_id>...], theme names)."""
    value, kind = _value_sql(metric)
    where, params = (filters or Filters()).where_sql()
    base = pd.DataFrame(db.execute(
        f"""SELECT f.id, {value} AS value, COALESCE(NULLIF(f.location, ''), '(none)'),
                   COALESCE(NULLIF(f.segment, ''), '(none)')
            FROM feedback f WHERE {where} AND {kind} AND f.score IS NOT NULL
              AND {has_comment_sql('f')}""", params).fetchall(),
        columns=["id", "value", "location", "segment"])
    assignment_table(level)
    names = dict(db.execute("SELECT id, name FROM themes WHERE status = 'active' AND "
                            "is_parent = ?", [int(level == PARENT)]).fetchall())
    if base.empty or not names:
        return base, names
    pairs = pd.DataFrame(db.execute(f"SELECT feedback_id, theme_id FROM "
                                    f"{active_assignments_sql(level)}").fetchall(),
                         columns=["id", "theme_id"])
    pairs = pairs[pairs["id"].isin(base["id"]) & pairs["theme_id"].isin(list(names))]
    indicators = pd.crosstab(pairs["id"], pairs["theme_id"]).clip(upper=1)
    indicators.columns = [f"t{int(c)}" for c in indicators.columns]
    frame = base.set_index("id").join(indicators, how="left").fillna(0)
    return frame.reset_index(drop=True), names


def key_drivers(db: sqlite_utils.Database, *, metric: str = "nps",
                location: str | None = None, level: str | None = None,
                filters: Filters | None = None, min_mentions: int = MIN_MENTIONS) -> Drivers:
    """Points per theme (see the module docstring), for the network or one location."""
    level = level or default_level(db)
    frame, names = driver_frame(db, metric, level=level, filters=filters)
    every = frame
    if location is not None:
        frame = frame[frame["location"] == location]
    themes = [c for c in frame.columns if c.startswith("t") and c[1:].isdigit()
              and frame[c].sum() >= min_mentions and frame[c].sum() < len(frame)]
    if len(frame) < 30 or not themes:
        return Drivers(metric, location, int(len(frame)), level, [])
    design = frame[themes].astype(float)
    for column in ("location", "segment"):
        if frame[column].nunique() > 1:
            dummies = pd.get_dummies(frame[column], prefix=column, drop_first=True,
                                     dtype=float)
            design = design.join(dummies)
    design = sm.add_constant(design, has_constant="add")
    design = _full_rank(design, keep=["const", *themes])
    fit = sm.OLS(frame["value"].to_numpy(float), design.to_numpy(float)).fit(cov_type="HC3")
    params = dict(zip(design.columns, fit.params))
    bse = dict(zip(design.columns, fit.bse))
    pvalues = dict(zip(design.columns, fit.pvalues))
    low, high = (dict(zip(design.columns, fit.conf_int()[:, k])) for k in (0, 1))
    shares_by_location = _location_shares(every, themes)
    rows = []
    for column in themes:
        theme_id = int(column[1:])
        share = float(frame[column].mean() * 100)
        best = float(np.percentile(shares_by_location[column], 25)) \
            if len(shares_by_location) else share
        gap = max(share - best, 0.0) / 100
        points = float(params[column])
        costs = points < 0 and gap > 0
        rows.append({
            "theme_id": theme_id, "theme": names.get(theme_id, f"Theme {theme_id}"),
            "share": share, "mentions": int(frame[column].sum()), "points": points,
            "se": float(bse[column]), "ci_low": float(low[column]),
            "ci_high": float(high[column]), "p_value": float(pvalues[column]),
            "best_quartile_share": best,
            "opportunity": -points * gap if costs else 0.0,
            "opportunity_low": max(-float(high[column]) * gap, 0.0) if costs else 0.0,
            "opportunity_high": -float(low[column]) * gap if costs else 0.0,
        })
    rows.sort(key=lambda r: (-r["opportunity"], r["points"]))
    return Drivers(metric, location, int(len(frame)), level, rows)


def _full_rank(design: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """The design without the fixed-effect columns that add nothing: a location whose rows
    all share one segment makes its dummy a combination of the segment dummies, and a
    rank-deficient design has no unique estimates. Theme columns and the constant stay.

    One QR of the columns in order (kept ones first): a column adds to the rank when the
    part of it not explained by the columns before it, |R_jj|, is above matrix_rank's
    tolerance. The same choice as testing each column's rank in turn, without an SVD per
    column (46 of them on a 20-location store took seconds)."""
    kept = [c for c in keep if c in design.columns]
    order = kept + [c for c in design.columns if c not in kept]
    x = design[order].to_numpy(float)
    if x.size == 0:
        return design[kept]
    diagonal = np.abs(np.diag(np.linalg.qr(x, mode="r")))
    tolerance = diagonal.max(initial=0.0) * max(x.shape) * np.finfo(float).eps
    chosen = kept + [c for c, d in zip(order, diagonal) if c not in kept and d > tolerance]
    return design[[c for c in order if c in chosen]]


def _location_shares(frame: pd.DataFrame, themes: list[str]) -> pd.DataFrame:
    """Each location's share (%) of comments mentioning each theme, for locations with at
    least 30 commented responses."""
    counts = frame.groupby("location").size()
    big = counts[counts >= 30].index
    return frame[frame["location"].isin(big)].groupby("location")[themes].mean() * 100

"""Counts per period, theme and location, aggregated in SQL: what trends and spike alerts
are computed from.

    counts = cell_counts(db, granularity="week", level=PARENT, first=date(2025, 1, 6),
                         last=date(2025, 6, 30), tz="Europe/Paris")
    counts.volume      # period x location: commented feedback (the share's denominator)
    counts.mentions    # period x theme x location: comments mentioning the theme

A share is "comments mentioning the theme / commented feedback" in the same slice, as on
the Themes page. Feedback without a location counts in the all-locations cells only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlite_utils

from analysis.domain.comments import has_comment_sql
from analysis.domain.dates import STORED_DATE_SHAPE, valid_date_sql
from analysis.settings import get_settings
from analysis.stats import estimates as metrics
from analysis.stats.estimates import estimates_from_row, mean_from_sums, share_from_counts
from analysis.store.clock import to_iso
from analysis.themes.queries.base import CHILD, PARENT, assignment_table
from analysis.trends.periods import local_period_sql, period_close, period_opening

ALL_LOCATIONS = ""
"""The location key of a cell over all locations (None in what leaves this package)."""

_NEGATIVE = "CASE WHEN s.label = 'negative' THEN 1 ELSE 0 END"


@dataclass(frozen=True)
class CellCounts:
    granularity: str
    periods: list[str]
    """Every period start from first to last, 'YYYY-MM-DD', gaps included."""
    volume: pd.DataFrame
    """Columns period, location, commented, negative, sentiment_sum, sentiment_n; the
    all-locations rows have location ALL_LOCATIONS."""
    mentions: pd.DataFrame
    """Columns period, theme_id, location, mentions, negative, sentiment_sum, sentiment_n."""


def _window(first: date, last: date, granularity: str, tz: str) -> tuple[str, str]:
    return (to_iso(period_opening(first, tz)), to_iso(period_close(last, granularity, tz)))


def _base_where(first: date, last: date, granularity: str, tz: str) -> tuple[str, list]:
    start, stop = _window(first, last, granularity, tz)
    # valid_date_sql, not only the GLOB shape: '2025-04-16T25:00:00Z' has the shape, and
    # SQLite's date() turns it into NULL, a period no series has.
    where = (f"f.received_at GLOB ? AND f.received_at >= ? AND f.received_at < ? "
             f"AND {valid_date_sql('f.received_at')} AND {has_comment_sql('f')}")
    return where, [STORED_DATE_SHAPE, start, stop]


def _with_all_locations(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add the all-locations rows (sums over locations) and drop rows without a location."""
    sums = [c for c in frame.columns if c not in keys and c != "location"]
    overall = frame.groupby(keys, as_index=False)[sums].sum()
    overall["location"] = ALL_LOCATIONS
    located = frame[frame["location"].notna() & (frame["location"] != ALL_LOCATIONS)]
    return pd.concat([located, overall[frame.columns]], ignore_index=True)


def cell_counts(db: sqlite_utils.Database, *, granularity: str, first: date, last: date,
                level: str = PARENT, tz: str | None = None) -> CellCounts:
    """Commented feedback and theme mentions per local period, location and theme at
    `level`, for the periods holding `first` to `last`. Two GROUP BY queries."""
    from analysis.trends.periods import periods_between

    tz = tz or get_settings().timezone
    periods = periods_between(first, last, granularity)
    empty = CellCounts(granularity, [], _empty_volume(), _empty_mentions())
    if not periods:
        return empty
    first, last = periods[0], periods[-1]
    period = local_period_sql(granularity, tz, first, last)
    where, params = _base_where(first, last, granularity, tz)
    volume = pd.DataFrame(db.execute(
        f"""SELECT {period} AS period, f.location AS location, COUNT(*) AS commented,
                   SUM({_NEGATIVE}) AS negative, COALESCE(SUM(s.score), 0) AS sentiment_sum,
                   COUNT(s.score) AS sentiment_n
            FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
            WHERE {where} GROUP BY 1, 2""", params).fetchall(),
        columns=["period", "location", "commented", "negative", "sentiment_sum",
                 "sentiment_n"])
    assignments = active_assignments_sql(level)
    mentions = pd.DataFrame(db.execute(
        f"""SELECT {period} AS period, ta.theme_id AS theme_id, f.location AS location,
                   COUNT(*) AS mentions, SUM({_NEGATIVE}) AS negative,
                   COALESCE(SUM(s.score), 0) AS sentiment_sum, COUNT(s.score) AS sentiment_n
            FROM feedback f CROSS JOIN {assignments} ta ON ta.feedback_id = f.id
            LEFT JOIN sentiment s ON s.feedback_id = f.id
            WHERE {where} GROUP BY 1, 2, 3""", params).fetchall(),
        columns=["period", "theme_id", "location", "mentions", "negative", "sentiment_sum",
                 "sentiment_n"])
    volume["location"] = volume["location"].astype(object)
    mentions["location"] = mentions["location"].astype(object)
    return CellCounts(
        granularity, [p.isoformat() for p in periods],
        _with_all_locations(volume, ["period"]) if len(volume) else _empty_volume(),
        _with_all_locations(mentions, ["period", "theme_id"]) if len(mentions)
        else _empty_mentions())


def active_assignments_sql(level: str) -> str:
    """(feedback_id, theme_id) of active themes at `level`, one row per comment and theme."""
    assignment_table(level)  # checks the level
    if level == CHILD:
        return ("(SELECT a.feedback_id, a.theme_id FROM theme_assignments a JOIN themes t "
                "ON t.id = a.theme_id AND t.status = 'active' AND t.is_parent = 0)")
    return ("(SELECT DISTINCT a.feedback_id, c.parent_id AS theme_id FROM theme_assignments a "
            "JOIN themes c ON c.id = a.theme_id AND c.status = 'active' "
            "JOIN themes p ON p.id = c.parent_id AND p.status = 'active')")


def _empty_volume() -> pd.DataFrame:
    return pd.DataFrame({"period": pd.Series(dtype=object), "location": pd.Series(dtype=object),
                         **{c: pd.Series(dtype="int64") for c in
                            ("commented", "negative", "sentiment_sum", "sentiment_n")}})


def _empty_mentions() -> pd.DataFrame:
    frame = _empty_volume().rename(columns={"commented": "mentions"})
    frame.insert(1, "theme_id", pd.Series(dtype="int64"))
    return frame


def default_level(db: sqlite_utils.Database) -> str:
    """Parents when the store has any (fewer cells, more power per test), else children."""
    row = db.execute("SELECT 1 FROM themes WHERE is_parent = 1 AND status = 'active' "
                     "LIMIT 1").fetchone()
    return PARENT if row else CHILD


def theme_share_series(counts: CellCounts, theme_id: int,
                       locations: list[str] | None = None) -> pd.DataFrame:
    """One theme's share per period and location (ALL_LOCATIONS for the network), every
    period present (zero mentions where none), with a Wilson 95% interval, its negative
    share (negative mentions / mentions) and mean sentiment."""
    volume = counts.volume
    if locations is not None:
        volume = volume[volume["location"].isin(locations)]
    mentions = counts.mentions[counts.mentions["theme_id"] == int(theme_id)]
    # Fix: a period without any feedback has no volume row, so it used to be missing from
    # the series instead of present with zero responses (the docstring's "every period
    # present"); every period x location of the counts gets a row.
    grid = pd.MultiIndex.from_product([counts.periods, sorted(set(volume["location"]))],
                                      names=["period", "location"])
    volume = volume.set_index(["period", "location"])[["commented"]].reindex(
        grid, fill_value=0).reset_index()
    frame = volume[["period", "location", "commented"]].merge(
        mentions[["period", "location", "mentions", "negative", "sentiment_sum",
                  "sentiment_n"]], on=["period", "location"], how="left")
    for column in ("mentions", "negative", "sentiment_sum", "sentiment_n"):
        frame[column] = frame[column].fillna(0)
    frame["mentions"] = frame["mentions"].astype(int)
    rows = []
    for row in frame.itertuples(index=False):
        share = share_from_counts("Share", int(row.mentions), int(row.commented))
        rows.append({
            "period": row.period, "location": row.location or None,
            "mentions": int(row.mentions), "commented": int(row.commented),
            "share": share.value, "share_low": share.ci_low, "share_high": share.ci_high,
            "negative_share": (row.negative / row.mentions * 100) if row.mentions else None,
            "mean_sentiment": (row.sentiment_sum / row.sentiment_n) if row.sentiment_n
            else None,
        })
    columns = ["period", "location", "mentions", "commented", "share", "share_low",
               "share_high", "negative_share", "mean_sentiment"]
    return pd.DataFrame(rows, columns=columns).sort_values(
        ["location", "period"], na_position="first", key=lambda s: s.fillna("")
    ).reset_index(drop=True)


def score_series(db: sqlite_utils.Database, *, granularity: str, first: date, last: date,
                 tz: str | None = None, by_location: bool = True) -> pd.DataFrame:
    """NPS, CSAT and CES per local period (and location) with their 95% intervals, the
    share of negative feedback (by sentiment, else by score) with its Wilson interval, and
    the mean sentiment score (-1 to 1) of the scored comments with its t interval."""
    from analysis.trends.periods import periods_between

    tz = tz or get_settings().timezone
    periods = periods_between(first, last, granularity)
    columns = ["period", "location", "metric", "value", "ci_low", "ci_high", "n", "method"]
    if not periods:
        return pd.DataFrame(columns=columns)
    first, last = periods[0], periods[-1]
    period = local_period_sql(granularity, tz, first, last)
    start, stop = _window(first, last, granularity, tz)
    group = "f.location" if by_location else "NULL"
    rows = db.query(
        f"""SELECT {period} AS period, {group} AS location, {metrics.SQL_COUNTS},
                   SUM(CASE WHEN {metrics.SQL_IS_NEGATIVE} THEN 1 ELSE 0 END) AS negative,
                   SUM(CASE WHEN {metrics.SQL_IS_NEGATIVE} IS NOT NULL THEN 1 ELSE 0 END)
                       AS judged,
                   COUNT(s.score) AS sentiment_n, SUM(s.score) AS sentiment_total,
                   SUM(s.score * s.score) AS sentiment_sq
            FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
            WHERE f.received_at GLOB ? AND f.received_at >= ? AND f.received_at < ?
              AND {valid_date_sql('f.received_at')}
            GROUP BY 1, 2""", [STORED_DATE_SHAPE, start, stop])
    out = []
    for row in rows:
        if by_location and not row["location"]:
            continue
        found = dict(estimates_from_row(row))
        found["negative_share"] = share_from_counts("Negative share", row["negative"] or 0,
                                                    row["judged"] or 0)
        found["sentiment"] = mean_from_sums("Mean sentiment", row["sentiment_n"] or 0,
                                            row["sentiment_total"] or 0.0,
                                            row["sentiment_sq"] or 0.0)
        for metric, estimate in found.items():
            if estimate.n:
                out.append({"period": row["period"], "location": row["location"],
                            "metric": metric, "value": estimate.value,
                            "ci_low": estimate.ci_low, "ci_high": estimate.ci_high,
                            "n": estimate.n, "method": estimate.method})
    return pd.DataFrame(out, columns=columns)

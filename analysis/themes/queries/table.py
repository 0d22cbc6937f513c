"""The theme table: one row per active theme and one for "Unthemed", with shares, their
change against the period before, sentiment, NPS and representative quotes.

Everything aggregates in SQL so the page stays fast at 100,000 rows; pandas only holds the
aggregated result (one row per theme). Every comparison carries its test and p-value
(`Difference`), every share its Wilson interval and n.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import pandas as pd
import sqlite_utils

from analysis.domain.comments import shown_comment_sql
from analysis.domain.dates import valid_date_sql
from analysis.domain.filters import Filters
from analysis.stats import estimates as metrics
from analysis.stats.proportions import two_proportion_test
from analysis.themes.queries.base import (
    CHILD,
    HAS_ACTIVE_THEME,
    PARENT,
    UNTHEMED,
    assignments_under,
    commented_where,
    keywords,
    normalise,
    theme_assignments_sql,
)

DEFAULT_WINDOW_DAYS = 28


@dataclass(frozen=True)
class Period:
    """The two periods a "change" compares."""

    current: Filters
    previous: Filters
    explicit: bool  # True when the user chose the dates; False when a default window was used


def comparison_period(db: sqlite_utils.Database, filters: Filters, *,
                      now: datetime | None = None) -> Period:
    """filters.start..end vs the equally long period before; without a full date range,
    the last 28 days (to `now`, else to the latest matching feedback) vs the 28 before."""
    if filters.start and filters.end:
        previous = filters.previous_period()
        assert previous is not None
        return Period(filters, previous, True)
    if filters.end:
        end = filters.end
    elif now is not None:
        end = now.date()
    else:
        where, params = filters.where_sql(with_dates=False)
        latest = db.execute(f"SELECT MAX(f.received_at) FROM feedback f WHERE {where} "
                            f"AND {valid_date_sql()}", params).fetchone()[0]
        end = date.fromisoformat(latest[:10]) if latest else date.today()
    start = filters.start if filters.start and filters.start <= end else \
        end - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    current = replace(filters, start=start, end=end)
    previous = current.previous_period()
    assert previous is not None
    return Period(current, previous, False)


def _commented_count(db, filters: Filters) -> int:
    where, params = commented_where(filters)
    return db.execute(f"SELECT COUNT(*) FROM feedback f WHERE {where}", params).fetchone()[0]


def _mentions_by_theme(db, filters: Filters,
                       level: str = CHILD) -> tuple[dict[int, int], int, int]:
    """(mentions per active theme, unthemed count, commented count) for one period."""
    where, params = commented_where(filters)
    assigned, aparams = assignments_under(level, where, params)
    per_theme = dict(db.execute(
        f"""SELECT ta.theme_id, COUNT(*) FROM feedback f
            CROSS JOIN {assigned} ta ON ta.feedback_id = f.id
            JOIN themes t ON t.id = ta.theme_id AND t.status = 'active'
            WHERE {where} GROUP BY ta.theme_id""", aparams + params).fetchall())
    commented, themed = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM({HAS_ACTIVE_THEME}), 0) FROM feedback f WHERE {where}",
        params).fetchone()
    return per_theme, commented - themed, commented


@dataclass(frozen=True)
class ThemeTable:
    frame: pd.DataFrame
    commented: int   # commented feedback matching the filters: the denominator of `share_pct`
    period: Period


THEME_TABLE_COLUMNS = [
    "theme_id", "name", "is_unthemed", "level", "parent_id", "parent_name", "n_children", "mentions", "primary_mentions", "dedup_mentions",
    "customers", "share_pct", "share_ci_low", "share_ci_high",
    "change_pts", "change_ci_low", "change_ci_high", "change_p_value", "change_test",
    "period_share_pct", "previous_share_pct", "sentiment_mean", "sentiment_n",
    "nps", "nps_ci_low", "nps_ci_high", "nps_n", "keywords", "quotes",
]


def theme_table(db: sqlite_utils.Database, filters: Filters, *, level: str = CHILD,
                now: datetime | None = None) -> ThemeTable:
    """One row per active theme at `level` (most mentioned first) and a last "Unthemed" row.

    Mentions count primary and secondary assignments (a parent: each comment once, however
    many of its children it mentions). Share = mentions / commented feedback under the
    filters. The change in share compares `comparison_period`. Child rows name their
    parent; parent rows count their active children.
    """
    where, params = commented_where(filters)
    assigned, aparams = assignments_under(level, where, params)
    commented = _commented_count(db, filters)
    themes = list(db.query(
        """SELECT t.id, t.name, t.keywords, t.parent_id, p.name AS parent_name,
                  (SELECT COUNT(*) FROM themes c WHERE c.parent_id = t.id
                   AND c.status = 'active') AS n_children
           FROM themes t LEFT JOIN themes p ON p.id = t.parent_id AND p.status = 'active'
           WHERE t.status = 'active' AND t.is_parent = ?""", [int(level == PARENT)]))

    stats_sql = f"""
        COUNT(*) AS mentions,
        COUNT(DISTINCT COALESCE(nd.canonical_id, f.id)) AS dedup_mentions,
        COUNT(DISTINCT f.customer_key) AS customers,
        AVG(s.score) AS sentiment_mean,
        COUNT(s.feedback_id) AS sentiment_n,
        {metrics.SQL_COUNTS}"""
    per_theme = {r["theme_id"]: r for r in db.query(f"""
        SELECT ta.theme_id AS theme_id, SUM(ta.is_primary) AS primary_mentions, {stats_sql}
        FROM feedback f
        CROSS JOIN {assigned} ta ON ta.feedback_id = f.id
        JOIN themes t ON t.id = ta.theme_id AND t.status = 'active'
        LEFT JOIN near_duplicates nd ON nd.feedback_id = f.id
        LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE {where} GROUP BY ta.theme_id""", aparams + params)}
    unthemed = next(iter(db.query(f"""
        SELECT 0 AS primary_mentions, {stats_sql}
        FROM feedback f
        LEFT JOIN near_duplicates nd ON nd.feedback_id = f.id
        LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE {where} AND NOT {HAS_ACTIVE_THEME}""", params)))

    period = comparison_period(db, filters, now=now)
    if period.explicit:  # the current period is the filtered one: reuse its counts
        cur_mentions = {tid: r["mentions"] for tid, r in per_theme.items()}
        cur_unthemed, cur_n = unthemed["mentions"], commented
    else:
        cur_mentions, cur_unthemed, cur_n = _mentions_by_theme(db, period.current, level)
    prev_mentions, prev_unthemed, prev_n = _mentions_by_theme(db, period.previous, level)
    quotes = _top_quotes(db, filters, level)

    records = []
    for theme in themes:
        tid = theme["id"]
        row = _table_row(
            tid, theme["name"], False, per_theme.get(tid, {}), commented,
            (cur_mentions.get(tid, 0), cur_n, prev_mentions.get(tid, 0), prev_n),
            keywords(theme["keywords"]), quotes.get(tid, []))
        row.update(level=level, parent_id=theme["parent_id"], parent_name=theme["parent_name"],
                   n_children=theme["n_children"] if level == PARENT else None)
        records.append(row)
    records.sort(key=lambda r: (-r["mentions"], r["name"].casefold(), r["theme_id"]))
    unthemed_row = _table_row(
        None, UNTHEMED, True, unthemed if unthemed["mentions"] else {}, commented,
        (cur_unthemed, cur_n, prev_unthemed, prev_n), [], _unthemed_quotes(db, filters))
    unthemed_row.update(level=level, parent_id=None, parent_name=None, n_children=None)
    records.append(unthemed_row)

    frame = pd.DataFrame.from_records(records, columns=THEME_TABLE_COLUMNS)
    for column in ("theme_id", "parent_id", "n_children"):
        frame[column] = frame[column].astype("Int64")
    return ThemeTable(frame, commented, period)


def _table_row(theme_id, name, is_unthemed, row: dict, commented: int, change_counts,
               theme_keywords: list[str], quotes: list[str]) -> dict:
    g = lambda key: row.get(key) or 0  # SUM over no rows is NULL
    mentions = g("mentions")
    share = metrics.share_from_counts("Share %", mentions, commented)
    hits, n, prev_hits, prev_n = change_counts
    change = two_proportion_test("Change in share (points)", hits, n, prev_hits, prev_n)
    nps = metrics.nps_from_counts(g("promoters"), g("passives"), g("detractors"))
    return {
        "theme_id": theme_id, "name": name, "is_unthemed": is_unthemed,
        "mentions": mentions, "primary_mentions": g("primary_mentions"),
        "dedup_mentions": g("dedup_mentions"), "customers": g("customers"),
        "share_pct": share.value, "share_ci_low": share.ci_low, "share_ci_high": share.ci_high,
        "change_pts": change.estimate, "change_ci_low": change.ci_low,
        "change_ci_high": change.ci_high, "change_p_value": change.p_value,
        "change_test": change.test,
        "period_share_pct": hits / n * 100 if n else None,
        "previous_share_pct": prev_hits / prev_n * 100 if prev_n else None,
        "sentiment_mean": row.get("sentiment_mean"), "sentiment_n": g("sentiment_n"),
        "nps": nps.value, "nps_ci_low": nps.ci_low, "nps_ci_high": nps.ci_high, "nps_n": nps.n,
        "keywords": theme_keywords, "quotes": quotes,
    }


def _dedup_texts(rows, k: int) -> dict:
    """Keep the first k rows per group whose normalised text has not been seen yet."""
    out: dict = {}
    seen: dict = {}
    for group, text in rows:
        texts = out.setdefault(group, [])
        norm = normalise(text)
        if len(texts) < k and norm not in seen.setdefault(group, set()):
            seen[group].add(norm)
            texts.append(text)
    return out


def _top_quotes(db, filters: Filters, level: str = CHILD, k: int = 3,
                candidates: int = 24) -> dict[int, list[str]]:
    """Per active theme, the k most probable comments, one per near-duplicate cluster.

    One window sort picks each theme's `candidates` most probable comments; clusters and
    repeated texts are collapsed in Python on that short list (a second window over every
    (theme, cluster) pair costs seconds at 100,000 rows)."""
    where, params = commented_where(filters)
    assigned, aparams = assignments_under(level, where, params)
    # Only ids go through the sort; comment text is fetched for the few rows kept.
    rows = db.execute(f"""
        SELECT w.theme_id, COALESCE(nd.canonical_id, w.id) AS canon,
               {shown_comment_sql("fc")} FROM (
            SELECT ta.theme_id, f.id,
                   ROW_NUMBER() OVER (PARTITION BY ta.theme_id
                                      ORDER BY ta.probability DESC, f.id) AS r
            FROM feedback f
            CROSS JOIN {assigned} ta ON ta.feedback_id = f.id
            JOIN themes t ON t.id = ta.theme_id AND t.status = 'active'
            WHERE {where}) w
        JOIN feedback fc ON fc.id = w.id
        LEFT JOIN near_duplicates nd ON nd.feedback_id = w.id
        WHERE w.r <= ? ORDER BY w.theme_id, w.r""", aparams + params + [candidates]).fetchall()
    seen_canon: dict[int, set] = {}
    kept = []
    for theme_id, canon, comment in rows:
        if canon not in seen_canon.setdefault(theme_id, set()):
            seen_canon[theme_id].add(canon)
            kept.append((theme_id, comment))
    return _dedup_texts(kept, k)


def _unthemed_quotes(db, filters: Filters, k: int = 3) -> list[str]:
    """Most recent distinct unthemed comments: no probability to rank them by."""
    where, params = commented_where(filters)
    rows = db.execute(f"""
        SELECT 0, {shown_comment_sql()} FROM feedback f
        WHERE {where} AND NOT {HAS_ACTIVE_THEME}
          AND NOT EXISTS (SELECT 1 FROM near_duplicates nd
                          WHERE nd.feedback_id = f.id AND nd.canonical_id != f.id)
        ORDER BY f.received_at DESC, f.id DESC LIMIT ?""", params + [k * 4]).fetchall()
    return _dedup_texts(rows, k).get(0, [])


def theme_quotes(db: sqlite_utils.Database, filters: Filters, theme_id: int,
                 k: int = 3) -> pd.DataFrame:
    """The representative quotes of one theme (either level) with their feedback ids (for
    drill-down)."""
    where, params = commented_where(filters)
    assigned, aparams = theme_assignments_sql(db, theme_id)
    rows = db.query(f"""
        WITH m AS (
            SELECT f.id AS feedback_id, {shown_comment_sql()} AS comment, ta.probability,
                   ROW_NUMBER() OVER (PARTITION BY COALESCE(nd.canonical_id, f.id)
                                      ORDER BY ta.probability DESC, f.id) AS in_cluster
            FROM feedback f
            JOIN {assigned} ta ON ta.feedback_id = f.id
            LEFT JOIN near_duplicates nd ON nd.feedback_id = f.id
            WHERE {where})
        SELECT feedback_id, comment, probability FROM m WHERE in_cluster = 1
        ORDER BY probability DESC, feedback_id LIMIT ?""", aparams + params + [k * 4])
    kept, seen = [], set()
    for row in rows:
        norm = normalise(row["comment"])
        if norm not in seen and len(kept) < k:
            seen.add(norm)
            kept.append(row)
    return pd.DataFrame(kept, columns=["feedback_id", "comment", "probability"])

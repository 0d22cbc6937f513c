"""What a picked theme's detail reads: its share by location and over time, its sentiment
mix, its comments (paged and searchable), and the map of comments placed by meaning.

`theme_id=None` stands for the unthemed comments throughout. Every share is of commented
feedback under the filters, with its Wilson interval and n.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlite_utils

from analysis.domain.comments import shown_comment_sql
from analysis.domain.filters import Filters
from analysis.domain.periods import period_start_sql
from analysis.stats import estimates as metrics
from analysis.themes.queries.base import (
    HAS_ACTIVE_THEME,
    UNTHEMED,
    commented_where,
    theme_assignments_sql,
    theme_condition,
)
from analysis.themes.queries.table import theme_quotes

SENTIMENT_LABELS = ("negative", "neutral", "positive")
COMMENTS_PAGE_SIZE = 200
SHORT_COMMENT_CHARS = 140
COMMENT_COLUMNS = ["feedback_id", "received_at", "location", "score_type", "score",
                   "sentiment_label", "sentiment_score", "probability", "is_primary", "comment"]
MAP_COLUMNS = ["feedback_id", "x", "y", "theme", "parent", "comment"]


def theme_by_location(db: sqlite_utils.Database, filters: Filters,
                      theme_id: int | None) -> pd.DataFrame:
    """Share of commented feedback mentioning the theme, per location, with Wilson
    intervals and n. `theme_id=None` gives the unthemed share. Highest share first."""
    where, params = commented_where(filters)
    condition, cparams = theme_condition(db, theme_id)
    rows = db.execute(f"""
        SELECT COALESCE(NULLIF(TRIM(f.location), ''), '(no location)') AS location,
               COUNT(*) AS n, SUM({condition}) AS mentions
        FROM feedback f WHERE {where} GROUP BY 1""", cparams + params).fetchall()
    records = []
    for location, n, mentions in rows:
        share = metrics.share_from_counts("Share %", mentions or 0, n)
        records.append({"location": location, "n": n, "mentions": mentions or 0,
                        "share_pct": share.value, "ci_low": share.ci_low,
                        "ci_high": share.ci_high, "method": share.method})
    frame = pd.DataFrame(records, columns=["location", "n", "mentions", "share_pct", "ci_low",
                                           "ci_high", "method"])
    return frame.sort_values(["share_pct", "n"], ascending=False, ignore_index=True)


def theme_share_over_time(db: sqlite_utils.Database, filters: Filters, theme_id: int | None,
                          freq: str = "W") -> pd.DataFrame:
    """Share per period (freq "D", "W" weeks starting Monday, or "M") = mentions /
    commented feedback in that period, with n and a Wilson interval. Periods without
    commented feedback are left out rather than shown as 0%."""
    bucket = period_start_sql(freq)
    where, params = commented_where(filters)
    condition, cparams = theme_condition(db, theme_id)
    rows = db.execute(f"""
        SELECT {bucket} AS period, COUNT(*) AS n, SUM({condition}) AS mentions
        FROM feedback f WHERE {where} GROUP BY 1 ORDER BY 1""", cparams + params).fetchall()
    records = []
    for period, n, mentions in rows:
        if pd.isna(pd.to_datetime(period, errors="coerce")):
            continue  # a stored date that is no real day (30 February): not a period
        share = metrics.share_from_counts("Share %", mentions or 0, n)
        records.append({"period": date.fromisoformat(period), "n": n, "mentions": mentions or 0,
                        "share_pct": share.value, "ci_low": share.ci_low,
                        "ci_high": share.ci_high})
    return pd.DataFrame(records, columns=["period", "n", "mentions", "share_pct", "ci_low",
                                          "ci_high"])


def theme_sentiment_mix(db: sqlite_utils.Database, filters: Filters,
                        theme_id: int | None) -> pd.DataFrame:
    """Comments of the theme per sentiment label (plus "unscored" when some have none)."""
    where, params = commented_where(filters)
    condition, cparams = theme_condition(db, theme_id)
    counts = dict(db.execute(f"""
        SELECT COALESCE(s.label, 'unscored'), COUNT(*) FROM feedback f
        LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE {where} AND {condition} GROUP BY 1""", params + cparams).fetchall())
    labels = list(SENTIMENT_LABELS) + (["unscored"] if counts.get("unscored") else [])
    total = sum(counts.values())
    return pd.DataFrame({
        "label": labels,
        "count": [counts.get(label, 0) for label in labels],
        "share_pct": [counts.get(label, 0) / total * 100 if total else None for label in labels],
    })


def theme_drilldown(db: sqlite_utils.Database, filters: Filters, theme_id: int | None) -> dict:
    """Everything a theme's detail view draws (`theme_id=None`: unthemed comments, which
    have no ranked quotes, so "quotes" is None and the page uses the table's)."""
    return {
        "quotes": theme_quotes(db, filters, theme_id) if theme_id is not None else None,
        "locations": theme_by_location(db, filters, theme_id),
        "weekly": theme_share_over_time(db, filters, theme_id, freq="W"),
        "sentiment": theme_sentiment_mix(db, filters, theme_id),
    }


_WORD = re.compile(r"\w", re.UNICODE)


def fts_query(text: str | None) -> str | None:
    """The user's words as a safe FTS5 query: each word quoted (so AND, OR, NEAR, quotes,
    brackets and colons are plain text), all words required; a trailing * keeps prefix
    search. None when no word is left, meaning "no search"."""
    terms = []
    for raw in (text or "").split():
        prefix = raw.endswith("*")
        word = raw.replace('"', "").rstrip("*")
        if not _WORD.search(word):
            continue
        terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms) or None


def _comments_where(filters, theme_id, search):
    where, params = commented_where(filters)
    if theme_id is None:
        where = f"{where} AND NOT {HAS_ACTIVE_THEME}"
    query = fts_query(search)
    if query:
        where += " AND f.id IN (SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH ?)"
        params.append(query)
    return where, params


def theme_comments(db: sqlite_utils.Database, filters: Filters, theme_id: int | None, *,
                   search: str | None = None, limit: int = COMMENTS_PAGE_SIZE, offset: int = 0,
                   order: str = "probability") -> pd.DataFrame:
    """The theme's comments (`theme_id=None`: unthemed ones), most probable first (or
    `order="recent"`), optionally narrowed by a full-text search of the user's words."""
    where, params = _comments_where(filters, theme_id, search)
    if theme_id is None:
        join, jparams = "", []
        probability = "NULL AS probability, 0 AS is_primary"
    else:
        assigned, jparams = theme_assignments_sql(db, theme_id)
        join = f"JOIN {assigned} ta ON ta.feedback_id = f.id"
        probability = "ta.probability AS probability, ta.is_primary AS is_primary"
    order_sql = ("f.received_at DESC, f.id DESC" if order == "recent" or theme_id is None
                 else "ta.probability DESC, f.received_at DESC, f.id DESC")
    rows = db.query(f"""
        SELECT f.id AS feedback_id, f.received_at, f.location, f.score_type, f.score,
               s.label AS sentiment_label, s.score AS sentiment_score, {probability},
               {shown_comment_sql()} AS comment
        FROM feedback f {join}
        LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?""",
        jparams + params + [int(limit), int(offset)])
    frame = pd.DataFrame(list(rows), columns=COMMENT_COLUMNS)
    # A stored date that is no real moment shows as empty (NaT), not as a page error.
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True, errors="coerce")
    return frame


def theme_comment_count(db: sqlite_utils.Database, filters: Filters, theme_id: int | None, *,
                        search: str | None = None) -> int:
    """How many comments `theme_comments` would page through."""
    where, params = _comments_where(filters, theme_id, search)
    if theme_id is None:
        sql = f"SELECT COUNT(*) FROM feedback f WHERE {where}"
    else:
        assigned, jparams = theme_assignments_sql(db, theme_id)
        sql = f"SELECT COUNT(*) FROM feedback f JOIN {assigned} ta ON ta.feedback_id = f.id " \
              f"WHERE {where}"
        params = jparams + params
    return db.execute(sql, params).fetchone()[0]


def theme_comments_page(db: sqlite_utils.Database, filters: Filters, theme_id: int | None,
                        search: str, offset: int) -> tuple[pd.DataFrame, int]:
    """One page of `theme_comments` and the count of all matching comments; an empty
    search means no search."""
    return (theme_comments(db, filters, theme_id, search=search or None, offset=offset),
            theme_comment_count(db, filters, theme_id, search=search or None))


@dataclass(frozen=True)
class MapPoints:
    frame: pd.DataFrame  # MAP_COLUMNS
    total: int           # points matching the filters before sampling

    @property
    def sampled(self) -> bool:
        return self.total > len(self.frame)


def comment_map_points(db: sqlite_utils.Database, filters: Filters, *,
                       limit: int = 20000) -> MapPoints:
    """2-D positions of comments (from the active model's `comment_map`) with their primary
    theme's name and its parent's ("Unthemed" without one) and a short comment. Above `limit` points, a
    fixed pseudo-random sample (the same one every time, so the map does not jump)."""
    where, params = commented_where(filters)
    model = db.execute("""SELECT COALESCE(
        (SELECT id FROM theme_models WHERE is_active = 1 ORDER BY id DESC LIMIT 1),
        (SELECT MAX(model_id) FROM comment_map))""").fetchone()[0]
    if model is None:
        return MapPoints(pd.DataFrame(columns=MAP_COLUMNS), 0)
    joins = "FROM comment_map cm JOIN feedback f ON f.id = cm.feedback_id"
    total = db.execute(f"SELECT COUNT(*) {joins} WHERE cm.model_id = ? AND {where}",
                       [model] + params).fetchone()[0]
    order = "f.id" if total <= limit else "(f.id * 2654435761) % 4294967296"
    rows = db.execute(f"""
        SELECT f.id, cm.x, cm.y, COALESCE(pt.theme, ?), COALESCE(pt.parent, pt.theme, ?),
               SUBSTR(f.comment, 1, ?)
        {joins}
        LEFT JOIN (SELECT ta.feedback_id, t.name AS theme, p.name AS parent
                   FROM theme_assignments ta JOIN themes t ON t.id = ta.theme_id
                   LEFT JOIN themes p ON p.id = t.parent_id AND p.status = 'active'
                   WHERE ta.is_primary = 1 AND t.status = 'active') pt
          ON pt.feedback_id = f.id
        WHERE cm.model_id = ? AND {where} ORDER BY {order} LIMIT ?""",
        [UNTHEMED, UNTHEMED, SHORT_COMMENT_CHARS, model] + params + [int(limit)]).fetchall()
    return MapPoints(pd.DataFrame(rows, columns=MAP_COLUMNS), total)

"""Read-only figures for the Themes explorer: theme table, drill-downs, comment search, map.

    table = theme_table(db, Filters(start=date(2025, 3, 1), end=date(2025, 3, 31)))
    table.frame            # one row per active theme, plus "Unthemed"
    table.period.note      # which periods the "change" column compares

Definitions the page and any later report rely on:
- *Commented feedback* is feedback whose comment is not blank; it is the denominator of
  every share here (a theme can only be found in a comment).
- A *mention* of a theme is one assignment row, primary or secondary: a comment about
  queues and about staff counts once for each, so shares across themes add up to more
  than 100%. `primary_mentions` counts primary assignments only.
- Only `active` themes are shown; *Unthemed* is commented feedback with no assignment to
  an active theme, shown as its own row so the table never hides what the model missed.
- *Deduplicated mentions* count near-duplicate comments (`near_duplicates`) once, under
  their canonical comment; *customers* counts distinct `customer_key` (unknown customers,
  whose key is NULL, are not counted).

Everything aggregates in SQL so the page stays fast at 100,000 rows; pandas only holds the
aggregated result (one row per theme, location or week). Every comparison carries its
test and p-value (`metrics.Difference`), every share its Wilson interval and n.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import pandas as pd
import sqlite_utils
from scipy import stats

from analysis import store
from analysis.domain.dates import valid_date_sql
from analysis.domain.filters import Filters
from analysis.stats import estimates as metrics

DEFAULT_WINDOW_DAYS = 28
UNTHEMED = "Unthemed"
SHORT_COMMENT_CHARS = 140

COMMENTED = "(f.comment IS NOT NULL AND TRIM(f.comment) != '')"
# Queries below write `feedback f CROSS JOIN theme_assignments ta`: SQLite then always drives
# from the filtered feedback rows (date index, then assignment primary key), instead of
# walking assignments theme by theme and jumping around the feedback table, which is
# several times slower at 100,000 rows.
# Assignments to merged or retired themes do not count: their comments belong elsewhere now.
_HAS_ACTIVE_THEME = """EXISTS (
    SELECT 1 FROM theme_assignments ta0 JOIN themes t0 ON t0.id = ta0.theme_id
    WHERE ta0.feedback_id = f.id AND t0.status = 'active')"""
_FREQ_BUCKETS = {
    "D": "date(f.received_at)",
    # Monday on or before the day: step back six days, then forward to the next Monday.
    "W": "date(f.received_at, '-6 days', 'weekday 1')",
    "M": "date(f.received_at, 'start of month')",
}


# --------------------------------------------------------------------------- periods

@dataclass(frozen=True)
class Period:
    """The two periods a "change" compares, and a sentence saying which they are."""

    current: Filters
    previous: Filters
    explicit: bool  # True when the user chose the dates; False when a default window was used
    note: str


def comparison_period(db: sqlite_utils.Database, filters: Filters, *,
                      now: datetime | None = None) -> Period:
    """filters.start..end vs the equally long period before; without a full date range,
    the last 28 days (to `now`, else to the latest matching feedback) vs the 28 before."""
    if filters.start and filters.end:
        previous = filters.previous_period()
        assert previous is not None
        return Period(filters, previous, True,
                      f"Change compares {_span(filters)} with {_span(previous)}.")
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
    days = (end - start).days + 1
    return Period(current, previous, False,
                  f"No full date range selected: change compares the last {days} days "
                  f"({_span(current)}) with the {days} days before ({_span(previous)}).")


def _span(f: Filters) -> str:
    return f"{f.start.isoformat()} to {f.end.isoformat()}"


# --------------------------------------------------------------------------- statistics

def two_proportion_test(name: str, hits: int, n: int, prev_hits: int,
                        prev_n: int) -> metrics.Difference:
    """Current minus previous share in percentage points: pooled two-proportion z test
    (as statsmodels' proportions_ztest) for the p-value, Wald 95% interval for the change."""
    test = "two-proportion z test (pooled), Wald 95% interval"
    if n == 0 or prev_n == 0:
        return metrics.Difference(name, None, None, None, None, test)
    p1, p0 = hits / n, prev_hits / prev_n
    diff = (p1 - p0) * 100
    pooled = (hits + prev_hits) / (n + prev_n)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / prev_n))
    # Both shares 0% or both 100%: no variation, and no evidence of any change.
    p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(p1 - p0) / se_pooled))
    se = math.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / prev_n) * 100
    return metrics.Difference(name, diff, diff - metrics.Z95 * se, diff + metrics.Z95 * se,
                              p_value, test)


# --------------------------------------------------------------------------- helpers

def _base(filters: Filters) -> tuple[str, list]:
    where, params = filters.where_sql()
    return f"({where}) AND {COMMENTED}", list(params)


def _theme_condition(theme_id: int | None) -> tuple[str, list]:
    """SQL over `feedback f`: the comment mentions the theme (None: has no active theme)."""
    if theme_id is None:
        return f"NOT {_HAS_ACTIVE_THEME}", []
    return ("EXISTS (SELECT 1 FROM theme_assignments tx WHERE tx.feedback_id = f.id "
            "AND tx.theme_id = ?)"), [int(theme_id)]


def _rows(db, sql: str, params) -> list[dict]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _keywords(raw: str | None) -> list[str]:
    try:
        words = json.loads(raw or "[]")
    except (TypeError, ValueError):
        return []
    if not isinstance(words, list):
        return []
    # Models store either plain words or [word, weight] pairs.
    return [str(w[0] if isinstance(w, (list, tuple)) and w else w) for w in words]


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def _commented_count(db, filters: Filters) -> int:
    where, params = _base(filters)
    return db.execute(f"SELECT COUNT(*) FROM feedback f WHERE {where}", params).fetchone()[0]


def _mentions_by_theme(db, filters: Filters) -> tuple[dict[int, int], int, int]:
    """(mentions per active theme, unthemed count, commented count) for one period."""
    where, params = _base(filters)
    per_theme = dict(db.execute(
        f"""SELECT ta.theme_id, COUNT(*) FROM feedback f
            CROSS JOIN theme_assignments ta ON ta.feedback_id = f.id
            JOIN themes t ON t.id = ta.theme_id AND t.status = 'active'
            WHERE {where} GROUP BY ta.theme_id""", params).fetchall())
    commented, themed = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM({_HAS_ACTIVE_THEME}), 0) FROM feedback f WHERE {where}",
        params).fetchone()
    return per_theme, commented - themed, commented


# --------------------------------------------------------------------------- theme table

@dataclass(frozen=True)
class ThemeTable:
    frame: pd.DataFrame
    commented: int   # commented feedback matching the filters: the denominator of `share_pct`
    period: Period


THEME_TABLE_COLUMNS = [
    "theme_id", "name", "is_unthemed", "mentions", "primary_mentions", "dedup_mentions",
    "customers", "share_pct", "share_ci_low", "share_ci_high",
    "change_pts", "change_ci_low", "change_ci_high", "change_p_value", "change_test",
    "period_share_pct", "previous_share_pct", "sentiment_mean", "sentiment_n",
    "nps", "nps_ci_low", "nps_ci_high", "nps_n", "keywords", "quotes",
]


def theme_table(db: sqlite_utils.Database, filters: Filters, *,
                now: datetime | None = None) -> ThemeTable:
    """One row per active theme (most mentioned first) and a last "Unthemed" row.

    Mentions count primary and secondary assignments. Share = mentions / commented
    feedback under the filters. The change in share compares `comparison_period`.
    """
    where, params = _base(filters)
    commented = _commented_count(db, filters)
    themes = _rows(db, "SELECT id, name, keywords FROM themes WHERE status = 'active'", [])

    stats_sql = f"""
        COUNT(*) AS mentions,
        COUNT(DISTINCT COALESCE(nd.canonical_id, f.id)) AS dedup_mentions,
        COUNT(DISTINCT f.customer_key) AS customers,
        AVG(s.score) AS sentiment_mean,
        COUNT(s.feedback_id) AS sentiment_n,
        {metrics.SQL_COUNTS}"""
    per_theme = {r["theme_id"]: r for r in _rows(db, f"""
        SELECT ta.theme_id AS theme_id, SUM(ta.is_primary) AS primary_mentions, {stats_sql}
        FROM feedback f
        CROSS JOIN theme_assignments ta ON ta.feedback_id = f.id
        JOIN themes t ON t.id = ta.theme_id AND t.status = 'active'
        LEFT JOIN near_duplicates nd ON nd.feedback_id = f.id
        LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE {where} GROUP BY ta.theme_id""", params)}
    unthemed = _rows(db, f"""
        SELECT 0 AS primary_mentions, {stats_sql}
        FROM feedback f
        LEFT JOIN near_duplicates nd ON nd.feedback_id = f.id
        LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE {where} AND NOT {_HAS_ACTIVE_THEME}""", params)[0]

    period = comparison_period(db, filters, now=now)
    if period.explicit:  # the current period is the filtered one: reuse its counts
        cur_mentions = {tid: r["mentions"] for tid, r in per_theme.items()}
        cur_unthemed, cur_n = unthemed["mentions"], commented
    else:
        cur_mentions, cur_unthemed, cur_n = _mentions_by_theme(db, period.current)
    prev_mentions, prev_unthemed, prev_n = _mentions_by_theme(db, period.previous)
    quotes = _top_quotes(db, filters)

    records = []
    for theme in themes:
        tid = theme["id"]
        records.append(_table_row(
            tid, theme["name"], False, per_theme.get(tid, {}), commented,
            (cur_mentions.get(tid, 0), cur_n, prev_mentions.get(tid, 0), prev_n),
            _keywords(theme["keywords"]), quotes.get(tid, [])))
    records.sort(key=lambda r: (-r["mentions"], r["name"].casefold(), r["theme_id"]))
    records.append(_table_row(
        None, UNTHEMED, True, unthemed if unthemed["mentions"] else {}, commented,
        (cur_unthemed, cur_n, prev_unthemed, prev_n), [], _unthemed_quotes(db, filters)))

    frame = pd.DataFrame.from_records(records, columns=THEME_TABLE_COLUMNS)
    frame["theme_id"] = frame["theme_id"].astype("Int64")
    return ThemeTable(frame, commented, period)


def _table_row(theme_id, name, is_unthemed, row: dict, commented: int, change_counts,
               keywords: list[str], quotes: list[str]) -> dict:
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
        "keywords": keywords, "quotes": quotes,
    }


def _dedup_texts(rows, k: int) -> dict:
    """Keep the first k rows per group whose normalised text has not been seen yet."""
    out: dict = {}
    seen: dict = {}
    for group, text in rows:
        texts = out.setdefault(group, [])
        norm = _normalise(text)
        if len(texts) < k and norm not in seen.setdefault(group, set()):
            seen[group].add(norm)
            texts.append(text)
    return out


def _top_quotes(db, filters: Filters, k: int = 3, candidates: int = 24) -> dict[int, list[str]]:
    """Per active theme, the k most probable comments, one per near-duplicate cluster.

    One window sort picks each theme's `candidates` most probable comments; clusters and
    repeated texts are collapsed in Python on that short list (a second window over every
    (theme, cluster) pair costs seconds at 100,000 rows)."""
    where, params = _base(filters)
    # Only ids go through the sort; comment text is fetched for the few rows kept.
    rows = db.execute(f"""
        SELECT w.theme_id, COALESCE(nd.canonical_id, w.id) AS canon, fc.comment FROM (
            SELECT ta.theme_id, f.id,
                   ROW_NUMBER() OVER (PARTITION BY ta.theme_id
                                      ORDER BY ta.probability DESC, f.id) AS r
            FROM feedback f
            CROSS JOIN theme_assignments ta ON ta.feedback_id = f.id
            JOIN themes t ON t.id = ta.theme_id AND t.status = 'active'
            WHERE {where}) w
        JOIN feedback fc ON fc.id = w.id
        LEFT JOIN near_duplicates nd ON nd.feedback_id = w.id
        WHERE w.r <= ? ORDER BY w.theme_id, w.r""", params + [candidates]).fetchall()
    seen_canon: dict[int, set] = {}
    kept = []
    for theme_id, canon, comment in rows:
        if canon not in seen_canon.setdefault(theme_id, set()):
            seen_canon[theme_id].add(canon)
            kept.append((theme_id, comment))
    return _dedup_texts(kept, k)


def _unthemed_quotes(db, filters: Filters, k: int = 3) -> list[str]:
    """Most recent distinct unthemed comments: no probability to rank them by."""
    where, params = _base(filters)
    rows = db.execute(f"""
        SELECT 0, f.comment FROM feedback f
        WHERE {where} AND NOT {_HAS_ACTIVE_THEME}
          AND NOT EXISTS (SELECT 1 FROM near_duplicates nd
                          WHERE nd.feedback_id = f.id AND nd.canonical_id != f.id)
        ORDER BY f.received_at DESC, f.id DESC LIMIT ?""", params + [k * 4]).fetchall()
    return _dedup_texts(rows, k).get(0, [])


def theme_quotes(db: sqlite_utils.Database, filters: Filters, theme_id: int,
                 k: int = 3) -> pd.DataFrame:
    """The representative quotes of one theme with their feedback ids (for drill-down)."""
    where, params = _base(filters)
    rows = _rows(db, f"""
        WITH m AS (
            SELECT f.id AS feedback_id, f.comment, ta.probability,
                   ROW_NUMBER() OVER (PARTITION BY COALESCE(nd.canonical_id, f.id)
                                      ORDER BY ta.probability DESC, f.id) AS in_cluster
            FROM feedback f
            JOIN theme_assignments ta ON ta.feedback_id = f.id AND ta.theme_id = ?
            LEFT JOIN near_duplicates nd ON nd.feedback_id = f.id
            WHERE {where})
        SELECT feedback_id, comment, probability FROM m WHERE in_cluster = 1
        ORDER BY probability DESC, feedback_id LIMIT ?""", [int(theme_id)] + params + [k * 4])
    kept, seen = [], set()
    for row in rows:
        norm = _normalise(row["comment"])
        if norm not in seen and len(kept) < k:
            seen.add(norm)
            kept.append(row)
    return pd.DataFrame(kept, columns=["feedback_id", "comment", "probability"])


# --------------------------------------------------------------------------- drill-downs

def theme_by_location(db: sqlite_utils.Database, filters: Filters,
                      theme_id: int | None) -> pd.DataFrame:
    """Share of commented feedback mentioning the theme, per location, with Wilson
    intervals and n. `theme_id=None` gives the unthemed share. Highest share first."""
    where, params = _base(filters)
    condition, cparams = _theme_condition(theme_id)
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
    if freq not in _FREQ_BUCKETS:
        raise ValueError(f"freq must be one of {sorted(_FREQ_BUCKETS)}, got {freq!r}")
    where, params = _base(filters)
    condition, cparams = _theme_condition(theme_id)
    rows = db.execute(f"""
        SELECT {_FREQ_BUCKETS[freq]} AS period, COUNT(*) AS n, SUM({condition}) AS mentions
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


SENTIMENT_LABELS = ("negative", "neutral", "positive")


def theme_sentiment_mix(db: sqlite_utils.Database, filters: Filters,
                        theme_id: int | None) -> pd.DataFrame:
    """Comments of the theme per sentiment label (plus "unscored" when some have none)."""
    where, params = _base(filters)
    condition, cparams = _theme_condition(theme_id)
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


COMMENT_COLUMNS = ["feedback_id", "received_at", "location", "score_type", "score",
                   "sentiment_label", "sentiment_score", "probability", "is_primary", "comment"]


def _comments_where(filters, theme_id, search):
    where, params = _base(filters)
    if theme_id is None:
        condition, cparams = _theme_condition(None)
        where, params = f"{where} AND {condition}", params + cparams
    query = fts_query(search)
    if query:
        where += " AND f.id IN (SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH ?)"
        params.append(query)
    return where, params


def theme_comments(db: sqlite_utils.Database, filters: Filters, theme_id: int | None, *,
                   search: str | None = None, limit: int = 200, offset: int = 0,
                   order: str = "probability") -> pd.DataFrame:
    """The theme's comments (`theme_id=None`: unthemed ones), most probable first (or
    `order="recent"`), optionally narrowed by a full-text search of the user's words."""
    where, params = _comments_where(filters, theme_id, search)
    if theme_id is None:
        join, jparams = "", []
        probability = "NULL AS probability, 0 AS is_primary"
    else:
        join = "JOIN theme_assignments ta ON ta.feedback_id = f.id AND ta.theme_id = ?"
        jparams = [int(theme_id)]
        probability = "ta.probability AS probability, ta.is_primary AS is_primary"
    order_sql = ("f.received_at DESC, f.id DESC" if order == "recent" or theme_id is None
                 else "ta.probability DESC, f.received_at DESC, f.id DESC")
    rows = _rows(db, f"""
        SELECT f.id AS feedback_id, f.received_at, f.location, f.score_type, f.score,
               s.label AS sentiment_label, s.score AS sentiment_score, {probability},
               f.comment
        FROM feedback f {join}
        LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE {where} ORDER BY {order_sql} LIMIT ? OFFSET ?""",
        jparams + params + [int(limit), int(offset)])
    frame = pd.DataFrame(rows, columns=COMMENT_COLUMNS)
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
        sql = (f"SELECT COUNT(*) FROM feedback f JOIN theme_assignments ta "
               f"ON ta.feedback_id = f.id AND ta.theme_id = ? WHERE {where}")
        params = [int(theme_id)] + params
    return db.execute(sql, params).fetchone()[0]


# --------------------------------------------------------------------------- map and choices

@dataclass(frozen=True)
class MapPoints:
    frame: pd.DataFrame  # feedback_id, x, y, theme, comment
    total: int           # points matching the filters before sampling

    @property
    def sampled(self) -> bool:
        return self.total > len(self.frame)


def comment_map_points(db: sqlite_utils.Database, filters: Filters, *,
                       limit: int = 20000) -> MapPoints:
    """2-D positions of comments (from the active model's `comment_map`) with their primary
    theme's name ("Unthemed" without one) and a short comment. Above `limit` points, a
    fixed pseudo-random sample (the same one every time, so the map does not jump)."""
    where, params = _base(filters)
    model = db.execute("""SELECT COALESCE(
        (SELECT id FROM theme_models WHERE is_active = 1 ORDER BY id DESC LIMIT 1),
        (SELECT MAX(model_id) FROM comment_map))""").fetchone()[0]
    columns = ["feedback_id", "x", "y", "theme", "comment"]
    if model is None:
        return MapPoints(pd.DataFrame(columns=columns), 0)
    joins = "FROM comment_map cm JOIN feedback f ON f.id = cm.feedback_id"
    total = db.execute(f"SELECT COUNT(*) {joins} WHERE cm.model_id = ? AND {where}",
                       [model] + params).fetchone()[0]
    order = "f.id" if total <= limit else "(f.id * 2654435761) % 4294967296"
    rows = db.execute(f"""
        SELECT f.id, cm.x, cm.y,
               COALESCE((SELECT t.name FROM theme_assignments ta JOIN themes t ON t.id = ta.theme_id
                         WHERE ta.feedback_id = f.id AND ta.is_primary = 1
                           AND t.status = 'active' LIMIT 1), ?),
               SUBSTR(f.comment, 1, ?)
        {joins} WHERE cm.model_id = ? AND {where} ORDER BY {order} LIMIT ?""",
        [UNTHEMED, SHORT_COMMENT_CHARS, model] + params + [int(limit)]).fetchall()
    return MapPoints(pd.DataFrame(rows, columns=columns), total)


def theme_choices(db: sqlite_utils.Database) -> dict[int, str]:
    """Active themes, id -> name, ordered by name, for select boxes."""
    rows = db.execute("SELECT id, name FROM themes WHERE status = 'active' "
                      "ORDER BY name COLLATE NOCASE, id").fetchall()
    return {tid: name for tid, name in rows}


def theme_status(db: sqlite_utils.Database) -> dict:
    """What exists yet, so a page can tell an empty store from one awaiting a refresh."""
    row = db.execute(f"""SELECT
        (SELECT COUNT(*) FROM feedback),
        (SELECT COUNT(*) FROM feedback f WHERE {COMMENTED}),
        (SELECT COUNT(*) FROM themes WHERE status = 'active'),
        (SELECT COUNT(DISTINCT feedback_id) FROM theme_assignments),
        (SELECT MAX(assigned_at) FROM theme_assignments)""").fetchone()
    return {"feedback": row[0], "commented": row[1], "themes": row[2],
            "assigned": row[3], "last_assigned_at": row[4]}


# --------------------------------------------------------------------------- page helpers
# Reads, shaping and wording for the Themes and Theme quality pages, kept here so the pages
# hold widgets only. Select boxes key themes by text: the theme id as a string, or
# UNTHEMED_KEY.

UNTHEMED_KEY = "unthemed"
COMMENTS_PAGE_SIZE = 200
TOP_THEMES = 25
KEYWORDS_SHOWN = 6


def filters_key(filters: Filters | None) -> str:
    """The filters as a JSON string: hashable, so a page can key its caches on it, and
    decoded back exactly by `read_filtered`. Anything but a Filters means no filter."""
    filters = filters if isinstance(filters, Filters) else Filters()
    return json.dumps(filters.to_query_params(), sort_keys=True)


def read(db_path: str, fn, *args, **kwargs):
    """fn(db, *args, **kwargs) on a connection opened for this one read and closed after
    (pages cache the result, not the connection)."""
    db = store.connect(db_path)
    try:
        return fn(db, *args, **kwargs)
    finally:
        db.close()


def read_filtered(db_path: str, key: str, fn, *args):
    """fn(db, filters, *args) with the filters decoded from their `filters_key`."""
    return read(db_path, fn, Filters.from_query_params(json.loads(key)), *args)


def theme_header_figures(db: sqlite_utils.Database) -> dict:
    """What the page header shows: `theme_status`, the audited theme accuracy (an
    `Estimate`, or None) and the latest sentiment classifier's cross-validated accuracy."""
    figures = {"status": theme_status(db), "accuracy": None, "sentiment_cv": None}
    # Both modules are optional in a trimmed installation: the header then says so.
    try:
        from analysis.themes import admin as theme_admin
        figures["accuracy"] = theme_admin.audited_accuracy(db)
    except ImportError:
        pass
    try:
        from analysis.text import sentiment
        run = sentiment.latest_run(db, with_classifier=True)
        figures["sentiment_cv"] = run.get("cv_accuracy") if run else None
    except ImportError:
        pass
    return figures


def theme_drilldown(db: sqlite_utils.Database, filters: Filters, theme_id: int | None) -> dict:
    """Everything a theme's detail view draws (`theme_id=None`: unthemed comments, which
    have no ranked quotes, so "quotes" is None and the page uses the table's)."""
    return {
        "quotes": theme_quotes(db, filters, theme_id) if theme_id is not None else None,
        "locations": theme_by_location(db, filters, theme_id),
        "weekly": theme_share_over_time(db, filters, theme_id, freq="W"),
        "sentiment": theme_sentiment_mix(db, filters, theme_id),
    }


def theme_comments_page(db: sqlite_utils.Database, filters: Filters, theme_id: int | None,
                        search: str, offset: int) -> tuple[pd.DataFrame, int]:
    """One page of `theme_comments` and the count of all matching comments; an empty
    search means no search."""
    return (theme_comments(db, filters, theme_id, search=search or None, offset=offset),
            theme_comment_count(db, filters, theme_id, search=search or None))


def format_pct(value, digits: int = 0) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}%"


def header_metrics(figures: dict) -> list[tuple[str, str, str | None]]:
    """(label, value, help) of the page header's three metrics, from `theme_header_figures`."""
    accuracy, cv, status = figures["accuracy"], figures["sentiment_cv"], figures["status"]
    if accuracy is not None and accuracy.value is not None:
        interval = (f"{accuracy.method}: 95% interval {format_pct(accuracy.ci_low)} to "
                    f"{format_pct(accuracy.ci_high)}, {accuracy.n} audited comments.")
        audited = (format_pct(accuracy.value), interval)
    else:
        audited = ("no audits yet",
                   "Audit a theme on the Theme quality page to measure it.")
    return [
        ("Audited theme accuracy", *audited),
        ("Sentiment classifier accuracy",
         "not available" if cv is None else f"{cv * 100:.0f}%",
         "Cross-validated accuracy of the latest sentiment classifier."),
        ("Comments with a theme", f"{status['assigned']:,} of {status['commented']:,}", None),
    ]


def theme_id_from_key(key: str | None) -> int | None:
    return None if key in (None, UNTHEMED_KEY) else int(key)


def theme_names_by_key(frame: pd.DataFrame) -> dict[str, str]:
    """Select-box key -> theme name for the rows of a theme table frame, in table order."""
    keys = [UNTHEMED_KEY if unthemed else str(int(tid))
            for tid, unthemed in zip(frame["theme_id"], frame["is_unthemed"])]
    return dict(zip(keys, frame["name"]))


def with_nps_interval(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a theme table frame with "nps_interval" as text ("" without an interval)."""
    frame = frame.copy()
    frame["nps_interval"] = [
        "" if pd.isna(lo) else f"{lo:.0f} to {hi:.0f} (n={n})"
        for lo, hi, n in zip(frame["nps_ci_low"], frame["nps_ci_high"], frame["nps_n"])]
    return frame


# Column wording and formats of the pages' tables, as plain data: a page turns each into a
# Streamlit column config ("kind" names the column type; the rest are its arguments).
THEME_LIST_SPEC = {
    "name": {"kind": "text", "label": "Theme"},
    "mentions": {"kind": "number", "label": "Mentions", "help": "Primary and secondary."},
    "dedup_mentions": {"kind": "number", "label": "Mentions (dedup.)",
                       "help": "Near-duplicate comments counted once."},
    "customers": {"kind": "number", "label": "Customers", "help": "Distinct known customers."},
    "share_pct": {"kind": "number", "label": "Share %", "format": "%.1f",
                  "help": "Mentions / commented feedback (themes overlap)."},
    "change_pts": {"kind": "number", "label": "Change (pts)", "format": "%+.1f",
                   "help": "Share change vs the previous period."},
    "change_p_value": {"kind": "number", "label": "p-value", "format": "%.3f",
                       "help": "Two-proportion z test of the change."},
    "sentiment_mean": {"kind": "number", "label": "Sentiment", "format": "%+.2f",
                       "help": "Mean sentiment score, -1 to 1."},
    "nps": {"kind": "number", "label": "NPS", "format": "%.0f"},
    "nps_interval": {"kind": "text", "label": "NPS 95% interval"},
    "keywords": {"kind": "text", "label": "Keywords"},
}
THEME_LIST_COLUMNS = list(THEME_LIST_SPEC)
COMMENT_LIST_SPEC = {
    "received_at": {"kind": "date", "label": "Date", "format": "YYYY-MM-DD"},
    "location": {"kind": "text", "label": "Location"},
    "score": {"kind": "number", "label": "Score"},
    "sentiment_label": {"kind": "text", "label": "Sentiment"},
    "probability": {"kind": "number", "label": "Probability", "format": "%.2f"},
    "comment": {"kind": "text", "label": "Comment", "width": "large"},
}


@dataclass(frozen=True)
class ThemeListView:
    """The rows of a theme table the page draws, and which theme each row is."""

    frame: pd.DataFrame  # THEME_LIST_COLUMNS only: quotes and intervals stay server side
    keys: list[str]      # select-box key of each row, in row order
    note: str            # which themes are shown, in our own words (never the search text)


def theme_list_view(frame: pd.DataFrame, *, search: str = "", show_all: bool = False,
                    limit: int = TOP_THEMES) -> ThemeListView:
    """The `limit` largest themes of a theme table frame (all with `show_all`), or the
    themes whose name or keywords hold every word of `search`; the Unthemed row always
    stays last, so the table never hides what the model missed.

    A browser draws a few hundred rows with list columns noticeably slower than 25, and
    the hidden columns (three quotes per theme) would be sent for nothing. Keywords become
    one text cell of the first `KEYWORDS_SHOWN`."""
    themes = frame[~frame["is_unthemed"].astype(bool)]
    total = len(themes)
    words = _normalise(search or "").split()
    if words:
        haystacks = [_normalise(f"{name} {' '.join(keywords)}")
                     for name, keywords in zip(themes["name"], themes["keywords"])]
        shown = themes[[all(w in h for w in words) for h in haystacks]]
        note = f"{len(shown):,} of {total:,} themes match the search."
    elif show_all or total <= limit:
        shown, note = themes, f"All {total:,} themes, largest first."
    else:
        shown = themes.head(limit)
        note = (f"The {limit} largest of {total:,} themes. Find a theme by name or keyword, "
                f"or show them all.")
    rows = with_nps_interval(pd.concat([shown, frame[frame["is_unthemed"].astype(bool)]]))
    # Keywords as one text cell: a browser draws list cells (bubbles) markedly slower.
    rows["keywords"] = [", ".join(words[:KEYWORDS_SHOWN]) for words in rows["keywords"]]
    return ThemeListView(rows[THEME_LIST_COLUMNS].reset_index(drop=True),
                         list(theme_names_by_key(rows)), note)


def table_click(keys: list[str], rows: list[int], table_key: str,
                last: tuple | None) -> tuple[tuple, str | None]:
    """A row selection in a table whose rows are `keys`: (what to remember of it, the key
    it newly picked or None). Only a new click picks: a rerun that reports the same
    selection must not undo a choice made elsewhere since. The table's key is part of
    the click because it changes with the rows, and with them what a row number means."""
    picked = keys[rows[0]] if rows and 0 <= rows[0] < len(keys) else None
    click = (table_key, picked)
    return click, (picked if click != last else None)


def theme_list_caption(table: ThemeTable) -> str:
    return (f"Shares are of {table.commented:,} commented responses; a comment can carry "
            f"several themes, so shares add up to more than 100%. {table.period.note} "
            f"Unthemed: comments no theme fits yet.")


def coverage_summary(status: dict) -> str:
    """How much of the commented feedback has a theme, from `theme_status`."""
    share = status["assigned"] / status["commented"] * 100 if status["commented"] else None
    return (f"{status['assigned']:,} of {status['commented']:,} commented responses have a "
            f"theme ({format_pct(share)}). Audited accuracy, seed themes and corrections: "
            f"see the Theme quality page.")


def theme_row(frame: pd.DataFrame, theme_id: int | None) -> pd.Series | None:
    """The theme table row of a theme (None: the Unthemed row), or None if it is gone."""
    # theme_id is a nullable Int64 column: the Unthemed row compares as NA.
    mask = (frame["is_unthemed"] if theme_id is None
            else frame["theme_id"].eq(theme_id).fillna(False).astype(bool))
    rows = frame[mask]
    return None if rows.empty else rows.iloc[0]


def share_summary(row: pd.Series) -> str:
    return (f"{int(row['mentions']):,} mentions, {format_pct(row['share_pct'], 1)} of "
            f"commented feedback (95% interval {format_pct(row['share_ci_low'], 1)} to "
            f"{format_pct(row['share_ci_high'], 1)}).")


def change_summary(row: pd.Series) -> str | None:
    """The change in share with its interval and test, or None when there is no change."""
    if row["change_pts"] is None or pd.isna(row["change_pts"]):
        return None
    return (f"Change vs previous period: {row['change_pts']:+.1f} points "
            f"(95% interval {row['change_ci_low']:+.1f} to {row['change_ci_high']:+.1f}; "
            f"{row['change_test']}, p = {row['change_p_value']:.3g}).")


def comments_offset(page: int) -> int:
    """Offset of a 1-based page of comments."""
    return (int(page) - 1) * COMMENTS_PAGE_SIZE


def comments_summary(total: int, shown: int, page: int) -> str:
    first = comments_offset(page) + 1 if shown else 0
    return f"{total:,} comments; showing {shown:,} from number {first:,}."


def merge_candidates(frame: pd.DataFrame, theme_id: int) -> dict[int, str]:
    """Other active themes of a theme table frame (id -> name) that can merge into it."""
    others = frame[~frame["is_unthemed"] & frame["theme_id"].ne(theme_id).fillna(False)]
    return {int(t): str(n) for t, n in zip(others["theme_id"], others["name"])}


def correction_keys(choices: dict[int, str], theme_id: int) -> list[str]:
    """Where a comment wrongly put in `theme_id` can go: no theme, or another theme."""
    return [UNTHEMED_KEY] + [str(t) for t in choices if t != theme_id]


def running_theme_job_id(db_path: str) -> int | None:
    """The newest theme job recorded as running, whoever started it (another session, the
    CLI from cron). A plain read: polling it through `job_progress` is what declares a dead
    one interrupted, so the page never waits on a job nobody runs."""
    row = read(db_path, lambda db: db.execute(
        "SELECT id FROM jobs WHERE kind = 'themes' AND status = 'running' "
        "ORDER BY id DESC LIMIT 1").fetchone())
    return row[0] if row else None


def job_progress(db_path: str, job_id: int) -> tuple[str, float, str]:
    """`job_view` of a theme refresh job, read from the store at `db_path`."""
    from analysis import themes  # heavy (BERTopic); only a page polling a job needs it

    return job_view(read(db_path, themes.job_status, job_id))


NO_FEEDBACK = ("No feedback yet. Import a file on the Import page, or load the demo data "
               "(`python -m analysis demo`), then run a theme refresh here.")
NO_THEMES = ("No themes yet. Click “Refresh themes” above to find the themes in your "
             "comments (the first run fits the model and can take a few minutes).")
NO_COMMENTS = ("No commented feedback matches the current filters. Widen the filters in "
               "the sidebar.")


def empty_message(status: dict, commented: int | None) -> str | None:
    """What the Themes page says instead of its explorer, or None when there is something
    to explore: `status` from `theme_status`, `commented` the commented feedback under the
    filters (None when not counted)."""
    if status["feedback"] == 0:
        return NO_FEEDBACK
    if status["themes"] == 0:
        return NO_THEMES
    return NO_COMMENTS if not commented else None


def job_view(status) -> tuple[str, float, str]:
    """(state, progress 0..1, message) of a refresh job status, a dict or an object; a
    missing status reads as failed."""
    def field(name, default=None):
        if status is None:
            return default
        if isinstance(status, dict):
            return status.get(name, default)
        return getattr(status, name, default)

    progress = float(field("progress", 0) or 0)
    return (field("status", "failed"), min(max(progress, 0.0), 1.0),
            str(field("message", "") or ""))


# --------------------------------------------------------------------------- theme quality
# The Theme quality page: how right the themes are (audits), what analysts told the model
# (seed themes) and what they changed (corrections).

def audit_counts(db: sqlite_utils.Database) -> dict:
    """Audited comments, and how many of them were confirmed or corrected (a comment
    audited twice counts once, as `theme_admin.audited_accuracy` counts it)."""
    audited, confirmed = db.execute("""
        SELECT COUNT(*), COALESCE(SUM(ok), 0) FROM (
            SELECT feedback_id, MIN(was_correct) AS ok FROM theme_audits GROUP BY feedback_id)
        """).fetchone()
    return {"audited": audited, "confirmed": confirmed, "corrected": audited - confirmed}


def quality_figures(db: sqlite_utils.Database) -> dict:
    """`theme_header_figures` plus the audit counts: everything the quality page's
    metrics show."""
    return {**theme_header_figures(db), "audits": audit_counts(db)}


SEED_COLUMNS = ["theme_id", "name", "terms", "mentions"]


def seed_theme_frame(db: sqlite_utils.Database) -> pd.DataFrame:
    """Active seed themes (the analysts' taxonomy), oldest first: their guiding terms as a
    list and how many comments the theme holds now."""
    rows = db.execute("""
        SELECT t.id, t.name, t.seed_terms,
               (SELECT COUNT(*) FROM theme_assignments ta WHERE ta.theme_id = t.id)
        FROM themes t WHERE t.is_seed = 1 AND t.status = 'active' ORDER BY t.id""").fetchall()
    return pd.DataFrame([(tid, name, _keywords(terms), n) for tid, name, terms, n in rows],
                        columns=SEED_COLUMNS)


def parse_terms(text: str | None) -> list[str]:
    """Seed terms typed as one per line or separated by commas; blanks and repeats
    (ignoring case) dropped, first spelling kept."""
    terms: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or ""):
        term = " ".join(part.split())
        if term:
            terms.setdefault(term.casefold(), term)
    return list(terms.values())


CORRECTION_COLUMNS = ["at", "actor", "comment", "from_theme", "to_theme"]
NO_THEME = "No theme"


def corrections_frame(db: sqlite_utils.Database, *, limit: int = 200) -> pd.DataFrame:
    """The latest analyst corrections, newest first: which comment moved from which theme
    to which ("No theme" when the analyst said no theme fits), by whom and when."""
    rows = db.execute("""
        SELECT c.at, c.actor, f.comment,
               COALESCE(w.name, ?), COALESCE(r.name, ?)
        FROM theme_corrections c
        JOIN feedback f ON f.id = c.feedback_id
        LEFT JOIN themes w ON w.id = c.wrong_theme_id
        LEFT JOIN themes r ON r.id = c.right_theme_id
        ORDER BY c.at DESC, c.id DESC LIMIT ?""", [NO_THEME, NO_THEME, int(limit)]).fetchall()
    frame = pd.DataFrame(rows, columns=CORRECTION_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


AUDIT_COLUMNS = ["feedback_id", "received_at", "probability", "is_primary", "comment"]


def audit_sample(db: sqlite_utils.Database, theme_id: int, *, limit: int = 20) -> pd.DataFrame:
    """Comments of a theme that nobody has audited yet, in a fixed pseudo-random order.

    Not the most probable first: auditing only the model's surest comments would flatter
    the audited accuracy. The order is the same on every run (a multiplicative hash of the
    id), so the list does not jump while an analyst works through it."""
    rows = db.execute("""
        SELECT f.id, f.received_at, ta.probability, ta.is_primary, f.comment
        FROM theme_assignments ta JOIN feedback f ON f.id = ta.feedback_id
        WHERE ta.theme_id = ? AND NOT EXISTS (
            SELECT 1 FROM theme_audits au WHERE au.feedback_id = f.id)
        ORDER BY (f.id * 2654435761) % 4294967296, f.id LIMIT ?""",
        [int(theme_id), int(limit)]).fetchall()
    frame = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
    # A stored date that is no real moment shows as empty (NaT), not as a page error.
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True, errors="coerce")
    return frame


def corrections_count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COUNT(*) FROM theme_corrections").fetchone()[0]


def quality_metrics(figures: dict) -> list[tuple[str, str, str | None]]:
    """(label, value, help) of the quality page's metrics, from `quality_figures`."""
    audits = figures["audits"]
    accuracy, classifier, coverage = header_metrics(figures)
    return [accuracy,
            ("Audited comments", f"{audits['audited']:,}",
             f"{audits['confirmed']:,} confirmed, {audits['corrected']:,} corrected."),
            classifier, coverage]

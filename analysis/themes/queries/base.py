"""What every theme query shares: the SQL for "commented feedback under the filters" and "the
comment mentions this theme", stored keyword lists, and the store-wide counts both theme
pages start from."""

from __future__ import annotations

import json

import sqlite_utils

from analysis.domain.comments import has_comment_sql
from analysis.domain.filters import Filters
from analysis.themes import JOB_KIND

UNTHEMED = "Unthemed"

CHILD, PARENT = "theme", "parent"
LEVELS = (PARENT, CHILD)
"""Which level of theme a query reads: child themes (what the model found) or their parent
themes (each parent's comments are its children's, each comment once)."""

# Queries write `feedback f CROSS JOIN theme_assignments ta`: SQLite then always drives
# from the filtered feedback rows (date index, then assignment primary key), instead of
# walking assignments theme by theme and jumping around the feedback table, which is
# several times slower at 100,000 rows.
# Assignments to merged or retired themes do not count: their comments belong elsewhere now.
HAS_ACTIVE_THEME = """EXISTS (
    SELECT 1 FROM theme_assignments ta0 JOIN themes t0 ON t0.id = ta0.theme_id
    WHERE ta0.feedback_id = f.id AND t0.status = 'active')"""


def commented_where(filters: Filters) -> tuple[str, list]:
    """SQL over `feedback f`, with its parameters: commented feedback under the filters,
    the denominator of every theme share."""
    where, params = filters.where_sql()
    return f"({where}) AND {has_comment_sql('f')}", list(params)


def assignment_table(level: str) -> str:
    """The table (or view) of assignments at `level`: (feedback_id, theme_id, probability,
    is_primary) rows."""
    if level not in LEVELS:
        raise ValueError(f"unknown theme level {level!r}: use {CHILD!r} or {PARENT!r}")
    return "parent_theme_assignments" if level == PARENT else "theme_assignments"


def assignments_under(level: str, where: str, params: list) -> tuple[str, list]:
    """What to join as `ta` in a query over `feedback f` filtered by `where` (with its
    `params`): the assignments table for child themes; for parents, each (comment, parent)
    pair of the filtered comments, from active children. Filtered first: the view
    aggregates every assignment in the store on each query (0.18 s at 100,000 comments,
    against 0.005 s for a month's comments)."""
    if level == CHILD:
        return "theme_assignments", []
    assignment_table(level)  # checks the level
    return (f"""(SELECT ta0.feedback_id, c0.parent_id AS theme_id,
                        MAX(ta0.probability) AS probability, MAX(ta0.is_primary) AS is_primary
                 FROM feedback f CROSS JOIN theme_assignments ta0 ON ta0.feedback_id = f.id
                 JOIN themes c0 ON c0.id = ta0.theme_id AND c0.status = 'active'
                                AND c0.parent_id IS NOT NULL
                 WHERE {where} GROUP BY ta0.feedback_id, c0.parent_id)"""), list(params)


def theme_members(db: sqlite_utils.Database, theme_id: int) -> list[int]:
    """The child themes whose assignments make up `theme_id`'s comments: itself, or a
    parent's children. Read once per query, so that SQL tests plain ids per comment instead
    of running a subquery per row (which cost a large parent's drill-down seconds)."""
    rows = db.execute("SELECT id FROM themes WHERE id = ? OR (parent_id = ? AND "
                      "status = 'active')", [int(theme_id), int(theme_id)]).fetchall()
    return [r[0] for r in rows] or [int(theme_id)]


def _in_list(ids: list[int]) -> str:
    return f"({', '.join('?' * len(ids))})"


def theme_condition(db: sqlite_utils.Database, theme_id: int | None) -> tuple[str, list]:
    """SQL over `feedback f`: the comment mentions the theme, or one of its children when
    it is a parent (None: has no active theme)."""
    if theme_id is None:
        return f"NOT {HAS_ACTIVE_THEME}", []
    members = theme_members(db, theme_id)
    return ("EXISTS (SELECT 1 FROM theme_assignments tx WHERE tx.feedback_id = f.id "
            f"AND tx.theme_id IN {_in_list(members)})"), members


def theme_assignments_sql(db: sqlite_utils.Database, theme_id: int) -> tuple[str, list]:
    """A derived table (feedback_id, probability, is_primary) of the comments of one theme
    at either level: a parent's comment counts once, with its best child's figures."""
    members = theme_members(db, theme_id)
    return (f"""(SELECT tx.feedback_id, MAX(tx.probability) AS probability,
                        MAX(tx.is_primary) AS is_primary
                 FROM theme_assignments tx WHERE tx.theme_id IN {_in_list(members)}
                 GROUP BY tx.feedback_id)"""), members


def keywords(raw: str | None) -> list[str]:
    """A theme's stored keywords (or seed terms) as a list of words."""
    try:
        words = json.loads(raw or "[]")
    except (TypeError, ValueError):
        return []
    if not isinstance(words, list):
        return []
    # Models store either plain words or [word, weight] pairs.
    return [str(w[0] if isinstance(w, (list, tuple)) and w else w) for w in words]


def normalise(text: str) -> str:
    """Text as compared for "the same comment": white space and case ignored."""
    return " ".join(text.split()).casefold()


def theme_status(db: sqlite_utils.Database) -> dict:
    """What exists yet, so a page can tell an empty store from one awaiting a refresh."""
    row = db.execute(f"""SELECT
        (SELECT COUNT(*) FROM feedback),
        (SELECT COUNT(*) FROM feedback f WHERE {has_comment_sql('f')}),
        (SELECT COUNT(*) FROM themes WHERE status = 'active' AND is_parent = 0),
        (SELECT COUNT(*) FROM themes WHERE status = 'active' AND is_parent = 1),
        (SELECT COUNT(DISTINCT feedback_id) FROM theme_assignments),
        (SELECT MAX(assigned_at) FROM theme_assignments)""").fetchone()
    return {"feedback": row[0], "commented": row[1], "themes": row[2], "parents": row[3],
            "assigned": row[4], "last_assigned_at": row[5]}


def theme_choices(db: sqlite_utils.Database, level: str = CHILD) -> dict[int, str]:
    """Active themes at `level`, id -> name, ordered by name, for select boxes."""
    assignment_table(level)  # checks the level
    rows = db.execute("SELECT id, name FROM themes WHERE status = 'active' AND is_parent = ? "
                      "ORDER BY name COLLATE NOCASE, id", [int(level == PARENT)]).fetchall()
    return {tid: name for tid, name in rows}


def running_theme_job_id(db: sqlite_utils.Database) -> int | None:
    """The newest theme job recorded as running, whoever started it (another session, the
    CLI from cron). A plain read: `themes.job_status` then reports a dead one as
    interrupted, and the page reaps it (`jobs.reap_dead_jobs`), so it never waits on a job
    nobody runs."""
    row = db.execute("SELECT id FROM jobs WHERE kind = ? AND status = 'running' "
                     "ORDER BY id DESC LIMIT 1", [JOB_KIND]).fetchone()
    return row[0] if row else None

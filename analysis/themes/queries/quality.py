"""What the Theme quality page reads: how right the themes are (audits), what analysts told
the model (seed themes) and what they changed (corrections)."""

from __future__ import annotations

import pandas as pd
import sqlite_utils

from analysis.domain.comments import shown_comment_sql
from analysis.text import sentiment
from analysis.themes import admin
from analysis.themes.queries.base import keywords, theme_status

SEED_COLUMNS = ["theme_id", "name", "terms", "mentions"]
CORRECTION_COLUMNS = ["at", "actor", "comment", "from_theme", "to_theme"]
AUDIT_COLUMNS = ["feedback_id", "received_at", "probability", "is_primary", "comment"]
NO_THEME = "No theme"


def quality_figures(db: sqlite_utils.Database) -> dict:
    """`theme_status`, the audited theme accuracy (an `Estimate` whose n is the audited
    comments, each counted once however often it was audited) and the latest sentiment
    classifier's cross-validated accuracy (None without one)."""
    run = sentiment.latest_run(db, with_classifier=True)
    return {"status": theme_status(db), "accuracy": admin.audited_accuracy(db),
            "sentiment_cv": run.get("cv_accuracy") if run else None}


def seed_theme_frame(db: sqlite_utils.Database) -> pd.DataFrame:
    """Active seed themes (the analysts' taxonomy), oldest first: their guiding terms as a
    list and how many comments the theme holds now."""
    rows = db.execute("""
        SELECT t.id, t.name, t.seed_terms,
               (SELECT COUNT(*) FROM theme_assignments ta WHERE ta.theme_id = t.id)
        FROM themes t WHERE t.is_seed = 1 AND t.status = 'active' ORDER BY t.id""").fetchall()
    return pd.DataFrame([(tid, name, keywords(terms), n) for tid, name, terms, n in rows],
                        columns=SEED_COLUMNS)


def corrections_frame(db: sqlite_utils.Database, *, limit: int = 200) -> pd.DataFrame:
    """The latest analyst corrections, newest first: which comment moved from which theme
    to which ("No theme" when the analyst said no theme fits), by whom and when."""
    rows = db.execute(f"""
        SELECT c.at, c.actor, {shown_comment_sql()},
               COALESCE(w.name, ?), COALESCE(r.name, ?)
        FROM theme_corrections c
        JOIN feedback f ON f.id = c.feedback_id
        LEFT JOIN themes w ON w.id = c.wrong_theme_id
        LEFT JOIN themes r ON r.id = c.right_theme_id
        ORDER BY c.at DESC, c.id DESC LIMIT ?""", [NO_THEME, NO_THEME, int(limit)]).fetchall()
    frame = pd.DataFrame(rows, columns=CORRECTION_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def corrections_count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COUNT(*) FROM theme_corrections").fetchone()[0]


def audit_sample(db: sqlite_utils.Database, theme_id: int, *, limit: int = 20) -> pd.DataFrame:
    """Comments of a theme that nobody has audited yet, in a fixed pseudo-random order.

    Not the most probable first: auditing only the model's surest comments would flatter
    the audited accuracy. The order is the same on every run (a multiplicative hash of the
    id), so the list does not jump while an analyst works through it."""
    rows = db.execute(f"""
        SELECT f.id, f.received_at, ta.probability, ta.is_primary, {shown_comment_sql()}
        FROM theme_assignments ta JOIN feedback f ON f.id = ta.feedback_id
        WHERE ta.theme_id = ? AND NOT EXISTS (
            SELECT 1 FROM theme_audits au WHERE au.feedback_id = f.id)
        ORDER BY (f.id * 2654435761) % 4294967296, f.id LIMIT ?""",
        [int(theme_id), int(limit)]).fetchall()
    frame = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
    # A stored date that is no real moment shows as empty (NaT), not as a page error.
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True, errors="coerce")
    return frame

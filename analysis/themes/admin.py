"""Analyst control over themes: rename, merge, seed, correct, confirm; all persisted.

Every change is a row in `theme_events` (or `theme_corrections` / `theme_audits`), never an
overwrite of history, and survives the next refit: a fit keeps locked names and sends topics
that match a merged theme to its target (`reconcile`), and re-applies every correction after
each fit or transform (`apply_corrections`).

    rename_theme(db, 12, "Queues at the till", actor="ana")   # a child or a parent theme
    merge_themes(db, [7, 9], 3, actor="ana")                  # parents into parents too
    move_theme(db, 12, 40, actor="ana")                       # child 12 under parent 40
    add_parent_theme(db, "Service", [12, 15], actor="ana")
    correct_theme(db, feedback_id=881, wrong_theme_id=7, right_theme_id=3, actor="ana")
    audited_accuracy(db)   # Estimate: share of audited comments whose theme was right
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlite_utils

from analysis.stats import estimates as metrics
from analysis.store import to_iso, utcnow, write_transaction


def _now(now: datetime | None) -> str:
    return to_iso(now or utcnow())


def _theme(db: sqlite_utils.Database, theme_id) -> dict:
    row = db.execute("SELECT * FROM themes WHERE id = ?", [theme_id]).fetchone()
    if row is None:
        raise ValueError(f"unknown theme id {theme_id!r}")
    columns = [d[0] for d in db.execute("SELECT * FROM themes LIMIT 0").description]
    return dict(zip(columns, row))


def record_theme_event(db: sqlite_utils.Database, theme_id: int, event: str, detail: dict, *,
                       actor: str, at: str) -> None:
    """One row of a theme's history (`theme_events`), inside the caller's transaction."""
    db.execute(
        "INSERT INTO theme_events (theme_id, event, detail, actor, at) VALUES (?, ?, ?, ?, ?)",
        [theme_id, event, json.dumps(detail, sort_keys=True), actor, at],
    )


def _require_actor(actor: str) -> None:
    if not actor or not str(actor).strip():
        raise ValueError("actor is required: who is making this change?")


def resolve_theme(db: sqlite_utils.Database, theme_id: int | None) -> int | None:
    """The theme that `theme_id` now stands for: itself, or the end of its merge chain."""
    seen = set()
    while theme_id is not None and theme_id not in seen:
        seen.add(theme_id)
        row = db.execute("SELECT status, merged_into FROM themes WHERE id = ?",
                         [theme_id]).fetchone()
        if row is None or row[0] != "merged" or row[1] is None:
            return theme_id
        theme_id = row[1]
    return theme_id


def rename_theme(db: sqlite_utils.Database, theme_id: int, new_name: str, *, actor: str,
                 now: datetime | None = None) -> None:
    """Give a theme an analyst's name; refits keep it (name_locked)."""
    _require_actor(actor)
    new_name = (new_name or "").strip()
    if not new_name:
        raise ValueError("a theme name cannot be empty")
    at = _now(now)
    with write_transaction(db):  # read inside: the old name is the one this rename replaces
        theme = _theme(db, theme_id)
        db.execute("UPDATE themes SET name = ?, name_locked = 1, updated_at = ? WHERE id = ?",
                   [new_name, at, theme_id])
        record_theme_event(db, theme_id, "renamed", {"old": theme["name"], "new": new_name},
                           actor=actor, at=at)


def merge_themes(db: sqlite_utils.Database, source_ids: Iterable[int], target_id: int, *,
                 actor: str, now: datetime | None = None) -> None:
    """Fold `source_ids` into `target_id`: the sources' comments move to the target, and any
    topic a later refit matches to a source lands on the target too."""
    _require_actor(actor)
    sources = list(dict.fromkeys(int(s) for s in source_ids))
    if not sources:
        raise ValueError("choose at least one theme to merge")
    if target_id in sources:
        raise ValueError(f"cannot merge theme {target_id} into itself")
    at = _now(now)
    # Checked inside the transaction (BEGIN IMMEDIATE): two analysts merging A into B and
    # B into A at once must not both pass the checks and leave both themes merged.
    with write_transaction(db):
        target = _theme(db, target_id)
        if target["status"] != "active":
            raise ValueError(f"theme {target_id} is {target['status']}; merge into an active "
                             "theme")
        for source_id in sources:
            source = _theme(db, source_id)
            if source["status"] == "merged":
                raise ValueError(f"theme {source_id} was already merged into "
                                 f"{source['merged_into']}")
            if source["is_parent"] != target["is_parent"]:
                raise ValueError(f"theme {source_id} is a {_level(source)} and {target_id} a "
                                 f"{_level(target)}: merge parents into parents and child "
                                 "themes into child themes (move a child theme to another "
                                 "parent instead)")
        for source_id in sources:
            moved = _move_assignments(db, source_id, target_id, at)
            old_parent = _theme(db, source_id)["parent_id"]
            if target["is_parent"]:
                # The source's children (and any it absorbed before) now sit under the target.
                db.execute("UPDATE themes SET parent_id = ?, updated_at = ? WHERE parent_id = ?",
                           [target_id, at, source_id])
            db.execute("UPDATE themes SET status = 'merged', merged_into = ?, updated_at = ? "
                       "WHERE id = ?", [target_id, at, source_id])
            # Themes merged into the source earlier now point straight at the target.
            db.execute("UPDATE themes SET merged_into = ?, updated_at = ? WHERE merged_into = ?",
                       [target_id, at, source_id])
            record_theme_event(db, source_id, "merged",
                               {"into": target_id, "comments_moved": moved}, actor=actor, at=at)
            record_theme_event(db, target_id, "absorbed",
                               {"from": source_id, "comments_moved": moved}, actor=actor, at=at)
            if old_parent is not None:
                _retire_if_empty(db, old_parent, actor=actor, at=at)


def _level(theme: dict) -> str:
    return "parent theme" if theme["is_parent"] else "child theme"


def move_theme(db: sqlite_utils.Database, theme_id: int, parent_id: int, *, actor: str,
               now: datetime | None = None) -> None:
    """Put child theme `theme_id` under parent `parent_id`; refits keep it there
    (parent_locked) until an analyst moves it again."""
    _require_actor(actor)
    at = _now(now)
    with write_transaction(db):
        _move_child(db, int(theme_id), int(parent_id), actor=actor, at=at)


def _move_child(db, theme_id: int, parent_id: int, *, actor: str, at: str) -> None:
    child, parent = _theme(db, theme_id), _theme(db, parent_id)
    if child["is_parent"]:
        raise ValueError(f"theme {theme_id} is a parent theme: only child themes move between "
                         "parents (merge parents instead)")
    if child["status"] != "active":
        raise ValueError(f"theme {theme_id} is {child['status']}; only active themes move")
    if not parent["is_parent"]:
        raise ValueError(f"theme {parent_id} is not a parent theme")
    if parent["status"] != "active":
        raise ValueError(f"parent theme {parent_id} is {parent['status']}; choose an active "
                         "parent")
    db.execute("UPDATE themes SET parent_id = ?, parent_locked = 1, updated_at = ? WHERE id = ?",
               [parent_id, at, theme_id])
    record_theme_event(db, theme_id, "moved", {"from": child["parent_id"], "to": parent_id},
                       actor=actor, at=at)
    if child["parent_id"] is not None and child["parent_id"] != parent_id:
        _retire_if_empty(db, child["parent_id"], actor=actor, at=at)


def _retire_if_empty(db, parent_id: int, *, actor: str, at: str) -> None:
    """A parent left with no active child names nothing: retired at once (a refit would
    retire it too), not listed with 0 themes and offered as a target until then."""
    left = db.execute("SELECT COUNT(*) FROM themes WHERE parent_id = ? AND status = 'active' "
                      "AND is_parent = 0", [parent_id]).fetchone()[0]
    if left == 0 and _theme(db, parent_id)["status"] == "active":
        db.execute("UPDATE themes SET status = 'retired', updated_at = ? WHERE id = ?",
                   [at, parent_id])
        record_theme_event(db, parent_id, "retired", {"reason": "no child theme left in it"},
                           actor=actor, at=at)


def add_parent_theme(db: sqlite_utils.Database, name: str, child_ids: Iterable[int], *,
                     actor: str, now: datetime | None = None) -> int:
    """A new parent theme named by an analyst, holding `child_ids` (moved into it as by
    `move_theme`). Returns its id."""
    _require_actor(actor)
    name = (name or "").strip()
    if not name:
        raise ValueError("a parent theme needs a name")
    children = list(dict.fromkeys(int(c) for c in child_ids))
    if not children:
        raise ValueError("choose at least one child theme for the new parent")
    at = _now(now)
    with write_transaction(db):
        clash = db.execute("SELECT id FROM themes WHERE status = 'active' AND is_parent = 1 "
                           "AND lower(name) = lower(?)", [name]).fetchone()
        if clash:
            raise ValueError(f"an active parent theme is already called {name!r} (id {clash[0]})")
        parent_id = db.execute(
            "INSERT INTO themes (name, auto_name, keywords, is_parent, status, name_locked, "
            "created_at, created_by, updated_at) VALUES (?, NULL, '[]', 1, 'active', 1, ?, ?, ?)",
            [name, at, actor, at]).lastrowid
        record_theme_event(db, parent_id, "created", {"name": name, "children": children},
                           actor=actor, at=at)
        for child in children:
            _move_child(db, child, parent_id, actor=actor, at=at)
    return parent_id


def _move_assignments(db, source_id: int, target_id: int, at: str) -> int:
    rows = db.execute(
        "SELECT feedback_id, probability, is_primary, origin, model_id FROM theme_assignments "
        "WHERE theme_id = ?", [source_id]).fetchall()
    for feedback_id, probability, is_primary, origin, model_id in rows:
        existing = db.execute(
            "SELECT probability, is_primary FROM theme_assignments WHERE feedback_id = ? AND "
            "theme_id = ?", [feedback_id, target_id]).fetchone()
        if existing is None:
            db.execute(
                "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
                "origin, model_id, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [feedback_id, target_id, probability, is_primary, origin, model_id, at])
        else:
            db.execute(
                "UPDATE theme_assignments SET probability = MAX(probability, ?), "
                "is_primary = MAX(is_primary, ?) WHERE feedback_id = ? AND theme_id = ?",
                [probability, is_primary, feedback_id, target_id])
    db.execute("DELETE FROM theme_assignments WHERE theme_id = ?", [source_id])
    return len(rows)


def add_seed_theme(db: sqlite_utils.Database, name: str, terms: Sequence[str], *, actor: str,
                   now: datetime | None = None) -> int:
    """An analyst-defined theme whose terms guide the next fit (zero-shot topic)."""
    _require_actor(actor)
    name = (name or "").strip()
    if not name:
        raise ValueError("a seed theme needs a name")
    if isinstance(terms, str):
        terms = [terms]
    clean_terms = list(dict.fromkeys(t.strip() for t in terms if t and t.strip()))
    if not clean_terms:
        raise ValueError(f"seed theme {name!r} needs at least one term")
    clash = db.execute("SELECT id FROM themes WHERE status = 'active' AND lower(name) = lower(?)",
                       [name]).fetchone()
    if clash:
        raise ValueError(f"an active theme is already called {name!r} (id {clash[0]})")
    at = _now(now)
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO themes (name, auto_name, keywords, is_seed, seed_terms, status, "
            "name_locked, created_at, created_by, updated_at) "
            "VALUES (?, NULL, ?, 1, ?, 'active', 1, ?, ?, ?)",
            [name, json.dumps(clean_terms), json.dumps(clean_terms), at, actor, at])
        theme_id = cursor.lastrowid
        record_theme_event(db, theme_id, "seeded", {"name": name, "terms": clean_terms},
                           actor=actor, at=at)
    return theme_id


def seed_themes(db: sqlite_utils.Database) -> list[dict]:
    """Active analyst-defined themes, oldest first, with their terms as lists."""
    rows = db.execute(
        "SELECT id, name, seed_terms FROM themes WHERE is_seed = 1 AND status = 'active' "
        "ORDER BY id").fetchall()
    return [{"id": r[0], "name": r[1], "terms": json.loads(r[2] or "[]")} for r in rows]


def active_themes(db: sqlite_utils.Database, *, parents: bool = False) -> list[dict]:
    """Active child themes (`parents`: parent themes) with their comment counts (primary
    and any; a parent's are its children's, each comment once), largest first."""
    table = "parent_theme_assignments" if parents else "theme_assignments"
    rows = db.execute(
        f"""SELECT t.id, t.name, t.auto_name, t.keywords, t.is_seed, t.name_locked,
                  COALESCE(SUM(a.is_primary), 0), COUNT(a.feedback_id), t.parent_id,
                  t.parent_locked
           FROM themes t LEFT JOIN {table} a ON a.theme_id = t.id
           WHERE t.status = 'active' AND t.is_parent = ?
           GROUP BY t.id ORDER BY 7 DESC, t.id""", [int(parents)]).fetchall()
    return [{"id": r[0], "name": r[1], "auto_name": r[2], "keywords": json.loads(r[3] or "[]"),
             "is_seed": bool(r[4]), "name_locked": bool(r[5]), "n_primary": r[6],
             "n_comments": r[7], "parent_id": r[8], "parent_locked": bool(r[9])}
            for r in rows]


def _check_feedback(db, feedback_id: int) -> None:
    if db.execute("SELECT 1 FROM feedback WHERE id = ?", [feedback_id]).fetchone() is None:
        raise ValueError(f"unknown feedback id {feedback_id!r}")


def correct_theme(db: sqlite_utils.Database, feedback_id: int, wrong_theme_id: int | None,
                  right_theme_id: int | None, *, actor: str, now: datetime | None = None) -> None:
    """An analyst says comment `feedback_id` is not about `wrong_theme_id` but about
    `right_theme_id` (None: about no theme). Recorded, audited as wrong, applied at once and
    re-applied after every refit."""
    _require_actor(actor)
    _check_feedback(db, feedback_id)
    if wrong_theme_id is None and right_theme_id is None:
        raise ValueError("a correction needs the wrong theme, the right theme, or both")
    if wrong_theme_id is not None:
        _theme(db, wrong_theme_id)
    if right_theme_id is not None:
        right = _theme(db, right_theme_id)
        if right["is_parent"]:
            raise ValueError(f"theme {right_theme_id} is a parent theme: correct a comment to "
                             "one of its child themes")
        if right["status"] == "retired":
            raise ValueError(f"theme {right_theme_id} is retired; choose an active theme")
    if wrong_theme_id is not None and wrong_theme_id == right_theme_id:
        raise ValueError("the wrong and the right theme are the same")
    at = _now(now)
    with write_transaction(db):
        db.execute(
            "INSERT INTO theme_corrections (feedback_id, wrong_theme_id, right_theme_id, actor, "
            "at) VALUES (?, ?, ?, ?, ?)", [feedback_id, wrong_theme_id, right_theme_id, actor, at])
        db.execute(
            "INSERT INTO theme_audits (feedback_id, theme_id, was_correct, actor, at) "
            "VALUES (?, ?, 0, ?, ?)", [feedback_id, wrong_theme_id, actor, at])
        apply_correction(db, feedback_id, wrong_theme_id, right_theme_id, at=at)


def confirm_theme(db: sqlite_utils.Database, feedback_id: int, theme_id: int, *, actor: str,
                  now: datetime | None = None) -> None:
    """An analyst checked comment `feedback_id` and its theme `theme_id` is right."""
    _require_actor(actor)
    _check_feedback(db, feedback_id)
    _theme(db, theme_id)
    at = _now(now)
    with write_transaction(db):
        db.execute(
            "INSERT INTO theme_audits (feedback_id, theme_id, was_correct, actor, at) "
            "VALUES (?, ?, 1, ?, ?)", [feedback_id, theme_id, actor, at])


def audited_accuracy(db: sqlite_utils.Database) -> metrics.Estimate:
    """Share of audited comments whose automatic theme needed no correction (Wilson)."""
    n, hits = db.execute(
        """SELECT COUNT(*), COALESCE(SUM(ok), 0) FROM (
               SELECT feedback_id, MIN(was_correct) AS ok FROM theme_audits GROUP BY feedback_id
           )""").fetchone()
    return metrics.share_from_counts("Audited theme accuracy %", int(hits), int(n))


def apply_correction(db, feedback_id: int, wrong_theme_id: int | None,
                     right_theme_id: int | None, *, at: str) -> None:
    """Make one correction true in `theme_assignments` (inside the caller's transaction)."""
    right = resolve_theme(db, right_theme_id)
    wrong = resolve_theme(db, wrong_theme_id)
    if right is None:
        # "No theme": the comment is honestly unthemed, whatever the model thought.
        db.execute("DELETE FROM theme_assignments WHERE feedback_id = ?", [feedback_id])
        return
    if wrong is not None and wrong != right:
        db.execute("DELETE FROM theme_assignments WHERE feedback_id = ? AND theme_id = ?",
                   [feedback_id, wrong])
    db.execute("UPDATE theme_assignments SET is_primary = 0 WHERE feedback_id = ?", [feedback_id])
    db.execute(
        "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, origin, "
        "model_id, assigned_at) VALUES (?, ?, 1.0, 1, 'analyst', NULL, ?) "
        "ON CONFLICT (feedback_id, theme_id) DO UPDATE SET probability = 1.0, is_primary = 1, "
        "origin = 'analyst', model_id = NULL, assigned_at = excluded.assigned_at",
        [feedback_id, right, at])


def apply_corrections(db, *, at: str, feedback_ids: Iterable[int] | None = None) -> int:
    """Re-apply every recorded correction in the order it was made (inside the caller's
    transaction); with `feedback_ids`, only those comments'. Returns how many were applied."""
    rows = db.execute(
        "SELECT feedback_id, wrong_theme_id, right_theme_id FROM theme_corrections "
        "ORDER BY at, id").fetchall()
    wanted = None if feedback_ids is None else set(feedback_ids)
    count = 0
    for feedback_id, wrong, right in rows:
        if wanted is not None and feedback_id not in wanted:
            continue
        apply_correction(db, feedback_id, wrong, right, at=at)
        count += 1
    return count

"""Analyst control over themes, on hand-made themes and assignments (no model needed)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from analysis import store
from analysis.ingest import feedback
from analysis.themes import admin as theme_admin

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def make_theme(db, name, status="active"):
    at = "2025-01-01T00:00:00Z"
    with store.write_transaction(db):
        return db.execute(
            "INSERT INTO themes (name, auto_name, status, created_at, created_by, updated_at) "
            "VALUES (?, ?, ?, ?, 'test', ?)", [name, name, status, at, at]).lastrowid


def make_feedback(db, n):
    with store.write_transaction(db):
        feedback.insert_feedback(db, [{"source": "t", "external_id": str(i), "comment": f"c{i}",
                                       "received_at": "2025-01-01T00:00:00Z"} for i in range(n)],
                                 batch_id=None, actor="test")
    return [r[0] for r in db.execute("SELECT id FROM feedback ORDER BY id")]


def assign(db, feedback_id, theme_id, primary=1):
    with store.write_transaction(db):
        db.execute("INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
                   "origin, assigned_at) VALUES (?, ?, 0.8, ?, 'fit', 'x')",
                   [feedback_id, theme_id, primary])


def events(db, theme_id):
    return [(r[0], json.loads(r[1])) for r in db.execute(
        "SELECT event, detail FROM theme_events WHERE theme_id = ? ORDER BY id", [theme_id])]


def test_rename_locks_the_name_and_records_old_and_new(db):
    theme = make_theme(db, "wait / queue / minutes")
    theme_admin.rename_theme(db, theme, "  Queues  ", actor="ana", now=NOW)
    assert db.execute("SELECT name, name_locked, updated_at FROM themes WHERE id = ?",
                      [theme]).fetchone() == ("Queues", 1, "2025-03-01T12:00:00Z")
    assert events(db, theme) == [("renamed", {"old": "wait / queue / minutes", "new": "Queues"})]


def test_rename_rejects_empty_name_and_unknown_theme(db):
    theme = make_theme(db, "a")
    with pytest.raises(ValueError, match="empty"):
        theme_admin.rename_theme(db, theme, "  ", actor="ana")
    with pytest.raises(ValueError, match="unknown theme id 999"):
        theme_admin.rename_theme(db, 999, "x", actor="ana")


def test_merge_moves_assignments_and_keeps_one_primary(db):
    a, b, c = make_theme(db, "a"), make_theme(db, "b"), make_theme(db, "c")
    f1, f2, f3 = make_feedback(db, 3)
    assign(db, f1, a)
    assign(db, f2, a)
    assign(db, f2, b, primary=0)
    assign(db, f3, c)
    theme_admin.merge_themes(db, [a, c], b, actor="ana", now=NOW)
    rows = db.execute("SELECT feedback_id, theme_id, is_primary FROM theme_assignments "
                      "ORDER BY 1").fetchall()
    assert rows == [(f1, b, 1), (f2, b, 1), (f3, b, 1)]
    assert db.execute("SELECT status, merged_into FROM themes WHERE id = ?", [a]).fetchone() == \
        ("merged", b)
    assert events(db, a)[0][0] == "merged" and events(db, b)[0][0] == "absorbed"
    assert theme_admin.resolve_theme(db, a) == b


def test_merge_validation(db):
    a, b = make_theme(db, "a"), make_theme(db, "b")
    with pytest.raises(ValueError, match="into itself"):
        theme_admin.merge_themes(db, [a], a, actor="ana")
    with pytest.raises(ValueError, match="unknown theme id"):
        theme_admin.merge_themes(db, [42], b, actor="ana")
    theme_admin.merge_themes(db, [a], b, actor="ana")
    with pytest.raises(ValueError, match="already merged"):
        theme_admin.merge_themes(db, [a], b, actor="ana")
    with pytest.raises(ValueError, match="active theme"):
        theme_admin.merge_themes(db, [b], a, actor="ana")


def test_merge_chain_points_at_the_final_target(db):
    a, b, c = make_theme(db, "a"), make_theme(db, "b"), make_theme(db, "c")
    theme_admin.merge_themes(db, [a], b, actor="ana")
    theme_admin.merge_themes(db, [b], c, actor="ana")
    assert theme_admin.resolve_theme(db, a) == c
    assert db.execute("SELECT merged_into FROM themes WHERE id = ?", [a]).fetchone()[0] == c


def test_seed_themes_are_listed_with_terms_and_validated(db):
    theme = theme_admin.add_seed_theme(db, "Parking", ["parking", " car park ", "parking"],
                                       actor="ana", now=NOW)
    assert theme_admin.seed_themes(db) == [{"id": theme, "name": "Parking",
                                            "terms": ["parking", "car park"]}]
    assert events(db, theme)[0][0] == "seeded"
    with pytest.raises(ValueError, match="at least one term"):
        theme_admin.add_seed_theme(db, "Other", [" "], actor="ana")
    with pytest.raises(ValueError, match="already called"):
        theme_admin.add_seed_theme(db, "parking", ["x"], actor="ana")
    with pytest.raises(ValueError, match="needs a name"):
        theme_admin.add_seed_theme(db, "", ["x"], actor="ana")


def test_correction_applies_now_and_is_audited(db):
    wrong, right = make_theme(db, "wrong"), make_theme(db, "right")
    f1, f2 = make_feedback(db, 2)
    assign(db, f1, wrong)
    assign(db, f2, wrong)
    theme_admin.correct_theme(db, f1, wrong, right, actor="ana", now=NOW)
    assert db.execute("SELECT theme_id, is_primary, origin, probability FROM theme_assignments "
                      "WHERE feedback_id = ?", [f1]).fetchall() == [(right, 1, "analyst", 1.0)]
    theme_admin.correct_theme(db, f2, wrong, None, actor="ana", now=NOW)
    assert db.execute("SELECT COUNT(*) FROM theme_assignments WHERE feedback_id = ?",
                      [f2]).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM theme_audits WHERE was_correct = 0").fetchone()[0] == 2
    with pytest.raises(ValueError, match="unknown feedback id"):
        theme_admin.correct_theme(db, 9999, wrong, right, actor="ana")
    with pytest.raises(ValueError, match="same"):
        theme_admin.correct_theme(db, f1, right, right, actor="ana")


def test_corrections_reapply_in_order_and_follow_merges(db):
    a, b, c = make_theme(db, "a"), make_theme(db, "b"), make_theme(db, "c")
    (f1,) = make_feedback(db, 1)
    assign(db, f1, a)
    theme_admin.correct_theme(db, f1, a, b, actor="ana")
    theme_admin.merge_themes(db, [b], c, actor="ana")
    with store.write_transaction(db):
        db.execute("DELETE FROM theme_assignments")
        db.execute("INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
                   "origin, assigned_at) VALUES (?, ?, 0.9, 1, 'fit', 'x')", [f1, a])
        assert theme_admin.apply_corrections(db, at="y") == 1
    assert db.execute("SELECT theme_id, is_primary, origin FROM theme_assignments").fetchall() == \
        [(c, 1, "analyst")]


def test_audited_accuracy_is_a_wilson_share_per_comment(db):
    t1, t2 = make_theme(db, "t1"), make_theme(db, "t2")
    ids = make_feedback(db, 5)
    for f in ids[:4]:
        assign(db, f, t1)
        theme_admin.confirm_theme(db, f, t1, actor="ana")
    assign(db, ids[4], t1)
    theme_admin.correct_theme(db, ids[4], t1, t2, actor="ana")
    # A comment confirmed then corrected counts as needing a correction.
    theme_admin.correct_theme(db, ids[0], t1, t2, actor="ana")
    estimate = theme_admin.audited_accuracy(db)
    assert estimate.n == 5 and estimate.value == pytest.approx(60.0)
    assert estimate.ci_low < 60 < estimate.ci_high and "Wilson" in estimate.method
    assert theme_admin.audited_accuracy(store.connect(db.conn.execute(
        "PRAGMA database_list").fetchone()[2])).n == 5


def test_active_themes_counts_and_orders_by_size(db):
    a, b = make_theme(db, "a"), make_theme(db, "b")
    make_theme(db, "gone", status="retired")
    f1, f2, f3 = make_feedback(db, 3)
    assign(db, f1, b)
    assign(db, f2, b)
    assign(db, f3, a, primary=0)
    listed = theme_admin.active_themes(db)
    assert [t["id"] for t in listed] == [b, a]
    assert listed[0]["n_primary"] == 2 and listed[1]["n_comments"] == 1


def test_writers_require_an_actor(db):
    theme = make_theme(db, "a")
    with pytest.raises(ValueError, match="actor"):
        theme_admin.rename_theme(db, theme, "b", actor="")

"""Assigning comments no model has seen to the active model's themes, without a refit."""

from __future__ import annotations

import numpy as np
import sqlite_utils

from analysis.jobs import JobRun
from analysis.store import write_transaction
from analysis.themes import admin
from analysis.themes import near_duplicates as dup
from analysis.themes.corpus import comments_to_theme, embed_comments
from analysis.themes.persistence import LoadedModel, ModelUnavailable, load_active_model
from analysis.themes.pipeline import ThemePipeline
from analysis.themes.results import RefreshResult
from analysis.themes.topics import TopicAssignments, reduce_outliers, secondary_topics

_DELETE_CHUNK = 900  # under SQLite's 999 bound variables per statement in older builds


def transform(db: sqlite_utils.Database, pipeline: ThemePipeline, active: dict, *, actor: str,
              at: str, report: JobRun) -> RefreshResult:
    """Theme the new comments with the `active` model (`persistence.active_model_row`).
    Raises ModelUnavailable when its saved files cannot be used: the caller refits."""
    report(0.03, "reading new comments")
    ids, docs, empty_ids = comments_to_theme(db, only_new=True)
    version = active["version"]
    n_themes = db.execute(
        "SELECT COUNT(DISTINCT theme_id) FROM model_topics WHERE model_id = ?",
        [active["id"]]).fetchone()[0]
    if not ids:
        if empty_ids:
            with write_transaction(db):
                report.ensure_live()
                db.conn.executemany(
                    "INSERT OR IGNORE INTO theme_coverage (feedback_id, model_id, considered_at) "
                    "VALUES (?, ?, ?)", [(fid, active["id"], at) for fid in empty_ids])
        return RefreshResult(version, False, len(empty_ids), n_themes, 0,
                             1.0 if empty_ids else 0.0,
                             f"No new comments to theme; {n_themes} themes from model {version} "
                             "are current.")
    report(0.05, "loading the theme model")
    try:
        loaded = load_active_model(db, embedder=pipeline.get_embedder())
    except (OSError, RuntimeError, ValueError, EOFError, ImportError, AttributeError) as exc:
        # A missing, tampered or (after a library upgrade, or a class moved since it was
        # pickled) unreadable pickle: refit instead.
        raise ModelUnavailable(str(exc)) from exc
    topic_model = loaded.topic_model
    vectors = embed_comments(db, docs, pipeline.get_embedder(), report, 0.1, 0.6)
    report(0.65, f"assigning {len(ids):,} new comments")
    raw_topics, probs = topic_model.transform(docs, embeddings=vectors)
    raw_topics = [int(t) for t in raw_topics]
    topics, topic_sim = reduce_outliers(topic_model, docs, raw_topics, vectors, pipeline,
                                        unthemeable=len(empty_ids))
    secondary = secondary_topics(topic_model, docs, topics, pipeline)
    assignments = TopicAssignments(ids, raw_topics, topics, probs, topic_sim, secondary)
    report(0.8, "grouping near-duplicate comments")
    duplicates = dup.new_near_duplicates(db, ids, vectors, embedder=pipeline.get_embedder(),
                                         threshold=pipeline.duplicate_threshold)
    report(0.85, "placing new comments on the theme map")
    coords = _map_new(loaded, vectors)
    report(0.9, "writing assignments")
    with write_transaction(db):
        report.ensure_live()  # as in a fit: never write for a job declared dead
        topic_to_theme = {t: admin.resolve_theme(db, th) for t, th in loaded.topic_to_theme.items()}
        rows = assignments.rows(topic_to_theme, model_id=active["id"], at=at,
                                fresh_origin="transform")
        for start in range(0, len(ids), _DELETE_CHUNK):
            chunk = ids[start:start + _DELETE_CHUNK]
            db.execute(f"DELETE FROM theme_assignments WHERE feedback_id IN "
                       f"({','.join('?' * len(chunk))}) AND origin != 'analyst'", chunk)
        db.conn.executemany(
            "INSERT OR REPLACE INTO theme_assignments (feedback_id, theme_id, probability, "
            "is_primary, origin, model_id, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        admin.apply_corrections(db, at=at, feedback_ids=ids)
        db.conn.executemany(
            "INSERT OR REPLACE INTO near_duplicates (feedback_id, canonical_id, similarity) "
            "VALUES (?, ?, ?)", duplicates)
        if coords is not None:
            db.conn.executemany(
                "INSERT OR REPLACE INTO comment_map (feedback_id, model_id, x, y) VALUES (?, ?, ?, ?)",
                [(fid, active["id"], float(x), float(y)) for fid, (x, y) in zip(ids, coords)])
        db.conn.executemany(
            "INSERT OR REPLACE INTO theme_coverage (feedback_id, model_id, considered_at) "
            "VALUES (?, ?, ?)", [(fid, active["id"], at) for fid in [*ids, *empty_ids]])
        report.ensure_live()
    themed = len({r[0] for r in rows})
    total = len(ids) + len(empty_ids)
    unthemed = 1 - themed / total
    message = (f"Assigned {themed:,} of {total:,} new comments to {n_themes} themes with model "
               f"{version} (no refit), {unthemed:.1%} of them unthemed.")
    return RefreshResult(version, False, total, n_themes, themed, unthemed, message)


def _map_new(loaded: LoadedModel, vectors) -> np.ndarray | None:
    reducer = loaded.topic_model.umap_model
    if not hasattr(reducer, "transform"):
        return None
    reduced = np.asarray(reducer.transform(vectors), dtype=np.float32)
    if loaded.map_model is None:
        return np.pad(reduced[:, :2], ((0, 0), (0, max(0, 2 - reduced.shape[1]))))
    return np.asarray(loaded.map_model.transform(reduced), dtype=float)

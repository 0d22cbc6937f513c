"""Fitting the theme model on every comment, and writing what the fit found.

All computation first (embed, fit, fold outliers, secondary themes, near-duplicates, 2-D
map, save the model), then one `write_transaction` for everything the fit produces (model
row, themes and their events, model_topics, centroids, assignments, near-duplicates, map,
coverage): a crash or kill mid-fit leaves the previous themes untouched.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from analysis.jobs import JobRun
from analysis.settings import get_settings
from analysis.store import write_transaction
from analysis.text.cleaning import name_words
from analysis.themes import admin, compiling, hierarchy, persistence
from analysis.themes import near_duplicates as dup
from analysis.themes.corpus import (
    comments_to_theme,
    embed_comments,
    proper_names,
    seed_label,
)
from analysis.themes.hierarchy import ExistingParent, group_themes, plan_parents
from analysis.themes.naming import phrase_names
from analysis.themes.pipeline import Prefitted, ThemePipeline
from analysis.themes.reconcile import (
    CREATED,
    REVIVED,
    ExistingTheme,
    FittedTopic,
    ReconcilePlan,
    reconcile,
)
from analysis.themes.results import RefreshResult
from analysis.themes.topics import (
    TopicAssignments,
    collapse,
    keywords,
    reduce_outliers,
    secondary_topics,
    topic_embeddings,
)

MIN_DOCUMENTS = 20
"""Below this, no topic model is meaningful: refresh says so instead of inventing themes."""
SMALL_CORPUS = 200
"""Below this the fit still runs, with a message that themes are tentative."""
RETRY_FROM = 500
"""From this many comments a collapsed fit is retried once at the retry size (see
`ThemePipeline.max_theme_share`)."""
PARENT_DOCS_PER_TOPIC = 300
"""Comments of each topic, most typical first, that a parent's name is read from."""


@dataclass
class FittedModel:
    """A fit, computed and saved in `folder`, ready to be written in one transaction."""

    version: str
    folder: Path
    params: dict
    """What the model was fitted with (`ThemePipeline.resolved`), its files' SHA-256 too."""
    topics: list[FittedTopic]
    assignments: TopicAssignments
    empty_ids: list[int]
    """Comments whose text cleans to nothing: considered, honestly unthemed."""
    duplicates: list[tuple[int, int, float]]
    coords: np.ndarray
    """Each comment's point on the 2-D theme map, in `assignments.ids` order."""
    match_threshold: float
    parents: FittedParents = dataclasses.field(default_factory=lambda: FittedParents({}, {}, {}))


@dataclass(frozen=True)
class FittedParents:
    """How the fit groups its topics into parent themes, before the store gives ids."""

    group_of: dict[int, int]
    """topic -> group number (`hierarchy.group_themes`)."""
    names: dict[int, str]
    """group -> a readable name from the comments of its topics."""
    keywords: dict[int, list[str]]
    """group -> the leading keywords of its largest topics."""


def fit(db: sqlite_utils.Database, pipeline: ThemePipeline, *, actor: str, at: str,
        report: JobRun, reason: str | None = None) -> RefreshResult:
    """Fit a new model on every comment and make it the active one; `reason` (why a refit
    replaced a transform) is added to the message."""
    report(0.03, "reading comments")
    ids, docs, empty_ids = comments_to_theme(db, only_new=False)
    n = len(ids)
    if n == 0:
        return RefreshResult(None, False, 0, 0, 0, 0.0,
                             "No comments to theme yet: import feedback with comments, then refresh.")
    if n < MIN_DOCUMENTS:
        return RefreshResult(None, False, n, 0, 0, 1.0,
                             f"Only {n} comment(s): themes need at least {MIN_DOCUMENTS}; "
                             "nothing was fitted, comments stay unthemed.")
    vectors = embed_comments(db, docs, pipeline.get_embedder(), report, 0.05, 0.45)
    # With UMAP the model sees each distinct text once. UMAP cannot place identical points:
    # more copies than its 15 neighbours form a component of their own that lands anywhere,
    # and on the demo 3.8% of comments ("Fantastic visit as always.", 300 times) sat in a
    # theme whose centroid was 0.2-0.7 cosine further than their nearest one (under "Making
    # payments"). Every copy then takes its text's topic, probability and place. Other
    # reducers (the tiny pipeline's PCA) place copies together, and their density helps.
    all_docs, all_vectors = docs, vectors
    first, inverse = (distinct_texts(docs) if pipeline.umap_model is None
                      else (np.arange(len(docs)), np.arange(len(docs))))
    docs, vectors = [all_docs[i] for i in first], vectors[first]
    copies = np.bincount(inverse)
    n_fit = len(docs)
    seeds = admin.seed_themes(db)
    seed_labels = [seed_label(s) for s in seeds]
    stop_words = name_words(proper_names(db))
    compile_note = (f"; first {compiling.COMPILE_MESSAGE}"
                    if pipeline.umap_model is None and compiling.compile_pending(n_fit) else "")
    report(0.5, f"fitting the theme model on {n:,} comments{compile_note}")
    topic_model = pipeline.build(n_fit, seeds=seed_labels, stop_words=stop_words)
    try:
        topics, probs = topic_model.fit_transform(docs, embeddings=vectors.copy())
    except (ValueError, TypeError) as exc:
        if n_fit < SMALL_CORPUS:
            return RefreshResult(None, False, n, 0, 0, 1.0,
                                 f"Only {n} comments and no distinct themes found in them "
                                 f"({exc}); nothing was fitted.")
        raise
    topic_ids, _ = topic_embeddings(topic_model)
    sizes = pipeline.resolved(n_fit)
    mcs, retry_mcs = int(sizes["min_cluster_size"]), int(sizes["retry_min_cluster_size"])
    collapsed = collapse(topics, topic_ids, min_themes=pipeline.min_themes,
                         max_theme_share=pipeline.max_theme_share)
    retry_note = None
    if collapsed and n_fit >= RETRY_FROM and pipeline.cluster_model is None and mcs > retry_mcs:
        retry_note = f"at min_cluster_size {mcs} {collapsed}: refitted at {retry_mcs}"
        report(0.6, f"{collapsed}: refitting with min_cluster_size {retry_mcs}")
        smaller = dataclasses.replace(pipeline, min_cluster_size=retry_mcs,
                                      umap_model=Prefitted(topic_model.umap_model, vectors))
        topic_model = smaller.build(n_fit, seeds=seed_labels, stop_words=stop_words)
        topics, probs = topic_model.fit_transform(docs, embeddings=vectors.copy())
        # The wrapper only spared the second projection; the saved model keeps the reducer
        # itself, which transforms alike and pickles without naming any class of ours.
        topic_model.umap_model = topic_model.umap_model.model
        topic_ids, _ = topic_embeddings(topic_model)
        pipeline = dataclasses.replace(pipeline, min_cluster_size=retry_mcs)
    if not topic_ids:
        return RefreshResult(None, False, n, 0, 0, 1.0,
                             f"No distinct themes found in {n:,} comments; nothing was fitted "
                             "(try a smaller min_cluster_size).")
    fit_topics = list(topics)
    report(0.7, "folding outliers into their nearest theme")
    topics, topic_sim = reduce_outliers(topic_model, docs, fit_topics, vectors, pipeline,
                                        unthemeable=len(empty_ids), copies=copies)
    report(0.75, "finding comments with several themes")
    secondary = secondary_topics(topic_model, docs, topics, pipeline)
    report(0.85, "projecting comments for the theme map")
    map_model, coords = _map(topic_model, vectors, pipeline, n_fit)
    fit_topics = [fit_topics[j] for j in inverse]
    topics = [topics[j] for j in inverse]
    secondary = [secondary[j] for j in inverse]
    topic_sim, coords = np.asarray(topic_sim)[inverse], np.asarray(coords)[inverse]
    probs = None if probs is None else np.asarray(probs)[inverse]
    docs, vectors = all_docs, all_vectors
    report(0.86, "grouping near-duplicate comments")
    duplicates = dup.find_near_duplicates(ids, vectors, pipeline.duplicate_threshold)
    fitted_topics = _fitted_topics(topic_model, topic_ids, topics, vectors, seeds, seed_labels)
    report(0.87, "naming themes and grouping them into parent themes")
    fitted_topics, parents = _name_and_group(fitted_topics, docs, topics, topic_sim, stop_words)

    report(0.9, "saving the model")
    version = f"{at.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}"
    folder = get_settings().model_dir / version
    params = pipeline.resolved(n_fit)
    params["n_distinct_texts"] = n_fit
    params.update({"version": version,
                   "n_seed_topics": sum(t.seed_theme_id is not None for t in fitted_topics),
                   "bertopic": persistence.library_version("bertopic")})
    params.update(persistence.save_model(topic_model, map_model, folder))
    fitted = FittedModel(
        version, folder, params, fitted_topics,
        TopicAssignments(ids, fit_topics, topics, probs, topic_sim, secondary), empty_ids,
        duplicates, coords, pipeline.match_threshold, parents)
    try:
        report(0.95, "writing themes")
        with write_transaction(db):
            # Under the write lock nobody can mark this job dead until commit; checked at the
            # start (never write for a job declared dead) and the end (a fresh heartbeat at
            # commit, however long the write took).
            report.ensure_live()
            result = write_fit(db, fitted, actor=actor, at=at)
            report.ensure_live()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    persistence.keep_warm(db, folder, topic_model, map_model, params)
    for note in (retry_note, reason):
        if note:
            result.message = f"{result.message} ({note})"
    return result


def distinct_texts(docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct text's first comment, each comment's distinct-text number),
    in first-seen order: docs[first][inverse] == docs."""
    number: dict[str, int] = {}
    first: list[int] = []
    inverse = np.empty(len(docs), dtype=np.int64)
    for i, text in enumerate(docs):
        k = number.setdefault(text, len(first))
        if k == len(first):
            first.append(i)
        inverse[i] = k
    return np.asarray(first, dtype=np.int64), inverse


def topic_members(topics) -> dict[int, list[int]]:
    """topic -> positions of its comments, in order (outliers, -1, left out)."""
    members: dict[int, list[int]] = {}
    for i, t in enumerate(topics):
        if t != -1:
            members.setdefault(t, []).append(i)
    return members


def _fitted_topics(topic_model, topic_ids, topics, vectors, seeds, seed_labels) -> list[FittedTopic]:
    # Which topic is which seed: zero-shot topics carry the seed label as their label.
    label_to_seed = {label: s["id"] for label, s in zip(seed_labels, seeds)}
    seed_of = {t: label_to_seed[label] for t, label in topic_model.topic_labels_.items()
               if t != -1 and label in label_to_seed}
    centroids = {t: vectors[idx].mean(axis=0) for t, idx in topic_members(topics).items()}
    _, model_vectors = topic_embeddings(topic_model)
    for t in topic_ids:  # a topic could lose every member to nothing; keep its model vector
        if t not in centroids:
            centroids[t] = model_vectors[topic_ids.index(t)]
    return [FittedTopic(t, keywords(topic_model, t), centroids[t], seed_of.get(t))
            for t in topic_ids]


def _name_and_group(fitted_topics: list[FittedTopic], docs: list[str], topics: list[int],
                    topic_sim, stop_words) -> tuple[list[FittedTopic], FittedParents]:
    """Readable names for topics and their parent groups, from each one's own comments
    (most typical first: closest to the topic), and the grouping itself."""
    members = topic_members(topics)
    for idx in members.values():
        idx.sort(key=lambda i: -topic_sim[i])
    topic_docs = {t.topic: [docs[i] for i in members.get(t.topic, [])] for t in fitted_topics}
    names = phrase_names(topic_docs, {t.topic: t.keywords for t in fitted_topics},
                         stop_words=stop_words)
    named = [dataclasses.replace(t, name=names.get(t.topic)) for t in fitted_topics]
    if not named:
        return named, FittedParents({}, {}, {})
    sizes = [len(members.get(t.topic, [])) for t in named]
    groups = group_themes(np.vstack([t.centroid for t in named]), sizes)
    group_of = {t.topic: int(g) for t, g in zip(named, groups)}
    group_docs: dict[int, list[str]] = {}
    group_keywords: dict[int, list[str]] = {}
    # Largest topics first: a parent reads like what most of its comments say.
    for t, size in sorted(zip(named, sizes), key=lambda pair: -pair[1]):
        group = group_of[t.topic]
        group_docs.setdefault(group, []).extend(topic_docs[t.topic][:PARENT_DOCS_PER_TOPIC])
        words = group_keywords.setdefault(group, [])
        words.extend(w for w in t.keywords[:3] if w not in words)
    # Three words at most: a parent's longer phrases belong to one of its children.
    group_names = phrase_names(group_docs, group_keywords, stop_words=stop_words, max_words=3)
    return named, FittedParents(group_of, group_names,
                                {g: w[:10] for g, w in group_keywords.items()})


def _map(topic_model, vectors, pipeline, n) -> tuple[Any, np.ndarray]:
    reduced = getattr(topic_model.umap_model, "embedding_", None)
    if reduced is None or len(reduced) != n:
        reduced = topic_model.umap_model.transform(vectors)
    reduced = np.asarray(reduced, dtype=np.float32)
    if reduced.shape[1] <= 2:
        return None, np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
    map_model = pipeline.build_map_model(n)
    coords = map_model.fit_transform(reduced)
    return map_model, np.asarray(coords, dtype=float)


# ---------------------------------------------------------------------------------- write

def existing_themes(db: sqlite_utils.Database, embedder_name: str) -> list[ExistingTheme]:
    """Every child theme, with its stored centroid for this embedder (None if it has none)."""
    rows = db.query(
        "SELECT t.id, t.name, t.status, t.merged_into, t.name_locked, t.is_seed, c.vector "
        "FROM themes t LEFT JOIN theme_centroids c ON c.theme_id = t.id AND c.embedder = ? "
        "WHERE t.is_parent = 0 ORDER BY t.id", [embedder_name])
    return [ExistingTheme(r["id"], r["name"], r["status"], r["merged_into"],
                          bool(r["name_locked"]), bool(r["is_seed"]),
                          None if r["vector"] is None else np.frombuffer(r["vector"], dtype="<f4"))
            for r in rows]


def write_fit(db: sqlite_utils.Database, fitted: FittedModel, *, actor: str,
              at: str) -> RefreshResult:
    """Write a fit and make its model the active one (inside the caller's transaction)."""
    params, assignments = fitted.params, fitted.assignments
    ids, empty_ids, duplicates = assignments.ids, fitted.empty_ids, fitted.duplicates
    embedder_name = params["embedder"]
    db.execute("UPDATE theme_models SET is_active = 0 WHERE is_active = 1")
    model_id = db.execute(
        "INSERT INTO theme_models (version, path, params, n_documents, n_themes, is_active, "
        "created_at, created_by) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
        [fitted.version, str(fitted.folder), json.dumps(params, default=str), len(ids),
         len(fitted.topics), at, actor]).lastrowid

    plan = reconcile(fitted.topics, existing_themes(db, embedder_name),
                     match_threshold=fitted.match_threshold)
    topic_to_theme, centroid_owner = _write_plan(db, plan, fitted.version, actor=actor, at=at)
    centroids = {t.topic: t.centroid for t in fitted.topics}

    db.conn.executemany("INSERT INTO model_topics (model_id, topic, theme_id) VALUES (?, ?, ?)",
                        [(model_id, int(t), int(th)) for t, th in topic_to_theme.items()])
    db.conn.executemany(
        "INSERT INTO theme_centroids (theme_id, model_id, embedder, dim, vector, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (theme_id) DO UPDATE SET model_id = excluded.model_id, "
        "embedder = excluded.embedder, dim = excluded.dim, vector = excluded.vector, "
        "updated_at = excluded.updated_at",
        [(owner, model_id, embedder_name, int(centroids[t].shape[0]),
          np.asarray(centroids[t], dtype="<f4").tobytes(), at)
         for t, owner in centroid_owner.items()])

    # Assignments are replaced as a whole, inside this transaction.
    db.execute("DELETE FROM theme_assignments")
    db.conn.executemany(
        "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, origin, "
        "model_id, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        assignments.rows(topic_to_theme, model_id=model_id, at=at, fresh_origin="fit"))
    admin.apply_corrections(db, at=at)
    n_parents = _write_parents(db, fitted, topic_to_theme, actor=actor, at=at)

    db.execute("DELETE FROM near_duplicates")
    db.conn.executemany("INSERT INTO near_duplicates (feedback_id, canonical_id, similarity) "
                        "VALUES (?, ?, ?)", [(f, c, min(1.0, s)) for f, c, s in duplicates])
    db.execute("DELETE FROM comment_map")
    db.conn.executemany("INSERT INTO comment_map (feedback_id, model_id, x, y) VALUES (?, ?, ?, ?)",
                        [(fid, model_id, float(x), float(y))
                         for fid, (x, y) in zip(ids, fitted.coords)])
    db.execute("DELETE FROM theme_coverage")
    db.conn.executemany("INSERT INTO theme_coverage (feedback_id, model_id, considered_at) "
                        "VALUES (?, ?, ?)", [(fid, model_id, at) for fid in [*ids, *empty_ids]])

    themed = db.execute("SELECT COUNT(DISTINCT feedback_id) FROM theme_assignments").fetchone()[0]
    total = len(ids) + len(empty_ids)
    n_themes = len(set(topic_to_theme.values()))
    unthemed = 1 - themed / total if total else 0.0
    groups = len({c for _, c, _ in duplicates})
    seeded = sum(t.seed_theme_id is not None for t in fitted.topics)
    small = (f" Small corpus ({total:,} comments): themes are tentative and sharpen as feedback "
             "grows." if total < SMALL_CORPUS else "")
    message = (f"Fitted theme model {fitted.version} on {len(ids):,} comments: {n_themes} themes "
               f"in {n_parents} parent themes "
               f"({plan.count(CREATED)} new, {len(plan.retire)} retired, {plan.count(REVIVED)} "
               f"revived, {seeded} seeded), {unthemed:.1%} unthemed, {groups} near-duplicate "
               f"group(s).{small}")
    return RefreshResult(fitted.version, True, total, n_themes, themed, unthemed, message)


def _write_plan(db, plan: ReconcilePlan, version: str, *, actor: str,
                at: str) -> tuple[dict[int, int], dict[int, int]]:
    """Create, revive, relabel and retire themes as planned; return topic -> theme id and
    topic -> the theme whose centroid it updates."""
    topic_to_theme: dict[int, int] = {}
    centroid_owner: dict[int, int] = {}
    for decision in plan.decisions:
        theme_id = decision.theme_id
        if decision.outcome == CREATED:
            theme_id = db.execute(
                "INSERT INTO themes (name, auto_name, keywords, status, created_at, created_by, "
                "updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?)",
                [decision.name, decision.name, json.dumps(decision.keywords), at, actor,
                 at]).lastrowid
            admin.record_theme_event(db, theme_id, "created", {
                "model": version, "topic": decision.topic, "keywords": decision.keywords[:10]},
                actor=actor, at=at)
        elif decision.outcome == REVIVED:
            db.execute("UPDATE themes SET status = 'active', updated_at = ? WHERE id = ?",
                       [at, theme_id])
            admin.record_theme_event(db, theme_id, "revived", {
                "model": version, "similarity": decision.similarity}, actor=actor, at=at)
        _write_labels(db, theme_id, decision, version, actor=actor, at=at)
        topic_to_theme[decision.topic] = theme_id
        centroid_owner[decision.topic] = (theme_id if decision.centroid_owner is None
                                          else decision.centroid_owner)
    for theme_id in plan.retire:
        db.execute("UPDATE themes SET status = 'retired', updated_at = ? WHERE id = ?",
                   [at, theme_id])
        admin.record_theme_event(db, theme_id, "retired", {
            "model": version, "reason": "no topic matched it"}, actor=actor, at=at)
    return topic_to_theme, centroid_owner


def _write_labels(db, theme_id: int, decision, version: str, *, actor: str, at: str) -> None:
    keywords_json = json.dumps(decision.keywords)
    if not decision.takes_name:
        db.execute("UPDATE themes SET auto_name = ?, keywords = ?, updated_at = ? WHERE id = ?",
                   [decision.name, keywords_json, at, theme_id])
        return
    db.execute("UPDATE themes SET name = ?, auto_name = ?, keywords = ?, updated_at = ? "
               "WHERE id = ?", [decision.name, decision.name, keywords_json, at, theme_id])
    if decision.renamed_from is not None:
        admin.record_theme_event(db, theme_id, "relabelled", {
            "old": decision.renamed_from, "new": decision.name, "model": version},
            actor=actor, at=at)


def _write_parents(db, fitted: FittedModel, topic_to_theme: dict[int, int], *, actor: str,
                   at: str) -> int:
    """Group this fit's child themes under parents (kept, revived or created; see
    `hierarchy.plan_parents`), inside the caller's transaction. Returns how many parents
    are active."""
    version, parents_fit = fitted.version, fitted.parents
    sizes = dict(db.execute("SELECT theme_id, SUM(is_primary) FROM theme_assignments "
                            "GROUP BY theme_id").fetchall())
    # A theme two topics landed on (through a merge) joins the group of its larger topic.
    topic_size = Counter(fitted.assignments.topics)
    groups: dict[int, int] = {}
    for topic in sorted(topic_to_theme, key=lambda t: topic_size[t]):
        if topic in parents_fit.group_of:
            groups[topic_to_theme[topic]] = parents_fit.group_of[topic]
    children = db.execute(
        "SELECT id, parent_id, parent_locked FROM themes WHERE is_parent = 0 AND "
        "status = 'active'").fetchall()
    current = {c: p for c, p, _ in children if c in groups}
    locked = {c: p for c, p, is_locked in children if is_locked and p is not None}
    existing = [ExistingParent(r[0], r[1], r[2]) for r in db.execute(
        "SELECT id, status, merged_into FROM themes WHERE is_parent = 1 ORDER BY id")]
    plan = plan_parents(groups, sizes, current, existing, locked=locked)

    for decision in plan.decisions:
        # A parent kept only for moved children has no group: its name and keywords stay.
        name = parents_fit.names.get(decision.group) if decision.group is not None else None
        words = json.dumps(parents_fit.keywords.get(decision.group, []))
        parent_id = decision.parent_id
        if decision.outcome == hierarchy.CREATED:
            parent_id = db.execute(
                "INSERT INTO themes (name, auto_name, keywords, is_parent, status, created_at, "
                "created_by, updated_at) VALUES (?, ?, ?, 1, 'active', ?, ?, ?)",
                [name or "Misc", name, words, at, actor, at]).lastrowid
            admin.record_theme_event(db, parent_id, "created", {
                "model": version, "children": list(decision.children)}, actor=actor, at=at)
        else:
            if decision.outcome == hierarchy.REVIVED:
                db.execute("UPDATE themes SET status = 'active', updated_at = ? WHERE id = ?",
                           [at, parent_id])
                admin.record_theme_event(db, parent_id, "revived", {"model": version},
                                         actor=actor, at=at)
            if name is not None:
                _relabel_parent(db, parent_id, name, words, version, actor=actor, at=at)
        for child in decision.children:
            before = current.get(child)
            if before == parent_id:
                continue
            db.execute("UPDATE themes SET parent_id = ?, updated_at = ? WHERE id = ?",
                       [parent_id, at, child])
            if before is not None:
                admin.record_theme_event(db, child, "regrouped", {
                    "from": before, "to": parent_id, "model": version}, actor=actor, at=at)
    for parent_id in plan.retire:
        db.execute("UPDATE themes SET status = 'retired', updated_at = ? WHERE id = ?",
                   [at, parent_id])
        admin.record_theme_event(db, parent_id, "retired", {
            "model": version, "reason": "no child theme left in it"}, actor=actor, at=at)
    return len(plan.decisions)


def _relabel_parent(db, parent_id: int, name: str, words: str, version: str, *, actor: str,
                    at: str) -> None:
    old, locked = db.execute("SELECT name, name_locked FROM themes WHERE id = ?",
                             [parent_id]).fetchone()
    if locked:
        db.execute("UPDATE themes SET auto_name = ?, keywords = ?, updated_at = ? WHERE id = ?",
                   [name, words, at, parent_id])
        return
    db.execute("UPDATE themes SET name = ?, auto_name = ?, keywords = ?, updated_at = ? "
               "WHERE id = ?", [name, name, words, at, parent_id])
    if old != name:
        admin.record_theme_event(db, parent_id, "relabelled", {
            "old": old, "new": name, "model": version}, actor=actor, at=at)

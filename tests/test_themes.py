"""Themes on small corpora with known clusters, using the tiny pipeline (no model files)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import homogeneity_score, normalized_mutual_info_score

from analysis import jobs, store, themes
from analysis.ingest import feedback
from analysis.text.embeddings import HashingEmbedder, file_sha256
from analysis.themes import admin as theme_admin
from analysis.themes import near_duplicates, persistence

TOPICS = {
    "wait": ["queue", "waiting", "wait", "minutes", "line", "slow", "hour", "queued", "delay", "till"],
    "staff": ["staff", "friendly", "helpful", "rude", "cashier", "manager", "polite", "smile",
              "assistant", "attitude"],
    "price": ["price", "expensive", "cheap", "cost", "overpriced", "discount", "value", "money",
              "pricing", "bill"],
    "app": ["app", "crash", "login", "password", "website", "update", "bug", "screen", "checkout",
            "error"],
}
PARKING = ["parking", "car", "park", "spaces", "parked", "lot", "spot", "ticket", "barrier", "bay"]
FILLER = ["really", "very", "today", "again", "honestly", "overall", "definitely", "just"]
LOCATIONS = ["Riverside Mall", "Oakfield"]


def make_comments(n_per=60, seed=0, topics=TOPICS, words=5):
    rng = random.Random(seed)
    rows = []
    for label, vocab in topics.items():
        for _ in range(n_per):
            picked = rng.sample(vocab, words) + rng.sample(FILLER, 2)
            rng.shuffle(picked)
            location = rng.choice(LOCATIONS)
            # Every comment names its branch and a handle: themes must not be about them.
            text = f"At {location} @riverside_help {' '.join(picked)} #{rng.choice(vocab)}"
            rows.append({"comment": text, "label": label, "location": location})
    rng.shuffle(rows)
    return rows


def insert(db, rows, start=0):
    records = [{"source": "test", "external_id": f"r{start + i}",
                "received_at": "2025-01-01T00:00:00Z", "comment": r["comment"],
                "location": r.get("location"), "customer_name": r.get("customer_name")}
               for i, r in enumerate(rows)]
    with store.write_transaction(db):
        feedback.insert_feedback(db, records, batch_id=None, actor="test")
    ids = [r[0] for r in db.execute(
        "SELECT id FROM feedback WHERE external_id IN (%s) ORDER BY id" % ",".join("?" * len(records)),
        [r["external_id"] for r in records]).fetchall()]
    by_ext = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
    return [by_ext[r["external_id"]] for r in records] if ids else []


def primaries(db) -> dict[int, int]:
    return dict(db.execute(
        "SELECT feedback_id, theme_id FROM theme_assignments WHERE is_primary = 1").fetchall())


def majority_theme(db, ids, labels, label):
    prim = primaries(db)
    got = [prim.get(i) for i, lab in zip(ids, labels) if lab == label]
    return max(set(got), key=got.count)


def tiny(**kw):
    return themes.ThemePipeline.tiny(**kw)


@pytest.fixture
def corpus_db(db):
    rows = make_comments()
    ids = insert(db, rows)
    return db, ids, [r["label"] for r in rows]


def test_themes_recover_known_clusters(corpus_db):
    db, ids, labels = corpus_db
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.refit and result.n_documents == 240 and result.n_themes == 4
    prim = primaries(db)
    nmi = normalized_mutual_info_score(labels, [prim.get(i, -1) for i in ids])
    assert nmi > 0.9
    assert "240 comments" in result.message and "\n" not in result.message
    # Exactly one primary per themed comment, and a map point for every comment.
    multi = db.execute("SELECT feedback_id FROM theme_assignments GROUP BY feedback_id "
                       "HAVING SUM(is_primary) != 1").fetchall()
    assert multi == []
    assert db.execute("SELECT COUNT(*) FROM comment_map").fetchone()[0] == 240


def test_theme_names_never_mention_locations_or_handles(corpus_db):
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    text = " ".join(r[0] + " " + r[1] for r in db.execute("SELECT name, keywords FROM themes"))
    for banned in ("riverside", "mall", "oakfield", "riverside_help", "@", "#"):
        assert banned not in text.lower()
    for is_parent in (0, 1):
        names = [r[0].casefold() for r in db.execute(
            "SELECT name FROM themes WHERE status = 'active' AND is_parent = ?", [is_parent])]
        assert names and len(set(names)) == len(names)  # a reader tells every theme apart


class CountingEmbedder(HashingEmbedder):
    def __init__(self):
        super().__init__(dim=256)
        self.encoded = 0

    def encode(self, texts):
        self.encoded += len(texts)
        return super().encode(texts)


def test_refresh_embeds_only_new_comments(corpus_db):
    db, _, _ = corpus_db
    embedder = CountingEmbedder()
    pipeline = tiny(embedder=embedder)
    themes.refresh_themes(db, pipeline=pipeline, actor="test")
    assert embedder.encoded == 240
    themes.refresh_themes(db, pipeline=pipeline, refit=True, actor="test")
    assert embedder.encoded == 240  # refit on cached vectors
    insert(db, make_comments(n_per=3, seed=5), start=1000)
    result = themes.refresh_themes(db, pipeline=pipeline, actor="test")
    assert not result.refit and result.n_documents == 12
    assert embedder.encoded == 252


def test_new_comments_assigned_by_transform_without_refit(corpus_db):
    db, ids, labels = corpus_db
    first = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    n_models = db.execute("SELECT COUNT(*) FROM theme_models").fetchone()[0]
    new_rows = make_comments(n_per=5, seed=9)
    new_ids = insert(db, new_rows, start=500)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert not result.refit and result.model_version == first.model_version
    assert db.execute("SELECT COUNT(*) FROM theme_models").fetchone()[0] == n_models
    assert result.n_documents == 20 and result.n_new_assigned >= 18
    prim = primaries(db)
    for label in TOPICS:
        expected = majority_theme(db, ids, labels, label)
        got = [prim.get(i) for i, r in zip(new_ids, new_rows) if r["label"] == label]
        assert got.count(expected) >= 4
    origins = {r[0] for r in db.execute(
        "SELECT origin FROM theme_assignments WHERE feedback_id IN (%s)" % ",".join(map(str, new_ids)))}
    assert origins <= {"transform", "outlier_reduction"}
    # Nothing new: a clear no-op.
    again = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert again.n_documents == 0 and "No new comments" in again.message


def parent_of_each_theme(db) -> dict[int, int]:
    return dict(db.execute("SELECT id, parent_id FROM themes WHERE is_parent = 0 AND "
                           "status = 'active'").fetchall())


def test_theme_ids_are_stable_across_a_refit_on_the_same_data(corpus_db):
    db, ids, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    before = primaries(db)
    parents_before = parent_of_each_theme(db)
    second = themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test")
    assert primaries(db) == before
    assert "0 new, 0 retired" in second.message
    assert db.execute("SELECT COUNT(*) FROM themes WHERE is_parent = 0").fetchone()[0] == 4
    # Parents too: the same children under the same parent ids, and no parent created.
    assert parent_of_each_theme(db) == parents_before
    assert db.execute("SELECT COUNT(*) FROM themes WHERE is_parent = 1").fetchone()[0] == \
        len(set(parents_before.values()))


def test_rename_and_merge_survive_a_refit(corpus_db):
    db, ids, labels = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    wait = majority_theme(db, ids, labels, "wait")
    price = majority_theme(db, ids, labels, "price")
    staff = majority_theme(db, ids, labels, "staff")
    theme_admin.rename_theme(db, wait, "Queues at the till", actor="ana")
    theme_admin.merge_themes(db, [staff], price, actor="ana")
    themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test")
    assert db.execute("SELECT name, status FROM themes WHERE id = ?", [wait]).fetchone() == \
        ("Queues at the till", "active")
    assert db.execute("SELECT status, merged_into FROM themes WHERE id = ?",
                      [staff]).fetchone() == ("merged", price)
    assert majority_theme(db, ids, labels, "staff") == price
    assert majority_theme(db, ids, labels, "price") == price
    assert db.execute("SELECT COUNT(*) FROM theme_assignments WHERE theme_id = ?",
                      [staff]).fetchone()[0] == 0


def test_corrections_survive_a_refit_and_a_transform(corpus_db):
    db, ids, labels = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    wait = majority_theme(db, ids, labels, "wait")
    app = majority_theme(db, ids, labels, "app")
    target = next(i for i, lab in zip(ids, labels) if lab == "wait")
    other = next(i for i, lab in zip(ids, labels) if lab == "price")
    theme_admin.correct_theme(db, target, wait, app, actor="ana")
    theme_admin.correct_theme(db, other, primaries(db)[other], None, actor="ana")
    themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test")
    rows = db.execute("SELECT theme_id, is_primary, origin FROM theme_assignments "
                      "WHERE feedback_id = ?", [target]).fetchall()
    assert (app, 1, "analyst") in rows and all(r[0] != wait for r in rows)
    assert other not in primaries(db)


def test_seed_theme_appears_and_collects_its_comments(db):
    topics = dict(TOPICS, parking=PARKING)
    rows = make_comments(n_per=50, topics=topics)
    ids = insert(db, rows)
    # The hashing embedder only sees shared words, so the analyst lists the vocabulary.
    seed = theme_admin.add_seed_theme(db, "Parking", PARKING, actor="ana")
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert "1 seeded" in result.message
    prim = primaries(db)
    parking = [prim.get(i) for i, r in zip(ids, rows) if r["label"] == "parking"]
    assert parking.count(seed) >= 40
    others = [prim.get(i) for i, r in zip(ids, rows) if r["label"] != "parking"]
    assert others.count(seed) <= 10
    assert db.execute("SELECT name FROM themes WHERE id = ?", [seed]).fetchone()[0] == "Parking"
    assert db.execute("SELECT theme_id FROM model_topics WHERE theme_id = ?", [seed]).fetchone()


def test_comment_about_two_subjects_carries_two_themes(db):
    rows = make_comments(n_per=60)
    rng = random.Random(3)
    mixed = [{"comment": " ".join(rng.sample(TOPICS["wait"], 4) + rng.sample(TOPICS["price"], 4)),
              "label": "mixed"} for _ in range(12)]
    ids = insert(db, rows + mixed)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    # A comment with two themes is still one themed comment.
    assert themes.themed_share(db) == pytest.approx(1 - result.unthemed_share)
    counts = dict(db.execute(
        "SELECT feedback_id, COUNT(*) FROM theme_assignments GROUP BY feedback_id").fetchall())
    mixed_ids = ids[len(rows):]
    assert sum(counts.get(i, 0) >= 2 for i in mixed_ids) >= 6
    pure_multi = sum(counts.get(i, 0) >= 2 for i in ids[:len(rows)])
    assert pure_multi <= len(rows) * 0.1
    assert db.execute("SELECT COUNT(*) FROM (SELECT feedback_id FROM theme_assignments "
                      "GROUP BY feedback_id HAVING SUM(is_primary) != 1)").fetchone()[0] == 0


def test_outliers_are_reduced_to_at_most_ten_percent(db):
    rows = make_comments(n_per=50)
    rng = random.Random(4)
    # Words no other comment uses: these cannot form a cluster and start as outliers.
    noise = [{"comment": " ".join("".join(rng.choices("bcdfghjklmnpqrstvwxz", k=6))
                                  for _ in range(6))} for _ in range(60)]
    # Nothing left once handles and links are stripped: unthemed, and counted as such.
    bare = [{"comment": f"@riverside_help https://t.example/{i}"} for i in range(12)]
    insert(db, rows + noise + bare)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.n_documents == 272
    assert result.unthemed_share <= 0.10
    assert themes.themed_share(db) >= 0.90
    assert db.execute("SELECT COUNT(*) FROM theme_assignments WHERE origin = 'outlier_reduction'"
                      ).fetchone()[0] > 0


def test_near_duplicates_are_grouped_under_the_oldest_comment(db):
    rows = make_comments(n_per=40)
    base = "queue waiting minutes slow till line delay hour"
    dupes = [{"comment": base}, {"comment": base + "!"}, {"comment": "  " + base.upper()},
             {"comment": base.replace(" ", ", ") + " and the"},
             {"comment": base.replace("hour", "app crash login")}]
    ids = insert(db, rows + dupes)
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    dupe_ids = ids[len(rows):-1]
    grouped = dict(db.execute("SELECT feedback_id, canonical_id FROM near_duplicates").fetchall())
    canonical = min(dupe_ids)
    assert all(grouped.get(i) == canonical for i in dupe_ids if i != canonical)
    assert canonical not in grouped and ids[-1] not in grouped
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == len(rows) + 5


def test_near_duplicate_groups_are_whole_chains_under_their_oldest_comment():
    """a~b and b~c group a, b and c even though a and c are not near: the group is the
    connected component, and its smallest id is canonical whatever the input order."""
    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    b = np.array([1.0, 0.3, 0.0], dtype=np.float32)  # cos(a, b) 0.958
    c = np.array([1.0, 0.6, 0.0], dtype=np.float32)  # cos(b, c) 0.985, cos(a, c) 0.857
    far = np.array([0.0, 0.0, 1.0], dtype=np.float32)
    ids = [30, 25, 12, 5, 40]
    found = near_duplicates.find_near_duplicates(ids, np.vstack([b, c, a, far, 2 * a]), 0.95)
    assert [(f, canonical) for f, canonical, _ in found] == [(30, 12), (25, 12), (40, 12)]
    similarity = {f: s for f, _, s in found}
    assert similarity[30] == pytest.approx(0.958, abs=1e-3)
    assert similarity[25] == pytest.approx(0.857, abs=1e-3)  # to the canonical, not the chain
    assert similarity[40] == pytest.approx(1.0)  # the same direction, another length


def test_near_duplicates_of_new_comments_only_pair_them_with_anything():
    vectors = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], dtype=np.float32)
    new = np.array([False, False, True, False])
    found = near_duplicates.find_near_duplicates([1, 2, 3, 4], vectors, 0.95, new_mask=new)
    assert [(f, canonical) for f, canonical, _ in found] == [(4, 3)]
    assert near_duplicates.find_near_duplicates([1], vectors[:1], 0.95) == []


def test_empty_corpus_returns_a_message(db):
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.n_themes == 0 and result.model_version is None
    assert "No comments" in result.message


def test_tiny_corpus_returns_a_message_and_small_corpus_still_fits(db):
    insert(db, make_comments(n_per=3))
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.model_version is None and "at least" in result.message
    insert(db, make_comments(n_per=25, seed=1), start=100)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.model_version and result.n_themes >= 2
    assert "Small corpus" in result.message


def test_failure_mid_fit_leaves_previous_themes_intact(corpus_db, monkeypatch, tmp_path):
    db, _, _ = corpus_db
    first = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    before = db.execute("SELECT * FROM theme_assignments ORDER BY 1, 2").fetchall()

    def boom(*args, **kwargs):
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(theme_admin, "apply_corrections", boom)
    with pytest.raises(RuntimeError):
        themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test")
    assert db.execute("SELECT * FROM theme_assignments ORDER BY 1, 2").fetchall() == before
    assert db.execute("SELECT version FROM theme_models WHERE is_active = 1").fetchone()[0] == \
        first.model_version
    assert db.execute("SELECT COUNT(*) FROM theme_models").fetchone()[0] == 1
    status = db.execute("SELECT status, message FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
    assert status[0] == "failed" and "killed mid-write" in status[1]
    assert len(list((tmp_path / "models").iterdir())) == 1  # the half-saved model is gone


def test_progress_is_reported_and_job_recorded(corpus_db):
    db, _, _ = corpus_db
    seen = []
    themes.refresh_themes(db, pipeline=tiny(), actor="test", progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    job = db.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT 1").fetchone()[0]
    status = themes.job_status(db, job)
    assert status["status"] == "done" and status["progress"] == 1.0 and status["kind"] == "themes"


def test_background_job_runs_with_its_own_connection(corpus_db, db_path):
    db, _, _ = corpus_db
    job = themes.start_refresh_job(db_path, refit=False, actor="test", pipeline=tiny())
    assert themes.wait_for_job(job, timeout=60)
    status = themes.job_status(db, job)
    assert status["status"] == "done", status
    assert db.execute("SELECT COUNT(*) FROM theme_assignments").fetchone()[0] > 0


PERSISTENCE_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from analysis import store, themes
    from analysis.text.embeddings import HashingEmbedder
    db = store.connect({db!r})
    loaded = themes.load_active_model(db, embedder=HashingEmbedder(dim=256))
    docs = json.loads(sys.stdin.read())
    vectors = HashingEmbedder(dim=256).encode(docs)
    topics, _ = loaded.topic_model.transform(docs, embeddings=vectors)
    print(json.dumps([int(t) for t in topics]))
""")


def _persistence_check(db, db_path, pipeline):
    themes.refresh_themes(db, pipeline=pipeline, actor="test")
    loaded = themes.load_active_model(db)  # the in-memory model, kept warm by the fit
    docs = [r["comment"] for r in make_comments(n_per=10, seed=42)]
    docs += ["queue price app staff", "nothing in common here at all", "slow expensive login"]
    vectors = pipeline.embedder.encode(docs)
    in_memory, _ = loaded.topic_model.transform(docs, embeddings=vectors)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", PERSISTENCE_SCRIPT.format(root=root, db=str(db_path))],
        input=json.dumps(docs), capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [int(t) for t in in_memory]


def test_saved_model_assigns_new_comments_like_the_in_memory_one(corpus_db, db_path):
    db, _, _ = corpus_db
    _persistence_check(db, db_path, tiny())


@pytest.mark.slow
def test_saved_umap_hdbscan_model_assigns_like_the_in_memory_one(corpus_db, db_path):
    db, _, _ = corpus_db
    pipeline = tiny(umap_model=None, map_model=None)
    _persistence_check(db, db_path, pipeline)


def test_model_outside_model_dir_or_tampered_is_refused(corpus_db, tmp_path):
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    persistence.forget_loaded_models()
    path = db.execute("SELECT path FROM theme_models WHERE is_active = 1").fetchone()[0]
    with open(os.path.join(path, "model.pkl"), "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(RuntimeError, match="SHA-256"):
        themes.load_active_model(db, embedder=HashingEmbedder(dim=256))


def test_missing_saved_model_leads_to_a_refit_not_a_crash(corpus_db):
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    persistence.forget_loaded_models()
    path = db.execute("SELECT path FROM theme_models WHERE is_active = 1").fetchone()[0]
    os.remove(os.path.join(path, "model.pkl"))
    insert(db, make_comments(n_per=2, seed=8), start=900)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.refit and "could not be used" in result.message


def _resave_active_model(db, tmp_path, change, edit_bytes=None):
    """Save the active model again after `change(topic_model)` (and `edit_bytes` on the
    pickle), as another version of our code would have, and point the store at it."""
    loaded = themes.load_active_model(db, embedder=HashingEmbedder(dim=256))
    change(loaded.topic_model)
    folder = tmp_path / "models" / "resaved"
    row = persistence.active_model_row(db)
    params = {**row["params"], **persistence.save_model(loaded.topic_model, loaded.map_model,
                                                         folder)}
    if edit_bytes is not None:
        pickled = folder / "model.pkl"
        pickled.write_bytes(edit_bytes(pickled.read_bytes()))
        params["model_sha256"] = file_sha256(pickled)
    with store.write_transaction(db):
        db.execute("UPDATE theme_models SET path = ?, params = ? WHERE id = ?",
                   [str(folder), json.dumps(params), row["id"]])
    persistence.forget_loaded_models()
    return folder / "model.pkl"


@contextlib.contextmanager
def _pickled_as_before_the_package():
    """While saving: the reducer wrapped as a refit at the retry size left it before themes
    became a package, where the pickle names the class analysis.themes._Prefitted."""
    from analysis.themes.pipeline import Prefitted

    saved = Prefitted.__module__, Prefitted.__qualname__
    Prefitted.__module__, Prefitted.__qualname__ = "analysis.themes", "_Prefitted"

    def wrap(topic_model):
        topic_model.umap_model = Prefitted(topic_model.umap_model,
                                           np.zeros((1, 256), dtype=np.float32))
    try:
        yield wrap
    finally:
        Prefitted.__module__, Prefitted.__qualname__ = saved


def test_a_model_pickled_by_the_single_module_layout_still_assigns_new_comments(
        corpus_db, tmp_path):
    db, _, _ = corpus_db
    first = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    with _pickled_as_before_the_package() as wrap:
        pickled = _resave_active_model(db, tmp_path, wrap)
    assert b"analysis.themes" in pickled.read_bytes() and b"_Prefitted" in pickled.read_bytes()
    insert(db, make_comments(n_per=2, seed=8), start=900)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert not result.refit and result.model_version == first.model_version, result.message
    assert result.n_new_assigned == 8


def test_a_model_pickled_with_a_class_that_is_gone_is_refitted_not_a_crash(corpus_db, tmp_path):
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    with _pickled_as_before_the_package() as wrap:
        _resave_active_model(db, tmp_path, wrap,
                             edit_bytes=lambda data: data.replace(b"_Prefitted", b"_Vanished_"))
    insert(db, make_comments(n_per=2, seed=8), start=900)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.refit and "could not be used" in result.message, result.message


def test_too_large_min_cluster_size_is_retried_at_the_retry_size(db):
    insert(db, make_comments(n_per=150))
    pipeline = tiny(min_cluster_size=500)
    result = themes.refresh_themes(db, pipeline=pipeline, actor="test")
    assert result.n_themes >= 3, result.message
    params = json.loads(db.execute("SELECT params FROM theme_models").fetchone()[0])
    assert params["min_cluster_size"] < 500


DEMO_CLOCKS = [None,  # the seeded_db fixture's own clock: today's demo data
               datetime(2026, 11, 23, 10, tzinfo=timezone.utc),
               # One giant cluster at min_cluster_size 10: found only by the retry below 10.
               datetime(2027, 6, 11, 14, tzinfo=timezone.utc)]


@pytest.mark.parametrize("now", DEMO_CLOCKS, ids=["today", "2026-11-23", "2027-06-11"])
def test_tiny_pipeline_finds_themes_on_the_demo_store(db, tmp_path, now):
    """What the browser tests and quick demos rely on: themes on 2,000 demo responses with
    the tiny pipeline's defaults. (Before: min_cluster_size n/30 and min_samples equal to
    it marked the hashing vectors all noise, and only retries found a few themes.)"""
    from analysis import demo

    demo.generate_demo(db, rows=2000, seed=7, truth_path=tmp_path / "demo_truth.json",
                       actor="test", now=now)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.n_themes >= 3, result.message
    assert result.unthemed_share <= 0.10, result.message
    assert themes.themed_share(db) >= 0.90


def test_auto_name_skips_repeated_words():
    assert themes.auto_name(["wait", "time", "wait time", "queue"]) == "wait / time / queue"
    assert themes.auto_name([]) == "misc"


def test_auto_name_skips_bigrams_that_say_one_word_twice():
    keywords = ["slow slow", "slow minutes", "slow", "queue queued", "breakfast wrap", "lunch"]
    assert themes.auto_name(keywords) == "slow minutes / breakfast wrap / lunch"
    assert themes.auto_name(["staff staff", "staff polite"]) == "staff polite"


def test_min_cluster_size_scales_with_corpus():
    assert themes.default_min_cluster_size(300) == 10
    assert themes.default_min_cluster_size(17_373) == 58
    assert 3 <= themes.default_min_cluster_size(40) <= 10


def test_min_cluster_size_grows_with_the_square_root_beyond_20k():
    at_20k = themes.default_min_cluster_size(20_000)
    assert themes.default_min_cluster_size(20_001) == at_20k  # no jump where the rules meet
    assert abs(themes.default_min_cluster_size(80_000) - 2 * at_20k) <= 1  # 4x corpus, 2x size
    assert themes.default_min_cluster_size(50_000) < 50_000 / 300


@pytest.mark.model
def test_real_model_finds_subjects_offline(db):
    """all-MiniLM-L6-v2 from disk, UMAP + HDBSCAN, KeyBERTInspired + MMR keywords."""
    templates = {
        "wait": ["I waited {n} minutes in the queue before anyone served me",
                 "The line at the till was far too long, {n} minutes of waiting",
                 "Slow service, we queued for {n} minutes just to pay"],
        "staff": ["The cashier was really friendly and helpful, thank you",
                  "Staff member was rude to me and ignored my question {n} times",
                  "Lovely polite assistant who went out of her way to help"],
        "price": ["Prices have gone up again, {n} pounds more than last month",
                  "Far too expensive for what you get, poor value for money",
                  "Good discount on my bill, saved {n} pounds"],
    }
    rng = random.Random(1)
    rows = []
    for label, options in templates.items():
        for i in range(100):
            text = rng.choice(options).format(n=rng.randint(5, 60))
            location = rng.choice(LOCATIONS)
            rows.append({"comment": f"{text} at {location}", "label": label, "location": location})
    rng.shuffle(rows)
    ids = insert(db, rows)
    result = themes.refresh_themes(db, actor="test")
    prim = primaries(db)
    truth, found = [r["label"] for r in rows], [prim.get(i, -1) for i in ids]
    # Three sentence patterns per subject may become themes of their own (a finer split is
    # fine); what must not happen is a theme mixing subjects.
    assert homogeneity_score(truth, found) > 0.8, result.message
    assert normalized_mutual_info_score(truth, found) > 0.5
    keywords = " ".join(r[0] for r in db.execute("SELECT keywords FROM themes"))
    assert "riverside" not in keywords.lower() and "oakfield" not in keywords.lower()
    assert result.unthemed_share <= 0.10
    assert np.isfinite(db.execute("SELECT SUM(x) FROM comment_map").fetchone()[0])


# ------------------------------------------------------------------ jobs across processes

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def insert_running_job(db, *, heartbeat, started="2025-03-01T11:00:00Z", host="elsewhere",
                       pid=4242, scope=None, actor="cron", progress=0.4, message="embedding"):
    """A 'running' theme job row as another process would have written it."""
    with store.write_transaction(db):
        return db.execute(
            "INSERT INTO jobs (kind, status, progress, message, started_at, actor, heartbeat_at, "
            "pid, host, pid_scope) VALUES ('themes', 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
            [progress, message, started, actor,
             None if heartbeat is None else store.to_iso(heartbeat), pid, host, scope]).lastrowid


def job_row(db, job_id):
    """The job's row as stored (`job_status` reports a dead one as interrupted instead)."""
    return next(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))


def test_a_dead_job_reads_as_interrupted_and_the_next_refresh_records_it_and_starts(corpus_db):
    db, _, _ = corpus_db
    stale = insert_running_job(db, heartbeat=NOW - timedelta(minutes=10))
    legacy = insert_running_job(db, heartbeat=None, started="2025-03-01T11:00:00Z")
    revision = store.revision(db)
    assert themes.running_job(db, now=NOW) is None
    since = {stale: "2025-03-01T11:50:00Z", legacy: "2025-03-01T11:00:00Z"}
    for job_id in (stale, legacy):
        status = themes.job_status(db, job_id, now=NOW)
        assert status["status"] == "interrupted", status
        assert status["message"].startswith(f"interrupted: no heartbeat since {since[job_id]}")
        assert job_row(db, job_id)["status"] == "running"
    assert store.revision(db) == revision  # reading wrote nothing
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test", now=NOW)
    assert result.n_themes == 4
    for job_id in (stale, legacy):
        row = job_row(db, job_id)  # recorded by the refresh that started, not deleted
        assert row["status"] == "failed", row
        assert row["message"].startswith(f"interrupted: no heartbeat since {since[job_id]}")
        assert row["finished_at"] == "2025-03-01T12:00:00Z" and row["finished_by"] == "test"
        assert row["progress"] == 0.4 and row["actor"] == "cron"
    assert db.execute("SELECT status FROM jobs ORDER BY id").fetchall() == \
        [("failed",), ("failed",), ("done",)]


def test_job_status_reports_a_dead_job_as_interrupted_so_a_page_stops_polling(db):
    job = insert_running_job(db, heartbeat=NOW - timedelta(minutes=6))
    assert themes.job_status(db, job, now=NOW - timedelta(minutes=5))["status"] == "running"
    status = themes.job_status(db, job, now=NOW)
    assert status["status"] == "interrupted" and status["message"].startswith("interrupted:")


def test_the_stale_threshold_is_a_setting(db, monkeypatch):
    job = insert_running_job(db, heartbeat=NOW - timedelta(seconds=90))
    assert themes.running_job(db, now=NOW)["id"] == job  # default: 5 minutes
    monkeypatch.setenv("CLOSELOOP_JOB_STALE_SECONDS", "60")
    assert themes.running_job(db, now=NOW) is None
    assert "stale after 60 s" in themes.job_status(db, job, now=NOW)["message"]
    monkeypatch.setenv("CLOSELOOP_JOB_STALE_SECONDS", "soon")
    with pytest.raises(ValueError, match="CLOSELOOP_JOB_STALE_SECONDS"):
        themes.running_job(db, now=NOW)


def test_a_refresh_stamps_its_job_from_the_clock_it_is_given(corpus_db):
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test", now=NOW)
    row = job_row(db, db.execute("SELECT MAX(id) FROM jobs").fetchone()[0])
    assert row["started_at"] == "2025-03-01T12:00:00Z"
    # The job's clock starts at `now` and runs on: no stamp from the wall clock.
    for stamp in (row["heartbeat_at"], row["finished_at"]):
        assert "2025-03-01T12:00:00Z" <= stamp < "2025-03-01T12:10:00Z", row


def test_a_live_job_blocks_a_second_start_from_any_connection(corpus_db, db_path):
    db, _, _ = corpus_db
    job = insert_running_job(db, heartbeat=NOW - timedelta(minutes=1))
    assert themes.running_job(db, now=NOW)["id"] == job
    with pytest.raises(themes.JobAlreadyRunning) as refused:
        themes.refresh_themes(db, pipeline=tiny(), actor="test", now=NOW)
    assert refused.value.job["id"] == job
    assert str(refused.value) == ("a theme refresh is already running (job "
                                  f"{job}, started 2025-03-01T11:00:00Z by cron on elsewhere, "
                                  "40%: embedding)")
    other = store.connect(db_path)
    try:
        with pytest.raises(themes.JobAlreadyRunning):
            themes.refresh_themes(other, pipeline=tiny(), refit=True, actor="test", now=NOW)
        # The app's button: the running job's id comes back, nothing new starts.
        assert themes.start_refresh_job(db_path, refit=True, actor="test", pipeline=tiny(),
                                        now=NOW) == job
    finally:
        other.close()
    assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM theme_models").fetchone()[0] == 0
    assert job_row(db, job)["status"] == "running"


def test_a_job_whose_process_is_gone_on_this_machine_frees_the_slot_at_once(db):
    if jobs.pid_scope() is None:
        pytest.skip("no /proc: only the heartbeat can tell")
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    here = dict(host=socket.gethostname(), scope=jobs.pid_scope())
    dead = insert_running_job(db, heartbeat=NOW, pid=ended.pid, **here)
    assert themes.running_job(db, now=NOW) is None  # a fresh heartbeat, but no process
    assert themes.job_status(db, dead, now=NOW)["message"] == (
        f"interrupted: no heartbeat since 2025-03-01T12:00:00Z (process {ended.pid} on "
        f"{here['host']} has ended)")
    # Our own pid is alive; the same pid seen from another machine proves nothing.
    alive = insert_running_job(db, heartbeat=NOW, pid=os.getpid(), **here)
    assert themes.running_job(db, now=NOW)["id"] == alive
    with store.write_transaction(db):
        db.execute("UPDATE jobs SET status = 'done' WHERE id = ?", [alive])
    elsewhere = insert_running_job(db, heartbeat=NOW, pid=ended.pid, scope="another/machine")
    assert themes.running_job(db, now=NOW)["id"] == elsewhere


RACE = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from analysis import jobs, store
    db = store.connect({db!r})
    open({tmp!r} + "/ready-" + sys.argv[1], "w").close()
    while not os.path.exists({tmp!r} + "/go"):
        time.sleep(0.002)
    try:
        job = jobs.start_job(db, "themes", actor="racer-" + sys.argv[1], now=store.utcnow())
        print("started", job, flush=True)
    except jobs.JobAlreadyRunning as exc:
        print("busy", exc.job["id"], flush=True)
    # Stay alive until every racer has tried: the winner's job must look alive (a job whose
    # process has ended is rightly taken as dead and replaced).
    while not os.path.exists({tmp!r} + "/finish"):
        time.sleep(0.01)
""")


def test_processes_racing_to_start_a_job_get_exactly_one(db, db_path, tmp_path):
    script = RACE.format(root=ROOT, db=str(db_path), tmp=str(tmp_path))
    racers = [subprocess.Popen([sys.executable, "-c", script, str(i)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=os.environ.copy())
              for i in range(3)]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{i}").exists() for i in range(3)):
            assert time.monotonic() < deadline and all(r.poll() is None for r in racers), \
                [r.communicate() for r in racers if r.poll() is not None]
            time.sleep(0.01)
        (tmp_path / "go").touch()
        words = sorted(racer.stdout.readline().split() for racer in racers)
    finally:
        (tmp_path / "finish").touch()
        outputs = [racer.communicate(timeout=60) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), outputs
    assert [w[0] for w in words] == ["busy", "busy", "started"], (words, outputs)
    assert len({w[1] for w in words}) == 1  # the two that lost were shown the winner's job
    assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_the_cli_refuses_while_a_theme_job_runs(db, db_path):
    job = insert_running_job(db, heartbeat=store.utcnow() - timedelta(seconds=20))
    out = subprocess.run(
        [sys.executable, "-m", "analysis", "themes", "--skip-sentiment", "--db", str(db_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert out.returncode == 75, out.stderr[-2000:]
    assert (f"a theme refresh is already running (job {job}, started 2025-03-01T11:00:00Z by "
            "cron on elsewhere, 40%: embedding)") in out.stderr
    assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_a_job_records_its_process_and_heartbeat(corpus_db):
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    row = job_row(db, db.execute("SELECT MAX(id) FROM jobs").fetchone()[0])
    assert row["status"] == "done" and row["finished_by"] == "test"
    assert row["pid"] == os.getpid() and row["host"] == socket.gethostname()
    assert row["heartbeat_at"] >= row["started_at"]


def test_the_heartbeat_keeps_a_long_silent_step_alive(corpus_db, db_path, monkeypatch):
    """A step that reports nothing for longer than the stale threshold: the heartbeat thread
    keeps the job alive for anyone checking from another connection."""
    db, _, _ = corpus_db
    monkeypatch.setenv("CLOSELOOP_JOB_STALE_SECONDS", "3")  # beats every 0.6 s
    seen = {}
    real = near_duplicates.find_near_duplicates

    def slow(*args, **kwargs):
        time.sleep(4)
        probe = store.connect(db_path)
        try:
            seen["job"] = themes.running_job(probe)
        finally:
            probe.close()
        return real(*args, **kwargs)

    monkeypatch.setattr(near_duplicates, "find_near_duplicates", slow)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert seen["job"] is not None and seen["job"]["status"] == "running", seen
    assert result.n_themes == 4


def test_the_heartbeat_thread_beats_and_notices_when_its_job_is_declared_dead(db):
    job = insert_running_job(db, heartbeat=NOW)
    beat = jobs.Heartbeat(db, job, interval=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while job_row(db, job)["heartbeat_at"] == store.to_iso(NOW):
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)
        with store.write_transaction(db):
            db.execute("UPDATE jobs SET status = 'failed' WHERE id = ?", [job])
        while not beat.lost:
            assert time.monotonic() < deadline, "the heartbeat did not notice"
            time.sleep(0.02)
    finally:
        beat.stop()


def test_a_job_declared_dead_while_running_writes_nothing(corpus_db, db_path, tmp_path):
    """Suspended past the stale threshold, another process marks the job failed (and may start
    its own): when the first job wakes up it must not write its fit over anything."""
    db, _, _ = corpus_db
    first = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    before = db.execute("SELECT * FROM theme_assignments ORDER BY 1, 2").fetchall()

    def declared_dead(fraction, message):
        if message == "writing themes":
            other = store.connect(db_path)
            try:  # seen from a clock an hour later: no heartbeat for an hour
                jobs.reap_dead_jobs(other, themes.JOB_KIND, actor="other",
                                    now=store.utcnow() + timedelta(hours=1))
            finally:
                other.close()

    with pytest.raises(themes.JobInterrupted, match="its results were not written"):
        themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test",
                              progress=declared_dead)
    assert db.execute("SELECT * FROM theme_assignments ORDER BY 1, 2").fetchall() == before
    assert db.execute("SELECT version FROM theme_models").fetchall() == [(first.model_version,)]
    assert len(list((tmp_path / "models").iterdir())) == 1
    row = job_row(db, db.execute("SELECT MAX(id) FROM jobs").fetchone()[0])
    assert row["status"] == "failed" and row["finished_by"] == "other"
    assert row["message"].startswith("interrupted: no heartbeat since")
    # The slot is free again.
    assert themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test").refit


class BlobEmbedder:
    """Each comment's vector is its subject's centre plus fixed noise: clusters known exactly."""

    name = "blobs-8"
    subjects = ("alpha", "bravo", "charlie", "delta")

    def encode(self, texts):
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, text in enumerate(texts):
            subject = text.split()[0]
            rng = np.random.default_rng(int(text.split()[-1]))
            out[i, self.subjects.index(subject)] = 10.0
            out[i] += rng.normal(0, 0.5, 8)
        return out


@pytest.mark.parametrize("max_share, expected_size", [(0.5, 20), (1.0, 90)])
def test_a_theme_holding_most_comments_triggers_the_finer_refit(db, max_share, expected_size):
    """57% of the comments in one theme names nothing: refit at the retry size (unless the
    share limit is lifted, which proves the share alone caused it)."""
    from sklearn.decomposition import PCA

    sizes = {"alpha": 400, "bravo": 100, "charlie": 100, "delta": 100}
    rows = [{"comment": f"{subject} comment number {i}"}
            for subject, size in sizes.items() for i in range(size)]
    for i, row in enumerate(rows):
        row["comment"] = f"{row['comment']} {i}"
    insert(db, rows)
    pipeline = tiny(embedder=BlobEmbedder(), umap_model=PCA(n_components=5, random_state=0),
                    min_cluster_size=90, min_samples=10, retry_min_cluster_size=20,
                    max_theme_share=max_share)
    result = themes.refresh_themes(db, pipeline=pipeline, actor="test")
    assert result.n_themes >= 4, result.message
    params = json.loads(db.execute("SELECT params FROM theme_models").fetchone()[0])
    assert params["min_cluster_size"] == expected_size
    assert ("refitted at 20" in result.message) == (expected_size == 20), result.message
    # The refit reused the first projection, yet its saved model names no class of ours:
    # moving our code can never make it unreadable.
    path = db.execute("SELECT path FROM theme_models").fetchone()[0]
    assert b"analysis" not in (Path(path) / "model.pkl").read_bytes()


def test_copies_of_one_comment_share_its_theme_and_its_place_on_the_map(db):
    # 80 copies of one text among 240 comments: with UMAP the model sees it once (UMAP
    # would float a block of identical points anywhere), every copy takes its text's theme
    # and point. The reducer here is UMAP on hashing vectors: no model file needed.

    rows = make_comments() + [{"comment": "queue waiting minutes slow line", "label": "wait",
                               "location": "Mall"}] * 80
    ids = insert(db, rows)
    pipeline = tiny(umap_model=None, umap_params={
        "n_neighbors": 15, "n_components": 5, "min_dist": 0.0, "metric": "cosine",
        "random_state": 42, "n_epochs": 50})
    result = themes.refresh_themes(db, pipeline=pipeline, actor="test")
    copies = ids[-80:]
    marks = ",".join("?" * len(copies))
    assert db.execute(f"SELECT COUNT(DISTINCT theme_id) FROM theme_assignments WHERE "
                      f"is_primary = 1 AND feedback_id IN ({marks})", copies).fetchone()[0] == 1
    assert db.execute(f"SELECT COUNT(DISTINCT x || ',' || y) FROM comment_map WHERE "
                      f"feedback_id IN ({marks})", copies).fetchone()[0] == 1
    params = json.loads(db.execute("SELECT params FROM theme_models WHERE is_active = 1")
                        .fetchone()[0])
    assert params["n_distinct_texts"] == 241
    assert result.n_documents == 320 and result.unthemed_share <= 0.10


def test_the_unthemed_budget_counts_comments_not_distinct_texts():
    from types import SimpleNamespace

    from analysis.themes.topics import reduce_outliers

    class Model:
        def get_topics(self):
            return {-1: [], 0: [], 1: []}

        topic_embeddings_ = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])

        def reduce_outliers(self, docs, topics, strategy, embeddings, threshold):
            unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
            sims = unit @ self.topic_embeddings_[1:].T
            return [int(np.argmax(s)) if t == -1 and s.max() >= threshold else t
                    for t, s in zip(topics, sims)]

    themed = [[1.0, 0.0], [0.0, 1.0]] * 13 + [[1.0, 0.0]]
    vectors = np.array(themed + [[1.0, 0.1], [0.2, 0.8], [0.6, 0.4]])
    pipeline = SimpleNamespace(max_unthemed_share=0.10, outlier_threshold=0.99)
    fitted = [0, 1] * 13 + [0] + [-1, -1, -1]
    copies = [1] * 29 + [50]
    # 30 distinct texts, 3 outliers: 10% of 30 texts may stay unthemed. But the last text
    # stands for 50 of 79 comments: left unthemed, 63% of the comments would be.
    topics, _ = reduce_outliers(Model(), ["a"] * 30, fitted, vectors, pipeline, copies=copies)
    assert topics[-1] != -1
    assert sum(c for t, c in zip(topics, copies) if t == -1) <= 7


def test_a_collapsed_fit_can_always_retry_smaller():
    for n in (300, 2_827, 17_000, 50_000, 87_000, 200_000):
        assert 5 <= themes.default_retry_min_cluster_size(n) < themes.default_min_cluster_size(n)

"""Themes on small corpora with known clusters, using the tiny pipeline (no model files)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.metrics import homogeneity_score, normalized_mutual_info_score

from analysis import feedback, store, theme_admin, themes
from analysis.embeddings import HashingEmbedder

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
    names = [r[0] for r in db.execute("SELECT name FROM themes")]
    assert all(" / " in n for n in names)


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


def test_theme_ids_are_stable_across_a_refit_on_the_same_data(corpus_db):
    db, ids, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    before = primaries(db)
    second = themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test")
    assert primaries(db) == before
    assert "0 new, 0 retired" in second.message
    assert db.execute("SELECT COUNT(*) FROM themes").fetchone()[0] == 4


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
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
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
    insert(db, rows + noise)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
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

    monkeypatch.setattr(themes.theme_admin, "apply_corrections", boom)
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
    from analysis.embeddings import HashingEmbedder
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
    themes._model_cache.clear()
    path = db.execute("SELECT path FROM theme_models WHERE is_active = 1").fetchone()[0]
    with open(os.path.join(path, "model.pkl"), "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(RuntimeError, match="SHA-256"):
        themes.load_active_model(db, embedder=HashingEmbedder(dim=256))


def test_missing_saved_model_leads_to_a_refit_not_a_crash(corpus_db):
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    themes._model_cache.clear()
    path = db.execute("SELECT path FROM theme_models WHERE is_active = 1").fetchone()[0]
    os.remove(os.path.join(path, "model.pkl"))
    insert(db, make_comments(n_per=2, seed=8), start=900)
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert result.refit and "could not be used" in result.message


def test_too_large_min_cluster_size_is_halved_until_themes_appear(db):
    insert(db, make_comments(n_per=150))
    pipeline = tiny(min_cluster_size=500)
    result = themes.refresh_themes(db, pipeline=pipeline, actor="test")
    assert result.n_themes >= 3, result.message
    params = json.loads(db.execute("SELECT params FROM theme_models").fetchone()[0])
    assert params["min_cluster_size"] < 500


def test_auto_name_skips_repeated_words():
    assert themes.auto_name(["wait", "time", "wait time", "queue"]) == "wait / time / queue"
    assert themes.auto_name([]) == "misc"


def test_min_cluster_size_scales_with_corpus():
    assert themes.default_min_cluster_size(300) == 10
    assert themes.default_min_cluster_size(50_000) == 746
    assert 3 <= themes.default_min_cluster_size(40) <= 10


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

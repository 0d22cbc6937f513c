"""Themes: a BERTopic pipeline of swappable steps, with stable theme ids in the store.

    result = refresh_themes(db, actor="ana")              # fit once, then assign new comments
    result = refresh_themes(db, refit=True, actor="ana")  # refit on everything
    print(result.message)

Pipeline (`ThemePipeline`, each step a parameter, as in BERTopic): comments are cleaned
(`text_cleaning`: no handles, URLs, location or customer names) -> embedded with the cached
sentence model (`embeddings.embed_texts`, so a refresh embeds only new text) -> UMAP (5-D,
cosine, fixed seed) -> HDBSCAN whose `min_cluster_size` grows with the corpus -> c-TF-IDF over
unigrams and bigrams -> KeyBERTInspired + MaximalMarginalRelevance keywords. Analyst seed
themes become BERTopic zero-shot topics. Outliers are folded into their nearest topic with
`reduce_outliers` (embedding strategy) until at most 10% stay honestly unthemed; a comment can
carry secondary themes from `approximate_distribution`.

Stable ids. Each model topic is matched to an existing theme by the cosine similarity of
centroids (Hungarian assignment, threshold `match_threshold`), using the centroids stored in
`theme_centroids`; matched topics keep the theme id (and an analyst's locked name), unmatched
ones create themes, and themes no topic matched are retired. A topic that matches a merged
theme lands on the merge target. Analyst corrections are re-applied after every fit and
every transform.

Persistence choice. The fitted model is saved with `serialization="pickle"` (full model:
UMAP, HDBSCAN, vectorizer, c-TF-IDF), not safetensors: safetensors keeps only topic
embeddings and c-TF-IDF, so after a reload new comments are assigned by a different route
(cosine to topic embeddings instead of UMAP + HDBSCAN) and agree with the in-memory model only
about 80% of the time; a theme page would then drift every time the app restarts. With pickle,
transform after reload is identical (UMAP's transform is seeded), which a test checks in a
fresh process. The cost: pickle executes code on load and is tied to the exact library
versions (pinned in requirements.txt). We therefore load pickles only from our own
`settings.model_dir`, only files we wrote, after checking the SHA-256 recorded in
`theme_models.params`; a version upgrade that cannot unpickle the model is handled by a
refit. The embedding model is never pickled: it is attached again on load.

Writes. Everything a fit produces (model row, themes and events, model_topics, centroids,
assignments, near-duplicates, 2-D map, coverage) is written in one `write_transaction`, after
all computation: a crash or kill mid-fit leaves the previous themes untouched. Progress goes
to the `progress` callback and to a `jobs` row, which also carries a heartbeat: one theme job
runs at a time across processes, and a job whose process died is marked failed by the next
reader (`running_job`), see "Jobs" below.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from analysis import store
from analysis.settings import get_settings, prepare_offline_environment
from analysis.store import is_read_only, to_iso, utcnow, write_transaction
from analysis.text import embeddings as emb
from analysis.text.cleaning import clean_many, name_words
from analysis.themes import admin as theme_admin

MIN_DOCUMENTS = 20
"""Below this, no topic model is meaningful: refresh says so instead of inventing themes."""
SMALL_CORPUS = 200
"""Below this the fit still runs, with a message that themes are tentative."""
JOB_KIND = "themes"

ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------------------

LINEAR_SIZE_UP_TO = 20_000


def default_min_cluster_size(n: int) -> int:
    """Smallest theme worth naming: 1.5% of the corpus, never below 10 (nor above n/8 on a
    small corpus). BERTopic's fixed 10 gives ~1,000 themes at 50k comments. Tuned on the demo
    truth (UMAP fixed, NMI after outlier reduction): at 4k comments n/150 gave 53 clusters and
    NMI 0.61, n/50 11 clusters and 0.70; at 17k n/290 (60) gave 107 clusters and 0.48, n/67
    (260) 10 clusters, NMI 0.62, ARI 0.57, and n/50 collapsed to 5. When a corpus has weak
    density structure (CFPB complaints: one theme of 96% at n/67), `refresh_themes` refits
    once at `default_retry_min_cluster_size`, reusing the UMAP projection.

    Above 20,000 comments it grows with the square root of the corpus instead: UMAP's
    neighbourhoods stay 15 comments wide however large the corpus, so its local clusters do not
    grow with n, and n/67 sits on the edge of a collapse. On the 87k-comment demo n/67 (1,298)
    gave 8 themes in one refit and 3 in another of the same comments; 650 gave 38 themes,
    none over 8% of the corpus (this rule: 622)."""
    if n > LINEAR_SIZE_UP_TO:
        return round(LINEAR_SIZE_UP_TO / 67 * math.sqrt(n / LINEAR_SIZE_UP_TO))
    return max(min(10, max(3, n // 8)), round(n / 67))


def default_retry_min_cluster_size(n: int) -> int:
    """Size for the one refit after the corpus-scaled size collapsed: BERTopic's own 10, or
    0.25% of a large corpus so a weakly structured 50k corpus still gives a readable list.
    A collapse means the corpus has no coarse density structure, so a size in between sits on
    the edge of the same collapse: on the CFPB complaints (2,827, 24 human issue labels),
    halving 42 to 21 gave 24 themes and NMI 0.193 against the labels, 10 gave 48 themes and
    NMI 0.214; the demo (coarse structure) never collapses at its own size."""
    return max(10, n // 400)


def tiny_min_cluster_size(n: int) -> int:
    """For `ThemePipeline.tiny()`: n/30, at least 8 (n/8 on a very small corpus), at most 10.
    Hashing vectors of real comments form one dense core plus small, loose clusters that a
    size growing with n never finds: on the 2,000-row demo (1,700 comments) n/30 = 57 with
    min_samples = 57 marked every comment noise, and only the halving retries found 3-10
    themes, at 10.2% unthemed; on 1,000 rows none at all. With this size, `tiny_min_samples`
    and retries down to 5, 20 demo stores of 2,000 rows (different clocks and seeds) gave
    7-36 themes, at most 10% unthemed, in about 2 s each. Since one theme over half the
    corpus also counts as a collapse, the dense core is refitted at 5 when it dominates:
    10-13 themes at some clocks of the same day, 37-40 at others."""
    return max(min(8, max(3, n // 8)), min(10, round(n / 30)))


def tiny_min_samples(min_cluster_size: int) -> int:
    """Below min_cluster_size, so HDBSCAN finds the demo's loose clusters; not below 6, or
    a dozen comments that all mix the same two subjects become a theme of their own instead
    of carrying both subjects' themes."""
    return max(6, min_cluster_size // 2)


@dataclass
class ThemePipeline:
    """The steps of a theme fit; any step can be swapped (objects with fit/transform)."""

    embedder: Any = None
    """An `embeddings.Embedder`; None: the offline all-MiniLM-L6-v2 (SHA-256 checked)."""
    umap_model: Any = None
    """Dimensionality reduction with fit/transform; None: UMAP built from `umap_params`."""
    umap_params: dict = field(default_factory=lambda: {
        "n_neighbors": 15, "n_components": 5, "min_dist": 0.0, "metric": "cosine",
        "random_state": 42, "low_memory": True})
    cluster_model: Any = None
    """A clusterer (fit, labels_, predict or HDBSCAN's approximate_predict), or a callable
    n_documents -> clusterer; None: HDBSCAN with `min_cluster_size`."""
    min_cluster_size: int | Callable[[int], int] = default_min_cluster_size
    min_samples: int | Callable[[int], int] | None = lambda mcs: max(5, mcs // 4)
    """HDBSCAN min_samples as a number or a function of min_cluster_size: lower than the
    default (= min_cluster_size) so fewer comments start as outliers."""
    ngram_range: tuple[int, int] = (1, 2)
    min_df: int | Callable[[int], int] = 1
    """BERTopic fits the vectorizer on one concatenated document per topic, so min_df counts
    topics, not comments: anything above 1 deletes exactly the words that make a topic
    distinctive. The vocabulary is bounded with `max_features` instead."""
    max_features: int | Callable[[int], int | None] | None = (
        lambda n: None if n < 20_000 else 100_000)
    representation: str = "keybert_mmr"
    """'keybert_mmr' (KeyBERTInspired then MaximalMarginalRelevance) or 'ctfidf'."""
    mmr_diversity: float = 0.3
    top_n_words: int = 10
    nr_topics: int | str | None = None
    seed_min_similarity: float = 0.5
    """Cosine similarity from which a comment joins a seed theme (zero-shot)."""
    multi_theme_threshold: float = 0.3
    """Share of a comment's approximate topic distribution from which a secondary theme is
    added (at most `max_themes_per_comment` in all)."""
    max_themes_per_comment: int = 3
    outlier_threshold: float = 0.5
    """Outliers this similar to a topic join it; more join if needed to stay under
    `max_unthemed_share`."""
    max_unthemed_share: float = 0.10
    match_threshold: float = 0.8
    """Centroid cosine similarity from which a new topic keeps an existing theme's id."""
    duplicate_threshold: float = 0.95
    map_model: Any = None
    """2-D projection for the theme map; None: UMAP(2) on the reduced embeddings."""
    random_state: int = 42
    min_themes: int = 3
    max_theme_share: float = 0.5
    """Fewer topics than `min_themes`, or one holding more than `max_theme_share` of the
    comments (on 500+ comments), means HDBSCAN merged everything: a theme that is most of
    the corpus names nothing. The fit is then retried once at `retry_min_cluster_size`,
    reusing the UMAP projection."""
    retry_min_cluster_size: int | Callable[[int], int] = default_retry_min_cluster_size
    """The size of that retry, a number or a function of the corpus size (the tiny
    pipeline's hashing vectors need 5)."""

    @classmethod
    def tiny(cls, **overrides) -> ThemePipeline:
        """For tests and quick demos: hashing embedder, PCA, small HDBSCAN, plain c-TF-IDF.
        No model download, no numba compile; fits 300 comments in about a second."""
        from sklearn.decomposition import PCA

        params = dict(
            embedder=emb.HashingEmbedder(dim=256),
            umap_model=PCA(n_components=5, random_state=0),
            min_cluster_size=tiny_min_cluster_size,
            min_samples=tiny_min_samples,
            retry_min_cluster_size=5,
            representation="ctfidf",
            map_model=PCA(n_components=2, random_state=0),
            seed_min_similarity=0.22,
            match_threshold=0.75,
            multi_theme_threshold=0.3,
        )
        params.update(overrides)
        return cls(**params)

    def get_embedder(self):
        if self.embedder is None:
            self.embedder = emb.default_embedder()
        return self.embedder

    @staticmethod
    def _value(setting, n):
        return setting(n) if callable(setting) else setting

    def resolved(self, n: int) -> dict:
        """The concrete numbers this pipeline uses for a corpus of n comments (recorded with
        the model)."""
        mcs = int(self._value(self.min_cluster_size, n))
        min_samples = self._value(self.min_samples, mcs) if self.min_samples is not None else None
        return {
            "embedder": self.get_embedder().name,
            "umap": type(self.umap_model).__name__ if self.umap_model is not None
            else {"UMAP": {**self.umap_params, "n_neighbors": self._n_neighbors(n)}},
            "cluster": "HDBSCAN" if self.cluster_model is None else repr(self.cluster_model),
            "min_cluster_size": mcs,
            "min_samples": min_samples,
            "ngram_range": list(self.ngram_range),
            "min_df": int(self._value(self.min_df, n)),
            "max_features": self._value(self.max_features, n),
            "representation": self.representation,
            "nr_topics": self.nr_topics,
            "seed_min_similarity": self.seed_min_similarity,
            "multi_theme_threshold": self.multi_theme_threshold,
            "outlier_threshold": self.outlier_threshold,
            "max_unthemed_share": self.max_unthemed_share,
            "max_theme_share": self.max_theme_share,
            "retry_min_cluster_size": int(self._value(self.retry_min_cluster_size, n)),
            "match_threshold": self.match_threshold,
            "duplicate_threshold": self.duplicate_threshold,
        }

    def _n_neighbors(self, n: int) -> int:
        return max(2, min(int(self.umap_params.get("n_neighbors", 15)), n - 1))

    def build(self, n: int, *, seeds: Sequence[str] = (), stop_words: Sequence[str] = ()):
        """A fresh, unfitted BERTopic for a corpus of n comments."""
        prepare_offline_environment()
        from bertopic import BERTopic
        from sklearn.base import clone
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

        settings = self.resolved(n)
        if isinstance(self.umap_model, _Prefitted):
            reducer = self.umap_model
        elif self.umap_model is not None:
            reducer = clone(self.umap_model)
        else:
            from umap import UMAP

            reducer = UMAP(**{**self.umap_params, "n_neighbors": self._n_neighbors(n)})
        if self.cluster_model is None:
            import hdbscan

            clusterer = hdbscan.HDBSCAN(
                min_cluster_size=settings["min_cluster_size"], min_samples=settings["min_samples"],
                metric="euclidean", cluster_selection_method="eom", prediction_data=True)
        elif callable(self.cluster_model) and not hasattr(self.cluster_model, "fit"):
            clusterer = self.cluster_model(n)
        else:
            clusterer = clone(self.cluster_model)
        vectorizer = CountVectorizer(
            stop_words=sorted(set(ENGLISH_STOP_WORDS) | set(stop_words)),
            # Words of letters only: "20", "2x" and order numbers never name a theme.
            token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
            ngram_range=tuple(self.ngram_range), min_df=settings["min_df"],
            max_features=settings["max_features"])
        if self.representation == "keybert_mmr":
            from bertopic.representation import (
                KeyBERTInspired,
                MaximalMarginalRelevance,
            )

            representation = [KeyBERTInspired(top_n_words=self.top_n_words, random_state=self.random_state),
                              MaximalMarginalRelevance(diversity=self.mmr_diversity,
                                                       top_n_words=self.top_n_words)]
        elif self.representation == "ctfidf":
            representation = None
        else:
            raise ValueError(f"unknown representation {self.representation!r}: "
                             "use 'keybert_mmr' or 'ctfidf'")
        return BERTopic(
            embedding_model=BertopicEmbedder(self.get_embedder()),
            umap_model=reducer,
            hdbscan_model=clusterer,
            vectorizer_model=vectorizer,
            representation_model=representation,
            top_n_words=self.top_n_words,
            nr_topics=self.nr_topics,
            zeroshot_topic_list=list(seeds) or None,
            zeroshot_min_similarity=self.seed_min_similarity,
            calculate_probabilities=False,
        )

    def build_map_model(self, n: int):
        from sklearn.base import clone

        if self.map_model is not None:
            return clone(self.map_model)
        prepare_offline_environment()
        from umap import UMAP

        # init="pca": spectral init on a clustered 5-D space often fails over to LOBPCG,
        # which alone took half a minute at 17k comments.
        # n_epochs 100 on large corpora (UMAP's default is 200 above 10k rows): a picture,
        # not the clustering; the layout is settled well before and this halves its cost.
        return UMAP(n_components=2, n_neighbors=max(2, min(15, n - 1)), min_dist=0.1,
                    metric="euclidean", init="pca", random_state=self.random_state,
                    low_memory=True, n_epochs=100 if n > 10_000 else None)


_UMAP_EXACT_NEIGHBOURS_BELOW = 4096  # umap.umap_.nearest_neighbors: exact search below this


def warm_up(pipeline: ThemePipeline | None = None) -> float:
    """Compile UMAP's and NN-descent's numba code now (seconds spent), e.g. in a background
    thread when the app starts: the first fit in a process otherwise spends 1-2 minutes
    compiling on a 2-core machine, and NUMBA_CACHE_DIR only caches part of it.

    The sample is just above UMAP's 4,096 rows: below that UMAP finds neighbours exactly and
    never touches NN-descent, whose compile is most of the cost of a real fit. Few epochs:
    the layout code compiles on the first one."""
    import time

    pipeline = pipeline or ThemePipeline()
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    dim = 384 if pipeline.embedder is None else int(
        np.asarray(pipeline.get_embedder().encode(["warm up"])).shape[1])
    n = _UMAP_EXACT_NEIGHBOURS_BELOW + 100
    vectors = _normalise(rng.standard_normal((n, dim)).astype(np.float32))
    from sklearn.base import clone

    if pipeline.umap_model is not None:
        reducer = clone(pipeline.umap_model)
    else:
        prepare_offline_environment()
        from umap import UMAP

        reducer = UMAP(**{**pipeline.umap_params, "n_neighbors": pipeline._n_neighbors(n),
                          "n_epochs": 5})
    reduced = np.asarray(reducer.fit_transform(vectors), dtype=np.float32)
    reducer.transform(vectors[:20])
    if reduced.shape[1] > 2:
        mapper = pipeline.build_map_model(n)
        if hasattr(mapper, "n_epochs"):
            mapper.set_params(n_epochs=5)
        mapper.fit_transform(reduced)
        mapper.transform(reduced[:20])
    return time.perf_counter() - started


class _Prefitted:
    """A fitted reducer reused by a refit of the clustering step: fit_transform on the same
    vectors returns the projection already computed (UMAP at 20k costs minutes)."""

    def __init__(self, model, vectors):
        self.model = model
        self.embedding_ = np.asarray(getattr(model, "embedding_", None)
                                     if getattr(model, "embedding_", None) is not None
                                     else model.transform(vectors))
        self._shape = vectors.shape

    def fit(self, X, y=None):
        return self

    def fit_transform(self, X, y=None):
        if np.shape(X) == self._shape:
            return self.embedding_
        return self.model.transform(X)

    def transform(self, X):
        return self.model.transform(X)

    def get_params(self, deep=True):
        return {}


_embedder_class = None


def BertopicEmbedder(embedder):  # noqa: N802 - stands in for a class
    """Our `Embedder` seen as a BERTopic backend (KeyBERTInspired, MMR and zero-shot embed
    words and seed labels through it). Never pickled: the model is saved without it. Built
    lazily so that importing this module (pages, job status) does not import BERTopic."""
    global _embedder_class
    if _embedder_class is None:
        from bertopic.backend import BaseEmbedder

        class _BertopicEmbedder(BaseEmbedder):
            def __init__(self, inner):
                super().__init__()
                self.embedder = inner

            def embed(self, documents, verbose: bool = False) -> np.ndarray:
                return np.asarray(self.embedder.encode(list(documents)), dtype=np.float32)

        _embedder_class = _BertopicEmbedder
    return _embedder_class(embedder)


# --------------------------------------------------------------------------------------
# Results, jobs, progress
# --------------------------------------------------------------------------------------

@dataclass
class RefreshResult:
    model_version: str | None
    refit: bool
    n_documents: int
    """Comments the model looked at in this run (all of them on a fit, the new ones on a
    transform)."""
    n_themes: int
    n_new_assigned: int
    """Of those, how many got at least one theme."""
    unthemed_share: float
    """Share of those left unthemed (0..1)."""
    message: str


# Jobs. A theme job is a `jobs` row: 'running', then 'done' or 'failed'. Two rules keep the
# row honest when several processes share the store (app servers, `python -m analysis
# themes` from cron):
# - One theme job at a time: a new row is inserted only inside the BEGIN IMMEDIATE
#   transaction that found no live running job, so two starters cannot both pass the check.
# - A running job proves it is alive: `heartbeat_at` is stamped (wall-clock time) on every
#   progress tick and by a small thread at least every 30 s. A 'running' row whose heartbeat
#   is older than `settings.job_stale_after_s`, or whose process is visibly gone on this
#   machine, is marked failed ("interrupted: ...") by the next reader, never deleted. A job
#   that was marked failed while in fact still running (suspended for minutes) notices at its
#   next tick, and its final write checks the row inside its own transaction, so it never
#   writes results after another job could have started.

HEARTBEAT_MAX_INTERVAL_S = 30.0
_JOB_COLUMNS = ("id", "kind", "status", "progress", "message", "started_at", "finished_at",
                "actor", "heartbeat_at", "pid", "host", "pid_scope", "finished_by")


class JobAlreadyRunning(RuntimeError):
    """A live job of the same kind holds the slot; `job` is its status dict."""

    def __init__(self, job: dict):
        self.job = job
        super().__init__(f"a theme refresh is already running ({describe_job(job)})")


class JobInterrupted(RuntimeError):
    """This job's row was marked failed from elsewhere (it looked dead): stop, write nothing."""


def describe_job(job: dict) -> str:
    """One line for people: "job 12, started 2025-03-01T10:00:00Z by ana on web-1, 40%:
    embedding 400/1,000 new texts"."""
    text = f"job {job['id']}, started {job['started_at']} by {job['actor']}"
    if job.get("host"):
        text += f" on {job['host']}"
    text += f", {float(job.get('progress') or 0):.0%}"
    if job.get("message"):
        text += f": {job['message']}"
    return text


def _job_row(row) -> dict:
    return dict(zip(_JOB_COLUMNS, row))


def _select_jobs(db, where: str, params: list) -> list[dict]:
    rows = db.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE {where} "
                      "ORDER BY id DESC", params).fetchall()
    return [_job_row(r) for r in rows]


@functools.cache
def _pid_scope() -> str | None:
    """Boot id and pid namespace of this process: two processes that agree on it can check
    each other's pids (another machine, or another container on this one, cannot). None
    where /proc does not say (then only the heartbeat counts)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negatives address process groups, not a process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours (EPERM), or cannot tell: assume alive
        return True
    return True


def _interruption(job: dict, now: datetime, stale_after: float) -> str | None:
    """Why this 'running' job is dead, or None while it may be alive. A pid that still exists
    proves nothing (it may have been reused), so a live pid falls back to the heartbeat."""
    heartbeat = job["heartbeat_at"] or job["started_at"]
    pid = job["pid"]
    if pid and job["pid_scope"] and job["pid_scope"] == _pid_scope() and not _pid_alive(pid):
        return (f"interrupted: no heartbeat since {heartbeat} (process {pid} on {job['host']} "
                "has ended)")
    age = (now - store.from_iso(heartbeat)).total_seconds()
    if age > stale_after:
        return (f"interrupted: no heartbeat since {heartbeat} (stale after {stale_after:g} s, "
                f"checked at {to_iso(now)})")
    return None


def running_job(db: sqlite_utils.Database, kind: str = JOB_KIND, *,
                now: datetime | None = None, actor: str | None = None) -> dict | None:
    """The live running job of this kind (newest first), or None.

    A 'running' row that is dead (heartbeat older than `settings.job_stale_after_s` before
    `now`, or its process gone on this machine) is marked 'failed' with a message starting
    "interrupted: no heartbeat since ...", in a write transaction, with `actor` recorded as
    `finished_by` (default: the settings actor). Reading costs no write while nothing is
    dead; called inside a write transaction (as the starters do) it joins it."""
    now = now or utcnow()
    stale_after = get_settings().job_stale_after_s
    jobs = _select_jobs(db, "kind = ? AND status = 'running'", [kind])
    dead = [job for job in jobs if _interruption(job, now, stale_after)]
    if not dead:
        return jobs[0] if jobs else None
    if is_read_only(db):
        # Nobody can run a job on a store nobody may write; a reader only leaves the dead
        # row for the next writer to mark.
        live = [job for job in jobs if job not in dead]
        return live[0] if live else None
    actor = actor or get_settings().actor
    live = []
    with write_transaction(db):
        for job in _select_jobs(db, "kind = ? AND status = 'running'", [kind]):
            reason = _interruption(job, now, stale_after)
            if reason is None:
                live.append(job)
                continue
            db.execute("UPDATE jobs SET status = 'failed', message = ?, finished_at = ?, "
                       "finished_by = ? WHERE id = ? AND status = 'running'",
                       [reason, to_iso(now), actor, job["id"]])
    return live[0] if live else None


def job_status(db: sqlite_utils.Database, job_id: int, *, now: datetime | None = None,
               actor: str | None = None) -> dict | None:
    """{id, kind, status, progress, message, started_at, finished_at, actor, heartbeat_at,
    pid, host, pid_scope, finished_by} or None. A dead 'running' job is first marked failed
    (see `running_job`), so a page polling it ends instead of spinning forever."""
    jobs = _select_jobs(db, "id = ?", [job_id])
    if not jobs:
        return None
    job = jobs[0]
    if job["status"] == "running" and _interruption(
            job, now or utcnow(), get_settings().job_stale_after_s):
        running_job(db, job["kind"], now=now, actor=actor)
        job = _select_jobs(db, "id = ?", [job_id])[0]
    return job


def _start_job(db, actor: str, at: str, *, kind: str = JOB_KIND,
               now: datetime | None = None) -> int:
    """Insert a running job row, or raise JobAlreadyRunning if a live one exists."""
    with write_transaction(db):
        live = running_job(db, kind, now=now, actor=actor)
        if live is not None:
            raise JobAlreadyRunning(live)
        return db.execute(
            "INSERT INTO jobs (kind, status, progress, message, started_at, actor, heartbeat_at, "
            "pid, host, pid_scope) VALUES (?, 'running', 0, 'queued', ?, ?, ?, ?, ?, ?)",
            [kind, at, actor, to_iso(utcnow()), os.getpid(), socket.gethostname(),
             _pid_scope()]).lastrowid


def _update_job(db, job_id: int, progress: float, message: str) -> bool:
    """Record progress and a heartbeat; False if the row is no longer 'running' (marked
    interrupted from elsewhere)."""
    # One autocommit statement, deliberately not write_transaction: progress ticks must not
    # bump the store revision (every page cache keys on it) nor wait behind a long writer.
    try:
        cursor = db.execute(
            "UPDATE jobs SET progress = ?, message = ?, heartbeat_at = ? "
            "WHERE id = ? AND status = 'running'",
            [float(progress), message, to_iso(utcnow()), job_id])
    except Exception:  # a busy store must not fail the fit over a progress bar
        return True
    return cursor.rowcount != 0


def _ensure_live(db, job_id: int) -> None:
    """Inside a job's final write transaction: stamp the heartbeat, or raise JobInterrupted
    (rolling the write back) if the row was marked failed meanwhile."""
    cursor = db.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                        [to_iso(utcnow()), job_id])
    if cursor.rowcount == 0:
        raise JobInterrupted(_interrupted_message(db, job_id))


def _interrupted_message(db, job_id: int) -> str:
    row = db.execute("SELECT status, message FROM jobs WHERE id = ?", [job_id]).fetchone()
    state = "is gone" if row is None else f"was marked {row[0]!r} ({row[1]})"
    return f"job {job_id} {state} while it ran; its results were not written"


def _finish_job(db, job_id: int, status: str, message: str, *, actor: str | None = None) -> None:
    # Only a running row: a job already marked interrupted keeps that record.
    now = to_iso(utcnow())
    db.execute("UPDATE jobs SET status = ?, progress = CASE WHEN ? = 'done' THEN 1 ELSE progress "
               "END, message = ?, finished_at = ?, heartbeat_at = ?, "
               "finished_by = COALESCE(?, actor) WHERE id = ? AND status = 'running'",
               [status, status, message, now, now, actor, job_id])


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted: stopped from the keyboard (Ctrl-C)"
    return f"{type(exc).__name__}: {exc}"


def _database_file(db) -> str | None:
    for _, name, path in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return path or None
    return None


def _heartbeat_interval() -> float:
    return min(HEARTBEAT_MAX_INTERVAL_S, get_settings().job_stale_after_s / 5)


class _Heartbeat:
    """Stamps a job's heartbeat from a daemon thread with its own connection, so steps that
    report no progress for minutes (UMAP, HDBSCAN, saving) still show the job is alive. A
    beat that finds the row no longer running sets `lost`; the job stops at its next tick."""

    def __init__(self, db, job_id: int, interval: float):
        self.job_id, self.interval = job_id, interval
        self.lost = False
        self._path = _database_file(db)  # None for an in-memory store: ticks only
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> _Heartbeat:
        if self._path is not None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"closeloop-heartbeat-{self.job_id}")
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            conn = store.connect(self._path, migrate=False)
        except Exception:
            return
        try:
            # Wait for the write lock no longer than one beat: the next beat tries again.
            conn.execute(f"PRAGMA busy_timeout = {max(100, int(self.interval * 1000))}")
            while not self._stop.wait(self.interval):
                try:
                    cursor = conn.execute(
                        "UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                        [to_iso(utcnow()), self.job_id])
                except Exception:
                    continue
                if cursor.rowcount == 0:
                    self.lost = True
                    return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


_threads: dict[int, threading.Thread] = {}
_threads_lock = threading.Lock()


def start_refresh_job(db_path, *, refit: bool, actor: str,
                      pipeline: ThemePipeline | None = None, now: datetime | None = None) -> int:
    """Run `refresh_themes` in a background thread with its own connection; return the job id
    at once (poll `job_status`). If a theme job is already running, in this process or any
    other sharing the store, return its id instead of starting a second one."""
    with _threads_lock:
        for job_id, thread in _threads.items():
            if thread.is_alive():
                return job_id
        db = store.connect(db_path)
        try:
            job_id = _start_job(db, actor, to_iso(now or utcnow()), now=now)
        except JobAlreadyRunning as exc:
            return exc.job["id"]
        finally:
            db.close()

        def run():
            conn = None
            try:
                conn = store.connect(db_path)
                refresh_themes(conn, refit=refit, pipeline=pipeline, actor=actor, now=now,
                               job_id=job_id)
            except Exception as exc:
                # refresh_themes records its own failures; this covers failing to even start.
                try:
                    conn = conn or store.connect(db_path)
                    _finish_job(conn, job_id, "failed", _failure_message(exc), actor=actor)
                except Exception:
                    pass
            finally:
                if conn is not None:
                    conn.close()

        thread = threading.Thread(target=run, name=f"closeloop-themes-{job_id}", daemon=True)
        _threads[job_id] = thread
        thread.start()
    return job_id


def wait_for_job(job_id: int, timeout: float | None = None) -> bool:
    """Block until a job started in this process ends; True if it has."""
    thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


class _Progress:
    def __init__(self, db, job_id: int, callback: ProgressFn | None,
                 heartbeat: _Heartbeat | None = None):
        self.db, self.job_id, self.callback, self.heartbeat = db, job_id, callback, heartbeat

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        alive = _update_job(self.db, self.job_id, fraction, message)
        if not alive or (self.heartbeat is not None and self.heartbeat.lost):
            raise JobInterrupted(_interrupted_message(self.db, self.job_id))
        if self.callback:
            self.callback(fraction, message)

    def ensure_live(self) -> None:
        _ensure_live(self.db, self.job_id)


# --------------------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------------------

class ModelUnavailable(RuntimeError):
    """The active model's saved files cannot be loaded; a refit replaces them."""


@dataclass
class LoadedModel:
    model_id: int
    version: str
    topic_model: Any
    map_model: Any
    params: dict
    topic_to_theme: dict[int, int]


_model_cache: dict[tuple[str, str], LoadedModel] = {}
_model_cache_lock = threading.Lock()


def _sha256(path: Path) -> str:
    return emb.file_sha256(path)


def _active_model_row(db) -> dict | None:
    row = db.execute("SELECT id, version, path, params FROM theme_models WHERE is_active = 1 "
                     "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return {"id": row[0], "version": row[1], "path": row[2], "params": json.loads(row[3])}


def load_active_model(db: sqlite_utils.Database, *, embedder=None) -> LoadedModel | None:
    """The active fitted model, loaded once per process (keep it warm in st.cache_resource).

    Loads only a pickle inside settings.model_dir whose SHA-256 matches the one recorded when
    we saved it."""
    row = _active_model_row(db)
    if row is None:
        return None
    params = row["params"]
    folder = Path(row["path"]).resolve()
    model_dir = get_settings().model_dir.resolve()
    if not folder.is_relative_to(model_dir):
        raise RuntimeError(f"refusing to load theme model from {folder}: not inside {model_dir}")
    key = (str(folder), params.get("model_sha256", ""))
    with _model_cache_lock:
        cached = _model_cache.get(key)
        if cached is None:
            import joblib

            files = {"model.pkl": "model_sha256", "map.pkl": "map_sha256"}
            loaded = {}
            for name, sha_key in files.items():
                path = folder / name
                if sha_key not in params:
                    loaded[name] = None  # no 2-D map saved for this model
                    continue
                if not path.exists():
                    raise FileNotFoundError(f"{path} is missing")
                actual = _sha256(path)
                if actual != params.get(sha_key):
                    raise RuntimeError(f"{path} has SHA-256 {actual}, expected "
                                       f"{params.get(sha_key)}: not the model we saved; refit")
                loaded[name] = joblib.load(path)
            topic_to_theme = dict(db.execute(
                "SELECT topic, theme_id FROM model_topics WHERE model_id = ?", [row["id"]]).fetchall())
            cached = LoadedModel(row["id"], row["version"], loaded["model.pkl"], loaded["map.pkl"],
                                 params, topic_to_theme)
            _model_cache.clear()  # one model warm at a time: they can be large
            _model_cache[key] = cached
    if embedder is None and cached.topic_model.embedding_model is None \
            and params.get("embedder") == emb.MINILM_NAME:
        embedder = emb.default_embedder()
    if embedder is not None:
        if getattr(embedder, "name", None) != params.get("embedder"):
            raise ValueError(f"model {row['version']} was fitted with embedder "
                             f"{params.get('embedder')!r}, not {embedder.name!r}")
        cached.topic_model.embedding_model = BertopicEmbedder(embedder)
    return cached


def _save_model(topic_model, map_model, folder: Path) -> dict:
    import joblib

    folder.mkdir(parents=True, exist_ok=False)
    # BERTopic warns on every pickle save that versions must match on load: that is the
    # persistence we chose knowingly (module docstring), so the warning is only noise.
    bertopic_logger = logging.getLogger("BERTopic")
    level = bertopic_logger.level
    bertopic_logger.setLevel(logging.ERROR)
    try:
        topic_model.save(str(folder / "model.pkl"), serialization="pickle",
                         save_embedding_model=False)
    finally:
        bertopic_logger.setLevel(level)
    shas = {"model_sha256": _sha256(folder / "model.pkl")}
    if map_model is not None:
        joblib.dump(map_model, folder / "map.pkl")
        shas["map_sha256"] = _sha256(folder / "map.pkl")
    return shas


# --------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------

def _names(db) -> list[str]:
    rows = db.execute(
        "SELECT DISTINCT location FROM feedback WHERE location IS NOT NULL AND location != '' "
        "UNION SELECT DISTINCT customer_name FROM feedback WHERE customer_name IS NOT NULL "
        "AND customer_name != ''").fetchall()
    return [r[0] for r in rows]


def _corpus(db, *, only_new: bool) -> tuple[list[int], list[str], list[int]]:
    """(ids, cleaned texts) of comments to theme, plus ids whose text cleans to nothing."""
    sql = ("SELECT id, comment FROM feedback WHERE comment IS NOT NULL AND trim(comment) != ''")
    if only_new:
        sql += " AND id NOT IN (SELECT feedback_id FROM theme_coverage)"
    rows = db.execute(sql + " ORDER BY id").fetchall()
    cleaned = clean_many([r[1] for r in rows], names=_names(db))
    ids, texts, empty = [], [], []
    for (fid, _), text in zip(rows, cleaned):
        if len(text) >= 2:
            ids.append(fid)
            texts.append(text)
        else:
            empty.append(fid)
    return ids, texts, empty


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


# --------------------------------------------------------------------------------------
# Steps shared by fit and transform
# --------------------------------------------------------------------------------------

def _topic_embeddings(topic_model) -> tuple[list[int], np.ndarray]:
    """Non-outlier topic ids, in order, and their rows of topic_embeddings_."""
    info_topics = sorted(topic_model.get_topics().keys())
    vectors = np.asarray(topic_model.topic_embeddings_)
    offset = 1 if -1 in info_topics else 0
    topics = [t for t in info_topics if t != -1]
    return topics, vectors[offset:offset + len(topics)]


def _collapse(topics, topic_ids, pipeline: ThemePipeline) -> str | None:
    """Why this clustering says nothing about the corpus, or None when it is usable."""
    if len(topic_ids) < pipeline.min_themes:
        return f"only {len(topic_ids)} theme(s)"
    counts = np.bincount(np.asarray([t for t in topics if t != -1], dtype=int))
    largest = counts.max() / len(topics) if len(counts) else 0.0
    if largest > pipeline.max_theme_share:
        return f"one theme holds {largest:.0%} of the comments"
    return None


def _reduce_outliers(topic_model, docs, topics, embeddings, pipeline, *,
                     unthemeable: int = 0) -> tuple[list[int], np.ndarray]:
    """BERTopic's embedding-strategy outlier reduction with a threshold lowered just enough
    that at most `max_unthemed_share` of these comments stay unthemed, counting the
    `unthemeable` ones (text that cleans to nothing) too, since the reported share does.
    Returns the new topics and, per comment, its cosine similarity to its topic (used as
    probability)."""
    topics = np.asarray(topics, dtype=int)
    topic_ids, vectors = _topic_embeddings(topic_model)
    sims = _normalise(np.asarray(embeddings, dtype=np.float32)) @ _normalise(vectors).T \
        if len(topic_ids) else np.zeros((len(topics), 0))
    outliers = np.flatnonzero(topics == -1)
    if len(outliers) and len(topic_ids):
        best = sims[outliers].max(axis=1)
        allowed = max(0, math.floor(pipeline.max_unthemed_share * (len(topics) + unthemeable))
                      - unthemeable)
        threshold = pipeline.outlier_threshold
        need = len(outliers) - allowed
        if need > 0:
            # A hair below the need-th best: BERTopic recomputes these similarities, and a
            # rounding difference would otherwise leave a comment or two over the budget.
            threshold = min(threshold, float(np.sort(best)[::-1][need - 1]) - 1e-6)
        reduced = topic_model.reduce_outliers(
            list(docs), topics.tolist(), strategy="embeddings", embeddings=np.asarray(embeddings),
            threshold=max(threshold, 1e-9))
        topics = np.asarray(reduced, dtype=int)
    column = {t: i for i, t in enumerate(topic_ids)}
    topic_sim = np.array([sims[i, column[t]] if t in column else 0.0
                          for i, t in enumerate(topics)], dtype=float)
    return topics.tolist(), topic_sim


def _secondary_topics(topic_model, docs, topics, pipeline) -> list[list[tuple[int, float]]]:
    """Extra themes per comment: topics with a share of the approximate distribution at or
    above `multi_theme_threshold`, strongest first."""
    if pipeline.max_themes_per_comment <= 1 or not docs:
        return [[] for _ in docs]
    topic_ids, _ = _topic_embeddings(topic_model)
    if len(topic_ids) < 2:
        return [[] for _ in docs]
    distr, _ = topic_model.approximate_distribution(list(docs), batch_size=1000)
    distr = np.asarray(distr)
    out = []
    for i, primary in enumerate(topics):
        extra = []
        if primary != -1 and distr.shape[1] == len(topic_ids):
            row = distr[i]
            for j in np.argsort(row)[::-1]:
                if row[j] < pipeline.multi_theme_threshold:
                    break
                if topic_ids[j] != primary:
                    extra.append((topic_ids[j], float(row[j])))
                if len(extra) >= pipeline.max_themes_per_comment - 1:
                    break
        out.append(extra)
    return out


def _primary_probability(probs, i: int, fallback: float) -> float:
    if probs is None:
        return fallback
    probs = np.asarray(probs)
    if probs.ndim == 1 and len(probs) > i:
        value = float(probs[i])
    elif probs.ndim == 2 and len(probs) > i:
        value = float(np.max(probs[i]))
    else:
        value = fallback
    if not np.isfinite(value) or value <= 0:
        value = fallback
    return float(min(1.0, max(0.0, value)))


def _near_duplicates(ids: Sequence[int], vectors: np.ndarray, threshold: float,
                     new_mask: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """(feedback_id, canonical_id, similarity) for comments at or above `threshold` cosine to
    another: groups by union-find over nearest-neighbour pairs, the oldest comment (smallest
    id) is canonical. Identical vectors (the same cleaned text) are grouped by hashing first,
    so 500 copies of "great service" cost nothing; distinct vectors are searched exactly in
    chunks up to 25k, with NN-descent above (no n x n matrix is ever built). With `new_mask`,
    only pairs involving a new comment are searched."""
    n = len(ids)
    if n < 2:
        return []
    vectors = _normalise(np.asarray(vectors, dtype=np.float32))
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            # The smaller feedback id becomes the root: the oldest comment is canonical.
            if ids[ra] < ids[rb]:
                parent[rb] = ra
            else:
                parent[ra] = rb

    first_of: dict[bytes, int] = {}
    unique: list[int] = []
    for i in range(n):
        key = vectors[i].tobytes()
        if key in first_of:
            union(first_of[key], i)
        else:
            first_of[key] = i
            unique.append(i)
    unique_arr = np.asarray(unique)
    base = vectors[unique_arr]
    if new_mask is None:
        queries = np.arange(len(unique_arr))
    else:
        queries = np.flatnonzero(np.asarray(new_mask)[unique_arr])
    if len(unique_arr) <= 25_000 or new_mask is not None:
        for start in range(0, len(queries), 1024):
            block = queries[start:start + 1024]
            sims = base[block] @ base.T
            sims[np.arange(len(block)), block] = -1.0
            rows, cols = np.nonzero(sims >= threshold)
            for r, c in zip(block[rows].tolist(), cols.tolist()):
                union(int(unique_arr[r]), int(unique_arr[c]))
    else:
        from pynndescent import NNDescent

        index = NNDescent(base, metric="cosine", n_neighbors=10, random_state=42,
                          low_memory=True)
        neighbours, distances = index.neighbor_graph
        rows, cols = np.nonzero(1.0 - distances >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist()):
            if neighbours[r, c] != r:
                union(int(unique_arr[r]), int(unique_arr[neighbours[r, c]]))
    out = []
    for i in range(n):
        root = find(i)
        if root != i:
            out.append((int(ids[i]), int(ids[root]), float(vectors[i] @ vectors[root])))
    return out


def _keywords(topic_model, topic: int) -> list[str]:
    words = topic_model.get_topic(topic) or []
    return [w for w, _ in words if w]


def _crude_stem(word: str) -> str:
    """Enough to see "queue queued" or "wait waiting" as one word twice; not a real stemmer."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def auto_name(keywords: Sequence[str], *, n: int = 3) -> str:
    """A readable name from top keywords, e.g. "wait / queue / minutes": a keyword whose words
    are all already shown is skipped ("wait time" after "wait" and "time"), and so is a
    bigram that says one word twice ("slow slow", "queue queued": c-TF-IDF picks these up
    from "slow, slow service" and reads nothing into them)."""
    chosen: list[str] = []
    seen: set[str] = set()
    for keyword in keywords:
        words = keyword.split()
        tokens = set(words)
        if not tokens or tokens <= seen or len({_crude_stem(w) for w in words}) < len(words):
            continue
        chosen.append(keyword)
        seen |= tokens
        if len(chosen) == n:
            break
    return " / ".join(chosen) if chosen else "misc"


# --------------------------------------------------------------------------------------
# Matching topics to stable themes
# --------------------------------------------------------------------------------------

def _stored_centroids(db, embedder_name: str) -> tuple[list[int], np.ndarray]:
    rows = db.execute(
        "SELECT c.theme_id, c.vector FROM theme_centroids c JOIN themes t ON t.id = c.theme_id "
        "WHERE c.embedder = ? AND t.is_seed = 0 ORDER BY c.theme_id", [embedder_name]).fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    return [r[0] for r in rows], np.vstack([np.frombuffer(r[1], dtype="<f4") for r in rows])


def _match_topics(topic_centroids: dict[int, np.ndarray], theme_ids: list[int],
                  theme_vectors: np.ndarray, threshold: float) -> dict[int, tuple[int, float]]:
    """topic -> (candidate theme id, similarity), one topic per theme, Hungarian on cosine."""
    from scipy.optimize import linear_sum_assignment

    topics = list(topic_centroids)
    if not topics or not theme_ids:
        return {}
    a = _normalise(np.vstack([topic_centroids[t] for t in topics]))
    b = _normalise(theme_vectors)
    if a.shape[1] != b.shape[1]:
        return {}
    sims = a @ b.T
    rows, cols = linear_sum_assignment(-sims)
    return {topics[r]: (theme_ids[c], float(sims[r, c])) for r, c in zip(rows, cols)
            if sims[r, c] >= threshold}


# --------------------------------------------------------------------------------------
# refresh_themes
# --------------------------------------------------------------------------------------

def refresh_themes(
    db: sqlite_utils.Database,
    *,
    refit: bool = False,
    pipeline: ThemePipeline | None = None,
    actor: str,
    now: datetime | None = None,
    progress: ProgressFn | None = None,
    job_id: int | None = None,
) -> RefreshResult:
    """Fit themes (no active model, or `refit`), else assign only comments no model has seen.

    Never raises on an empty or tiny corpus (the result's message says why nothing changed);
    other failures mark the job failed and leave the previous themes intact. Raises
    JobAlreadyRunning, before doing anything, while another theme job is alive (in this
    process or another sharing the store), and JobInterrupted, writing nothing, if this job
    was marked dead from elsewhere while it ran."""
    if not actor or not str(actor).strip():
        raise ValueError("actor is required: who is refreshing the themes?")
    now = now or utcnow()
    at = to_iso(now)
    pipeline = pipeline or ThemePipeline()
    job_id = job_id or _start_job(db, actor, at, now=now)
    heartbeat = _Heartbeat(db, job_id, _heartbeat_interval()).start()
    report = _Progress(db, job_id, progress, heartbeat)
    try:
        try:
            report(0.01, "starting")
            active = _active_model_row(db)
            if active is not None and not refit:
                if active["params"].get("embedder") != pipeline.get_embedder().name:
                    result = _fit(db, pipeline, actor=actor, at=at, report=report,
                                  reason="the embedding model changed, so themes were refitted")
                else:
                    try:
                        result = _transform(db, pipeline, active, actor=actor, at=at,
                                            report=report)
                    except ModelUnavailable as exc:
                        result = _fit(db, pipeline, actor=actor, at=at, report=report,
                                      reason=f"the saved model could not be used ({exc}), so "
                                             "themes were refitted")
            else:
                result = _fit(db, pipeline, actor=actor, at=at, report=report)
        except BaseException as exc:
            _finish_job(db, job_id, "failed", _failure_message(exc), actor=actor)
            raise
        _finish_job(db, job_id, "done", result.message, actor=actor)
    finally:
        heartbeat.stop()
    if progress:
        progress(1.0, result.message)
    return result


def _embed(db, texts, pipeline, report, start: float, end: float) -> np.ndarray:
    def tick(done, total):
        report(start + (end - start) * done / max(total, 1), f"embedding {done:,}/{total:,} new texts")

    return emb.embed_texts(db, texts, pipeline.get_embedder(), progress=tick)


def _fit(db, pipeline: ThemePipeline, *, actor: str, at: str, report: _Progress,
         reason: str | None = None) -> RefreshResult:
    report(0.03, "reading comments")
    ids, docs, empty_ids = _corpus(db, only_new=False)
    n = len(ids)
    if n == 0:
        return RefreshResult(None, False, 0, 0, 0, 0.0,
                             "No comments to theme yet: import feedback with comments, then refresh.")
    if n < MIN_DOCUMENTS:
        return RefreshResult(None, False, n, 0, 0, 1.0,
                             f"Only {n} comment(s): themes need at least {MIN_DOCUMENTS}; "
                             "nothing was fitted, comments stay unthemed.")
    vectors = _embed(db, docs, pipeline, report, 0.05, 0.45)
    seeds = theme_admin.seed_themes(db)
    seed_labels = [_seed_label(s) for s in seeds]
    stop_words = name_words(_names(db))
    report(0.5, f"fitting the theme model on {n:,} comments")
    topic_model = pipeline.build(n, seeds=seed_labels, stop_words=stop_words)
    try:
        topics, probs = topic_model.fit_transform(docs, embeddings=vectors.copy())
    except (ValueError, TypeError) as exc:
        if n < SMALL_CORPUS:
            return RefreshResult(None, False, n, 0, 0, 1.0,
                                 f"Only {n} comments and no distinct themes found in them "
                                 f"({exc}); nothing was fitted.")
        raise
    topic_ids, _ = _topic_embeddings(topic_model)
    mcs = int(pipeline.resolved(n)["min_cluster_size"])
    retry_mcs = int(pipeline._value(pipeline.retry_min_cluster_size, n))
    collapse = _collapse(topics, topic_ids, pipeline)
    retry_note = None
    if collapse and n >= 500 and pipeline.cluster_model is None and mcs > retry_mcs:
        retry_note = f"at min_cluster_size {mcs} {collapse}: refitted at {retry_mcs}"
        report(0.6, f"{collapse}: refitting with min_cluster_size {retry_mcs}")
        smaller = dataclasses.replace(pipeline, min_cluster_size=retry_mcs,
                                      umap_model=_Prefitted(topic_model.umap_model, vectors))
        topic_model = smaller.build(n, seeds=seed_labels, stop_words=stop_words)
        topics, probs = topic_model.fit_transform(docs, embeddings=vectors.copy())
        topic_ids, _ = _topic_embeddings(topic_model)
        pipeline = dataclasses.replace(pipeline, min_cluster_size=retry_mcs)
    if not topic_ids:
        return RefreshResult(None, False, n, 0, 0, 1.0,
                             f"No distinct themes found in {n:,} comments; nothing was fitted "
                             "(try a smaller min_cluster_size).")
    fit_topics = list(topics)
    report(0.7, "folding outliers into their nearest theme")
    topics, topic_sim = _reduce_outliers(topic_model, docs, fit_topics, vectors, pipeline,
                                         unthemeable=len(empty_ids))
    report(0.75, "finding comments with several themes")
    secondary = _secondary_topics(topic_model, docs, topics, pipeline)
    report(0.8, "grouping near-duplicate comments")
    duplicates = _near_duplicates(ids, vectors, pipeline.duplicate_threshold)
    report(0.85, "projecting comments for the theme map")
    map_model, coords = _map(topic_model, vectors, pipeline, n)

    # Which topic is which seed: zero-shot topics carry the seed label as their label.
    label_to_seed = {label: s["id"] for label, s in zip(seed_labels, seeds)}
    seed_topics = {t: label_to_seed[label] for t, label in topic_model.topic_labels_.items()
                   if t != -1 and label in label_to_seed}
    members: dict[int, list[int]] = {}
    for i, t in enumerate(topics):
        if t != -1:
            members.setdefault(t, []).append(i)
    centroids = {t: vectors[idx].mean(axis=0) for t, idx in members.items()}
    for t in topic_ids:  # a topic could lose every member to nothing; keep its model vector
        if t not in centroids:
            centroids[t] = _topic_embeddings(topic_model)[1][topic_ids.index(t)]

    report(0.9, "saving the model")
    version = f"{at.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}"
    folder = get_settings().model_dir / version
    params = pipeline.resolved(n)
    params.update({"version": version, "n_seed_topics": len(seed_topics),
                   "bertopic": _version("bertopic")})
    params.update(_save_model(topic_model, map_model, folder))
    try:
        report(0.95, "writing themes")
        with write_transaction(db):
            # Under the write lock nobody can mark this job dead until commit; checked at the
            # start (never write for a job declared dead) and the end (a fresh heartbeat at
            # commit, however long the write took).
            report.ensure_live()
            result = _write_fit(
                db, pipeline, version=version, folder=folder, params=params, ids=ids,
                empty_ids=empty_ids, topic_model=topic_model, topic_ids=topic_ids,
                fit_topics=fit_topics, topics=topics, probs=probs, topic_sim=topic_sim,
                secondary=secondary, seed_topics=seed_topics, centroids=centroids,
                duplicates=duplicates, coords=coords, actor=actor, at=at)
            report.ensure_live()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    # Keep the fitted model warm: the next refresh in this process needs no reload.
    model_row = _active_model_row(db)
    topic_to_theme = dict(db.execute("SELECT topic, theme_id FROM model_topics WHERE model_id = ?",
                                     [model_row["id"]]).fetchall())
    with _model_cache_lock:
        _model_cache.clear()
        _model_cache[(str(folder.resolve()), params["model_sha256"])] = LoadedModel(
            model_row["id"], version, topic_model, map_model, params, topic_to_theme)
    for note in (retry_note, reason):
        if note:
            result.message = f"{result.message} ({note})"
    return result


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _seed_label(seed: dict) -> str:
    # The zero-shot label: the analyst's name and terms, so the embedder sees their vocabulary.
    return f"{seed['name']}: {', '.join(seed['terms'])}"


def _map(topic_model, vectors, pipeline, n) -> tuple[Any, np.ndarray]:
    reduced = getattr(topic_model.umap_model, "embedding_", None)
    if reduced is None or len(reduced) != n:
        reduced = topic_model.umap_model.transform(vectors)
    reduced = np.asarray(reduced, dtype=np.float32)
    if reduced.shape[1] <= 2:
        return None, np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
    map_model = pipeline.build_map_model(n)
    coords = getattr(map_model, "fit_transform")(reduced)
    return map_model, np.asarray(coords, dtype=float)


def _write_fit(db, pipeline, *, version, folder, params, ids, empty_ids, topic_model, topic_ids,
               fit_topics, topics, probs, topic_sim, secondary, seed_topics, centroids,
               duplicates, coords, actor, at) -> RefreshResult:
    embedder_name = params["embedder"]
    db.execute("UPDATE theme_models SET is_active = 0 WHERE is_active = 1")
    model_id = db.execute(
        "INSERT INTO theme_models (version, path, params, n_documents, n_themes, is_active, "
        "created_at, created_by) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
        [version, str(folder), json.dumps(params, default=str), len(ids), len(topic_ids), at,
         actor]).lastrowid

    previously_active = {r[0] for r in db.execute(
        "SELECT id FROM themes WHERE status = 'active' AND is_seed = 0").fetchall()}
    candidates, candidate_vectors = _stored_centroids(db, embedder_name)
    free_topics = {t: centroids[t] for t in topic_ids if t not in seed_topics}
    matches = _match_topics(free_topics, candidates, candidate_vectors, pipeline.match_threshold)

    topic_to_theme: dict[int, int] = {}
    centroid_owner: dict[int, int] = {}  # theme id whose stored centroid this topic updates
    created = revived = 0
    for t in topic_ids:
        keywords = _keywords(topic_model, t)
        name = auto_name(keywords)
        if t in seed_topics:
            theme_id = theme_admin.resolve_theme(db, seed_topics[t])
            owner = seed_topics[t]
        elif t in matches:
            owner = matches[t][0]
            theme_id = theme_admin.resolve_theme(db, owner)
            status = db.execute("SELECT status FROM themes WHERE id = ?", [theme_id]).fetchone()[0]
            if status == "retired":
                db.execute("UPDATE themes SET status = 'active', updated_at = ? WHERE id = ?",
                           [at, theme_id])
                theme_admin._event(db, theme_id, "revived", {"model": version,
                                                             "similarity": matches[t][1]}, actor, at)
                revived += 1
        else:
            theme_id = db.execute(
                "INSERT INTO themes (name, auto_name, keywords, status, created_at, created_by, "
                "updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?)",
                [name, name, json.dumps(keywords), at, actor, at]).lastrowid
            theme_admin._event(db, theme_id, "created", {"model": version, "topic": t,
                                                         "keywords": keywords[:10]}, actor, at)
            owner = theme_id
            created += 1
        _update_theme_labels(db, theme_id, name, keywords, actor, at, version)
        topic_to_theme[t] = theme_id
        centroid_owner[t] = owner

    retired = 0
    for theme_id in sorted(previously_active - set(topic_to_theme.values())):
        db.execute("UPDATE themes SET status = 'retired', updated_at = ? WHERE id = ?", [at, theme_id])
        theme_admin._event(db, theme_id, "retired", {"model": version,
                                                     "reason": "no topic matched it"}, actor, at)
        retired += 1

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
    rows = _assignment_rows(ids, fit_topics, topics, probs, topic_sim, secondary, topic_to_theme,
                            model_id, at, fresh_origin="fit")
    db.conn.executemany(
        "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, origin, "
        "model_id, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    theme_admin.apply_corrections(db, at=at)

    db.execute("DELETE FROM near_duplicates")
    db.conn.executemany("INSERT INTO near_duplicates (feedback_id, canonical_id, similarity) "
                        "VALUES (?, ?, ?)", [(f, c, min(1.0, s)) for f, c, s in duplicates])
    db.execute("DELETE FROM comment_map")
    db.conn.executemany("INSERT INTO comment_map (feedback_id, model_id, x, y) VALUES (?, ?, ?, ?)",
                        [(fid, model_id, float(x), float(y)) for fid, (x, y) in zip(ids, coords)])
    db.execute("DELETE FROM theme_coverage")
    db.conn.executemany("INSERT INTO theme_coverage (feedback_id, model_id, considered_at) "
                        "VALUES (?, ?, ?)", [(fid, model_id, at) for fid in [*ids, *empty_ids]])

    themed = db.execute("SELECT COUNT(DISTINCT feedback_id) FROM theme_assignments").fetchone()[0]
    total = len(ids) + len(empty_ids)
    n_themes = len(set(topic_to_theme.values()))
    unthemed = 1 - themed / total if total else 0.0
    groups = len({c for _, c, _ in duplicates})
    small = (f" Small corpus ({total:,} comments): themes are tentative and sharpen as feedback "
             "grows." if total < SMALL_CORPUS else "")
    message = (f"Fitted theme model {version} on {len(ids):,} comments: {n_themes} themes "
               f"({created} new, {retired} retired, {revived} revived, {len(seed_topics)} seeded), "
               f"{unthemed:.1%} unthemed, {groups} near-duplicate group(s).{small}")
    return RefreshResult(version, True, total, n_themes, themed, unthemed, message)


def _update_theme_labels(db, theme_id, name, keywords, actor, at, version) -> None:
    row = db.execute("SELECT name, name_locked, is_seed FROM themes WHERE id = ?",
                     [theme_id]).fetchone()
    old_name, locked, is_seed = row
    if locked or is_seed:
        db.execute("UPDATE themes SET auto_name = ?, keywords = ?, updated_at = ? WHERE id = ?",
                   [name, json.dumps(keywords), at, theme_id])
    else:
        db.execute("UPDATE themes SET name = ?, auto_name = ?, keywords = ?, updated_at = ? "
                   "WHERE id = ?", [name, name, json.dumps(keywords), at, theme_id])
        if old_name != name:
            theme_admin._event(db, theme_id, "relabelled",
                               {"old": old_name, "new": name, "model": version}, actor, at)


def _assignment_rows(ids, fit_topics, topics, probs, topic_sim, secondary, topic_to_theme,
                     model_id, at, *, fresh_origin: str) -> list[tuple]:
    rows = []
    for i, fid in enumerate(ids):
        t = topics[i]
        if t == -1 or t not in topic_to_theme:
            continue
        primary_theme = topic_to_theme[t]
        if fit_topics[i] == -1:
            origin, probability = "outlier_reduction", float(max(0.0, min(1.0, topic_sim[i])))
        else:
            origin = fresh_origin
            probability = _primary_probability(probs, i, float(max(0.0, min(1.0, topic_sim[i]))))
        rows.append((fid, primary_theme, probability, 1, origin, model_id, at))
        seen = {primary_theme}
        for extra, weight in secondary[i]:
            theme = topic_to_theme.get(extra)
            if theme is None or theme in seen:
                continue
            seen.add(theme)
            rows.append((fid, theme, float(min(1.0, weight)), 0, fresh_origin, model_id, at))
    return rows


def _transform(db, pipeline, active: dict, *, actor: str, at: str, report: _Progress) -> RefreshResult:
    report(0.03, "reading new comments")
    ids, docs, empty_ids = _corpus(db, only_new=True)
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
        # A missing, tampered or (after a library upgrade) unreadable pickle: refit instead.
        raise ModelUnavailable(str(exc)) from exc
    topic_model = loaded.topic_model
    vectors = _embed(db, docs, pipeline, report, 0.1, 0.6)
    report(0.65, f"assigning {len(ids):,} new comments")
    raw_topics, probs = topic_model.transform(docs, embeddings=vectors)
    raw_topics = [int(t) for t in raw_topics]
    topics, topic_sim = _reduce_outliers(topic_model, docs, raw_topics, vectors, pipeline,
                                         unthemeable=len(empty_ids))
    secondary = _secondary_topics(topic_model, docs, topics, pipeline)
    report(0.8, "grouping near-duplicate comments")
    duplicates = _new_duplicates(db, ids, vectors, pipeline)
    report(0.85, "placing new comments on the theme map")
    coords = _map_new(loaded, vectors)
    report(0.9, "writing assignments")
    with write_transaction(db):
        report.ensure_live()  # as in _fit
        topic_to_theme = {t: theme_admin.resolve_theme(db, th)
                          for t, th in loaded.topic_to_theme.items()}
        rows = _assignment_rows(ids, raw_topics, topics, probs, topic_sim, secondary,
                                topic_to_theme, active["id"], at, fresh_origin="transform")
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            db.execute(f"DELETE FROM theme_assignments WHERE feedback_id IN "
                       f"({','.join('?' * len(chunk))}) AND origin != 'analyst'", chunk)
        db.conn.executemany(
            "INSERT OR REPLACE INTO theme_assignments (feedback_id, theme_id, probability, "
            "is_primary, origin, model_id, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        theme_admin.apply_corrections(db, at=at, feedback_ids=ids)
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


def _new_duplicates(db, ids, vectors, pipeline) -> list[tuple[int, int, float]]:
    """Near-duplicates of new comments among everything already themed (cached vectors)."""
    rows = db.execute(
        "SELECT f.id, f.comment FROM feedback f JOIN theme_coverage c ON c.feedback_id = f.id "
        "ORDER BY f.id").fetchall()
    if rows:
        old_ids = [r[0] for r in rows]
        old_texts = clean_many([r[1] for r in rows], names=_names(db))
        keep = [i for i, t in enumerate(old_texts) if len(t) >= 2]
        old_ids = [old_ids[i] for i in keep]
        old_vectors = emb.embed_texts(db, [old_texts[i] for i in keep], pipeline.get_embedder())
    else:
        old_ids, old_vectors = [], np.zeros((0, vectors.shape[1]), dtype=np.float32)
    all_ids = list(old_ids) + list(ids)
    all_vectors = np.vstack([old_vectors.reshape(-1, vectors.shape[1]), vectors])
    mask = np.zeros(len(all_ids), dtype=bool)
    mask[len(old_ids):] = True
    found = _near_duplicates(all_ids, all_vectors, pipeline.duplicate_threshold, new_mask=mask)
    # An old comment's existing canonical wins, so groups stay stable.
    canon = dict(db.execute("SELECT feedback_id, canonical_id FROM near_duplicates").fetchall())
    new_ids = set(ids)
    out = []
    for fid, canonical, sim in found:
        canonical = canon.get(canonical, canonical)
        if fid in new_ids and fid != canonical:
            out.append((fid, canonical, min(1.0, sim)))
    return out


def _map_new(loaded: LoadedModel, vectors) -> np.ndarray | None:
    reducer = loaded.topic_model.umap_model
    if not hasattr(reducer, "transform"):
        return None
    reduced = np.asarray(reducer.transform(vectors), dtype=np.float32)
    if loaded.map_model is None:
        return np.pad(reduced[:, :2], ((0, 0), (0, max(0, 2 - reduced.shape[1]))))
    return np.asarray(loaded.map_model.transform(reduced), dtype=float)


def themed_share(db: sqlite_utils.Database) -> float:
    """Share of non-empty comments with at least one theme (0..1); 0 on an empty store."""
    # COUNT(DISTINCT f.id), not COUNT(*): the join has a row per theme of a comment.
    total, themed = db.execute(
        "SELECT COUNT(DISTINCT f.id), COUNT(DISTINCT a.feedback_id) FROM feedback f "
        "LEFT JOIN theme_assignments a "
        "ON a.feedback_id = f.id WHERE f.comment IS NOT NULL AND trim(f.comment) != ''").fetchone()
    return themed / total if total else 0.0


__all__ = [
    "ThemePipeline", "RefreshResult", "refresh_themes", "start_refresh_job", "job_status",
    "running_job", "describe_job", "JobAlreadyRunning", "JobInterrupted", "wait_for_job", "load_active_model", "warm_up", "auto_name", "default_min_cluster_size", "default_retry_min_cluster_size", "themed_share",
]

"""The theme pipeline: BERTopic's steps as parameters, and how big a theme must be.

    pipeline = ThemePipeline()                 # the offline all-MiniLM-L6-v2, UMAP, HDBSCAN
    pipeline = ThemePipeline.tiny()            # hashing vectors and PCA: tests, quick demos
    topic_model = pipeline.build(n, seeds=["Parking: parking, car park"])

Comments are cleaned (`text.cleaning`: no handles, URLs, location or customer names) ->
embedded with the cached sentence model (`embeddings.embed_texts`, so a refresh embeds only
new text) -> UMAP (5-D, cosine, fixed seed) -> HDBSCAN whose `min_cluster_size` grows with
the corpus -> c-TF-IDF over unigrams and bigrams -> KeyBERTInspired + MaximalMarginalRelevance
keywords. Analyst seed themes become BERTopic zero-shot topics. Model libraries are imported
only when a model is built, after `prepare_offline_environment()`: importing this module
touches nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.settings import prepare_offline_environment
from analysis.text import embeddings as emb

LINEAR_SIZE_UP_TO = 20_000


def default_min_cluster_size(n: int) -> int:
    """Smallest child theme worth naming: n/300 of the corpus, never below 10 (nor above n/8
    on a small corpus). Child themes are sub-themes under 6-15 parent themes
    (`hierarchy.group_themes`), so they are meant to be finer than the subjects a reader
    names first: on the demo truth (17k comments, 9 subjects, UMAP fixed) n/67 gave 12
    children whose parents scored no better than the children (ARI 0.30 / 0.30), n/150 56
    children (0.34 parents against 0.16 children) and n/300 121 children (parents 0.36); on
    the CFPB complaints (2,827, 24 issue labels) children at n/150 (19) were as coarse as
    the labels and no grouping of them beat them (parents 0.05-0.10 against 0.102), while
    at 10 (49 children) parents did (0.088-0.100 against 0.086). HDBSCAN's fixed 10 gives
    ~1,000 themes at 50k comments: too many even as sub-themes.

    Above 20,000 comments it grows with the square root of the corpus instead: UMAP's
    neighbourhoods stay 15 comments wide however large the corpus, so its local clusters do
    not grow with n, and a linear size collapses large corpora into a handful of themes (on
    the 87k-comment demo n/67 gave 8 themes in one refit and 3 in another). When a corpus
    has weak density structure anyway, `refresh_themes` refits once at
    `default_retry_min_cluster_size`, reusing the UMAP projection."""
    if n > LINEAR_SIZE_UP_TO:
        return round(LINEAR_SIZE_UP_TO / 300 * math.sqrt(n / LINEAR_SIZE_UP_TO))
    return max(min(10, max(3, n // 8)), round(n / 300))


def default_retry_min_cluster_size(n: int) -> int:
    """Size for the one refit after the corpus-scaled size collapsed: BERTopic's own 10, or
    0.25% of a large corpus so a weakly structured 50k corpus still gives a readable list.
    A collapse means the corpus has no coarse density structure, so a size in between sits on
    the edge of the same collapse: on the CFPB complaints (2,827, 24 human issue labels),
    halving 42 to 21 gave 24 themes and NMI 0.193 against the labels, 10 gave 48 themes and
    NMI 0.214; the demo (coarse structure) never collapses at its own size.

    Never above half the scaled size, so a retry is possible at every corpus size: since
    child themes start at n/300 (and sqrt growth above 20k), 10 or n/400 alone would be no
    smaller than the size that collapsed below ~3,000 comments and above ~42,000."""
    return max(5, min(max(10, n // 400), default_min_cluster_size(n) // 2))


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
        if self.umap_model is None or self.map_model is None:
            # Before UMAP is first used in this process: its numba code then loads from
            # the disk cache instead of compiling for a minute (`compiling`).
            from analysis.themes import compiling

            compiling.enable_disk_cache()
        from bertopic import BERTopic
        from sklearn.base import clone
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

        settings = self.resolved(n)
        if isinstance(self.umap_model, Prefitted):
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
        from analysis.themes import compiling

        compiling.enable_disk_cache()
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
    """Compile UMAP's and NN-descent's numba code now (seconds spent), into the disk cache
    (`compiling.enable_disk_cache`), so that no later process on this machine compiles it:
    the first fit on a machine otherwise spends 1-2 minutes compiling on 2 cores. The first
    run of the demo store does this as a step of its own (`demo.first_run`).

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
    from sklearn.base import clone
    from sklearn.preprocessing import normalize

    vectors = normalize(rng.standard_normal((n, dim)).astype(np.float32))

    if pipeline.umap_model is not None:
        reducer = clone(pipeline.umap_model)
    else:
        from analysis.themes import compiling

        compiling.enable_disk_cache()
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


class Prefitted:
    """A fitted reducer reused by a refit of the clustering step: fit_transform on the same
    vectors returns the projection already computed (UMAP at 20k costs minutes). Only for the
    fit: the saved model keeps the reducer itself (`model`), so no pickle names this class."""

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


def BertopicEmbedder(embedder):
    """Our `Embedder` seen as a BERTopic backend (KeyBERTInspired, MMR and zero-shot embed
    words and seed labels through it). Never pickled: the model is saved without it. Built
    lazily so that importing this module (pages, job status) does not import BERTopic."""
    global _embedder_class
    if _embedder_class is None:
        prepare_offline_environment()
        from bertopic.backend import BaseEmbedder

        class _BertopicEmbedder(BaseEmbedder):
            def __init__(self, inner):
                super().__init__()
                self.embedder = inner

            def embed(self, documents, verbose: bool = False) -> np.ndarray:
                return np.asarray(self.embedder.encode(list(documents)), dtype=np.float32)

        _embedder_class = _BertopicEmbedder
    return _embedder_class(embedder)

"""Near-duplicate comments: groups of comments at or above a cosine similarity to one another,
each under its oldest comment (the canonical one), so a pasted complaint counts once where
it matters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlite_utils

from analysis.text import embeddings as emb
from analysis.text.cleaning import clean_many
from analysis.themes.corpus import proper_names

EXACT_SEARCH_UP_TO = 25_000
"""Distinct vectors searched exactly (in blocks, never an n x n matrix); NN-descent above."""
_BLOCK = 1024


def find_near_duplicates(ids: Sequence[int], vectors: np.ndarray, threshold: float,
                         new_mask: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """(feedback_id, canonical_id, similarity) for comments at or above `threshold` cosine to
    another: the groups are the connected components of the near pairs, and the oldest
    comment (smallest id) of each is canonical. Identical vectors (the same cleaned text) are
    paired by hashing first, so 500 copies of "great service" cost nothing. With `new_mask`,
    only pairs involving a new comment are searched."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.preprocessing import normalize

    n = len(ids)
    if n < 2:
        return []
    vectors = normalize(np.asarray(vectors, dtype=np.float32))
    first_of: dict[bytes, int] = {}
    unique: list[int] = []
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    same_a, same_b = [], []
    for i in range(n):
        first = first_of.setdefault(vectors[i].tobytes(), i)
        if first == i:
            unique.append(i)
        else:
            same_a.append(first)
            same_b.append(i)
    pairs.append((np.asarray(same_a, dtype=np.int64), np.asarray(same_b, dtype=np.int64)))
    unique_arr = np.asarray(unique)
    base = vectors[unique_arr]
    if new_mask is None:
        queries = np.arange(len(unique_arr))
    else:
        queries = np.flatnonzero(np.asarray(new_mask)[unique_arr])
    if len(unique_arr) <= EXACT_SEARCH_UP_TO or new_mask is not None:
        for start in range(0, len(queries), _BLOCK):
            block = queries[start:start + _BLOCK]
            sims = base[block] @ base.T
            sims[np.arange(len(block)), block] = -1.0
            rows, cols = np.nonzero(sims >= threshold)
            pairs.append((unique_arr[block[rows]], unique_arr[cols]))
    else:
        from analysis.themes import compiling

        compiling.enable_disk_cache()  # NN-descent's numba code from the disk cache
        from pynndescent import NNDescent

        index = NNDescent(base, metric="cosine", n_neighbors=10, random_state=42,
                          low_memory=True)
        neighbours, distances = index.neighbor_graph
        rows, cols = np.nonzero(1.0 - distances >= threshold)
        found = neighbours[rows, cols]
        keep = found != rows
        pairs.append((unique_arr[rows[keep]], unique_arr[found[keep]]))
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    # The first member of each component in feedback-id order is its oldest comment.
    by_age = np.argsort(np.asarray(ids), kind="stable")
    labels, first = np.unique(component[by_age], return_index=True)
    canonical = np.empty(len(labels), dtype=np.int64)
    canonical[labels] = by_age[first]
    out = []
    for i in range(n):
        root = int(canonical[component[i]])
        if root != i:
            out.append((int(ids[i]), int(ids[root]), float(vectors[i] @ vectors[root])))
    return out


def new_near_duplicates(db: sqlite_utils.Database, ids: Sequence[int], vectors: np.ndarray, *,
                        embedder, threshold: float) -> list[tuple[int, int, float]]:
    """Near-duplicates of new comments `ids` among everything already themed (their vectors
    come from the embedding cache). An old comment's existing canonical wins, so groups stay
    stable."""
    rows = db.execute(
        "SELECT f.id, f.comment FROM feedback f JOIN theme_coverage c ON c.feedback_id = f.id "
        "ORDER BY f.id").fetchall()
    if rows:
        old_ids = [r[0] for r in rows]
        old_texts = clean_many([r[1] for r in rows], names=proper_names(db))
        keep = [i for i, t in enumerate(old_texts) if len(t) >= 2]
        old_ids = [old_ids[i] for i in keep]
        old_vectors = emb.embed_texts(db, [old_texts[i] for i in keep], embedder)
    else:
        old_ids, old_vectors = [], np.zeros((0, vectors.shape[1]), dtype=np.float32)
    all_ids = list(old_ids) + list(ids)
    all_vectors = np.vstack([old_vectors.reshape(-1, vectors.shape[1]), vectors])
    mask = np.zeros(len(all_ids), dtype=bool)
    mask[len(old_ids):] = True
    found = find_near_duplicates(all_ids, all_vectors, threshold, new_mask=mask)
    canon = dict(db.execute("SELECT feedback_id, canonical_id FROM near_duplicates").fetchall())
    new_ids = set(ids)
    out = []
    for fid, canonical, sim in found:
        canonical = canon.get(canonical, canonical)
        if fid in new_ids and fid != canonical:
            out.append((fid, canonical, min(1.0, sim)))
    return out

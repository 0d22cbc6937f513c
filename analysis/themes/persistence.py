"""Saving and loading fitted theme models.

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
refit. The embedding model is never pickled: it is attached again on load. Nor is any class
of ours, so moving our code never makes a saved model unreadable.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from analysis.settings import get_settings, prepare_offline_environment
from analysis.text import embeddings as emb
from analysis.themes.pipeline import BertopicEmbedder


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


def active_model_row(db: sqlite_utils.Database) -> dict | None:
    """{id, version, path, params} of the active model, or None before the first fit."""
    row = db.execute("SELECT id, version, path, params FROM theme_models WHERE is_active = 1 "
                     "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return {"id": row[0], "version": row[1], "path": row[2], "params": json.loads(row[3])}


def _topic_to_theme(db, model_id: int) -> dict[int, int]:
    return dict(db.execute("SELECT topic, theme_id FROM model_topics WHERE model_id = ?",
                           [model_id]).fetchall())


def load_active_model(db: sqlite_utils.Database, *, embedder=None) -> LoadedModel | None:
    """The active fitted model, loaded once per process (keep it warm in st.cache_resource).

    Loads only a pickle inside settings.model_dir whose SHA-256 matches the one recorded when
    we saved it."""
    row = active_model_row(db)
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
            loaded = _load_files(folder, params)
            cached = LoadedModel(row["id"], row["version"], loaded["model.pkl"], loaded["map.pkl"],
                                 params, _topic_to_theme(db, row["id"]))
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


def _load_files(folder: Path, params: dict) -> dict:
    # Unpickling imports UMAP, HDBSCAN and numba: their environment must be set first, and
    # UMAP's numba code must read the disk cache before a transform compiles it.
    prepare_offline_environment()
    import joblib

    if isinstance(params.get("umap"), dict):  # a UMAP model (the tiny pipeline's PCA is not)
        from analysis.themes import compiling

        compiling.enable_disk_cache()

    loaded = {}
    for name, sha_key in {"model.pkl": "model_sha256", "map.pkl": "map_sha256"}.items():
        path = folder / name
        if sha_key not in params:
            loaded[name] = None  # no 2-D map saved for this model
            continue
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing")
        actual = emb.file_sha256(path)
        if actual != params.get(sha_key):
            raise RuntimeError(f"{path} has SHA-256 {actual}, expected "
                               f"{params.get(sha_key)}: not the model we saved; refit")
        loaded[name] = joblib.load(path)
    return loaded


def save_model(topic_model, map_model, folder: Path) -> dict:
    """Write the fitted model (and its 2-D map model) into a new `folder`; return the
    SHA-256 of each file, to record in the model's params."""
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
    shas = {"model_sha256": emb.file_sha256(folder / "model.pkl")}
    if map_model is not None:
        joblib.dump(map_model, folder / "map.pkl")
        shas["map_sha256"] = emb.file_sha256(folder / "map.pkl")
    return shas


def keep_warm(db: sqlite_utils.Database, folder: Path, topic_model, map_model,
              params: dict) -> None:
    """Cache the model just fitted and made active, so the next refresh in this process
    needs no reload."""
    row = active_model_row(db)
    with _model_cache_lock:
        _model_cache.clear()
        _model_cache[(str(folder.resolve()), params["model_sha256"])] = LoadedModel(
            row["id"], row["version"], topic_model, map_model, params,
            _topic_to_theme(db, row["id"]))


def forget_loaded_models() -> None:
    """Drop the models kept warm in this process: the next load reads the files again."""
    with _model_cache_lock:
        _model_cache.clear()


def library_version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"

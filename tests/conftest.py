"""Shared fixtures: a fresh database per test, and Streamlit caches cleared between tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))

from analysis import store  # noqa: E402

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Path:
    """Path of a fresh, empty store; the app and CLI see it through CLOSELOOP_DB."""
    path = tmp_path / "closeloop.db"
    monkeypatch.setenv("CLOSELOOP_DB", str(path))
    monkeypatch.setenv("CLOSELOOP_MODEL_DIR", str(tmp_path / "models"))
    return path


@pytest.fixture
def db(db_path):
    database = store.connect(db_path)
    yield database
    database.close()


@pytest.fixture
def seeded_db(db, tmp_path):
    """A store holding a small demo data set (2,000 responses, seed 7)."""
    from analysis import demo

    demo.generate_demo(db, rows=2000, seed=7, truth_path=tmp_path / "demo_truth.json",
                       actor="test")
    return db


@pytest.fixture(autouse=True)
def local_mode_address():
    """The app's no-sign-in local mode exists only while it listens on 127.0.0.1: AppTest
    has no server, so every test runs as that server would (tests/test_sign_in.py sets
    another address for sign-in mode)."""
    from streamlit import config as st_config

    st_config.set_option("server.address", "127.0.0.1")
    yield
    st_config.set_option("server.address", "127.0.0.1")


@pytest.fixture(autouse=True)
def clear_streamlit_caches():
    yield
    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()


@pytest.fixture
def filled_store(tmp_path) -> Path:
    """A closed store in its own folder holding one imported batch of 20 rows."""
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "closeloop.db"
    db = store.connect(path)
    from analysis import ingest
    from tests.stores import write_csv

    ingest.import_file(db, write_csv(tmp_path / "first.csv", 20, "a"), actor="test")
    db.close()
    return path


DEMO_NOW = "2025-06-30T12:00:00Z"
"""The demo stores' pinned clock: their injected improvement is 2024-12-02 at Harbour Street."""


@pytest.fixture(scope="session")
def truth_demo_source(tmp_path_factory):
    """Built once per session: a 20,000-row demo (seed 7, `now` DEMO_NOW) whose themes and
    sentiment are its truth's labels (no model fitted). (path, truth, theme name -> id);
    copy, never write."""
    from analysis.demo import generate_demo
    from tests.stores import seed_truth_sentiment, seed_truth_themes

    path = tmp_path_factory.mktemp("truth_demo") / "demo.db"
    db = store.connect(path)
    truth = generate_demo(db, rows=20_000, seed=7, actor="test",
                          now=store.from_iso(DEMO_NOW)).truth
    themes = seed_truth_themes(db, truth)
    seed_truth_sentiment(db, truth, now=DEMO_NOW)
    db.close()
    return path, truth, themes


@pytest.fixture
def truth_demo(truth_demo_source, db_path):
    """A fresh copy of the truth demo at db_path (what the app and CLI open): (db, truth,
    theme name -> id)."""
    import shutil

    source, truth, themes = truth_demo_source
    shutil.copy(source, db_path)
    database = store.connect(db_path)
    yield database, truth, themes
    database.close()

"""The layout's rules, checked by the suite (not only by a hook): analysis/ never imports
Streamlit, only the store opens SQLite, each domain rule has one definition that the schema
and the SQL agree with, and importing `analysis` touches nothing on disk."""

from __future__ import annotations

import ast
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.domain import comments, scores
from analysis.store import migrations

ROOT = Path(__file__).resolve().parent.parent
ANALYSIS = ROOT / "analysis"


def modules(folder: Path = ANALYSIS):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_analysis_module_imports_streamlit():
    offenders = [str(p.relative_to(ROOT)) for p in modules()
                 if any(n == "streamlit" or n.startswith("streamlit.")
                        for n in imported_names(p))]
    assert offenders == []


def test_only_the_store_opens_sqlite():
    opener = re.compile(r"sqlite3\.connect\(|sqlite_utils\.Database\(")
    places = [p for p in [*modules(), *sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
              if opener.search(p.read_text(encoding="utf-8"))]
    assert [str(p.relative_to(ROOT)) for p in places] == ["analysis/store/connection.py"]


def check_constraint_scales() -> dict[str, tuple[int, int]]:
    """The score scales as the schema's CHECK constraint writes them (a literal copy)."""
    db = sqlite3.connect(":memory:")
    import sqlite_utils

    migrations.closeloop.apply(sqlite_utils.Database(db))
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'feedback'").fetchone()[0]
    found = re.findall(r"score_type = '(\w+)' AND score BETWEEN (\d+) AND (\d+)", sql)
    return {name: (int(low), int(high)) for name, low, high in found}


def test_the_domain_scales_agree_with_the_schemas_check_constraint():
    assert check_constraint_scales() == scores.SCORE_SCALES


@pytest.mark.parametrize("score_type", scores.SCORE_TYPES)
def test_sql_and_python_put_every_score_in_the_same_band(score_type):
    low, high = scores.SCORE_SCALES[score_type]
    step = scores.SCORE_STEPS[score_type]
    db = sqlite3.connect(":memory:")
    values = [low + i * step for i in range(int((high - low) / step) + 1)]
    for value in values:
        negative = db.execute(f"SELECT {scores.negative_score_sql('f')} FROM "
                              "(SELECT ? AS score_type, ? AS score) AS f",
                              [score_type, value]).fetchone()[0]
        assert bool(negative) == (scores.score_band(score_type, value) == "negative"), value
        if score_type == "nps":
            groups = [g for g in scores.NPS_GROUPS if db.execute(
                f"SELECT {scores.nps_group_sql(g)} FROM (SELECT 'nps' AS score_type, "
                "? AS score) AS f", [value]).fetchone()[0]]
            assert groups == [scores.nps_group(value)], value


def test_importing_analysis_touches_nothing_on_disk(tmp_path):
    cache = tmp_path / "numba-cache-that-must-not-appear"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("HF_HUB_OFFLINE", None)
    code = ("import os, analysis, analysis.store, analysis.ingest, analysis.domain.filters; "
            "print(os.environ.get('HF_HUB_OFFLINE'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    assert not cache.exists()
    assert out.stdout.strip() == "None"  # preparation is an explicit call, not an import


@pytest.mark.parametrize("text", [None, "", " ", "\t\n", " \r\n ", "ok", " a ", "\u00a0x"])
def test_sql_and_python_agree_on_what_counts_as_a_comment(text):
    db = sqlite3.connect(":memory:")
    in_sql = db.execute(f"SELECT {comments.has_comment_sql('f')} FROM (SELECT ? AS comment) f",
                        [text]).fetchone()[0]
    assert bool(in_sql) == comments.has_comment(text)


def test_a_page_is_sent_a_long_comment_cut_and_saying_its_length():
    db = sqlite3.connect(":memory:")
    shown = db.execute(f"SELECT {comments.shown_comment_sql('f', 10)} FROM "
                       "(SELECT ? AS comment) f", ["x" * 1_000_000]).fetchone()[0]
    assert shown == "x" * 10 + "… (1000000 characters)"

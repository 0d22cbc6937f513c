"""Numba's compile is paid once per machine: a second process loads what the first compiled.

Each run is a fresh Python process sharing one empty, temporary NUMBA_CACHE_DIR (never the
project's .numba_cache). Compiles are counted with numba's own compile events and cache loads
with its dispatcher counters, not timed: the machine is shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A small fit of the app's UMAP settings (below 4,096 rows: exact neighbours, so the
# NN-descent tree, a minute to compile, is left out) and, to cover what NN-descent needs,
# one pynndescent function that takes its distance as an argument, plus a function of our
# own that calls numba.get_num_threads() as nn_descent does (`OWN`).
CHILD = textwrap.dedent("""
    import hashlib, json, sys, threading, warnings
    warnings.filterwarnings("ignore", message="n_jobs value")
    from analysis.themes import compiling

    counts = []
    threads = [threading.Thread(target=lambda: counts.append(compiling.enable_disk_cache()))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = compiling.enable_disk_cache()
    pending = compiling.compile_pending(300)

    import numba
    import numpy as np
    import umap
    from pynndescent import distances, pynndescent_
    from pynndescent.utils import make_heap
    from umap import layouts

    from own import thread_count

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with compiling.count_compiles() as seen:
        reducer = umap.UMAP(n_neighbors=10, n_components=5, min_dist=0.0, metric="cosine",
                            random_state=42, low_memory=True, n_epochs=20)
        reduced = reducer.fit_transform(vectors)
        moved = reducer.transform(vectors[:5])
        heap = make_heap(300, 10)
        # A Tausworthe state as pynndescent seeds it (tiny seeds make its RNG stick).
        rng_state = np.random.RandomState(42).randint(-2**31 + 1, 2**31 - 1, 3)
        pynndescent_.init_random(10, vectors, heap, distances.alternative_dot,
                                 rng_state.astype(np.int64))
        threads_in_jit = thread_count()

    codegen = layouts._nb_optimize_layout_euclidean_single_epoch.targetctx.codegen()
    twin_keys = [d._cache._index_key(None, codegen) for d in (
        layouts._nb_optimize_layout_euclidean_single_epoch,
        layouts._nb_optimize_layout_euclidean_single_epoch_parallel)]
    print(json.dumps({
        "counts": counts, "again": again, "pending": pending,
        "compiled": seen.compiled, "loaded": seen.loaded,
        "own_loaded": sum(thread_count.stats.cache_hits.values()),
        "threads_ok": threads_in_jit == numba.get_num_threads(),
        "twins_distinct": twin_keys[0] != twin_keys[1],
        "result": hashlib.sha256(reduced.tobytes() + moved.tobytes()
                                 + heap[0].tobytes()).hexdigest(),
    }))
""")


OWN = textwrap.dedent("""
    import numba

    @numba.njit(cache=True)
    def thread_count():
        return numba.get_num_threads()
""")

# A process that never calls enable_disk_cache (nor imports the project) loading what a
# patched one cached: without numba's threads started first, that code would segfault.
PLAIN = textwrap.dedent("""
    import json, numba
    from own import thread_count
    print(json.dumps({"threads": thread_count(), "expected": numba.get_num_threads(),
                      "loaded": sum(thread_count.stats.cache_hits.values())}))
""")


def _run(tmp_path: Path, cache: Path, code: str = CHILD, project: bool = True) -> dict:
    script = tmp_path / "child.py"
    script.write_text(code)
    (tmp_path / "own.py").write_text(OWN)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache),
           "PYTHONPATH": str(ROOT) if project else str(tmp_path)}
    out = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    # numba warns on stderr when it cannot cache something: none of that may remain.
    assert "Cannot cache" not in out.stderr, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    cache = tmp_path / "numba-cache"
    first = _run(tmp_path, cache)
    second = _run(tmp_path, cache)

    for run in (first, second):
        # Four threads at once: every dispatcher is given a cache once, by one of them.
        assert sorted(run["counts"])[:3] == [0, 0, 0] and max(run["counts"]) > 200
        assert run["again"] == 0
        assert run["threads_ok"]
        assert run["twins_distinct"]  # parallel and serial layout epochs never share code

    assert first["pending"] is True
    library = [f for f in first["compiled"] if f.startswith(("umap.", "pynndescent."))]
    assert "umap.umap_.smooth_knn_dist" in library
    assert "pynndescent.pynndescent_.init_random" in library
    assert any(cache.rglob("*.nbi")) and any(cache.rglob("*.nbc"))

    assert second["pending"] is False
    # Nothing compiled at all: not UMAP, not the NN-descent function taking a dispatcher
    # argument, not numba's own helpers, not our function calling get_num_threads().
    assert second["compiled"] == []
    assert second["loaded"] >= 3
    assert second["own_loaded"] == 1
    assert second["result"] == first["result"]  # loaded code computes the same numbers

    plain = _run(tmp_path, cache, PLAIN, project=False)
    assert plain["loaded"] == 1 and plain["threads"] == plain["expected"]


def test_importing_the_module_imports_no_model_library(tmp_path):
    code = ("import sys, analysis.themes.compiling; "
            "print(sorted(m for m in ('numba', 'umap', 'pynndescent', 'hdbscan') "
            "if m in sys.modules))")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "unused"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert not (tmp_path / "unused").exists()

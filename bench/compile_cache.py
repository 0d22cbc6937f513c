"""Numba compile per process, with `compiling.enable_disk_cache()`: the first and second fit.

    .venv/bin/python bench/compile_cache.py [--rows 5000] [--without-fix] [--processes 2]

Runs `--processes` fresh Python processes, one after the other, sharing one empty temporary
NUMBA_CACHE_DIR (the project's .numba_cache is never touched). Each one times a realistic
first fit, the one the app runs (`ThemePipeline`): UMAP 5-D cosine (n_neighbors 15,
min_dist 0, low_memory, seed 42) fit_transform on `--rows` random L2-normalised 384-D float32
vectors (from 4,096 rows UMAP uses NN-descent), transform of 20 rows, HDBSCAN
(min_cluster_size 50, min_samples 12, prediction_data) fit + approximate_predict on 5 points,
then the 2-D map UMAP (euclidean, init pca) fit_transform/transform on the 5-D result.
Per process: import seconds, first-fit seconds, seconds in numba compiles (outermost only),
how many functions compiled and how many signatures were loaded from the disk cache instead.
`--without-fix` skips `enable_disk_cache` (the state before it existed), for comparison.
Target: the second process compiles for under 10 s. Also checks that every process gets
the same UMAP and HDBSCAN result (seeded: compiled or loaded, the numbers must match).
Prints human lines, then last one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECOND_COMPILE_TARGET_S = 10


def child(rows: int, fix: bool) -> dict:
    import warnings

    # UMAP warns that a seed forces one thread: known, and noise in a benchmark.
    warnings.filterwarnings("ignore", message="n_jobs value")
    started = time.perf_counter()
    from analysis.settings import prepare_offline_environment
    from analysis.themes import compiling

    prepare_offline_environment()
    # count_compiles counts cache loads only for dispatchers enable_disk_cache has seen;
    # without the fix it sees none, so loads read 0 there.
    with compiling.count_compiles() as at_import:
        enabled = compiling.enable_disk_cache() if fix else 0
        import hdbscan
        import numpy as np
        import umap
    import_s = time.perf_counter() - started
    pending = compiling.compile_pending(rows) if fix else None

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    steps = {}
    with compiling.count_compiles() as fit:
        t0 = time.perf_counter()
        reducer = umap.UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine",
                            random_state=42, low_memory=True)
        reduced = reducer.fit_transform(vectors)
        reducer.transform(vectors[:20])
        steps["umap_5d_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        clusterer = hdbscan.HDBSCAN(min_cluster_size=50, min_samples=12,
                                    prediction_data=True).fit(reduced)
        hdbscan.approximate_predict(clusterer, reduced[:5])
        steps["hdbscan_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        mapper = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, metric="euclidean",
                           init="pca", random_state=42, low_memory=True)
        mapper.fit_transform(reduced)
        mapper.transform(reduced[:20])
        steps["map_2d_s"] = time.perf_counter() - t2
        fit_s = time.perf_counter() - t0
    # Seeded UMAP runs on one thread: the same numbers whether the code was compiled or
    # loaded from the cache, which this checks across processes.
    digest = hashlib.sha256()
    for array in (reduced, mapper.embedding_, clusterer.labels_):
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "result_sha256": digest.hexdigest(),
        "import_s": round(import_s, 1), "import_compile_s": round(at_import.seconds, 1),
        "enabled": enabled, "compile_pending": pending,
        "fit_s": round(fit_s, 1), "compile_s": round(fit.seconds, 1),
        "compiled": len(fit.compiled), "loaded_from_cache": fit.loaded,
        "compiled_functions": sorted(Counter(fit.compiled).items()),
        **{k: round(v, 1) for k, v in steps.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--without-fix", action="store_true",
                        help="do not call enable_disk_cache (the figures before it)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rows, fix=not args.without_fix)))
        return
    runs = []
    with tempfile.TemporaryDirectory(prefix="numba-cache-bench-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        for i in range(args.processes):
            command = [sys.executable, __file__, "--child", "--rows", str(args.rows)]
            if args.without_fix:
                command.append("--without-fix")
            out = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT,
                                 check=False)
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise SystemExit(f"process {i + 1} failed")
            run = json.loads(out.stdout.strip().splitlines()[-1])
            runs.append(run)
            own = [f"{name} x{n}" for name, n in run["compiled_functions"]
                   if name.startswith(("umap.", "pynndescent.", "hdbscan."))]
            print(f"process {i + 1}: import {run['import_s']}s (compiling "
                  f"{run['import_compile_s']}s), first fit {run['fit_s']}s "
                  f"(UMAP 5-D {run['umap_5d_s']}s, HDBSCAN {run['hdbscan_s']}s, "
                  f"map {run['map_2d_s']}s), compiling {run['compile_s']}s: "
                  f"{run['compiled']} compiles, {run['loaded_from_cache']} loads from the "
                  f"cache; compile_pending said {run['compile_pending']}")
            print(f"  library functions compiled: {', '.join(own) or 'none'}")
    first, last = runs[0], runs[-1]
    figures = {
        "rows": args.rows, "fix": not args.without_fix,
        "load_average": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(),
        "first_process_import_s": first["import_s"],
        "first_process_fit_s": first["fit_s"], "first_process_compile_s": first["compile_s"],
        "second_process_import_s": last["import_s"],
        "second_process_fit_s": last["fit_s"], "second_process_compile_s": last["compile_s"],
        "second_process_compiles": last["compiled"],
        "second_process_loaded_from_cache": last["loaded_from_cache"],
        "second_process_compile_pending": last["compile_pending"],
        "second_compile_ok": last["compile_s"] < SECOND_COMPILE_TARGET_S,
        "same_result_every_process": len({run["result_sha256"] for run in runs}) == 1,
        "result_sha256": first["result_sha256"],
    }
    print("same UMAP and HDBSCAN result in every process: "
          f"{'yes' if figures['same_result_every_process'] else 'NO'}")
    print(f"second process compiling {last['compile_s']}s "
          f"(target < {SECOND_COMPILE_TARGET_S}s): "
          f"{'ok' if figures['second_compile_ok'] else 'MISSED'}")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()

"""A newcomer's first run: from an empty data folder to a demo store with sentiment and themes.

    .venv/bin/python bench/first_run.py [--rows 20000] [--numba-cache DIR]

Process 1 does what `make run` does on a fresh machine (`python -m analysis demo` through
`demo.first_run.build_first_run_store`, the real offline model): seconds per step (demo rows,
sentiment, embedding, compile, fit). By default numba's cache starts empty too (a new
machine); `--numba-cache DIR` reuses one (a machine that fitted before).
Process 2, started afterwards as a fresh Python, refits the themes of that store with the same
numba cache, and reports how many seconds of its fit went to compiling
(`themes.compiling.count_compiles`).

Targets (issue 17): process 1 under 4 minutes on 2 quiet cores; process 2 compiles under 10 s.
Human lines first, then last one JSON object on one line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIRST = """
import json, sys, time
from analysis.settings import prepare_offline_environment
prepare_offline_environment()
from analysis import store
from analysis.demo.first_run import build_first_run_store
started = time.perf_counter()
db = store.connect(sys.argv[1])
run = build_first_run_store(db, rows=int(sys.argv[2]), seed=7, actor="bench",
                            say=lambda m: print(m, file=sys.stderr, flush=True))
print(json.dumps({"seconds": run.seconds, "total": time.perf_counter() - started,
                  "message": run.themes_message}))
"""

SECOND = """
import json, sys, time
from analysis.settings import prepare_offline_environment
prepare_offline_environment()
from analysis import store, themes
from analysis.themes import compiling
db = store.connect(sys.argv[1])
started = time.perf_counter()
with compiling.count_compiles() as count:
    result = themes.refresh_themes(db, refit=True, actor="bench")
print(json.dumps({"fit": time.perf_counter() - started, "compile": count.seconds,
                  "compiled": len(count.compiled), "loaded": count.loaded,
                  "message": result.message}))
"""


def run(script: str, args: list[str], env: dict) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=None, text=True, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process_s"] = time.perf_counter() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--numba-cache", type=Path, default=None,
                        help="numba cache folder to use (default: a new, empty one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        data.mkdir()
        numba_cache = args.numba_cache or tmp / "numba_cache"
        env = dict(os.environ, CLOSELOOP_DB=str(data / "closeloop.db"),
                   CLOSELOOP_MODEL_DIR=str(data / "models"), NUMBA_CACHE_DIR=str(numba_cache),
                   PYTHONPATH=str(ROOT))
        print(f"process 1: {args.rows:,} demo rows into an empty data folder, numba cache "
              f"{'reused' if args.numba_cache else 'empty'}", flush=True)
        first = run(FIRST, [str(data / "closeloop.db"), str(args.rows)], env)
        for step, seconds in first["seconds"].items():
            print(f"  {step:10} {seconds:7.1f} s")
        print(f"  {'total':10} {first['total']:7.1f} s (process {first['process_s']:.1f} s)")
        print(f"  {first['message']}")
        print("process 2: a fresh process refits the same store with the same numba cache",
              flush=True)
        second = run(SECOND, [str(data / "closeloop.db")], env)
        print(f"  fit {second['fit']:.1f} s, of which compiling {second['compile']:.1f} s "
              f"({second['compiled']} functions compiled, {second['loaded']} loaded from the "
              "cache)")
    figures = {f"{step.replace(' ', '_')}_s": seconds
               for step, seconds in first["seconds"].items()}
    figures.update({
        "rows": args.rows,
        "first_run_total_s": round(first["total"], 1),
        "first_run_process_s": round(first["process_s"], 1),
        "second_process_fit_s": round(second["fit"], 1),
        "second_process_compile_s": round(second["compile"], 1),
        "second_process_compiled": second["compiled"],
        "first_run_under_4_min": first["total"] < 240,
        "second_compile_under_10_s": second["compile"] < 10,
    })
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()

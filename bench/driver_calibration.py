"""Key drivers against the demo's injected driver (issue 19).

    .venv/bin/python bench/driver_calibration.py [--quick] [--runs N] [--rows 20000]

Each run writes a demo (seed = run number, `now` pinned) into a fresh store, gives it the
demo's true themes (one theme per true theme, from the truth's row labels, as the tests do)
and runs `analysis.benchmarks.drivers.key_drivers` for NPS, CSAT and rating. The truth
holds, per metric and theme, the points the generating model implies (the regression's
coefficients on each response's expected value: see analysis/demo/truth.py `_driver`); the
demo injects pricing as a driver (one step down the scale for whoever mentions it).

Figures per metric:
- driver_first: share of runs in which pricing has the lowest points (costs the most);
- coverage: share of (run, theme) pairs whose 95% interval holds the true points, over all
  themes and for pricing alone; mean_z / sd_z: (estimate - truth) / robust standard error,
  which should be about 0 and 1.

Pass: in every metric, driver_first >= 0.95, and the pooled coverage not significantly
below 95% (>= 0.95 - 1.96 sqrt(0.05 * 0.95 / pairs)).
Progress on stderr; the figures last on stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis import store
from analysis.benchmarks.drivers import key_drivers
from analysis.demo import generate_demo
from tests.stores import seed_truth_themes

METRICS = ("nps", "csat", "rating")
NOW = "2025-06-30T12:00:00Z"


def one_run(seed: int, rows: int, folder: Path) -> dict[str, list[dict]]:
    """Per metric: one dict per theme with the estimate, its interval and the truth."""
    db = store.connect(folder / f"run{seed}.db")
    try:
        truth = generate_demo(db, rows=rows, seed=seed, actor="bench",
                              now=store.from_iso(NOW)).truth
        names = {theme_id: name for name, theme_id in seed_truth_themes(db, truth).items()}
        out = {}
        for metric in METRICS:
            true_points = truth["driver"]["points"][metric]
            out[metric] = [{"theme": names[r["theme_id"]], "points": r["points"],
                            "se": r["se"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                            "truth": true_points[names[r["theme_id"]]]}
                           for r in key_drivers(db, metric=metric).rows]
        return out | {"driver": truth["driver"]["theme"]}
    finally:
        db.close()


def summarise(runs: list[dict]) -> dict:
    figures = {}
    for metric in METRICS:
        pairs = [(run["driver"], r) for run in runs for r in run[metric]]
        covered = [r["ci_low"] <= r["truth"] <= r["ci_high"] for _, r in pairs]
        z = np.array([(r["points"] - r["truth"]) / r["se"] for _, r in pairs])
        driver_pairs = [r for driver, r in pairs if r["theme"] == driver]
        first = [min(run[metric], key=lambda r: r["points"])["theme"] == run["driver"]
                 for run in runs]
        floor = 0.95 - 1.96 * math.sqrt(0.05 * 0.95 / len(pairs))
        figures[metric] = {
            "driver_first": round(float(np.mean(first)), 3),
            "coverage": round(float(np.mean(covered)), 3),
            "coverage_floor": round(floor, 3),
            "driver_coverage": round(float(np.mean(
                [r["ci_low"] <= r["truth"] <= r["ci_high"] for r in driver_pairs])), 3),
            "mean_z": round(float(z.mean()), 3),
            "sd_z": round(float(z.std(ddof=1)), 3),
            "driver_mean_points": round(float(np.mean([r["points"] for r in driver_pairs])), 2),
            "driver_mean_truth": round(float(np.mean([r["truth"] for r in driver_pairs])), 2),
            "pairs": len(pairs),
        }
        figures[metric]["pass"] = bool(figures[metric]["driver_first"] >= 0.95
                                       and figures[metric]["coverage"] >= floor)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="10 runs")
    args = parser.parse_args()
    runs_wanted = 10 if args.quick else args.runs
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(runs_wanted):
            runs.append(one_run(seed, args.rows, Path(folder)))
            print(f"run {seed + 1}/{runs_wanted} done", file=sys.stderr)
    figures = summarise(runs)
    result = {"runs": runs_wanted, "rows": args.rows,
              **{f"{metric}_{key}": value for metric, values in figures.items()
                 for key, value in values.items()},
              "pass": all(values["pass"] for values in figures.values()),
              "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Benchmark (group vs rest of the network) calibration on simulated networks (issue 19).

    .venv/bin/python bench/benchmark_calibration.py [--quick] [--seed 19] [--runs N]

Each simulated network has 5-200 locations (log-uniform) with 5-2,000 responses each
(log-uniform), and runs through `analysis.benchmarks.ranking.benchmark` itself, with
`ranking.group_sums` replaced by the simulated per-location sums (n, total, total_sq), so the
intervals, tests, Benjamini-Hochberg, shrinkage, labels and ranks are the app's, min_n 30.

Metric kinds, each with a spread of true location values and with none (the null):
    share  csat: value 100/0, network share 0.4; true shares Beta(0.4 c, 0.6 c), c = 100
           (sd ~0.049, i.e. 4.9 points)
    nps    +100/0/-100 from a trinomial; location probabilities Dirichlet(c * (0.45, 0.35,
           0.20)), c = 90 (true NPS 25, sd ~8 points)
    mean   rating 1-5; location probabilities Dirichlet(c * (.05, .07, .13, .35, .40)),
           c = 100 (true mean 3.98, sd ~0.11)
The spread is modest: about 1% of the response variance lies between locations.

Figures per scenario:
1. Coverage of each location's TRUE value by the raw 95% interval and by the shrunk 95%
   (posterior) interval, for small (n < 30) and large locations, and by n band.
2. Nulls: share of networks with ANY location labelled better/worse (BH at 5%, as the app
   does), the per-location false label rate among tested locations, and the same with each
   location tested alone at 5% (no BH) for contrast.
3. Spread: a second, held-out sample of every location from the same truth: RMSE of the raw
   and of the shrunk estimate predicting the held-out mean (and the true value), small and
   large; how often the truly worst location is ranked last by the raw vs the shrunk value
   (among ranked locations, n >= 30, as the table ranks them; and among all locations).

Pass: pass_any_flag_<kind>: the BH any-flag rate in each null at most 5%, allowing for the
simulation's own error (rate <= 0.05 + 1.96 sqrt(0.05 * 0.95 / runs), i.e. not significantly
above 5%: BH on a global null sits at 5% by design, so a bare <= 0.05 would flip with the
seed). Coverage is reported alongside; coverage_ok says whether every shrunk interval's
coverage (small and large, every scenario) is at least 0.90 (not a pass criterion).
Progress on stderr; the figures last on stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.benchmarks.metrics import Metric

MIN_N = 30
KINDS = {
    # kind: metric name, response values, base probabilities, concentration of the spread
    "share": ("csat", np.array([100.0, 0.0]), np.array([0.4, 0.6]), 100.0),
    "nps": ("nps", np.array([100.0, 0.0, -100.0]), np.array([0.45, 0.35, 0.20]), 90.0),
    "mean": ("rating", np.arange(1.0, 6.0), np.array([0.05, 0.07, 0.13, 0.35, 0.40]), 100.0),
}
N_BANDS = ((5, 10), (10, 30), (30, 100), (100, 500), (500, 2001))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def simulate(rng: np.random.Generator, kind: str, spread: bool):
    """(n per location, probabilities per location (K x categories), true values)."""
    _, values, base, conc = KINDS[kind]
    k = round(math.exp(rng.uniform(math.log(5), math.log(200))))
    n = np.exp(rng.uniform(math.log(5), math.log(2000), k)).round().astype(np.int64)
    probs = rng.dirichlet(conc * base, k) if spread else np.tile(base, (k, 1))
    return n, probs, probs @ values


def draw_sums(rng: np.random.Generator, kind: str, n, probs) -> list[dict]:
    values = KINDS[kind][1]
    counts = rng.multinomial(n, probs)
    totals, squares = counts @ values, counts @ (values * values)
    return [{"group": f"L{i:03d}", "n": int(n[i]), "total": float(totals[i]),
             "total_sq": float(squares[i])} for i in range(len(n))]


def run_benchmark(ranking, metric: Metric, sums: list[dict], min_n: int = MIN_N) -> dict:
    """ranking.benchmark on synthetic sums; rows by group."""
    saved = ranking.group_sums
    ranking.group_sums = lambda db, metric, by, filters: [dict(r) for r in sums]
    try:
        bench = ranking.benchmark(None, metric, min_n=min_n)
    finally:
        ranking.group_sums = saved
    return {r["group"]: r for r in bench.rows}


def _covers(low, high, truth) -> bool:
    return low is not None and high is not None and low - 1e-9 <= truth <= high + 1e-9


def scenario(ranking, kind: str, spread: bool, runs: int, seed: int) -> dict:
    metric = Metric.parse(KINDS[kind][0])
    rng = np.random.default_rng([seed, list(KINDS).index(kind), int(spread)])
    raw_cov, shr_cov, n_all = [], [], []
    any_bh = any_raw = 0
    tested = labelled_bh = labelled_raw = 0
    err = {"raw_held": [], "shr_held": [], "raw_true": [], "shr_true": [], "n": []}
    worst = {"ranked": [0, 0, 0], "all": [0, 0, 0]}  # networks, raw hits, shrunk hits
    zero_width_small = 0
    for _ in range(runs):
        n, probs, truth = simulate(rng, kind, spread)
        sums = draw_sums(rng, kind, n, probs)
        rows = run_benchmark(ranking, metric, sums)
        flags_bh = flags_raw = 0
        est, shr = np.empty(len(n)), np.empty(len(n))
        for i, s in enumerate(sums):
            r = rows[s["group"]]
            raw_cov.append(_covers(r["ci_low"], r["ci_high"], truth[i]))
            shr_cov.append(_covers(r["shrunk_low"], r["shrunk_high"], truth[i]))
            if n[i] < MIN_N and r["shrunk_low"] is not None and \
                    r["shrunk_high"] - r["shrunk_low"] < 1e-9:
                zero_width_small += 1
            n_all.append(n[i])
            est[i], shr[i] = r["estimate"], r["shrunk"]
            if r["p_value"] is not None:
                tested += 1
                flags_bh += r["label"] in ("better", "worse")
                flags_raw += r["p_value"] <= 0.05
        labelled_bh += flags_bh
        labelled_raw += flags_raw
        any_bh += flags_bh > 0
        any_raw += flags_raw > 0
        if spread:
            held = draw_sums(rng, kind, n, probs)
            held_mean = np.array([h["total"] / h["n"] for h in held])
            err["raw_held"].append(est - held_mean)
            err["shr_held"].append(shr - held_mean)
            err["raw_true"].append(est - truth)
            err["shr_true"].append(shr - truth)
            err["n"].append(n)
            for key, mask in (("ranked", n >= MIN_N), ("all", np.ones(len(n), bool))):
                if mask.sum() < 2:
                    continue
                idx = np.flatnonzero(mask)
                true_worst = idx[np.argmin(truth[idx])]
                worst[key][0] += 1
                worst[key][1] += int(idx[np.argmin(est[idx])] == true_worst)
                worst[key][2] += int(idx[np.argmin(shr[idx])] == true_worst)
    raw_cov, shr_cov, n_all = np.array(raw_cov), np.array(shr_cov), np.array(n_all)
    small = n_all < MIN_N
    out = {
        "runs": runs, "locations": len(n_all), "small_locations": int(small.sum()),
        "raw_coverage_small": round(float(raw_cov[small].mean()), 4),
        "raw_coverage_large": round(float(raw_cov[~small].mean()), 4),
        "shrunk_coverage_small": round(float(shr_cov[small].mean()), 4),
        "shrunk_coverage_large": round(float(shr_cov[~small].mean()), 4),
        "coverage_by_n": {f"{lo}-{hi - 1}": [round(float(raw_cov[m].mean()), 3),
                                             round(float(shr_cov[m].mean()), 3)]
                          for lo, hi in N_BANDS
                          for m in [(n_all >= lo) & (n_all < hi)] if m.any()},
        "zero_width_shrunk_small": round(zero_width_small / max(int(small.sum()), 1), 4),
        "any_flag_bh": round(any_bh / runs, 4),
        "any_flag_bh_se": round(math.sqrt(any_bh / runs * (1 - any_bh / runs) / runs), 4),
        "any_flag_unadjusted": round(any_raw / runs, 4),
        "label_rate_bh": round(labelled_bh / max(tested, 1), 5),
        "label_rate_unadjusted": round(labelled_raw / max(tested, 1), 5),
        "tested_locations": tested,
    }
    if spread:
        ns = np.concatenate(err["n"])
        sq = {key: np.concatenate(err[key]) ** 2 for key in err if key != "n"}
        for band, m in (("small", ns < MIN_N), ("large", ns >= MIN_N), ("all", ns > 0)):
            rmse = {key: float(np.sqrt(v[m].mean())) for key, v in sq.items()}
            out[f"rmse_heldout_{band}"] = {"raw": round(rmse["raw_held"], 4),
                                           "shrunk": round(rmse["shr_held"], 4),
                                           "ratio": round(rmse["shr_held"] / rmse["raw_held"], 4)}
            out[f"rmse_truth_{band}"] = {"raw": round(rmse["raw_true"], 4),
                                         "shrunk": round(rmse["shr_true"], 4),
                                         "ratio": round(rmse["shr_true"] / rmse["raw_true"], 4)}
        out["worst_ranked_last"] = {
            key: {"networks": w[0], "raw": round(w[1] / max(w[0], 1), 4),
                  "shrunk": round(w[2] / max(w[0], 1), 4)} for key, w in worst.items()}
        out.pop("any_flag_bh")  # locations truly differ: flags are not false here
        out.pop("any_flag_bh_se")
        out.pop("any_flag_unadjusted")
        out.pop("label_rate_bh")
        out.pop("label_rate_unadjusted")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer networks (under 40 s)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--runs", type=int, help="networks per scenario (overrides)")
    parser.add_argument("--module", default="analysis.benchmarks.ranking",
                        help="the ranking module to test (a variant, for experiments)")
    args = parser.parse_args()
    started = time.perf_counter()
    ranking = importlib.import_module(args.module)
    null_runs, spread_runs = (300, 150) if args.quick else (3000, 600)
    if args.runs:
        null_runs = spread_runs = args.runs
    figures: dict = {"quick": args.quick, "seed": args.seed, "min_n": MIN_N,
                     "module": args.module}
    for kind in KINDS:
        for spread in (True, False):
            name = f"{kind}_{'spread' if spread else 'null'}"
            t0 = time.perf_counter()
            runs = spread_runs if spread else null_runs
            res = scenario(ranking, kind, spread, runs, args.seed)
            figures[name] = res
            msg = (f"{name}: {runs} networks, coverage raw {res['raw_coverage_small']:.3f}/"
                   f"{res['raw_coverage_large']:.3f}, shrunk {res['shrunk_coverage_small']:.3f}/"
                   f"{res['shrunk_coverage_large']:.3f} (small/large)")
            if not spread:
                msg += (f"; any flag BH {res['any_flag_bh']:.3f}, unadjusted "
                        f"{res['any_flag_unadjusted']:.3f}")
            else:
                msg += (f"; RMSE ratio shrunk/raw small {res['rmse_heldout_small']['ratio']:.3f}"
                        f", large {res['rmse_heldout_large']['ratio']:.3f}")
            log(f"{msg} [{time.perf_counter() - t0:.1f} s]")
    for kind in KINDS:
        runs = figures[f"{kind}_null"]["runs"]
        figures[f"any_flag_bh_{kind}"] = figures[f"{kind}_null"]["any_flag_bh"]
        figures[f"pass_any_flag_{kind}"] = bool(
            figures[f"{kind}_null"]["any_flag_bh"] <= 0.05 + 1.96 * math.sqrt(0.0475 / runs))
        for spread in ("spread", "null"):
            res = figures[f"{kind}_{spread}"]
            figures[f"coverage_{kind}_{spread}"] = {
                f"{k}_{b}": res[f"{k}_coverage_{b}"]
                for k in ("raw", "shrunk") for b in ("small", "large")}
    figures["pass_any_flag"] = all(figures[f"pass_any_flag_{k}"] for k in KINDS)
    figures["coverage_ok"] = all(
        figures[f"coverage_{k}_{s}"][f"shrunk_{b}"] >= 0.90
        for k in KINDS for s in ("spread", "null") for b in ("small", "large"))
    figures["seconds"] = round(time.perf_counter() - started, 1)
    log(f"pass any flag: {figures['pass_any_flag']}; shrunk coverage >= 0.90 everywhere: "
        f"{figures['coverage_ok']}; {figures['seconds']} s")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()

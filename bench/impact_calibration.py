"""Impact calibration (issue 20): false positives of placebo improvements, power on injected
effects, for every method of `analysis.improvements.impact.estimate_impact`.

    .venv/bin/python bench/impact_calibration.py [--quick] [--placebos 800] [--power-runs 100]
        [--seed 20] [--workers 2] [--window-weeks 8] [--noise 2.5] [--cfpb-windows 12,8]

A placebo improvement is a change recorded at a random location and a random week (pre_end =
post_start = that Monday, no roll-out) where nothing changed. A method calls it significant
at p <= 5%, the app's rule (report.py compares the headline's p with `<= ALPHA`, and its
interval inverts the same test; for the t-based methods < and <= are the same); no p-value
counts as not significant. False-positive rate (FPR) = the share called significant, with a
95% Wilson interval. Every call is the app's: the whole history in `cells`, `last_week` the
last week of data, comparison = every other location (those with fewer than 10 responses in
a window left out by `estimate_impact`).

(1) Simulated networks, a fresh one per run, built directly as weekly cells (location, week,
    n, total, total_sq): 104 weeks, either 8 locations (the headline's design is then placebo
    in time) or 30 (placebo in space). Volumes: negative binomial (size 2) around a location
    mean log-uniform 5-60 a week, one location in six sparse (1.5-5 a week), times a shared
    yearly volume season and a location log-AR(1) wobble; weeks without responses have no
    row. The location's weekly mean: its own level, a slow drift (random walk; its sd per
    week drawn per location), yearly seasonality shared by every location, AR(1) noise (phi
    0.5) and week shocks shared by every location (normal, plus rare large ones lasting 1-3
    weeks); all but the level scaled by --noise (2.5, chosen so that the before/after test's
    placebo FPR, 0.26, lands in the 26-33% the issue measured on real data; at 1.0 it was
    0.10). Two measures, alternating run by run: a 1-5 star rating (each response 1 +
    beta-binomial(4), sd ~1.3 stars) and a 0/100 share (binomial on the logit-scale mean).
    The treated location and the change week (a full 8-week window each side) are drawn at
    random. Power: the same, with a true effect added to the treated location's expected
    value in its post weeks (a drop of 0.3 and 0.6 stars; a rise of 5 and 10 share points),
    per method, and for the headline by the treated location's responses in the pre window;
    with the coverage of the true effect by the headline's interval (finite intervals only;
    how often it is unbounded is reported). Also --placebos / 2 placebos per setting placed
    at the network's busiest location (reported, not judged): the placebo-in-space
    statistic is studentized by the sampling error alone, so where week-to-week variation
    outweighs sampling error (busy locations) its null spread is wider than the pooled
    placebos'.
(2) The real CFPB sample (../shared/data/cfpb_complaints_sample.csv: 2,827 complaints, one
    Product, 2023-01-01 to 2023-08-24): location = State (the 30 with most complaints), week =
    ISO Monday of 'Date received' (the partial weeks at both ends dropped: 33 complete weeks),
    value = 100 if the complaint's Issue is the measure's Issue, else 0, for each of the
    three commonest Issues (a theme share, as the app measures themes). Placebos: every
    (Issue, State, change week) with full windows, shuffled, the first --placebos of them
    (without replacement; cycled only if fewer than 500 exist). They share data, so the
    Wilson interval is optimistic there. No effect is injected. Volumes are thin (median
    state 2.1 complaints a week) and a comparison location needs 10 responses in each window:
    with 12-week windows 23-26 states qualify at every change week, so the headline always
    uses placebo in space; with the app's 8 weeks only 17-20 do, about half the runs fall
    back to placebo in time, and 33 weeks hold too few placebo dates to reach 5% (the
    headline can then never be significant). So 12 weeks is judged, 8 reported beside it.
    (Shorter windows make this worse: at 4 weeks only 5-10 states qualify.)

Also per setting: the design used (space/time), the median number of placebos, the share of
runs whose smallest achievable headline p-value is above 5% (never significant: counted as
not significant, and shown so that it is visible) and the headline FPR among the others, the
headline FPR by the treated location's volume, the FPR an exchangeable statistic would have
with that many placebos (floor(0.05 (k + 1)) / (k + 1): the discrete test's exact size,
1/30 = 3.3% with 29 placebos), and the share of runs with each warning category raised
inside `estimate_impact`. A full run makes about 4,800 calls of 0.2-0.3 s each (on one BLAS
thread, pinned below): 9-18 minutes on 2 cores, depending on the load.

Pass: the headline (randomization inference) FPR between 0.02 and 0.08 in both simulated
settings and on CFPB (first --cfpb-windows). Other methods' FPRs and power: reported.
Progress and readable lines on stderr; the figures last on stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path

# One BLAS thread per process: the DiD fits are small, and OpenBLAS's threads fighting over
# two cores made one call 6x slower (0.23 s -> 1.5 s).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.improvements.impact import ALPHA, estimate_impact

CFPB = ROOT.parent / "shared" / "data" / "cfpb_complaints_sample.csv"
METHODS = ("before_after", "its", "did", "randomization")
N_WEEKS = 104
START = date(2024, 1, 1)  # a Monday
WEEKS = [START + timedelta(weeks=k) for k in range(N_WEEKS)]
SETTINGS = {"sim8": 8, "sim30": 30}
MEASURES = ("rating", "share")
EFFECTS = {"rating": (-0.3, -0.6), "share": (5.0, 10.0)}
UNITS = {"rating": "stars", "share": "points"}
CFPB_STATES = 30
CFPB_ISSUES = 3
FPR_RANGE = (0.02, 0.08)
NOISE = 2.5
"""Scale of everything but sampling noise (drift, season, AR(1), shocks) in the simulation."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wilson(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# --- simulation ------------------------------------------------------------------------

def _ar1(rng, phi: float, sd: float, shape: tuple[int, int]) -> np.ndarray:
    eps = rng.normal(0, sd, shape)
    out = np.empty(shape)
    out[:, 0] = eps[:, 0] / math.sqrt(1 - phi * phi)
    for t in range(1, shape[1]):
        out[:, t] = phi * out[:, t - 1] + eps[:, t]
    return out


def _shared_shocks(rng, sd: float, big: float) -> np.ndarray:
    """Week shocks shared by every location: normal, plus rare large ones lasting 1-3 weeks."""
    shocks = rng.normal(0, sd, N_WEEKS)
    for start in np.flatnonzero(rng.random(N_WEEKS) < 0.02):
        shocks[start:start + rng.integers(1, 4)] += rng.choice([-1, 1]) * big
    return shocks


def simulate(rng, n_locations: int, measure: str, effect: float = 0.0,
             window: int = 8, noise: float = NOISE) -> tuple[pd.DataFrame, str, int]:
    """(cells, treated location, change week index): one simulated network with the
    effect added to the treated location's expected value in its post weeks."""
    L, T = n_locations, N_WEEKS
    t = np.arange(T)
    # Volumes.
    mean = np.exp(rng.uniform(np.log(5), np.log(60), L))
    sparse = rng.random(L) < 1 / 6
    mean[sparse] = rng.uniform(1.5, 5, sparse.sum())
    season_v = 0.2 * np.sin(2 * np.pi * t / 52 + rng.uniform(0, 2 * np.pi))
    mu = mean[:, None] * np.exp(season_v[None, :] + _ar1(rng, 0.6, 0.15, (L, T)))
    size = 2.0
    n = rng.negative_binomial(size, size / (size + mu))
    # The location's weekly mean, on the measure's working scale.
    drift_sd = rng.uniform(0.3, 1.0, L)[:, None]
    season = np.sin(2 * np.pi * t / 52 + rng.uniform(0, 2 * np.pi))
    if measure == "rating":
        level = 3.9 + rng.normal(0, 0.25, L)
        m = level[:, None] + noise * (
            np.cumsum(rng.normal(0, 0.025, (L, T)) * drift_sd, axis=1)
            + 0.10 * season[None, :] + _ar1(rng, 0.5, 0.06, (L, T))
            + _shared_shocks(rng, 0.05, 0.25)[None, :])
        m = np.clip(m, 1.3, 4.7)
    else:
        level = np.log(0.2 / 0.8) + rng.normal(0, 0.4, L)
        x = level[:, None] + noise * (
            np.cumsum(rng.normal(0, 0.04, (L, T)) * drift_sd, axis=1)
            + 0.15 * season[None, :] + _ar1(rng, 0.5, 0.10, (L, T))
            + _shared_shocks(rng, 0.08, 0.4)[None, :])
        m = 100 / (1 + np.exp(-x))
    treated = int(rng.integers(L))
    change = int(rng.integers(window, T - window + 1))
    m[treated, change:change + window] += effect
    if measure == "rating":
        m = np.clip(m, 1.05, 4.95)
        p = (m - 1) / 4
        kappa = 1.5
        cell = np.repeat(np.arange(L * T), n.ravel())
        pi = rng.beta(p.ravel()[cell] * kappa, (1 - p.ravel()[cell]) * kappa)
        values = 1.0 + rng.binomial(4, pi)
        total = np.bincount(cell, weights=values, minlength=L * T)
        total_sq = np.bincount(cell, weights=values * values, minlength=L * T)
    else:
        hits = rng.binomial(n.ravel(), np.clip(m, 0, 100).ravel() / 100)
        total, total_sq = 100.0 * hits, 10_000.0 * hits
    names = [f"L{g:02d}" for g in range(L)]
    cells = pd.DataFrame({"location": np.repeat(names, T), "week": WEEKS * L,
                          "n": n.ravel().astype(int), "total": total, "total_sq": total_sq})
    cells = cells[cells["n"] > 0].reset_index(drop=True)
    return cells, names[treated], change


# --- one placebo or power run ----------------------------------------------------------

def _summary(result, truth: float) -> dict:
    out = {"design": result.design["placebo"], "placebos": result.design["placebos"],
           "smallest_p": result.design["smallest_p"],
           "comparison": result.design["comparison_locations"],
           "n_pre": result.n_pre, "n_post": result.n_post}
    for e in result.estimates:
        out[e.method] = {"p": e.p_value, "effect": e.effect, "low": e.ci_low,
                         "high": e.ci_high}
    head = result.headline
    finite = head.ci_low is not None and head.ci_high is not None
    out["finite"] = finite
    out["covers"] = bool(finite and head.ci_low <= truth <= head.ci_high)
    return out


_CFPB_CELLS: dict = {}


def run_task(task: dict) -> dict:
    window = task["window"]
    if task["kind"] == "sim":
        rng = np.random.default_rng(task["seed"])
        cells, treated, change = simulate(rng, task["locations"], task["measure"],
                                          task["effect"], window, task["noise"])
        if task.get("busiest"):
            treated = cells.groupby("location")["n"].sum().idxmax()
        week = WEEKS[change]
        last = WEEKS[-1]
    else:
        if not _CFPB_CELLS:
            _CFPB_CELLS.update(cfpb_cells(task["states"], task["issues"]))
        cells = _CFPB_CELLS["cells"][task["issue"]]
        treated, week, last = task["location"], task["week"], _CFPB_CELLS["last_week"]
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = estimate_impact(cells, treated=[treated], pre_end=week, post_start=week,
                                 last_week=last, window_weeks=window)
    out = _summary(result, task["effect"])
    out["seconds"] = time.perf_counter() - started
    out["warnings"] = sorted({w.category.__name__ for w in caught})
    return {**{k: v for k, v in task.items() if k != "seed"}, **out}


# --- CFPB ------------------------------------------------------------------------------

def cfpb_frame() -> pd.DataFrame:
    raw = pd.read_csv(CFPB, usecols=["Date received", "State", "Issue"])
    raw["date"] = pd.to_datetime(raw["Date received"], format="%m/%d/%y")
    raw["week"] = (raw["date"] - pd.to_timedelta(raw["date"].dt.day_of_week, unit="D")).dt.date
    first, last = raw["date"].min().date(), raw["date"].max().date()
    # Keep complete weeks only (the data starts on a Sunday and ends on a Thursday).
    first_week = first if first.weekday() == 0 else first + timedelta(days=7 - first.weekday())
    last_week = last - timedelta(days=last.weekday())
    if last.weekday() != 6:
        last_week -= timedelta(weeks=1)
    keep = (raw["week"] >= first_week) & (raw["week"] <= last_week)
    frame = raw[keep & raw["State"].notna()].copy()
    frame.attrs |= {"rows": len(raw), "first_week": first_week, "last_week": last_week,
                    "dropped_partial_weeks": int((~keep).sum())}
    return frame


def cfpb_cells(states: int, issues: int) -> dict:
    frame = cfpb_frame()
    top_states = list(frame["State"].value_counts().index[:states])
    top_issues = list(frame["Issue"].value_counts().index[:issues])
    frame = frame[frame["State"].isin(top_states)]
    out = {}
    for issue in top_issues:
        v = np.where(frame["Issue"] == issue, 100.0, 0.0)
        g = frame.assign(v=v, v2=v * v).groupby(["State", "week"])
        cells = pd.DataFrame({"n": g.size(), "total": g["v"].sum(), "total_sq": g["v2"].sum()})
        cells = cells.reset_index().rename(columns={"State": "location"})
        out[issue] = cells.astype({"n": int, "total": float, "total_sq": float})
    return {"cells": out, "states": top_states, "issues": top_issues,
            "first_week": frame.attrs["first_week"], "last_week": frame.attrs["last_week"],
            "rows": frame.attrs["rows"], "rows_used": len(frame),
            "dropped_partial_weeks": frame.attrs["dropped_partial_weeks"]}


# --- summaries -------------------------------------------------------------------------

def _significant(row: dict, method: str, strict: bool = False) -> bool:
    """p <= 5%, the app's rule (report.py: `head.p_value <= ALPHA`, and the interval
    inverts the same test); `strict`: p < 5%."""
    p = row[method]["p"]
    return p is not None and (p < ALPHA if strict else p <= ALPHA)


def _share(flags) -> float | None:
    flags = list(flags)
    return round(float(np.mean(flags)), 4) if flags else None


def fpr_figures(rows: list[dict]) -> dict:
    out = {"runs": len(rows)}
    for method in METHODS:
        hits = sum(_significant(r, method) for r in rows)
        low, high = wilson(hits, len(rows))
        out[method] = {"fpr": round(hits / len(rows), 4), "wilson_low": round(low, 4),
                       "wilson_high": round(high, 4),
                       "no_p": sum(r[method]["p"] is None for r in rows)}
    out["headline_fpr_strict"] = _share(_significant(r, "randomization", True) for r in rows)
    designs = pd.Series([r["design"] for r in rows]).value_counts()
    out["design"] = {k: int(v) for k, v in designs.items()}
    out["median_placebos"] = float(np.median([r["placebos"] for r in rows]))
    out["min_placebos"] = int(min(r["placebos"] for r in rows))
    # With k placebos and no ties, an exchangeable statistic gives P(p <= 5%) =
    # floor(0.05 (k + 1)) / (k + 1): 1/30 with 29 placebos, 3/75 with 74.
    out["headline_exact_size_if_exchangeable"] = round(float(np.mean(
        [math.floor(ALPHA * (r["placebos"] + 1) + 1e-9) / (r["placebos"] + 1)
         for r in rows])), 4)
    out["cannot_reach_5pct"] = _share(r["smallest_p"] > ALPHA for r in rows)
    reachable = [r for r in rows if r["smallest_p"] <= ALPHA]
    out["headline_fpr_where_5pct_reachable"] = _share(
        _significant(r, "randomization") for r in reachable)
    out["median_comparison"] = float(np.median([r["comparison"] for r in rows]))
    out["headline_finite_interval"] = _share(r["finite"] for r in rows)
    caught = pd.Series([w for r in rows for w in r["warnings"]], dtype=object).value_counts()
    out["runs_with_warning"] = {k: int(v) for k, v in caught.items()}
    return out


VOLUME_BANDS = ((0, 100), (100, 300), (300, math.inf))
"""Treated responses in the pre window, for the power and FPR by volume."""


def by_volume(rows: list[dict]) -> dict:
    out = {}
    for low, high in VOLUME_BANDS:
        sub = [r for r in rows if low <= r["n_pre"] < high]
        name = f"{low}-{high - 1:g}" if math.isfinite(high) else f"{low}+"
        out[name] = {"runs": len(sub),
                     "headline": _share(_significant(r, "randomization") for r in sub)}
    return out


def power_figures(rows: list[dict]) -> dict:
    out = {"runs": len(rows)}
    for method in METHODS:
        out[method] = _share(_significant(r, method) for r in rows)
    finite = [r for r in rows if r["finite"]]
    out["headline_unbounded"] = round(1 - len(finite) / len(rows), 4)
    out["headline_coverage"] = _share(r["covers"] for r in finite)
    effects = [r["randomization"]["effect"] for r in rows
               if r["randomization"]["effect"] is not None]
    out["headline_mean_effect"] = round(float(np.mean(effects)), 3) if effects else None
    out["headline_by_treated_pre_n"] = by_volume(rows)
    return out


def fpr_line(name: str, f: dict) -> str:
    methods = ", ".join(f"{m} {f[m]['fpr']:.3f} [{f[m]['wilson_low']:.3f}-"
                        f"{f[m]['wilson_high']:.3f}]" for m in METHODS)
    return (f"{name}: {f['runs']} placebos; FPR at 5%: {methods}; design {f['design']}, "
            f"median placebos {f['median_placebos']:.0f}, cannot reach 5% "
            f"{f['cannot_reach_5pct']:.3f} (headline FPR where it can: "
            f"{f['headline_fpr_where_5pct_reachable']}); exact size if exchangeable "
            f"{f['headline_exact_size_if_exchangeable']:.3f}")


# --- parts -----------------------------------------------------------------------------

def run_all(tasks: list[dict], workers: int, label: str) -> list[dict]:
    out = []
    step = max(1, len(tasks) // 10)
    started = time.perf_counter()

    def progress(k: int) -> None:
        if k % step == 0 or k == len(tasks):
            log(f"{label}: {k}/{len(tasks)} ({time.perf_counter() - started:.0f} s)")

    if workers > 1:
        with get_context("fork").Pool(workers) as pool:
            for k, row in enumerate(pool.imap(run_task, tasks, chunksize=4), 1):
                out.append(row)
                progress(k)
    else:
        for k, task in enumerate(tasks, 1):
            out.append(run_task(task))
            progress(k)
    return out


def simulated_part(placebos: int, power_runs: int, seed: int, window: int,
                   workers: int, noise: float) -> dict:
    null_tasks, power_tasks = [], []
    for s_id, (setting, L) in enumerate(SETTINGS.items()):
        for i in range(placebos):
            null_tasks.append({"kind": "sim", "setting": setting, "locations": L,
                               "measure": MEASURES[i % 2], "effect": 0.0, "window": window,
                               "noise": noise,
                               "seed": [seed, s_id, 0, i]})
        for m_id, measure in enumerate(MEASURES):
            for e_id, effect in enumerate(EFFECTS[measure]):
                for i in range(power_runs):
                    power_tasks.append({"kind": "sim", "setting": setting, "locations": L,
                                        "measure": measure, "effect": effect,
                                        "window": window, "noise": noise,
                                        "seed": [seed, s_id, 1 + m_id, e_id, i]})
    log(f"simulated placebos: {len(null_tasks)} ({placebos} per setting: "
        f"{', '.join(f'{k} = {v} locations' for k, v in SETTINGS.items())}; {N_WEEKS} "
        f"weeks; measures alternate)")
    null_rows = run_all(null_tasks, workers, "simulated placebos")
    log(f"simulated power: {len(power_tasks)} runs ({power_runs} per setting, measure "
        f"and effect)")
    power_rows = run_all(power_tasks, workers, "simulated power")
    busiest_tasks = [{"kind": "sim", "setting": setting, "locations": L, "busiest": True,
                      "measure": MEASURES[i % 2], "effect": 0.0, "window": window,
                      "noise": noise, "seed": [seed, s_id, 9, i]}
                     for s_id, (setting, L) in enumerate(SETTINGS.items())
                     for i in range(placebos // 2)]
    log(f"simulated placebos at the busiest location: {len(busiest_tasks)}")
    busiest_rows = run_all(busiest_tasks, workers, "placebos at the busiest location")

    out = {}
    for setting, L in SETTINGS.items():
        rows = [r for r in null_rows if r["setting"] == setting]
        f = fpr_figures(rows)
        f |= {"locations": L, "weeks": N_WEEKS, "window_weeks": window, "by_measure": {}}
        for measure in MEASURES:
            g = fpr_figures([r for r in rows if r["measure"] == measure])
            f["by_measure"][measure] = {"runs": g["runs"],
                                        **{m: g[m]["fpr"] for m in METHODS}}
        f["headline_by_treated_pre_n"] = by_volume(rows)
        f["headline_null_coverage_of_0"] = _share(r["covers"] for r in rows if r["finite"])
        busiest = fpr_figures([r for r in busiest_rows if r["setting"] == setting])
        f["busiest_location"] = {"runs": busiest["runs"],
                                 "median_treated_pre_n": float(np.median(
                                     [r["n_pre"] for r in busiest_rows
                                      if r["setting"] == setting])),
                                 **{m: busiest[m] for m in METHODS}}
        f["seconds_per_call"] = round(float(np.median([r["seconds"] for r in rows])), 3)
        log(fpr_line(setting, f))
        for measure, g in f["by_measure"].items():
            log(f"  {measure}: " + ", ".join(f"{m} {g[m]:.3f}" for m in METHODS))
        log(f"  headline by treated responses in the pre window: "
            f"{f['headline_by_treated_pre_n']}")
        b = f["busiest_location"]["randomization"]
        log(f"  headline with the placebo at the network's busiest location: {b['fpr']:.3f} "
            f"[{b['wilson_low']:.3f}-{b['wilson_high']:.3f}] ({busiest['runs']} runs)")
        f["power"] = {}
        for measure in MEASURES:
            for effect in EFFECTS[measure]:
                p = power_figures([r for r in power_rows if r["setting"] == setting
                                   and r["measure"] == measure and r["effect"] == effect])
                f["power"][f"{measure}_{effect:+g}"] = p
                log(f"{setting} power, {measure} {effect:+g} {UNITS[measure]} "
                    f"({p['runs']} runs): "
                    + ", ".join(f"{m} {p[m]:.2f}" for m in METHODS)
                    + f"; headline interval covers the truth {p['headline_coverage']}, "
                      f"unbounded {p['headline_unbounded']:.2f}; headline power by treated "
                      f"pre-window n: "
                    + ", ".join(f"{k}: {v['headline']} ({v['runs']})"
                                for k, v in p["headline_by_treated_pre_n"].items()))
        out[setting] = f
    return out


def cfpb_part(placebos: int, seed: int, window: int, workers: int) -> dict:
    info = cfpb_cells(CFPB_STATES, CFPB_ISSUES)
    first_week, last_week = info["first_week"], info["last_week"]
    all_weeks = [first_week + timedelta(weeks=k)
                 for k in range((last_week - first_week).days // 7 + 1)]
    change_weeks = [w for w in all_weeks if w - timedelta(weeks=window) >= first_week
                    and w + timedelta(weeks=window - 1) <= last_week]
    grid = [(issue, state, week) for issue in info["issues"] for state in info["states"]
            for week in change_weeks]
    # Without replacement while there are enough distinct placebos, else cycled.
    count = min(placebos, len(grid)) if len(grid) >= min(placebos, 500) else placebos
    order = np.random.default_rng([seed, 99, window]).permutation(len(grid))
    chosen = [grid[order[k % len(grid)]] for k in range(count)]
    tasks = [{"kind": "cfpb", "setting": f"cfpb_w{window}", "issue": issue,
              "location": state, "week": week, "effect": 0.0, "window": window,
              "states": CFPB_STATES, "issues": CFPB_ISSUES} for issue, state, week in chosen]
    volume = next(iter(info["cells"].values())).groupby("location")["n"].sum() / len(all_weeks)
    log(f"cfpb, {window}-week windows: {info['rows_used']} of {info['rows']} complaints (the "
        f"{CFPB_STATES} states with most; complete weeks {first_week} to {last_week}, "
        f"{len(all_weeks)} weeks; {info['dropped_partial_weeks']} complaints in the partial "
        f"weeks at the ends dropped); complaints a week per state: median "
        f"{volume.median():.1f}, min {volume.min():.1f}, max {volume.max():.1f}; "
        f"{len(change_weeks)} change weeks with full windows; {len(grid)} distinct placebos, "
        f"{len(tasks)} run")
    rows = run_all(tasks, workers, f"cfpb placebos, {window}-week windows")
    f = fpr_figures(rows)
    f["by_issue"] = {}
    for issue in info["issues"]:
        g = fpr_figures([r for r in rows if r["issue"] == issue])
        f["by_issue"][issue] = {"runs": g["runs"], **{m: g[m]["fpr"] for m in METHODS}}
    f["headline_by_design"] = {
        kind: {"runs": len(sub), "fpr": _share(_significant(r, "randomization") for r in sub)}
        for kind in ("space", "time")
        for sub in [[r for r in rows if r["design"] == kind]] if sub}
    thirds = np.array_split(np.array(volume.sort_values().index), 3)
    f["headline_by_state_volume"] = {}
    for name, states in zip(("low", "mid", "high"), thirds):
        sub = [r for r in rows if r["location"] in set(states)]
        f["headline_by_state_volume"][name] = {
            "runs": len(sub), "fpr": _share(_significant(r, "randomization") for r in sub),
            "complaints_per_week": [round(float(volume[states].min()), 1),
                                    round(float(volume[states].max()), 1)]}
    f |= {"window_weeks": window, "states": CFPB_STATES, "issues": info["issues"],
          "complaints": info["rows"], "complaints_used": info["rows_used"],
          "first_week": first_week.isoformat(), "last_week": last_week.isoformat(),
          "weeks": len(all_weeks), "change_weeks": len(change_weeks),
          "distinct_placebos": len(grid), "distinct_run": len(set(chosen)),
          "state_complaints_per_week_median": round(float(volume.median()), 2),
          "seconds_per_call": round(float(np.median([r["seconds"] for r in rows])), 3)}
    log(fpr_line(f"cfpb, {window}-week windows", f))
    for issue, g in f["by_issue"].items():
        log(f"  {issue}: " + ", ".join(f"{m} {g[m]:.3f}" for m in METHODS))
    log(f"  headline by design: {f['headline_by_design']}")
    log(f"  headline by treated state volume: {f['headline_by_state_volume']}")
    return f


# --- main ------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="60 placebos per setting, 20 power runs per effect")
    parser.add_argument("--placebos", type=int, default=800,
                        help="placebo improvements per simulated setting and CFPB window")
    parser.add_argument("--power-runs", type=int, default=100,
                        help="simulated runs per (setting, measure, effect size)")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window-weeks", type=int, default=8,
                        help="the simulated settings' windows (the app's default)")
    parser.add_argument("--noise", type=float, default=NOISE,
                        help="scale of the simulation's drift, season, AR(1) and shocks")
    parser.add_argument("--cfpb-windows", default="12,8",
                        help="CFPB window lengths, comma-separated; the first is judged")
    args = parser.parse_args()
    placebos, power_runs = (60, 20) if args.quick else (args.placebos, args.power_runs)
    cfpb_windows = [int(w) for w in args.cfpb_windows.split(",")]
    started = time.perf_counter()
    figures: dict = {"quick": args.quick, "seed": args.seed, "workers": args.workers,
                     "alpha": ALPHA, "noise_scale": args.noise, "placebos": placebos,
                     "power_runs": power_runs}

    figures |= simulated_part(placebos, power_runs, args.seed, args.window_weeks,
                              args.workers, args.noise)
    for window in cfpb_windows:
        figures[f"cfpb_w{window}"] = cfpb_part(placebos, args.seed, window, args.workers)

    judged = (*SETTINGS, f"cfpb_w{cfpb_windows[0]}")
    low, high = FPR_RANGE
    figures["headline_fpr"] = {name: figures[name]["randomization"]["fpr"]
                               for name in (*SETTINGS, *(f"cfpb_w{w}" for w in cfpb_windows))}
    for name in judged:
        figures[f"pass_{name}"] = bool(low <= figures[name]["randomization"]["fpr"] <= high)
    figures["pass"] = all(figures[f"pass_{name}"] for name in judged)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    log(f"headline FPR: {figures['headline_fpr']}")
    log(f"pass (headline FPR within {low}-{high}): "
        + ", ".join(f"{name} {figures[f'pass_{name}']}" for name in judged)
        + f"; {figures['seconds']} s")
    print(json.dumps(figures, sort_keys=True, default=str))


if __name__ == "__main__":
    main()

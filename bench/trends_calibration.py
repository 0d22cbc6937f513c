"""Spike detector calibration: false alarms on null data, power on injected spikes.

    .venv/bin/python bench/trends_calibration.py [--quick] [--seed 11] [--write-calibration]

Runs `analysis.trends.spikes.test_period` sequentially over periods the way the sweep does
(a cell that crosses has that period left out of its baseline, and so does every following
period while its episode stays elevated, p < continue_p), on:

(1) Simulated null cells, no spike: 10 themes x 15 locations (+ the 10 all-locations cells in
    the same BH family), location volumes 20-400 commented responses a week (Poisson around
    a log-AR(1) wobble), each cell's share drawn every period from a beta around a
    cell-level share (concentration log-uniform 80-1500, i.e. intra-period correlation
    0.0007-0.012) that drifts as a random walk on the logit scale (sd 0.03 a week).
    Weekly: 52 weeks of history, the last 26 evaluated. Daily: 18 weeks, the last 60 days
    evaluated, volume varying by weekday (weekend ~half a Monday) and three themes whose
    share differs by weekday. Every alert is false: `null_fdp` is the mean over swept periods
    of false alerts / max(alerts, 1), i.e. the share of periods with any alert. Run at the
    FDR (sensitivity) 0.01, 0.05 and 0.10 for the calibration figures.
(2) Mixed: the weekly simulation with spikes injected into 16 cells per run (2x and 3x the
    cell's share, for 1 or 3 weeks, in cells expecting 5, 10, 20, 40 mentions a week).
    Power = share of spikes alerted in their first week; delay = weeks from the start of a
    3-week spike to its first alert; FDP among the alerts (an alert in a spiked cell, or in
    its theme's all-locations cell, during the spike is true).
(3) Real null: the CFPB sample (../shared/data/cfpb_complaints_sample.csv) with
    'Date received' shuffled among each company's rows (several seeds). Themes: the `Issue`
    label (the sample holds one `Product` only) with at least 30 complaints; locations: the
    15 companies with most complaints plus 'Other'; weekly; volume = a company's complaints
    in the week. Every week is evaluated; a series-week is a tested cell in one week. Also
    the unpermuted data (not a pass criterion: real surges may exist).

Pass: null FDP <= 5% at the default sensitivity (weekly and daily); power >= 80% for 3x
spikes in cells expecting 20 mentions a week; CFPB permuted <= 1 alert per 100 series-weeks.
`--write-calibration` writes the null false-alarm rates per sensitivity (per 100 cell-weeks and
per 100 cell-days) to analysis/trends/calibration.json (read by the Trends page).
Progress on stderr; the figures last on stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.trends.series import ALL_LOCATIONS
from analysis.trends.spikes import CellGrid, SpikeSettings, test_period

CFPB = ROOT.parent / "shared" / "data" / "cfpb_complaints_sample.csv"
CALIBRATION = ROOT / "analysis" / "trends" / "calibration.json"
FDRS = (0.01, 0.05, 0.10)
N_THEMES, N_LOCATIONS = 10, 15
WEEKDAY_VOLUME = np.array([1.25, 1.2, 1.15, 1.1, 1.0, 0.7, 0.6])
WEEKDAY_VOLUME = WEEKDAY_VOLUME / WEEKDAY_VOLUME.mean()
# Logit offsets by weekday (Mon..Sun) for three themes: a weekend theme, a Monday theme and
# one that dips at the weekend.
WEEKDAY_SHARE = {0: [0, 0, 0, 0, 0, 0.5, 0.5], 1: [0.4, 0, 0, 0, 0, -0.2, -0.2],
                 2: [0, 0, 0, 0, 0.1, -0.4, -0.4]}
TARGETS = (5, 10, 20, 40)
MULTS = (2, 3)
DURATIONS = (1, 3)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- simulation ------------------------------------------------------------------------

def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def simulate(rng: np.random.Generator, granularity: str, n_periods: int,
             spikes: list[dict] | None = None, *, drift_sd: float = 0.03,
             kappa_range: tuple[float, float] = (80, 1500)) -> CellGrid:
    """A grid of theme x location cells plus the all-locations cells. `spikes`: dicts with
    theme, location, start, weeks, mult, target (cells rescaled so that their share times
    the location's mean volume is `target` at the spike's start)."""
    day = granularity == "day"
    per = 7 if day else 1
    mean_week = np.geomspace(20, 400, N_LOCATIONS)
    theme_share = np.geomspace(0.02, 0.25, N_THEMES)
    base = _logit(theme_share)[:, None] + rng.normal(0, 0.4, (N_THEMES, N_LOCATIONS))
    kappa = np.exp(rng.uniform(*np.log(kappa_range), (N_THEMES, N_LOCATIONS)))
    steps = rng.normal(0, drift_sd / np.sqrt(per), (N_THEMES, N_LOCATIONS, n_periods))
    drift = np.cumsum(steps, axis=2)
    # Volume: Poisson around the location mean times a log-AR(1) wobble (and the weekday).
    wobble = np.zeros((N_LOCATIONS, n_periods))
    eps = rng.normal(0, 0.12, (N_LOCATIONS, n_periods))
    for j in range(n_periods):
        wobble[:, j] = (0.7 * wobble[:, j - 1] if j else 0) + eps[:, j]
    lam = mean_week[:, None] / per * np.exp(wobble)
    dow = np.arange(n_periods) % 7  # period 0 is a Monday
    logit_t = base[:, :, None] + drift
    if day:
        lam = lam * WEEKDAY_VOLUME[dow][None, :]
        for theme, offsets in WEEKDAY_SHARE.items():
            logit_t[theme] += np.asarray(offsets)[dow][None, :]
    volume = rng.poisson(lam).astype(float)
    mult = np.ones_like(logit_t)
    for s in spikes or []:
        t, loc, start = s["theme"], s["location"], s["start"]
        # Rescale the cell so that it expects `target` at its location's mean volume when
        # the spike starts (the drift anchored there, so drift cannot dilute the target).
        logit_t[t, loc] += _logit(s["target"] / mean_week[loc]) - logit_t[t, loc, start]
        mult[t, loc, start:start + s["weeks"]] = s["mult"]
    mean = np.clip(_expit(logit_t) * mult, 1e-6, 0.95)
    share = rng.beta(kappa[:, :, None] * mean, kappa[:, :, None] * (1 - mean))
    mentions = rng.binomial(volume[None, :, :].astype(np.int64).repeat(N_THEMES, 0), share)
    for s in spikes or []:
        s["expected"] = float(volume[s["location"], s["start"]]
                              * _expit(logit_t[s["theme"], s["location"], s["start"]]))
    mentions = mentions.astype(float)
    locations = [f"L{loc:02d}" for loc in range(N_LOCATIONS)]
    cells, x, v = [], [], []
    for t in range(N_THEMES):
        for loc in range(N_LOCATIONS):
            cells.append((t, locations[loc]))
            x.append(mentions[t, loc])
            v.append(volume[loc])
        cells.append((t, ALL_LOCATIONS))
        x.append(mentions[t].sum(axis=0))
        v.append(volume.sum(axis=0))
    first = date(2024, 1, 1)  # a Monday
    periods = [(first + timedelta(days=j * (1 if day else 7))).isoformat()
               for j in range(n_periods)]
    return CellGrid(granularity, periods, cells, np.array(x), np.array(v))


def place_spikes(rng: np.random.Generator, first_eval: int, n_periods: int) -> list[dict]:
    """16 spikes, one per target x mult x duration, in distinct cells, starts spread over
    the evaluated periods."""
    mean_week = np.geomspace(20, 400, N_LOCATIONS)
    used: set[tuple[int, int]] = set()
    spikes = []
    for target in TARGETS:
        for mult in MULTS:
            for weeks in DURATIONS:
                eligible = [loc for loc in range(N_LOCATIONS)
                            if 0.025 <= target / mean_week[loc] <= 0.2]
                while True:
                    loc = int(rng.choice(eligible))
                    theme = int(rng.integers(N_THEMES))
                    if (theme, loc) not in used:
                        used.add((theme, loc))
                        break
                start = int(rng.integers(first_eval, n_periods - 3))
                spikes.append({"theme": theme, "location": loc, "start": start,
                               "weeks": weeks, "mult": mult, "target": target})
    return spikes


# --- the sequential sweep --------------------------------------------------------------

def sweep(grid: CellGrid, first_eval: int, settings: SpikeSettings,
          true_cells=None) -> dict:
    """Evaluate periods first_eval.. in order, emulating alert episodes. `true_cells(i)`:
    the set of cell indexes whose alert in period i is true. Returns per-period records
    and the crossed matrix."""
    excluded: dict[tuple[int, str], set[str]] = {}
    open_cells: set[int] = set()
    n_periods = len(grid.periods)
    crossed_all = np.zeros((len(grid.cells), n_periods), dtype=bool)
    records = []
    for i in range(first_eval, n_periods):
        period = grid.periods[i]
        tests = test_period(grid, i, settings, excluded)
        crossed = tests["crossed"].to_numpy()
        tested = tests["tested"].to_numpy()
        elevated = tested & (tests["p_value"].to_numpy() < settings.continue_p) & \
            (tests["observed"].to_numpy() > tests["expected"].to_numpy())
        crossed_all[:, i] = crossed
        true = true_cells(i) if true_cells else set()
        opened_false = 0
        for c in np.flatnonzero(crossed):
            excluded.setdefault(grid.cells[c], set()).add(period)
            if c not in open_cells:
                open_cells.add(c)
                opened_false += c not in true
        for c in list(open_cells):
            if crossed[c]:
                continue
            if elevated[c]:
                excluded.setdefault(grid.cells[c], set()).add(period)
            else:
                open_cells.discard(c)
        alerts = np.flatnonzero(crossed)
        false = sum(1 for c in alerts if c not in true)
        records.append({"tested": int(tested.sum()), "alerts": len(alerts),
                        "false": false, "opened_false": opened_false,
                        "false_network": sum(1 for c in alerts if c not in true and
                                             grid.cells[c][1] == ALL_LOCATIONS)})
    return {"records": records, "crossed": crossed_all}


def summarize(records: list[dict]) -> dict:
    tested = sum(r["tested"] for r in records)
    alerts = sum(r["alerts"] for r in records)
    false = sum(r["false"] for r in records)
    return {
        "periods": len(records),
        "series_periods_tested": tested,
        "alerts": alerts,
        "false_alerts": false,
        "fdp": round(float(np.mean([r["false"] / max(r["alerts"], 1) for r in records])), 4)
        if records else None,
        "period_alert_rate": round(float(np.mean([r["false"] > 0 for r in records])), 4)
        if records else None,
        "false_alerts_per_100_series_periods": round(100 * false / max(tested, 1), 4),
        "false_episodes_per_100_series_periods": round(
            100 * sum(r["opened_false"] for r in records) / max(tested, 1), 4),
        "false_network_alerts": sum(r["false_network"] for r in records),
    }


# --- parts -----------------------------------------------------------------------------

def null_part(granularity: str, runs: int, seed: int, fdrs=FDRS, **sim) -> dict:
    n_periods, first_eval = (78, 52) if granularity == "week" else (126, 66)
    out = {}
    grids = [simulate(np.random.default_rng([seed, r, 1 if granularity == "week" else 2]),
                      granularity, n_periods, **sim) for r in range(runs)]
    for fdr in fdrs:
        settings = SpikeSettings(fdr=fdr)
        records = []
        for grid in grids:
            records += sweep(grid, first_eval, settings)["records"]
        s = summarize(records)
        out[str(fdr)] = s
        log(f"null {granularity} fdr {fdr}: {s['periods']} periods, {s['alerts']} alerts, "
            f"period alert rate {s['period_alert_rate']:.3f}, "
            f"{s['false_alerts_per_100_series_periods']:.3f} per 100 series-{granularity}s "
            f"({s['false_network_alerts']} in all-locations cells)")
    return out


def mixed_part(runs: int, seed: int, settings: SpikeSettings) -> dict:
    n_periods, first_eval = 78, 52
    results = []
    records = []
    for r in range(runs):
        rng = np.random.default_rng([seed, r, 3])
        spikes = place_spikes(rng, first_eval, n_periods)
        grid = simulate(rng, "week", n_periods, spikes)
        index = {cell: c for c, cell in enumerate(grid.cells)}
        for s in spikes:
            s["cell"] = index[(s["theme"], f"L{s['location']:02d}")]
            s["network"] = index[(s["theme"], ALL_LOCATIONS)]

        def true_cells(i, spikes=spikes):
            return {c for s in spikes if s["start"] <= i < s["start"] + s["weeks"]
                    for c in (s["cell"], s["network"])}

        run = sweep(grid, first_eval, settings, true_cells)
        records += run["records"]
        for s in spikes:
            row = run["crossed"][s["cell"], s["start"]:s["start"] + s["weeks"]]
            hits = np.flatnonzero(row)
            results.append({**s, "first_week": bool(row[0]),
                            "delay": int(hits[0]) if len(hits) else None})
    frame = pd.DataFrame(results)
    power = {}
    for (mult, target), g in frame.groupby(["mult", "target"]):
        three = g[g["weeks"] == 3]
        detected = three["delay"].dropna()
        power[f"{mult}x_{target}"] = {
            "spikes": len(g), "mean_expected": round(float(g["expected"].mean()), 1),
            "power_first_week": round(float(g["first_week"].mean()), 3),
            "detected_within_3_weeks": round(float(three["delay"].notna().mean()), 3),
            "mean_delay_weeks": round(float(detected.mean()), 2) if len(detected) else None,
        }
        log(f"mixed {mult}x expecting {target}/week (mean {g['expected'].mean():.1f}): "
            f"power {g['first_week'].mean():.2f}, 3-week spikes detected "
            f"{three['delay'].notna().mean():.2f}, mean delay "
            f"{detected.mean() if len(detected) else float('nan'):.2f} weeks")
    s = summarize(records)
    alerted = [r for r in records if r["alerts"]]
    s["fdp_among_periods_with_alerts"] = round(float(np.mean(
        [r["false"] / r["alerts"] for r in alerted])), 4) if alerted else None
    s["false_share_of_all_alerts"] = round(s["false_alerts"] / max(s["alerts"], 1), 4)
    log(f"mixed: {s['alerts']} alerts, {s['false_alerts']} false "
        f"({s['false_share_of_all_alerts']:.3f} of all), mean per-period FDP {s['fdp']:.3f}")
    return {"power": power, "sweep": s}


def cfpb_grid(frame: pd.DataFrame) -> CellGrid:
    week = frame["week"]
    periods = sorted(set(week))
    first, last = date.fromisoformat(periods[0]), date.fromisoformat(periods[-1])
    periods = [(first + timedelta(days=7 * k)).isoformat()
               for k in range((last - first).days // 7 + 1)]
    pindex = {p: i for i, p in enumerate(periods)}
    locations = sorted(set(frame["location"]))
    themes = sorted(set(frame["theme"].dropna()))
    vol = pd.crosstab(frame["location"], week).reindex(index=locations, columns=periods,
                                                        fill_value=0)
    themed = frame[frame["theme"].notna()]
    cells, x, v = [], [], []
    for t_id, theme in enumerate(themes):
        sub = themed[themed["theme"] == theme]
        counts = pd.crosstab(sub["location"], sub["week"]).reindex(
            index=locations, columns=periods, fill_value=0)
        for loc in locations:
            cells.append((t_id, loc))
            x.append(counts.loc[loc].to_numpy(float))
            v.append(vol.loc[loc].to_numpy(float))
        cells.append((t_id, ALL_LOCATIONS))
        x.append(counts.to_numpy(float).sum(axis=0))
        v.append(vol.to_numpy(float).sum(axis=0))
    assert all(p in pindex for p in set(week))
    return CellGrid("week", periods, cells, np.array(x), np.array(v))


def cfpb_part(seeds: int, seed: int, settings: SpikeSettings, top_companies: int = 15,
              min_theme: int = 30) -> dict:
    raw = pd.read_csv(CFPB, usecols=["Date received", "Issue", "Company"])
    raw["date"] = pd.to_datetime(raw["Date received"], format="%m/%d/%y")
    top = raw["Company"].value_counts().index[:top_companies]
    raw["location"] = raw["Company"].where(raw["Company"].isin(top), "Other")
    issues = raw["Issue"].value_counts()
    raw["theme"] = raw["Issue"].where(raw["Issue"].isin(issues[issues >= min_theme].index))

    def weekly(dates: pd.Series) -> pd.Series:
        monday = dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")
        return monday.dt.strftime("%Y-%m-%d")

    def run(frame: pd.DataFrame) -> tuple[dict, CellGrid, dict]:
        frame = frame.assign(week=weekly(frame["date"]))
        grid = cfpb_grid(frame)
        result = sweep(grid, 1, settings, None)
        return summarize(result["records"]), grid, result

    out = {"themes": int(raw["theme"].dropna().nunique()),
           "locations": int(raw["location"].nunique()) + 1,
           "theme_source": "Issue (the sample holds one Product)"}
    permuted = []
    for k in range(seeds):
        rng = np.random.default_rng([seed, k, 4])
        frame = raw.copy()
        for rows in frame.groupby("Company").groups.values():
            idx = np.asarray(rows)
            frame.loc[idx, "date"] = frame.loc[idx, "date"].to_numpy()[rng.permutation(len(idx))]
        s, grid, result = run(frame)
        permuted.append(s)
    tested = sum(s["series_periods_tested"] for s in permuted)
    alerts = sum(s["alerts"] for s in permuted)
    out["permuted"] = {
        "seeds": seeds, "series_weeks_tested": tested, "alerts": alerts,
        "alerts_per_100_series_weeks": round(100 * alerts / max(tested, 1), 4),
        "week_alert_rate": round(float(np.mean([s["period_alert_rate"] for s in permuted])), 4),
        "alerts_per_seed": [s["alerts"] for s in permuted],
    }
    log(f"cfpb permuted ({seeds} seeds): {tested} series-weeks, {alerts} alerts = "
        f"{out['permuted']['alerts_per_100_series_weeks']:.3f} per 100")
    s, grid, result = run(raw)
    # Testable cells: tested in at least one week.
    tests_any = np.zeros(len(grid.cells), dtype=bool)
    for i in range(1, len(grid.periods)):
        tests_any |= test_period(grid, i, settings, {})["tested"].to_numpy()
    locs_testable = sorted({grid.cells[c][1] or "(all)" for c in np.flatnonzero(tests_any)})
    crossed = result["crossed"]
    alerts_list = [{"theme": sorted(set(raw["theme"].dropna()))[grid.cells[c][0]],
                    "location": grid.cells[c][1] or "(all)", "week": grid.periods[i]}
                   for c, i in zip(*np.nonzero(crossed))]
    out["real"] = {"series_weeks_tested": s["series_periods_tested"], "alerts": s["alerts"],
                   "alerts_per_100_series_weeks": s["false_alerts_per_100_series_periods"],
                   "alert_list": alerts_list[:20]}
    out["cells"] = len(grid.cells)
    out["testable_cells"] = int(tests_any.sum())
    out["testable_locations"] = locs_testable
    out["weeks"] = len(grid.periods)
    log(f"cfpb real: {s['series_periods_tested']} series-weeks, {s['alerts']} alerts = "
        f"{s['false_alerts_per_100_series_periods']:.3f} per 100; "
        f"{out['testable_cells']}/{out['cells']} cells testable, locations: {locs_testable}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (under a minute)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--write-calibration", action="store_true",
                        help=f"write the null false-alarm rates to {CALIBRATION}")
    args = parser.parse_args()
    started = time.perf_counter()
    week_runs, day_runs, mixed_runs, cfpb_seeds = (12, 4, 12, 5) if args.quick else \
        (100, 20, 100, 20)
    default = SpikeSettings()
    figures: dict = {"quick": args.quick, "seed": args.seed,
                     "settings": {"fdr": default.fdr, "min_count": default.min_count,
                                  "min_baseline_responses": default.min_baseline_responses,
                                  "baseline_weeks": default.baseline_weeks}}

    log(f"null weekly: {week_runs} runs x 26 weeks, {N_THEMES} themes x {N_LOCATIONS} "
        f"locations")
    week = null_part("week", week_runs, args.seed)
    log(f"null daily: {day_runs} runs x 60 days")
    day = null_part("day", day_runs, args.seed)
    log(f"mixed: {mixed_runs} runs x 16 spikes")
    mixed = mixed_part(mixed_runs, args.seed, default)
    log(f"cfpb: {cfpb_seeds} permutations")
    cfpb = cfpb_part(cfpb_seeds, args.seed, default)

    d = str(default.fdr)
    figures["null_week"] = week
    figures["null_day"] = day
    figures["null_fdp"] = week[d]["fdp"]
    figures["null_fdp_day"] = day[d]["fdp"]
    figures["false_alerts_per_100_cell_weeks"] = week[d]["false_alerts_per_100_series_periods"]
    figures["false_alerts_per_100_cell_days"] = day[d]["false_alerts_per_100_series_periods"]
    figures["mixed"] = mixed
    figures["power_3x_20"] = mixed["power"]["3x_20"]["power_first_week"]
    figures["mixed_fdp"] = mixed["sweep"]["fdp"]
    figures["cfpb"] = cfpb
    figures["cfpb_permuted_alerts_per_100_series_weeks"] = \
        cfpb["permuted"]["alerts_per_100_series_weeks"]
    figures["cfpb_real_alerts_per_100_series_weeks"] = cfpb["real"]["alerts_per_100_series_weeks"]
    figures["pass_null_fdp"] = bool(week[d]["fdp"] <= 0.05)
    figures["pass_null_fdp_day"] = bool(day[d]["fdp"] <= 0.05)
    figures["pass_power_3x_20"] = bool(figures["power_3x_20"] >= 0.8)
    figures["pass_cfpb"] = bool(figures["cfpb_permuted_alerts_per_100_series_weeks"] <= 1.0)
    figures["pass_all"] = all(figures[k] for k in ("pass_null_fdp", "pass_null_fdp_day",
                                                    "pass_power_3x_20", "pass_cfpb"))
    figures["seconds"] = round(time.perf_counter() - started, 1)

    if args.write_calibration:
        calibration = {
            "fdr": {str(f): {"false_alerts_per_100_cell_weeks":
                             week[str(f)]["false_alerts_per_100_series_periods"],
                             "false_episodes_per_100_cell_weeks":
                             week[str(f)]["false_episodes_per_100_series_periods"],
                             "null_period_alert_rate": week[str(f)]["period_alert_rate"],
                             "false_alerts_per_100_cell_days":
                             day[str(f)]["false_alerts_per_100_series_periods"]}
                    for f in FDRS},
            "granularity": "week and day",
            "simulated_runs": week_runs,
            "simulated_runs_day": day_runs,
            "source": "bench/trends_calibration.py",
            "date": datetime.now(UTC).date().isoformat(),
        }
        CALIBRATION.write_text(json.dumps(calibration, indent=2, sort_keys=True) + "\n")
        log(f"wrote {CALIBRATION}")
    log(f"pass: null FDP {figures['pass_null_fdp']} (day {figures['pass_null_fdp_day']}), "
        f"power 3x@20 {figures['pass_power_3x_20']}, CFPB {figures['pass_cfpb']}; "
        f"{figures['seconds']} s")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()

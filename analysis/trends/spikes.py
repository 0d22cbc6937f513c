"""Spike detection that respects volume: is this period's count in a cell (a theme at a
location, or a theme over all locations) more than the cell's own baseline share predicts
for this period's volume?

    grid = CellGrid.from_counts(counts)           # counts: series.cell_counts(...)
    tests = test_period(grid, period_index, SpikeSettings())
    tests[tests.crossed]                          # the cells that alert in that period

The test, per cell:
- baseline share p0 from the cell's own previous periods (12 weeks, or 28 days; for days,
  the same weekday over the last 8 weeks when those hold enough volume, since complaint
  mixes differ between a Saturday and a Monday), leaving out periods already in an alert
  episode so that a long spike does not become its own baseline;
- one-sided exact tail P(X >= observed) under a beta-binomial with mean p0 for this
  period's volume n. Its spread adds two things a plain binomial ignores and real series
  have: the baseline is itself an estimate (its concentration is the baseline volume), and
  shares drift from period to period beyond binomial noise (overdispersion, estimated per
  cell by moments, median-unbiased, over the last 52 weeks for weekly cells and over the
  baseline for daily ones, and never taken below the median over the cells tested at
  once). With neither, it is the binomial test;
- Benjamini-Hochberg over every cell tested in the period, at the FDR level set as the
  sensitivity. A cell alerts when q <= FDR, observed > expected and observed >= the minimum
  count.

Cells without enough history (minimum baseline responses and periods) are not tested at
all: a location with five earlier messages has no baseline to spike from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import betabinom, chi2
from statsmodels.stats.multitest import multipletests

from analysis.trends.series import ALL_LOCATIONS, CellCounts

SPIKE_TEST = ("one-sided exact beta-binomial test of the period's count against the cell's "
              "baseline share (overdispersion and baseline uncertainty allowed for), "
              "Benjamini-Hochberg across every cell tested in the period")


WEEKDAY_BASELINE_DAYS = 56
"""A day cell's baseline is the same weekday over the last 8 weeks when those hold enough."""


@dataclass(frozen=True)
class SpikeSettings:
    fdr: float = 0.05
    """Sensitivity: the false discovery rate controlled across the cells of one sweep."""
    min_baseline_responses: int = 50
    """A cell is tested only when its location had at least this many commented responses
    in the baseline window."""
    min_count: int = 5
    """A cell alerts only with at least this many mentions in the period."""
    baseline_weeks: int = 12
    baseline_days: int = 28
    min_baseline_periods: int = 4
    """Periods with responses the baseline must hold (weeks; days count in weeks of 7)."""
    continue_p: float = 0.05
    """An open episode stays open while the cell's unadjusted p-value stays below this."""
    dispersion_weeks: int = 52
    """Weeks a weekly cell's overdispersion is estimated over. Twelve weeks estimate it
    too noisily: the cells whose shares vary most then drew false alarms at twice the
    nominal rate (bench/trends_calibration.py); the baseline share itself stays recent."""

    def baseline_length(self, granularity: str) -> int:
        return self.baseline_weeks if granularity == "week" else self.baseline_days

    def lookback(self, granularity: str) -> int:
        """How many periods before the one tested its test reads: the baseline, the
        dispersion window for weeks, the same weekday over 8 weeks for days."""
        if granularity == "week":
            return max(self.baseline_weeks, self.dispersion_weeks)
        return max(self.baseline_days, WEEKDAY_BASELINE_DAYS)


@dataclass
class CellGrid:
    """Counts as arrays: one row per cell, one column per period."""

    granularity: str
    periods: list[str]
    cells: list[tuple[int, str]]
    """(theme_id, location) with location ALL_LOCATIONS for the network."""
    mentions: np.ndarray
    volume: np.ndarray
    """The volume of each cell's location (repeated per theme)."""

    @classmethod
    def from_counts(cls, counts: CellCounts, column: str = "mentions") -> CellGrid:
        """`column`: what to count in each cell, "mentions" or "negative" (negative
        mentions)."""
        periods = counts.periods
        index = {p: i for i, p in enumerate(periods)}
        volume = counts.volume
        locations = sorted(set(volume["location"]))
        loc_index = {loc: i for i, loc in enumerate(locations)}
        loc_volume = np.zeros((len(locations), len(periods)))
        if len(volume):
            loc_volume[volume["location"].map(loc_index).to_numpy(int),
                       volume["period"].map(index).to_numpy(int)] = volume["commented"]
        mentions = counts.mentions
        theme_ids = sorted(int(t) for t in set(mentions["theme_id"]))
        cells = [(t, loc) for t in theme_ids for loc in locations]
        cell_index = {cell: i for i, cell in enumerate(cells)}
        x = np.zeros((len(cells), len(periods)))
        if len(mentions):
            rows = [cell_index[(int(t), loc)] for t, loc in
                    zip(mentions["theme_id"], mentions["location"])]
            x[rows, mentions["period"].map(index).to_numpy(int)] = mentions[column]
        cell_loc = np.array([loc_index[loc] for _, loc in cells], dtype=int)
        v = loc_volume[cell_loc] if len(cells) else np.zeros((0, len(periods)))
        return cls(counts.granularity, periods, cells, x, v)


def _baseline_columns(grid: CellGrid, i: int, settings: SpikeSettings,
                      weekday: bool) -> np.ndarray:
    length = settings.baseline_length(grid.granularity)
    if weekday:
        return np.array([j for j in range(i - 7, max(-1, i - WEEKDAY_BASELINE_DAYS - 1), -7)
                         if j >= 0], dtype=int)
    return np.arange(max(0, i - length), i, dtype=int)


def _overdispersion(x: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per cell, the intra-period correlation rho of a beta-binomial, by moments: Pearson's
    dispersion phi over the given periods around the cells' shares `p`, made
    median-unbiased (phi * df / chi2 median: over few periods the plain estimate falls
    short more often than not), and Var = n p (1-p) (1 + (n-1) rho) with each period's n."""
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = n * p[:, None]
        var = expected * (1 - p[:, None])
        resid = np.where(n > 0, (x - expected) ** 2 / np.where(var > 0, var, np.nan), 0.0)
        df = np.maximum((n > 0).sum(axis=1) - 1, 1)
        phi = np.nansum(resid, axis=1) / df * df / chi2.ppf(0.5, df)
        # E[phi] = 1 + rho * ((N - sum n^2 / N) / df - 1): with unequal volumes the plain
        # n - 1 divisor (right only when every period has the same volume) makes rho too
        # small, and a network whose volume swings by season would under-estimate it.
        total = n.sum(axis=1)
        spread = (total - (n ** 2).sum(axis=1) / np.maximum(total, 1)) / df - 1
        rho = (phi - 1) / np.maximum(spread, 1)
    return np.clip(np.nan_to_num(rho, nan=0.0), 0.0, 0.5)


def _dispersion_window(grid: CellGrid, i: int, settings: SpikeSettings,
                       excluded: dict) -> tuple[np.ndarray, np.ndarray]:
    """Counts and volumes of each cell over the weeks its overdispersion is estimated on
    (episode periods left out), zero-padded."""
    columns = np.arange(max(0, i - settings.dispersion_weeks), i, dtype=int)
    x = np.zeros((len(grid.cells), max(len(columns), 1)))
    n = np.zeros_like(x)
    for c, cell in enumerate(grid.cells):
        skip = excluded.get(cell, set())
        chosen = np.array([j for j in columns if grid.periods[j] not in skip], dtype=int)
        x[c, :len(chosen)] = grid.mentions[c, chosen]
        n[c, :len(chosen)] = grid.volume[c, chosen]
    return x, n


def test_period(grid: CellGrid, i: int, settings: SpikeSettings,
                excluded: dict[tuple[int, str], set[str]] | None = None) -> pd.DataFrame:
    """Every cell's test in period `i` (an index into grid.periods): one row per cell,
    with `tested` False where the cell lacks history. `excluded`: per cell, periods of its
    alert episodes, left out of its baseline."""
    excluded = excluded or {}
    n_cells = len(grid.cells)
    x_now, n_now = grid.mentions[:, i], grid.volume[:, i]
    weekday = grid.granularity == "day"
    columns_all = _baseline_columns(grid, i, settings, False)
    columns_wd = _baseline_columns(grid, i, settings, True) if weekday else columns_all
    xb = np.zeros((n_cells, max(len(columns_all), len(columns_wd), 1)))
    nb = np.zeros_like(xb)
    used_weekday = np.zeros(n_cells, dtype=bool)
    periods_with_volume = np.zeros(n_cells, dtype=int)
    for c, cell in enumerate(grid.cells):
        skip = excluded.get(cell, set())
        chosen = columns_all
        if weekday and len(columns_wd):
            keep = [j for j in columns_wd if grid.periods[j] not in skip]
            if grid.volume[c, keep].sum() >= settings.min_baseline_responses and \
                    (grid.volume[c, keep] > 0).sum() >= settings.min_baseline_periods:
                chosen, used_weekday[c] = np.array(keep, dtype=int), True
        if not used_weekday[c]:
            chosen = np.array([j for j in columns_all if grid.periods[j] not in skip],
                              dtype=int)
        xb[c, :len(chosen)] = grid.mentions[c, chosen]
        nb[c, :len(chosen)] = grid.volume[c, chosen]
        with_volume = chosen[grid.volume[c, chosen] > 0]
        if weekday and not used_weekday[c]:
            # Days count in weeks: responses in each of four weeks, not on every day (a
            # location closed on Sundays has a history all the same).
            weeks = (i - 1 - with_volume) // 7
            periods_with_volume[c] = len(set(weeks[i - 7 * (weeks + 1) >= 0]))  # whole weeks
        else:
            periods_with_volume[c] = len(with_volume)
    base_x, base_n = xb.sum(axis=1), nb.sum(axis=1)
    tested = ((base_n >= settings.min_baseline_responses)
              & (periods_with_volume >= settings.min_baseline_periods) & (n_now > 0))
    # Jeffreys-style half counts keep a baseline of zero mentions from predicting zero.
    p0 = (base_x + 0.5) / (base_n + 1)
    if weekday:
        rho = _overdispersion(xb, nb, p0)
    else:
        xd, nd = _dispersion_window(grid, i, settings, excluded)
        rho = _overdispersion(xd, nd, (xd.sum(axis=1) + 0.5) / (nd.sum(axis=1) + 1))
    network_rho = float(np.median(rho[tested])) if tested.any() else 0.0
    rho = np.maximum(rho, network_rho)
    with np.errstate(divide="ignore"):
        concentration = 1.0 / (1.0 / np.maximum(base_n, 1) + rho / (1 - rho))
    a, b = p0 * concentration, (1 - p0) * concentration
    p_value = np.ones(n_cells)
    if tested.any():
        p_value[tested] = betabinom.sf(x_now[tested] - 1, n_now[tested], a[tested], b[tested])
    p_value = np.clip(p_value, 0.0, 1.0)
    q_value = np.ones(n_cells)
    if tested.any():
        q_value[tested] = multipletests(p_value[tested], alpha=settings.fdr,
                                        method="fdr_bh")[1]
    expected = n_now * p0
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_now > 0, x_now / np.maximum(n_now, 1), 0.0)
        ratio = np.where(p0 > 0, share / p0, np.nan)
    crossed = tested & (q_value <= settings.fdr) & (x_now > expected) & \
        (x_now >= settings.min_count)
    return pd.DataFrame({
        "theme_id": [t for t, _ in grid.cells],
        "location": [loc for _, loc in grid.cells],
        "period": grid.periods[i],
        "observed": x_now.astype(int), "volume": n_now.astype(int), "expected": expected,
        "share": share, "baseline_share": p0, "ratio": ratio,
        "baseline_volume": base_n.astype(int), "overdispersion": rho,
        "p_value": p_value, "q_value": q_value, "tested": tested, "crossed": crossed,
        "weekday_baseline": used_weekday,
    })


def is_network(location: str) -> bool:
    return location == ALL_LOCATIONS

"""The volume-aware spike test (`analysis.trends.spikes`) on grids whose answer is known:
built directly as arrays, or from `series.cell_counts` on a small store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from analysis.trends import spikes
from analysis.trends.series import ALL_LOCATIONS, cell_counts
from analysis.trends.spikes import CellGrid, SpikeSettings, is_network
from tests.test_trends_series import add_feedback, add_theme, add_weeks

START = date(2025, 1, 6)   # a Monday
SETTINGS = SpikeSettings()
# Twelve baseline weeks around 10% of 200, with some ordinary wobble.
WOBBLE = [20, 22, 18, 21, 19, 20, 23, 17, 20, 21, 19, 20]


def make_grid(mentions, volumes, cells=None, granularity: str = "week",
              start: date = START) -> CellGrid:
    """Rows: cells; columns: periods from `start`. `volumes` may be one row for all."""
    x = np.atleast_2d(np.asarray(mentions, dtype=float))
    n = np.atleast_2d(np.asarray(volumes, dtype=float))
    if n.shape[0] == 1 and x.shape[0] > 1:
        n = np.repeat(n, x.shape[0], axis=0)
    step = 7 if granularity == "week" else 1
    periods = [(start + timedelta(days=step * k)).isoformat() for k in range(x.shape[1])]
    cells = cells or [(t + 1, "North") for t in range(x.shape[0])]
    return CellGrid(granularity, periods, cells, x, n)


def one(tests, theme_id: int = 1, location: str = "North"):
    return tests[(tests["theme_id"] == theme_id) & (tests["location"] == location)].iloc[0]


# ------------------------------------------------------------------ single cells


def test_a_flat_series_does_not_cross():
    grid = make_grid([WOBBLE + [21]], [[200] * 13])
    row = one(spikes.test_period(grid, 12, SETTINGS))
    assert row["tested"] and not row["crossed"]
    assert row["expected"] == pytest.approx(200 * (240 + 0.5) / (2400 + 1))
    assert row["p_value"] > 0.3


def test_a_threefold_spike_over_twenty_expected_crosses_in_its_period():
    flat = [WOBBLE + [20]] * 9          # nine other themes, flat
    grid = make_grid([WOBBLE + [60]] + flat, [[200] * 13])
    tests = spikes.test_period(grid, 12, SETTINGS)
    row = one(tests)
    assert row["crossed"] and row["period"] == "2025-03-31"
    assert row["expected"] == pytest.approx(20, abs=0.1)
    assert row["ratio"] == pytest.approx(3, rel=0.01)
    assert row["q_value"] <= SETTINGS.fdr
    assert not tests[tests["theme_id"] != 1]["crossed"].any()
    # The period before the spike did not cross.
    assert not one(spikes.test_period(grid, 11, SETTINGS))["crossed"]


def test_a_volume_surge_with_the_same_share_does_not_cross():
    grid = make_grid([WOBBLE + [41]], [[200] * 12 + [400]])
    row = one(spikes.test_period(grid, 12, SETTINGS))
    assert row["tested"] and not row["crossed"]
    assert row["expected"] == pytest.approx(40, abs=0.2)
    assert row["p_value"] > 0.3


def test_a_location_with_three_responses_a_week_is_not_tested():
    grid = make_grid([[0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3]], [[3] * 13])
    row = one(spikes.test_period(grid, 12, SETTINGS))
    assert not row["tested"] and not row["crossed"]
    assert row["baseline_volume"] == 36 and row["q_value"] == 1.0


def test_a_location_with_only_the_current_week_is_not_tested():
    cells = [(1, "North"), (1, "New")]
    grid = make_grid([WOBBLE + [20], [0] * 12 + [40]], [[200] * 13, [0] * 12 + [100]], cells)
    tests = spikes.test_period(grid, 12, SETTINGS)
    assert not one(tests, 1, "New")["tested"] and not one(tests, 1, "New")["crossed"]
    assert one(tests, 1, "North")["tested"]


def test_missing_weeks_neither_count_as_baseline_nor_block_a_test():
    # Six weeks without any feedback in the baseline: six weeks of 200 are enough.
    mentions = [0] * 6 + [20, 22, 18, 21, 19, 20] + [60]
    volumes = [0] * 6 + [200] * 7
    row = one(spikes.test_period(make_grid([mentions], [volumes]), 12, SETTINGS))
    assert row["tested"] and row["crossed"]
    assert row["baseline_volume"] == 1200
    assert row["expected"] == pytest.approx(200 * 120.5 / 1201)
    # Three weeks of history are too few periods, whatever their volume.
    row = one(spikes.test_period(make_grid([[0] * 9 + [20, 20, 20, 60]], [[0] * 9 + [500] * 4]),
                          12, SETTINGS))
    assert not row["tested"]
    # A week without feedback is not tested at all.
    row = one(spikes.test_period(make_grid([WOBBLE + [0]], [[200] * 12 + [0]]), 12, SETTINGS))
    assert not row["tested"] and not row["crossed"]


def test_a_cell_alerts_only_above_expected_and_with_the_minimum_count():
    # Four mentions where 0.5 are expected is very unlikely, but fewer than min_count = 5.
    grid = make_grid([[1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 4]], [[100] * 13])
    row = one(spikes.test_period(grid, 12, SETTINGS))
    assert row["p_value"] < 0.01 and not row["crossed"]
    assert one(spikes.test_period(grid, 12, SpikeSettings(min_count=4)), )["crossed"]
    # A drop is never a spike.
    grid = make_grid([WOBBLE + [0]], [[200] * 13])
    assert not one(spikes.test_period(grid, 12, SETTINGS))["crossed"]


def test_an_overdispersed_baseline_needs_a_bigger_jump_than_a_steady_one():
    steady = [20] * 12 + [36]
    swinging = [8, 32, 10, 30, 9, 31, 11, 29, 10, 30, 12, 28] + [36]
    assert one(spikes.test_period(make_grid([steady], [[200] * 13]), 12, SETTINGS))["crossed"]
    row = one(spikes.test_period(make_grid([swinging], [[200] * 13]), 12, SETTINGS))
    assert row["overdispersion"] > 0.01 and not row["crossed"]


def test_periods_of_an_episode_are_left_out_of_the_baseline():
    # Weeks 12..14 already spiked; week 15 is as high: with them in the baseline it looks
    # ordinary, without them it is still a spike.
    grid = make_grid([WOBBLE + [60, 60, 60, 60]], [[200] * 16])
    assert not one(spikes.test_period(grid, 15, SETTINGS))["crossed"]
    episode = {(1, "North"): {"2025-03-31", "2025-04-07", "2025-04-14"}}
    row = one(spikes.test_period(grid, 15, SETTINGS, episode))
    assert row["crossed"] and row["expected"] == pytest.approx(20, abs=0.2)


# ------------------------------------------------------------------ days


def _saturday_grid(days: int, saturday_share: float = 0.4):
    """30 responses a day from a Monday; the theme is 10% of them, `saturday_share` on
    Saturdays."""
    x = [round(30 * (saturday_share if d % 7 == 5 else 0.1)) for d in range(days)]
    return make_grid([x], [[30] * days], granularity="day")


def test_a_theme_always_higher_on_saturdays_is_not_a_saturday_spike():
    grid = _saturday_grid(70)
    for i in range(28, 70):
        row = one(spikes.test_period(grid, i, SETTINGS))
        assert row["tested"] and row["weekday_baseline"], i
        assert not row["crossed"], (i, row["period"])
    # The last Saturday's baseline: the eight Saturdays before it (96 of 240), not the
    # 10% of the other days.
    saturday = one(spikes.test_period(grid, 68, SETTINGS))
    assert saturday["expected"] == pytest.approx(30 * 96.5 / 241)


def test_a_real_saturday_spike_still_crosses_on_a_weekday_baseline():
    grid = _saturday_grid(70)
    grid.mentions[0, 68] = 26          # the last Saturday, twice its usual 12
    row = one(spikes.test_period(grid, 68, SETTINGS))
    assert row["weekday_baseline"] and row["crossed"]


def test_with_too_little_weekday_history_days_use_the_last_28_days():
    # 20 responses a day: from day 28 on, four earlier same weekdays hold 80 (enough);
    # on day 27 there are three, and 27 earlier days hold three whole weeks, not four.
    grid = make_grid([[2] * 40], [[20] * 40], granularity="day")
    assert not one(spikes.test_period(grid, 27, SETTINGS))["tested"]
    row = one(spikes.test_period(grid, 28, SETTINGS))
    assert row["tested"] and row["weekday_baseline"] and row["baseline_volume"] == 80
    # Weekday history too thin in volume (5 a day, 4 weeks = 20 < 50): all of the last
    # 28 days instead, which hold 140.
    grid = make_grid([[1] * 40], [[5] * 40], granularity="day")
    row = one(spikes.test_period(grid, 35, SETTINGS))
    assert row["tested"] and not row["weekday_baseline"]
    assert row["baseline_volume"] == 140


def test_a_location_closed_on_sundays_is_still_tested_on_the_other_days():
    # 5 responses a day, none on Sundays: 120 responses over the last 28 days.
    volumes = [0 if d % 7 == 6 else 5 for d in range(40)]
    grid = make_grid([[1 if v else 0 for v in volumes]], [volumes], granularity="day")
    row = one(spikes.test_period(grid, 36, SETTINGS))     # a Tuesday
    assert row["baseline_volume"] == 120
    assert row["tested"]


# ------------------------------------------------------------------ many cells


def test_q_values_are_never_below_p_values():
    rng = np.random.default_rng(3)
    volumes = rng.integers(150, 250, size=(30, 13))
    mentions = rng.binomial(volumes, 0.1)
    mentions[:3, 12] *= 3
    tests = spikes.test_period(make_grid(mentions, volumes), 12, SETTINGS)
    tested = tests[tests["tested"]]
    assert len(tested) == 30
    assert (tested["q_value"] >= tested["p_value"] - 1e-12).all()
    assert tested["crossed"].sum() >= 1


def test_one_p_value_just_under_five_percent_does_not_cross_among_forty_cells():
    steady = [20] * 12
    alone = None
    for observed in range(21, 40):
        row = one(spikes.test_period(make_grid([steady + [observed]], [[200] * 13]), 12, SETTINGS))
        if 0.01 < row["p_value"] < 0.05:
            alone = row
            break
    assert alone is not None and alone["crossed"]      # on its own it would alert
    grid = make_grid([steady + [alone["observed"]]] + [steady + [20]] * 39, [[200] * 13])
    tests = spikes.test_period(grid, 12, SETTINGS)
    row = one(tests)
    assert row["p_value"] == pytest.approx(alone["p_value"])
    assert row["q_value"] > SETTINGS.fdr and not row["crossed"]
    assert not tests["crossed"].any()


# ------------------------------------------------------------------ from a store


@pytest.fixture
def spiked(db, monkeypatch):
    """Weekly, UTC: North and South 200 commented a week, Billing 10% at both; in week 12
    Billing is 60 at North. 'Parking' steady at 5%. Feedback without a location: 50 a week,
    5 Billing."""
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    add_theme(db, 1, "Billing")
    add_theme(db, 2, "Parking")
    add_weeks(db, START, "North", [200] * 13, {1: WOBBLE + [60], 2: [10] * 13})
    add_weeks(db, START, "South", [200] * 13, {1: list(reversed(WOBBLE)) + [20],
                                               2: [10] * 13})
    add_weeks(db, START, None, [50] * 13, {1: [5] * 13})
    return db


def test_cell_grid_from_counts_finds_the_spike_at_its_location(spiked):
    counts = cell_counts(spiked, granularity="week", first=START,
                         last=START + timedelta(weeks=12), level="theme")
    grid = CellGrid.from_counts(counts)
    assert sorted(grid.cells) == [(1, ALL_LOCATIONS), (1, "North"), (1, "South"),
                                  (2, ALL_LOCATIONS), (2, "North"), (2, "South")]
    network = grid.cells.index((1, ALL_LOCATIONS))
    assert grid.volume[network].tolist() == [450] * 13
    tests = spikes.test_period(grid, 12, SETTINGS)
    crossed = {(r.theme_id, r.location) for r in tests.itertuples() if r.crossed}
    assert (1, "North") in crossed
    assert crossed <= {(1, "North"), (1, ALL_LOCATIONS)}
    assert is_network(ALL_LOCATIONS) and not is_network("North")
    assert not spikes.test_period(grid, 11, SETTINGS)["crossed"].any()


def test_missing_weeks_in_the_store_are_zero_columns(db, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    add_theme(db, 1, "Billing")
    add_weeks(db, START, "North", [200, 0, 0, 200, 200, 200, 0, 200],
              {1: [20, 0, 0, 20, 20, 20, 0, 60]})
    grid = CellGrid.from_counts(cell_counts(db, granularity="week", first=START,
                                            last=START + timedelta(weeks=7), level="theme"))
    north = grid.cells.index((1, "North"))
    assert grid.volume[north].tolist() == [200, 0, 0, 200, 200, 200, 0, 200]
    row = one(spikes.test_period(grid, 7, SETTINGS))
    assert row["tested"] and row["crossed"] and row["baseline_volume"] == 800


def test_saturdays_from_a_store_use_the_weekday_baseline(db, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "Europe/Paris")
    add_theme(db, 1, "Billing")
    cells = []
    for d in range(63):
        day = START + timedelta(days=d)
        # 18:00 Paris; Saturdays 40% Billing, other days 10%.
        moment = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=17)
        cells.append((moment, "North", 30, {1: 12 if day.weekday() == 5 else 3}))
    add_feedback(db, cells)
    grid = CellGrid.from_counts(cell_counts(db, granularity="day", first=START,
                                            last=START + timedelta(days=62), level="theme"))
    saturdays = [i for i, p in enumerate(grid.periods) if date.fromisoformat(p).weekday() == 5]
    for i in saturdays[4:]:
        row = one(spikes.test_period(grid, i, SETTINGS))
        assert row["weekday_baseline"] and row["tested"] and not row["crossed"]


# ------------------------------------------------------------------ overdispersion


RHO = 0.02


def _beta_binomial(rng, volumes: np.ndarray, cells: int, p: float = 0.1,
                   rho: float = RHO) -> np.ndarray:
    """Counts of `cells` null cells, each week beta-binomial with mean p and intra-period
    correlation rho (share ~ Beta with a + b = (1 - rho) / rho, then binomial)."""
    a, b = p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho
    shares = rng.beta(a, b, size=(cells, len(volumes)))
    return rng.binomial(volumes.astype(int), shares).astype(float)


def _waves(weeks: int) -> np.ndarray:
    """Monthly waves: four weeks of 1000 responses, four of 40, ..."""
    return np.array([1000.0 if (j // 4) % 2 == 0 else 40.0 for j in range(weeks)])


def _estimated(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    p = (x.sum(axis=1) + 0.5) / (n.sum(axis=1) + 1)
    return spikes._overdispersion(x, n, p)


def test_null_cells_with_swinging_volumes_keep_the_false_alarm_rate():
    """Every week overdispersed alike (rho = 0.02), volumes swinging between 1000 and 40:
    a divisor right only for equal volumes (sum n^2 / N - 1) halves rho here, and a week
    of 1000 then gave p < 0.01 to 3.5% of null cells (and p < 0.05 to 10%)."""
    rng = np.random.default_rng(2025)
    weeks, cells = 53, 2000
    volumes = _waves(weeks)
    volumes[-1] = 1000                          # the week tested is a busy one
    grid = make_grid(_beta_binomial(rng, volumes, cells), [volumes])
    tests = spikes.test_period(grid, weeks - 1, SETTINGS)
    assert tests["tested"].all()
    p = tests["p_value"]
    assert (p < 0.01).mean() <= 0.02
    assert (p < 0.05).mean() <= 0.07
    assert tests["overdispersion"].median() == pytest.approx(RHO, rel=0.3)


def test_overdispersion_estimate_recovers_rho_with_equal_and_with_unequal_volumes():
    rng = np.random.default_rng(7)
    weeks, cells = 52, 1000
    for volumes in (np.full(weeks, 200.0), _waves(weeks)):
        x = _beta_binomial(rng, volumes, cells)
        n = np.repeat(volumes[None], cells, axis=0)
        estimate = _estimated(x, n)
        assert estimate.mean() == pytest.approx(RHO, rel=0.3), volumes[:8]
    # Without overdispersion (binomial weeks) the estimate stays near zero.
    volumes = _waves(weeks)
    x = rng.binomial(volumes.astype(int), 0.1, size=(cells, weeks)).astype(float)
    assert _estimated(x, np.repeat(volumes[None], cells, axis=0)).mean() < RHO / 10

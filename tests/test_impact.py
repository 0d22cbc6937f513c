"""Impact tests (`analysis.improvements.impact`) on hand-built weekly cells where the right
answer is known: a change of a known size, no change at all, drift shared by every
location, a treated location already drifting away before the change."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.improvements.impact import (
    MIN_PLACEBOS,
    before_after,
    estimate_impact,
    randomization_inference,
)

START = date(2024, 1, 1)  # a Monday


def weeks(count: int, start: date = START) -> list[date]:
    return [start + timedelta(weeks=k) for k in range(count)]


def share_cells(rng, *, locations: int, n_weeks: int = 60, n: int = 60, base: float = 0.3,
                effect: float = 0.0, treated: str = "L0", change_week: int = 40,
                drift: float = 0.0, treated_drift: float = 0.0,
                shock_sd: float = 0.0) -> pd.DataFrame:
    """Per location and week: n responses, each 100 with the week's share (else 0). The
    treated location's share moves by `effect` from `change_week`; `drift` moves every
    location's share per week, `treated_drift` only the treated one's; shared shocks hit
    every location alike."""
    rows = []
    shocks = rng.normal(0, shock_sd, n_weeks)
    for g in range(locations):
        name = f"L{g}"
        level = base + rng.normal(0, 0.03)
        for k, week in enumerate(weeks(n_weeks)):
            share = level + drift * k + shocks[k]
            if name == treated:
                share += treated_drift * k + (effect if k >= change_week else 0.0)
            hits = rng.binomial(n, min(max(share, 0.01), 0.99))
            rows.append((name, week, n, 100.0 * hits, 10_000.0 * hits))
    return pd.DataFrame(rows, columns=["location", "week", "n", "total", "total_sq"])


def run(cells, change_week: int = 40, n_weeks: int = 60, **kwargs):
    change = START + timedelta(weeks=change_week)
    return estimate_impact(cells, treated=["L0"], pre_end=change, post_start=change,
                           last_week=START + timedelta(weeks=n_weeks - 1), **kwargs)


def test_a_ten_point_drop_at_one_of_thirty_locations_is_found_by_placebo_in_space():
    cells = share_cells(np.random.default_rng(1), locations=30, n=300, effect=-0.10)
    result = run(cells)
    head = result.headline
    assert result.design["placebo"] == "space" and result.design["placebos"] == 29
    assert head.method == "randomization" and head.p_value == pytest.approx(1 / 30)
    assert head.ci_low < -10 < head.ci_high and head.effect < 0
    assert sorted(result.comparison) == sorted(f"L{g}" for g in range(1, 30))
    assert result.n_pre == result.n_post == 8 * 300


def test_with_eight_locations_the_headline_uses_placebo_dates_in_the_own_history():
    cells = share_cells(np.random.default_rng(2), locations=8, n=300, effect=-0.15)
    result = run(cells)
    assert result.design["placebo"] == "time"
    # Windows of 8 weeks either side fit at weeks 8..52 wholly before week 40 or wholly
    # after it: weeks 8-32 before (25), weeks 48-52 after (5).
    assert result.design["placebos"] == 30
    head = result.headline
    assert head.p_value == pytest.approx(1 / 31)
    assert head.ci_low < -15 < head.ci_high


def test_no_change_is_rarely_called_significant():
    rng = np.random.default_rng(3)
    p_values = [run(share_cells(rng, locations=8)).headline.p_value for _ in range(30)]
    assert np.mean(np.array(p_values) <= 0.05) <= 0.15
    assert 0.3 < np.median(p_values) < 0.7  # about uniform


def test_shared_drift_fools_before_after_but_not_the_headline():
    """Every location's share climbs 0.8 points a week: before/after sees a rise of about
    0.8 x 8 = 6.4 points at the treated location; against the comparisons nothing moved."""
    cells = share_cells(np.random.default_rng(4), locations=30, n=400, drift=0.008)
    result = run(cells)
    assert result.estimate("before_after").p_value < 0.001
    assert result.headline.p_value > 0.05
    assert result.headline.ci_low < 0 < result.headline.ci_high


def test_the_event_study_is_flat_before_the_change_and_shows_it_after():
    cells = share_cells(np.random.default_rng(5), locations=12, n=400, effect=-0.10)
    result = run(cells)
    by_week = {r["relative_week"]: r for r in result.event_study}
    assert by_week[-1]["estimate"] == 0.0  # the reference week
    leads = [by_week[k]["estimate"] for k in range(-8, -1)]
    lags = [by_week[k]["estimate"] for k in range(0, 8)]
    assert abs(np.mean(leads)) < 3 and np.mean(lags) == pytest.approx(-10, abs=3)


def test_a_treated_location_drifting_away_before_the_change_is_warned_about():
    cells = share_cells(np.random.default_rng(6), locations=12, n=400, treated_drift=0.01)
    result = run(cells)
    assert result.design["pre_trend_p"] < 0.05
    assert any(w.startswith("pre-trends differ") for w in result.warnings)


def test_too_short_a_history_says_the_design_cannot_reach_five_percent():
    cells = share_cells(np.random.default_rng(7), locations=4, n_weeks=24, change_week=12)
    result = run(cells, change_week=12, n_weeks=24)
    assert result.design["placebos"] < MIN_PLACEBOS
    assert result.headline.ci_low is None and result.headline.ci_high is None
    assert any("cannot reach 5%" in w for w in result.warnings)
    assert result.min_detectable_effect is None


def test_too_little_data_is_warned_about_with_the_smallest_detectable_effect():
    cells = share_cells(np.random.default_rng(8), locations=8, n=3)
    result = run(cells)
    assert result.n_pre == 24
    warning = next(w for w in result.warnings if w.startswith("too little data"))
    assert f"{result.min_detectable_effect:.1f}" in warning


def test_weeks_of_a_roll_out_are_left_out_and_a_running_post_window_is_said():
    cells = share_cells(np.random.default_rng(9), locations=8)
    result = estimate_impact(cells, treated=["L0"], pre_end=START + timedelta(weeks=40),
                             post_start=START + timedelta(weeks=43),
                             last_week=START + timedelta(weeks=47))
    assert result.windows["pre_last"] == START + timedelta(weeks=39)
    assert result.windows["post_first"] == START + timedelta(weeks=43)
    assert result.windows["post_last"] == START + timedelta(weeks=47)
    assert any("only 5 of 8 weeks" in w for w in result.warnings)


def test_before_after_is_welchs_t_test_on_the_responses():
    values_pre = np.array([1, 2, 2, 3, 5, 4, 4], dtype=float)
    values_post = np.array([3, 5, 4, 6, 5], dtype=float)
    cells = pd.DataFrame([("A", START, len(values_pre), values_pre.sum(), (values_pre ** 2).sum()),
                          ("A", START + timedelta(weeks=1), len(values_post), values_post.sum(),
                           (values_post ** 2).sum())],
                         columns=["location", "week", "n", "total", "total_sq"])
    got = before_after(cells, ["A"], [START], [START + timedelta(weeks=1)])
    expected = stats.ttest_ind(values_post, values_pre, equal_var=False)
    assert got.effect == pytest.approx(values_post.mean() - values_pre.mean())
    assert got.p_value == pytest.approx(expected.pvalue)
    low, high = expected.confidence_interval()
    assert (got.ci_low, got.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_randomization_p_value_and_interval_by_hand():
    placebos = [0.5, -1.0, 2.0, -3.0, 0.1] * 4  # 20 placebos; |t| sorted: 3,3,3,3,2,...
    p, low, high, critical = randomization_inference(2.5, -5.0, 2.0, placebos)
    assert p == pytest.approx((1 + 4) / 21)
    # m = floor(0.05 * 21 - 1) + 1 = 1: the largest |t| (3) is the critical value.
    assert critical == 3.0 and (low, high) == (-11.0, 1.0)
    p, low, high, critical = randomization_inference(10.0, -20.0, 2.0, placebos)
    assert p == pytest.approx(1 / 21)
    # Too few placebos: no effect can be rejected, the interval is unbounded.
    p, low, high, critical = randomization_inference(10.0, -20.0, 2.0, placebos[:10])
    assert p == pytest.approx(1 / 11) and math.isinf(low) and math.isinf(high)
    assert critical is None


def test_a_location_with_too_few_responses_is_left_out_of_the_comparison():
    cells = share_cells(np.random.default_rng(10), locations=8)
    cells.loc[cells["location"] == "L7", ["n", "total", "total_sq"]] = [1, 0.0, 0.0]
    result = run(cells)
    assert "L7" not in result.comparison
    assert any("L7" in w and "left out of the comparison" in w for w in result.warnings)


def test_a_change_with_no_complete_week_after_it_measures_nothing_and_says_so():
    cells = share_cells(np.random.default_rng(8), locations=8, n_weeks=60)
    result = run(cells, change_week=60)
    assert result.headline.effect is None and result.n_post == 0
    assert {e.method: e.effect for e in result.estimates} == {
        "before_after": None, "its": None, "did": None, "randomization": None}
    assert "no complete week after the change yet: nothing to measure" in result.warnings


def test_a_single_comparison_location_still_gives_the_estimates_it_can():
    """Location and week effects leave no degrees of freedom for clustered errors with two
    units: the DiD says so instead of failing, and the headline (placebo in time) stands."""
    cells = share_cells(np.random.default_rng(9), locations=2, n=300, effect=-0.10)
    result = run(cells, comparison=["L1"])
    did = result.estimate("did")
    assert result.comparison == ["L1"]
    assert did.ci_low is None and did.note == "too few locations for clustered errors"
    assert result.headline.p_value is not None and result.headline.effect < -5


def test_the_event_study_takes_the_last_week_with_treated_data_as_its_reference():
    """No treated response in the week before the change: that week cannot be the reference
    (the leads and lags would be unidentified); the week before it is, and the leads of a
    location where nothing changed stay near zero instead of wandering off together."""
    cells = share_cells(np.random.default_rng(12), locations=6, n=200)
    change = START + timedelta(weeks=40)
    cells = cells[~((cells["location"] == "L0") & (cells["week"] == change - timedelta(weeks=1)))]
    result = run(cells)
    by_week = {r["relative_week"]: r for r in result.event_study}
    assert -1 not in by_week and by_week[-2]["estimate"] == 0.0
    leads = [by_week[k]["estimate"] for k in range(-8, -2)]
    assert max(abs(v) for v in leads) < 8

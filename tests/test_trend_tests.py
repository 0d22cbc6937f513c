"""Rising, falling or flat (`analysis.trends.trend`): series whose answer is known, and a
simulation showing week-to-week variation is not taken for a trend."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from analysis.trends.trend import (
    METRIC_TREND_TEST,
    SHARE_TREND_TEST,
    metric_trend,
    share_trend,
)


def test_a_flat_share_is_flat_with_an_odds_ratio_of_one():
    trend = share_trend([20] * 10, [200] * 10)
    assert trend.direction == "flat"
    assert trend.periods == 10
    assert trend.result.estimate == pytest.approx(1.0)
    assert trend.result.ci_low < 1 < trend.result.ci_high
    assert trend.result.p_value == pytest.approx(1.0)
    assert trend.result.test == SHARE_TREND_TEST


def test_a_rising_share_is_rising_with_an_odds_ratio_above_one():
    trend = share_trend([10, 14, 18, 22, 26, 30, 34, 38], [200] * 8)
    assert trend.direction == "rising"
    assert trend.result.estimate > 1
    assert trend.result.ci_low > 1
    assert trend.result.p_value < 0.001
    assert trend.result.ci_low < trend.result.estimate < trend.result.ci_high


def test_a_falling_share_is_falling():
    trend = share_trend([38, 34, 30, 26, 22, 18, 14, 10], [200] * 8)
    assert trend.direction == "falling"
    assert trend.result.ci_high < 1


def test_the_odds_ratio_is_the_binomial_glm_slope_on_time():
    mentions, volumes = [5, 9, 8, 14, 15, 19], [100, 120, 90, 110, 100, 105]
    trend = share_trend(mentions, volumes)
    t = np.arange(6.0)
    fit = sm.GLM(np.column_stack([mentions, np.subtract(volumes, mentions)]),
                 sm.add_constant(t), family=sm.families.Binomial()).fit()
    assert trend.result.estimate == pytest.approx(math.exp(fit.params[1]), rel=1e-6)


def test_periods_without_volume_are_left_out_but_keep_their_place_in_time():
    # The same rising shares with a gap: the slope per period is unchanged by the gap.
    full = share_trend([10, 20, 30, 40], [100] * 4)
    gapped = share_trend([10, 0, 20, 0, 30, 0, 40], [100, 0, 100, 0, 100, 0, 100])
    assert gapped.periods == 4
    assert math.log(gapped.result.estimate) == pytest.approx(
        math.log(full.result.estimate) / 2, rel=1e-6)


def test_a_noisy_but_trendless_share_is_rarely_called_rising():
    """Shares drawn from a beta around 15% (far more spread than binomial noise), 200
    series of 12 weeks: at alpha 0.05 'rising' should come up about 2.5% of the time,
    and a plain binomial GLM (which ignores the spread) calls far more series rising."""
    rng = np.random.default_rng(20250101)
    rising = naive_rising = 0
    t = np.arange(12.0)
    for _ in range(200):
        shares = rng.beta(0.15 * 40, 0.85 * 40, size=12)
        volumes = rng.integers(150, 250, size=12)
        mentions = rng.binomial(volumes, shares)
        rising += share_trend(mentions, volumes).direction == "rising"
        naive = sm.GLM(np.column_stack([mentions, volumes - mentions]), sm.add_constant(t),
                       family=sm.families.Binomial()).fit()
        naive_rising += naive.pvalues[1] < 0.05 and naive.params[1] > 0
    assert rising / 200 <= 0.08, rising
    assert naive_rising / 200 >= 0.15, naive_rising  # the scenario does tell the two apart


def test_too_few_periods_or_no_mentions_are_flat_without_figures():
    for trend in (share_trend([1, 9], [10, 10]), share_trend([0, 0, 0, 0], [50] * 4),
                  share_trend([5, 0, 9], [10, 0, 10]), share_trend([10] * 5, [10] * 5)):
        assert trend.direction == "flat"
        assert (trend.result.estimate, trend.result.ci_low, trend.result.ci_high,
                trend.result.p_value) == (None, None, None, None)


def test_a_falling_nps_is_falling_with_its_theil_sen_slope():
    trend = metric_trend([52.0, 48.0, 47.5, 41.0, 39.0, 35.0, 30.0])
    assert trend.direction == "falling"
    assert trend.result.test == METRIC_TREND_TEST
    assert -4.5 < trend.result.estimate < -2.5
    assert trend.result.ci_low <= trend.result.estimate <= trend.result.ci_high < 0
    assert trend.result.p_value < 0.01


def test_a_metric_without_direction_is_flat():
    trend = metric_trend([40.0, 42.0, 39.0, 41.0, 40.5, 39.5, 41.5])
    assert trend.direction == "flat"
    assert trend.result.p_value > 0.05


def test_a_metric_with_too_few_values_is_flat_without_figures():
    for values in ([50.0, 40.0, 30.0], [50.0, None, 40.0, None, 30.0], [7.0] * 6):
        trend = metric_trend(values)
        assert trend.direction == "flat"
        assert trend.result.estimate is None and trend.result.p_value is None


def test_missing_metric_values_are_left_out():
    trend = metric_trend([60.0, None, 50.0, 45.0, None, 30.0, 20.0])
    assert trend.periods == 5
    assert trend.direction == "falling"


def test_a_short_noisy_window_is_not_called_a_trend_more_often_than_alpha_says():
    """Six overdispersed weeks: the dispersion comes from four residual degrees of freedom,
    so the test must use t, not z (with z: about 6.5% 'rising' instead of 2.5%)."""
    rng = np.random.default_rng(6)
    calls = 0
    for _ in range(600):
        shares = rng.beta(6, 34, size=6)
        volumes = rng.integers(150, 250, size=6)
        calls += share_trend(rng.binomial(volumes, shares), volumes).direction == "rising"
    assert calls / 600 <= 0.045, calls

"""The two-proportion test on statsmodels gives the figures of the hand-written test it
replaced. The expected values below were computed with that hand-written version
(pooled z test for the p-value, Wald 95% interval for the change) before it was removed."""

from __future__ import annotations

import warnings

import pytest

from analysis.stats.estimates import Difference
from analysis.stats.proportions import TWO_PROPORTION_TEST, two_proportion_test

# (hits, n, previous hits, previous n) -> (change in points, interval low, high, p-value)
HAND_WRITTEN = {
    (40, 100, 20, 100): (20.0, 7.604099353908769, 32.395900646091235,
                         0.0020282311484520745),
    (25, 100, 20, 100): (4.999999999999999, -6.553817292095322, 16.55381729209532,
                         0.3971804712199202),
    (3, 7, 0, 12): (42.857142857142854, 6.197210944726308, 79.5170747695594,
                    0.013463660549646707),
    (60, 100, 40, 100): (19.999999999999996, 6.420971191085936, 33.57902880891406,
                         0.004677734981047275),
    (1, 500, 9, 450): (-1.8000000000000003, -3.1514879825264184, -0.44851201747358216,
                       0.006641123696222492),
    (0, 50, 5, 50): (-10.0, -18.315422946098067, -1.6845770539019327, 0.021781462791119477),
    (7, 20, 7, 20): (0.0, -29.562338907940177, 29.562338907940177, 1.0),
    (0, 10, 0, 10): (0.0, 0.0, 0.0, 1.0),
    (10, 10, 10, 10): (0.0, 0.0, 0.0, 1.0),
}


@pytest.mark.parametrize("counts", list(HAND_WRITTEN))
def test_statsmodels_gives_the_figures_of_the_hand_written_test(counts):
    estimate, low, high, p_value = HAND_WRITTEN[counts]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 warnings either, where nothing varies
        result = two_proportion_test("Change", *counts)
    assert result.estimate == pytest.approx(estimate, rel=1e-12, abs=1e-12)
    assert result.ci_low == pytest.approx(low, rel=1e-12, abs=1e-12)
    assert result.ci_high == pytest.approx(high, rel=1e-12, abs=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)


def test_the_result_names_its_test_and_carries_plain_floats():
    result = two_proportion_test("Change in share (points)", 40, 100, 20, 100)
    assert isinstance(result, Difference)
    assert result.name == "Change in share (points)" and result.test == TWO_PROPORTION_TEST
    assert "z test" in result.test and "95%" in result.test
    assert all(type(v) is float for v in (result.estimate, result.ci_low, result.ci_high,
                                          result.p_value))


@pytest.mark.parametrize("counts", [(1, 0, 1, 10), (5, 10, 0, 0), (0, 0, 0, 0)])
def test_without_a_sample_on_either_side_there_is_no_change_to_report(counts):
    result = two_proportion_test("Change", *counts)
    assert (result.estimate, result.ci_low, result.ci_high, result.p_value) == (
        None, None, None, None)
    assert result.test == TWO_PROPORTION_TEST

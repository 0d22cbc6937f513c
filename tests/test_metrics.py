import math

import pytest

from analysis.stats import estimates as metrics


def test_nps_is_promoters_minus_detractors_in_points():
    est = metrics.nps([10, 9, 8, 7, 6, 0, 10, 10, 3, 9])
    # 5 promoters, 2 passives, 3 detractors out of 10
    assert est.value == pytest.approx(20.0)
    assert est.n == 10
    assert est.ci_low < 20 < est.ci_high


def test_nps_interval_matches_the_multinomial_variance():
    est = metrics.nps_from_counts(500, 300, 200)
    p, d = 0.5, 0.2
    half = 1.959964 * math.sqrt((p + d - (p - d) ** 2) / 1000) * 100
    assert est.value == pytest.approx(30.0)
    assert est.ci_high - est.value == pytest.approx(half, rel=1e-4)


def test_nps_interval_is_clipped_to_the_scale():
    est = metrics.nps_from_counts(3, 0, 0)
    assert est.value == 100 and est.ci_high == 100


def test_csat_is_share_of_four_and_five_with_wilson_interval():
    est = metrics.csat([5, 4, 3, 2, 1, 5, 5, 4])
    assert est.value == pytest.approx(62.5)
    assert 0 <= est.ci_low < 62.5 < est.ci_high <= 100


def test_ces_is_the_mean_with_a_t_interval():
    est = metrics.ces([7, 6, 5, 7, 6])
    assert est.value == pytest.approx(6.2)
    assert est.ci_low < 6.2 < est.ci_high


def test_empty_samples_give_no_value_rather_than_an_error():
    for est in (metrics.nps([]), metrics.csat([]), metrics.ces([])):
        assert est.value is None and est.n == 0


def test_compare_detects_a_real_change_and_not_noise():
    big = metrics.compare(metrics.nps_from_counts(600, 200, 200), metrics.nps_from_counts(400, 200, 400))
    assert big.estimate == pytest.approx(40.0)
    assert big.p_value < 0.001 and big.ci_low > 0
    noise = metrics.compare(metrics.nps_from_counts(51, 20, 29), metrics.nps_from_counts(50, 20, 30))
    assert noise.p_value > 0.5
    assert metrics.compare(metrics.nps([]), metrics.nps([9])).p_value is None

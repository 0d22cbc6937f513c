"""Comparing two shares, as statsmodels compares them.

    change = two_proportion_test("Change in share (points)", 40, 100, 20, 100)
    change.estimate, change.ci_low, change.ci_high, change.p_value   # 20.0, 7.6, 32.4, 0.002

The result is a `Difference` (see `estimates`): the change in percentage points, its Wald
95% interval and the p-value of the pooled z test, with the test named in `test`.
"""

from __future__ import annotations

from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from analysis.stats.estimates import Difference

TWO_PROPORTION_TEST = "two-proportion z test (pooled), Wald 95% interval"


def two_proportion_test(name: str, hits: int, n: int, prev_hits: int,
                        prev_n: int) -> Difference:
    """Current share (hits of n) minus previous share (prev_hits of prev_n), in percentage
    points: statsmodels' `proportions_ztest` (pooled variance) for the p-value and
    `confint_proportions_2indep` (Wald) for the 95% interval. Without a sample on either
    side there is nothing to compare: every figure is None."""
    if n == 0 or prev_n == 0:
        return Difference(name, None, None, None, None, TWO_PROPORTION_TEST)
    estimate = (hits / n - prev_hits / prev_n) * 100
    low, high = confint_proportions_2indep(hits, n, prev_hits, prev_n, method="wald",
                                           compare="diff", alpha=0.05)
    pooled = (hits + prev_hits) / (n + prev_n)
    # Both shares 0% or both 100%: no variation, and no evidence of any change (statsmodels
    # would divide zero by zero here and return NaN with a warning).
    if pooled in (0, 1):
        p_value = 1.0
    else:
        _, p_value = proportions_ztest([hits, prev_hits], [n, prev_n])
    return Difference(name, estimate, float(low) * 100, float(high) * 100, float(p_value),
                      TWO_PROPORTION_TEST)

"""The statistics loop health reports: quantiles with distribution-free intervals, shares
with Wilson intervals (analysis/stats), a census figure without one, and a Welch comparison
of two means that carries both sample sizes and its caveat.

Every figure is an `analysis.stats.estimates.Estimate` (name, value, interval, n, method),
so the pages and reports show loop health as they show NPS; shares are in percent, as there.

    minutes_quantile("Time to acknowledge, median (business minutes)", [60, 120, 240], 0.5)
    share("Follow-up rate %", 2, 4)
    welch("Next NPS, followed up - not", [9, 7], [4, 6], caveat=OBSERVATIONAL)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from analysis.stats.estimates import Estimate, share_from_counts

CONFIDENCE = 0.95
QUANTILE_METHOD = ("linear-interpolation quantile (numpy default); distribution-free "
                   "order-statistic 95% interval (binomial ranks, exact coverage >= 95%; an "
                   "open end is None: too few cases to bound it)")
CENSUS = "census of every case (not a sample): no interval"
WELCH = "Welch two-sample t test (unequal variances), 95% interval on the difference"


def _clean(value):
    """numpy scalars and NaN out, so a figure is plain JSON."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def order_statistic_interval(n: int, q: float, confidence: float = CONFIDENCE
                             ) -> tuple[int | None, int | None, float]:
    """1-based ranks (lower, upper) of the sorted sample bounding the q-quantile with at
    least `confidence`, and the exact coverage. The count B of sample values below the true
    quantile is Binomial(n, q): the l-th smallest value lies above it with probability
    P(B <= l - 1) and the u-th below it with P(B >= u), so the lower rank is the largest l
    with P(B <= l - 1) <= alpha/2 and the upper the smallest u with P(B <= u - 1) >=
    1 - alpha/2. No such rank (small n): None, that end is unbounded."""
    alpha = 1 - confidence
    ranks = np.arange(1, n + 1)
    below = stats.binom.cdf(ranks - 1, n, q)          # P(B <= k - 1) for k = 1..n
    lower_ok = ranks[below <= alpha / 2 + 1e-12]
    upper_ok = ranks[below >= 1 - alpha / 2 - 1e-12]
    lower = int(lower_ok.max()) if lower_ok.size else None
    upper = int(upper_ok.min()) if upper_ok.size else None
    # Coverage P(lower <= B < upper), an open end counting as rank 0 or n + 1.
    lo, hi = lower or 0, upper or n + 1
    coverage = float(stats.binom.cdf(hi - 1, n, q) - (stats.binom.cdf(lo - 1, n, q)
                                                     if lo > 0 else 0.0))
    return lower, upper, coverage


def minutes_quantile(name: str, values: list[float], q: float) -> Estimate:
    """The q-quantile of `values` with its order-statistic interval. Distribution-free: waiting
    times are skewed and lumpy (the night, the weekend), so no normal or log-normal shape is
    assumed, and no random resampling makes the figure change between two runs."""
    n = len(values)
    if n == 0:
        return Estimate(name, None, None, None, 0, QUANTILE_METHOD)
    ordered = np.sort(np.asarray(values, dtype=float))
    lower, upper, _ = order_statistic_interval(n, q)
    return Estimate(name, _clean(np.quantile(ordered, q)),
                    _clean(ordered[lower - 1]) if lower else None,
                    _clean(ordered[upper - 1]) if upper else None, n, QUANTILE_METHOD)


def share(name: str, hits: int, n: int) -> Estimate:
    """hits of n in percent with a Wilson interval (analysis/stats)."""
    return share_from_counts(name, int(hits), int(n))


def census(name: str, value, n: int) -> Estimate:
    """A figure over every case there is (the backlog, a count): no sampling error to show."""
    return Estimate(name, _clean(value), None, None, int(n), CENSUS)


OBSERVATIONAL = ("observational: customers who were followed up may differ from those who "
                 "were not")


@dataclass(frozen=True)
class Comparison:
    """Mean of `group` minus mean of `other`, Welch's t test, with both sample sizes. The
    caveat travels with the figure so that no page shows it as the effect of following
    up."""
    name: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str
    mean: float | None
    n: int
    other_mean: float | None
    other_n: int
    caveat: str

    def as_dict(self) -> dict:
        return asdict(self)


def welch(name: str, group: list[float], other: list[float], *, caveat: str) -> Comparison:
    """`scipy.stats.ttest_ind(group, other, equal_var=False)` and its 95% interval. Fewer
    than two values on a side, or no variation on either: the difference alone, no test."""
    a = np.asarray(group, dtype=float)
    b = np.asarray(other, dtype=float)
    mean_a = _clean(a.mean()) if a.size else None
    mean_b = _clean(b.mean()) if b.size else None
    diff = mean_a - mean_b if mean_a is not None and mean_b is not None else None
    low = high = p = None
    if a.size >= 2 and b.size >= 2 and (a.var() > 0 or b.var() > 0):
        result = stats.ttest_ind(a, b, equal_var=False)
        interval = result.confidence_interval(CONFIDENCE)
        low, high, p = _clean(interval.low), _clean(interval.high), _clean(result.pvalue)
    return Comparison(name, diff, low, high, p, WELCH, mean_a, int(a.size), mean_b,
                      int(b.size), caveat)


def estimate_dict(figure: Estimate) -> dict:
    """An Estimate as JSON (the variance is internal to comparisons: left out)."""
    return {"name": figure.name, "value": _clean(figure.value),
            "ci_low": _clean(figure.ci_low), "ci_high": _clean(figure.ci_high),
            "n": int(figure.n), "method": figure.method}

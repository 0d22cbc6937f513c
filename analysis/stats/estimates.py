"""NPS, CSAT and CES with confidence intervals, from counts that SQL can aggregate.

Every figure is an `Estimate` carrying its method, value, 95% interval and sample size, and
every comparison a `Difference` with its test, interval and p-value: a dashboard should never
say "up" without saying how sure it is.

Scales: NPS 0-10 (promoters 9-10, detractors 0-6, NPS = %promoters - %detractors);
CSAT 1-5 (satisfied = 4-5, CSAT = % satisfied); CES 1-7 where 7 is "very easy"
(Gartner CES 2.0: higher is better), reported as the mean; review ratings 1-5 as the mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.domain.scores import (
    CSAT_SATISFIED_MIN,
    negative_score_sql,
    nps_group,
    nps_group_sql,
)

Z95 = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class Estimate:
    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str
    # Variance of `value`, kept so that two estimates can be compared.
    variance: float | None = None


@dataclass(frozen=True)
class Difference:
    name: str
    estimate: float | None  # current - previous
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str


def _empty(name: str, method: str) -> Estimate:
    return Estimate(name, None, None, None, 0, method)


def nps_from_counts(promoters: int, passives: int, detractors: int) -> Estimate:
    """NPS in points (-100..100) with a Wald interval on the difference of two multinomial
    shares; Var = (p + d - (p - d)^2) / n."""
    method = "NPS, Wald interval (multinomial)"
    n = promoters + passives + detractors
    if n == 0:
        return _empty("NPS", method)
    p, d = promoters / n, detractors / n
    value = (p - d) * 100
    variance = (p + d - (p - d) ** 2) / n * 100**2
    half = Z95 * math.sqrt(variance)
    return Estimate("NPS", value, max(-100.0, value - half), min(100.0, value + half), n,
                    method, variance)


def nps(scores) -> Estimate:
    groups = [nps_group(s) for s in scores if s is not None]
    return nps_from_counts(groups.count("promoters"), groups.count("passives"),
                           groups.count("detractors"))


def share_from_counts(name: str, hits: int, n: int) -> Estimate:
    """A percentage with a Wilson interval (honest near 0% and 100% and at small n)."""
    method = f"{name}, Wilson interval"
    if n == 0:
        return _empty(name, method)
    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    p = hits / n
    return Estimate(name, p * 100, low * 100, high * 100, n, method, p * (1 - p) / n * 100**2)


def csat_from_counts(satisfied: int, n: int) -> Estimate:
    return share_from_counts("CSAT %", satisfied, n)


def csat(scores) -> Estimate:
    scores = [s for s in scores if s is not None]
    return csat_from_counts(sum(1 for s in scores if s >= CSAT_SATISFIED_MIN), len(scores))


def mean_from_sums(name: str, n: int, total: float, total_sq: float) -> Estimate:
    """A mean with a Student t interval, from n, sum and sum of squares."""
    method = f"{name}, t interval"
    if n == 0:
        return _empty(name, method)
    mean = total / n
    if n == 1:
        return Estimate(name, mean, None, None, 1, method)
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    se2 = var / n
    half = stats.t.ppf(0.975, n - 1) * math.sqrt(se2)
    return Estimate(name, mean, mean - half, mean + half, n, method, se2)


def ces(scores) -> Estimate:
    scores = [float(s) for s in scores if s is not None]
    return mean_from_sums("CES", len(scores), sum(scores), sum(s * s for s in scores))


def compare(current: Estimate, previous: Estimate) -> Difference:
    """Current minus previous, with a two-sided z test on independent samples."""
    test = "two-sample z test"
    if (current.value is None or previous.value is None or current.variance is None
            or previous.variance is None):
        return Difference(current.name, None, None, None, None, test)
    diff = current.value - previous.value
    se = math.sqrt(current.variance + previous.variance)
    if se == 0:
        return Difference(current.name, diff, diff, diff, None if diff == 0 else 0.0, test)
    p = 2 * stats.norm.sf(abs(diff) / se)
    return Difference(current.name, diff, diff - Z95 * se, diff + Z95 * se, p, test)


# SQL fragments over `feedback f` (and optionally `sentiment s`), shared by every query
# that aggregates these metrics so the definitions live in one place.
SQL_COUNTS = f"""
    SUM({nps_group_sql("promoters")}) AS promoters,
    SUM({nps_group_sql("passives")}) AS passives,
    SUM({nps_group_sql("detractors")}) AS detractors,
    SUM(f.score_type = 'csat' AND f.score >= {CSAT_SATISFIED_MIN}) AS csat_satisfied,
    SUM(f.score_type = 'csat' AND f.score IS NOT NULL) AS csat_n,
    SUM(f.score_type = 'ces' AND f.score IS NOT NULL) AS ces_n,
    SUM(CASE WHEN f.score_type = 'ces' THEN f.score END) AS ces_sum,
    SUM(CASE WHEN f.score_type = 'ces' THEN f.score * f.score END) AS ces_sum_sq,
    COUNT(*) AS volume
"""

# A response is negative by its sentiment label when it has one, else by its score.
SQL_IS_NEGATIVE = f"""
    CASE
        WHEN s.label IS NOT NULL THEN s.label = 'negative'
        ELSE {negative_score_sql("f")}
    END
"""


def estimates_from_row(row: dict) -> dict[str, Estimate]:
    """NPS, CSAT and CES estimates from one row of `SQL_COUNTS` aggregates."""
    g = lambda key: row.get(key) or 0  # noqa: E731 - SUM over no rows is NULL
    return {
        "nps": nps_from_counts(g("promoters"), g("passives"), g("detractors")),
        "csat": csat_from_counts(g("csat_satisfied"), g("csat_n")),
        "ces": mean_from_sums("CES", g("ces_n"), g("ces_sum"), g("ces_sum_sq")),
    }

"""Each group against the rest of the network, shrunk toward it, labelled and ranked.

    table = benchmark(db, Metric.parse("nps"), by="location", filters=Filters(...))
    table.rows[0]   # {"group": "Old Town", "n": 412, "estimate": 12.1, "ci_low": ...,
                    #  "shrunk": 13.0, ..., "diff": -9.8, "p_value": ..., "q_value": ...,
                    #  "label": "worse", "rank": 8}

- Raw estimate with its 95% interval: Wilson for shares, Wald on the trinomial for NPS,
  Student t for means.
- Against the rest of the network (everyone else, pooled): difference, 95% interval and a
  two-sided z test; Benjamini-Hochberg across every group tested at once (and across
  metrics when `benchmark_many` tests several together). Groups under the minimum n are not
  tested and not ranked: "too few responses".
- Empirical Bayes: shares with a beta prior, NPS and means with a normal prior, each
  estimated from the network's groups by moments; the posterior mean and its 95% interval.
  Ranks follow the shrunk value, so a branch with 9 responses and an extreme raw value
  does not top the table.
- Funnel limits: the network value +- 1.96 and 3.09 standard errors at each n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import sqlite_utils
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from analysis.benchmarks.metrics import Metric, group_sums
from analysis.domain.filters import Filters

MIN_N = 30
"""Groups with fewer responses are shown greyed, not tested, not ranked."""
Z95, Z998 = stats.norm.ppf(0.975), stats.norm.ppf(0.999)
COMPARISON_TEST = "two-sample z test against the rest of the network, Benjamini-Hochberg"
LABELS = ("better", "worse", "not distinguishable", "too few responses")


@dataclass
class Benchmark:
    metric: Metric
    by: str
    network: dict
    """n, estimate, ci_low, ci_high over every group."""
    rows: list[dict]
    prior: dict = field(default_factory=dict)
    """The empirical-Bayes prior: kind, mean, and spread (tau or alpha/beta)."""
    min_n: int = MIN_N


def _mean_var(n: int, total: float, total_sq: float) -> tuple[float, float]:
    mean = total / n
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    return mean, var


def raw_interval(metric: Metric, n: int, total: float, total_sq: float):
    """(estimate, low, high) of one group's metric."""
    if n == 0:
        return None, None, None
    mean, var = _mean_var(n, total, total_sq)
    if metric.kind == "share":
        low, high = proportion_confint(round(total / 100), n, alpha=0.05, method="wilson")
        return mean, low * 100, high * 100
    if n == 1:
        return mean, None, None
    if metric.kind == "nps":
        # Var of the trinomial (+100/0/-100) mean: the sample variance with n in the divisor.
        half = Z95 * math.sqrt(var * (n - 1) / n / n)
        return mean, max(-100.0, mean - half), min(100.0, mean + half)
    half = stats.t.ppf(0.975, n - 1) * math.sqrt(var / n)
    return mean, mean - half, mean + half


def _against_rest(n, total, total_sq, net_n, net_total, net_sq):
    rest_n = net_n - n
    if n < 2 or rest_n < 2:
        return None, None, None, None
    mean, var = _mean_var(n, total, total_sq)
    rest_mean, rest_var = _mean_var(rest_n, net_total - total, net_sq - total_sq)
    diff = mean - rest_mean
    se = math.sqrt(var / n + rest_var / rest_n)
    # The test's standard error is the one its null implies (the group's answers drawn
    # like everyone's: the network's variance on both sides), not each side's own. A small
    # group whose answers happen to agree (45 of 50 satisfied, hardly a low rating) has a
    # tiny variance of its own and so a huge z: with 100 locations of 50 and no true
    # difference, BH still flagged someone in about 25% (CSAT) to 40% (ratings) of data
    # sets instead of about 5%. The interval keeps each side's own variance.
    null_se = math.sqrt(_mean_var(net_n, net_total, net_sq)[1] * (1 / n + 1 / rest_n))
    if null_se == 0:
        return diff, diff - Z95 * se, diff + Z95 * se, (1.0 if diff == 0 else 0.0)
    p = 2 * stats.norm.sf(abs(diff) / null_se)
    return diff, diff - Z95 * se, diff + Z95 * se, float(p)


def _shrink(metric: Metric, rows: list[dict], network_mean: float, min_n: int) -> dict:
    """Fill shrunk, shrunk_low, shrunk_high per row; return the prior."""
    usable = [r for r in rows if r["n"] >= 2]
    if metric.kind == "share":
        mu = min(max(network_mean / 100, 1e-6), 1 - 1e-6)
        shares = np.array([r["total"] / 100 / r["n"] for r in usable]) if usable else None
        ns = np.array([r["n"] for r in usable]) if usable else None
        tau2 = 0.0
        # The prior is centred on the network's estimate, not on its true share: v_mu is
        # that estimate's variance, added to every posterior interval below.
        v_mu = mu * (1 - mu) / ns.sum() if usable else 0.0
        if usable and len(usable) >= 3:
            weights = ns / ns.sum()
            between = float(np.sum(weights * (shares - mu) ** 2))
            # E[between] = tau2 (1 - sum w^2) + (k - 1) mu (1 - mu) / N with weights n / N
            # (the network share is estimated from the same groups).
            tau2 = max((between - (len(usable) - 1) * mu * (1 - mu) / ns.sum())
                       / (1 - float(np.sum(weights ** 2))), 0.0)
            v_mu += tau2 * float(np.sum(weights ** 2))
        # Prior concentration a+b from the between-group variance; a tiny tau2 (groups that
        # differ by no more than chance) means shrinking nearly all the way.
        concentration = mu * (1 - mu) / tau2 - 1 if tau2 > 0 else 1e6
        concentration = min(max(concentration, 1.0), 1e6)
        a, b = mu * concentration, (1 - mu) * concentration
        for r in rows:
            hits = r["total"] / 100
            post_a, post_b = a + hits, b + r["n"] - hits
            mean = post_a / (post_a + post_b)
            r["shrunk"] = mean * 100
            # The beta posterior's variance plus the network estimate's, weighted by how much
            # of the posterior is prior; the interval is the beta of that mean and variance.
            pull = concentration / (concentration + r["n"])
            var = mean * (1 - mean) / (post_a + post_b + 1) + pull ** 2 * v_mu
            size = max(mean * (1 - mean) / var - 1, 1e-3)
            r["shrunk_low"], r["shrunk_high"] = (float(v) * 100 for v in stats.beta.ppf(
                [0.025, 0.975], mean * size, (1 - mean) * size))
        return {"kind": "beta", "mean": mu * 100, "alpha": a, "beta": b}
    means = np.array([r["estimate"] for r in usable]) if usable else np.array([])
    # One within-group variance for every group (pooled), not each group's own: five
    # promoters have a variance of 0 of their own, which kept them at +100 with a
    # zero-width interval at the top of the table; and a group whose answers spread more
    # was pulled further than one of equal n, so that it could fall behind a group with a
    # lower raw value.
    dof = sum(r["n"] - 1 for r in usable)
    pooled = sum(_mean_var(r["n"], r["total"], r["total_sq"])[1] * (r["n"] - 1)
                 for r in usable) / dof if dof else 0.0
    n_usable = sum(r["n"] for r in usable)
    tau2 = 0.0
    if len(usable) >= 3:
        # Moments: the spread of group means beyond what their own errors explain, each
        # group weighted by its n as for shares above. Unweighted, one tiny group's extreme
        # mean (five promoters: +100) counted as much as a location of 1,000 and widened
        # the prior so far that it hardly shrank and topped the table.
        # E[sum w (mean - network)^2] = tau2 (1 - sum w^2) + (k - 1) pooled / N.
        weights = np.array([r["n"] for r in usable], dtype=float)
        weights /= weights.sum()
        tau2 = max((float(np.sum(weights * (means - network_mean) ** 2))
                    - (len(usable) - 1) * pooled / n_usable)
                   / (1 - float(np.sum(weights ** 2))), 0.0)
    # The variance of the network mean the prior is centred on (not known exactly).
    v_mu = (tau2 * sum((r["n"] / n_usable) ** 2 for r in usable) + pooled / n_usable) \
        if n_usable else 0.0
    for r in rows:
        if r["n"] < 2:
            r["shrunk"], r["shrunk_low"], r["shrunk_high"] = network_mean, None, None
            continue
        s2 = pooled / r["n"]
        if tau2 == 0:
            # No spread between groups beyond chance: every group is the network, known as
            # well as the network's own mean is (not a zero-width interval).
            post_mean, post_var = network_mean, v_mu
        elif s2 == 0:
            post_mean, post_var = r["estimate"], 0.0
        else:
            post_var = 1 / (1 / tau2 + 1 / s2)
            post_mean = post_var * (network_mean / tau2 + r["estimate"] / s2)
            # Plus the network mean's own uncertainty, as far as the prior weighs.
            post_var += (s2 / (s2 + tau2)) ** 2 * v_mu
        half = Z95 * math.sqrt(post_var)
        r["shrunk"], r["shrunk_low"], r["shrunk_high"] = post_mean, post_mean - half, \
            post_mean + half
    return {"kind": "normal", "mean": network_mean, "tau": math.sqrt(tau2)}


def benchmark(db: sqlite_utils.Database, metric: Metric, *, by: str = "location",
              filters: Filters | None = None, min_n: int = MIN_N) -> Benchmark:
    """Every group of `by` on `metric`: see the module docstring. BH runs over this
    metric's groups; `benchmark_many` runs it over several metrics at once."""
    return benchmark_many(db, [metric], by=by, filters=filters, min_n=min_n)[0]


def benchmark_many(db: sqlite_utils.Database, metrics: list[Metric], *, by: str = "location",
                   filters: Filters | None = None, min_n: int = MIN_N) -> list[Benchmark]:
    """Benchmarks of several metrics, with Benjamini-Hochberg across every group x metric
    tested (what a heatmap of locations x themes shows at once)."""
    out = [_benchmark(db, m, by=by, filters=filters, min_n=min_n) for m in metrics]
    tested = [(b, r) for b in out for r in b.rows if r["p_value"] is not None]
    if tested:
        q = multipletests([r["p_value"] for _, r in tested], method="fdr_bh")[1]
        for (bench, row), q_value in zip(tested, q):
            row["q_value"] = float(q_value)
    for bench in out:
        _label_and_rank(bench)
    return out


def _benchmark(db, metric: Metric, *, by: str, filters, min_n: int) -> Benchmark:
    sums = group_sums(db, metric, by=by, filters=filters)
    net_n = sum(r["n"] for r in sums)
    net_total = sum(r["total"] for r in sums)
    net_sq = sum(r["total_sq"] for r in sums)
    estimate, low, high = raw_interval(metric, net_n, net_total, net_sq)
    network = {"n": net_n, "estimate": estimate, "ci_low": low, "ci_high": high,
               "sd": math.sqrt(_mean_var(net_n, net_total, net_sq)[1]) if net_n > 1 else None}
    rows = []
    for r in sums:
        value, lo, hi = raw_interval(metric, r["n"], r["total"], r["total_sq"])
        row = {"group": r["group"], "n": r["n"], "estimate": value, "ci_low": lo,
               "ci_high": hi, "network": estimate, "diff": None, "diff_low": None,
               "diff_high": None, "p_value": None, "q_value": None,
               "total": r["total"], "total_sq": r["total_sq"]}
        if r["n"] >= min_n:
            row["diff"], row["diff_low"], row["diff_high"], row["p_value"] = _against_rest(
                r["n"], r["total"], r["total_sq"], net_n, net_total, net_sq)
        rows.append(row)
    prior = _shrink(metric, rows, estimate, min_n) if rows else {}
    return Benchmark(metric, by, network, rows, prior, min_n)


def _label_and_rank(bench: Benchmark, alpha: float = 0.05) -> None:
    sign = 1 if bench.metric.higher_is_better else -1
    for r in bench.rows:
        if r["n"] < bench.min_n:
            r["label"] = "too few responses"
        elif r["q_value"] is not None and r["q_value"] <= alpha and r["diff"]:
            r["label"] = "better" if sign * r["diff"] > 0 else "worse"
        else:
            r["label"] = "not distinguishable"
    ranked = sorted((r for r in bench.rows if r["n"] >= bench.min_n),
                    # Ties in the shrunk value (no spread between groups) fall back on
                    # the raw value, then the name, never the name alone.
                    key=lambda r: (-sign * r["shrunk"], -sign * (r["estimate"] or 0)))
    for rank, r in enumerate(ranked, start=1):
        r["rank"] = rank
    for r in bench.rows:
        r.setdefault("rank", None)
        r.pop("total", None)
        r.pop("total_sq", None)
    bench.rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["group"]))


def funnel_limits(bench: Benchmark, n_values) -> dict[str, list[float]]:
    """Control limits around the network value at each n: 95% and 99.8%."""
    estimate, n = bench.network["estimate"], bench.network["n"]
    if estimate is None or n < 2:
        return {}
    sd = bench.network["sd"]
    if bench.metric.kind == "share":
        p = estimate / 100
        sd = math.sqrt(p * (1 - p)) * 100
    if not sd:
        return {}
    ns = np.asarray(list(n_values), dtype=float)
    se = sd / np.sqrt(np.maximum(ns, 1))
    return {"n": ns.tolist(), "low95": (estimate - Z95 * se).tolist(),
            "high95": (estimate + Z95 * se).tolist(),
            "low998": (estimate - Z998 * se).tolist(), "high998": (estimate + Z998 * se).tolist()}

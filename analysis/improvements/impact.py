"""Did the change work? Four estimates of an improvement's effect on its measure, and a
headline verdict from the one whose error rate holds on real data.

    result = estimate_impact(cells, treated=["Harbour Street"], pre_end=date(2025, 3, 3),
                             post_start=date(2025, 3, 3), last_week=date(2025, 6, 23))
    result.headline.effect, result.headline.ci_low, result.headline.p_value

`cells` holds per location and ISO week (Monday) the sums n, total, total_sq of the
measure's values (see measures.py). The windows: `window_weeks` complete weeks before the
change (ending before `pre_end`) and as many from `post_start` (weeks between, the roll-out,
are left out), the post window cut at `last_week`, the last complete week.

1. before/after (Welch t on the responses): descriptive only, since real series drift
   (placebo changes at random dates come out "significant" 26-33% of the time).
2. interrupted time series on the treated locations' weekly means (level and slope change,
   WLS by volume, Newey-West errors).
3. difference-in-differences against untouched comparison locations: location and week
   fixed effects, errors clustered by location, with an event study of leads and lags as the
   parallel-trends check. With one treated location the clustered errors are not to be
   trusted (66-81% false alarms on real data), so it is never the headline.
4. The headline: randomization inference. The statistic is the studentized
   difference-in-differences change, (treated change - comparison change) / its standard
   error; its p-value is its rank among the same statistic computed where nothing changed:
   at every untouched location in turn against the others (placebo in space), or, with
   fewer than 19 of them (the smallest p-value is then above 5%), at every week of the
   treated locations' own history whose windows miss the change (placebo in time). The
   design is chosen by that rule before any p-value is seen. The interval inverts the test:
   every effect the placebo distribution would not reject at 5%.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

ALPHA = 0.05
WINDOW_WEEKS = 8
MIN_PLACEBOS = 19
"""With 19 placebos the smallest possible p-value is 1/20 = 5%."""
MIN_UNIT_N = 10
"""A comparison location needs this many responses in each window to take part."""
MIN_WINDOW_N = 30
"""Fewer treated responses in a window than this is "too little data"."""
Z80 = stats.norm.ppf(0.80)
FIT_FAILURES = (np.linalg.LinAlgError, ValueError, ZeroDivisionError)
"""What statsmodels raises when a design has no degrees of freedom left."""


@dataclass
class Estimate:
    method: str
    label: str
    test: str
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_pre: int
    n_post: int
    assumptions: str
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ImpactResult:
    headline: Estimate
    estimates: list[Estimate]
    n_pre: int
    n_post: int
    min_detectable_effect: float | None
    warnings: list[str]
    design: dict
    windows: dict
    comparison: list[str]
    event_study: list[dict] = field(default_factory=list)
    series: pd.DataFrame | None = None
    """Per week: treated and comparison means and n, for the chart."""

    def estimate(self, method: str) -> Estimate | None:
        return next((e for e in self.estimates if e.method == method), None)


# ------------------------------------------------------------------ sums


def _sums(cells: pd.DataFrame, locations, weeks: list[date]) -> tuple[int, float, float]:
    part = cells[cells["location"].isin(list(locations)) & cells["week"].isin(weeks)]
    return int(part["n"].sum()), float(part["total"].sum()), float(part["total_sq"].sum())


def _mean_var(n: int, total: float, total_sq: float) -> tuple[float, float]:
    mean = total / n
    var = max(total_sq - n * mean * mean, 0.0) / (n - 1) if n > 1 else 0.0
    return mean, var


def _change(cells, locations, pre: list[date], post: list[date]):
    """(post mean - pre mean, its variance, n_pre, n_post); None without two responses a side."""
    n0, t0, q0 = _sums(cells, locations, pre)
    n1, t1, q1 = _sums(cells, locations, post)
    if n0 < 2 or n1 < 2:
        return None
    m0, v0 = _mean_var(n0, t0, q0)
    m1, v1 = _mean_var(n1, t1, q1)
    return m1 - m0, v0 / n0 + v1 / n1, n0, n1


def _weeks(start: date, count: int) -> list[date]:
    return [start + timedelta(weeks=k) for k in range(count)]


# ------------------------------------------------------------------ the estimates


def before_after(cells, treated, pre, post) -> Estimate:
    n0, t0, q0 = _sums(cells, treated, pre)
    n1, t1, q1 = _sums(cells, treated, post)
    label, test = "Before/after (descriptive)", "Welch t-test, treated responses before vs after"
    assumptions = ("nothing but the change moved the measure between the windows; drift and "
                   "season alone move it, so this is descriptive")
    if n0 < 2 or n1 < 2:
        return Estimate("before_after", label, test, None, None, None, None, n0, n1,
                        assumptions, "too few responses")
    m0, v0 = _mean_var(n0, t0, q0)
    m1, v1 = _mean_var(n1, t1, q1)
    se = math.sqrt(v0 / n0 + v1 / n1)
    effect = m1 - m0
    if se == 0:
        return Estimate("before_after", label, test, effect, effect, effect, None, n0, n1,
                        assumptions, "no variation")
    df = (v0 / n0 + v1 / n1) ** 2 / (
        (v0 / n0) ** 2 / max(n0 - 1, 1) + (v1 / n1) ** 2 / max(n1 - 1, 1)) \
        if v0 + v1 > 0 else n0 + n1 - 2
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    p = 2 * stats.t.sf(abs(effect / se), df)
    return Estimate("before_after", label, test, effect, effect - crit * se,
                    effect + crit * se, float(p), n0, n1, assumptions)


def _weekly_means(cells, locations, weeks) -> pd.DataFrame:
    part = cells[cells["location"].isin(list(locations)) & cells["week"].isin(weeks)]
    grouped = part.groupby("week")[["n", "total"]].sum()
    grouped = grouped[grouped["n"] > 0]
    return pd.DataFrame({"week": grouped.index, "n": grouped["n"].to_numpy(),
                         "mean": (grouped["total"] / grouped["n"]).to_numpy()})


def interrupted_time_series(cells, treated, pre, post) -> Estimate:
    label = "Interrupted time series"
    test = "WLS of weekly means on time, level and slope change; Newey-West errors"
    assumptions = ("the treated locations' pre-change trend would have continued; weekly "
                   "noise is stationary")
    n_pre, n_post = _sums(cells, treated, pre)[0], _sums(cells, treated, post)[0]
    if not post:
        return Estimate("its", label, test, None, None, None, None, n_pre, n_post, assumptions,
                        "needs at least 3 weeks with responses on each side")
    weekly = _weekly_means(cells, treated, pre + post)
    first = pre[0]
    weekly["t"] = [(w - first).days / 7 for w in weekly["week"]]
    weekly["after"] = weekly["week"].isin(post).astype(float)
    start = (post[0] - first).days / 7
    weekly["since"] = (weekly["t"] - start) * weekly["after"]
    if (weekly["after"] == 0).sum() < 3 or (weekly["after"] == 1).sum() < 3:
        return Estimate("its", label, test, None, None, None, None, n_pre, n_post, assumptions,
                        "needs at least 3 weeks with responses on each side")
    design = sm.add_constant(weekly[["t", "after", "since"]].to_numpy(float),
                             has_constant="add")
    lags = max(1, int(4 * (len(weekly) / 100) ** (2 / 9)))
    fit = sm.WLS(weekly["mean"].to_numpy(float), design,
                 weights=weekly["n"].to_numpy(float)).fit(cov_type="HAC",
                                                          cov_kwds={"maxlags": lags})
    low, high = fit.conf_int(alpha=ALPHA)[2]
    return Estimate("its", label, test, float(fit.params[2]), float(low), float(high),
                    float(fit.pvalues[2]), n_pre, n_post, assumptions,
                    f"slope change {fit.params[3]:+.2f} per week")


def difference_in_differences(cells, treated, comparison, pre, post) -> tuple[Estimate, list]:
    """The DiD estimate and its event study (one row per week relative to the change)."""
    label = "Difference-in-differences"
    test = ("WLS on location-week means, location and week fixed effects, errors clustered "
            "by location")
    assumptions = ("treated and comparison locations would have moved in parallel; "
                   "clustered errors need many treated locations")
    n_pre, n_post = _sums(cells, treated, pre)[0], _sums(cells, treated, post)[0]
    if not comparison or not post:
        return Estimate("did", label, test, None, None, None, None, n_pre, n_post, assumptions,
                        "no comparison location" if post else "no week after the change"), []
    weeks = pre + post
    rows = [_weekly_means(cells, treated, weeks).assign(unit="treated", treated=1.0)]
    rows += [_weekly_means(cells, [loc], weeks).assign(unit=loc, treated=0.0)
             for loc in comparison]
    panel = pd.concat(rows, ignore_index=True)
    panel["after"] = panel["week"].isin(post).astype(float)
    panel["d"] = panel["treated"] * panel["after"]
    units = pd.get_dummies(panel["unit"], drop_first=True, dtype=float)
    week_fe = pd.get_dummies(panel["week"].astype(str), drop_first=True, dtype=float)
    groups = pd.factorize(panel["unit"])[0]
    design = pd.concat([panel[["d"]], units, week_fe], axis=1)
    design.insert(0, "const", 1.0)
    try:
        fit = sm.WLS(panel["mean"].to_numpy(float), design.to_numpy(float),
                     weights=panel["n"].to_numpy(float)).fit(cov_type="cluster",
                                                             cov_kwds={"groups": groups})
        low, high = fit.conf_int(alpha=ALPHA)[1]
    except FIT_FAILURES:
        # One comparison location: as many parameters as cells, nothing left for an error.
        return Estimate("did", label, test, None, None, None, None, n_pre, n_post,
                        assumptions, "too few locations for clustered errors"), []
    note = "one treated unit: clustered errors overstate significance" \
        if len(set(groups)) < 30 else ""
    if not all(math.isfinite(v) for v in (low, high, fit.pvalues[1])):
        # Exactly identified (one comparison location): a point estimate, no error.
        return Estimate("did", label, test, float(fit.params[1]), None, None, None, n_pre,
                        n_post, assumptions, "too few locations for clustered errors"), []
    estimate = Estimate("did", label, test, float(fit.params[1]), float(low), float(high),
                        float(fit.pvalues[1]), n_pre, n_post, assumptions, note)
    return estimate, _event_study(panel, units, week_fe, groups, pre, post)


def _event_study(panel, units, week_fe, groups, pre, post) -> list[dict]:
    relative = {w: -(len(pre) - k) for k, w in enumerate(pre)}
    relative |= {w: k for k, w in enumerate(post)}
    # The reference is the last week before the change in which the treated locations had
    # responses: were it empty, the lead and lag dummies would add up to the treated unit's
    # own effect and every estimate would carry an arbitrary offset.
    treated_weeks = {relative[w] for w in panel.loc[panel["treated"] == 1, "week"]}
    before = [k for k in treated_weeks if k < 0]
    if not before:
        return []
    reference = max(before)
    leads_lags = sorted(treated_weeks - {reference})
    columns = {}
    for k in leads_lags:
        columns[f"k{k}"] = ((panel["treated"] == 1)
                            & (panel["week"].map(relative) == k)).astype(float)
    design = pd.concat([pd.DataFrame(columns), units, week_fe], axis=1)
    design.insert(0, "const", 1.0)
    keep = design.columns[design.abs().sum() > 0]
    design = design[keep]
    try:
        fit = sm.WLS(panel["mean"].to_numpy(float), design.to_numpy(float),
                     weights=panel["n"].to_numpy(float)).fit(cov_type="cluster",
                                                             cov_kwds={"groups": groups})
    except FIT_FAILURES:
        return []
    params = dict(zip(design.columns, fit.params))
    bse = dict(zip(design.columns, fit.bse))
    out = [{"relative_week": reference, "estimate": 0.0, "ci_low": 0.0, "ci_high": 0.0}]
    for k in leads_lags:
        name = f"k{k}"
        if name in params:
            # No finite error (JSON has no NaN): the point alone.
            se = bse[name] if np.isfinite(bse[name]) else None
            out.append({"relative_week": k, "estimate": float(params[name]),
                        "ci_low": None if se is None else float(params[name] - 1.96 * se),
                        "ci_high": None if se is None else float(params[name] + 1.96 * se)})
    return sorted(out, key=lambda r: r["relative_week"])


def pre_trend_p(cells, treated, comparison, pre) -> float | None:
    """p-value of a linear trend in (treated - comparison) weekly means over the pre window
    (WLS, HC1): parallel pre-trends are the DiD's assumption."""
    if not comparison:
        return None
    a = _weekly_means(cells, treated, pre).set_index("week")
    b = _weekly_means(cells, comparison, pre).set_index("week")
    both = a.add_suffix("_t").join(b.add_suffix("_c"), how="inner")
    if len(both) < 4:
        return None
    gap = both["mean_t"] - both["mean_c"]
    t = np.array([(w - pre[0]).days / 7 for w in both.index])
    weights = 1 / (1 / both["n_t"] + 1 / both["n_c"])
    fit = sm.WLS(gap.to_numpy(float), sm.add_constant(t, has_constant="add"),
                 weights=weights.to_numpy(float)).fit(cov_type="HC1")
    return float(fit.pvalues[1])


# ------------------------------------------------------------------ randomization inference


def _statistic(cells, treated, comparison, pre, post):
    """(studentized DiD change, the DiD change, its standard error, n_pre, n_post); the
    change alone where there is no comparison; None without the data."""
    own = _change(cells, treated, pre, post)
    if own is None:
        return None
    change, var, n0, n1 = own
    if comparison:
        other = _change(cells, comparison, pre, post)
        if other is None:
            return None
        change, var = change - other[0], var + other[1]
    se = math.sqrt(var)
    if se == 0:
        return None
    return change / se, change, se, n0, n1


def _eligible(cells, locations, pre, post) -> list[str]:
    return [loc for loc in locations
            if _sums(cells, [loc], pre)[0] >= MIN_UNIT_N
            and _sums(cells, [loc], post)[0] >= MIN_UNIT_N]


def placebo_in_space(cells, treated, comparison, pre, post) -> list[float]:
    """Each comparison location's studentized change against the other comparisons."""
    out = []
    for loc in comparison:
        others = [c for c in comparison if c != loc]
        found = _statistic(cells, [loc], others, pre, post)
        if found is not None:
            out.append(found[0])
    return out


def placebo_in_time(cells, treated, comparison, *, window: int, first_week: date,
                    last_week: date, real_pre: list[date], real_post: list[date]) -> list[float]:
    """The statistic at every week whose windows (window weeks either side) lie within the
    data and wholly before the change or wholly after it (the roll-out and the change's own
    windows' boundary excluded)."""
    out = []
    week = first_week + timedelta(weeks=window)
    change_start, post_start = real_pre[-1] + timedelta(weeks=1), real_post[0]
    while week + timedelta(weeks=window - 1) <= last_week:
        pre, post = _weeks(week - timedelta(weeks=window), window), _weeks(week, window)
        before = post[-1] < change_start
        after = pre[0] >= post_start
        if before or after:
            found = _statistic(cells, treated, comparison, pre, post)
            if found is not None:
                out.append(found[0])
        week += timedelta(weeks=1)
    return out


def randomization_inference(t_real: float, change: float, se: float,
                            placebos: list[float]) -> tuple[float, float, float, float | None]:
    """(p-value, ci_low, ci_high, critical |t|): the two-sided rank p-value of the real
    statistic among the placebos, and the interval of effects it would not reject at 5%
    (unbounded when the placebos are too few for any p-value to reach 5%)."""
    k = len(placebos)
    magnitudes = np.sort(np.abs(np.asarray(placebos, dtype=float)))[::-1]
    p = (1 + int((magnitudes >= abs(t_real) - 1e-12).sum())) / (k + 1)
    m = math.floor(ALPHA * (k + 1) - 1) + 1
    if m < 1 or m > k:
        return p, -math.inf, math.inf, None
    critical = float(magnitudes[m - 1])
    return p, change - critical * se, change + critical * se, critical


# ------------------------------------------------------------------ all together


def estimate_impact(cells: pd.DataFrame, *, treated: list[str], pre_end: date,
                    post_start: date, last_week: date, window_weeks: int = WINDOW_WEEKS,
                    comparison: list[str] | None = None,
                    first_week: date | None = None) -> ImpactResult:
    """Every estimate and the headline (see the module docstring). `pre_end`: the first
    week the change touches (the pre window ends the week before); `post_start`: the first
    week wholly after it (later than `pre_end` when there is a roll-out); `comparison`:
    the untouched locations to compare with (default: every other location in `cells`)."""
    if window_weeks < 2:
        raise ValueError(f"window_weeks must be at least 2, got {window_weeks}")
    pre = _weeks(pre_end - timedelta(weeks=window_weeks), window_weeks)
    post = [w for w in _weeks(post_start, window_weeks) if w <= last_week]
    first_week = first_week or (cells["week"].min() if len(cells) else pre[0])
    warnings: list[str] = []
    if not post:
        warnings.append("no complete week after the change yet: nothing to measure")
        post = []
    elif len(post) < window_weeks:
        warnings.append(f"only {len(post)} of {window_weeks} weeks after the change are "
                        "complete: the estimates will firm up")
    candidates = comparison if comparison is not None else sorted(
        set(cells["location"]) - set(treated))
    comparison = _eligible(cells, [c for c in candidates if c not in treated], pre, post) \
        if post else []
    if post and comparison != list(candidates):
        dropped = [c for c in candidates if c not in comparison and c not in treated]
        if dropped:
            warnings.append(f"left out of the comparison for fewer than {MIN_UNIT_N} "
                            f"responses in a window: {', '.join(dropped)}")
    n_pre, n_post = _sums(cells, treated, pre)[0], _sums(cells, treated, post)[0]

    estimates = [before_after(cells, treated, pre, post),
                 interrupted_time_series(cells, treated, pre, post)]
    did, event_study = difference_in_differences(cells, treated, comparison, pre, post)
    estimates.append(did)

    real = _statistic(cells, treated, comparison, pre, post) if post else None
    design: dict = {"comparison_locations": len(comparison)}
    if len(comparison) >= MIN_PLACEBOS:
        kind = "space"
        placebos = placebo_in_space(cells, treated, comparison, pre, post)
    else:
        kind = "time"
        placebos = placebo_in_time(cells, treated, comparison, window=window_weeks,
                                   first_week=first_week, last_week=last_week,
                                   real_pre=pre, real_post=post) if post else []
    design |= {"placebo": kind, "placebos": len(placebos),
               "smallest_p": 1 / (len(placebos) + 1)}
    label = ("Randomization inference, placebo in space" if kind == "space"
             else "Randomization inference, placebo in time")
    test = ("rank of the studentized difference-in-differences change among the same "
            "statistic at " + ("every untouched location" if kind == "space"
                               else "placebo dates in the treated locations' own history"))
    if not comparison:
        test = test.replace("difference-in-differences change", "change")
    assumptions = ("where nothing changed the statistic is exchangeable with the treated one: "
                   + ("the treated location is like the untouched ones" if kind == "space"
                      else "the weeks around the change are like any other weeks"))
    mde = None
    if real is None:
        headline = Estimate("randomization", label, test, None, None, None, None, n_pre,
                            n_post, assumptions, "too little data")
    else:
        t_real, change, se, _, _ = real
        p, low, high, critical = randomization_inference(t_real, change, se, placebos)
        headline = Estimate("randomization", label, test, change,
                            None if not math.isfinite(low) else low,
                            None if not math.isfinite(high) else high, p, n_pre, n_post,
                            assumptions, f"{len(placebos)} placebos")
        if critical is not None:
            spread = float(np.std(placebos, ddof=1)) if len(placebos) > 2 else 1.0
            mde = (critical + Z80 * max(spread, 1.0)) * se
    estimates.append(headline)
    if design["smallest_p"] > ALPHA:
        warnings.append(
            f"the design cannot reach 5%: with {len(placebos)} placebo "
            f"{'locations' if kind == 'space' else 'dates'} the smallest p-value is "
            f"1/{len(placebos) + 1} = {design['smallest_p']:.2f}; a longer history or more "
            "untouched locations would help")
    if n_pre < MIN_WINDOW_N or n_post < MIN_WINDOW_N:
        warnings.append(f"too little data: {n_pre} responses before and {n_post} after" + (
            f"; the smallest effect detectable with 80% power is about {mde:.1f}"
            if mde is not None else ""))
    trend_p = pre_trend_p(cells, treated, comparison, pre)
    if trend_p is not None and trend_p < ALPHA:
        warnings.append(f"pre-trends differ: before the change the treated locations were "
                        f"already drifting away from the comparison (trend test p = "
                        f"{trend_p:.3f}), so the difference-in-differences is suspect")
    return ImpactResult(
        headline=headline, estimates=estimates, n_pre=n_pre, n_post=n_post,
        min_detectable_effect=mde, warnings=warnings, design=design | {"pre_trend_p": trend_p},
        windows={"pre_first": pre[0], "pre_last": pre[-1],
                 "post_first": post[0] if post else None,
                 "post_last": post[-1] if post else None, "window_weeks": window_weeks},
        comparison=comparison, event_study=event_study,
        series=_chart_series(cells, treated, comparison))


def _chart_series(cells, treated, comparison) -> pd.DataFrame:
    weeks = sorted(set(cells["week"]))
    a = _weekly_means(cells, treated, weeks).assign(group="treated")
    frames = [a]
    if comparison:
        frames.append(_weekly_means(cells, comparison, weeks).assign(group="comparison"))
    return pd.concat(frames, ignore_index=True)

"""What the Benchmarks page shows, shaped from `analysis.benchmarks`: the ranked table (raw
and shrunk values with intervals, each group against the rest of the network), the funnel
plot's points and limits, the group x theme heatmap (one Benjamini-Hochberg run over every
cell), period-over-period movers and the key drivers with their opportunity. Reads only.

    table = ranked(db, "nps", by="location", filters=Filters(...), min_n=30)
    table.frame          # rank, group, n, estimate [ci], shrunk [ci], diff [ci], p, q, label
    cells = theme_heatmap(db, by="location", filters=Filters(...), min_n=30)
    cells.frame[cells.frame["label"] == "worse"]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlite_utils
from statsmodels.stats.multitest import multipletests

from analysis.benchmarks import drivers as drivers_module
from analysis.benchmarks import metrics, ranking
from analysis.domain.filters import Filters
from analysis.stats.estimates import (Estimate, compare, mean_from_sums, nps_from_counts,
                                      share_from_counts)
from analysis.themes.queries import PARENT, theme_status
from analysis.themes.queries.base import assignments_under, commented_where
from analysis.trends.series import default_level
from analysis.views.trends import theme_labels

METRIC_CHOICES = {"nps": "NPS", "csat": "CSAT (%)", "ces": "CES (1-7)",
                  "rating": "Rating (1-5)", "negative": "Negative share (%)"}
BY_CHOICES = {"location": "Location", "segment": "Segment", "channel": "Channel",
              "touchpoint": "Touchpoint"}
MAX_HEATMAP_THEMES = 15
ALL_LOCATIONS = "All locations"
TOO_FEW = "too few responses"

NO_FEEDBACK = ("No feedback yet. Import a file on the Import page, or load the demo data "
               "(`python -m analysis demo`); benchmarks follow once there are responses.")
NO_THEMES = ("No themes yet: the heatmap and the key drivers are counted per theme. Run a "
             "theme refresh on the Themes page first.")
LABELS_NOTE = (
    "Labels: **better** / **worse**: the group differs from the rest of the network (everyone "
    "else under these filters, pooled) by more than chance would explain (two-sample z test, "
    "q ≤ 0.05). q is the p-value after the Benjamini-Hochberg correction for testing many "
    "groups at once: of the groups labelled better or worse, at most about 5% are expected to "
    "be false alarms. **not distinguishable**: the data cannot tell the group from the rest. "
    "**too few responses**: under the minimum n, so not tested and not ranked (greyed, at the "
    "bottom). Ranks follow the shrunk value.")


def empty_message(db: sqlite_utils.Database) -> str | None:
    return None if theme_status(db)["feedback"] else NO_FEEDBACK


def has_themes(db: sqlite_utils.Database) -> bool:
    status = theme_status(db)
    return bool(status["themes"] or status["parents"])


def _num(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) \
        else float(value)


def _fmt(value, digits: int = 1) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def digits(metric: metrics.Metric) -> int:
    return 2 if metric.kind == "mean" else 1


# --------------------------------------------------------------------------- ranked table

RANKED_COLUMNS = ["rank", "group", "n", "estimate", "ci_low", "ci_high", "shrunk",
                  "shrunk_low", "shrunk_high", "diff", "diff_low", "diff_high", "p_value",
                  "q_value", "label"]


@dataclass(frozen=True)
class Ranked:
    bench: ranking.Benchmark
    frame: pd.DataFrame
    """RANKED_COLUMNS, ranked groups first (by rank), then the groups under min n."""

    @property
    def metric(self) -> metrics.Metric:
        return self.bench.metric


def ranked(db: sqlite_utils.Database, metric: str, *, by: str, filters: Filters,
           min_n: int) -> Ranked:
    bench = ranking.benchmark(db, metrics.metric_for(db, metric), by=by, filters=filters,
                              min_n=min_n)
    frame = pd.DataFrame([{c: r.get(c) for c in RANKED_COLUMNS} for r in bench.rows],
                         columns=RANKED_COLUMNS)
    for column in RANKED_COLUMNS[3:-1]:
        frame[column] = pd.to_numeric(frame[column].map(_num), errors="coerce")
    frame["rank"] = frame["rank"].astype("Int64")
    return Ranked(bench, frame)


def network_caption(bench: ranking.Benchmark) -> str:
    net, d = bench.network, digits(bench.metric)
    if not net.get("n"):
        return "No responses under these filters."
    return (f"Network {bench.metric.label}: {_fmt(net['estimate'], d)} (95% interval "
            f"{_fmt(net['ci_low'], d)} to {_fmt(net['ci_high'], d)}; n={net['n']:,}), every "
            f"response the sidebar filters keep.")


def shrinkage_caption(table: Ranked) -> str:
    """Why a small group's shrunk value sits nearer the network than its raw value."""
    bench, d = table.bench, digits(table.metric)
    prior = bench.prior
    if not prior:
        return ""
    if prior["kind"] == "beta":
        weight = prior["alpha"] + prior["beta"]
        how = (f"Shrunk: the empirical-Bayes estimate, a beta prior centred on the network's "
               f"{_fmt(prior['mean'], d)}% and worth {weight:,.0f} responses (from how much "
               f"the groups really differ): a group with n responses keeps about "
               f"n / (n + {weight:,.0f}) of its raw distance from the network.")
    elif prior.get("tau"):
        how = (f"Shrunk: the empirical-Bayes estimate, a normal prior centred on the network's "
               f"{_fmt(prior['mean'], d)} with a spread of {_fmt(prior['tau'], d)} between "
               f"groups: the noisier a group's raw value (small n), the more it is pulled "
               f"toward the network.")
    else:
        how = ("Shrunk: the empirical-Bayes estimate; here the groups differ no more than "
               "chance would make them differ, so every shrunk value is the network's and "
               "the ranks are ties (listed by name).")
    moved = table.frame.dropna(subset=["estimate", "shrunk"])
    distance = (moved["estimate"] - moved["shrunk"]).abs()
    if moved.empty or distance.max() < 10 ** -d:
        return how
    row = moved.loc[distance.idxmax()]
    return (f"{how} Moved most: {row['group']} (n={int(row['n']):,}), raw "
            f"{_fmt(row['estimate'], d)} → shrunk {_fmt(row['shrunk'], d)}. Ranks use the "
            f"shrunk value, so a small branch with an extreme raw value does not top the table.")


# --------------------------------------------------------------------------- funnel plot

@dataclass(frozen=True)
class Funnel:
    points: pd.DataFrame
    """group, n, estimate, label, outside95, outside998 (groups with a value)."""
    limits: pd.DataFrame
    """n, low95, high95, low998, high998 (empty when the network has no spread)."""
    network: float | None


def funnel(table: Ranked) -> Funnel:
    bench = table.bench
    points = table.frame.dropna(subset=["estimate"])[["group", "n", "estimate", "label"]]
    points = points.reset_index(drop=True)
    if points.empty:
        return Funnel(points, pd.DataFrame(), bench.network.get("estimate"))
    top = max(int(points["n"].max() * 1.15), 10)
    grid = np.unique(np.geomspace(2, top, 80).round())
    limits = pd.DataFrame(ranking.funnel_limits(bench, grid))
    if not limits.empty:
        at = ranking.funnel_limits(bench, points["n"])
        points["outside95"] = ((points["estimate"] < at["low95"])
                               | (points["estimate"] > at["high95"]))
        points["outside998"] = ((points["estimate"] < at["low998"])
                                | (points["estimate"] > at["high998"]))
    return Funnel(points, limits, bench.network.get("estimate"))


# --------------------------------------------------------------------------- heatmap

HEATMAP_COLUMNS = ["group", "theme_id", "theme", "n", "mentions", "estimate", "ci_low",
                   "ci_high", "shrunk", "network", "diff", "diff_low", "diff_high",
                   "better_by", "p_value", "q_value", "label", "higher_is_better", "mark"]


@dataclass(frozen=True)
class ThemeHeatmap:
    level: str
    frame: pd.DataFrame
    """HEATMAP_COLUMNS: one row per group x theme. estimate: the theme's share (%) of the
    group's commented responses (n); diff: minus the rest of the network's (points);
    better_by: diff signed so that positive is better (a problem theme's lower share)."""
    themes_shown: int
    themes_total: int
    tested: int


def top_themes(db: sqlite_utils.Database, filters: Filters, level: str) -> list[tuple[int, int]]:
    """(theme id, mentions) of the active themes at `level` under the filters, most first."""
    where, params = commented_where(filters)
    assigned, aparams = assignments_under(level, where, params)
    return [(int(t), int(m)) for t, m in db.execute(
        f"""SELECT ta.theme_id, COUNT(*) AS mentions FROM feedback f
            CROSS JOIN {assigned} ta ON ta.feedback_id = f.id
            JOIN themes t ON t.id = ta.theme_id AND t.status = 'active' AND t.is_parent = ?
            WHERE {where} GROUP BY ta.theme_id ORDER BY mentions DESC, ta.theme_id""",
        [*aparams, int(level == PARENT), *params]).fetchall()]


def theme_heatmap(db: sqlite_utils.Database, *, by: str, filters: Filters, min_n: int,
                  level: str | None = None,
                  max_themes: int = MAX_HEATMAP_THEMES) -> ThemeHeatmap:
    """Every group against the rest of the network on the share of each of the most
    mentioned themes, Benjamini-Hochberg across all the cells at once."""
    level = level or default_level(db)
    counted = top_themes(db, filters, level)
    shown = counted[:max_themes]
    empty = ThemeHeatmap(level, pd.DataFrame(columns=HEATMAP_COLUMNS), 0, len(counted), 0)
    if not shown:
        return empty
    names = theme_labels(db, level)
    benches = ranking.benchmark_many(
        db, [metrics.metric_for(db, f"theme:{t}") for t, _ in shown], by=by, filters=filters,
        min_n=min_n)
    rows = []
    for bench in benches:
        sign = 1 if bench.metric.higher_is_better else -1
        theme_id = bench.metric.theme_id
        for r in bench.rows:
            diff = _num(r["diff"])
            label = r["label"]
            rows.append({
                "group": r["group"], "theme_id": theme_id,
                "theme": names.get(theme_id, f"Theme #{theme_id}"), "n": r["n"],
                "mentions": round((r["estimate"] or 0) * r["n"] / 100),
                "estimate": _num(r["estimate"]), "ci_low": _num(r["ci_low"]),
                "ci_high": _num(r["ci_high"]), "shrunk": _num(r["shrunk"]),
                "network": _num(r["network"]), "diff": diff, "diff_low": _num(r["diff_low"]),
                "diff_high": _num(r["diff_high"]),
                "better_by": None if diff is None else sign * diff,
                "p_value": _num(r["p_value"]), "q_value": _num(r["q_value"]), "label": label,
                "higher_is_better": bench.metric.higher_is_better,
                "mark": label if label in ("better", "worse") else ""})
    frame = pd.DataFrame(rows, columns=HEATMAP_COLUMNS)
    return ThemeHeatmap(level, frame, len(shown), len(counted),
                        int(frame["p_value"].notna().sum()))


def heatmap_caption(cells: ThemeHeatmap, by: str, min_n: int) -> str:
    hidden = cells.themes_total - cells.themes_shown
    themes = (f"the {cells.themes_shown} most mentioned themes of {cells.themes_total}"
              if hidden else f"all {cells.themes_shown} themes mentioned")
    return (f"Each cell: the theme's share of the {BY_CHOICES[by].lower()}'s commented "
            f"responses against the rest of the network's, in points, coloured so that red "
            f"is worse (more of a complaint, or less of a compliment) and blue better. "
            f"Showing {themes} under these filters. Marked cells differ by more than chance "
            f"after Benjamini-Hochberg across all {cells.tested:,} cells tested at once "
            f"(q ≤ 0.05); grey cells have fewer than {min_n} commented responses and are not "
            f"tested. Hover a cell for its share, interval, n and q.")


# --------------------------------------------------------------------------- movers

MOVERS_COLUMNS = ["group", "n_before", "before", "shrunk_before", "n_now", "now",
                  "shrunk_now", "shrunk_change", "change", "change_low", "change_high",
                  "p_value", "q_value"]


@dataclass(frozen=True)
class Movers:
    frame: pd.DataFrame
    """MOVERS_COLUMNS, the largest shrunk move first: raw values (before, now) with their n,
    shrunk values, and the raw change with its 95% interval, p and BH q across groups."""
    network: dict
    """before, now, change, change_low, change_high, p_value, n_before, n_now."""
    previous: Filters
    test: str
    left_out: int


def _estimate(metric: metrics.Metric, n: int, total: float, total_sq: float) -> Estimate:
    """The group's value as an `Estimate` (with its variance), from the sums of its values."""
    if metric.kind == "share":
        return share_from_counts(metric.label, round(total / 100), n)
    if metric.kind == "nps":  # values +100/0/-100: sum = 100 (P - D), sum of squares = 1e4 (P + D)
        promoters = round((total_sq / 1e4 + total / 100) / 2)
        detractors = round((total_sq / 1e4 - total / 100) / 2)
        return nps_from_counts(promoters, n - promoters - detractors, detractors)
    return mean_from_sums(metric.label, n, total, total_sq)


def movers(db: sqlite_utils.Database, metric: str, *, by: str, filters: Filters,
           min_n: int) -> Movers | None:
    """This period (the filters' dates) against the equally long period before it; None
    when the filters have no date range."""
    previous = filters.previous_period()
    if previous is None:
        return None
    parsed = metrics.metric_for(db, metric)
    now, before = (ranking.benchmark(db, parsed, by=by, filters=f, min_n=min_n)
                   for f in (filters, previous))
    sums_now, sums_before = ({r["group"]: r for r in metrics.group_sums(db, parsed, by=by,
                                                                          filters=f)}
                             for f in (filters, previous))
    shrunk_before = {r["group"]: r["shrunk"] for r in before.rows}
    rows, left_out = [], 0
    for r in now.rows:
        group = r["group"]
        old = sums_before.get(group)
        if old is None or r["n"] < min_n or old["n"] < min_n:
            left_out += 1
            continue
        new = sums_now[group]
        current = _estimate(parsed, new["n"], new["total"], new["total_sq"])
        earlier = _estimate(parsed, old["n"], old["total"], old["total_sq"])
        change = compare(current, earlier)
        shrunk_now, shrunk_then = _num(r["shrunk"]), _num(shrunk_before[group])
        rows.append({"group": group, "n_before": old["n"], "before": earlier.value,
                     "shrunk_before": shrunk_then, "n_now": new["n"], "now": current.value,
                     "shrunk_now": shrunk_now,
                     "shrunk_change": (None if shrunk_now is None or shrunk_then is None
                                       else shrunk_now - shrunk_then),
                     "change": change.estimate, "change_low": change.ci_low,
                     "change_high": change.ci_high, "p_value": change.p_value})
    left_out += len(set(sums_before) - set(sums_now))
    frame = pd.DataFrame(rows, columns=MOVERS_COLUMNS)
    tested = frame["p_value"].notna()
    frame["q_value"] = np.nan
    if tested.any():
        frame.loc[tested, "q_value"] = multipletests(frame.loc[tested, "p_value"],
                                                     method="fdr_bh")[1]
    frame = frame.reindex(frame["shrunk_change"].abs().sort_values(ascending=False).index)
    network = {"n_before": before.network["n"], "n_now": now.network["n"]}
    if now.network["n"] and before.network["n"]:
        totals = [(sum(r["n"] for r in s.values()), sum(r["total"] for r in s.values()),
                   sum(r["total_sq"] for r in s.values())) for s in (sums_now, sums_before)]
        current, earlier = (_estimate(parsed, *t) for t in totals)
        change = compare(current, earlier)
        network.update(before=earlier.value, now=current.value, change=change.estimate,
                       change_low=change.ci_low, change_high=change.ci_high,
                       p_value=change.p_value)
    return Movers(frame.reset_index(drop=True), network, previous,
                  "two-sample z test of the raw values, Benjamini-Hochberg across groups",
                  left_out)


def movers_caption(moved: Movers, metric: metrics.Metric, filters: Filters, min_n: int) -> str:
    d, net = digits(metric), moved.network
    period = f"{filters.start} to {filters.end} against {moved.previous.start} to " \
             f"{moved.previous.end}"
    network = ""
    if "change" in net:
        network = (f" Network: {_fmt(net['before'], d)} (n={net['n_before']:,}) → "
                   f"{_fmt(net['now'], d)} (n={net['n_now']:,}), change "
                   f"{_fmt(net['change'], d)} (95% interval {_fmt(net['change_low'], d)} to "
                   f"{_fmt(net['change_high'], d)}).")
    left = (f" {moved.left_out} group(s) with fewer than {min_n} responses in either period "
            f"left out." if moved.left_out else "")
    return (f"{period}. Sorted by how far the shrunk value moved (small groups' noise is "
            f"damped); the change and its 95% interval are of the raw values "
            f"({moved.test}).{network}{left}")


# --------------------------------------------------------------------------- drivers

DRIVER_COLUMNS = ["theme_id", "theme", "mentions", "share", "points", "ci_low", "ci_high",
                  "p_value", "best_quartile_share", "opportunity", "opportunity_low",
                  "opportunity_high"]
DRIVERS_NOTE = ("Observational: a theme's points say how much lower (or higher) the score "
                "is when a comment mentions it, other themes, location and segment held "
                "equal; that is an association, not proof that fixing the theme would move "
                "the score by as much.")


@dataclass(frozen=True)
class DriversView:
    metric: str
    location: str | None
    n: int
    frame: pd.DataFrame
    """DRIVER_COLUMNS, sorted by opportunity (then points)."""
    test: str


def key_drivers(db: sqlite_utils.Database, metric: str, *, location: str | None,
                filters: Filters) -> DriversView:
    found = drivers_module.key_drivers(db, metric=metric, location=location, filters=filters)
    frame = pd.DataFrame([{c: r.get(c) for c in DRIVER_COLUMNS} for r in found.rows],
                         columns=DRIVER_COLUMNS)
    return DriversView(metric, location, found.n, frame, found.test)


def driver_metric(metric: str) -> str:
    """The metric the drivers are shown for: the page's when the model covers it, else NPS."""
    return metric if metric in drivers_module.DRIVER_METRICS else "nps"


def drivers_caption(found: DriversView) -> str:
    where = found.location or ALL_LOCATIONS.lower()
    return (f"{METRIC_CHOICES[found.metric]} points per theme, {where}, from {found.n:,} "
            f"commented responses with a score; bars: 95% intervals ({found.test}). "
            f"Themes mentioned fewer than {drivers_module.MIN_MENTIONS} times are left out. "
            f"Opportunity: the points gained if the theme's share fell to the network's "
            f"best-quartile share (the 25th percentile of the locations' shares). "
            + DRIVERS_NOTE)

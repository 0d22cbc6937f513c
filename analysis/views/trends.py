"""What the Trends page shows, shaped from `analysis.trends`: the theme x location spike
heatmap of one period, a theme's share (or a score) over time with its expected range,
alert markers and trend test, the alert, task and rule tables, and what the sensitivity
setting means in false alarms. Reads only: every write is a call into `analysis.trends`.

    heatmap = spike_heatmap(db, granularity="week", period=date(2026, 9, 28), level="theme")
    heatmap.frame[heatmap.frame.crossed]     # the cells the spike test flags in that week

The heatmap runs the sweep's own test (saved settings, alert episodes left out of the
baselines), so a crossed cell is one the sweep alerted on.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import sqlite_utils
from scipy.stats import betabinom

from analysis.domain.dates import STORED_DATE_SHAPE
from analysis.domain.filters import THEME_PARAM, Filters
from analysis.settings import get_settings
from analysis.stats.estimates import share_from_counts
from analysis.store.clock import from_iso
from analysis.themes.queries import CHILD, PARENT, theme_choices, theme_status
from analysis.trends import alerts as alerts_module
from analysis.trends.periods import PERIOD_DAYS, period_end, period_of, periods_between
from analysis.trends.series import ALL_LOCATIONS, CellCounts, cell_counts, score_series
from analysis.trends.spikes import CellGrid, SpikeSettings, test_period
from analysis.trends.trend import Trend, metric_trend, share_trend
from analysis.trends.triggers import RULE_FIELDS, TriggerRule

ALL_LABEL = "All locations"
LEVEL_LABELS = {PARENT: "Parent themes", CHILD: "Child themes"}
UNITS = {"week": "week", "day": "day"}
MAX_HEATMAP_THEMES = 40
PERIOD_CHOICES = {"week": 156, "day": 180}
WINDOW_CHOICES = {"week": (8, 13, 26, 52, 104), "day": (14, 28, 56, 90)}
DEFAULT_WINDOW = {"week": 26, "day": 56}
METRICS = {"share": "Theme share (%)", "nps": "NPS", "csat": "CSAT (%)", "ces": "CES (1-7)",
           "negative_share": "Negative share (%)", "sentiment": "Mean sentiment (-1 to 1)"}
COUNTED_METRICS = ("csat", "negative_share")  # shares of counts: the GLM trend test fits
WEEKS_PER_MONTH, DAYS_PER_MONTH = 4.35, 30.4
CALIBRATION_PATH = Path(__file__).resolve().parents[1] / "trends" / "calibration.json"
CALIBRATION_COMMAND = "python bench/trends_calibration.py --write-calibration"

NO_FEEDBACK = ("No feedback yet. Import a file on the Import page, or load the demo data "
               "(`python -m analysis demo`); trends and spike alerts follow once comments "
               "have themes.")
NO_THEMES = ("No themes yet: trends and spike alerts are counted per theme. Run a theme "
             "refresh on the Themes page first.")


def empty_message(db: sqlite_utils.Database) -> str | None:
    """What the page says instead of its figures, or None when there is something to show."""
    status = theme_status(db)
    if not status["feedback"]:
        return NO_FEEDBACK
    if not status["themes"] and not status["parents"]:
        return NO_THEMES
    return None


def _step(granularity: str) -> timedelta:
    return timedelta(days=PERIOD_DAYS[granularity])


def _tz(tz: str | None) -> str:
    return tz or get_settings().timezone


# --------------------------------------------------------------------------- periods

def period_options(db: sqlite_utils.Database, granularity: str, *, now: datetime,
                   tz: str | None = None) -> list[date]:
    """Complete periods holding feedback, newest first (the first is the default: the
    latest complete period, or the period of the latest feedback when that is older)."""
    span, tz = db.execute("SELECT MIN(received_at), MAX(received_at) FROM feedback WHERE "
                          "received_at GLOB ?", [STORED_DATE_SHAPE]).fetchone(), _tz(tz)
    if not span or not span[0]:
        return []
    step = _step(granularity)
    last = min(period_of(now, granularity, tz) - step,
               period_of(min(from_iso(span[1]), now), granularity, tz))
    first = max(period_of(from_iso(span[0]), granularity, tz),
                last - step * PERIOD_CHOICES[granularity])
    return periods_between(first, last, granularity)[::-1]


def period_label(period: date, granularity: str) -> str:
    if granularity == "day":
        return f"{period:%a %d %b %Y}"
    return f"Week of {period.isoformat()} (to {period_end(period, 'week').isoformat()})"


def theme_labels(db: sqlite_utils.Database, level: str) -> dict[int, str]:
    """Active themes at `level`, id -> a label unique among them (a repeated name gets its
    id), for axes and select boxes."""
    names = theme_choices(db, level)
    seen = Counter(n.casefold() for n in names.values())
    return {t: (f"{n} (#{t})" if seen[n.casefold()] > 1 else n) for t, n in names.items()}


def location_label(location: str | None) -> str:
    return location if location else ALL_LABEL


# --------------------------------------------------------------------------- heatmap

HEATMAP_COLUMNS = ["theme_id", "theme", "location", "observed", "volume", "expected",
                   "share", "baseline_share", "ratio", "baseline_volume", "p_value", "q_value",
                   "tested", "crossed", "reason", "mark"]


@dataclass(frozen=True)
class Heatmap:
    granularity: str
    level: str
    period: date | None
    settings: SpikeSettings
    frame: pd.DataFrame
    """One row per cell shown: theme_id, theme, location (None: all locations), observed,
    volume, expected, share, baseline_share, ratio, baseline_volume, p_value, q_value,
    tested, crossed, reason (why not tested), mark (what the cell says)."""
    tested: int
    cells: int
    themes_hidden: int = 0

    @property
    def crossed(self) -> pd.DataFrame:
        return self.frame[self.frame["crossed"]]


def _untested_reason(row, settings: SpikeSettings, granularity: str) -> str:
    if not row.volume:
        return "not tested: no commented feedback here in this period"
    if row.baseline_volume < settings.min_baseline_responses:
        return (f"not tested: too little history ({int(row.baseline_volume):,} commented "
                f"responses in the baseline, the minimum is {settings.min_baseline_responses})")
    if granularity == "day":
        return (f"not tested: too little history (responses in fewer than "
                f"{settings.min_baseline_periods} of the baseline's whole weeks, and on "
                f"fewer than {settings.min_baseline_periods} of the same weekdays before)")
    return (f"not tested: too little history (fewer than {settings.min_baseline_periods} "
            f"baseline weeks with responses)")


def _mark(row) -> str:
    return f"▲ q={row.q_value:.2g}" if row.crossed else ""


def spike_heatmap(db: sqlite_utils.Database, *, granularity: str, period: date | None,
                  level: str, tz: str | None = None, settings: SpikeSettings | None = None,
                  max_themes: int = MAX_HEATMAP_THEMES) -> Heatmap:
    """Every cell's spike test in `period` at `level`, with the saved sensitivity: the
    themes with the most mentions in the period (crossed ones always), all locations."""
    settings = settings or alerts_module.alert_settings(db).spikes
    empty = Heatmap(granularity, level, period, settings,
                    pd.DataFrame(columns=HEATMAP_COLUMNS), 0, 0)
    if period is None:
        return empty
    counts = cell_counts(db, granularity=granularity, level=level, tz=_tz(tz), last=period,
                         first=period - _step(granularity) * settings.lookback(granularity))
    grid = CellGrid.from_counts(counts)
    if not grid.cells or period.isoformat() not in grid.periods:
        return empty
    tests = test_period(grid, grid.periods.index(period.isoformat()), settings,
                        alerts_module.episode_periods(db, granularity))
    labels = theme_labels(db, level)
    tests["theme"] = [labels.get(int(t), f"Theme #{int(t)}") for t in tests["theme_id"]]
    tests["reason"] = [("" if row.tested else _untested_reason(row, settings, granularity))
                       for row in tests.itertuples(index=False)]
    tests["mark"] = [_mark(row) for row in tests.itertuples(index=False)]
    network = tests[tests["location"] == ALL_LOCATIONS]
    ranked = network.sort_values(["observed", "theme"], ascending=[False, True])["theme_id"]
    keep = list(ranked[:max_themes]) + list(tests.loc[tests["crossed"], "theme_id"])
    shown = tests[tests["theme_id"].isin(set(keep))].copy()
    shown["location"] = pd.Series([loc or None for loc in shown["location"]],
                                  index=shown.index, dtype=object)
    return Heatmap(granularity, level, period, settings,
                   shown[HEATMAP_COLUMNS].reset_index(drop=True), int(tests["tested"].sum()),
                   len(tests), len(set(tests["theme_id"])) - len(set(shown["theme_id"])))


def ranked_themes(heatmap: Heatmap) -> list[int]:
    """Theme ids of the heatmap, flagged ones first, then by mentions over all locations."""
    network = heatmap.frame[heatmap.frame["location"].isna()]
    flagged = set(heatmap.crossed["theme_id"])
    ranked = sorted(zip(network["theme_id"], network["observed"]),
                    key=lambda tv: (tv[0] not in flagged, -tv[1], tv[0]))
    return [int(t) for t, _ in ranked]


def heatmap_caption(heatmap: Heatmap) -> str:
    unit = UNITS[heatmap.granularity]
    s = heatmap.settings
    text = (f"Colour: the theme's share of commented feedback in the {unit} divided by its "
            f"own baseline share (the {s.baseline_length(heatmap.granularity)} {unit}s "
            f"before, alert periods left out); hover a cell for the counts (n), the expected "
            f"count, p and q. ▲ marks a cell the spike test flags ({SPIKE_SUMMARY}). Grey: "
            f"not tested, too little history (hover says why). {heatmap.tested:,} of "
            f"{heatmap.cells:,} cells tested.")
    if heatmap.themes_hidden:
        text += (f" The {heatmap.frame['theme_id'].nunique()} themes with the most mentions "
                 f"are shown; {heatmap.themes_hidden} more are tested but not drawn.")
    return text


SPIKE_SUMMARY = ("one-sided beta-binomial test against the cell's baseline share, "
                 "Benjamini-Hochberg across the cells of the period")


def settings_caption(settings: SpikeSettings, granularity: str) -> str:
    unit = UNITS[granularity]
    k = settings.min_baseline_periods
    history = (f"responses in each of its last {k} weeks (or on {k} earlier same weekdays)"
               if granularity == "day" else f"{k} baseline weeks with responses")
    return (f"false discovery rate {settings.fdr:.1%}. A cell is tested only "
            f"with at least {settings.min_baseline_responses:,} commented responses at its "
            f"location in the baseline and {history}; it "
            f"alerts only with at least {settings.min_count} mentions in the {unit}.")


def crossed_table(heatmap: Heatmap) -> pd.DataFrame:
    """The flagged cells, largest ratio first, with their counts, p and q."""
    rows = heatmap.crossed.sort_values("ratio", ascending=False)
    return pd.DataFrame({
        "theme": rows["theme"], "location": [location_label(v) for v in rows["location"]],
        "mentions": rows["observed"], "responses": rows["volume"],
        "expected": rows["expected"].round(1), "share_pct": (rows["share"] * 100).round(1),
        "baseline_pct": (rows["baseline_share"] * 100).round(1),
        "ratio": rows["ratio"].round(2), "p_value": rows["p_value"],
        "q_value": rows["q_value"]}).reset_index(drop=True)


# --------------------------------------------------------------------------- lines

@dataclass(frozen=True)
class Lines:
    frame: pd.DataFrame
    """line (label), period (Timestamp), value, low, high (95% interval), n, count,
    band_low, band_high (the spike test's expected 95% range; shares only)."""
    trends: pd.DataFrame
    """One row per line: line, direction, estimate, ci_low, ci_high, p_value, test,
    periods, n, summary."""
    markers: pd.DataFrame
    """Alert periods on the lines: line, period, value, crossed, text."""
    value_label: str


def _window(granularity: str, last: date, periods: int) -> tuple[date, list[date]]:
    step = _step(granularity)
    shown = [last - step * k for k in range(periods - 1, -1, -1)]
    return shown[0], shown


def _one_theme_grid(counts: CellCounts, theme_id: int, keys: list[str]) -> CellGrid:
    """The cells of one theme at `keys` (zero mentions where it has none)."""
    def table(frame: pd.DataFrame, column: str) -> np.ndarray:
        return frame.pivot_table(index="location", columns="period", values=column,
                                 aggfunc="sum").reindex(index=keys, columns=counts.periods,
                                                        fill_value=0).fillna(0).to_numpy(float)

    mentions = counts.mentions[counts.mentions["theme_id"] == int(theme_id)]
    return CellGrid(counts.granularity, counts.periods, [(int(theme_id), k) for k in keys],
                    table(mentions, "mentions"), table(counts.volume, "commented"))


def expected_range(baseline_share: float, baseline_volume: float, overdispersion: float,
                   volume: float) -> tuple[float, float]:
    """The 95% range of a period's share if nothing changed: the beta-binomial the spike
    test uses (`analysis.trends.spikes`: baseline uncertainty plus overdispersion)."""
    rho = min(max(overdispersion, 0.0), 0.5)
    concentration = 1.0 / (1.0 / max(baseline_volume, 1) + rho / (1 - rho))
    a, b = baseline_share * concentration, (1 - baseline_share) * concentration
    low, high = betabinom.ppf([0.025, 0.975], int(volume), a, b)
    return float(low / volume * 100), float(high / volume * 100)


def trend_summary(trend: Trend, unit: str, n: int) -> str:
    """The trend as statsmodels would say it: direction, estimate, interval, p, test."""
    r = trend.result
    if r.estimate is None or r.p_value is None:
        return (f"No trend test: too little data ({trend.periods} {unit}s with data); "
                f"{r.test}.")
    digits = ".3f" if "odds ratio" in r.name else ".2f"
    return (f"{trend.direction.capitalize()} at the 5% level" if trend.direction != "flat"
            else "No significant trend") + (
        f": {r.name} {r.estimate:{digits}} (95% interval {r.ci_low:{digits}} to "
        f"{r.ci_high:{digits}}), p = {r.p_value:.3g}; {r.test}; {trend.periods} {unit}s, "
        f"n = {n:,}.")


def _trend_row(line: str, trend: Trend, unit: str, n: int) -> dict:
    r = trend.result
    return {"line": line, "direction": trend.direction, "estimate": r.estimate,
            "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value, "test": r.test,
            "periods": trend.periods, "n": n, "summary": trend_summary(trend, unit, n)}


LINE_COLUMNS = ["line", "period", "value", "low", "high", "n", "count", "band_low",
                "band_high"]
TREND_COLUMNS = ["line", "direction", "estimate", "ci_low", "ci_high", "p_value", "test",
                 "periods", "n", "summary"]
MARKER_COLUMNS = ["line", "period", "value", "crossed", "text"]


def _lines(rows: list[dict], trends: list[dict], markers: list[dict], label: str) -> Lines:
    return Lines(pd.DataFrame(rows, columns=LINE_COLUMNS),
                 pd.DataFrame(trends, columns=TREND_COLUMNS),
                 pd.DataFrame(markers, columns=MARKER_COLUMNS), label)


def theme_share_lines(db: sqlite_utils.Database, *, theme_id: int, level: str,
                      granularity: str, last: date, periods: int,
                      locations: list[str] | tuple[str, ...] = (), include_all: bool = True,
                      tz: str | None = None, settings: SpikeSettings | None = None) -> Lines:
    """A theme's share per period at each location (and all locations) over the `periods`
    ending at `last`: Wilson 95% intervals, the spike test's expected range, the theme's
    alert periods as markers, and each line's quasi-binomial trend test."""
    settings = settings or alerts_module.alert_settings(db).spikes
    first, shown = _window(granularity, last, periods)
    counts = cell_counts(db, granularity=granularity, level=level, tz=_tz(tz), last=last,
                         first=first - _step(granularity) * settings.lookback(granularity))
    keys = ([ALL_LOCATIONS] if include_all else []) + [loc for loc in locations if loc]
    if not counts.periods or not keys:
        return _lines([], [], [], METRICS["share"])
    grid = _one_theme_grid(counts, theme_id, keys)
    excluded = alerts_module.episode_periods(db, granularity)
    wanted = {p.isoformat() for p in shown}
    rows = []
    for i, period in enumerate(grid.periods):
        if period not in wanted:
            continue
        tests = test_period(grid, i, settings, excluded)
        for t in tests.itertuples(index=False):
            share = share_from_counts("Share", int(t.observed), int(t.volume))
            band = (expected_range(t.baseline_share, t.baseline_volume, t.overdispersion,
                                   t.volume) if t.tested else (None, None))
            rows.append({"line": location_label(t.location), "location": t.location,
                         "period": pd.Timestamp(period), "value": share.value,
                         "low": share.ci_low, "high": share.ci_high, "n": int(t.volume),
                         "count": int(t.observed), "band_low": band[0], "band_high": band[1]})
    frame = pd.DataFrame(rows, columns=[*LINE_COLUMNS, "location"])
    trends = [_trend_row(label, share_trend(list(part["count"]), list(part["n"])),
                         UNITS[granularity], int(part["n"].sum()))
              for label, part in frame.groupby("line", sort=False)]
    return _lines(rows, trends, _alert_markers(db, frame, theme_id=theme_id,
                                               granularity=granularity), METRICS["share"])


def _alert_markers(db, frame: pd.DataFrame, *, theme_id: int, granularity: str) -> list[dict]:
    rows = []
    lookup = {(loc, p): v for loc, p, v in zip(frame["location"], frame["period"],
                                               frame["value"])}
    for alert in alerts_module.list_alerts(db, status="all", theme_id=theme_id,
                                           granularity=granularity):
        location = alert["location"] or ALL_LOCATIONS
        text = f"{alerts_module.describe_alert(alert)} [{alert['status']}, {alert['review']}]"
        for p in alerts_module.alert_periods(db, alert["id"]):
            key = (location, pd.Timestamp(p["period_start"]))
            if key in lookup:
                rows.append({"line": location_label(location), "period": key[1],
                             "value": lookup[key], "crossed": bool(p["crossed"]),
                             "text": text})
    return rows


def metric_lines(db: sqlite_utils.Database, *, metric: str, granularity: str, last: date,
                 periods: int, locations: list[str] | tuple[str, ...] = (),
                 include_all: bool = True, tz: str | None = None) -> Lines:
    """A score (NPS, CSAT, CES, negative share, mean sentiment) per period with its 95%
    interval, at each location and over all, with each line's trend test (a GLM for the
    shares, Mann-Kendall for NPS, CES and sentiment)."""
    first, shown = _window(granularity, last, periods)
    parts = []
    if include_all:
        parts.append(score_series(db, granularity=granularity, first=first, last=last,
                                  tz=_tz(tz), by_location=False).assign(location=None))
    if locations:
        found = score_series(db, granularity=granularity, first=first, last=last, tz=_tz(tz))
        parts.append(found[found["location"].isin(list(locations))])
    parts = [p for p in parts if len(p)]
    if not parts:
        return _lines([], [], [], METRICS[metric])
    series = pd.concat(parts, ignore_index=True)
    series = series[series["metric"] == metric]
    unit, rows, trends = UNITS[granularity], [], []
    for location in ([None] if include_all else []) + [loc for loc in locations if loc]:
        part = series[series["location"].isna()] if location is None else \
            series[series["location"] == location]
        by_period = {str(p): r for p, r in zip(part["period"], part.itertuples(index=False))}
        values, counts, volumes = [], [], []
        for period in shown:
            r = by_period.get(period.isoformat())
            values.append(None if r is None else r.value)
            volumes.append(0 if r is None else int(r.n))
            counts.append(0 if r is None else round(r.value * r.n / 100))
            if r is not None:
                rows.append({"line": location_label(location), "period": pd.Timestamp(period),
                             "value": r.value, "low": r.ci_low, "high": r.ci_high,
                             "n": int(r.n)})
        trend = (share_trend(counts, volumes) if metric in COUNTED_METRICS
                 else metric_trend(values))
        if sum(volumes):
            trends.append(_trend_row(location_label(location), trend, unit, sum(volumes)))
    return _lines(rows, trends, [], METRICS[metric])


# --------------------------------------------------------------------------- alerts

def alerts_with_periods(db: sqlite_utils.Database, status: str) -> list[dict]:
    """`alerts.list_alerts` with each alert's periods (`alert_periods`) under "periods": an
    alert row carries its latest period's figures, which after the peak of an episode are
    no longer the ones that made it cross."""
    return [{**a, "periods": alerts_module.alert_periods(db, a["id"])}
            for a in alerts_module.list_alerts(db, status=status)]


def alert_table(found: list[dict]) -> pd.DataFrame:
    """The alert list as the page shows it: one row per alert, its sentence first, then
    the episode's flagged periods and their smallest q."""
    columns = ["id", "alert", "granularity", "first_period", "period_end", "flagged",
               "min_q", "status", "review", "reviewed_by", "note", "snoozed_until"]
    rows = []
    for a in found:
        flagged = [p for p in a.get("periods", []) if p["crossed"]]
        rows.append({**{k: a.get(k) for k in columns},
                     "alert": alerts_module.describe_alert(a),
                     "flagged": ", ".join(p["period_start"] for p in flagged),
                     "min_q": min((p["q_value"] for p in flagged), default=a["q_value"])})
    return pd.DataFrame(rows, columns=columns)


def periods_table(alert: dict) -> pd.DataFrame:
    """Every period of an alert's episode with its counts, expected count, p and q."""
    columns = ["period_start", "observed", "volume", "expected", "p_value", "q_value",
               "crossed"]
    frame = pd.DataFrame(alert.get("periods", []), columns=columns)
    frame["crossed"] = frame["crossed"].astype(bool)
    return frame


def alert_state(alert: dict) -> str:
    """Status and review in a sentence of our own (names and notes are shown apart)."""
    review = {"new": " Not reviewed yet.", "acknowledged": " Acknowledged.",
              "snoozed": f" Snoozed until {str(alert['snoozed_until'])[:10]}."}
    return ("Open: the spike is still running." if alert["status"] == "open" else
            "Closed: back at its baseline.") + review.get(alert["review"], "")


def themes_link(alert: dict) -> str:
    """A relative link to the Themes page opening the alert's theme, filtered to its
    episode's dates and location."""
    filters = Filters(start=date.fromisoformat(alert["first_period"]),
                      end=date.fromisoformat(alert["period_end"]),
                      locations=(alert["location"],) if alert["location"] else ())
    params = {**filters.to_query_params(), THEME_PARAM: str(int(alert["theme_id"]))}
    return "themes?" + urlencode(params, doseq=True)


def history_table(events: list[dict]) -> pd.DataFrame:
    """An alert's or a rule's events, newest last, with their details as short text."""
    return pd.DataFrame([{"at": e["at"], "event": e["event"], "by": e["actor"],
                          "detail": _detail_text(json.loads(e["detail"] or "{}"))}
                         for e in events], columns=["at", "event", "by", "detail"])


def _detail_text(detail: dict) -> str:
    if "before" in detail and "after" in detail:
        changed = [f"{k}: {detail['before'].get(k)!r} → {v!r}"
                   for k, v in detail["after"].items() if detail["before"].get(k) != v]
        return "; ".join(changed)
    if "after" in detail:
        return "; ".join(f"{k}: {v!r}" for k, v in detail["after"].items())
    return "; ".join(f"{k}: {v}" for k, v in detail.items() if v not in ("", None))[:300]


def last_sweep(db: sqlite_utils.Database) -> str | None:
    """When the sweep last ran, and as of when, in a sentence; None if it never ran."""
    from analysis.sweep import last_sweep as latest_run

    run = latest_run(db)
    if run is None:
        return None
    replay = f", replaying from {run['since']}" if run["since"] else ""
    return (f"The sweep last ran at {run['finished_at']} (as of {run['now']}{replay}), "
            f"by {run['actor']}.")


def sweep_summary(results: dict) -> str:
    return "; ".join(f"{name}: {result.summary()}" for name, result in results.items())


# --------------------------------------------------------------------------- tasks, rules

def tasks_table(tasks: list[dict]) -> pd.DataFrame:
    columns = ["id", "title", "theme", "location", "owner", "due_at", "status", "created_at"]
    return pd.DataFrame([{k: t.get(k) for k in columns} for t in tasks], columns=columns)


def rule_values(rule: dict | None) -> dict:
    """The editable values of a stored rule (`triggers.RULE_FIELDS`), or a new rule's
    defaults, typed as the form's widgets hold them."""
    if rule is None:
        values = asdict(TriggerRule(name=""))
    else:
        values = {k: rule[k] for k in RULE_FIELDS if k in rule}
    for name, kind in (("consecutive", int), ("min_volume", int), ("due_days", int),
                       ("enabled", bool), ("negative_only", bool), ("share_above", float)):
        if name in values:
            values[name] = kind(values[name])
    return values


def rules_table(rules: list[dict], themes: dict[int, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rules, columns=["id", "name", "share_above", "negative_only",
                                         "consecutive", "granularity", "min_volume",
                                         "theme_id", "location", "due_days", "enabled",
                                         "updated_by", "updated_at"])
    frame["share_above"] = (frame["share_above"] * 100).round(2)
    frame["negative_only"] = ["negative mentions" if v else "all mentions"
                              for v in frame["negative_only"].fillna(0)]
    frame["theme_id"] = ["any theme" if pd.isna(t) else themes.get(int(t), f"Theme #{int(t)}")
                         for t in frame["theme_id"]]
    frame["location"] = frame["location"].fillna("any location")
    frame["enabled"] = frame["enabled"].astype(bool)
    return frame.rename(columns={"share_above": "share_above_pct", "negative_only": "counts",
                                 "theme_id": "theme"})


# --------------------------------------------------------------------------- sensitivity

def load_calibration(path: Path = CALIBRATION_PATH) -> dict | None:
    """The benchmark's false alert rates per FDR level, or None when there are none."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
        return {float(k): v for k, v in found["fdr"].items()
                if isinstance(v, dict) and v.get("false_alerts_per_100_cell_weeks") is not None}\
            or None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def calibrated_rate(fdr: float, calibration: dict, unit: str = "week") -> tuple[float, str]:
    """False alerts per 100 cell-weeks (`unit` "day": per 100 cell-days) at `fdr`:
    interpolated between the calibrated levels around it, else the nearest one's; and how
    it was found. ValueError when the calibration has no rate for `unit`."""
    name = f"false_alerts_per_100_cell_{unit}s"
    levels = sorted(lv for lv in calibration if calibration[lv].get(name) is not None)
    if not levels:
        raise ValueError(f"calibration: no {name}")
    rate = {lv: float(calibration[lv][name]) for lv in levels}
    if fdr in rate:
        return rate[fdr], f"calibrated at FDR {fdr:.1%}"
    below = [lv for lv in levels if lv < fdr]
    above = [lv for lv in levels if lv > fdr]
    if below and above:
        lo, hi = below[-1], above[0]
        value = rate[lo] + (rate[hi] - rate[lo]) * (fdr - lo) / (hi - lo)
        return value, f"interpolated between the calibrated FDR {lo:.1%} and {hi:.1%}"
    nearest = min(levels, key=lambda lv: abs(lv - fdr))
    return rate[nearest], f"the nearest calibrated level, FDR {nearest:.1%}"


def false_alarm_note(fdr: float, cells_per_week: int, calibration: dict | None,
                     cells_per_day: int | None = None) -> str:
    """What an FDR level means in false alarms per month, from the calibration benchmark if
    it has run, else the theoretical bound; daily alerts too when `cells_per_day` is given
    and the calibration has daily rates."""
    if calibration:
        rate, how = calibrated_rate(fdr, calibration)
        per_month = rate / 100 * cells_per_week * WEEKS_PER_MONTH
        note = (f"At FDR {fdr:.1%}: about {per_month:.2f} false weekly alerts a month "
                f"({rate:.3g} per 100 cell-weeks with no real spike, {how}, times "
                f"{cells_per_week:,} cells tested a week, times {WEEKS_PER_MONTH} weeks).")
        try:
            day_rate, day_how = calibrated_rate(fdr, calibration, "day")
        except ValueError:
            return note
        if cells_per_day is None:
            return note
        per_month = day_rate / 100 * cells_per_day * DAYS_PER_MONTH
        return note + (f" And about {per_month:.2f} false daily alerts a month ({day_rate:.3g} "
                       f"per 100 cell-days, {day_how}, times {cells_per_day:,} cells tested a "
                       f"day, times {DAYS_PER_MONTH} days).")
    return (f"At FDR {fdr:.1%}, with no real spike anywhere, Benjamini-Hochberg raises any "
            f"false alert in at most {fdr:.1%} of sweep periods: at most "
            f"{fdr * WEEKS_PER_MONTH:.2f} weeks a month with a false weekly alert, and at most "
            f"{fdr * DAYS_PER_MONTH:.1f} days a month with a false daily one (a bound, "
            f"usually not reached; {cells_per_week:,} cells are tested a week). Measured "
            f"rates come from `{CALIBRATION_COMMAND}`.")


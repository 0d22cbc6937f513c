"""The weekly report (issue 23): one ISO week in `CLOSELOOP_TZ` against the weeks before it.

    report = weekly_report(db, week="2025-W19", now=now)   # data only, reads only
    render_html(report)      # one self-contained HTML file (analysis/reports/weekly_html.py)
    render_markdown(report)  # the same sections as Markdown

Sections, each with its test or interval (never a bare better/worse):

- themes: every theme's share of the week's commented feedback against the previous
  BASELINE_WEEKS weeks pooled, overall and at each location (two-proportion z test,
  analysis/stats/proportions; Benjamini-Hochberg across every cell tested), with quotes of
  the week for the themes that rose or fell (always masked, and without their customer's
  name or email: the report is shared, `privacy.shared_quote`), and the location x theme
  cells that stand out against the rest of the network over the whole window
  (analysis/views/benchmarks `theme_heatmap`);
- alerts of the week (spike alerts with a period in the week) and the root-cause tasks a
  run touching the week opened or fired again;
- benchmark movers: each location's NPS and negative share this week against the baseline
  weeks (two-sample z test, Benjamini-Hochberg across locations);
- improvements with their verdicts (`impact_report`, shipped ones, at most
  MAX_IMPROVEMENTS);
- the loop-health scorecard of the week (`loop_health`: figures with n and interval) and the
  SLA targets the "SLA met" figures are judged against.

An empty store gives a report whose sections say there is nothing yet.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import sqlite_utils
from statsmodels.stats.multitest import multipletests

from analysis.domain.comments import has_comment_sql
from analysis.domain.filters import Filters, date_bounds
from analysis.privacy.display import shared_quote
from analysis.settings import get_settings
from analysis.stats.estimates import compare
from analysis.stats.proportions import TWO_PROPORTION_TEST, two_proportion_test
from analysis.store.clock import to_iso, utcnow
from analysis.themes.queries.base import normalise
from analysis.trends.periods import period_close, period_of, period_opening

BASELINE_WEEKS = 6
"""Weeks before the report's week that make its baseline (the issue asks for 4 to 8)."""
ALPHA = 0.05
MIN_WEEK_N = 10
"""Commented responses a cell needs in the week to be tested."""
MIN_BASELINE_N = 30
"""... and in the baseline weeks together."""
MIN_MOVER_N = 10
MAX_IMPROVEMENTS = 10
QUOTES = 2
QUOTE_CHARS = 600
MOVER_METRICS = ("nps", "negative")
MOVERS_TEST = ("two-sample z test of the week against the baseline weeks pooled, "
               "Benjamini-Hochberg across locations")
THEME_TEST = (f"{TWO_PROPORTION_TEST}; the week against the baseline weeks pooled, "
              f"Benjamini-Hochberg across every cell tested (q ≤ {ALPHA})")

SECTIONS = (
    ("summary", "Summary"),
    ("themes", "Rising and falling themes"),
    ("locations", "Themes by location"),
    ("alerts", "Alerts and root-cause tasks"),
    ("movers", "Benchmark movers"),
    ("improvements", "Improvements and their verdicts"),
    ("loop", "Loop-health scorecard"),
)
"""(key, heading) of every section, in order: both renderings use these headings."""

_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)


class WeekError(ValueError):
    """A --week that names no ISO week; the message says what was expected."""


def parse_week(text: str) -> date:
    """'2026-W12' -> the Monday of that ISO week."""
    match = _WEEK.match(text or "")
    if not match:
        raise WeekError(f"expected an ISO week such as 2026-W12, got {str(text)[:40]!r}")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        return date.fromisocalendar(year, number, 1)
    except ValueError:
        raise WeekError(f"{year} has no ISO week {number}") from None


def week_label(monday: date) -> str:
    year, number, _ = monday.isocalendar()
    return f"{year}-W{number:02d}"


def default_week(now: datetime, tz: str) -> date:
    """The Monday of the last complete ISO week in `tz` at `now`."""
    return period_of(now, "week", tz) - timedelta(weeks=1)


@dataclass
class WeeklyReport:
    week: str
    week_start: date
    week_end: date
    timezone: str
    generated_at: str
    baseline_start: date
    baseline_end: date
    baseline_weeks: int
    empty: bool
    """No feedback in the store at all: every section says there is nothing yet."""
    level: str | None = None
    volume: dict = field(default_factory=dict)
    themes: list[dict] = field(default_factory=list)
    """Every theme over all locations: the week's share against the baseline's, with test."""
    location_changes: list[dict] = field(default_factory=list)
    """Cells at one location whose share rose or fell beyond chance (q ≤ ALPHA)."""
    cells_tested: int = 0
    theme_test: str = THEME_TEST
    weekly_periods: list[str] = field(default_factory=list)
    standing_out: list[dict] = field(default_factory=list)
    standing_tested: int = 0
    alerts: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    movers: dict[str, list[dict]] = field(default_factory=dict)
    network_moves: dict[str, dict] = field(default_factory=dict)
    movers_test: str = MOVERS_TEST
    improvements: list[dict] = field(default_factory=list)
    improvements_left_out: int = 0
    loop_health: list[dict] = field(default_factory=list)
    sla_targets: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rising(self) -> list[dict]:
        return [r for r in self.themes if r["direction"] == "rising"]

    @property
    def falling(self) -> list[dict]:
        return [r for r in self.themes if r["direction"] == "falling"]

    @property
    def title(self) -> str:
        return f"Weekly report {self.week}"


def weekly_report(db: sqlite_utils.Database, *, week: str | None = None,
                  now: datetime | None = None) -> WeeklyReport:
    """The report of ISO `week` ('2026-W12'; default: the last complete week in
    CLOSELOOP_TZ at `now`). Reads only. Raises WeekError for a week that does not parse."""
    tz = get_settings().timezone
    now = now or utcnow()
    monday = parse_week(week) if week is not None else default_week(now, tz)
    baseline_start = monday - timedelta(weeks=BASELINE_WEEKS)
    report = WeeklyReport(
        week=week_label(monday), week_start=monday, week_end=monday + timedelta(days=6),
        timezone=tz, generated_at=to_iso(now), baseline_start=baseline_start,
        baseline_end=monday - timedelta(days=1), baseline_weeks=BASELINE_WEEKS,
        empty=date_bounds(db) is None)
    if report.empty:
        return report
    if period_opening(monday, tz) > now:
        report.notes.append("This week has not started yet: its figures are empty.")
    elif period_close(monday, "week", tz) > now:
        report.notes.append("This week is not over yet: its figures are so far.")
    _themes(db, report)
    _standing_out(db, report)
    _alerts_and_tasks(db, report)
    _movers(db, report)
    _improvements(db, report, now)
    _loop_health(db, report, now)
    return report


# ----------------------------------------------------------------------------- themes


def _clean(value):
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _themes(db, report: WeeklyReport) -> None:
    from analysis.trends.series import ALL_LOCATIONS, cell_counts, default_level
    from analysis.views.trends import theme_labels

    level = default_level(db)
    report.level = level
    counts = cell_counts(db, granularity="week", first=report.baseline_start,
                         last=report.week_start, level=level, tz=report.timezone)
    report.weekly_periods = list(counts.periods)
    week = report.week_start.isoformat()
    volume = {(r.period, r.location): int(r.commented)
              for r in counts.volume.itertuples(index=False)}
    mentions = {(r.period, int(r.theme_id), r.location): int(r.mentions)
                for r in counts.mentions.itertuples(index=False)}
    baseline_periods = [p for p in counts.periods if p != week]
    locations = sorted({loc for _, loc in volume} - {ALL_LOCATIONS})
    report.volume = {
        "commented": volume.get((week, ALL_LOCATIONS), 0),
        "baseline_weekly_commented": (sum(volume.get((p, ALL_LOCATIONS), 0)
                                          for p in baseline_periods) / len(baseline_periods)
                                      if baseline_periods else None),
        "responses": _responses(db, report),
        "locations": len(locations),
    }
    names = theme_labels(db, level)
    cells = []
    for theme_id, name in names.items():
        for location in [ALL_LOCATIONS, *locations]:
            x, n = mentions.get((week, theme_id, location), 0), volume.get((week, location), 0)
            bx = sum(mentions.get((p, theme_id, location), 0) for p in baseline_periods)
            bn = sum(volume.get((p, location), 0) for p in baseline_periods)
            tested = n >= MIN_WEEK_N and bn >= MIN_BASELINE_N and (x + bx) > 0
            change = two_proportion_test("Change in share (points)", x, n, bx, bn)
            series = [(mentions.get((p, theme_id, location), 0) / volume[(p, location)] * 100)
                      if volume.get((p, location)) else None for p in counts.periods]
            cells.append({
                "theme_id": theme_id, "theme": name, "location": location or None,
                "mentions": x, "commented": n, "share": x / n * 100 if n else None,
                "baseline_mentions": bx, "baseline_commented": bn,
                "baseline_share": bx / bn * 100 if bn else None,
                "change": _clean(change.estimate), "change_low": _clean(change.ci_low),
                "change_high": _clean(change.ci_high),
                "p_value": _clean(change.p_value) if tested else None, "q_value": None,
                "tested": tested, "direction": "not tested", "series": series, "quotes": [],
            })
    tested = [c for c in cells if c["tested"] and c["p_value"] is not None]
    report.cells_tested = len(tested)
    if tested:
        q_values = multipletests([c["p_value"] for c in tested], method="fdr_bh")[1]
        for cell, q in zip(tested, q_values):
            cell["q_value"] = float(q)
            if q <= ALPHA and cell["change"]:
                cell["direction"] = "rising" if cell["change"] > 0 else "falling"
            else:
                cell["direction"] = "no clear change"
    overall = [c for c in cells if c["location"] is None]
    overall.sort(key=lambda c: (-(c["mentions"] or 0), c["theme"].casefold()))
    report.themes = overall
    moved = [c for c in cells if c["location"] is not None
             and c["direction"] in ("rising", "falling")]
    moved.sort(key=lambda c: (c["direction"] != "rising", c["q_value"], -abs(c["change"])))
    report.location_changes = moved
    for cell in [*overall, *moved]:
        if cell["direction"] in ("rising", "falling"):
            cell["quotes"] = _quotes(db, report, cell["theme_id"], cell["location"])


def _window(report: WeeklyReport) -> tuple[str, str]:
    return (to_iso(period_opening(report.week_start, report.timezone)),
            to_iso(period_close(report.week_start, "week", report.timezone)))


def _responses(db, report: WeeklyReport) -> int:
    start, stop = _window(report)
    return db.execute("SELECT COUNT(*) FROM feedback f WHERE f.received_at >= ? AND "
                      "f.received_at < ?", [start, stop]).fetchone()[0]


def _quotes(db, report: WeeklyReport, theme_id: int, location: str | None) -> list[str]:
    """The week's most typical comments of the theme (or its children) at `location`, as a
    shared report may quote them: masked, without their customer's name or email
    (`privacy.shared_quote`: the report is mailed to a list and forwarded on)."""
    start, stop = _window(report)
    where, params = "", []
    if location is not None:
        where, params = "AND f.location = ?", [location]
    rows = db.execute(
        f"""SELECT f.comment, f.customer_name, f.customer_email FROM feedback f
            JOIN theme_assignments a ON a.feedback_id = f.id
            JOIN themes c ON c.id = a.theme_id AND c.status = 'active'
                          AND (c.id = ? OR c.parent_id = ?)
            WHERE f.received_at >= ? AND f.received_at < ? AND {has_comment_sql('f')} {where}
            ORDER BY a.probability DESC, f.id LIMIT 40""",
        [theme_id, theme_id, start, stop, *params]).fetchall()
    kept, seen = [], set()
    for text, name, email in rows:
        quote = shared_quote(text.strip(), names=[name], emails=[email], cut_at=QUOTE_CHARS)
        key = normalise(quote)
        if key not in seen:
            seen.add(key)
            kept.append(quote)
        if len(kept) == QUOTES:
            break
    return kept


def _standing_out(db, report: WeeklyReport) -> None:
    """Location x theme cells that differ from the rest of the network over the baseline
    weeks and the week together (a standing problem, not a change)."""
    from analysis.views.benchmarks import theme_heatmap

    filters = Filters(start=report.baseline_start, end=report.week_end)
    cells = theme_heatmap(db, by="location", filters=filters, min_n=MIN_BASELINE_N,
                          level=report.level)
    frame = cells.frame
    report.standing_tested = int(cells.tested)
    if frame.empty:
        return
    marked = frame[frame["mark"].isin(["better", "worse"])].copy()
    marked = marked.sort_values(["mark", "q_value"], ascending=[False, True])
    report.standing_out = [
        {k: (_clean(v) if isinstance(v, (float, np.floating)) else v)
         for k, v in row.items() if k in ("group", "theme", "n", "estimate", "ci_low",
                                          "ci_high", "network", "diff", "diff_low",
                                          "diff_high", "q_value", "label")}
        for row in marked.to_dict("records")]


# ---------------------------------------------------------------------- alerts, tasks


def _alerts_and_tasks(db, report: WeeklyReport) -> None:
    first, last = report.week_start.isoformat(), report.week_end.isoformat()
    rows = db.query(
        """SELECT a.id, a.granularity, a.location, a.first_period, a.status, a.review,
                  t.name AS theme, p.period_start AS period, p.observed, p.volume,
                  p.expected, p.q_value, p.crossed, a.baseline_share
           FROM alerts a JOIN themes t ON t.id = a.theme_id
           JOIN alert_periods p ON p.alert_id = a.id
           WHERE p.period_start BETWEEN ? AND ?
           ORDER BY a.granularity DESC, p.q_value, a.id, p.period_start""", [first, last])
    by_alert: dict[int, dict] = {}
    for row in rows:
        alert = by_alert.setdefault(row["id"], {
            "id": row["id"], "theme": row["theme"], "location": row["location"],
            "granularity": row["granularity"], "first_period": row["first_period"],
            "status": row["status"], "review": row["review"],
            "baseline_share": _clean(row["baseline_share"]) * 100
            if row["baseline_share"] is not None else None,
            "periods": [], "observed": 0, "volume": 0, "expected": 0.0, "q_value": None})
        alert["periods"].append(row["period"])
        alert["observed"] += int(row["observed"])
        alert["volume"] += int(row["volume"])
        alert["expected"] += float(row["expected"])
        q = _clean(row["q_value"])
        if q is not None and (alert["q_value"] is None or q < alert["q_value"]):
            alert["q_value"] = q
    for alert in by_alert.values():
        alert["share"] = alert["observed"] / alert["volume"] * 100 if alert["volume"] else None
        alert["opened_in_week"] = first <= alert["first_period"] <= last
    report.alerts = list(by_alert.values())
    start, stop = _window(report)
    tasks = db.query(
        """SELECT t.id, t.title, t.location, t.owner, t.status, t.due_at, t.episode_start,
                  t.created_at, t.detail, th.name AS theme
           FROM tasks t LEFT JOIN themes th ON th.id = t.theme_id
           WHERE (t.created_at >= ? AND t.created_at < ?)
              OR EXISTS (SELECT 1 FROM json_each(t.detail, '$.periods') p
                         WHERE p.value BETWEEN ? AND ?)
              OR EXISTS (SELECT 1 FROM task_events e WHERE e.task_id = t.id
                         AND e.event = 'fired again'
                         AND json_extract(e.detail, '$.period') BETWEEN ? AND ?)
           ORDER BY t.created_at DESC, t.id DESC""", [start, stop, first, last, first, last])
    for task in tasks:
        try:
            detail = json.loads(task["detail"] or "{}")
        except ValueError:
            detail = {}
        shares = detail.get("shares") or []
        report.tasks.append({
            "id": task["id"], "title": task["title"], "theme": task["theme"],
            "location": task["location"], "owner": task["owner"], "status": task["status"],
            "due_at": task["due_at"], "episode_start": task["episode_start"],
            "periods": list(detail.get("periods") or []),
            "shares": [s * 100 for s in shares if isinstance(s, (int, float))],
            "mentions": detail.get("mentions") or [], "volumes": detail.get("volumes") or [],
            "share_above": detail.get("share_above"),
        })


# ----------------------------------------------------------------------------- movers


def _movers(db, report: WeeklyReport) -> None:
    from analysis.benchmarks import metrics
    from analysis.views.benchmarks import _estimate

    week = Filters(start=report.week_start, end=report.week_end)
    baseline = Filters(start=report.baseline_start, end=report.baseline_end)
    for name in MOVER_METRICS:
        metric = metrics.metric_for(db, name)
        now_sums = {r["group"]: r for r in metrics.group_sums(db, metric, filters=week)}
        old_sums = {r["group"]: r for r in metrics.group_sums(db, metric, filters=baseline)}
        rows = []
        for group in sorted(set(now_sums) | set(old_sums)):
            new, old = now_sums.get(group), old_sums.get(group)
            n_now, n_before = (new or {}).get("n", 0), (old or {}).get("n", 0)
            row = {"group": group, "n_now": n_now, "n_before": n_before, "now": None,
                   "before": None, "change": None, "change_low": None, "change_high": None,
                   "p_value": None, "q_value": None, "label": "too few responses",
                   "now_low": None, "now_high": None}
            if new and old and n_now >= MIN_MOVER_N and n_before >= MIN_MOVER_N:
                current = _estimate(metric, new["n"], new["total"], new["total_sq"])
                earlier = _estimate(metric, old["n"], old["total"], old["total_sq"])
                change = compare(current, earlier)
                row.update(now=_clean(current.value), now_low=_clean(current.ci_low),
                           now_high=_clean(current.ci_high), before=_clean(earlier.value),
                           change=_clean(change.estimate), change_low=_clean(change.ci_low),
                           change_high=_clean(change.ci_high),
                           p_value=_clean(change.p_value))
            rows.append(row)
        tested = [r for r in rows if r["p_value"] is not None]
        if tested:
            for row, q in zip(tested, multipletests([r["p_value"] for r in tested],
                                                    method="fdr_bh")[1]):
                row["q_value"] = float(q)
                if q <= ALPHA and row["change"]:
                    better = (row["change"] > 0) == metric.higher_is_better
                    row["label"] = "improved" if better else "worsened"
                else:
                    row["label"] = "no clear change"
        rows.sort(key=lambda r: (r["change"] is None, -abs(r["change"] or 0), r["group"]))
        report.movers[metric.label] = rows
        totals = [(sum(r["n"] for r in s.values()), sum(r["total"] for r in s.values()),
                   sum(r["total_sq"] for r in s.values())) for s in (now_sums, old_sums)]
        if totals[0][0] and totals[1][0]:
            current, earlier = (_estimate(metric, *t) for t in totals)
            change = compare(current, earlier)
            report.network_moves[metric.label] = {
                "n_now": totals[0][0], "n_before": totals[1][0], "now": _clean(current.value),
                "before": _clean(earlier.value), "change": _clean(change.estimate),
                "change_low": _clean(change.ci_low), "change_high": _clean(change.ci_high),
                "p_value": _clean(change.p_value)}


# ----------------------------------------------------------------------- improvements


def _improvements(db, report: WeeklyReport, now: datetime) -> None:
    from analysis.improvements.records import ImprovementError, list_improvements
    from analysis.improvements.report import impact_report

    found = list_improvements(db, default_impact=False)
    week_first, week_last = report.week_start.isoformat(), report.week_end.isoformat()
    # Shipped ones first (they have a verdict), then what is under way.
    order = {"shipped": 0, "in progress": 1, "planned": 2, "proposed": 3, "abandoned": 4}
    found.sort(key=lambda r: (order.get(r["status"], 5), -_ordinal(r["effective_date"])))
    report.improvements_left_out = max(0, len(found) - MAX_IMPROVEMENTS)
    # As of the end of the report's week: the verdict the week had (never after `now`).
    measure_now = min(now, period_close(report.week_start, "week", report.timezone))
    for row in found[:MAX_IMPROVEMENTS]:
        verdict = None
        if row["status"] == "shipped":
            try:
                verdict = impact_report(db, row["id"], now=measure_now).verdict
            except ImprovementError as exc:
                verdict = f"Not measurable: {exc}"
        report.improvements.append({
            "id": row["id"], "title": row["title"], "status": row["status"],
            "owner": row["owner"], "locations": list(row["locations"]),
            "target": row["target"], "effective_date": row["effective_date"],
            "rollout_end": row["rollout_end"],
            "effective_this_week": bool(row["effective_date"]
                                        and week_first <= row["effective_date"] <= week_last),
            "verdict": verdict,
        })


def _ordinal(text: str | None) -> int:
    try:
        return date.fromisoformat(text[:10]).toordinal() if text else 0
    except ValueError:
        return 0


# ------------------------------------------------------------------------ loop health

LOOP_LABELS = {
    "acknowledge_median": "Time to acknowledge, median",
    "acknowledge_p90": "Time to acknowledge, 90th percentile",
    "resolve_median": "Time to resolve, median",
    "resolve_p90": "Time to resolve, 90th percentile",
    "follow_up_rate": "Follow-up rate",
    "close_the_loop_rate": "Close-the-loop rate",
    "escalation_rate": "Escalation rate",
    "backlog_open": "Open at the end of the week",
    "backlog_median_age_days": "Open cases, median age",
    "backlog_max_age_days": "Open cases, oldest",
    "automation_share": "Follow-ups sent by automation",
}


def _loop_health(db, report: WeeklyReport, now: datetime) -> None:
    from analysis.cases.policy import PRIORITIES, sla_policies
    from analysis.loop_health.metrics import loop_health

    start = period_opening(report.week_start, report.timezone)
    end = period_close(report.week_start, "week", report.timezone)
    if start >= now:
        return
    health = loop_health(db, start=start, end=min(end, now), now=now)
    for row in health.rows():
        metric = row["metric"]
        label = LOOP_LABELS.get(metric)
        if label is None and metric.startswith("sla_met:"):
            label = f"SLA met: {metric.split(':', 1)[1]}"
        name = row.get("name") or ""
        unit = ("business hours" if "minutes" in name else "days" if "days" in metric
                else "%" if name.endswith("%") or "rate" in metric or "share" in metric
                or metric.startswith("sla_met") else "cases")
        scale = 1 / 60 if unit == "business hours" else 1
        value = lambda v: None if v is None else v * scale  # noqa: E731
        report.loop_health.append({
            "metric": metric, "label": label or metric, "unit": unit,
            "value": value(row["value"]), "ci_low": value(row["ci_low"]),
            "ci_high": value(row["ci_high"]), "n": row["n"], "method": row["method"]})
    policies = sla_policies(db)
    for priority in PRIORITIES:
        p = policies[priority]
        report.sla_targets.append({
            "priority": priority, "acknowledge_hours": p.acknowledge / 60,
            "resolve_hours": p.resolve / 60,
            "follow_up_hours": None if p.follow_up is None else p.follow_up / 60,
            "clock": "business hours" if p.business_hours else "around the clock"})


def render_html(report: WeeklyReport) -> str:
    from analysis.reports.weekly_html import render_html as render

    return render(report)


def render_markdown(report: WeeklyReport) -> str:
    from analysis.reports.weekly_html import render_markdown as render

    return render(report)


__all__ = ["SECTIONS", "WeekError", "WeeklyReport", "default_week", "parse_week",
           "render_html", "render_markdown", "week_label", "weekly_report"]

"""What the Impact page shows, shaped from `analysis.loop_health`, the SLA policy and the
improvements' impact reports; reads only, no Streamlit.

    start, end = last_weeks(now, 8, tz)            # the last 8 complete local weeks
    health = loop_health(db, start=start, end=end, now=now)
    scorecard(health, sla_policies(db), sla_target=90.0)   # value, interval, n, target
    trend_frame(loop_health(db, start=..., end=end, by="month", now=now), "sla")
    group_table(loop_health(db, start=start, end=end, by="owner", now=now))
    recovery_funnel(db, start=start, end=end, now=now)     # counts at each step
    improvement_verdicts(db, now=now)                      # list + headline of each verdict

Every figure keeps its n and its 95% interval (None where there is none: a census, or too
few cases to bound a quantile); a figure is compared with a target only through its
interval, so nothing is called above or below a target that chance alone could explain.
Times are shown in business hours (loop health measures business minutes).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import sqlite_utils

from analysis.cases.policy import SlaPolicy
from analysis.domain.scores import score_band
from analysis.improvements import records
from analysis.improvements.report import impact_report
from analysis.loop_health import OBSERVATIONAL, LoopHealth, Outcomes
from analysis.loop_health.outcomes import RECOVERY_SCALES, recovery_cohort
from analysis.loop_health.reads import follow_ups_sent, load_cases, period
from analysis.reports.charts import MARGIN
from analysis.store.clock import to_iso
from analysis.trends.periods import period_of
from analysis.views.improvements import MEASURED_STATUSES, cut

WEEK_CHOICES = (4, 8, 13)
DEFAULT_WEEKS = 8
SLA_TARGET_PCT = 90.0
TREND_MONTHS = 6
MAX_VERDICTS = 20  # each impact report is a second or so on a large store

MINUTES = ("acknowledge_median", "acknowledge_p90", "resolve_median", "resolve_p90")
LABELS = {
    "acknowledge_median": "Time to acknowledge, median",
    "acknowledge_p90": "Time to acknowledge, 90th percentile",
    "resolve_median": "Time to resolve, median (waiting excluded)",
    "resolve_p90": "Time to resolve, 90th percentile (waiting excluded)",
    "sla_met:acknowledge": "SLA met: acknowledge",
    "sla_met:resolve": "SLA met: resolve",
    "sla_met:follow up": "SLA met: follow up",
    "follow_up_rate": "Follow-up rate (recovery cases resolved)",
    "close_the_loop_rate": "Close-the-loop rate (recovery cases opened)",
    "escalation_rate": "Escalation rate (cases opened)",
    "backlog_open": "Backlog: open cases at the end",
    "backlog_median_age_days": "Backlog: median age",
    "backlog_max_age_days": "Backlog: oldest",
    "automation_share": "Follow-ups sent by automation",
}
SCORECARD_COLUMNS = ["figure", "value", "ci_low", "ci_high", "n", "unit", "target", "status",
                     "metric", "method"]
TRENDS = {  # choice -> (label, metrics, axis title)
    "times": ("Times (median)", ("acknowledge_median", "resolve_median"), "Business hours"),
    "sla": ("SLA met per stage", ("sla_met:acknowledge", "sla_met:resolve",
                                  "sla_met:follow up"), "SLA met (%)"),
    "rates": ("Follow-up, close-the-loop and escalation rates",
              ("follow_up_rate", "close_the_loop_rate", "escalation_rate"), "Rate (%)"),
}
GROUP_METRICS = (("acknowledge_median", "ack median (h)"),
                 ("resolve_median", "resolve median (h)"),
                 ("sla_met:acknowledge", "SLA ack %"), ("sla_met:resolve", "SLA resolve %"),
                 ("follow_up_rate", "follow-up %"), ("close_the_loop_rate", "close-the-loop %"),
                 ("escalation_rate", "escalation %"))
FUNNEL_STEPS = ("Detractors in the period", "With a recovery case", "Followed up",
                "Responded after the follow-up", "Scored higher")
FUNNEL_CAPTION = (
    "Customers, not responses. Detractors: customers with a negative NPS (0-6) or CSAT (1-2) "
    "response received in the period. With a recovery case: customers whose first recovery "
    "case opened in the period came from a negative NPS or CSAT score (the detractor-recovery "
    "cohort; a case opened early in the period may answer a response from just before it). "
    "Followed up: a follow-up message was sent for that case. Responded after the follow-up: "
    "their next score on the same scale came after the follow-up. Scored higher: that next "
    "score is higher than the one that opened the case.")
NO_CASES = ("No cases yet: the scorecard, owner and team tables and the recovery funnel "
            "appear once the case queue has cases (the sweep opens them from feedback; see "
            "Case queue).")
NO_IMPROVEMENTS = "No improvements yet: tag a change made because of feedback on Improvements."


def _floats(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """Numeric columns as floats, None as NaN (a blank cell, not the text "None")."""
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


# --------------------------------------------------------------------------- period

def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz))


def last_weeks(now: datetime, weeks: int, tz: str) -> tuple[datetime, datetime]:
    """The last `weeks` complete local weeks (Monday to Sunday) before `now`'s week, as
    [start, end) aware datetimes at local midnight."""
    this_week = period_of(now, "week", tz)
    return (local_midnight(this_week - timedelta(weeks=weeks), tz),
            local_midnight(this_week, tz))


def date_period(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """Picked dates, both days included, as [start, end)."""
    return local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)


def trend_start(start: datetime, end: datetime, months: int = TREND_MONTHS) -> datetime:
    """The first of the month `months - 1` months before the period's last month (UTC, as
    loop health buckets months), or the period's start when that is earlier."""
    last = (end - timedelta(microseconds=1)).astimezone(ZoneInfo("UTC"))
    year, month = last.year, last.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    first = datetime(year, month, 1, tzinfo=ZoneInfo("UTC"))
    return min(first, start)


def period_caption(start: datetime, end: datetime, now: datetime) -> str:
    last = (end - timedelta(days=1)).date()
    running = " (still running: measured up to now)" if end > now else ""
    return (f"Period: {start.date()} to {last} ({(end - start).days} days){running}. Cases "
            "are counted in the period by when each figure happens (acknowledged, resolved, "
            "opened, due); what became of them is read as of now. The sidebar filters do not "
            "apply to this page.")


def has_cases(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM cases WHERE status != 'merged' LIMIT 1").fetchone() \
        is not None


# --------------------------------------------------------------------------- scorecard

def _hours(value):
    return None if value is None else value / 60


def _unit(metric: str) -> str:
    if metric in MINUTES:
        return "business hours"
    if metric == "backlog_open":
        return "cases"
    if metric.startswith("backlog_"):
        return "days"
    return "%"


def _fmt_hours(minutes: float | None) -> str:
    return "none" if minutes is None else f"{minutes / 60:g} h"


def time_targets(policies: dict[str, SlaPolicy], stage: str) -> dict[str, float | None]:
    """Priority -> the stage's target in business minutes (None: no target)."""
    name = {"acknowledge": "acknowledge", "resolve": "resolve", "follow up": "follow_up"}[stage]
    return {p: getattr(policy, name) for p, policy in policies.items()}


def targets_text(policies: dict[str, SlaPolicy], stage: str) -> str:
    return ", ".join(f"{p} {_fmt_hours(m)}"
                     + ("" if policies[p].business_hours else " (24/7)")
                     for p, m in time_targets(policies, stage).items())


def time_status(ci_low, ci_high, value, targets: list[float]) -> str:
    """A time against the priorities' targets, through its interval only."""
    if value is None:
        return "no cases"
    if not targets:
        return ""
    if ci_high is not None and ci_high <= min(targets):
        return "within every priority's target (whole 95% interval)"
    if ci_low is not None and ci_low > max(targets):
        return "over every priority's target (whole 95% interval)"
    return "targets differ by priority: see SLA met"


def share_status(ci_low, ci_high, n: int, target: float) -> str:
    if not n:
        return "nothing judged"
    if ci_low is not None and ci_low > target:
        return "above target (whole 95% interval)"
    if ci_high is not None and ci_high < target:
        return "below target (whole 95% interval)"
    return "95% interval includes the target: not distinguishable"


def scorecard(health: LoopHealth, policies: dict[str, SlaPolicy],
              sla_target: float = SLA_TARGET_PCT) -> pd.DataFrame:
    """One row per loop-health figure: value and interval (times in business hours), n, the
    target (the SLA policy's per priority for times, `sla_target` % for SLA met) and where
    the interval lies against it."""
    rows = []
    for metric, figure in health.figures():
        value, low, high = figure.value, figure.ci_low, figure.ci_high
        target, status = "", ""
        if metric in MINUTES:
            stage = metric.split("_")[0]
            minutes = [m for m in time_targets(policies, stage).values() if m is not None]
            target = targets_text(policies, stage)
            status = time_status(low, high, value, minutes)
            value, low, high = _hours(value), _hours(low), _hours(high)
        elif metric.startswith("sla_met:"):
            target = f"{sla_target:g}%"
            status = share_status(low, high, figure.n, sla_target)
        rows.append({"figure": LABELS.get(metric, figure.name), "value": value,
                     "ci_low": low, "ci_high": high, "n": figure.n, "unit": _unit(metric),
                     "target": target, "status": status, "metric": metric,
                     "method": figure.method})
    return _floats(pd.DataFrame(rows, columns=SCORECARD_COLUMNS), ["value", "ci_low",
                                                                   "ci_high"])


def policy_table(policies: dict[str, SlaPolicy]) -> pd.DataFrame:
    return pd.DataFrame([{"priority": p, "acknowledge (h)": _hours(policy.acknowledge),
                          "resolve (h)": _hours(policy.resolve),
                          "follow up (h)": _hours(policy.follow_up),
                          "clock": "business hours" if policy.business_hours
                          else "around the clock"} for p, policy in policies.items()],
                        columns=["priority", "acknowledge (h)", "resolve (h)", "follow up (h)",
                                 "clock"])


def figures_csv_frame(health: LoopHealth) -> pd.DataFrame:
    """loop_health's own rows (times in business minutes), for the download."""
    return pd.DataFrame(health.rows(), columns=["group", "metric", "name", "value", "ci_low",
                                                "ci_high", "n", "method"])


# --------------------------------------------------------------------------- trends

def _figure_of(part: LoopHealth, metric: str):
    return dict(part.figures())[metric]


def trend_frame(by_month: LoopHealth, choice: str) -> pd.DataFrame:
    """line, period (the month's first day), value, low, high, n, count: the shape
    `charts.trend_lines_figure` draws (a line per figure, its 95% interval shaded)."""
    _, metrics, _ = TRENDS[choice]
    rows = []
    for part in by_month.groups:
        month = date.fromisoformat(f"{part.group}-01")
        for metric in metrics:
            figure = _figure_of(part, metric)
            scale = _hours if metric in MINUTES else (lambda v: v)
            rows.append({"line": LABELS[metric], "period": month,
                         "value": scale(figure.value), "low": scale(figure.ci_low),
                         "high": scale(figure.ci_high), "n": figure.n, "count": None})
    return _floats(pd.DataFrame(rows, columns=["line", "period", "value", "low", "high", "n",
                                               "count"]), ["value", "low", "high"])


# --------------------------------------------------------------------------- groups

def group_table(health: LoopHealth) -> pd.DataFrame:
    """One row per group (owner, team, ...): each figure's value, 95% interval and n, then
    the open cases at the end of the period."""
    columns = ["group"]
    for _, label in GROUP_METRICS:
        columns += [label, f"{label} low", f"{label} high", f"{label} n"]
    columns.append("open at end")
    rows = []
    for part in health.groups:
        row = {"group": part.group}
        figures = dict(part.figures())
        for metric, label in GROUP_METRICS:
            figure = figures[metric]
            scale = _hours if metric in MINUTES else (lambda v: v)
            row |= {label: scale(figure.value), f"{label} low": scale(figure.ci_low),
                    f"{label} high": scale(figure.ci_high), f"{label} n": figure.n}
        row["open at end"] = int(figures["backlog_open"].value or 0)
        rows.append(row)
    return _floats(pd.DataFrame(rows, columns=columns),
                   [c for c in columns if c != "group" and not c.endswith(" n")])


# --------------------------------------------------------------------------- outcomes

def recovery_funnel(db: sqlite_utils.Database, *, start, end, now) -> pd.DataFrame:
    """step, customers: detractors in the period -> with a recovery case -> followed up ->
    responded after the follow-up -> scored higher (FUNNEL_CAPTION). The case steps are the
    detractor-recovery cohort of `outcomes` (the same function picks it), so "responded after
    the follow-up" equals the followed-up side's n of its comparison."""
    start_s, _, as_of, now_at = period(start, end, now)
    now_s = to_iso(now_at)
    marks = ", ".join("?" * len(RECOVERY_SCALES))
    detractors = {key for key, scale, score in db.execute(
        f"""SELECT customer_key, score_type, score FROM feedback
            WHERE received_at >= ? AND received_at < ? AND customer_key IS NOT NULL
              AND score IS NOT NULL AND score_type IN ({marks})""",
        [start_s, as_of, *RECOVERY_SCALES]) if score_band(scale, score) == "negative"}
    cases = [c for c in load_cases(db, before=as_of) if start_s <= c["opened_at"] < as_of]
    sent = follow_ups_sent(db, by=now_s)
    cohort = recovery_cohort(db, cases, sent, now_s)
    followed = [v for case, _, v in cohort if case["id"] in sent]
    answered = [v for case, _, v in cohort if v["followed_up"]]
    counts = [len(detractors), len(cohort), len(followed), len(answered),
              sum(1 for v in answered if v["next"] > v["score"])]
    return pd.DataFrame({"step": list(FUNNEL_STEPS), "customers": counts})


def funnel_figure(funnel: pd.DataFrame) -> go.Figure:
    figure = go.Figure(go.Funnel(y=list(funnel["step"]), x=list(funnel["customers"]),
                                 textinfo="value+percent initial",
                                 marker={"color": "#1f77b4"}))
    figure.update_layout(height=320, margin=MARGIN)
    return figure


def outcome_table(found: Outcomes) -> pd.DataFrame:
    rows = [{"figure": found.detractor_recovery.name, "value": found.detractor_recovery.value,
             "ci_low": found.detractor_recovery.ci_low,
             "ci_high": found.detractor_recovery.ci_high, "n": found.detractor_recovery.n,
             "not yet known": found.without_next_response,
             "note": "customers with no next response yet are left out, not counted as "
                     "no better"},
            {"figure": found.repeat_complaints.name, "value": found.repeat_complaints.value,
             "ci_low": found.repeat_complaints.ci_low,
             "ci_high": found.repeat_complaints.ci_high, "n": found.repeat_complaints.n,
             "not yet known": found.repeat_window_open,
             "note": "cases whose repeat window is still open are left out"}]
    return _floats(pd.DataFrame(rows, columns=["figure", "value", "ci_low", "ci_high", "n",
                                               "not yet known", "note"]),
                   ["value", "ci_low", "ci_high"])


def comparison_table(found: Outcomes) -> pd.DataFrame:
    """Per scale: the next score of customers followed up before it, minus the others'."""
    return _floats(pd.DataFrame([{"comparison": c.name, "followed up mean": c.mean,
                          "followed up n": c.n, "not followed up mean": c.other_mean,
                          "not followed up n": c.other_n, "difference": c.estimate,
                          "ci_low": c.ci_low, "ci_high": c.ci_high, "p_value": c.p_value,
                          "test": c.test} for c in found.next_score_by_follow_up],
                        columns=["comparison", "followed up mean", "followed up n",
                                 "not followed up mean", "not followed up n", "difference",
                                 "ci_low", "ci_high", "p_value", "test"]),
                   ["followed up mean", "not followed up mean", "difference", "ci_low",
                    "ci_high", "p_value"])


def comparison_caveat(found: Outcomes) -> str:
    caveats = sorted({c.caveat for c in found.next_score_by_follow_up}) or [OBSERVATIONAL]
    return ("Not the effect of following up: " + "; ".join(caveats) + ". A difference whose "
            "95% interval includes 0 is not distinguishable from none; with fewer than two "
            "customers on a side there is no test.")


def resolution_mix(found: Outcomes) -> pd.DataFrame:
    return pd.DataFrame([{"category": c.category, "cases": c.count, "share": c.share.value,
                          "ci_low": c.share.ci_low, "ci_high": c.share.ci_high,
                          "n": c.share.n} for c in found.resolution_mix],
                        columns=["category", "cases", "share", "ci_low", "ci_high", "n"])


# --------------------------------------------------------------------------- improvements

IMPROVEMENT_COLUMNS = ["id", "title", "status", "owner", "effective_date", "target",
                       "verdict", "effect", "ci_low", "ci_high", "p_value", "n_before",
                       "n_after", "unit"]


def improvement_verdicts(db: sqlite_utils.Database, *, now: datetime,
                         limit: int = MAX_VERDICTS) -> pd.DataFrame:
    """Every improvement, shipped ones first; the first `limit` shipped or in-progress ones
    with their impact report's verdict and headline estimate (interval, p, n before and
    after)."""
    rows = records.list_improvements(db, default_impact=False)
    order = {"shipped": 0, "in progress": 1}
    rows.sort(key=lambda r: order.get(r["status"], 2))
    out, measured = [], 0
    for row in rows:
        found = {"verdict": "not measured: not shipped", "effect": None, "ci_low": None,
                 "ci_high": None, "p_value": None, "n_before": None, "n_after": None,
                 "unit": ""}
        if row["status"] in MEASURED_STATUSES:
            if measured < limit:
                measured += 1
                report = impact_report(db, row["id"], now=now).as_dict()
                found = {"verdict": report["verdict"], "effect": report["effect"],
                         "ci_low": report["ci_low"], "ci_high": report["ci_high"],
                         "p_value": report["p_value"], "n_before": report["n_pre"],
                         "n_after": report["n_post"], "unit": report["unit"]}
            else:
                found["verdict"] = (f"not measured here (only the first {limit}): open it "
                                    "on Improvements")
        out.append({"id": row["id"], "title": cut(row["title"], 120), "status": row["status"],
                    "owner": row["owner"] or "", "effective_date": row["effective_date"],
                    "target": cut(row["target"], 120), **found})
    return _floats(pd.DataFrame(out, columns=IMPROVEMENT_COLUMNS),
                   ["effect", "ci_low", "ci_high", "p_value"])

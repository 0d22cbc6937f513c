"""Loop health over a period [start, end): how fast cases are acknowledged and resolved, how
many SLA stages are met, how many loops are closed with a follow-up, how many cases escalate,
what is left open, who holds it, and how much the automation does.

    health = loop_health(db, start=datetime(2025, 1, 1, tzinfo=UTC),
                         end=datetime(2025, 2, 1, tzinfo=UTC), by="location", now=now)
    health.acknowledge_median.value, health.acknowledge_median.ci_low, ...n
    health.rows()         # one row per group and figure: group, metric, value, interval, n
    health.as_dict()      # JSON

Which cases each figure counts, and at which moment (the moment also decides its month):

    time to acknowledge   cases acknowledged in the period; business minutes from opening
    time to resolve       cases resolved in the period (their latest resolution); business
                          minutes from opening less the minutes spent waiting on the customer
    SLA met, per stage    stages judged in the period: a stage is judged when it is done if
                          done in time, else when it came due, so each stage counts once, in
                          one period; met = done by its due time
    follow-up rate        recovery cases resolved in the period that got a follow-up sent
    close-the-loop rate   recovery cases opened in the period that are now resolved (resolved,
                          followed up or closed after a resolution) and got a follow-up sent;
                          cases closed without being worked (spam) are not loops to close
    escalation rate       cases opened in the period that were escalated (an "escalated" event)
    backlog               cases open at the end of the period (their status replayed from the
                          timeline): count, median and oldest age in days since opening
    cases per owner       open at the end, and resolved in the period, by current owner
    automation share      cases whose first follow-up went out in the period and was sent by
                          automation: a review request, or written by the sweep's actor

Business minutes run on each case's clock: its location's calendar, or around the clock when
its priority's SLA policy says so (the current policies and calendars, analysis/cases). The
period's cohort is fixed by [start, end), and what became of it is read as of `now` (a
follow-up sent after `end` counts for a case resolved in the period); a period still running
is measured up to `now`. Every case type is counted except where "recovery" is said; merged
duplicates never are. Due times are the stored ones: a wait on the customer pushes them back
once it ends, and a case waiting now is judged only if it was late before it started waiting.

Medians and 90th percentiles carry a distribution-free order-statistic interval (figures.py):
exact, reproducible, and open-ended when there are too few cases to bound the quantile, which
is the honest answer for a team that resolved five cases. Shares carry Wilson intervals. The
backlog and the owner counts are censuses of every open case: no interval.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlite_utils

from analysis.cases.calendar import business_minutes_between
from analysis.cases.records import Clocks
from analysis.cases.sla import clock_for
from analysis.loop_health.figures import census, estimate_dict, minutes_quantile, share
from analysis.loop_health.reads import (
    AUTOMATION_ACTORS,
    automation_actors,
    check_by,
    escalated_cases,
    follow_ups_sent,
    group_of,
    is_open,
    load_cases,
    minutes,
    period,
    statuses_at,
)
from analysis.stats.estimates import Estimate
from analysis.store.clock import from_iso, to_iso

STAGES = (("acknowledge", "ack_due", "acknowledged_at"),
          ("resolve", "resolve_due", "resolved_at"),
          ("follow up", "followup_due", "followed_up_at"))
RECOVERY = "recovery"


@dataclass
class OwnerLoad:
    owner_id: int | None
    owner: str
    team: str | None
    open: int
    handled: int


@dataclass
class LoopHealth:
    start: str
    end: str
    as_of: str
    by: str | None
    group: str | None
    acknowledge_median: Estimate
    acknowledge_p90: Estimate
    resolve_median: Estimate
    resolve_p90: Estimate
    sla_met: dict[str, Estimate]
    follow_up_rate: Estimate
    close_the_loop_rate: Estimate
    escalation_rate: Estimate
    backlog_open: Estimate
    backlog_median_age_days: Estimate
    backlog_max_age_days: Estimate
    automation_share: Estimate
    per_owner: list[OwnerLoad] = field(default_factory=list)
    groups: list[LoopHealth] = field(default_factory=list)

    def figures(self) -> list[tuple[str, Estimate]]:
        """(metric, figure) in the order a page lists them."""
        return [("acknowledge_median", self.acknowledge_median),
                ("acknowledge_p90", self.acknowledge_p90),
                ("resolve_median", self.resolve_median), ("resolve_p90", self.resolve_p90),
                *((f"sla_met:{stage}", figure) for stage, figure in self.sla_met.items()),
                ("follow_up_rate", self.follow_up_rate),
                ("close_the_loop_rate", self.close_the_loop_rate),
                ("escalation_rate", self.escalation_rate),
                ("backlog_open", self.backlog_open),
                ("backlog_median_age_days", self.backlog_median_age_days),
                ("backlog_max_age_days", self.backlog_max_age_days),
                ("automation_share", self.automation_share)]

    def rows(self) -> list[dict]:
        """One row per group (the whole period when not broken down) and figure: group,
        metric, value, ci_low, ci_high, n, method."""
        return [{"group": part.group, "metric": metric, **estimate_dict(figure)}
                for part in (self.groups or [self]) for metric, figure in part.figures()]

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "as_of": self.as_of, "by": self.by,
                "group": self.group,
                "figures": {metric: estimate_dict(figure) for metric, figure in self.figures()},
                "per_owner": [vars(o).copy() for o in self.per_owner],
                "groups": [g.as_dict() for g in self.groups]}


def loop_health(db: sqlite_utils.Database, *, start, end, by: str | None = None, now=None,
                automation=AUTOMATION_ACTORS) -> LoopHealth:
    """Loop health over [start, end) (dates or aware datetimes), overall and, with `by`
    ("team", "owner", "location", "theme" or "month"), per group in `groups`. `automation`:
    actors counted as automation besides those recorded running the sweep."""
    by = check_by(by)
    start_s, end_s, as_of, now_at = period(start, end, now)
    now_s = to_iso(now_at)
    cases = load_cases(db, before=as_of)
    items = _items(db, cases, start_s, as_of, now_s, automation)
    whole = _health(items, start_s, end_s, as_of, by, None)
    if by is not None:
        names = sorted({group_of(by, case, at) for found in items.values()
                        for case, at, _ in found} - {None})
        whole.groups = [_health(_only(items, by, name), start_s, end_s, as_of, by, name)
                        for name in names]
    return whole


# ------------------------------------------------------------------ what each figure counts


def _items(db, cases: list[dict], start: str, as_of: str, now: str,
           automation) -> dict[str, list[tuple]]:
    """Figure -> (case, moment it is counted at, what it contributes) for every case that
    counts, in the period [start, as_of)."""
    clocks = Clocks.load(db)
    sent = follow_ups_sent(db, by=now)
    escalated = escalated_cases(db, by=now)
    robots = automation_actors(db, automation)
    status = statuses_at(db, cases, as_of)

    def within(at):
        return at is not None and start <= at < as_of

    items: dict[str, list[tuple]] = defaultdict(list)
    for case in cases:
        clock = None
        if within(case["acknowledged_at"]):
            clock = clock_for(clocks.policy(case), clocks.calendar(case))
            items["acknowledge"].append((case, case["acknowledged_at"], business_minutes_between(
                clock, from_iso(case["opened_at"]), from_iso(case["acknowledged_at"]))))
        if within(case["resolved_at"]):
            clock = clock or clock_for(clocks.policy(case), clocks.calendar(case))
            # Waiting on the customer is the customer's time, not the team's.
            open_minutes = business_minutes_between(
                clock, from_iso(case["opened_at"]), from_iso(case["resolved_at"]))
            items["resolve"].append((case, case["resolved_at"],
                                     max(0.0, open_minutes - float(case["paused_minutes"] or 0))))
            if case["route"] == RECOVERY:
                items["follow up"].append((case, case["resolved_at"], case["id"] in sent))
        for stage, due_column, done_column in STAGES:
            judged = _judged(case, stage, case[due_column], case[done_column])
            if judged is not None and within(judged[0]):
                items[f"sla:{stage}"].append((case, judged[0], judged[1]))
        if within(case["opened_at"]):
            items["escalation"].append((case, case["opened_at"], case["id"] in escalated))
            dismissed = case["closed_at"] is not None and case["resolved_at"] is None
            if case["route"] == RECOVERY and not dismissed:
                items["close the loop"].append((case, case["opened_at"],
                                                case["resolved_at"] is not None
                                                and case["id"] in sent))
        if is_open(status.get(case["id"], "merged")):
            items["backlog"].append((case, case["opened_at"],
                                     minutes(case["opened_at"], as_of) / (24 * 60)))
        first = sent.get(case["id"], [None])[0]
        if first is not None and within(first["sent_at"]):
            items["automation"].append((case, first["sent_at"],
                                        first["kind"] == "review request"
                                        or first["created_by"] in robots))
    return items


def _judged(case: dict, stage: str, due: str | None, done: str | None):
    """(moment the stage is judged, met?) or None when it is not judged (yet)."""
    if due is None:
        return None                      # no target: a low-priority case has no follow-up
    if stage != "acknowledge" and done is None and case["closed_at"] is not None \
            and case["resolved_at"] is None:
        return None                      # closed without being worked: nothing to resolve
    if done is None and case["paused_at"] is not None and stage != "follow up" \
            and case["paused_at"] <= due:
        return None                      # its clock stopped in time: judged when it resumes
    if done is not None and done <= due:
        return done, True
    return due, False


def _only(items: dict, by: str, name: str) -> dict:
    return {metric: [item for item in found if group_of(by, item[0], item[1]) == name]
            for metric, found in items.items()}


# ------------------------------------------------------------------ the figures


def _health(items: dict, start: str, end: str, as_of: str, by: str | None,
            group: str | None) -> LoopHealth:
    def values(name):
        return [v for _, _, v in items.get(name, [])]

    def hits(name):
        return sum(1 for v in values(name) if v)

    ack, res, ages = values("acknowledge"), values("resolve"), values("backlog")
    return LoopHealth(
        start=start, end=end, as_of=as_of, by=by, group=group,
        acknowledge_median=minutes_quantile(
            "Time to acknowledge, median (business minutes)", ack, 0.5),
        acknowledge_p90=minutes_quantile(
            "Time to acknowledge, 90th percentile (business minutes)", ack, 0.9),
        resolve_median=minutes_quantile(
            "Time to resolve, median (business minutes, waiting excluded)", res, 0.5),
        resolve_p90=minutes_quantile(
            "Time to resolve, 90th percentile (business minutes, waiting excluded)", res, 0.9),
        sla_met={stage: share(f"SLA met: {stage} %", hits(f"sla:{stage}"),
                              len(values(f"sla:{stage}")))
                 for stage, _, _ in STAGES},
        follow_up_rate=share("Follow-up rate % (recovery cases resolved)", hits("follow up"),
                             len(values("follow up"))),
        close_the_loop_rate=share("Close-the-loop rate % (recovery cases opened)",
                                  hits("close the loop"), len(values("close the loop"))),
        escalation_rate=share("Escalation rate % (cases opened)", hits("escalation"),
                              len(values("escalation"))),
        backlog_open=census("Open cases at the end", len(ages), len(ages)),
        backlog_median_age_days=census("Open cases, median age (days)",
                                       _median(ages), len(ages)),
        backlog_max_age_days=census("Open cases, oldest (days)",
                                    max(ages) if ages else None, len(ages)),
        automation_share=share("Follow-ups sent by automation %", hits("automation"),
                               len(values("automation"))),
        per_owner=_per_owner(items))


def _median(values: list[float]) -> float | None:
    from statistics import median

    return median(values) if values else None


def _per_owner(items: dict) -> list[OwnerLoad]:
    loads: dict = {}
    for name, column in (("backlog", "open"), ("resolve", "handled")):
        for case, _, _ in items.get(name, []):
            key = case["owner_id"]
            load = loads.setdefault(key, OwnerLoad(key, case["owner"] or "(unassigned)",
                                                   case["team"], 0, 0))
            setattr(load, column, getattr(load, column) + 1)
    return sorted(loads.values(), key=lambda o: (-o.open, -o.handled, o.owner))

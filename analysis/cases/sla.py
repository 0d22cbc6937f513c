"""SLA clocks: when each stage of a case is due and how it stands.

Acknowledge and resolve run from opening, follow up from resolution, each on the case's
clock: its location's business calendar, or around the clock when the priority's policy
says so. While the case waits on the customer the clock stops; the minutes it waited
(`paused_minutes`, clock minutes) push the acknowledge and resolve deadlines back.

A stage is met (done by its due time), breached (done late, or past due and not done),
at risk (not done, `at_risk` of its time used), on track, paused (waiting on the
customer), or none (no target: a low-priority case has no follow-up).

    due = due_times(case, policy, calendar)           # {"acknowledge": datetime, ...}
    sla_status(case, policy, calendar, now=now)       # {"acknowledge": {"state": ...}, ...}
"""

from __future__ import annotations

from datetime import datetime

from analysis.cases.calendar import (
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
)
from analysis.cases.policy import SlaPolicy
from analysis.store.clock import from_iso

AROUND_THE_CLOCK = BusinessCalendar(around_the_clock=True)
STAGE_DONE = {"acknowledge": "acknowledged_at", "resolve": "resolved_at",
              "follow up": "followed_up_at"}


def clock_for(policy: SlaPolicy, calendar: BusinessCalendar) -> BusinessCalendar:
    return calendar if policy.business_hours else AROUND_THE_CLOCK


def _at(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return from_iso(value)


def due_times(case: dict, policy: SlaPolicy, calendar: BusinessCalendar) -> dict:
    """Stage -> due moment (UTC) or None (no target, or follow-up before resolution)."""
    clock = clock_for(policy, calendar)
    opened = _at(case["opened_at"])
    paused = float(case.get("paused_minutes") or 0.0)
    due = {"acknowledge": add_business_minutes(clock, opened, policy.acknowledge + paused),
           "resolve": add_business_minutes(clock, opened, policy.resolve + paused),
           "follow up": None}
    resolved = _at(case.get("resolved_at"))
    if policy.follow_up is not None and resolved is not None:
        due["follow up"] = add_business_minutes(clock, resolved, policy.follow_up)
    return due


def _stage_minutes(policy: SlaPolicy, stage: str) -> int | None:
    return {"acknowledge": policy.acknowledge, "resolve": policy.resolve,
            "follow up": policy.follow_up}[stage]


def sla_status(case: dict, policy: SlaPolicy, calendar: BusinessCalendar, *, now: datetime,
               at_risk: float = 0.75, due: dict | None = None) -> dict:
    """Stage -> {state, due, minutes_left (clock minutes, negative when late), used (share
    of the stage's time)}. `due` reuses stored due times (`due_times` otherwise)."""
    clock = clock_for(policy, calendar)
    due = due or due_times(case, policy, calendar)
    paused_at = _at(case.get("paused_at"))
    # A waiting case's clock stands still at the moment it started waiting.
    reading = paused_at or now
    out = {}
    for stage, done_field in STAGE_DONE.items():
        target = _stage_minutes(policy, stage)
        moment = due.get(stage)
        if target is None:
            out[stage] = {"state": "none", "due": None, "minutes_left": None, "used": None}
            continue
        if moment is None:   # follow-up before resolution: not started
            out[stage] = {"state": "not started", "due": None, "minutes_left": None,
                          "used": None}
            continue
        done = _at(case.get(done_field))
        if done is not None:
            state = "met" if done <= moment else "breached"
            out[stage] = {"state": state, "due": moment, "minutes_left": None, "used": None}
            continue
        if case.get("status") in ("resolved", "followed up", "closed", "merged") \
                and stage != "follow up":
            out[stage] = {"state": "met" if stage == "acknowledge" else "none",
                          "due": moment, "minutes_left": None, "used": None}
            continue
        late = reading > moment   # due means "by": at the due moment itself it is not late
        left = (-business_minutes_between(clock, moment, reading) if late
                else business_minutes_between(clock, reading, moment))
        used = 1 - left / target if target else 1.0
        if late:
            state = "breached"
        elif paused_at is not None and stage != "follow up":
            state = "paused"
        elif used >= at_risk:
            state = "at risk"
        else:
            state = "on track"
        out[stage] = {"state": state, "due": moment, "minutes_left": left, "used": used}
    return out


def worst_state(status: dict) -> str:
    """The case's overall SLA state for sorting and colouring: the worst of its stages."""
    order = ("breached", "at risk", "paused", "on track", "met", "not started", "none")
    states = {s["state"] for s in status.values()}
    return next((o for o in order if o in states), "none")

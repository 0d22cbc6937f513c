"""The case queue's sweep step: open cases for new feedback, bring in root-cause tasks,
hand waiting cases to people with room, and keep the SLA clocks (at risk, breached,
escalation). Run by `python -m analysis sweep` after the spike alerts and triggers.

Idempotent at a given `now`: every feedback the step has looked at is a `case_intake` row,
every SLA transition and escalation an event written once.

- Feedback received more than `lookback_days` before `now` is noted as too old, not queued
  (a first import of years of history must not flood the queue).
- A comment waits for its sentiment and themes (scored by `python -m analysis themes`) up to
  DEFER_HOURS after it arrived; a score without a comment goes at once.
- Later feedback from a customer with an open case on the same theme joins that case.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils

from analysis.cases.people import (
    OPEN_STATUSES,
    escalation_contact,
    has_room,
    route_case,
    rules,
)
from analysis.cases.policy import CASE_TYPE, ROOT_CAUSE, case_settings, route_bands, route_for
from analysis.cases.priority import PriorityInput, priority_for, theme_weights
from analysis.cases.records import Clocks, event, join_case, open_case
from analysis.store.clock import from_iso, to_iso

DEFER_HOURS = 24
"""How long a comment waits for its sentiment and themes before it is routed as it is."""


@dataclass
class CaseSweepResult:
    looked_at: int = 0
    outcomes: Counter = field(default_factory=Counter)
    opened: int = 0
    joined: int = 0
    tasks: int = 0
    assigned: int = 0
    at_risk: int = 0
    breached: int = 0
    escalated: int = 0

    def summary(self) -> str:
        return (f"{self.looked_at} feedback looked at, {self.opened} case(s) opened, "
                f"{self.joined} joined, {self.tasks} root-cause task(s) queued, "
                f"{self.assigned} assigned, {self.at_risk} at risk, {self.breached} breached, "
                f"{self.escalated} escalated")


def sweep_cases(db: sqlite_utils.Database, *, now: datetime, since=None,
                actor: str) -> CaseSweepResult:
    """The step (see the module docstring); `since` is accepted for the sweep's signature:
    cases are opened at `now`, never replayed."""
    del since
    result = CaseSweepResult()
    settings = case_settings(db)
    clocks = Clocks.load(db)
    _intake(db, now=now, actor=actor, settings=settings, clocks=clocks, result=result)
    _root_cause_tasks(db, now=now, actor=actor, clocks=clocks, result=result)
    _assign_waiting(db, now=now, actor=actor, result=result)
    _clocks(db, now=now, actor=actor, settings=settings, clocks=clocks, result=result)
    return result


# ------------------------------------------------------------------ intake


def _intake(db, *, now, actor, settings, clocks, result) -> None:
    stamp = to_iso(now)
    cutoff = to_iso(now - timedelta(days=settings.lookback_days))
    done = db.execute(
        """INSERT INTO case_intake (feedback_id, route, outcome, case_id, decided_at)
           SELECT id, NULL, 'too old', NULL, ? FROM feedback
           WHERE received_at < ? AND id NOT IN (SELECT feedback_id FROM case_intake)""",
        [stamp, cutoff]).rowcount
    result.looked_at += done
    result.outcomes["too old"] += done
    pending = list(db.query(
        """SELECT f.id, f.received_at, f.score_type, f.score, f.comment, f.customer_key,
                  f.location, f.segment, f.channel, s.label AS sentiment,
                  s.score AS sentiment_score,
                  (SELECT a.theme_id FROM theme_assignments a WHERE a.feedback_id = f.id
                   ORDER BY a.is_primary DESC, a.probability DESC LIMIT 1) AS theme_id
           FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
           WHERE f.received_at >= ? AND f.received_at <= ?
             AND f.id NOT IN (SELECT feedback_id FROM case_intake)
           ORDER BY f.received_at, f.id""", [cutoff, stamp]))
    if not pending:
        return
    bands = route_bands(db)
    found_rules = rules(db)
    weights: dict | None = None
    names = dict(db.execute("SELECT id, name FROM themes").fetchall())
    spiking = {(r[0], r[1]) for r in db.execute(
        "SELECT theme_id, COALESCE(location, '') FROM alerts WHERE status = 'open'")}
    parents = dict(db.execute("SELECT id, parent_id FROM themes WHERE parent_id IS NOT NULL"))
    open_cases = {(r[0], r[1], r[2] or 0): r[3] for r in db.execute(
        f"""SELECT type, customer_key, theme_id, id FROM cases WHERE customer_key IS NOT NULL
            AND status IN ({', '.join('?' * len(OPEN_STATUSES))})""", list(OPEN_STATUSES))}
    defer_before = now - timedelta(hours=DEFER_HOURS)
    for item in pending:
        has_comment = bool((item["comment"] or "").strip())
        if has_comment and item["sentiment"] is None \
                and from_iso(item["received_at"]) > defer_before:
            continue   # its sentiment and themes are on their way
        result.looked_at += 1
        route = route_for(bands, item["score_type"], item["score"], item["sentiment"])
        if route is None:
            _note_intake(db, item["id"], None, "no route", None, stamp)
            result.outcomes["no route"] += 1
            continue
        case_type = CASE_TYPE[route]
        key = (case_type, item["customer_key"], item["theme_id"] or 0)
        if item["customer_key"] and key in open_cases:
            join_case(db, open_cases[key], item["id"], actor=actor, now=now)
            _note_intake(db, item["id"], route, "joined", open_cases[key], stamp)
            result.joined += 1
            result.outcomes["joined"] += 1
            continue
        if weights is None:
            weights = theme_weights(db, now=now)
        theme = item["theme_id"]
        spikes = any((t, loc) in spiking for t in (theme, parents.get(theme))
                     for loc in (item["location"] or "", ""))
        repeats = _repeats(db, item, settings.repeat_days)
        priority, score, reasons = priority_for(PriorityInput(
            route=route, score_type=item["score_type"], score=item["score"],
            sentiment=item["sentiment"], sentiment_score=item["sentiment_score"],
            comment=item["comment"], theme_weight=weights.get(theme),
            theme_name=names.get(theme), segment=item["segment"], spiking=spikes,
            repeats=repeats), settings)
        facts = {"theme_id": theme, "sentiment": item["sentiment"],
                 "location": item["location"], "segment": item["segment"],
                 "channel": item["channel"], "route": route, "priority": priority}
        where = route_case(db, facts, found_rules=found_rules)
        # A rule's named person takes it if they have room; team cases are handed out by
        # `_assign_waiting`, oldest first, so a new case never jumps an older waiting one.
        owner = where["person_id"] if where["person_id"] and has_room(db, where["person_id"]) \
            else None
        title = _title(route, names.get(theme), item)
        case_id = open_case(
            db, case_type=case_type, route=route, title=title, priority=priority,
            priority_score=score, priority_reasons=reasons, opened_at=now, actor=actor,
            clocks=clocks, customer_key=item["customer_key"], theme_id=theme,
            location=item["location"], segment=item["segment"], feedback_ids=[item["id"]],
            team_id=where["team_id"], owner_id=owner, now=now)
        event(db, case_id, "routed", actor=actor, at=stamp,
              detail={"rule": where["rule"], "team_id": where["team_id"], "owner_id": owner})
        if priority == "critical":
            _notify_critical(db, case_id, title, where["team_id"], owner, reasons, stamp)
        if item["customer_key"]:
            open_cases[key] = case_id
        _note_intake(db, item["id"], route, "opened", case_id, stamp)
        result.opened += 1
        result.outcomes["opened"] += 1
        if owner is not None:
            result.assigned += 1


def _note_intake(db, feedback_id, route, outcome, case_id, stamp) -> None:
    db.execute("INSERT INTO case_intake (feedback_id, route, outcome, case_id, decided_at) "
               "VALUES (?, ?, ?, ?, ?)", [feedback_id, route, outcome, case_id, stamp])


def _repeats(db, item, days: int) -> int:
    if not item["customer_key"]:
        return 0
    since = to_iso(from_iso(item["received_at"]) - timedelta(days=days))
    return db.execute("SELECT COUNT(*) FROM feedback WHERE customer_key = ? AND received_at "
                      ">= ? AND received_at < ?",
                      [item["customer_key"], since, item["received_at"]]).fetchone()[0]


def _title(route: str, theme: str | None, item: dict) -> str:
    what = {"recovery": "Recover", "improvement": "Clarify", "advocacy": "Thank"}[route]
    score = (f"{item['score_type'].upper()} {item['score']:g}"
             if item["score_type"] and item["score"] is not None else "comment")
    place = f" at {item['location']}" if item["location"] else ""
    return f"{what}: {theme or 'no theme'} ({score}){place}"


def _notify_critical(db, case_id, title, team_id, owner_id, reasons, stamp) -> None:
    # Stored until the outbox (issue 22) delivers it; the recipients are who can act now.
    recipients = []
    if owner_id is not None:
        row = db.execute("SELECT email FROM people WHERE id = ?", [owner_id]).fetchone()
        recipients.append(row[0] if row else None)
    lead = escalation_contact(db, team_id, 1)
    if lead:
        recipients.append(lead["email"])
    why = "; ".join(r["why"] for r in reasons if r["points"] or r["part"] == "safety/legal")
    for recipient in dict.fromkeys(recipients or [None]):
        db.execute("INSERT INTO notifications (kind, case_id, recipient, subject, body, "
                   "created_at) VALUES ('critical case', ?, ?, ?, ?, ?)",
                   [case_id, recipient, f"Critical case #{case_id}: {title}",
                    f"A critical case was opened: {title}. Why: {why}.", stamp])


# ------------------------------------------------------------------ root-cause tasks


def _root_cause_tasks(db, *, now, actor, clocks, result) -> None:
    stamp = to_iso(now)
    tasks = list(db.query(
        """SELECT t.* FROM tasks t WHERE t.status = 'open' AND t.created_at <= ?
           AND t.id NOT IN (SELECT task_id FROM cases WHERE task_id IS NOT NULL)""", [stamp]))
    found_rules = rules(db) if tasks else []
    for task in tasks:
        owner = None
        if task["owner"]:
            row = db.execute("SELECT id FROM people WHERE email = ? AND active = 1",
                             [task["owner"]]).fetchone()
            owner = row[0] if row else None
        where = route_case(db, {"theme_id": task["theme_id"], "location": task["location"],
                                "route": ROOT_CAUSE, "priority": "high"},
                           found_rules=found_rules)
        if owner is None and where["person_id"] and has_room(db, where["person_id"]):
            owner = where["person_id"]
        reasons = [{"part": "root cause", "points": 0.0,
                    "why": "a trigger rule fired: " + task["title"]}]
        open_case(db, case_type="root cause", route=ROOT_CAUSE, title=task["title"],
                  priority="high", priority_score=0.0, priority_reasons=reasons,
                  opened_at=now, actor=actor, clocks=clocks, theme_id=task["theme_id"],
                  location=task["location"], team_id=where["team_id"], owner_id=owner,
                  task_id=task["id"], now=now)
        result.tasks += 1


# ------------------------------------------------------------------ assignment


def _assign_waiting(db, *, now, actor, result) -> None:
    """Cases waiting unassigned in a team queue go to members with room, oldest first, each
    to the member with the fewest open cases (ties: lowest id), never above capacity. The
    loads are read once and kept up to date here: one query per sweep, not per case."""
    stamp = to_iso(now)
    marks = ", ".join("?" * len(OPEN_STATUSES))
    waiting = db.execute(
        f"""SELECT id, team_id FROM cases WHERE owner_id IS NULL AND team_id IS NOT NULL
            AND status IN ({marks}) ORDER BY opened_at, id""", list(OPEN_STATUSES)).fetchall()
    if not waiting:
        return
    members: dict[int, list[list[int]]] = {}
    for person_id, team_id, capacity, load in db.execute(
            f"""SELECT p.id, p.team_id, p.capacity, COALESCE(o.n, 0) FROM people p
                LEFT JOIN (SELECT owner_id, COUNT(*) AS n FROM cases WHERE status IN ({marks})
                           GROUP BY owner_id) o ON o.owner_id = p.id
                WHERE p.active = 1 AND p.team_id IS NOT NULL ORDER BY p.id""",
            list(OPEN_STATUSES)):
        members.setdefault(team_id, []).append([load, person_id, capacity])
    for case_id, team_id in waiting:
        room = [m for m in members.get(team_id, []) if m[0] < m[2]]
        if not room:
            continue
        member = min(room, key=lambda m: (m[0], m[1]))
        member[0] += 1
        db.execute("UPDATE cases SET owner_id = ?, version = version + 1, updated_at = ?, "
                   "updated_by = ? WHERE id = ?", [member[1], stamp, actor, case_id])
        event(db, case_id, "assigned", actor=actor, at=stamp,
              detail={"from_owner": None, "to_owner": member[1], "team_id": team_id,
                      "why": "waiting cases go out oldest first, to the member with the "
                             "fewest open cases"})
        result.assigned += 1


# ------------------------------------------------------------------ SLA clocks


def _clocks(db, *, now, actor, settings, clocks, result) -> None:
    stamp = to_iso(now)
    seen = {(r[0], r[1], r[2]) for r in db.execute(
        "SELECT case_id, event, json_extract(detail, '$.stage') FROM case_events "
        "WHERE event IN ('sla at risk', 'sla breached')")}
    cases = list(db.query(
        """SELECT * FROM cases WHERE status IN ('new', 'acknowledged', 'in progress',
           'waiting on customer', 'resolved')"""))
    for case in cases:
        stages = clocks.status(case, now, settings.at_risk)
        for stage, state in stages.items():
            kind = {"at risk": "sla at risk", "breached": "sla breached"}.get(state["state"])
            if kind is None or (case["id"], kind, stage) in seen:
                continue
            if state["minutes_left"] is None:
                continue   # done late: the breach was recorded while it ran, or is history
            event(db, case["id"], kind, actor=actor, at=stamp,
                  detail={"stage": stage, "due": to_iso(state["due"]),
                          "minutes_left": round(state["minutes_left"], 1)})
            seen.add((case["id"], kind, stage))
            if kind == "sla at risk":
                result.at_risk += 1
            else:
                result.breached += 1
        _escalate(db, case, stages, stamp=stamp, actor=actor, result=result)


ESCALATION = ((1, "acknowledge", "not acknowledged by its due time"),
              (2, "resolve", "not resolved by its due time"))


def _escalate(db, case: dict, stages: dict, *, stamp: str, actor: str, result) -> None:
    """Up one level per missed stage (team lead, then manager), each level once."""
    level = case["escalation_level"]
    for to_level, stage, why in ESCALATION:
        if level >= to_level or stages[stage]["state"] != "breached" \
                or stages[stage]["minutes_left"] is None:
            continue
        contact = escalation_contact(db, case["team_id"], to_level)
        db.execute("UPDATE cases SET escalation_level = ?, version = version + 1, "
                   "updated_at = ?, updated_by = ? WHERE id = ?",
                   [to_level, stamp, actor, case["id"]])
        event(db, case["id"], "escalated", actor=actor, at=stamp,
              detail={"level": to_level, "stage": stage, "reason": why,
                      "to": contact["name"] if contact else None})
        db.execute("INSERT INTO notifications (kind, case_id, recipient, subject, body, "
                   "created_at) VALUES ('escalation', ?, ?, ?, ?, ?)",
                   [case["id"], contact["email"] if contact else None,
                    f"Escalated case #{case['id']} (level {to_level}): {case['title']}",
                    json.dumps({"reason": why, "stage": stage}), stamp])
        level = to_level
        result.escalated += 1

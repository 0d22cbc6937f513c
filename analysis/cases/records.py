"""Cases as records: opening, the lifecycle, assignment, notes, merge and unmerge, and the
reads the queue needs. Every change is a `case_events` row (who, when, from, to, note): the
timeline is the audit trail.

    new -> acknowledged -> in progress <-> waiting on customer -> resolved -> followed up
        -> closed; resolved, followed up and closed can be reopened (back to in progress)

Two managers changing one case at once: each change names the version it was made on
(`expected_version`); a change on an older version raises CaseConflict, naming who changed
the case since, and nothing is written. Writes run inside the caller's
`store.write_transaction`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from analysis.cases.calendar import business_minutes_between
from analysis.cases.people import OPEN_STATUSES
from analysis.cases.policy import (
    PRIORITIES,
    RESOLUTION_CATEGORIES,
    calendar_for,
    calendars,
    sla_policies,
)
from analysis.cases.sla import clock_for, due_times, sla_status, worst_state
from analysis.store.clock import from_iso, to_iso, utcnow

STATUSES = ("new", "acknowledged", "in progress", "waiting on customer", "resolved",
            "followed up", "closed", "merged")
DONE_STATUSES = ("resolved", "followed up", "closed")
TRANSITIONS = {
    "new": ("acknowledged", "in progress", "waiting on customer", "resolved", "closed"),
    "acknowledged": ("in progress", "waiting on customer", "resolved"),
    "in progress": ("waiting on customer", "resolved"),
    "waiting on customer": ("in progress", "resolved"),
    "resolved": ("followed up", "closed", "in progress"),
    "followed up": ("closed", "in progress"),
    "closed": ("in progress",),
    "merged": (),
}
"""Allowed moves; back to "in progress" from resolved, followed up or closed is a reopen.
Closing a new case straight away is for spam and tests of the form; it needs a note."""


class CaseError(ValueError):
    """A change that cannot be made; the message says which field and why."""


class CaseConflict(CaseError):
    """The case changed since the caller read it; `current` is its new state."""

    def __init__(self, message: str, current: dict):
        super().__init__(message)
        self.current = current


@dataclass
class Clocks:
    """The SLA policies and calendars, read once for many cases."""
    policies: dict
    calendars: dict

    @classmethod
    def load(cls, db: sqlite_utils.Database) -> Clocks:
        return cls(sla_policies(db), calendars(db))

    def policy(self, case: dict):
        return self.policies[case["priority"]]

    def calendar(self, case: dict):
        return calendar_for(self.calendars, case.get("location"))

    def due(self, case: dict) -> dict:
        return due_times(case, self.policy(case), self.calendar(case))

    def status(self, case: dict, now: datetime, at_risk: float = 0.75) -> dict:
        stored = {"acknowledge": _maybe(case.get("ack_due")),
                  "resolve": _maybe(case.get("resolve_due")),
                  "follow up": _maybe(case.get("followup_due"))}
        return sla_status(case, self.policy(case), self.calendar(case), now=now,
                          at_risk=at_risk, due=stored if case.get("ack_due") else None)


def _maybe(value):
    return from_iso(value) if value else None


def _due_columns(due: dict) -> dict:
    return {"ack_due": to_iso(due["acknowledge"]), "resolve_due": to_iso(due["resolve"]),
            "followup_due": to_iso(due["follow up"]) if due["follow up"] else None}


def event(db, case_id: int, name: str, *, actor: str, at: str, from_status=None,
          to_status=None, detail: dict | None = None, note: str | None = None) -> None:
    db.execute("INSERT INTO case_events (case_id, event, from_status, to_status, detail, note, "
               "actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               [case_id, name, from_status, to_status, json.dumps(detail or {}, default=str),
                note, actor, at])


# ------------------------------------------------------------------ opening


def open_case(db: sqlite_utils.Database, *, case_type: str, route: str, title: str,
              priority: str, priority_score: float, priority_reasons: list[dict],
              opened_at: datetime, actor: str, clocks: Clocks, customer_key=None,
              theme_id=None, location=None, segment=None, feedback_ids=(), team_id=None,
              owner_id=None, task_id=None, now: datetime | None = None) -> int:
    """Store a new case with its due times and its feedback; returns its id."""
    if priority not in PRIORITIES:
        raise CaseError(f"priority: must be one of {', '.join(PRIORITIES)}, got {priority!r}")
    stamp = to_iso(now or utcnow())
    row = {"type": case_type, "route": route, "title": title[:200], "customer_key": customer_key,
           "theme_id": theme_id, "location": location, "segment": segment,
           "priority": priority, "priority_score": float(priority_score),
           "priority_reasons": json.dumps(priority_reasons), "status": "new",
           "owner_id": owner_id, "team_id": team_id, "opened_at": to_iso(opened_at),
           "task_id": task_id, "created_by": actor, "updated_at": stamp, "updated_by": actor}
    row |= _due_columns(clocks.due(row))
    case_id = db.execute(f"INSERT INTO cases ({', '.join(row)}) VALUES "
                         f"({', '.join('?' * len(row))})", list(row.values())).lastrowid
    db.conn.executemany("INSERT INTO case_feedback (case_id, feedback_id, origin_case_id, "
                        "joined_at) VALUES (?, ?, ?, ?)",
                        [(case_id, int(f), case_id, stamp) for f in feedback_ids])
    event(db, case_id, "opened", actor=actor, at=stamp, to_status="new",
          detail={"priority": priority, "score": priority_score, "route": route,
                  "team_id": team_id, "owner_id": owner_id, "feedback": list(feedback_ids)})
    return case_id


def join_case(db: sqlite_utils.Database, case_id: int, feedback_id: int, *, actor: str,
              now: datetime | None = None) -> None:
    """Later feedback from the same customer on the same theme joins their open case."""
    stamp = to_iso(now or utcnow())
    db.execute("INSERT OR IGNORE INTO case_feedback (case_id, feedback_id, origin_case_id, "
               "joined_at) VALUES (?, ?, ?, ?)", [case_id, feedback_id, case_id, stamp])
    db.execute("UPDATE cases SET version = version + 1, updated_at = ?, updated_by = ? "
               "WHERE id = ?", [stamp, actor, case_id])
    event(db, case_id, "feedback joined", actor=actor, at=stamp, detail={"feedback": feedback_id})


# ------------------------------------------------------------------ reading


def get_case(db: sqlite_utils.Database, case_id: int) -> dict:
    rows = list(db.query("SELECT * FROM cases WHERE id = ?", [int(case_id)]))
    if not rows:
        raise CaseError(f"there is no case {case_id}")
    case = rows[0]
    case["priority_reasons"] = json.loads(case["priority_reasons"])
    case["feedback_ids"] = [r[0] for r in db.execute(
        "SELECT feedback_id FROM case_feedback WHERE case_id = ? ORDER BY feedback_id",
        [case["id"]])]
    return case


def case_teams(db: sqlite_utils.Database, case_ids) -> dict[int, int | None]:
    """Case id -> its team id (None: no team), for the permission check of a write that
    names these cases. A case that does not exist is left out."""
    ids = [int(i) for i in case_ids]
    if not ids:
        return {}
    return dict(db.execute(f"SELECT id, team_id FROM cases WHERE id IN "
                           f"({', '.join('?' * len(ids))})", ids).fetchall())


def timeline(db: sqlite_utils.Database, case_id: int) -> list[dict]:
    return [{**r, "detail": json.loads(r["detail"])} for r in db.query(
        "SELECT event, from_status, to_status, detail, note, actor, at FROM case_events "
        "WHERE case_id = ? ORDER BY id", [int(case_id)])]


def case_feedback(db: sqlite_utils.Database, case_id: int) -> list[dict]:
    return list(db.query(
        """SELECT f.id, f.received_at, f.score_type, f.score, f.comment, f.location, f.channel,
                  s.label AS sentiment
           FROM case_feedback cf JOIN feedback f ON f.id = cf.feedback_id
           LEFT JOIN sentiment s ON s.feedback_id = f.id
           WHERE cf.case_id = ? ORDER BY f.received_at""", [int(case_id)]))


# ------------------------------------------------------------------ changing


def _check_version(db, case_id: int, expected_version: int | None) -> dict:
    case = get_case(db, case_id)
    if expected_version is not None and case["version"] != expected_version:
        raise CaseConflict(
            f"case {case_id} changed since you opened it (now {case['status']}, changed by "
            f"{case['updated_by']} at {case['updated_at']}); your change was not saved",
            case)
    return case


def _update(db, case: dict, changes: dict, *, actor: str, stamp: str) -> None:
    changes = changes | {"updated_at": stamp, "updated_by": actor}
    done = db.execute(
        f"UPDATE cases SET {', '.join(f'{k} = ?' for k in changes)}, version = version + 1 "
        f"WHERE id = ? AND version = ?", [*changes.values(), case["id"], case["version"]])
    if done.rowcount != 1:   # another writer got in between the read and this write
        raise CaseConflict(f"case {case['id']} changed while saving; try again",
                           get_case(db, case["id"]))


def change_status(db: sqlite_utils.Database, case_id: int, to: str, *, actor: str,
                  now: datetime | None = None, expected_version: int | None = None,
                  note: str | None = None, resolution_category: str | None = None,
                  clocks: Clocks | None = None) -> dict:
    """Move a case along its lifecycle; returns the case as saved."""
    now = now or utcnow()
    stamp = to_iso(now)
    case = _check_version(db, case_id, expected_version)
    frm = case["status"]
    if to not in STATUSES or to == "merged":
        raise CaseError(f"status: must be one of {', '.join(STATUSES[:-1])}, got {to!r}")
    if to not in TRANSITIONS[frm]:
        raise CaseError(f"status: a {frm} case cannot become {to}; it can become "
                        f"{', '.join(TRANSITIONS[frm]) or 'nothing (merged)'}")
    note = (note or "").strip() or None
    changes: dict = {"status": to}
    if to == "resolved":
        if resolution_category not in RESOLUTION_CATEGORIES:
            raise CaseError(f"resolution category: required to resolve, one of "
                            f"{', '.join(RESOLUTION_CATEGORIES)}")
        if not note:
            raise CaseError("note: say how it was resolved")
        changes |= {"resolved_at": stamp, "resolution_category": resolution_category,
                    "resolution_note": note}
    if to == "closed" and frm == "new" and not note:
        raise CaseError("note: say why a new case is closed without being worked")
    if frm == "new" or case["acknowledged_at"] is None:
        changes["acknowledged_at"] = stamp
    if to == "followed up":
        changes["followed_up_at"] = stamp
    if to == "closed":
        changes["closed_at"] = stamp
    clocks = clocks or Clocks.load(db)
    if to == "waiting on customer":
        changes["paused_at"] = stamp
    if frm == "waiting on customer":
        clock = clock_for(clocks.policy(case), clocks.calendar(case))
        waited = business_minutes_between(clock, from_iso(case["paused_at"]), now)
        changes |= {"paused_at": None,
                    "paused_minutes": float(case["paused_minutes"] or 0) + waited}
    reopening = frm in DONE_STATUSES and to == "in progress"
    if reopening:
        changes |= {"resolved_at": None, "followed_up_at": None, "closed_at": None,
                    "resolution_category": None, "resolution_note": None}
    merged = case | changes
    changes |= _due_columns(clocks.due(merged))
    _update(db, case, changes, actor=actor, stamp=stamp)
    detail = {"resolution_category": resolution_category} if to == "resolved" else {}
    if frm == "waiting on customer":
        detail["waited_minutes"] = round(changes["paused_minutes"]
                                         - float(case["paused_minutes"] or 0), 1)
    event(db, case_id, "reopened" if reopening else "status", actor=actor, at=stamp,
          from_status=frm, to_status=to, detail=detail, note=note)
    return get_case(db, case_id)


def assign(db: sqlite_utils.Database, case_id: int, owner_id: int | None, *, actor: str,
           now: datetime | None = None, expected_version: int | None = None,
           team_id: int | None = None) -> dict:
    """Give a case to a person (None: back to the team's unassigned queue). A manager may
    assign above someone's capacity; automatic assignment never does."""
    stamp = to_iso(now or utcnow())
    case = _check_version(db, case_id, expected_version)
    if case["status"] == "merged":
        raise CaseError(f"case {case_id} is merged into case {case['merged_into']}")
    changes = {"owner_id": owner_id}
    if owner_id is not None:
        row = db.execute("SELECT team_id, active FROM people WHERE id = ?", [owner_id]).fetchone()
        if row is None:
            raise CaseError(f"owner: there is no person {owner_id}")
        if not row[1]:
            raise CaseError(f"owner: person {owner_id} is inactive")
        changes["team_id"] = team_id if team_id is not None else (row[0] or case["team_id"])
    elif team_id is not None:
        changes["team_id"] = team_id
    if all(case[k] == v for k, v in changes.items()):
        return case
    _update(db, case, changes, actor=actor, stamp=stamp)
    event(db, case_id, "assigned", actor=actor, at=stamp,
          detail={"from_owner": case["owner_id"], "to_owner": owner_id,
                  "team_id": changes.get("team_id", case["team_id"])})
    return get_case(db, case_id)


def add_note(db: sqlite_utils.Database, case_id: int, note: str, *, actor: str,
             now: datetime | None = None) -> None:
    note = (note or "").strip()
    if not note:
        raise CaseError("note: write something")
    get_case(db, case_id)
    event(db, case_id, "note", actor=actor, at=to_iso(now or utcnow()), note=note[:4000])


# ------------------------------------------------------------------ merge and unmerge


def merge_cases(db: sqlite_utils.Database, keep_id: int, duplicate_id: int, *, actor: str,
                now: datetime | None = None, expected_versions: dict | None = None) -> dict:
    """Fold a customer's duplicate case into another: its feedback moves (remembering where
    it came from), it becomes "merged", and both timelines say so. Lossless: see
    `unmerge_case`."""
    stamp = to_iso(now or utcnow())
    versions = expected_versions or {}
    keep = _check_version(db, keep_id, versions.get(keep_id))
    dup = _check_version(db, duplicate_id, versions.get(duplicate_id))
    if keep_id == duplicate_id:
        raise CaseError("merge: a case cannot be merged into itself")
    for case in (keep, dup):
        if case["status"] == "merged":
            raise CaseError(f"merge: case {case['id']} is already merged into case "
                            f"{case['merged_into']}")
    if keep["customer_key"] != dup["customer_key"] or keep["customer_key"] is None:
        raise CaseError("merge: only a customer's own duplicate cases can be merged (the "
                        "customers differ or are unknown)")
    moved = dup["feedback_ids"]
    db.conn.executemany("UPDATE case_feedback SET case_id = ? WHERE case_id = ? AND "
                        "feedback_id = ?", [(keep_id, duplicate_id, f) for f in moved])
    _update(db, dup, {"status": "merged", "merged_into": keep_id}, actor=actor, stamp=stamp)
    _update(db, keep, {}, actor=actor, stamp=stamp)
    before = {k: dup[k] for k in ("status", "paused_at")}
    event(db, duplicate_id, "merged", actor=actor, at=stamp, from_status=dup["status"],
          to_status="merged", detail={"into": keep_id, "feedback": moved, "before": before})
    event(db, keep_id, "merged in", actor=actor, at=stamp,
          detail={"from": duplicate_id, "feedback": moved})
    return get_case(db, keep_id)


def unmerge_case(db: sqlite_utils.Database, duplicate_id: int, *, actor: str,
                 now: datetime | None = None) -> dict:
    """Undo a merge exactly: the feedback that came from the duplicate goes back, and the
    duplicate returns to the status it had."""
    stamp = to_iso(now or utcnow())
    dup = get_case(db, duplicate_id)
    if dup["status"] != "merged":
        raise CaseError(f"unmerge: case {duplicate_id} is not merged")
    keep = get_case(db, dup["merged_into"])
    last = db.execute("SELECT detail FROM case_events WHERE case_id = ? AND event = 'merged' "
                      "ORDER BY id DESC LIMIT 1", [duplicate_id]).fetchone()
    before = json.loads(last[0])["before"]
    db.execute("UPDATE case_feedback SET case_id = ? WHERE case_id = ? AND origin_case_id = ?",
               [duplicate_id, keep["id"], duplicate_id])
    _update(db, dup, {"status": before["status"], "merged_into": None,
                      "paused_at": before["paused_at"]}, actor=actor, stamp=stamp)
    _update(db, keep, {}, actor=actor, stamp=stamp)
    event(db, duplicate_id, "unmerged", actor=actor, at=stamp, from_status="merged",
          to_status=before["status"], detail={"from": keep["id"]})
    event(db, keep["id"], "unmerged out", actor=actor, at=stamp,
          detail={"case": duplicate_id})
    return get_case(db, duplicate_id)


# ------------------------------------------------------------------ the queue


CASE_FIELDS = ["id", "type", "route", "title", "customer_key", "theme_id", "theme",
               "location", "segment", "priority", "priority_score", "priority_reasons",
               "status", "owner_id", "owner", "team_id", "team", "opened_at",
               "acknowledged_at", "resolved_at", "ack_due", "resolve_due", "followup_due",
               "sla_status", "sla_state", "next_due", "minutes_left", "escalation_level",
               "resolution_category", "merged_into", "feedback_ids", "version"]


def list_cases(db: sqlite_utils.Database, *, now: datetime, status: str = "open",
               owner_id: int | None = None, team_id: int | None = None,
               priorities=(), locations=(), theme_ids=(), routes=(), sla_states=(),
               limit: int | None = None, at_risk: float | None = None) -> list[dict]:
    """Cases with their SLA status per stage, what is due first first. `status`: "open"
    (not yet resolved), "all", or one status."""
    from analysis.cases.policy import case_settings

    where, params = [], []
    if status == "open":
        where.append(f"c.status IN ({', '.join('?' * len(OPEN_STATUSES))})")
        params += OPEN_STATUSES
    elif status != "all":
        where.append("c.status = ?")
        params.append(status)
    for column, values in (("c.priority", priorities), ("c.location", locations),
                           ("c.theme_id", theme_ids), ("c.route", routes)):
        if values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += list(values)
    if owner_id is not None:
        where.append("c.owner_id = ?")
        params.append(owner_id)
    if team_id is not None:
        where.append("c.team_id = ?")
        params.append(team_id)
    rows = list(db.query(
        f"""SELECT c.*, t.name AS theme, p.name AS owner, tm.name AS team,
                   (SELECT json_group_array(feedback_id) FROM case_feedback cf
                    WHERE cf.case_id = c.id) AS feedback_ids
            FROM cases c LEFT JOIN themes t ON t.id = c.theme_id
            LEFT JOIN people p ON p.id = c.owner_id LEFT JOIN teams tm ON tm.id = c.team_id
            {'WHERE ' + ' AND '.join(where) if where else ''}""", params))
    clocks = Clocks.load(db)
    at_risk = at_risk if at_risk is not None else case_settings(db).at_risk
    out = []
    for row in rows:
        row["priority_reasons"] = json.loads(row["priority_reasons"])
        row["feedback_ids"] = sorted(json.loads(row["feedback_ids"] or "[]"))
        stages = clocks.status(row, now, at_risk)
        row["sla_status"] = {stage: s["state"] for stage, s in stages.items()}
        row["sla_state"] = worst_state(stages)
        pending = [(s["due"], s["minutes_left"]) for s in stages.values()
                   if s["minutes_left"] is not None]
        row["next_due"], row["minutes_left"] = min(pending, key=lambda p: p[0]) \
            if pending else (None, None)
        row["next_due"] = to_iso(row["next_due"]) if row["next_due"] else None
        if sla_states and row["sla_state"] not in sla_states:
            continue
        out.append(row)
    rank = {p: k for k, p in enumerate(PRIORITIES)}
    far = "9999-12-31T00:00:00Z"
    out.sort(key=lambda r: (r["next_due"] or far, rank[r["priority"]], r["opened_at"], r["id"]))
    return out[:limit] if limit else out


def contact_history(db: sqlite_utils.Database, customer_key: str) -> list[dict]:
    """A customer's feedback, cases and the messages sent to them, newest first."""
    if not customer_key:
        return []
    rows = [{"at": r["received_at"], "kind": "feedback", "id": r["id"],
             "summary": f"{(r['score_type'] or '').upper()} {r['score'] if r['score'] is not None else ''}"
                        f" {r['comment'] or ''}".strip()[:300]}
            for r in db.query("SELECT id, received_at, score_type, score, comment FROM feedback "
                              "WHERE customer_key = ?", [customer_key])]
    rows += [{"at": r["opened_at"], "kind": "case", "id": r["id"],
              "summary": f"{r['title']} ({r['status']})"}
             for r in db.query("SELECT id, opened_at, title, status FROM cases "
                               "WHERE customer_key = ?", [customer_key])]
    rows += [{"at": r["at"], "kind": f"message: {r['kind']}", "id": r["id"],
              "summary": r["channel"] or ""}
             for r in db.query("SELECT id, at, kind, channel FROM customer_contacts "
                               "WHERE customer_key = ?", [customer_key])]
    return sorted(rows, key=lambda r: r["at"], reverse=True)


def may_contact(db: sqlite_utils.Database, customer_key: str, *, now: datetime,
                min_days: int | None = None, for_case: bool = False) -> tuple[bool, str]:
    """The contact-frequency rule: no new follow-up or survey request to a customer
    contacted within `min_days` (case settings) unless a case needs it."""
    from analysis.cases.policy import case_settings

    days = case_settings(db).contact_min_days if min_days is None else min_days
    if for_case:
        return True, "a case needs it"
    row = db.execute("SELECT MAX(at) FROM customer_contacts WHERE customer_key = ?",
                     [customer_key]).fetchone()
    if row[0] and from_iso(row[0]) > now - timedelta(days=days):
        return False, f"contacted on {row[0][:10]}, within {days} days"
    return True, f"not contacted within {days} days"


def record_contact(db: sqlite_utils.Database, customer_key: str, kind: str, *, actor: str,
                   channel: str | None = None, case_id: int | None = None,
                   detail: dict | None = None, now: datetime | None = None) -> int:
    return db.execute("INSERT INTO customer_contacts (customer_key, kind, channel, case_id, "
                      "detail, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [customer_key, kind, channel, case_id, json.dumps(detail or {}), actor,
                       to_iso(now or utcnow())]).lastrowid


def queue_health(db: sqlite_utils.Database, *, now: datetime,
                 cases: list[dict] | None = None, team_ids=None) -> dict:
    """The numbers at the top of the queue: open, at risk, breached (open cases), the share
    of SLA stages met among those that came due this week (to now),
    per stage with its count, and the median business-blind minutes from opening to
    acknowledgement over cases acknowledged this week. The week is the local one
    (CLOSELOOP_TZ), from Monday 00:00. `team_ids`: count only the cases of these teams (a
    manager's queue); None: every case."""
    from statistics import median

    from zoneinfo import ZoneInfo

    from analysis.settings import get_settings

    open_cases = cases if cases is not None else list_cases(db, now=now)
    in_teams, team_params = "", []
    if team_ids is not None:
        team_params = sorted(int(t) for t in team_ids)
        in_teams = f" AND team_id IN ({', '.join('?' * len(team_params))})" if team_params \
            else " AND 0"
        wanted = set(team_params)
        open_cases = [c for c in open_cases if c.get("team_id") in wanted]
    # "This week" is the local week (CLOSELOOP_TZ), as every other page counts weeks.
    zone = ZoneInfo(get_settings().timezone)
    local = now.astimezone(zone)
    week_start = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)
    start, stop = to_iso(week_start), to_iso(now)
    met = {}
    for stage, due_col, done_col in (("acknowledge", "ack_due", "acknowledged_at"),
                                     ("resolve", "resolve_due", "resolved_at"),
                                     ("follow up", "followup_due", "followed_up_at")):
        # Waiting cases' stored due times stand still; they are judged when they resume.
        row = db.execute(
            f"""SELECT COUNT(*), SUM({done_col} IS NOT NULL AND {done_col} <= {due_col})
                FROM cases WHERE {due_col} >= ? AND {due_col} <= ? AND status != 'merged'
                  AND paused_at IS NULL{in_teams}""", [start, stop, *team_params]).fetchone()
        met[stage] = {"due": row[0], "met": row[1] or 0,
                      "share": (row[1] or 0) / row[0] if row[0] else None}
    waits = [(from_iso(a) - from_iso(o)).total_seconds() / 60 for o, a in db.execute(
        "SELECT opened_at, acknowledged_at FROM cases WHERE acknowledged_at >= ? "
        f"AND acknowledged_at <= ?{in_teams}", [start, stop, *team_params])]
    states = Counter(c["sla_state"] for c in open_cases)
    return {"open": len(open_cases), "at_risk": states.get("at risk", 0),
            "breached": states.get("breached", 0), "sla_met": met,
            "median_minutes_to_acknowledge": median(waits) if waits else None,
            "week_start": start}

"""What loop health reads from the store: the cases with their names, the follow-ups sent,
the escalations, each case's status at a moment (from its timeline), and the grouping of
figures by team, owner, location, theme or month.

Merged cases are left out everywhere: a merged case is a customer's duplicate, folded into
the case that carries on (analysis/cases/records.py), so counting it would count one
complaint twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import sqlite_utils

from analysis.cases.people import OPEN_STATUSES
from analysis.followup.delivery import FOLLOW_UP_KINDS
from analysis.store.clock import from_iso, to_iso, utcnow

BY = ("team", "owner", "location", "theme", "month")
AUTOMATION_ACTORS = ("sweep",)
"""Who counts as automation besides the actors recorded in `sweep_runs` (the sweep runs as
CLOSELOOP_ACTOR, `system` by default; tests and the docs run it as `sweep`)."""
NO_GROUP = {"team": "(no team)", "owner": "(unassigned)", "location": "(no location)",
            "theme": "(no theme)"}


class LoopHealthError(ValueError):
    """A period or grouping that cannot be measured; the message names the parameter."""


def check_by(by: str | None) -> str | None:
    if by is not None and by not in BY:
        raise LoopHealthError(f"by: must be None or one of {', '.join(BY)}, got "
                              f"{str(by)[:40]!r}")
    return by


def _moment(value, name: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise LoopHealthError(f"{name}: give a timezone-aware datetime (a wall time "
                                  f"without a zone is ambiguous), got {value.isoformat()}")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    raise LoopHealthError(f"{name}: expected a date or datetime, got {type(value).__name__}")


def period(start, end, now) -> tuple[str, str, str, datetime]:
    """(start, end, as_of, now) as stored-format strings (and now as a datetime). `as_of` is
    the earlier of `end` and `now`: a period still running is measured up to now, since a
    stage due tomorrow is neither met nor missed yet. A date is its midnight, UTC."""
    start_at, end_at = _moment(start, "start"), _moment(end, "end")
    if end_at <= start_at:
        raise LoopHealthError(f"start: must be before end ({to_iso(start_at)} is not before "
                              f"{to_iso(end_at)})")
    now_at = _moment(now, "now") if now is not None else utcnow()
    return to_iso(start_at), to_iso(end_at), to_iso(min(end_at, now_at)), now_at


def load_cases(db: sqlite_utils.Database, *, before: str) -> list[dict]:
    """Every case opened before `before` (stored-format), not merged, with its theme, owner
    and team names."""
    return list(db.query(
        """SELECT c.*, t.name AS theme, p.name AS owner, tm.name AS team
           FROM cases c LEFT JOIN themes t ON t.id = c.theme_id
           LEFT JOIN people p ON p.id = c.owner_id LEFT JOIN teams tm ON tm.id = c.team_id
           WHERE c.status != 'merged' AND c.opened_at < ? ORDER BY c.opened_at, c.id""",
        [before]))


def follow_ups_sent(db: sqlite_utils.Database, *, by: str) -> dict[int, list[dict]]:
    """Case id -> the follow-up messages sent to its customer by `by` (stored-format), first
    sent first: outbox rows of a follow-up kind (a written follow-up, a review request) with
    status sent. Only a message that went out counts: a case marked "followed up" by hand
    without one leaves no trace of what the customer was told."""
    marks = ", ".join("?" * len(FOLLOW_UP_KINDS))
    found: dict[int, list[dict]] = {}
    for row in db.query(
            f"""SELECT case_id, kind, created_by, template_id,
                       COALESCE(sent_at, updated_at) AS sent_at
                FROM outbox WHERE status = 'sent' AND case_id IS NOT NULL
                  AND kind IN ({marks}) AND COALESCE(sent_at, updated_at) <= ?
                ORDER BY COALESCE(sent_at, updated_at), id""", [*FOLLOW_UP_KINDS, by]):
        found.setdefault(row["case_id"], []).append(row)
    return found


def automation_actors(db: sqlite_utils.Database, extra=AUTOMATION_ACTORS) -> set[str]:
    return {r[0] for r in db.execute("SELECT DISTINCT actor FROM sweep_runs")} | set(extra)


def escalated_cases(db: sqlite_utils.Database, *, by: str) -> set[int]:
    return {r[0] for r in db.execute(
        "SELECT DISTINCT case_id FROM case_events WHERE event = 'escalated' AND at <= ?",
        [by])}


def statuses_at(db: sqlite_utils.Database, cases: list[dict], moment: str) -> dict[int, str]:
    """Case id -> its status just before `moment`, replayed from its timeline (every status
    change is an event with `to_status`), so that a case resolved later, or resolved then
    reopened, is seen as it stood. A case with no event before then (written without its
    timeline) is judged by its resolved and closed times."""
    last: dict[int, str] = {}
    for case_id, to_status in db.execute(
            "SELECT case_id, to_status FROM case_events WHERE to_status IS NOT NULL "
            "AND at < ? ORDER BY id", [moment]):
        last[case_id] = to_status
    found = {}
    for case in cases:
        if case["opened_at"] >= moment:
            continue
        status = last.get(case["id"])
        if status is None:
            done = [t for t in (case["resolved_at"], case["closed_at"]) if t and t < moment]
            status = "resolved" if done else "new"
        found[case["id"]] = status
    return found


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


def group_of(by: str | None, case: dict, at: str | None) -> str | None:
    """The group a figure's item falls in: the case's current team, owner, location or
    theme (as routed), or the UTC month ("YYYY-MM") of the moment the item is counted at,
    as analysis/domain/periods buckets months."""
    if by is None:
        return None
    if by == "month":
        return at[:7] if at else None
    value = case.get(by)
    return str(value) if value not in (None, "") else NO_GROUP[by]


def minutes(a: str, b: str) -> float:
    return (from_iso(b) - from_iso(a)).total_seconds() / 60

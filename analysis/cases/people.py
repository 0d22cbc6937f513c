"""People, teams and routing: who a case goes to.

Routing rules are ordered conditions (theme, sentiment, location, segment, channel, route,
priority; empty = any) pointing at a team or a person; the first active match wins, else
the default route (the team called "Customer care" if there is one). Within a team a case
goes to the active member with the fewest open cases among those below their capacity
(ties: the longest-serving member, lowest id); when everyone is full it waits unassigned,
and the sweep hands out the waiting cases oldest first as capacity frees up.

Writes run inside the caller's `store.write_transaction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from analysis.store.clock import to_iso, utcnow

ROLES = ("agent", "team lead", "manager")
DEFAULT_TEAM = "Customer care"
OPEN_STATUSES = ("new", "acknowledged", "in progress", "waiting on customer")
RULE_FIELDS = ("theme_id", "sentiment", "location", "segment", "channel", "route", "priority")


class PeopleError(ValueError):
    """A person, team or rule that cannot be saved; the message names the field."""


# ------------------------------------------------------------------ teams and people


def save_team(db: sqlite_utils.Database, name: str, *, lead_id: int | None = None,
              manager_id: int | None = None, team_id: int | None = None, actor: str,
              now: datetime | None = None) -> int:
    name = (name or "").strip()
    if not name:
        raise PeopleError("team name: a team needs a name")
    for field_name, person in (("lead", lead_id), ("manager", manager_id)):
        if person is not None and not _exists(db, "people", person):
            raise PeopleError(f"team {field_name}: there is no person {person}")
    clash = db.execute("SELECT id FROM teams WHERE name = ? AND id IS NOT ?",
                       [name, team_id]).fetchone()
    if clash:
        raise PeopleError(f"team name: {name!r} is taken by team {clash[0]}")
    stamp = to_iso(now or utcnow())
    if team_id is None:
        return db.execute("INSERT INTO teams (name, lead_id, manager_id, updated_at, "
                          "updated_by) VALUES (?, ?, ?, ?, ?)",
                          [name, lead_id, manager_id, stamp, actor]).lastrowid
    if not _exists(db, "teams", team_id):
        raise PeopleError(f"team: there is no team {team_id}")
    db.execute("UPDATE teams SET name = ?, lead_id = ?, manager_id = ?, updated_at = ?, "
               "updated_by = ? WHERE id = ?", [name, lead_id, manager_id, stamp, actor, team_id])
    return team_id


def save_person(db: sqlite_utils.Database, name: str, email: str, *, team_id: int | None = None,
                role: str = "agent", capacity: int = 25, active: bool = True,
                person_id: int | None = None, actor: str, now: datetime | None = None) -> int:
    name, email = (name or "").strip(), (email or "").strip()
    if not name:
        raise PeopleError("name: a person needs a name")
    if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise PeopleError(f"email: {email[:60]!r} is not an email address")
    if role not in ROLES:
        raise PeopleError(f"role: must be one of {', '.join(ROLES)}, got {str(role)[:30]!r}")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
        raise PeopleError(f"capacity: must be a whole number of open cases (0 or more), got "
                          f"{capacity!r}")
    if team_id is not None and not _exists(db, "teams", team_id):
        raise PeopleError(f"team: there is no team {team_id}")
    clash = db.execute("SELECT id FROM people WHERE email = ? AND id IS NOT ?",
                       [email, person_id]).fetchone()
    if clash:
        raise PeopleError(f"email: {email!r} belongs to person {clash[0]}")
    stamp = to_iso(now or utcnow())
    values = [name, email, team_id, role, capacity, int(bool(active)), stamp, actor]
    if person_id is None:
        return db.execute("INSERT INTO people (name, email, team_id, role, capacity, active, "
                          "updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          values).lastrowid
    if not _exists(db, "people", person_id):
        raise PeopleError(f"person: there is no person {person_id}")
    if not active:
        from analysis.auth.accounts import is_last_active_admin  # auth builds on people

        if is_last_active_admin(db, person_id):
            raise PeopleError("active: this is the last active admin, and nobody could manage "
                              "users or settings after it; make someone else an admin first")
    db.execute("UPDATE people SET name = ?, email = ?, team_id = ?, role = ?, capacity = ?, "
               "active = ?, updated_at = ?, updated_by = ? WHERE id = ?", [*values, person_id])
    return person_id


def _exists(db, table: str, row_id) -> bool:
    return db.execute(f"SELECT 1 FROM {table} WHERE id = ?", [row_id]).fetchone() is not None


def teams(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query(
        """SELECT t.*, l.name AS lead, m.name AS manager,
                  (SELECT COUNT(*) FROM people p WHERE p.team_id = t.id AND p.active) AS members
           FROM teams t LEFT JOIN people l ON l.id = t.lead_id
           LEFT JOIN people m ON m.id = t.manager_id ORDER BY t.name"""))


def people(db: sqlite_utils.Database) -> list[dict]:
    """Everyone, with their team and how many open cases they hold."""
    marks = ", ".join("?" * len(OPEN_STATUSES))
    return list(db.query(
        f"""SELECT p.*, t.name AS team,
                   (SELECT COUNT(*) FROM cases c WHERE c.owner_id = p.id
                    AND c.status IN ({marks})) AS open_cases
            FROM people p LEFT JOIN teams t ON t.id = p.team_id ORDER BY p.name""",
        list(OPEN_STATUSES)))


# ------------------------------------------------------------------ routing rules


@dataclass(frozen=True)
class RoutingRule:
    name: str
    team_id: int | None = None
    person_id: int | None = None
    theme_id: int | None = None
    sentiment: str | None = None
    location: str | None = None
    segment: str | None = None
    channel: str | None = None
    route: str | None = None
    priority: str | None = None
    active: bool = True
    position: int | None = None
    id: int | None = None

    def matches(self, case: dict) -> bool:
        return self.active and all(
            getattr(self, f) is None or getattr(self, f) == case.get(f) for f in RULE_FIELDS)


def save_rule(db: sqlite_utils.Database, rule: RoutingRule, *, actor: str,
              now: datetime | None = None) -> int:
    """Add a rule (at the end, or at `position`) or save an edited one (`rule.id`)."""
    if not (rule.name or "").strip():
        raise PeopleError("rule name: a rule needs a name")
    if rule.team_id is None and rule.person_id is None:
        raise PeopleError("rule target: route to a team or a person")
    if rule.team_id is not None and not _exists(db, "teams", rule.team_id):
        raise PeopleError(f"rule team: there is no team {rule.team_id}")
    if rule.person_id is not None and not _exists(db, "people", rule.person_id):
        raise PeopleError(f"rule person: there is no person {rule.person_id}")
    if rule.theme_id is not None and not _exists(db, "themes", rule.theme_id):
        raise PeopleError(f"rule theme: there is no theme {rule.theme_id}")
    from analysis.cases.policy import PRIORITIES, ROOT_CAUSE, ROUTES

    for field_name, allowed in (("sentiment", ("negative", "neutral", "positive")),
                                ("route", (*ROUTES, ROOT_CAUSE)), ("priority", PRIORITIES)):
        value = getattr(rule, field_name)
        if value is not None and value not in allowed:
            raise PeopleError(f"rule {field_name}: must be one of {', '.join(allowed)}, got "
                              f"{str(value)[:30]!r}")
    stamp = to_iso(now or utcnow())
    values = {f: getattr(rule, f) for f in RULE_FIELDS} | {
        "name": rule.name.strip(), "team_id": rule.team_id, "person_id": rule.person_id,
        "active": int(rule.active), "updated_at": stamp, "updated_by": actor}
    if rule.id is None:
        last = db.execute("SELECT COALESCE(MAX(position), 0) FROM routing_rules").fetchone()[0]
        values["position"] = rule.position if rule.position is not None else last + 1
        return db.execute(f"INSERT INTO routing_rules ({', '.join(values)}) VALUES "
                          f"({', '.join('?' * len(values))})", list(values.values())).lastrowid
    if not _exists(db, "routing_rules", rule.id):
        raise PeopleError(f"rule: there is no rule {rule.id}")
    if rule.position is not None:
        values["position"] = rule.position
    db.execute(f"UPDATE routing_rules SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
               [*values.values(), rule.id])
    return rule.id


def delete_rule(db: sqlite_utils.Database, rule_id: int) -> None:
    db.execute("DELETE FROM routing_rules WHERE id = ?", [rule_id])


def rules(db: sqlite_utils.Database) -> list[RoutingRule]:
    names = RoutingRule.__dataclass_fields__
    return [RoutingRule(**{k: (bool(v) if k == "active" else v) for k, v in row.items()
                           if k in names})
            for row in db.query("SELECT * FROM routing_rules ORDER BY position, id")]


def route_case(db: sqlite_utils.Database, case: dict, *,
               found_rules: list[RoutingRule] | None = None) -> dict:
    """Where a case goes: {team_id, person_id, rule} from the first matching rule, else the
    default team (None when there is none: the unassigned queue)."""
    for rule in found_rules if found_rules is not None else rules(db):
        if rule.matches(case):
            return {"team_id": rule.team_id, "person_id": rule.person_id, "rule": rule.name}
    row = db.execute("SELECT id FROM teams WHERE name = ?", [DEFAULT_TEAM]).fetchone()
    return {"team_id": row[0] if row else None, "person_id": None, "rule": "default route"}


def has_room(db: sqlite_utils.Database, person_id: int) -> bool:
    marks = ", ".join("?" * len(OPEN_STATUSES))
    row = db.execute(
        f"""SELECT p.active AND (SELECT COUNT(*) FROM cases WHERE owner_id = p.id
                                 AND status IN ({marks})) < p.capacity
            FROM people p WHERE p.id = ?""", [*OPEN_STATUSES, person_id]).fetchone()
    return bool(row and row[0])


def escalation_contact(db: sqlite_utils.Database, team_id: int | None, level: int) -> dict | None:
    """Level 1: the team lead; level 2: the team's manager (else any active manager)."""
    column = "lead_id" if level == 1 else "manager_id"
    if team_id is not None:
        row = db.execute(f"SELECT p.id, p.name, p.email FROM teams t JOIN people p "
                         f"ON p.id = t.{column} WHERE t.id = ?", [team_id]).fetchone()
        if row:
            return {"id": row[0], "name": row[1], "email": row[2]}
    role = "team lead" if level == 1 else "manager"
    row = db.execute("SELECT id, name, email FROM people WHERE role = ? AND active = 1 "
                     "AND (team_id IS ? OR ? IS NULL) ORDER BY id LIMIT 1",
                     [role, team_id, team_id]).fetchone() or db.execute(
        "SELECT id, name, email FROM people WHERE role = ? AND active = 1 ORDER BY id LIMIT 1",
        [role]).fetchone()
    return {"id": row[0], "name": row[1], "email": row[2]} if row else None

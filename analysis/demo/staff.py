"""The demo's customer-care staff, so the case queue opens with owners: one team, its lead and
manager, four agents. Written once (a store that already has people keeps them)."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from analysis.cases.people import DEFAULT_TEAM, save_person, save_team

AGENTS = (("Amira Haddad", 25), ("Ben Okafor", 25), ("Chloe Martin", 20), ("Dev Patel", 15))


def seed_demo_staff(db: sqlite_utils.Database, *, actor: str,
                    now: datetime | None = None) -> bool:
    """Inside the caller's write transaction; False when the store has people already."""
    if db.execute("SELECT COUNT(*) FROM people").fetchone()[0]:
        return False
    team_id = save_team(db, DEFAULT_TEAM, actor=actor, now=now)
    lead = save_person(db, "Lena Fischer", "lena.fischer@demo.example", team_id=team_id,
                       role="team lead", capacity=10, actor=actor, now=now)
    manager = save_person(db, "Marco Rossi", "marco.rossi@demo.example", team_id=team_id,
                          role="manager", capacity=0, actor=actor, now=now)
    save_team(db, DEFAULT_TEAM, lead_id=lead, manager_id=manager, team_id=team_id, actor=actor,
              now=now)
    for name, capacity in AGENTS:
        email = name.lower().replace(" ", ".") + "@demo.example"
        save_person(db, name, email, team_id=team_id, capacity=capacity, actor=actor, now=now)
    return True

"""The demo's customer-care staff, so the case queue opens with owners: one team, its lead and
manager, four agents. Written once (a store that already has people keeps them).

With them come the demo users (issue 24): one account per app role, each with a password
written here and in the README, so that anyone trying the demo can sign in as each role.
They are for the demo store only: a real store gets its first admin from
CLOSELOOP_ADMIN_EMAIL (or a one-time password) and its other accounts from an admin.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from analysis.auth.accounts import create_account
from analysis.cases.people import DEFAULT_TEAM, save_person, save_team

AGENTS = (("Amira Haddad", 25), ("Ben Okafor", 25), ("Chloe Martin", 20), ("Dev Patel", 15))

DEMO_USERS = (
    # (app role, name, email, password): made only for the demo store, never elsewhere.
    ("admin", "Olivia Grant", "olivia.grant@demo.example", "demo-admin-Lantern-42"),
    ("manager", "Marco Rossi", "marco.rossi@demo.example", "demo-manager-Lantern-42"),
    ("analyst", "Sam Rivera", "sam.rivera@demo.example", "demo-analyst-Lantern-42"),
    ("viewer", "Noah Kim", "noah.kim@demo.example", "demo-viewer-Lantern-42"),
)
"""The demo users, one per app role. Marco Rossi is the customer-care team's manager; the
others are not in the case queue's team (capacity 0: no case is routed to them)."""


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
    seed_demo_users(db, actor=actor, now=now)
    return True


def seed_demo_users(db: sqlite_utils.Database, *, actor: str,
                    now: datetime | None = None) -> None:
    """One account per app role with its demo password (DEMO_USERS), making the people who
    are not staff of the case queue yet (capacity 0). Inside the caller's transaction."""
    for app_role, name, email, password in DEMO_USERS:
        row = db.execute("SELECT id FROM people WHERE email = ?", [email]).fetchone()
        person_id = row[0] if row else save_person(db, name, email, capacity=0, actor=actor,
                                                   now=now)
        create_account(db, person_id, app_role=app_role, password=password, actor=actor,
                       now=now)


def demo_accounts(db: sqlite_utils.Database) -> list[str]:
    """The emails of the demo users' accounts still in a store (their passwords are in the
    README, so a store served beyond this machine should not keep them)."""
    emails = [email for _, _, email, _ in DEMO_USERS]
    marks = ", ".join("?" * len(emails))
    return [row[0] for row in db.execute(
        f"SELECT p.email FROM accounts a JOIN people p ON p.id = a.person_id "
        f"WHERE p.email IN ({marks}) AND p.active = 1 ORDER BY p.email", emails)]

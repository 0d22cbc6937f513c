"""Stores for the case-queue tests, built from code: feedback with customers, scores,
comments, sentiment and themes; a team of people; the sweep at a pinned clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analysis import store
from analysis.cases import people
from analysis.cases.sweep import sweep_cases
from tests.test_benchmarks import add_rows
from tests.test_trends_series import add_theme

MONDAY = datetime(2025, 1, 6, 10, tzinfo=UTC)
"""A Monday in winter (UTC = London time), 10:00: inside the default 09:00-17:00 hours."""
QUEUE, PRICE, STAFF = 1, 2, 3


def themes(db) -> None:
    for theme_id, name in ((QUEUE, "Queue"), (PRICE, "Price"), (STAFF, "Staff")):
        add_theme(db, theme_id, name)


def response(customer: str | None, score_type: str | None, score, *, theme=QUEUE,
             sentiment: str | None = "negative", comment: str = "the queue was endless",
             at: datetime = MONDAY - timedelta(hours=1), location: str = "Northgate",
             **fields) -> dict:
    row = {"score_type": score_type, "score": score, "comment": comment, "received_at": at,
           "location": location, "themes": [theme] if theme else [], **fields}
    if customer is not None:
        row["customer_id"] = customer
    if sentiment:
        row["sentiment"] = sentiment
    return row


def add(db, *rows: dict) -> list[int]:
    return add_rows(db, list(rows))


def team(db, *, members: int = 2, capacity: int = 5, name: str = people.DEFAULT_TEAM,
         now: datetime = MONDAY) -> tuple[int, list[int]]:
    """A team with a lead, a manager and `members` agents of `capacity` each."""
    with store.write_transaction(db):
        team_id = people.save_team(db, name, actor="test", now=now)
        lead = people.save_person(db, "Lee Lead", f"lead@{team_id}.example", team_id=team_id,
                                  role="team lead", capacity=0, actor="test", now=now)
        boss = people.save_person(db, "Mo Manager", f"boss@{team_id}.example",
                                  team_id=team_id, role="manager", capacity=0, actor="test",
                                  now=now)
        people.save_team(db, name, lead_id=lead, manager_id=boss, team_id=team_id,
                         actor="test", now=now)
        agents = [people.save_person(db, f"Agent {k}", f"agent{k}@{team_id}.example",
                                     team_id=team_id, capacity=capacity, actor="test", now=now)
                  for k in range(members)]
    return team_id, agents


def sweep(db, now: datetime = MONDAY):
    with store.write_transaction(db):
        return sweep_cases(db, now=now, actor="sweep")


def case_of(db, feedback_id: int) -> dict:
    from analysis.cases.records import get_case

    row = db.execute("SELECT case_id FROM case_feedback WHERE feedback_id = ?",
                     [feedback_id]).fetchone()
    assert row is not None, f"feedback {feedback_id} has no case"
    return get_case(db, row[0])

"""Cases as records (`analysis.cases.records`, `people`, `policy`): the lifecycle through
every state, version conflicts, merge then unmerge, the queue's reads and health, contact
history and the contact-frequency rule, people and rules checked by field, and two writers
x 500 updates losing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from analysis import store
from analysis.cases import people
from analysis.cases.policy import (
    CaseSettings,
    PolicyError,
    route_bands,
    route_for,
    save_case_settings,
    save_route_bands,
)
from analysis.cases.records import (
    CaseConflict,
    CaseError,
    add_note,
    assign,
    change_status,
    contact_history,
    get_case,
    list_cases,
    may_contact,
    merge_cases,
    queue_health,
    record_contact,
    timeline,
    unmerge_case,
)
from tests.case_stores import MONDAY, PRICE, add, case_of, response, sweep, team, themes

ROOT = Path(__file__).resolve().parent.parent
HOUR = timedelta(hours=1)


@pytest.fixture
def opened(db):
    """One recovery case for customer c1 about the queue, opened Monday 10:00."""
    themes(db)
    [fid] = add(db, response("c1", "nps", 2))
    sweep(db)
    return db, case_of(db, fid)


def test_a_case_walks_through_every_state_and_the_timeline_keeps_each_step(opened):
    db, case = opened
    steps = [("acknowledged", {}), ("in progress", {}), ("waiting on customer", {}),
             ("in progress", {}), ("resolved", {"note": "Refunded the meal",
                                                "resolution_category": "refund issued"}),
             ("followed up", {}), ("closed", {}), ("in progress", {"note": "came back"}),
             ("resolved", {"note": "Apologised", "resolution_category": "other"})]
    now = MONDAY
    with store.write_transaction(db):
        for to, extra in steps:
            now += HOUR
            case = change_status(db, case["id"], to, actor="mia", now=now,
                                 expected_version=case["version"], **extra)
    assert case["status"] == "resolved" and case["resolution_category"] == "other"
    assert case["followed_up_at"] is None and case["closed_at"] is None   # reopened
    moves = [(e["event"], e["from_status"], e["to_status"]) for e in timeline(db, case["id"])
             if e["event"] in ("status", "reopened")]
    assert moves == [("status", "new", "acknowledged"),
                     ("status", "acknowledged", "in progress"),
                     ("status", "in progress", "waiting on customer"),
                     ("status", "waiting on customer", "in progress"),
                     ("status", "in progress", "resolved"),
                     ("status", "resolved", "followed up"),
                     ("status", "followed up", "closed"),
                     ("reopened", "closed", "in progress"),
                     ("status", "in progress", "resolved")]
    notes = [e["note"] for e in timeline(db, case["id"]) if e["note"]]
    assert notes == ["Refunded the meal", "came back", "Apologised"]


@pytest.mark.parametrize("to, extra, message", [
    ("resolved", {"note": "done"}, "^resolution category: required"),
    ("resolved", {"resolution_category": "made up", "note": "x"}, "^resolution category"),
    ("resolved", {"resolution_category": "refund issued"}, "^note: say how"),
    ("followed up", {}, "^status: a new case cannot become followed up"),
    ("closed", {}, "^note: say why a new case is closed"),
    ("merged", {}, "^status: must be one of"),
    ("done", {}, "^status: must be one of"),
])
def test_a_change_that_breaks_the_rules_is_refused_and_nothing_is_stored(opened, to, extra,
                                                                         message):
    db, case = opened
    events = len(timeline(db, case["id"]))
    with pytest.raises(CaseError, match=message):
        with store.write_transaction(db):
            change_status(db, case["id"], to, actor="m", now=MONDAY + HOUR, **extra)
    assert get_case(db, case["id"]) == case and len(timeline(db, case["id"])) == events


def test_the_second_of_two_managers_is_told_the_case_changed(opened):
    db, case = opened
    seen_by_both = case["version"]
    with store.write_transaction(db):
        change_status(db, case["id"], "acknowledged", actor="ann", now=MONDAY + HOUR,
                      expected_version=seen_by_both)
    with pytest.raises(CaseConflict, match=r"case \d+ changed since you opened it \(now "
                                           r"acknowledged, changed by ann") as caught:
        with store.write_transaction(db):
            change_status(db, case["id"], "closed", actor="bob", now=MONDAY + 2 * HOUR,
                          expected_version=seen_by_both, note="spam")
    assert caught.value.current["status"] == "acknowledged"
    assert get_case(db, case["id"])["status"] == "acknowledged"


def test_assign_and_notes_are_in_the_timeline(opened):
    db, case = opened
    _, (agent, _) = team(db)
    with store.write_transaction(db):
        assigned = assign(db, case["id"], agent, actor="lead", now=MONDAY + HOUR)
        add_note(db, case["id"], "Called, no answer", actor="lead", now=MONDAY + HOUR)
    assert assigned["owner_id"] == agent and assigned["team_id"] is not None
    events = [(e["event"], e["note"]) for e in timeline(db, case["id"])][-2:]
    assert events == [("assigned", None), ("note", "Called, no answer")]
    with pytest.raises(CaseError, match="^owner: there is no person 99"):
        assign(db, case["id"], 99, actor="lead")
    with pytest.raises(CaseError, match="^note: write something"):
        add_note(db, case["id"], "  ", actor="lead")


# ------------------------------------------------------------------ merge and unmerge


def test_merge_then_unmerge_restores_exactly(db):
    themes(db)
    queue, price, price_again = add(db, response("c1", "nps", 2),
                                    response("c1", "nps", 3, theme=PRICE),
                                    response("c1", "nps", 1, theme=PRICE,
                                             at=MONDAY - timedelta(minutes=5)))
    sweep(db)
    keep, dup = case_of(db, queue), case_of(db, price)
    with store.write_transaction(db):
        change_status(db, dup["id"], "waiting on customer", actor="m", now=MONDAY + HOUR)
    dup = get_case(db, dup["id"])
    stable = ("status", "paused_at", "merged_into", "feedback_ids", "priority", "owner_id",
              "ack_due", "resolve_due", "paused_minutes", "theme_id")
    before = {k: dup[k] for k in stable}, {k: keep[k] for k in stable}
    with store.write_transaction(db):
        merged = merge_cases(db, keep["id"], dup["id"], actor="m", now=MONDAY + 2 * HOUR)
    assert merged["feedback_ids"] == sorted([queue, price, price_again])
    assert get_case(db, dup["id"])["status"] == "merged"
    [fid] = add(db, response("c1", "nps", 2, at=MONDAY + 2 * HOUR))   # joins the kept case
    sweep(db, MONDAY + 3 * HOUR)
    with store.write_transaction(db):
        unmerge_case(db, dup["id"], actor="m", now=MONDAY + 4 * HOUR)
    after_dup, after_keep = get_case(db, dup["id"]), get_case(db, keep["id"])
    assert {k: after_dup[k] for k in stable} == before[0]
    assert {k: after_keep[k] for k in stable} == before[1] | {
        "feedback_ids": sorted([queue, fid])}
    assert [e["event"] for e in timeline(db, dup["id"])][-2:] == ["merged", "unmerged"]


def test_only_a_customers_own_cases_can_be_merged(db):
    themes(db)
    mine, theirs = add(db, response("c1", "nps", 2), response("c2", "nps", 2))
    sweep(db)
    with pytest.raises(CaseError, match="^merge: only a customer's own duplicate cases"):
        merge_cases(db, case_of(db, mine)["id"], case_of(db, theirs)["id"], actor="m")
    with pytest.raises(CaseError, match="^unmerge: case .* is not merged"):
        unmerge_case(db, case_of(db, mine)["id"], actor="m")


# ------------------------------------------------------------------ the queue


def test_the_queue_is_sorted_by_what_is_due_first_and_filters_narrow_it(db):
    themes(db)
    team(db)
    add(db, response("c1", "nps", 5, theme=None),                     # low: 48 h
        response("c2", "nps", 0, theme=None),                         # medium: 24 h
        response("c3", "rating", 1, comment="a lawyer will hear of this"),   # critical: 1 h
        response("c4", "nps", 9, sentiment="positive"))               # thank you: low
    sweep(db)
    rows = list_cases(db, now=MONDAY + HOUR / 2)
    assert [r["priority"] for r in rows][:2] == ["critical", "medium"]
    assert rows[0]["minutes_left"] == pytest.approx(30)
    assert rows[0]["sla_status"] == {"acknowledge": "on track", "resolve": "on track",
                                     "follow up": "not started"}
    assert [r["priority"] for r in list_cases(db, now=MONDAY, priorities=["low"])] == \
        ["low", "low"]
    assert {r["route"] for r in list_cases(db, now=MONDAY, routes=["advocacy"])} == \
        {"advocacy"}
    late = list_cases(db, now=MONDAY + 2 * HOUR, sla_states=["breached"])
    assert [r["priority"] for r in late] == ["critical"]
    assert list_cases(db, now=MONDAY, status="closed") == []


def test_queue_health_counts_open_at_risk_breached_and_met(db):
    themes(db)
    ids = add(db, response("c1", "nps", 0, theme=None), response("c2", "nps", 0, theme=None),
              response("c3", "nps", 0, theme=None))
    sweep(db)
    first, second = case_of(db, ids[0]), case_of(db, ids[1])
    with store.write_transaction(db):
        change_status(db, first["id"], "acknowledged", actor="m", now=MONDAY + 2 * HOUR)
        change_status(db, second["id"], "acknowledged", actor="m",
                      now=MONDAY + timedelta(days=3, hours=2))   # after its due time
    # Thursday 11:00: the third is an hour past its acknowledge due time (Thursday 10:00).
    health = queue_health(db, now=MONDAY + timedelta(days=3, hours=3))
    assert (health["open"], health["breached"]) == (3, 2)
    assert health["sla_met"]["acknowledge"] == {"due": 3, "met": 1, "share": 1 / 3}
    assert health["median_minutes_to_acknowledge"] == pytest.approx(
        (2 * 60 + (3 * 24 + 2) * 60) / 2)


def test_an_empty_store_has_an_empty_queue(db):
    assert list_cases(db, now=MONDAY) == []
    health = queue_health(db, now=MONDAY)
    assert (health["open"], health["median_minutes_to_acknowledge"]) == (0, None)


def test_contact_history_and_the_contact_frequency_rule(opened):
    db, case = opened
    with store.write_transaction(db):
        record_contact(db, "id:c1", "follow-up", channel="email", case_id=case["id"],
                       actor="m", now=MONDAY + HOUR)
    history = contact_history(db, "id:c1")
    assert [h["kind"] for h in history] == ["message: follow-up", "case", "feedback"]
    allowed, why = may_contact(db, "id:c1", now=MONDAY + timedelta(days=3))
    assert not allowed and why == "contacted on 2025-01-06, within 14 days"
    assert may_contact(db, "id:c1", now=MONDAY + timedelta(days=15))[0]
    assert may_contact(db, "id:c1", now=MONDAY + timedelta(days=3), for_case=True)[0]


# ------------------------------------------------------------------ rules by field


def test_route_bands_are_editable_and_checked(db):
    with store.write_transaction(db):
        save_route_bands(db, {"nps": {"recovery": (0, 5), "improvement": (6, 8),
                                      "advocacy": (9, 10)}}, actor="admin")
    bands = route_bands(db)
    assert route_for(bands, "nps", 6, None) == "improvement"
    assert route_for(bands, "csat", 1, "negative") is None      # csat left out now
    for bad, message in (({"nps": {"recovery": (0, 7), "improvement": (6, 8)}}, "overlaps"),
                         ({"nps": {"recovery": (0, 11)}}, "must lie within 0-10"),
                         ({"stars": {"recovery": (1, 2)}}, "unknown scale"),
                         ({"nps": {"rescue": (0, 2)}}, "unknown route")):
        with pytest.raises(PolicyError, match=f"^route bands: .*{message}"):
            save_route_bands(db, bad, actor="admin")


@pytest.mark.parametrize("settings, message", [
    (CaseSettings(at_risk=1.2), "^at risk"),
    (CaseSettings(lookback_days=-1), "^lookback days"),
    (CaseSettings(segment_points={"vip": 50}), "^customer value"),
    (CaseSettings(thresholds={"critical": 40, "high": 45, "medium": 25}),
     "^priority thresholds"),
])
def test_case_settings_are_checked_by_field(db, settings, message):
    with pytest.raises(PolicyError, match=message):
        save_case_settings(db, settings, actor="admin")


def test_people_teams_and_rules_are_checked_by_field(db):
    team_id, _ = team(db)
    for kwargs, message in (({"name": "", "email": "a@b.c"}, "^name"),
                            ({"name": "A", "email": "nobody"}, "^email"),
                            ({"name": "A", "email": "a@b.c", "role": "boss"}, "^role"),
                            ({"name": "A", "email": "a@b.c", "capacity": -1}, "^capacity"),
                            ({"name": "A", "email": "lead@1.example"}, "^email: .* belongs"),
                            ({"name": "A", "email": "a@b.c", "team_id": 9}, "^team")):
        with pytest.raises(people.PeopleError, match=message):
            people.save_person(db, actor="t", **kwargs)
    with pytest.raises(people.PeopleError, match="^team name: 'Customer care' is taken"):
        people.save_team(db, "Customer care", actor="t")
    with pytest.raises(people.PeopleError, match="^rule target"):
        people.save_rule(db, people.RoutingRule(name="x"), actor="t")
    with pytest.raises(people.PeopleError, match="^rule sentiment"):
        people.save_rule(db, people.RoutingRule(name="x", team_id=team_id, sentiment="angry"),
                         actor="t")


# ------------------------------------------------------------------ two writers


def test_two_writers_times_500_updates_lose_nothing(opened, db_path):
    db, case = opened
    script = textwrap.dedent("""
        import sys
        from analysis import store
        from analysis.cases.records import CaseConflict, add_note, change_status, get_case
        db = store.connect(sys.argv[1])
        case_id, tag = int(sys.argv[2]), sys.argv[3]
        conflicts = 0
        for i in range(500):
            with store.write_transaction(db):
                add_note(db, case_id, f"{tag} {i}", actor=tag)
            if i % 50 == 0:   # a version-checked change, retried on a conflict
                while True:
                    seen = get_case(db, case_id)
                    to = "in progress" if seen["status"] != "in progress" else \\
                        "waiting on customer"
                    try:
                        with store.write_transaction(db):
                            change_status(db, case_id, to, actor=tag,
                                          expected_version=seen["version"])
                        break
                    except CaseConflict:
                        conflicts += 1
        print("ok", conflicts)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", script, str(db_path), str(case["id"]),
                                 tag], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for tag in ("w1", "w2")]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0 and out.startswith("ok"), err
    check = store.connect(db_path)
    notes = check.execute("SELECT actor, COUNT(*) FROM case_events WHERE event = 'note' "
                          "GROUP BY actor ORDER BY actor").fetchall()
    assert notes == [("w1", 500), ("w2", 500)]
    moves = check.execute("SELECT COUNT(*) FROM case_events WHERE event = 'status'").fetchone()
    final = get_case(check, case["id"])
    assert moves[0] == 20
    assert final["version"] == case["version"] + 20

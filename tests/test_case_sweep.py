"""The case sweep (`analysis.cases.sweep`): routes by score, one open case per customer and
theme, priority with its reasons, routing rules, capacity, escalation once per level, root-
cause tasks, idempotence, and a killed sweep leaving a consistent store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from analysis import store
from analysis.cases import people
from analysis.cases.policy import CaseSettings, save_case_settings
from analysis.cases.priority import save_theme_weight
from analysis.cases.records import change_status, get_case, timeline
from tests.case_stores import (
    MONDAY,
    PRICE,
    QUEUE,
    STAFF,
    add,
    case_of,
    response,
    sweep,
    team,
    themes,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cdb(db):
    themes(db)
    return db


def counts(db) -> dict:
    return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("cases", "case_feedback", "case_events", "case_intake", "notifications")}


@pytest.mark.parametrize("score_type, score, sentiment, expected", [
    ("nps", 3, "negative", ("case", "recovery")),
    ("nps", 6, "neutral", ("case", "recovery")),
    ("nps", 7, "neutral", ("clarification", "improvement")),
    ("nps", 10, "positive", ("thank you", "advocacy")),
    ("csat", 2, "negative", ("case", "recovery")),
    ("csat", 3, "neutral", ("clarification", "improvement")),
    ("csat", 4, "positive", None),
    ("csat", 5, "positive", ("thank you", "advocacy")),
    ("ces", 3, "negative", ("case", "recovery")),
    ("ces", 4, "neutral", None),
    ("rating", 2, "negative", ("case", "recovery")),
    (None, None, "negative", ("case", "recovery")),
    (None, None, "neutral", None),
])
def test_each_score_takes_its_route(cdb, score_type, score, sentiment, expected):
    [fid] = add(cdb, response("c1", score_type, score, sentiment=sentiment))
    sweep(cdb)
    outcome = cdb.execute("SELECT outcome, route FROM case_intake WHERE feedback_id = ?",
                          [fid]).fetchone()
    if expected is None:
        assert outcome == ("no route", None)
        assert counts(cdb)["cases"] == 0
    else:
        case = case_of(cdb, fid)
        assert (case["type"], case["route"]) == expected and outcome[0] == "opened"
        if expected[1] != "recovery":
            assert case["priority"] == "low"


def test_later_feedback_from_the_customer_on_the_theme_joins_the_open_case(cdb):
    first, other_theme, other_customer = add(
        cdb, response("c1", "nps", 2), response("c1", "nps", 3, theme=PRICE),
        response("c2", "nps", 2))
    sweep(cdb)
    [again] = add(cdb, response("c1", "nps", 1, at=MONDAY + timedelta(hours=1)))
    result = sweep(cdb, MONDAY + timedelta(hours=2))
    case = case_of(cdb, first)
    assert result.joined == 1 and result.opened == 0
    assert case["feedback_ids"] == [first, again]
    assert case_of(cdb, other_theme)["id"] != case["id"]
    assert case_of(cdb, other_customer)["id"] != case["id"]
    assert [e["event"] for e in timeline(cdb, case["id"])][-1] == "feedback joined"


def test_after_resolution_new_feedback_opens_a_new_case(cdb):
    [first] = add(cdb, response("c1", "nps", 2))
    sweep(cdb)
    with store.write_transaction(cdb):
        change_status(cdb, case_of(cdb, first)["id"], "resolved", actor="m",
                      now=MONDAY + timedelta(hours=1), note="sorted",
                      resolution_category="service recovery provided")
    [again] = add(cdb, response("c1", "nps", 2, at=MONDAY + timedelta(hours=2)))
    sweep(cdb, MONDAY + timedelta(hours=3))
    assert case_of(cdb, again)["id"] != case_of(cdb, first)["id"]


def test_old_feedback_is_noted_not_queued(cdb):
    [old] = add(cdb, response("c1", "nps", 0, at=MONDAY - timedelta(days=15)))
    result = sweep(cdb)
    assert result.outcomes["too old"] == 1 and counts(cdb)["cases"] == 0
    assert cdb.execute("SELECT outcome FROM case_intake WHERE feedback_id = ?",
                       [old]).fetchone() == ("too old",)


def test_a_comment_waits_for_its_sentiment_then_goes_as_it_is(cdb):
    [fid] = add(cdb, response(None, None, None, sentiment=None, at=MONDAY - timedelta(hours=2)))
    assert sweep(cdb).looked_at == 0
    # The themes command scores it negative: the next sweep opens the case.
    with store.write_transaction(cdb):
        cdb.execute("INSERT INTO sentiment VALUES (?, 'negative', -0.8, 0.9, 'test', ?)",
                    [fid, "2025-01-06T10:00:00Z"])
    assert sweep(cdb, MONDAY + timedelta(minutes=5)).opened == 1
    [late] = add(cdb, response(None, None, None, sentiment=None, at=MONDAY))
    assert sweep(cdb, MONDAY + timedelta(hours=25)).looked_at == 1   # waited long enough
    assert cdb.execute("SELECT outcome FROM case_intake WHERE feedback_id = ?",
                       [late]).fetchone() == ("no route",)


def test_two_sweeps_at_the_same_moment_change_nothing(cdb):
    team(cdb)
    add(cdb, *[response(f"c{k}", "nps", k % 11) for k in range(30)])
    sweep(cdb)
    later = MONDAY + timedelta(days=3)
    sweep(cdb, later)
    before = counts(cdb)
    versions = cdb.execute("SELECT SUM(version), SUM(escalation_level) FROM cases").fetchone()
    result = sweep(cdb, later)
    assert counts(cdb) == before
    assert cdb.execute("SELECT SUM(version), SUM(escalation_level) FROM cases").fetchone() \
        == versions
    assert (result.opened, result.breached, result.escalated, result.assigned) == (0, 0, 0, 0)


# ------------------------------------------------------------------ priority


def test_priority_adds_up_its_parts_and_shows_each(cdb):
    with store.write_transaction(cdb):
        save_theme_weight(cdb, QUEUE, 12.0, actor="test")
        save_case_settings(cdb, CaseSettings(segment_points={"vip": 20}), actor="test")
        cdb.execute("""INSERT INTO alerts (theme_id, location, granularity, first_period,
                       period_start, period_end, observed, volume, expected, share,
                       baseline_share, p_value, q_value, opened_at, updated_at) VALUES
                       (1, 'Northgate', 'week', '2024-12-30', '2024-12-30', '2025-01-05', 9,
                       20, 3, 0.45, 0.15, 0.001, 0.01, 'x', 'x')""")
    earlier = add(cdb, response("c1", "nps", 9, theme=PRICE, sentiment="positive",
                                at=MONDAY - timedelta(days=30)))
    [fid] = add(cdb, response("c1", "nps", 1, segment="vip"))
    sweep(cdb)
    case = case_of(cdb, fid)
    parts = {r["part"]: r["points"] for r in case["priority_reasons"]}
    assert parts == {"severity": 35.0, "theme": 12.0, "customer": 20.0, "spiking": 15.0,
                     "repeat": 10.0}
    assert case["priority_score"] == 92.0 and case["priority"] == "critical"
    assert earlier  # the earlier response (30 days before) is the repeat contact


@pytest.mark.parametrize("score, expected", [(6, "low"), (5, "low"), (4, "medium"),
                                             (0, "medium")])
def test_levels_follow_the_thresholds(cdb, score, expected):
    # Severity alone: NPS 5-6 15 (low), 3-4 25 and 0-2 35 (medium); nothing else adds.
    [fid] = add(cdb, response(None, "nps", score, theme=None))
    sweep(cdb)
    assert case_of(cdb, fid)["priority"] == expected


def test_a_safety_word_forces_critical_and_alerts_at_once(cdb):
    team_id, _ = team(cdb)
    [fid] = add(cdb, response("c1", "rating", 2, theme=STAFF,
                              comment="I got food poisoning from the salad"))
    sweep(cdb)
    case = case_of(cdb, fid)
    assert case["priority"] == "critical"
    assert {"part": "safety/legal", "points": 0.0,
            "why": "mentions food poisoning: critical"} in case["priority_reasons"]
    notes = cdb.execute("SELECT kind, recipient, subject FROM notifications").fetchall()
    assert ("critical case", f"lead@{team_id}.example",
            f"Critical case #{case['id']}: {case['title']}") in notes


def test_a_safety_word_inside_another_word_does_not_count(cdb):
    [fid] = add(cdb, response("c1", "nps", 5, theme=None, comment="the suede seats were hurting"))
    sweep(cdb)
    assert case_of(cdb, fid)["priority"] == "low"


# ------------------------------------------------------------------ routing and capacity


def test_the_first_matching_rule_routes_the_case(cdb):
    care, _ = team(cdb)
    billing, [biller] = team(cdb, members=1, name="Billing")
    with store.write_transaction(cdb):
        people.save_rule(cdb, people.RoutingRule(name="price to billing", theme_id=PRICE,
                                                 team_id=billing), actor="t")
        people.save_rule(cdb, people.RoutingRule(name="all Northgate to care",
                                                 location="Northgate", team_id=care),
                         actor="t")
    price, queue = add(cdb, response("c1", "nps", 2, theme=PRICE),
                       response("c2", "nps", 2, theme=QUEUE))
    sweep(cdb)
    assert (case_of(cdb, price)["team_id"], case_of(cdb, price)["owner_id"]) == (billing, biller)
    assert case_of(cdb, queue)["team_id"] == care
    routed = [e for e in timeline(cdb, case_of(cdb, price)["id"]) if e["event"] == "routed"]
    assert routed[0]["detail"]["rule"] == "price to billing"


def test_without_a_rule_or_default_team_a_case_waits_unassigned(cdb):
    [fid] = add(cdb, response("c1", "nps", 2))
    sweep(cdb)
    case = case_of(cdb, fid)
    assert case["team_id"] is None and case["owner_id"] is None


def test_assignment_fills_the_least_loaded_and_nobody_above_capacity(cdb):
    _, (a, b) = team(cdb, members=2, capacity=2)
    ids = add(cdb, *[response(f"c{k}", "nps", 2, at=MONDAY - timedelta(minutes=60 - k))
                     for k in range(5)])
    sweep(cdb)
    owners = [case_of(cdb, f)["owner_id"] for f in ids]
    assert owners == [a, b, a, b, None]   # fewest open first; the fifth waits
    with store.write_transaction(cdb):
        change_status(cdb, case_of(cdb, ids[0])["id"], "resolved", actor="a",
                      now=MONDAY + timedelta(minutes=5), note="done",
                      resolution_category="refund issued")
    [extra] = add(cdb, response("c9", "nps", 2, at=MONDAY + timedelta(minutes=6)))
    sweep(cdb, MONDAY + timedelta(minutes=10))
    # The oldest waiting case gets the freed place, not the newest.
    assert case_of(cdb, ids[4])["owner_id"] == a
    assert case_of(cdb, extra)["owner_id"] is None


def test_an_inactive_person_gets_nothing(cdb):
    team_id, (a, b) = team(cdb, members=2)
    with store.write_transaction(cdb):
        people.save_person(cdb, "Agent 0", "agent0@1.example", team_id=team_id, active=False,
                           person_id=a, actor="t")
    ids = add(cdb, response("c1", "nps", 2), response("c2", "nps", 2))
    sweep(cdb)
    assert {case_of(cdb, f)["owner_id"] for f in ids} == {b}


# ------------------------------------------------------------------ escalation


def test_escalation_happens_at_the_due_time_once_per_level(cdb):
    team_id, _ = team(cdb)
    [fid] = add(cdb, response("c1", "nps", 0, theme=STAFF))   # medium: ack 24 h, resolve 72 h
    sweep(cdb)
    case = case_of(cdb, fid)
    assert case["priority"] == "medium"
    ack_due, resolve_due = store.from_iso(case["ack_due"]), store.from_iso(case["resolve_due"])
    assert ack_due == MONDAY + timedelta(days=3)            # three 8-hour business days
    assert resolve_due == MONDAY + timedelta(days=11)       # nine business days, a weekend
    assert sweep(cdb, ack_due).escalated == 0               # due "by": not late yet
    first = sweep(cdb, ack_due + timedelta(minutes=1))
    assert first.escalated == 1 and get_case(cdb, case["id"])["escalation_level"] == 1
    assert sweep(cdb, ack_due + timedelta(hours=2)).escalated == 0
    second = sweep(cdb, resolve_due + timedelta(minutes=1))
    assert second.escalated == 1 and get_case(cdb, case["id"])["escalation_level"] == 2
    assert sweep(cdb, resolve_due + timedelta(days=1)).escalated == 0
    escalations = [e["detail"] for e in timeline(cdb, case["id"]) if e["event"] == "escalated"]
    assert escalations == [
        {"level": 1, "stage": "acknowledge", "reason": "not acknowledged by its due time",
         "to": "Lee Lead"},
        {"level": 2, "stage": "resolve", "reason": "not resolved by its due time",
         "to": "Mo Manager"}]
    sent = cdb.execute("SELECT recipient FROM notifications WHERE kind = 'escalation' "
                       "ORDER BY id").fetchall()
    assert sent == [(f"lead@{team_id}.example",), (f"boss@{team_id}.example",)]


def test_an_acknowledged_case_does_not_escalate_for_acknowledgement(cdb):
    [fid] = add(cdb, response("c1", "nps", 0, theme=STAFF))
    sweep(cdb)
    case = case_of(cdb, fid)
    with store.write_transaction(cdb):
        change_status(cdb, case["id"], "acknowledged", actor="m",
                      now=MONDAY + timedelta(hours=1))
    result = sweep(cdb, MONDAY + timedelta(days=4))   # past the acknowledge due time
    assert result.escalated == 0 and result.breached == 0
    assert get_case(cdb, case["id"])["escalation_level"] == 0


def test_at_risk_and_breached_are_recorded_once_per_stage(cdb):
    [fid] = add(cdb, response("c1", "nps", 0, theme=STAFF))
    sweep(cdb)
    case_id = case_of(cdb, fid)["id"]
    # 24 business hours to acknowledge: 75% used after 18 h, i.e. Wednesday 12:00.
    sweep(cdb, MONDAY + timedelta(days=2, hours=2))
    sweep(cdb, MONDAY + timedelta(days=2, hours=3))
    sweep(cdb, MONDAY + timedelta(days=3, hours=1))
    events = [(e["event"], e["detail"]["stage"]) for e in timeline(cdb, case_id)
              if e["event"].startswith("sla")]
    assert events == [("sla at risk", "acknowledge"), ("sla breached", "acknowledge")]


# ------------------------------------------------------------------ root-cause tasks


def test_root_cause_tasks_join_the_queue_as_their_own_type(cdb):
    team(cdb)
    with store.write_transaction(cdb):
        task = cdb.execute(
            "INSERT INTO tasks (kind, title, theme_id, location, owner, created_at, created_by,"
            " updated_at) VALUES ('root_cause', 'Queue complaints above 15% at Northgate', 1,"
            " 'Northgate', 'agent1@1.example', ?, 'sweep', ?)",
            ["2025-01-06T09:00:00Z", "2025-01-06T09:00:00Z"]).lastrowid
    assert sweep(cdb).tasks == 1
    assert sweep(cdb).tasks == 0
    row = cdb.execute("SELECT type, route, priority, title, owner_id, task_id FROM cases"
                      ).fetchone()
    owner = cdb.execute("SELECT id FROM people WHERE email = 'agent1@1.example'").fetchone()[0]
    assert row == ("root cause", "root cause", "high",
                   "Queue complaints above 15% at Northgate", owner, task)


# ------------------------------------------------------------------ a killed sweep


def test_a_killed_sweep_leaves_a_consistent_store_and_the_next_one_finishes(cdb, db_path):
    team(cdb)
    # CSAT 1-2 recovery, 3 improvement, 4 no route, 5 advocacy: 32 cases, 8 without.
    ids = add(cdb, *[response(f"c{k}", "csat", k % 5 + 1) for k in range(40)])
    before = counts(cdb)
    script = textwrap.dedent("""
        import os, signal, sys
        from analysis import store
        from analysis.cases import sweep as case_sweep
        from analysis.store.clock import from_iso

        def die(*args, **kwargs):   # after the intake's writes, inside the transaction
            os.kill(os.getpid(), signal.SIGKILL)

        case_sweep._root_cause_tasks = die
        db = store.connect(sys.argv[1])
        with store.write_transaction(db):
            case_sweep.sweep_cases(db, now=from_iso("2025-01-06T10:00:00Z"), actor="doomed")
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, "-c", script, str(db_path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    check = store.connect(db_path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert counts(check) == before   # the transaction rolled back whole
    result = sweep(check)
    assert result.opened == 32 and result.outcomes["no route"] == 8
    assert {r[0] for r in check.execute("SELECT feedback_id FROM case_intake")} == set(ids)
    assert json.loads(check.execute("SELECT detail FROM case_events WHERE event = 'opened' "
                                    "ORDER BY id LIMIT 1").fetchone()[0])["route"] == "recovery"


def test_the_key_driver_weights_are_refitted_at_most_once_a_day(cdb, monkeypatch):
    from analysis.benchmarks import drivers
    from analysis.cases.priority import driver_weights

    calls = []
    real = drivers.key_drivers

    def counting(*args, **kwargs):
        calls.append(kwargs.get("level"))
        return real(*args, **kwargs)

    monkeypatch.setattr(drivers, "key_drivers", counting)
    with store.write_transaction(cdb):
        driver_weights(cdb, now=MONDAY)
        driver_weights(cdb, now=MONDAY + timedelta(hours=23))
        assert len(calls) == 2            # child and parent level, once
        driver_weights(cdb, now=MONDAY + timedelta(hours=25))
    assert len(calls) == 4

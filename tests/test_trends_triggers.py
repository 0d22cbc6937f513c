"""Root-cause triggers (`analysis.trends.triggers`): the default rule from migration m008
("a theme's negative share above 15% at a location for 2 weeks running", at least 20
responses a week) on weekly stores built by hand, swept week by week.

Every response here is negative unless a test says otherwise, so a theme's negative share
is its share.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest

from analysis import store
from analysis.store.clock import to_iso
from analysis.themes.queries import CHILD
from analysis.trends import triggers
from analysis.trends.triggers import RuleError, TriggerRule, list_tasks, sweep_triggers
from tests.test_trends_series import add_theme, add_weeks

W0 = date(2025, 1, 6)
BILLING = 1
ALL_NEGATIVE = {j: "negative" for j in range(200)}
DEFAULT_RULE = 1
LEADS = "North=ana@example.org;*=ops@example.org"


def close(k: int) -> datetime:
    return datetime.combine(W0 + timedelta(weeks=k + 1), time(), UTC)


def sweep(db, k: int, since: date | None = None):
    """Sweep as at six in the morning after week k."""
    with store.write_transaction(db):
        return sweep_triggers(db, now=close(k) + timedelta(hours=6), since=since, level=CHILD,
                              actor="scheduler")


def weekly_sweeps(db, weeks) -> None:
    for k in weeks:
        sweep(db, k)


def tasks(db) -> list[dict]:
    return list(db.query("SELECT * FROM tasks ORDER BY id"))


@pytest.fixture
def db_utc(db, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    monkeypatch.setenv("CLOSELOOP_OPERATIONS_LEADS", LEADS)
    add_theme(db, BILLING, "Billing")
    return db


def north(db, billing: list[int], volume: int = 100, location: str = "North", **options):
    add_weeks(db, W0, location, [volume] * len(billing), {BILLING: billing},
              **({"sentiment": ALL_NEGATIVE} | options))


# Billing at North: 10% for weeks 0-3, 20% for weeks 4-7 (a run of 4), 10%, 20% alone in
# week 9, 10% for 10-11, 20% for 12-13 (a later run), then 10%.
RUNS = [10] * 4 + [20] * 4 + [10, 20, 10, 10, 20, 20, 10, 10]


def test_a_run_of_four_weeks_opens_one_task_keyed_by_its_first_week(db_utc):
    north(db_utc, RUNS[:9])
    weekly_sweeps(db_utc, range(9))
    [task] = tasks(db_utc)
    assert (task["kind"], task["rule_id"], task["theme_id"], task["location"],
            task["episode_start"], task["status"]) == \
        ("root_cause", DEFAULT_RULE, BILLING, "North", "2025-02-03", "open")
    # It fired at the end of the run's second week; due a week after that week's end.
    assert task["created_at"] == to_iso(close(5))
    assert task["due_at"] == to_iso(close(5) + timedelta(days=7))
    assert task["owner"] == "ana@example.org"
    detail = json.loads(task["detail"])
    assert detail["periods"] == ["2025-02-03", "2025-02-10"]
    assert detail["shares"] == [0.2, 0.2]
    assert ("Billing at North, negative mentions above 15% for 2 weeks (from 2025-02-03)"
            in task["title"])
    events = list(db_utc.query("SELECT event FROM task_events"))
    assert [e["event"] for e in events] == ["opened"]


def test_a_single_week_above_the_threshold_opens_nothing(db_utc):
    north(db_utc, [10, 10, 10, 10, 20, 10, 10, 30, 10])
    weekly_sweeps(db_utc, range(9))
    assert tasks(db_utc) == []


def test_a_later_separate_run_opens_a_new_task_once_the_first_is_done(db_utc):
    north(db_utc, RUNS)
    weekly_sweeps(db_utc, range(10))
    assert len(tasks(db_utc)) == 1
    with store.write_transaction(db_utc):
        db_utc.execute("UPDATE tasks SET status = 'done'")
    weekly_sweeps(db_utc, range(10, 16))
    found = tasks(db_utc)
    assert [t["episode_start"] for t in found] == ["2025-02-03", "2025-03-31"]
    assert found[1]["due_at"] == to_iso(close(13) + timedelta(days=7))


def test_a_later_run_while_the_task_is_open_is_recorded_on_it(db_utc):
    north(db_utc, RUNS)
    weekly_sweeps(db_utc, range(16))
    [task] = tasks(db_utc)
    events = list(db_utc.query("SELECT event, detail FROM task_events WHERE task_id = ? "
                               "ORDER BY id", [task["id"]]))
    assert [e["event"] for e in events] == ["opened", "fired again"]
    assert json.loads(events[1]["detail"])["episode_start"] == "2025-03-31"


def test_a_replay_opens_what_weekly_sweeps_open(db_utc, tmp_path, monkeypatch):
    north(db_utc, RUNS)
    sweep(db_utc, 15, since=W0)
    replayed = [(t["episode_start"], t["created_at"], t["due_at"], t["owner"])
                for t in tasks(db_utc)]
    other = store.connect(tmp_path / "other.db")
    try:
        add_theme(other, BILLING, "Billing")
        north(other, RUNS)
        weekly_sweeps(other, range(16))
        assert [(t["episode_start"], t["created_at"], t["due_at"], t["owner"])
                for t in tasks(other)] == replayed
    finally:
        other.close()
    # And sweeping again changes nothing.
    before = (tasks(db_utc), list(db_utc.query("SELECT * FROM task_events")))
    sweep(db_utc, 15, since=W0)
    sweep(db_utc, 15)
    assert (tasks(db_utc), list(db_utc.query("SELECT * FROM task_events"))) == before


def test_the_all_locations_cell_is_not_a_location(db_utc):
    # North stays at 10%, but feedback without a location (60% Billing) lifts the
    # network's share to 30% every week.
    north(db_utc, [10] * 6)
    add_weeks(db_utc, W0, None, [100] * 6, {BILLING: [60] * 6}, sentiment=ALL_NEGATIVE)
    weekly_sweeps(db_utc, range(6))
    assert tasks(db_utc) == []


def test_the_minimum_volume_is_respected(db_utc):
    # South: 15 responses a week, 6 about Billing (40%): below the rule's 20 responses.
    north(db_utc, [6] * 6, volume=15, location="South")
    weekly_sweeps(db_utc, range(6))
    assert tasks(db_utc) == []
    rule = TriggerRule(name="Theme above 15% at a location for 2 weeks running",
                       min_volume=10)
    with store.write_transaction(db_utc):
        assert triggers.update_rule(db_utc, DEFAULT_RULE, rule, actor="ana")
    sweep(db_utc, 5, since=W0)
    [task] = tasks(db_utc)
    assert (task["location"], task["episode_start"]) == ("South", "2025-01-06")
    assert task["owner"] == "ops@example.org"      # the '*' lead


def test_only_negative_mentions_count_by_default(db_utc):
    north(db_utc, [10, 10, 30, 30, 30], sentiment={})
    weekly_sweeps(db_utc, range(5))
    assert tasks(db_utc) == []
    rule = TriggerRule(name="Any mention above 15%", negative_only=False)
    with store.write_transaction(db_utc):
        triggers.add_rule(db_utc, rule, actor="ana")
    weekly_sweeps(db_utc, range(5))
    [task] = tasks(db_utc)
    assert task["episode_start"] == "2025-01-20" and task["rule_id"] != DEFAULT_RULE


def test_a_task_without_an_operations_lead_is_unowned(db_utc, monkeypatch):
    monkeypatch.delenv("CLOSELOOP_OPERATIONS_LEADS")
    north(db_utc, [20, 20, 20])
    weekly_sweeps(db_utc, range(3))
    [task] = tasks(db_utc)
    assert task["owner"] is None


def test_a_disabled_rule_opens_nothing(db_utc):
    north(db_utc, [20, 20, 20])
    rule = TriggerRule(name="Theme above 15% at a location for 2 weeks running",
                       enabled=False)
    with store.write_transaction(db_utc):
        triggers.update_rule(db_utc, DEFAULT_RULE, rule, actor="ana")
    assert sweep(db_utc, 2).rules == 0
    assert tasks(db_utc) == []


def test_a_run_longer_than_the_lookback_is_still_one_task(db_utc):
    """Seventy weeks above the threshold, swept weekly: the sweep reads 60 weeks back to
    find where a run began; a longer run must not look like a new one every week."""
    north(db_utc, [20] * 70, volume=40)
    sweep(db_utc, 58, since=W0)
    weekly_sweeps(db_utc, range(59, 70))
    [task] = tasks(db_utc)
    assert task["episode_start"] == "2025-01-06"
    events = list(db_utc.query("SELECT event FROM task_events"))
    assert [e["event"] for e in events] == ["opened"]


# ------------------------------------------------------------------ rules


def test_editing_a_rule_keeps_its_history(db_utc):
    [default] = triggers.list_rules(db_utc)
    assert (default["share_above"], default["consecutive"], default["granularity"],
            default["min_volume"], default["negative_only"], default["due_days"]) == \
        (0.15, 2, "week", 20, 1, 7)
    changed = TriggerRule(name=default["name"], share_above=0.25, due_days=3)
    with store.write_transaction(db_utc):
        assert triggers.update_rule(db_utc, DEFAULT_RULE, changed, actor="ana",
                                    now=close(0))
        assert not triggers.update_rule(db_utc, DEFAULT_RULE, changed, actor="ana",
                                        now=close(1))
    created, history = triggers.rule_history(db_utc, DEFAULT_RULE)
    assert (created["event"], created["actor"]) == ("created", "migration m008")
    assert "Complaints about a theme above 15%" in default["name"]
    assert (history["event"], history["actor"], history["at"]) == \
        ("changed", "ana", to_iso(close(0)))
    detail = json.loads(history["detail"])
    assert (detail["before"]["share_above"], detail["after"]["share_above"]) == (0.15, 0.25)
    assert (detail["before"]["due_days"], detail["after"]["due_days"]) == (7, 3)
    [now_rule] = triggers.list_rules(db_utc)
    assert (now_rule["share_above"], now_rule["updated_by"]) == (0.25, "ana")
    with store.write_transaction(db_utc):
        new_id = triggers.add_rule(db_utc, TriggerRule(name="Daily", granularity="day"),
                                   actor="ben")
    assert [h["event"] for h in triggers.rule_history(db_utc, new_id)] == ["created"]


@pytest.mark.parametrize("rule, field", [
    (TriggerRule(name="  "), "name:"),
    (TriggerRule(name="x", share_above=0.0), "share above:"),
    (TriggerRule(name="x", share_above=1.5), "share above:"),
    (TriggerRule(name="x", consecutive=0), "consecutive periods:"),
    (TriggerRule(name="x", granularity="month"), "granularity:"),
    (TriggerRule(name="x", min_volume=0), "minimum volume:"),
    (TriggerRule(name="x", due_days=-1), "due in days:"),
    (TriggerRule(name="x", theme_id=999), "theme:"),
])
def test_a_bad_rule_is_refused_naming_the_field(db_utc, rule, field):
    before = (triggers.list_rules(db_utc), db_utc.execute(
        "SELECT COUNT(*) FROM trigger_rule_events").fetchone()[0])
    with pytest.raises(RuleError) as refused, store.write_transaction(db_utc):
        triggers.add_rule(db_utc, rule, actor="ana")
    assert str(refused.value).startswith(field)
    with pytest.raises(RuleError, match=f"^{field}"), store.write_transaction(db_utc):
        triggers.update_rule(db_utc, DEFAULT_RULE, rule, actor="ana")
    assert (triggers.list_rules(db_utc), db_utc.execute(
        "SELECT COUNT(*) FROM trigger_rule_events").fetchone()[0]) == before


def test_editing_a_missing_rule_is_refused(db_utc):
    with pytest.raises(RuleError, match="no trigger rule 42"):
        triggers.update_rule(db_utc, 42, TriggerRule(name="x"), actor="ana")


def test_list_tasks_names_the_theme(db_utc):
    north(db_utc, [20, 20, 20])
    weekly_sweeps(db_utc, range(3))
    [task] = list_tasks(db_utc)
    assert task["theme"] == "Billing"
    assert list_tasks(db_utc, status="done") == []
    assert len(list_tasks(db_utc, status=None)) == 1


def test_a_sweep_after_a_gap_catches_up_on_the_weeks_it_missed(db_utc):
    # The run of weeks 4-7 happened while the scheduler was down (last sweep: week 2).
    north(db_utc, RUNS)
    weekly_sweeps(db_utc, range(3))
    assert tasks(db_utc) == []
    sweep(db_utc, 11)
    assert [t["episode_start"] for t in tasks(db_utc)] == ["2025-02-03"]


def test_since_on_a_wednesday_checks_the_week_holding_it(db_utc):
    # A run of exactly weeks 4-5; --since the Wednesday of week 5 must still check week 5.
    north(db_utc, [10] * 4 + [20, 20] + [10] * 4)
    sweep(db_utc, 9, since=W0 + timedelta(weeks=5, days=2))
    assert [t["episode_start"] for t in tasks(db_utc)] == ["2025-02-03"]


def test_a_rule_on_a_retired_theme_is_refused_naming_the_field(db_utc):
    db_utc.execute("UPDATE themes SET status = 'retired' WHERE id = ?", [BILLING])
    with pytest.raises(RuleError, match="theme: theme 1 is retired"), \
            store.write_transaction(db_utc):
        triggers.add_rule(db_utc, TriggerRule(name="Billing", theme_id=BILLING), actor="ana")


def test_a_rule_on_a_child_theme_fires_while_the_sweep_tests_parents(db_utc):
    from analysis.themes.queries import PARENT

    db_utc.execute("INSERT INTO themes (id, name, is_parent, created_at, created_by, updated_at)"
                   " VALUES (50, 'Money', 1, '2025-01-01T00:00:00Z', 't', '2025-01-01T00:00:00Z')")
    db_utc.execute("UPDATE themes SET parent_id = 50 WHERE id = ?", [BILLING])
    north(db_utc, RUNS)
    with store.write_transaction(db_utc):
        db_utc.execute("UPDATE trigger_rules SET enabled = 0")
        triggers.add_rule(db_utc, TriggerRule(name="Billing", theme_id=BILLING), actor="ana")
        sweep_triggers(db_utc, now=close(8) + timedelta(hours=6), since=W0, level=PARENT,
                       actor="scheduler")
    assert [(t["theme_id"], t["episode_start"]) for t in tasks(db_utc)] == \
        [(BILLING, "2025-02-03")]

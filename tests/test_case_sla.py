"""SLA clocks (`analysis.cases.sla`, with the policies of `analysis.cases.policy`): due times
against the SLA table across a weekend, a public holiday and a daylight-saving change;
pause and resume; at risk, breached and met; no follow-up for low priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analysis import store
from analysis.cases.calendar import BusinessCalendar
from analysis.cases.policy import (
    DEFAULT_SLA,
    PolicyError,
    SlaPolicy,
    calendars,
    remove_calendar,
    save_calendar,
    save_sla_policies,
    sla_policies,
)
from analysis.cases.records import Clocks, change_status, get_case, open_case
from analysis.cases.sla import due_times, sla_status, worst_state

LONDON = BusinessCalendar(timezone="Europe/London", country="GB", subdivision="ENG")
UTC_HOURS = BusinessCalendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def case(opened: str, priority: str = "high", **fields) -> dict:
    return {"opened_at": opened, "priority": priority, "paused_minutes": 0, **fields}


def test_the_default_table_is_the_playbooks():
    hours = {p: (s.acknowledge / 60, s.resolve / 60, s.follow_up and s.follow_up / 60)
             for p, s in DEFAULT_SLA.items()}
    assert hours == {"critical": (1, 4, 24), "high": (4, 24, 48), "medium": (24, 72, 168),
                     "low": (48, 168, None)}
    assert not DEFAULT_SLA["critical"].business_hours and DEFAULT_SLA["high"].business_hours


def test_a_friday_afternoon_case_is_due_on_monday():
    due = due_times(case("2025-01-10T15:00:00Z"), DEFAULT_SLA["high"], LONDON)
    assert due["acknowledge"] == at("2025-01-13T11:00:00")      # 2 h Friday, 2 h Monday
    assert due["resolve"] == at("2025-01-15T15:00:00")          # 2 + 8 + 8 + 6 hours
    assert due["follow up"] is None                             # not resolved yet


def test_a_public_holiday_is_skipped():
    # Thursday before Easter 2025, 15:00 BST: Good Friday and Easter Monday are closed.
    due = due_times(case("2025-04-17T14:00:00Z", "medium"), DEFAULT_SLA["medium"], LONDON)
    assert due["acknowledge"] == at("2025-04-24T14:00:00")      # 2 h + Tue 8 + Wed 8 + Thu 6
    around = due_times(case("2025-04-17T14:00:00Z", "medium"), DEFAULT_SLA["medium"],
                       UTC_HOURS)
    assert around["acknowledge"] == at("2025-04-22T14:00:00")  # no holidays without a country


def test_the_clocks_change_inside_the_window():
    # Friday 28 March 2025 16:00 GMT; the clocks go forward on Sunday: Monday 12:00 BST.
    due = due_times(case("2025-03-28T16:00:00Z"), DEFAULT_SLA["high"], LONDON)
    assert due["acknowledge"] == at("2025-03-31T11:00:00")
    # Around the clock (critical) counts real hours straight through the change.
    critical = due_times(case("2025-03-30T00:30:00Z", "critical"), DEFAULT_SLA["critical"],
                         LONDON)
    assert critical["resolve"] == at("2025-03-30T04:30:00")


def test_a_low_priority_case_has_no_follow_up():
    status = sla_status(case("2025-01-06T10:00:00Z", "low", resolved_at="2025-01-06T11:00:00Z",
                             acknowledged_at="2025-01-06T10:30:00Z", status="resolved"),
                        DEFAULT_SLA["low"], UTC_HOURS, now=at("2025-01-06T12:00:00"))
    assert {k: v["state"] for k, v in status.items()} == {
        "acknowledge": "met", "resolve": "met", "follow up": "none"}


@pytest.mark.parametrize("now, state", [
    ("2025-01-06T12:59:00", "on track"),      # 2 h 59 of 4 h used
    ("2025-01-06T13:00:00", "at risk"),       # 75%
    ("2025-01-06T14:00:00", "at risk"),       # due: not late yet
    ("2025-01-06T14:01:00", "breached"),
])
def test_a_stage_is_on_track_then_at_risk_then_breached(now, state):
    status = sla_status(case("2025-01-06T10:00:00Z"), DEFAULT_SLA["high"], UTC_HOURS,
                        now=at(now))
    assert status["acknowledge"]["state"] == state
    assert worst_state(status) == state


def test_a_stage_done_late_stays_breached_and_one_done_in_time_is_met():
    late = sla_status(case("2025-01-06T10:00:00Z", acknowledged_at="2025-01-06T15:00:00Z",
                           status="acknowledged"),
                      DEFAULT_SLA["high"], UTC_HOURS, now=at("2025-01-06T15:30:00"))
    assert late["acknowledge"]["state"] == "breached"
    assert late["resolve"]["state"] == "on track"
    early = sla_status(case("2025-01-06T10:00:00Z", acknowledged_at="2025-01-06T11:00:00Z",
                            status="acknowledged"),
                       DEFAULT_SLA["high"], UTC_HOURS, now=at("2025-01-06T15:30:00"))
    assert early["acknowledge"]["state"] == "met"


def test_minutes_left_are_business_minutes():
    # Due Monday 11:00 (4 business hours from Friday 15:00); read on Saturday: 2 h left.
    status = sla_status(case("2025-01-10T15:00:00Z"), DEFAULT_SLA["high"], UTC_HOURS,
                        now=at("2025-01-11T12:00:00"))
    assert status["acknowledge"]["minutes_left"] == pytest.approx(120)


# ------------------------------------------------------------------ pause and resume


def test_waiting_on_the_customer_stops_the_clock_and_resuming_moves_the_deadline(db):
    now = at("2025-01-06T10:00:00")
    clocks = Clocks.load(db)
    with store.write_transaction(db):
        case_id = open_case(db, case_type="case", route="recovery", title="t", priority="high",
                            priority_score=50, priority_reasons=[], opened_at=now, actor="t",
                            clocks=clocks, now=now)
        change_status(db, case_id, "acknowledged", actor="m", now=now + timedelta(minutes=30))
        change_status(db, case_id, "waiting on customer", actor="m",
                      now=at("2025-01-06T11:00:00"))
    waiting = get_case(db, case_id)
    # Hours later the waiting case has not used any more of its time.
    status = Clocks.load(db).status(waiting, at("2025-01-07T16:00:00"))
    assert status["resolve"]["state"] == "paused"
    assert status["resolve"]["minutes_left"] == pytest.approx(23 * 60)
    with store.write_transaction(db):
        change_status(db, case_id, "in progress", actor="m", now=at("2025-01-07T11:00:00"))
    resumed = get_case(db, case_id)
    assert resumed["paused_minutes"] == pytest.approx(8 * 60)   # a business day waited
    assert resumed["paused_at"] is None
    # Resolve was due Thursday 10:00 (24 business hours); 8 waited hours move it to Friday.
    assert resumed["resolve_due"] == "2025-01-10T10:00:00Z"
    assert resumed["ack_due"] == "2025-01-07T14:00:00Z"


# ------------------------------------------------------------------ policies in the store


def test_policies_are_stored_checked_and_kept_with_history(db):
    custom = dict(DEFAULT_SLA) | {"high": SlaPolicy(120, 600, None, business_hours=False)}
    with store.write_transaction(db):
        save_sla_policies(db, custom, actor="admin")
    assert sla_policies(db)["high"] == SlaPolicy(120, 600, None, business_hours=False)
    for bad, message in (({**custom, "low": SlaPolicy(0, 10, None)}, "low acknowledge"),
                         ({**custom, "low": SlaPolicy(100, 10, None)}, "low resolve"),
                         ({k: v for k, v in custom.items() if k != "medium"}, "medium is")):
        with pytest.raises(PolicyError, match=f"^SLA policy: {message}"):
            save_sla_policies(db, bad, actor="admin")
    assert sla_policies(db)["high"].acknowledge == 120


def test_a_location_calendar_is_stored_checked_and_used(db):
    with store.write_transaction(db):
        save_calendar(db, "Northgate", {"timezone": "Europe/London", "country": "GB",
                                        "subdivision": "ENG"}, actor="admin")
    found = calendars(db)
    assert found["Northgate"].timezone == "Europe/London" and "*" in found
    with pytest.raises(PolicyError, match="^calendar of Old Town: timezone"):
        save_calendar(db, "Old Town", {"timezone": "Mars/Olympus"}, actor="admin")
    with store.write_transaction(db):
        remove_calendar(db, "Northgate", actor="admin")
    assert "Northgate" not in calendars(db)

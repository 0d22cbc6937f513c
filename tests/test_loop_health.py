"""Loop health and outcomes (`analysis.loop_health`) on hand-built case histories whose
answers are worked out below: business minutes across a weekend and around the clock, SLA
stages met and missed, follow-ups by a person and by the sweep, an escalation, a backlog
replayed from the timeline, detractors whose next score is known, a repeat complaint, the
category mix, breakdowns by location and month, and an empty store."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis import store
from analysis.cases.policy import CASE_TYPE, save_calendar
from analysis.cases.records import Clocks, assign, change_status, event, open_case
from analysis.loop_health import OBSERVATIONAL, LoopHealthError, loop_health, outcomes
from analysis.loop_health.figures import minutes_quantile, order_statistic_interval
from analysis.store.clock import to_iso
from tests.case_stores import PRICE, QUEUE, add, response, team, themes

JAN, FEB, MAR = (datetime(2025, m, 1, tzinfo=UTC) for m in (1, 2, 3))
MIN = timedelta(minutes=1)


def at(day: int, hour: int = 10, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


def wilson(hits: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    return low * 100, high * 100


def calendars(db) -> None:
    # Pinned here, not read from CLOSELOOP_TZ: Monday to Friday 09:00-17:00, no holidays; in
    # UTC, and at Harbour in Helsinki (UTC+2 in winter: open 07:00-15:00 UTC).
    with store.write_transaction(db):
        save_calendar(db, "*", {"timezone": "UTC"}, actor="test", now=JAN)
        save_calendar(db, "Harbour", {"timezone": "Europe/Helsinki"}, actor="test", now=JAN)


def opened(db, customer: str, when: datetime, *, priority: str = "high",
           location: str = "Northgate", theme: int = QUEUE, score_type: str = "nps",
           score=3, route: str = "recovery", team_id=None, owner_id=None) -> int:
    """A case opened at `when` from `customer`'s response received half an hour before."""
    [fid] = add(db, response(customer, score_type, score, theme=theme, location=location,
                             at=when - 30 * MIN))
    with store.write_transaction(db):
        return open_case(db, case_type=CASE_TYPE[route], route=route, title=f"{customer}",
                         priority=priority, priority_score=50.0, priority_reasons=[],
                         opened_at=when, actor="sweep", clocks=Clocks.load(db),
                         customer_key=f"id:{customer}", theme_id=theme, location=location,
                         feedback_ids=[fid], team_id=team_id, owner_id=owner_id, now=when)


def move(db, case_id: int, *steps) -> None:
    """(status, when[, category]) steps; resolving takes the category (default: other)."""
    with store.write_transaction(db):
        for to, when, *category in steps:
            extra = {"note": "sorted", "resolution_category": (category or ["other"])[0]} \
                if to == "resolved" else {}
            change_status(db, case_id, to, actor="mia", now=when, **extra)


def sent(db, case_id: int, when: datetime, *, by: str = "mia", kind: str = "follow-up",
         followed_up: bool = True) -> None:
    """A follow-up that went out (the outbox row), and the case moved on as the sweep's
    delivery step moves it."""
    stamp = to_iso(when)
    with store.write_transaction(db):
        db.execute("""INSERT INTO outbox (idempotency_key, kind, channel, recipient, subject,
                      body, case_id, status, send_after, created_at, created_by, sent_at,
                      updated_at) VALUES (?, ?, 'email', 'c@example.org', 'Sorry', 'Sorry',
                      ?, 'sent', ?, ?, ?, ?, ?)""",
                   [f"{case_id}-{stamp}", kind, case_id, stamp, stamp, by, stamp, stamp])
        if followed_up:
            change_status(db, case_id, "followed up", actor=by, now=when)


# ------------------------------------------------------------------ loop health


@pytest.fixture
def january(db):
    """Five recovery cases opened in January 2025 (and one in February), worked as follows;
    the defaults: high = acknowledge in 240, resolve in 1440, follow up in 2880 business
    minutes; critical = 60, 240, 1440 around the clock; low = 2880, 10080, no follow-up.

        A  Northgate, Mon 6th 10:00, agent 0: acknowledged 11:00 (60 min, due 14:00: met),
           waits on the customer 12:00-15:00 (180 min), resolved Tue 10:00: 480 open minutes
           less 180 waiting = 300; follow-up by mia Wed 8th (due the 15th: met)
        B  Northgate, Mon 6th 10:00, agent 0: acknowledged 15:00 (300, due 14:00: missed),
           resolved 16:00 (360); follow-up by the sweep Tue 7th (met)
        C  Harbour (Helsinki hours), Fri 10th 16:00 UTC = 18:00 there, closed, agent 1:
           acknowledged Mon 13th 10:00 UTC = 12:00 there (180; due 13:00 there: met),
           resolved 12:00 UTC (300); no follow-up (due Tue 21st: missed)
        D  Harbour, critical, Sat 11th 10:00, agent 1: acknowledged 12:00 (120 around the
           clock; due 11:00: missed), resolved 15:00 (300; due 14:00: missed); no follow-up
           (due Sun 12th 15:00: missed)
        I  Northgate, low, Tue 28th 10:00, team queue: new, escalated on the 29th; its first
           due time (Wed 5 Feb) falls after January
        M  Northgate, Mon 3 Feb 10:00: acknowledged 10:30 (30)
    `now` is Mon 10 Feb."""
    themes(db)
    calendars(db)
    team_id, (a0, a1) = team(db)
    a = opened(db, "a", at(6), team_id=team_id, owner_id=a0)
    b = opened(db, "b", at(6), team_id=team_id, owner_id=a0)
    c = opened(db, "c", at(10, 16), location="Harbour", team_id=team_id, owner_id=a1)
    d = opened(db, "d", at(11), location="Harbour", priority="critical", team_id=team_id,
               owner_id=a1)
    i = opened(db, "i", at(28), priority="low", team_id=team_id)
    m = opened(db, "m", at(3, month=2))
    move(db, a, ("acknowledged", at(6, 11)), ("waiting on customer", at(6, 12)),
         ("in progress", at(6, 15)), ("resolved", at(7), "refund issued"))
    move(db, b, ("acknowledged", at(6, 15)), ("resolved", at(6, 16)))
    move(db, c, ("acknowledged", at(13)), ("resolved", at(13, 12)))
    move(db, d, ("acknowledged", at(11, 12)), ("resolved", at(11, 15)))
    move(db, m, ("acknowledged", at(3, 10, 30, month=2)))
    sent(db, a, at(8), by="mia")
    sent(db, b, at(7), by="sweep")
    with store.write_transaction(db):
        db.execute("UPDATE cases SET escalation_level = 1 WHERE id = ?", [i])
        event(db, i, "escalated", actor="sweep", at=to_iso(at(29)),
              detail={"level": 1, "stage": "acknowledge"})
    return db, {"a": a, "b": b, "c": c, "d": d, "i": i, "m": m, "agents": (a0, a1)}


NOW = at(10, month=2)


def test_times_to_acknowledge_and_resolve_are_business_minutes_on_each_cases_clock(january):
    db, _ = january
    health = loop_health(db, start=JAN, end=FEB, now=NOW)
    ack = [60, 120, 180, 300]                     # A, D, C, B
    assert health.acknowledge_median.value == 150 and health.acknowledge_median.n == 4
    assert health.acknowledge_p90.value == pytest.approx(np.quantile(ack, 0.9)) == 264
    assert health.resolve_median.value == 300 and health.resolve_median.n == 4
    assert health.resolve_p90.value == pytest.approx(342)   # 300, 300, 300, 360
    # Four cases cannot bound a median at 95%: the order-statistic interval is open.
    assert (health.acknowledge_median.ci_low, health.acknowledge_median.ci_high) == (None, None)
    assert "order-statistic" in health.acknowledge_median.method


def test_sla_met_counts_each_stage_once_when_it_is_judged(january):
    db, _ = january
    sla = loop_health(db, start=JAN, end=FEB, now=NOW).sla_met
    # acknowledge: A, C met; B, D missed. resolve: A, B, C met; D missed. follow up: A, B
    # met; C, D missed. I's first due time and M are after January.
    for stage, hits, n in (("acknowledge", 2, 4), ("resolve", 3, 4), ("follow up", 2, 4)):
        assert (sla[stage].value, sla[stage].n) == (pytest.approx(100 * hits / n), n)
        assert (sla[stage].ci_low, sla[stage].ci_high) == pytest.approx(wilson(hits, n))


def test_follow_up_close_the_loop_escalation_and_automation_rates(january):
    db, _ = january
    health = loop_health(db, start=JAN, end=FEB, now=NOW)
    # Follow-up: A and B of the four recovery cases resolved in January.
    rate = health.follow_up_rate
    assert (rate.value, rate.n) == (50.0, 4)
    assert (rate.ci_low, rate.ci_high) == pytest.approx(wilson(2, 4))
    assert "Wilson" in rate.method
    # Closed loops: A and B of the five opened (I is still new).
    assert (health.close_the_loop_rate.value, health.close_the_loop_rate.n) == (40.0, 5)
    assert (health.escalation_rate.value, health.escalation_rate.n) == (20.0, 5)
    assert (health.escalation_rate.ci_low, health.escalation_rate.ci_high) == \
        pytest.approx(wilson(1, 5))
    # B's follow-up went out from the sweep, A's from a person.
    assert (health.automation_share.value, health.automation_share.n) == (50.0, 2)


def test_backlog_and_cases_per_owner_at_the_end_of_the_period(january):
    db, _ = january
    health = loop_health(db, start=JAN, end=FEB, now=NOW)
    age = (FEB - at(28)) / timedelta(days=1)          # I: 3 days 14 hours
    assert health.backlog_open.value == 1
    assert health.backlog_median_age_days.value == pytest.approx(age)
    assert health.backlog_max_age_days.value == pytest.approx(age)
    assert health.backlog_open.ci_low is None and "census" in health.backlog_open.method
    loads = [(o.owner, o.open, o.handled) for o in health.per_owner]
    assert loads == [("(unassigned)", 1, 0), ("Agent 0", 0, 2), ("Agent 1", 0, 2)]


def test_the_backlog_is_replayed_from_the_timeline(db):
    """G from December still in progress; H resolved only after the period; K resolved in
    it; L resolved, then reopened in it: G, H and L were open at the end of January."""
    themes(db)
    calendars(db)
    _, (a0, a1) = team(db)
    g = opened(db, "g", at(2, month=12).replace(year=2024), priority="low")
    h = opened(db, "h", at(15), priority="low")
    k = opened(db, "k", at(10), priority="low")
    ell = opened(db, "l", at(8), priority="low")
    move(db, g, ("in progress", at(3, month=12).replace(year=2024)))
    move(db, h, ("in progress", at(16)), ("resolved", at(2, month=2)))
    move(db, k, ("in progress", at(13)), ("resolved", at(20)))
    move(db, ell, ("in progress", at(9)), ("resolved", at(12)), ("in progress", at(25)))
    with store.write_transaction(db):
        for case_id, owner in ((g, a0), (h, a0), (k, a1), (ell, a1)):
            assign(db, case_id, owner, actor="boss", now=at(20, 12))
    health = loop_health(db, start=JAN, end=FEB, now=NOW)
    ages = sorted((FEB - opened_at) / timedelta(days=1)
                  for opened_at in (at(2, month=12).replace(year=2024), at(15), at(8)))
    assert health.backlog_open.value == 3
    assert health.backlog_median_age_days.value == pytest.approx(ages[1])
    assert health.backlog_max_age_days.value == pytest.approx(ages[2])
    assert [(o.owner, o.open, o.handled) for o in health.per_owner] == [
        ("Agent 0", 2, 0), ("Agent 1", 1, 1)]
    # Measured up to now (mid-February), H is resolved and only G and L remain.
    assert loop_health(db, start=FEB, end=MAR, now=NOW).backlog_open.value == 2


def test_breakdown_by_location_gives_each_group_its_figures(january):
    db, _ = january
    health = loop_health(db, start=JAN, end=FEB, by="location", now=NOW)
    groups = {g.group: g for g in health.groups}
    assert set(groups) == {"Harbour", "Northgate"}
    assert (groups["Northgate"].acknowledge_median.value,
            groups["Northgate"].acknowledge_median.n) == (180, 2)
    assert (groups["Harbour"].acknowledge_median.value,
            groups["Harbour"].acknowledge_median.n) == (150, 2)
    assert groups["Northgate"].backlog_open.value == 1
    assert groups["Harbour"].backlog_open.value == 0
    assert groups["Harbour"].sla_met["resolve"].value == 50.0
    # The whole period's figures stay on the result; rows are per group and figure.
    assert health.acknowledge_median.value == 150
    rows = [r for r in health.rows() if r["metric"] == "follow_up_rate"]
    assert [(r["group"], r["value"], r["n"]) for r in rows] == [
        ("Harbour", 0.0, 2), ("Northgate", 100.0, 2)]
    assert set(rows[0]) == {"group", "metric", "name", "value", "ci_low", "ci_high", "n",
                            "method"}
    json.dumps(health.as_dict())


def test_breakdown_by_month_counts_each_figure_in_the_month_it_happened(january):
    db, _ = january
    health = loop_health(db, start=JAN, end=MAR, by="month", now=NOW)
    groups = {g.group: g for g in health.groups}
    assert set(groups) == {"2025-01", "2025-02"}
    assert (groups["2025-01"].acknowledge_median.value,
            groups["2025-01"].acknowledge_median.n) == (150, 4)
    assert (groups["2025-02"].acknowledge_median.value,
            groups["2025-02"].acknowledge_median.n) == (30, 1)
    # Up to now, M and I are open: each in the month it opened.
    assert groups["2025-01"].backlog_open.value == 1
    assert groups["2025-02"].backlog_open.value == 1
    # In February M's acknowledgement was in time and I's (due the 5th) was missed.
    assert (groups["2025-02"].sla_met["acknowledge"].value,
            groups["2025-02"].sla_met["acknowledge"].n) == (50.0, 2)


@pytest.mark.parametrize("by, names", [
    ("team", {"Customer care"}),
    ("owner", {"Agent 0", "Agent 1", "(unassigned)"}),
    ("theme", {"Queue"}),
])
def test_breakdown_by_team_owner_and_theme(january, by, names):
    db, _ = january
    health = loop_health(db, start=JAN, end=FEB, by=by, now=NOW)
    assert {g.group for g in health.groups} == names
    assert sum(g.acknowledge_median.n for g in health.groups) == 4


def test_a_case_waiting_on_the_customer_is_judged_only_if_it_was_late_before(db):
    themes(db)
    calendars(db)
    waiting = opened(db, "w", at(6))        # acknowledge due Mon 14:00, resolve due Thu 9th
    move(db, waiting, ("acknowledged", at(6, 11)), ("waiting on customer", at(6, 12)))
    late = opened(db, "x", at(6))
    move(db, late, ("acknowledged", at(6, 11)), ("in progress", at(6, 12)),
         ("waiting on customer", at(10, 12)))   # waiting from Friday: resolve was due Thu
    sla = loop_health(db, start=JAN, end=FEB, now=NOW).sla_met
    assert (sla["resolve"].value, sla["resolve"].n) == (0.0, 1)
    assert sla["acknowledge"].n == 2


def test_a_case_closed_without_being_worked_is_not_a_loop_to_close(db):
    themes(db)
    calendars(db)
    spam = opened(db, "s", at(6))
    worked = opened(db, "t", at(6))
    with store.write_transaction(db):
        change_status(db, spam, "closed", actor="mia", now=at(6, 11), note="spam")
    move(db, worked, ("resolved", at(6, 12)))
    sent(db, worked, at(6, 13), kind="review request", by="mia")
    health = loop_health(db, start=JAN, end=FEB, now=NOW)
    assert (health.close_the_loop_rate.value, health.close_the_loop_rate.n) == (100.0, 1)
    assert health.sla_met["resolve"].n == 1          # the spam has nothing to resolve
    assert (health.automation_share.value, health.automation_share.n) == (100.0, 1)


def test_an_empty_store_gives_empty_figures_without_errors(db):
    health = loop_health(db, start=date(2025, 1, 1), end=date(2025, 2, 1), now=NOW)
    assert health.acknowledge_median.value is None and health.acknowledge_median.n == 0
    assert health.follow_up_rate.value is None and health.follow_up_rate.n == 0
    assert health.backlog_open.value == 0 and health.backlog_median_age_days.value is None
    assert health.per_owner == [] and health.groups == []
    assert loop_health(db, start=JAN, end=FEB, by="month", now=NOW).groups == []
    json.dumps(health.as_dict())
    found = outcomes(db, start=JAN, end=FEB, by="theme", now=NOW)
    assert found.detractor_recovery.value is None and found.detractor_recovery.n == 0
    assert found.next_score_by_follow_up == [] and found.repeat_complaints.n == 0
    assert [c.count for c in found.resolution_mix] == [0] * 6 and found.groups == []
    json.dumps(found.as_dict())


@pytest.mark.parametrize("call, message", [
    (lambda db: loop_health(db, start=JAN, end=FEB, by="colour"), "^by: must be None or"),
    (lambda db: loop_health(db, start=FEB, end=JAN), "^start: must be before end"),
    (lambda db: outcomes(db, start=datetime(2025, 1, 1), end=FEB), "^start: give a timezone"),
])
def test_a_bad_period_or_grouping_is_refused_by_name(db, call, message):
    with pytest.raises(LoopHealthError, match=message):
        call(db)


# ------------------------------------------------------------------ the quantile interval


def test_the_order_statistic_interval_has_the_textbook_ranks_and_coverage():
    # n = 100, median: the 40th and 61st values (Conover's table), coverage 96.5%.
    lower, upper, coverage = order_statistic_interval(100, 0.5)
    assert (lower, upper) == (40, 61) and coverage == pytest.approx(0.9648, abs=1e-4)
    figure = minutes_quantile("m", list(range(1, 101)), 0.5)
    assert (figure.value, figure.ci_low, figure.ci_high, figure.n) == (50.5, 40, 61, 100)
    for n in (6, 10, 25, 60, 200):
        for q in (0.5, 0.9):
            low, high, cover = order_statistic_interval(n, q)
            assert cover >= 0.95
            assert low is None or high is None or low < high
    assert order_statistic_interval(20, 0.9)[1] is None   # 20 values cannot bound a p90


# ------------------------------------------------------------------ outcomes


@pytest.fixture
def detractors(db):
    """Recovery cases opened in January; each customer's next response on the same scale:

        c1 NPS 3 -> 9   followed up before it      Northgate
        c2 NPS 5 -> 4   not followed up            Northgate
        c3 CSAT 1 -> 4  not followed up            Northgate
        c4 NPS 2 -> none                           Northgate
        c5 NPS 6 -> 8   followed up before it      Harbour
        c6 NPS 0 -> 2   not followed up            Harbour
        c7 NPS 4 -> 10  followed up before it      Harbour
        c8 NPS 3 -> 5   followed up only after it  Harbour
        c9 NPS 3 -> 3   not followed up            Harbour
    """
    themes(db)
    calendars(db)
    plan = [("c1", "nps", 3, 9, True), ("c2", "nps", 5, 4, False),
            ("c3", "csat", 1, 4, False), ("c4", "nps", 2, None, False),
            ("c5", "nps", 6, 8, True), ("c6", "nps", 0, 2, False),
            ("c7", "nps", 4, 10, True), ("c8", "nps", 3, 5, "after"),
            ("c9", "nps", 3, 3, False)]
    for k, (customer, scale, score, after, followed) in enumerate(plan):
        location = "Northgate" if k < 4 else "Harbour"
        case_id = opened(db, customer, at(6 + k), score_type=scale, score=score,
                         location=location)
        if after is not None:
            add(db, response(customer, scale, after, at=at(20 + k), location=location))
        if followed:
            move(db, case_id, ("resolved", at(7 + k)))
            sent(db, case_id, at(8 + k) if followed is True else at(29))
    # Another customer's later response, and a response before the case opened, are not
    # anyone's next response.
    add(db, response("c4", "nps", 10, at=at(5)), response("zz", "nps", 10, at=at(25)))
    return db


def test_detractor_recovery_is_the_share_whose_next_score_is_higher(detractors):
    found = outcomes(detractors, start=JAN, end=FEB, now=MAR)
    # Answered: c1, c2, c3, c5, c6, c7, c8, c9; higher: all but c2 and c9.
    assert (found.detractor_recovery.value, found.detractor_recovery.n) == (75.0, 8)
    assert (found.detractor_recovery.ci_low, found.detractor_recovery.ci_high) == \
        pytest.approx(wilson(6, 8))
    assert found.without_next_response == 1


def test_next_score_of_followed_up_detractors_against_the_others_is_welch(detractors):
    found = outcomes(detractors, start=JAN, end=FEB, now=MAR)
    nps, csat = found.next_score_by_follow_up
    followed, others = [9, 8, 10], [4, 2, 5, 3]      # c8's follow-up came after its answer
    expected = stats.ttest_ind(followed, others, equal_var=False)
    interval = expected.confidence_interval(0.95)
    assert (nps.mean, nps.n, nps.other_mean, nps.other_n) == (9.0, 3, 3.5, 4)
    assert nps.estimate == pytest.approx(5.5)
    assert nps.p_value == pytest.approx(expected.pvalue)
    assert (nps.ci_low, nps.ci_high) == pytest.approx((interval.low, interval.high))
    assert nps.caveat == OBSERVATIONAL == ("observational: customers who were followed up "
                                           "may differ from those who were not")
    assert "Welch" in nps.test
    # One CSAT customer, not followed up: nothing to compare.
    assert (csat.n, csat.other_n, csat.estimate, csat.p_value) == (0, 1, None, None)
    json.dumps(found.as_dict())


def test_outcomes_by_location_and_month(detractors):
    found = outcomes(detractors, start=JAN, end=FEB, by="location", now=MAR)
    groups = {g.group: g for g in found.groups}
    assert (groups["Northgate"].detractor_recovery.value,
            groups["Northgate"].detractor_recovery.n) == (pytest.approx(200 / 3), 3)
    assert (groups["Harbour"].detractor_recovery.value,
            groups["Harbour"].detractor_recovery.n) == (80.0, 5)
    assert groups["Northgate"].without_next_response == 1
    rows = [r for r in found.rows() if r["metric"] == "detractor_recovery"]
    assert [(r["group"], r["n"]) for r in rows] == [("Harbour", 5), ("Northgate", 3)]
    by_month = outcomes(detractors, start=JAN, end=MAR, by="month", now=MAR)
    assert [(g.group, g.detractor_recovery.n) for g in by_month.groups] == [("2025-01", 8)]


def test_repeat_complaints_and_the_resolution_mix(db):
    """Four recovery cases resolved on 10 January; within 90 days (to 10 April) r1 complains
    about the queue again, r2 about the price, r3 about the queue only in May, and r4 is
    positive about the queue."""
    themes(db)
    calendars(db)
    categories = {"r1": "refund issued", "r2": "refund issued",
                  "r3": "service recovery provided", "r4": "other"}
    for customer, category in categories.items():
        case_id = opened(db, customer, at(6))
        move(db, case_id, ("resolved", at(10), category))
    add(db, response("r1", "nps", 2, theme=QUEUE, at=at(20, month=2)),
        response("r2", "nps", 2, theme=PRICE, at=at(20, month=2)),
        response("r3", "nps", 2, theme=QUEUE, at=at(1, month=5)),
        response("r4", "nps", 10, theme=QUEUE, sentiment="positive", at=at(1, month=2)))
    found = outcomes(db, start=JAN, end=FEB, now=datetime(2025, 6, 1, tzinfo=UTC))
    assert (found.repeat_complaints.value, found.repeat_complaints.n) == (25.0, 4)
    assert (found.repeat_complaints.ci_low, found.repeat_complaints.ci_high) == \
        pytest.approx(wilson(1, 4))
    assert found.repeat_window_open == 0
    mix = {c.category: (c.count, c.share.value, c.share.n) for c in found.resolution_mix}
    assert mix["refund issued"] == (2, 50.0, 4)
    assert mix["service recovery provided"] == (1, 25.0, 4)
    assert mix["other"] == (1, 25.0, 4)
    assert mix["duplicate"] == (0, 0.0, 4)
    refund = next(c for c in found.resolution_mix if c.category == "refund issued").share
    assert (refund.ci_low, refund.ci_high) == pytest.approx(wilson(2, 4))
    # Read in March, the 90 days have not passed: nothing is judged yet.
    early = outcomes(db, start=JAN, end=FEB, now=MAR)
    assert (early.repeat_complaints.n, early.repeat_window_open) == (0, 4)
    assert early.repeat_complaints.value is None
    assert [c.count for c in early.resolution_mix if c.count] == [2, 1, 1]

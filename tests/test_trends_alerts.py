"""Spike alerts as episodes (`analysis.trends.alerts`) through the sweep
(`analysis.sweep.run_sweep`), on a weekly store whose spikes are put there by hand.

The store (UTC): weeks W0 = 2025-01-06 onwards, three locations with 200 commented
responses a week each; Billing about 10% everywhere, Parking about 5%. Spikes are given
per (location, week) as Billing's count, e.g. {("North", 14): 60}: three times its usual
20. Data is loaded week by week, as it would arrive, and swept at each week's end.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from analysis import store
from analysis.store.clock import from_iso, to_iso
from analysis.sweep import run_sweep
from analysis.trends import alerts
from analysis.trends.alerts import (
    ALERT_FIELDS,
    AlertError,
    AlertSettings,
    acknowledge_alert,
    list_alerts,
    snooze_alert,
)
from analysis.trends.spikes import SpikeSettings
from tests.test_trends_series import add_feedback, add_theme

CALIBRATION = Path(__file__).resolve().parent.parent / "analysis" / "trends" / "calibration.json"

W0 = date(2025, 1, 6)
LOCATIONS = ("North", "South", "East")
BILLING, PARKING = 1, 2
BASE = [20, 22, 18, 21, 19, 20, 23, 17, 20, 21, 19, 20]
NEGATIVE = {j: "negative" for j in range(200)}   # so that triggers (negative only) fire


def week(k: int) -> date:
    return W0 + timedelta(weeks=k)


def close(k: int) -> datetime:
    """The end of week k (its next Monday, midnight UTC)."""
    return datetime.combine(week(k + 1), time(), UTC)


def after(k: int, hours: int = 6) -> datetime:
    return close(k) + timedelta(hours=hours)


def billing(location: str, k: int, spikes: dict) -> int:
    return spikes.get((location, k), BASE[(k + 5 * LOCATIONS.index(location)) % 12])


def load(db, weeks, spikes: dict | None = None) -> None:
    spikes = spikes or {}
    add_feedback(db, [
        (datetime.combine(week(k) + timedelta(days=2), time(12), UTC), location, 200,
         {BILLING: billing(location, k, spikes), PARKING: 9 + k % 3})
        for k in weeks for location in LOCATIONS], sentiment=NEGATIVE)


def weekly_only(db) -> None:
    with store.write_transaction(db):
        alerts.save_alert_settings(db, AlertSettings(granularities=("week",)), actor="test",
                                   now=from_iso("2025-01-01T00:00:00Z"))


@pytest.fixture
def weekly(db, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    add_theme(db, BILLING, "Billing")
    add_theme(db, PARKING, "Parking")
    weekly_only(db)
    return db


def sweep(db, now: datetime, since: date | None = None) -> dict:
    return run_sweep(db, now=now, since=since, actor="scheduler")


def scheduled(db, weeks, spikes: dict | None = None) -> None:
    """Load each week's data and sweep at its end, as a scheduler would."""
    for k in weeks:
        load(db, [k], spikes)
        sweep(db, after(k))


def history(db, weeks: int, spikes: dict | None = None) -> None:
    """Weeks 0 .. weeks - 1 loaded at once and replayed (the same as scheduled sweeps: see
    the replay tests below), to keep tests quick."""
    load(db, range(weeks), spikes)
    sweep(db, after(weeks - 1), since=W0)


def dump(db) -> dict:
    tables = {"alerts": "id", "alert_periods": "alert_id, period_start",
              "alert_events": "id", "tasks": "id", "task_events": "id",
              "sweep_periods": "step, granularity, period_start"}
    return {t: [dict(r) for r in db.query(f"SELECT * FROM {t} ORDER BY {o}")]
            for t, o in tables.items()}


STAMPS = {"opened_at", "updated_at", "closed_at", "evaluated_at", "at", "created_at", "due_at"}


def figures(dumped: dict) -> dict:
    """A dump without its time stamps: a replay stamps each period's end, a live sweep the
    moment it ran; what must agree is everything else (sweep_periods aside: a first live
    sweep also re-tests the weeks before the data began)."""
    return {t: [{k: v for k, v in row.items() if k not in STAMPS} for row in rows]
            for t, rows in dumped.items() if t != "sweep_periods"}


def cells(found: list[dict]) -> set[tuple]:
    return {(a["theme"], a["location"], a["first_period"]) for a in found}


# ------------------------------------------------------------------ opening and closing


def test_a_spike_opens_one_alert_in_its_week_and_location(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {("North", 14): 60})
    found = list_alerts(weekly, status="all")
    north = [a for a in found if a["location"] == "North"]
    assert len(north) == 1
    alert = north[0]
    assert (alert["theme"], alert["granularity"], alert["first_period"],
            alert["period_start"], alert["period_end"]) == \
        ("Billing", "week", "2025-04-14", "2025-04-14", "2025-04-20")
    assert (alert["observed"], alert["volume"], alert["status"], alert["review"]) == \
        (60, 200, "open", "new")
    assert alert["expected"] == pytest.approx(20, abs=0.5)
    assert alert["ratio"] == pytest.approx(3, rel=0.03)
    assert alert["q_value"] <= 0.05 and alert["p_value"] <= alert["q_value"]
    assert alert["opened_at"] == to_iso(after(14))  # when the sweep learned it
    # Nothing else alerts but the same theme over all locations in the same week.
    assert cells(found) <= {("Billing", "North", "2025-04-14"), ("Billing", None, "2025-04-14")}
    assert [e["event"] for e in alerts.alert_history(weekly, alert["id"])] == ["opened"]


def test_an_episode_continues_while_up_and_closes_back_at_baseline(weekly):
    spikes = {("North", 14): 60, ("North", 15): 50, ("North", 16): 21}
    history(weekly, 12)
    scheduled(weekly, range(12, 16), spikes)
    [alert] = list_alerts(weekly, location="North")
    assert (alert["first_period"], alert["period_start"], alert["observed"]) == \
        ("2025-04-14", "2025-04-21", 50)
    assert [p["period_start"] for p in alerts.alert_periods(weekly, alert["id"])] == \
        ["2025-04-14", "2025-04-21"]
    scheduled(weekly, range(16, 19), spikes)
    assert list_alerts(weekly, location="North") == []
    [closed] = list_alerts(weekly, status="closed", location="North")
    assert closed["id"] == alert["id"]
    assert closed["closed_at"] == to_iso(after(16))
    assert closed["status"] == "closed"
    periods = alerts.alert_periods(weekly, alert["id"])
    assert [(p["period_start"], p["observed"], p["crossed"]) for p in periods] == \
        [("2025-04-14", 60, 1), ("2025-04-21", 50, 1)]
    assert [e["event"] for e in alerts.alert_history(weekly, alert["id"])] == \
        ["opened", "updated", "closed"]
    closing = json.loads(alerts.alert_history(weekly, alert["id"])[-1]["detail"])
    assert (closing["period"], closing["observed"]) == ("2025-04-28", 21)


def test_an_incomplete_week_does_not_close_an_episode(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {("North", 14): 60})
    # Mid-week 15 with none of its data in yet: the episode stays open.
    sweep(weekly, after(14, hours=60))
    [alert] = list_alerts(weekly, location="North")
    assert alert["status"] == "open" and alert["closed_at"] is None


# ------------------------------------------------------------------ idempotence and replay


def test_a_second_sweep_at_the_same_now_changes_nothing(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 16), {("North", 14): 60, ("North", 15): 50})
    before = dump(weekly)
    assert before["alerts"] and before["alert_periods"] and before["tasks"]
    sweep(weekly, after(15))
    assert dump(weekly) == before
    sweep(weekly, after(15), since=W0)
    assert dump(weekly) == before


def test_a_replay_twice_changes_nothing(weekly):
    load(weekly, range(20), {("North", 14): 60, ("North", 15): 50})
    sweep(weekly, after(19), since=W0)
    before = dump(weekly)
    sweep(weekly, after(19), since=W0)
    assert dump(weekly) == before


def _replayed_and_scheduled(db_path_a, db_path_b, setup, weeks, spikes):
    """The same data swept week by week in one store and replayed once in another."""
    scheduled_db, replayed_db = store.connect(db_path_a), store.connect(db_path_b)
    try:
        for db in (scheduled_db, replayed_db):
            setup(db)
        scheduled(scheduled_db, weeks, spikes)
        load(replayed_db, weeks, spikes)
        sweep(replayed_db, after(weeks[-1]), since=W0)
        return dump(scheduled_db), dump(replayed_db)
    finally:
        scheduled_db.close()
        replayed_db.close()


def _two_themes(db):
    add_theme(db, BILLING, "Billing")
    add_theme(db, PARKING, "Parking")
    weekly_only(db)


def test_a_replay_gives_what_weekly_sweeps_gave(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    spikes = {("North", 14): 60, ("North", 15): 50, ("South", 17): 45, ("North", 19): 70}
    scheduled_dump, replayed_dump = _replayed_and_scheduled(
        tmp_path / "a.db", tmp_path / "b.db", _two_themes, list(range(21)), spikes)
    assert len(replayed_dump["alerts"]) >= 3
    assert figures(scheduled_dump) == figures(replayed_dump)


def test_a_replay_gives_what_weekly_sweeps_gave_when_a_theme_fades_out(tmp_path, monkeypatch):
    """A theme mentioned only in the first weeks: whether a week's test counts it among the
    cells tested must not depend on how far back the sweep that evaluates it reads."""
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")

    def setup(db):
        _two_themes(db)
        add_theme(db, 3, "Launch")
        add_feedback(db, [(datetime.combine(week(k) + timedelta(days=3), time(9), UTC),
                           location, 10, {3: 5}) for k in (0, 1) for location in LOCATIONS])

    scheduled_dump, replayed_dump = _replayed_and_scheduled(
        tmp_path / "a.db", tmp_path / "b.db", setup, list(range(18)), {("North", 16): 45})
    assert replayed_dump["alerts"]
    assert figures(scheduled_dump) == figures(replayed_dump)


def test_a_daily_replay_gives_what_daily_sweeps_gave(tmp_path, monkeypatch):
    """Daily cells use the same weekday over the last eight weeks: a sweep must read that
    far back, or a scheduled sweep sees four weeks where a replay sees eight."""
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    first = W0

    def setup(db):
        add_theme(db, BILLING, "Billing")
        with store.write_transaction(db):
            alerts.save_alert_settings(db, AlertSettings(granularities=("day",)),
                                       actor="test", now=from_iso("2025-01-01T00:00:00Z"))

    def load_days(db, days):
        # Billing 3 of 30 a day for five weeks, then 6 of 30; 20 of 30 on day 66.
        add_feedback(db, [(datetime.combine(first + timedelta(days=d), time(12), UTC), "North",
                           30, {BILLING: 20 if d == 66 else (3 if d < 35 else 6)})
                          for d in days])

    def end(d):
        return datetime.combine(first + timedelta(days=d + 1), time(1), UTC)

    dbs = [store.connect(tmp_path / "a.db"), store.connect(tmp_path / "b.db")]
    try:
        for db in dbs:
            setup(db)
        load_days(dbs[0], range(60))
        sweep(dbs[0], end(59), since=first)
        for d in range(60, 70):
            load_days(dbs[0], [d])
            sweep(dbs[0], end(d))
        load_days(dbs[1], range(70))
        sweep(dbs[1], end(69), since=first)
        scheduled_dump, replayed_dump = dump(dbs[0]), dump(dbs[1])
    finally:
        for db in dbs:
            db.close()
    [alert] = [a for a in replayed_dump["alerts"] if a["location"] == "North"]
    assert alert["first_period"] == (first + timedelta(days=66)).isoformat()
    assert figures(scheduled_dump) == figures(replayed_dump)


# ------------------------------------------------------------------ people


def test_an_acknowledged_episode_stays_acknowledged_and_a_later_one_is_new(weekly):
    spikes = {("North", 14): 60, ("North", 15): 50, ("North", 19): 70}
    history(weekly, 12)
    scheduled(weekly, range(12, 15), spikes)
    [alert] = list_alerts(weekly, location="North")
    with store.write_transaction(weekly):
        acknowledge_alert(weekly, alert["id"], actor="ana", note="  terminal fixed ",
                          now=after(14, 8))
    scheduled(weekly, range(15, 17), spikes)
    [seen] = list_alerts(weekly, status="all", location="North")
    assert (seen["review"], seen["reviewed_by"], seen["note"]) == \
        ("acknowledged", "ana", "terminal fixed")
    assert seen["period_start"] == "2025-04-21" and seen["status"] == "closed"
    scheduled(weekly, range(17, 20), spikes)
    later = list_alerts(weekly, location="North")
    assert len(later) == 1 and later[0]["id"] != alert["id"]
    assert (later[0]["first_period"], later[0]["review"]) == ("2025-05-19", "new")
    events = [e["event"] for e in alerts.alert_history(weekly, alert["id"])]
    assert events == ["opened", "acknowledged", "updated", "closed"]


def test_a_snoozed_open_episode_comes_back_as_new_after_the_snooze(weekly):
    spikes = {("North", k): 60 for k in range(14, 18)}
    history(weekly, 12)
    scheduled(weekly, range(12, 15), spikes)
    [alert] = list_alerts(weekly, location="North")
    until = close(15) + timedelta(days=1)
    with store.write_transaction(weekly):
        snooze_alert(weekly, alert["id"], until=until, actor="ana", now=after(14, 8))
    scheduled(weekly, [15], spikes)
    [snoozed] = list_alerts(weekly, location="North")
    assert (snoozed["review"], snoozed["snoozed_until"]) == ("snoozed", to_iso(until))
    sweep(weekly, until + timedelta(hours=1))
    [back] = list_alerts(weekly, location="North")
    assert (back["review"], back["status"]) == ("new", "open")
    assert alerts.alert_history(weekly, alert["id"])[-1]["event"] == "snooze ended"
    # Twice at the same moment: nothing more happens.
    before = dump(weekly)
    sweep(weekly, until + timedelta(hours=1))
    assert dump(weekly) == before


def test_a_snooze_must_end_in_the_future_and_alerts_must_exist(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {("North", 14): 60})
    [alert] = list_alerts(weekly, location="North")
    now = after(14, 8)
    with pytest.raises(AlertError, match="future"):
        snooze_alert(weekly, alert["id"], until=now, actor="ana", now=now)
    with pytest.raises(AlertError, match="no alert 999"):
        acknowledge_alert(weekly, 999, actor="ana", now=now)
    with pytest.raises(AlertError, match="no alert 999"):
        snooze_alert(weekly, 999, until=now + timedelta(days=1), actor="ana", now=now)
    assert list_alerts(weekly, location="North")[0]["review"] == "new"


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize("settings, words", [
    (AlertSettings(SpikeSettings(fdr=0.0)), "FDR"),
    (AlertSettings(SpikeSettings(fdr=0.5)), "FDR"),
    (AlertSettings(SpikeSettings(min_count=0)), "Minimum count"),
    (AlertSettings(SpikeSettings(min_count=2.5)), "Minimum count .* whole number"),
    (AlertSettings(SpikeSettings(min_baseline_responses=0)), "Minimum baseline responses"),
    (AlertSettings(SpikeSettings(baseline_weeks=0)), "Baseline weeks"),
    (AlertSettings(SpikeSettings(continue_p=1.5)), "continues below"),
    (AlertSettings(level="category"), "theme level"),
])
def test_invalid_settings_are_refused_and_not_stored(db, settings, words):
    with pytest.raises(AlertError, match=words), store.write_transaction(db):
        alerts.save_alert_settings(db, settings, actor="ana")
    assert db.execute("SELECT COUNT(*) FROM app_settings").fetchone()[0] == 0
    assert alerts.alert_settings(db) == AlertSettings()


def test_saved_settings_are_read_back_and_drive_the_sweep(weekly):
    saved = AlertSettings(SpikeSettings(fdr=0.01, min_count=8), level="theme",
                          granularities=("week",))
    with store.write_transaction(weekly):
        alerts.save_alert_settings(weekly, saved, actor="ana")
    assert alerts.alert_settings(weekly) == saved
    # A spike of 7 is below the minimum count of 8: no alert, however unlikely.
    add_theme(weekly, 3, "Rare")
    add_feedback(weekly, [(datetime.combine(week(k) + timedelta(days=3), time(9), UTC),
                           "North", 1, {3: 1 if k % 4 == 0 else 0}) for k in range(14)])
    add_feedback(weekly, [(datetime.combine(week(14) + timedelta(days=3), time(9), UTC),
                           "North", 7, {3: 7})])
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {})
    assert list_alerts(weekly, status="all", theme_id=3) == []


# ------------------------------------------------------------------ reading


def test_list_alerts_fields_and_filters(weekly):
    add_theme(weekly, 10, "Money", is_parent=True)
    with store.write_transaction(weekly):
        weekly.execute("UPDATE themes SET parent_id = 10 WHERE id = ?", [BILLING])
        alerts.save_alert_settings(weekly, AlertSettings(level="theme", granularities=("week",)),
                                   actor="test")
    history(weekly, 12)
    scheduled(weekly, range(12, 17), {("North", 14): 60, ("South", 16): 60})
    found = list_alerts(weekly, status="all")
    assert found and all(tuple(a) == ALERT_FIELDS for a in found)
    # Newest first.
    assert [a["period_start"] for a in found] == sorted(
        (a["period_start"] for a in found), reverse=True)
    north = list_alerts(weekly, status="all", location="North")[0]
    assert (north["theme"], north["theme_id"], north["parent_theme_id"]) == \
        ("Billing", BILLING, 10)
    network = list_alerts(weekly, status="all", location="")
    assert network and all(a["location"] is None for a in network)
    assert {a["location"] for a in list_alerts(weekly, status="open")} <= {"South", None}
    assert [a["location"] for a in list_alerts(weekly, status="closed")
            if a["location"]] == ["North"]
    assert list_alerts(weekly, status="all", granularity="day") == []
    assert list_alerts(weekly, status="all", theme_id=PARKING) == []
    with pytest.raises(AlertError, match="status must be open, closed or all"):
        list_alerts(weekly, status="snoozed")
    text = alerts.describe_alert(north)
    assert text.startswith("Billing at North: 30% of feedback in the week of 2025-04-14")
    assert "60 of 200" in text


def test_an_empty_store_sweeps_and_lists_nothing(db):
    results = sweep(db, from_iso("2025-03-03T06:00:00Z"))
    assert list(results) == ["spike alerts", "root-cause triggers", "cases", "outbox"]
    assert results["spike alerts"].opened == 0
    assert list_alerts(db, status="all") == []


# ------------------------------------------------------------------ the demo's truth


@pytest.mark.slow
def test_the_demo_spike_is_the_weekly_alert_and_false_alarms_are_few(db, monkeypatch):
    from analysis.demo import generate_demo
    from tests.stores import seed_truth_themes

    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    truth = generate_demo(db, rows=20000, seed=7, actor="test",
                          now=from_iso("2025-06-30T12:00:00Z")).truth
    seed_truth_themes(db, truth)
    sweep(db, from_iso(truth["now"]), since=date.fromisoformat(truth["period"]["start_date"]))
    weekly_alerts = list_alerts(db, status="all", granularity="week")
    spike = truth["spike"]
    at_spike = [a for a in weekly_alerts if a["location"] == spike["location"]
                and a["theme"] == spike["theme"]]
    assert [a["first_period"] for a in at_spike] == [spike["week_start"]]
    # The spike's theme over all locations in the spike's week holds the spike: not false.
    others = [a for a in weekly_alerts if a not in at_spike and not (
        a["theme"] == spike["theme"] and a["location"] is None
        and a["first_period"] <= spike["week_start"] <= a["period_start"])]
    daily_alerts = list_alerts(db, status="all", granularity="day")
    spike_days = {(date.fromisoformat(spike["week_start"]) + timedelta(days=k)).isoformat()
                  for k in range(7)}
    daily_others = [a for a in daily_alerts if not (
        a["theme"] == spike["theme"] and a["location"] in (spike["location"], None)
        and a["period_start"] in spike_days)]
    # "No more alerts than the FDR allows": the calibrated false-alert rate at the default
    # FDR (bench/trends_calibration.py) times the cells this replay tested, and a Poisson
    # 99.9% bound around it (measured: 0 weekly, 1 daily).
    from scipy.stats import poisson

    calibration = json.loads(CALIBRATION.read_text(encoding="utf-8"))[
        "fdr"][str(SpikeSettings().fdr)]
    tested = dict(db.execute("SELECT granularity, SUM(cells_tested) FROM sweep_periods "
                             "WHERE step = ? GROUP BY granularity", [alerts.STEP]).fetchall())
    for unit, found in (("week", others), ("day", daily_others)):
        rate = calibration[f"false_alerts_per_100_cell_{unit}s"]
        allowed = poisson.ppf(0.999, rate / 100 * tested[unit])
        assert len(found) <= allowed, (unit, tested[unit], allowed, [
            (a["theme"], a["location"], a["period_start"]) for a in found])


# ------------------------------------------------------------------ complete periods only


def _midweek(k: int, hours: float) -> datetime:
    """`hours` after Wednesday noon of week k (when `load` puts the week's rows)."""
    return datetime.combine(week(k) + timedelta(days=2), time(12), UTC) + timedelta(hours=hours)


def test_a_running_week_is_not_tested_and_its_end_is(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 14))
    load(weekly, [14], {("North", 14): 60})        # a strong spike so far this week
    sweep(weekly, _midweek(14, 24))                # Thursday noon of week 14
    assert list_alerts(weekly, status="all") == []
    assert weekly.execute("SELECT COUNT(*) FROM sweep_periods WHERE step = ? AND "
                          "period_start = ?", [alerts.STEP, week(14).isoformat()]
                          ).fetchone()[0] == 0
    sweep(weekly, after(14))
    assert ("Billing", "North", week(14).isoformat()) in cells(list_alerts(weekly))


def test_hourly_sweeps_through_a_week_test_nothing_of_it_and_change_nothing(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 14))
    load(weekly, [14], {("North", 14): 60})
    nows = [_midweek(14, 1 + 4 * h) for h in range(20)]   # Wednesday 13:00 .. Saturday 17:00
    assert all(week(14) <= now.date() < week(15) for now in nows)
    sweep(weekly, nows[0])
    before = dump(weekly)
    for now in nows[1:]:
        # More of the spike comes in as the week runs: a test of the running week would
        # write new figures every time.
        add_feedback(weekly, [(now - timedelta(minutes=30), "North", 3, {BILLING: 3})])
        sweep(weekly, now)
    assert dump(weekly) == before
    assert [a for a in list_alerts(weekly, status="all")
            if a["period_start"] == week(14).isoformat()] == []
    sweep(weekly, after(14))
    [north] = list_alerts(weekly, location="North")
    assert (north["first_period"], north["observed"], north["volume"]) == \
        (week(14).isoformat(), 60 + 57, 200 + 57)


# ------------------------------------------------------------------ late data, re-tested


def _late(db, k: int, location: str, n: int, billing_mentions: int) -> None:
    """Rows received in week k but imported now, after that week was swept."""
    add_feedback(db, [(datetime.combine(week(k) + timedelta(days=4), time(15), UTC),
                       location, n, {BILLING: billing_mentions})])


def test_late_rows_for_a_swept_week_open_its_alert_at_the_next_sweep(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 15))
    assert list_alerts(weekly, status="all", location="North") == []
    _late(weekly, 14, "North", 40, 40)             # week 14 North: 18 + 40 of 240
    # Not the last complete week any more: only the re-test window reaches it.
    load(weekly, [15])
    later = after(15)
    sweep(weekly, later)
    # Opened for week 14, and closed by week 15 (back at baseline) in the same sweep.
    [alert] = list_alerts(weekly, status="all", location="North")
    assert (alert["first_period"], alert["period_start"], alert["volume"]) == \
        (week(14).isoformat(), week(14).isoformat(), 240)
    assert alert["observed"] == billing("North", 14, {}) + 40
    # A live sweep stamps when it learned, not the week's end.
    assert (alert["opened_at"], alert["closed_at"]) == (to_iso(later), to_iso(later))
    assert [e["event"] for e in alerts.alert_history(weekly, alert["id"])] == \
        ["opened", "closed"]


def test_late_rows_diluting_the_only_crossing_withdraw_the_alert(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {("North", 14): 60})
    [alert] = list_alerts(weekly, location="North")
    assert (alert["observed"], alert["volume"]) == (60, 200)
    _late(weekly, 14, "North", 1800, 0)            # 60 of 2000 now: 3%, under the 10% baseline
    load(weekly, [15])
    later = after(15)
    sweep(weekly, later)
    assert list_alerts(weekly, location="North") == []
    [closed] = list_alerts(weekly, status="closed", location="North")
    assert closed["id"] == alert["id"] and closed["closed_at"] == to_iso(later)
    history_ = alerts.alert_history(weekly, alert["id"])
    assert history_[-1]["event"] == "withdrawn" and history_[-1]["at"] == to_iso(later)
    detail = json.loads(history_[-1]["detail"])
    assert (detail["period"], detail["observed"]) == (week(14).isoformat(), 60)
    assert [p["crossed"] for p in alerts.alert_periods(weekly, alert["id"])] == [0]
    # Nothing new is opened for the cell, and a sweep later still changes nothing.
    before = dump(weekly)
    sweep(weekly, later + timedelta(hours=1))
    assert dump(weekly) == before


def test_late_rows_making_the_week_before_an_episode_cross_extend_it_backwards(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {("North", 14): 60})
    [alert] = list_alerts(weekly, location="North")
    assert alert["first_period"] == week(14).isoformat()
    _late(weekly, 13, "North", 40, 40)             # week 13 North: 20 + 40 of 240
    load(weekly, [15], {("North", 15): 50})
    later = after(15)                              # week 13 is third from last: re-tested
    sweep(weekly, later)
    found = list_alerts(weekly, status="all", location="North")
    assert [a["id"] for a in found] == [alert["id"]]
    [extended] = found
    assert (extended["first_period"], extended["period_start"], extended["status"]) == \
        (week(13).isoformat(), week(15).isoformat(), "open")
    events = alerts.alert_history(weekly, alert["id"])
    assert [e["event"] for e in events][:2] == ["opened", "extended"]
    assert "opened" not in [e["event"] for e in events][1:]
    extension = events[1]
    assert json.loads(extension["detail"]) == {"first_period": week(13).isoformat()}
    assert extension["at"] == to_iso(later)
    assert [p["period_start"] for p in alerts.alert_periods(weekly, alert["id"])] == \
        [week(13).isoformat(), week(14).isoformat(), week(15).isoformat()]


# ------------------------------------------------------------------ themes that are gone


@pytest.mark.parametrize("status", ["merged", "retired"])
def test_an_open_alert_of_a_merged_or_retired_theme_closes_at_the_next_sweep(weekly, status):
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {("North", 14): 60})
    opened = list_alerts(weekly, theme_id=BILLING)
    assert opened and all(a["status"] == "open" for a in opened)
    with store.write_transaction(weekly):
        weekly.execute("UPDATE themes SET status = ?, merged_into = ? WHERE id = ?",
                       [status, PARKING if status == "merged" else None, BILLING])
    later = after(14, hours=30)
    sweep(weekly, later)
    assert list_alerts(weekly, theme_id=BILLING) == []
    for alert in opened:
        [closed] = list_alerts(weekly, status="closed", theme_id=BILLING,
                               location=alert["location"] or "")
        assert closed["id"] == alert["id"] and closed["closed_at"] == to_iso(later)
        last = alerts.alert_history(weekly, alert["id"])[-1]
        assert (last["event"], last["at"]) == ("closed", to_iso(later))
        assert json.loads(last["detail"]) == {"reason": f"the theme is {status}"}
    before = dump(weekly)
    sweep(weekly, later + timedelta(hours=1))
    assert dump(weekly) == before


def test_a_child_theme_alert_closes_when_the_sweep_level_becomes_parent(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 15), {("North", 14): 60})
    opened = list_alerts(weekly, theme_id=BILLING)
    assert opened
    assert alerts.sweep_level(weekly, alerts.alert_settings(weekly)) == "theme"
    add_theme(weekly, 10, "Money", is_parent=True)
    with store.write_transaction(weekly):
        weekly.execute("UPDATE themes SET parent_id = 10 WHERE id = ?", [BILLING])
    assert alerts.sweep_level(weekly, alerts.alert_settings(weekly)) == "parent"
    later = after(14, hours=30)
    sweep(weekly, later)
    assert list_alerts(weekly, theme_id=BILLING) == []
    for alert in opened:
        last = alerts.alert_history(weekly, alert["id"])[-1]
        assert (last["event"], last["at"]) == ("closed", to_iso(later))
        assert json.loads(last["detail"]) == \
            {"reason": "the sweep now tests the other theme level"}
    # Billing's theme is still active: only the level moved.
    assert weekly.execute("SELECT status FROM themes WHERE id = ?",
                          [BILLING]).fetchone()[0] == "active"


# ------------------------------------------------------------------ time stamps


def test_a_live_sweep_stamps_its_now_everywhere(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 14))
    load(weekly, [14], {("North", 14): 60})
    now = after(14, hours=37) + timedelta(minutes=13, seconds=7)
    sweep(weekly, now)
    [alert] = list_alerts(weekly, location="North")
    stamp = to_iso(now)
    assert (alert["opened_at"], alert["updated_at"]) == (stamp, stamp)
    assert [e["at"] for e in alerts.alert_history(weekly, alert["id"])] == [stamp]
    assert [p["evaluated_at"] for p in alerts.alert_periods(weekly, alert["id"])] == [stamp]
    assert weekly.execute("SELECT evaluated_at FROM sweep_periods WHERE step = ? AND "
                          "period_start = ?", [alerts.STEP, week(14).isoformat()]
                          ).fetchone()[0] == stamp


def test_a_replay_stamps_each_period_at_its_end(weekly):
    load(weekly, range(17), {("North", 14): 60, ("North", 15): 50})
    sweep(weekly, after(16, hours=50), since=W0)
    [alert] = list_alerts(weekly, status="all", location="North")
    assert alert["opened_at"] == to_iso(close(14))
    assert alert["closed_at"] == to_iso(close(16))
    assert [(e["event"], e["at"]) for e in alerts.alert_history(weekly, alert["id"])] == \
        [("opened", to_iso(close(14))), ("updated", to_iso(close(15))),
         ("closed", to_iso(close(16)))]
    assert [(p["period_start"], p["evaluated_at"])
            for p in alerts.alert_periods(weekly, alert["id"])] == \
        [(week(14).isoformat(), to_iso(close(14))), (week(15).isoformat(), to_iso(close(15)))]
    stamps = dict(weekly.execute("SELECT period_start, evaluated_at FROM sweep_periods "
                                 "WHERE step = ? AND granularity = 'week'",
                                 [alerts.STEP]).fetchall())
    assert stamps == {week(k).isoformat(): to_iso(close(k)) for k in range(17)}


# ------------------------------------------------------------------ stored data oddities


def test_a_stored_impossible_date_does_not_crash_the_sweep(weekly):
    history(weekly, 12)
    scheduled(weekly, range(12, 14))
    load(weekly, [14], {("North", 14): 60})
    with store.write_transaction(weekly):
        weekly.execute("UPDATE feedback SET received_at = '2025-04-16T25:00:00Z' WHERE id = "
                       "(SELECT MAX(id) FROM feedback)")
    results = sweep(weekly, after(14))
    assert results["spike alerts"].periods_evaluated >= 1
    assert ("Billing", "North", week(14).isoformat()) in cells(list_alerts(weekly))

"""Case settings page under AppTest, through app.py: teams, people, routing rules (and a rule
seen routing a case), SLA policies, calendars and the case settings, each saved and read
back from the store, and bad input refused with the backend's message naming the field,
nothing saved."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.app_settings import app_setting_history
from analysis.cases import people, policy, records
from tests.test_cases_page import (
    APP,
    NOW,
    STAFF,
    WAIT,
    add_feedback,
    add_team,
    add_themes,
    build_store,
    ok,
    sweep,
    table,
)

PAGE = "pages/case_settings.py"
ACTOR = "lead@example.org"


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    return NOW


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["user"] = ACTOR
    at.run()
    at.switch_page(PAGE).run()
    return at


def refused(at: AppTest, field: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["Not saved."]
    detail = " ".join(t.value for t in at.text)
    assert field in detail, detail


def read(path, reader):
    db = store.connect(path)
    try:
        return reader(db)
    finally:
        db.close()


def test_an_empty_store_shows_the_defaults(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    ok(at)
    assert at.title[0].value == "Case settings"
    captions = " ".join(c.value for c in at.caption)
    assert "No teams yet" in captions and "No people yet" in captions
    assert "No routing rules" in captions and "Defaults: never changed." in captions
    assert at.number_input(key="cs_sla_ack_high").value == 4.0
    assert at.selectbox(key="cs_sla_unit_high").value == "hours"
    assert at.checkbox(key="cs_sla_business_critical").value is False
    assert at.text_input(key="cs_cal_timezone_*").value == "UTC"
    assert at.text_input(key="cs_cal_hours_mon_*").value == "09:00-17:00"
    assert at.text_input(key="cs_cal_hours_sat_*").value == ""
    assert at.number_input(key="cs_set_at_risk_pct").value == 75.0
    calendars = table(at, "calendar")
    assert list(calendars["location"]) == ["* (every other location)"]


def test_teams_and_people_are_added_and_edited(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    at.text_input(key="cs_team_name_new").input("Customer care")
    at.button(key="cs_team_save_new").click().run()
    ok(at)
    assert any("Team saved" in s.value for s in at.success)
    (team,) = read(db_path, people.teams)
    assert (team["name"], team["updated_by"]) == ("Customer care", ACTOR)
    assert list(table(at, "manager")["name"]) == ["Customer care"]
    # A person in that team; then a bad email is refused and nothing saved.
    at.text_input(key="cs_person_name_new").input("Ann Lee")
    at.text_input(key="cs_person_email_new").input("ann@example.org")
    at.selectbox(key="cs_person_team_new").set_value(team["id"])
    at.selectbox(key="cs_person_role_new").set_value("team lead")
    at.number_input(key="cs_person_capacity_new").set_value(10)
    at.button(key="cs_person_save_new").click().run()
    ok(at)
    (ann,) = read(db_path, people.people)
    assert (ann["name"], ann["email"], ann["team"], ann["role"], ann["capacity"],
            ann["active"]) == ("Ann Lee", "ann@example.org", "Customer care", "team lead", 10, 1)
    at.text_input(key="cs_person_name_new").input("Bob")
    at.text_input(key="cs_person_email_new").input("not an address")
    at.button(key="cs_person_save_new").click().run()
    refused(at, "email:")
    assert len(read(db_path, people.people)) == 1
    # Ann leads the team.
    at.selectbox(key="cs_team_pick").set_value(team["id"]).run()
    at.selectbox(key=f"cs_team_lead_{team['id']}").set_value(ann["id"])
    at.button(key=f"cs_team_save_{team['id']}").click().run()
    ok(at)
    assert read(db_path, people.teams)[0]["lead"] == "Ann Lee"
    assert list(table(at, "manager")["lead"]) == ["Ann Lee"]
    # Ann goes inactive.
    at.selectbox(key="cs_person_pick").set_value(ann["id"]).run()
    at.checkbox(key=f"cs_person_active_{ann['id']}").uncheck()
    at.button(key=f"cs_person_save_{ann['id']}").click().run()
    ok(at)
    assert read(db_path, people.people)[0]["active"] == 0


def test_a_rule_is_added_ordered_and_routes_a_new_case(db_path, clock):
    db = store.connect(db_path)
    add_themes(db)
    found = add_team(db)
    with store.write_transaction(db):
        vip = people.save_team(db, "VIP desk", actor="test", now=NOW)
        people.save_person(db, "Cleo Park", "cleo@example.org", team_id=vip,
                                  actor="test", now=NOW)
    db.close()
    at = open_page()
    at.text_input(key="cs_rule_name").input("Staff complaints to the VIP desk")
    at.selectbox(key="cs_rule_theme_id").set_value(STAFF)
    at.selectbox(key="cs_rule_target").set_value(f"team:{vip}")
    at.button(key="cs_rule_add").click().run()
    ok(at)
    at.text_input(key="cs_rule_name").input("Critical to Ann")
    at.selectbox(key="cs_rule_priority").set_value("critical")
    at.selectbox(key="cs_rule_target").set_value(f"person:{found['ann']}")
    at.button(key="cs_rule_add").click().run()
    ok(at)
    rules = table(at, "goes to")
    assert list(rules["name"]) == ["Staff complaints to the VIP desk", "Critical to Ann"]
    assert list(rules["when"]) == ["theme = staff", "priority = critical"]
    assert list(rules["goes to"]) == ["team: VIP desk",
                                      "person: Ann Lee (team lead, Customer care)"]
    # Move the second up, then delete it.
    second = int(rules["rule"].iloc[1])
    at.selectbox(key="cs_rule_pick").set_value(second).run()
    at.button(key="cs_rule_move_up").click().run()
    ok(at)
    assert read(db_path, people.rules)[0].id == second
    assert table(at, "goes to")["name"].iloc[0] == "Critical to Ann"
    at.button(key="cs_rule_delete").click().run()
    ok(at)
    assert [r.name for r in read(db_path, people.rules)] == ["Staff complaints to the VIP desk"]
    # A staff complaint now goes to the VIP desk, a wait-time one to the default team.
    db = store.connect(db_path)
    add_feedback(db, [
        {"customer_email": "x@example.org", "location": "South", "score_type": "nps",
         "score": 3, "received_at": NOW - timedelta(hours=1), "theme": STAFF},
        {"customer_email": "y@example.org", "location": "South", "score_type": "nps",
         "score": 3, "received_at": NOW - timedelta(hours=1), "theme": WAIT}])
    sweep(db, NOW)
    routed = {r["theme_id"]: (r["team"], r["owner"]) for r in records.list_cases(db, now=NOW)}
    db.close()
    assert routed == {STAFF: ("VIP desk", "Cleo Park"), WAIT: ("Customer care", "Ann Lee")}


def test_sla_policies_are_saved_and_a_bad_value_is_refused(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    at.number_input(key="cs_sla_ack_high").set_value(2.0)
    at.number_input(key="cs_sla_follow_low").set_value(72.0)
    at.selectbox(key="cs_sla_unit_medium").set_value("minutes")
    at.number_input(key="cs_sla_ack_medium").set_value(90.0)
    at.number_input(key="cs_sla_resolve_medium").set_value(600.0)
    at.number_input(key="cs_sla_follow_medium").set_value(0.0)
    at.checkbox(key="cs_sla_business_critical").check()
    at.button(key="cs_sla_save").click().run()
    ok(at)
    saved = read(db_path, policy.sla_policies)
    assert saved["high"] == policy.SlaPolicy(120, 24 * 60, 48 * 60, True)
    assert saved["medium"] == policy.SlaPolicy(90, 600, None, True)
    assert saved["low"].follow_up == 72 * 60
    assert saved["critical"].business_hours is True
    assert [h["actor"] for h in read(db_path, lambda db: app_setting_history(
        db, policy.SLA_KEY))] == [ACTOR]
    assert f"Last changed by {ACTOR}" in " ".join(c.value for c in at.caption)
    # The form shows what is stored: medium in minutes, 0 follow-up for none.
    assert at.number_input(key="cs_sla_ack_medium").value == 90.0
    assert at.number_input(key="cs_sla_follow_medium").value == 0.0
    # Resolve before acknowledge, zero minutes, a fraction of a minute: refused.
    at.number_input(key="cs_sla_resolve_high").set_value(1.0)
    at.button(key="cs_sla_save").click().run()
    refused(at, "high resolve")
    at.number_input(key="cs_sla_resolve_high").set_value(24.0)
    at.number_input(key="cs_sla_ack_low").set_value(0.0)
    at.button(key="cs_sla_save").click().run()
    refused(at, "low acknowledge")
    at.number_input(key="cs_sla_ack_low").set_value(0.001)
    at.button(key="cs_sla_save").click().run()
    refused(at, "low acknowledge")
    assert read(db_path, policy.sla_policies) == saved
    assert len(read(db_path, lambda db: app_setting_history(db, policy.SLA_KEY))) == 1


def test_calendars_are_saved_and_a_bad_time_zone_is_refused(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    at.text_input(key="cs_cal_timezone_*").input("Mars/Olympus")
    at.button(key="cs_cal_save_*").click().run()
    refused(at, "timezone")
    assert read(db_path, lambda db: app_setting_history(db, policy.CALENDARS_KEY)) == []
    at.text_input(key="cs_cal_timezone_*").input("Europe/London")
    at.text_input(key="cs_cal_hours_mon_*").input("9-5")
    at.button(key="cs_cal_save_*").click().run()
    refused(at, "opening hours on mon")
    at.text_input(key="cs_cal_hours_mon_*").input("09:00-17:00")
    at.text_input(key="cs_cal_country_*").input("XX")
    at.button(key="cs_cal_save_*").click().run()
    refused(at, "country")
    assert read(db_path, lambda db: app_setting_history(db, policy.CALENDARS_KEY)) == []
    # A location's own calendar.
    at.selectbox(key="cs_cal_pick").set_value("new").run()
    at.text_input(key="cs_cal_location").input("North")
    at.text_input(key="cs_cal_timezone_new").input("Europe/London")
    at.text_input(key="cs_cal_hours_mon_new").input("08:00-12:00, 13:00-18:00")
    at.text_input(key="cs_cal_hours_sat_new").input("10:00-14:00")
    at.text_input(key="cs_cal_country_new").input("gb")
    at.text_input(key="cs_cal_subdivision_new").input("ENG")
    at.text_area(key="cs_cal_closed_days_new").input("2026-12-24\n")
    at.button(key="cs_cal_save_new").click().run()
    ok(at)
    north = read(db_path, policy.calendars)["North"]
    assert (north.timezone, north.country, north.subdivision, north.closed_days) == (
        "Europe/London", "GB", "ENG", (date(2026, 12, 24),))
    assert north.hours[0] == (("08:00", "12:00"), ("13:00", "18:00"))
    assert north.hours[5] == (("10:00", "14:00"),) and north.hours[6] == ()
    assert at.selectbox(key="cs_cal_pick").value == "North"
    assert "North" in list(table(at, "calendar")["location"])
    at.button(key="cs_cal_remove").click().run()
    ok(at)
    assert "North" not in read(db_path, policy.calendars)


def test_case_settings_are_saved_and_bad_ones_refused(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    at.number_input(key="cs_set_at_risk_pct").set_value(80.0)
    at.number_input(key="cs_set_lookback_days").set_value(7)
    at.text_area(key="cs_set_segment_points").input("vip: 20\nbusiness: 7.5")
    at.text_area(key="cs_set_safety_words").input("Injury\nfood poisoning\n")
    at.button(key="cs_set_save").click().run()
    ok(at)
    saved = read(db_path, policy.case_settings)
    assert (saved.at_risk, saved.lookback_days, saved.segment_points, saved.safety_words) == (
        0.8, 7, {"vip": 20, "business": 7.5}, ("injury", "food poisoning"))
    assert f"Last changed by {ACTOR}" in " ".join(c.value for c in at.caption)
    at.number_input(key="cs_set_threshold_critical").set_value(30.0)
    at.button(key="cs_set_save").click().run()
    refused(at, "priority thresholds")
    at.number_input(key="cs_set_threshold_critical").set_value(70.0)
    at.text_area(key="cs_set_segment_points").input("vip twenty")
    at.button(key="cs_set_save").click().run()
    refused(at, "customer value")
    at.text_area(key="cs_set_segment_points").input("vip: 40")
    at.button(key="cs_set_save").click().run()
    refused(at, "customer value")
    assert read(db_path, policy.case_settings) == saved


def test_the_page_runs_on_a_store_with_cases(db_path, clock):
    build_store(db_path)
    at = open_page()
    ok(at)
    assert list(table(at, "open cases")["open cases"]) == [4, 3]


def test_route_bands_and_theme_weights_are_shown_and_saved(db_path, clock):
    build_store(db_path)
    at = open_page()
    ok(at)
    bands = next(d.value for d in at.dataframe
                 if "route" in d.value.columns and "lowest" in d.value.columns)
    nps = bands[bands["scale"] == "nps"].set_index("route")
    assert (nps.loc["recovery", "lowest"], nps.loc["recovery", "highest"]) == (0, 6)
    assert (nps.loc["advocacy", "lowest"], nps.loc["advocacy", "highest"]) == (9, 10)
    at.button(key="cs_bands_save").click().run()
    ok(at)
    saved = read(db_path, lambda d: app_setting_history(d, policy.BANDS_KEY))
    assert saved[0]["actor"] == ACTOR
    assert saved[0]["value"]["nps"]["recovery"] == [0.0, 6.0]
    assert "ces" in saved[0]["value"] and "improvement" not in saved[0]["value"]["ces"]
    weights = next(d.value for d in at.dataframe
                   if "set_by_hand" in d.value.columns)
    assert len(weights) == 2 and set(weights["level"]) == {"child"}


def test_bands_rows_round_trip_and_one_blank_bound_is_refused():
    rows = policy.band_rows(policy.DEFAULT_BANDS)
    assert policy.bands_from_rows(rows) == {
        scale: {route: (lo, hi) for route, (lo, hi) in routes.items()}
        for scale, routes in policy.DEFAULT_BANDS.items()}
    broken = [dict(r) for r in rows]
    broken[0]["highest"] = float("nan")
    with pytest.raises(policy.PolicyError, match="^route bands: nps recovery needs both"):
        policy.bands_from_rows(broken)


def test_theme_weight_rows_show_the_default_and_the_hand_set_weight(db_path, clock):
    from analysis.cases.priority import driver_weights, save_theme_weight, theme_weight_rows

    build_store(db_path)
    db = store.connect(db_path)
    with store.write_transaction(db):
        defaults = driver_weights(db, now=NOW, refresh=True)
        theme_id = db.execute("SELECT id FROM themes WHERE status = 'active' LIMIT 1").fetchone()[0]
        save_theme_weight(db, theme_id, 7.0, actor="lead")
    rows = {r["theme_id"]: r for r in theme_weight_rows(db)}
    assert rows[theme_id]["set_by_hand"] == 7.0
    assert rows[theme_id]["from_key_drivers"] == round(defaults.get(theme_id, 0.0), 1)

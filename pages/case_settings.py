"""Case settings: who works the case queue and by which rules. Teams, people, routing rules
(ordered; the first match wins), the SLA policy per priority, each location's business
calendar, and the case settings (at-risk threshold, look-back, repeat window, contact
frequency, safety words, customer value, priority thresholds).

Thin page: tables and the forms' values come from `analysis.views.cases`; writes go through
`analysis.cases.people` and `analysis.cases.policy` inside write transactions, by the person
picked as "who am I" on the Case queue (their email) or `current_actor()`. A value the
backend refuses is shown with its message (it names the field) and nothing is saved.
Names, emails and words are user text: shown only through st.dataframe, st.text and widget
options.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pandas as pd
import streamlit as st

from analysis import store
from analysis.app_settings import app_setting_history
from analysis.cases import people, policy
from analysis.cases import priority as case_priority
from analysis.cases.calendar import WEEKDAYS
from analysis.views import cases as views
from pages import current_actor, db_key, flash, page_start, run_write, show_flash

CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}
FLASH_AT = "cs_flash_at"
NEW = "new"
NONE = 0
ANY = ""
WEEKDAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                    "Saturday", "Sunday"), strict=True))


@st.cache_data(max_entries=8, **CACHE)
def _options(key) -> views.SettingsOptions:
    return views.settings_options(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _teams(key) -> list[dict]:
    return people.teams(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _people(key) -> list[dict]:
    return people.people(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _rules(key) -> list[people.RoutingRule]:
    return people.rules(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _policy(key):
    db = store.connect(key[0])
    return (policy.sla_policies(db), policy.calendars(db), policy.case_settings(db))


@st.cache_data(max_entries=16, **CACHE)
def _history(key, setting: str) -> list[dict]:
    return app_setting_history(store.connect(key[0]), setting)


# ----------------------------------------------------------------------------- writes

def _actor() -> str:
    return current_actor()


def _write(section: str, action, success: str, db) -> bool:
    def in_transaction():
        with store.write_transaction(db):
            action()

    st.session_state[FLASH_AT] = section
    return run_write(in_transaction, success, "Not saved.")


def _refuse(section: str, message: str) -> None:
    st.session_state[FLASH_AT] = section
    flash("error", "Not saved.", message)


def _forget(prefix: str, keep: str = "") -> None:
    """Drop a form's widget values (not `keep`), so that it is drawn again from the store."""
    for name in list(st.session_state):
        if str(name).startswith(prefix) and name != keep:
            del st.session_state[name]


def _flash_here(section: str) -> None:
    if st.session_state.get(FLASH_AT) == section:
        st.session_state.pop(FLASH_AT, None)
        show_flash()


def _save_team(db, pick) -> None:
    s = st.session_state
    team_id = None if pick == NEW else int(pick)
    name = s.get(f"cs_team_name_{pick}", "")
    lead, manager = s.get(f"cs_team_lead_{pick}") or None, s.get(f"cs_team_manager_{pick}") or None
    if _write("teams", lambda: people.save_team(
            db, name, lead_id=lead, manager_id=manager, team_id=team_id, actor=_actor(),
            now=store.utcnow()), f"Team saved: {views.cut(name.strip(), 80)}.", db):
        _forget("cs_team_", keep="cs_team_pick")


def _save_person(db, pick) -> None:
    s = st.session_state
    person_id = None if pick == NEW else int(pick)
    name, email = s.get(f"cs_person_name_{pick}", ""), s.get(f"cs_person_email_{pick}", "")
    if _write("people", lambda: people.save_person(
            db, name, email, team_id=s.get(f"cs_person_team_{pick}") or None,
            role=s.get(f"cs_person_role_{pick}", "agent"),
            capacity=int(s.get(f"cs_person_capacity_{pick}", 25)),
            active=bool(s.get(f"cs_person_active_{pick}", True)), person_id=person_id,
            actor=_actor(), now=store.utcnow()), f"Saved: {views.cut(name.strip(), 80)}.", db):
        _forget("cs_person_", keep="cs_person_pick")


def _add_rule(db) -> None:
    s = st.session_state
    target = s.get("cs_rule_target") or ""
    kind, _, target_id = target.partition(":")
    fields = {name: (s.get(f"cs_rule_{name}") or None) for name in
              ("sentiment", "location", "segment", "channel", "route", "priority")}
    rule = people.RoutingRule(
        name=s.get("cs_rule_name", ""), theme_id=s.get("cs_rule_theme_id") or None,
        team_id=int(target_id) if kind == "team" else None,
        person_id=int(target_id) if kind == "person" else None,
        active=bool(s.get("cs_rule_active", True)), **fields)
    if _write("rules", lambda: people.save_rule(db, rule, actor=_actor(), now=store.utcnow()),
              "Rule added at the end of the list.", db):
        _forget("cs_rule_")


def _move_rule(db, rule_id: int, step: int) -> None:
    changed = views.reordered(people.rules(db), rule_id, step)
    if not changed:
        st.session_state[FLASH_AT] = "rules"
        flash("success", "The rule is at that end of the list already.")
        return

    def action():
        for rule in changed:
            people.save_rule(db, rule, actor=_actor(), now=store.utcnow())
    _write("rules", action, "Rule moved " + ("up." if step < 0 else "down."), db)


def _toggle_rule(db, rule_id: int) -> None:
    rule = next(r for r in people.rules(db) if r.id == rule_id)
    _write("rules", lambda: people.save_rule(db, replace(rule, active=not rule.active),
                                             actor=_actor(), now=store.utcnow()),
           "Rule switched " + ("off." if rule.active else "on."), db)


def _delete_rule(db, rule_id: int) -> None:
    _write("rules", lambda: people.delete_rule(db, rule_id), "Rule deleted.", db)


def _save_sla(db) -> None:
    s = st.session_state
    values = {p: {"unit": s.get(f"cs_sla_unit_{p}"), "acknowledge": s.get(f"cs_sla_ack_{p}"),
                  "resolve": s.get(f"cs_sla_resolve_{p}"),
                  "follow up": s.get(f"cs_sla_follow_{p}"),
                  "business_hours": s.get(f"cs_sla_business_{p}")}
              for p in policy.PRIORITIES}
    try:
        policies = views.policies_from_form(values)
    except policy.PolicyError as exc:
        _refuse("sla", str(exc))
        return
    if _write("sla", lambda: policy.save_sla_policies(db, policies, actor=_actor(),
                                                      now=store.utcnow()),
              "SLA policies saved: new cases and changed cases use them.", db):
        _forget("cs_sla_")


def _save_calendar(db, pick: str) -> None:
    s = st.session_state
    location = (s.get("cs_cal_location", "") if pick == NEW else pick).strip()
    values = {name: s.get(f"cs_cal_{name}_{pick}") for name in
              ("timezone", "around_the_clock", "country", "subdivision", "closed_days",
               *(f"hours_{d}" for d in WEEKDAYS))}
    try:
        calendar = views.calendar_from_form(values)
    except policy.PolicyError as exc:
        _refuse("calendars", str(exc))
        return
    if _write("calendars", lambda: policy.save_calendar(db, location, calendar, actor=_actor(),
                                                        now=store.utcnow()),
              f"Calendar saved: {views.cut(location, 80)}.", db):
        _forget("cs_cal_")
        s["cs_cal_pick"] = location


def _remove_calendar(db, location: str) -> None:
    if _write("calendars", lambda: policy.remove_calendar(db, location, actor=_actor(),
                                                          now=store.utcnow()),
              f"Calendar removed: {views.cut(location, 80)} uses the default now.", db):
        _forget("cs_cal_")


def _save_settings(db) -> None:
    s = st.session_state
    names = ("at_risk_pct", "lookback_days", "repeat_days", "contact_min_days", "safety_words",
             "segment_points", "threshold_critical", "threshold_high", "threshold_medium")
    try:
        found = views.settings_from_form({n: s.get(f"cs_set_{n}") for n in names})
    except policy.PolicyError as exc:
        _refuse("settings", str(exc))
        return
    if _write("settings", lambda: policy.save_case_settings(db, found, actor=_actor(),
                                                            now=store.utcnow()),
              "Case settings saved: the next sweep uses them.", db):
        _forget("cs_set_")


# ----------------------------------------------------------------------------- sections

def _pick(label: str, key: str, options: dict) -> str | int:
    """New or one of `options` (id -> name), labelled "#id name"."""
    ids = [NEW, *options]
    state = st.session_state
    if state.get(key) not in ids:  # a renamed pick comes back as its old label
        state[key] = views.as_id(state.get(key)) if views.as_id(state.get(key)) in ids else NEW
    return st.selectbox(label, ids, key=key,
                        format_func=lambda i: "Add a new one" if i == NEW
                        else f"#{i} {options[i]}")


def _teams_section(db, key, options: views.SettingsOptions, read_only: bool) -> None:
    st.subheader("Teams")
    found = _teams(key)
    if found:
        st.dataframe(views.teams_table(found), hide_index=True, key="cs_teams_table")
    else:
        st.caption("No teams yet. A team called \"Customer care\" is the default route: "
                   "cases no rule matches go there.")
    pick = _pick("Edit team", "cs_team_pick", options.teams)
    current = next((t for t in found if t["id"] == pick), None)
    s = st.session_state
    s.setdefault(f"cs_team_name_{pick}", current["name"] if current else "")
    people_ids = [NONE, *options.people]
    for role, column in (("lead", "lead_id"), ("manager", "manager_id")):
        value = current[column] if current else None
        if s.get(f"cs_team_{role}_{pick}") not in people_ids:
            s[f"cs_team_{role}_{pick}"] = value if value in people_ids else NONE
    with st.form(f"cs_team_form_{pick}"):
        st.text_input("Team name", key=f"cs_team_name_{pick}", max_chars=200)
        one, two = st.columns(2)
        label = lambda p: "Nobody" if p == NONE else options.people[p]
        one.selectbox("Lead (escalation level 1)", people_ids, key=f"cs_team_lead_{pick}",
                      format_func=label)
        two.selectbox("Manager (escalation level 2)", people_ids,
                      key=f"cs_team_manager_{pick}", format_func=label)
        st.form_submit_button("Save team", key=f"cs_team_save_{pick}", on_click=_save_team,
                              args=(db, pick), disabled=read_only, type="primary")
    _flash_here("teams")


def _people_section(db, key, options: views.SettingsOptions, read_only: bool) -> None:
    st.subheader("People")
    found = _people(key)
    if found:
        st.dataframe(views.people_table(found), hide_index=True, key="cs_people_table")
    else:
        st.caption("No people yet: cases wait unassigned until someone can take them.")
    pick = _pick("Edit person", "cs_person_pick", {p["id"]: p["name"] for p in found})
    current = next((p for p in found if p["id"] == pick), None)
    s = st.session_state
    defaults = {"name": "", "email": "", "team": NONE, "role": "agent", "capacity": 25,
                "active": True}
    if current:
        defaults = {"name": current["name"], "email": current["email"],
                    "team": current["team_id"] or NONE, "role": current["role"],
                    "capacity": current["capacity"], "active": bool(current["active"])}
    for name, value in defaults.items():
        s.setdefault(f"cs_person_{name}_{pick}", value)
    teams = [NONE, *options.teams]
    if s[f"cs_person_team_{pick}"] not in teams:
        s[f"cs_person_team_{pick}"] = NONE
    with st.form(f"cs_person_form_{pick}"):
        one, two = st.columns(2)
        one.text_input("Name", key=f"cs_person_name_{pick}", max_chars=200)
        two.text_input("Email", key=f"cs_person_email_{pick}", max_chars=320)
        one.selectbox("Team", teams, key=f"cs_person_team_{pick}",
                      format_func=lambda t: "No team" if t == NONE else options.teams[t])
        two.selectbox("Role", list(people.ROLES), key=f"cs_person_role_{pick}")
        one.number_input("Capacity (open cases at most)", min_value=0, step=1,
                         key=f"cs_person_capacity_{pick}",
                         help="Automatic assignment gives nobody more open cases than this; "
                              "a manager may.")
        two.checkbox("Active (can be assigned cases)", key=f"cs_person_active_{pick}")
        st.form_submit_button("Save person", key=f"cs_person_save_{pick}",
                              on_click=_save_person, args=(db, pick), disabled=read_only,
                              type="primary")
    _flash_here("people")


def _rules_section(db, key, options: views.SettingsOptions, read_only: bool) -> None:
    st.subheader("Routing rules")
    found = _rules(key)
    if found:
        st.dataframe(views.rules_table(found, options.themes, options.teams, options.people),
                     hide_index=True, key="cs_rules_table")
        st.caption("The first active rule a case matches decides where it goes; an empty "
                   "condition matches anything. No match: the team called \"Customer care\" "
                   "(else unassigned). Within a team, the active member with the fewest open "
                   "cases below their capacity.")
        labels = {r.id: f"#{r.id} {views.cut(r.name, 80)}" for r in found}
        if "cs_rule_pick" in st.session_state:  # a pick by label, or a deleted rule
            picked = views.as_id(st.session_state["cs_rule_pick"])
            if picked in labels:
                st.session_state["cs_rule_pick"] = picked
            else:
                del st.session_state["cs_rule_pick"]
        left, *buttons = st.columns([3, 1, 1, 1, 1], vertical_alignment="bottom")
        picked = left.selectbox("Rule", list(labels), key="cs_rule_pick",
                                format_func=labels.get)
        for column, (label, call, args) in zip(buttons, (
                ("Move up", _move_rule, (db, picked, -1)),
                ("Move down", _move_rule, (db, picked, 1)),
                ("Switch on/off", _toggle_rule, (db, picked)),
                ("Delete", _delete_rule, (db, picked))), strict=True):
            column.button(label, key=f"cs_rule_{label.lower().replace(' ', '_')}",
                          on_click=call, args=args, disabled=read_only or picked is None)
    else:
        st.caption("No routing rules: every case goes to the \"Customer care\" team if there "
                   "is one, else waits unassigned.")
    _flash_here("rules")
    targets = {f"team:{t}": f"Team: {n}" for t, n in options.teams.items()}
    targets |= {f"person:{p}": f"Person: {n}" for p, n in options.people.items()}
    with st.expander("Add a routing rule", icon=":material/add:", expanded=not found):
        if not targets:
            st.caption("Add a team or a person first: a rule sends cases to one.")
            return
        with st.form("cs_rule_form"):
            st.text_input("Rule name", key="cs_rule_name", max_chars=200)
            one, two, three = st.columns(3)
            anything = lambda v: "Any" if v in (ANY, NONE) else str(v)
            one.selectbox("Theme", [NONE, *options.themes], key="cs_rule_theme_id",
                          format_func=lambda t: "Any" if t == NONE else options.themes[t])
            two.selectbox("Sentiment", [ANY, "negative", "neutral", "positive"],
                          key="cs_rule_sentiment", format_func=anything)
            three.selectbox("Location", [ANY, *options.locations], key="cs_rule_location",
                            format_func=anything)
            one.selectbox("Segment", [ANY, *options.segments], key="cs_rule_segment",
                          format_func=anything)
            two.selectbox("Channel", [ANY, *options.channels], key="cs_rule_channel",
                          format_func=anything)
            three.selectbox("Route", [ANY, *policy.ROUTES, policy.ROOT_CAUSE],
                            key="cs_rule_route", format_func=anything)
            one.selectbox("Priority", [ANY, *policy.PRIORITIES], key="cs_rule_priority",
                          format_func=anything)
            two.selectbox("Send to", list(targets), key="cs_rule_target",
                          format_func=targets.get)
            three.checkbox("Active", value=True, key="cs_rule_active")
            st.form_submit_button("Add rule", key="cs_rule_add", on_click=_add_rule,
                                  args=(db,), disabled=read_only, type="primary")


@st.cache_data(max_entries=8, **CACHE)
def _bands(key) -> list[dict]:
    return policy.band_rows(policy.route_bands(store.connect(key[0])))


@st.cache_data(max_entries=8, **CACHE)
def _weights(key) -> list[dict]:
    return case_priority.theme_weight_rows(store.connect(key[0]))


def _save_bands(db, rows: list[dict]) -> None:
    try:
        bands = policy.bands_from_rows(rows)
    except policy.PolicyError as exc:
        _refuse("bands", str(exc))
        return
    _write("bands", lambda: policy.save_route_bands(db, bands, actor=_actor(),
                                                    now=store.utcnow()),
           "Route bands saved.", db)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _save_weights(db, before: list[dict], after: list[dict]) -> None:
    changed = [(b["theme_id"], None if _blank(a["set_by_hand"]) else float(a["set_by_hand"]))
               for b, a in zip(before, after, strict=True)
               if not (_blank(b["set_by_hand"]) and _blank(a["set_by_hand"]))
               and b["set_by_hand"] != a["set_by_hand"]]

    def action():
        for theme_id, weight in changed:
            case_priority.save_theme_weight(db, theme_id, weight, actor=_actor(),
                                            now=store.utcnow())

    _write("weights", action, f"{len(changed)} theme weight(s) saved.", db)


def _routes_section(db, key, read_only: bool) -> None:
    st.subheader("Which scores open which route")
    st.caption("Recovery opens a case, improvement a low-priority clarification task, "
               "advocacy a thank-you / review-request task. Leave both bounds blank to leave "
               "a route out for a scale; a comment with no score opens a case when its "
               "sentiment is negative. " + views.last_changed(_history(key, policy.BANDS_KEY)))
    rows = pd.DataFrame(_bands(key))
    edited = st.data_editor(
        rows, key="cs_bands_editor", hide_index=True,
        disabled=True if read_only else ["scale", "route"],
        column_config={"lowest": st.column_config.NumberColumn("Lowest score", step=0.5),
                       "highest": st.column_config.NumberColumn("Highest score", step=0.5)})
    st.button("Save route bands", key="cs_bands_save", on_click=_save_bands,
              args=(db, edited.to_dict("records")), disabled=read_only)
    _flash_here("bands")
    st.subheader("Theme weights (business impact, 0-25 priority points)")
    st.caption("By default half the NPS points a theme costs in the key drivers (refitted by "
               "the sweep once a day). A weight set by hand wins; clear it to go back to the "
               "default.")
    weights = _weights(key)
    if not weights:
        st.info("No themes yet: weights come once themes are fitted.")
        return
    edited_weights = st.data_editor(
        pd.DataFrame(weights), key="cs_weights_editor", hide_index=True,
        disabled=True if read_only else ["theme_id", "theme", "level", "from_key_drivers"],
        column_config={"theme_id": None,
                       "from_key_drivers": st.column_config.NumberColumn("From key drivers"),
                       "set_by_hand": st.column_config.NumberColumn(
                           "Set by hand", min_value=0.0, max_value=25.0, step=1.0)})
    st.button("Save theme weights", key="cs_weights_save", on_click=_save_weights,
              args=(db, weights, edited_weights.to_dict("records")), disabled=read_only)
    _flash_here("weights")


def _sla_section(db, key, read_only: bool) -> None:
    st.subheader("SLA policy per priority")
    policies, _, _ = _policy(key)
    s = st.session_state
    for priority, values in views.sla_form_values(policies).items():
        for name, value in (("unit", values["unit"]), ("ack", values["acknowledge"]),
                            ("resolve", values["resolve"]), ("follow", values["follow up"]),
                            ("business", values["business_hours"])):
            s.setdefault(f"cs_sla_{name}_{priority}", value)
    with st.form("cs_sla_form"):
        for priority in policy.PRIORITIES:
            st.markdown(f"**{priority.capitalize()}**")
            unit, ack, resolve, follow, business = st.columns([1, 1, 1, 1, 1.2],
                                                              vertical_alignment="bottom")
            unit.selectbox("Unit", list(views.UNITS), key=f"cs_sla_unit_{priority}")
            ack.number_input("Acknowledge within", min_value=0.0, step=1.0,
                             key=f"cs_sla_ack_{priority}")
            resolve.number_input("Resolve within", min_value=0.0, step=1.0,
                                 key=f"cs_sla_resolve_{priority}")
            follow.number_input("Follow up within", min_value=0.0, step=1.0,
                                key=f"cs_sla_follow_{priority}",
                                help="After resolving; 0: no follow-up due.")
            business.checkbox("Business hours (else around the clock)",
                              key=f"cs_sla_business_{priority}")
        st.form_submit_button("Save SLA policies", key="cs_sla_save", on_click=_save_sla,
                              args=(db,), disabled=read_only, type="primary")
    _flash_here("sla")
    st.caption("Acknowledge and resolve count from opening, follow up from resolution, in the "
               "case location's business hours unless around the clock; waiting on the "
               "customer stops the clock. " + views.last_changed(_history(key, policy.SLA_KEY)))


def _calendars_section(db, key, options: views.SettingsOptions, read_only: bool) -> None:
    st.subheader("Business calendars")
    _, calendars, _ = _policy(key)
    st.dataframe([{"location": "* (every other location)" if loc == policy.DEFAULT_CALENDAR
                   else loc, "calendar": views.calendar_summary(cal)}
                  for loc, cal in sorted(calendars.items(),
                                         key=lambda kv: (kv[0] != "*", kv[0]))],
                 hide_index=True, key="cs_calendars_table")
    choices = {policy.DEFAULT_CALENDAR: "* Default (every location without its own)"}
    choices |= {loc: loc for loc in sorted(calendars) if loc != policy.DEFAULT_CALENDAR}
    choices[NEW] = "Add a location's calendar"
    s = st.session_state
    if s.get("cs_cal_pick") not in choices:
        s["cs_cal_pick"] = policy.DEFAULT_CALENDAR
    pick = st.selectbox("Calendar", list(choices), key="cs_cal_pick", format_func=choices.get)
    base = calendars.get(pick) or calendars[policy.DEFAULT_CALENDAR]
    for name, value in views.calendar_form_values(base).items():
        s.setdefault(f"cs_cal_{name}_{pick}", value)
    with st.form(f"cs_cal_form_{pick}"):
        if pick == NEW:
            without = [p for p in options.locations if p not in calendars]
            st.text_input("Location", key="cs_cal_location", max_chars=200,
                          help="As it appears in the feedback"
                               + (f", e.g. {', '.join(without[:5])}" if without else "") + ".")
        one, two, three = st.columns(3)
        one.text_input("Time zone", key=f"cs_cal_timezone_{pick}", max_chars=64,
                       help="An IANA name, e.g. Europe/London, America/New_York, UTC.")
        two.text_input("Country for public holidays", key=f"cs_cal_country_{pick}",
                       max_chars=8, help="ISO code, e.g. GB, DE, US; empty: none.")
        three.text_input("Subdivision", key=f"cs_cal_subdivision_{pick}", max_chars=16,
                         help="e.g. ENG, BY, CA; empty: the whole country.")
        st.checkbox("Open around the clock (hours, holidays and closed days then ignored)",
                    key=f"cs_cal_around_the_clock_{pick}")
        st.markdown("Opening hours, e.g. `09:00-17:00` or `08:00-12:00, 13:00-18:00`; empty: "
                    "closed")
        columns = st.columns(7)
        for column, day in zip(columns, WEEKDAYS, strict=True):
            column.text_input(WEEKDAY_NAMES[day], key=f"cs_cal_hours_{day}_{pick}",
                              max_chars=100)
        st.text_area("Extra closed days (one YYYY-MM-DD a line)",
                     key=f"cs_cal_closed_days_{pick}", height=80)
        st.form_submit_button("Save calendar", key=f"cs_cal_save_{pick}",
                              on_click=_save_calendar, args=(db, pick), disabled=read_only,
                              type="primary")
    if pick not in (NEW, policy.DEFAULT_CALENDAR):
        st.button("Remove this calendar (the location then uses the default)",
                  key="cs_cal_remove", on_click=_remove_calendar, args=(db, pick),
                  disabled=read_only)
    _flash_here("calendars")
    st.caption("Due times of cases opened from now on use the saved calendars. "
               + views.last_changed(_history(key, policy.CALENDARS_KEY)))


def _settings_section(db, key, read_only: bool) -> None:
    st.subheader("Case settings")
    _, _, found = _policy(key)
    s = st.session_state
    for name, value in views.settings_form_values(found).items():
        s.setdefault(f"cs_set_{name}", value)
    with st.form("cs_settings_form"):
        one, two, three, four = st.columns(4)
        one.number_input("At risk after (% of a stage's time used)", min_value=0.0,
                         max_value=100.0, step=5.0, key="cs_set_at_risk_pct")
        two.number_input("Look back (days)", min_value=0, step=1, key="cs_set_lookback_days",
                         help="The sweep opens cases for feedback received at most this many "
                              "days ago; older feedback is noted, not queued.")
        three.number_input("Repeat window (days)", min_value=0, step=1,
                           key="cs_set_repeat_days",
                           help="Earlier feedback from the customer within this many days "
                                "adds repeat points.")
        four.number_input("Contact at most every (days)", min_value=0, step=1,
                          key="cs_set_contact_min_days",
                          help="No new follow-up or survey request to a customer contacted "
                               "more recently, unless a case needs it.")
        left, right = st.columns(2)
        left.text_area("Safety and legal words (one a line: they force critical)",
                       key="cs_set_safety_words", height=160)
        right.text_area("Customer value (one \"segment: points\" a line, 0-30)",
                        key="cs_set_segment_points", height=160,
                        help="Points added to a case's priority for the customer's segment, "
                             "e.g. \"vip: 20\".")
        st.markdown("Priority thresholds (lowest score of each level; below medium: low)")
        one, two, three = st.columns(3)
        one.number_input("Critical from", step=1.0, key="cs_set_threshold_critical")
        two.number_input("High from", step=1.0, key="cs_set_threshold_high")
        three.number_input("Medium from", step=1.0, key="cs_set_threshold_medium")
        st.form_submit_button("Save case settings", key="cs_set_save", on_click=_save_settings,
                              args=(db,), disabled=read_only, type="primary")
    _flash_here("settings")
    st.caption(views.last_changed(_history(key, policy.SETTINGS_KEY)))


# ----------------------------------------------------------------------------- page

def render() -> None:
    db, _ = page_start()
    key = db_key(db)
    st.title("Case settings")
    if FLASH_AT not in st.session_state:
        show_flash()
    read_only = store.is_read_only(db)
    options = _options(key)
    st.caption("Who works the case queue, and by which rules. Changes are recorded with who "
               "made them and when.")
    teams, rules, sla, calendars, settings = st.tabs(
        ["Teams and people", "Routing rules", "SLA policies", "Calendars", "Case settings"])
    with teams:
        _teams_section(db, key, options, read_only)
        _people_section(db, key, options, read_only)
    with rules:
        _rules_section(db, key, options, read_only)
        _routes_section(db, key, read_only)
    with sla:
        _sla_section(db, key, read_only)
    with calendars:
        _calendars_section(db, key, options, read_only)
    with settings:
        _settings_section(db, key, read_only)


render()

"""Trends: what rises and falls, by theme and location, and the spike alerts it raises.

Thin page: the spike heatmap, lines and tables come from `analysis.views.trends` (which
reads `analysis.trends` and writes nothing), figures from `analysis.reports.charts`;
acknowledging and snoozing alerts, trigger rules, the sensitivity setting and the sweep go
through `analysis.trends` and `analysis.sweep` inside write transactions, by
`current_actor()`. Theme names, locations, notes and actors are user text: shown only
through st.dataframe, st.text, widget options and escaped plotly figures.
Speed: every read is cached (bounded, keyed by the store's file and revision); the chart's
own controls rerun only the chart (a fragment).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import streamlit as st

from analysis import store
from analysis.app_settings import app_setting_history
from analysis.domain.filters import filter_options
from analysis.reports import charts
from analysis.settings import get_settings
from analysis.sweep import run_sweep
from analysis.themes.queries import CHILD, PARENT
from analysis.trends import alerts, triggers
from analysis.trends.periods import period_opening
from analysis.trends.series import default_level
from analysis.views import trends as views
from pages import current_actor, db_key, flash, page_start, run_write, show_flash

CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}
FLASH_AT = "trends_flash_at"  # which section a write's message belongs next to
GRANULARITY_LABELS = {"week": "Weeks", "day": "Days"}
STATUS_LABELS = {"open": "Open alerts", "all": "All alerts"}
ANY_THEME, ANY_LOCATION = 0, ""  # theme ids start at 1; an empty location is no location


# Every read is cached, bounded and keyed on the store's file and revision (every write
# changes it), so a cached figure is never older than the last write.
@st.cache_data(max_entries=8, **CACHE)
def _empty(key) -> str | None:
    return views.empty_message(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _default_level(key) -> str:
    return default_level(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _settings(key) -> alerts.AlertSettings:
    return alerts.alert_settings(store.connect(key[0]))


@st.cache_data(max_entries=16, **CACHE)
def _periods(key, granularity: str, now) -> list:
    return views.period_options(store.connect(key[0]), granularity, now=now)


@st.cache_data(max_entries=16, **CACHE)
def _heatmap(key, granularity: str, period, level: str) -> views.Heatmap:
    return views.spike_heatmap(store.connect(key[0]), granularity=granularity, period=period,
                               level=level)


@st.cache_data(max_entries=16, **CACHE)
def _share_lines(key, theme_id: int, level: str, granularity: str, last, periods: int,
                 locations: tuple, include_all: bool) -> views.Lines:
    return views.theme_share_lines(store.connect(key[0]), theme_id=theme_id, level=level,
                                   granularity=granularity, last=last, periods=periods,
                                   locations=locations, include_all=include_all)


@st.cache_data(max_entries=16, **CACHE)
def _metric_lines(key, metric: str, granularity: str, last, periods: int, locations: tuple,
                  include_all: bool) -> views.Lines:
    return views.metric_lines(store.connect(key[0]), metric=metric, granularity=granularity,
                              last=last, periods=periods, locations=locations,
                              include_all=include_all)


@st.cache_data(max_entries=8, **CACHE)
def _themes(key, level: str) -> dict[int, str]:
    return views.theme_labels(store.connect(key[0]), level)


@st.cache_data(max_entries=8, **CACHE)
def _locations(key) -> list[str]:
    return filter_options(store.connect(key[0]))["locations"]


@st.cache_data(max_entries=8, **CACHE)
def _alerts(key, status: str) -> list[dict]:
    return views.alerts_with_periods(store.connect(key[0]), status)


@st.cache_data(max_entries=16, **CACHE)
def _alert_history(key, alert_id: int):
    return views.history_table(alerts.alert_history(store.connect(key[0]), alert_id))


@st.cache_data(max_entries=8, **CACHE)
def _last_sweep(key) -> str | None:
    return views.last_sweep(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _tasks(key, every: bool) -> list[dict]:
    return triggers.list_tasks(store.connect(key[0]), status=None if every else "open")


@st.cache_data(max_entries=8, **CACHE)
def _rules(key) -> list[dict]:
    return triggers.list_rules(store.connect(key[0]))


@st.cache_data(max_entries=16, **CACHE)
def _rule_history(key, rule_id: int):
    return views.history_table(triggers.rule_history(store.connect(key[0]), rule_id))


@st.cache_data(max_entries=8, **CACHE)
def _settings_history(key) -> list[dict]:
    return app_setting_history(store.connect(key[0]), alerts.SETTINGS_KEY)


# ----------------------------------------------------------------------------- writes
# Widget callbacks: they run before the script reruns, so the page redraws with the new
# figures at once; `run_write` turns a refusal or a store failure into one message, shown
# next to the section it came from.

def _write(section: str, action, success: str, db) -> bool:
    def in_transaction():
        with store.write_transaction(db):
            action()

    st.session_state[FLASH_AT] = section
    return run_write(in_transaction, success)


def _flash_here(section: str) -> None:
    if st.session_state.get(FLASH_AT) == section:
        st.session_state.pop(FLASH_AT, None)
        show_flash()


def _acknowledge(db, alert_id: int) -> None:
    note = st.session_state.get(f"trends_ack_note_{alert_id}", "")
    _write("alerts", lambda: alerts.acknowledge_alert(
        db, alert_id, actor=current_actor(), note=note, now=store.utcnow()),
        "Alert acknowledged.", db)


def _snooze(db, alert_id: int) -> None:
    day = st.session_state.get(f"trends_snooze_until_{alert_id}")
    note = st.session_state.get(f"trends_snooze_note_{alert_id}", "")
    if day is None:
        st.session_state[FLASH_AT] = "alerts"
        flash("error", "Not snoozed.", "Choose the day the snooze ends.")
        return
    until = period_opening(day, get_settings().timezone)  # local midnight that day
    _write("alerts", lambda: alerts.snooze_alert(
        db, alert_id, until=until, actor=current_actor(), note=note, now=store.utcnow()),
        f"Alert snoozed until {day.isoformat()}.", db)


def _sweep(db) -> None:
    results: dict = {}
    st.session_state[FLASH_AT] = "alerts"
    if run_write(lambda: results.update(run_sweep(db, actor=current_actor())),
                 "Sweep finished."):
        flash("success", "Sweep finished.", views.sweep_summary(results))


def _save_rule(db, choice, base: dict) -> None:
    """Save the rule form: `base` holds the rule's values (or a new rule's defaults), so a
    field the form does not show is kept as it is."""
    values = dict(base)
    for name in base:
        if (widget := f"trends_rule_{name}_{choice}") in st.session_state:
            values[name] = st.session_state[widget]
    values["theme_id"] = None if values["theme_id"] == ANY_THEME else values["theme_id"]
    values["location"] = values["location"] or None
    values["share_above"] = float(st.session_state.get(
        f"trends_rule_share_pct_{choice}", base["share_above"] * 100) or 0) / 100
    rule = triggers.TriggerRule(**{k: v for k, v in values.items()
                                   if k in triggers.TriggerRule.__dataclass_fields__})
    if choice == "new":
        added: list[int] = []
        if _write("rules", lambda: added.append(triggers.add_rule(
                db, rule, actor=current_actor(), now=store.utcnow())), "Rule added.", db):
            st.session_state["trends_rule_pick"] = added[0]
            for name in list(st.session_state):
                if str(name).startswith("trends_rule_") and str(name).endswith("_new"):
                    del st.session_state[name]
        return
    changed: list[bool] = []
    _write("rules", lambda: changed.append(triggers.update_rule(
        db, int(choice), rule, actor=current_actor(), now=store.utcnow())), "Rule saved.", db)
    if changed == [False]:
        flash("success", "Nothing to save: the rule already has these values.")


def _save_sensitivity(db) -> None:
    state = st.session_state

    def save():
        current = alerts.alert_settings(db)
        spikes = replace(current.spikes, fdr=float(state["trends_fdr_pct"]) / 100,
                         min_baseline_responses=int(state["trends_min_baseline"]),
                         min_count=int(state["trends_min_count"]))
        alerts.save_alert_settings(db, replace(current, spikes=spikes),
                                   actor=current_actor(), now=store.utcnow())

    _write("sensitivity", save, "Sensitivity saved: the next sweep and the heatmap use it.",
           db)


# ----------------------------------------------------------------------------- sections

def _heatmap_section(key, heatmap: views.Heatmap, filters) -> None:
    st.subheader("Spikes by theme and location")
    if heatmap.frame.empty:
        st.info("No theme mentions in this period and its baseline: nothing to test.")
        return
    frame = heatmap.frame
    if filters.locations:  # the sidebar's locations narrow the columns, not the test
        frame = frame[frame["location"].isna() | frame["location"].isin(filters.locations)]
    st.plotly_chart(charts.spike_heatmap_figure(frame, views.ALL_LABEL), key="trends_heatmap")
    st.caption(views.heatmap_caption(heatmap))
    st.caption("Sensitivity: " + views.settings_caption(heatmap.settings, heatmap.granularity) +
               " The sidebar filters do not change the test: alerts are raised on all "
               "feedback.")
    crossed = views.crossed_table(heatmap)
    if crossed.empty:
        st.caption("No cell is flagged in this period.")
    else:
        st.dataframe(crossed, hide_index=True, key="trends_crossed", column_config={
            "share_pct": st.column_config.NumberColumn("share %", format="%.1f"),
            "baseline_pct": st.column_config.NumberColumn("baseline %", format="%.1f"),
            "p_value": st.column_config.NumberColumn("p", format="%.2g"),
            "q_value": st.column_config.NumberColumn("q (BH)", format="%.2g")})


@st.fragment
def _lines_section(key, granularity: str, last, level: str, heatmap: views.Heatmap,
                   filters) -> None:
    """A theme's share (or a score) over time: its controls rerun this part only."""
    st.subheader("Over time")
    left, middle, right = st.columns([1, 2, 1])
    metric = left.selectbox("Show", list(views.METRICS), format_func=views.METRICS.get,
                            key="trends_metric")
    themes = _themes(key, level)
    theme_id = None
    if metric == "share":
        if not themes:
            st.info("No themes at this level.")
            return
        ids = list(themes)
        ranked = [int(t) for t in views.ranked_themes(heatmap) if int(t) in themes]
        default = ranked[0] if ranked else ids[0]
        if st.session_state.get("trends_theme") not in themes:
            st.session_state["trends_theme"] = default
        theme_id = middle.selectbox("Theme", ids, format_func=themes.get, key="trends_theme")
    places = _locations(key)
    st.session_state.setdefault("trends_locations",
                                [loc for loc in filters.locations if loc in places])
    locations = st.multiselect("Locations", places, key="trends_locations")
    include_all = st.checkbox("Line for all locations", value=True, key="trends_include_all")
    windows = views.WINDOW_CHOICES[granularity]
    periods = right.select_slider(f"{GRANULARITY_LABELS[granularity]} shown", windows,
                                  value=views.DEFAULT_WINDOW[granularity],
                                  key=f"trends_window_{granularity}")
    if metric == "share":
        lines = _share_lines(key, theme_id, level, granularity, last, periods,
                             tuple(locations), include_all)
    else:
        lines = _metric_lines(key, metric, granularity, last, periods, tuple(locations),
                              include_all)
    if lines.frame.empty:
        st.caption("No data for these lines in this window.")
        return
    st.plotly_chart(charts.trend_lines_figure(lines.frame, lines.markers, lines.value_label),
                    key="trends_lines")
    if metric == "share":
        st.caption("Shaded: where the share would fall 95% of the time if nothing changed "
                   "(the spike test's expected range around the baseline share; none where "
                   "the cell has too little history). Hover a point for its 95% Wilson "
                   "interval and n. Triangles: spike alerts of this theme (red: flagged in "
                   "that period; orange: the episode carried on).")
    else:
        st.caption("Shaded: the 95% interval of each period's figure; hover for n.")
    st.markdown("**Trend over the window**")
    for line, summary in zip(lines.trends["line"], lines.trends["summary"]):
        st.text(f"{line}: {summary}")
    st.dataframe(lines.trends.drop(columns="summary"), hide_index=True,
                 key="trends_trend_table", column_config={
        "estimate": st.column_config.NumberColumn(format="%.3f"),
        "ci_low": st.column_config.NumberColumn("95% low", format="%.3f"),
        "ci_high": st.column_config.NumberColumn("95% high", format="%.3f"),
        "p_value": st.column_config.NumberColumn("p", format="%.3g")})


def _alerts_section(db, key) -> None:
    st.subheader("Spike alerts")
    _flash_here("alerts")
    read_only = store.is_read_only(db)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    last = _last_sweep(key)
    left.caption(last if last else
                 "The sweep has not run on this store yet: run it here, or schedule "
                 "`python -m analysis sweep` every few minutes.")
    right.button("Run sweep now", key="trends_sweep", on_click=_sweep, args=(db,),
                 disabled=read_only)
    status = st.radio("Alerts", list(STATUS_LABELS), format_func=STATUS_LABELS.get,
                      horizontal=True, key="trends_alert_status", label_visibility="collapsed")
    found = _alerts(key, status)
    if not found:
        st.caption("No open alerts." if status == "open" else
                   "No alerts yet: the sweep raises them when a theme spikes somewhere.")
        return
    st.dataframe(views.alert_table(found), hide_index=True, key="trends_alert_table",
                 column_config={"min_q": st.column_config.NumberColumn("q", format="%.2g"),
                                "flagged": "flagged periods"})
    by_id = {a["id"]: a for a in found}
    if st.session_state.get("trends_alert_pick") not in by_id:
        st.session_state.pop("trends_alert_pick", None)
    picked = st.selectbox("Alert to review", list(by_id), key="trends_alert_pick",
                          format_func=lambda a: f"#{a} {alerts.describe_alert(by_id[a])}")
    _alert_detail(db, key, by_id[picked], read_only)


def _alert_detail(db, key, alert: dict, read_only: bool) -> None:
    alert_id = alert["id"]
    st.text(alerts.describe_alert(alert))
    st.caption(views.alert_state(alert))
    if alert["reviewed_by"]:
        st.text(f"Reviewed by {alert['reviewed_by']}" +
                (f": {alert['note'][:500]}" if alert["note"] else ""))
    st.markdown(f"[Open the comments of this episode on the Themes page]"
                f"({views.themes_link(alert)})")
    st.caption(f"The link opens this theme with the episode's dates ({alert['first_period']}"
               f" to {alert['period_end']}) and location filled in.")
    ack, snooze = st.columns(2)
    ack.text_input("Note", key=f"trends_ack_note_{alert_id}", max_chars=500,
                   disabled=read_only)
    ack.button("Acknowledge", key=f"trends_ack_{alert_id}", on_click=_acknowledge,
               args=(db, alert_id), disabled=read_only)
    today = store.utcnow().date()
    snooze.date_input("Snooze until", value=today + timedelta(days=7),
                      min_value=today + timedelta(days=1), key=f"trends_snooze_until_{alert_id}",
                      format="YYYY-MM-DD", disabled=read_only)
    snooze.text_input("Note", key=f"trends_snooze_note_{alert_id}", max_chars=500,
                      disabled=read_only)
    snooze.button("Snooze", key=f"trends_snooze_{alert_id}", on_click=_snooze,
                  args=(db, alert_id), disabled=read_only)
    st.dataframe(views.periods_table(alert), hide_index=True, key=f"trends_periods_{alert_id}",
                 column_config={"p_value": st.column_config.NumberColumn("p", format="%.2g"),
                                "q_value": st.column_config.NumberColumn("q", format="%.2g")})
    st.caption("The episode's periods: the sentence above gives its latest; flagged periods "
               "crossed the spike test, the others kept it open (p < 0.05, above expected).")
    with st.expander("History of this alert"):
        st.dataframe(_alert_history(key, alert_id), hide_index=True)


def _tasks_section(key) -> None:
    st.subheader("Root-cause tasks")
    every = st.toggle("Include done and cancelled tasks", key="trends_tasks_all")
    tasks = _tasks(key, every)
    if not tasks:
        st.caption("No root-cause tasks. A trigger rule below opens one when a theme stays "
                   "above its threshold at a location.")
        return
    st.dataframe(views.tasks_table(tasks), hide_index=True, key="trends_tasks")


def _rules_section(db, key, level: str) -> None:
    st.subheader("Trigger rules")
    rules = _rules(key)
    themes = _themes(key, level)
    if rules:
        st.dataframe(views.rules_table(rules, themes), hide_index=True, key="trends_rules")
    by_id = {r["id"]: r for r in rules}
    choices = [*by_id, "new"]
    if st.session_state.get("trends_rule_pick") not in choices:
        st.session_state.pop("trends_rule_pick", None)
    choice = st.selectbox("Rule to edit", choices, key="trends_rule_pick",
                          format_func=lambda c: "Add a new rule" if c == "new"
                          else f"#{c} {by_id[c]['name']}")
    rule = by_id.get(choice)
    base = views.rule_values(rule)
    k = f"_{choice}"
    shown = {**base, "theme_id": ANY_THEME if base["theme_id"] is None else base["theme_id"],
             "location": base["location"] or ANY_LOCATION}
    for name, value in shown.items():
        st.session_state.setdefault(f"trends_rule_{name}{k}", value)
    st.session_state.setdefault(f"trends_rule_share_pct{k}", round(base["share_above"] * 100, 2))
    read_only = store.is_read_only(db)
    st.text_input("Name", key=f"trends_rule_name{k}", max_chars=200, disabled=read_only)
    one, two, three, four = st.columns(4)
    one.number_input("Share above (%)", min_value=0.0, max_value=100.0, step=0.5,
                     key=f"trends_rule_share_pct{k}", disabled=read_only)
    two.number_input("Consecutive periods", min_value=0, step=1,
                     key=f"trends_rule_consecutive{k}", disabled=read_only)
    three.selectbox("Period", ["week", "day"], key=f"trends_rule_granularity{k}",
                    format_func=GRANULARITY_LABELS.get, disabled=read_only)
    four.number_input("Minimum responses per period", min_value=0, step=1,
                      key=f"trends_rule_min_volume{k}", disabled=read_only)
    # "Any" is ANY_THEME / ANY_LOCATION, not None: a select box shows None as no choice.
    theme_ids = [ANY_THEME, *themes]
    if base["theme_id"] is not None and base["theme_id"] not in theme_ids:
        theme_ids.append(base["theme_id"])
    places = _locations(key)
    place_options = [ANY_LOCATION, *places] + ([base["location"]] if base["location"]
                                               and base["location"] not in places else [])
    one.selectbox("Theme", theme_ids, key=f"trends_rule_theme_id{k}", disabled=read_only,
                  format_func=lambda t: "Any theme" if t == ANY_THEME
                  else themes.get(t, f"Theme #{t}"))
    two.selectbox("Location", place_options, key=f"trends_rule_location{k}",
                  format_func=lambda p: "Any location" if p == ANY_LOCATION else p,
                  disabled=read_only)
    three.number_input("Task due after (days)", min_value=0, step=1,
                       key=f"trends_rule_due_days{k}", disabled=read_only)
    four.checkbox("Enabled", key=f"trends_rule_enabled{k}", disabled=read_only)
    if "negative_only" in base:
        four.checkbox("Negative mentions only", key=f"trends_rule_negative_only{k}",
                      disabled=read_only,
                      help="Count only the theme's negative mentions: the share of feedback "
                           "complaining about it.")
    st.button("Add rule" if choice == "new" else "Save rule", key=f"trends_rule_save{k}",
              on_click=_save_rule, args=(db, choice, base), disabled=read_only)
    _flash_here("rules")  # a refusal names the field, next to the form
    if rule is not None:
        with st.expander("History of this rule"):
            st.dataframe(_rule_history(key, int(choice)), hide_index=True)


def _sensitivity_section(db, key, cells_per_week: int, cells_per_day: int) -> None:
    st.subheader("Sensitivity")
    saved = _settings(key).spikes
    state = st.session_state
    state.setdefault("trends_fdr_pct", round(saved.fdr * 100, 2))
    state.setdefault("trends_min_baseline", int(saved.min_baseline_responses))
    state.setdefault("trends_min_count", int(saved.min_count))
    read_only = store.is_read_only(db)
    one, two, three = st.columns(3)
    one.number_input("False discovery rate (%)", min_value=0.0, max_value=100.0, step=0.5,
                     key="trends_fdr_pct", disabled=read_only,
                     help="Lower: fewer alerts, fewer of them false; higher: more alerts.")
    two.number_input("Minimum baseline responses", min_value=0, step=5,
                     key="trends_min_baseline", disabled=read_only,
                     help="A cell is tested only with this many commented responses at its "
                          "location in the baseline.")
    three.number_input("Minimum mentions to alert", min_value=0, step=1,
                       key="trends_min_count", disabled=read_only)
    st.caption(views.false_alarm_note(float(state["trends_fdr_pct"]) / 100, cells_per_week,
                                      views.load_calibration(), cells_per_day))
    st.button("Save sensitivity", key="trends_save_sensitivity", on_click=_save_sensitivity,
              args=(db,), disabled=read_only)
    _flash_here("sensitivity")
    st.caption("In use: " + views.settings_caption(saved, "week"))
    history = _settings_history(key)
    if history:
        st.text(f"Last changed by {history[0]['actor']} at {history[0]['at']}.")


# ----------------------------------------------------------------------------- page

def render() -> None:
    db, filters = page_start()
    key = db_key(db)
    st.title("Trends")
    if FLASH_AT not in st.session_state:
        show_flash()
    if (message := _empty(key)) is not None:
        st.info(message)
        return
    now = store.utcnow().replace(second=0, microsecond=0)
    levels = [PARENT, CHILD]
    left, middle, right = st.columns([1, 1, 2])
    granularity = left.radio("Periods", list(GRANULARITY_LABELS), horizontal=True,
                             format_func=GRANULARITY_LABELS.get, key="trends_granularity")
    level = middle.selectbox("Theme level", levels, key="trends_level",
                             index=levels.index(_default_level(key)),
                             format_func=views.LEVEL_LABELS.get)
    options = _periods(key, granularity, now)
    if not options:
        st.info("No complete period with feedback yet: the heatmap shows complete periods.")
    else:
        period = right.selectbox("Period", options, key=f"trends_period_{granularity}",
                                 format_func=lambda p: views.period_label(p, granularity))
        heatmap = _heatmap(key, granularity, period, level)
        _heatmap_section(key, heatmap, filters)
        _lines_section(key, granularity, period, level, heatmap, filters)
    _alerts_section(db, key)
    _tasks_section(key)
    sweep_level = _settings(key).level or _default_level(key)
    _rules_section(db, key, sweep_level)
    weeks = _periods(key, "week", now)
    weekly = _heatmap(key, "week", weeks[0], sweep_level) if weeks else None
    days = _periods(key, "day", now)
    daily = _heatmap(key, "day", days[0], sweep_level) if days else None
    _sensitivity_section(db, key, weekly.tested if weekly else 0,
                         daily.tested if daily else 0)


render()

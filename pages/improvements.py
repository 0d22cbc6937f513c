"""Improvements: tag a change made because of feedback, and read whether it worked.

Thin page: the list, the form's choices, the impact (verdict, estimates, event study,
warnings), the evidence and whom to tell come from `analysis.views.improvements` (which
reads `analysis.improvements` and writes nothing); writes go through
`analysis.improvements.records` inside write transactions, by `current_actor()`. Titles,
locations, theme names and comments are user text: shown only through st.dataframe,
st.text, widget options, escaped plotly figures and, inside our own sentences (verdict,
warnings), escaped Markdown.
Customer data (`analysis.privacy.display`): the evidence's customer keys and the whom-to-tell
names and emails are shown only to roles that may see customer data, and each view of them
is recorded in the audit of record views (once a browser session; hidden when it cannot be
recorded). An analyst sees how many to tell and tells them without seeing the addresses.
Speed: every read is cached (bounded, keyed by the store's file and revision); the impact
(a second or more on a large store) also on the improvement, window and comparison, and its
controls rerun only that section (a fragment).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from analysis import store
from analysis.improvements import records
from analysis.privacy import hide_customer_fields, shown_customer_keys
from analysis.reports.csv_safety import to_safe_csv
from analysis.settings import get_settings
from analysis.trends.periods import period_of
from analysis.views import followup as follow_views
from analysis.views import improvements as views
from pages import (
    current_actor,
    current_role,
    db_key,
    flash,
    page_start,
    recorded_view,
    run_write,
    show_flash,
)

CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}
FLASH_AT = "impr_flash_at"  # which section a write's message belongs next to
PICK = "impr_pick"
PARAM = "improvement"  # ?improvement=ID opens one
FIELDS = ("title", "description", "owner", "locations", "theme_ids", "metric",
          "effective_date", "rollout_end", "status", "impact", "confidence_pct", "effort")
MAX_LIST_VERDICTS = 20  # each a second or so on a cold cache
NUMBER = st.column_config.NumberColumn


# Every read is cached, bounded and keyed on the store's file and revision (every write
# changes it), so nothing shown is older than the last write.
@st.cache_data(max_entries=8, **CACHE)
def _has_feedback(key) -> bool:
    return views.has_feedback(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _options(key) -> views.FormOptions:
    return views.form_options(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _rows(key) -> list[dict]:
    return views.improvement_rows(store.connect(key[0]))


@st.cache_data(max_entries=32, **CACHE)
def _impact(key, improvement_id: int, window: int, comparison: tuple | None, week,
            _now) -> views.ImpactView:
    """`week` (the current local week) keys the cache; `_now` (unhashed) is the moment."""
    return views.impact_view(store.connect(key[0]), improvement_id, window_weeks=window,
                             comparison=None if comparison is None else list(comparison),
                             now=_now)


@st.cache_data(max_entries=16, **CACHE)
def _improvement(key, improvement_id: int) -> records.Improvement:
    return records.get_improvement(store.connect(key[0]), improvement_id)


@st.cache_data(max_entries=16, **CACHE)
def _priority(key, improvement_id: int) -> dict:
    db = store.connect(key[0])
    return views.priority_parts(db, records.get_improvement(db, improvement_id))


@st.cache_data(max_entries=16, **CACHE)
def _evidence(key, improvement_id: int, role):
    db = store.connect(key[0])
    return (records.evidence_counts(db, improvement_id),
            views.evidence_table(db, improvement_id, role))


@st.cache_data(max_entries=16, **CACHE)
def _whom(key, improvement_id: int, role):
    return views.whom_to_tell_table(store.connect(key[0]), improvement_id, role)


@st.cache_data(max_entries=16, **CACHE)
def _history(key, improvement_id: int):
    return views.history_table(records.improvement_history(store.connect(key[0]),
                                                           improvement_id))


# ----------------------------------------------------------------------------- writes
# Widget callbacks: they run before the script reruns, so the page redraws at once;
# `run_write` turns a refusal (ImprovementError names the field) or a store failure into
# one message, shown next to the section it came from.

def _write(section: str, action, success: str, db, failure: str = "Not saved.") -> bool:
    def in_transaction():
        with store.write_transaction(db):
            action()

    st.session_state[FLASH_AT] = section
    return run_write(in_transaction, success, failure)


def _flash_here(section: str) -> None:
    if st.session_state.get(FLASH_AT) == section:
        st.session_state.pop(FLASH_AT, None)
        show_flash()


def _forget_form(suffix: str) -> None:
    """Drop a form's widget values, so that it is drawn again from the store."""
    for name in list(st.session_state):
        if str(name).startswith("impr_f_") and str(name).endswith(f"_{suffix}"):
            del st.session_state[name]


def _form_values(suffix: str) -> dict:
    state = st.session_state
    values = {name: state.get(f"impr_f_{name}_{suffix}") for name in FIELDS}
    if f"impr_f_locations_text_{suffix}" in state:
        values["locations"] = views.split_locations(state[f"impr_f_locations_text_{suffix}"])
    return values


def _save(db, suffix: str, improvement_id: int | None) -> None:
    section = "new" if improvement_id is None else "edit"
    try:  # checked before the write lock is taken
        improvement = views.improvement_from_form(_form_values(suffix))
    except records.ImprovementError as exc:
        st.session_state[FLASH_AT] = section
        flash("error", "Not saved.", str(exc))
        return
    now = store.utcnow()
    if improvement_id is None:
        added: list[int] = []
        if _write(section, lambda: added.append(records.add_improvement(
                db, improvement, actor=current_actor(), now=now)),
                f"Improvement saved: \"{views.cut(improvement.title, 80)}\".", db):
            st.session_state[PICK] = added[0]
            st.session_state.pop(FLASH_AT, None)  # shown at the top: the form folds away
            _forget_form(suffix)
        return
    changed: list[bool] = []
    _write(section, lambda: changed.append(records.update_improvement(
        db, improvement_id, improvement, actor=current_actor(), now=now)),
        "Improvement saved; the old values are in its history.", db)
    if changed == [False]:
        flash("success", "Nothing to save: the improvement already has these values.")
    _forget_form(suffix)


def _set_status(db, improvement_id: int) -> None:
    status = st.session_state.get(f"impr_status_{improvement_id}")
    changed: list[bool] = []
    _write("status", lambda: changed.append(records.set_status(
        db, improvement_id, status, actor=current_actor(), now=store.utcnow())),
        f"Status set to {status}.", db)
    if changed == [False]:
        flash("success", f"The status is {status} already.")
    _forget_form(str(improvement_id))


def _link(db, improvement_id: int, how: str) -> None:
    state, found = st.session_state, []
    improvement = records.get_improvement(db, improvement_id)
    here = improvement.locations if state.get(f"impr_ev_here_{improvement_id}", True) else ()
    if how == "theme":
        theme_id = state.get(f"impr_ev_theme_{improvement_id}")
        if theme_id is None:
            st.session_state[FLASH_AT] = "evidence"
            flash("error", "Nothing linked: choose a theme.")
            return
        name = records.theme_names(db, [theme_id])[int(theme_id)]
        ids = records.feedback_for_theme(
            db, int(theme_id), here,
            negative_only=state.get(f"impr_ev_negative_{improvement_id}", True))
        via = f"theme: {name}"
    else:
        words = str(state.get(f"impr_ev_words_{improvement_id}") or "").strip()
        if not words:
            st.session_state[FLASH_AT] = "evidence"
            flash("error", "Nothing linked: type the words to search for.")
            return
        ids = records.feedback_for_search(db, words, here)
        via = f"search: {views.cut(words, 100)}"
    _write("evidence", lambda: found.append(records.link_evidence(
        db, improvement_id, ids, via=via, actor=current_actor(), now=store.utcnow())),
        "Evidence linked.", db, "Nothing linked.")
    if not found:
        return
    if not ids:
        flash("success", "No feedback matches: nothing linked.")
    elif not found[0]:
        flash("success", f"Nothing new to link: the {len(ids):,} matching feedback are "
                         "linked already.")
    else:
        flash("success", f"Linked {found[0]:,} feedback ({len(ids):,} matched).")


def _unlink(db, improvement_id: int) -> None:
    ids = st.session_state.get(f"impr_ev_unlink_{improvement_id}") or []
    removed: list[int] = []
    if _write("evidence", lambda: removed.append(records.unlink_evidence(
            db, improvement_id, ids, actor=current_actor(), now=store.utcnow())),
            "Evidence unlinked.", db, "Nothing unlinked."):
        st.session_state.pop(f"impr_ev_unlink_{improvement_id}", None)


# ----------------------------------------------------------------------------- sections

def _list_section(key, rows: list[dict], now) -> None:
    st.subheader("Improvements by status")
    shown = st.multiselect("Statuses shown", list(views.STATUS_LABELS),
                           default=list(views.STATUS_LABELS), key="impr_statuses",
                           format_func=views.STATUS_LABELS.get)
    rows = [r for r in rows if r["status"] in shown]
    if not rows:
        st.caption("No improvement has these statuses.")
        return
    week = period_of(now, "week", get_settings().timezone)
    measured = [r for r in rows if r["status"] in views.MEASURED_STATUSES]
    verdicts = {r["id"]: _impact(key, r["id"], views.WINDOW_WEEKS, None, week, now).summary
                for r in measured[:MAX_LIST_VERDICTS]}
    verdicts |= {r["id"]: "open it to measure" for r in measured[MAX_LIST_VERDICTS:]}
    st.dataframe(views.list_table(rows, verdicts), hide_index=True, key="impr_list",
                 column_config={
                     "priority": NUMBER("priority", format="%.2f",
                                        help="impact × confidence / effort"),
                     "impact": NUMBER("impact (pts)", format="%.2f"),
                     "confidence": NUMBER("confidence", format="%.2f"),
                     "effort": NUMBER("effort (person-weeks)", format="%.1f"),
                     "verdict": st.column_config.TextColumn(
                         "verdict", help="The headline test over 8 weeks either side, "
                                         "comparison chosen automatically")})
    st.caption("Sorted by status, then priority. Verdicts: shipped and in-progress changes, "
               "8 weeks either side of the change; open one below for the details.")


def _form(db, suffix: str, improvement: records.Improvement | None,
          options: views.FormOptions, today) -> None:
    """The new-improvement form (suffix "new") or an improvement's edit form (its id)."""
    state = st.session_state
    for name, value in views.form_values(improvement, today=today).items():
        state.setdefault(f"impr_f_{name}_{suffix}", value)
    places = list(options.locations)
    places += [p for p in state[f"impr_f_locations_{suffix}"] if p not in places]
    themes = dict(options.themes)
    themes |= {t: f"Theme #{t} (not active)" for t in state[f"impr_f_theme_ids_{suffix}"]
               if t not in themes}
    read_only = store.is_read_only(db)
    with st.form(f"impr_form_{suffix}", border=True):
        st.text_input("Title", key=f"impr_f_title_{suffix}", max_chars=200)
        st.text_area("Description", key=f"impr_f_description_{suffix}", max_chars=5000,
                     height=80)
        one, two = st.columns(2)
        one.text_input("Owner", key=f"impr_f_owner_{suffix}", max_chars=200)
        two.selectbox("Status", list(views.STATUS_LABELS), key=f"impr_f_status_{suffix}",
                      format_func=views.STATUS_LABELS.get)
        if places:
            one.multiselect("Locations affected", places, key=f"impr_f_locations_{suffix}")
        else:
            state.setdefault(f"impr_f_locations_text_{suffix}",
                             ", ".join(state[f"impr_f_locations_{suffix}"]))
            one.text_input("Locations affected (comma-separated)",
                           key=f"impr_f_locations_text_{suffix}", max_chars=1000,
                           help="No feedback yet, so no known locations to pick from.")
        two.multiselect("Targeted themes", list(themes), key=f"impr_f_theme_ids_{suffix}",
                        format_func=lambda t: themes.get(t, f"Theme #{t}"),
                        help="The measure is the share of comments mentioning any of them, "
                             "unless a metric is chosen.")
        one.selectbox("Targeted metric", list(views.METRIC_LABELS),
                      key=f"impr_f_metric_{suffix}", format_func=views.METRIC_LABELS.get)
        two.date_input("Effective date", key=f"impr_f_effective_date_{suffix}",
                       format="YYYY-MM-DD", help="The first day the change is in place.")
        one.date_input("End of roll-out (optional)", key=f"impr_f_rollout_end_{suffix}",
                       format="YYYY-MM-DD",
                       help="For a gradual roll-out: the weeks between are left out.")
        st.markdown("**Priority** = impact × confidence / effort (blank: the default)")
        a, b, c = st.columns(3)
        a.number_input("Impact (score points)", key=f"impr_f_impact_{suffix}", step=0.5,
                       help="Blank: the key drivers' opportunity of the targeted themes.")
        b.number_input("Confidence (%)", key=f"impr_f_confidence_pct_{suffix}",
                       min_value=0.0, max_value=100.0, step=5.0, help="Blank: 50%.")
        c.number_input("Effort (person-weeks)", key=f"impr_f_effort_{suffix}",
                       min_value=0.0, step=0.5, help="Blank: 1 person-week.")
        st.form_submit_button("Save improvement" if improvement is None else "Save changes",
                              key=f"impr_save_{suffix}", on_click=_save,
                              args=(db, suffix, None if improvement is None
                                    else improvement.id),
                              disabled=read_only, type="primary")
    _flash_here("new" if improvement is None else "edit")


def _summary_section(db, key, improvement: records.Improvement) -> None:
    i = improvement.id
    names = records.theme_names(db, improvement.theme_ids)
    st.subheader(f"Improvement #{i}")
    st.text(improvement.title)
    lines = [f"Status: {improvement.status}", f"Owner: {improvement.owner or 'nobody yet'}",
             f"Locations: {', '.join(improvement.locations)}",
             f"Target: {records.describe_target(improvement, names)}",
             f"Effective: {improvement.effective_date}"
             + (f" (roll-out until {improvement.rollout_end})" if improvement.rollout_end
                else "")]
    st.text(views.cut("\n".join(lines), 1500))
    if improvement.description:
        st.text(views.cut(improvement.description, 2000))
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    state_key = f"impr_status_{i}"
    if st.session_state.get(state_key) not in views.STATUS_LABELS:
        st.session_state[state_key] = improvement.status
    left.selectbox("Status", list(views.STATUS_LABELS), key=state_key,
                   format_func=views.STATUS_LABELS.get)
    right.button("Set status", key=f"impr_set_status_{i}", on_click=_set_status,
                 args=(db, i), disabled=store.is_read_only(db))
    _flash_here("status")

    parts = _priority(key, i)
    st.markdown("**Priority**")
    one, two, three, four = st.columns(4)
    one.metric("Impact (pts)", "n/a" if parts["impact"] is None else f"{parts['impact']:.2f}",
               help="Score points the change should win. Default: the key drivers' "
                    "opportunity of the targeted themes.")
    two.metric("Confidence", f"{parts['confidence']:.0%}")
    three.metric("Effort (person-weeks)", f"{parts['effort']:g}")
    four.metric("Priority", "n/a" if parts["priority"] is None else f"{parts['priority']:.2f}")
    defaults = [n for n in ("impact", "confidence", "effort") if parts[f"{n}_is_default"]]
    if defaults:
        st.caption(f"Defaults in use for: {', '.join(defaults)} (the impact from the key "
                   "drivers, 50% confidence, one person-week); set them in the edit form."
                   + (" No driver estimate: set an impact to rank it."
                      if parts["impact"] is None else ""))


@st.fragment
def _impact_section(key, improvement: records.Improvement, locations: list[str], now) -> None:
    """Did it work: the window and comparison controls rerun this section only."""
    i = improvement.id
    st.subheader("Did it work?")
    week = period_of(now, "week", get_settings().timezone)
    left, right = st.columns([1, 3])
    window = int(left.number_input("Weeks each side", min_value=2, max_value=52,
                                   value=views.WINDOW_WEEKS, step=1, key=f"impr_window_{i}"))
    auto = _impact(key, i, window, None, week, now)
    others = [p for p in locations if p not in improvement.locations]
    others += [p for p in auto.comparison if p not in others]
    picked = right.multiselect("Comparison locations", others, default=auto.comparison,
                               key=f"impr_comparison_{i}_{window}",
                               help="Default: every untouched location with enough "
                                    "responses in both windows.")
    shown = auto if sorted(picked) == sorted(auto.comparison) else _impact(
        key, i, window, tuple(sorted(picked)), week, now)
    {"worked": st.success, "worse": st.warning}.get(shown.kind, st.info)(
        views.markdown_safe(shown.verdict))
    head = shown.headline
    if head.get("effect") is not None:
        a, b, c, d = st.columns(4)
        a.metric("Effect", f"{head['effect']:+.1f} {shown.unit}")
        b.metric("95% interval", "unbounded" if head["ci_low"] is None else
                 f"{head['ci_low']:+.1f} to {head['ci_high']:+.1f}")
        c.metric("p-value", f"{head['p_value']:.3f}")
        d.metric("n before / after", f"{head['n_pre']:,} / {head['n_post']:,}")
        st.caption(views.headline_caption(shown))
    for warning in shown.warnings:
        st.warning(views.markdown_safe(warning), icon=":material/warning:")
    if shown.series.empty:
        return
    st.plotly_chart(views.impact_figure(shown), key=f"impr_chart_{i}")
    st.caption(f"{views.windows_caption(shown)} Dotted red line: the change; thick lines: "
               "the straight line fitted to each window (the interrupted time series). "
               "Comparison group: " + (", ".join(shown.comparison) or "none") + ".")
    st.markdown("**Every estimate**")
    st.dataframe(shown.estimates, hide_index=True, key=f"impr_estimates_{i}", column_config={
        "headline": st.column_config.CheckboxColumn("headline"),
        "effect": NUMBER("effect", format="%.2f"),
        "ci_low": NUMBER("95% low", format="%.2f"),
        "ci_high": NUMBER("95% high", format="%.2f"),
        "p_value": NUMBER("p", format="%.3g"),
        "n_pre": NUMBER("n before", format="%d"), "n_post": NUMBER("n after", format="%d")})
    st.caption("Before/after is descriptive (series drift); the difference-in-differences' "
               "clustered errors overstate significance with one changed location; the "
               "headline is the randomization test, whose error rate holds.")
    st.download_button("Estimates (CSV)", data=to_safe_csv(shown.estimates),
                       file_name=f"improvement_{i}_estimates.csv", mime="text/csv",
                       key=f"impr_estimates_csv_{i}", icon=":material/download:")
    if not shown.event_study.empty:
        st.markdown("**Event study** (parallel-trends check)")
        st.plotly_chart(views.event_study_figure(shown), key=f"impr_event_{i}")
        st.caption("The changed locations minus the comparison group, per week relative to "
                   "the change (week -1 is the reference): flat before the change if they "
                   "moved in parallel; a step after it if the change worked. Bars: 95% "
                   "intervals.")


def _evidence_section(db, key, improvement: records.Improvement,
                      options: views.FormOptions) -> None:
    i = improvement.id
    st.subheader("Evidence")
    counts, table = _evidence(key, i, current_role())
    one, two, three = st.columns(3)
    one.metric("Feedback linked", f"{counts['evidence']:,}")
    two.metric("Customers who raised it", f"{counts['customers']:,}")
    three.metric("Locations", f"{counts['evidence_locations']:,}")
    read_only = store.is_read_only(db)
    st.checkbox("Only feedback from this improvement's locations", value=True,
                key=f"impr_ev_here_{i}")
    left, right = st.columns(2)
    if options.themes:
        theme_key = f"impr_ev_theme_{i}"
        if st.session_state.get(theme_key) not in options.themes:
            st.session_state[theme_key] = next(
                (t for t in improvement.theme_ids if t in options.themes),
                next(iter(options.themes)))
        left.selectbox("Link from a theme", list(options.themes), key=theme_key,
                       format_func=options.themes.get)
        left.checkbox("Complaints only (negative sentiment)", value=True,
                      key=f"impr_ev_negative_{i}")
        left.button("Link the theme's feedback", key=f"impr_ev_link_theme_{i}",
                    on_click=_link, args=(db, i, "theme"), disabled=read_only)
    right.text_input("Link from a search", key=f"impr_ev_words_{i}", max_chars=200,
                     placeholder="words in the comment")
    right.button("Link the matching feedback", key=f"impr_ev_link_search_{i}",
                 on_click=_link, args=(db, i, "search"), disabled=read_only)
    _flash_here("evidence")
    if table.empty:
        st.caption("No feedback linked yet: link it from a theme or a search, so the page "
                   "can say how many customers asked and whom to tell when it ships.")
        return
    if not recorded_view(db, shown_customer_keys(table), f"evidence of improvement #{i}"):
        table = hide_customer_fields(table)
    st.dataframe(table, hide_index=True, key=f"impr_evidence_{i}")
    if counts["evidence"] > len(table):
        st.caption(f"The newest {len(table):,} of {counts['evidence']:,} linked feedback.")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.multiselect("Unlink feedback", list(table["feedback_id"]),
                     key=f"impr_ev_unlink_{i}")
    right.button("Unlink", key=f"impr_ev_unlink_button_{i}", on_click=_unlink, args=(db, i),
                 disabled=read_only)


def _tell(db, improvement_id: int) -> None:
    """Queue "we changed it" to every customer who asked (held when the contact-frequency
    rule says so); the outbox sends them within a minute."""
    from analysis.followup.followups import tell_requesters

    template_id = st.session_state.get(f"impr_tell_template_{improvement_id}")
    if template_id is None:
        st.session_state[FLASH_AT] = "tell"
        flash("error", "Nothing queued: choose a template.")
        return
    found: list[dict] = []
    if _write("tell", lambda: found.append(tell_requesters(
            db, improvement_id, int(template_id), actor=current_actor(), now=store.utcnow())),
            "", db, "Nothing queued."):
        flash("success", "Messages queued: the outbox sends them within a minute.",
              follow_views.tell_text(found[0]))


@st.cache_data(max_entries=8, **CACHE)
def _tell_templates(key) -> dict[int, str]:
    return follow_views.tell_templates(store.connect(key[0]))


def _tell_section(db, key, improvement: records.Improvement) -> None:
    st.subheader("Whom to tell")
    if improvement.status != "shipped":
        st.caption("Once the improvement ships, the customers whose feedback asked for it "
                   "are listed here, with a draft message, to close the loop.")
        return
    table = _whom(key, improvement.id, current_role())
    if table.empty:
        st.caption("No linked feedback from an identified customer: nobody to write to. "
                   "Link evidence above.")
        return
    if not recorded_view(db, shown_customer_keys(table),
                     f"whom to tell of improvement #{improvement.id}"):
        table = hide_customer_fields(table)
    st.caption(f"{len(table):,} customer(s) to tell.")
    st.dataframe(table, hide_index=True, key=f"impr_tell_{improvement.id}")
    st.download_button("Whom to tell (CSV)", data=to_safe_csv(table),
                       file_name=f"improvement_{improvement.id}_whom_to_tell.csv",
                       mime="text/csv", key=f"impr_tell_csv_{improvement.id}",
                       icon=":material/download:")
    templates = _tell_templates(key)
    if not templates:
        st.caption("No email templates yet: add the starter templates on the Templates page "
                   "(in the Act section) to tell them by email.")
        return
    pick_key = f"impr_tell_template_{improvement.id}"
    if st.session_state.get(pick_key) not in templates:
        st.session_state[pick_key] = next(iter(templates))
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    left.selectbox("Template", list(templates), key=pick_key, format_func=templates.get,
                   help="\"Resolved or shipped\" says what changed, based on how many "
                        "requests. Each customer gets one message; customers contacted "
                        "recently are held with the reason.")
    right.button("Tell them by email", key=f"impr_tell_send_{improvement.id}",
                 on_click=_tell, args=(db, improvement.id), icon=":material/mail:",
                 disabled=store.is_read_only(db), type="primary")
    _flash_here("tell")


def _pick(rows: list[dict]) -> int:
    ids = [r["id"] for r in rows]
    if PICK not in st.session_state:  # the link that opened the page, once per visit
        wanted = st.query_params.get(PARAM)
        if wanted and wanted.isdigit() and int(wanted) in ids:
            st.session_state[PICK] = int(wanted)
    if st.session_state.get(PICK) not in ids:
        st.session_state[PICK] = ids[0]
    labels = {r["id"]: views.pick_label(r) for r in rows}
    picked = st.selectbox("Open improvement", ids, key=PICK, format_func=labels.get)
    st.query_params[PARAM] = str(picked)  # the open improvement can be sent as a link
    return picked


# ----------------------------------------------------------------------------- page

def render() -> None:
    db, _ = page_start()
    key = db_key(db)
    st.title("Improvements")
    if FLASH_AT not in st.session_state:
        show_flash()
    now = store.utcnow()
    today = now.astimezone(ZoneInfo(get_settings().timezone)).date()
    if not _has_feedback(key):
        st.info(views.NO_FEEDBACK)
    rows = _rows(key)
    options = _options(key)
    if not rows:
        st.info(views.NO_IMPROVEMENTS)
    else:
        _list_section(key, rows, now)
    with st.expander("Record an improvement", expanded=not rows, icon=":material/add:"):
        _form(db, "new", None, options, today)
    if not rows:
        return
    st.divider()
    picked = _pick(rows)
    improvement = _improvement(key, picked)
    _summary_section(db, key, improvement)
    _impact_section(key, improvement, options.locations, now)
    _evidence_section(db, key, improvement, options)
    _tell_section(db, key, improvement)
    with st.expander("History of this improvement"):
        st.dataframe(_history(key, picked), hide_index=True, key=f"impr_history_{picked}")
    with st.expander("Edit this improvement", icon=":material/edit:"):
        _form(db, str(picked), improvement, options, today)


render()

"""Themes explorer: what customers talk about, how much, where, since when, and how they feel.

Thin page: figures from `analysis.themes.queries`, their shaping and wording from
`analysis.views.themes`, charts from `analysis.reports.charts`, writes through
`analysis.themes.admin` and the refresh job through `analysis.themes`; audits, corrections
and seed themes are on the Theme quality page. Theme names and comments are user text:
shown only through st.dataframe, st.text, widget options and escaped plotly figures.
Speed: the table shows the 25 largest themes unless asked, charts exist only for a picked
theme, and what a click changes (theme list and drill-down, comments, map) is a fragment.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from analysis import jobs, store, themes
from analysis.reports import charts
from analysis.themes import admin, queries
from analysis.views import themes as views
from pages import current_actor, db_key, flash, page_start, run_write, show_flash

JOB_KEY, ENDED_KEY = "themes_job_id", "themes_job_ended"
CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}


# Every read is cached, bounded and keyed on the store's file and revision (every write
# changes it) and the filters, so a cached figure is never older than the last write.
@st.cache_data(max_entries=8, **CACHE)
def _status(key) -> dict:
    return queries.theme_status(store.connect(key[0]))


@st.cache_data(max_entries=16, **CACHE)
def _table(key, filters) -> queries.ThemeTable:
    return queries.theme_table(store.connect(key[0]), filters)


@st.cache_data(max_entries=16, **CACHE)
def _drilldown(key, filters, theme_id: int | None) -> dict:
    return queries.theme_drilldown(store.connect(key[0]), filters, theme_id)


@st.cache_data(max_entries=16, **CACHE)
def _comments(key, filters, theme_id: int | None, search: str, offset: int):
    return queries.theme_comments_page(store.connect(key[0]), filters, theme_id, search,
                                       offset)


@st.cache_data(max_entries=4, **CACHE)  # up to 20,000 points each: fewer kept
def _map_points(key, filters) -> queries.MapPoints:
    return queries.comment_map_points(store.connect(key[0]), filters)


def _columns(spec: dict) -> dict:
    """Streamlit column configs from a column spec of `analysis.views`."""
    kinds = {"text": st.column_config.TextColumn, "number": st.column_config.NumberColumn,
             "date": st.column_config.DatetimeColumn}
    return {name: kinds[c["kind"]](**{k: v for k, v in c.items() if k != "kind"})
            for name, c in spec.items()}


# Writes run in widget callbacks, before the script reruns, so the page redraws with the
# new figures at once.

def _rename(db, theme_id: int) -> None:
    name = st.session_state[f"rename_{theme_id}"]
    run_write(lambda: admin.rename_theme(db, theme_id, name, actor=current_actor()),
          "Theme renamed.")


def _merge(db, theme_id: int) -> None:
    sources = list(st.session_state.get(f"merge_{theme_id}", []))
    st.session_state[f"merge_{theme_id}"] = []
    run_write(lambda: admin.merge_themes(db, sources, theme_id, actor=current_actor()),
          views.merged_message(sources))


def _start_job(db, refit: bool) -> None:
    try:
        st.session_state[JOB_KEY] = themes.start_refresh_job(
            store.database_file(db), refit=refit, actor=current_actor())
    except Exception as exc:  # noqa: BLE001 - a failed start must show, not crash the page
        flash("error", "Could not start the theme refresh.", str(exc))
    else:
        st.session_state.pop("themes_refit_confirm", None)


# ----------------------------------------------------------------------------- sections

@st.fragment(run_every=2)
def _job_progress(db) -> None:
    """Polls the running job every 2 s without rerunning the whole page."""
    if (job_id := st.session_state.get(JOB_KEY)) is None:
        return
    state, progress, message = views.job_view(themes.job_status(db, job_id))
    if state == jobs.RUNNING:
        st.progress(progress, text="Theme refresh running…")
        if message:
            st.text(message)
        return
    st.session_state.pop(JOB_KEY, None)
    st.session_state[ENDED_KEY] = job_id
    if state == jobs.INTERRUPTED and not store.is_read_only(db):
        # Its process died: record it failed, by whoever saw it, so nobody follows it again.
        # A busy store leaves that to the next writer: the page has seen the job end.
        try:
            jobs.reap_dead_jobs(db, themes.JOB_KIND, actor=current_actor(), now=store.utcnow())
        except store.StoreError:
            pass
    flash(*views.job_outcome(state, message))
    st.rerun(scope="app")


def _refresh_controls(db) -> None:
    if st.session_state.get(JOB_KEY) is None:  # follow a refresh started elsewhere too
        found = queries.running_theme_job_id(db)
        # Not one this session has seen end: a dead job on a store it may not write stays
        # recorded as running, and following it again would report it again and again.
        if found != st.session_state.get(ENDED_KEY):
            st.session_state[JOB_KEY] = found
    running = st.session_state.get(JOB_KEY) is not None
    locked = running or store.is_read_only(db)
    col1, col2 = st.columns([1, 2])
    col1.button("Refresh themes", key="themes_refresh", on_click=_start_job,
                args=(db,), kwargs={"refit": False}, disabled=locked,
                help="Assign themes to comments that have none yet, with the current model.")
    with col2.expander("Refit the theme model"):
        st.caption("A refit learns the themes again from all comments. Renamed and merged "
                   "themes and your corrections are kept, but theme figures can shift. "
                   "It can take several minutes.")
        confirmed = st.checkbox("I understand; refit the model", key="themes_refit_confirm")
        st.button("Refit now", key="themes_refit", on_click=_start_job, args=(db,),
                  kwargs={"refit": True}, disabled=locked or not confirmed)
    if running:
        _job_progress(db)


@st.fragment
def _explorer(db, filters) -> None:
    """Theme table, picker and drill-down: a click here reruns this part only (which
    reads the store revision again, so a rename or merge shows at once)."""
    show_flash()  # a rename's or merge's message; a full run has shown any other already
    key = db_key(db)
    table = _table(key, filters)
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    search = left.text_input("Find a theme", key="themes_find",
                             placeholder="words of its name or keywords")
    show_all = right.toggle("Show all themes", key="themes_all")
    shown = views.theme_list_view(table.frame, search=search, show_all=show_all)
    event = st.dataframe(shown.frame, key=shown.table_key, on_select="rerun", hide_index=True,
                         selection_mode="single-row",
                         column_config=_columns(views.THEME_LIST_SPEC))
    st.caption(f"{shown.note} {views.theme_list_caption(table)}")
    # A new click in the table moves the select box; otherwise the box is free to change.
    st.session_state["themes_last_row"], clicked = views.table_click(
        shown.keys, event.selection.rows, shown.table_key,
        st.session_state.get("themes_last_row"))
    if clicked is not None:
        st.session_state["themes_pick"] = clicked
    names = views.theme_names_by_key(table.frame)
    if st.session_state.get("themes_pick") not in names:
        st.session_state.pop("themes_pick", None)
    # Every theme, not only the rows shown: typing in the box searches them all.
    pick = st.selectbox("Theme to explore", list(names), index=None, key="themes_pick",
                        format_func=lambda k: names.get(k, k),
                        placeholder="Select a row in the table, or choose here")
    if pick is not None:
        _drill_down(db, key, filters, table, views.theme_id_from_key(pick))


def _drill_down(db, key, filters, table: queries.ThemeTable, theme_id: int | None) -> None:
    if (row := views.theme_row(table.frame, theme_id)) is None:
        return
    st.divider()
    st.subheader("Theme detail")
    st.text(str(row["name"]))
    st.caption(views.detail_caption(row))
    data = _drilldown(key, filters, theme_id)
    st.markdown("**Representative comments**")
    quotes = views.detail_quotes(data, row)
    for quote in quotes:
        st.text(f"“{quote}”")
    if not quotes:
        st.caption("No comments in this view.")

    left, right = st.columns(2)
    left.markdown("**Share by location**")
    right.markdown("**Weekly share**")
    for column, frame, build, chart_key in (
            (left, data["locations"], charts.theme_location_figure, "themes_location_chart"),
            (right, data["weekly"], charts.theme_share_figure, "themes_time_chart")):
        if frame.empty:
            column.caption("No data.")
        else:
            column.plotly_chart(build(frame), key=chart_key)
    if not data["locations"].empty:
        left.caption("Error bars: 95% Wilson intervals. Small locations have wide bars.")
    st.markdown("**Sentiment mix**")
    st.plotly_chart(charts.sentiment_mix_figure(data["sentiment"]), key="themes_sentiment_chart")

    _comments_section(db, filters, theme_id)
    if theme_id is None:
        return
    read_only = store.is_read_only(db)
    with st.expander("Rename or merge this theme"):
        st.session_state.setdefault(f"rename_{theme_id}", str(row["name"]))
        st.text_input("New name", key=f"rename_{theme_id}", max_chars=120, disabled=read_only)
        st.button("Rename", key=f"rename_go_{theme_id}", on_click=_rename, args=(db, theme_id),
                  disabled=read_only)
        names = views.merge_candidates(table.frame, theme_id)
        st.multiselect("Merge these themes into this one", list(names),
                       key=f"merge_{theme_id}", format_func=lambda t: names.get(t, str(t)))
        st.button("Merge", key=f"merge_go_{theme_id}", on_click=_merge, args=(db, theme_id),
                  disabled=read_only or not st.session_state.get(f"merge_{theme_id}"))


@st.fragment
def _comments_section(db, filters, theme_id: int | None) -> None:
    """Search and paging rerun only the comment list."""
    st.markdown("**Comments**")
    widget = "unthemed" if theme_id is None else theme_id
    search = st.text_input("Search these comments", key=f"themes_search_{widget}",
                           placeholder="words to find, e.g. queue refund; word* for prefixes")
    if search and queries.fts_query(search) is None:
        st.caption("The search has no words to look for, so all comments are shown.")
    page = st.number_input("Page", min_value=1, value=1, step=1, key=f"themes_page_{widget}")
    frame, total = _comments(db_key(db), filters, theme_id, search or "",
                             views.comments_offset(page))
    st.caption(views.comments_summary(total, len(frame), page))
    st.dataframe(frame, key=f"themes_comments_{widget}", hide_index=True,
                 column_order=list(views.COMMENT_LIST_SPEC),
                 column_config=_columns(views.COMMENT_LIST_SPEC))
    if theme_id is not None and total:
        st.caption("A comment in the wrong theme? Correct it on the Theme quality page.")


@st.fragment
def _map_section(db, filters) -> None:
    with st.expander("Map of comments"):
        st.caption("Each dot is a comment placed by meaning: nearby dots say similar things.")
        if not st.toggle("Show the map", key="themes_show_map"):
            return  # nothing heavy is built or sent until asked for
        points = _map_points(db_key(db), filters)
        if points.frame.empty:
            st.caption("No map yet: it is drawn by the next theme refresh.")
            return
        if points.sampled:
            st.caption(f"A fixed sample of {len(points.frame):,} of {points.total:,} comments.")
        st.plotly_chart(charts.comment_map_figure(points.frame), key="themes_map_chart")


# ----------------------------------------------------------------------------- page

def render() -> None:
    db, filters = page_start()
    key = db_key(db)
    st.title("Themes")
    status = _status(key)
    show_flash()
    if status["feedback"]:
        st.caption(views.coverage_summary(status))
        _refresh_controls(db)
    commented = _table(key, filters).commented if status["themes"] else None
    if (message := views.empty_message(status, commented)) is not None:
        st.info(message)
    else:
        _explorer(db, filters)
        _map_section(db, filters)


render()

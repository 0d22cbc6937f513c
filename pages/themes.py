"""Themes explorer: what customers talk about, how much, where, since when, and how they feel.

Two levels: the page leads with parent themes (size, share, change, sentiment, NPS, each with
its interval or test); picking one shows its drill-down and its child themes, where picking
a child opens that child's drill-down. The map colours comments by parent theme.

Thin page: figures from `analysis.themes.queries`, their shaping and wording from
`analysis.views.themes`, charts from `analysis.reports.charts`, writes (rename, merge, move
to another parent) through `analysis.themes.admin` and the refresh job through
`analysis.themes`; audits, corrections and seed themes are on the Theme quality page. Theme
names and comments are user text: shown only through st.dataframe, st.text, widget options
and escaped plotly figures; comments as the acting role may read them (masked for viewers).
Speed: the theme table is read once per level and cached; the leading table shows the 25
largest rows unless asked, charts exist only for a picked theme, and what a click changes
(theme lists and drill-down, comments, map) is a fragment.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from analysis import jobs, store, themes
from analysis.reports import charts
from analysis.domain.filters import THEME_PARAM
from analysis.themes import admin, queries
from analysis.views import themes as views
from pages import (
    current_actor,
    current_role,
    db_key,
    flash,
    page_start,
    require_write,
    run_write,
    show_flash,
)

JOB_KEY, ENDED_KEY = "themes_job_id", "themes_job_ended"
CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}


# Every read is cached, bounded and keyed on the store's file and revision (every write
# changes it) and the filters, so a cached figure is never older than the last write.
@st.cache_data(max_entries=8, **CACHE)
def _status(key) -> dict:
    return queries.theme_status(store.connect(key[0]))


@st.cache_data(max_entries=16, **CACHE)
def _levels(key, filters) -> views.ThemeLevels:
    """Both levels of the theme table: one `theme_table` read per level."""
    db = store.connect(key[0])
    return views.theme_levels(queries.theme_table(db, filters, level=queries.PARENT),
                              queries.theme_table(db, filters, level=queries.CHILD))


@st.cache_data(max_entries=16, **CACHE)
def _drilldown(key, filters, theme_id: int | None) -> dict:
    return queries.theme_drilldown(store.connect(key[0]), filters, theme_id)


@st.cache_data(max_entries=16, **CACHE)
def _comments(key, filters, theme_id: int | None, search: str, offset: int, role):
    return views.comments_page(store.connect(key[0]), filters, theme_id, search, offset, role)


@st.cache_data(max_entries=4, **CACHE)  # up to 20,000 points each: fewer kept
def _map_points(key, filters, role) -> queries.MapPoints:
    return views.map_points(store.connect(key[0]), filters, role)


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


def _move(db, theme_id: int) -> None:
    if (parent_id := st.session_state.get(f"move_{theme_id}")) is None:
        return
    st.session_state[f"move_{theme_id}"] = None
    run_write(lambda: admin.move_theme(db, theme_id, parent_id, actor=current_actor()),
              views.MOVED)


def _new_parent(db, theme_id: int) -> None:
    name = st.session_state.get(f"new_parent_{theme_id}", "")
    if run_write(lambda: admin.add_parent_theme(db, name, [theme_id], actor=current_actor()),
                 views.NEW_PARENT):
        st.session_state[f"new_parent_{theme_id}"] = ""


def _pick(key: str | None) -> None:
    """Open a theme from a button or a click in a table drawn below the picker (which a
    script run may no longer change once drawn, but a callback may)."""
    if key is not None:
        st.session_state["themes_pick"] = key


def _pick_clicked(view: views.ThemeListView) -> None:
    rows = st.session_state[view.table_key]["selection"]["rows"]
    _pick(views.table_click(view.keys, rows, view.table_key, None)[1])


def _start_job(db, refit: bool) -> None:
    try:
        require_write()  # the job writes on its own connection, past this page's read-only one
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
    """Parent table, picker, a parent's child themes and the drill-down: a click here
    reruns this part only (which reads the store revision again, so a rename, merge or
    move shows at once)."""
    show_flash()  # a write's message; a full run has shown any other already
    key = db_key(db)
    levels = _levels(key, filters)
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    search = left.text_input("Find a theme", key="themes_find",
                             placeholder="words of its name, keywords or child themes")
    show_all = right.toggle("Show all themes", key="themes_all")
    shown = views.top_list_view(levels, search=search, show_all=show_all)
    event = st.dataframe(shown.frame, key=shown.table_key, on_select="rerun", hide_index=True,
                         selection_mode="single-row",
                         column_config=_columns(views.PARENT_LIST_SPEC))
    st.caption(f"{shown.note} {views.top_list_caption(levels)}")
    # A new click in the table moves the select box; otherwise the box is free to change.
    st.session_state["themes_last_row"], clicked = views.table_click(
        shown.keys, event.selection.rows, shown.table_key,
        st.session_state.get("themes_last_row"))
    if clicked is not None:
        st.session_state["themes_pick"] = clicked
    names = views.theme_options(levels)
    if "_themes_pick_from_url" not in st.session_state:
        # A link (an alert on the Trends page, a colleague) can open a theme: ?theme=ID.
        st.session_state["_themes_pick_from_url"] = True
        if st.query_params.get(THEME_PARAM) in names:
            st.session_state["themes_pick"] = st.query_params[THEME_PARAM]
    if st.session_state.get("themes_pick") not in names:
        st.session_state.pop("themes_pick", None)
    # Every theme at both levels, not only the rows shown: typing in the box searches them all.
    pick = st.selectbox("Theme to explore", list(names), index=None, key="themes_pick",
                        format_func=lambda k: names.get(k, k),
                        placeholder="Select a row in the table, or choose here")
    if pick is None:
        st.query_params.pop(THEME_PARAM, None)
        return
    st.query_params[THEME_PARAM] = pick  # the view, theme included, can be sent as a link
    theme_id = views.theme_id_from_key(pick)
    if (parent_id := views.opened_parent(levels, theme_id)) is not None:
        _children(levels, parent_id, theme_id)
    _drill_down(db, key, filters, levels, theme_id)


def _children(levels: views.ThemeLevels, parent_id: int, theme_id: int | None) -> None:
    """The child themes of the opened parent; a click in them opens that child."""
    st.divider()
    st.subheader("Child themes")
    st.text(str(views.picked_row(levels, parent_id)["name"]))
    view = views.child_list_view(levels, parent_id)
    st.dataframe(view.frame, key=view.table_key, hide_index=True, selection_mode="single-row",
                 on_select=lambda: _pick_clicked(view),
                 column_config=_columns(views.THEME_LIST_SPEC))
    st.caption(view.note)
    if theme_id != parent_id:
        st.button("Open the parent theme", key="themes_open_parent", on_click=_pick,
                  args=(str(parent_id),))


def _drill_down(db, key, filters, levels: views.ThemeLevels, theme_id: int | None) -> None:
    if (row := views.picked_row(levels, theme_id)) is None:
        return
    st.divider()
    st.subheader("Theme detail")
    st.text(str(row["name"]))
    st.caption(f"{views.level_note(levels, row)} {views.detail_caption(row)}")
    st.caption(views.figures_summary(row))
    data = _drilldown(key, filters, theme_id)
    st.markdown("**Representative comments**")
    quotes = views.detail_quotes(data, row, current_role())
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
    if theme_id is not None:
        _actions(db, levels, row)


def _actions(db, levels: views.ThemeLevels, row) -> None:
    """Rename; merge themes of the same level into this one; move a child theme to
    another parent (or a new one)."""
    theme_id, parent = int(row["theme_id"]), views.is_parent(row)
    read_only = store.is_read_only(db)
    title = ("Rename or merge this parent theme" if parent
             else "Rename, merge or move this theme")
    with st.expander(title):
        st.session_state.setdefault(f"rename_{theme_id}", str(row["name"]))
        st.text_input("New name", key=f"rename_{theme_id}", max_chars=120, disabled=read_only)
        st.button("Rename", key=f"rename_go_{theme_id}", on_click=_rename, args=(db, theme_id),
                  disabled=read_only)
        names = views.merge_choices(levels, row)
        st.multiselect("Merge these parent themes into this one" if parent
                       else "Merge these themes into this one", list(names),
                       key=f"merge_{theme_id}", format_func=lambda t: names.get(t, str(t)),
                       disabled=read_only)
        st.button("Merge", key=f"merge_go_{theme_id}", on_click=_merge, args=(db, theme_id),
                  disabled=read_only or not st.session_state.get(f"merge_{theme_id}"))
        if parent:
            st.caption("Merging parent themes moves their child themes into this one.")
            return
        parents = views.move_choices(levels, theme_id)
        st.selectbox("Move to parent", list(parents), index=None, key=f"move_{theme_id}",
                     format_func=lambda t: parents.get(t, str(t)), disabled=read_only,
                     placeholder="Choose a parent theme")
        st.button("Move", key=f"move_go_{theme_id}", on_click=_move, args=(db, theme_id),
                  disabled=read_only or st.session_state.get(f"move_{theme_id}") is None)
        st.text_input("Or move it to a new parent theme named", key=f"new_parent_{theme_id}",
                      max_chars=120, disabled=read_only)
        st.button("Add parent theme", key=f"new_parent_go_{theme_id}", on_click=_new_parent,
                  args=(db, theme_id), disabled=read_only)
        st.caption("A moved theme stays with the parent you chose when the model is refitted.")


@st.fragment
def _comments_section(db, filters, theme_id: int | None) -> None:
    """Search and paging rerun only the comment list."""
    st.markdown("**Comments**")
    widget = "unthemed" if theme_id is None else theme_id
    search = st.text_input("Search these comments", key=f"themes_search_{widget}",
                           placeholder="words to find, e.g. queue refund; word* for prefixes")
    _, refused = views.search_for_role(search or "", current_role())
    if refused:
        st.caption(refused)
    elif search and queries.fts_query(search) is None:
        st.caption("The search has no words to look for, so all comments are shown.")
    page = st.number_input("Page", min_value=1, value=1, step=1, key=f"themes_page_{widget}")
    frame, total = _comments(db_key(db), filters, theme_id, search or "",
                             views.comments_offset(page), current_role())
    st.caption(views.comments_summary(total, len(frame), page))
    st.dataframe(frame, key=f"themes_comments_{widget}", hide_index=True,
                 column_order=list(views.COMMENT_LIST_SPEC),
                 column_config=_columns(views.COMMENT_LIST_SPEC))
    if theme_id is not None and total:
        st.caption("A comment in the wrong theme? Correct it on the Theme quality page.")


@st.fragment
def _map_section(db, filters) -> None:
    with st.expander("Map of comments"):
        st.caption("Each dot is a comment placed by meaning: nearby dots say similar things. "
                   "Colours are parent themes; hover a dot for its theme and comment.")
        if not st.toggle("Show the map", key="themes_show_map"):
            return  # nothing heavy is built or sent until asked for
        points = _map_points(db_key(db), filters, current_role())
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
    commented = _levels(key, filters).commented if status["themes"] else None
    if (message := views.empty_message(status, commented)) is not None:
        st.info(message)
    else:
        _explorer(db, filters)
        _map_section(db, filters)


render()

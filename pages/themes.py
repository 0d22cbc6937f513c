"""Themes explorer: what customers talk about, how much, where, since when, and how they feel.

Thin page: figures, shaping and wording from `analysis.theme_insights`, figures from
`analysis.charts`, writes through `analysis.theme_admin` and `analysis.themes`; audits,
corrections and seed themes are on the Theme quality page. Theme names and comments are user
text: shown only through st.dataframe, st.text, widget options and escaped plotly figures.
Speed: the table shows the 25 largest themes unless asked, charts exist only for a picked
theme, and what a click changes (theme list and drill-down, comments, map) is a fragment.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from analysis import store
from analysis.reports import charts
from analysis.settings import get_settings
from analysis.themes import queries as ti

if PagesManager.uses_pages_directory:  # run without app.py: see the note above PAGES there
    PagesManager.uses_pages_directory = False
    st.rerun()

JOB_KEY, FLASH_KEY = "themes_job_id", "themes_flash"
CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}


# Every read is cached, bounded and keyed on the store revision (it changes on every write)
# and the filters' key, so a cached figure is never older than the last write.
@st.cache_data(max_entries=48, **CACHE)
def _read(name: str, db_path: str, revision: int, filters_key: str | None = None, *args):
    """theme_insights.<name>(db, [filters,] *args)."""
    if filters_key is None:
        return ti.read(db_path, getattr(ti, name), *args)
    return ti.read_filtered(db_path, filters_key, getattr(ti, name), *args)


@st.cache_data(max_entries=4, **CACHE)  # up to 20,000 points each: fewer kept
def _map_points(db_path: str, revision: int, filters_key: str) -> ti.MapPoints:
    return ti.read_filtered(db_path, filters_key, ti.comment_map_points)


def _columns(spec: dict) -> dict:
    """Streamlit column configs from a `theme_insights` column spec."""
    kinds = {"text": st.column_config.TextColumn, "number": st.column_config.NumberColumn,
             "date": st.column_config.DatetimeColumn}
    return {name: kinds[c["kind"]](**{k: v for k, v in c.items() if k != "kind"})
            for name, c in spec.items()}


def _context() -> tuple[str, int, str]:
    """(database path, store revision, filters key), read afresh by every run and every
    fragment rerun, so a fragment never draws figures older than the last write."""
    db_path = st.session_state["_themes_db_path"] = str(get_settings().db_path)
    key = ti.filters_key(st.session_state.get("filters"))
    return db_path, ti.read(db_path, store.revision), key


def _flash(kind: str, message: str, detail: str = "") -> None:
    st.session_state[FLASH_KEY] = (kind, message, detail)


def _show_flash() -> None:
    kind, message, detail = st.session_state.pop(FLASH_KEY, (None, None, ""))
    if message:
        # Our own wording in the (Markdown) alert; details may quote user text: st.text.
        (st.error if kind == "error" else st.success)(message)
        if detail:
            st.text(detail)


# ----------------------------------------------------------------------------- callbacks
# Writes run in widget callbacks, before the script reruns, so the page redraws with the
# new figures at once.

def _admin(action: str, success: str, *args) -> None:
    from analysis.themes import admin as theme_admin

    actor = st.session_state.get("user") or get_settings().actor
    try:
        ti.read(st.session_state["_themes_db_path"], getattr(theme_admin, action), *args,
                actor=actor)
    except ValueError as exc:
        _flash("error", "Not done.", str(exc))
    else:
        _flash("success", success)


def _merge(theme_id: int) -> None:
    sources = list(st.session_state.get(f"merge_{theme_id}", []))
    st.session_state[f"merge_{theme_id}"] = []
    _admin("merge_themes", f"Merged {len(sources)} theme(s) into this one.", sources, theme_id)


def _start_job(refit: bool) -> None:
    try:
        from analysis import themes

        st.session_state[JOB_KEY] = themes.start_refresh_job(
            st.session_state["_themes_db_path"], refit=refit,
            actor=st.session_state.get("user") or get_settings().actor)
    except Exception as exc:  # noqa: BLE001 - a failed start must show, not crash the page
        _flash("error", "Could not start the theme refresh.", str(exc))
    else:
        st.session_state.pop("themes_refit_confirm", None)


# ----------------------------------------------------------------------------- sections

@st.fragment(run_every=2)
def _job_progress() -> None:
    """Polls the running job every 2 s without rerunning the whole page."""
    if (job_id := st.session_state.get(JOB_KEY)) is None:
        return
    state, progress, message = ti.job_progress(st.session_state["_themes_db_path"], job_id)
    if state == "running":
        st.progress(progress, text="Theme refresh running…")
        if message:
            st.text(message)
        return
    st.session_state.pop(JOB_KEY, None)
    _flash(*(("success", "Theme refresh finished.") if state == "done"
             else ("error", "Theme refresh failed.")), message)
    st.rerun(scope="app")


def _refresh_controls() -> None:
    if st.session_state.get(JOB_KEY) is None:  # follow a refresh started elsewhere too
        st.session_state[JOB_KEY] = ti.running_theme_job_id(st.session_state["_themes_db_path"])
    running = st.session_state.get(JOB_KEY) is not None
    col1, col2 = st.columns([1, 2])
    col1.button("Refresh themes", key="themes_refresh", on_click=_start_job,
                kwargs={"refit": False}, disabled=running,
                help="Assign themes to comments that have none yet, with the current model.")
    with col2.expander("Refit the theme model"):
        st.caption("A refit learns the themes again from all comments. Renamed and merged "
                   "themes and your corrections are kept, but theme figures can shift. "
                   "It can take several minutes.")
        confirmed = st.checkbox("I understand; refit the model", key="themes_refit_confirm")
        st.button("Refit now", key="themes_refit", on_click=_start_job, kwargs={"refit": True},
                  disabled=running or not confirmed)
    if running:
        _job_progress()


@st.fragment
def _explorer() -> None:
    """Theme table, picker and drill-down: a click here reruns this part only (which
    reads the store revision again, so a rename or merge shows at once)."""
    _show_flash()  # a rename's or merge's message; a full run has shown any other already
    db_path, revision, filters_key = _context()
    table = _read("theme_table", db_path, revision, filters_key)
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    search = left.text_input("Find a theme", key="themes_find",
                             placeholder="words of its name or keywords")
    show_all = right.toggle("Show all themes", key="themes_all")
    view = ti.theme_list_view(table.frame, search=search, show_all=show_all)
    table_key = f"themes_table_{int(show_all)}_{search}"  # new rows, new row numbers
    event = st.dataframe(view.frame, key=table_key, on_select="rerun", hide_index=True,
                         selection_mode="single-row", column_config=_columns(ti.THEME_LIST_SPEC))
    st.caption(f"{view.note} {ti.theme_list_caption(table)}")
    # A new click in the table moves the select box; otherwise the box is free to change.
    st.session_state["themes_last_row"], clicked = ti.table_click(
        view.keys, event.selection.rows, table_key, st.session_state.get("themes_last_row"))
    if clicked is not None:
        st.session_state["themes_pick"] = clicked
    names = ti.theme_names_by_key(table.frame)
    if st.session_state.get("themes_pick") not in names:
        st.session_state.pop("themes_pick", None)
    # Every theme, not only the rows shown: typing in the box searches them all.
    pick = st.selectbox("Theme to explore", list(names), index=None, key="themes_pick",
                        format_func=lambda k: names.get(k, k),
                        placeholder="Select a row in the table, or choose here")
    if pick is not None:
        _drill_down(db_path, revision, filters_key, table, ti.theme_id_from_key(pick))


def _drill_down(db_path: str, revision: int, filters_key: str, table: ti.ThemeTable,
                theme_id: int | None) -> None:
    if (row := ti.theme_row(table.frame, theme_id)) is None:
        return
    st.divider()
    st.subheader("Theme detail")
    st.text(str(row["name"]))
    st.caption(ti.share_summary(row) + " " + (ti.change_summary(row) or ""))
    data = _read("theme_drilldown", db_path, revision, filters_key, theme_id)
    st.markdown("**Representative comments**")
    quotes = list(data["quotes"]["comment"]) if data["quotes"] is not None else row["quotes"]
    for quote in quotes:
        st.text(f"“{quote}”")
    if not quotes:
        st.caption("No comments in this view.")

    left, right = st.columns(2)
    left.markdown("**Share by location**")
    right.markdown("**Weekly share**")
    for column, frame, build, key in (
            (left, data["locations"], charts.theme_location_figure, "themes_location_chart"),
            (right, data["weekly"], charts.theme_share_figure, "themes_time_chart")):
        if frame.empty:
            column.caption("No data.")
        else:
            column.plotly_chart(build(frame), key=key)
    if not data["locations"].empty:
        left.caption("Error bars: 95% Wilson intervals. Small locations have wide bars.")
    st.markdown("**Sentiment mix**")
    st.plotly_chart(charts.sentiment_mix_figure(data["sentiment"]), key="themes_sentiment_chart")

    _comments_section(theme_id)
    if theme_id is None:
        return
    with st.expander("Rename or merge this theme"):
        st.session_state.setdefault(f"rename_{theme_id}", str(row["name"]))
        st.text_input("New name", key=f"rename_{theme_id}", max_chars=120)
        st.button("Rename", key=f"rename_go_{theme_id}", on_click=lambda: _admin(
            "rename_theme", "Theme renamed.", theme_id, st.session_state[f"rename_{theme_id}"]))
        names = ti.merge_candidates(table.frame, theme_id)
        st.multiselect("Merge these themes into this one", list(names),
                       key=f"merge_{theme_id}", format_func=lambda t: names.get(t, str(t)))
        st.button("Merge", key=f"merge_go_{theme_id}", on_click=_merge, args=(theme_id,),
                  disabled=not st.session_state.get(f"merge_{theme_id}"))


@st.fragment
def _comments_section(theme_id: int | None) -> None:
    """Search and paging rerun only the comment list."""
    db_path, revision, filters_key = _context()
    st.markdown("**Comments**")
    key = "unthemed" if theme_id is None else theme_id
    search = st.text_input("Search these comments", key=f"themes_search_{key}",
                           placeholder="words to find, e.g. queue refund; word* for prefixes")
    if search and ti.fts_query(search) is None:
        st.caption("The search has no words to look for, so all comments are shown.")
    page = st.number_input("Page", min_value=1, value=1, step=1, key=f"themes_page_{key}")
    frame, total = _read("theme_comments_page", db_path, revision, filters_key, theme_id,
                         search or "", ti.comments_offset(page))
    st.caption(ti.comments_summary(total, len(frame), page))
    st.dataframe(frame, key=f"themes_comments_{key}", hide_index=True,
                 column_order=list(ti.COMMENT_LIST_SPEC),
                 column_config=_columns(ti.COMMENT_LIST_SPEC))
    if theme_id is not None and total:
        st.caption("A comment in the wrong theme? Correct it on the Theme quality page.")


@st.fragment
def _map_section() -> None:
    with st.expander("Map of comments"):
        st.caption("Each dot is a comment placed by meaning: nearby dots say similar things.")
        if not st.toggle("Show the map", key="themes_show_map"):
            return  # nothing heavy is built or sent until asked for
        points = _map_points(*_context())
        if points.frame.empty:
            st.caption("No map yet: it is drawn by the next theme refresh.")
            return
        if points.sampled:
            st.caption(f"A fixed sample of {len(points.frame):,} of {points.total:,} comments.")
        st.plotly_chart(charts.comment_map_figure(points.frame), key="themes_map_chart")


# ----------------------------------------------------------------------------- page

def main() -> None:
    db_path, revision, filters_key = _context()
    st.title("Themes")
    status = _read("theme_status", db_path, revision)
    _show_flash()
    if status["feedback"]:
        st.caption(ti.coverage_summary(status))
        _refresh_controls()
    commented = (_read("theme_table", db_path, revision, filters_key).commented
                 if status["themes"] else None)
    if (message := ti.empty_message(status, commented)) is not None:
        st.info(message)
    else:
        _explorer()
        _map_section()


main()

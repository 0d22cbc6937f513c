"""Themes explorer: what customers talk about, how much, where, since when, and how they feel.

Thin page: figures and wording come from `analysis.theme_insights`, plotly figures from
`analysis.charts`; writes go through `analysis.theme_admin` and `analysis.themes`. Theme names
and comments are user text (an analyst can rename a theme to anything, a customer can write
anything), so they are shown only through st.dataframe, st.text, widget options and plotly
figures that escape them: never Markdown.
"""

from __future__ import annotations

import json
from datetime import timedelta

import streamlit as st

from analysis import charts, store, theme_insights as ti
from analysis.filters import Filters
from analysis.settings import get_settings

UNTHEMED_KEY = ti.UNTHEMED_KEY
JOB_KEY = "themes_job_id"
FLASH_KEY = "themes_flash"
CACHE = {"max_entries": 32, "ttl": timedelta(hours=1), "show_spinner": False}


# ----------------------------------------------------------------------------- cached reads
# Keys: database path, store revision (changes on every write) and the filters as a JSON
# string, so a cached figure can never be older than the last write.

def _filters_key(filters: Filters) -> str:
    return json.dumps(filters.to_query_params(), sort_keys=True)


def _with_db(db_path: str, fn, *args, **kwargs):
    db = store.connect(db_path)
    try:
        return fn(db, *args, **kwargs)
    finally:
        db.close()


def _filtered(db_path: str, filters_key: str, fn, *args):
    """fn(db, filters, *args) with the filters decoded from their cache key."""
    return _with_db(db_path, fn, Filters.from_query_params(json.loads(filters_key)), *args)


@st.cache_data(**CACHE)
def _theme_table(db_path: str, revision: int, filters_key: str):
    return _filtered(db_path, filters_key, ti.theme_table)


@st.cache_data(**CACHE)
def _drilldown(db_path: str, revision: int, filters_key: str, theme_id: int | None):
    return _filtered(db_path, filters_key, ti.theme_drilldown, theme_id)


@st.cache_data(**CACHE)
def _comments(db_path: str, revision: int, filters_key: str, theme_id: int | None,
              search: str, offset: int):
    return _filtered(db_path, filters_key, ti.theme_comments_page, theme_id, search, offset)


@st.cache_data(max_entries=4, ttl=timedelta(hours=1), show_spinner=False)
def _map_points(db_path: str, revision: int, filters_key: str):
    return _filtered(db_path, filters_key, ti.comment_map_points)


@st.cache_data(max_entries=8, ttl=timedelta(hours=1), show_spinner=False)
def _header_figures(db_path: str, revision: int):
    return _with_db(db_path, ti.theme_header_figures)


@st.cache_data(max_entries=8, ttl=timedelta(hours=1), show_spinner=False)
def _choices(db_path: str, revision: int) -> dict[int, str]:
    return _with_db(db_path, ti.theme_choices)


# ----------------------------------------------------------------------------- helpers

def _actor() -> str:
    return st.session_state.get("user") or get_settings().actor


def _flash(kind: str, message: str, detail: str = "") -> None:
    st.session_state[FLASH_KEY] = (kind, message, detail)


def _show_flash() -> None:
    kind, message, detail = st.session_state.pop(FLASH_KEY, (None, None, ""))
    if message:
        # Our own fixed wording in the (Markdown) alert; anything that may quote user text,
        # such as an error's detail or a job message, goes through st.text.
        (st.error if kind == "error" else st.success)(message)
        if detail:
            st.text(detail)


def _admin():
    try:
        from analysis import theme_admin
    except ImportError:
        return None
    return theme_admin


def _selected_rows(event) -> list[int]:
    return list(getattr(getattr(event, "selection", None), "rows", []) or [])


# ----------------------------------------------------------------------------- callbacks
# Writes run in widget callbacks, before the script reruns, so the page redraws with the
# new figures at once.

def _do(action, success: str) -> None:
    db = store.connect(st.session_state["_themes_db_path"])
    try:
        action(db)
    except ValueError as exc:
        _flash("error", "Not done.", str(exc))
    else:
        _flash("success", success)
    finally:
        db.close()


def _rename(theme_id: int) -> None:
    admin = _admin()
    new_name = st.session_state.get(f"rename_{theme_id}", "")
    _do(lambda db: admin.rename_theme(db, theme_id, new_name, actor=_actor()), "Theme renamed.")


def _merge(theme_id: int) -> None:
    admin = _admin()
    sources = list(st.session_state.get(f"merge_{theme_id}", []))
    _do(lambda db: admin.merge_themes(db, sources, theme_id, actor=_actor()),
        f"Merged {len(sources)} theme(s) into this one.")
    st.session_state[f"merge_{theme_id}"] = []


def _correct(theme_id: int) -> None:
    admin = _admin()
    feedback_id = st.session_state.get(f"fix_comment_{theme_id}")
    right_id = ti.theme_id_from_key(st.session_state.get(f"fix_right_{theme_id}"))
    if feedback_id is None:
        _flash("error", "Not done: choose a comment first.")
        return
    _do(lambda db: admin.correct_theme(db, int(feedback_id), theme_id, right_id,
                                       actor=_actor()),
        "Correction saved; it is re-applied after every refit.")


def _confirm(theme_id: int) -> None:
    admin = _admin()
    feedback_id = st.session_state.get(f"fix_comment_{theme_id}")
    if feedback_id is None:
        _flash("error", "Not done: choose a comment first.")
        return
    _do(lambda db: admin.confirm_theme(db, int(feedback_id), theme_id, actor=_actor()),
        "Confirmed: this counts towards the audited accuracy.")


def _start_job(refit: bool) -> None:
    try:
        from analysis import themes
    except ImportError:
        _flash("error", "Theme refresh is not available in this installation yet.")
        return
    try:
        job_id = themes.start_refresh_job(st.session_state["_themes_db_path"], refit=refit,
                                          actor=_actor())
    except Exception as exc:  # a failed start must show, not crash the page
        _flash("error", "Could not start the theme refresh.", str(exc))
        return
    st.session_state[JOB_KEY] = job_id
    st.session_state.pop("themes_refit_confirm", None)


# ----------------------------------------------------------------------------- sections

@st.fragment(run_every=2)
def _job_progress(db_path: str) -> None:
    """Polls the running job every 2 s without rerunning the whole page."""
    job_id = st.session_state.get(JOB_KEY)
    if job_id is None:
        return
    from analysis import themes

    state, progress, message = ti.job_view(_with_db(db_path, themes.job_status, job_id))
    if state == "running":
        st.progress(progress, text="Theme refresh running…")
        if message:
            st.text(message)
        return
    st.session_state.pop(JOB_KEY, None)
    if state == "done":
        _flash("success", "Theme refresh finished.", message)
    else:
        _flash("error", "Theme refresh failed.", message)
    st.rerun(scope="app")


def _header(db_path: str, revision: int) -> dict:
    st.title("Themes")
    figures = _header_figures(db_path, revision)
    for column, (label, value, help_text) in zip(st.columns(3), ti.header_metrics(figures)):
        column.metric(label, value, help=help_text)
    return figures["status"]


def _refresh_controls(db_path: str) -> None:
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
        _job_progress(db_path)


TABLE_COLUMNS = {
    "name": st.column_config.TextColumn("Theme"),
    "mentions": st.column_config.NumberColumn("Mentions", help="Primary and secondary."),
    "dedup_mentions": st.column_config.NumberColumn(
        "Mentions (dedup.)", help="Near-duplicate comments counted once."),
    "customers": st.column_config.NumberColumn("Customers", help="Distinct known customers."),
    "share_pct": st.column_config.NumberColumn(
        "Share %", format="%.1f", help="Mentions / commented feedback (themes overlap)."),
    "change_pts": st.column_config.NumberColumn(
        "Change (pts)", format="%+.1f", help="Share change vs the previous period."),
    "change_p_value": st.column_config.NumberColumn(
        "p-value", format="%.3f", help="Two-proportion z test of the change."),
    "sentiment_mean": st.column_config.NumberColumn(
        "Sentiment", format="%+.2f", help="Mean sentiment score, -1 to 1."),
    "nps": st.column_config.NumberColumn("NPS", format="%.0f"),
    "nps_interval": st.column_config.TextColumn("NPS 95% interval"),
    "keywords": st.column_config.ListColumn("Keywords"),
}


def _theme_list(table: ti.ThemeTable) -> str | None:
    """The theme table; returns the key of the theme the user picked (table row or box)."""
    event = st.dataframe(
        ti.with_nps_interval(table.frame), key="themes_table", on_select="rerun",
        selection_mode="single-row", hide_index=True, column_order=list(TABLE_COLUMNS),
        column_config=TABLE_COLUMNS)
    st.caption(f"Shares are of {table.commented:,} commented responses; a comment can carry "
               f"several themes, so shares add up to more than 100%. "
               f"{table.period.note} Unthemed: comments no theme fits yet.")

    names = ti.theme_names_by_key(table.frame)
    keys = list(names)
    rows = _selected_rows(event)
    picked_row = keys[rows[0]] if rows and rows[0] < len(keys) else None
    # A new click in the table moves the select box; otherwise the box is free to change.
    if picked_row != st.session_state.get("themes_last_row"):
        st.session_state["themes_last_row"] = picked_row
        if picked_row is not None:
            st.session_state["themes_pick"] = picked_row
    if st.session_state.get("themes_pick") not in keys:
        st.session_state.pop("themes_pick", None)
    return st.selectbox("Theme to explore", keys, index=None, key="themes_pick",
                        format_func=lambda k: names.get(k, k),
                        placeholder="Select a row in the table, or choose here")


def _chart(frame, build, key: str) -> None:
    if frame.empty:
        st.caption("No data.")
    else:
        st.plotly_chart(build(frame), key=key)


def _drill_down(db_path: str, revision: int, filters: Filters, table: ti.ThemeTable,
                pick: str) -> None:
    theme_id = ti.theme_id_from_key(pick)
    row = ti.theme_row(table.frame, theme_id)
    if row is None:
        return
    st.divider()
    st.subheader("Theme detail")
    st.text(str(row["name"]))
    st.caption(ti.share_summary(row))
    change = ti.change_summary(row)
    if change is not None:
        st.caption(change)
    data = _drilldown(db_path, revision, _filters_key(filters), theme_id)

    st.markdown("**Representative comments**")
    quotes = list(data["quotes"]["comment"]) if data["quotes"] is not None else row["quotes"]
    if not quotes:
        st.caption("No comments in this view.")
    for quote in quotes:
        st.text(f"“{quote}”")

    left, right = st.columns(2)
    with left:
        st.markdown("**Share by location**")
        _chart(data["locations"], charts.theme_location_figure, "themes_location_chart")
        if not data["locations"].empty:
            st.caption("Error bars: 95% Wilson intervals. Small locations have wide bars.")
    with right:
        st.markdown("**Weekly share**")
        _chart(data["weekly"], charts.theme_share_figure, "themes_time_chart")
    st.markdown("**Sentiment mix**")
    st.plotly_chart(charts.sentiment_mix_figure(data["sentiment"]), key="themes_sentiment_chart")

    _comments_section(db_path, revision, filters, theme_id)
    if theme_id is not None:
        _admin_section(theme_id, str(row["name"]), table)


def _comments_section(db_path: str, revision: int, filters: Filters,
                      theme_id: int | None) -> None:
    st.markdown("**Comments**")
    key = "unthemed" if theme_id is None else theme_id
    search = st.text_input("Search these comments", key=f"themes_search_{key}",
                           placeholder="words to find, e.g. queue refund; word* for prefixes")
    if search and ti.fts_query(search) is None:
        st.caption("The search has no words to look for, so all comments are shown.")
    page = st.number_input("Page", min_value=1, value=1, step=1, key=f"themes_page_{key}")
    frame, total = _comments(db_path, revision, _filters_key(filters), theme_id, search or "",
                             ti.comments_offset(page))
    st.caption(ti.comments_summary(total, len(frame), page))
    event = st.dataframe(
        frame, key=f"themes_comments_{key}", hide_index=True, on_select="rerun",
        selection_mode="single-row",
        column_order=["received_at", "location", "score", "sentiment_label", "probability",
                      "comment"],
        column_config={
            "received_at": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD"),
            "probability": st.column_config.NumberColumn("Probability", format="%.2f"),
            "sentiment_label": st.column_config.TextColumn("Sentiment"),
            "comment": st.column_config.TextColumn("Comment", width="large"),
        })
    if theme_id is None or frame.empty:
        return
    # Correction: pick a comment (table row, or the box AppTest and keyboards can drive).
    ids = [int(v) for v in frame["feedback_id"]]
    texts = dict(zip(ids, frame["comment"]))
    rows = _selected_rows(event)
    fix_key = f"fix_comment_{theme_id}"
    if rows and rows[0] < len(ids) and st.session_state.get(f"{fix_key}_row") != rows[0]:
        st.session_state[f"{fix_key}_row"] = rows[0]
        st.session_state[fix_key] = ids[rows[0]]
    if st.session_state.get(fix_key) not in ids:
        st.session_state.pop(fix_key, None)
    admin = _admin()
    with st.expander("Wrong theme? Correct or confirm a comment"):
        st.selectbox("Comment", ids, index=None, key=fix_key,
                     format_func=lambda i: (texts.get(i) or "")[:120],
                     placeholder="Select a row above, or choose here")
        choices = _choices(db_path, revision)
        st.selectbox("It is really about", ti.correction_keys(choices, theme_id),
                     key=f"fix_right_{theme_id}",
                     format_func=lambda k: "No theme" if k == UNTHEMED_KEY
                     else choices.get(int(k), k))
        col1, col2 = st.columns(2)
        col1.button("Move to that theme", key=f"fix_go_{theme_id}", on_click=_correct,
                    args=(theme_id,), disabled=admin is None)
        col2.button("Theme is right", key=f"fix_ok_{theme_id}", on_click=_confirm,
                    args=(theme_id,), disabled=admin is None)


def _admin_section(theme_id: int, name: str, table: ti.ThemeTable) -> None:
    if _admin() is None:
        st.caption("Renaming and merging are not available in this installation yet.")
        return
    with st.expander("Rename or merge this theme"):
        st.session_state.setdefault(f"rename_{theme_id}", name)
        st.text_input("New name", key=f"rename_{theme_id}", max_chars=120)
        st.button("Rename", key=f"rename_go_{theme_id}", on_click=_rename, args=(theme_id,))
        names = ti.merge_candidates(table.frame, theme_id)
        st.multiselect("Merge these themes into this one", list(names),
                       key=f"merge_{theme_id}", format_func=lambda t: names.get(t, str(t)))
        st.button("Merge", key=f"merge_go_{theme_id}", on_click=_merge, args=(theme_id,),
                  disabled=not st.session_state.get(f"merge_{theme_id}"))


def _map_section(db_path: str, revision: int, filters: Filters) -> None:
    with st.expander("Map of comments"):
        st.caption("Each dot is a comment placed by meaning: nearby dots say similar things.")
        if not st.toggle("Show the map", key="themes_show_map"):
            return
        points = _map_points(db_path, revision, _filters_key(filters))
        if points.frame.empty:
            st.caption("No map yet: it is drawn by the next theme refresh.")
            return
        if points.sampled:
            st.caption(f"Showing a fixed sample of {len(points.frame):,} of "
                       f"{points.total:,} comments.")
        st.plotly_chart(charts.comment_map_figure(points.frame), key="themes_map_chart")


# ----------------------------------------------------------------------------- page

def main() -> None:
    filters = st.session_state.get("filters")
    if not isinstance(filters, Filters):
        filters = Filters()
    db_path = str(get_settings().db_path)
    st.session_state["_themes_db_path"] = db_path
    revision = _with_db(db_path, store.revision)

    status = _header(db_path, revision)
    _show_flash()
    if status["feedback"] == 0:
        st.info("No feedback yet. Import a file on the Import page, or load the demo data "
                "(`python -m analysis demo`), then run a theme refresh here.")
        return
    _refresh_controls(db_path)
    if status["themes"] == 0:
        st.info("No themes yet. Click “Refresh themes” above to find the themes in your "
                "comments (the first run fits the model and can take a few minutes).")
        return

    table = _theme_table(db_path, revision, _filters_key(filters))
    if table.commented == 0:
        st.info("No commented feedback matches the current filters. Widen the filters in "
                "the sidebar.")
        return
    pick = _theme_list(table)
    if pick is not None:
        _drill_down(db_path, revision, filters, table, pick)
    _map_section(db_path, revision, filters)


main()

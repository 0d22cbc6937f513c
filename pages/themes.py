"""Themes explorer: what customers talk about, how much, where, since when, and how they feel.

Thin page: every figure comes from `analysis.theme_insights`; writes go through
`analysis.theme_admin` and `analysis.themes`. Theme names and comments are user text (an
analyst can rename a theme to anything, a customer can write anything), so they are shown
only through st.dataframe, st.text, widget options and escaped plotly text: never Markdown.
"""

from __future__ import annotations

import html
import json
from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analysis import store, theme_insights as ti
from analysis.filters import Filters
from analysis.settings import get_settings

UNTHEMED_KEY = "unthemed"
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


@st.cache_data(**CACHE)
def _theme_table(db_path: str, revision: int, filters_key: str):
    return _with_db(db_path, ti.theme_table, Filters.from_query_params(json.loads(filters_key)))


@st.cache_data(**CACHE)
def _drilldown(db_path: str, revision: int, filters_key: str, theme_id: int | None):
    filters = Filters.from_query_params(json.loads(filters_key))

    def read(db):
        return {
            "quotes": (ti.theme_quotes(db, filters, theme_id) if theme_id is not None else None),
            "locations": ti.theme_by_location(db, filters, theme_id),
            "weekly": ti.theme_share_over_time(db, filters, theme_id, freq="W"),
            "sentiment": ti.theme_sentiment_mix(db, filters, theme_id),
        }
    return _with_db(db_path, read)


@st.cache_data(**CACHE)
def _comments(db_path: str, revision: int, filters_key: str, theme_id: int | None,
              search: str, offset: int):
    filters = Filters.from_query_params(json.loads(filters_key))

    def read(db):
        return (ti.theme_comments(db, filters, theme_id, search=search or None, offset=offset),
                ti.theme_comment_count(db, filters, theme_id, search=search or None))
    return _with_db(db_path, read)


@st.cache_data(max_entries=4, ttl=timedelta(hours=1), show_spinner=False)
def _map_points(db_path: str, revision: int, filters_key: str):
    return _with_db(db_path, ti.comment_map_points,
                    Filters.from_query_params(json.loads(filters_key)))


@st.cache_data(max_entries=8, ttl=timedelta(hours=1), show_spinner=False)
def _header_figures(db_path: str, revision: int):
    def read(db):
        figures = {"status": ti.theme_status(db), "accuracy": None, "sentiment_cv": None}
        try:
            from analysis import theme_admin
            figures["accuracy"] = theme_admin.audited_accuracy(db)
        except ImportError:
            pass
        try:
            from analysis import sentiment
            run = sentiment.latest_run(db, with_classifier=True)
            figures["sentiment_cv"] = run.get("cv_accuracy") if run else None
        except ImportError:
            pass
        return figures
    return _with_db(db_path, read)


# ----------------------------------------------------------------------------- helpers

def _plain(text) -> str:
    """User text made inert for plotly, which renders a subset of HTML in labels."""
    return html.escape(str(text), quote=False)


def _pct(value, digits: int = 0) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}%"


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
    right = st.session_state.get(f"fix_right_{theme_id}")
    right_id = None if right in (None, UNTHEMED_KEY) else int(right)
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

def _job_field(status, name, default=None):
    if status is None:
        return default
    if isinstance(status, dict):
        return status.get(name, default)
    return getattr(status, name, default)


@st.fragment(run_every=2)
def _job_progress(db_path: str) -> None:
    """Polls the running job every 2 s without rerunning the whole page."""
    job_id = st.session_state.get(JOB_KEY)
    if job_id is None:
        return
    from analysis import themes

    db = store.connect(db_path)
    try:
        status = themes.job_status(db, job_id)
    finally:
        db.close()
    state = _job_field(status, "status", "failed")
    message = str(_job_field(status, "message", "") or "")
    if state == "running":
        progress = float(_job_field(status, "progress", 0) or 0)
        st.progress(min(max(progress, 0.0), 1.0), text="Theme refresh running…")
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
    accuracy, cv = figures["accuracy"], figures["sentiment_cv"]
    col1, col2, col3 = st.columns(3)
    if accuracy is not None and accuracy.value is not None:
        col1.metric("Audited theme accuracy", _pct(accuracy.value),
                    help=f"{accuracy.method}: 95% interval {_pct(accuracy.ci_low)} to "
                         f"{_pct(accuracy.ci_high)}, {accuracy.n} audited comments.")
    else:
        col1.metric("Audited theme accuracy", "no audits yet",
                    help="Confirm or correct comments below to measure it.")
    col2.metric("Sentiment classifier accuracy",
                "not available" if cv is None else f"{cv * 100:.0f}%",
                help="Cross-validated accuracy of the latest sentiment classifier.")
    status = figures["status"]
    col3.metric("Comments with a theme", f"{status['assigned']:,} of {status['commented']:,}")
    return status


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
    frame = table.frame.copy()
    frame["nps_interval"] = [
        "" if pd.isna(lo) else f"{lo:.0f} to {hi:.0f} (n={n})"
        for lo, hi, n in zip(frame["nps_ci_low"], frame["nps_ci_high"], frame["nps_n"])]
    event = st.dataframe(
        frame, key="themes_table", on_select="rerun", selection_mode="single-row",
        hide_index=True, column_order=list(TABLE_COLUMNS), column_config=TABLE_COLUMNS)
    st.caption(f"Shares are of {table.commented:,} commented responses; a comment can carry "
               f"several themes, so shares add up to more than 100%. "
               f"{table.period.note} Unthemed: comments no theme fits yet.")

    keys = [UNTHEMED_KEY if u else str(int(t)) for t, u in
            zip(frame["theme_id"], frame["is_unthemed"])]
    names = dict(zip(keys, frame["name"]))
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
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


def _location_chart(frame: pd.DataFrame) -> None:
    if frame.empty:
        st.caption("No data.")
        return
    fig = go.Figure(go.Bar(
        x=[_plain(v) for v in frame["location"]], y=frame["share_pct"],
        error_y={"type": "data", "array": frame["ci_high"] - frame["share_pct"],
                 "arrayminus": frame["share_pct"] - frame["ci_low"]},
        customdata=frame["n"],
        hovertemplate="%{x}: %{y:.1f}% (n=%{customdata})<extra></extra>"))
    fig.update_layout(yaxis_title="Share of comments (%)", height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, key="themes_location_chart")
    st.caption("Error bars: 95% Wilson intervals. Small locations have wide bars.")


def _time_chart(frame: pd.DataFrame) -> None:
    if frame.empty:
        st.caption("No data.")
        return
    fig = go.Figure(go.Scatter(
        x=frame["period"], y=frame["share_pct"], mode="lines+markers", customdata=frame["n"],
        hovertemplate="Week of %{x|%Y-%m-%d}: %{y:.1f}% (n=%{customdata})<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=list(frame["period"]) + list(frame["period"])[::-1],
        y=list(frame["ci_high"]) + list(frame["ci_low"])[::-1],
        fill="toself", line={"width": 0}, opacity=0.2, hoverinfo="skip", showlegend=False))
    fig.update_layout(yaxis_title="Weekly share (%)", showlegend=False, height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, key="themes_time_chart")


def _sentiment_chart(frame: pd.DataFrame) -> None:
    colours = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c",
               "unscored": "#c7c7c7"}
    fig = go.Figure(go.Bar(x=frame["label"], y=frame["count"],
                           marker_color=[colours.get(v, "#999") for v in frame["label"]]))
    fig.update_layout(yaxis_title="Comments", height=280,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, key="themes_sentiment_chart")


def _drill_down(db_path: str, revision: int, filters: Filters, table: ti.ThemeTable,
                pick: str) -> None:
    theme_id = None if pick == UNTHEMED_KEY else int(pick)
    frame = table.frame
    row = frame[frame["is_unthemed"] if theme_id is None
                else frame["theme_id"].eq(theme_id).fillna(False).astype(bool)]
    if row.empty:
        return
    row = row.iloc[0]
    st.divider()
    st.subheader("Theme detail")
    st.text(str(row["name"]))
    st.caption(f"{int(row['mentions']):,} mentions, {_pct(row['share_pct'], 1)} of commented "
               f"feedback (95% interval {_pct(row['share_ci_low'], 1)} to "
               f"{_pct(row['share_ci_high'], 1)}).")
    if row["change_pts"] is not None and not pd.isna(row["change_pts"]):
        st.caption(f"Change vs previous period: {row['change_pts']:+.1f} points "
                   f"(95% interval {row['change_ci_low']:+.1f} to {row['change_ci_high']:+.1f}; "
                   f"{row['change_test']}, p = {row['change_p_value']:.3g}).")
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
        _location_chart(data["locations"])
    with right:
        st.markdown("**Weekly share**")
        _time_chart(data["weekly"])
    st.markdown("**Sentiment mix**")
    _sentiment_chart(data["sentiment"])

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
                             (int(page) - 1) * 200)
    st.caption(f"{total:,} comments; showing {len(frame):,} from number "
               f"{(int(page) - 1) * 200 + 1 if len(frame) else 0:,}.")
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
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
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
        options = [UNTHEMED_KEY] + [str(t) for t in choices if t != theme_id]
        st.selectbox("It is really about", options, key=f"fix_right_{theme_id}",
                     format_func=lambda k: "No theme" if k == UNTHEMED_KEY
                     else choices.get(int(k), k))
        col1, col2 = st.columns(2)
        col1.button("Move to that theme", key=f"fix_go_{theme_id}", on_click=_correct,
                    args=(theme_id,), disabled=admin is None)
        col2.button("Theme is right", key=f"fix_ok_{theme_id}", on_click=_confirm,
                    args=(theme_id,), disabled=admin is None)


@st.cache_data(max_entries=8, ttl=timedelta(hours=1), show_spinner=False)
def _choices_cached(db_path: str, revision: int) -> dict[int, str]:
    return _with_db(db_path, ti.theme_choices)


def _choices(db_path: str, revision: int) -> dict[int, str]:
    return _choices_cached(db_path, revision)


def _admin_section(theme_id: int, name: str, table: ti.ThemeTable) -> None:
    admin = _admin()
    if admin is None:
        st.caption("Renaming and merging are not available in this installation yet.")
        return
    with st.expander("Rename or merge this theme"):
        st.session_state.setdefault(f"rename_{theme_id}", name)
        st.text_input("New name", key=f"rename_{theme_id}", max_chars=120)
        st.button("Rename", key=f"rename_go_{theme_id}", on_click=_rename, args=(theme_id,))
        frame = table.frame
        others = frame[~frame["is_unthemed"] & frame["theme_id"].ne(theme_id).fillna(False)]
        names = {int(t): str(n) for t, n in zip(others["theme_id"], others["name"])}
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
        fig = go.Figure()
        for theme, group in points.frame.groupby("theme", sort=True):
            fig.add_trace(go.Scattergl(
                x=group["x"], y=group["y"], mode="markers", name=_plain(theme),
                marker={"size": 5, "opacity": 0.7},
                customdata=[_plain(c) for c in group["comment"]],
                hovertemplate="%{customdata}<extra>%{fullData.name}</extra>"))
        fig.update_layout(height=560, xaxis_visible=False, yaxis_visible=False,
                          margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(fig, key="themes_map_chart")


# ----------------------------------------------------------------------------- page

def main() -> None:
    filters = st.session_state.get("filters")
    if not isinstance(filters, Filters):
        filters = Filters()
    db_path = str(get_settings().db_path)
    st.session_state["_themes_db_path"] = db_path
    db = store.connect(db_path)
    try:
        revision = store.revision(db)
    finally:
        db.close()

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

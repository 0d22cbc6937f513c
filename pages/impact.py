"""Impact: is the case queue closing the loop, against the SLA policy's targets, and did the
improvements work.

Thin page: the scorecard, the monthly trends, the owner and team tables, the recovery
funnel, the followed-up-versus-not comparison, the resolution mix and the improvements'
verdicts come from `analysis.views.impact` (which reads `analysis.loop_health`, the SLA
policy and the improvements' impact reports, and writes nothing). Owner, team and
improvement names are user text: shown only through st.dataframe and escaped plotly figures.
Speed: every read is cached (bounded, keyed by the store's file and revision, the period and
the hour it is read at); the improvements' verdicts (a second each) on the week.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from analysis import store
from analysis.cases.policy import sla_policies
from analysis.loop_health import loop_health, outcomes
from analysis.reports import charts
from analysis.reports.csv_safety import to_safe_csv
from analysis.settings import get_settings
from analysis.trends.periods import period_of
from analysis.views import impact as views
from pages import db_key, page_start

CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}
NUMBER = st.column_config.NumberColumn
PERIODS = {4: "Last 4 weeks", 8: "Last 8 weeks", 13: "Last 13 weeks", 0: "Dates"}


# Every read is cached, bounded and keyed on the store's file and revision (every write
# changes it), the period, and `now` to the hour (what became of the cases is read then).
@st.cache_data(max_entries=8, **CACHE)
def _has_cases(key) -> bool:
    return views.has_cases(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _policies(key):
    return sla_policies(store.connect(key[0]))


@st.cache_data(max_entries=24, **CACHE)
def _health(key, start, end, by, now):
    return loop_health(store.connect(key[0]), start=start, end=end, by=by, now=now)


@st.cache_data(max_entries=8, **CACHE)
def _outcomes(key, start, end, now):
    return outcomes(store.connect(key[0]), start=start, end=end, now=now)


@st.cache_data(max_entries=8, **CACHE)
def _funnel(key, start, end, now):
    return views.recovery_funnel(store.connect(key[0]), start=start, end=end, now=now)


@st.cache_data(max_entries=4, **CACHE)
def _improvements(key, week, _now):
    """`week` (the current local week) keys the cache; `_now` (unhashed) is the moment."""
    return views.improvement_verdicts(store.connect(key[0]), now=_now)


def _interval_columns(fmt: str = "%.1f") -> dict:
    return {"value": NUMBER("value", format=fmt), "ci_low": NUMBER("95% low", format=fmt),
            "ci_high": NUMBER("95% high", format=fmt), "n": NUMBER("n", format="%d"),
            "p_value": NUMBER("p", format="%.3f")}


# ----------------------------------------------------------------------------- sections

def _period(now, tz: str):
    st.radio("Period", list(PERIODS), format_func=PERIODS.get, index=1, horizontal=True,
             key="imp_period", help="Complete local weeks, Monday to Sunday, before this "
                                    "week; or any dates.")
    weeks = st.session_state["imp_period"]
    default = views.last_weeks(now, views.DEFAULT_WEEKS, tz)
    if weeks:
        return views.last_weeks(now, weeks, tz)
    st.session_state.setdefault("imp_dates", (default[0].date(),
                                              (default[1] - timedelta(days=1)).date()))
    picked = st.date_input("Dates (both included)", key="imp_dates", format="YYYY-MM-DD")
    if isinstance(picked, (list, tuple)) and len(picked) == 2:
        return views.date_period(picked[0], picked[1], tz)
    st.caption("Pick the last day too; until then the last 8 weeks are shown.")
    return default


def _scorecard_section(key, health, start, end, now) -> None:
    st.subheader("Scorecard")
    target = st.number_input("SLA met target (%)", min_value=0.0, max_value=100.0,
                             value=views.SLA_TARGET_PCT, step=1.0, key="imp_sla_target",
                             help="What share of SLA stages should be met on time.")
    policies = _policies(key)
    table = views.scorecard(health, policies, target)
    st.dataframe(table.drop(columns=["metric"]), hide_index=True, key="imp_scorecard",
                 column_config=_interval_columns() | {
                     "method": st.column_config.TextColumn("method", width="small")})
    st.caption(f"Every figure with its n and 95% interval: medians and 90th percentiles a "
               f"distribution-free order-statistic interval (blank: too few cases to bound "
               f"it), shares a Wilson interval; the backlog is a census of every open case "
               f"(no interval). Times in business hours on each case's clock. Targets: the "
               f"SLA policy per priority for times, {target:g}% for SLA met; a figure is "
               f"called above or below a target only when its whole 95% interval is.")
    with st.expander("SLA policy (targets per priority)"):
        st.dataframe(views.policy_table(policies), hide_index=True, key="imp_policy")
    st.download_button("Figures (CSV)", data=to_safe_csv(views.figures_csv_frame(health)),
                       file_name=f"impact_{start.date()}_{end.date()}.csv", mime="text/csv",
                       key="imp_figures_csv", icon=":material/download:")


def _trends_section(key, start, end, now) -> None:
    st.subheader("Trends by month")
    choice = st.selectbox("Figures", list(views.TRENDS), key="imp_trend",
                          format_func=lambda c: views.TRENDS[c][0])
    first = views.trend_start(start, end)
    frame = views.trend_frame(_health(key, first, end, "month", now), choice)
    if frame.empty or frame["value"].isna().all():
        st.caption("No case in these months yet.")
        return
    st.plotly_chart(charts.trend_lines_figure(frame, value_label=views.TRENDS[choice][2]),
                    key="imp_trend_chart")
    st.caption(f"Monthly (UTC months) from {first.date()} to the period's end; shaded: the "
               "95% interval (none where too few cases bound a median). Hover for n.")


def _groups_section(key, start, end, now) -> None:
    st.subheader("Owners and teams")
    fmt = {label: NUMBER(label, format="%.1f") for _, label in views.GROUP_METRICS}
    for by, title in (("owner", "By owner (current owner of each case)"),
                      ("team", "By team (current team of each case)")):
        st.markdown(f"**{title}**")
        table = views.group_table(_health(key, start, end, by, now))
        if table.empty:
            st.caption("No case counted in the period.")
            continue
        st.dataframe(table, hide_index=True, key=f"imp_by_{by}", column_config=fmt)
    st.caption("Each figure with its 95% interval (low, high) and n; a small group's wide "
               "interval is the honest answer, not a ranking.")


def _outcomes_section(key, start, end, now) -> None:
    st.subheader("Recovery funnel")
    funnel = _funnel(key, start, end, now)
    st.plotly_chart(views.funnel_figure(funnel), key="imp_funnel_chart")
    st.dataframe(funnel, hide_index=True, key="imp_funnel")
    st.caption(views.FUNNEL_CAPTION)
    found = _outcomes(key, start, end, now)
    st.markdown("**Outcomes**")
    st.dataframe(views.outcome_table(found), hide_index=True, key="imp_outcomes",
                 column_config=_interval_columns())
    st.markdown("**Next score: followed up vs not**")
    comparison = views.comparison_table(found)
    if comparison.empty:
        st.caption("No detractor with a recovery case has scored again yet.")
    else:
        st.dataframe(comparison, hide_index=True, key="imp_comparison",
                     column_config=_interval_columns("%.2f") | {
                         "difference": NUMBER("difference", format="%+.2f")})
    st.caption(views.comparison_caveat(found))
    st.markdown("**Resolution mix** (cases resolved in the period)")
    st.dataframe(views.resolution_mix(found), hide_index=True, key="imp_mix",
                 column_config=_interval_columns() | {"share": NUMBER("share %",
                                                                      format="%.1f")})


def _improvements_section(key, now, tz: str) -> None:
    st.subheader("Improvements and their verdicts")
    table = _improvements(key, period_of(now, "week", tz), now)
    if table.empty:
        st.info(views.NO_IMPROVEMENTS)
        return
    st.dataframe(table, hide_index=True, key="imp_improvements",
                 column_config=_interval_columns("%.2f") | {
                     "effect": NUMBER("effect", format="%+.2f"),
                     "n_before": NUMBER("n before", format="%d"),
                     "n_after": NUMBER("n after", format="%d")})
    st.caption(f"Shipped and in-progress changes (the first {views.MAX_VERDICTS}): the "
               "headline test over 8 weeks either side of the change, its 95% interval, "
               "p-value and responses before and after; open one on Improvements for every "
               "estimate and the comparison used.")


@st.cache_data(max_entries=4, **CACHE)
def _weekly_html(key, week: str, now) -> str:
    from analysis.reports.weekly import render_html, weekly_report

    return render_html(weekly_report(store.connect(key[0]), week=week, now=now))


@st.fragment
def _weekly_report_section(key, now, tz: str) -> None:
    from analysis.reports.weekly import default_week, week_label

    st.subheader("Weekly report")
    last = default_week(now, tz)
    weeks = [week_label(last - timedelta(weeks=k)) for k in range(12)]
    week = st.selectbox("Week", weeks, key="impact_report_week")
    if st.button("Prepare the report", key="impact_report_prepare"):
        st.session_state["impact_report_ready"] = week
    if st.session_state.get("impact_report_ready") == week:
        st.download_button("Download the weekly report (HTML)", _weekly_html(key, week, now),
                           file_name=f"closeloop-report-{week}.html", mime="text/html",
                           key="impact_report_download")
    st.caption("One self-contained file that opens offline and prints well; the same "
               "report goes out weekly to the report recipients (Templates page, follow-up "
               "settings). `python -m analysis report --week ...` writes it too.")


def render() -> None:
    db, _ = page_start()
    st.title("Impact")
    key = db_key(db)
    tz = get_settings().timezone
    now = store.utcnow().replace(minute=0, second=0, microsecond=0)
    start, end = _period(now, tz)
    if end <= start:
        st.warning("The first day must not be after the last.")
        return
    st.caption(views.period_caption(start, end, now))
    if not _has_cases(key):
        st.info(views.NO_CASES)
    else:
        health = _health(key, start, end, None, now)
        _scorecard_section(key, health, start, end, now)
        _trends_section(key, start, end, now)
        _groups_section(key, start, end, now)
        _outcomes_section(key, start, end, now)
    _improvements_section(key, now, tz)
    _weekly_report_section(key, now, tz)


render()

"""Overview: headline KPIs with intervals and change, volume and NPS over time, locations."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from analysis import store
from analysis.domain.filters import Filters
from analysis.reports import charts
from analysis.settings import get_settings
from analysis.views import overview

if PagesManager.uses_pages_directory:  # run without app.py: see the note above PAGES there
    PagesManager.uses_pages_directory = False
    st.rerun()

db = store.connect()
filters: Filters = st.session_state.get("filters") or Filters()
db_key = (str(get_settings().db_path), store.revision(db))


@st.cache_data(max_entries=32, show_spinner=False)
def _kpis(db_key, filters):
    return overview.kpis(store.connect(db_key[0]), filters)


@st.cache_data(max_entries=32, show_spinner=False)
def _series(db_key, filters, freq):
    return overview.volume_and_nps_over_time(store.connect(db_key[0]), filters, freq)


@st.cache_data(max_entries=32, show_spinner=False)
def _locations(db_key, filters):
    return overview.location_table(store.connect(db_key[0]), filters)


st.title("Overview")

if store.is_empty(db):
    st.info("No feedback yet. Import a CSV or JSON Lines file on the **Import** page, "
            "or load the demo data set to explore Closeloop.")
    if st.button("Load demo data (20,000 responses)", type="primary"):
        from analysis import demo

        with st.spinner("Generating demo data..."):
            demo.generate_demo(db, rows=20000, seed=7,
                               truth_path=get_settings().db_path.parent / "demo_truth.json",
                               actor=get_settings().actor)
        st.rerun()
    st.stop()

if filters.start and filters.end:
    previous = filters.previous_period()
    st.caption(f"{filters.start:%d %b %Y} to {filters.end:%d %b %Y}, compared with "
               f"{previous.start:%d %b %Y} to {previous.end:%d %b %Y}.")


def _fmt(value, unit, digits=1):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{' ' + unit if unit == 'pts' else unit}"


kpis = _kpis(db_key, filters)
for column, kpi in zip(st.columns(len(kpis)), kpis):
    digits = 0 if kpi.key == "volume" else 1
    delta = None
    if kpi.change.estimate is not None:
        delta = f"{kpi.change.estimate:+,.{digits}f}{' pts' if kpi.unit in ('pts', '%') else ''}"
    help_lines = [kpi.current.method, f"n = {kpi.current.n:,}"]
    if kpi.current.ci_low is not None:
        help_lines.append(f"95% CI {kpi.current.ci_low:,.1f} to {kpi.current.ci_high:,.1f}")
    if kpi.change.p_value is not None:
        help_lines.append(f"Change vs previous period: {kpi.change.test}, "
                          f"95% CI {kpi.change.ci_low:+,.1f} to {kpi.change.ci_high:+,.1f}, "
                          f"p = {kpi.change.p_value:.3f}")
    # A change is coloured good/bad only when its test says it is real; lower is better only
    # for the share of negative feedback.
    significant = kpi.change.p_value is not None and kpi.change.p_value < 0.05
    column.metric(kpi.label, _fmt(kpi.current.value, kpi.unit, digits), delta,
                  delta_color=("off" if not significant else
                               "inverse" if kpi.key == "negative" else "normal"),
                  help="  \n".join(help_lines), border=True)
    if kpi.current.ci_low is not None and kpi.key != "volume":
        column.caption(f"95% CI {kpi.current.ci_low:,.1f} to {kpi.current.ci_high:,.1f} "
                       f"(n = {kpi.current.n:,})")
    if kpi.change.p_value is not None:
        verdict = "significant" if significant else "not significant"
        interval = ("" if kpi.change.ci_low is None or kpi.key == "volume" else
                    f"95% CI {kpi.change.ci_low:+,.1f} to {kpi.change.ci_high:+,.1f}, ")
        column.caption(f"Change {interval}p = {kpi.change.p_value:.3f} ({verdict})")

st.subheader("Volume and NPS over time")
freq = st.segmented_control("Period", ["D", "W", "M"], default="W", key="overview_freq",
                            format_func={"D": "Daily", "W": "Weekly", "M": "Monthly"}.get)
series = _series(db_key, filters, freq or "W")
if series.empty:
    st.info("No feedback matches the filters.")
else:
    st.plotly_chart(charts.nps_volume_figure(series), width="stretch")

st.subheader("Locations")
locations = _locations(db_key, filters)
if locations.empty:
    st.info("No feedback matches the filters.")
else:
    st.dataframe(
        locations, hide_index=True, width="stretch",
        column_config={
            "location": "Location",
            "responses": st.column_config.NumberColumn("Responses", format="%d"),
            "nps": st.column_config.NumberColumn("NPS", format="%.1f"),
            "nps_low": st.column_config.NumberColumn("NPS low (95%)", format="%.1f"),
            "nps_high": st.column_config.NumberColumn("NPS high (95%)", format="%.1f"),
            "nps_n": st.column_config.NumberColumn("NPS n", format="%d"),
            "nps_change": st.column_config.NumberColumn("NPS change", format="%+.1f"),
            "nps_change_p": st.column_config.NumberColumn("Change p-value", format="%.3f"),
            "csat": st.column_config.NumberColumn("CSAT %", format="%.1f"),
            "ces": st.column_config.NumberColumn("CES", format="%.2f"),
            "negative_pct": st.column_config.NumberColumn("Negative %", format="%.1f"),
        },
    )
    st.caption("NPS intervals: Wald on multinomial shares. NPS change: two-sample z test "
               "against the previous period of equal length.")

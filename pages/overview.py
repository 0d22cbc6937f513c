"""Overview: headline KPIs with intervals and change, volume and NPS over time, locations."""

import streamlit as st

from analysis import store
from analysis.reports import charts
from analysis.settings import get_settings
from analysis.views import overview
from pages import can_write, current_actor, db_key, page_start, require_write

LOCATION_COLUMNS = {
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
}


@st.cache_data(max_entries=32, show_spinner=False)
def _kpis(key, filters):
    return overview.kpis(store.connect(key[0]), filters)


@st.cache_data(max_entries=32, show_spinner=False)
def _series(key, filters, freq):
    return overview.volume_and_nps_over_time(store.connect(key[0]), filters, freq)


@st.cache_data(max_entries=8, show_spinner=False)
def _unreadable_dates(key):
    return overview.unreadable_dates(store.connect(key[0]))


@st.cache_data(max_entries=32, show_spinner=False)
def _locations(key, filters):
    return overview.location_table(store.connect(key[0]), filters)


def _offer_demo(db) -> None:
    st.info("No feedback yet. Import a CSV or JSON Lines file on the **Import** page, "
            "or load the demo data set to explore Closeloop.")
    if st.button("Load demo data (20,000 responses)", type="primary",
                 disabled=store.is_read_only(db) or not can_write()):
        from analysis import demo

        require_write()

        with st.spinner("Generating demo data..."):
            demo.generate_demo(db, rows=20000, seed=7,
                               truth_path=get_settings().db_path.parent / "demo_truth.json",
                               actor=current_actor())
        st.rerun()


def _kpi_row(kpis) -> None:
    for column, kpi in zip(st.columns(len(kpis)), kpis):
        tile = overview.kpi_tile(kpi)
        column.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color,
                      help=tile.help, border=True)
        for caption in (tile.interval, tile.change):
            if caption:
                column.caption(caption)


def render() -> None:
    db, filters = page_start()
    key = db_key(db)
    st.title("Overview")
    if store.is_empty(db):
        _offer_demo(db)
        return
    unreadable = _unreadable_dates(key)
    if unreadable:
        st.warning(f"{unreadable:,} stored responses have a date that is not a real moment "
                   "(edited by hand?); the figures below leave them out. `python -m analysis "
                   "export` includes them: correct their date and import them again.",
                   icon=":material/event_busy:")
    caption = overview.period_caption(filters)
    if caption:
        st.caption(caption)
    _kpi_row(_kpis(key, filters))

    st.subheader("Volume and NPS over time")
    freq = st.segmented_control("Period", ["D", "W", "M"], default="W", key="overview_freq",
                                format_func={"D": "Daily", "W": "Weekly", "M": "Monthly"}.get)
    series = _series(key, filters, freq or "W")
    if series.empty:
        st.info("No feedback matches the filters.")
    else:
        st.plotly_chart(charts.nps_volume_figure(series), width="stretch")

    st.subheader("Locations")
    locations = _locations(key, filters)
    if locations.empty:
        st.info("No feedback matches the filters.")
        return
    st.dataframe(locations, hide_index=True, width="stretch", column_config=LOCATION_COLUMNS)
    st.caption("NPS intervals: Wald on multinomial shares. NPS change: two-sample z test "
               "against the previous period of equal length.")


render()

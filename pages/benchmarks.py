"""Benchmarks: which location (segment, channel, touchpoint) is best or worst, and is it real.

Thin page: the ranked table, funnel, group x theme heatmap, movers and key drivers come
from `analysis.views.benchmarks` (which reads `analysis.benchmarks` and writes nothing),
figures from `analysis.reports.charts`. Group and theme names are user text: shown only
through st.dataframe, st.text, widget options and escaped plotly figures.
Speed: every read is cached (bounded, keyed by the store's file and revision); the key
drivers' own location choice reruns only that section (a fragment).
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta

import pandas as pd
import streamlit as st

from analysis import store
from analysis.benchmarks.consistency import consistent_differences
from analysis.benchmarks.drivers import DRIVER_METRICS
from analysis.domain.filters import filter_options
from analysis.reports import charts
from analysis.reports.csv_safety import to_safe_csv
from analysis.views import benchmarks as views
from pages import db_key, page_start

CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}
DEFAULT_MIN_N = 30
# URL parameter -> (widget key, allowed values): the page's own choices, kept in the link.
# (A comment, not a docstring: Streamlit writes a bare string in a page script on the page.)
PARAMS = {"metric": ("bench_metric", views.METRIC_CHOICES),
          "by": ("bench_by", views.BY_CHOICES)}
HAS_KALEIDO = importlib.util.find_spec("kaleido") is not None
NUMBER = st.column_config.NumberColumn


@st.cache_data(max_entries=8, **CACHE)
def _empty(key) -> str | None:
    return views.empty_message(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _has_themes(key) -> bool:
    return views.has_themes(store.connect(key[0]))


@st.cache_data(max_entries=16, **CACHE)
def _ranked(key, metric: str, by: str, filters, min_n: int) -> views.Ranked:
    return views.ranked(store.connect(key[0]), metric, by=by, filters=filters, min_n=min_n)


@st.cache_data(max_entries=8, **CACHE)
def _heatmap(key, by: str, filters, min_n: int) -> views.ThemeHeatmap:
    return views.theme_heatmap(store.connect(key[0]), by=by, filters=filters, min_n=min_n)


@st.cache_data(max_entries=16, **CACHE)
def _movers(key, metric: str, by: str, filters, min_n: int) -> views.Movers | None:
    return views.movers(store.connect(key[0]), metric, by=by, filters=filters, min_n=min_n)


@st.cache_data(max_entries=16, **CACHE)
def _drivers(key, metric: str, location: str | None, filters) -> views.DriversView:
    return views.key_drivers(store.connect(key[0]), metric, location=location,
                             filters=filters)


@st.cache_data(max_entries=8, **CACHE)
def _consistent(key, months: int) -> list[dict]:
    return consistent_differences(store.connect(key[0]), months=months)


@st.cache_data(max_entries=8, **CACHE)
def _locations(key) -> list[str]:
    return filter_options(store.connect(key[0]))["locations"]


def _choices_from_url() -> None:
    """Seed the page's own choices from the link, once per visit; an unknown value is
    ignored (a link can be hand-edited)."""
    for param, (widget, allowed) in PARAMS.items():
        if widget not in st.session_state and st.query_params.get(param) in allowed:
            st.session_state[widget] = st.query_params[param]


def _choices_to_url(**values: str) -> None:
    for param, value in values.items():
        st.query_params[param] = value


def _download(label: str, frame, name: str, key: str) -> None:
    st.download_button(label, data=to_safe_csv(frame), file_name=name, mime="text/csv",
                       key=key, icon=":material/download:")


def _png(figure, name: str, key: str) -> None:
    if HAS_KALEIDO:  # rendered only when clicked
        st.download_button("PNG", data=lambda: figure.to_image(format="png"), file_name=name,
                           mime="image/png", key=key, icon=":material/image:")


def _grey_too_few(frame, digits: int):
    """A Styler greying the rows of groups under the minimum n (a Styler's own formats are
    what the table shows, so the numbers are formatted here)."""
    def grey(row):
        return ["color: #9ca3af" if row["label"] == views.TOO_FEW else ""] * len(row)
    formats = {c: f"{{:.{digits}f}}" for c in views.RANKED_COLUMNS[3:-3]}
    formats.update(p_value="{:.2g}", q_value="{:.2g}", rank="{:.0f}")
    frame = frame.copy()
    for column in formats:  # None in an object column shows as "None", NaN as a blank
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.style.apply(grey, axis=1).format(
        {c: f for c, f in formats.items() if c in frame}, na_rep="")


# ----------------------------------------------------------------------------- sections

def _ranked_section(table: views.Ranked, by: str) -> None:
    metric, d = table.metric, views.digits(table.metric)
    st.subheader(f"Ranking by {views.BY_CHOICES[by].lower()}")
    fmt = f"%.{d}f"
    number_columns = {c: NUMBER(c, format=fmt) for c in
                      ("estimate", "ci_low", "ci_high", "shrunk", "shrunk_low", "shrunk_high",
                       "diff", "diff_low", "diff_high")}
    st.dataframe(_grey_too_few(table.frame, d), hide_index=True, key="bench_ranked",
                 column_config={
                     **number_columns,
                     "group": views.BY_CHOICES[by],
                     "estimate": NUMBER("raw", format=fmt, help="The group's own value"),
                     "ci_low": NUMBER("raw 95% low", format=fmt),
                     "ci_high": NUMBER("raw 95% high", format=fmt),
                     "shrunk": NUMBER("shrunk", format=fmt,
                                      help="Empirical-Bayes value, pulled toward the network "
                                           "the fewer responses a group has"),
                     "shrunk_low": NUMBER("shrunk 95% low", format=fmt),
                     "shrunk_high": NUMBER("shrunk 95% high", format=fmt),
                     "diff": NUMBER("vs rest", format=fmt,
                                    help="Raw value minus the rest of the network's"),
                     "diff_low": NUMBER("vs rest 95% low", format=fmt),
                     "diff_high": NUMBER("vs rest 95% high", format=fmt),
                     "p_value": NUMBER("p", format="%.2g"),
                     "q_value": NUMBER("q (BH)", format="%.2g")})
    st.caption(views.shrinkage_caption(table))
    st.markdown(views.LABELS_NOTE)
    _download("Ranked table (CSV)", table.frame, f"benchmark_{metric.name}_{by}.csv",
              "bench_ranked_csv")


def _funnel_section(table: views.Ranked) -> None:
    st.subheader("Funnel plot")
    funnel = views.funnel(table)
    figure = charts.funnel_figure(funnel.points, funnel.limits, funnel.network,
                                  table.metric.label)
    st.plotly_chart(figure, key="bench_funnel")
    _png(figure, "benchmark_funnel.png", "bench_funnel_png")
    st.caption("Each group's raw value against its number of responses. The dashed and dotted "
               "lines are the 95% and 99.8% limits around the network value: small groups "
               "scatter widely by chance, so a point outside the 99.8% funnel is unlikely to "
               "be luck. Colour: the group's label.")


def _heatmap_section(key, by: str, filters, min_n: int) -> None:
    st.subheader(f"{views.BY_CHOICES[by]} × theme")
    if not _has_themes(key):
        st.info(views.NO_THEMES)
        return
    cells = _heatmap(key, by, filters, min_n)
    if cells.frame.empty:
        st.info("No theme mentions under these filters: nothing to compare.")
        return
    figure = charts.benchmark_heatmap_figure(cells.frame, views.BY_CHOICES[by])
    st.plotly_chart(figure, key="bench_heatmap")
    _png(figure, "benchmark_heatmap.png", "bench_heatmap_png")
    st.caption(views.heatmap_caption(cells, by, min_n))
    with st.expander("Heatmap as a table"):
        st.dataframe(cells.frame.drop(columns=["mark", "theme_id"]), hide_index=True,
                     key="bench_heatmap_table", column_config={
                         "estimate": NUMBER("share %", format="%.1f"),
                         "ci_low": NUMBER("95% low", format="%.1f"),
                         "ci_high": NUMBER("95% high", format="%.1f"),
                         "shrunk": NUMBER("shrunk %", format="%.1f"),
                         "network": NUMBER("network %", format="%.1f"),
                         "diff": NUMBER("vs rest (pts)", format="%.1f"),
                         "diff_low": NUMBER("vs rest 95% low", format="%.1f"),
                         "diff_high": NUMBER("vs rest 95% high", format="%.1f"),
                         "better_by": NUMBER("better by (pts)", format="%.1f"),
                         "p_value": NUMBER("p", format="%.2g"),
                         "q_value": NUMBER("q (BH)", format="%.2g")})
    _download("Heatmap table (CSV)", cells.frame.drop(columns=["mark"]),
              f"benchmark_themes_{by}.csv", "bench_heatmap_csv")


def _movers_section(key, metric: str, by: str, filters, min_n: int, table) -> None:
    st.subheader("Movers")
    moved = _movers(key, metric, by, filters, min_n)
    if moved is None:
        st.info("Pick a date range in the sidebar to compare it with the period just before.")
        return
    if moved.frame.empty:
        st.caption(views.movers_caption(moved, table.metric, filters, min_n))
        st.info(f"No {views.BY_CHOICES[by].lower()} has {min_n} responses in both periods.")
        return
    fmt = f"%.{views.digits(table.metric)}f"
    st.dataframe(moved.frame, hide_index=True, key="bench_movers", column_config={
        "group": views.BY_CHOICES[by],
        **{c: NUMBER(c.replace("_", " "), format=fmt) for c in
           ("before", "now", "shrunk_before", "shrunk_now", "shrunk_change", "change")},
        "change_low": NUMBER("change 95% low", format=fmt),
        "change_high": NUMBER("change 95% high", format=fmt),
        "p_value": NUMBER("p", format="%.2g"), "q_value": NUMBER("q (BH)", format="%.2g")})
    st.caption(views.movers_caption(moved, table.metric, filters, min_n))
    _download("Movers (CSV)", moved.frame, f"benchmark_movers_{metric}_{by}.csv",
              "bench_movers_csv")


@st.fragment
def _drivers_section(key, metric: str, filters) -> None:
    """Points per theme and the opportunity table: the location choice reruns this only."""
    st.subheader("Key drivers")
    if not _has_themes(key):
        st.info(views.NO_THEMES)
        return
    shown = views.driver_metric(metric)
    if shown != metric:
        modelled = ", ".join(views.METRIC_CHOICES[m] for m in DRIVER_METRICS)
        st.info(f"Key drivers are modelled for {modelled} only, not for "
                f"{views.METRIC_CHOICES[metric]}: showing "
                f"{views.METRIC_CHOICES[shown]} drivers.")
    places = [views.ALL_LOCATIONS, *_locations(key)]
    if st.session_state.get("bench_driver_location") not in places:
        st.session_state.pop("bench_driver_location", None)
    place = st.selectbox("Drivers for", places, key="bench_driver_location")
    found = _drivers(key, shown, None if place == views.ALL_LOCATIONS else place, filters)
    if found.frame.empty:
        st.info(f"Too few commented {views.METRIC_CHOICES[shown]} responses here to model "
                f"({found.n:,}; at least 30, and themes mentioned at least 20 times).")
        return
    figure = charts.drivers_figure(found.frame, views.METRIC_CHOICES[shown])
    st.plotly_chart(figure, key="bench_drivers")
    _png(figure, "key_drivers.png", "bench_drivers_png")
    st.caption(views.drivers_caption(found))
    st.markdown("**Opportunity** (sorted by the points to gain)")
    st.dataframe(found.frame.drop(columns=["theme_id"]), hide_index=True,
                 key="bench_opportunity", column_config={
                     "share": NUMBER("share %", format="%.1f"),
                     "points": NUMBER("points", format="%.2f"),
                     "ci_low": NUMBER("points 95% low", format="%.2f"),
                     "ci_high": NUMBER("points 95% high", format="%.2f"),
                     "p_value": NUMBER("p", format="%.2g"),
                     "best_quartile_share": NUMBER("best-quartile share %", format="%.1f"),
                     "opportunity": NUMBER("opportunity (pts)", format="%.2f"),
                     "opportunity_low": NUMBER("opportunity 95% low", format="%.2f"),
                     "opportunity_high": NUMBER("opportunity 95% high", format="%.2f")})
    _download("Key drivers (CSV)", found.frame, f"key_drivers_{shown}.csv", "bench_drivers_csv")


# ----------------------------------------------------------------------------- page

def _consistency_section(key) -> None:
    st.subheader("Consistently better or worse")
    months = int(st.number_input("Months running", min_value=2, max_value=12, value=3,
                                 key="bench_consistency_months"))
    found = _consistent(key, months)
    st.caption(f"Location and theme pairs whose theme share differed from the rest of the "
               f"network in the same direction in each of the last {months} complete months "
               "(two-proportion z test, p < 0.05 each month): practices to learn from, or "
               "locations that need help. One month's difference may be chance; "
               f"{months} in a row rarely is.")
    if not found:
        st.info("No location is consistently better or worse than the rest on a theme.")
        return
    frame = pd.DataFrame([{"location": f["location"], "theme": f["theme"],
                           "direction": f["direction"],
                           "shares": " / ".join(f"{v:.1f}%" for v in f["shares"]),
                           "rest of network": " / ".join(f"{v:.1f}%" for v in f["rest_shares"]),
                           "months": f"{f['months'][0]} to {f['months'][-1]}"}
                          for f in found])
    st.dataframe(frame, hide_index=True, key="bench_consistency")


def render() -> None:
    db, filters = page_start()
    key = db_key(db)
    st.title("Benchmarks")
    if (message := _empty(key)) is not None:
        st.info(message)
        return
    _choices_from_url()
    one, two, three = st.columns(3)
    metric = one.selectbox("Metric", list(views.METRIC_CHOICES), key="bench_metric",
                           format_func=views.METRIC_CHOICES.get)
    by = two.selectbox("Compare by", list(views.BY_CHOICES), key="bench_by",
                       format_func=views.BY_CHOICES.get)
    min_n = int(three.number_input("Minimum responses (n)", min_value=2, max_value=100_000,
                                   value=DEFAULT_MIN_N, step=5, key="bench_min_n",
                                   help="Groups with fewer are shown greyed, not tested and "
                                        "not ranked."))
    _choices_to_url(metric=metric, by=by)
    table = _ranked(key, metric, by, filters, min_n)
    net = table.bench.network
    if net.get("n"):
        st.metric(f"Network {table.metric.label}",
                  f"{net['estimate']:.{views.digits(table.metric)}f}", border=False)
    st.caption(views.network_caption(table.bench))
    if table.frame.empty:
        st.info(f"No {views.METRIC_CHOICES[metric]} answers with a "
                f"{views.BY_CHOICES[by].lower()} under these filters.")
    else:
        _ranked_section(table, by)
        _funnel_section(table)
    _heatmap_section(key, by, filters, min_n)
    if not table.frame.empty:
        _movers_section(key, metric, by, filters, min_n, table)
    _drivers_section(key, metric, filters)
    if _has_themes(key):
        _consistency_section(key)
    if not HAS_KALEIDO:
        st.caption("PNG: use the camera button (\"Download plot as png\") in each chart's "
                   "toolbar; the server cannot render PNGs without the kaleido package.")


render()

"""Plotly figures for the pages, built from the frames the analysis modules return.

    figure = nps_volume_figure(overview.volume_and_nps_over_time(db, filters, "W"))
    st.plotly_chart(figure)

Plain functions, no Streamlit: a page only places the figure. Plotly renders a subset of
HTML in axis labels, legend names and hover text, so every piece of user text (theme names,
comments, locations) goes through `plain_text` before it reaches a figure. Fixed labels of
our own are escaped too: escaping is a no-op for them and keeps the rule simple.
An empty frame gives a figure without traces; pages decide whether to show it or a message.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from analysis.themes.queries.base import UNTHEMED

MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}
SENTIMENT_COLOURS = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c",
                     "unscored": "#c7c7c7"}
OTHER_COLOUR = "#999"
UNTHEMED_COLOUR = "#c7c7c7"
# 24 distinct colours: parents are 6-15, so each keeps its own.
MAP_COLOURS = tuple(qualitative.Dark24)


def plain_text(text) -> str:
    """User text made inert for plotly, which renders a subset of HTML in labels."""
    return html.escape(str(text), quote=False)


# --------------------------------------------------------------------------- overview

def nps_volume_figure(series: pd.DataFrame) -> go.Figure:
    """Responses per period (bars, right axis) under NPS with its 95% band (left axis, on top).

    `series`: `overview.volume_and_nps_over_time` (period, volume, nps, nps_low, nps_high,
    nps_n)."""
    figure = go.Figure()
    if series.empty:
        return figure
    # Plotly draws an overlaying axis's traces above the base axis's, so the bars sit on the
    # base axis (drawn on the right) and NPS with its band on the overlay (drawn on the left):
    # the line stays readable over tall bars.
    figure.add_bar(x=series["period"], y=series["volume"], name="Responses",
                   marker_color="#c7d2fe", yaxis="y",
                   hovertemplate="%{x|%d %b %Y}<br>%{y:,} responses<extra></extra>")
    # The band is two invisible lines, the lower one filled up to the upper one.
    figure.add_scatter(x=series["period"], y=series["nps_high"], mode="lines", line_width=0,
                       showlegend=False, hoverinfo="skip", yaxis="y2")
    figure.add_scatter(x=series["period"], y=series["nps_low"], mode="lines", line_width=0,
                       fill="tonexty", fillcolor="rgba(79,70,229,0.15)", name="NPS 95% CI",
                       hoverinfo="skip", yaxis="y2")
    figure.add_scatter(x=series["period"], y=series["nps"], mode="lines+markers", name="NPS",
                       line_color="#4f46e5", customdata=series["nps_n"], yaxis="y2",
                       hovertemplate="%{x|%d %b %Y}<br>NPS %{y:.1f} (n=%{customdata})"
                                     "<extra></extra>")
    figure.update_layout(
        height=360, margin=MARGIN, legend_orientation="h",
        yaxis={"title": "Responses", "side": "right", "showgrid": False, "rangemode": "tozero",
               "tickformat": ",d"},
        yaxis2={"title": "NPS", "range": [-100, 100], "overlaying": "y", "side": "left",
                "tickvals": [-100, -50, 0, 50, 100], "showgrid": True, "zeroline": True},
    )
    return figure


# --------------------------------------------------------------------------- themes

def theme_location_figure(frame: pd.DataFrame) -> go.Figure:
    """A theme's share of comments per location, with Wilson 95% error bars.

    `frame`: `queries.theme_by_location` (location, n, share_pct, ci_low, ci_high)."""
    figure = go.Figure()
    if frame.empty:
        return figure
    figure.add_trace(go.Bar(
        x=[plain_text(v) for v in frame["location"]], y=frame["share_pct"],
        error_y={"type": "data", "array": frame["ci_high"] - frame["share_pct"],
                 "arrayminus": frame["share_pct"] - frame["ci_low"]},
        customdata=frame["n"],
        hovertemplate="%{x}: %{y:.1f}% (n=%{customdata})<extra></extra>"))
    figure.update_layout(yaxis_title="Share of comments (%)", height=320, margin=MARGIN)
    return figure


def theme_share_figure(frame: pd.DataFrame) -> go.Figure:
    """A theme's weekly share as a line, with its 95% interval as a shaded band.

    `frame`: `queries.theme_share_over_time` (period, n, share_pct, ci_low, ci_high)."""
    figure = go.Figure()
    if frame.empty:
        return figure
    figure.add_trace(go.Scatter(
        x=frame["period"], y=frame["share_pct"], mode="lines+markers", customdata=frame["n"],
        hovertemplate="Week of %{x|%Y-%m-%d}: %{y:.1f}% (n=%{customdata})<extra></extra>"))
    # The band is one closed polygon: along the upper bounds, then back along the lower ones.
    periods = list(frame["period"])
    figure.add_trace(go.Scatter(
        x=periods + periods[::-1],
        y=list(frame["ci_high"]) + list(frame["ci_low"])[::-1],
        fill="toself", line={"width": 0}, opacity=0.2, hoverinfo="skip", showlegend=False))
    figure.update_layout(yaxis_title="Weekly share (%)", showlegend=False, height=320,
                         margin=MARGIN)
    return figure


def sentiment_mix_figure(frame: pd.DataFrame) -> go.Figure:
    """Comments per sentiment label, one coloured bar each.

    `frame`: `queries.theme_sentiment_mix` (label, count). It always has the three
    labels, so the page shows the figure even when every count is 0."""
    figure = go.Figure()
    if frame.empty:
        return figure
    labels = [str(v) for v in frame["label"]]
    figure.add_trace(go.Bar(x=[plain_text(v) for v in labels], y=frame["count"],
                            marker_color=[SENTIMENT_COLOURS.get(v, OTHER_COLOUR)
                                          for v in labels]))
    figure.update_layout(yaxis_title="Comments", height=280, margin=MARGIN)
    return figure


def comment_map_figure(points: pd.DataFrame) -> go.Figure:
    """Comments placed by meaning, coloured by parent theme: one trace (legend entry) per
    parent, by name, Unthemed last and grey; hover names the comment's own theme and
    shows the comment.

    `points`: `queries.comment_map_points(...).frame` (x, y, theme, parent, comment); a
    frame without "parent" is coloured by theme. A dozen parents read apart at a glance,
    where a few hundred child themes would repeat plotly's ten colours over and over."""
    figure = go.Figure()
    by = "parent" if "parent" in points else "theme"
    groups = sorted(points.groupby(by, sort=True), key=lambda g: g[0] == UNTHEMED)
    for number, (parent, group) in enumerate(groups):
        colour = (UNTHEMED_COLOUR if parent == UNTHEMED
                  else MAP_COLOURS[number % len(MAP_COLOURS)])
        figure.add_trace(go.Scattergl(
            x=group["x"], y=group["y"], mode="markers", name=plain_text(parent),
            marker={"size": 5, "opacity": 0.7, "color": colour},
            customdata=[[plain_text(t), plain_text(c)]
                        for t, c in zip(group["theme"], group["comment"])],
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra>%{fullData.name}</extra>"))
    figure.update_layout(height=560, xaxis_visible=False, yaxis_visible=False, margin=MARGIN,
                         legend_title_text="Parent theme")
    return figure

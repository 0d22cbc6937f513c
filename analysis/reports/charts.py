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
import math

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


# --------------------------------------------------------------------------- trends

TREND_UNTESTED_COLOUR = "#e5e7eb"
ALERT_COLOURS = {True: "#d62728", False: "#ff7f0e"}  # crossed in that period, or carried on
RATIO_LIMIT = 3  # colours saturate at 8x and 1/8x the baseline share
# Rises are what the spike test looks for: reds run deep, falls stay pale blue.
RATIO_COLOURS = [[0.0, "#9ecae1"], [0.5, "#f7f7f7"], [0.67, "#fcbba1"], [0.83, "#ef3b2c"],
                 [1.0, "#67000d"]]


def _ratio_colour_value(ratio) -> float | None:
    """log2 of a share ratio, bounded, so that 2x and 1/2x sit equally far from 1x."""
    if ratio is None or pd.isna(ratio):
        return None
    return float(min(max(math.log2(max(float(ratio), 2.0 ** -RATIO_LIMIT)), -RATIO_LIMIT),
                     RATIO_LIMIT))


def _faded(colour: str, alpha: float = 0.15) -> str:
    """A "#rrggbb" colour as a see-through rgba() fill."""
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def spike_heatmap_figure(frame: pd.DataFrame, all_label: str = "All locations") -> go.Figure:
    """Themes (rows) x locations (columns), coloured by share / baseline share; cells the
    spike test flags carry their mark ("▲ q=0.002"); untested cells are grey with the
    reason on hover.

    `frame`: `views.trends.spike_heatmap(...).frame` (theme, location (None: all
    locations), observed, volume, expected, share, baseline_share, ratio, baseline_volume,
    p_value, q_value, tested, crossed, reason, mark)."""
    figure = go.Figure()
    if frame.empty:
        return figure
    places = [None if pd.isna(v) or not v else str(v) for v in frame["location"]]
    locations = [None] + sorted({v for v in places if v is not None})
    themes = sorted(set(frame["theme"]), key=lambda t: (str(t).casefold(), str(t)))
    x = [plain_text(all_label if loc is None else loc) for loc in locations]
    y = [plain_text(t) for t in themes]
    at = {(t, loc): row for t, loc, row in zip(frame["theme"], places,
                                               frame.itertuples(index=False))}
    grey, colour, marks, custom = [], [], [], []
    for theme in themes:
        grey_row, colour_row, mark_row, custom_row = [], [], [], []
        for loc in locations:
            row = at.get((theme, loc))
            if row is None:
                grey_row.append(None)
                colour_row.append(None)
                mark_row.append("")
                custom_row.append(["", "", "", "", "", "", "", "", ""])
                continue
            grey_row.append(None if row.tested else 1)
            colour_row.append(_ratio_colour_value(row.ratio) if row.tested else None)
            mark_row.append(row.mark)
            custom_row.append([
                f"{row.observed:,} of {row.volume:,}", f"{row.share * 100:.1f}%",
                f"{row.baseline_share * 100:.1f}% (n={row.baseline_volume:,})",
                f"{row.expected:.1f}",
                "n/a" if pd.isna(row.ratio) else f"{row.ratio:.2f}x",
                f"{row.p_value:.3g}", f"{row.q_value:.3g}",
                "flagged" if row.crossed else ("not flagged" if row.tested else ""),
                plain_text(row.reason)])
        grey.append(grey_row)
        colour.append(colour_row)
        marks.append(mark_row)
        custom.append(custom_row)
    figure.add_trace(go.Heatmap(
        x=x, y=y, z=grey, colorscale=[[0, TREND_UNTESTED_COLOUR], [1, TREND_UNTESTED_COLOUR]],
        showscale=False, customdata=custom, hoverongaps=False, xgap=2, ygap=2,
        hovertemplate="%{y} at %{x}<br>%{customdata[8]}<br>mentions %{customdata[0]}"
                      "<extra></extra>"))
    ticks = list(range(-RATIO_LIMIT, RATIO_LIMIT + 1))
    figure.add_trace(go.Heatmap(
        x=x, y=y, z=colour, zmin=-RATIO_LIMIT, zmax=RATIO_LIMIT, zmid=0,
        colorscale=RATIO_COLOURS, text=marks, texttemplate="%{text}", customdata=custom,
        hoverongaps=False, xgap=2, ygap=2,
        colorbar={"title": {"text": "Share vs<br>baseline"}, "tickvals": ticks,
                  "ticktext": [f"{2.0 ** t:g}x" for t in ticks]},
        hovertemplate="%{y} at %{x}<br>mentions %{customdata[0]} (%{customdata[1]})"
                      "<br>baseline share %{customdata[2]}<br>expected %{customdata[3]}, "
                      "ratio %{customdata[4]}<br>p = %{customdata[5]}, q = %{customdata[6]}"
                      " (%{customdata[7]})<extra></extra>"))
    figure.update_layout(height=max(260, 34 * len(themes) + 120), margin=MARGIN,
                         yaxis={"autorange": "reversed", "type": "category"},
                         xaxis={"side": "top", "type": "category"})
    return figure


def trend_lines_figure(frame: pd.DataFrame, markers: pd.DataFrame | None = None,
                       value_label: str = "Share (%)") -> go.Figure:
    """One line per location with a shaded band, and alert markers on top.

    `frame`: `views.trends.theme_share_lines(...).frame` or `metric_lines(...).frame` (line,
    period, value, low, high, n, count, band_low, band_high). Shares shade the spike test's
    expected range (band_low/high) and give the 95% interval on hover; scores shade their
    95% interval. `markers`: line, period, value, crossed, text."""
    figure = go.Figure()
    if frame.empty:
        return figure
    expected = "band_low" in frame and frame["band_low"].notna().any()
    low, high = ("band_low", "band_high") if expected else ("low", "high")
    band_name = "expected range if nothing changed (95%)" if expected else "95% interval"
    for number, (line, part) in enumerate(frame.groupby("line", sort=False)):
        part = part.sort_values("period")
        colour = MAP_COLOURS[number % len(MAP_COLOURS)]
        name = plain_text(line)
        figure.add_scatter(x=part["period"], y=part[high], mode="lines", line_width=0,
                           line_color=colour, showlegend=False, hoverinfo="skip",
                           legendgroup=name, connectgaps=False)
        figure.add_scatter(x=part["period"], y=part[low], mode="lines", line_width=0,
                           line_color=colour, fill="tonexty", fillcolor=_faded(colour),
                           name=f"{name}: {band_name}", legendgroup=name, hoverinfo="skip",
                           showlegend=number == 0, connectgaps=False)
        counts = [("" if c is None or pd.isna(c) else f"{int(c):,} of ") for c in
                  part["count"]]
        custom = [[f"{c}{int(n):,}", "n/a" if pd.isna(lo) else f"{lo:.1f}",
                   "n/a" if pd.isna(hi) else f"{hi:.1f}"]
                  for c, n, lo, hi in zip(counts, part["n"], part["low"], part["high"])]
        figure.add_scatter(x=part["period"], y=part["value"], mode="lines+markers", name=name,
                           line_color=colour, legendgroup=name, customdata=custom,
                           hovertemplate=f"{name}<br>%{{x|%Y-%m-%d}}: %{{y:.1f}} "
                                         "(95% interval %{customdata[1]} to "
                                         "%{customdata[2]}; n=%{customdata[0]})"
                                         "<extra></extra>")
    if markers is not None and not markers.empty:
        figure.add_scatter(
            x=markers["period"], y=markers["value"], mode="markers", name="Spike alert",
            marker={"symbol": "triangle-up", "size": 13,
                    "color": [ALERT_COLOURS[bool(c)] for c in markers["crossed"]],
                    "line": {"width": 1, "color": "#333"}},
            customdata=[plain_text(t) for t in markers["text"]],
            hovertemplate="%{customdata}<extra></extra>")
    figure.update_layout(height=380, margin=MARGIN, legend_orientation="h",
                         yaxis_title=plain_text(value_label), hovermode="closest")
    return figure


# --------------------------------------------------------------------------- benchmarks

BENCH_TOO_FEW_COLOUR = "#e5e7eb"
BENCH_LABEL_COLOURS = {"better": "#2166ac", "worse": "#d62728",
                       "not distinguishable": "#7f7f7f", "too few responses": "#c7c7c7"}
# Signed so that positive is better: red for worse, blue for better.
BENCH_COLOURS = [[0.0, "#b2182b"], [0.25, "#ef8a62"], [0.5, "#f7f7f7"], [0.75, "#67a9cf"],
                 [1.0, "#2166ac"]]


def _number(value, digits: int = 1) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def benchmark_heatmap_figure(frame: pd.DataFrame, group_label: str = "Location") -> go.Figure:
    """Themes (rows) x groups (columns), coloured by the group's share of the theme minus the
    rest of the network's, signed so red is worse; significant cells say "better"/"worse";
    cells with too few responses are grey.

    `frame`: `views.benchmarks.theme_heatmap(...).frame` (group, theme, n, mentions,
    estimate, ci_low, ci_high, network, diff, better_by, q_value, label, mark)."""
    figure = go.Figure()
    if frame.empty:
        return figure
    groups = sorted({str(g) for g in frame["group"]}, key=lambda g: (g.casefold(), g))
    themes = list(dict.fromkeys(str(t) for t in frame["theme"]))  # most mentioned first
    at = {(str(r.theme), str(r.group)): r for r in frame.itertuples(index=False)}
    grey, colour, marks, custom = [], [], [], []
    for theme in themes:
        rows = [at.get((theme, group)) for group in groups]
        too_few = [r is None or r.label == "too few responses" for r in rows]
        grey.append([1 if few and r is not None else None for r, few in zip(rows, too_few)])
        colour.append([None if few or pd.isna(r.better_by) else float(r.better_by)
                       for r, few in zip(rows, too_few)])
        marks.append(["" if r is None else r.mark for r in rows])
        custom.append([["", "", "", "", "", "", ""] if r is None else [
            f"{r.mentions:,} of {r.n:,}", _number(r.estimate),
            f"{_number(r.ci_low)} to {_number(r.ci_high)}", _number(r.network),
            _number(r.diff), _number(r.q_value, 3) if not pd.isna(r.q_value) else "n/a",
            plain_text(r.label)] for r in rows])
    values = [abs(v) for row in colour for v in row if v is not None]
    limit = max(5.0, min(max(values, default=5.0), 30.0))
    x = [plain_text(g) for g in groups]
    y = [plain_text(t) for t in themes]
    figure.add_trace(go.Heatmap(
        x=x, y=y, z=grey, colorscale=[[0, BENCH_TOO_FEW_COLOUR], [1, BENCH_TOO_FEW_COLOUR]],
        showscale=False, customdata=custom, hoverongaps=False, xgap=2, ygap=2,
        hovertemplate="%{y} at %{x}<br>%{customdata[6]}: mentions %{customdata[0]}"
                      "<extra></extra>"))
    figure.add_trace(go.Heatmap(
        x=x, y=y, z=colour, zmin=-limit, zmax=limit, zmid=0, colorscale=BENCH_COLOURS,
        text=marks, texttemplate="%{text}", customdata=custom, hoverongaps=False, xgap=2,
        ygap=2, colorbar={"title": {"text": "Better than<br>the rest (pts)"}},
        hovertemplate="%{y} at %{x}<br>share %{customdata[1]}% (95% interval "
                      "%{customdata[2]}; mentions %{customdata[0]})<br>network "
                      "%{customdata[3]}%, difference from the rest %{customdata[4]} pts"
                      "<br>q = %{customdata[5]}: %{customdata[6]}<extra></extra>"))
    figure.update_layout(height=max(280, 30 * len(themes) + 120), margin=MARGIN,
                         yaxis={"autorange": "reversed", "type": "category"},
                         xaxis={"side": "top", "type": "category",
                                "title": plain_text(group_label)})
    return figure


def funnel_figure(points: pd.DataFrame, limits: pd.DataFrame, network: float | None,
                  value_label: str) -> go.Figure:
    """Each group's raw value against its n, inside the 95% and 99.8% control limits around
    the network value (a group outside the 99.8% funnel is unlikely to be chance).

    `points`: group, n, estimate, label; `limits`: n, low95, high95, low998, high998."""
    figure = go.Figure()
    if points.empty:
        return figure
    if not limits.empty:
        for low, high, name, dash in (("low95", "high95", "95% limits", "dash"),
                                      ("low998", "high998", "99.8% limits", "dot")):
            for column, show in ((high, True), (low, False)):
                figure.add_scatter(x=limits["n"], y=limits[column], mode="lines",
                                   line={"color": "#6b7280", "dash": dash, "width": 1},
                                   name=name, legendgroup=name, showlegend=show,
                                   hoverinfo="skip")
    if network is not None:
        figure.add_hline(y=network, line={"color": "#111827", "width": 1},
                         annotation_text="network", annotation_position="top left")
    for label, part in points.groupby("label", sort=False):
        figure.add_scatter(
            x=part["n"], y=part["estimate"], mode="markers", name=plain_text(label),
            marker={"size": 10, "color": BENCH_LABEL_COLOURS.get(label, OTHER_COLOUR),
                    "line": {"width": 1, "color": "#333"}},
            customdata=[plain_text(g) for g in part["group"]],
            hovertemplate="%{customdata}: %{y:.2f} (n=%{x:,})<extra></extra>")
    figure.update_layout(height=380, margin=MARGIN, legend_orientation="h",
                         xaxis={"title": "Responses (n)", "type": "log"},
                         yaxis_title=plain_text(value_label))
    return figure


def drivers_figure(frame: pd.DataFrame, value_label: str = "NPS") -> go.Figure:
    """Score points per theme with 95% error bars: red where the theme costs points (the
    interval below zero), blue where it adds them, grey where the interval spans zero.

    `frame`: `views.benchmarks.key_drivers(...).frame` (theme, mentions, share, points,
    ci_low, ci_high, p_value)."""
    figure = go.Figure()
    if frame.empty:
        return figure
    part = frame.sort_values("points", ascending=False)
    colours = ["#d62728" if high < 0 else "#2166ac" if low > 0 else "#9ca3af"
               for low, high in zip(part["ci_low"], part["ci_high"])]
    figure.add_trace(go.Bar(
        y=[plain_text(t) for t in part["theme"]], x=part["points"], orientation="h",
        marker_color=colours,
        error_x={"type": "data", "array": part["ci_high"] - part["points"],
                 "arrayminus": part["points"] - part["ci_low"]},
        customdata=[[f"{lo:.1f}", f"{hi:.1f}", f"{m:,}", f"{s:.1f}", f"{p:.2g}"] for lo, hi,
                    m, s, p in zip(part["ci_low"], part["ci_high"], part["mentions"],
                                   part["share"], part["p_value"])],
        hovertemplate="%{y}: %{x:.1f} points (95% interval %{customdata[0]} to "
                      "%{customdata[1]}; p = %{customdata[4]})<br>mentioned in "
                      "%{customdata[2]} responses (%{customdata[3]}%)<extra></extra>"))
    figure.update_layout(height=max(260, 28 * len(part) + 100), margin=MARGIN,
                         xaxis_title=plain_text(f"{value_label} points when mentioned"),
                         yaxis={"autorange": "reversed", "type": "category"})
    return figure

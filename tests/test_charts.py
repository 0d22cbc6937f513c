"""Figures from analysis.reports.charts on small frames with known answers, user text escaped."""

from __future__ import annotations

from datetime import date

import pandas as pd

from analysis.reports import charts

HOSTILE = "<script>alert(1)</script> <b>bold</b> & co"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; co"


def _nps_series(periods=2) -> pd.DataFrame:
    return pd.DataFrame({
        "period": pd.date_range("2025-01-06", periods=periods, freq="W-MON"),
        "volume": [10, 20][:periods], "nps": [5.0, 10.0][:periods],
        "nps_low": [-5.0, 0.0][:periods], "nps_high": [15.0, 20.0][:periods],
        "nps_n": [9, 19][:periods]})


def _locations(names=("North", "South")) -> pd.DataFrame:
    return pd.DataFrame({"location": list(names), "n": [50, 40], "mentions": [30, 8],
                         "share_pct": [60.0, 20.0], "ci_low": [46.0, 10.0],
                         "ci_high": [72.0, 35.0], "method": ["Wilson", "Wilson"]})


def _weekly() -> pd.DataFrame:
    return pd.DataFrame({"period": [date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 17)],
                         "n": [10, 20, 30], "mentions": [1, 4, 9],
                         "share_pct": [10.0, 20.0, 30.0], "ci_low": [2.0, 8.0, 17.0],
                         "ci_high": [40.0, 42.0, 48.0]})


def _map_points(themes=("Staff", "Waiting time", "Staff"),
                comments=("rude", "long queue", "kind"), parents=None) -> pd.DataFrame:
    """Map points; each theme is its own parent unless `parents` are given."""
    n = len(themes)
    return pd.DataFrame({"feedback_id": range(1, n + 1),
                         "x": [0.0, 1.0, 2.0, 3.0][:n], "y": [0.5, 1.5, 2.5, 3.5][:n],
                         "theme": list(themes),
                         "parent": list(themes if parents is None else parents),
                         "comment": list(comments)})


# --------------------------------------------------------------------------- nps_volume_figure

def test_nps_volume_figure_has_bars_band_and_nps_line():
    figure = charts.nps_volume_figure(_nps_series())
    kinds = [(t.type, t.name) for t in figure.data]
    assert kinds == [("bar", "Responses"), ("scatter", None), ("scatter", "NPS 95% CI"),
                     ("scatter", "NPS")]
    assert list(figure.data[0].y) == [10, 20] and figure.data[0].yaxis == "y"
    # NPS on the overlaying axis: plotly draws it above the bars.
    assert {t.yaxis for t in figure.data[1:]} == {"y2"} and figure.layout.yaxis2.overlaying == "y"
    assert list(figure.data[1].y) == [15.0, 20.0] and list(figure.data[2].y) == [-5.0, 0.0]
    assert figure.data[2].fill == "tonexty"
    assert list(figure.data[3].y) == [5.0, 10.0] and list(figure.data[3].customdata) == [9, 19]
    assert tuple(figure.layout.yaxis2.range) == (-100, 100)


def test_nps_volume_figure_of_an_empty_series_has_no_traces():
    assert charts.nps_volume_figure(_nps_series().iloc[0:0]).data == ()


# --------------------------------------------------------------------------- theme_location_figure

def test_location_figure_has_one_bar_per_location_with_wilson_error_bars():
    figure = charts.theme_location_figure(_locations())
    (bar,) = figure.data
    assert list(bar.x) == ["North", "South"] and list(bar.y) == [60.0, 20.0]
    assert list(bar.error_y.array) == [12.0, 15.0]
    assert list(bar.error_y.arrayminus) == [14.0, 10.0]
    assert list(bar.customdata) == [50, 40]


def test_location_names_are_escaped_in_labels_and_hover():
    figure = charts.theme_location_figure(_locations((HOSTILE, "<b>South</b>")))
    assert list(figure.data[0].x) == [ESCAPED, "&lt;b&gt;South&lt;/b&gt;"]
    assert "<script>" not in figure.to_json()


def test_location_figure_of_an_empty_frame_has_no_traces():
    assert charts.theme_location_figure(_locations().iloc[0:0]).data == ()


# --------------------------------------------------------------------------- theme_share_figure

def test_share_figure_has_a_line_and_a_closed_interval_band():
    figure = charts.theme_share_figure(_weekly())
    line, band = figure.data
    assert list(line.y) == [10.0, 20.0, 30.0] and list(line.customdata) == [10, 20, 30]
    # Up along the upper bounds, back along the lower ones.
    assert list(band.y) == [40.0, 42.0, 48.0, 17.0, 8.0, 2.0]
    assert list(band.x) == [date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 17),
                            date(2025, 3, 17), date(2025, 3, 10), date(2025, 3, 3)]
    assert band.fill == "toself" and band.hoverinfo == "skip"


def test_share_figure_of_an_empty_frame_has_no_traces():
    assert charts.theme_share_figure(_weekly().iloc[0:0]).data == ()


# --------------------------------------------------------------------------- sentiment_mix_figure

def test_sentiment_figure_has_one_coloured_bar_per_label():
    frame = pd.DataFrame({"label": ["negative", "neutral", "positive", "unscored"],
                          "count": [3, 2, 5, 1], "share_pct": [27.3, 18.2, 45.5, 9.1]})
    (bar,) = charts.sentiment_mix_figure(frame).data
    assert list(bar.x) == ["negative", "neutral", "positive", "unscored"]
    assert list(bar.y) == [3, 2, 5, 1]
    assert list(bar.marker.color) == ["#d62728", "#7f7f7f", "#2ca02c", "#c7c7c7"]


def test_sentiment_figure_escapes_an_unknown_label_and_greys_it():
    frame = pd.DataFrame({"label": ["<b>odd</b>"], "count": [1], "share_pct": [100.0]})
    (bar,) = charts.sentiment_mix_figure(frame).data
    assert list(bar.x) == ["&lt;b&gt;odd&lt;/b&gt;"] and list(bar.marker.color) == ["#999"]


def test_sentiment_figure_of_an_empty_frame_has_no_traces():
    frame = pd.DataFrame({"label": [], "count": [], "share_pct": []})
    assert charts.sentiment_mix_figure(frame).data == ()


# --------------------------------------------------------------------------- comment_map_figure

def test_map_figure_has_one_trace_per_parent_with_its_points():
    figure = charts.comment_map_figure(_map_points(
        themes=("Staff", "Waiting time", "Parking", "Unthemed"),
        comments=("rude", "long queue", "no spaces", "fine"),
        parents=("Service", "Service", "Facilities", "Unthemed")))
    # By name, Unthemed last: the legend names parents.
    assert [t.name for t in figure.data] == ["Facilities", "Service", "Unthemed"]
    facilities, service, unthemed = figure.data
    assert list(service.x) == [0.0, 1.0] and list(facilities.x) == [2.0]
    # Hover names each comment's own (child) theme, then the comment.
    assert [list(c) for c in service.customdata] == [["Staff", "rude"],
                                                     ["Waiting time", "long queue"]]
    assert "customdata[0]" in service.hovertemplate and "customdata[1]" in service.hovertemplate
    assert all(t.type == "scattergl" and t.mode == "markers" for t in figure.data)
    # Each parent its own colour; comments without a theme in grey.
    assert facilities.marker.color != service.marker.color
    assert unthemed.marker.color == charts.UNTHEMED_COLOUR
    assert figure.layout.legend.title.text == "Parent theme"


def test_map_figure_without_parents_colours_by_theme():
    figure = charts.comment_map_figure(_map_points().drop(columns="parent"))
    assert [t.name for t in figure.data] == ["Staff", "Waiting time"]
    assert [list(c) for c in figure.data[0].customdata] == [["Staff", "rude"], ["Staff", "kind"]]


def test_map_figure_escapes_parent_and_theme_names_and_comments():
    figure = charts.comment_map_figure(
        _map_points(themes=(HOSTILE, "<i>x</i>"), comments=("<b>shout</b>", HOSTILE),
                    parents=(HOSTILE, HOSTILE)))
    (trace,) = figure.data
    assert trace.name == ESCAPED
    assert [list(c) for c in trace.customdata] == [[ESCAPED, "&lt;b&gt;shout&lt;/b&gt;"],
                                                   ["&lt;i&gt;x&lt;/i&gt;", ESCAPED]]
    assert "<script>" not in figure.to_json() and "<b>" not in figure.to_json()


def test_map_figure_of_no_points_has_no_traces():
    assert charts.comment_map_figure(_map_points(themes=(), comments=())).data == ()


def test_plain_text_leaves_quotes_alone_and_escapes_markup():
    assert charts.plain_text('Tom\'s "café" <i>&</i>') == 'Tom\'s "café" &lt;i&gt;&amp;&lt;/i&gt;'
    assert charts.plain_text(12) == "12"

"""Trends page under AppTest, on a demo store labelled with its true themes and swept from
its first day (so it holds the injected spike's alert: billing at Northgate in the truth's
spike week), on an empty store and on one without themes; and the views it is built from.

The seeded store is built once per module (about 5 s) and copied for every test, so no
test sees another's writes."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.reports import charts
from analysis.sweep import run_sweep
from analysis.trends import alerts, triggers
from analysis.trends.series import default_level
from analysis.views import trends as views

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "trends.py")
APP = str(ROOT / "app.py")
ACTOR = "ana@example.org"


def _aware(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """(store file, truth) of the seeded store, built once."""
    from analysis import demo
    from tests.stores import seed_truth_themes

    folder = tmp_path_factory.mktemp("trends_store")
    path = folder / "closeloop.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOSELOOP_DB", str(path))
        db = store.connect(path)
        # A fixed end: the rows drawn follow the clock (the same `now` gives the same rows).
        demo.generate_demo(db, rows=4000, seed=7, truth_path=folder / "truth.json",
                           actor="test", now=store.from_iso("2026-11-28T12:00:00Z"))
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        if not db.execute("SELECT COUNT(*) FROM themes").fetchone()[0]:
            seed_truth_themes(db, truth)
        run_sweep(db, now=_aware(truth["now"]),
                  since=date.fromisoformat(truth["period"]["start_date"]), actor="test")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    return path, truth


@pytest.fixture
def seeded(template, db_path):
    """A private copy of the seeded store at the test's CLOSELOOP_DB, and the truth."""
    shutil.copyfile(template[0], db_path)
    return db_path, template[1]


def _spike_alert(db, truth) -> dict:
    spike = truth["spike"]
    found = [a for a in alerts.list_alerts(db, status="all", granularity="week")
             if a["theme"] == spike["theme"] and a["location"] == spike["location"]
             and a["first_period"] <= spike["week_start"] <= a["period_start"]]
    assert len(found) == 1, found
    return found[0]


def _app(user: str | None = ACTOR) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if user:
        at.session_state["user"] = user
    return at.run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with `column` (AppTest does not expose a table's key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, column
    return found[0]


def _alert_row(at: AppTest, alert_id: int) -> pd.Series:
    table = _table(at, "flagged")
    return table[table["id"] == alert_id].iloc[0]


def _row(path, sql: str, params=()) -> tuple:
    db = store.connect(path)
    try:
        return tuple(db.execute(sql, list(params)).fetchone())
    finally:
        db.close()


# ----------------------------------------------------------------------------- views

def test_the_heatmap_flags_the_injected_spike_in_its_week_and_writes_nothing(seeded):
    path, truth = seeded
    db = store.connect(path)
    spike = truth["spike"]
    before = store.revision(db)
    heatmap = views.spike_heatmap(db, granularity="week", level=default_level(db),
                                  period=date.fromisoformat(spike["week_start"]))
    assert store.revision(db) == before
    crossed = heatmap.crossed
    cell = crossed[(crossed["theme"] == spike["theme"])
                   & (crossed["location"] == spike["location"])]
    assert len(cell) == 1
    assert cell["mark"].iloc[0].startswith("▲ q=")
    assert cell["observed"].iloc[0] == spike["spike_count"]
    # The sweep's own test: the alert's spike week has the same q.
    alert = _spike_alert(db, truth)
    (spike_week,) = [p for p in alerts.alert_periods(db, alert["id"])
                     if p["period_start"] == spike["week_start"]]
    assert spike_week["crossed"]
    assert cell["q_value"].iloc[0] == pytest.approx(spike_week["q_value"], rel=1e-6)
    # Untested cells say why; the settings the test ran with are shown.
    untested = heatmap.frame[~heatmap.frame["tested"]]
    assert len(untested) and untested["reason"].str.startswith("not tested:").all()
    assert (heatmap.frame.loc[heatmap.frame["tested"], "reason"] == "").all()
    assert "50 commented responses" in views.settings_caption(heatmap.settings, "week")
    # A week without a spike there flags nothing at that cell.
    quiet = views.spike_heatmap(db, granularity="week", level=default_level(db),
                                period=date.fromisoformat(spike["week_start"])
                                - timedelta(days=21))
    assert not ((quiet.crossed["theme"] == spike["theme"])
                & (quiet.crossed["location"] == spike["location"])).any()
    figure = charts.spike_heatmap_figure(heatmap.frame)
    assert any("▲ q=" in str(t) for trace in figure.data if trace.text is not None
               for row in trace.text for t in row)
    db.close()


def test_share_lines_carry_n_intervals_band_markers_and_a_trend_test(seeded):
    path, truth = seeded
    db = store.connect(path)
    spike = truth["spike"]
    theme_id = db.execute("SELECT id FROM themes WHERE name = ?", [spike["theme"]]).fetchone()[0]
    week = date.fromisoformat(spike["week_start"])
    lines = views.theme_share_lines(db, theme_id=theme_id, level=default_level(db),
                                    granularity="week", last=week + timedelta(days=14),
                                    periods=13, locations=[spike["location"]])
    frame = lines.frame
    assert set(frame["line"]) == {views.ALL_LABEL, spike["location"]}
    at_spike = frame[(frame["line"] == spike["location"]) & (frame["period"] == pd.Timestamp(week))]
    assert at_spike["count"].iloc[0] == spike["spike_count"]
    assert at_spike["low"].iloc[0] < at_spike["value"].iloc[0] < at_spike["high"].iloc[0]
    assert at_spike["value"].iloc[0] > at_spike["band_high"].iloc[0]  # out of its range
    markers = lines.markers
    # The spike's location; the network may cross that week too (the spike is in its sum).
    assert spike["location"] in set(markers["line"]) <= {spike["location"], views.ALL_LABEL}
    at_location = markers[markers["line"] == spike["location"]]
    assert at_location.loc[at_location["period"] == pd.Timestamp(week), "crossed"].tolist() \
        == [True]
    assert set(lines.trends["line"]) == set(frame["line"])
    summary = lines.trends["summary"].iloc[0]
    assert "95% interval" in summary and "p = " in summary and "GLM" in summary
    nps = views.metric_lines(db, metric="nps", granularity="week", last=week, periods=13)
    assert (nps.frame["low"] <= nps.frame["value"]).all() and (nps.frame["n"] > 0).all()
    assert "Mann-Kendall" in nps.trends["summary"].iloc[0]
    assert len(charts.trend_lines_figure(lines.frame, lines.markers).data) == 7
    db.close()


def test_false_alarm_wording_from_calibration_or_the_bound(tmp_path):
    assert views.load_calibration(tmp_path / "missing.json") is None
    bound = views.false_alarm_note(0.05, 60, None)
    assert "at most 5.0% of sweep periods" in bound and views.CALIBRATION_COMMAND in bound
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"fdr": {"0.05": {"false_alerts_per_100_cell_weeks": 0.1},
                                        "0.1": {"false_alerts_per_100_cell_weeks": 0.3}}}))
    calibration = views.load_calibration(path)
    assert views.calibrated_rate(0.05, calibration)[0] == pytest.approx(0.1)
    assert views.calibrated_rate(0.075, calibration)[0] == pytest.approx(0.2)
    assert views.calibrated_rate(0.2, calibration) == (0.3, pytest.approx(
        "the nearest calibrated level, FDR 10.0%"))
    note = views.false_alarm_note(0.05, 100, calibration)
    assert f"{0.1 / 100 * 100 * 4.35:.2f} false weekly alerts a month" in note
    assert "daily" not in note   # no daily rates calibrated: nothing said of days
    path.write_text(json.dumps({"fdr": {
        "0.05": {"false_alerts_per_100_cell_weeks": 0.1, "false_alerts_per_100_cell_days": 0.02},
        "0.1": {"false_alerts_per_100_cell_weeks": 0.3, "false_alerts_per_100_cell_days": 0.04}}}))
    calibration = views.load_calibration(path)
    assert views.calibrated_rate(0.075, calibration, "day")[0] == pytest.approx(0.03)
    note = views.false_alarm_note(0.05, 100, calibration, cells_per_day=50)
    assert f"{0.1 / 100 * 100 * 4.35:.2f} false weekly alerts a month" in note
    assert (f"about {0.02 / 100 * 50 * views.DAYS_PER_MONTH:.2f} false daily alerts a month"
            in note)
    assert "50 cells tested a day" in note


def test_the_link_to_themes_carries_the_episode_dates_and_location():
    alert = {"first_period": "2026-09-28", "period_end": "2026-10-04",
             "location": "Old Town & (East)", "theme_id": 7}
    link = views.themes_link(alert)
    assert link == ("themes?start=2026-09-28&end=2026-10-04&location=Old+Town+%26+%28East%29"
                    "&theme=7")
    assert views.themes_link({**alert, "location": None}) == \
        "themes?start=2026-09-28&end=2026-10-04&theme=7"


# ----------------------------------------------------------------------------- page

def test_the_page_shows_the_spike_alert_and_its_heatmap_cell(seeded):
    path, truth = seeded
    at = _app()
    _ok(at)
    assert at.title[0].value == "Trends"
    assert len(at.get("plotly_chart")) == 2  # heatmap and lines
    at.radio(key="trends_alert_status").set_value("all").run()
    _ok(at)
    db = store.connect(path)
    alert = _spike_alert(db, truth)
    db.close()
    row = _alert_row(at, alert["id"])
    assert row["first_period"] == truth["spike"]["week_start"]
    assert truth["spike"]["week_start"] in row["flagged"].split(", ") and row["min_q"] < 0.05
    assert row["alert"].startswith(f"{truth['spike']['theme']} at {truth['spike']['location']}")
    # The spike week's heatmap flags the cell.
    at.selectbox(key="trends_period_week").set_value(
        date.fromisoformat(truth["spike"]["week_start"])).run()
    _ok(at)
    crossed = _table(at, "baseline_pct")
    assert ((crossed["theme"] == truth["spike"]["theme"])
            & (crossed["location"] == truth["spike"]["location"])).any()
    captions = " ".join(c.value for c in at.caption)
    assert "cells tested" in captions and "at least 50 commented responses" in captions


def _page_on_the_spike_alert(path, truth) -> tuple[AppTest, int]:
    """The page, listing all alerts, with the injected spike's alert picked."""
    db = store.connect(path)
    alert_id = _spike_alert(db, truth)["id"]
    db.close()
    at = _app()
    at.radio(key="trends_alert_status").set_value("all").run()
    at.selectbox(key="trends_alert_pick").set_value(alert_id).run()
    return at, alert_id


def test_acknowledging_through_the_page_holds_through_a_sweep(seeded):
    path, truth = seeded
    at, alert_id = _page_on_the_spike_alert(path, truth)
    at.text_input(key=f"trends_ack_note_{alert_id}").input("Terminal <b>fixed</b>").run()
    at.button(key=f"trends_ack_{alert_id}").click().run()
    _ok(at)
    assert any("acknowledged" in s.value for s in at.success)
    assert _row(path, "SELECT review, reviewed_by, note FROM alerts WHERE id = ?",
                [alert_id]) == ("acknowledged", ACTOR, "Terminal <b>fixed</b>")
    assert _alert_row(at, alert_id)["review"] == "acknowledged"
    assert all("<b>" not in m.value for m in at.markdown)
    db = store.connect(path)
    run_sweep(db, now=_aware(truth["now"]), actor="test")
    run_sweep(db, now=_aware(truth["now"]),
              since=date.fromisoformat(truth["period"]["start_date"]), actor="test")
    db.close()
    assert _row(path, "SELECT review, reviewed_by FROM alerts WHERE id = ?",
                [alert_id]) == ("acknowledged", ACTOR)
    events = _row(path, "SELECT COUNT(*) FROM alert_events WHERE alert_id = ? AND "
                        "event = 'acknowledged' AND actor = ?", [alert_id, ACTOR])
    assert events == (1,)


def test_snoozing_through_the_page_stores_until_when(seeded):
    path, truth = seeded
    at, alert_id = _page_on_the_spike_alert(path, truth)
    until = store.utcnow().date() + timedelta(days=10)
    at.date_input(key=f"trends_snooze_until_{alert_id}").set_value(until).run()
    at.button(key=f"trends_snooze_{alert_id}").click().run()
    _ok(at)
    review, snoozed_until, by = _row(
        path, "SELECT review, snoozed_until, reviewed_by FROM alerts WHERE id = ?", [alert_id])
    assert (review, by) == ("snoozed", ACTOR)
    assert snoozed_until[:10] in (until.isoformat(), (until - timedelta(days=1)).isoformat())


def test_the_link_to_the_themes_page_is_filtered_to_the_alert(seeded):
    path, truth = seeded
    db = store.connect(path)
    alert = _spike_alert(db, truth)
    db.close()
    at = _app()
    at.radio(key="trends_alert_status").set_value("all").run()
    at.selectbox(key="trends_alert_pick").set_value(alert["id"]).run()
    links = [m.value for m in at.markdown if "themes?" in m.value]
    assert links == [("[Open the comments of this episode on the Themes page]"
                      f"({views.themes_link(alert)})")]
    assert f"location={alert['location']}" in links[0]
    assert f"theme={alert['theme_id']}" in links[0]


def test_the_rule_editor_saves_a_threshold_and_refuses_a_bad_one(seeded):
    path, _ = seeded
    rule_id = _row(path, "SELECT MIN(id) FROM trigger_rules")[0]
    at = _app()
    at.selectbox(key="trends_rule_pick").set_value(rule_id).run()
    at.number_input(key=f"trends_rule_share_pct_{rule_id}").set_value(20.0).run()
    at.button(key=f"trends_rule_save_{rule_id}").click().run()
    _ok(at)
    assert any("Rule saved" in s.value for s in at.success)
    assert _row(path, "SELECT share_above, updated_by FROM trigger_rules WHERE id = ?",
                [rule_id]) == (pytest.approx(0.2), ACTOR)
    history = at.dataframe[-1].value  # the rule's history, under the form
    assert list(history["event"])[-1] == "changed"
    assert "share_above: 0.15 → 0.2" in list(history["detail"])[-1]

    at.number_input(key=f"trends_rule_share_pct_{rule_id}").set_value(0.0).run()
    at.button(key=f"trends_rule_save_{rule_id}").click().run()
    _ok(at)
    assert any("Not done" in e.value for e in at.error)
    assert any(t.value.startswith("share above:") for t in at.text)
    assert _row(path, "SELECT share_above FROM trigger_rules WHERE id = ?",
                [rule_id]) == (pytest.approx(0.2),)


def test_a_new_rule_can_be_added(seeded):
    path, _ = seeded
    at = _app()
    at.selectbox(key="trends_rule_pick").set_value("new").run()
    at.text_input(key="trends_rule_name_new").input("Billing above 30%").run()
    at.number_input(key="trends_rule_share_pct_new").set_value(30.0).run()
    at.button(key="trends_rule_save_new").click().run()
    _ok(at)
    name, share, by = _row(path, "SELECT name, share_above, created_by FROM trigger_rules "
                                 "ORDER BY id DESC LIMIT 1")
    assert (name, share, by) == ("Billing above 30%", pytest.approx(0.3), ACTOR)
    assert at.selectbox(key="trends_rule_pick").value != "new"


def test_sensitivity_is_saved_and_a_bad_one_refused(seeded):
    path, _ = seeded
    at = _app()
    at.number_input(key="trends_fdr_pct").set_value(10.0).run()
    assert any("At FDR 10.0%" in c.value for c in at.caption)
    at.number_input(key="trends_min_count").set_value(3).run()
    at.button(key="trends_save_sensitivity").click().run()
    _ok(at)
    assert any("Sensitivity saved" in s.value for s in at.success)
    db = store.connect(path)
    saved = alerts.alert_settings(db)
    assert (saved.spikes.fdr, saved.spikes.min_count) == (pytest.approx(0.1), 3)
    db.close()
    assert any("false discovery rate 10.0%" in c.value for c in at.caption)

    at.number_input(key="trends_fdr_pct").set_value(60.0).run()
    at.button(key="trends_save_sensitivity").click().run()
    _ok(at)
    assert any(t.value.startswith("sensitivity (FDR)") for t in at.text)
    db = store.connect(path)
    assert alerts.alert_settings(db).spikes.fdr == pytest.approx(0.1)
    db.close()


@pytest.mark.usefixtures("seeded")
def test_run_sweep_now_says_what_it_did():
    at = _app()
    at.button(key="trends_sweep").click().run()
    _ok(at)
    assert any("Sweep finished" in s.value for s in at.success)
    assert any("spike alerts:" in t.value for t in at.text)
    assert any("The sweep last ran at" in c.value for c in at.caption)


@pytest.mark.usefixtures("seeded")
def test_a_score_metric_shows_its_interval_and_trend():
    at = _app()
    at.selectbox(key="trends_metric").set_value("nps").run()
    _ok(at)
    trends = _table(at, "direction")
    assert "Mann-Kendall" in trends["test"].iloc[0]


@pytest.mark.usefixtures("seeded")
def test_the_day_view_and_the_parent_level_run():
    at = _app()
    at.radio(key="trends_granularity").set_value("day").run()
    _ok(at)
    at.selectbox(key="trends_level").set_value("parent").run()  # no parents in this store
    _ok(at)
    assert any("No theme mentions" in i.value for i in at.info)


def test_empty_database_shows_a_message(db_path):
    store.connect(db_path).close()
    at = _app()
    _ok(at)
    assert any("No feedback yet" in i.value for i in at.info)


def test_a_store_without_themes_shows_a_message(db_path):
    from analysis.ingest.feedback import insert_feedback

    db = store.connect(db_path)
    with store.write_transaction(db):
        insert_feedback(db, [{"source": "t", "received_at": "2025-03-01T00:00:00Z",
                              "comment": "hello"}], batch_id=None, actor="test")
    db.close()
    at = _app()
    _ok(at)
    assert any("No themes yet" in i.value for i in at.info)


def test_a_read_only_store_renders_with_writes_switched_off(seeded):
    from tests.stores import no_write_permission

    path, _ = seeded
    with no_write_permission(path.parent, path):
        at = _app()
        _ok(at)
        assert not at.error
        assert at.button(key="trends_sweep").disabled
        assert at.button(key="trends_save_sensitivity").disabled


def test_the_page_is_in_the_navigation(seeded):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/trends.py").run()
    _ok(at)
    assert not at.error
    assert at.title[0].value == "Trends"


def test_rules_table_and_values_follow_the_rule_fields():
    values = views.rule_values(None)
    assert set(values) == set(triggers.RULE_FIELDS)
    assert values["share_above"] == pytest.approx(0.15)


def test_mean_sentiment_lines_carry_intervals_and_a_trend_test(db, monkeypatch):
    from tests.test_trends_series import W1, add_feedback, at

    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    # Four weeks at North, each a little less happy: 6 positive, then 5, 4, 3 of 8.
    for k, happy in enumerate((6, 5, 4, 3)):
        add_feedback(db, [(at(W1 + timedelta(weeks=k)), "North", 8, {})],
                     sentiment={j: "positive" if j < happy else "negative" for j in range(8)})
    found = views.metric_lines(db, metric="sentiment", granularity="week",
                               last=W1 + timedelta(weeks=3), periods=4, locations=["North"],
                               include_all=False, tz="UTC")
    rows = found.frame.sort_values("period")
    assert rows["value"].tolist() == pytest.approx([0.25, 0.125, 0.0, -0.125])
    assert (rows["low"] < rows["value"]).all() and (rows["value"] < rows["high"]).all()
    assert rows["n"].tolist() == [8, 8, 8, 8]
    assert "Mann-Kendall" in found.trends["test"].iloc[0]

"""Impact page under AppTest: an empty store, the scorecard against loop_health() on the
hand-built January case history of tests/test_loop_health.py (its fixture, its clock), the
owner table, the recovery funnel's counts, and an improvement's verdict on the truth demo.

The page runs on its own (AppTest.from_file) and, once app.py lists it, through app.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.improvements import records
from analysis.improvements.records import Improvement
from analysis.improvements.report import impact_report
from analysis.loop_health import loop_health, outcomes
from analysis.settings import get_settings
from analysis.views import impact as views
from tests.case_stores import add, response
from tests import test_loop_health as history
from tests.test_loop_health import FEB, JAN, NOW, at

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "impact.py")
APP = str(ROOT / "app.py")
DEMO_NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)  # conftest's DEMO_NOW


@pytest.fixture
def january(db):
    """tests/test_loop_health.py's January case history (its docstring works it out)."""
    return history.january.__wrapped__(db)


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    return NOW


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def _january_dates(at: AppTest) -> AppTest:
    at.radio(key="imp_period").set_value(0).run()
    return at.date_input(key="imp_dates").set_value((date(2025, 1, 1),
                                                     date(2025, 1, 31))).run()


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _table(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, column
    return found[0]


def _same(shown, expected) -> bool:
    if expected is None:
        return shown is None or pd.isna(shown)
    return shown == pytest.approx(expected)


def test_an_empty_store_shows_the_empty_state(db_path, clock):
    store.connect(db_path).close()
    at = _page()
    _ok(at)
    assert at.title[0].value == "Impact"
    infos = [i.value for i in at.info]
    assert views.NO_CASES in infos and views.NO_IMPROVEMENTS in infos
    assert not at.dataframe and not at.get("plotly_chart")
    # The default period: the last 8 complete weeks before the clock's week (Mon 10 Feb).
    assert at.radio(key="imp_period").value == 8
    assert "Period: 2024-12-16 to 2025-02-09 (56 days)" in at.caption[0].value


def test_the_scorecard_shows_loop_healths_figures_with_n_and_interval(january, clock):
    db, _ = january
    at = _page()
    _ok(at)
    start, end = views.last_weeks(NOW, 8, get_settings().timezone)
    default = loop_health(db, start=start, end=end, now=NOW)
    shown = _table(at, "status")
    assert shown["n"].tolist() == [f.n for _, f in default.figures()]

    at = _january_dates(at)
    _ok(at)
    expected = loop_health(db, start=JAN, end=FEB, now=NOW)
    shown = _table(at, "status").set_index("figure")
    assert len(shown) == len(expected.figures()) == 14
    for metric, figure in expected.figures():
        row = shown.loc[views.LABELS[metric]]
        scale = 60 if metric in views.MINUTES else 1
        assert row["n"] == figure.n, metric
        for column, value in (("value", figure.value), ("ci_low", figure.ci_low),
                              ("ci_high", figure.ci_high)):
            assert _same(row[column], None if value is None else value / scale), \
                (metric, column)
    # Hand-worked in tests/test_loop_health.py: acknowledged in 60, 120, 180, 300 minutes.
    ack = shown.loc[views.LABELS["acknowledge_median"]]
    assert ack["value"] == pytest.approx(2.5) and ack["n"] == 4
    assert ack["target"].startswith("critical 1 h (24/7), high 4 h")
    sla = shown.loc[views.LABELS["sla_met:acknowledge"]]
    assert sla["target"] == "90%"
    assert sla["status"] in ("above target (whole 95% interval)",
                             "below target (whole 95% interval)",
                             "95% interval includes the target: not distinguishable")
    assert "Figures (CSV)" in {b.proto.label for b in at.get("download_button")}
    # Another target is shown as the one used.
    at.number_input(key="imp_sla_target").set_value(50.0).run()
    assert _table(at, "status").set_index("figure").loc[
        views.LABELS["sla_met:acknowledge"], "target"] == "50%"


def test_the_owner_table_has_each_owners_figures(january, clock):
    db, cases = january
    at = _january_dates(_page())
    _ok(at)
    expected = loop_health(db, start=JAN, end=FEB, by="owner", now=NOW)
    table = _table(at, "close-the-loop %")
    owners = [g.group for g in expected.groups]
    assert "Agent 0" in owners
    shown = table[table["group"].isin(owners)].set_index("group")
    assert sorted(shown.index) == sorted(owners)
    for part in expected.groups:
        row = shown.loc[part.group]
        assert _same(row["resolve median (h)"],
                     None if part.resolve_median.value is None
                     else part.resolve_median.value / 60)
        assert row["resolve median (h) n"] == part.resolve_median.n
        assert _same(row["follow-up %"], part.follow_up_rate.value)
        assert _same(row["follow-up % low"], part.follow_up_rate.ci_low)
        assert row["follow-up % n"] == part.follow_up_rate.n
        assert row["open at end"] == part.backlog_open.value
    # Agent 0 resolved A (300 min) and B (360): both followed up.
    agent = shown.loc["Agent 0"]
    assert agent["resolve median (h)"] == pytest.approx(5.5)
    assert (agent["follow-up %"], agent["follow-up % n"]) == (100.0, 2)
    teams = [d.value for d in at.dataframe if "group" in d.value.columns]
    assert len(teams) == 2  # the owner table and the team table


def test_the_recovery_funnel_counts_each_step(january, clock):
    db, _ = january
    # A (followed up on the 8th) scores again higher; C (never followed up) lower.
    add(db, response("a", "nps", 8, at=at(1, month=2)), response("c", "nps", 2, at=at(2, 12,
                                                                                       month=2)))
    at_ = _january_dates(_page())
    _ok(at_)
    funnel = _table(at_, "customers")
    # Detractors A, B, C, D, I in January; all five have a recovery case opened then; A and
    # B were followed up; only A scored again, after its follow-up, and higher (3 -> 8).
    assert funnel["step"].tolist() == list(views.FUNNEL_STEPS)
    assert funnel["customers"].tolist() == [5, 5, 2, 1, 1]
    found = outcomes(db, start=JAN, end=FEB, now=NOW)
    assert sum(c.n for c in found.next_score_by_follow_up) == 1
    assert found.detractor_recovery.n == 2 and found.without_next_response == 3
    chart = at_.get("plotly_chart")
    assert any('"funnel"' in c.proto.spec for c in chart)
    comparison = _table(at_, "not followed up n")
    assert comparison[["followed up n", "not followed up n"]].values.tolist() == [[1, 1]]
    captions = " ".join(c.value for c in at_.caption)
    assert "Not the effect of following up: observational" in captions
    recovery = _table(at_, "not yet known").set_index("figure").iloc[0]
    assert (recovery["value"], recovery["n"], recovery["not yet known"]) == (50.0, 2, 3)
    assert recovery["ci_low"] < 50 < recovery["ci_high"]
    mix = _table(at_, "category").set_index("category")
    assert mix.loc["refund issued", "cases"] == 1 and mix.loc["other", "cases"] == 3


def test_a_shipped_improvements_verdict_is_shown(truth_demo, monkeypatch):
    db, truth, themes = truth_demo
    monkeypatch.setattr(store, "utcnow", lambda: DEMO_NOW)
    injected = truth["improvement"]
    with store.write_transaction(db):
        shipped = records.add_improvement(db, Improvement(
            title="Extra staff at peak", locations=(injected["location"],),
            theme_ids=(themes[injected["theme"]],),
            effective_date=date.fromisoformat(injected["date"]), status="shipped"),
            actor="test", now=DEMO_NOW)
        planned = records.add_improvement(db, replace(records.get_improvement(db, shipped),
                                                      id=None, title="Later",
                                                      status="planned"),
                                          actor="test", now=DEMO_NOW)
    at = _page()
    _ok(at)
    assert views.NO_CASES in [i.value for i in at.info]  # the demo has no cases
    table = _table(at, "verdict").set_index("id")
    report = impact_report(db, shipped, now=DEMO_NOW)
    row = table.loc[shipped]
    assert report.verdict.startswith("It worked") and row["verdict"] == report.verdict
    head = report.as_dict()
    assert row["effect"] == pytest.approx(head["effect"])
    assert row["ci_low"] < row["effect"] < row["ci_high"] < 0
    assert (row["n_before"], row["n_after"]) == (head["n_pre"], head["n_post"])
    assert table.loc[planned, "verdict"] == "not measured: not shipped"


def test_the_page_runs_through_the_app(january, clock):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/impact.py").run()
    _ok(at)
    assert at.title[0].value == "Impact"
    assert not _table(at, "status").empty


def test_the_weekly_report_can_be_downloaded(january, clock):
    at = _page()
    _ok(at)
    at.button(key="impact_report_prepare").click().run()
    _ok(at)
    [download] = [b for b in at.get("download_button") if "weekly report" in
                  str(b.proto.label).lower()]
    assert download is not None

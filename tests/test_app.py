"""The whole app through app.py with Streamlit's AppTest: navigation, shared filters kept in the
URL, and the Overview's figures checked against SQL written independently here.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
KPI_LABELS = ["NPS", "CSAT", "CES (1-7)", "Responses", "Negative feedback"]
PAGES = ["pages/overview.py", "pages/themes.py", "pages/trends.py", "pages/benchmarks.py",
         "pages/theme_quality.py", "pages/improvements.py", "pages/impact.py",
         "pages/cases.py",
         "pages/case_settings.py", "pages/templates.py", "pages/import.py",
         "pages/users.py"]


def test_the_page_list_holds_every_page():
    assert {Path(p).stem for p in PAGES} == {
        p.stem for p in (ROOT / "pages").glob("*.py") if p.stem != "__init__"}


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def number(text: str) -> float:
    match = re.search(r"[-+]?[\d,]*\.?\d+", str(text))
    assert match, f"no number in {text!r}"
    return float(match.group(0).replace(",", ""))


def rerun(at: AppTest) -> AppTest:
    """Run again on the default page, keeping app.py's sidebar widgets in the tree.

    Streamlit 1.67's AppTest quirk: a run that resumes on the page hash the previous run
    finished on drops the elements app.py itself draws before `navigation.run()` (our
    sidebar filters) from the element tree, and with them their widget state, so a second
    `run()` silently resets every filter. The real app does not do this (the browser
    journeys prove it); an empty hash makes AppTest request the default page as a fresh
    browser would.
    """
    if hasattr(at, "_finished_page_script_hash"):
        at._finished_page_script_hash = ""
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def default_period_sql(db) -> tuple[date, date]:
    """The default period, from the spec (the last 90 days up to the latest feedback, never
    before the first), computed here without analysis.views.overview."""
    first, last = db.execute("SELECT MIN(substr(received_at, 1, 10)), MAX(substr(received_at, 1, 10)) "
                             "FROM feedback").fetchone()
    first, last = date.fromisoformat(first), date.fromisoformat(last)
    return max(first, last - timedelta(days=89)), last


def nps_sql(db, start: date, end: date, location: str | None = None) -> tuple[float, int]:
    where = "score_type = 'nps' AND received_at >= ? AND received_at < ?"
    params = [f"{start}T00:00:00Z", f"{end + timedelta(days=1)}T00:00:00Z"]
    if location:
        where += " AND location = ?"
        params.append(location)
    promoters, detractors, n = db.execute(
        f"SELECT SUM(score >= 9), SUM(score <= 6), COUNT(*) FROM feedback WHERE {where}",
        params).fetchone()
    return 100.0 * (promoters - detractors) / n, n


def responses_sql(db, start: date, end: date, location: str | None = None) -> int:
    where = "received_at >= ? AND received_at < ?"
    params = [f"{start}T00:00:00Z", f"{end + timedelta(days=1)}T00:00:00Z"]
    if location:
        where += " AND location = ?"
        params.append(location)
    return db.execute(f"SELECT COUNT(*) FROM feedback WHERE {where}", params).fetchone()[0]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def busiest_location(db) -> str:
    return db.execute("SELECT location FROM feedback WHERE location IS NOT NULL GROUP BY location "
                      "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]


# --------------------------------------------------------------------------- seeded store

def test_the_app_runs_on_a_seeded_store_and_shows_the_kpis(seeded_db):
    at = app().run()
    assert_clean(at)
    assert at.title[0].value == "Overview"
    shown = metrics(at)
    assert list(shown) == KPI_LABELS
    assert all(re.search(r"\d", value) for value in shown.values()), shown


def test_overview_figures_match_independent_sql(seeded_db):
    at = app().run()
    assert_clean(at)
    start, end = default_period_sql(seeded_db)
    filters = at.session_state["filters"]
    assert (filters.start, filters.end) == (start, end)
    expected_nps, n = nps_sql(seeded_db, start, end)
    assert n > 0
    shown = metrics(at)
    assert number(shown["NPS"]) == pytest.approx(expected_nps, abs=0.051)
    assert number(shown["Responses"]) == responses_sql(seeded_db, start, end)
    assert at.query_params.get("start") == start.isoformat()
    assert at.query_params.get("end") == end.isoformat()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_a_seeded_store(seeded_db, page):
    at = app().run()
    at.switch_page(page).run()
    assert_clean(at)


# --------------------------------------------------------------------------- empty store

def test_the_app_runs_on_an_empty_store(db):
    at = app().run()
    assert_clean(at)
    assert any("No feedback yet" in info.value for info in at.info)
    assert not at.metric
    assert at.session_state["filters"].is_default()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_an_empty_store(db, page):
    at = app().run()
    at.switch_page(page).run()
    assert_clean(at)


# --------------------------------------------------------------------------- shared filters

def test_query_params_land_in_the_sidebar_and_the_filters(seeded_db):
    location = busiest_location(seeded_db)
    start, end = default_period_sql(seeded_db)
    start = start + timedelta(days=30)
    at = app()
    at.query_params["location"] = [location]
    at.query_params["start"] = start.isoformat()
    at.query_params["end"] = end.isoformat()
    at.run()
    assert_clean(at)
    assert at.multiselect(key="flt_locations").value == [location]
    assert tuple(at.date_input(key="flt_dates").value) == (start, end)
    filters = at.session_state["filters"]
    assert filters.locations == (location,)
    assert (filters.start, filters.end) == (start, end)
    expected_nps, _ = nps_sql(seeded_db, start, end, location)
    shown = metrics(at)
    assert number(shown["NPS"]) == pytest.approx(expected_nps, abs=0.051)
    assert number(shown["Responses"]) == responses_sql(seeded_db, start, end, location)
    # The link survives navigation: another page sees the same filters and the same URL.
    at.switch_page("pages/themes.py").run()
    assert_clean(at)
    assert at.session_state["filters"].locations == (location,)
    assert at.query_params.get("location") == location


def test_unknown_values_in_a_link_are_dropped_not_raised_on(seeded_db):
    at = app()
    at.query_params["location"] = ["Atlantis", busiest_location(seeded_db)]
    at.query_params["nps_group"] = ["promoters", "nonsense"]
    at.query_params["start"] = "not-a-date"
    at.run()
    assert_clean(at)
    assert at.multiselect(key="flt_locations").value == [busiest_location(seeded_db)]
    assert at.multiselect(key="flt_nps_groups").value == ["promoters"]


def test_changing_the_location_updates_the_url_and_the_figures(seeded_db):
    at = app().run()
    before = number(metrics(at)["Responses"])
    location = busiest_location(seeded_db)
    at.multiselect(key="flt_locations").set_value([location])
    rerun(at)
    assert_clean(at)
    assert at.query_params.get("location") == location
    assert at.session_state["filters"].locations == (location,)
    start, end = default_period_sql(seeded_db)
    after = number(metrics(at)["Responses"])
    assert after == responses_sql(seeded_db, start, end, location) < before
    at.multiselect(key="flt_locations").set_value([])
    rerun(at)
    assert "location" not in at.query_params
    assert number(metrics(at)["Responses"]) == before


def test_only_significant_changes_are_coloured_good_or_bad(seeded_db):
    from streamlit.proto.Metric_pb2 import Metric

    at = app().run()
    assert_clean(at)
    verdicts = []
    for column in at.columns:
        if not column.metric:
            continue
        captions = " ".join(c.value for c in column.caption)
        colour = Metric.MetricColor.Name(column.metric[0].proto.color)
        significant = "(significant)" in captions
        assert (colour != "GRAY") == significant, (column.metric[0].label, colour, captions)
        if significant:
            assert re.search(r"95% CI [+-][\d,.]+ to [+-][\d,.]+, p = ", captions) or \
                column.metric[0].label == "Responses", captions
        verdicts.append(significant)
    # The seeded demo has both kinds in its default period, so both branches are proven.
    assert len(verdicts) == len(KPI_LABELS) and any(verdicts) and not all(verdicts)


@pytest.mark.parametrize("link", [
    {"end": "9999-12-31"}, {"start": "0001-01-01", "end": "0001-01-03"},
    {"start": "2099-01-01"}, {"end": "1990-01-01"}, {"start": "2024-05-01", "end": "2024-04-01"},
])
@pytest.mark.parametrize("page", ["pages/overview.py", "pages/themes.py"])
def test_a_hand_edited_date_in_a_link_never_takes_a_page_down(seeded_db, link, page):
    at = app()
    for key, value in link.items():
        at.query_params[key] = value
    at.run()
    assert_clean(at)
    at.switch_page(page).run()
    assert_clean(at)
    start, end = at.session_state["flt_dates"]
    assert start <= end

from datetime import date

import pytest

from analysis import store
from analysis.domain.filters import Filters
from analysis.ingest import feedback
from analysis.views import overview


def _insert(db, rows):
    with store.write_transaction(db):
        feedback.insert_feedback(db, rows, batch_id=None, actor="test")


def _nps_rows(location, day, scores, start=0):
    return [{"source": "t", "external_id": f"{location}-{day}-{start + i}", "location": location,
             "received_at": f"{day}T12:00:00Z", "score_type": "nps", "score": s,
             "comment": "ok"} for i, s in enumerate(scores)]


@pytest.fixture
def two_months(db):
    # January: NPS 0 (10 promoters, 10 detractors). February: NPS +60 (16 promoters, 4 detractors).
    _insert(db, _nps_rows("North", "2025-01-10", [10] * 10 + [2] * 10))
    _insert(db, _nps_rows("North", "2025-02-10", [10] * 16 + [2] * 4))
    _insert(db, _nps_rows("South", "2025-02-11", [9] * 5 + [0] * 15))
    return db


def test_kpis_compare_with_the_previous_period_of_equal_length(two_months):
    f = Filters(start=date(2025, 2, 1), end=date(2025, 2, 28), locations=("North",))
    kpis = {k.key: k for k in overview.kpis(two_months, f)}
    assert kpis["nps"].current.value == pytest.approx(60.0)
    assert kpis["nps"].previous.value == pytest.approx(0.0)
    assert kpis["nps"].change.estimate == pytest.approx(60.0)
    assert kpis["nps"].change.p_value < 0.05
    assert kpis["volume"].current.value == 20
    assert kpis["negative"].current.value == pytest.approx(20.0)  # 4 of 20 are detractors


def test_kpis_without_dates_have_no_previous_period(two_months):
    kpis = {k.key: k for k in overview.kpis(two_months, Filters())}
    assert kpis["volume"].current.value == 60
    assert kpis["nps"].change.estimate is None


def test_kpis_on_an_empty_store(db):
    kpis = overview.kpis(db, Filters())
    assert all(k.current.value in (None, 0.0) for k in kpis)


def test_sentiment_label_overrides_the_score_for_negative_share(db):
    _insert(db, _nps_rows("North", "2025-01-10", [10, 10]))
    with store.write_transaction(db):
        db.execute("INSERT INTO sentiment VALUES (1, 'negative', -0.8, 0.9, 'test', '2025-01-11T00:00:00Z')")
    kpis = {k.key: k for k in overview.kpis(db, Filters())}
    assert kpis["negative"].current.value == pytest.approx(50.0)


def test_weekly_series_groups_by_monday(two_months):
    series = overview.volume_and_nps_over_time(two_months, Filters(), "W")
    assert [p.date() for p in series["period"]] == [date(2025, 1, 6), date(2025, 2, 10)]
    assert series["volume"].tolist() == [20, 40]


def test_location_table_finds_the_worse_location(two_months):
    table = overview.location_table(two_months, Filters(start=date(2025, 2, 1), end=date(2025, 2, 28)))
    by_location = table.set_index("location")
    assert by_location.loc["North", "nps"] == pytest.approx(60.0)
    assert by_location.loc["South", "nps"] == pytest.approx(-50.0)
    assert by_location.loc["South", "nps_high"] < by_location.loc["North", "nps_low"]


def test_default_period_is_the_last_90_days_of_data(two_months):
    assert overview.default_period(two_months) == (date(2025, 1, 10), date(2025, 2, 11))

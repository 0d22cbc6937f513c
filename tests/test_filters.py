from datetime import date

from analysis import store
from analysis.domain.filters import Filters, clamp_dates, date_bounds, filter_options
from analysis.ingest import feedback


def test_query_params_round_trip():
    f = Filters(start=date(2025, 1, 1), end=date(2025, 3, 31), locations=("North", "South"),
                nps_groups=("detractors",))
    params = f.to_query_params()
    assert params == {"start": "2025-01-01", "end": "2025-03-31", "location": ["North", "South"],
                      "nps_group": ["detractors"]}
    assert Filters.from_query_params(params) == f


def test_bad_query_params_are_dropped_not_raised():
    f = Filters.from_query_params({"start": "yesterday", "end": "2025-02-30",
                                   "nps_group": ["promoters", "<script>"], "location": ""})
    assert f == Filters(nps_groups=("promoters",))


def test_reversed_dates_are_swapped():
    f = Filters.from_query_params({"start": "2025-05-01", "end": "2025-01-01"})
    assert (f.start, f.end) == (date(2025, 1, 1), date(2025, 5, 1))


def test_previous_period_has_equal_length_and_ends_the_day_before():
    prev = Filters(start=date(2025, 3, 1), end=date(2025, 3, 31)).previous_period()
    assert (prev.start, prev.end) == (date(2025, 1, 29), date(2025, 2, 28))
    assert Filters().previous_period() is None


def _seed(db):
    rows = [
        {"source": "t", "received_at": "2025-01-31T23:59:59Z", "location": "North", "score_type": "nps", "score": 10, "comment": "a"},
        {"source": "t", "received_at": "2025-02-01T00:00:00Z", "location": "South", "score_type": "nps", "score": 3, "comment": "b"},
        {"source": "t", "received_at": "2025-02-02T00:00:00Z", "location": "South", "score_type": "csat", "score": 5, "comment": "c"},
    ]
    with store.write_transaction(db):
        feedback.insert_feedback(db, rows, batch_id=None, actor="t")


def _count(db, f):
    where, params = f.where_sql()
    return db.execute(f"SELECT COUNT(*) FROM feedback f WHERE {where}", params).fetchone()[0]


def test_where_sql_applies_inclusive_dates_dimensions_and_nps_groups(db):
    _seed(db)
    assert _count(db, Filters()) == 3
    assert _count(db, Filters(end=date(2025, 1, 31))) == 1
    assert _count(db, Filters(start=date(2025, 2, 1))) == 2
    assert _count(db, Filters(locations=("South",))) == 2
    assert _count(db, Filters(nps_groups=("detractors",))) == 1
    assert _count(db, Filters(nps_groups=("promoters", "detractors"))) == 2


def test_options_and_bounds(db):
    assert date_bounds(db) is None
    _seed(db)
    assert filter_options(db)["locations"] == ["North", "South"]
    assert date_bounds(db) == (date(2025, 1, 31), date(2025, 2, 2))


def test_dates_too_close_to_the_ends_of_the_calendar_are_dropped_from_a_link():
    f = Filters.from_query_params({"start": "0001-01-01", "end": "9999-12-31"})
    assert (f.start, f.end) == (None, None)


def test_the_last_day_of_the_calendar_is_a_valid_end_for_sql():
    where, params = Filters(start=date(9999, 12, 1), end=date(9999, 12, 31)).where_sql()
    assert params[-1] == "9999-12-31T23:59:59Z"


def test_a_period_reaching_back_past_year_one_has_no_previous_period():
    assert Filters(start=date(1, 1, 1), end=date(1, 1, 10)).previous_period() is None


def test_clamp_dates_keeps_a_range_inside_the_data_and_in_order():
    bounds = (date(2024, 1, 1), date(2024, 12, 31))
    assert clamp_dates((date(2099, 1, 1), None), bounds) == (date(2024, 12, 31), date(2024, 12, 31))
    assert clamp_dates((None, date(1990, 1, 1)), bounds) == (date(2024, 1, 1), date(2024, 1, 1))
    assert clamp_dates((date(2024, 5, 1),), bounds) == (date(2024, 5, 1), date(2024, 12, 31))
    assert clamp_dates((date(2024, 6, 1), date(2024, 3, 1)), bounds) == (date(2024, 3, 1),
                                                                          date(2024, 6, 1))

"""Counts, shares and scores per period (`analysis.trends.series`) on small hand-built
stores, plus the builders the other trends tests use.

The store of most tests here (UTC, weeks of 2025-01-06, 01-13 and 01-20):
  Parents "Money" (10: Billing 1, Refund 2) and "Place" (11: Parking 3); "Old" (4) merged
  into nothing, "Gone" (5) retired.
  Week 01-06: North 10 commented (Billing on the first 4, Refund on the first 2: the two
    overlap, Old on 5), South 5 (Billing 1, Parking 2, Gone 3), no location 5 (Billing 5).
  Week 01-13: nothing at all.
  Week 01-20: North 20 (Billing 2), plus 3 blank comments that count nowhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis import store
from analysis.ingest.feedback import insert_feedback
from analysis.stats.estimates import nps_from_counts
from analysis.store.clock import to_iso
from analysis.themes.queries import CHILD, PARENT
from analysis.trends import series
from analysis.trends.series import ALL_LOCATIONS, cell_counts, theme_share_series

T0 = "2025-01-01T00:00:00Z"
LOAD = datetime(2025, 12, 31, tzinfo=UTC)


# ------------------------------------------------------------------ builders


def add_theme(db, theme_id: int, name: str, *, parent_id: int | None = None,
              is_parent: bool = False, status: str = "active") -> int:
    with store.write_transaction(db):
        db.execute("INSERT INTO themes (id, name, is_parent, parent_id, status, created_at, "
                   "created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'test', ?)",
                   [theme_id, name, int(is_parent), parent_id, status, T0, T0])
    return theme_id


def add_feedback(db, cells, *, comment: bool = True, score: int = 8,
                 sentiment: dict[int, str] | None = None) -> list[int]:
    """Per (moment, location, n, mentions) in `cells`: n commented responses at `moment`
    and `location` (None: no location), the first mentions[theme] of them assigned to each
    theme. `sentiment`: row index within the cell -> label, for every cell. Returns the
    feedback ids in order."""
    start = db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    rows, assignments, labels, k = [], [], [], start
    for moment, location, n, mentions in cells:
        for j in range(n):
            external = f"r{k}"
            rows.append({"external_id": external, "source": "test",
                         "comment": f"comment number {k}" if comment else "  ",
                         "received_at": to_iso(moment), "location": location,
                         "score_type": "nps", "score": score})
            assignments += [(external, t) for t, m in mentions.items() if j < m]
            if sentiment and j in sentiment:
                labels.append((external, sentiment[j]))
            k += 1
    with store.write_transaction(db):
        insert_feedback(db, rows, batch_id=None, actor="test", now=LOAD)
        ids = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
        db.conn.executemany(
            "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
            "origin, assigned_at) VALUES (?, ?, 0.9, 0, 'analyst', ?)",
            [(ids[e], t, T0) for e, t in assignments])
        db.conn.executemany(
            "INSERT INTO sentiment (feedback_id, label, score, confidence, method, scored_at) "
            "VALUES (?, ?, ?, 0.9, 'test', ?)",
            [(ids[e], label, {"negative": -0.5, "neutral": 0.0, "positive": 0.5}[label], T0)
             for e, label in labels])
    return [ids[r["external_id"]] for r in rows]


def add_weeks(db, first_monday: date, location: str | None, volumes, mentions: dict,
              *, weekday: int = 2, **options) -> None:
    """Week k (from `first_monday`): volumes[k] responses at `location`, on the week's
    `weekday` at noon UTC, mentions[theme][k] of them mentioning each theme. `options`
    go to `add_feedback`."""
    add_feedback(db, [
        (datetime.combine(first_monday + timedelta(weeks=k, days=weekday),
                          datetime.min.time(), UTC) + timedelta(hours=12),
         location, int(n), {t: int(m[k]) for t, m in mentions.items()})
        for k, n in enumerate(volumes) if n], **options)


# ------------------------------------------------------------------ the store above

W1, W2, W3 = date(2025, 1, 6), date(2025, 1, 13), date(2025, 1, 20)
BILLING, REFUND, PARKING, OLD, GONE, MONEY, PLACE = 1, 2, 3, 4, 5, 10, 11


def at(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=2), datetime.min.time(), UTC) + \
        timedelta(hours=9)


@pytest.fixture
def small(db, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    add_theme(db, MONEY, "Money", is_parent=True)
    add_theme(db, PLACE, "Place", is_parent=True)
    add_theme(db, BILLING, "Billing", parent_id=MONEY)
    add_theme(db, REFUND, "Refund", parent_id=MONEY)
    add_theme(db, PARKING, "Parking", parent_id=PLACE)
    add_theme(db, OLD, "Old", parent_id=MONEY, status="merged")
    add_theme(db, GONE, "Gone", parent_id=PLACE, status="retired")
    add_feedback(db, [
        (at(W1), "North", 10, {BILLING: 4, REFUND: 2, OLD: 5}),
        (at(W1), "South", 5, {BILLING: 1, PARKING: 2, GONE: 3}),
        (at(W1), None, 5, {BILLING: 5}),
        (at(W3), "North", 20, {BILLING: 2}),
    ], sentiment={0: "negative", 1: "positive", 2: "negative"})
    add_feedback(db, [(at(W3), "North", 3, {BILLING: 3})], comment=False)
    return db


def _as_dict(frame: pd.DataFrame, value: str, keys: list[str]) -> dict:
    return {tuple(row[k] for k in keys): int(row[value]) for _, row in frame.iterrows()}


def test_volume_per_period_and_location_with_the_all_locations_cell(small):
    counts = cell_counts(small, granularity="week", first=W1, last=W3, level=CHILD)
    assert counts.periods == ["2025-01-06", "2025-01-13", "2025-01-20"]
    assert _as_dict(counts.volume, "commented", ["period", "location"]) == {
        ("2025-01-06", "North"): 10, ("2025-01-06", "South"): 5,
        ("2025-01-06", ALL_LOCATIONS): 20,   # the 5 without a location count here only
        ("2025-01-20", "North"): 20, ("2025-01-20", ALL_LOCATIONS): 20,
    }


def test_child_mentions_leave_out_merged_and_retired_themes(small):
    counts = cell_counts(small, granularity="week", first=W1, last=W3, level=CHILD)
    assert _as_dict(counts.mentions, "mentions", ["period", "theme_id", "location"]) == {
        ("2025-01-06", BILLING, "North"): 4, ("2025-01-06", REFUND, "North"): 2,
        ("2025-01-06", BILLING, "South"): 1, ("2025-01-06", PARKING, "South"): 2,
        ("2025-01-06", BILLING, ALL_LOCATIONS): 10, ("2025-01-06", REFUND, ALL_LOCATIONS): 2,
        ("2025-01-06", PARKING, ALL_LOCATIONS): 2,
        ("2025-01-20", BILLING, "North"): 2, ("2025-01-20", BILLING, ALL_LOCATIONS): 2,
    }


def test_a_parent_counts_a_comment_once_when_two_children_mention_it(small):
    counts = cell_counts(small, granularity="week", first=W1, last=W3, level=PARENT)
    found = _as_dict(counts.mentions, "mentions", ["period", "theme_id", "location"])
    # North: Billing on rows 0..3, Refund on 0..1 -> 4 comments, not 6; Old (merged) on
    # 0..4 adds nothing. South: Parking 2, Gone (retired) adds nothing.
    assert found == {
        ("2025-01-06", MONEY, "North"): 4, ("2025-01-06", MONEY, "South"): 1,
        ("2025-01-06", PLACE, "South"): 2, ("2025-01-06", MONEY, ALL_LOCATIONS): 10,
        ("2025-01-06", PLACE, ALL_LOCATIONS): 2,
        ("2025-01-20", MONEY, "North"): 2, ("2025-01-20", MONEY, ALL_LOCATIONS): 2,
    }


def test_a_retired_parent_counts_nothing(small):
    with store.write_transaction(small):
        small.execute("UPDATE themes SET status = 'retired' WHERE id = ?", [PLACE])
    counts = cell_counts(small, granularity="week", first=W1, last=W3, level=PARENT)
    assert set(counts.mentions["theme_id"]) == {MONEY}


def test_sentiment_sums_per_cell(small):
    counts = cell_counts(small, granularity="week", first=W1, last=W1, level=CHILD)
    north = counts.mentions[(counts.mentions["theme_id"] == BILLING)
                            & (counts.mentions["location"] == "North")].iloc[0]
    # Rows 0 and 2 negative, row 1 positive, row 3 unscored.
    assert (north["negative"], north["sentiment_n"]) == (2, 3)
    assert north["sentiment_sum"] == pytest.approx(-0.5)


def test_share_series_has_every_period_with_wilson_intervals(small):
    counts = cell_counts(small, granularity="week", first=W1, last=W3, level=CHILD)
    frame = theme_share_series(counts, BILLING)
    north = frame[frame["location"] == "North"].set_index("period")
    assert list(north.index) == ["2025-01-06", "2025-01-13", "2025-01-20"]
    assert north.loc["2025-01-06", ["mentions", "commented"]].tolist() == [4, 10]
    assert north.loc["2025-01-06", "share"] == pytest.approx(40.0)
    low, high = proportion_confint(4, 10, method="wilson")
    assert north.loc["2025-01-06", "share_low"] == pytest.approx(low * 100)
    assert north.loc["2025-01-06", "share_high"] == pytest.approx(high * 100)
    assert north.loc["2025-01-06", "negative_share"] == pytest.approx(50.0)
    assert north.loc["2025-01-06", "mean_sentiment"] == pytest.approx(-0.5 / 3)
    # The week without feedback is there, empty: zero mentions, zero responses, no share.
    assert north.loc["2025-01-13", ["mentions", "commented"]].tolist() == [0, 0]
    assert pd.isna(north.loc["2025-01-13", "share"])
    assert north.loc["2025-01-20", "share"] == pytest.approx(10.0)


def test_share_series_all_locations_is_location_none_and_counts_unlocated_feedback(small):
    counts = cell_counts(small, granularity="week", first=W1, last=W3, level=CHILD)
    frame = theme_share_series(counts, BILLING)
    network = frame[frame["location"].isna()].set_index("period")
    assert network.loc["2025-01-06", ["mentions", "commented"]].tolist() == [10, 20]
    south = frame[frame["location"] == "South"].set_index("period")
    # A theme a location never mentions in a period it has responses: zero, not missing.
    parking = theme_share_series(counts, PARKING)
    north_parking = parking[parking["location"] == "North"].set_index("period")
    assert north_parking.loc["2025-01-06", ["mentions", "commented", "share"]].tolist() == \
        [0, 10, 0.0]
    assert south.loc["2025-01-06", "share"] == pytest.approx(20.0)


def test_share_series_for_some_locations(small):
    counts = cell_counts(small, granularity="week", first=W1, last=W3, level=CHILD)
    frame = theme_share_series(counts, BILLING, locations=["South"])
    assert set(frame["location"]) == {"South"}
    assert len(frame) == 3


def test_daily_counts_and_an_empty_store(db, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    empty = cell_counts(db, granularity="day", first=W1, last=W1 + timedelta(days=2),
                        level=CHILD)
    assert list(empty.volume.columns) == ["period", "location", "commented", "negative",
                                          "sentiment_sum", "sentiment_n"]
    assert empty.mentions.empty and empty.volume.empty
    assert empty.periods == ["2025-01-06", "2025-01-07", "2025-01-08"]
    assert theme_share_series(empty, 1).empty
    add_theme(db, 1, "Billing")
    add_feedback(db, [(datetime(2025, 1, 7, 23, 59, tzinfo=UTC), "North", 3, {1: 1}),
                      (datetime(2025, 1, 8, 0, 0, tzinfo=UTC), "North", 2, {1: 2})])
    counts = cell_counts(db, granularity="day", first=W1, last=W1 + timedelta(days=2),
                         level=CHILD)
    north = counts.volume[counts.volume["location"] == "North"]
    assert dict(zip(north["period"], north["commented"])) == {"2025-01-07": 3,
                                                              "2025-01-08": 2}


def test_default_level_is_parent_only_when_an_active_parent_exists(db):
    add_theme(db, 1, "Billing")
    assert series.default_level(db) == CHILD
    add_theme(db, 2, "Money", is_parent=True, status="retired")
    assert series.default_level(db) == CHILD
    add_theme(db, 3, "Place", is_parent=True)
    assert series.default_level(db) == PARENT


# ------------------------------------------------------------------ scores


def test_score_series_gives_nps_with_its_interval_per_week_and_location(db, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    # North, week 1: 5 promoters, 3 passives, 2 detractors -> NPS 30; week 2: all promoters.
    for score, n in ((10, 5), (7, 3), (2, 2)):
        add_feedback(db, [(at(W1), "North", n, {})], score=score)
    add_feedback(db, [(at(W2), "North", 4, {})], score=9)
    add_feedback(db, [(at(W1), None, 2, {})], score=0, comment=False)
    frame = series.score_series(db, granularity="week", first=W1, last=W2)
    nps = frame[frame["metric"] == "nps"].set_index(["period", "location"])
    expected = nps_from_counts(5, 3, 2)
    row = nps.loc[("2025-01-06", "North")]
    assert (row["value"], row["n"]) == (pytest.approx(30.0), 10)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(expected.ci_low),
                                               pytest.approx(expected.ci_high))
    assert row["ci_low"] < 30 < row["ci_high"]
    assert nps.loc[("2025-01-13", "North"), "value"] == pytest.approx(100.0)
    # Feedback without a location is left out per location, counted over all of them.
    assert set(frame["location"]) == {"North"}
    overall = series.score_series(db, granularity="week", first=W1, last=W2,
                                  by_location=False)
    total = overall[(overall["metric"] == "nps") & (overall["period"] == "2025-01-06")]
    assert total["n"].tolist() == [12]
    assert total["value"].iloc[0] == pytest.approx((5 - 4) / 12 * 100)
    assert overall["location"].isna().all()


def test_score_series_on_falling_weeks_feeds_a_falling_trend(db, monkeypatch):
    from analysis.trends.trend import metric_trend

    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    for k, promoters in enumerate((18, 16, 13, 11, 8, 6)):
        week = W1 + timedelta(weeks=k)
        add_feedback(db, [(at(week), "North", promoters, {})], score=10)
        add_feedback(db, [(at(week), "North", 20 - promoters, {})], score=3)
    frame = series.score_series(db, granularity="week", first=W1, last=W1 + timedelta(weeks=5))
    values = frame[frame["metric"] == "nps"].sort_values("period")["value"].tolist()
    assert values == pytest.approx([80, 60, 30, 10, -20, -40])
    assert metric_trend(values).direction == "falling"


def test_score_series_gives_csat_ces_negative_share_and_sentiment_with_intervals(db,
                                                                                 monkeypatch):
    from analysis.stats.estimates import csat_from_counts, mean_from_sums

    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    rows = [{"external_id": f"s{k}", "source": "test", "comment": f"comment {k}",
             "received_at": to_iso(at(W1)), "location": "North", "score_type": kind,
             "score": score}
            for k, (kind, score) in enumerate([("csat", 5), ("csat", 4), ("csat", 2),
                                               ("csat", 1), ("ces", 6), ("ces", 2)])]
    with store.write_transaction(db):
        insert_feedback(db, rows, batch_id=None, actor="test", now=LOAD)
        ids = [i for (i,) in db.execute("SELECT id FROM feedback ORDER BY id")]
        db.conn.executemany(
            "INSERT INTO sentiment (feedback_id, label, score, confidence, method, scored_at) "
            "VALUES (?, ?, ?, 0.9, 'test', ?)",
            [(i, label, value, T0) for i, (label, value) in zip(ids, [
                ("positive", 0.8), ("positive", 0.4), ("negative", -0.6), ("negative", -0.9),
                ("neutral", 0.1), ("negative", -0.2)])])
    frame = series.score_series(db, granularity="week", first=W1, last=W1)
    got = frame.set_index("metric")
    csat = csat_from_counts(2, 4)
    assert got.loc["csat", "value"] == pytest.approx(50.0) and got.loc["csat", "n"] == 4
    assert got.loc["csat", "ci_low"] == pytest.approx(csat.ci_low)
    assert got.loc["ces", "value"] == pytest.approx(4.0) and got.loc["ces", "n"] == 2
    assert got.loc["negative_share", "value"] == pytest.approx(50.0)
    assert got.loc["negative_share", "n"] == 6
    scores = [0.8, 0.4, -0.6, -0.9, 0.1, -0.2]
    expected = mean_from_sums("Mean sentiment", 6, sum(scores), sum(x * x for x in scores))
    assert got.loc["sentiment", "value"] == pytest.approx(sum(scores) / 6)
    assert (got.loc["sentiment", "ci_low"], got.loc["sentiment", "ci_high"]) == (
        pytest.approx(expected.ci_low), pytest.approx(expected.ci_high))
    assert got.loc["sentiment", "ci_low"] < got.loc["sentiment", "value"] < \
        got.loc["sentiment", "ci_high"]

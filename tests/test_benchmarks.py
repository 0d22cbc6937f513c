"""Cross-location benchmarks (`analysis.benchmarks.metrics` and `.ranking`) on small
hand-built stores whose answers are worked out by hand in each test, plus a null
simulation (no true difference anywhere) and the demo's planted "worse location".

`add_rows` (below) is the builder tests/test_drivers.py and tests/test_benchmarks_cli.py
use too.
"""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, date, datetime

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from analysis import store
from analysis.benchmarks import ranking
from analysis.benchmarks.metrics import Metric, MetricError, group_sums, metric_for
from analysis.benchmarks.ranking import benchmark, benchmark_many, funnel_limits
from analysis.domain.filters import Filters
from analysis.ingest.feedback import insert_feedback
from analysis.store.clock import from_iso, to_iso
from tests.test_trends_series import add_theme

Z = 1.959963984540054          # the 97.5% normal quantile
LOAD = datetime(2025, 12, 31, tzinfo=UTC)
DAY = datetime(2025, 3, 5, 12, tzinfo=UTC)
LABELS = {"better", "worse", "not distinguishable", "too few responses"}


# ------------------------------------------------------------------ builders


def add_rows(db, rows: list[dict]) -> list[int]:
    """One response per dict: score_type, score and any feedback field (location, segment,
    channel, touchpoint, comment, received_at as a datetime); `themes`: theme ids it is
    assigned to; `sentiment`: its label. A comment is written unless given. Returns ids."""
    start = db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    records, assignments, labels = [], [], []
    for k, row in enumerate(rows, start=start):
        external = f"b{k}"
        record = {"external_id": external, "source": "test", "comment": f"comment {k}",
                  "received_at": to_iso(DAY)}
        for key, value in row.items():
            if key in ("themes", "sentiment"):
                continue
            record[key] = to_iso(value) if key == "received_at" else value
        records.append(record)
        assignments += [(external, t) for t in row.get("themes", ())]
        if row.get("sentiment"):
            labels.append((external, row["sentiment"]))
    with store.write_transaction(db):
        insert_feedback(db, records, batch_id=None, actor="test", now=LOAD)
        ids = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
        db.conn.executemany(
            "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
            "origin, assigned_at) VALUES (?, ?, 0.9, 0, 'analyst', '2025-01-01T00:00:00Z')",
            [(ids[e], t) for e, t in assignments])
        db.conn.executemany(
            "INSERT INTO sentiment (feedback_id, label, score, confidence, method, scored_at) "
            "VALUES (?, ?, ?, 0.9, 'test', '2025-01-01T00:00:00Z')",
            [(ids[e], label, {"negative": -0.5, "neutral": 0.0, "positive": 0.5}[label])
             for e, label in labels])
    return [ids[r["external_id"]] for r in records]


def scores(score_type: str, location: str, values, **fields) -> list[dict]:
    return [{"score_type": score_type, "score": v, "location": location, **fields}
            for v in values]


def csat(location: str, satisfied: int, n: int) -> list[dict]:
    """n CSAT answers at `location`, `satisfied` of them 5, the rest 2."""
    return scores("csat", location, [5] * satisfied + [2] * (n - satisfied))


def nps(location: str, promoters: int, passives: int, detractors: int) -> list[dict]:
    return scores("nps", location, [10] * promoters + [8] * passives + [3] * detractors)


def by_group(rows: list[dict]) -> dict[str, dict]:
    return {r["group"]: r for r in rows}


def wilson(hits: int, n: int) -> tuple[float, float]:
    """The Wilson score interval, from its formula, in %."""
    p = hits / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (centre - half) * 100, (centre + half) * 100


def two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def bh(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg q-values by their definition: min over j >= i of p_(j) m / j."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = running
    return q


def fake_sums(monkeypatch, sums: list[dict]) -> None:
    """Make `benchmark` read these per-group sums instead of a store's."""
    monkeypatch.setattr(ranking, "group_sums", lambda db, metric, by, filters: sums)


def share_sums(group: str, hits: int, n: int) -> dict:
    return {"group": group, "n": n, "total": 100.0 * hits, "total_sq": 1e4 * hits}


def nps_sums(group: str, promoters: int, passives: int, detractors: int) -> dict:
    return {"group": group, "n": promoters + passives + detractors,
            "total": 100.0 * (promoters - detractors),
            "total_sq": 1e4 * (promoters + detractors)}


# ------------------------------------------------------------------ metrics: the sums


def test_nps_sums_count_promoters_plus_100_passives_0_detractors_minus_100(db):
    add_rows(db, scores("nps", "North", [10, 9, 8, 7, 6, 0])
             + scores("nps", "South", [10, 10, 3])
             + scores("nps", None, [0, 0]) + scores("nps", "", [0])    # no location
             + scores("csat", "North", [1, 1])                          # not an NPS answer
             + [{"score_type": "nps", "score": None, "location": "North"}])
    got = group_sums(db, Metric.parse("nps"), by="location")
    assert got == [{"group": "North", "n": 6, "total": 0.0, "total_sq": 40000.0},
                   {"group": "South", "n": 3, "total": 100.0, "total_sq": 30000.0}]


def test_csat_counts_100_for_a_4_or_5_and_0_below(db):
    add_rows(db, scores("csat", "North", [5, 4, 3, 2, 1]) + scores("nps", "North", [10]))
    got = group_sums(db, Metric.parse("csat"))
    assert got == [{"group": "North", "n": 5, "total": 200.0, "total_sq": 20000.0}]


def test_ces_and_rating_sum_the_answers_themselves(db):
    add_rows(db, scores("ces", "North", [1, 4, 7]) + scores("rating", "North", [2, 4.5])
             + scores("ces", "South", [6]))
    assert by_group(group_sums(db, Metric.parse("ces")))["North"] == \
        {"group": "North", "n": 3, "total": 12.0, "total_sq": 66.0}
    assert group_sums(db, Metric.parse("rating")) == \
        [{"group": "North", "n": 2, "total": 6.5, "total_sq": 24.25}]


def test_negative_takes_the_sentiment_label_else_the_score_band(db):
    add_rows(db, [
        {"score_type": "nps", "score": 10, "location": "North", "sentiment": "negative"},
        {"score_type": "nps", "score": 0, "location": "North", "sentiment": "positive"},
        {"score_type": "csat", "score": 2, "location": "North"},                # band: neg
        {"score_type": "csat", "score": 3, "location": "North"},                # neutral
        {"score_type": None, "score": None, "location": "North", "sentiment": "negative"},
        {"score_type": None, "score": None, "location": "North"},               # nothing
    ])
    got = group_sums(db, Metric.parse("negative"))
    assert got == [{"group": "North", "n": 5, "total": 300.0, "total_sq": 30000.0}]


@pytest.fixture
def themed(db):
    """Parent Money (10) over Billing (1) and Refund (2), its child Old (4) merged, and
    Gone (5) retired. North: 6 commented responses + 2 blank ones; South: 2."""
    add_theme(db, 10, "Money", is_parent=True)
    add_theme(db, 1, "Billing", parent_id=10)
    add_theme(db, 2, "Refund", parent_id=10)
    add_theme(db, 4, "Old", parent_id=10, status="merged")
    add_theme(db, 5, "Gone", status="retired")
    add_rows(db, [
        {"score_type": "nps", "score": 3, "location": "North", "themes": [1, 2]},
        {"score_type": "nps", "score": 3, "location": "North", "themes": [1]},
        {"score_type": "nps", "score": 3, "location": "North", "themes": [4]},
        {"score_type": "nps", "score": 3, "location": "North", "themes": [5]},
        {"score_type": "nps", "score": 3, "location": "North"},
        {"score_type": "nps", "score": 3, "location": "North", "themes": [2]},
        {"score_type": "nps", "score": 3, "location": "North", "themes": [1], "comment": " "},
        {"score_type": "nps", "score": 3, "location": "North", "themes": [1], "comment": None},
        {"score_type": "nps", "score": 3, "location": "South", "themes": [2]},
        {"score_type": "nps", "score": 3, "location": "South"},
    ])
    return db


@pytest.mark.parametrize(("theme_id", "north", "south"), [
    (1, 2, 0),    # Billing
    (2, 2, 1),    # Refund
    (10, 3, 1),   # Money: the first comment mentions both children and counts once
    (4, 0, 0),    # merged
    (5, 0, 0),    # retired
])
def test_theme_share_counts_commented_responses_and_a_parent_counts_its_active_children(
        themed, theme_id, north, south):
    got = by_group(group_sums(themed, Metric.parse(f"theme:{theme_id}")))
    assert (got["North"]["n"], got["South"]["n"]) == (6, 2)     # blank comments left out
    assert (got["North"]["total"], got["South"]["total"]) == (100.0 * north, 100.0 * south)


def test_a_merged_childs_comments_do_not_count_for_its_parent(themed):
    # The third North comment is only under Old (merged into nothing): not Money's.
    got = by_group(group_sums(themed, Metric.parse("theme:10")))
    assert got["North"]["total"] == 300.0


def test_rows_without_the_grouping_value_are_left_out_for_every_dimension(db):
    for by in ("segment", "channel", "touchpoint"):
        add_rows(db, [{"score_type": "csat", "score": 5, "location": "North", by: "x"},
                      {"score_type": "csat", "score": 1, "location": "North", by: "y"},
                      {"score_type": "csat", "score": 1, "location": "North", by: "y"},
                      {"score_type": "csat", "score": 1, "location": "North", by: None},
                      {"score_type": "csat", "score": 1, "location": "North", by: ""}])
        got = group_sums(db, Metric.parse("csat"), by=by)
        assert [(r["group"], r["n"], r["total"]) for r in got] == \
            [("x", 1, 100.0), ("y", 2, 0.0)], by
        db.execute("DELETE FROM feedback")


def test_sums_respect_the_date_and_location_filters(db):
    add_rows(db, scores("csat", "North", [5], received_at=datetime(2025, 1, 10, tzinfo=UTC))
             + scores("csat", "North", [1], received_at=datetime(2025, 1, 31, 23, tzinfo=UTC))
             + scores("csat", "North", [5, 5], received_at=datetime(2025, 2, 1, tzinfo=UTC))
             + scores("csat", "South", [5], received_at=datetime(2025, 2, 1, tzinfo=UTC)))
    metric = Metric.parse("csat")

    def summary(filters):
        return [(r["group"], r["n"], r["total"]) for r in group_sums(db, metric,
                                                                      filters=filters)]

    assert summary(Filters(start=date(2025, 2, 1))) == [("North", 2, 200.0),
                                                        ("South", 1, 100.0)]
    # The end day is inclusive: 23:00 on 31 January is in.
    assert summary(Filters(start=date(2025, 1, 11), end=date(2025, 1, 31))) == \
        [("North", 1, 0.0)]
    assert summary(Filters(locations=("South",))) == [("South", 1, 100.0)]


@pytest.mark.parametrize("text", ["NPS2", "theme:", "theme:abc", "sentiment", ""])
def test_an_unknown_metric_is_refused_naming_it(text):
    with pytest.raises(MetricError, match="metric must be one of") as caught:
        Metric.parse(text)
    assert repr(text) in str(caught.value)


def test_an_unknown_grouping_is_refused_naming_it(db):
    with pytest.raises(MetricError, match="'region'"):
        group_sums(db, Metric.parse("nps"), by="region")
    with pytest.raises(MetricError, match="'region'"):
        benchmark(db, Metric.parse("nps"), by="region")


def test_a_theme_that_does_not_exist_is_refused_naming_it(db):
    with pytest.raises(MetricError, match="no theme 99"):
        metric_for(db, "theme:99")


def test_metric_for_takes_a_themes_direction_from_its_mentions_sentiment(db):
    add_theme(db, 1, "Dirty floors")
    add_theme(db, 2, "Friendly staff")
    add_rows(db, [{"score_type": "nps", "score": 5, "location": "North", "themes": [1],
                   "sentiment": s} for s in ("negative", "negative", "negative", "positive")]
             + [{"score_type": "nps", "score": 5, "location": "North", "themes": [2],
                 "sentiment": s} for s in ("positive", "positive", "positive", "negative")])
    dirty, friendly = metric_for(db, "theme:1"), metric_for(db, "theme:2")
    assert (dirty.higher_is_better, dirty.label, dirty.theme_id) == \
        (False, "Dirty floors share %", 1)
    assert (friendly.higher_is_better, friendly.label) == (True, "Friendly staff share %")
    assert metric_for(db, "nps") == Metric.parse("nps")


# ------------------------------------------------------------------ ranking: by hand


def test_csat_estimate_wilson_interval_and_difference_against_the_rest(db):
    add_rows(db, csat("A", 30, 40) + csat("B", 20, 40) + csat("C", 25, 40))
    bench = benchmark(db, Metric.parse("csat"))
    a = by_group(bench.rows)["A"]
    assert a["n"] == 40 and a["estimate"] == pytest.approx(75.0)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(wilson(30, 40))
    assert a["network"] == pytest.approx(75 / 120 * 100)
    # The rest is B and C only (45 of 80), never the network with A inside it.
    rest = 45 / 80
    assert a["diff"] == pytest.approx(75 - rest * 100)
    var_a = 40 / 39 * 0.75 * 0.25 * 1e4                  # sample variances of 0/100 values
    var_rest = 80 / 79 * rest * (1 - rest) * 1e4
    se = math.sqrt(var_a / 40 + var_rest / 80)
    assert (a["diff_low"], a["diff_high"]) == pytest.approx(
        (a["diff"] - Z * se, a["diff"] + Z * se))
    # The test's error is the null's: the network's variance (75 of 120) on both sides.
    net = 75 / 120
    null_se = math.sqrt(120 / 119 * net * (1 - net) * 1e4 * (1 / 40 + 1 / 80))
    assert a["p_value"] == pytest.approx(two_sided_p(a["diff"] / null_se))
    assert a["p_value"] != pytest.approx(two_sided_p(a["diff"] / se))
    assert bench.network["n"] == 120


def test_nps_interval_is_the_wald_interval_of_the_trinomial(db):
    add_rows(db, nps("A", 12, 5, 3) + nps("B", 1, 1, 0))
    a, b = by_group(benchmark(db, Metric.parse("nps")).rows).values()
    p, d = 12 / 20, 3 / 20
    se = math.sqrt((p + d - (p - d) ** 2) / 20) * 100
    assert a["estimate"] == pytest.approx(45.0)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((45 - Z * se, 45 + Z * se))
    # Cut at the scale's end: 1 promoter and 1 passive give 50 +- 98.
    assert (b["estimate"], b["ci_high"]) == (50.0, 100.0)


def test_ces_interval_is_students_t_on_the_mean(db):
    add_rows(db, scores("ces", "A", [2, 4, 4, 5, 7]))
    row = benchmark(db, Metric.parse("ces")).rows[0]
    half = 2.7764451051977987 * statistics.stdev([2, 4, 4, 5, 7]) / math.sqrt(5)
    assert row["estimate"] == pytest.approx(4.4)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((4.4 - half, 4.4 + half))


def test_q_values_are_benjamini_hochberg_over_the_groups_tested(db):
    add_rows(db, csat("A", 36, 40) + csat("B", 20, 40) + csat("C", 25, 40)
             + csat("D", 27, 40) + csat("Tiny", 1, 5))
    rows = benchmark(db, Metric.parse("csat")).rows
    tested = [r for r in rows if r["p_value"] is not None]
    assert {r["group"] for r in tested} == {"A", "B", "C", "D"}    # Tiny is not tested
    expected = multipletests([r["p_value"] for r in tested], method="fdr_bh")[1]
    assert [r["q_value"] for r in tested] == pytest.approx(list(expected))
    assert [r["q_value"] for r in tested] == pytest.approx(bh([r["p_value"] for r in tested]))


def test_labels_better_worse_not_distinguishable_and_too_few(db):
    add_rows(db, csat("Good", 180, 200) + csat("Bad", 60, 200) + csat("Mid", 120, 200)
             + csat("Tiny", 10, 10))
    rows = by_group(benchmark(db, Metric.parse("csat")).rows)
    assert {g: r["label"] for g, r in rows.items()} == {
        "Good": "better", "Bad": "worse", "Mid": "not distinguishable",
        "Tiny": "too few responses"}
    assert {r["label"] for r in rows.values()} <= LABELS
    assert (rows["Tiny"]["rank"], rows["Tiny"]["p_value"], rows["Tiny"]["q_value"],
            rows["Tiny"]["diff"]) == (None, None, None, None)
    assert [rows[g]["rank"] for g in ("Good", "Mid", "Bad")] == [1, 2, 3]
    # min_n moves the line: at 10 the 10-response branch is tested.
    assert by_group(benchmark(db, Metric.parse("csat"), min_n=10).rows)["Tiny"]["label"] \
        != "too few responses"


def test_a_higher_negative_share_is_worse_and_ranks_last(db):
    def rows(location, negative, n):
        return scores("csat", location, [1] * negative + [5] * (n - negative))

    add_rows(db, rows("Angry", 120, 200) + rows("Calm", 20, 200) + rows("Mid", 60, 200))
    bench = benchmark(db, Metric.parse("negative"))
    assert bench.metric.higher_is_better is False
    got = by_group(bench.rows)
    assert (got["Angry"]["label"], got["Calm"]["label"]) == ("worse", "better")
    assert got["Angry"]["diff"] > 0
    assert [r["group"] for r in bench.rows] == ["Calm", "Mid", "Angry"]
    assert [r["rank"] for r in bench.rows] == [1, 2, 3]


def test_ranks_follow_the_shrunk_value_not_the_raw_one(monkeypatch):
    # Small: 31 of 33 (93.9%) raw; Big: 850 of 1,000 (85%). Shrinkage pulls Small far
    # toward the network, so Big, better measured, ranks first.
    fake_sums(monkeypatch, [share_sums("Small", 31, 33), share_sums("Big", 850, 1000)]
              + [share_sums(f"L{k}", 450 + 40 * k, 1000) for k in range(6)])
    bench = benchmark(None, Metric.parse("csat"))
    got = by_group(bench.rows)
    assert got["Small"]["estimate"] > got["Big"]["estimate"]
    assert got["Small"]["shrunk"] < got["Big"]["shrunk"]
    assert got["Big"]["rank"] < got["Small"]["rank"]
    ranked = sorted((r for r in bench.rows if r["rank"]), key=lambda r: r["rank"])
    assert [r["shrunk"] for r in ranked] == sorted((r["shrunk"] for r in ranked),
                                                   reverse=True)


@pytest.mark.parametrize("metric", ["csat", "nps"])
def test_a_tiny_location_with_an_extreme_value_does_not_top_the_table(monkeypatch, metric):
    if metric == "csat":
        sums = [share_sums("Tiny", 5, 5)] + [share_sums(f"L{k}", 60 + 3 * k, 100)
                                             for k in range(8)]
    else:
        sums = [nps_sums("Tiny", 5, 0, 0)] + [nps_sums(f"L{k}", 35 + 4 * k, 30, 35 - 4 * k)
                                              for k in range(8)]
    fake_sums(monkeypatch, sums)
    tiny = by_group(benchmark(None, Metric.parse(metric)).rows)["Tiny"]
    assert tiny["estimate"] == 100.0
    assert (tiny["label"], tiny["rank"]) == ("too few responses", None)
    # Shrunk well below its raw 100 and with a real interval, so that even where the
    # minimum lets it be ranked, it does not come first.
    assert tiny["shrunk"] < 90 and tiny["shrunk_high"] - tiny["shrunk_low"] > 5
    ranked = benchmark(None, Metric.parse(metric), min_n=5).rows
    assert ranked[0]["group"] != "Tiny"
    assert by_group(ranked)["Tiny"]["rank"] > 1


def _random_groups(rng, kind: str, count: int, n: int) -> list[dict]:
    """Groups whose true values differ somewhat (CSAT 55-80%; NPS around +25)."""
    if kind == "share":
        return [share_sums(f"G{k}", int(rng.binomial(n, rng.uniform(0.55, 0.8))), n)
                for k in range(count)]
    out = []
    for k in range(count):
        p = rng.dirichlet([40, 30, 20])
        prom, pas, det = rng.multinomial(n, p)
        out.append(nps_sums(f"G{k}", int(prom), int(pas), int(det)))
    return out


@pytest.mark.parametrize("metric", ["csat", "nps"])
def test_with_equal_n_shrinkage_cannot_change_the_order_of_the_raw_estimates(
        monkeypatch, metric):
    rng = np.random.default_rng(3)
    for _ in range(20):
        groups = _random_groups(rng, "share" if metric == "csat" else "nps", 12, 40)
        fake_sums(monkeypatch, groups)
        rows = benchmark(None, Metric.parse(metric), min_n=2).rows
        by_raw = sorted(rows, key=lambda r: (r["estimate"], r["shrunk"]))
        shrunk = [r["shrunk"] for r in by_raw]
        assert all(a <= b + 1e-9 for a, b in itertools.pairwise(shrunk)), \
            [(r["estimate"], r["shrunk"]) for r in by_raw]


def test_nps_groups_of_equal_n_keep_their_order_whatever_their_spread(monkeypatch):
    # A (+60) is 24 promoters and 6 detractors, B (+56.7) 17 promoters and 13 passives:
    # A's answers spread more, but with the same n it must stay ahead of B.
    fake_sums(monkeypatch, [nps_sums("A", 24, 0, 6), nps_sums("B", 17, 13, 0)]
              + [nps_sums(f"L{k}", 10 + k, 10, 10 - k) for k in range(6)])
    got = by_group(benchmark(None, Metric.parse("nps")).rows)
    assert got["A"]["shrunk"] > got["B"]["shrunk"]
    assert got["A"]["rank"] < got["B"]["rank"]


@pytest.mark.parametrize("metric", ["csat", "nps"])
def test_a_shrunk_value_lies_between_the_raw_value_and_the_network(monkeypatch, metric):
    rng = np.random.default_rng(11)
    groups = [g | {"group": f"{g['group']}-{n}"}
              for n in (5, 30, 200) for g in _random_groups(
                  rng, "share" if metric == "csat" else "nps", 5, n)]
    fake_sums(monkeypatch, groups)
    bench = benchmark(None, Metric.parse(metric))
    network = bench.network["estimate"]
    for r in bench.rows:
        low, high = sorted((r["estimate"], network))
        assert low - 1e-9 <= r["shrunk"] <= high + 1e-9, r


@pytest.mark.parametrize("metric", ["csat", "nps"])
def test_the_posterior_interval_of_a_small_group_is_narrower_than_its_raw_one(
        monkeypatch, metric):
    rng = np.random.default_rng(5)
    groups = [g | {"group": f"{g['group']}-{n}"}
              for n in (20, 30, 500) for g in _random_groups(
                  rng, "share" if metric == "csat" else "nps", 6, n)]
    fake_sums(monkeypatch, groups)
    for r in benchmark(None, Metric.parse(metric)).rows:
        if r["n"] <= 30:
            assert r["shrunk_high"] - r["shrunk_low"] < r["ci_high"] - r["ci_low"], r


def test_ces_shrinkage_uses_the_normal_prior_and_keeps_equal_n_in_order(db):
    rng = np.random.default_rng(8)
    rows = []
    for k in range(6):
        centre = 3 + 0.5 * k
        rows += scores("ces", f"L{k}", np.clip(np.round(rng.normal(centre, 1 + k % 3, 40)),
                                               1, 7).tolist())
    add_rows(db, rows)
    bench = benchmark(db, Metric.parse("ces"))
    assert bench.prior["kind"] == "normal" and bench.prior["tau"] > 0
    ordered = sorted(bench.rows, key=lambda r: r["estimate"])
    assert [r["shrunk"] for r in ordered] == sorted(r["shrunk"] for r in ordered)


@pytest.mark.parametrize("metric", ["csat", "nps"])
def test_without_between_group_variance_everything_shrinks_to_the_network(monkeypatch,
                                                                          metric):
    if metric == "csat":
        sums = [share_sums(f"L{k}", 50 + (k % 2), 100) for k in range(6)]
    else:
        sums = [nps_sums(f"L{k}", 40, 30, 30) for k in range(6)]
    fake_sums(monkeypatch, sums)
    bench = benchmark(None, Metric.parse(metric))
    network = bench.network["estimate"]
    assert [r["shrunk"] for r in bench.rows] == pytest.approx([network] * 6, abs=0.05)
    assert {r["label"] for r in bench.rows} == {"not distinguishable"}


def test_funnel_limits_at_n_100_are_the_network_plus_minus_1_96_sd_over_10(db):
    values = [10, 10, 10, 8, 8, 3, 0, 10, 9, 5] * 4
    add_rows(db, scores("nps", "A", values[:20]) + scores("nps", "B", values[20:]))
    bench = benchmark(db, Metric.parse("nps"))
    mapped = [100 if v >= 9 else -100 if v <= 6 else 0 for v in values]
    net, sd = statistics.mean(mapped), statistics.stdev(mapped)
    limits = funnel_limits(bench, [100, 400])
    assert limits["n"] == [100.0, 400.0]
    assert limits["low95"][0] == pytest.approx(net - Z * sd / 10)
    assert limits["high95"][0] == pytest.approx(net + Z * sd / 10)
    assert limits["high95"][1] == pytest.approx(net + Z * sd / 20)
    assert limits["high998"][0] == pytest.approx(net + 3.090232306167813 * sd / 10)


def test_funnel_limits_of_a_share_use_the_binomial_spread(db):
    add_rows(db, csat("A", 30, 40) + csat("B", 10, 40))
    limits = funnel_limits(benchmark(db, Metric.parse("csat")), [100])
    assert (limits["low95"][0], limits["high95"][0]) == pytest.approx(
        (50 - Z * 50 / 10, 50 + Z * 50 / 10))


def test_an_empty_store_benchmarks_to_no_rows(db):
    bench = benchmark(db, Metric.parse("nps"))
    assert bench.rows == [] and bench.network["n"] == 0
    assert funnel_limits(bench, [100]) == {}


# ------------------------------------------------------------------ many metrics


def test_benchmark_many_runs_benjamini_hochberg_over_every_metric_at_once(db):
    add_rows(db, csat("A", 34, 40) + csat("B", 20, 40) + csat("C", 24, 40)
             + nps("A", 20, 10, 10) + nps("B", 15, 10, 15) + nps("C", 10, 10, 20))
    metrics = [Metric.parse("csat"), Metric.parse("nps")]
    many = benchmark_many(db, metrics)
    rows = [r for b in many for r in b.rows]
    expected = multipletests([r["p_value"] for r in rows], method="fdr_bh")[1]
    assert [r["q_value"] for r in rows] == pytest.approx(list(expected))
    alone = [r for m in metrics for r in benchmark(db, m).rows]
    assert [r["q_value"] for r in alone] != pytest.approx([r["q_value"] for r in rows])


# ------------------------------------------------------------------ no true difference


def _null_sums(rng, metric: str) -> list[dict]:
    """100 locations of 50 responses, every one drawn from the same distribution."""
    if metric == "csat":                       # 70% satisfied everywhere
        return [share_sums(f"L{k:03}", int(h), 50)
                for k, h in enumerate(rng.binomial(50, 0.7, size=100))]
    if metric == "nps":                        # 50% promoters, 30% passives, 20% detractors
        return [nps_sums(f"L{k:03}", *map(int, m))
                for k, m in enumerate(rng.multinomial(50, [0.5, 0.3, 0.2], size=100))]
    stars = np.arange(1, 6)                    # ratings skewed to 5 stars, as reviews are
    counts = rng.multinomial(50, [0.05, 0.05, 0.1, 0.3, 0.5], size=100)
    return [{"group": f"L{k:03}", "n": 50, "total": float(c @ stars),
             "total_sq": float(c @ stars ** 2)} for k, c in enumerate(counts)]


def _flag_rates(monkeypatch, metric: str, repetitions: int) -> tuple[float, float]:
    """Share of repetitions in which some location is labelled better or worse (BH), and
    in which some location has p <= 0.05 (each tested alone)."""
    rng = np.random.default_rng(2024)
    with_bh = without = 0
    for _ in range(repetitions):
        fake_sums(monkeypatch, _null_sums(rng, metric))
        rows = benchmark(None, Metric.parse(metric)).rows
        with_bh += any(r["label"] in ("better", "worse") for r in rows)
        without += any(r["p_value"] is not None and r["p_value"] <= 0.05 for r in rows)
    return with_bh / repetitions, without / repetitions


@pytest.mark.parametrize("metric", ["csat", "nps", "rating"])
def test_with_no_true_difference_bh_rarely_flags_anyone_where_raw_p_values_would(
        monkeypatch, metric):
    with_bh, without = _flag_rates(monkeypatch, metric, 40)
    print(f"null simulation ({metric}, 40 x 100 locations x 50): some location flagged "
          f"with BH in {with_bh:.3f}, some p <= 0.05 without BH in {without:.3f}")
    assert with_bh <= 0.15
    assert without >= 0.8


# ------------------------------------------------------------------ the demo's truth


@pytest.mark.slow
def test_the_demos_worse_location_is_worse_on_its_theme_and_few_others(db):
    from analysis.demo import generate_demo
    from tests.stores import seed_truth_themes

    truth = generate_demo(db, rows=8000, seed=7, actor="test",
                          now=from_iso("2025-06-30T12:00:00Z")).truth
    ids = seed_truth_themes(db, truth)
    worse = truth["worse_location"]
    labels = {}
    for name, theme_id in ids.items():
        bench = benchmark(db, metric_for(db, f"theme:{theme_id}"))
        labels[name] = by_group(bench.rows)[worse["location"]]["label"]
    assert labels[worse["theme"]] == "worse", labels
    others = sorted(name for name, label in labels.items()
                    if label == "worse" and name != worse["theme"])
    print(f"{worse['location']} is also labelled worse on {len(others)} other theme(s): "
          f"{others}")
    assert len(others) <= 1, labels


def test_a_themes_negative_share_counts_only_its_mentions_with_a_sentiment(db):
    from analysis.benchmarks.metrics import group_sums, metric_for
    from tests.test_trends_series import add_feedback, add_theme

    add_theme(db, 1, "Billing")
    add_theme(db, 2, "Staff")
    at = datetime(2025, 3, 4, 10, tzinfo=UTC)
    # Rows 0-2 of each cell negative, row 3 positive, the rest without a sentiment.
    # North: 4 Billing mentions, 3 negative; South: 2 mentions, both negative; the other
    # comments mention nothing and are not counted.
    add_feedback(db, [(at, "North", 10, {1: 4}), (at, "South", 10, {1: 2})],
                 sentiment={0: "negative", 1: "negative", 2: "negative", 3: "positive"})
    metric = metric_for(db, "theme_negative:1")
    assert (metric.kind, metric.higher_is_better) == ("share", False)
    sums = {r["group"]: r for r in group_sums(db, metric)}
    assert sums["North"]["n"] == 4 and sums["North"]["total"] == 300
    assert sums["South"]["n"] == 2 and sums["South"]["total"] == 200

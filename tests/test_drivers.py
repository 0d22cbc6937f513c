"""Key drivers (`analysis.benchmarks.drivers`) on synthetic stores with a known effect.

The NPS store (`planted`, seeded): 2,000 responses at four locations of 500. Theme A,
mentioned by 30% overall, lowers a response's promoter probability by 0.2 and raises its
detractor probability by 0.2: 40 NPS points. Theme B (25% everywhere) does nothing;
theme C is mentioned 10 times. The locations differ by themselves (NPS +50, +30, +10, 0)
and A's share rises where the location is worse (10%, 20%, 35%, 55%), so comparing
comments with and without A overstates its cost; the regression, holding the location
equal, does not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.benchmarks.drivers import DRIVER_TEST, DriverError, key_drivers
from analysis.themes.queries import CHILD, PARENT
from tests.test_benchmarks import add_rows
from tests.test_trends_series import add_theme

A, B, C = 1, 2, 3
LOCATIONS = {"L1": (0.60, 0.10, 0.10), "L2": (0.50, 0.20, 0.20),
             "L3": (0.40, 0.30, 0.35), "L4": (0.35, 0.35, 0.55)}
"""location -> (promoter probability, detractor probability, share mentioning A)."""


def _planted_rows(seed: int = 19) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for location, (prom, det, share_a) in LOCATIONS.items():
        for k in range(500):
            has_a = rng.random() < share_a
            p, d = (prom - 0.2, det + 0.2) if has_a else (prom, det)
            u = rng.random()
            score = 10 if u < p else 3 if u < p + d else 8
            themes = [A] * has_a + [B] * (rng.random() < 0.25)
            rows.append({"score_type": "nps", "score": score, "location": location,
                         "segment": "new" if rng.random() < 0.5 else "returning",
                         "themes": themes})
    for row in rows[7::200]:      # ten mentions of C, spread over the locations
        row["themes"] = row["themes"] + [C]
    return rows


@pytest.fixture
def planted(db):
    for theme_id, name in ((A, "Theme A"), (B, "Theme B"), (C, "Theme C")):
        add_theme(db, theme_id, name)
    rows = _planted_rows()
    add_rows(db, rows)
    return db, rows


def by_theme(drivers) -> dict[int, dict]:
    return {r["theme_id"]: r for r in drivers.rows}


def shares_of_a(rows: list[dict]) -> dict[str, float]:
    return {loc: 100 * np.mean([A in r["themes"] for r in rows if r["location"] == loc])
            for loc in LOCATIONS}


def value(row: dict) -> float:
    return 100.0 if row["score"] >= 9 else -100.0 if row["score"] <= 6 else 0.0


def test_a_theme_that_costs_40_points_gets_an_interval_around_minus_40(planted):
    db, rows = planted
    drivers = key_drivers(db, metric="nps")
    a = by_theme(drivers)[A]
    assert drivers.n == 2000 and drivers.level == CHILD and drivers.test == DRIVER_TEST
    assert a["ci_low"] <= -40 <= a["ci_high"], a
    assert a["ci_low"] < a["points"] < a["ci_high"] and a["ci_high"] - a["ci_low"] < 20
    assert a["share"] == pytest.approx(100 * np.mean([A in r["themes"] for r in rows]))
    assert a["mentions"] == sum(A in r["themes"] for r in rows)
    # Unadjusted, the difference is biased: A is most often mentioned where the location
    # is worse anyway.
    with_a = [value(r) for r in rows if A in r["themes"]]
    without = [value(r) for r in rows if A not in r["themes"]]
    raw = np.mean(with_a) - np.mean(without)
    raw_se = math.sqrt(np.var(with_a, ddof=1) / len(with_a)
                       + np.var(without, ddof=1) / len(without))
    print(f"theme A: adjusted {a['points']:.1f} [{a['ci_low']:.1f}, {a['ci_high']:.1f}], "
          f"unadjusted {raw:.1f} +- {1.96 * raw_se:.1f}")
    assert raw + 1.96 * raw_se < -40


def test_a_theme_without_effect_gets_an_interval_covering_zero(planted):
    db, _ = planted
    b = by_theme(key_drivers(db, metric="nps"))[B]
    assert b["ci_low"] <= 0 <= b["ci_high"], b
    assert b["p_value"] > 0.05


def test_p_values_are_the_two_sided_normal_tail_of_points_over_their_robust_error(planted):
    db, _ = planted
    rows = by_theme(key_drivers(db, metric="nps"))
    for row in rows.values():
        assert row["p_value"] == pytest.approx(
            math.erfc(abs(row["points"] / row["se"]) / math.sqrt(2)), rel=1e-6)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            (row["points"] - 1.959963984540054 * row["se"],
             row["points"] + 1.959963984540054 * row["se"]))
    assert rows[A]["p_value"] < 1e-10


def test_network_opportunity_is_points_times_the_gap_to_the_best_quartile_share(planted):
    db, rows = planted
    drivers = key_drivers(db, metric="nps")
    a = by_theme(drivers)[A]
    best = float(np.percentile(list(shares_of_a(rows).values()), 25))
    assert a["best_quartile_share"] == pytest.approx(best)
    assert a["opportunity"] == pytest.approx(-a["points"] * (a["share"] - best) / 100)
    assert a["opportunity"] > 0
    assert 0 <= a["opportunity_low"] < a["opportunity"] < a["opportunity_high"]
    assert a["opportunity_low"] == pytest.approx(max(-a["ci_high"] * (a["share"] - best)
                                                     / 100, 0))
    assert drivers.rows[0]["theme_id"] == A       # sorted by opportunity


def test_per_location_opportunity_is_positive_above_the_best_quartile_and_0_at_the_best(
        planted):
    db, rows = planted
    shares = shares_of_a(rows)
    best = float(np.percentile(list(shares.values()), 25))
    worst = by_theme(key_drivers(db, metric="nps", location="L4"))[A]
    assert worst["share"] == pytest.approx(shares["L4"]) and shares["L4"] > best
    assert worst["opportunity"] == pytest.approx(-worst["points"] * (shares["L4"] - best)
                                                 / 100)
    assert worst["opportunity"] > 5
    top = by_theme(key_drivers(db, metric="nps", location="L1"))[A]
    assert shares["L1"] <= best
    assert (top["opportunity"], top["opportunity_low"], top["opportunity_high"]) == (0, 0, 0)


def test_each_locations_drivers_come_from_its_own_responses(planted):
    db, _ = planted
    for location in LOCATIONS:
        drivers = key_drivers(db, metric="nps", location=location)
        assert (drivers.location, drivers.n) == (location, 500)
        a = by_theme(drivers)[A]
        assert a["ci_low"] <= -40 <= a["ci_high"], (location, a)
    assert key_drivers(db, metric="nps", location="Nowhere").rows == []


def test_themes_with_too_few_mentions_are_left_out(planted):
    db, _ = planted
    assert C not in by_theme(key_drivers(db, metric="nps"))
    assert by_theme(key_drivers(db, metric="nps", min_mentions=10))[C]["mentions"] == 10
    assert C not in by_theme(key_drivers(db, metric="nps", min_mentions=11))


def test_a_parent_theme_is_driven_by_its_childrens_comments_once_each(db):
    add_theme(db, 100, "Problems", is_parent=True)
    add_theme(db, 101, "Quiet", is_parent=True)
    add_theme(db, A, "Theme A", parent_id=100)
    add_theme(db, C, "Theme A too", parent_id=100)
    add_theme(db, B, "Theme B", parent_id=101)
    rows = _planted_rows()
    for row in rows[::3]:                     # a third of A's comments also mention C
        if A in row["themes"]:
            row["themes"] = row["themes"] + [C]
    add_rows(db, rows)
    drivers = key_drivers(db, metric="nps")
    assert drivers.level == PARENT
    problems = by_theme(drivers)[100]
    # Comments mentioning A, C or both (C also has its ten mentions of its own), once each.
    assert problems["mentions"] == sum(bool({A, C} & set(r["themes"])) for r in rows)
    assert problems["mentions"] < sum(r["themes"].count(A) + r["themes"].count(C)
                                      for r in rows)
    assert problems["ci_low"] <= -40 <= problems["ci_high"]
    assert set(by_theme(drivers)) == {100, 101}


def test_csat_drivers_find_a_30_point_cost(db):
    rng = np.random.default_rng(4)
    add_theme(db, A, "Theme A")
    add_theme(db, B, "Theme B")
    rows = []
    for location, (satisfied, share_a) in {"L1": (0.9, 0.1), "L2": (0.8, 0.25),
                                           "L3": (0.7, 0.4), "L4": (0.6, 0.5)}.items():
        for _ in range(400):
            has_a = rng.random() < share_a
            happy = rng.random() < satisfied - 0.3 * has_a
            rows.append({"score_type": "csat", "score": 5 if happy else 2,
                         "location": location,
                         "themes": [A] * has_a + [B] * (rng.random() < 0.3)})
    add_rows(db, rows)
    drivers = by_theme(key_drivers(db, metric="csat"))
    assert drivers[A]["ci_low"] <= -30 <= drivers[A]["ci_high"], drivers[A]
    assert drivers[B]["ci_low"] <= 0 <= drivers[B]["ci_high"], drivers[B]


def test_rating_drivers_find_a_one_star_cost(db):
    rng = np.random.default_rng(5)
    add_theme(db, A, "Theme A")
    add_theme(db, B, "Theme B")
    rows = []
    for location, (centre, share_a) in {"L1": (4.0, 0.1), "L2": (3.5, 0.3),
                                        "L3": (3.0, 0.5)}.items():
        for _ in range(300):
            has_a = bool(rng.random() < share_a)
            rating = centre - 1.0 * has_a + rng.choice([-0.5, 0.0, 0.5])
            rows.append({"score_type": "rating", "score": float(rating), "location": location,
                         "themes": [A] * has_a + [B] * (rng.random() < 0.3)})
    add_rows(db, rows)
    drivers = by_theme(key_drivers(db, metric="rating"))
    assert drivers[A]["ci_low"] <= -1 <= drivers[A]["ci_high"], drivers[A]
    assert drivers[A]["points"] == pytest.approx(-1, abs=0.1)
    assert drivers[B]["ci_low"] <= 0 <= drivers[B]["ci_high"], drivers[B]


def test_only_commented_responses_of_the_metrics_scale_are_modelled(planted):
    db, _ = planted
    add_rows(db, [{"score_type": "nps", "score": 0, "location": "L1", "comment": "  ",
                   "themes": [A]},
                  {"score_type": "csat", "score": 1, "location": "L1", "themes": [A]}])
    assert key_drivers(db, metric="nps").n == 2000


@pytest.mark.parametrize("metric", ["ces", "negative", "theme:1", "NPS"])
def test_an_unknown_metric_is_refused_naming_it(db, metric):
    with pytest.raises(DriverError, match=f"got {metric!r}"):
        key_drivers(db, metric=metric)


def test_an_empty_store_has_no_drivers(db):
    drivers = key_drivers(db, metric="nps")
    assert (drivers.rows, drivers.n) == ([], 0)


# ------------------------------------------------------------------ the demo's truth


@pytest.mark.slow
def test_the_demos_injected_driver_costs_the_most_with_its_true_cost_in_the_interval(tmp_path):
    """Three demos (seeds 7-9): pricing, the injected driver, has the lowest points on NPS,
    CSAT and rating in each, and its true cost (demo truth) is inside the 95% interval in at
    least two of the three per metric: an interval that may miss 1 time in 20 does miss
    here once (seed 7, NPS: -49.0 [-54.6, -43.4] against -40.3, z = -3.0).
    bench/driver_calibration.py measures the coverage over many demos."""
    from analysis import store
    from analysis.demo import generate_demo
    from tests.stores import seed_truth_themes

    inside = {"nps": 0, "csat": 0, "rating": 0}
    for seed in (7, 8, 9):
        db = store.connect(tmp_path / f"demo{seed}.db")
        truth = generate_demo(db, rows=20_000, seed=seed, actor="test",
                              now=store.from_iso("2025-06-30T12:00:00Z")).truth
        names = {theme_id: name for name, theme_id in seed_truth_themes(db, truth).items()}
        driver = truth["driver"]
        assert driver["theme"] == "pricing"
        for metric in inside:
            got = {names[r["theme_id"]]: r for r in key_drivers(db, metric=metric).rows}
            assert min(got, key=lambda name: got[name]["points"]) == "pricing", (seed, metric)
            row = got["pricing"]
            inside[metric] += row["ci_low"] <= driver["points"][metric]["pricing"] <= row["ci_high"]
        db.close()
    assert all(count >= 2 for count in inside.values()), inside

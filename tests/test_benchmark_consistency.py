"""Consistency flags (`analysis.benchmarks.consistency`) on the demo, whose truth says
which location is worse on which theme all the time, and which one improved."""

from __future__ import annotations

from datetime import date

import pytest

from analysis import demo, store
from analysis.benchmarks.consistency import consistent_differences
from analysis.demo.truth import load_truth
from tests.stores import seed_truth_themes


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("consistency")
    db = store.connect(folder / "demo.db")
    demo.generate_demo(db, rows=20000, seed=7, truth_path=folder / "truth.json", actor="test",
                       now=store.from_iso("2026-11-28T12:00:00Z"))
    truth = load_truth(folder / "truth.json")
    seed_truth_themes(db, truth)
    yield db, truth
    db.close()


def test_the_truly_worse_location_is_flagged_worse_on_its_theme_month_after_month(demo_store):
    db, truth = demo_store
    found = consistent_differences(db, months=3)
    worse = truth["worse_location"]
    flagged = [(f["location"], f["theme"], f["direction"]) for f in found]
    assert (worse["location"], worse["theme"], "worse") in flagged
    # Each flagged month really is that far apart, in the same direction.
    [pair] = [f for f in found if (f["location"], f["theme"]) ==
              (worse["location"], worse["theme"])]
    assert len(pair["months"]) == 3
    assert all(s > r for s, r in zip(pair["shares"], pair["rest_shares"]))
    assert all(p < 0.05 for p in pair["p_values"])


def test_only_the_injected_differences_are_flagged(demo_store):
    db, truth = demo_store
    found = consistent_differences(db, months=3)
    improved = truth["improvement"]
    expected = {(truth["worse_location"]["location"], truth["worse_location"]["theme"]),
                (improved["location"], improved["theme"])}
    # Nothing else; the improved location may be flagged (better on wait time since its
    # change) when its monthly samples are large enough, never worse.
    assert {(f["location"], f["theme"]) for f in found} <= expected
    assert (improved["location"], improved["theme"], "worse") not in \
        [(f["location"], f["theme"], f["direction"]) for f in found]


def test_a_single_month_is_not_consistency(demo_store):
    db, _ = demo_store
    one = consistent_differences(db, months=1)
    three = consistent_differences(db, months=3)
    assert len(one) > len(three)


def test_an_empty_store_flags_nothing(db):
    assert consistent_differences(db) == []


def test_the_months_are_the_last_complete_ones(demo_store):
    db, _ = demo_store
    found = consistent_differences(db, months=3, today=date(2026, 11, 28))
    assert found and all(f["months"] == ["2026-08-01", "2026-09-01", "2026-10-01"]
                         for f in found)

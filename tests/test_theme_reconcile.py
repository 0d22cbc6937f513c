"""Reconciling fitted topics with stable themes, on plain data (no store, no model)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from analysis.themes.reconcile import (
    CREATED,
    MATCHED,
    REVIVED,
    SEEDED,
    ExistingTheme,
    FittedTopic,
    match_topics,
    reconcile,
    resolve,
)

# Four orthogonal directions: a centroid near one matches only that one.
E = np.eye(4, dtype=np.float32)
WAIT_WORDS = ["wait", "queue", "minutes"]


def near(i: int, noise: float = 0.1) -> np.ndarray:
    """A centroid close to direction i (cosine about 0.99)."""
    vector = E[i].copy()
    vector[(i + 1) % 4] = noise
    return vector


def topic(t: int, direction: int | None = None, words=("price", "cost", "value"),
          seed: int | None = None) -> FittedTopic:
    centroid = near(t if direction is None else direction)
    return FittedTopic(t, list(words), centroid, seed)


def theme(theme_id: int, direction: int | None, name="old name", status="active", **kw):
    return ExistingTheme(theme_id, name, status,
                         centroid=None if direction is None else E[direction], **kw)


def plan_for(topics, themes, threshold=0.8):
    return reconcile(topics, themes, match_threshold=threshold)


def test_a_topic_like_no_theme_creates_one_named_after_its_keywords():
    plan = plan_for([topic(0, words=WAIT_WORDS)], [])
    decision, = plan.decisions
    assert (decision.outcome, decision.theme_id, decision.centroid_owner) == (CREATED, None, None)
    assert decision.name == "wait / queue / minutes" and decision.takes_name
    assert decision.renamed_from is None and plan.retire == []


def test_a_topic_like_a_theme_keeps_its_id_and_takes_its_new_name():
    plan = plan_for([topic(0, words=WAIT_WORDS)], [theme(7, 0, name="queue / wait")])
    decision, = plan.decisions
    assert (decision.outcome, decision.theme_id, decision.centroid_owner) == (MATCHED, 7, 7)
    assert decision.similarity == pytest.approx(float(near(0) @ E[0] / np.linalg.norm(near(0))))
    assert decision.takes_name and decision.renamed_from == "queue / wait"
    same = plan_for([topic(0, words=WAIT_WORDS)], [theme(7, 0, name="wait / queue / minutes")])
    assert same.decisions[0].renamed_from is None  # nothing to record


def test_an_analysts_locked_name_is_kept():
    decision, = plan_for([topic(0)], [theme(7, 0, name="Prices", name_locked=True)]).decisions
    assert decision.theme_id == 7 and not decision.takes_name and decision.renamed_from is None
    assert decision.name == "price / cost / value"  # still recorded as its auto_name


def test_a_seed_topic_is_its_seed_theme_and_keeps_the_seed_name():
    seed = theme(3, None, name="Parking", is_seed=True, name_locked=True)
    decision, = plan_for([topic(0, seed=3)], [seed]).decisions
    assert (decision.outcome, decision.theme_id, decision.centroid_owner) == (SEEDED, 3, 3)
    assert not decision.takes_name


def test_a_seed_theme_is_never_a_match_for_another_topic_nor_retired():
    seed = ExistingTheme(3, "Parking", "active", is_seed=True, centroid=E[0])
    plan = plan_for([topic(0)], [seed])
    assert plan.decisions[0].outcome == CREATED and plan.retire == []


def test_a_topic_like_a_merged_theme_lands_on_the_end_of_its_merge_chain():
    themes = [theme(1, 0, status="merged", merged_into=2),
              theme(2, 1, status="merged", merged_into=5), theme(5, 2, name="Target")]
    plan = plan_for([topic(0)], themes)
    decision = plan.decisions[0]
    assert (decision.outcome, decision.theme_id, decision.centroid_owner) == (MATCHED, 5, 1)
    # Theme 5 is active and kept by the topic: nothing retires.
    assert plan.retire == []


def test_a_retired_theme_matched_again_is_revived_once():
    themes = [theme(1, 0, status="retired"), theme(2, 1, status="merged", merged_into=1)]
    plan = plan_for([topic(0), topic(1)], themes)
    assert [(d.outcome, d.theme_id, d.centroid_owner) for d in plan.decisions] == \
        [(REVIVED, 1, 1), (MATCHED, 1, 2)]


def test_a_theme_two_topics_land_on_is_renamed_by_each_in_turn():
    themes = [theme(1, 0, name="first"), theme(2, 1, status="merged", merged_into=1)]
    plan = plan_for([topic(0, words=["queue"]), topic(1, words=["till"])], themes)
    assert [(d.name, d.renamed_from) for d in plan.decisions] == \
        [("queue", "first"), ("till", "queue")]


def test_active_themes_no_topic_matched_retire_in_id_order():
    themes = [theme(9, 3), theme(4, 2), theme(1, 0), theme(6, None, status="retired"),
              theme(8, None, status="merged", merged_into=1)]
    plan = plan_for([topic(0)], themes)
    assert plan.decisions[0].theme_id == 1
    assert plan.retire == [4, 9]


def test_below_the_threshold_a_topic_creates_a_theme_and_the_old_one_retires():
    half_way = (E[0] + E[1]) / np.sqrt(2)  # cosine 0.71 to direction 0
    plan = plan_for([FittedTopic(0, ["new"], half_way)], [theme(1, 0)])
    assert plan.decisions[0].outcome == CREATED and plan.retire == [1]
    assert plan.count(CREATED) == 1 and plan.count(MATCHED) == 0


def test_one_topic_per_theme_the_closest_keeps_it():
    close, closer = near(0, noise=0.3), near(0, noise=0.05)
    plan = plan_for([FittedTopic(0, ["a"], close), FittedTopic(1, ["b"], closer)], [theme(1, 0)])
    assert [(d.topic, d.outcome, d.theme_id) for d in plan.decisions] == \
        [(0, CREATED, None), (1, MATCHED, 1)]


def test_themes_without_a_centroid_for_this_embedder_are_not_matched():
    plan = plan_for([topic(0)], [theme(1, None)])
    assert plan.decisions[0].outcome == CREATED and plan.retire == [1]


def test_centroids_of_another_dimension_are_not_matched():
    other = ExistingTheme(1, "old", "active", centroid=np.ones(8, dtype=np.float32))
    assert plan_for([topic(0)], [other]).decisions[0].outcome == CREATED


def test_reconcile_changes_nothing_it_is_given():
    topics = [topic(0), topic(1, seed=3)]
    themes = [theme(1, 0, status="retired"), theme(3, None, is_seed=True)]
    before = copy.deepcopy((topics, themes))
    first = plan_for(topics, themes)
    assert plan_for(topics, themes) == first
    assert [t.topic for t in topics] == [t.topic for t in before[0]]
    assert [(t.id, t.status) for t in themes] == [(t.id, t.status) for t in before[1]]


def test_match_topics_pairs_by_cosine_one_topic_per_theme():
    matches = match_topics({10: near(0), 11: near(1), 12: near(0, noise=0.5)}, [5, 6],
                           np.vstack([E[1], E[0]]), 0.8)
    assert {t: th for t, (th, _) in matches.items()} == {10: 6, 11: 5}
    assert all(sim > 0.99 for _, sim in matches.values())
    assert match_topics({}, [5], E[:1], 0.8) == {}
    assert match_topics({1: near(0)}, [], np.zeros((0, 0)), 0.8) == {}


def test_resolve_follows_merges_and_stops_on_a_cycle():
    themes = {1: theme(1, None, status="merged", merged_into=2),
              2: theme(2, None, status="merged", merged_into=1),
              3: theme(3, None, status="merged", merged_into=4)}
    assert resolve(themes, 1) == 1  # 1 -> 2 -> 1: stops where it started again
    assert resolve(themes, 3) == 4  # a missing theme ends the chain
    assert resolve({}, 9) == 9

"""Parent themes: grouping children (pure), keeping parents across refits, analyst moves,
renames and merges of parents, and reading either level."""

from __future__ import annotations

import numpy as np
import pytest
from test_theme_queries import (
    CURRENT,
    FACILITIES,
    PARKING,
    SERVICE,
    STAFF,
    WAIT,
    seed_theme_store,
)
from test_themes import corpus_db, tiny  # noqa: F401  (fixture)

from analysis import themes
from analysis.themes import admin, queries
from analysis.themes.hierarchy import (
    CREATED,
    KEPT,
    REVIVED,
    ExistingParent,
    group_themes,
    plan_parents,
    without_common_direction,
)


def children_around(directions: int, per_direction: int, *, dim: int = 32, noise: float = 0.05,
                    seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Child centroids scattered tightly around `directions` random directions; the truth
    group of each."""
    rng = np.random.default_rng(seed)
    axes = rng.standard_normal((directions, dim))
    truth = [d for d in range(directions) for _ in range(per_direction)]
    centroids = np.vstack([axes[d] + noise * rng.standard_normal(dim) for d in truth])
    return centroids, truth


def same_partition(a, b) -> bool:
    pairs = set(zip(a, b))
    return len(pairs) == len(set(a)) == len(set(b))


def test_children_of_one_subject_share_a_parent():
    centroids, truth = children_around(8, 4)
    groups = group_themes(centroids, [10] * len(truth))
    assert same_partition(groups.tolist(), truth)


def test_parent_count_stays_within_six_to_fifteen():
    # 40 children with no structure at all, and 3 subjects only: still 6-15 parents.
    rng = np.random.default_rng(1)
    for centroids in (rng.standard_normal((40, 16)), children_around(3, 10)[0]):
        groups = group_themes(centroids, [5] * len(centroids))
        assert 6 <= len(set(groups.tolist())) <= 15


def test_few_children_are_each_their_own_parent():
    groups = group_themes(np.eye(4), [3, 9, 1, 5])
    assert sorted(groups.tolist()) == [0, 1, 2, 3]
    assert groups.tolist()[1] == 0  # the largest child's group comes first


def test_a_group_keeps_the_parent_whose_comments_it_shares():
    parents = [ExistingParent(100, "active"), ExistingParent(200, "active")]
    current = {1: 100, 2: 100, 3: 200, 4: 200}
    sizes = {1: 50, 2: 40, 3: 30, 4: 20, 5: 10}
    # The refit swaps the group numbers and adds a new child 5 to the second group.
    plan = plan_parents({1: 1, 2: 1, 3: 0, 4: 0, 5: 0}, sizes, current, parents)
    by_parent = {d.parent_id: set(d.children) for d in plan.decisions}
    assert by_parent == {100: {1, 2}, 200: {3, 4, 5}}
    assert plan.count(KEPT) == 2 and plan.retire == []


def test_a_split_keeps_the_id_on_the_larger_half_and_creates_the_other():
    parents = [ExistingParent(100, "active")]
    plan = plan_parents({1: 0, 2: 1}, {1: 80, 2: 20}, {1: 100, 2: 100}, parents)
    outcome = {d.children: (d.outcome, d.parent_id) for d in plan.decisions}
    assert outcome[(1,)] == (KEPT, 100)
    assert outcome[(2,)] == (CREATED, None)


def test_a_parent_left_without_children_retires_and_a_retired_one_can_revive():
    parents = [ExistingParent(100, "active"), ExistingParent(200, "retired")]
    plan = plan_parents({1: 0}, {1: 10}, {1: 200}, parents)
    assert [(d.outcome, d.parent_id) for d in plan.decisions] == [(REVIVED, 200)]
    assert plan.retire == [100]


def test_a_locked_child_stays_with_the_parent_an_analyst_chose():
    parents = [ExistingParent(100, "active"), ExistingParent(200, "active"),
               ExistingParent(300, "merged", merged_into=200)]
    current = {1: 100, 2: 100, 3: 300}
    # Child 3 was moved by hand to 300, since merged into 200; the groups put it with 1 and 2.
    plan = plan_parents({1: 0, 2: 0, 3: 0}, {1: 10, 2: 10, 3: 10}, current, parents,
                        locked={3: 300})
    by_parent = {d.parent_id: set(d.children) for d in plan.decisions}
    assert by_parent == {100: {1, 2}, 200: {3}}
    assert plan.retire == []


# ------------------------------------------------------------------ against the store

def parent_of(db) -> dict[int, int]:
    return dict(db.execute("SELECT id, parent_id FROM themes WHERE is_parent = 0 "
                           "AND status = 'active'").fetchall())


def test_every_fitted_theme_has_an_active_parent(corpus_db):  # noqa: F811
    db, _, _ = corpus_db
    result = themes.refresh_themes(db, pipeline=tiny(), actor="test")
    assert "parent themes" in result.message
    orphans = db.execute(
        "SELECT COUNT(*) FROM themes c LEFT JOIN themes p ON p.id = c.parent_id "
        "WHERE c.is_parent = 0 AND c.status = 'active' AND (p.id IS NULL OR p.is_parent = 0 "
        "OR p.status != 'active')").fetchone()[0]
    assert orphans == 0
    # A parent's comments are its children's, each once.
    for parent_id, in db.execute("SELECT id FROM themes WHERE is_parent = 1 AND status = 'active'"):
        via_view = db.execute("SELECT COUNT(*) FROM parent_theme_assignments WHERE theme_id = ?",
                              [parent_id]).fetchone()[0]
        direct = db.execute(
            "SELECT COUNT(DISTINCT ta.feedback_id) FROM theme_assignments ta JOIN themes t "
            "ON t.id = ta.theme_id WHERE t.parent_id = ?", [parent_id]).fetchone()[0]
        assert via_view == direct > 0


def test_moved_child_and_renamed_parent_survive_a_refit(corpus_db):  # noqa: F811
    db, _, _ = corpus_db
    themes.refresh_themes(db, pipeline=tiny(), actor="test")
    mapping = parent_of(db)
    child, other_child = sorted(mapping)[:2]
    target = mapping[other_child]
    admin.move_theme(db, child, target, actor="ana")
    admin.rename_theme(db, target, "Service and staff", actor="ana")
    themes.refresh_themes(db, pipeline=tiny(), refit=True, actor="test")
    after = parent_of(db)
    assert after[child] == target
    assert db.execute("SELECT name, status FROM themes WHERE id = ?", [target]).fetchone() == \
        ("Service and staff", "active")
    events = [r[0] for r in db.execute(
        "SELECT event FROM theme_events WHERE theme_id = ? ORDER BY id", [child])]
    assert "moved" in events


def test_merging_parents_moves_their_children(themed_parents_db):
    db = themed_parents_db
    admin.merge_themes(db, [FACILITIES], SERVICE, actor="ana")
    assert parent_of(db)[PARKING] == SERVICE
    with pytest.raises(ValueError, match="parents into parents"):
        admin.merge_themes(db, [WAIT], SERVICE, actor="ana")


def test_moves_are_checked(themed_parents_db):
    db = themed_parents_db
    with pytest.raises(ValueError, match="is a parent theme"):
        admin.move_theme(db, SERVICE, FACILITIES, actor="ana")
    with pytest.raises(ValueError, match="is not a parent theme"):
        admin.move_theme(db, WAIT, STAFF, actor="ana")
    with pytest.raises(ValueError, match="actor is required"):
        admin.move_theme(db, WAIT, FACILITIES, actor=" ")
    with pytest.raises(ValueError, match="correct a comment to one of its child themes"):
        admin.correct_theme(db, 1, WAIT, SERVICE, actor="ana")


def test_an_analyst_can_make_a_parent_for_chosen_children(themed_parents_db):
    db = themed_parents_db
    new = admin.add_parent_theme(db, "People", [STAFF], actor="ana")
    assert parent_of(db)[STAFF] == new
    with pytest.raises(ValueError, match="already called"):
        admin.add_parent_theme(db, "people", [WAIT], actor="ana")
    assert [p["name"] for p in admin.active_themes(db, parents=True)][:2] == ["Service", "People"]


@pytest.fixture
def themed_parents_db(db):
    seed_theme_store(db)
    return db


def test_parent_table_counts_each_comment_once(themed_parents_db):
    table = queries.theme_table(themed_parents_db, CURRENT, level=queries.PARENT)
    frame = table.frame.set_index("name")
    # Waiting time 40 + Staff 25 mentions, of which 5 comments mention both: 60 comments.
    assert frame.loc["Service", "mentions"] == 60
    assert frame.loc["Service", "primary_mentions"] == 60
    assert frame.loc["Service", "n_children"] == 2
    assert frame.loc["Facilities", "mentions"] == 0
    assert frame.loc["Service", "share_pct"] == pytest.approx(60.0)
    assert frame.loc[queries.UNTHEMED, "mentions"] == 40
    children = queries.theme_table(themed_parents_db, CURRENT).frame.set_index("name")
    assert children.loc["Waiting time", "parent_name"] == "Service"
    assert children.loc["Waiting time", "parent_id"] == SERVICE


def test_parent_drilldown_reads_its_childrens_comments(themed_parents_db):
    db = themed_parents_db
    assert queries.theme_comment_count(db, CURRENT, SERVICE) == 60
    assert queries.theme_comment_count(db, CURRENT, WAIT) == 40
    comments = queries.theme_comments(db, CURRENT, SERVICE, limit=100)
    assert len(comments) == 60 and comments["feedback_id"].is_unique
    by_location = queries.theme_by_location(db, CURRENT, SERVICE)
    assert by_location["mentions"].sum() == 60
    points = queries.comment_map_points(db, CURRENT).frame
    waiting = points[points["theme"] == "Waiting time"]
    assert set(waiting["parent"]) == {"Service"}
    assert queries.theme_choices(db, queries.PARENT) == {FACILITIES: "Facilities",
                                                         SERVICE: "Service"}


def test_parents_kept_for_moved_children_take_no_fitted_groups_name():
    parents = [ExistingParent(100, "active"), ExistingParent(200, "active"),
               ExistingParent(300, "active")]
    # Children 2 and 3 were moved by hand; their fitted groups (1 and 2) are left empty.
    plan = plan_parents({1: 0, 2: 1, 3: 2}, {1: 10, 2: 10, 3: 10}, {1: 100, 2: 300, 3: 200},
                        parents, locked={2: 300, 3: 200})
    by_parent = {d.parent_id: d for d in plan.decisions}
    assert by_parent[300].group is None and by_parent[300].children == (2,)
    assert by_parent[200].group is None and by_parent[200].children == (3,)
    assert by_parent[100].group == 0


def test_a_parent_left_without_children_by_a_move_or_merge_retires_at_once(themed_parents_db):
    db = themed_parents_db
    admin.move_theme(db, PARKING, SERVICE, actor="ana")
    assert db.execute("SELECT status FROM themes WHERE id = ?", [FACILITIES]).fetchone()[0] == \
        "retired"
    assert queries.theme_choices(db, queries.PARENT) == {SERVICE: "Service"}
    new = admin.add_parent_theme(db, "People", [STAFF], actor="ana")
    admin.merge_themes(db, [STAFF], WAIT, actor="ana")
    assert db.execute("SELECT status FROM themes WHERE id = ?", [new]).fetchone()[0] == "retired"


def test_a_retired_child_counts_neither_in_its_parent_nor_twice(themed_parents_db):
    db = themed_parents_db
    # A refit can retire a child that an analyst's correction still points at.
    db.execute("UPDATE themes SET status = 'retired' WHERE id = ?", [STAFF])
    parents = queries.theme_table(db, CURRENT, level=queries.PARENT).frame.set_index("name")
    children = queries.theme_table(db, CURRENT).frame.set_index("name")
    assert parents.loc["Service", "mentions"] == children.loc["Waiting time", "mentions"] == 40
    assert parents.loc[queries.UNTHEMED, "mentions"] == children.loc[queries.UNTHEMED, "mentions"]
    assert queries.theme_comment_count(db, CURRENT, SERVICE) == 40


def test_grouping_ignores_the_direction_every_child_shares():
    """Six topics, two children each; every child also carries a shared direction, strongly
    in half of them (on CFPB: "a complaint about a loan"). Grouped on what differs, the
    parents are the topics, not "much or little of the shared direction"."""
    rng = np.random.default_rng(5)
    dim, topics = 16, 6
    centroids, topic_of = [], []
    for topic in range(topics):
        for weight in (4.0, 0.3):
            vector = np.zeros(dim)
            vector[0] = weight                       # the shared direction
            vector[1 + topic] = 1.0
            vector += rng.normal(0, 0.05, dim)
            centroids.append(vector)
            topic_of.append(topic)
    groups = group_themes(np.array(centroids), [10] * len(centroids))
    assert len(set(groups)) == topics
    for topic in range(topics):
        members = {int(g) for g, t in zip(groups, topic_of) if t == topic}
        assert len(members) == 1, (topic, groups)
    assert without_common_direction(np.array(centroids[:2])).shape == (2, dim)

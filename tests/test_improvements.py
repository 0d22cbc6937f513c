"""Improvements (`analysis.improvements`): records with history, priority, evidence and whom to
tell, and the impact report on stores where the answer is known.

The demo (conftest `truth_demo`: 20,000 responses, seed 7, `now` pinned) injects one
improvement: from the truth's date Harbour Street's "wait time" share falls from 30% to 15%
(-15 points). Its themes come straight from the truth's labels, so no model is fitted. Each
test gets its own copy of the store built once for the session.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from analysis import store
from analysis.improvements.records import (
    Improvement,
    ImprovementError,
    add_improvement,
    driver_impact,
    evidence,
    evidence_counts,
    feedback_for_search,
    feedback_for_theme,
    get_improvement,
    improvement_history,
    link_evidence,
    list_improvements,
    parse_date,
    priority,
    set_status,
    unlink_evidence,
    update_improvement,
    whom_to_tell,
)
from analysis.improvements.report import change_weeks, impact_report
from tests.conftest import DEMO_NOW
from tests.test_benchmarks import add_rows
from tests.test_trends_series import add_theme

NOW = store.from_iso(DEMO_NOW)
WHEN = datetime(2025, 3, 1, 9, tzinfo=UTC)
QUEUE, PRICE = 1, 2


def _add(db, improvement: Improvement, actor: str = "ops") -> int:
    with store.write_transaction(db):
        return add_improvement(db, improvement, actor=actor, now=WHEN)


def staff(**changes) -> Improvement:
    base = Improvement(title="Extra staff at lunch peak", locations=("B",),
                       theme_ids=(QUEUE,), effective_date=date(2025, 3, 3),
                       description="Two more people 12-2pm", owner="Dana", status="shipped")
    return replace(base, **changes)


@pytest.fixture
def small(db):
    """Two themes; locations A and B; customers c1 (2 complaints about the queue at B), c2
    (one at A), one complaint without a customer, a positive queue comment and one about
    price."""
    add_theme(db, QUEUE, "Queue")
    add_theme(db, PRICE, "Price")
    day = datetime(2025, 2, 1, tzinfo=UTC)
    rows = [
        {"location": "B", "customer_key": "c1", "customer_email": "c1@example.com",
         "customer_name": "Chris", "comment": "the queue was endless", "themes": [QUEUE],
         "sentiment": "negative", "received_at": day},
        {"location": "B", "customer_key": "c1", "customer_email": "c1@example.com",
         "customer_name": "Chris", "comment": "queue again, twenty minutes",
         "themes": [QUEUE], "sentiment": "negative", "received_at": day + timedelta(days=3)},
        {"location": "A", "customer_key": "c2", "customer_email": "c2@example.com",
         "comment": "long queue at the till", "themes": [QUEUE], "sentiment": "negative",
         "received_at": day},
        {"location": "B", "comment": "queue too slow", "themes": [QUEUE],
         "sentiment": "negative", "received_at": day},
        {"location": "B", "customer_key": "c3", "comment": "no queue, lovely",
         "themes": [QUEUE], "sentiment": "positive", "received_at": day},
        {"location": "A", "customer_key": "c4", "comment": "too expensive", "themes": [PRICE],
         "sentiment": "negative", "received_at": day},
    ]
    for row in rows:
        row.setdefault("score_type", "nps")
        row.setdefault("score", 4)
    return db, add_rows(db, rows)


# ------------------------------------------------------------------ records


def test_an_improvement_is_stored_with_its_targets_and_a_created_event(small):
    db, _ = small
    improvement_id = _add(db, staff(locations=("B", "A"), theme_ids=(PRICE, QUEUE),
                                    metric="nps", rollout_end=date(2025, 3, 14)))
    found = get_improvement(db, improvement_id)
    assert found.title == "Extra staff at lunch peak" and found.owner == "Dana"
    assert found.locations == ("A", "B") and found.theme_ids == (QUEUE, PRICE)
    assert found.metric == "nps" and found.rollout_end == date(2025, 3, 14)
    [event] = improvement_history(db, improvement_id)
    assert event["event"] == "created" and event["actor"] == "ops"
    assert event["detail"]["after"]["locations"] == ["A", "B"]


@pytest.mark.parametrize("changes, field", [
    ({"title": "  "}, "title"),
    ({"locations": ()}, "location"),
    ({"locations": ("",)}, "location"),
    ({"theme_ids": (), "metric": None}, "target"),
    ({"metric": "happiness"}, "metric"),
    ({"status": "done"}, "status"),
    ({"rollout_end": date(2025, 3, 1)}, "end of roll-out"),
    ({"confidence": 1.5}, "confidence"),
    ({"effort": 0.0}, "effort"),
    ({"locations": ("Atlantis",)}, "location"),
    ({"theme_ids": (99,)}, "theme"),
])
def test_a_bad_field_is_refused_by_name_and_nothing_is_stored(small, changes, field):
    db, _ = small
    with pytest.raises(ImprovementError, match=f"^{field}:"):
        _add(db, staff(**changes))
    assert db.execute("SELECT COUNT(*) FROM improvements").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM improvement_events").fetchone()[0] == 0


def test_a_retired_theme_cannot_be_targeted(small):
    db, _ = small
    add_theme(db, 3, "Old", status="merged")
    with pytest.raises(ImprovementError, match="^theme: theme 3 is merged"):
        _add(db, staff(theme_ids=(3,)))


def test_a_date_that_is_not_a_date_is_refused_naming_the_field():
    with pytest.raises(ImprovementError, match="^effective date: '3rd of March'"):
        parse_date("3rd of March", "effective date")
    assert parse_date(" 2025-03-03 ", "effective date") == date(2025, 3, 3)


def test_an_empty_store_takes_any_location_name(db):
    """Before any feedback is imported there is nothing to check a location against."""
    improvement_id = _add(db, staff(theme_ids=(), metric="csat"))
    assert get_improvement(db, improvement_id).locations == ("B",)


def test_an_edit_keeps_the_old_values_in_the_history(small):
    db, _ = small
    improvement_id = _add(db, staff(status="planned"))
    with store.write_transaction(db):
        changed = update_improvement(db, improvement_id,
                                     staff(status="planned", owner="Sam", locations=("A", "B")),
                                     actor="lead", now=WHEN + timedelta(days=1))
        unchanged = update_improvement(db, improvement_id,
                                       staff(status="planned", owner="Sam",
                                             locations=("B", "A")), actor="lead")
        set_status(db, improvement_id, "shipped", actor="ops", now=WHEN + timedelta(days=2))
    assert changed and not unchanged
    history = improvement_history(db, improvement_id)
    assert [e["event"] for e in history] == ["created", "changed", "status changed"]
    assert history[1]["detail"] == {"before": {"owner": "Dana", "locations": ["B"]},
                                    "after": {"owner": "Sam", "locations": ["A", "B"]}}
    assert history[1]["actor"] == "lead"
    assert history[2]["detail"] == {"before": {"status": "planned"},
                                    "after": {"status": "shipped"}}
    row = db.execute("SELECT status, updated_by FROM improvements").fetchone()
    assert row == ("shipped", "ops")


def test_a_refused_edit_changes_nothing(small):
    db, _ = small
    improvement_id = _add(db, staff())
    with pytest.raises(ImprovementError, match="^confidence:"):
        with store.write_transaction(db):
            update_improvement(db, improvement_id, staff(confidence=-0.1), actor="x")
    assert get_improvement(db, improvement_id) == staff()
    assert len(improvement_history(db, improvement_id)) == 1


def test_editing_an_improvement_whose_theme_was_later_merged_is_allowed(small):
    """The theme was active when the change was tagged; a later merge must not lock the
    record against edits (only newly added themes must be active)."""
    db, _ = small
    improvement_id = _add(db, staff())
    with store.write_transaction(db):
        db.execute("UPDATE themes SET status = 'merged' WHERE id = ?", [QUEUE])
        assert set_status(db, improvement_id, "abandoned", actor="ops")
    assert get_improvement(db, improvement_id).status == "abandoned"


def test_the_list_filters_by_status_newest_change_first(small):
    db, _ = small
    old = _add(db, staff(effective_date=date(2025, 1, 6)))
    new = _add(db, staff(title="Self-service kiosk", effective_date=date(2025, 4, 7),
                         status="planned"))
    assert [r["id"] for r in list_improvements(db)] == [new, old]
    [row] = list_improvements(db, status="planned")
    assert row["id"] == new and row["target"] == "Queue share" and row["themes"] == ["Queue"]
    assert list_improvements(db, status="abandoned") == []


# ------------------------------------------------------------------ priority


def test_priority_is_impact_times_confidence_over_effort_with_defaults_marked():
    unset = priority(staff())
    assert unset["priority"] is None and unset["impact_is_default"]
    assert unset["confidence"] == 0.5 and unset["effort"] == 1.0
    defaulted = priority(staff(), default_impact=6.0)
    assert defaulted["priority"] == pytest.approx(3.0)
    assert defaulted["confidence_is_default"] and defaulted["effort_is_default"]
    own = priority(staff(impact=8.0, confidence=0.75, effort=2.0), default_impact=6.0)
    assert own["priority"] == pytest.approx(3.0)
    assert not (own["impact_is_default"] or own["confidence_is_default"]
                or own["effort_is_default"])


def test_the_impact_default_is_the_key_drivers_opportunity(tmp_path):
    """On the planted drivers store theme A costs 40 NPS points: its opportunity at a
    location is the key drivers' figure, and a theme with no drivers row gives None."""
    from analysis.benchmarks.drivers import key_drivers
    from tests.test_drivers import A, B, C, _planted_rows

    db = store.connect(tmp_path / "drivers.db")
    for theme_id, name in ((A, "Theme A"), (B, "Theme B"), (C, "Theme C")):
        add_theme(db, theme_id, name)
    add_rows(db, _planted_rows())
    expected = {r["theme_id"]: r["opportunity"]
                for r in key_drivers(db, metric="nps", location="L4").rows}
    improvement = staff(locations=("L4",), theme_ids=(A,))
    assert expected[A] > 0
    assert driver_impact(db, improvement) == pytest.approx(expected[A])
    assert driver_impact(db, staff(locations=("L4",), theme_ids=(), metric="nps")) is None
    _add(db, improvement)
    [row] = list_improvements(db)
    assert row["impact"] == pytest.approx(expected[A]) and row["impact_is_default"]
    assert row["priority"] == pytest.approx(expected[A] * 0.5)
    assert list_improvements(db, default_impact=False)[0]["priority"] is None


# ------------------------------------------------------------------ evidence


def test_theme_evidence_takes_the_complaints_at_the_locations_asked(small):
    db, ids = small
    assert feedback_for_theme(db, QUEUE) == [ids[0], ids[1], ids[2], ids[3]]
    assert feedback_for_theme(db, QUEUE, ["B"]) == [ids[0], ids[1], ids[3]]
    assert feedback_for_theme(db, QUEUE, ["B"], negative_only=False) == ids[0:2] + ids[3:5]


def test_search_evidence_finds_the_words_at_the_locations_asked(small):
    db, ids = small
    assert feedback_for_search(db, "queue", ["A"]) == [ids[2]]
    assert feedback_for_search(db, "expensive") == [ids[5]]
    assert feedback_for_search(db, "   ") == []


def test_linking_counts_requests_customers_and_locations_once_each(small):
    db, ids = small
    improvement_id = _add(db, staff())
    with store.write_transaction(db):
        first = link_evidence(db, improvement_id, feedback_for_theme(db, QUEUE),
                              via="theme 1", actor="ops")
        again = link_evidence(db, improvement_id, ids[:2], via="hand", actor="ops")
    assert (first, again) == (4, 0)
    # c1 twice, c2, and one complaint with no customer key: three customers.
    assert evidence_counts(db, improvement_id) == {"evidence": 4, "customers": 3,
                                                   "evidence_locations": 2}
    assert {r["via"] for r in evidence(db, improvement_id)} == {"theme 1"}
    with store.write_transaction(db):
        assert unlink_evidence(db, improvement_id, [ids[2]], actor="ops") == 1
    assert evidence_counts(db, improvement_id)["evidence_locations"] == 1
    events = [e["event"] for e in improvement_history(db, improvement_id)]
    assert events == ["created", "evidence added", "evidence removed"]


def test_linking_unknown_feedback_is_refused_and_links_nothing(small):
    db, ids = small
    improvement_id = _add(db, staff())
    with pytest.raises(ImprovementError, match="^evidence: there is no feedback 999"):
        with store.write_transaction(db):
            link_evidence(db, improvement_id, [ids[0], 999], via="hand", actor="ops")
    assert evidence_counts(db, improvement_id)["evidence"] == 0


def test_whom_to_tell_is_one_row_per_customer_who_asked_with_the_message(small):
    db, ids = small
    improvement_id = _add(db, staff())
    with store.write_transaction(db):
        link_evidence(db, improvement_id, feedback_for_theme(db, QUEUE), via="theme 1",
                      actor="ops")
    rows = whom_to_tell(db, improvement_id)
    # Latest feedback first; the store keys a customer by email when there is one.
    assert [r["customer_email"] for r in rows] == ["c1@example.com", "c2@example.com"]
    assert rows[0]["linked_feedback"] == 2 and rows[0]["customer_name"] == "Chris"
    assert rows[0]["message"] == ("We changed Extra staff at lunch peak, based on 4 requests "
                                  "like yours.")


# ------------------------------------------------------------------ the impact report

@pytest.fixture
def demo(truth_demo):
    return truth_demo


def _truth_improvement(db, truth, themes, **changes) -> int:
    injected = truth["improvement"]
    return _add(db, replace(Improvement(
        title="Extra staff at peak", locations=(injected["location"],),
        theme_ids=(themes[injected["theme"]],),
        effective_date=date.fromisoformat(injected["date"]), status="shipped"), **changes))


def test_the_demos_injected_improvement_is_found_with_its_true_effect_in_the_interval(demo):
    db, truth, themes = demo
    improvement_id = _truth_improvement(db, truth, themes)
    found = impact_report(db, improvement_id, now=NOW).as_dict()
    true_effect = 100 * truth["improvement"]["effect"]["share_change"]
    assert true_effect == pytest.approx(-15)
    assert found["headline"] == "randomization"
    assert found["p_value"] <= 0.05
    assert found["ci_low"] <= true_effect <= found["ci_high"]
    assert found["ci_high"] < 0
    assert found["verdict"].startswith("It worked: wait time share % fell by")
    assert [m["method"] for m in found["methods"]] == ["before_after", "its", "did",
                                                      "randomization"]
    assert found["n_pre"] > 100 and found["n_post"] > 100
    assert found["design"]["placebo"] == "time" and found["design"]["placebos"] >= 19
    assert "Harbour Street" not in found["comparison"] and len(found["comparison"]) >= 5
    assert found["min_detectable_effect"] > 0


def test_a_placebo_improvement_on_the_demo_is_not_called_significant(demo):
    """Nothing changed at another location on the same date: the headline must not reject
    (the injected change at Harbour Street is left out of its comparison)."""
    db, truth, themes = demo
    injected = truth["improvement"]
    real = _truth_improvement(db, truth, themes)
    other = next(loc for loc in truth["locations"]
                 if loc not in (injected["location"], truth["worse_location"]["location"]))
    placebo = _add(db, Improvement(
        title="Placebo", locations=(other,), theme_ids=(themes[injected["theme"]],),
        effective_date=date.fromisoformat(injected["date"]), status="shipped"))
    found = impact_report(db, placebo, now=NOW).as_dict()
    assert found["p_value"] > 0.05
    assert found["verdict"].startswith("No change detectable")
    assert found["ci_low"] <= 0 <= found["ci_high"]
    # The real change elsewhere touched Harbour Street: it is no comparison for the placebo.
    assert injected["location"] not in found["comparison"]
    assert any("another improvement on the same target touched them" in w
               for w in found["warnings"])
    assert get_improvement(db, real).locations == (injected["location"],)


def test_a_metric_improvement_measures_the_metric(demo):
    db, truth, _ = demo
    improvement_id = _add(db, Improvement(
        title="Friendlier greeting", locations=(truth["improvement"]["location"],),
        metric="nps", effective_date=date(2025, 1, 6), status="shipped"))
    found = impact_report(db, improvement_id, now=NOW).as_dict()
    assert found["measure"] == "NPS" and found["unit"] == "points"
    assert found["higher_is_better"] is True
    assert found["p_value"] is not None and found["n_pre"] > 0


def test_an_overlapping_improvement_on_the_same_place_and_target_is_warned_of(demo):
    db, truth, themes = demo
    first = _truth_improvement(db, truth, themes)
    second = _truth_improvement(db, truth, themes, title="New queue barriers",
                                effective_date=date.fromisoformat(truth["improvement"]["date"])
                                + timedelta(weeks=3))
    warnings = impact_report(db, first, now=NOW).warnings
    assert any(w.startswith(f"another improvement overlaps: #{second} \"New queue barriers\"")
               for w in warnings)
    with store.write_transaction(db):
        set_status(db, second, "abandoned", actor="ops")
    assert not any("overlaps" in w for w in impact_report(db, first, now=NOW).warnings)


def test_a_spike_alert_in_the_window_is_warned_of(demo):
    db, truth, themes = demo
    improvement_id = _truth_improvement(db, truth, themes)
    theme_id = themes[truth["improvement"]["theme"]]
    week = date.fromisoformat(truth["improvement"]["date"]) - timedelta(weeks=2)
    with store.write_transaction(db):
        alert = db.execute(
            """INSERT INTO alerts (theme_id, location, granularity, first_period, period_start,
               period_end, observed, volume, expected, share, baseline_share, ratio, p_value,
               q_value, opened_at, updated_at) VALUES (?, 'Harbour Street', 'week', ?, ?, ?,
               30, 60, 10, 0.5, 0.17, 3, 0.0001, 0.001, '2025-01-01T00:00:00Z',
               '2025-01-01T00:00:00Z')""",
            [theme_id, week.isoformat(), week.isoformat(),
             (week + timedelta(days=6)).isoformat()]).lastrowid
        db.execute("INSERT INTO alert_periods VALUES (?, ?, 30, 60, 10, 0.0001, 0.001, 1, "
                   "'2025-01-01T00:00:00Z')", [alert, week.isoformat()])
    warnings = impact_report(db, improvement_id, now=NOW).warnings
    assert any(w.startswith(f"the window contains a spike alert: #{alert} wait time at "
                            "Harbour Street") for w in warnings)


def test_a_change_in_the_future_is_not_measurable_yet(demo):
    db, truth, themes = demo
    improvement_id = _truth_improvement(db, truth, themes, status="planned",
                                        effective_date=date(2025, 9, 1))
    report = impact_report(db, improvement_id, now=NOW)
    assert report.result is None
    assert report.verdict == "Not measurable yet: the change is in the future."
    found = report.as_dict()
    assert found["p_value"] is None and found["methods"] == [] and found["n_post"] == 0


def test_a_change_too_recent_for_a_full_window_says_so(demo):
    db, truth, themes = demo
    improvement_id = _truth_improvement(db, truth, themes, effective_date=date(2025, 6, 9))
    warnings = impact_report(db, improvement_id, now=NOW).warnings
    assert any(w.startswith("only 3 of 8 weeks after the change are complete") for w in warnings)


def test_an_empty_store_gives_a_verdict_not_an_error(db):
    improvement_id = _add(db, staff(theme_ids=(), metric="rating"))
    report = impact_report(db, improvement_id, now=NOW)
    assert report.verdict == "Not measurable yet: no feedback before the change."
    assert report.as_dict()["warnings"] == [report.verdict]


def test_the_comparison_can_be_chosen_by_hand(demo):
    db, truth, themes = demo
    improvement_id = _truth_improvement(db, truth, themes)
    chosen = sorted(set(r[0] for r in db.execute("SELECT DISTINCT location FROM feedback"))
                    - {truth["improvement"]["location"]})[:3]
    found = impact_report(db, improvement_id, now=NOW, comparison=chosen).as_dict()
    assert sorted(found["comparison"]) == chosen


@pytest.mark.parametrize("effective, rollout_end, weeks", [
    (date(2025, 3, 3), None, (date(2025, 3, 3), date(2025, 3, 3))),      # a Monday
    (date(2025, 3, 5), None, (date(2025, 3, 3), date(2025, 3, 10))),     # mid-week
    (date(2025, 3, 3), date(2025, 3, 19), (date(2025, 3, 3), date(2025, 3, 24))),
])
def test_the_change_week_and_roll_out_are_left_out_of_both_windows(effective, rollout_end,
                                                                    weeks):
    improvement = staff(effective_date=effective, rollout_end=rollout_end)
    assert change_weeks(improvement, "UTC") == weeks

"""The themes read model (`analysis.themes.queries`) on a small hand-built store whose
answers are known by construction.

Current period (2025-03-04..2025-03-31), 100 commented responses, i = 0..99:
  North i < 50, South i >= 50.
  "Waiting time": primary on North i 0..29 and South i 50..59 -> 40 mentions (North 30/50,
    South 10/50); i 1..4 are near-duplicates of i 0 -> 36 deduplicated; customers: North
    ones share 20 ids (c{i % 20}), South ones have their own -> 30 distinct; NPS 3.
  "Staff": primary on i 30..39 and 60..69, secondary on i 0..4 -> 25 mentions, 20 primary.
  "Parking": active, never mentioned. "Old theme": merged, assigned to i 99 (ignored).
  Unthemed: the other 40.
  Parents: "Service" holds Waiting time and Staff (i 0..4 mention both: counted once) ->
    60 mentions, 60 primary; "Facilities" holds Parking -> 0.
  Plus 15 blank or missing comments, which no share counts.
Previous period (2025-02-04..2025-03-03), 100 commented: Waiting 20, Staff 20, unthemed 60.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from analysis import store
from analysis.domain.filters import Filters
from analysis.ingest.feedback import insert_feedback
from analysis.themes import admin, queries
from analysis.views import themes as views

NOW = datetime(2025, 3, 31, 12, tzinfo=UTC)
CURRENT = Filters(start=date(2025, 3, 4), end=date(2025, 3, 31))
WAIT, STAFF, PARKING, OLD = 1, 2, 3, 4
SERVICE, FACILITIES = 10, 11
T0 = "2025-01-01T00:00:00Z"


def _at(day: date) -> str:
    return f"{day.isoformat()}T10:00:00Z"


def seed_theme_store(db) -> None:
    """Insert the data set described in the module docstring (also used by the page test)."""
    rows, assignments, sentiment, near_dups = [], [], [], []
    start = date(2025, 3, 4)
    for i in range(100):
        if i < 30 or 50 <= i < 60:
            kind, comment, score = "wait", f"Waited {i} minutes in the queue at the desk", 3
            customer = f"c{i % 20}" if i < 30 else f"c{i}"
        elif 30 <= i < 40 or 60 <= i < 70:
            kind, comment, score, customer = "staff", f"Staff member {i} was friendly and helpful", 10, f"c{i}"
        else:
            kind, comment, score, customer = "other", f"Nothing special about visit {i}", 8, f"c{i}"
        rows.append({"external_id": f"cur-{i}", "source": "test", "comment": comment,
                     "received_at": _at(start + timedelta(days=i % 28)),
                     "location": "North" if i < 50 else "South", "segment": "retail",
                     "customer_id": customer, "score_type": "nps", "score": score})
        if kind == "wait":
            assignments.append((f"cur-{i}", WAIT, 0.99 - i * 0.01 if i < 30 else 0.5, 1))
            if i < 5:
                assignments.append((f"cur-{i}", STAFF, 0.3, 0))
            if 1 <= i <= 4:
                near_dups.append((f"cur-{i}", "cur-0"))
        elif kind == "staff":
            assignments.append((f"cur-{i}", STAFF, 0.8, 1))
        elif i == 99:
            assignments.append((f"cur-{i}", OLD, 0.9, 1))
        if i < 90:
            label, value = {"wait": ("negative", -0.6), "staff": ("positive", 0.8),
                            "other": ("neutral", 0.0)}[kind]
            sentiment.append((f"cur-{i}", label, value))
    for i in range(15):
        rows.append({"external_id": f"blank-{i}", "source": "test",
                     "comment": None if i < 10 else "   ",
                     "received_at": _at(start + timedelta(days=i)), "location": "North",
                     "score_type": "nps", "score": 9})
    prev_start = date(2025, 2, 4)
    for j in range(100):
        rows.append({"external_id": f"prev-{j}", "source": "test",
                     "comment": f"Earlier visit {j} went fine",
                     "received_at": _at(prev_start + timedelta(days=j % 28)),
                     "location": "North" if j < 50 else "South", "customer_id": f"p{j}",
                     "score_type": "nps", "score": 7})
        if j < 20:
            assignments.append((f"prev-{j}", WAIT, 0.7, 1))
        elif j < 40:
            assignments.append((f"prev-{j}", STAFF, 0.7, 1))

    with store.write_transaction(db):
        insert_feedback(db, rows, batch_id=None, actor="test", now=NOW)
        ids = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
        db.execute("INSERT INTO theme_models (id, version, path, params, n_documents, n_themes, "
                   "is_active, created_at, created_by) VALUES (1, 'v1', '/nowhere', '{}', 200, "
                   "3, 1, ?, 'test')", [T0])
        for tid, name, keywords, status in [
            (WAIT, "Waiting time", ["wait", "queue", "desk"], "active"),
            (STAFF, "Staff", ["staff", "friendly"], "active"),
            (PARKING, "Parking", ["parking"], "active"),
            (OLD, "Old theme", [], "merged"),
        ]:
            db.execute("INSERT INTO themes (id, name, keywords, status, created_at, created_by, "
                       "updated_at) VALUES (?, ?, ?, ?, ?, 'test', ?)",
                       [tid, name, json.dumps(keywords), status, T0, T0])
        for tid, name, children in [(SERVICE, "Service", (WAIT, STAFF)),
                                    (FACILITIES, "Facilities", (PARKING,))]:
            db.execute("INSERT INTO themes (id, name, keywords, is_parent, status, created_at, "
                       "created_by, updated_at) VALUES (?, ?, '[]', 1, 'active', ?, 'test', ?)",
                       [tid, name, T0, T0])
            db.execute(f"UPDATE themes SET parent_id = ? WHERE id IN ({', '.join('?' * len(children))})",
                       [tid, *children])
        db.conn.executemany(
            "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
            "origin, model_id, assigned_at) VALUES (?, ?, ?, ?, 'fit', 1, ?)",
            [(ids[e], t, p, prim, T0) for e, t, p, prim in assignments])
        db.conn.executemany(
            "INSERT INTO sentiment (feedback_id, label, score, confidence, method, scored_at) "
            "VALUES (?, ?, ?, 0.9, 'test', ?)", [(ids[e], lab, v, T0) for e, lab, v in sentiment])
        db.conn.executemany(
            "INSERT INTO near_duplicates (feedback_id, canonical_id, similarity) VALUES (?, ?, 0.97)",
            [(ids[a], ids[b]) for a, b in near_dups])
        db.conn.executemany(
            "INSERT INTO comment_map (feedback_id, model_id, x, y) VALUES (?, 1, ?, ?)",
            [(fid, float(k), float(-k)) for k, fid in enumerate(sorted(ids.values()))])


@pytest.fixture
def themed_db(db):
    seed_theme_store(db)
    return db


def _row(table, name):
    frame = table.frame
    return frame[frame["name"] == name].iloc[0]


def test_theme_table_counts_shares_and_dedup(themed_db):
    table = queries.theme_table(themed_db, CURRENT, now=NOW)
    assert table.commented == 100
    assert list(table.frame["name"]) == ["Waiting time", "Staff", "Parking", "Unthemed"]
    wait = _row(table, "Waiting time")
    assert wait["mentions"] == 40 and wait["primary_mentions"] == 40
    assert wait["dedup_mentions"] == 36
    assert wait["customers"] == 30
    assert wait["share_pct"] == pytest.approx(40.0)
    assert wait["share_ci_low"] < 40 < wait["share_ci_high"]
    assert wait["sentiment_mean"] == pytest.approx(-0.6)
    assert wait["nps"] == pytest.approx(-100.0) and wait["nps_n"] == 40
    assert wait["keywords"] == ["wait", "queue", "desk"]
    staff = _row(table, "Staff")
    assert (staff["mentions"], staff["primary_mentions"], staff["dedup_mentions"]) == (25, 20, 21)
    assert staff["nps"] == pytest.approx((20 - 5) / 25 * 100)
    assert _row(table, "Parking")["mentions"] == 0
    assert "Old theme" not in set(table.frame["name"])
    unthemed = _row(table, "Unthemed")
    assert bool(unthemed["is_unthemed"]) and pd.isna(unthemed["theme_id"])
    assert unthemed["mentions"] == 40 and unthemed["share_pct"] == pytest.approx(40.0)
    assert unthemed["sentiment_n"] == 30  # i 90..99 have no sentiment row


def test_change_vs_previous_period_carries_test_and_p_value(themed_db):
    table = queries.theme_table(themed_db, CURRENT, now=NOW)
    assert table.period.explicit and "2025-02-04 to 2025-03-03" in views.period_note(table.period)
    wait = _row(table, "Waiting time")
    assert wait["change_pts"] == pytest.approx(20.0)
    assert wait["previous_share_pct"] == pytest.approx(20.0)
    assert wait["change_p_value"] < 0.01 and "z test" in wait["change_test"]
    assert wait["change_ci_low"] > 0
    staff = _row(table, "Staff")
    assert staff["change_pts"] == pytest.approx(5.0) and staff["change_p_value"] > 0.05
    unthemed = _row(table, "Unthemed")
    assert unthemed["change_pts"] == pytest.approx(-20.0) and unthemed["change_p_value"] < 0.01


def test_default_period_is_last_28_days_and_says_so(themed_db):
    table = queries.theme_table(themed_db, Filters(), now=NOW)
    assert not table.period.explicit and "No full date range" in views.period_note(table.period)
    assert table.period.current.start == date(2025, 3, 4)
    assert table.commented == 200  # figures cover everything; only the change uses the window
    wait = _row(table, "Waiting time")
    assert wait["mentions"] == 60 and wait["change_pts"] == pytest.approx(20.0)
    # Without `now`, the window ends at the latest feedback.
    assert queries.theme_table(themed_db, Filters()).period.current.end == date(2025, 3, 31)


def test_representative_quotes_skip_near_duplicates(themed_db):
    wait = _row(queries.theme_table(themed_db, CURRENT, now=NOW), "Waiting time")
    assert wait["quotes"] == [f"Waited {i} minutes in the queue at the desk" for i in (0, 5, 6)]
    quotes = queries.theme_quotes(themed_db, CURRENT, WAIT)
    assert list(quotes["comment"]) == wait["quotes"]


def test_filters_are_applied(themed_db):
    south = Filters(start=CURRENT.start, end=CURRENT.end, locations=("South",))
    table = queries.theme_table(themed_db, south, now=NOW)
    assert table.commented == 50
    assert _row(table, "Waiting time")["share_pct"] == pytest.approx(20.0)
    assert queries.theme_comment_count(themed_db, south, WAIT) == 10


def test_location_shares_with_wilson_intervals(themed_db):
    frame = queries.theme_by_location(themed_db, CURRENT, WAIT)
    assert list(frame["location"]) == ["North", "South"]
    north, south = frame.iloc[0], frame.iloc[1]
    assert (north["n"], north["mentions"], north["share_pct"]) == (50, 30, pytest.approx(60.0))
    assert (south["n"], south["mentions"], south["share_pct"]) == (50, 10, pytest.approx(20.0))
    assert north["ci_low"] > south["ci_high"]  # North is truly higher
    assert "Wilson" in north["method"]


def test_weekly_share_shows_injected_spike(db):
    rows, start = [], date(2025, 1, 6)  # a Monday
    for week in range(6):
        for k in range(20):
            rows.append({"external_id": f"w{week}-{k}", "source": "test",
                         "comment": f"comment {week} {k}",
                         "received_at": _at(start + timedelta(days=7 * week + k % 7))})
    with store.write_transaction(db):
        insert_feedback(db, rows, batch_id=None, actor="test", now=NOW)
        db.execute("INSERT INTO themes (id, name, created_at, created_by, updated_at) "
                   "VALUES (1, 'Spiky', ?, 'test', ?)", [T0, T0])
        for week in range(6):
            hits = 12 if week == 3 else 2
            for k in range(hits):
                fid = db.execute("SELECT id FROM feedback WHERE external_id = ?",
                                 [f"w{week}-{k}"]).fetchone()[0]
                db.execute("INSERT INTO theme_assignments (feedback_id, theme_id, probability, "
                           "is_primary, origin, assigned_at) VALUES (?, 1, 0.9, 1, 'fit', ?)",
                           [fid, T0])
    frame = queries.theme_share_over_time(db, Filters(), 1)
    assert list(frame["period"]) == [start + timedelta(days=7 * w) for w in range(6)]
    assert list(frame["n"]) == [20] * 6
    assert list(frame["share_pct"]) == pytest.approx([10, 10, 10, 60, 10, 10])
    assert frame["share_pct"].idxmax() == 3
    with pytest.raises(ValueError):
        queries.theme_share_over_time(db, Filters(), 1, freq="Q")


def test_sentiment_mix(themed_db):
    mix = queries.theme_sentiment_mix(themed_db, CURRENT, WAIT).set_index("label")["count"]
    assert mix.to_dict() == {"negative": 40, "neutral": 0, "positive": 0}
    unthemed = queries.theme_sentiment_mix(themed_db, CURRENT, None).set_index("label")["count"]
    assert unthemed.to_dict() == {"negative": 0, "neutral": 30, "positive": 0, "unscored": 10}


@pytest.mark.parametrize("hostile", ['"', "AND OR", "*", 'queue" OR', "NEAR(", "a:b", "-", "()"])
def test_search_never_raises_on_hostile_input(themed_db, hostile):
    frame = queries.theme_comments(themed_db, CURRENT, WAIT, search=hostile)
    assert len(frame) <= 40
    assert queries.theme_comment_count(themed_db, CURRENT, WAIT, search=hostile) == len(frame)


def test_search_finds_words(themed_db):
    assert queries.fts_query('queue "desk') == '"queue" "desk"'
    assert queries.fts_query('"') is None and queries.fts_query("*") is None
    assert len(queries.theme_comments(themed_db, CURRENT, WAIT, search="queue desk")) == 40
    assert len(queries.theme_comments(themed_db, CURRENT, WAIT, search="queu*")) == 40
    assert len(queries.theme_comments(themed_db, CURRENT, WAIT, search="friendly")) == 0
    assert len(queries.theme_comments(themed_db, CURRENT, WAIT, search="AND OR")) == 0
    assert len(queries.theme_comments(themed_db, CURRENT, WAIT, search='"')) == 40  # no words: no search
    found = queries.theme_comments(themed_db, CURRENT, STAFF, search="friendly", limit=5, offset=5)
    assert len(found) == 5 and found["comment"].str.contains("friendly").all()
    assert set(found.columns) >= {"received_at", "location", "score", "sentiment_label",
                                  "probability"}


def test_comments_in_probability_order_and_unthemed(themed_db):
    frame = queries.theme_comments(themed_db, CURRENT, WAIT, limit=3)
    assert list(frame["probability"]) == pytest.approx([0.99, 0.98, 0.97])
    unthemed = queries.theme_comments(themed_db, CURRENT, None, limit=500)
    assert len(unthemed) == 40 and unthemed["probability"].isna().all()


def test_comment_map_points_and_sampling(themed_db):
    points = queries.comment_map_points(themed_db, CURRENT)
    assert points.total == 100 and not points.sampled
    counts = points.frame["theme"].value_counts().to_dict()
    assert counts == {"Waiting time": 40, "Staff": 20, "Unthemed": 40}
    sample = queries.comment_map_points(themed_db, CURRENT, limit=10)
    assert sample.sampled and len(sample.frame) == 10
    assert list(sample.frame["feedback_id"]) == list(
        queries.comment_map_points(themed_db, CURRENT, limit=10).frame["feedback_id"])
    assert sample.frame["comment"].str.len().max() <= queries.SHORT_COMMENT_CHARS


def test_theme_choices_and_status(themed_db):
    assert queries.theme_choices(themed_db) == {PARKING: "Parking", STAFF: "Staff", WAIT: "Waiting time"}
    status = queries.theme_status(themed_db)
    assert status["themes"] == 3 and status["feedback"] == 215 and status["commented"] == 200


def test_empty_store(db):
    table = queries.theme_table(db, Filters())
    assert table.commented == 0 and list(table.frame["name"]) == ["Unthemed"]
    assert pd.isna(table.frame["share_pct"].iloc[0])
    assert queries.theme_by_location(db, Filters(), 1).empty
    assert queries.theme_share_over_time(db, Filters(), 1).empty
    assert queries.comment_map_points(db, Filters()).total == 0
    assert queries.theme_comments(db, Filters(), 1, search="x").empty
    assert queries.corrections_frame(db).empty and queries.corrections_count(db) == 0
    assert queries.seed_theme_frame(db).empty
    figures = queries.quality_figures(db)
    assert figures["accuracy"].n == 0 and figures["accuracy"].value is None
    assert figures["sentiment_cv"] is None and figures["status"]["feedback"] == 0
    assert queries.running_theme_job_id(db) is None


def test_drilldown_and_comment_page_read_the_theme(themed_db):
    data = queries.theme_drilldown(themed_db, CURRENT, WAIT)
    assert set(data) == {"quotes", "locations", "weekly", "sentiment"}
    assert queries.theme_drilldown(themed_db, CURRENT, None)["quotes"] is None
    frame, total = queries.theme_comments_page(themed_db, CURRENT, WAIT, "", 0)
    assert total == 40 and len(frame) == 40


# --------------------------------------------------------------------------- theme quality

def _feedback_id(db, external_id: str) -> int:
    return db.execute("SELECT id FROM feedback WHERE external_id = ?", [external_id]).fetchone()[0]


def test_corrections_newest_first_with_theme_names(themed_db):
    moved, unthemed = _feedback_id(themed_db, "cur-2"), _feedback_id(themed_db, "cur-3")
    admin.correct_theme(themed_db, moved, WAIT, STAFF, actor="ana", now=NOW)
    admin.correct_theme(themed_db, unthemed, WAIT, None, actor="bo",
                        now=NOW + timedelta(hours=1))
    frame = queries.corrections_frame(themed_db)
    assert list(frame.columns) == queries.CORRECTION_COLUMNS
    assert list(frame["actor"]) == ["bo", "ana"]
    assert list(frame["from_theme"]) == ["Waiting time", "Waiting time"]
    assert list(frame["to_theme"]) == [queries.NO_THEME, "Staff"]
    assert frame["comment"].iloc[1] == "Waited 2 minutes in the queue at the desk"
    assert frame["at"].iloc[0] == pd.Timestamp(NOW + timedelta(hours=1))
    assert len(queries.corrections_frame(themed_db, limit=1)) == 1
    assert queries.corrections_count(themed_db) == 2


def test_seed_themes_with_terms_and_sizes(themed_db):
    seed = admin.add_seed_theme(themed_db, "Refunds", ["refund", "money back"], actor="ana")
    admin.correct_theme(themed_db, _feedback_id(themed_db, "cur-80"), None, seed,
                        actor="ana")
    frame = queries.seed_theme_frame(themed_db)
    assert list(frame.columns) == queries.SEED_COLUMNS
    assert frame.to_dict("records") == [
        {"theme_id": seed, "name": "Refunds", "terms": ["refund", "money back"], "mentions": 1}]


def test_audit_sample_is_fixed_unaudited_and_not_by_probability(themed_db):
    sample = queries.audit_sample(themed_db, WAIT, limit=60)
    assert len(sample) == 60 and list(sample.columns) == queries.AUDIT_COLUMNS
    assert list(sample["probability"]) != sorted(sample["probability"], reverse=True)
    assert list(queries.audit_sample(themed_db, WAIT, limit=5)["feedback_id"]) == list(
        sample["feedback_id"][:5])
    admin.confirm_theme(themed_db, int(sample["feedback_id"][0]), WAIT, actor="ana")
    after = queries.audit_sample(themed_db, WAIT, limit=60)
    assert list(after["feedback_id"]) == list(sample["feedback_id"][1:])
    assert queries.audit_sample(themed_db, PARKING).empty




def test_the_running_theme_job_is_the_newest_running_one_of_its_kind(db):
    with store.write_transaction(db):
        for kind, status in [("themes", "running"), ("themes", "running"), ("themes", "done"),
                             ("other", "running")]:
            db.execute("INSERT INTO jobs (kind, status, progress, started_at, actor) "
                       "VALUES (?, ?, 0, ?, 'test')", [kind, status, T0])
    assert queries.running_theme_job_id(db) == 2
    assert db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()[0] == 3

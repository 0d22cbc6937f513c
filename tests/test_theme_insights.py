"""Theme insights on a small hand-built store whose answers are known by construction.

Current period (2025-03-04..2025-03-31), 100 commented responses, i = 0..99:
  North i < 50, South i >= 50.
  "Waiting time": primary on North i 0..29 and South i 50..59 -> 40 mentions (North 30/50,
    South 10/50); i 1..4 are near-duplicates of i 0 -> 36 deduplicated; customers: North
    ones share 20 ids (c{i % 20}), South ones have their own -> 30 distinct; NPS 3.
  "Staff": primary on i 30..39 and 60..69, secondary on i 0..4 -> 25 mentions, 20 primary.
  "Parking": active, never mentioned. "Old theme": merged, assigned to i 99 (ignored).
  Unthemed: the other 40.
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
from analysis.stats import estimates as metrics
from analysis.themes import queries as ti

NOW = datetime(2025, 3, 31, 12, tzinfo=UTC)
CURRENT = Filters(start=date(2025, 3, 4), end=date(2025, 3, 31))
WAIT, STAFF, PARKING, OLD = 1, 2, 3, 4
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
    table = ti.theme_table(themed_db, CURRENT, now=NOW)
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
    table = ti.theme_table(themed_db, CURRENT, now=NOW)
    assert table.period.explicit and "2025-02-04 to 2025-03-03" in table.period.note
    wait = _row(table, "Waiting time")
    assert wait["change_pts"] == pytest.approx(20.0)
    assert wait["previous_share_pct"] == pytest.approx(20.0)
    assert wait["change_p_value"] < 0.01 and "z test" in wait["change_test"]
    assert wait["change_ci_low"] > 0
    staff = _row(table, "Staff")
    assert staff["change_pts"] == pytest.approx(5.0) and staff["change_p_value"] > 0.05
    unthemed = _row(table, "Unthemed")
    assert unthemed["change_pts"] == pytest.approx(-20.0) and unthemed["change_p_value"] < 0.01


def test_two_proportion_test_matches_statsmodels():
    from statsmodels.stats.proportion import proportions_ztest

    diff = ti.two_proportion_test("x", 40, 100, 20, 100)
    _, p = proportions_ztest([40, 20], [100, 100])
    assert diff.p_value == pytest.approx(p)
    assert ti.two_proportion_test("x", 0, 10, 0, 10).p_value == 1.0
    assert ti.two_proportion_test("x", 1, 0, 1, 10).p_value is None


def test_default_period_is_last_28_days_and_says_so(themed_db):
    table = ti.theme_table(themed_db, Filters(), now=NOW)
    assert not table.period.explicit and "No full date range" in table.period.note
    assert table.period.current.start == date(2025, 3, 4)
    assert table.commented == 200  # figures cover everything; only the change uses the window
    wait = _row(table, "Waiting time")
    assert wait["mentions"] == 60 and wait["change_pts"] == pytest.approx(20.0)
    # Without `now`, the window ends at the latest feedback.
    assert ti.theme_table(themed_db, Filters()).period.current.end == date(2025, 3, 31)


def test_representative_quotes_skip_near_duplicates(themed_db):
    wait = _row(ti.theme_table(themed_db, CURRENT, now=NOW), "Waiting time")
    assert wait["quotes"] == [f"Waited {i} minutes in the queue at the desk" for i in (0, 5, 6)]
    quotes = ti.theme_quotes(themed_db, CURRENT, WAIT)
    assert list(quotes["comment"]) == wait["quotes"]


def test_filters_are_applied(themed_db):
    south = Filters(start=CURRENT.start, end=CURRENT.end, locations=("South",))
    table = ti.theme_table(themed_db, south, now=NOW)
    assert table.commented == 50
    assert _row(table, "Waiting time")["share_pct"] == pytest.approx(20.0)
    assert ti.theme_comment_count(themed_db, south, WAIT) == 10


def test_location_shares_with_wilson_intervals(themed_db):
    frame = ti.theme_by_location(themed_db, CURRENT, WAIT)
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
    frame = ti.theme_share_over_time(db, Filters(), 1)
    assert list(frame["period"]) == [start + timedelta(days=7 * w) for w in range(6)]
    assert list(frame["n"]) == [20] * 6
    assert list(frame["share_pct"]) == pytest.approx([10, 10, 10, 60, 10, 10])
    assert frame["share_pct"].idxmax() == 3
    with pytest.raises(ValueError):
        ti.theme_share_over_time(db, Filters(), 1, freq="Q")


def test_sentiment_mix(themed_db):
    mix = ti.theme_sentiment_mix(themed_db, CURRENT, WAIT).set_index("label")["count"]
    assert mix.to_dict() == {"negative": 40, "neutral": 0, "positive": 0}
    unthemed = ti.theme_sentiment_mix(themed_db, CURRENT, None).set_index("label")["count"]
    assert unthemed.to_dict() == {"negative": 0, "neutral": 30, "positive": 0, "unscored": 10}


@pytest.mark.parametrize("hostile", ['"', "AND OR", "*", 'queue" OR', "NEAR(", "a:b", "-", "()"])
def test_search_never_raises_on_hostile_input(themed_db, hostile):
    frame = ti.theme_comments(themed_db, CURRENT, WAIT, search=hostile)
    assert len(frame) <= 40
    assert ti.theme_comment_count(themed_db, CURRENT, WAIT, search=hostile) == len(frame)


def test_search_finds_words(themed_db):
    assert ti.fts_query('queue "desk') == '"queue" "desk"'
    assert ti.fts_query('"') is None and ti.fts_query("*") is None
    assert len(ti.theme_comments(themed_db, CURRENT, WAIT, search="queue desk")) == 40
    assert len(ti.theme_comments(themed_db, CURRENT, WAIT, search="queu*")) == 40
    assert len(ti.theme_comments(themed_db, CURRENT, WAIT, search="friendly")) == 0
    assert len(ti.theme_comments(themed_db, CURRENT, WAIT, search="AND OR")) == 0
    assert len(ti.theme_comments(themed_db, CURRENT, WAIT, search='"')) == 40  # no words: no search
    found = ti.theme_comments(themed_db, CURRENT, STAFF, search="friendly", limit=5, offset=5)
    assert len(found) == 5 and found["comment"].str.contains("friendly").all()
    assert set(found.columns) >= {"received_at", "location", "score", "sentiment_label",
                                  "probability"}


def test_comments_in_probability_order_and_unthemed(themed_db):
    frame = ti.theme_comments(themed_db, CURRENT, WAIT, limit=3)
    assert list(frame["probability"]) == pytest.approx([0.99, 0.98, 0.97])
    unthemed = ti.theme_comments(themed_db, CURRENT, None, limit=500)
    assert len(unthemed) == 40 and unthemed["probability"].isna().all()


def test_comment_map_points_and_sampling(themed_db):
    points = ti.comment_map_points(themed_db, CURRENT)
    assert points.total == 100 and not points.sampled
    counts = points.frame["theme"].value_counts().to_dict()
    assert counts == {"Waiting time": 40, "Staff": 20, "Unthemed": 40}
    sample = ti.comment_map_points(themed_db, CURRENT, limit=10)
    assert sample.sampled and len(sample.frame) == 10
    assert list(sample.frame["feedback_id"]) == list(
        ti.comment_map_points(themed_db, CURRENT, limit=10).frame["feedback_id"])
    assert sample.frame["comment"].str.len().max() <= ti.SHORT_COMMENT_CHARS


def test_theme_choices_and_status(themed_db):
    assert ti.theme_choices(themed_db) == {PARKING: "Parking", STAFF: "Staff", WAIT: "Waiting time"}
    status = ti.theme_status(themed_db)
    assert status["themes"] == 3 and status["feedback"] == 215 and status["commented"] == 200


def test_empty_store(db):
    table = ti.theme_table(db, Filters())
    assert table.commented == 0 and list(table.frame["name"]) == ["Unthemed"]
    assert pd.isna(table.frame["share_pct"].iloc[0])
    assert ti.theme_by_location(db, Filters(), 1).empty
    assert ti.theme_share_over_time(db, Filters(), 1).empty
    assert ti.comment_map_points(db, Filters()).total == 0
    assert ti.theme_comments(db, Filters(), 1, search="x").empty


# --------------------------------------------------------------------------- theme page helpers

@pytest.fixture
def table(themed_db):
    return ti.theme_table(themed_db, CURRENT)


def test_theme_keys_name_every_row_in_table_order(table):
    names = ti.theme_names_by_key(table.frame)
    assert names == {str(WAIT): "Waiting time", str(STAFF): "Staff",
                     str(PARKING): "Parking", ti.UNTHEMED_KEY: "Unthemed"}
    assert ti.theme_id_from_key(str(WAIT)) == WAIT
    assert ti.theme_id_from_key(ti.UNTHEMED_KEY) is None and ti.theme_id_from_key(None) is None


def test_theme_row_finds_a_theme_or_the_unthemed_row(table):
    assert ti.theme_row(table.frame, WAIT)["name"] == "Waiting time"
    assert ti.theme_row(table.frame, None)["name"] == "Unthemed"
    assert ti.theme_row(table.frame, 999) is None


def test_share_and_change_summaries_word_the_row(table):
    row = ti.theme_row(table.frame, WAIT)
    assert ti.share_summary(row).startswith("40 mentions, 40.0% of commented feedback (95% ")
    assert ti.change_summary(row).startswith("Change vs previous period: ")
    no_change = row.copy()
    no_change["change_pts"] = None
    assert ti.change_summary(no_change) is None


def test_nps_interval_text_is_blank_without_an_interval():
    frame = pd.DataFrame({"nps_ci_low": [-10.4, float("nan")], "nps_ci_high": [30.6, None],
                          "nps_n": [25, 0]})
    shown = ti.with_nps_interval(frame)
    assert list(shown["nps_interval"]) == ["-10 to 31 (n=25)", ""]
    assert "nps_interval" not in frame


def test_merge_and_correction_choices_leave_out_the_theme_itself(table):
    assert ti.merge_candidates(table.frame, WAIT) == {STAFF: "Staff", PARKING: "Parking"}
    assert ti.correction_keys({WAIT: "Waiting time", STAFF: "Staff"}, WAIT) == [
        ti.UNTHEMED_KEY, str(STAFF)]


def test_comment_pages_are_200_long_and_the_summary_counts_from_one():
    assert ti.comments_offset(1) == 0 and ti.comments_offset(3) == 400
    assert ti.comments_summary(450, 200, 2) == "450 comments; showing 200 from number 201."
    assert ti.comments_summary(0, 0, 1) == "0 comments; showing 0 from number 0."


def test_header_metrics_show_accuracy_with_its_interval_or_ask_for_audits():
    status = {"assigned": 1200, "commented": 1500}
    estimate = metrics.share_from_counts("Audited theme accuracy %", 45, 50)
    audited, classifier, coverage = ti.header_metrics(
        {"status": status, "accuracy": estimate, "sentiment_cv": 0.812})
    assert audited[:2] == ("Audited theme accuracy", "90%") and "50 audited comments" in audited[2]
    assert classifier[1] == "81%"
    assert coverage == ("Comments with a theme", "1,200 of 1,500", None)
    audited, classifier, _ = ti.header_metrics(
        {"status": status, "accuracy": None, "sentiment_cv": None})
    assert audited[1] == "no audits yet" and classifier[1] == "not available"
    assert ti.format_pct(None) == "n/a" and ti.format_pct(float("nan"), 1) == "n/a"


def test_job_view_reads_dicts_and_objects_and_clamps_progress():
    class Status:
        status, progress, message = "running", 1.7, None

    assert ti.job_view({"status": "running", "progress": 0.4, "message": "embedding"}) == (
        "running", 0.4, "embedding")
    assert ti.job_view(Status()) == ("running", 1.0, "")
    assert ti.job_view(None) == ("failed", 0.0, "")


def test_drilldown_and_comment_page_read_the_theme(themed_db):
    data = ti.theme_drilldown(themed_db, CURRENT, WAIT)
    assert set(data) == {"quotes", "locations", "weekly", "sentiment"}
    assert ti.theme_drilldown(themed_db, CURRENT, None)["quotes"] is None
    frame, total = ti.theme_comments_page(themed_db, CURRENT, WAIT, "", 0)
    assert total == 40 and len(frame) == 40


def test_filters_key_round_trips_through_read_filtered(themed_db, db_path):
    key = ti.filters_key(CURRENT)
    assert key == ti.filters_key(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert ti.read_filtered(str(db_path), key, lambda db, filters: filters) == CURRENT
    assert ti.read(str(db_path), ti.theme_choices)[WAIT] == "Waiting time"


# --------------------------------------------------------------------------- theme list view

def _theme_frame(n: int) -> pd.DataFrame:
    """A theme table frame of n themes (Theme 1 largest) and the Unthemed row."""
    blank = dict.fromkeys(ti.THEME_TABLE_COLUMNS)
    records = [{**blank, "theme_id": i + 1, "name": f"Theme {i + 1}", "is_unthemed": False,
                "mentions": 100 - i, "keywords": [f"word{i + 1}", "common"], "quotes": ["q"],
                "nps_n": 0} for i in range(n)]
    records.append({**blank, "name": ti.UNTHEMED, "is_unthemed": True, "mentions": 7,
                    "keywords": [], "quotes": [], "nps_n": 0})
    frame = pd.DataFrame.from_records(records, columns=ti.THEME_TABLE_COLUMNS)
    frame["theme_id"] = frame["theme_id"].astype("Int64")
    return frame


def test_theme_list_shows_the_largest_themes_then_unthemed():
    view = ti.theme_list_view(_theme_frame(30))
    assert len(view.frame) == ti.TOP_THEMES + 1
    assert list(view.frame["name"][:2]) == ["Theme 1", "Theme 2"]
    assert view.frame["name"].iloc[-1] == ti.UNTHEMED
    assert view.keys == [str(i) for i in range(1, 26)] + [ti.UNTHEMED_KEY]
    assert view.note.startswith("The 25 largest of 30 themes.")
    # Only what the table shows goes to the browser: no quotes, keywords as one text cell.
    assert list(view.frame.columns) == ti.THEME_LIST_COLUMNS
    assert view.frame["keywords"].iloc[0] == "word1, common"
    assert view.frame["nps_interval"].iloc[0] == ""


def test_theme_list_shows_all_on_request_or_when_few():
    everything = ti.theme_list_view(_theme_frame(30), show_all=True)
    assert len(everything.frame) == 31 and everything.note == "All 30 themes, largest first."
    assert len(ti.theme_list_view(_theme_frame(3)).frame) == 4


def test_theme_list_search_needs_every_word_in_name_or_keywords():
    frame = _theme_frame(30)
    view = ti.theme_list_view(frame, search="  THEME 7 ")
    assert list(view.frame["name"]) == ["Theme 7", "Theme 17", "Theme 27", ti.UNTHEMED]
    assert view.keys == ["7", "17", "27", ti.UNTHEMED_KEY]
    assert view.note == "3 of 30 themes match the search."
    by_keyword = ti.theme_list_view(frame, search="word12").frame
    assert list(by_keyword["name"]) == ["Theme 12", ti.UNTHEMED]
    # The search text is the user's: the note, shown as Markdown, never repeats it.
    hostile = ti.theme_list_view(frame, search="<b>nothing</b> **x**")
    assert list(hostile.frame["name"]) == [ti.UNTHEMED]
    assert "<b>" not in hostile.note and "**" not in hostile.note


def test_theme_list_view_of_the_seeded_table(table):
    view = ti.theme_list_view(table.frame)
    assert list(view.frame["name"]) == ["Waiting time", "Staff", "Parking", "Unthemed"]
    assert view.keys == [str(WAIT), str(STAFF), str(PARKING), ti.UNTHEMED_KEY]
    assert view.frame["keywords"].iloc[0] == "wait, queue, desk"


def test_list_caption_and_coverage_say_what_the_numbers_are(table):
    caption = ti.theme_list_caption(table)
    assert caption.startswith("Shares are of 100 commented responses;")
    assert table.period.note in caption
    coverage = ti.coverage_summary({"assigned": 150, "commented": 200})
    assert coverage.startswith("150 of 200 commented responses have a theme (75%).")
    assert "Theme quality page" in coverage
    assert ti.coverage_summary({"assigned": 0, "commented": 0}).startswith("0 of 0 ")


# --------------------------------------------------------------------------- theme quality

def _feedback_id(db, external_id: str) -> int:
    return db.execute("SELECT id FROM feedback WHERE external_id = ?", [external_id]).fetchone()[0]


def test_quality_figures_count_audits_once_per_comment(themed_db):
    from analysis.themes import admin as theme_admin

    first, second = _feedback_id(themed_db, "cur-0"), _feedback_id(themed_db, "cur-1")
    theme_admin.confirm_theme(themed_db, first, WAIT, actor="ana")
    theme_admin.confirm_theme(themed_db, second, WAIT, actor="ana")
    theme_admin.correct_theme(themed_db, second, WAIT, STAFF, actor="ana")  # second audit
    assert ti.audit_counts(themed_db) == {"audited": 2, "confirmed": 1, "corrected": 1}
    figures = ti.quality_figures(themed_db)
    assert figures["accuracy"].value == pytest.approx(50.0)
    labels = [m[0] for m in ti.quality_metrics(figures)]
    assert labels == ["Audited theme accuracy", "Audited comments",
                      "Sentiment classifier accuracy", "Comments with a theme"]
    audited = ti.quality_metrics(figures)[1]
    assert audited[1:] == ("2", "1 confirmed, 1 corrected.")


def test_corrections_newest_first_with_theme_names(themed_db):
    from analysis.themes import admin as theme_admin

    moved, unthemed = _feedback_id(themed_db, "cur-2"), _feedback_id(themed_db, "cur-3")
    theme_admin.correct_theme(themed_db, moved, WAIT, STAFF, actor="ana", now=NOW)
    theme_admin.correct_theme(themed_db, unthemed, WAIT, None, actor="bo",
                              now=NOW + timedelta(hours=1))
    frame = ti.corrections_frame(themed_db)
    assert list(frame.columns) == ti.CORRECTION_COLUMNS
    assert list(frame["actor"]) == ["bo", "ana"]
    assert list(frame["from_theme"]) == ["Waiting time", "Waiting time"]
    assert list(frame["to_theme"]) == [ti.NO_THEME, "Staff"]
    assert frame["comment"].iloc[1] == "Waited 2 minutes in the queue at the desk"
    assert frame["at"].iloc[0] == pd.Timestamp(NOW + timedelta(hours=1))
    assert len(ti.corrections_frame(themed_db, limit=1)) == 1
    assert ti.corrections_count(themed_db) == 2


def test_seed_themes_with_terms_and_sizes(themed_db):
    from analysis.themes import admin as theme_admin

    seed = theme_admin.add_seed_theme(themed_db, "Refunds", ti.parse_terms("refund, money back"),
                                      actor="ana")
    theme_admin.correct_theme(themed_db, _feedback_id(themed_db, "cur-80"), None, seed,
                              actor="ana")
    frame = ti.seed_theme_frame(themed_db)
    assert list(frame.columns) == ti.SEED_COLUMNS
    assert frame.to_dict("records") == [
        {"theme_id": seed, "name": "Refunds", "terms": ["refund", "money back"], "mentions": 1}]


def test_parse_terms_splits_on_commas_and_lines_and_drops_repeats():
    assert ti.parse_terms("queue, wait\n  long   line ,\n\nQueue,") == ["queue", "wait",
                                                                        "long line"]
    assert ti.parse_terms("") == [] and ti.parse_terms(None) == []


def test_quality_on_an_empty_store(db):
    assert ti.audit_counts(db) == {"audited": 0, "confirmed": 0, "corrected": 0}
    assert ti.corrections_frame(db).empty and ti.corrections_count(db) == 0
    assert ti.seed_theme_frame(db).empty
    metrics_shown = ti.quality_metrics(ti.quality_figures(db))
    assert metrics_shown[0][1] == "no audits yet" and metrics_shown[1][1] == "0"


def test_audit_sample_is_fixed_unaudited_and_not_by_probability(themed_db):
    from analysis.themes import admin as theme_admin

    sample = ti.audit_sample(themed_db, WAIT, limit=60)
    assert len(sample) == 60 and list(sample.columns) == ti.AUDIT_COLUMNS
    assert list(sample["probability"]) != sorted(sample["probability"], reverse=True)
    assert list(ti.audit_sample(themed_db, WAIT, limit=5)["feedback_id"]) == list(
        sample["feedback_id"][:5])
    theme_admin.confirm_theme(themed_db, int(sample["feedback_id"][0]), WAIT, actor="ana")
    after = ti.audit_sample(themed_db, WAIT, limit=60)
    assert list(after["feedback_id"]) == list(sample["feedback_id"][1:])
    assert ti.audit_sample(themed_db, PARKING).empty


def test_a_table_click_picks_once_and_names_its_table():
    keys = ["3", "1", ti.UNTHEMED_KEY]
    click, picked = ti.table_click(keys, [1], "t", None)
    assert click == ("t", "1") and picked == "1"
    assert ti.table_click(keys, [1], "t", click) == (click, None)  # same click on a rerun
    assert ti.table_click(keys, [1], "u", click) == (("u", "1"), "1")  # other rows, new click
    assert ti.table_click(keys, [], "t", click) == (("t", None), None)
    assert ti.table_click(keys, [7], "t", None) == (("t", None), None)


def test_empty_messages_say_what_is_missing_first():
    none = {"feedback": 0, "themes": 0}
    assert ti.empty_message(none, None) == ti.NO_FEEDBACK
    assert ti.empty_message({"feedback": 5, "themes": 0}, None) == ti.NO_THEMES
    assert ti.empty_message({"feedback": 5, "themes": 2}, 0) == ti.NO_COMMENTS
    assert ti.empty_message({"feedback": 5, "themes": 2}, 3) is None

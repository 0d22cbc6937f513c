"""What the theme pages show (`analysis.views.themes`, `analysis.views.theme_quality`):
the theme list, clicks in it, the drill-down's wording, the quality metrics, seed terms.
Figures come from the hand-built store of `test_theme_queries`, whose answers are known."""

from __future__ import annotations

from datetime import date

import pandas as pd
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

from analysis.domain.filters import Filters
from analysis.stats import estimates as metrics
from analysis.themes import admin, queries
from analysis.views import theme_quality as quality
from analysis.views import themes as views


@pytest.fixture
def themed_db(db):
    seed_theme_store(db)
    return db


@pytest.fixture
def table(themed_db):
    return queries.theme_table(themed_db, CURRENT)


def test_theme_keys_name_every_row_in_table_order(table):
    names = views.theme_names_by_key(table.frame)
    assert names == {str(WAIT): "Waiting time", str(STAFF): "Staff",
                     str(PARKING): "Parking", views.UNTHEMED_KEY: "Unthemed"}
    assert views.theme_id_from_key(str(WAIT)) == WAIT
    assert views.theme_id_from_key(views.UNTHEMED_KEY) is None and views.theme_id_from_key(None) is None


def test_theme_row_finds_a_theme_or_the_unthemed_row(table):
    assert views.theme_row(table.frame, WAIT)["name"] == "Waiting time"
    assert views.theme_row(table.frame, None)["name"] == "Unthemed"
    assert views.theme_row(table.frame, 999) is None


def test_share_and_change_summaries_word_the_row(table):
    row = views.theme_row(table.frame, WAIT)
    assert views.share_summary(row).startswith("40 mentions, 40.0% of commented feedback (95% ")
    assert views.change_summary(row).startswith("Change vs previous period: ")
    no_change = row.copy()
    no_change["change_pts"] = None
    assert views.change_summary(no_change) is None


def test_nps_interval_text_is_blank_without_an_interval():
    frame = pd.DataFrame({"nps_ci_low": [-10.4, float("nan")], "nps_ci_high": [30.6, None],
                          "nps_n": [25, 0]})
    shown = views.with_nps_interval(frame)
    assert list(shown["nps_interval"]) == ["-10 to 31 (n=25)", ""]
    assert "nps_interval" not in frame


def test_merge_and_correction_choices_leave_out_the_theme_itself(table):
    assert views.merge_candidates(table.frame, WAIT) == {STAFF: "Staff", PARKING: "Parking"}
    assert quality.correction_keys({WAIT: "Waiting time", STAFF: "Staff"}, WAIT) == [
        views.UNTHEMED_KEY, str(STAFF)]


def test_comment_pages_are_200_long_and_the_summary_counts_from_one():
    assert views.comments_offset(1) == 0 and views.comments_offset(3) == 400
    assert views.comments_summary(450, 200, 2) == "450 comments; showing 200 from number 201."
    assert views.comments_summary(0, 0, 1) == "0 comments; showing 0 from number 0."


def test_header_metrics_show_accuracy_with_its_interval_or_ask_for_audits():
    status = {"assigned": 1200, "commented": 1500}
    estimate = metrics.share_from_counts("Audited theme accuracy %", 45, 50)
    audited, classifier, coverage = quality.header_metrics(
        {"status": status, "accuracy": estimate, "sentiment_cv": 0.812})
    assert audited[:2] == ("Audited theme accuracy", "90%") and "50 audited comments" in audited[2]
    assert classifier[1] == "81%"
    assert coverage == ("Comments with a theme", "1,200 of 1,500", None)
    audited, classifier, _ = quality.header_metrics(
        {"status": status, "accuracy": None, "sentiment_cv": None})
    assert audited[1] == "no audits yet" and classifier[1] == "not available"
    assert views.format_pct(None) == "n/a" and views.format_pct(float("nan"), 1) == "n/a"


def test_job_view_reads_dicts_and_objects_and_clamps_progress():
    class Status:
        status, progress, message = "running", 1.7, None

    assert views.job_view({"status": "running", "progress": 0.4, "message": "embedding"}) == (
        "running", 0.4, "embedding")
    assert views.job_view(Status()) == ("running", 1.0, "")
    assert views.job_view(None) == ("failed", 0.0, "")


# --------------------------------------------------------------------------- theme list view

def _theme_frame(n: int) -> pd.DataFrame:
    """A theme table frame of n themes (Theme 1 largest) and the Unthemed row."""
    blank = dict.fromkeys(queries.THEME_TABLE_COLUMNS)
    records = [{**blank, "theme_id": i + 1, "name": f"Theme {i + 1}", "is_unthemed": False,
                "mentions": 100 - i, "keywords": [f"word{i + 1}", "common"], "quotes": ["q"],
                "nps_n": 0} for i in range(n)]
    records.append({**blank, "name": queries.UNTHEMED, "is_unthemed": True, "mentions": 7,
                    "keywords": [], "quotes": [], "nps_n": 0})
    frame = pd.DataFrame.from_records(records, columns=queries.THEME_TABLE_COLUMNS)
    frame["theme_id"] = frame["theme_id"].astype("Int64")
    return frame


def test_theme_list_shows_the_largest_themes_then_unthemed():
    view = views.theme_list_view(_theme_frame(30))
    assert len(view.frame) == views.TOP_THEMES + 1
    assert list(view.frame["name"][:2]) == ["Theme 1", "Theme 2"]
    assert view.frame["name"].iloc[-1] == queries.UNTHEMED
    assert view.keys == [str(i) for i in range(1, 26)] + [views.UNTHEMED_KEY]
    assert view.note.startswith("The 25 largest of 30 themes.")
    # Only what the table shows goes to the browser: no quotes, keywords as one text cell.
    assert list(view.frame.columns) == views.THEME_LIST_COLUMNS
    assert view.frame["keywords"].iloc[0] == "word1, common"
    assert view.frame["nps_interval"].iloc[0] == ""
    assert view.frame["share_interval"].iloc[0] == view.frame["change_interval"].iloc[0] == ""


def test_theme_list_shows_all_on_request_or_when_few():
    everything = views.theme_list_view(_theme_frame(30), show_all=True)
    assert len(everything.frame) == 31 and everything.note == "All 30 themes, largest first."
    assert len(views.theme_list_view(_theme_frame(3)).frame) == 4


def test_theme_list_search_needs_every_word_in_name_or_keywords():
    frame = _theme_frame(30)
    view = views.theme_list_view(frame, search="  THEME 7 ")
    assert list(view.frame["name"]) == ["Theme 7", "Theme 17", "Theme 27", queries.UNTHEMED]
    assert view.keys == ["7", "17", "27", views.UNTHEMED_KEY]
    assert view.note == "3 of 30 themes match the search."
    by_keyword = views.theme_list_view(frame, search="word12").frame
    assert list(by_keyword["name"]) == ["Theme 12", queries.UNTHEMED]
    # The search text is the user's: the note, shown as Markdown, never repeats it.
    hostile = views.theme_list_view(frame, search="<b>nothing</b> **x**")
    assert list(hostile.frame["name"]) == [queries.UNTHEMED]
    assert "<b>" not in hostile.note and "**" not in hostile.note


def test_theme_list_view_of_the_seeded_table(table):
    view = views.theme_list_view(table.frame)
    assert list(view.frame["name"]) == ["Waiting time", "Staff", "Parking", "Unthemed"]
    assert view.keys == [str(WAIT), str(STAFF), str(PARKING), views.UNTHEMED_KEY]
    assert view.frame["keywords"].iloc[0] == "wait, queue, desk"


def test_list_caption_and_coverage_say_what_the_numbers_are(table):
    caption = views.theme_list_caption(table)
    assert caption.startswith("Shares are of 100 commented responses;")
    assert views.period_note(table.period) in caption
    coverage = views.coverage_summary({"assigned": 150, "commented": 200})
    assert coverage.startswith("150 of 200 commented responses have a theme (75%).")
    assert "Theme quality page" in coverage
    assert views.coverage_summary({"assigned": 0, "commented": 0}).startswith("0 of 0 ")


def _feedback_id(db, external_id: str) -> int:
    return db.execute("SELECT id FROM feedback WHERE external_id = ?", [external_id]).fetchone()[0]


def test_quality_figures_count_audits_once_per_comment(themed_db):
    first, second = _feedback_id(themed_db, "cur-0"), _feedback_id(themed_db, "cur-1")
    admin.confirm_theme(themed_db, first, WAIT, actor="ana")
    admin.confirm_theme(themed_db, second, WAIT, actor="ana")
    admin.correct_theme(themed_db, second, WAIT, STAFF, actor="ana")  # second audit
    figures = queries.quality_figures(themed_db)
    assert quality.audit_counts(figures["accuracy"]) == {
        "audited": 2, "confirmed": 1, "corrected": 1}
    assert figures["accuracy"].value == pytest.approx(50.0)
    labels = [m[0] for m in quality.quality_metrics(figures)]
    assert labels == ["Audited theme accuracy", "Audited comments",
                      "Sentiment classifier accuracy", "Comments with a theme"]
    audited = quality.quality_metrics(figures)[1]
    assert audited[1:] == ("2", "1 confirmed, 1 corrected.")


def test_parse_terms_splits_on_commas_and_lines_and_drops_repeats():
    assert quality.parse_terms("queue, wait\n  long   line ,\n\nQueue,") == [
        "queue", "wait", "long line"]
    assert quality.parse_terms("") == [] and quality.parse_terms(None) == []


def test_quality_on_an_empty_store(db):
    figures = queries.quality_figures(db)
    assert quality.audit_counts(figures["accuracy"]) == {
        "audited": 0, "confirmed": 0, "corrected": 0}
    metrics_shown = quality.quality_metrics(figures)
    assert metrics_shown[0][1] == "no audits yet" and metrics_shown[1][1] == "0"


def test_a_table_click_picks_once_and_names_its_table():
    keys = ["3", "1", views.UNTHEMED_KEY]
    click, picked = views.table_click(keys, [1], "t", None)
    assert click == ("t", "1") and picked == "1"
    assert views.table_click(keys, [1], "t", click) == (click, None)  # same click on a rerun
    assert views.table_click(keys, [1], "u", click) == (("u", "1"), "1")  # other rows, new click
    assert views.table_click(keys, [], "t", click) == (("t", None), None)
    assert views.table_click(keys, [7], "t", None) == (("t", None), None)


def test_empty_messages_say_what_is_missing_first():
    none = {"feedback": 0, "themes": 0}
    assert views.empty_message(none, None) == views.NO_FEEDBACK
    assert views.empty_message({"feedback": 5, "themes": 0}, None) == views.NO_THEMES
    assert views.empty_message({"feedback": 5, "themes": 2}, 0) == views.NO_COMMENTS
    assert views.empty_message({"feedback": 5, "themes": 2}, 3) is None


def test_the_period_note_names_both_periods_and_says_when_a_default_window_was_used():
    chosen = Filters(start=date(2025, 3, 4), end=date(2025, 3, 31))
    assert views.period_note(queries.Period(chosen, chosen.previous_period(), True)) == (
        "Change compares 2025-03-04 to 2025-03-31 with 2025-02-04 to 2025-03-03.")
    assert views.period_note(queries.Period(chosen, chosen.previous_period(), False)) == (
        "No full date range selected: change compares the last 28 days (2025-03-04 to "
        "2025-03-31) with the 28 days before (2025-02-04 to 2025-03-03).")


def test_the_theme_table_gets_a_new_key_when_its_rows_change():
    frame = _theme_frame(30)
    keys = {views.theme_list_view(frame).table_key,
            views.theme_list_view(frame, show_all=True).table_key,
            views.theme_list_view(frame, search="word1").table_key}
    assert len(keys) == 3
    assert views.theme_list_view(frame).table_key == views.theme_list_view(frame).table_key


def test_the_detail_shows_ranked_quotes_or_for_unthemed_the_tables(themed_db, table):
    wait = views.theme_row(table.frame, WAIT)
    drilldown = queries.theme_drilldown(themed_db, CURRENT, WAIT)
    assert views.detail_quotes(drilldown, wait, "analyst") == list(
        drilldown["quotes"]["comment"])
    unthemed = views.theme_row(table.frame, None)
    assert views.detail_quotes(queries.theme_drilldown(themed_db, CURRENT, None),
                               unthemed, "analyst") == list(unthemed["quotes"])
    caption = views.detail_caption(wait)
    assert caption.startswith(views.share_summary(wait))
    assert caption.endswith(views.change_summary(wait))


def test_a_finished_job_flashes_success_and_any_other_end_an_error():
    assert views.job_outcome("done", "3 themes") == ("success", "Theme refresh finished.",
                                                     "3 themes")
    assert views.job_outcome("failed", "interrupted") == ("error", "Theme refresh failed.",
                                                          "interrupted")
    assert views.merged_message([4, 5]) == "Merged 2 theme(s) into this one."


def test_a_correction_to_no_theme_reads_no_theme():
    choices = {WAIT: "Waiting time", STAFF: "Staff"}
    assert [quality.correction_label(k, choices)
            for k in quality.correction_keys(choices, WAIT)] == [queries.NO_THEME, "Staff"]


def test_audit_counts_are_exact_for_large_counts():
    accuracy = metrics.share_from_counts("Audited theme accuracy %", 999_999, 1_000_003)
    assert quality.audit_counts(accuracy) == {
        "audited": 1_000_003, "confirmed": 999_999, "corrected": 4}


# --------------------------------------------------------------------------- two levels

@pytest.fixture
def levels(themed_db):
    return views.theme_levels(queries.theme_table(themed_db, CURRENT, level=queries.PARENT),
                              queries.theme_table(themed_db, CURRENT, level=queries.CHILD))


def test_intervals_become_text_beside_their_figures(table):
    shown = views.with_intervals(table.frame).set_index("name")
    assert shown.loc["Waiting time", "share_interval"] == "30.9 to 49.8"  # Wilson, 40 of 100
    low, high = table.frame.loc[0, ["change_ci_low", "change_ci_high"]]
    assert shown.loc["Waiting time", "change_interval"] == f"{low:+.1f} to {high:+.1f}"
    assert shown.loc["Waiting time", "nps_interval"].endswith("(n=40)")
    assert "share_interval" not in table.frame


def test_levels_lead_with_parents_and_keep_each_ones_children(levels):
    assert list(levels.top["name"]) == ["Service", "Facilities", "Unthemed"]
    assert list(levels.top["child_names"]) == [["Waiting time", "Staff"], ["Parking"], []]
    assert list(levels.children["name"]) == ["Waiting time", "Staff", "Parking"]
    assert list(levels.parents["theme_id"]) == [SERVICE, FACILITIES]
    assert levels.commented == 100 and levels.has_parents
    assert list(views.children_of(levels, SERVICE)["theme_id"]) == [WAIT, STAFF]


def test_the_top_list_shows_parent_figures_with_their_intervals(levels):
    view = views.top_list_view(levels)
    assert list(view.frame.columns) == views.PARENT_LIST_COLUMNS
    assert view.keys == [str(SERVICE), str(FACILITIES), views.UNTHEMED_KEY]
    service = view.frame.iloc[0]
    assert (service["n_children"], service["mentions"], service["share_pct"]) == (2, 60, 60.0)
    assert service["share_interval"] == "50.2 to 69.1"
    assert service["change_pts"] == pytest.approx(20.0) and service["change_interval"]
    assert service["children"] == "Waiting time, Staff"
    assert view.note == "All 2 parent themes, largest first."
    assert view.table_key != views.theme_list_view(levels.children).table_key


def test_a_parent_is_found_by_its_childrens_names_and_keywords(levels):
    assert list(views.top_list_view(levels, search="parking").frame["name"]) == [
        "Facilities", "Unthemed"]
    # Every word in one text: a parent's own, or one child's.
    assert list(views.top_list_view(levels, search="queue desk").frame["name"]) == [
        "Service", "Unthemed"]
    assert list(views.top_list_view(levels, search="queue parking").frame["name"]) == [
        "Unthemed"]


def test_a_parent_opens_into_its_children(levels):
    view = views.child_list_view(levels, SERVICE)
    assert list(view.frame["name"]) == ["Waiting time", "Staff"]
    assert list(view.frame.columns) == views.THEME_LIST_COLUMNS
    assert view.keys == [str(WAIT), str(STAFF)]
    assert view.frame["keywords"].iloc[0] == "wait, queue, desk"
    assert view.note == "2 child themes, largest first; select one to open it."
    assert view.table_key != views.child_list_view(levels, FACILITIES).table_key
    assert views.child_list_view(levels, 999).note == "No child themes in this parent theme."


def test_the_picker_lists_children_then_parents_then_unthemed(levels):
    options = views.theme_options(levels)
    assert options == {
        str(WAIT): "Waiting time", str(STAFF): "Staff", str(PARKING): "Parking",
        str(SERVICE): "Service (parent theme)", str(FACILITIES): "Facilities (parent theme)",
        views.UNTHEMED_KEY: "Unthemed"}
    assert list(options) == [str(WAIT), str(STAFF), str(PARKING), str(SERVICE),
                             str(FACILITIES), views.UNTHEMED_KEY]


def test_a_pick_opens_its_parent_and_says_what_it_is(levels):
    assert views.opened_parent(levels, SERVICE) == SERVICE
    assert views.opened_parent(levels, STAFF) == SERVICE
    assert views.opened_parent(levels, PARKING) == FACILITIES
    assert views.opened_parent(levels, None) is None
    assert views.opened_parent(levels, 999) is None and views.picked_row(levels, 999) is None
    notes = {t: views.level_note(levels, views.picked_row(levels, t))
             for t in (SERVICE, WAIT, None)}
    assert notes[SERVICE].startswith("A parent theme of 2 child themes")
    assert notes[WAIT] == "A child theme of the parent theme listed above."
    assert notes[None] == "Comments no theme fits yet."


def test_merge_and_move_choices_stay_within_a_level(levels):
    service, wait = views.picked_row(levels, SERVICE), views.picked_row(levels, WAIT)
    assert views.is_parent(service) and not views.is_parent(wait)
    assert views.merge_choices(levels, service) == {FACILITIES: "Facilities"}
    assert views.merge_choices(levels, wait) == {STAFF: "Staff", PARKING: "Parking"}
    assert views.move_choices(levels, WAIT) == {FACILITIES: "Facilities"}
    assert views.move_choices(levels, PARKING) == {SERVICE: "Service"}


def test_a_theme_without_an_active_parent_is_listed_on_its_own(themed_db):
    admin.merge_themes(themed_db, [FACILITIES], SERVICE, actor="ana")  # Parking -> Service
    themed_db.execute("UPDATE themes SET parent_id = NULL WHERE id = ?", [PARKING])
    levels = views.theme_levels(
        queries.theme_table(themed_db, CURRENT, level=queries.PARENT),
        queries.theme_table(themed_db, CURRENT, level=queries.CHILD))
    assert list(levels.top["name"]) == ["Service", "Parking", "Unthemed"]
    assert list(levels.top["level"][:2]) == [queries.PARENT, queries.CHILD]
    view = views.top_list_view(levels)
    assert view.note == "All 2 themes, largest first."  # not all of them are parents
    assert view.frame["n_children"].iloc[1] == 0 and view.frame["children"].iloc[1] == ""
    assert views.opened_parent(levels, PARKING) is None
    assert views.level_note(levels, views.picked_row(levels, PARKING)) == (
        "A theme with no parent theme.")
    assert views.move_choices(levels, PARKING) == {SERVICE: "Service"}
    assert "Themes without a parent theme are listed on their own." in \
        views.top_list_caption(levels)


def test_a_store_without_parents_reads_as_a_flat_list(themed_db):
    themed_db.execute("UPDATE themes SET parent_id = NULL")
    themed_db.execute("DELETE FROM themes WHERE is_parent = 1")
    levels = views.theme_levels(
        queries.theme_table(themed_db, CURRENT, level=queries.PARENT),
        queries.theme_table(themed_db, CURRENT, level=queries.CHILD))
    assert not levels.has_parents
    assert list(levels.top["name"]) == ["Waiting time", "Staff", "Parking", "Unthemed"]
    assert views.theme_options(levels) == {str(WAIT): "Waiting time", str(STAFF): "Staff",
                                           str(PARKING): "Parking",
                                           views.UNTHEMED_KEY: "Unthemed"}
    assert "A parent theme counts" not in views.top_list_caption(levels)


def test_levels_of_an_empty_store(db):
    levels = views.theme_levels(queries.theme_table(db, CURRENT, level=queries.PARENT),
                                queries.theme_table(db, CURRENT, level=queries.CHILD))
    assert list(levels.top["name"]) == ["Unthemed"] and levels.children.empty
    view = views.top_list_view(levels)
    assert view.keys == [views.UNTHEMED_KEY] and view.note == "All 0 themes, largest first."
    assert views.theme_options(levels) == {views.UNTHEMED_KEY: "Unthemed"}


def test_the_detail_words_nps_and_sentiment_with_their_intervals(levels):
    service = views.picked_row(levels, SERVICE)
    assert views.figures_summary(service) == (
        "NPS -33 (95% interval -57 to -9, n=60). Mean sentiment -0.13 on -1 to 1 (n=60).")
    parking = views.picked_row(levels, PARKING)
    assert views.figures_summary(parking) == (
        "NPS: no NPS scores in this view. No sentiment scores.")


def test_the_top_caption_says_how_a_parent_counts(levels):
    caption = views.top_list_caption(levels)
    assert caption.startswith(views.theme_list_caption(levels))
    assert "A parent theme counts each comment of its child themes once" in caption
    assert "listed on their own" not in caption


def test_many_children_are_named_in_part():
    assert views._names_text([f"T{i}" for i in range(8)]) == "T0, T1, T2, T3, T4, T5 and 2 more"


def test_a_search_among_no_themes_keeps_the_columns(levels):
    empty = levels.top[levels.top["is_unthemed"]]
    view = views.theme_list_view(empty, search="queue", columns=views.PARENT_LIST_COLUMNS)
    assert list(view.frame.columns) == views.PARENT_LIST_COLUMNS
    assert list(view.frame["name"]) == ["Unthemed"]

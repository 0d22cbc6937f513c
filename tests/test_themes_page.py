"""Themes page under AppTest, on a seeded store (no BERTopic: themes inserted directly)
and on an empty one: the parent list first (top themes, search, show all), a parent opening
into its child themes, the drill-down, rename, merge and move, the map on request, the
refresh job.

The seeded store (`test_theme_queries`): parents "Service" (Waiting time, Staff) and
"Facilities" (Parking)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_theme_queries import (
    FACILITIES,
    PARKING,
    SERVICE,
    STAFF,
    WAIT,
    seed_theme_store,
)

from analysis import store
from analysis.domain.filters import Filters

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "themes.py")


def _app(filters: Filters | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if filters is not None:
        at.session_state["filters"] = filters
    return at.run()


def _texts(at) -> list[str]:
    return [t.value for t in at.text]


def _names(at, table: int = 0) -> list[str]:
    """Names in the parent table (0) or the opened parent's child table (1)."""
    return list(at.dataframe[table].value["name"])


def _parent_of(path, theme_id: int) -> int | None:
    return _db_value(path, "SELECT parent_id FROM themes WHERE id = ?", [theme_id])


def _db_value(path, sql: str, params=()):
    db = store.connect(path)
    try:
        return db.execute(sql, list(params)).fetchone()[0]
    finally:
        db.close()


def _no_markdown_holds(at, text: str) -> bool:
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption]
    shown += [a.value for a in at.success] + [a.value for a in at.error]
    return all(text not in value for value in shown)


@pytest.fixture
def seeded_path(db_path):
    db = store.connect(db_path)
    seed_theme_store(db)
    db.close()
    return db_path


def test_the_page_leads_with_parents_and_their_figures(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert not at.exception
    assert len(at.dataframe) == 1  # no child table until a parent is picked
    table = at.dataframe[0].value
    assert list(table["name"]) == ["Service", "Facilities", "Unthemed"]
    assert list(table["n_children"][:2]) == [2, 1]
    # Service: Waiting time 40 + Staff 25, the 5 comments mentioning both counted once.
    assert list(table["mentions"]) == [60, 0, 40]
    assert list(table["dedup_mentions"]) == [56, 0, 40]
    assert list(table["share_pct"]) == [60.0, 0.0, 40.0]
    service = table.iloc[0]
    assert service["share_interval"] == "50.2 to 69.1"  # Wilson, 60 of 100
    assert service["change_pts"] == pytest.approx(20.0)  # 40 of 100 the period before
    assert service["change_interval"].startswith("+") and 0 < service["change_p_value"] < 0.05
    assert service["sentiment_mean"] == pytest.approx(-0.1333, abs=1e-3)
    assert service["nps"] == pytest.approx(-33.33, abs=0.01)
    assert service["nps_interval"].endswith("(n=60)")
    assert service["children"] == "Waiting time, Staff"
    assert "quotes" not in table  # quotes are for the drill-down, not sent with the list
    captions = [c.value for c in at.caption]
    assert any(c.startswith("All 2 parent themes, largest first. Shares are of 100 commented")
               for c in captions)
    assert any("commented responses have a theme" in c for c in captions)


def test_picking_a_parent_shows_its_children_and_a_child_opens_its_own_detail(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(SERVICE)).run()
    assert not at.exception
    children = at.dataframe[1].value
    assert list(children["name"]) == ["Waiting time", "Staff"]
    assert list(children["mentions"]) == [40, 25]
    assert list(children["dedup_mentions"]) == [36, 21]
    assert children["keywords"].iloc[0] == "wait, queue, desk"
    assert children["share_interval"].iloc[0] and children["nps_interval"].iloc[0]
    texts = _texts(at)
    assert texts.count("Service") == 2  # over the child table and as the detail's heading
    captions = " ".join(c.value for c in at.caption)
    assert "A parent theme of 2 child themes" in captions and "60 mentions, 60.0%" in captions
    assert "NPS -33 (95% interval" in captions
    # Its drill-down draws its children's comments: 60 of them.
    assert any(c.value.startswith("60 comments;") for c in at.caption)
    assert at.button(key=f"merge_go_{SERVICE}")  # parents merge with parents
    assert set(at.multiselect(key=f"merge_{SERVICE}").options) == {"Facilities"}

    # A child (from the picker, as a click in the child table does) opens its own detail
    # under its parent's child table.
    at.selectbox(key="themes_pick").select(str(STAFF)).run()
    assert not at.exception
    assert _names(at, 1) == ["Waiting time", "Staff"]
    assert "Staff" in _texts(at)
    assert any(c.value.startswith("25 comments;") for c in at.caption)
    assert at.selectbox(key=f"move_{STAFF}").options == ["Facilities"]
    at.button(key="themes_open_parent").click().run()
    assert not at.exception
    assert at.selectbox(key="themes_pick").value == str(SERVICE)


def test_the_picker_offers_every_theme_at_both_levels(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert at.selectbox(key="themes_pick").options == [
        "Waiting time", "Staff", "Parking", "Service (parent theme)",
        "Facilities (parent theme)", "Unthemed"]


def test_moving_a_child_through_the_page_moves_it_in_the_store(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(WAIT)).run()
    assert at.button(key=f"move_go_{WAIT}").disabled  # nothing chosen yet
    at.selectbox(key=f"move_{WAIT}").set_value(FACILITIES).run()
    at.button(key=f"move_go_{WAIT}").click().run()
    assert not at.exception
    assert any("moved" in s.value for s in at.success)
    assert _parent_of(seeded_path, WAIT) == FACILITIES
    assert _db_value(seeded_path, "SELECT parent_locked FROM themes WHERE id = ?", [WAIT]) == 1
    # The figures follow at once: Facilities now holds Waiting time's 40 comments.
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["Facilities", "mentions"] == 40 and table.loc["Service", "mentions"] == 25
    assert _names(at, 1) == ["Waiting time", "Parking"]  # still picked, under its new parent


def test_a_child_can_move_to_a_new_parent(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(PARKING)).run()
    at.text_input(key=f"new_parent_{PARKING}").input("Car <b>park</b>").run()
    at.button(key=f"new_parent_go_{PARKING}").click().run()
    assert not at.exception
    assert any("New parent theme added" in s.value for s in at.success)
    new_parent = _parent_of(seeded_path, PARKING)
    assert new_parent not in (None, FACILITIES)
    assert _db_value(seeded_path, "SELECT name FROM themes WHERE id = ?",
                     [new_parent]) == "Car <b>park</b>"
    assert "Car <b>park</b>" in _names(at)
    assert _no_markdown_holds(at, "Car <b>")


def test_renaming_a_parent(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(FACILITIES)).run()
    assert at.selectbox(key="themes_pick").value == str(FACILITIES)
    assert f"move_{FACILITIES}" not in [b.key for b in at.selectbox]  # parents do not move
    at.text_input(key=f"rename_{FACILITIES}").input("Buildings").run()
    at.button(key=f"rename_go_{FACILITIES}").click().run()
    assert not at.exception
    assert _db_value(seeded_path, "SELECT name FROM themes WHERE id = ?",
                     [FACILITIES]) == "Buildings"
    assert _names(at) == ["Service", "Buildings", "Unthemed"]


def test_without_filters_the_page_uses_all_data(seeded_path):
    at = _app()
    assert not at.exception
    table = at.dataframe[0].value
    assert table.set_index("name").loc["Service", "mentions"] == 100  # 60 now, 40 before
    at.selectbox(key="themes_pick").select(str(SERVICE)).run()
    assert at.dataframe[1].value.set_index("name").loc["Waiting time", "mentions"] == 60


def test_drill_down_shows_quotes_and_rename_renames(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(WAIT)).run()
    assert not at.exception
    texts = _texts(at)
    assert "Waiting time" in texts
    for i in (0, 5, 6):
        assert f"“Waited {i} minutes in the queue at the desk”" in texts
    assert "“Waited 1 minutes in the queue at the desk”" not in texts  # near-duplicate of 0

    # Searching the theme's comments narrows the comment table; hostile input is harmless.
    at.text_input(key=f"themes_search_{WAIT}").input('queue "AND').run()
    assert not at.exception

    at.text_input(key=f"rename_{WAIT}").input("Queues <b>& waits</b>").run()
    at.button(key=f"rename_go_{WAIT}").click().run()
    assert not at.exception
    db = store.connect(seeded_path)
    try:
        name = db.execute("SELECT name FROM themes WHERE id = ?", [WAIT]).fetchone()[0]
    finally:
        db.close()
    assert name == "Queues <b>& waits</b>"
    assert "Queues <b>& waits</b>" in _names(at, 1)  # its parent's child table
    assert any("renamed" in s.value for s in at.success)
    assert "Queues <b>& waits</b>" in _texts(at)  # the detail heading, as plain text
    # A user-chosen name never reaches Markdown.
    assert _no_markdown_holds(at, "Queues")


def test_unthemed_drill_down(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select("unthemed").run()
    assert not at.exception
    assert "Unthemed" in _texts(at)


def test_many_themes_show_the_largest_and_all_on_request(seeded_path):
    db = store.connect(seeded_path)
    with store.write_transaction(db):
        for i in range(30):  # parent themes never mentioned: after Service, by name
            db.execute("INSERT INTO themes (name, keywords, is_parent, status, created_at, "
                       "created_by, updated_at) VALUES (?, '[]', 1, 'active', 't', 'test', 't')",
                       [f"Extra {i:02d}"])
    db.close()
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert not at.exception
    names = _names(at)
    assert len(names) == 26 and names[:3] == ["Service", "Extra 00", "Extra 01"]
    assert "Facilities" not in names and names[-1] == "Unthemed"
    assert any(c.value.startswith("The 25 largest of 32 parent themes.") for c in at.caption)
    # The picker still offers every theme at both levels.
    assert len(at.selectbox(key="themes_pick").options) == 32 + 3 + 1

    at.toggle(key="themes_all").set_value(True).run()
    assert len(_names(at)) == 33 and "Facilities" in _names(at)
    at.toggle(key="themes_all").set_value(False).run()
    at.text_input(key="themes_find").input("PARK").run()  # a child's name finds its parent
    assert not at.exception
    assert _names(at) == ["Facilities", "Unthemed"]
    at.text_input(key="themes_find").input("wait desk").run()  # a child's name and keywords
    assert _names(at) == ["Service", "Unthemed"]


def test_themes_without_a_parent_are_listed_on_their_own(seeded_path):
    db = store.connect(seeded_path)
    with store.write_transaction(db):  # as on a store fitted before parents existed
        db.execute("UPDATE themes SET parent_id = NULL WHERE id = ?", [PARKING])
    db.close()
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert not at.exception
    assert _names(at) == ["Service", "Facilities", "Parking", "Unthemed"]
    assert any("Themes without a parent theme are listed on their own." in c.value
               for c in at.caption)
    at.selectbox(key="themes_pick").select(str(PARKING)).run()
    assert not at.exception
    assert len(at.dataframe) == 2  # the list and its comments: no child table
    assert at.selectbox(key=f"move_{PARKING}").options == ["Facilities", "Service"]


def test_merge_folds_a_theme_into_the_picked_one(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(WAIT)).run()
    assert at.button(key=f"merge_go_{WAIT}").disabled
    at.multiselect(key=f"merge_{WAIT}").set_value([PARKING]).run()
    at.button(key=f"merge_go_{WAIT}").click().run()
    assert not at.exception
    assert any("Merged 1 theme(s)" in s.value for s in at.success)
    assert _names(at, 1) == ["Waiting time", "Staff"]
    assert _db_value(seeded_path, "SELECT status FROM themes WHERE id = ?", [PARKING]) == "merged"


def test_merging_parents_moves_their_children(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(SERVICE)).run()
    at.multiselect(key=f"merge_{SERVICE}").set_value([FACILITIES]).run()
    at.button(key=f"merge_go_{SERVICE}").click().run()
    assert not at.exception
    assert _names(at) == ["Service", "Unthemed"]
    assert _names(at, 1) == ["Waiting time", "Staff", "Parking"]
    assert _parent_of(seeded_path, PARKING) == SERVICE


def test_the_map_is_drawn_only_on_request(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert not at.get("plotly_chart")
    at.toggle(key="themes_show_map").set_value(True).run()
    assert not at.exception
    (chart,) = at.get("plotly_chart")
    # Coloured by parent theme: one legend entry each, the comments' own themes on hover.
    traces = json.loads(chart.proto.spec)["data"]
    assert [t["name"] for t in traces] == ["Service", "Unthemed"]
    assert {t["customdata"][0][0] for t in traces} <= {"Waiting time", "Staff", "Unthemed"}


def test_empty_database_shows_message(db_path):
    store.connect(db_path).close()
    at = _app()
    assert not at.exception
    assert any("No feedback yet" in i.value for i in at.info)


def test_feedback_without_themes_asks_for_refresh(db_path):
    from analysis.ingest.feedback import insert_feedback

    db = store.connect(db_path)
    with store.write_transaction(db):
        insert_feedback(db, [{"source": "t", "received_at": "2025-03-01T00:00:00Z",
                              "comment": "hello"}], batch_id=None, actor="test")
    db.close()
    at = _app()
    assert not at.exception
    assert any("No themes yet" in i.value for i in at.info)
    assert at.button(key="themes_refresh")


def test_refresh_job_shows_progress_then_result(seeded_path, monkeypatch):
    """The page's job flow against a stand-in `analysis.themes` (the real one fits BERTopic)."""
    import sys
    import types

    started = []

    def start_refresh_job(db_path, *, refit, actor):
        db = store.connect(db_path)
        with store.write_transaction(db):
            job_id = db.execute(
                "INSERT INTO jobs (kind, status, progress, message, started_at, actor) "
                "VALUES ('themes', 'running', 0.4, 'embedding <comments>', "
                "'2025-03-31T00:00:00Z', ?)", [actor]).lastrowid
        db.close()
        started.append(refit)
        return job_id

    def job_status(db, job_id):
        row = db.execute("SELECT status, progress, message FROM jobs WHERE id = ?",
                         [job_id]).fetchone()
        return dict(zip(("status", "progress", "message"), row))

    fake = types.ModuleType("analysis.themes")
    fake.start_refresh_job, fake.job_status = start_refresh_job, job_status
    monkeypatch.setitem(sys.modules, "analysis.themes", fake)
    # `from analysis import themes` reads the package attribute first when the real module
    # was imported earlier in the session, so the stand-in must replace both.
    import analysis
    monkeypatch.setattr(analysis, "themes", fake, raising=False)

    at = _app()
    assert at.button(key="themes_refit").disabled  # a refit needs the confirmation first
    at.checkbox(key="themes_refit_confirm").check().run()
    assert not at.button(key="themes_refit").disabled

    at.button(key="themes_refresh").click().run()
    assert not at.exception and started == [False]
    assert at.button(key="themes_refresh").disabled  # no second job while one runs
    assert "embedding <comments>" in _texts(at)
    assert len(at.get("progress")) == 1

    db = store.connect(seeded_path)
    with store.write_transaction(db):
        db.execute("UPDATE jobs SET status = 'done', progress = 1, message = '3 themes'")
    db.close()
    at.run()
    assert not at.exception
    assert any("finished" in s.value for s in at.success)
    assert not at.button(key="themes_refresh").disabled


def _insert_running_job(db_path, *, heartbeat_at: str) -> int:
    db = store.connect(db_path)
    with store.write_transaction(db):
        job_id = db.execute(
            "INSERT INTO jobs (kind, status, progress, message, started_at, actor, heartbeat_at, "
            "pid, host) VALUES ('themes', 'running', 0.5, 'fitting the theme model', ?, 'cron', "
            "?, 4242, 'another-host')", [heartbeat_at, heartbeat_at]).lastrowid
    db.close()
    return job_id


def test_a_refresh_started_elsewhere_shows_and_blocks_a_second_one(seeded_path):
    _insert_running_job(seeded_path, heartbeat_at=store.to_iso(store.utcnow()))
    at = _app()
    assert not at.exception
    assert at.button(key="themes_refresh").disabled
    assert "fitting the theme model" in _texts(at)
    assert len(at.get("progress")) == 1


def test_a_refresh_whose_process_died_is_reported_interrupted_not_followed_forever(seeded_path):
    job_id = _insert_running_job(seeded_path, heartbeat_at="2025-03-31T00:00:00Z")
    at = _app()  # the first poll declares the job dead and reruns the page to say so
    assert not at.exception
    assert any("failed" in e.value for e in at.error), [e.value for e in at.error]
    assert any(t.startswith("interrupted: no heartbeat since") for t in _texts(at))
    assert not at.button(key="themes_refresh").disabled
    db = store.connect(seeded_path)
    status, message = db.execute("SELECT status, message FROM jobs WHERE id = ?",
                                 [job_id]).fetchone()
    assert status == "failed" and message.startswith("interrupted: no heartbeat since")


def test_a_dead_refresh_on_a_read_only_store_is_reported_once_and_left_for_a_writer(seeded_path):
    from tests.stores import no_write_permission

    job_id = _insert_running_job(seeded_path, heartbeat_at="2025-03-31T00:00:00Z")
    db = store.connect(seeded_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a reader without write access sees it all
    db.close()
    with no_write_permission(seeded_path.parent, seeded_path):
        at = _app()
        assert not at.exception
        assert any("failed" in e.value for e in at.error), [e.value for e in at.error]
        at.run()  # the next run does not follow the same dead job again
        assert not at.exception and not at.error
        assert not at.get("progress")
    assert _db_value(seeded_path, "SELECT status FROM jobs WHERE id = ?", [job_id]) == "running"


def test_writes_are_switched_off_on_a_read_only_store(seeded_path):
    from tests.stores import no_write_permission

    db = store.connect(seeded_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a reader without write access sees it all
    db.close()
    with no_write_permission(seeded_path.parent, seeded_path):
        at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
        assert not at.exception and _names(at) == ["Service", "Facilities", "Unthemed"]
        at.selectbox(key="themes_pick").select(str(SERVICE)).run()
        assert not at.exception
        assert at.button(key=f"rename_go_{SERVICE}").disabled
        assert at.button(key=f"merge_go_{SERVICE}").disabled
        at.selectbox(key="themes_pick").select(str(WAIT)).run()
        assert not at.exception
        for button in (f"rename_go_{WAIT}", f"merge_go_{WAIT}", f"move_go_{WAIT}",
                       f"new_parent_go_{WAIT}"):
            assert at.button(key=button).disabled, button
        assert at.selectbox(key=f"move_{WAIT}").disabled


def test_a_link_with_a_theme_opens_that_theme_and_the_url_follows_the_pick(seeded_path):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["filters"] = Filters(start=date(2025, 3, 4), end=date(2025, 3, 31))
    at.query_params["theme"] = str(STAFF)
    at.run()
    assert at.selectbox(key="themes_pick").value == str(STAFF)
    assert "Staff" in _texts(at)
    at.selectbox(key="themes_pick").set_value(str(WAIT)).run()
    assert at.query_params["theme"] == str(WAIT)


def test_a_link_to_a_theme_that_no_longer_exists_opens_no_theme(seeded_path):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["filters"] = Filters(start=date(2025, 3, 4), end=date(2025, 3, 31))
    at.query_params["theme"] = "99999"
    at.run()
    assert not at.exception
    assert at.selectbox(key="themes_pick").value is None

"""Themes page under AppTest, on a seeded store (no BERTopic: themes inserted directly)
and on an empty one: the theme list (top themes, search, show all), the drill-down, rename
and merge, the map on request, the refresh job."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_theme_queries import PARKING, WAIT, seed_theme_store

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


def _names(at) -> list[str]:
    return list(at.dataframe[0].value["name"])


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


def test_theme_table_shows_names_and_counts(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["name"]) == ["Waiting time", "Staff", "Parking", "Unthemed"]
    assert list(table["mentions"]) == [40, 25, 0, 40]
    assert list(table["dedup_mentions"]) == [36, 21, 0, 40]
    assert list(table["share_pct"]) == [40.0, 25.0, 0.0, 40.0]
    assert table["keywords"].iloc[0] == "wait, queue, desk"
    assert "quotes" not in table  # quotes are for the drill-down, not sent with the list
    captions = [c.value for c in at.caption]
    assert any(c.startswith("All 3 themes, largest first. Shares are of 100 commented")
               for c in captions)
    assert any("commented responses have a theme" in c for c in captions)


def test_without_filters_the_page_uses_all_data(seeded_path):
    at = _app()
    assert not at.exception
    table = at.dataframe[0].value
    assert table.set_index("name").loc["Waiting time", "mentions"] == 60


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
    assert "Queues <b>& waits</b>" in list(at.dataframe[0].value["name"])
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
        for i in range(30):  # never mentioned: after the seeded themes, by name
            db.execute("INSERT INTO themes (name, keywords, status, created_at, created_by, "
                       "updated_at) VALUES (?, '[]', 'active', 't', 'test', 't')",
                       [f"Extra {i:02d}"])
    db.close()
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert not at.exception
    names = _names(at)
    assert len(names) == 26 and names[:3] == ["Waiting time", "Staff", "Extra 00"]
    assert "Parking" not in names and names[-1] == "Unthemed"
    assert any(c.value.startswith("The 25 largest of 33 themes.") for c in at.caption)
    # The picker still offers every theme.
    assert len(at.selectbox(key="themes_pick").options) == 34

    at.toggle(key="themes_all").set_value(True).run()
    assert len(_names(at)) == 34 and "Parking" in _names(at)
    at.toggle(key="themes_all").set_value(False).run()
    at.text_input(key="themes_find").input("PARK").run()
    assert not at.exception
    assert _names(at) == ["Parking", "Unthemed"]
    at.text_input(key="themes_find").input("wait desk").run()  # name and keyword words
    assert _names(at) == ["Waiting time", "Unthemed"]


def test_merge_folds_a_theme_into_the_picked_one(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    at.selectbox(key="themes_pick").select(str(WAIT)).run()
    assert at.button(key=f"merge_go_{WAIT}").disabled
    at.multiselect(key=f"merge_{WAIT}").set_value([PARKING]).run()
    at.button(key=f"merge_go_{WAIT}").click().run()
    assert not at.exception
    assert any("Merged 1 theme(s)" in s.value for s in at.success)
    assert _names(at) == ["Waiting time", "Staff", "Unthemed"]
    assert _db_value(seeded_path, "SELECT status FROM themes WHERE id = ?", [PARKING]) == "merged"


def test_the_map_is_drawn_only_on_request(seeded_path):
    at = _app(Filters(start=date(2025, 3, 4), end=date(2025, 3, 31)))
    assert not at.get("plotly_chart")
    at.toggle(key="themes_show_map").set_value(True).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1


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

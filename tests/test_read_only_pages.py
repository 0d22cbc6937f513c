"""A store the app may not write is still browsable: every page renders, the sidebar says
read-only, and a write attempted anyway is one clear message (issue 25, item 3)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analysis import demo, store
from tests.stores import no_write_permission
from tests.test_app import APP, PAGES


@pytest.fixture
def read_only_store(db_path, tmp_path):
    db = store.connect(db_path)
    demo.generate_demo(db, rows=300, seed=3, truth_path=tmp_path / "truth.json", actor="test")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with no_write_permission(db_path.parent, db_path):
        yield db_path


def sidebar_text(at: AppTest) -> str:
    return " ".join(w.value for w in at.sidebar.warning)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_a_read_only_store_and_says_so(read_only_store, page):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "Read-only" in sidebar_text(at)


def test_a_writable_store_shows_no_read_only_notice(seeded_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert "Read-only" not in sidebar_text(at)


def test_a_file_that_is_not_a_database_is_one_message_on_every_page(db_path):
    db_path.write_bytes(b"this is a spreadsheet, not a database" * 100)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert "is not a usable SQLite database" in error.value


def test_a_write_refused_by_the_store_in_a_callback_is_one_message():
    def script():
        import streamlit as st

        from analysis import store
        from pages import run_write, show_flash

        def refuse():
            raise store.StoreReadOnly("the database at 'x.db' is read-only")

        st.button("Write", key="write", on_click=lambda: run_write(refuse, "Done."))
        show_flash()

    at = AppTest.from_function(script).run()
    at.button(key="write").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Not done."]
    assert "is read-only" in at.text[0].value


def test_theme_writes_are_switched_off_on_a_read_only_store(read_only_store):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/theme_quality.py").run()
    assert not at.exception
    submit = [b for b in at.get("button") if "Add seed theme" in str(b.proto.label)]
    assert submit and all(b.proto.disabled for b in submit)


@pytest.mark.parametrize("variable, value, words", [
    ("CLOSELOOP_TZ", "Mars/Base", "CLOSELOOP_TZ must be an IANA time zone"),
    ("CLOSELOOP_BUSY_TIMEOUT_MS", "abc", "CLOSELOOP_BUSY_TIMEOUT_MS must be a whole number"),
    ("CLOSELOOP_ACTOR", "  ", "CLOSELOOP_ACTOR must name who acts"),
])
def test_a_bad_setting_is_one_message_in_the_app(db_path, monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    assert words in error.value

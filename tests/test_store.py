import sqlite3
import threading

import pytest

from analysis import store
from analysis.ingest import feedback


def _row(i, **extra):
    return {"source": "t", "external_id": str(i), "received_at": "2025-01-01T10:00:00Z",
            "comment": f"comment {i}", **extra}


def test_connect_creates_schema_with_wal_and_foreign_keys(db, db_path):
    assert {"feedback", "import_batches", "import_rejects", "feedback_fts", "themes",
            "theme_assignments", "sentiment", "embeddings"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_migrations_are_applied_once(db):
    assert store.apply_migrations(db) == []
    names = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations")]
    assert len(names) == len(set(names)) >= 2


def test_write_transaction_rolls_back_everything_on_error(db):
    with pytest.raises(RuntimeError):
        with store.write_transaction(db):
            feedback.insert_feedback(db, [_row(1), _row(2)], batch_id=None, actor="t")
            raise RuntimeError("boom")
    assert db["feedback"].count == 0
    assert store.revision(db) == 0


def test_write_transaction_bumps_revision(db):
    before = store.revision(db)
    with store.write_transaction(db):
        feedback.insert_feedback(db, [_row(1)], batch_id=None, actor="t")
    assert store.revision(db) == before + 1


def test_nested_write_transaction_joins_the_outer_one(db):
    with pytest.raises(RuntimeError):
        with store.write_transaction(db):
            feedback.insert_feedback(db, [_row(1)], batch_id=None, actor="t")
            with store.write_transaction(db):
                feedback.insert_feedback(db, [_row(2)], batch_id=None, actor="t")
            raise RuntimeError("outer fails after the inner block")
    assert db["feedback"].count == 0


def test_schema_rejects_a_score_outside_its_scale(db):
    with pytest.raises(sqlite3.IntegrityError):
        with store.write_transaction(db):
            feedback.insert_feedback(db, [_row(1, score_type="nps", score=11)], batch_id=None,
                                     actor="t")


def test_full_text_search_finds_stemmed_words(db):
    with store.write_transaction(db):
        feedback.insert_feedback(db, [_row(1, comment="We waited ages at the counter")],
                                 batch_id=None, actor="t")
    hits = db.execute("SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH 'wait'").fetchall()
    assert hits == [(1,)]


def test_two_writers_that_read_first_do_not_deadlock(db_path, db):
    """BEGIN IMMEDIATE makes the second writer wait instead of failing with 'locked'."""
    errors = []

    def writer(offset):
        try:
            conn = store.connect(db_path)
            for i in range(20):
                with store.write_transaction(conn):
                    conn.execute("SELECT COUNT(*) FROM feedback").fetchone()
                    feedback.insert_feedback(conn, [_row(offset + i)], batch_id=None, actor="t")
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n * 100,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db["feedback"].count == 60


def test_insert_feedback_counts_duplicates_by_id_and_by_text(db):
    rows = [_row(1), _row(1),
            {"source": "t", "received_at": "2025-01-01T10:00:00Z", "comment": "Too  slow",
             "location": "North"},
            {"source": "t", "received_at": "2025-01-01T10:00:00Z", "comment": "too slow",
             "location": "north"}]
    with store.write_transaction(db):
        assert feedback.insert_feedback(db, rows, batch_id=None, actor="t") == (2, 2)
    with store.write_transaction(db):
        assert feedback.insert_feedback(db, rows, batch_id=None, actor="t") == (0, 4)


def test_customer_key_prefers_id_then_normalised_email():
    assert feedback.customer_key("C1", "a@b.com") == "id:C1"
    assert feedback.customer_key(None, "  Ann@Example.COM ") == "email:ann@example.com"
    assert feedback.customer_key("", "") is None


def test_iso_round_trip_is_utc():
    from datetime import datetime, timedelta, timezone

    moment = datetime(2025, 3, 3, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert store.to_iso(moment) == "2025-03-03T07:30:00Z"
    assert store.from_iso("2025-03-03T07:30:00Z") == moment


def test_a_small_insert_leaves_the_schema_alone(db):
    # A schema change makes every other connection re-read the schema; many small concurrent
    # writers each changing it made readers fail with "database schema has changed".
    before = db.execute("PRAGMA schema_version").fetchone()[0]
    with store.write_transaction(db):
        feedback.insert_feedback(db, [_row(i, comment="refund") for i in range(20)],
                                 batch_id=None, actor="t")
    assert db.execute("PRAGMA schema_version").fetchone()[0] == before
    assert db.execute("SELECT COUNT(*) FROM feedback_fts WHERE feedback_fts MATCH 'refund'").fetchone()[0] == 20


def test_bulk_insert_indexes_every_comment_and_keeps_the_trigger(db):
    rows = [_row(i, comment=f"refund number {i}") for i in range(feedback.BULK_FTS_MIN_ROWS)]
    with store.write_transaction(db):
        feedback.insert_feedback(db, rows, batch_id=None, actor="t")
    hits = db.execute("SELECT COUNT(*) FROM feedback_fts WHERE feedback_fts MATCH 'refund'").fetchone()[0]
    assert hits == feedback.BULK_FTS_MIN_ROWS
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'feedback_ai'").fetchone()
    db.execute("INSERT INTO feedback_fts(feedback_fts, rank) VALUES('integrity-check', 1)")


def test_backup_copies_the_open_store_whole(db, tmp_path):
    from analysis import demo

    demo.generate_demo(db, rows=200, seed=3, actor="test")
    target = tmp_path / "copy.db"
    store.backup(db, target)
    copy = store.connect(target)
    try:
        for table in ("feedback", "store_meta", "_sqlite_migrations"):
            assert list(copy.execute(f"SELECT * FROM [{table}]")) == \
                list(db.execute(f"SELECT * FROM [{table}]")), table
        assert store.revision(copy) == store.revision(db)
    finally:
        copy.close()

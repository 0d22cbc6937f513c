"""The store's failures a user can meet: each is a StoreError with one line naming the file,
and nothing stored is lost or half-written.

A read-only store is made for real, not mocked: chmod 0o444 on the file and 0o555 on its
folder, and, since root ignores permission bits (the tests run as root in CI's container),
also `chattr +i` (immutable, which stops root too) when running as root. A read-only file
system is covered end to end in test_cli_errors.py. A full disk is SQLite's own SQLITE_FULL,
raised by lowering `PRAGMA max_page_count` on the connection.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from analysis import ingest, store
from analysis.store import migrations
from tests.stores import no_write_permission, write_csv


def counts(db) -> tuple[int, int, int]:
    return (db["feedback"].count, db["import_batches"].count, store.revision(db))


# ------------------------------------------------------------------------------ read-only


def test_a_store_without_write_permission_opens_read_only_and_reads(filled_store):
    with no_write_permission(filled_store, filled_store.parent):
        db = store.connect(filled_store)
        assert store.is_read_only(db)
        assert db["feedback"].count == 20
        db.close()


def test_a_writable_store_is_not_read_only(filled_store):
    db = store.connect(filled_store)
    assert not store.is_read_only(db)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_read_only_file_in_a_writable_folder_opens_read_only(filled_store):
    with no_write_permission(filled_store):
        db = store.connect(filled_store)
        assert store.is_read_only(db) and db["feedback"].count == 20
        db.close()


def test_writing_to_a_read_only_store_raises_store_read_only_and_changes_nothing(
        filled_store, tmp_path):
    second = write_csv(tmp_path / "second.csv", 5, "b")
    with no_write_permission(filled_store, filled_store.parent):
        db = store.connect(filled_store)
        with pytest.raises(store.StoreReadOnly) as caught:
            ingest.import_file(db, second, actor="test")
        assert not db.conn.in_transaction
        db.close()
    message = str(caught.value)
    assert "is read-only" in message and str(filled_store) in message and "\n" not in message
    assert counts(store.connect(filled_store)) == (20, 1, 1)


def test_ensure_writable_refuses_a_read_only_store_before_any_work(filled_store):
    with no_write_permission(filled_store, filled_store.parent):
        db = store.connect(filled_store)
        with pytest.raises(store.StoreReadOnly, match="is read-only"):
            store.ensure_writable(db)
        db.close()


def test_a_read_only_store_whose_schema_is_behind_asks_for_migrate(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    path = folder / "old.db"
    old = sqlite_utils.Database(path)
    migrations.closeloop.apply(old, stop_before="m002_sentiment_and_themes")
    old.close()
    with no_write_permission(path, folder), pytest.raises(store.StoreReadOnly) as caught:
        store.connect(path)
    assert str(caught.value) == (
        f"the database at {str(path)!r} is read-only and its schema needs upgrading; run "
        "`python -m analysis migrate` with write access")


def wal_copy(tmp_path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """A copy of a store taken while a writer still held 7 rows in its -wal: the files with
    `suffixes` ("", "-wal", "-shm") copied into their own folder, database first."""
    live = tmp_path / "live.db"
    writer = store.connect(live)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    ingest.import_file(writer, write_csv(tmp_path / "rows.csv", 7, "w"), actor="test")
    folder = tmp_path / "copy"
    folder.mkdir()
    copies = [folder / f"closeloop.db{suffix}" for suffix in suffixes]
    for suffix, copy in zip(suffixes, copies):
        shutil.copy(f"{live}{suffix}", copy)
    writer.close()
    return copies


def test_a_read_only_folder_still_shows_rows_committed_to_the_wal(tmp_path):
    """A store copied while a writer held rows in its -wal: the -wal and -shm files exist,
    so SQLite reads them in plain read-only mode (immutable would miss those rows)."""
    copies = wal_copy(tmp_path, ("", "-wal", "-shm"))
    folder = copies[0].parent
    with no_write_permission(*copies, folder):
        db = store.connect(folder / "closeloop.db")
        assert store.is_read_only(db) and db["feedback"].count == 7
        db.close()


def test_a_read_only_folder_with_a_wal_but_no_shm_is_a_clear_error(tmp_path):
    path = wal_copy(tmp_path, ("", "-wal"))[0]
    folder = path.parent
    with no_write_permission(path, Path(f"{path}-wal"), folder), \
            pytest.raises(store.StoreUnavailable, match="changes in its -wal file"):
        store.connect(path)


def test_a_new_store_in_a_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    with no_write_permission(folder), \
            pytest.raises(store.StoreUnavailable, match="cannot create the database at"):
        store.connect(folder / "new.db")


# ------------------------------------------------------------------------------ disk full


def test_a_full_disk_during_an_import_raises_store_full_and_keeps_the_store_intact(
        filled_store, tmp_path):
    db = store.connect(filled_store)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    # SQLite refuses to grow the file past this: SQLITE_FULL, as on a full disk.
    db.execute(f"PRAGMA max_page_count = {pages + 10}")
    with pytest.raises(store.StoreFull) as caught:
        ingest.import_file(db, write_csv(tmp_path / "big.csv", 3000, "big"), actor="test")
    assert str(caught.value).startswith(f"the disk holding the database at {str(filled_store)!r} "
                                        "is full")
    assert not db.conn.in_transaction
    assert counts(db) == (20, 1, 1)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # FTS5's own check that its index still matches the comments.
    db.execute("INSERT INTO feedback_fts(feedback_fts) VALUES ('integrity-check')")


# ------------------------------------------------------------------------------ busy, commit


def test_a_store_locked_past_the_busy_timeout_raises_store_busy(filled_store, monkeypatch,
                                                                tmp_path):
    monkeypatch.setenv("CLOSELOOP_BUSY_TIMEOUT_MS", "100")
    holder = store.connect(filled_store)
    holder.execute("BEGIN IMMEDIATE")
    db = store.connect(filled_store)
    try:
        with pytest.raises(store.StoreBusy) as caught:
            ingest.import_file(db, write_csv(tmp_path / "more.csv", 5, "m"), actor="test")
    finally:
        holder.execute("ROLLBACK")
    assert "is busy" in str(caught.value) and "0.1 s" in str(caught.value)
    assert not db.conn.in_transaction
    assert counts(db) == (20, 1, 1)


def test_a_failed_commit_leaves_no_transaction_open(db):
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE child (parent_id INTEGER REFERENCES parent(id) "
               "DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), store.write_transaction(db):
        db.execute("INSERT INTO child VALUES (42)")  # checked only at COMMIT
    assert not db.conn.in_transaction
    assert db["child"].count == 0 and store.revision(db) == 0


# ------------------------------------------------------------------------------ cannot open


def test_a_file_that_is_not_a_database_raises_store_unavailable(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(store.StoreUnavailable) as caught:
        store.connect(path)
    assert str(caught.value) == (f"{str(path)!r} is not a usable SQLite database "
                                 "(file is not a database)")
    assert path.read_text().startswith("these are my notes")


def test_a_folder_given_as_the_database_raises_store_unavailable(tmp_path):
    with pytest.raises(store.StoreUnavailable, match="is a folder, not a database file"):
        store.connect(tmp_path)


def test_a_folder_that_cannot_be_created_raises_store_unavailable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(store.StoreUnavailable, match="cannot create the folder .*a-file/sub"):
        store.connect(blocker / "sub" / "closeloop.db")


# ------------------------------------------------------------------------------ translation


@pytest.mark.parametrize(("code", "kind", "words"), [
    (10, store.StoreUnavailable, "disk I/O error"),      # SQLITE_IOERR
    (522, store.StoreUnavailable, "disk I/O error"),     # SQLITE_IOERR_SHORT_READ
    (13, store.StoreFull, "is full"),                    # SQLITE_FULL
    (8, store.StoreReadOnly, "is read-only"),            # SQLITE_READONLY
    (5, store.StoreBusy, "is busy"),                     # SQLITE_BUSY
])
def test_sqlite_failures_become_store_errors_naming_the_file(code, kind, words):
    exc = sqlite3.OperationalError("from sqlite")
    exc.sqlite_errorcode = code
    error = store.store_error(exc, "/data/closeloop.db")
    assert type(error) is kind
    assert words in str(error) and "'/data/closeloop.db'" in str(error)


def test_errors_that_are_not_store_failures_pass_through_unchanged(db):
    with pytest.raises(sqlite3.OperationalError, match="no such table"), \
            store.write_transaction(db):
        db.execute("INSERT INTO no_such_table VALUES (1)")
    assert store.revision(db) == 0

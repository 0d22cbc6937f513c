"""The one way to open Closeloop's SQLite store, and the one way to write to it.

    db = connect()                      # path from settings (CLOSELOOP_DB)
    with write_transaction(db):         # BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error
        db["feedback"].insert_all(rows)

Connections run in autocommit mode (`isolation_level=None`) so that no statement opens a
transaction behind our back; every multi-statement write goes through `write_transaction`,
which takes the write lock up front with `BEGIN IMMEDIATE`. A plain `BEGIN` would take it
only at the first write, and two such writers that both read first deadlock: SQLite then
fails one of them at once with "database is locked" instead of letting it wait.

A store this process may not write (file or folder without write permission, a read-only
file system) is opened read-only: reads and exports work, `is_read_only(db)` says so, and a
write raises `StoreReadOnly`. Every failure of the store itself that a user can meet (read-only,
disk full, busy, not a database, cannot open) is a `StoreError` with a one-line message
naming the database file, never a bare sqlite3 error.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from analysis.messages import excerpt
from analysis.settings import get_settings
from analysis.store import migrations

_migrated: set[str] = set()
_migrate_lock = threading.Lock()
_PATH_CHARS = 200
"""Paths are quoted whole up to this length: a cut path is no help to whoever must fix it."""


class StoreError(Exception):
    """The store cannot do what was asked; the message is one line naming the database."""


class StoreReadOnly(StoreError):
    """The store may be read but not written (permissions, read-only file system)."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full; the write was rolled back."""


class StoreUnavailable(StoreError):
    """The store cannot be opened or used at all: not a database, cannot open, I/O error."""


class StoreBusy(StoreUnavailable):
    """Another connection held the write lock for longer than the busy timeout."""


def _quote(path: str | Path | None) -> str:
    return excerpt(str(path), _PATH_CHARS, noun="path") if path else "(unknown)"


def _read_only_message(path) -> str:
    return (f"the database at {_quote(path)} is read-only (no write permission on the file "
            "or its folder, or a read-only file system); nothing was changed")


# SQLite's primary result codes (the low byte of sqlite_errorcode).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26


def store_error(exc: sqlite3.Error, path: str | Path | None) -> StoreError | None:
    """The StoreError a sqlite3 error stands for, or None when it is not a store failure
    (a constraint, a bad statement: those are bugs or bad data, reported as they are)."""
    code = _code(exc)
    where = _quote(path)
    if code == _SQLITE_READONLY:
        return StoreReadOnly(_read_only_message(path))
    if code == _SQLITE_FULL:
        return StoreFull(f"the disk holding the database at {where} is full (or the database "
                         "reached its size limit); nothing was written. Free some space and "
                         "try again")
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        seconds = get_settings().busy_timeout_ms / 1000
        return StoreBusy(f"the database at {where} is busy: another process held its write "
                         f"lock for more than {seconds:g} s (CLOSELOOP_BUSY_TIMEOUT_MS); "
                         "nothing was written. Try again later")
    if code == _SQLITE_IOERR:
        return StoreUnavailable(f"the database at {where} could not be read or written "
                                "(disk I/O error); nothing was written")
    if code in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
        return StoreUnavailable(f"{where} is not a usable SQLite database ({exc})")
    if code == _SQLITE_CANTOPEN:
        return StoreUnavailable(f"cannot open the database at {where} ({exc})")
    return None


@contextlib.contextmanager
def _store_errors(path) -> Iterator[None]:
    """Re-raise sqlite3 errors that are store failures as StoreError (see store_error);
    `path` is a value or a callable giving it, so that it is looked up only on failure."""
    try:
        yield
    except sqlite3.Error as exc:
        error = store_error(exc, path() if callable(path) else path)
        if error is None:
            raise
        raise error from exc


def database_file(db: sqlite_utils.Database) -> str | None:
    """The file behind `db`, or None for an in-memory store."""
    try:
        for _, name, path in db.execute("PRAGMA database_list").fetchall():
            if name == "main":
                return path or None
    except sqlite3.Error:  # a broken connection: the message then lacks only the path
        pass
    return None


def connect(path: str | Path | None = None, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open the store at `path` (default: settings), creating and upgrading its schema.

    WAL lets readers (the app's pages) run while a writer (an import, a sweep) works;
    `check_same_thread=False` because Streamlit serves one session from several threads.
    A store this process cannot write is opened read-only (see `is_read_only`); one whose
    schema is behind then raises StoreReadOnly, since only a writer can upgrade it.
    Raises StoreError when the store cannot be opened at all.
    """
    settings = get_settings()
    path = Path(path) if path is not None else settings.db_path
    _check_location(path)
    with _store_errors(path):
        conn = _open(path, settings.busy_timeout_ms)
    db = sqlite_utils.Database(conn)
    if migrate:
        try:
            _migrate_once(db, path)
        except BaseException:
            db.close()
            raise
    return db


def _check_location(path: Path) -> None:
    if path.is_dir():
        raise StoreUnavailable(f"{_quote(path)} is a folder, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the folder {_quote(path.parent)} for the "
                               f"database: {exc.strerror or exc}") from exc


def _writable(path: Path) -> bool:
    # The folder counts: SQLite creates and deletes the -wal and -shm files beside the
    # database, so without a writable folder no write can happen (and even a read-write
    # open fails, with "unable to open database file"). access() also sees a read-only
    # file system and, for root, an immutable file, where permission bits would not.
    if not os.access(path.parent, os.W_OK):
        return False
    return not path.exists() or os.access(path, os.W_OK)


def _open(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    if _writable(path):
        try:
            return _sqlite(str(path), busy_timeout_ms, read_only=False)
        except sqlite3.OperationalError as exc:
            # access() can say yes where the file system then says no (some network
            # and FUSE mounts): such a store is still worth reading.
            if _code(exc) not in (_SQLITE_READONLY, _SQLITE_CANTOPEN) or not path.exists():
                raise
    return _open_read_only(path, busy_timeout_ms)


def _open_read_only(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    if not path.exists():
        raise StoreUnavailable(f"cannot create the database at {_quote(path)}: no write "
                               "permission on its folder (or a read-only file system)")
    uri = path.resolve().as_uri()
    try:
        return _sqlite(f"{uri}?mode=ro", busy_timeout_ms, read_only=True)
    except sqlite3.OperationalError as exc:
        if _code(exc) != _SQLITE_CANTOPEN:
            raise
    # Reading a WAL database needs its -shm file, which SQLite cannot create in a folder it
    # may not write. Without a -wal file every committed row is in the database file itself,
    # so `immutable=1` (read the file as it is: no -shm, no locks) reads it all, and nothing
    # can change it underneath us: any writer must create a -wal or journal file in that
    # same folder. With a -wal file, immutable would silently drop the rows committed to it.
    if Path(f"{path}-wal").exists():
        raise StoreUnavailable(
            f"cannot read the database at {_quote(path)}: it has changes in its -wal file "
            "that only a process with write access to its folder can read; open it once "
            "with write access (e.g. `python -m analysis migrate`)")
    return _sqlite(f"{uri}?mode=ro&immutable=1", busy_timeout_ms, read_only=True)


def _sqlite(target: str, busy_timeout_ms: int, *, read_only: bool) -> sqlite3.Connection:
    """A configured connection; `target` is a file:// URI when `read_only`."""
    conn = sqlite3.connect(target, uri=read_only, check_same_thread=False,
                           isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if read_only:
            # Marks the connection for is_read_only(), and refuses a write before it
            # reaches the file.
            conn.execute("PRAGMA query_only = ON")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # 64 MiB of page cache: a 100k-row import then keeps its indexes in memory instead
        # of spilling them to the WAL halfway through.
        conn.execute("PRAGMA cache_size = -65536")
    except BaseException:
        conn.close()
        raise
    return conn


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _migrate_once(db: sqlite_utils.Database, path: Path) -> None:
    key = str(path.resolve())
    # Migrations are checked once per process and file; later opens are cheap.
    if key not in _migrated:
        with _migrate_lock:
            if key not in _migrated:
                apply_migrations(db)
                _migrated.add(key)


def is_read_only(db: sqlite_utils.Database) -> bool:
    """Whether `db` was opened read-only (see `connect`): a page then says so and disables
    its write buttons."""
    return db.execute("PRAGMA query_only").fetchone()[0] == 1


def ensure_writable(db: sqlite_utils.Database) -> None:
    """Raise StoreReadOnly before a job starts work that it could not save."""
    if is_read_only(db):
        raise StoreReadOnly(_read_only_message(database_file(db)))


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Bring the schema up to date; return the names of the migrations applied now."""
    with _store_errors(lambda: database_file(db)):
        pending = [m.name for m in migrations.closeloop.pending(db)]
        if pending and is_read_only(db):
            raise StoreReadOnly(
                f"the database at {_quote(database_file(db))} is read-only and its schema "
                "needs upgrading; run `python -m analysis migrate` with write access")
        if pending:
            # Two processes starting at once must not both run the same migration.
            with _immediate(db):
                pending = [m.name for m in migrations.closeloop.pending(db)]
                migrations.closeloop.apply(db)
    return pending


@contextlib.contextmanager
def _immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    conn = db.conn
    if conn.in_transaction:
        # Nested use joins the outer transaction; sqlite-utils' atomic() gives it a savepoint.
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (a deferred constraint, a full disk) leaves the transaction open,
        # and the connection's next write_transaction would join it instead of starting anew.
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        # SQLite may have rolled back already (it can on a full disk or an I/O error); a
        # ROLLBACK that fails must not hide the error that caused it.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database, *,
                      changes_figures: bool = True) -> Iterator[sqlite_utils.Database]:
    """Run a block of writes as one transaction that holds the write lock from the start.

    Also bumps the store's revision, which the app's caches key on, so a page never shows
    figures older than the last write. `changes_figures=False` is for writes that no page
    reads its figures from (a session's last use, sign-in events, the record-view audit):
    they run on every page view in sign-in mode, and a bump would empty every cache each
    time. A store failure (read-only, disk full, busy past the timeout, I/O error) rolls
    the whole block back and raises the matching StoreError.
    """
    with _store_errors(lambda: database_file(db)), _immediate(db):
        if changes_figures:
            db.execute(
                "UPDATE store_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"
            )
        yield db


def backup(db: sqlite_utils.Database, target: str | Path) -> None:
    """A consistent copy of the open store into the file `target`, by SQLite's online
    backup (readers and writers may go on meanwhile). The target is opened bare: the backup
    replaces every page of it, so a schema set up there would only be overwritten."""
    out = sqlite3.connect(target)
    try:
        db.conn.backup(out)
    finally:
        out.close()


def revision(db: sqlite_utils.Database) -> int:
    """A number that changes whenever anything is written; cache keys include it."""
    row = db.execute("SELECT value FROM store_meta WHERE key = 'revision'").fetchone()
    return int(row[0]) if row else 0


def is_empty(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT NOT EXISTS (SELECT 1 FROM feedback)").fetchone()[0] == 1

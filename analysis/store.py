"""The one way to open Closeloop's SQLite store, and the one way to write to it.

    db = connect()                      # path from settings (CLOSELOOP_DB)
    with write_transaction(db):         # BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error
        db["feedback"].insert_all(rows)

Connections run in autocommit mode (`isolation_level=None`) so that no statement opens a
transaction behind our back; every multi-statement write goes through `write_transaction`,
which takes the write lock up front with `BEGIN IMMEDIATE`. A plain `BEGIN` would take it
only at the first write, and two such writers that both read first deadlock: SQLite then
fails one of them at once with "database is locked" instead of letting it wait.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from analysis import migrations
from analysis.settings import get_settings

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def connect(path: str | Path | None = None, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open the store at `path` (default: settings), creating and upgrading its schema.

    WAL lets readers (the app's pages) run while a writer (an import, a sweep) works;
    `check_same_thread=False` because Streamlit serves one session from several threads.
    """
    settings = get_settings()
    path = Path(path) if path is not None else settings.db_path
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path),
        check_same_thread=False,
        isolation_level=None,
        timeout=settings.busy_timeout_ms / 1000,
    )
    conn.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # 64 MiB of page cache: a 100k-row import then keeps its indexes in memory instead of
    # spilling them to the WAL halfway through.
    conn.execute("PRAGMA cache_size = -65536")
    db = sqlite_utils.Database(conn)
    if migrate:
        key = str(path.resolve())
        # Migrations are checked once per process and file; later opens are cheap.
        if key not in _migrated:
            with _migrate_lock:
                if key not in _migrated:
                    apply_migrations(db)
                    _migrated.add(key)
    return db


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Bring the schema up to date; return the names of the migrations applied now."""
    pending = [m.name for m in migrations.closeloop.pending(db)]
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
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run a block of writes as one transaction that holds the write lock from the start.

    Also bumps the store's revision, which the app's caches key on, so a page never shows
    figures older than the last write.
    """
    with _immediate(db):
        db.execute(
            "UPDATE store_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'"
        )
        yield db


def revision(db: sqlite_utils.Database) -> int:
    """A number that changes whenever anything is written; cache keys include it."""
    row = db.execute("SELECT value FROM store_meta WHERE key = 'revision'").fetchone()
    return int(row[0]) if row else 0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_iso(moment: datetime) -> str:
    """UTC ISO-8601 with a Z, the one timestamp format in the store (sorts as text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def is_empty(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT NOT EXISTS (SELECT 1 FROM feedback)").fetchone()[0] == 1

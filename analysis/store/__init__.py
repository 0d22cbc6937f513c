"""The store: the one way to open Closeloop's SQLite database, and the one way to write to it.

    db = connect()                      # path from settings (CLOSELOOP_DB)
    with write_transaction(db):         # BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error
        db["feedback"].insert_all(rows)

`connection` opens, migrates and guards the database (see its docstring); `migrations` holds
the schema; `clock` the one timestamp format. No other module opens SQLite.
"""

from analysis.store.clock import from_iso, to_iso, utcnow
from analysis.store.connection import (
    StoreBusy,
    StoreError,
    StoreFull,
    StoreReadOnly,
    StoreUnavailable,
    apply_migrations,
    backup,
    connect,
    database_file,
    ensure_writable,
    is_empty,
    is_read_only,
    revision,
    store_error,
    write_transaction,
)

__all__ = [
    "StoreBusy", "StoreError", "StoreFull", "StoreReadOnly", "StoreUnavailable",
    "apply_migrations", "backup", "connect", "database_file", "ensure_writable", "from_iso",
    "is_empty", "is_read_only", "revision", "store_error", "to_iso", "utcnow",
    "write_transaction",
]

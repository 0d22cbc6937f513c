"""Import batches: one row per file (or generator run, or store check) that brought rows in,
with what it read and what became of each row. Every door that writes feedback records its
batch here, so the Import page and the audit trail see them all alike."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import sqlite_utils

from analysis.store import to_iso


def open_batch(db: sqlite_utils.Database, *, file_name: str, source: str, actor: str,
               now: datetime, rows_read: int, mapping: dict | None = None,
               score_type: str | None = None, file_sha256: str | None = None) -> int:
    """Record the start of a batch; returns its id. Call inside a write transaction."""
    return db.execute(
        "INSERT INTO import_batches (file_name, source, file_sha256, mapping, score_type,"
        " started_at, rows_read, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [file_name, source, file_sha256, json.dumps(mapping or {}, ensure_ascii=False),
         score_type, to_iso(now), rows_read, actor]).lastrowid


def close_batch(db: sqlite_utils.Database, batch_id: int, *, now: datetime, imported: int,
                duplicates: int, rejected: int) -> None:
    """Record how a batch ended. Call in the same write transaction as `open_batch`."""
    db.execute("UPDATE import_batches SET finished_at = ?, imported = ?, duplicates = ?, "
               "rejected = ? WHERE id = ?",
               [to_iso(now), imported, duplicates, rejected, batch_id])


def add_rejects(db: sqlite_utils.Database, batch_id: int,
                rejects: list[tuple[int, str | None, str, str]]) -> None:
    """(row number, field, reason, raw row as JSON) per rejected row of the batch."""
    db.conn.executemany(
        "INSERT INTO import_rejects (batch_id, row_number, field, reason, raw) "
        "VALUES (?, ?, ?, ?, ?)", [(batch_id, *r) for r in rejects])


def rejects_frame(db: sqlite_utils.Database, batch_id: int) -> pd.DataFrame:
    """The rejected rows of one batch, in file order."""
    rows = db.execute(
        "SELECT row_number, field, reason, raw FROM import_rejects WHERE batch_id = ? "
        "ORDER BY row_number, id", [batch_id]).fetchall()
    return pd.DataFrame(rows, columns=["row_number", "field", "reason", "raw"])


def recent_batches(db: sqlite_utils.Database, limit: int = 20) -> pd.DataFrame:
    """The latest import batches, newest first."""
    columns = ["id", "file_name", "source", "started_at", "finished_at", "rows_read",
               "imported", "duplicates", "rejected", "score_type", "actor"]
    rows = db.execute(
        f"SELECT {', '.join(columns)} FROM import_batches ORDER BY id DESC LIMIT ?",
        [int(limit)]).fetchall()
    return pd.DataFrame(rows, columns=columns)

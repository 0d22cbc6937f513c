"""Writing feedback rows: identity (dedup key, customer key) and the one bulk insert.

Both the importer and the demo generator write through `insert_feedback`, so a response
is identified the same way whichever door it came in by.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

import sqlite_utils

from analysis.store import to_iso, utcnow

FEEDBACK_FIELDS = (
    "external_id", "source", "received_at", "location", "segment", "channel", "touchpoint",
    "customer_id", "customer_name", "customer_email", "score_type", "score", "comment",
)
SCORE_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5)}

_SPACE = re.compile(r"\s+")


def normalise_text(text: str | None) -> str:
    return _SPACE.sub(" ", (text or "")).strip().casefold()


def normalise_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email or None


def customer_key(customer_id: str | None, customer_email: str | None) -> str | None:
    """The key that links one customer's responses: their id, else their email."""
    if customer_id and str(customer_id).strip():
        return f"id:{str(customer_id).strip()}"
    email = normalise_email(customer_email)
    return f"email:{email}" if email else None


def dedup_key(row: Mapping) -> str:
    """Same response seen twice: same source and external id, or, without an id, the same
    normalised text at the same moment at the same location."""
    if row.get("external_id"):
        basis = f"id\x1f{row['source']}\x1f{row['external_id']}"
    else:
        basis = "\x1f".join([
            "text", normalise_text(row.get("comment")), row["received_at"],
            normalise_text(row.get("location")), str(row.get("score_type") or ""),
            "" if row.get("score") is None else repr(float(row["score"])),
        ])
    return hashlib.sha1(basis.encode("utf-8")).hexdigest()


def insert_feedback(
    db: sqlite_utils.Database,
    rows: Iterable[Mapping],
    *,
    batch_id: int | None,
    actor: str,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Insert validated rows; return (inserted, duplicates).

    Rows need `source` and `received_at` (UTC ISO); other FEEDBACK_FIELDS are optional.
    Call inside `store.write_transaction` so that a batch lands whole or not at all.
    """
    created_at = to_iso(now or utcnow())
    columns = FEEDBACK_FIELDS + ("customer_key", "import_batch", "dedup_key", "created_at",
                                 "created_by")
    # ON CONFLICT, not INSERT OR IGNORE: OR IGNORE would also swallow CHECK failures and
    # count an invalid row as a duplicate.
    sql = (f"INSERT INTO feedback ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT(dedup_key) DO NOTHING")
    values = []
    seen: set[str] = set()
    duplicates = 0
    for row in rows:
        key = dedup_key(row)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        get = row.get
        record = [get(f) for f in FEEDBACK_FIELDS]
        record += (customer_key(get("customer_id"), get("customer_email")),
                   batch_id, key, created_at, actor)
        values.append(record)
    # Ids only grow, so rows past the previous maximum are exactly the ones just inserted.
    last_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM feedback").fetchone()[0]
    with _fts_in_bulk(db, last_id):
        db.conn.executemany(sql, values)
    inserted = db.execute("SELECT COUNT(*) FROM feedback WHERE id > ?", [last_id]).fetchone()[0]
    return inserted, duplicates + (len(values) - inserted)


# The full-text index trigger as sqlite-utils creates it (migration m001).
_FTS_TRIGGER_SQL = (
    'CREATE TRIGGER "feedback_ai" AFTER INSERT ON "feedback" BEGIN\n'
    '  INSERT INTO "feedback_fts" (rowid, "comment") VALUES (new.rowid, new."comment");\nEND'
)


@contextlib.contextmanager
def _fts_in_bulk(db: sqlite_utils.Database, last_id: int) -> Iterator[None]:
    """Index the new comments in one statement instead of one trigger call per row.

    FTS5 flushes its pending terms at the end of every statement, so the per-row insert
    trigger turns 100k rows into 100k tiny index segments: about two thirds of the write
    time of a large import. Inside the caller's transaction we drop that one trigger,
    insert, index the new rows exactly as the trigger would have, and put the trigger back;
    an error rolls all of it back. Only the trigger text we know is touched; anything else (a changed
    trigger, other triggers) takes the ordinary path.
    """
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                     ["feedback_ai"]).fetchone()
    if not db.conn.in_transaction or row is None or row[0] != _FTS_TRIGGER_SQL:
        yield
        return
    db.execute('DROP TRIGGER "feedback_ai"')
    yield
    db.execute('INSERT INTO "feedback_fts" (rowid, "comment") '
               "SELECT id, comment FROM feedback WHERE id > ?", [last_id])
    db.execute(_FTS_TRIGGER_SQL)

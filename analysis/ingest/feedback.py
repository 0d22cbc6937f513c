"""Writing feedback rows: identity (dedup key, customer key) and the one bulk insert.

Both the importer and the demo generator write through `insert_feedback_columns` (the
demo by way of `insert_feedback`, which takes one dict per row), so a response is identified
the same way whichever door it came in by.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime

import sqlite_utils

from analysis.domain.dates import valid_date_sql
from analysis.domain.scores import SCORE_STEPS
from analysis.ingest.batches import add_rejects, close_batch, open_batch
from analysis.messages import excerpt
from analysis.store import to_iso, utcnow

FEEDBACK_FIELDS = (
    "external_id", "source", "received_at", "location", "segment", "channel", "touchpoint",
    "customer_id", "customer_name", "customer_email", "score_type", "score", "comment",
)
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
    return _dedup_key(row.get("external_id"), row["source"], row.get("comment"),
                      row["received_at"], row.get("location"), row.get("score_type"),
                      row.get("score"))


def _dedup_key(external_id, source, comment, received_at, location, score_type, score) -> str:
    # These exact bytes are hashed in every store already written: changing them would make
    # a re-import of an old file count its rows as new responses.
    if external_id:
        basis = f"id\x1f{source}\x1f{external_id}"
    else:
        basis = "\x1f".join([
            "text", normalise_text(comment), received_at, normalise_text(location),
            str(score_type or ""), "" if score is None else repr(float(score)),
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
    rows = list(rows)
    columns = {f: [row.get(f) for row in rows] for f in FEEDBACK_FIELDS}
    return insert_feedback_columns(db, columns, batch_id=batch_id, actor=actor, now=now)


def insert_feedback_columns(
    db: sqlite_utils.Database,
    columns: Mapping[str, Sequence],
    *,
    batch_id: int | None,
    actor: str,
    now: datetime | None = None,
) -> tuple[int, int]:
    """`insert_feedback` with the rows given column-wise: field -> one value per row, every
    column as long as the others; a field left out is NULL throughout.

    The importer validates whole columns at once; turning them into one dict per row only
    to take the dicts apart again here cost more CPU than SQLite's part of the insert.
    """
    unknown = set(columns) - set(FEEDBACK_FIELDS)
    if unknown:
        raise ValueError(f"not feedback fields: {sorted(unknown)}")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"feedback columns of different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0

    def column(name: str):
        return columns[name] if name in columns else itertools.repeat(None, n)

    keys = list(map(_dedup_key, column("external_id"), column("source"), column("comment"),
                    column("received_at"), column("location"), column("score_type"),
                    column("score")))
    customers = list(map(customer_key, column("customer_id"), column("customer_email")))
    created_at = to_iso(now or utcnow())
    # Plain tuples zipped from the columns: no per-row list or dict on the way to SQLite.
    # Fields left out are left out of the INSERT too (NULL all the same): binding values
    # is most of what executemany costs on the Python side.
    given = [f for f in FEEDBACK_FIELDS if f in columns]
    records = zip(*(columns[f] for f in given), customers,
                  itertools.repeat(batch_id), keys, itertools.repeat(created_at),
                  itertools.repeat(actor))
    # A response twice in one batch is a duplicate too: the first one is inserted.
    attempted = n
    if len(set(keys)) < n:
        seen: set[str] = set()
        keep = [not (key in seen or seen.add(key)) for key in keys]
        records = itertools.compress(records, keep)
        attempted = len(seen)
    names = (*given, "customer_key", "import_batch", "dedup_key", "created_at", "created_by")
    # ON CONFLICT, not INSERT OR IGNORE: OR IGNORE would also swallow CHECK failures and
    # count an invalid row as a duplicate.
    sql = (f"INSERT INTO feedback ({', '.join(names)}) "
           f"VALUES ({', '.join('?' * len(names))}) ON CONFLICT(dedup_key) DO NOTHING")
    # Ids only grow, so rows past the previous maximum are exactly the ones just inserted.
    last_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM feedback").fetchone()[0]
    with _fts_in_bulk(db, last_id, attempted), _indexes_in_bulk(db, attempted, stored_at_most=last_id):
        db.conn.executemany(sql, records)
    inserted = db.execute("SELECT COUNT(*) FROM feedback WHERE id > ?", [last_id]).fetchone()[0]
    return inserted, n - inserted


# Below this many new rows the per-row FTS trigger costs little (see _fts_in_bulk).
BULK_FTS_MIN_ROWS = 500

# The full-text index trigger as sqlite-utils creates it (migration m001).
_FTS_TRIGGER_SQL = (
    'CREATE TRIGGER "feedback_ai" AFTER INSERT ON "feedback" BEGIN\n'
    '  INSERT INTO "feedback_fts" (rowid, "comment") VALUES (new.rowid, new."comment");\nEND'
)


@contextlib.contextmanager
def _fts_in_bulk(db: sqlite_utils.Database, last_id: int, new_rows: int) -> Iterator[None]:
    """Index the new comments in one statement instead of one trigger call per row.

    FTS5 flushes its pending terms at the end of every statement, so the per-row insert
    trigger turns 100k rows into 100k tiny index segments: about two thirds of the write
    time of a large import. Inside the caller's transaction we drop that one trigger,
    insert, index the new rows exactly as the trigger would have, and put the trigger back;
    an error rolls all of it back. Only the trigger text we know is touched; anything else (a changed
    trigger, other triggers) takes the ordinary path. Below BULK_FTS_MIN_ROWS the trigger
    stays: dropping it changes the schema, and every other connection then re-reads it
    (under many small concurrent writers, often enough to fail with "database schema has
    changed").
    """
    if new_rows < BULK_FTS_MIN_ROWS:
        yield
        return
    row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                     ["feedback_ai"]).fetchone()
    if not db.conn.in_transaction or row is None or row[0] != _FTS_TRIGGER_SQL:
        yield
        return
    db.execute('DROP TRIGGER "feedback_ai"')
    try:
        yield
    finally:
        # Also after an error, should the caller catch it and commit the rows that did go
        # in; unless SQLite has already rolled the whole transaction (and the drop) back.
        if db.conn.in_transaction:
            db.execute('INSERT INTO "feedback_fts" (rowid, "comment") '
                       "SELECT id, comment FROM feedback WHERE id > ?", [last_id])
            db.execute(_FTS_TRIGGER_SQL)


# Below this many new rows, updating the indexes row by row costs little, and rebuilding
# them would change the schema (and every other connection's prepared statements) for
# nothing.
BULK_INDEX_MIN_ROWS = 5_000


@contextlib.contextmanager
def _indexes_in_bulk(db: sqlite_utils.Database, new_rows: int, *,
                     stored_at_most: int) -> Iterator[None]:
    """Build feedback's secondary indexes once after a large insert instead of row by row.

    Each secondary index (date, location, customer, batch, score) costs a B-tree insert at
    a random place per row: for 100k rows into an empty store, about half of SQLite's time.
    CREATE INDEX after the insert sorts instead, and costs about a third as much per row,
    but it sorts every stored row again: it pays only while the store holds fewer rows than
    the batch brings, so that is the rule. All of it runs inside the caller's transaction,
    so an error or a crash rolls the drop back with the rows: no reader, and no store after
    a crash, ever sees feedback without its indexes. Unique indexes are never dropped
    (ON CONFLICT relies on them), and nothing is when ANALYZE statistics exist (dropping an
    index deletes its statistics).
    """
    # stored_at_most: the largest id, which no row count exceeds (and cheaper than COUNT(*)
    # on a big store); after deletions it overstates, which only keeps indexes in place.
    if (not db.conn.in_transaction or new_rows < BULK_INDEX_MIN_ROWS
            or stored_at_most >= new_rows
            or db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()):
        yield
        return
    indexes = db.execute(
        "SELECT m.name, m.sql FROM pragma_index_list('feedback') AS l "
        "JOIN sqlite_master AS m ON m.type = 'index' AND m.name = l.name "
        "WHERE l.origin = 'c' AND NOT l.\"unique\" AND m.sql IS NOT NULL ORDER BY l.seq"
    ).fetchall()
    for name, _ in indexes:
        db.execute('DROP INDEX "{}"'.format(name.replace('"', '""')))
    try:
        yield
    finally:
        if db.conn.in_transaction:  # see _fts_in_bulk
            for _, sql in indexes:
                db.execute(sql)  # the text SQLite kept: recreates the index exactly


# ----------------------------------------------------------------- stored rows that break the rules

def _off_step_sql(column: str = "f") -> str:
    return " OR ".join(
        f"({column}.score_type = '{name}' AND {column}.score / {step} "
        f"!= CAST({column}.score / {step} AS INTEGER))"
        for name, step in SCORE_STEPS.items())


def implausible_rows_sql(earliest: str, latest: str) -> tuple[str, list]:
    """WHERE clause (feedback aliased f) for rows the importer would reject today: a date
    that is no real moment or lies outside [earliest, latest] (UTC ISO strings), or a score
    between the steps of its scale. Stores written before those checks may hold some."""
    return (f"(NOT {valid_date_sql()} OR f.received_at < ? OR f.received_at > ? "
            f"OR {_off_step_sql()})", [earliest, latest])


def why_implausible(row: Mapping, *, valid_date: bool, earliest: str, latest: str) -> str:
    """The reason a row matched implausible_rows_sql, worded for the rejects table.
    `valid_date`: what valid_date_sql said of the row's date."""
    when = row["received_at"]
    if not valid_date:
        return f"the stored date {excerpt(str(when))} is not a real UTC date and time"
    if when < earliest:
        return (f"the stored date {when} is before {earliest[:10]}, the earliest plausible "
                "date (setting CLOSELOOP_EARLIEST_DATE)")
    if when > latest:
        return f"the stored date {when} is in the future (later than {latest})"
    return f"the stored score {row['score']:g} is between the steps of the {row['score_type']} scale"


def implausible_rows(db: sqlite_utils.Database, *, earliest: str, latest: str) -> list[dict]:
    """Every stored row that today's import rules would reject (see implausible_rows_sql),
    with `_valid_date`: whether its date is a real moment."""
    where, params = implausible_rows_sql(earliest, latest)
    return list(db.query(f"SELECT f.*, {valid_date_sql()} AS _valid_date FROM feedback f "
                         f"WHERE {where} ORDER BY f.id", params))


def reject_stored_implausible_rows(db: sqlite_utils.Database, *, earliest: str, latest: str,
                                   actor: str, now: datetime, reason_suffix: str = "") -> int:
    """Move stored rows that break today's import rules to the rejects, with their reason.

    Nothing is dropped without a trace: the rejects get a batch of their own, each row's
    every column as JSON and its reason; the feedback rows (and, by cascade, their
    sentiment and themes) go. Call inside a write transaction. Returns how many moved.
    """
    rows = implausible_rows(db, earliest=earliest, latest=latest)
    if not rows:
        return 0
    batch_id = open_batch(db, file_name="(rows already stored)", source="store check",
                          actor=actor, now=now, rows_read=len(rows))
    rejects = []
    for number, row in enumerate(rows, start=1):
        valid = bool(row.pop("_valid_date"))
        reason = why_implausible(row, valid_date=valid, earliest=earliest, latest=latest)
        field = "received_at" if not valid or not earliest <= row["received_at"] <= latest \
            else "score"
        rejects.append((number, field, reason + reason_suffix,
                        json.dumps(row, ensure_ascii=False, default=str)))
    add_rejects(db, batch_id, rejects)
    db.conn.executemany("DELETE FROM feedback WHERE id = ?", [(r["id"],) for r in rows])
    close_batch(db, batch_id, now=now, imported=0, duplicates=0, rejected=len(rows))
    return len(rows)

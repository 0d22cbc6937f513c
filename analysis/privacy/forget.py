"""Erase a customer's personal data (the right to be forgotten), and audit record views.

    with store.write_transaction(db):
        summary = forget_customer(db, email="jo@example.com", actor="dpo")

`forget_customer` finds the customer by key (as stored: "id:C-17" or "email:jo@x.com"; a
bare id is tried as "id:<id>") or by email (normalised as at import: trimmed, lower case;
every key whose feedback carries that email is erased too), then, inside the caller's
write transaction:

- feedback: customer_id, customer_name, customer_email and customer_key become NULL; the
  comment is replaced by its masked form (`mask_text`, plus the customer's own name and
  email replaced by "[name]"/"[email]") when `anonymise_comments`, else set to NULL. The
  full-text index follows through the feedback triggers (m001), and is then optimised so
  the old tokens do not linger in older index segments. `dedup_key` (a SHA-1) stays, so
  re-importing the same file does not bring the customer back;
- cases: customer_key becomes NULL; their resolution notes and the notes of their events
  are masked the same way;
- outbox: the customer's messages (by key, or addressed to their email) get recipient,
  subject and body "[erased]", no customer_key, an idempotency key replaced by
  "erased:<sha256 of the old key>" and their last error masked; those not yet sent
  (queued, held, failed) are cancelled;
- customer_contacts: the customer's rows are deleted;
- anywhere else (import rejects' raw rows, notifications, event details, other
  customers' comments, ...), every text value containing one of the customer's email
  addresses has it replaced by "[erased]". Staff tables (people, accounts, sessions,
  sign-in events) and the audit tables are left alone;
- one `erasures` row: the SHA-256 of the customer key (never the key nor the email), the
  counts and who did it.

The database file itself is written with `PRAGMA secure_delete` on during the erasure,
so freed pages are zeroed; copies made before (backups, exported files) are not touched.
Not recognised: the customer's name inside other customers' comments, a name or address
written in a free-text note other than their own, embeddings (keyed by a hash of the old
text, they hold vectors only).

`record_view` / `views_of`: who looked at a customer's record, keyed by the same hash;
`record_views_once`: what a page calls when it shows customers' data.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

import sqlite_utils

from analysis.ingest.feedback import normalise_email
from analysis.privacy.masking import identity_masker, mask_text
from analysis.store import StoreError, is_read_only, write_transaction
from analysis.store.clock import to_iso, utcnow

ERASED = "[erased]"
_UNSENT = ("queued", "held", "failed")
# Tables whose text is not the customer's: staff and their sign-in (m014), the audit,
# schema bookkeeping. FTS shadow tables are skipped too (the triggers keep them in step).
_NOT_SCANNED = {"people", "accounts", "sessions", "sign_in_events", "erasures",
                "record_views", "store_meta", "_sqlite_migrations"}


class ForgetError(ValueError):
    """The customer to forget was not given or not found; the message names the field."""


def customer_key_hash(customer_key: str) -> str:
    """The SHA-256 (hex) of a customer key: what the audit tables store instead of it."""
    return hashlib.sha256(customer_key.encode("utf-8")).hexdigest()


def forget_customer(db: sqlite_utils.Database, *, customer_key: str | None = None,
                    email: str | None = None, anonymise_comments: bool = True, actor: str,
                    now: datetime | None = None) -> dict:
    """Erase one customer's personal data (see the module docstring); returns the counts.
    Raises ForgetError when neither or both of `customer_key` and `email` are given, or
    when no such customer is stored. Runs inside the caller's write transaction."""
    if (customer_key is None) == (email is None):
        raise ForgetError("customer: give either a customer key or an email")
    if not actor:
        raise ForgetError("actor: required")
    stamp = to_iso(now or utcnow())
    keys, emails, names, primary = _find(db, customer_key, email)

    previous = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = ON")
    try:
        feedback_rows = _erase_feedback(db, keys, emails, names, anonymise_comments)
        cases = _erase_cases(db, keys, emails, names)
        messages = _erase_messages(db, keys, emails, stamp)
        contacts = _in(db, "DELETE FROM customer_contacts WHERE customer_key IN ({})", keys)
        other_values = _scrub_everywhere(db, emails)
        if feedback_rows or other_values:
            db.execute("INSERT INTO feedback_fts(feedback_fts) VALUES ('optimize')")
        key_hash = customer_key_hash(primary)
        erasure_id = db.execute(
            "INSERT INTO erasures (customer_key_hash, feedback_rows, cases, messages, "
            "anonymised_comments, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [key_hash, feedback_rows, cases, messages, int(bool(anonymise_comments)), actor,
             stamp]).lastrowid
    finally:
        db.execute(f"PRAGMA secure_delete = {int(previous)}")
    return {"erasure_id": erasure_id, "customer_key_hash": key_hash,
            "feedback_rows": feedback_rows, "cases": cases, "messages": messages,
            "contacts": contacts, "other_values": other_values,
            "anonymised_comments": bool(anonymise_comments)}


def record_view(db: sqlite_utils.Database, customer_key: str, *, actor: str, what: str,
                now: datetime | None = None) -> int:
    """Note that `actor` viewed `what` of the customer's record; returns the row id."""
    if not customer_key:
        raise ForgetError("customer_key: required")
    return db.execute(
        "INSERT INTO record_views (customer_key_hash, actor, at, what) VALUES (?, ?, ?, ?)",
        [customer_key_hash(customer_key), actor, to_iso(now or utcnow()), what]).lastrowid


def record_views_once(db: sqlite_utils.Database, customer_keys, *, actor: str, what: str,
                      seen: set, now: datetime | None = None) -> bool:
    """Record, in its own write transaction, that `actor` viewed `what` of each customer
    in `customer_keys`, leaving out the (key, what) pairs already in `seen` (a page keeps
    one set per browser session, so a rerun or a click records nothing new) and adding
    the ones recorded. False when the store cannot record them (read-only, busy, full):
    the caller then hides the customers' data, as no view goes unrecorded."""
    new = [k for k in dict.fromkeys(customer_keys) if k and (k, what) not in seen]
    if not new:
        return True
    if is_read_only(db):
        return False
    try:
        with write_transaction(db, changes_figures=False):   # no cached figure reads it
            for key in new:
                record_view(db, key, actor=actor, what=what, now=now)
    except StoreError:
        return False
    seen.update((k, what) for k in new)
    return True


def record_views_of(db: sqlite_utils.Database, *, customer_key: str | None = None,
                    email: str | None = None) -> list[dict]:
    """Who viewed a customer's record, oldest first: [{customer_key, actor, at, what}], by
    their key or email. The audit keeps only a hash of the key, so it still answers for a
    key given exactly after the customer was erased."""
    if (customer_key is None) == (email is None):
        raise ForgetError("give exactly one of customer_key and email")
    try:
        keys = _find(db, customer_key, email)[0]
    except ForgetError:
        if email is not None and not normalise_email(email):
            raise
        keys = [customer_key.strip()] if customer_key is not None \
            else [f"email:{normalise_email(email)}"]
    rows = [{"customer_key": key, **view} for key in keys for view in views_of(db, key)]
    return sorted(rows, key=lambda r: r["at"])


def views_of(db: sqlite_utils.Database, customer_key: str) -> list[dict]:
    """Who viewed the customer's record, oldest first: [{actor, at, what}]."""
    return [{"actor": actor, "at": at, "what": what} for actor, at, what in db.execute(
        "SELECT actor, at, what FROM record_views WHERE customer_key_hash = ? ORDER BY at, id",
        [customer_key_hash(customer_key)])]


# ------------------------------------------------------------------ finding the customer

def _find(db, customer_key: str | None, email: str | None):
    """(keys, emails, names, primary key) of the customer; ForgetError when unknown."""
    if email is not None:
        address = normalise_email(email)
        if not address:
            raise ForgetError("email: empty")
        candidate_keys = {f"email:{address}"}
        candidate_keys |= {k for (k,) in db.execute(
            "SELECT DISTINCT customer_key FROM feedback WHERE lower(trim(customer_email)) = ? "
            "AND customer_key IS NOT NULL", [address])}
        field = "email"
    else:
        given = (customer_key or "").strip()
        if not given:
            raise ForgetError("customer_key: empty")
        candidate_keys = {given}
        if ":" not in given or not _known(db, {given}):
            candidate_keys.add(f"id:{given}")
        address, field = None, "customer_key"
    keys = sorted(k for k in candidate_keys if _known(db, {k}))
    if not keys and address is not None and db.execute(
            "SELECT 1 FROM outbox WHERE lower(recipient) = ? LIMIT 1", [address]).fetchone():
        keys = [f"email:{address}"]
    if not keys:
        raise ForgetError(f"{field}: no customer with this {field.replace('_', ' ')} is stored")
    emails = {address} if address else set()
    names = set()
    for row_email, name in _in(db, "SELECT DISTINCT customer_email, customer_name FROM feedback "
                                   "WHERE customer_key IN ({})", keys, fetch=True):
        if normalise_email(row_email):
            emails.add(normalise_email(row_email))
        if name and name.strip():
            names.add(name.strip())
    emails |= {k[len("email:"):] for k in keys if k.startswith("email:")}
    # The key the erasure is recorded under: the id when there is one.
    primary = next((k for k in keys if k.startswith("id:")), keys[0])
    return keys, sorted(emails), sorted(names), primary


def _known(db, keys: set[str]) -> bool:
    for table in ("feedback", "cases", "customer_contacts", "outbox"):
        if _in(db, f"SELECT 1 FROM {table} WHERE customer_key IN ({{}}) LIMIT 1", sorted(keys),
               fetch=True):
            return True
    return False


def _in(db, sql: str, values, *, params_before=(), fetch: bool = False):
    """Run `sql` with its "{}" replaced by one placeholder per value; the rows when
    `fetch`, else the number of rows changed."""
    values = list(values)
    if not values:
        return [] if fetch else 0
    cursor = db.execute(sql.format(", ".join("?" * len(values))), [*params_before, *values])
    return cursor.fetchall() if fetch else cursor.rowcount


# ------------------------------------------------------------------ erasing

def _marks(values) -> str:
    return ", ".join("?" * len(values))


def _erase_feedback(db, keys, emails, names, anonymise_comments: bool) -> int:
    where, values = f"customer_key IN ({_marks(keys)})", list(keys)
    if emails:
        where += f" OR lower(trim(customer_email)) IN ({_marks(emails)})"
        values += emails
    rows = db.execute(f"SELECT id, comment FROM feedback WHERE {where}", values).fetchall()
    anonymise = identity_masker(emails, names)
    for feedback_id, comment in rows:
        new_comment = anonymise(comment) if anonymise_comments else None
        # Updating `comment` fires the FTS triggers, which keep feedback_fts in step.
        db.execute("UPDATE feedback SET customer_id = NULL, customer_name = NULL, "
                   "customer_email = NULL, customer_key = NULL, comment = ? WHERE id = ?",
                   [new_comment, feedback_id])
    return len(rows)


def _erase_cases(db, keys, emails, names) -> int:
    case_ids = [i for (i,) in _in(db, "SELECT id FROM cases WHERE customer_key IN ({})", keys,
                                  fetch=True)]
    anonymise = identity_masker(emails, names)
    for case_id in case_ids:
        (note,) = db.execute("SELECT resolution_note FROM cases WHERE id = ?",
                             [case_id]).fetchone()
        db.execute("UPDATE cases SET customer_key = NULL, resolution_note = ? WHERE id = ?",
                   [anonymise(note), case_id])
        for event_id, event_note in db.execute(
                "SELECT id, note FROM case_events WHERE case_id = ? AND note IS NOT NULL",
                [case_id]).fetchall():
            db.execute("UPDATE case_events SET note = ? WHERE id = ?",
                       [anonymise(event_note), event_id])
    return len(case_ids)


def _erase_messages(db, keys, emails, stamp: str) -> int:
    where, values = f"customer_key IN ({_marks(keys)})", list(keys)
    if emails:
        where += f" OR lower(trim(recipient)) IN ({_marks(emails)})"
        values += emails
    rows = db.execute(f"SELECT id, idempotency_key, last_error FROM outbox WHERE {where}",
                      values).fetchall()
    for message_id, key, last_error in rows:
        db.execute(
            f"""UPDATE outbox SET recipient = ?, subject = CASE WHEN subject = '' THEN ''
                ELSE ? END, body = ?, customer_key = NULL, idempotency_key = ?,
                last_error = ?, status = CASE WHEN status IN
                ({', '.join(repr(s) for s in _UNSENT)}) THEN 'cancelled' ELSE status END
                WHERE id = ?""",
            [ERASED, ERASED, ERASED, "erased:" + hashlib.sha256(key.encode()).hexdigest(),
             mask_text(last_error) if last_error else last_error, message_id])
        db.execute("INSERT INTO outbox_events (message_id, event, detail, at) "
                   "VALUES (?, 'erased', ?, ?)",
                   [message_id, json.dumps({"reason": "customer data erased"}),
                    stamp])
    return len(rows)


def _scrub_everywhere(db, emails) -> int:
    """Replace the customer's email addresses in every other text value; how many values."""
    if not emails:
        return 0
    changed = 0
    pattern = re.compile("|".join(re.escape(e) for e in emails), re.IGNORECASE)
    for table in _tables(db):
        columns = [c[1] for c in db.execute(f'PRAGMA table_info("{table}")')]
        for column in columns:
            condition = " OR ".join(f'instr(lower("{column}"), ?) > 0' for _ in emails)
            rows = db.execute(f'SELECT rowid, "{column}" FROM "{table}" WHERE typeof("{column}") '
                              f"= 'text' AND ({condition})", list(emails)).fetchall()
            for rowid, value in rows:
                db.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?',
                           [pattern.sub(ERASED, value), rowid])
                changed += 1
    return changed


def _tables(db) -> list[str]:
    names = [name for (name, sql) in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_") and "VIRTUAL TABLE" not in (sql or "").upper()]
    virtual = [name for (name, sql) in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        if "VIRTUAL TABLE" in (sql or "").upper()]
    # FTS shadow tables (feedback_fts_data, ...) follow their virtual table.
    return [n for n in names if n not in _NOT_SCANNED
            and not any(n.startswith(v + "_") for v in virtual)]

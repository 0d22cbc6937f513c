"""The outbox: every message waits in the store until the worker sends it.

    queued -> sending -> sent
                      -> failed (retried after 1, 2, 4 ... minutes, at most 6 h apart)
                      -> dead (a permanent refusal, or MAX_ATTEMPTS failures), with its reason
    held: the contact-frequency rule kept it back (the reason says why); cancelled by hand

Never twice: a message is marked `sending` in its own committed transaction before it goes
out, and recorded `sent` after. A worker killed between the two leaves it `sending`; the next
drain finds it stale and marks it failed with "interrupted while sending", not to be resent
by itself (it may have gone out): a person checks and retries. Queuing with the same
idempotency key twice gives the one message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils

from analysis import store
from analysis.followup.channels import DeliveryError, send_email, send_webhook
from analysis.settings import DeliverySettings, delivery_settings
from analysis.store.clock import from_iso, to_iso, utcnow

MAX_ATTEMPTS = 6
BACKOFF_START = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
STALE_SENDING = timedelta(minutes=10)
"""A drain sends for at most a few minutes: a message `sending` longer was interrupted."""
CHANNELS = ("email", "sms", "webhook")
OUTBOX_FIELDS = ["id", "kind", "channel", "recipient", "subject", "status", "attempts",
                 "send_after", "next_attempt_at", "last_error", "case_id", "customer_key",
                 "template_id", "template_version", "created_at", "created_by", "sent_at",
                 "idempotency_key"]


class OutboxError(ValueError):
    """A message that cannot be queued or changed; the message names the field."""


def _event(db, message_id: int, name: str, detail: dict, stamp: str) -> None:
    db.execute("INSERT INTO outbox_events (message_id, event, detail, at) VALUES (?, ?, ?, ?)",
               [message_id, name, json.dumps(detail, default=str), stamp])


def queue_message(db: sqlite_utils.Database, *, kind: str, channel: str, recipient: str,
                  body: str, key: str, actor: str, subject: str = "",
                  case_id: int | None = None, customer_key: str | None = None,
                  template_id: int | None = None, template_version: int | None = None,
                  send_after: datetime | None = None, hold_reason: str | None = None,
                  now: datetime | None = None) -> tuple[int, bool]:
    """(id, new?): the message with this idempotency key, queued now if it is new. Inside
    the caller's write transaction."""
    if channel not in CHANNELS:
        raise OutboxError(f"channel: must be one of {', '.join(CHANNELS)}, got {channel!r}")
    if not (recipient or "").strip():
        raise OutboxError("recipient: nobody to send to")
    if not (body or "").strip():
        raise OutboxError("body: the message is empty")
    if not key:
        raise OutboxError("idempotency key: required")
    found = db.execute("SELECT id FROM outbox WHERE idempotency_key = ?", [key]).fetchone()
    if found:
        return found[0], False
    now = now or utcnow()
    stamp = to_iso(now)
    status = "held" if hold_reason else "queued"
    message_id = db.execute(
        """INSERT INTO outbox (idempotency_key, kind, channel, recipient, subject, body,
           case_id, customer_key, template_id, template_version, status, send_after,
           last_error, created_at, created_by, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [key, kind, channel, recipient.strip(), subject, body, case_id, customer_key,
         template_id, template_version, status, to_iso(send_after or now), hold_reason,
         stamp, actor, stamp]).lastrowid
    _event(db, message_id, status, {"by": actor, "reason": hold_reason}, stamp)
    return message_id, True


def list_outbox(db: sqlite_utils.Database, *, status: str | None = None,
                case_id: int | None = None, limit: int | None = 500) -> list[dict]:
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if case_id is not None:
        where.append("case_id = ?")
        params.append(case_id)
    return list(db.query(
        f"SELECT {', '.join(OUTBOX_FIELDS)}, body FROM outbox "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC "
        f"{'' if limit is None else f'LIMIT {int(limit)}'}", params))


def message_events(db: sqlite_utils.Database, message_id: int) -> list[dict]:
    return [{**r, "detail": json.loads(r["detail"])} for r in db.query(
        "SELECT event, detail, at FROM outbox_events WHERE message_id = ? ORDER BY id",
        [message_id])]


def retry_message(db: sqlite_utils.Database, message_id: int, *, actor: str,
                  now: datetime | None = None) -> None:
    """Put a failed, dead or held message back in the queue (a person decided)."""
    row = db.execute("SELECT status FROM outbox WHERE id = ?", [message_id]).fetchone()
    if row is None:
        raise OutboxError(f"there is no message {message_id}")
    if row[0] not in ("failed", "dead", "held", "cancelled"):
        raise OutboxError(f"status: a {row[0]} message cannot be retried")
    stamp = to_iso(now or utcnow())
    db.execute("UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = NULL, "
               "send_after = ?, updated_at = ? WHERE id = ?", [stamp, stamp, message_id])
    _event(db, message_id, "retry", {"by": actor, "was": row[0]}, stamp)


def cancel_message(db: sqlite_utils.Database, message_id: int, *, actor: str,
                   now: datetime | None = None) -> None:
    row = db.execute("SELECT status FROM outbox WHERE id = ?", [message_id]).fetchone()
    if row is None:
        raise OutboxError(f"there is no message {message_id}")
    if row[0] in ("sent", "sending"):
        raise OutboxError(f"status: a {row[0]} message cannot be cancelled")
    stamp = to_iso(now or utcnow())
    db.execute("UPDATE outbox SET status = 'cancelled', updated_at = ? WHERE id = ?",
               [stamp, message_id])
    _event(db, message_id, "cancelled", {"by": actor}, stamp)


# ------------------------------------------------------------------ sending


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    interrupted: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.sent} sent, {self.failed} to retry, {self.dead} dead, "
                f"{self.interrupted} interrupted")


def deliver(message: dict, settings: DeliverySettings) -> None:
    """Send one outbox row through its channel; raises DeliveryError."""
    key = message["idempotency_key"]
    if message["channel"] == "email":
        # Template bodies are HTML (autoescaped); staff alerts are plain text.
        html = message["template_id"] is not None or message["body"].lstrip().startswith("<")
        send_email(settings, to=message["recipient"], subject=message["subject"],
                   body=message["body"], key=key, html=html)
        return
    hook = "sms" if message["channel"] == "sms" else message["recipient"]
    url = settings.webhooks.get(hook)
    if not url:
        raise DeliveryError(f"no webhook called {hook!r} is set up (CLOSELOOP_WEBHOOKS)",
                            permanent=True)
    if message["channel"] == "sms":
        payload = {"to": message["recipient"], "text": message["body"]}
    else:
        try:
            payload = json.loads(message["body"])
        except ValueError:
            payload = {"text": message["body"]}
    send_webhook(url, payload, secret=settings.webhook_secret, key=key)


def drain_outbox(db: sqlite_utils.Database, *, now: datetime | None = None,
                 settings: DeliverySettings | None = None, limit: int = 100,
                 send: Callable[[dict, DeliverySettings], None] | None = None,
                 on_sent: Callable[[sqlite_utils.Database, dict, datetime], None] | None = None
                 ) -> DrainResult:
    """Send what is due (each message: mark sending, commit, send, record); runs its own
    transactions, so call it outside one. `on_sent` runs after a message is recorded sent,
    in a transaction of its own (the case timeline hooks in there); if it fails, the failure
    is an event of the message and the drain goes on."""
    now = now or utcnow()
    stamp = to_iso(now)
    settings = settings or delivery_settings()
    send = send or deliver
    result = DrainResult()
    with store.write_transaction(db):
        stale = db.execute("SELECT id FROM outbox WHERE status = 'sending' AND updated_at < ?",
                           [to_iso(now - STALE_SENDING)]).fetchall()
        for (message_id,) in stale:
            reason = ("interrupted while sending: it may have gone out, so it is not resent "
                      "by itself; check, then retry by hand")
            db.execute("UPDATE outbox SET status = 'failed', next_attempt_at = NULL, "
                       "last_error = ?, updated_at = ? WHERE id = ?",
                       [reason, stamp, message_id])
            _event(db, message_id, "interrupted", {"reason": reason}, stamp)
            result.interrupted += 1
        due = [dict(r) for r in db.query(
            """SELECT * FROM outbox WHERE send_after <= ? AND (status = 'queued'
                 OR (status = 'failed' AND next_attempt_at IS NOT NULL
                     AND next_attempt_at <= ?))
               ORDER BY send_after, id LIMIT ?""", [stamp, stamp, limit])]
        for message in due:
            db.execute("UPDATE outbox SET status = 'sending', attempts = attempts + 1, "
                       "updated_at = ? WHERE id = ?", [stamp, message["id"]])
            _event(db, message["id"], "attempt", {"attempt": message["attempts"] + 1}, stamp)
    for message in due:
        attempts = message["attempts"] + 1
        try:
            send(message, settings)
        except DeliveryError as exc:
            _record_failure(db, message, attempts, exc, now, result)
            continue
        with store.write_transaction(db):
            db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, "
                       "updated_at = ? WHERE id = ?", [stamp, stamp, message["id"]])
            _event(db, message["id"], "sent", {"attempt": attempts}, stamp)
        result.sent += 1
        if on_sent is not None:
            # Its own transaction: a failing hook (the case changed meanwhile, say) must not
            # undo "sent" for a message that has left, nor strand the rest of the batch.
            try:
                with store.write_transaction(db):
                    on_sent(db, message, now)
            except Exception as exc:  # noqa: BLE001 - recorded, and the drain goes on
                with store.write_transaction(db):
                    _event(db, message["id"], "after-send step failed",
                           {"error": f"{type(exc).__name__}: {exc}"[:500]}, stamp)
                result.errors.append(str(exc))
    return result


def _record_failure(db, message: dict, attempts: int, exc: DeliveryError, now: datetime,
                    result: DrainResult) -> None:
    stamp = to_iso(now)
    dead = exc.permanent or attempts >= MAX_ATTEMPTS
    wait = min(BACKOFF_CAP, BACKOFF_START * 2 ** (attempts - 1))
    with store.write_transaction(db):
        db.execute("UPDATE outbox SET status = ?, next_attempt_at = ?, last_error = ?, "
                   "updated_at = ? WHERE id = ?",
                   ["dead" if dead else "failed", None if dead else to_iso(now + wait),
                    str(exc)[:500], stamp, message["id"]])
        _event(db, message["id"], "dead" if dead else "failed",
               {"attempt": attempts, "error": str(exc)[:500],
                "retry_at": None if dead else to_iso(now + wait)}, stamp)
    result.errors.append(str(exc))
    if dead:
        result.dead += 1
    else:
        result.failed += 1


def next_attempt(message: dict) -> datetime | None:
    return from_iso(message["next_attempt_at"]) if message.get("next_attempt_at") else None

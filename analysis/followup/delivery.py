"""What the sweep does with the outbox: staff alerts and case events go in, due messages go
out, and a sent follow-up is written on its case.

- Notifications (critical cases, escalations; analysis/cases) go to the "alerts" webhook
  when there is one, else by email to their recipient; with neither they stay stored. New
  spike alerts go to the "alerts" webhook too.
- Case changes (created, assigned, escalated, resolved, followed up, reopened) go to the
  "events" webhook, signed, for a CRM or help desk, from the moment it is set up.
- Happy customers' review requests are scheduled a few days after their score
  (analysis/followup/followups.py).
- A sent follow-up is recorded on the case's timeline and in the customer's contacts, and a
  resolved case moves to "followed up".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from analysis import store
from analysis.app_settings import read_app_setting, write_app_setting
from analysis.followup.outbox import DrainResult, drain_outbox, queue_message
from analysis.settings import DeliverySettings, delivery_settings
from analysis.store.clock import to_iso

EVENTS_WATERMARK_KEY = "outbox case events watermark"
EVENT_NAMES = {"opened": "case.created", "assigned": "case.assigned",
               "escalated": "case.escalated", "reopened": "case.reopened"}
STATUS_EVENTS = {"resolved": "case.resolved", "followed up": "case.followed_up",
                 "closed": "case.closed"}
FOLLOW_UP_KINDS = ("follow-up", "review request")


@dataclass
class OutboxStepResult:
    alerts: int
    events: int
    reviews: int
    drained: DrainResult

    def summary(self) -> str:
        return (f"{self.alerts} staff alert(s), {self.events} case event(s) and "
                f"{self.reviews} review request(s) queued, {self.drained.summary()}")


def queue_notifications(db: sqlite_utils.Database, *, now: datetime, actor: str,
                        settings: DeliverySettings) -> int:
    """Pending staff notifications into the outbox (inside a transaction)."""
    queued = 0
    for row in db.query("SELECT * FROM notifications WHERE status = 'pending' ORDER BY id"):
        key = f"notification-{row['id']}"
        if "alerts" in settings.webhooks:
            queue_message(db, kind="alert", channel="webhook", recipient="alerts",
                          subject=row["subject"], key=key, actor=actor, now=now,
                          case_id=row["case_id"],
                          body=json.dumps({"text": f"{row['subject']}\n{row['body']}",
                                           "kind": row["kind"], "case_id": row["case_id"]}))
        elif settings.can_email and row["recipient"]:
            queue_message(db, kind="alert", channel="email", recipient=row["recipient"],
                          subject=row["subject"], body=row["body"], key=key, actor=actor,
                          now=now, case_id=row["case_id"])
        else:
            continue   # no way to deliver it yet: it stays listed as pending
        db.execute("UPDATE notifications SET status = 'queued' WHERE id = ?", [row["id"]])
        queued += 1
    return queued


ALERTS_WATERMARK_KEY = "alerts webhook watermark"


def queue_spike_alerts(db: sqlite_utils.Database, *, now: datetime, actor: str,
                       settings: DeliverySettings) -> int:
    """Spike alerts opened since the last call to the "alerts" webhook (Slack-style text),
    from the moment it is set up (earlier alerts are not replayed)."""
    from analysis.trends.alerts import describe_alert, list_alerts

    last = int(read_app_setting(db, ALERTS_WATERMARK_KEY, 0) or 0)
    new = sorted((a for a in list_alerts(db, status="all") if a["id"] > last),
                 key=lambda a: a["id"])
    if not new:
        return 0
    queued = 0
    if "alerts" in settings.webhooks:
        for alert in new:
            queue_message(db, kind="alert", channel="webhook", recipient="alerts",
                          subject="Spike alert", key=f"spike-alert-{alert['id']}", actor=actor,
                          now=now, body=json.dumps({"text": "Spike alert: " + describe_alert(alert),
                                                    "kind": "spike alert",
                                                    "alert_id": alert["id"]}))
            queued += 1
    write_app_setting(db, ALERTS_WATERMARK_KEY, new[-1]["id"], actor=actor, now=now)
    return queued


def queue_case_events(db: sqlite_utils.Database, *, now: datetime, actor: str,
                      settings: DeliverySettings) -> int:
    """Case changes since the last call into the outbox for the "events" webhook."""
    last = int(read_app_setting(db, EVENTS_WATERMARK_KEY, 0) or 0)
    rows = list(db.query(
        """SELECT e.id, e.case_id, e.event, e.from_status, e.to_status, e.detail, e.actor, e.at,
                  c.type, c.route, c.priority, c.status, c.location, c.theme_id,
                  c.customer_key, c.owner_id, c.team_id
           FROM case_events e JOIN cases c ON c.id = e.case_id WHERE e.id > ? ORDER BY e.id""",
        [last]))
    if not rows:
        return 0
    queued = 0
    if "events" in settings.webhooks:
        for row in rows:
            name = EVENT_NAMES.get(row["event"]) or (
                STATUS_EVENTS.get(row["to_status"]) if row["event"] == "status" else None)
            if name is None:
                continue
            payload = {"event": name, "id": f"evt_{row['id']}", "at": row["at"],
                       "actor": row["actor"], "detail": json.loads(row["detail"]),
                       "case": {k: row[k] for k in ("case_id", "type", "route", "priority",
                                                    "status", "location", "theme_id",
                                                    "customer_key", "owner_id", "team_id")}}
            queue_message(db, kind="event", channel="webhook", recipient="events",
                          body=json.dumps(payload), key=f"case-event-{row['id']}",
                          actor=actor, now=now, case_id=row["case_id"])
            queued += 1
    write_app_setting(db, EVENTS_WATERMARK_KEY, rows[-1]["id"], actor=actor, now=now)
    return queued


def on_message_sent(db: sqlite_utils.Database, message: dict, now: datetime) -> None:
    """A follow-up went out: its case's timeline, the customer's contacts, and a resolved
    case becomes followed up."""
    if message["kind"] not in FOLLOW_UP_KINDS or message["case_id"] is None:
        return
    from analysis.cases.records import change_status, event, get_case, record_contact

    stamp = to_iso(now)
    case = get_case(db, message["case_id"])
    event(db, case["id"], f"{message['kind']} sent", actor=message["created_by"], at=stamp,
          detail={"message": message["id"], "channel": message["channel"],
                  "to": message["recipient"], "subject": message["subject"]})
    if message["customer_key"]:
        record_contact(db, message["customer_key"], message["kind"], actor=message["created_by"],
                       channel=message["channel"], case_id=case["id"],
                       detail={"message": message["id"]}, now=now)
    if message["kind"] == "follow-up" and case["status"] == "resolved":
        change_status(db, case["id"], "followed up", actor=message["created_by"], now=now,
                      note=f"follow-up sent: {message['subject']}"[:200])


def sweep_outbox(db: sqlite_utils.Database, *, now: datetime, since=None,
                 actor: str) -> OutboxStepResult:
    """The sweep's outbox step: queue, then drain (in its own transactions: a message is
    marked sending and committed before it leaves)."""
    del since
    settings = delivery_settings()
    from analysis.followup.followups import (
        queue_alert_digest,
        queue_weekly_report,
        schedule_review_requests,
    )

    with store.write_transaction(db):
        alerts = queue_notifications(db, now=now, actor=actor, settings=settings)
        alerts += queue_spike_alerts(db, now=now, actor=actor, settings=settings)
        events = queue_case_events(db, now=now, actor=actor, settings=settings)
        reviews = schedule_review_requests(db, now=now, actor=actor)
        alerts += queue_alert_digest(db, now=now, actor=actor)
        alerts += queue_weekly_report(db, now=now, actor=actor)
    drained = drain_outbox(db, now=now, settings=settings, on_sent=on_message_sent)
    return OutboxStepResult(alerts, events, reviews, drained)

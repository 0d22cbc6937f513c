"""The sweep's outbox step (`analysis.followup.delivery`): staff alerts to the "alerts"
webhook, signed case events to the "events" webhook, and a sent follow-up written on its
case, end to end through `run_sweep` with real receivers on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analysis import store
from analysis.cases.records import change_status, contact_history, get_case, timeline
from analysis.followup.channels import SIGNATURE_HEADER, verify_signature
from analysis.followup.delivery import on_message_sent
from analysis.followup.outbox import drain_outbox, list_outbox, queue_message
from analysis.sweep import run_sweep
from tests.case_stores import MONDAY, add, case_of, response, team, themes
from tests.delivery_servers import HttpReceiver, SmtpServer
from tests.test_outbox import settings

SECRET = "whsec_events"


@pytest.fixture
def no_delivery(monkeypatch, tmp_path):
    for name in ("CLOSELOOP_SMTP_HOST", "CLOSELOOP_SMTP_FROM", "CLOSELOOP_WEBHOOKS",
                 "CLOSELOOP_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("analysis.settings.SECRETS_FILE", tmp_path / "no-secrets.toml")
    return monkeypatch


def test_a_critical_case_alerts_the_alerts_webhook_at_once(db, no_delivery):
    themes(db)
    team(db)
    add(db, response("c1", "rating", 1, comment="My child had an allergic reaction"))
    with HttpReceiver() as hook:
        no_delivery.setenv("CLOSELOOP_WEBHOOKS", f"alerts={hook.url}")
        results = run_sweep(db, now=MONDAY, actor="sweep")
    assert results["outbox"].alerts == 1 and results["outbox"].drained.sent == 1
    [got] = hook.received
    assert got.json()["kind"] == "critical case"
    assert got.json()["text"].startswith("Critical case #1: Recover: Queue")
    assert db.execute("SELECT status FROM notifications").fetchone() == ("queued",)


def test_without_a_channel_alerts_stay_stored(db, no_delivery):
    themes(db)
    add(db, response("c1", "rating", 1, comment="I will call my lawyer"))
    results = run_sweep(db, now=MONDAY, actor="sweep")
    assert results["outbox"].alerts == 0 and list_outbox(db) == []
    assert db.execute("SELECT status FROM notifications").fetchone() == ("pending",)


def test_case_changes_reach_the_events_webhook_signed_and_once(db, no_delivery):
    themes(db)
    team(db)
    [fid] = add(db, response("c1", "nps", 2))
    with HttpReceiver() as hook:
        no_delivery.setenv("CLOSELOOP_WEBHOOKS", f"events={hook.url}")
        no_delivery.setenv("CLOSELOOP_WEBHOOK_SECRET", SECRET)
        run_sweep(db, now=MONDAY, actor="sweep")
        case = case_of(db, fid)
        with store.write_transaction(db):
            change_status(db, case["id"], "resolved", actor="mia",
                          now=MONDAY + timedelta(hours=1), note="Refunded",
                          resolution_category="refund issued")
        run_sweep(db, now=MONDAY + timedelta(hours=2), actor="sweep")
        run_sweep(db, now=MONDAY + timedelta(hours=2), actor="sweep")
    events = [r.json()["event"] for r in hook.received]
    assert events == ["case.created", "case.assigned", "case.resolved"]
    for received in hook.received:
        assert verify_signature(received.headers[SIGNATURE_HEADER], received.body, SECRET)
    resolved = hook.received[-1].json()
    assert resolved["case"]["case_id"] == case["id"] and resolved["actor"] == "mia"
    assert resolved["detail"] == {"resolution_category": "refund issued"}


def test_a_sent_follow_up_is_on_the_case_and_moves_it_to_followed_up(db, no_delivery):
    themes(db)
    [fid] = add(db, response("c1", "nps", 2, customer_email="ana@example.com"))
    run_sweep(db, now=MONDAY, actor="sweep")
    case = case_of(db, fid)
    with store.write_transaction(db):
        change_status(db, case["id"], "resolved", actor="mia", now=MONDAY + timedelta(hours=1),
                      note="Refunded", resolution_category="refund issued")
        queue_message(db, kind="follow-up", channel="email", recipient="ana@example.com",
                      subject="We refunded your meal", body="Sorry about the wait.",
                      key=f"case-{case['id']}-follow-up-1", case_id=case["id"],
                      customer_key=case["customer_key"], actor="mia",
                      now=MONDAY + timedelta(hours=1))
    with SmtpServer() as smtp:
        drained = drain_outbox(db, now=MONDAY + timedelta(hours=2),
                               settings=settings(smtp.port), on_sent=on_message_sent)
    assert drained.sent == 1 and smtp.messages[0]["Subject"] == "We refunded your meal"
    after = get_case(db, case["id"])
    assert after["status"] == "followed up" and after["followed_up_at"] is not None
    last = timeline(db, case["id"])[-2:]
    assert [e["event"] for e in last] == ["follow-up sent", "status"]
    assert last[0]["detail"]["to"] == "ana@example.com"
    assert contact_history(db, case["customer_key"])[0]["kind"] == "message: follow-up"


def test_a_new_spike_alert_reaches_the_alerts_webhook_once(db, no_delivery):
    from tests.test_followups import _alert

    themes(db)
    with store.write_transaction(db):
        _alert(db, 1, "Northgate", "2024-12-30")
    with HttpReceiver() as hook:
        no_delivery.setenv("CLOSELOOP_WEBHOOKS", f"alerts={hook.url}")
        run_sweep(db, now=MONDAY, actor="sweep")
        run_sweep(db, now=MONDAY + timedelta(hours=1), actor="sweep")
    [got] = hook.received
    assert got.json()["kind"] == "spike alert"
    assert got.json()["text"].startswith("Spike alert: Queue at Northgate")

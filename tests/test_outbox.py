"""The outbox and its channels (`analysis.followup.outbox`, `channels`) against a real SMTP
server (aiosmtpd) and a real HTTP receiver on 127.0.0.1: messages arrive once, signatures
verify, a receiver that is down gets the message once it is back, a crash between sending
and recording never sends twice, and credentials come from the environment or secrets.toml."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analysis import store
from analysis.followup.channels import SIGNATURE_HEADER, sign, verify_signature
from analysis.followup.outbox import (
    MAX_ATTEMPTS,
    OutboxError,
    drain_outbox,
    list_outbox,
    message_events,
    queue_message,
    retry_message,
)
from analysis.settings import DeliverySettings, SettingsError, delivery_settings
from tests.delivery_servers import HttpReceiver, SmtpServer, free_port

NOW = datetime(2025, 1, 6, 10, tzinfo=UTC)
SECRET = "whsec_test"


def settings(smtp_port: int | None = None, hooks: dict | None = None) -> DeliverySettings:
    return DeliverySettings(smtp_host="127.0.0.1" if smtp_port else None,
                            smtp_port=smtp_port or 25, smtp_security="none", smtp_user=None,
                            smtp_password=None, smtp_from="care@closeloop.example",
                            webhooks=hooks or {}, webhook_secret=SECRET)


def queue(db, key: str = "m1", **fields) -> int:
    values = {"kind": "follow-up", "channel": "email", "recipient": "ana@example.com",
              "subject": "About your visit", "body": "We fixed the queue.", "key": key,
              "actor": "mia", "now": NOW} | fields
    with store.write_transaction(db):
        return queue_message(db, **values)[0]


def status(db, message_id: int) -> str:
    return db.execute("SELECT status FROM outbox WHERE id = ?", [message_id]).fetchone()[0]


def test_an_email_arrives_once_rendered_with_its_message_id(db):
    message_id = queue(db)
    with SmtpServer() as smtp:
        first = drain_outbox(db, now=NOW, settings=settings(smtp.port))
        again = drain_outbox(db, now=NOW + timedelta(minutes=5), settings=settings(smtp.port))
    assert (first.sent, again.sent) == (1, 0)
    [mail] = smtp.messages
    assert mail["To"] == "ana@example.com" and mail["Subject"] == "About your visit"
    assert mail.get_payload().strip() == "We fixed the queue."
    assert mail["Message-ID"].endswith("@closeloop.local>")
    assert mail["Auto-Submitted"] == "auto-generated"
    assert status(db, message_id) == "sent"
    assert [e["event"] for e in message_events(db, message_id)] == ["queued", "attempt", "sent"]


def test_an_html_email_also_carries_a_plain_text_part(db):
    queue(db, body="<p>Hello <b>Ana</b>,</p><p>We fixed it &amp; thank you.</p>")
    with SmtpServer() as smtp:
        drain_outbox(db, now=NOW, settings=settings(smtp.port))
    parts = {p.get_content_type(): p.get_payload(decode=True).decode()
             for p in smtp.messages[0].walk() if not p.is_multipart()}
    assert "Hello Ana," in parts["text/plain"] and "We fixed it & thank you." in \
        parts["text/plain"]
    assert "<b>Ana</b>" in parts["text/html"]


def test_the_same_idempotency_key_queues_one_message(db):
    assert queue(db, key="case-1-followup") == queue(db, key="case-1-followup", body="again")
    assert len(list_outbox(db)) == 1


def test_a_signed_webhook_verifies_at_the_receiver(db):
    with HttpReceiver() as hook:
        queue(db, key="ev-1", kind="event", channel="webhook", recipient="events",
              subject="", body=json.dumps({"event": "case.resolved", "case_id": 7}))
        result = drain_outbox(db, now=NOW, settings=settings(hooks={"events": hook.url}))
    assert result.sent == 1
    [got] = hook.received
    assert got.json() == {"event": "case.resolved", "case_id": 7}
    assert got.headers["Idempotency-Key"] == "ev-1"
    assert verify_signature(got.headers[SIGNATURE_HEADER], got.body, SECRET)
    assert not verify_signature(got.headers[SIGNATURE_HEADER], got.body + b" ", SECRET)
    assert not verify_signature(got.headers[SIGNATURE_HEADER], got.body, "other secret")


def test_an_old_signature_is_refused_as_a_replay():
    body = b'{"event":"case.created"}'
    header = sign(body, SECRET, timestamp=1_000_000)
    assert verify_signature(header, body, SECRET, now=1_000_000 + 299)
    assert not verify_signature(header, body, SECRET, now=1_000_000 + 301)
    assert not verify_signature("t=x,v1=y", body, SECRET)


def test_with_the_receiver_down_the_message_waits_and_goes_once_it_is_back(db):
    port = free_port()
    message_id = queue(db, key="ev-2", kind="event", channel="webhook", recipient="events",
                       body=json.dumps({"event": "case.created"}))
    hooks = {"events": f"http://127.0.0.1:{port}/hook"}
    down = drain_outbox(db, now=NOW, settings=settings(hooks=hooks))
    assert (down.sent, down.failed) == (0, 1) and status(db, message_id) == "failed"
    row = list_outbox(db)[0]
    assert row["next_attempt_at"] == "2025-01-06T10:01:00Z" and "unreachable" in \
        row["last_error"]
    with HttpReceiver(port=port) as hook:
        early = drain_outbox(db, now=NOW + timedelta(seconds=30), settings=settings(hooks=hooks))
        back = drain_outbox(db, now=NOW + timedelta(minutes=2), settings=settings(hooks=hooks))
        later = drain_outbox(db, now=NOW + timedelta(minutes=9), settings=settings(hooks=hooks))
    assert (early.sent, back.sent, later.sent) == (0, 1, 0)
    assert len(hook.received) == 1 and status(db, message_id) == "sent"


def test_retries_back_off_then_the_message_dies_with_its_reason(db):
    message_id = queue(db, key="ev-3", kind="event", channel="webhook", recipient="events",
                       body="{}")
    hooks = {"events": f"http://127.0.0.1:{free_port()}/hook"}
    moment, waits = NOW, []
    for _ in range(MAX_ATTEMPTS):
        drain_outbox(db, now=moment, settings=settings(hooks=hooks))
        row = list_outbox(db)[0]
        if row["next_attempt_at"]:
            waits.append(store.from_iso(row["next_attempt_at"]) - moment)
            moment = store.from_iso(row["next_attempt_at"])
    assert [w.total_seconds() / 60 for w in waits] == [1, 2, 4, 8, 16]
    row = list_outbox(db)[0]
    assert row["status"] == "dead" and row["attempts"] == MAX_ATTEMPTS
    assert "unreachable" in row["last_error"]
    with store.write_transaction(db):
        retry_message(db, message_id, actor="mia", now=moment)
    assert status(db, message_id) == "queued"


def test_a_refusal_that_retrying_cannot_fix_is_dead_at_once(db):
    with HttpReceiver(status=404) as hook:
        message_id = queue(db, key="ev-4", kind="event", channel="webhook",
                           recipient="events", body="{}")
        drain_outbox(db, now=NOW, settings=settings(hooks={"events": hook.url}))
    assert status(db, message_id) == "dead"
    assert list_outbox(db)[0]["last_error"].endswith("answered 404 Not Found")
    unknown = queue(db, key="ev-5", kind="event", channel="webhook", recipient="crm",
                    body="{}")
    drain_outbox(db, now=NOW, settings=settings())
    assert status(db, unknown) == "dead"
    no_email = queue(db, key="m-9")
    drain_outbox(db, now=NOW, settings=settings())
    assert "email is not set up" in list_outbox(db, status="dead")[0]["last_error"] \
        and status(db, no_email) == "dead"


def test_a_crash_after_sending_and_before_recording_never_sends_twice(db):
    message_id = queue(db)
    with SmtpServer() as smtp:
        from analysis.followup.outbox import deliver

        def send_then_die(message, how):
            deliver(message, how)
            raise KeyboardInterrupt   # the worker is killed before it records "sent"

        with pytest.raises(KeyboardInterrupt):
            drain_outbox(db, now=NOW, settings=settings(smtp.port), send=send_then_die)
        assert status(db, message_id) == "sending"
        soon = drain_outbox(db, now=NOW + timedelta(minutes=1), settings=settings(smtp.port))
        later = drain_outbox(db, now=NOW + timedelta(minutes=11), settings=settings(smtp.port))
        again = drain_outbox(db, now=NOW + timedelta(hours=2), settings=settings(smtp.port))
    assert (soon.sent, later.sent, later.interrupted, again.sent) == (0, 0, 1, 0)
    assert len(smtp.messages) == 1
    row = list_outbox(db)[0]
    assert row["status"] == "failed" and row["last_error"].startswith(
        "interrupted while sending: it may have gone out")


def test_a_held_or_scheduled_message_waits(db):
    held = queue(db, key="h1", hold_reason="contacted on 2025-01-02, within 14 days")
    later = queue(db, key="s1", send_after=NOW + timedelta(days=3))
    with SmtpServer() as smtp:
        assert drain_outbox(db, now=NOW, settings=settings(smtp.port)).sent == 0
        assert drain_outbox(db, now=NOW + timedelta(days=3),
                            settings=settings(smtp.port)).sent == 1
    assert status(db, held) == "held" and status(db, later) == "sent"
    assert list_outbox(db, status="held")[0]["last_error"].startswith("contacted on")


@pytest.mark.parametrize("fields, message", [
    ({"channel": "fax"}, "^channel:"), ({"recipient": " "}, "^recipient:"),
    ({"body": ""}, "^body:"), ({"key": ""}, "^idempotency key:")])
def test_a_message_that_cannot_go_is_refused_by_field(db, fields, message):
    with pytest.raises(OutboxError, match=message):
        queue(db, **fields)
    assert list_outbox(db) == []


# ------------------------------------------------------------------ where credentials live


def test_delivery_settings_come_from_the_environment_before_secrets_toml(tmp_path,
                                                                          monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('webhook_secret = "from-file"\n[smtp]\nhost = "mail.example.org"\n'
                       'from = "care@example.org"\nsecurity = "ssl"\n'
                       '[webhooks]\nalerts = "https://hooks.example.org/a"\n')
    for name in ("CLOSELOOP_SMTP_HOST", "CLOSELOOP_SMTP_FROM", "CLOSELOOP_SMTP_SECURITY",
                 "CLOSELOOP_SMTP_PORT", "CLOSELOOP_WEBHOOKS", "CLOSELOOP_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    found = delivery_settings(secrets)
    assert (found.smtp_host, found.smtp_port, found.smtp_security) == ("mail.example.org", 465,
                                                                       "ssl")
    assert found.webhooks == {"alerts": "https://hooks.example.org/a"} and found.can_email
    monkeypatch.setenv("CLOSELOOP_SMTP_HOST", "relay.internal")
    monkeypatch.setenv("CLOSELOOP_WEBHOOKS", "events=https://crm.example.org/in")
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET", "from-env")
    found = delivery_settings(secrets)
    assert found.smtp_host == "relay.internal" and found.webhook_secret == "from-env"
    assert found.webhooks == {"alerts": "https://hooks.example.org/a",
                              "events": "https://crm.example.org/in"}


@pytest.mark.parametrize("name, value", [("CLOSELOOP_SMTP_SECURITY", "tls13"),
                                         ("CLOSELOOP_SMTP_PORT", "seventy"),
                                         ("CLOSELOOP_WEBHOOKS", "alerts=ftp://x")])
def test_a_bad_delivery_setting_names_its_variable(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"^{name} must"):
        delivery_settings(tmp_path / "none.toml")


def test_the_outbox_command_lists_messages_as_json_or_csv(db, db_path):
    import csv
    import io

    from click.testing import CliRunner

    from analysis import cli as cli_module
    from analysis.followup.outbox import OUTBOX_FIELDS

    queue(db, key="m1")
    queue(db, key="h1", hold_reason="contacted on 2025-01-02, within 14 days")
    runner = CliRunner()
    found = json.loads(runner.invoke(cli_module.cli, ["outbox", "--db", str(db_path)]).stdout)
    assert [m["status"] for m in found] == ["held", "queued"]
    assert set(found[0]) == set(OUTBOX_FIELDS) and "body" not in found[0]
    held = runner.invoke(cli_module.cli, ["outbox", "--db", str(db_path), "--status", "held",
                                          "--format", "csv"]).stdout
    rows = list(csv.DictReader(io.StringIO(held)))
    assert len(rows) == 1 and rows[0]["last_error"].startswith("contacted on")


def test_a_failing_after_send_step_keeps_the_message_sent_and_the_batch_going(db):
    first, second = queue(db, key="a"), queue(db, key="b")

    def broken(db_, message, now):
        raise RuntimeError("the case changed meanwhile")

    with SmtpServer() as smtp:
        result = drain_outbox(db, now=NOW, settings=settings(smtp.port), on_sent=broken)
    assert result.sent == 2 and len(smtp.messages) == 2
    assert status(db, first) == status(db, second) == "sent"
    assert [e["event"] for e in message_events(db, first)][-1] == "after-send step failed"

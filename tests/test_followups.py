"""Writing to customers (`analysis.followup.followups`) and the `templates` commands: a
follow-up rendered against its case reaches a real SMTP server through the sweep and the
case shows "followed up"; unfilled placeholders are refused; review requests wait a few
days and respect the contact-frequency rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from analysis.cases.records import change_status, get_case, record_contact, timeline
from analysis.followup.followups import (
    FollowUpSettings,
    save_follow_up_settings,
    write_follow_up,
)
from analysis.followup.outbox import list_outbox
from analysis.followup.templates import (
    Template,
    TemplateError,
    find_template,
    save_template,
    seed_templates,
)
from analysis.sweep import run_sweep
from tests.case_stores import MONDAY, add, case_of, response, team, themes
from tests.delivery_servers import SmtpServer

HOUR = timedelta(hours=1)


@pytest.fixture
def resolved(db, monkeypatch, tmp_path):
    """A resolved recovery case for Ana, the seed templates, no delivery configured."""
    for name in ("CLOSELOOP_SMTP_HOST", "CLOSELOOP_SMTP_FROM", "CLOSELOOP_WEBHOOKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("analysis.settings.SECRETS_FILE", tmp_path / "none.toml")
    themes(db)
    team(db)
    [fid] = add(db, response("c1", "nps", 2, customer_email="ana@example.com",
                             customer_name="Ana Lima", comment="Twenty minutes in the queue"))
    run_sweep(db, now=MONDAY, actor="sweep")
    case = case_of(db, fid)
    with store.write_transaction(db):
        seed_templates(db, actor="admin", now=MONDAY)
        change_status(db, case["id"], "resolved", actor="mia", now=MONDAY + HOUR,
                      note="Added a second till at lunch", resolution_category=
                      "operational change made")
    return db, get_case(db, case["id"]), monkeypatch


def test_a_follow_up_reaches_the_customer_and_the_case_is_followed_up(resolved):
    db, case, env = resolved
    template = find_template(db, "Recovery apology")
    with store.write_transaction(db):
        message_id = write_follow_up(db, case["id"], template.id, actor="mia@example.org",
                                     now=MONDAY + 2 * HOUR)
        again = write_follow_up(db, case["id"], template.id, actor="mia@example.org",
                                now=MONDAY + 2 * HOUR)
    assert again == message_id and len(list_outbox(db)) == 1
    with SmtpServer() as smtp:
        env.setenv("CLOSELOOP_SMTP_HOST", "127.0.0.1")
        env.setenv("CLOSELOOP_SMTP_PORT", str(smtp.port))
        env.setenv("CLOSELOOP_SMTP_SECURITY", "none")
        env.setenv("CLOSELOOP_SMTP_FROM", "care@closeloop.example")
        results = run_sweep(db, now=MONDAY + 3 * HOUR, actor="sweep")
    assert results["outbox"].drained.sent == 1
    [mail] = smtp.messages
    assert mail["To"] == "ana@example.com"
    assert mail["Subject"] == "I'm sorry about your visit to Northgate (Queue)"
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    text = html.get_payload(decode=True).decode()
    assert "Hi Ana Lima," in text and "Twenty minutes in the queue" in text
    assert "Agent 0" in text                   # signed by the case owner
    after = get_case(db, case["id"])
    assert after["status"] == "followed up"
    events = [e["event"] for e in timeline(db, case["id"])]
    assert events[-3:] == ["follow-up queued", "follow-up sent", "status"]


def test_an_unfilled_placeholder_is_refused_and_nothing_is_queued(resolved):
    db, case, _ = resolved
    with store.write_transaction(db):
        template_id = save_template(db, Template(
            name="Promise", purpose="status update", channel="email",
            subject="About your case", body="<p>We will be done by {{ eta }}.</p>"),
            actor="admin")
    with pytest.raises(TemplateError, match="^unfilled placeholder: eta"):
        write_follow_up(db, case["id"], template_id, actor="mia")
    assert list_outbox(db) == []
    with store.write_transaction(db):
        write_follow_up(db, case["id"], template_id, actor="mia", extra={"eta": "Friday"})
    assert "We will be done by Friday." in list_outbox(db)[0]["body"]


def test_a_customer_without_an_address_cannot_be_written_to(db):
    themes(db)
    [fid] = add(db, response("c9", "nps", 1))
    run_sweep(db, now=MONDAY, actor="sweep")
    with store.write_transaction(db):
        seed_templates(db, actor="admin")
    template = find_template(db, "Recovery apology")
    with pytest.raises(TemplateError, match="^recipient: the customer left no email"):
        write_follow_up(db, case_of(db, fid)["id"], template.id, actor="mia")


def test_happy_customers_get_a_review_request_days_later_unless_contacted_recently(resolved):
    db, _, _ = resolved
    happy, recent = add(db, response("c2", "nps", 10, sentiment="positive",
                                     customer_email="bo@example.com", comment="Lovely staff"),
                        response("c3", "nps", 9, sentiment="positive",
                                 customer_email="cy@example.com", comment="Great"))
    with store.write_transaction(db):
        save_follow_up_settings(db, FollowUpSettings(review_link="https://g.page/r/northgate",
                                                     review_delay_days=4), actor="admin")
        record_contact(db, "id:c3", "survey", actor="crm", now=MONDAY - timedelta(days=2))
    run_sweep(db, now=MONDAY + HOUR, actor="sweep")
    run_sweep(db, now=MONDAY + 2 * HOUR, actor="sweep")
    requests = {m["case_id"]: m for m in list_outbox(db) if m["kind"] == "review request"}
    assert len(requests) == 2
    first = requests[case_of(db, happy)["id"]]
    assert first["status"] == "queued" and first["send_after"] == "2025-01-10T09:00:00Z"
    assert "https://g.page/r/northgate" in first["body"]
    held = requests[case_of(db, recent)["id"]]
    assert held["status"] == "held"
    assert held["last_error"] == ("held by the contact-frequency rule: contacted on "
                                  "2025-01-04, within 14 days")


def test_review_settings_are_checked():
    with pytest.raises(TemplateError, match="^review link"):
        FollowUpSettings(review_link="g.page/x").check()
    with pytest.raises(TemplateError, match="^review delay"):
        FollowUpSettings(review_delay_days=9).check()


# ------------------------------------------------------------------ the templates commands


def invoke(*args: str):
    return CliRunner().invoke(cli_module.cli, list(args))


def test_preview_prints_the_rendering_or_refuses_with_exit_code_2(resolved, db_path):
    db, case, _ = resolved
    ok = invoke("templates", "preview", "--db", str(db_path), "--name", "Recovery apology",
                "--case", str(case["id"]))
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("Subject: I'm sorry about your visit to Northgate (Queue)")
    sample = invoke("templates", "preview", "--db", str(db_path), "--text",
                    "Hi {{ customer_name }}, about {{ theme }}.")
    assert sample.exit_code == 0 and "Hi Alex Morgan, about Queue." in sample.stdout
    for args, message in (
            (("--text", "{{ ''.__class__.__mro__ }}"), "error: body: not allowed"),
            (("--text", "{{ cycler.__init__.__globals__ }}"), "error: body: not allowed"),
            (("--text", "Hi {{ nickname }}"), "error: body: unknown placeholder"),
            (("--text", "Hi {{ eta }}", "--case", str(case["id"])),
             "error: unfilled placeholder: eta"),
            (("--text", "{% if %}"), "error: body line 1"),
            (("--name", "Nope"), "error: name: there is no template 'Nope'"),
            ((), "error: give exactly one of --name NAME or --text TEXT")):
        result = invoke("templates", "preview", "--db", str(db_path), *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)


def test_seed_and_list(db_path):
    assert invoke("templates", "seed", "--db", str(db_path)).stdout == "9\n"
    assert invoke("templates", "seed", "--db", str(db_path)).stdout == "0\n"
    listed = invoke("templates", "list", "--db", str(db_path), "--format", "csv").stdout
    assert listed.splitlines()[0].startswith("id,name,purpose,channel,language")
    assert len(listed.splitlines()) == 10


def test_the_customers_who_asked_for_a_shipped_change_are_told_once(db, db_path):
    from datetime import date

    from analysis.improvements.records import Improvement, add_improvement, link_evidence

    themes(db)
    ids = add(db, response("c1", "nps", 2, customer_email="ana@example.com",
                           customer_name="Ana"),
              response("c2", "nps", 3, customer_email="bo@example.com"),
              response("c3", "nps", 3))                        # no address: skipped
    with store.write_transaction(db):
        seed_templates(db, actor="admin")
        improvement_id = add_improvement(db, Improvement(
            title="A second till at lunchtime", locations=("Northgate",), theme_ids=(1,),
            effective_date=date(2025, 1, 13), status="planned"), actor="ops")
        link_evidence(db, improvement_id, ids, via="theme 1", actor="ops")
        record_contact(db, "id:c2", "survey", actor="crm")   # just now: the command's clock
    early = invoke("improvements", "tell", "--db", str(db_path), "--id", str(improvement_id))
    assert early.exit_code == 1 and "once it has shipped (it is planned)" in early.stderr
    with store.write_transaction(db):
        db.execute("UPDATE improvements SET status = 'shipped'")
    told = invoke("improvements", "tell", "--db", str(db_path), "--id", str(improvement_id))
    assert told.exit_code == 0, told.output
    import json

    assert json.loads(told.stdout) == {"queued": 1, "held": 1, "skipped": 1, "already": 0}
    again = invoke("improvements", "tell", "--db", str(db_path), "--id", str(improvement_id))
    assert json.loads(again.stdout) == {"queued": 0, "held": 0, "skipped": 1, "already": 2}
    messages = {m["recipient"]: m for m in list_outbox(db)}
    assert set(messages) == {"ana@example.com", "bo@example.com"}       # once each
    assert "based on 3 requests like yours" in messages["ana@example.com"]["body"]
    assert "A second till at lunchtime" in messages["ana@example.com"]["body"]
    assert messages["bo@example.com"]["status"] == "held"


def _alert(db, theme_id: int, location: str, week: str) -> int:
    return db.execute(
        """INSERT INTO alerts (theme_id, location, granularity, first_period, period_start,
           period_end, observed, volume, expected, share, baseline_share, p_value, q_value,
           opened_at, updated_at) VALUES (?, ?, 'week', ?, ?, ?, 9, 20, 3, 0.45, 0.15, 0.001,
           0.01, 'x', 'x')""", [theme_id, location, week, week, week]).lastrowid


def test_the_alert_digest_lists_new_alerts_once_a_day_to_the_report_recipients(db):
    from analysis.followup.followups import queue_alert_digest

    themes(db)
    with store.write_transaction(db):
        save_follow_up_settings(db, FollowUpSettings(
            report_recipients=("ops@example.org", "cx@example.org")), actor="admin")
        _alert(db, 1, "Northgate <Main>", "2024-12-30")
        assert queue_alert_digest(db, now=MONDAY, actor="sweep") == 2
        assert queue_alert_digest(db, now=MONDAY + HOUR, actor="sweep") == 0   # once a day
        _alert(db, 2, "Old Town", "2025-01-06")
        assert queue_alert_digest(db, now=MONDAY + 2 * HOUR, actor="sweep") == 0
        assert queue_alert_digest(db, now=MONDAY + timedelta(days=1), actor="sweep") == 2
    digests = sorted(list_outbox(db), key=lambda m: m["id"])
    assert [m["recipient"] for m in digests] == ["ops@example.org", "cx@example.org"] * 2
    assert "Queue at Northgate &lt;Main&gt;" in digests[0]["body"]
    assert "Price at Old Town" in digests[2]["body"] and "Northgate" not in digests[2]["body"]


def test_report_recipients_must_be_addresses():
    with pytest.raises(TemplateError, match="^report recipients: 'ops at example'"):
        FollowUpSettings(report_recipients=("ops at example",)).check()


def test_the_weekly_report_goes_to_each_recipient_once_a_week(db):
    from analysis.followup.followups import queue_weekly_report

    themes(db)
    add(db, response("c1", "nps", 2, at=MONDAY - timedelta(days=3)))
    with store.write_transaction(db):
        assert queue_weekly_report(db, now=MONDAY, actor="sweep") == 0     # no recipients
        save_follow_up_settings(db, FollowUpSettings(
            report_recipients=("ops@example.org", "cx@example.org")), actor="admin")
        assert queue_weekly_report(db, now=MONDAY, actor="sweep") == 2
        assert queue_weekly_report(db, now=MONDAY + timedelta(days=2), actor="sweep") == 0
        assert queue_weekly_report(db, now=MONDAY + timedelta(days=7), actor="sweep") == 2
    sent = sorted(list_outbox(db), key=lambda m: m["id"])
    assert [m["subject"] for m in sent] == ["Closeloop weekly report, 2025-W01"] * 2 + [
        "Closeloop weekly report, 2025-W02"] * 2
    assert sent[0]["body"].lstrip().lower().startswith("<!doctype html")

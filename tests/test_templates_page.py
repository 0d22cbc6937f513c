"""Templates page under AppTest, through app.py, on stores built here: the starter templates
added from an empty store, editing with a live preview (gaps, SMS parts), refused templates
(syntax, unknown placeholder, sandbox escape) that save nothing, versions and restore, a test
send that reaches a real SMTP server, and the outbox with a failed message's reason, retry
and cancel. The clock is pinned (NOW)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.followup import templates as tpl
from analysis.followup.outbox import drain_outbox, list_outbox, message_events, queue_message
from analysis.settings import DeliverySettings
from tests.delivery_servers import SmtpServer, free_port
from tests.test_cases_page import NOW, add_team, build_store, ok, table

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGE = "pages/templates.py"
ACTOR = "ops@example.org"
SMTP_FROM = "care@closeloop.example"


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def no_delivery(monkeypatch, tmp_path):
    for name in ("CLOSELOOP_SMTP_HOST", "CLOSELOOP_SMTP_PORT", "CLOSELOOP_SMTP_FROM",
                 "CLOSELOOP_SMTP_SECURITY", "CLOSELOOP_WEBHOOKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("analysis.settings.SECRETS_FILE", tmp_path / "no-secrets.toml")
    return monkeypatch


@pytest.fixture
def smtp(no_delivery):
    """A real SMTP server on 127.0.0.1, and the app's delivery settings pointing at it."""
    with SmtpServer() as server:
        no_delivery.setenv("CLOSELOOP_SMTP_HOST", "127.0.0.1")
        no_delivery.setenv("CLOSELOOP_SMTP_PORT", str(server.port))
        no_delivery.setenv("CLOSELOOP_SMTP_SECURITY", "none")
        no_delivery.setenv("CLOSELOOP_SMTP_FROM", SMTP_FROM)
        yield server


@pytest.fixture
def seeded(db_path, clock, no_delivery):
    """The starter templates and a team of two (Ann, Bob); no cases."""
    db = store.connect(db_path)
    found = add_team(db)
    with store.write_transaction(db):
        tpl.seed_templates(db, actor="test", now=NOW)
    db.close()
    return db_path, found


def open_page(user: str | None = ACTOR) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if user:
        at.session_state["user"] = user
    at.run()
    at.switch_page(PAGE).run()
    return at


def texts(at: AppTest) -> str:
    return "\n".join(t.value for t in at.text)


def html(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.html)


def errors(at: AppTest) -> list[str]:
    return [e.value.replace("\\", "") for e in at.error]


def template_id(path, name: str) -> int:
    db = store.connect(path)
    try:
        return tpl.find_template(db, name).id
    finally:
        db.close()


def versions(path, template: int) -> list[dict]:
    db = store.connect(path)
    try:
        return tpl.template_versions(db, template)
    finally:
        db.close()


def edit(at: AppTest, template: int) -> AppTest:
    return at.selectbox(key="tpl_pick").set_value(template).run()


def body(at: AppTest, template: int, text: str) -> AppTest:
    return at.text_area(key=f"tpl_f_body_{template}").input(text).run()


# ----------------------------------------------------------------------------- templates

def test_an_empty_store_offers_the_starter_templates_and_they_are_added(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    ok(at)
    assert at.title[0].value == "Templates"
    assert any("No templates yet" in i.value for i in at.info)
    assert at.selectbox(key="tpl_pick").value == 0     # a new template, nothing else
    at.button(key="tpl_seed").click().run()
    ok(at)
    assert [s.value for s in at.success] == [
        "9 starter template(s) added: edit them to sound like you."]
    listed = table(at, "purpose")
    assert len(listed) == 9 and set(listed["version"]) == {1}
    assert set(listed["by"]) == {ACTOR}
    assert set(listed["purpose"]) == set(tpl.PURPOSES)
    # The first is open in the editor, previewed with the sample values.
    assert at.text_input(key=f"tpl_f_name_{listed['template'].iloc[0]}").value == "Acknowledge"
    assert "Subject: We've read your feedback about Harbour Street" in texts(at)
    assert "Hi Alex Morgan," in html(at)
    assert "tpl_seed" not in [b.key for b in at.button]   # all there now


def test_editing_updates_the_preview_and_saving_makes_a_new_version(seeded):
    path, _ = seeded
    ack = template_id(path, "Acknowledge")
    at = edit(open_page(), ack)
    at = body(at, ack, "<p>Hi {{ customer_name }}, {{ owner }} has your case.</p>")
    ok(at)
    assert "Hi Alex Morgan, Sam Patel has your case." in html(at)
    assert any("{{ customer_name }}" in row for row in table(at, "holds")["placeholder"])
    at.text_input(key=f"tpl_f_note_{ack}").input("Shorter")
    at.button(key=f"tpl_save_{ack}").click().run()
    ok(at)
    assert [s.value for s in at.success] == ["Template saved as version 2."]
    saved = versions(path, ack)
    assert [(v["version"], v["saved_by"], v["note"]) for v in saved] == [
        (1, "test", None), (2, ACTOR, "Shorter")]
    assert saved[1]["body"] == "<p>Hi {{ customer_name }}, {{ owner }} has your case.</p>"
    shown = table(at, "saved")
    assert list(shown["version"]) == [2, 1] and shown["note"].iloc[0] == "Shorter"
    # Saving the same content again is no new version.
    at.button(key=f"tpl_save_{ack}").click().run()
    assert [s.value for s in at.success] == ["Nothing to save: the template already says this."]
    assert len(versions(path, ack)) == 2


def test_restoring_an_old_version_brings_its_content_back_as_a_new_version(seeded):
    path, _ = seeded
    ack = template_id(path, "Acknowledge")
    original = versions(path, ack)[0]["body"]
    at = edit(open_page(), ack)
    at = body(at, ack, "<p>Short and {{ theme }}.</p>")
    at.button(key=f"tpl_save_{ack}").click().run()
    ok(at)
    assert at.selectbox(key=f"tpl_version_{ack}").value == 1
    at.button(key=f"tpl_restore_{ack}").click().run()
    ok(at)
    assert [s.value for s in at.success] == ["Version 1 restored as version 3."]
    saved = versions(path, ack)
    assert [v["version"] for v in saved] == [1, 2, 3]
    assert saved[2]["body"] == original and saved[2]["note"] == "restored version 1"
    assert at.text_area(key=f"tpl_f_body_{ack}").value == original  # the editor too
    assert "Hi Alex Morgan," in html(at)


@pytest.mark.parametrize(("text", "message"), [
    ("<p>{% if customer_name %}Hi</p>", "body line 1: "),
    ("<p>Hi {{ nickname }}</p>", "body: unknown placeholder nickname; known: customer_name"),
    ("<p>{{ ''.__class__.__mro__ }}</p>", "body: not allowed: attribute '__"),
    ("<p>{{ case.password }}</p>", "body: unknown field case.password"),
    ("<p>{% include 'x.html' %}</p>", "body: not allowed: {% include %}"),
])
def test_a_refused_template_shows_why_and_saves_nothing(seeded, text, message):
    path, _ = seeded
    ack = template_id(path, "Acknowledge")
    at = edit(open_page(), ack)
    at = body(at, ack, text)
    assert not at.exception
    (shown,) = errors(at)
    assert shown.startswith(message), shown
    assert "Nothing can be saved until this is fixed." in [c.value for c in at.caption]
    assert not at.html                                   # no preview of a broken template
    assert at.button(key="tpl_test_send").disabled
    at.button(key=f"tpl_save_{ack}").click().run()
    assert not at.exception
    assert "Not saved." in errors(at)
    assert message.split(":")[0] in texts(at)
    assert len(versions(path, ack)) == 1
    db = store.connect(path)
    assert tpl.get_template(db, ack).body == versions(path, ack)[0]["body"]
    db.close()


def test_a_new_template_needs_a_name_and_a_subject(seeded):
    path, _ = seeded
    at = open_page()
    at = at.selectbox(key="tpl_pick").set_value(0).run()
    ok(at)
    assert "Write the message to see its preview." in [c.value for c in at.caption]
    at = body(at, "new", "<p>Sorry about {{ theme | lower }}, {{ customer_name }}.</p>")
    assert errors(at) == ["name: a template needs a name"]
    assert "Sorry about queue, Alex Morgan." in html(at)    # the preview already works
    at.text_input(key="tpl_f_name_new").input("Short apology").run()
    assert errors(at) == ["subject: an email needs a subject"]
    at.button(key="tpl_save_new").click().run()
    assert "Not saved." in errors(at) and "subject: an email needs a subject" in texts(at)
    assert tpl.find_template(store.connect(path), "Short apology") is None
    at.text_input(key="tpl_f_subject_new").input("About your visit")
    at.selectbox(key="tpl_f_purpose_new").set_value("recovery apology")
    at.button(key="tpl_save_new").click().run()
    ok(at)
    assert [s.value for s in at.success] == ["Template saved as version 1."]
    made = template_id(path, "Short apology")
    assert at.selectbox(key="tpl_pick").value == made
    assert "Short apology" in list(table(at, "purpose")["name"])


def test_a_gap_shows_in_the_preview_against_a_real_case_and_typed_values_fill_it(
        db_path, clock, no_delivery):
    build_store(db_path)
    db = store.connect(db_path)
    with store.write_transaction(db):
        promise = tpl.save_template(db, tpl.Template(
            name="Promise", purpose="status update", channel="email", subject="Case "
            "{{ case_id }}", body="<p>Hi {{ customer_name | default('there') }}, fixed by "
            "{{ eta }} at {{ location }}.</p>"), actor="test", now=NOW)
    case_id = db.execute("SELECT MAX(id) FROM cases").fetchone()[0]
    db.close()
    at = edit(open_page(), promise)
    assert "fixed by Friday 14 March at Harbour Street." in html(at)   # the sample
    at.selectbox(key="tpl_case").set_value(case_id).run()
    ok(at)
    assert f"Subject: Case {case_id}" in texts(at)
    assert "fixed by [eta missing] at North." in html(at)
    (warning,) = [w.value.replace("\\", "") for w in at.warning
                  if w.value.startswith("Gaps")]
    assert warning.startswith("Gaps: eta.")
    at.text_input(key="tpl_x_eta").input("Monday").run()
    assert "fixed by Monday at North." in html(at)
    assert not [w for w in at.warning if w.value.startswith("Gaps")]


def test_an_sms_shows_its_characters_encoding_and_parts(seeded):
    path, _ = seeded
    sms = template_id(path, "Acknowledge by text")
    at = edit(open_page(), sms)
    ok(at)
    assert f"tpl_f_subject_{sms}" not in [t.key for t in at.text_input]
    shown = {m.label: m.value for m in at.metric}
    rendering = tpl.render(tpl.find_template(store.connect(path), "Acknowledge by text"),
                           tpl.sample_context())
    assert shown["Encoding"] == "GSM-7" == rendering.encoding
    assert shown["Characters"] == str(rendering.characters)
    assert shown["SMS parts"] == str(rendering.segments)
    at = body(at, sms, "Hi {{ customer_name }} 🙂")
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Encoding"], shown["Characters"], shown["SMS parts"]) == ("UCS-2", "17", "1")
    assert "Hi Alex Morgan 🙂" in texts(at)
    at = body(at, sms, "Hello " + "x" * 164)    # 170 GSM-7 characters: two parts
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Encoding"], shown["Characters"], shown["SMS parts"]) == ("GSM-7", "170", "2")
    assert any("170 characters, GSM-7: 2 SMS" in c.value for c in at.caption)


def test_a_test_send_reaches_the_smtp_server_at_my_address(seeded, smtp):
    path, found = seeded
    at = open_page()
    at.selectbox(key="tpl_me").set_value(found["ann"]).run()
    ok(at)
    assert at.text_input(key="tpl_test_to").value == "ann@example.org"
    at.button(key="tpl_test_send").click().run()
    ok(at)
    assert [s.value for s in at.success] == ["Test sent."]
    [mail] = smtp.messages
    assert mail["To"] == "ann@example.org" and mail["From"] == SMTP_FROM
    assert mail["Subject"] == "[Test] We've read your feedback about Harbour Street"
    part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    assert "Hi Alex Morgan," in part.get_payload(decode=True).decode()
    [row] = list_outbox(store.connect(path))
    assert (row["kind"], row["status"], row["created_by"]) == ("test", "sent",
                                                               "ann@example.org")
    # It is in the outbox, sent.
    listed = table(at, "reason")
    assert list(listed["status"]) == ["✅ sent"] and list(listed["kind"]) == ["test"]


def test_a_test_send_without_email_set_up_says_why(seeded):
    at = open_page()
    at.text_input(key="tpl_test_to").input("me@example.org")
    at.button(key="tpl_test_send").click().run()
    assert not at.exception
    assert errors(at) == ["Not sent."]
    assert "email is not set up" in texts(at)


# ----------------------------------------------------------------------------- outbox

def failed_message(path) -> int:
    """A follow-up that failed once: nothing listened on the SMTP port."""
    db = store.connect(path)
    with store.write_transaction(db):
        message_id, _ = queue_message(
            db, kind="follow-up", channel="email", recipient="ana@example.com",
            subject="About your visit", body="<p>We fixed the queue.</p>", key="m1",
            actor="mia", now=NOW - timedelta(minutes=5))
    closed = DeliverySettings(smtp_host="127.0.0.1", smtp_port=free_port(),
                              smtp_security="none", smtp_user=None, smtp_password=None,
                              smtp_from=SMTP_FROM, webhooks={}, webhook_secret=None)
    drain_outbox(db, now=NOW - timedelta(minutes=5), settings=closed)
    db.close()
    return message_id


def test_the_outbox_lists_a_failed_message_with_its_reason_and_retry_sends_it(seeded, smtp):
    path, _ = seeded
    message_id = failed_message(path)
    at = open_page()
    ok(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Failed"] == "1" and shown["Sent"] == "0"
    listed = table(at, "reason")
    row = listed.iloc[0]
    assert row["status"] == "🟠 failed (will retry)" and row["attempts"] == 1
    assert row["reason"].startswith("email to ana@example.com failed: ConnectionRefusedError")
    assert row["next try"]
    assert "Reason: email to ana@example.com failed" in texts(at)
    assert [e for e in table(at, "event")["event"]] == ["queued", "attempt", "failed"]
    assert not at.button(key="tpl_ob_retry").disabled
    at.button(key="tpl_ob_retry").click().run()
    ok(at)
    assert [s.value for s in at.success] == [
        f"Message #{message_id} is queued again: it goes with the next send."]
    assert table(at, "reason")["status"].iloc[0] == "🕓 queued"
    at.button(key="tpl_ob_drain").click().run()
    ok(at)
    assert [s.value for s in at.success] == [
        "Outbox: 1 sent, 0 to retry, 0 dead, 0 interrupted."]
    [mail] = smtp.messages
    assert mail["To"] == "ana@example.com"
    assert table(at, "reason")["status"].iloc[0] == "✅ sent"
    events = [e["event"] for e in message_events(store.connect(path), message_id)]
    assert events == ["queued", "attempt", "failed", "retry", "attempt", "sent"]
    assert at.button(key="tpl_ob_retry").disabled and at.button(key="tpl_ob_cancel").disabled


def test_a_held_message_can_be_cancelled_and_the_filter_finds_it(seeded):
    path, _ = seeded
    db = store.connect(path)
    with store.write_transaction(db):
        held, _ = queue_message(db, kind="review request", channel="email",
                                recipient="bo@example.com", subject="A review?",
                                body="<p>Hi</p>", key="r1", actor="sweep", now=NOW,
                                hold_reason="held by the contact-frequency rule: contacted "
                                            "on 2026-03-01, within 14 days")
        queue_message(db, kind="alert", channel="email", recipient="ann@example.org",
                      subject="Critical case", body="A case", key="a1", actor="sweep", now=NOW)
    db.close()
    at = open_page()
    at.selectbox(key="tpl_ob_status").set_value("held").run()
    ok(at)
    listed = table(at, "reason")
    assert list(listed["message"]) == [held]
    assert listed["reason"].iloc[0].startswith("held by the contact-frequency rule")
    at.button(key="tpl_ob_cancel").click().run()
    ok(at)
    assert any(f"Message #{held} cancelled" in s.value for s in at.success)
    assert any("No message is held." in i.value for i in at.info)
    db = store.connect(path)
    assert db.execute("SELECT status FROM outbox WHERE id = ?", [held]).fetchone()[0] == \
        "cancelled"
    db.close()


def test_sending_with_email_not_set_up_marks_the_message_dead_with_the_reason(seeded):
    path, _ = seeded
    db = store.connect(path)
    with store.write_transaction(db):
        queue_message(db, kind="alert", channel="email", recipient="ann@example.org",
                      subject="Critical case", body="A case", key="a1", actor="sweep", now=NOW)
    db.close()
    at = open_page()
    assert any("Email is not set up" in w.value for w in at.warning)
    at.button(key="tpl_ob_drain").click().run()
    assert not at.exception
    assert errors(at) == ["Not everything could be sent."]
    assert "0 sent, 0 to retry, 1 dead" in texts(at)
    row = table(at, "reason").iloc[0]
    assert row["status"] == "🔴 dead" and row["reason"].startswith("email is not set up")


# ----------------------------------------------------------------------------- settings

def test_follow_up_settings_are_saved_or_refused_by_field(seeded):
    from analysis.followup.followups import follow_up_settings

    path, _ = seeded
    at = open_page()
    at.text_input(key="tpl_s_link").input("g.page/r/north")
    at.button(key="tpl_s_save").click().run()
    assert errors(at) == ["Not saved."]
    assert "review link: must be a web address" in texts(at)
    at.text_input(key="tpl_s_link").input("https://g.page/r/north")
    at.selectbox(key="tpl_s_delay").set_value(5)
    at.selectbox(key="tpl_s_template").set_value("Advocacy thank-you")
    at.text_area(key="tpl_s_recipients").input("ops@example.org\nnot an address")
    at.button(key="tpl_s_save").click().run()
    assert "report recipients: 'not an address'" in texts(at)
    at.text_area(key="tpl_s_recipients").input("ops@example.org\n\ncx@example.org ")
    at.button(key="tpl_s_save").click().run()
    ok(at)
    assert [s.value for s in at.success] == ["Follow-up settings saved."]
    saved = follow_up_settings(store.connect(path))
    assert (saved.review_link, saved.review_delay_days, saved.review_template) == (
        "https://g.page/r/north", 5, "Advocacy thank-you")
    assert saved.report_recipients == ("ops@example.org", "cx@example.org")


def test_a_read_only_store_renders_with_writes_switched_off(seeded):
    from tests.stores import no_write_permission

    path, _ = seeded
    ack = template_id(path, "Acknowledge")
    with no_write_permission(path.parent, path):
        at = open_page()
        ok(at)
        assert at.button(key=f"tpl_save_{ack}").disabled
        assert at.button(key="tpl_test_send").disabled
        assert at.button(key="tpl_ob_drain").disabled
        assert at.button(key="tpl_s_save").disabled


def test_the_page_is_in_the_act_section_of_the_navigation():
    source = (ROOT / "app.py").read_text(encoding="utf-8")
    act = source[source.index('"Act"'):source.index('"Data"')]
    assert 'st.Page("pages/templates.py", title="Templates", icon=":material/mail:")' in act

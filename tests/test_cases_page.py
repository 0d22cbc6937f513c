"""Case queue page under AppTest, through app.py, on stores built here: feedback from a few
customers at two locations, two themes, a team of two, and the sweep run at two moments so
that the queue holds breached, at-risk and on-track cases. The clock is pinned (NOW, a
Wednesday in business hours), so countdowns are the same every day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.cases import people, records
from analysis.cases.sweep import sweep_cases
from analysis.ingest.feedback import insert_feedback
from analysis.store.clock import to_iso
from analysis.views import cases as views

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGE = "pages/cases.py"
NOW = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)  # a Wednesday, 11:00 UTC: business hours
EARLIER = NOW - timedelta(days=7)  # the first sweep: by NOW its medium cases are late, its
#                                    low one at risk
ACTOR = "ops@example.org"
WAIT, STAFF = 1, 2


def add_feedback(db, rows: list[dict]) -> list[int]:
    """One response per dict (received_at a datetime; `theme`, `sentiment` optional)."""
    start = db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    records_, themes, labels = [], [], []
    for k, row in enumerate(rows, start=start):
        external = f"case-test-{k}"
        record = {"external_id": external, "source": "test", "comment": f"comment {k}"}
        record |= {f: (to_iso(v) if f == "received_at" else v) for f, v in row.items()
                   if f not in ("theme", "sentiment")}
        records_.append(record)
        if row.get("theme"):
            themes.append((external, row["theme"]))
        labels.append((external, row.get("sentiment", "negative")))
    with store.write_transaction(db):
        insert_feedback(db, records_, batch_id=None, actor="test", now=NOW)
        ids = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
        db.conn.executemany(
            "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
            "origin, assigned_at) VALUES (?, ?, 0.9, 1, 'analyst', '2026-01-01T00:00:00Z')",
            [(ids[e], t) for e, t in themes])
        db.conn.executemany(
            "INSERT INTO sentiment (feedback_id, label, score, confidence, method, scored_at) "
            "VALUES (?, ?, ?, 0.9, 'test', '2026-01-01T00:00:00Z')",
            [(ids[e], label, {"negative": -0.6, "neutral": 0.0, "positive": 0.6}[label])
             for e, label in labels])
    return [ids[r["external_id"]] for r in records_]


def add_themes(db) -> None:
    with store.write_transaction(db):
        for theme_id, name in ((WAIT, "wait time"), (STAFF, "staff")):
            db.execute("INSERT INTO themes (id, name, is_parent, parent_id, status, created_at, "
                       "created_by, updated_at) VALUES (?, ?, 0, NULL, 'active', ?, 'test', ?)",
                       [theme_id, name, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"])


def add_team(db) -> dict:
    with store.write_transaction(db):
        team = people.save_team(db, "Customer care", actor="test", now=NOW)
        ann = people.save_person(db, "Ann Lee", "ann@example.org", team_id=team,
                                 role="team lead", actor="test", now=NOW)
        bob = people.save_person(db, "Bob Roy", "bob@example.org", team_id=team,
                                 actor="test", now=NOW)
        people.save_team(db, "Customer care", lead_id=ann, team_id=team, actor="test", now=NOW)
    return {"team": team, "ann": ann, "bob": bob}


def sweep(db, now) -> None:
    with store.write_transaction(db):
        sweep_cases(db, now=now, actor="test")


def build_store(path: Path, *, now: datetime = NOW) -> dict:
    """Seven open cases: three opened a week before `now` (two of them late by then, one at
    risk), four at `now`; customer c1 has two (wait time and staff), so they can be merged.
    Returns the ids of the team and its two members."""
    earlier = now - (NOW - EARLIER)
    db = store.connect(path)
    add_themes(db)
    found = add_team(db)
    add_feedback(db, [
        {"customer_email": "c1@example.org", "location": "North", "score_type": "nps",
         "score": 2, "received_at": earlier - timedelta(hours=1), "theme": WAIT},
        {"customer_email": "c2@example.org", "location": "South", "score_type": "nps",
         "score": 5, "received_at": earlier - timedelta(hours=2), "theme": WAIT},
        {"customer_email": "c3@example.org", "location": "North", "score_type": "csat",
         "score": 1, "received_at": earlier - timedelta(hours=3), "theme": STAFF},
    ])
    sweep(db, earlier)
    add_feedback(db, [
        {"customer_email": "c1@example.org", "location": "North", "score_type": "nps",
         "score": 4, "received_at": now - timedelta(hours=1), "theme": STAFF},
        {"customer_email": "c4@example.org", "location": "South", "score_type": "nps",
         "score": 0, "received_at": now - timedelta(hours=2), "theme": WAIT,
         "comment": "I was injured by a falling shelf"},
        {"customer_email": "c5@example.org", "location": "South", "score_type": "nps",
         "score": 6, "received_at": now - timedelta(hours=3)},
        {"customer_email": "c6@example.org", "location": "North", "score_type": "nps",
         "score": 3, "received_at": now - timedelta(hours=4), "theme": STAFF},
    ])
    sweep(db, now)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return found


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def seeded(db_path, clock):
    return db_path, build_store(db_path)


def open_page(user: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if user:
        at.session_state["user"] = user
    at.run()
    at.switch_page(PAGE).run()
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def table(at: AppTest, column: str) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, column
    return found[0]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def events(path, case_id: int) -> list[tuple]:
    db = store.connect(path)
    try:
        return [(e["event"], e["from_status"], e["to_status"], e["actor"])
                for e in records.timeline(db, case_id)]
    finally:
        db.close()


def get_case(path, case_id: int) -> dict:
    db = store.connect(path)
    try:
        return records.get_case(db, case_id)
    finally:
        db.close()


def pick(at: AppTest, case_id: int) -> AppTest:
    return at.selectbox(key="cases_pick").set_value(case_id).run()


def me(at: AppTest, person_id: int) -> AppTest:
    return at.selectbox(key="cases_me").set_value(person_id).run()


def texts(at: AppTest) -> str:
    return "\n".join(t.value for t in at.text)


# ----------------------------------------------------------------------------- wording

def test_countdowns_say_business_time_and_lateness():
    assert views.countdown(200, "on track") == "due in 3 h 20 min (business time)"
    assert views.countdown(-125, "breached") == "2 h 5 min late (business time)"
    assert views.countdown(45.4, "at risk") == "due in 45 min (business time)"
    assert views.countdown(None, "paused") == "paused: waiting on the customer"
    assert views.sla_badge("breached") == "🔴 breached"
    reasons = [{"part": "severity", "points": 35.0, "why": "NPS 0"},
               {"part": "theme", "points": 0.0, "why": "x"},
               {"part": "repeat", "points": 10.0, "why": "1 earlier"}]
    assert views.priority_parts_text(reasons) == "severity 35 + repeat 10"


# ----------------------------------------------------------------------------- page

def test_an_empty_store_says_so_and_points_to_case_settings(db_path, clock):
    store.connect(db_path).close()
    at = open_page()
    ok(at)
    assert at.title[0].value == "Case queue"
    infos = " ".join(i.value for i in at.info)
    assert "No cases yet" in infos and "No people yet" in infos
    assert "Case settings" in infos
    links = at.get("page_link")
    assert links and "case_settings" in links[0].proto.page
    assert not at.metric and not at.dataframe


def test_the_health_numbers_are_queue_health_and_rows_come_due_first(seeded):
    path, _ = seeded
    at = open_page()
    ok(at)
    db = store.connect(path)
    expected = records.list_cases(db, now=NOW)
    health = records.queue_health(db, now=NOW, cases=expected)
    db.close()
    shown = metrics(at)
    assert shown["Open"] == str(health["open"]) == "7"
    assert shown["At risk"] == str(health["at_risk"]) == "1"
    assert shown["Breached"] == str(health["breached"]) == "2"
    met = health["sla_met"]["acknowledge"]
    assert (met["due"], met["met"]) == (2, 0) and shown["Acknowledge SLA met"] == "0%"
    assert shown["Resolve SLA met"] == "n/a"
    assert shown["Median time to acknowledge"] == "n/a"
    listed = table(at, "due")
    assert list(listed["case"]) == [r["id"] for r in expected]
    dues = [r["next_due"] for r in expected]
    assert dues == sorted(dues)
    first = listed.iloc[0]
    assert first["SLA"] == "🔴 breached" and first["due"] == "16 h late (business time)"
    critical = listed[listed["priority"] == "🟥 critical"].iloc[0]
    assert critical["due"] == "due in 1 h (business time)"
    assert "safety/legal" in critical["priority parts"]
    assert set(listed["SLA"]) == {"🔴 breached", "🟠 at risk", "🟢 on track"}
    assert "7 matching case(s)" in " ".join(c.value for c in at.caption)
    # The first case due is open below, with its deadlines and its priority's parts.
    assert at.selectbox(key="cases_pick").value == expected[0]["id"]
    parts = table(at, "why")
    assert list(parts["part"])[:5] == ["severity", "theme", "customer", "spiking", "repeat"]
    assert "Status: new" in texts(at)


def test_filters_and_scope_narrow_the_queue(seeded):
    _, found = seeded
    at = open_page()
    at.multiselect(key="cases_priorities").set_value(["critical"]).run()
    ok(at)
    assert len(table(at, "due")) == 1
    at.multiselect(key="cases_priorities").set_value([]).run()
    at.multiselect(key="cases_locations").set_value(["South"]).run()
    assert set(table(at, "due")["location"]) == {"South"}
    assert len(table(at, "due")) == 3
    at.multiselect(key="cases_locations").set_value([]).run()
    at.multiselect(key="cases_sla").set_value(["breached"]).run()
    assert list(table(at, "due")["SLA"]) == ["🔴 breached"] * 2
    at.multiselect(key="cases_sla").set_value([]).run()
    at.multiselect(key="cases_themes").set_value([STAFF]).run()
    assert set(table(at, "due")["theme"]) == {"staff"}
    at.multiselect(key="cases_themes").set_value([]).run()
    at.multiselect(key="cases_routes").set_value(["advocacy"]).run()
    assert any("No case matches" in i.value for i in at.info)
    at.multiselect(key="cases_routes").set_value([]).run()
    # "My cases" needs a "who am I"; then it shows that person's cases only.
    at.radio(key="cases_scope").set_value("mine").run()
    assert any("Pick who you are" in i.value for i in at.info)
    at = me(at, found["bob"])
    ok(at)
    assert set(table(at, "due")["owner"]) == {"Bob Roy"} and len(table(at, "due")) == 3
    at.radio(key="cases_scope").set_value("team").run()
    assert len(table(at, "due")) == 7
    # Every status, and one status.
    at.radio(key="cases_scope").set_value("all").run()
    at.selectbox(key="cases_status").set_value("resolved").run()
    assert any("No case matches" in i.value for i in at.info)


def test_only_the_first_rows_are_shown_with_the_count(seeded, monkeypatch):
    monkeypatch.setattr(views, "MAX_ROWS", 3)
    at = open_page()
    ok(at)
    assert len(table(at, "due")) == 3
    assert "The first 3 of 7 matching cases" in " ".join(c.value for c in at.caption)


def test_acknowledge_from_the_page_stores_the_status_and_an_event(seeded):
    path, found = seeded
    at = open_page()
    at = me(at, found["ann"])
    case_id = table(at, "due")["case"].iloc[0]
    at = pick(at, case_id)
    at.button(key=f"cases_ack_{case_id}").click().run()
    ok(at)
    assert any(f"Case #{case_id} acknowledged" in s.value for s in at.success)
    stored = get_case(path, case_id)
    assert stored["status"] == "acknowledged"
    assert stored["acknowledged_at"] == to_iso(NOW)
    assert events(path, case_id)[-1] == ("status", "new", "acknowledged", "ann@example.org")
    assert "Status: acknowledged" in texts(at)
    assert metrics(at)["Median time to acknowledge"] != "n/a"


def test_resolving_needs_a_category_and_the_timeline_shows_both_changes(seeded):
    path, _ = seeded
    at = open_page(user=ACTOR)
    case_id = int(table(at, "due")["case"].iloc[1])
    at = pick(at, case_id)
    at.button(key=f"cases_ack_{case_id}").click().run()
    at.selectbox(key=f"cases_to_{case_id}").set_value("resolved")
    at.text_area(key=f"cases_note_{case_id}").input("Refunded the visit")
    at.button(key=f"cases_change_{case_id}").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Status not changed."]
    assert "resolution category" in texts(at)
    assert get_case(path, case_id)["status"] == "acknowledged"
    # With a category it resolves; the case stays open below the list.
    at.selectbox(key=f"cases_to_{case_id}").set_value("resolved")
    at.selectbox(key=f"cases_category_{case_id}").set_value("refund issued")
    at.text_area(key=f"cases_note_{case_id}").input("Refunded the visit")
    at.button(key=f"cases_change_{case_id}").click().run()
    ok(at)
    stored = get_case(path, case_id)
    assert (stored["status"], stored["resolution_category"], stored["resolution_note"]) == (
        "resolved", "refund issued", "Refunded the visit")
    assert at.selectbox(key="cases_pick").value == case_id
    assert case_id not in list(table(at, "due")["case"])
    timeline = table(at, "change")
    changes = list(timeline["change"])
    assert "new → acknowledged" in changes and "acknowledged → resolved" in changes
    resolved = timeline[timeline["change"] == "acknowledged → resolved"].iloc[0]
    assert resolved["by"] == ACTOR and resolved["note"] == "Refunded the visit"
    assert "refund issued" in resolved["detail"]
    assert "Resolution: refund issued" in texts(at)


def test_bulk_assign_and_acknowledge(seeded):
    path, found = seeded
    at = open_page()
    ids = [int(i) for i in table(at, "due")["case"].iloc[:3]]
    at.multiselect(key="cases_bulk").set_value(ids)
    at.selectbox(key="cases_bulk_owner").set_value(found["bob"])
    at.button(key="cases_bulk_assign").click().run()
    ok(at)
    assert any("3 case(s) assigned" in s.value for s in at.success)
    assert {get_case(path, i)["owner_id"] for i in ids} == {found["bob"]}
    assert set(table(at, "due").set_index("case").loc[ids, "owner"]) == {"Bob Roy"}
    assert at.multiselect(key="cases_bulk").value == []
    at.multiselect(key="cases_bulk").set_value(ids[:2])
    at.button(key="cases_bulk_ack").click().run()
    ok(at)
    assert [get_case(path, i)["status"] for i in ids] == ["acknowledged", "acknowledged",
                                                          "new"]


def test_merge_then_unmerge_restores_both_cases(seeded):
    path, _ = seeded
    db = store.connect(path)
    both = [r for r in records.list_cases(db, now=NOW)
            if r["customer_key"] == "email:c1@example.org"]
    db.close()
    assert len(both) == 2
    keep, duplicate = both[0]["id"], both[1]["id"]
    moved = get_case(path, duplicate)["feedback_ids"]
    at = open_page()
    at = pick(at, keep)
    assert at.selectbox(key=f"cases_merge_{keep}").options == [
        views.case_label(get_case(path, duplicate))]
    at.button(key=f"cases_merge_button_{keep}").click().run()
    ok(at)
    assert get_case(path, duplicate)["status"] == "merged"
    assert set(moved) <= set(get_case(path, keep)["feedback_ids"])
    assert len(table(at, "sentiment")) == 2  # both customers' responses are in this case
    assert "merged in" in list(table(at, "change")["event"])
    at.button(key=f"cases_unmerge_{keep}").click().run()
    ok(at)
    back = get_case(path, duplicate)
    assert (back["status"], back["merged_into"], back["feedback_ids"]) == ("new", None, moved)
    assert duplicate in list(table(at, "due")["case"])


def test_a_change_on_an_old_version_is_refused_with_a_warning(seeded):
    path, _ = seeded
    at = open_page(user=ACTOR)
    case_id = int(table(at, "due")["case"].iloc[0])
    at = pick(at, case_id)
    # Someone else changes the case after this page drew it.
    db = store.connect(path)
    with store.write_transaction(db):
        records.change_status(db, case_id, "in progress", actor="kim@example.org", now=NOW)
    db.close()
    at.button(key=f"cases_ack_{case_id}").click().run()
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning]
    assert "changed since you opened it" in warning and "kim@example.org" in warning.replace(
        "\\", "")
    assert events(path, case_id)[-1][-1] == "kim@example.org"   # nothing of ours written
    assert "Status: in progress" in texts(at)                     # the case as it is now
    assert f"cases_ack_{case_id}" not in [b.key for b in at.button]


def test_a_read_only_store_disables_every_write(seeded):
    from tests.stores import no_write_permission

    path, _ = seeded
    seed_starter_templates(path)
    with no_write_permission(path.parent, path):
        at = open_page()
        ok(at)
        case_id = int(table(at, "due")["case"].iloc[0])
        assert at.button(key=f"cases_ack_{case_id}").disabled
        assert at.button(key="cases_bulk_assign").disabled
        # Opening the customer's record cannot be audited in a read-only store, so the
        # customer's data, and with it the follow-up, stays hidden.
        assert "Customer data is hidden: this store could not record that you viewed it." \
            in [c.value for c in at.caption]
        assert not [b for b in at.button if b.key.startswith("cases_fu")
                    or b.key.startswith("cases_follow_up")]
        assert any(t.value.endswith("Customer: hidden") or "Customer: hidden" in t.value
                   for t in at.text)


def test_a_bulk_change_on_an_old_version_changes_nothing(seeded):
    path, found = seeded
    at = open_page()
    ids = [int(i) for i in table(at, "due")["case"].iloc[:3]]
    owners = [get_case(path, i)["owner_id"] for i in ids]
    db = store.connect(path)
    with store.write_transaction(db):
        records.add_note(db, ids[1], "seen", actor="kim@example.org", now=NOW)
        records.change_status(db, ids[2], "in progress", actor="kim@example.org", now=NOW)
    db.close()
    at.multiselect(key="cases_bulk").set_value(ids)
    at.selectbox(key="cases_bulk_owner").set_value(found["bob"])
    at.button(key="cases_bulk_assign").click().run()
    assert not at.exception and not at.error
    (warning,) = [w.value for w in at.warning]
    assert f"case {ids[2]} changed since you opened it" in warning
    assert "Nothing was done" in warning
    assert [get_case(path, i)["owner_id"] for i in ids] == owners


# ----------------------------------------------------------------------------- follow-up

SMTP_FROM = "care@closeloop.example"


def seed_starter_templates(path) -> None:
    from analysis.followup.templates import seed_templates

    db = store.connect(path)
    with store.write_transaction(db):
        seed_templates(db, actor="test", now=NOW)
    db.close()


def resolve(path, case_id: int) -> None:
    db = store.connect(path)
    with store.write_transaction(db):
        records.change_status(db, case_id, "resolved", actor="test", now=NOW,
                              note="Refunded the visit",
                              resolution_category="refund issued")
    db.close()


def outbox_rows(path) -> list[dict]:
    from analysis.followup.outbox import list_outbox

    db = store.connect(path)
    try:
        return list_outbox(db)
    finally:
        db.close()


@pytest.fixture
def smtp(monkeypatch, tmp_path):
    """A real SMTP server on 127.0.0.1, and the app's delivery settings pointing at it."""
    from tests.delivery_servers import SmtpServer

    monkeypatch.setattr("analysis.settings.SECRETS_FILE", tmp_path / "no-secrets.toml")
    with SmtpServer() as server:
        monkeypatch.setenv("CLOSELOOP_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CLOSELOOP_SMTP_PORT", str(server.port))
        monkeypatch.setenv("CLOSELOOP_SMTP_SECURITY", "none")
        monkeypatch.setenv("CLOSELOOP_SMTP_FROM", SMTP_FROM)
        yield server


@pytest.fixture
def resolved_case(seeded):
    """The seeded store with the starter templates and one resolved recovery case (c3's)."""
    path, found = seeded
    seed_starter_templates(path)
    db = store.connect(path)
    case_id = next(r["id"] for r in records.list_cases(db, now=NOW, status="all")
                   if r["customer_key"] == "email:c3@example.org")
    db.close()
    resolve(path, case_id)
    return path, found, case_id


def open_resolved(at: AppTest, case_id: int) -> AppTest:
    at.selectbox(key="cases_status").set_value("resolved").run()
    return pick(at, case_id)


def html_bodies(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.html)


def test_a_follow_up_for_a_resolved_case_is_sent_and_the_case_is_followed_up(resolved_case,
                                                                             smtp):
    path, found, case_id = resolved_case
    at = open_page()
    at = me(at, found["ann"])
    at = open_resolved(at, case_id)
    ok(at)
    assert "Status: resolved" in texts(at)
    assert "To: c3@example.org" in texts(at)
    # A resolved recovery case starts with the apology; the preview is this case's.
    picker = at.selectbox(key=f"cases_fu_template_{case_id}")
    assert picker.value is not None and picker.format_func(picker.value).startswith(
        "Recovery apology")
    assert "I'm sorry about your visit to North (staff)" in texts(at)
    assert "Hi there," in html_bodies(at)
    at.text_input(key=f"cases_fu_workaround_{case_id}").input(
        "we have refunded your visit & <b>apologise</b>").run()
    ok(at)
    assert "we have refunded your visit &amp; &lt;b&gt;apologise&lt;/b&gt;" in html_bodies(at)
    at.button(key=f"cases_fu_send_{case_id}").click().run()
    ok(at)
    assert [s.value for s in at.success] == ["Follow-up sent."]
    [mail] = smtp.messages
    assert mail["To"] == "c3@example.org" and mail["From"] == SMTP_FROM
    assert mail["Subject"] == "I'm sorry about your visit to North (staff)"
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    assert "&lt;b&gt;apologise&lt;/b&gt;" in html.get_payload(decode=True).decode()
    stored = get_case(path, case_id)
    assert stored["status"] == "followed up"
    assert "Status: followed up" in texts(at)
    timeline = table(at, "change")
    assert list(timeline["event"])[-3:] == ["follow-up queued", "follow-up sent", "status"]
    assert list(timeline["change"])[-1] == "resolved → followed up"
    assert set(timeline["by"].iloc[-3:]) == {"ann@example.org"}
    sent = timeline[timeline["event"] == "follow-up sent"].iloc[0]
    assert "to c3@example.org" in sent["detail"]
    messages = table(at, "reason")
    assert list(messages["status"]) == ["✅ sent"]
    [row] = outbox_rows(path)
    assert (row["kind"], row["status"], row["created_by"]) == ("follow-up", "sent",
                                                               "ann@example.org")
    # Sending the same message again sends nothing.
    at.button(key=f"cases_fu_send_{case_id}").click().run()
    ok(at)
    assert [s.value for s in at.success] == [
        f"This message was queued already (message #{row['id']}): it is not queued twice."]
    assert f"Status: sent, sent at {to_iso(NOW)}" in texts(at)
    assert len(smtp.messages) == 1 and len(outbox_rows(path)) == 1


def test_an_unfilled_placeholder_is_refused_and_nothing_is_queued(resolved_case):
    from analysis.followup.templates import Template, save_template

    path, _, case_id = resolved_case
    db = store.connect(path)
    with store.write_transaction(db):
        promise = save_template(db, Template(
            name="Promise", purpose="status update", channel="email",
            subject="About your case", body="<p>We will be done by {{ eta }}.</p>"),
            actor="test")
    db.close()
    at = open_resolved(open_page(user=ACTOR), case_id)
    at.selectbox(key=f"cases_fu_template_{case_id}").set_value(promise).run()
    ok(at)
    assert any("Gaps: eta" in w.value for w in at.warning)
    assert "We will be done by [eta missing]." in html_bodies(at)
    at.button(key=f"cases_follow_up_{case_id}").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Not queued."]
    assert "unfilled placeholder: eta" in texts(at)
    assert outbox_rows(path) == []
    assert "follow-up queued" not in [e[0] for e in events(path, case_id)]
    # With the date it is queued, once, and the timeline says so; the case stays resolved
    # until the message is sent.
    at.text_input(key=f"cases_fu_eta_{case_id}").input("Friday 6 March").run()
    assert "We will be done by Friday 6 March." in html_bodies(at)
    at.button(key=f"cases_follow_up_{case_id}").click().run()
    ok(at)
    assert any("Follow-up queued" in s.value for s in at.success)
    at.button(key=f"cases_follow_up_{case_id}").click().run()   # again: one message
    ok(at)
    assert [s.value for s in at.success] == [
        "This message was queued already (message #1): it is not queued twice."]
    assert "Status: queued" in texts(at)
    [row] = outbox_rows(path)
    assert (row["status"], row["recipient"], row["created_by"]) == ("queued",
                                                                    "c3@example.org", ACTOR)
    assert [e[0] for e in events(path, case_id)].count("follow-up queued") == 1
    assert "follow-up queued" in list(table(at, "change")["event"])
    assert get_case(path, case_id)["status"] == "resolved"


def test_a_new_case_suggests_the_acknowledgement_and_no_templates_points_to_the_page(seeded):
    path, _ = seeded
    at = open_page()
    case_id = int(table(at, "due")["case"].iloc[0])
    ok(at)
    assert any("No email templates yet" in i.value for i in at.info)
    assert any("templates" in link.proto.page for link in at.get("page_link"))
    seed_starter_templates(path)
    st_clear()
    at = open_page()
    at = pick(at, case_id)
    ok(at)
    picker = at.selectbox(key=f"cases_fu_template_{case_id}")
    assert picker.format_func(picker.value).startswith("Acknowledge (email")
    assert all("(email" in o for o in picker.options)  # no SMS or webhook templates
    assert "Acknowledge by text (sms, en)" not in picker.options


def st_clear() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def test_who_am_i_is_who_every_page_records_in_local_mode(seeded):
    """Picked on the Case queue, the person is recorded by the other pages' writes too (a
    theme renamed on Themes), not the settings actor."""
    path, found = seeded
    at = me(open_page(), found["ann"])
    at.switch_page("pages/themes.py").run()
    at.session_state["themes_pick"] = str(WAIT)
    at.run()
    ok(at)
    at.text_input(key=f"rename_{WAIT}").input("Waiting too long")
    at.button(key=f"rename_go_{WAIT}").click().run()
    ok(at)
    db = store.connect(path)
    try:
        actor = db.execute("SELECT actor FROM theme_events WHERE theme_id = ? AND event = "
                           "'renamed' ORDER BY id DESC", [WAIT]).fetchone()[0]
    finally:
        db.close()
    assert actor == "ann@example.org"

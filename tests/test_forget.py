"""Erasing a customer (issue 24): no trace of them left in any text column, the other
customer untouched, the full-text index consistent, an erasure row holding only a hash,
the audit of record views, and `python -m analysis forget`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from analysis.cases.records import record_contact
from analysis.followup.outbox import queue_message
from analysis.privacy.forget import (ForgetError, customer_key_hash, forget_customer,
                                     record_view, views_of)
from tests.case_stores import MONDAY, add, response, sweep, team, themes

ALICE = dict(customer_email="Alice.Smith@Example.com", customer_name="Alice Smith")
BOB = dict(customer_email="bob.jones@example.org", customer_name="Bob Jones")
ALICE_SECRETS = ("alice.smith@example.com", "alice smith", "id:A-100", "A-100",
                 "020 7946 0958")
BOB_SECRETS = ("bob.jones@example.org", "bob jones", "id:B-200")


def build(db) -> None:
    """Two customers with feedback, cases, outbox messages and contacts."""
    themes(db)
    team(db)
    add(db,
        response("A-100", "nps", 1, comment="Rude staff, call me on 020 7946 0958 - Alice",
                 **ALICE),
        response("A-100", "csat", 1, comment="Still waiting, write to alice.smith@example.com",
                 at=MONDAY - timedelta(hours=2), **ALICE),
        response("B-200", "nps", 2, comment="The queue was endless, Bob here", **BOB),
        response(None, "nps", 9, comment="fine", sentiment="positive", theme=None))
    sweep(db)
    cases = dict(db.execute("SELECT customer_key, id FROM cases "
                            "WHERE customer_key IS NOT NULL").fetchall())
    assert {"id:A-100", "id:B-200"} <= set(cases)
    with store.write_transaction(db):
        for who, address, name in (("A-100", "alice.smith@example.com", "Alice Smith"),
                                   ("B-200", "bob.jones@example.org", "Bob Jones")):
            key = f"id:{who}"
            queue_message(db, kind="follow-up", channel="email", recipient=address,
                          subject=f"Sorry, {name}", body=f"Dear {name}, we are sorry.",
                          key=f"case-{cases[key]}-follow-up-{who}", case_id=cases[key],
                          customer_key=key, actor="test", now=MONDAY)
            queue_message(db, kind="review request", channel="email", recipient=address,
                          body=f"Hello {name}", key=f"improvement-1-tell-{key}",
                          customer_key=key, actor="test", now=MONDAY)
            record_contact(db, key, "follow-up", actor="test", channel="email",
                           case_id=cases[key], detail={"to": address}, now=MONDAY)
        db.execute("UPDATE outbox SET status = 'sent', sent_at = ? WHERE idempotency_key "
                   "LIKE 'case-%'", ["2025-01-06T10:00:00Z"])
        # A rejected import row mentioning Alice's email, and a staff notification.
        db.execute("INSERT INTO import_batches (id, file_name, source, started_at, actor) "
                   "VALUES (9, 'f.csv', 'test', '2025-01-01T00:00:00Z', 'test')")
        db.execute("INSERT INTO import_rejects (batch_id, row_number, reason, raw) VALUES "
                   "(9, 1, 'bad date', ?)", [json.dumps({"email": "ALICE.SMITH@example.com"})])


def text_values(db) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text value of every ordinary table."""
    found = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                               "AND name NOT LIKE 'sqlite_%'").fetchall():
        columns = [c[1] for c in db.execute(f'PRAGMA table_info("{table}")')]
        for column in columns:
            try:
                rows = db.execute(f'SELECT "{column}" FROM "{table}" '
                                  f"WHERE typeof(\"{column}\") = 'text'").fetchall()
            except Exception:   # noqa: BLE001 - an FTS5 hidden column
                continue
            found += [(table, column, value) for (value,) in rows]
    return found


def traces(db, secrets) -> list[tuple[str, str, str]]:
    return [(t, c, v) for t, c, v in text_values(db)
            if any(s.casefold() in v.casefold() for s in secrets)]


def fts_ok(db) -> None:
    db.execute("INSERT INTO feedback_fts(feedback_fts, rank) VALUES ('integrity-check', 1)")


def search(db, phrase: str) -> list[int]:
    return [r for (r,) in db.execute("SELECT rowid FROM feedback_fts WHERE feedback_fts "
                                     "MATCH ?", [f'"{phrase}"'])]


def test_forgetting_one_customer_leaves_no_trace_and_spares_the_other(db):
    build(db)
    assert traces(db, ALICE_SECRETS) and traces(db, BOB_SECRETS)
    assert search(db, "alice smith example com")
    bob_before = {(t, c, v) for t, c, v in traces(db, BOB_SECRETS)}
    views_before = db.execute("SELECT COUNT(*) FROM feedback WHERE customer_key = 'id:B-200'"
                              ).fetchone()[0]

    with store.write_transaction(db):
        summary = forget_customer(db, email="  ALICE.SMITH@example.com ", actor="dpo",
                                  now=MONDAY)

    assert summary["feedback_rows"] == 2
    assert summary["cases"] >= 1
    assert summary["messages"] == 2
    assert summary["contacts"] == 1
    assert summary["anonymised_comments"] is True
    assert traces(db, ALICE_SECRETS) == []
    # Bob is untouched.
    assert {(t, c, v) for t, c, v in traces(db, BOB_SECRETS)} == bob_before
    assert db.execute("SELECT COUNT(*) FROM feedback WHERE customer_key = 'id:B-200'"
                      ).fetchone()[0] == views_before
    # Comments kept, anonymised.
    comments = sorted(c for (c,) in db.execute(
        "SELECT comment FROM feedback WHERE customer_key IS NULL AND comment != 'fine'"))
    assert comments == ["Rude staff, call me on [phone] - [name]",
                        "Still waiting, write to [email]"]
    # The full-text index matches the table, and finds nothing of hers.
    fts_ok(db)
    assert search(db, "alice smith example com") == []
    assert search(db, "7946") == []
    assert search(db, "rude staff")
    # Messages: erased, unsent ones cancelled, sent ones kept as sent.
    messages = db.execute("SELECT recipient, subject, body, status, customer_key FROM outbox "
                          "WHERE recipient = '[erased]' ORDER BY id").fetchall()
    assert [m[3] for m in messages] == ["sent", "cancelled"]
    assert all(m[2] == "[erased]" and m[4] is None for m in messages)
    # The erasure row holds the hash only.
    erasure = dict(zip(["customer_key_hash", "feedback_rows", "cases", "messages",
                        "anonymised_comments", "actor", "at"], db.execute(
        "SELECT customer_key_hash, feedback_rows, cases, messages, anonymised_comments, "
        "actor, at FROM erasures").fetchone()))
    assert erasure["customer_key_hash"] == customer_key_hash("id:A-100") \
        == summary["customer_key_hash"]
    assert erasure["feedback_rows"] == 2 and erasure["messages"] == 2
    assert erasure["anonymised_comments"] == 1 and erasure["actor"] == "dpo"


def test_forget_by_key_and_drop_comments(db):
    build(db)
    with store.write_transaction(db):
        summary = forget_customer(db, customer_key="A-100", anonymise_comments=False,
                                  actor="dpo", now=MONDAY)
    assert summary["feedback_rows"] == 2 and summary["anonymised_comments"] is False
    assert traces(db, ALICE_SECRETS) == []
    assert db.execute("SELECT COUNT(*) FROM feedback WHERE customer_key IS NULL "
                      "AND comment IS NULL").fetchone()[0] == 2
    fts_ok(db)
    assert search(db, "rude staff") == []
    assert search(db, "queue was endless")        # Bob's comment is still searchable
    assert db.execute("SELECT anonymised_comments FROM erasures").fetchone()[0] == 0


def test_forget_the_stored_key_form(db):
    build(db)
    with store.write_transaction(db):
        summary = forget_customer(db, customer_key="id:B-200", actor="dpo", now=MONDAY)
    assert summary["feedback_rows"] == 1
    assert traces(db, BOB_SECRETS) == []
    assert traces(db, ALICE_SECRETS)


def test_unknown_customer_is_refused(db):
    build(db)
    with pytest.raises(ForgetError, match="^email:"):
        with store.write_transaction(db):
            forget_customer(db, email="nobody@example.com", actor="dpo")
    with pytest.raises(ForgetError, match="^customer_key:"):
        with store.write_transaction(db):
            forget_customer(db, customer_key="id:nobody", actor="dpo")
    with pytest.raises(ForgetError, match="^customer:"):
        forget_customer(db, actor="dpo")
    with pytest.raises(ForgetError, match="^customer:"):
        forget_customer(db, customer_key="A-100", email="x@y.z", actor="dpo")
    assert db.execute("SELECT COUNT(*) FROM erasures").fetchone()[0] == 0


def test_record_views_hold_the_hash(db):
    record_view(db, "id:A-100", actor="ann", what="customer page", now=MONDAY)
    record_view(db, "id:A-100", actor="ben", what="contact history",
                now=MONDAY + timedelta(minutes=5))
    record_view(db, "id:B-200", actor="ann", what="customer page", now=MONDAY)
    assert views_of(db, "id:A-100") == [
        {"actor": "ann", "at": "2025-01-06T10:00:00Z", "what": "customer page"},
        {"actor": "ben", "at": "2025-01-06T10:05:00Z", "what": "contact history"}]
    assert views_of(db, "id:nobody") == []
    stored = [v for (v,) in db.execute("SELECT customer_key_hash FROM record_views")]
    assert "id:A-100" not in stored and customer_key_hash("id:A-100") in stored


def test_cli_forget(db, db_path):
    build(db)
    runner = CliRunner()
    result = runner.invoke(cli_module.cli, ["forget", "--db", str(db_path), "--email",
                                            "alice.smith@example.com", "--actor", "dpo"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["feedback_rows"] == 2 and summary["messages"] == 2
    assert traces(db, ALICE_SECRETS) == []

    again = runner.invoke(cli_module.cli, ["forget", "--db", str(db_path), "--email",
                                           "alice.smith@example.com", "--actor", "dpo"])
    assert again.exit_code == 1
    assert again.output.startswith("error: email:") and again.output.count("\n") == 1

    both = runner.invoke(cli_module.cli, ["forget", "--db", str(db_path), "--actor", "dpo"])
    assert both.exit_code == 1 and both.output.startswith("error: ")

    dropped = runner.invoke(cli_module.cli, ["forget", "--db", str(db_path), "--customer",
                                             "id:B-200", "--drop-comments", "--actor", "dpo"])
    assert dropped.exit_code == 0, dropped.output
    assert json.loads(dropped.output)["anonymised_comments"] is False
    assert traces(db, BOB_SECRETS) == []


def test_cli_views_lists_who_viewed_a_customer_by_email_or_key_and_after_erasure(db, db_path):
    build(db)
    with store.write_transaction(db):
        record_view(db, "id:A-100", actor="ann@staff.example", what="case #1", now=MONDAY)
        record_view(db, "id:A-100", actor="ben@staff.example", what="outbox messages",
                    now=MONDAY + timedelta(minutes=5))
        record_view(db, "id:B-200", actor="ann@staff.example", what="case #2", now=MONDAY)
    runner = CliRunner()

    def views(*args: str):
        return runner.invoke(cli_module.cli, ["views", "--db", str(db_path), *args])

    by_email = views("--email", "ALICE.smith@example.com")
    assert by_email.exit_code == 0, by_email.output
    assert [(v["customer_key"], v["actor"], v["what"]) for v in json.loads(by_email.output)] == [
        ("id:A-100", "ann@staff.example", "case #1"),
        ("id:A-100", "ben@staff.example", "outbox messages")]
    as_csv = views("--customer", "id:B-200", "--format", "csv")
    assert as_csv.output.splitlines() == [
        "customer_key,actor,at,what", "id:B-200,ann@staff.example,2025-01-06T10:00:00Z,case #2"]

    forget_customer(db, customer_key="id:A-100", actor="dpo")
    after = views("--customer", "id:A-100")    # the audit answers by the key's hash
    assert [v["actor"] for v in json.loads(after.output)] == ["ann@staff.example",
                                                               "ben@staff.example"]
    assert json.loads(views("--email", "nobody@example.org").output) == []
    refused = views()
    assert refused.exit_code == 1 and refused.output.startswith("error: give exactly one")

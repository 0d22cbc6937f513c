"""Feedback export: exact columns, one row per response, themes joined, formulas defused."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from test_theme_queries import CURRENT, NOW, T0, seed_theme_store

from analysis import store
from analysis.domain.filters import Filters
from analysis.ingest.feedback import insert_feedback
from analysis.reports import export

EXPECTED_COLUMNS = ["external_id", "received_at", "location", "segment", "score_type", "score",
                    "comment", "sentiment_label", "sentiment_score", "theme_id", "theme",
                    "parent_theme_id", "parent_theme"]


def _read(path) -> list[dict]:
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == EXPECTED_COLUMNS
    return list(reader)


def test_exact_columns_and_one_row_per_feedback(db, tmp_path):
    seed_theme_store(db)
    out = tmp_path / "export.csv"
    # A small batch size exercises the batching (215 rows in 9 batches).
    n = export.export_feedback(db, out, batch_rows=25)
    rows = _read(out)
    assert n == len(rows) == 215
    assert len({r["external_id"] for r in rows}) == 215
    by_id = {r["external_id"]: r for r in rows}
    both = by_id["cur-0"]  # primary Waiting time (1), secondary Staff
    assert both["theme_id"] == "1" and both["theme"] == "Waiting time; Staff"
    assert both["parent_theme_id"] == "10" and both["parent_theme"] == "Service"
    assert both["sentiment_label"] == "negative" and float(both["sentiment_score"]) == -0.6
    assert both["location"] == "North" and both["segment"] == "retail"
    assert both["score_type"] == "nps" and float(both["score"]) == 3
    assert both["received_at"] == "2025-03-04T10:00:00Z"
    assert by_id["cur-30"]["theme"] == "Staff" and by_id["cur-30"]["theme_id"] == "2"
    # Merged themes are not current themes; unthemed rows have empty theme cells.
    assert by_id["cur-99"]["theme"] == "" and by_id["cur-99"]["theme_id"] == ""
    assert by_id["cur-99"]["parent_theme"] == "" and by_id["cur-99"]["parent_theme_id"] == ""
    assert by_id["blank-0"]["comment"] == ""


def test_filters_limit_the_export(db, tmp_path):
    seed_theme_store(db)
    out = tmp_path / "south.csv"
    n = export.export_feedback(db, out, filters=Filters(start=CURRENT.start, end=CURRENT.end,
                                                        locations=("South",)))
    rows = _read(out)
    assert n == len(rows) == 50 and {r["location"] for r in rows} == {"South"}


def test_formula_injection_is_neutralised(db, tmp_path):
    hostile = ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0",
               "@SUM(A1:A9)", "-2+3"]
    with store.write_transaction(db):
        insert_feedback(db, [
            {"external_id": f"x{k}", "source": "test", "received_at": "2025-03-01T09:00:00Z",
             "comment": text, "location": "=cmd()"} for k, text in enumerate(hostile)
        ], batch_id=None, actor="test", now=NOW)
        db.execute("INSERT INTO themes (id, name, created_at, created_by, updated_at) "
                   "VALUES (1, '=1+1', ?, 'test', ?)", [T0, T0])
        db.execute("INSERT INTO theme_assignments (feedback_id, theme_id, probability, "
                   "is_primary, origin, assigned_at) SELECT id, 1, 0.9, 1, 'fit', ? "
                   "FROM feedback", [T0])
    out = tmp_path / "hostile.csv"
    assert export.export_feedback(db, out) == 4
    rows = _read(out)
    for row in rows:
        for column in ("comment", "location", "theme"):
            assert not row[column].startswith(("=", "+", "-", "@")), (column, row[column])
    assert rows[0]["comment"] == "'" + hostile[0]
    assert rows[0]["theme"] == "'=1+1"


def test_empty_store_writes_header_only(db, tmp_path):
    out = tmp_path / "empty.csv"
    assert export.export_feedback(db, out) == 0
    assert _read(out) == []
    assert not list(tmp_path.glob(".empty.csv*"))  # no temporary file left behind


def test_dates_filter_previous_period_untouched(db, tmp_path):
    seed_theme_store(db)
    out = tmp_path / "feb.csv"
    n = export.export_feedback(db, out, filters=Filters(start=date(2025, 2, 1),
                                                        end=date(2025, 3, 3)))
    assert n == 100 and all(r["external_id"].startswith("prev-") for r in _read(out))


@pytest.mark.parametrize("batch_rows", [1, 1000])
def test_batch_size_does_not_change_the_file(db, tmp_path, batch_rows):
    seed_theme_store(db)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    export.export_feedback(db, a, batch_rows=batch_rows)
    export.export_feedback(db, b, batch_rows=97)
    assert a.read_bytes() == b.read_bytes()


# ------------------------------------------------------------------ unmasked export (admins)

ADMIN, ANALYST = "ada@staff.example", "nils@staff.example"
PASSWORD = "Tulip-Kettle-Orbit-93"
RAW = "call me on 020 7946 0958 or jo@example.com"


@pytest.fixture
def staffed_store(db, db_path, monkeypatch):
    """Two comments with personal data, an admin and an analyst with known passwords."""
    from argon2 import PasswordHasher

    from analysis.auth import accounts
    from analysis.cases.people import save_person

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                            parallelism=1))
    monkeypatch.setattr(accounts, "_dummy_hash", None)
    monkeypatch.delenv("CLOSELOOP_PASSWORD", raising=False)
    with store.write_transaction(db):
        insert_feedback(db, [
            {"external_id": "p1", "source": "test", "received_at": "2025-03-01T09:00:00Z",
             "comment": RAW, "customer_email": "jo@example.com", "customer_id": "C-1"},
            {"external_id": "p2", "source": "test", "received_at": "2025-03-01T10:00:00Z",
             "comment": "paid £12.50 at 12:30"},
        ], batch_id=None, actor="test")
        ids = {email: save_person(db, name, email, capacity=0, actor="test")
               for email, name in ((ADMIN, "Ada Admin"), (ANALYST, "Nils Analyst"))}
    accounts.create_account(db, ids[ADMIN], app_role="admin", password=PASSWORD, actor="test")
    accounts.create_account(db, ids[ANALYST], app_role="analyst", password=PASSWORD,
                            actor="test")
    return db_path


def export_cli(db_path, out, *args, password=None, prompt_input=None):
    from click.testing import CliRunner

    from analysis.cli import cli

    env = {"CLOSELOOP_PASSWORD": password} if password is not None else None
    return CliRunner().invoke(cli, ["export", "--db", str(db_path), "--out", str(out), *args],
                              env=env, input=prompt_input)


def refused_in_one_line(result, *words) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and result.stdout == "", result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def audit(db_path) -> list[tuple]:
    found = store.connect(db_path)
    try:
        return found.execute("SELECT actor, what FROM record_views ORDER BY id").fetchall()
    finally:
        found.close()


def sign_in_outcomes(db_path) -> list[str]:
    found = store.connect(db_path)
    try:
        return [r[0] for r in found.execute("SELECT outcome FROM sign_in_events ORDER BY id")]
    finally:
        found.close()


def test_an_admin_exports_unmasked_and_the_export_is_audited(staffed_store, tmp_path):
    out = tmp_path / "raw.csv"
    result = export_cli(staffed_store, out, "--unmasked", "--as", ADMIN, password=PASSWORD)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"exported 2 feedback rows to {out} (unmasked, as {ADMIN}; "
                             "recorded in the record-view audit)\n")
    assert _read(out)[0]["comment"] == RAW
    assert audit(staffed_store) == [(ADMIN, f"unmasked export: 2 feedback rows to {out}")]
    # checked like a sign-in, and the session it opened is closed at once
    assert sign_in_outcomes(staffed_store) == ["signed in", "signed out"]
    db = store.connect(staffed_store)
    assert db.execute("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL").fetchone()[0] == 0
    from analysis.auth.users import unmasked_exports

    assert [row["actor"] for row in unmasked_exports(db)] == [ADMIN]
    db.close()


def test_the_password_can_be_typed_at_a_hidden_prompt(staffed_store, tmp_path):
    out = tmp_path / "raw.csv"
    result = export_cli(staffed_store, out, "--unmasked", "--as", ADMIN,
                        prompt_input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert f"Password for {ADMIN}" in result.stderr and PASSWORD not in result.output
    assert _read(out)[0]["comment"] == RAW


def test_the_masked_export_needs_no_one(staffed_store, tmp_path):
    out = tmp_path / "masked.csv"
    result = export_cli(staffed_store, out)
    assert result.exit_code == 0 and "unmasked" not in result.output
    assert _read(out)[0]["comment"] == "call me on [phone] or [email]"
    assert audit(staffed_store) == [] and sign_in_outcomes(staffed_store) == []


@pytest.mark.parametrize("args, password, words", [
    (["--unmasked"], PASSWORD, ("--unmasked needs the admin role", "--as EMAIL")),
    (["--unmasked", "--as", " "], PASSWORD, ("--unmasked needs the admin role",)),
    (["--as", ADMIN], PASSWORD, ("--as", "only an unmasked export")),
    (["--unmasked", "--as", ADMIN], "not the password", ("refused", "password is wrong")),
    (["--unmasked", "--as", "nobody@staff.example"], PASSWORD, ("password is wrong",)),
    (["--unmasked", "--as", ANALYST], PASSWORD, ("analyst role may not export unmasked",)),
])
def test_a_refused_unmasked_export_writes_nothing(staffed_store, tmp_path, args, password,
                                                  words):
    out = tmp_path / "raw.csv"
    out.write_text("an earlier file\n", encoding="utf-8")
    refused_in_one_line(export_cli(staffed_store, out, *args, password=password), *words)
    assert out.read_text(encoding="utf-8") == "an earlier file\n"
    assert not list(tmp_path.glob(".raw.csv*"))
    assert audit(staffed_store) == []


def test_no_password_at_the_prompt_is_refused(staffed_store, tmp_path):
    out = tmp_path / "raw.csv"
    refused_in_one_line(export_cli(staffed_store, out, "--unmasked", "--as", ADMIN,
                                   prompt_input=""), "password: none given")
    assert not out.exists()


def test_wrong_passwords_count_toward_the_lockout_like_a_sign_in(staffed_store, tmp_path):
    from analysis.auth import accounts

    out = tmp_path / "raw.csv"
    for _ in range(accounts.MAX_FAILED_ATTEMPTS):
        refused_in_one_line(export_cli(staffed_store, out, "--unmasked", "--as", ADMIN,
                                       password="not the password"), "password is wrong")
    assert sign_in_outcomes(staffed_store) == ["wrong password"] * accounts.MAX_FAILED_ATTEMPTS
    # locked now: the right password is refused too, and nothing is written
    refused_in_one_line(export_cli(staffed_store, out, "--unmasked", "--as", ADMIN,
                                   password=PASSWORD), "locked until")
    assert sign_in_outcomes(staffed_store)[-1] == "locked"
    assert not out.exists() and audit(staffed_store) == []


def test_an_admin_with_a_one_time_password_must_choose_one_first(staffed_store, tmp_path):
    from analysis.auth import accounts

    db = store.connect(staffed_store)
    admin_id = db.execute("SELECT id FROM people WHERE email = ?", [ADMIN]).fetchone()[0]
    one_time = accounts.reset_password(db, admin_id, actor="test")
    db.close()
    out = tmp_path / "raw.csv"
    refused_in_one_line(export_cli(staffed_store, out, "--unmasked", "--as", ADMIN,
                                   password=one_time), "one-time password")
    assert not out.exists()

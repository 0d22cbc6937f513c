"""`python -m analysis users` (issue 24): an admin adds accounts (the one-time password
printed once, or $CLOSELOOP_NEW_PASSWORD), lists them (never a hash), changes a role,
resets a password and deactivates or reactivates an account; the last active admin is
never demoted or deactivated, and bad input is one `error:` line naming the field."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from analysis import store
from analysis.auth import accounts
from analysis.cases import people
from analysis.cli import cli
from tests.stores import no_write_permission

GOOD = "Tulip-Kettle-Orbit-93"
NEW_PASSWORD_ENV = "CLOSELOOP_NEW_PASSWORD"


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch):
    """Argon2id with small parameters: these tests hash many times on a busy machine."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                            parallelism=1))
    monkeypatch.setattr(accounts, "_dummy_hash", None)
    monkeypatch.delenv(NEW_PASSWORD_ENV, raising=False)


def run(db_path, *args, env=None):
    return CliRunner().invoke(cli, ["users", args[0], "--db", str(db_path), *args[1:]],
                              env=env)


def add(db_path, email, role, *more, password=GOOD):
    result = run(db_path, "add", "--email", email, "--role", role, *more,
                 env={NEW_PASSWORD_ENV: password} if password else None)
    assert result.exit_code == 0, result.output
    return result


def listed(db_path) -> dict[str, dict]:
    result = run(db_path, "list")
    assert result.exit_code == 0, result.output
    return {row["email"]: row for row in json.loads(result.output)}


def one_time_from(output: str) -> str:
    line = next(line for line in output.splitlines() if "shown only this once" in line)
    return line.rsplit(" ", 1)[-1]


def refused(result, field: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), result.output
    return lines[0]


def count(db_path, sql: str) -> int:
    db = store.connect(db_path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def sign_in(db_path, email, password):
    db = store.connect(db_path)
    try:
        return accounts.sign_in(db, email, password)
    finally:
        db.close()


def sessions_open(db_path, email) -> int:
    return count(db_path, "SELECT COUNT(*) FROM sessions s JOIN people p ON p.id = s.person_id "
                          f"WHERE p.email = '{email}' AND s.ended_at IS NULL")


# ------------------------------------------------------------------ add


def test_add_makes_the_person_and_prints_a_one_time_password_once(db_path):
    result = add(db_path, "ana@example.org", "analyst", "--name", "Ana Lima", password=None)
    assert result.output.splitlines()[0] == "added ana@example.org (analyst)"
    one_time = one_time_from(result.output)
    assert len(one_time) >= 16 and result.output.count(one_time) == 1
    session = sign_in(db_path, "ana@example.org", one_time)
    assert session.app_role == "analyst" and session.must_change_password
    # The new person is in the case queue with capacity 0: no case is routed to them.
    db = store.connect(db_path)
    person = next(p for p in people.people(db) if p["email"] == "ana@example.org")
    assert (person["name"], person["capacity"], person["active"]) == ("Ana Lima", 0, 1)
    assert one_time not in "\n".join(db.iterdump())
    db.close()
    assert one_time not in run(db_path, "list").output


def test_add_takes_the_password_from_the_environment_never_the_command_line(db_path):
    result = add(db_path, "ana@example.org", "viewer", "--name", "Ana Lima")
    assert GOOD not in result.output and "shown only this once" not in result.output
    assert "CLOSELOOP_NEW_PASSWORD" in result.output
    session = sign_in(db_path, "ana@example.org", GOOD)
    assert session.app_role == "viewer" and not session.must_change_password
    assert "--password" not in CliRunner().invoke(cli, ["users", "add", "--help"]).output


def test_add_gives_an_existing_person_an_account_and_sets_their_team(db_path):
    db = store.connect(db_path)
    with store.write_transaction(db):
        care = people.save_team(db, "Customer care", actor="test")
        people.save_person(db, "Mia Manager", "mia@example.org", role="manager", capacity=5,
                           actor="test")
    db.close()
    add(db_path, "MIA@example.org", "manager", "--team", "customer CARE")
    row = listed(db_path)["mia@example.org"]
    assert (row["name"], row["role"], row["teams"], row["active"]) == (
        "Mia Manager", "manager", "Customer care", True)
    db = store.connect(db_path)
    person = next(p for p in people.people(db) if p["email"] == "mia@example.org")
    assert (person["team_id"], person["capacity"], person["role"]) == (care, 5, "manager")
    db.close()
    assert sign_in(db_path, "mia@example.org", GOOD).team_ids == {care}


@pytest.mark.parametrize("args, env_password, field", [
    (["--email", "ana@example.org", "--role", "boss", "--name", "Ana"], GOOD, "app role"),
    (["--email", "ana@example.org", "--role", "viewer"], GOOD, "name"),
    (["--email", "not-an-email", "--role", "viewer", "--name", "Ana"], GOOD, "email"),
    (["--email", "  ", "--role", "viewer", "--name", "Ana"], GOOD, "email: required"),
    (["--email", "ana@example.org", "--role", "viewer", "--name", "Ana", "--team", "Nope"],
     GOOD, "team: there is no team 'Nope'"),
    (["--email", "ana@example.org", "--role", "viewer", "--name", "Ana"], "password1",
     "password"),
])
def test_add_refuses_bad_input_naming_the_field_and_writes_nothing(db_path, args,
                                                                    env_password, field):
    result = run(db_path, "add", *args, env={NEW_PASSWORD_ENV: env_password})
    refused(result, field)
    assert count(db_path, "SELECT COUNT(*) FROM people") == 0
    assert count(db_path, "SELECT COUNT(*) FROM accounts") == 0


def test_add_refuses_a_second_account_for_the_same_email(db_path):
    add(db_path, "ana@example.org", "viewer", "--name", "Ana Lima")
    line = refused(run(db_path, "add", "--email", "Ana@Example.org", "--role", "admin"),
                   "email")
    assert "already has an account (viewer)" in line
    assert listed(db_path)["ana@example.org"]["role"] == "viewer"


# ------------------------------------------------------------------ list


def test_list_in_every_format_shows_the_fields_and_never_a_hash(db_path):
    add(db_path, "ana@example.org", "admin", "--name", "Ana Lima")
    add(db_path, "bo@example.org", "analyst", "--name", "Bo Berg")
    sign_in(db_path, "ana@example.org", GOOD)
    for fmt in ("json", "csv", "table"):
        result = run(db_path, "list", "--format", fmt)
        assert result.exit_code == 0, result.output
        assert "argon2" not in result.output and "hash" not in result.output
        assert GOOD not in result.output
    rows = json.loads(run(db_path, "list").output)
    assert [r["email"] for r in rows] == ["ana@example.org", "bo@example.org"]
    assert list(rows[0]) == ["email", "name", "role", "teams", "active", "locked_until",
                             "last_sign_in", "must_change_password"]
    assert rows[0]["last_sign_in"] is not None and rows[1]["last_sign_in"] is None
    table = run(db_path, "list", "--format", "csv").output
    assert list(csv.DictReader(io.StringIO(table)))[1]["role"] == "analyst"
    lines = run(db_path, "list", "--format", "table").output.splitlines()
    assert lines[0].split() == ["email", "name", "role", "teams", "active", "locked_until",
                                "last_sign_in", "must_change_password"]
    assert lines[2].split()[:4] == ["bo@example.org", "Bo", "Berg", "analyst"]


def test_list_on_an_empty_store_is_empty(db_path):
    assert json.loads(run(db_path, "list").output) == []
    assert run(db_path, "list", "--format", "table").output.split() == [
        "email", "name", "role", "teams", "active", "locked_until", "last_sign_in",
        "must_change_password"]


def test_list_shows_a_running_lock_only(db_path, monkeypatch):
    add(db_path, "ana@example.org", "viewer", "--name", "Ana Lima")
    db = store.connect(db_path)
    for _ in range(accounts.MAX_FAILED_ATTEMPTS):
        with pytest.raises(accounts.AuthError):
            accounts.sign_in(db, "ana@example.org", "not the password")
    db.close()
    assert listed(db_path)["ana@example.org"]["locked_until"] is not None
    later = store.utcnow() + timedelta(hours=1)
    monkeypatch.setattr("analysis.auth.users.utcnow", lambda: later)
    assert listed(db_path)["ana@example.org"]["locked_until"] is None


# ------------------------------------------------------------------ role


def test_role_changes_the_role_and_the_last_admin_cannot_be_demoted(db_path):
    add(db_path, "ana@example.org", "admin", "--name", "Ana Lima")
    line = refused(run(db_path, "role", "--email", "ana@example.org", "--role", "viewer"),
                   "app role")
    assert "last admin" in line
    assert listed(db_path)["ana@example.org"]["role"] == "admin"
    add(db_path, "bo@example.org", "analyst", "--name", "Bo Berg")
    result = run(db_path, "role", "--email", "bo@example.org", "--role", "admin")
    assert result.exit_code == 0 and result.output == "bo@example.org is now admin\n"
    assert run(db_path, "role", "--email", "ana@example.org", "--role", "viewer").exit_code == 0
    assert listed(db_path)["ana@example.org"]["role"] == "viewer"


def test_an_inactive_admin_does_not_count_as_another_admin(db_path):
    add(db_path, "ana@example.org", "admin", "--name", "Ana Lima")
    add(db_path, "bo@example.org", "admin", "--name", "Bo Berg")
    assert run(db_path, "deactivate", "--email", "bo@example.org").exit_code == 0
    refused(run(db_path, "role", "--email", "ana@example.org", "--role", "analyst"),
            "app role: this is the last admin")


@pytest.mark.parametrize("args, field", [
    (["--email", "nobody@example.org", "--role", "viewer"], "email: there is no account"),
    (["--email", "ana@example.org", "--role", "root"], "app role: must be one of admin"),
])
def test_role_refuses_bad_input_naming_the_field(db_path, args, field):
    add(db_path, "ana@example.org", "viewer", "--name", "Ana Lima")
    refused(run(db_path, "role", *args), field)
    assert listed(db_path)["ana@example.org"]["role"] == "viewer"


# ------------------------------------------------------------------ reset


def test_reset_prints_a_new_one_time_password_and_ends_the_sessions(db_path):
    add(db_path, "ana@example.org", "analyst", "--name", "Ana Lima")
    sign_in(db_path, "ana@example.org", GOOD)
    assert sessions_open(db_path, "ana@example.org") == 1
    result = run(db_path, "reset", "--email", "ana@example.org")
    assert result.exit_code == 0, result.output
    one_time = one_time_from(result.output)
    assert result.output.count(one_time) == 1 and "sessions ended" in result.output
    assert sessions_open(db_path, "ana@example.org") == 0
    with pytest.raises(accounts.AuthError):
        sign_in(db_path, "ana@example.org", GOOD)
    assert sign_in(db_path, "ana@example.org", one_time).must_change_password
    refused(run(db_path, "reset", "--email", "nobody@example.org"), "email: there is no account")


# ------------------------------------------------------------------ deactivate


def test_deactivate_ends_the_sessions_and_stops_sign_in_until_reactivated(db_path):
    add(db_path, "ana@example.org", "admin", "--name", "Ana Lima")
    add(db_path, "bo@example.org", "manager", "--name", "Bo Berg")
    sign_in(db_path, "bo@example.org", GOOD)
    result = run(db_path, "deactivate", "--email", "bo@example.org")
    assert result.output == "deactivated bo@example.org (sessions ended)\n"
    assert sessions_open(db_path, "bo@example.org") == 0
    with pytest.raises(accounts.AuthError, match=accounts.SIGN_IN_REFUSED):
        sign_in(db_path, "bo@example.org", GOOD)
    assert listed(db_path)["bo@example.org"]["active"] is False
    again = run(db_path, "deactivate", "--email", "bo@example.org")
    assert again.exit_code == 0 and "inactive already" in again.output
    assert run(db_path, "reactivate", "--email", "bo@example.org").exit_code == 0
    assert sign_in(db_path, "bo@example.org", GOOD).app_role == "manager"


def test_the_last_active_admin_cannot_be_deactivated(db_path):
    add(db_path, "ana@example.org", "admin", "--name", "Ana Lima")
    line = refused(run(db_path, "deactivate", "--email", "ana@example.org"), "active")
    assert "last active admin" in line
    assert listed(db_path)["ana@example.org"]["active"] is True
    refused(run(db_path, "deactivate", "--email", "nobody@example.org"),
            "email: there is no account")


def test_a_read_only_store_refuses_every_change_in_one_line(db_path):
    add(db_path, "ana@example.org", "admin", "--name", "Ana Lima")
    db = store.connect(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with no_write_permission(db_path.parent, db_path):
        for args in (["add", "--email", "bo@example.org", "--role", "viewer", "--name", "Bo"],
                     ["role", "--email", "ana@example.org", "--role", "viewer"],
                     ["reset", "--email", "ana@example.org"],
                     ["deactivate", "--email", "ana@example.org"]):
            result = run(db_path, *args)
            assert result.exit_code == 1, (args, result.output)
            assert result.output.startswith("error: ") and result.output.count("\n") == 1
        assert run(db_path, "list").exit_code == 0

"""Accounts, passwords, sign-in and sessions.

An account belongs to a person of the case queue (`people.id`) and carries their app role
(see `analysis.auth.permissions`). The rules, as module constants (deliberately not
settings: a deployment must not be able to weaken them by accident):

Passwords: hashed with argon2 (`argon2.PasswordHasher()`, Argon2id at the library's
defaults); the password itself is never stored or logged. A password must have at least
`MIN_PASSWORD_LENGTH` (12) characters and at most `MAX_PASSWORD_LENGTH`, at least 5
different characters, must not be on a short built-in list of common passwords (a common
word plus digits or symbols, a run of digits, a keyboard row) and must not contain the
person's email name. A hash made with older parameters is rehashed at the next sign-in.
An account made without a password gets a one-time password (returned once, never
stored in clear) and must change it at the first sign-in (`Session.must_change_password`).

Throttling: every wrong password adds one to `failed_attempts`; a successful sign-in sets
it back to 0. When it reaches a multiple of `MAX_FAILED_ATTEMPTS` (5, 10, 15 ...) the
account is locked: 15 minutes the first time, doubling with every further lock without a
successful sign-in in between (30 min, 1 h, 2 h ...), at most 24 hours. While locked every
attempt is refused (the right password too) without counting. An unknown email (or an
inactive person, or an account without a password) runs a hash check against a dummy hash
like a real attempt and gets the very same message as a wrong password.

Sessions: a random token (`secrets.token_urlsafe(32)`) that only the browser holds; the
store keeps its SHA-256. A session ends after `IDLE_TIMEOUT` (8 hours) without use or
`ABSOLUTE_TIMEOUT` (7 days) after sign-in, whichever comes first, at sign-out, and when the
password changes.

Every attempt, sign-out and expiry is a `sign_in_events` row. The functions here write in
their own `store.write_transaction` (a refused sign-in must still record its failure), so
call them outside a transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from analysis.auth.permissions import ROLES
from analysis.store import write_transaction
from analysis.store.clock import from_iso, to_iso, utcnow

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_FAILED_ATTEMPTS = 5
FIRST_LOCK = timedelta(minutes=15)
MAX_LOCK = timedelta(hours=24)
IDLE_TIMEOUT = timedelta(hours=8)
ABSOLUTE_TIMEOUT = timedelta(days=7)

SIGN_IN_REFUSED = "The email or the password is wrong."
"""The one message for an unknown email and a wrong password, so neither reveals the other."""

_hasher = PasswordHasher()
_dummy_hash: str | None = None

_COMMON_WORDS = frozenset((
    "password", "passw0rd", "p@ssw0rd", "p@ssword", "qwerty", "qwertz", "azerty", "letmein",
    "welcome", "admin", "administrator", "changeme", "iloveyou", "closeloop", "secret",
    "trustno1", "monkey", "dragon", "football", "baseball", "sunshine", "princess", "master",
    "login", "hello", "test", "guest", "default", "summer", "winter", "spring", "autumn",
    "abc", "abcdef", "abcdefg", "qwertyuiop", "asdfghjkl", "zxcvbnm", "qazwsx", "1q2w3e4r",
    "password1", "customer", "feedback",
))
_KEYBOARD_RUNS = ("1234567890", "0987654321", "qwertyuiop", "asdfghjkl", "zxcvbnm",
                  "abcdefghijklmnopqrstuvwxyz")


class AuthError(Exception):
    """A refused sign-in. `reason` is the recorded outcome ('wrong password', 'unknown
    user', 'locked'); `locked_until` is set when the account is locked."""

    def __init__(self, message: str, *, reason: str, locked_until: datetime | None = None):
        super().__init__(message)
        self.reason = reason
        self.locked_until = locked_until


class AccountError(ValueError):
    """An account or password that cannot be saved; the message names the field."""


@dataclass(frozen=True)
class Session:
    token: str
    """The session token: give it to the browser; the store only has its SHA-256."""
    person_id: int
    name: str
    email: str
    app_role: str
    team_ids: frozenset[int]
    """The person's team, and the teams they lead or manage (for `permissions.can`)."""
    must_change_password: bool
    created_at: datetime
    last_seen_at: datetime

    @property
    def expires_at(self) -> datetime:
        """When the session ends unless used again (idle) or at the latest (absolute)."""
        return min(self.last_seen_at + IDLE_TIMEOUT, self.created_at + ABSOLUTE_TIMEOUT)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ passwords


def password_problem(password, *, email: str = "", name: str = "") -> str | None:
    """Why `password` may not be used (a message naming the field), or None."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"password: must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password: must have at most {MAX_PASSWORD_LENGTH} characters"
    lowered = password.lower()
    if len(set(lowered)) < 5:
        return "password: too simple (it needs at least 5 different characters)"
    core = re.sub(r"[\d\W_]+$", "", re.sub(r"^[\d\W_]+", "", lowered))
    if (core in _COMMON_WORDS or lowered in _COMMON_WORDS or lowered.isdigit()
            or any(lowered in run for run in _KEYBOARD_RUNS)
            or re.fullmatch(r"(.{1,6})\1+", lowered)):
        return "password: too common (pick a passphrase of several unrelated words)"
    email = (email or "").strip().lower()
    local = email.split("@")[0]
    if (email and email in lowered) or (len(local) >= 4 and local in lowered):
        return "password: must not contain your email address"
    if len((name or "").strip()) >= 4 and name.strip().lower() in lowered:
        return "password: must not contain your name"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    """Check a password against a stored hash; a missing or broken hash checks against a
    dummy one, so the time taken does not tell whether there was one."""
    global _dummy_hash
    if stored is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        stored = _dummy_hash
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _one_time_password() -> str:
    return secrets.token_urlsafe(15)    # 20 characters, 120 bits


# ------------------------------------------------------------------ accounts


def _person(db, person_id: int) -> dict | None:
    row = db.execute("SELECT id, name, email, active FROM people WHERE id = ?",
                     [person_id]).fetchone()
    return None if row is None else {"id": row[0], "name": row[1], "email": row[2],
                                     "active": bool(row[3])}


def _check_role(app_role) -> None:
    if app_role not in ROLES:
        raise AccountError(f"app role: must be one of {', '.join(ROLES)}, got "
                           f"{str(app_role)[:30]!r}")


def create_account(db: sqlite_utils.Database, person_id: int, *, app_role: str,
                   password: str | None = None, actor: str,
                   now: datetime | None = None) -> str | None:
    """Give a person an account. Without a password a one-time password is made, returned
    (show it once: it is not kept) and must be changed at the first sign-in."""
    _check_role(app_role)
    person = _person(db, person_id)
    if person is None:
        raise AccountError(f"person: there is no person {person_id}")
    one_time = None
    if password is None:
        password = one_time = _one_time_password()
    else:
        problem = password_problem(password, email=person["email"], name=person["name"])
        if problem:
            raise AccountError(problem)
    hashed = hash_password(password)
    stamp = to_iso(now or utcnow())
    with write_transaction(db):
        if db.execute("SELECT 1 FROM accounts WHERE person_id = ?", [person_id]).fetchone():
            raise AccountError(f"person: {person['email']} already has an account")
        db.execute("INSERT INTO accounts (person_id, app_role, password_hash, "
                   "must_change_password, created_at, created_by, updated_at, updated_by) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [person_id, app_role, hashed, int(one_time is not None), stamp, actor,
                    stamp, actor])
    return one_time


def _account(db, person_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM accounts WHERE person_id = ?", [person_id]))
    return rows[0] if rows else None


def set_password(db: sqlite_utils.Database, person_id: int, password: str, *, actor: str,
                 now: datetime | None = None, keep_token: str | None = None) -> None:
    """Set a person's own new password: clears must_change_password and the lock, and ends
    every session of theirs except `keep_token` (the one that changed it)."""
    person = _person(db, person_id)
    if person is None or _account(db, person_id) is None:
        raise AccountError(f"account: person {person_id} has no account")
    problem = password_problem(password, email=person["email"], name=person["name"])
    if problem:
        raise AccountError(problem)
    _store_password(db, person_id, hash_password(password), must_change=False, actor=actor,
                    now=now or utcnow(), keep_token=keep_token)


def reset_password(db: sqlite_utils.Database, person_id: int, *, actor: str,
                   now: datetime | None = None) -> str:
    """An admin's reset: a new one-time password (returned once), to be changed at the next
    sign-in; the lock is lifted and every session of the person ends."""
    if _account(db, person_id) is None:
        raise AccountError(f"account: person {person_id} has no account")
    one_time = _one_time_password()
    _store_password(db, person_id, hash_password(one_time), must_change=True, actor=actor,
                    now=now or utcnow(), keep_token=None)
    return one_time


def _store_password(db, person_id: int, hashed: str, *, must_change: bool, actor: str,
                    now: datetime, keep_token: str | None) -> None:
    stamp = to_iso(now)
    with write_transaction(db):
        db.execute("UPDATE accounts SET password_hash = ?, must_change_password = ?, "
                   "failed_attempts = 0, locked_until = NULL, updated_at = ?, updated_by = ? "
                   "WHERE person_id = ?", [hashed, int(must_change), stamp, actor, person_id])
        db.execute("UPDATE sessions SET ended_at = ? WHERE person_id = ? AND ended_at IS NULL "
                   "AND token_hash IS NOT ?",
                   [stamp, person_id, token_hash(keep_token) if keep_token else None])


def _other_active_admins(db: sqlite_utils.Database, person_id: int) -> int:
    """How many admins besides `person_id` can still sign in (active people). An inactive
    admin does not count: a store whose only admins are inactive has nobody to manage it."""
    return db.execute("SELECT COUNT(*) FROM accounts a JOIN people p ON p.id = a.person_id "
                      "WHERE a.app_role = 'admin' AND p.active = 1 AND a.person_id != ?",
                      [person_id]).fetchone()[0]


def is_last_active_admin(db: sqlite_utils.Database, person_id: int) -> bool:
    """Whether `person_id` is an active admin and no other active admin exists."""
    row = db.execute("SELECT a.app_role = 'admin' AND p.active = 1 FROM accounts a "
                     "JOIN people p ON p.id = a.person_id WHERE a.person_id = ?",
                     [person_id]).fetchone()
    return bool(row and row[0]) and _other_active_admins(db, person_id) == 0


def set_role(db: sqlite_utils.Database, person_id: int, app_role: str, *, actor: str,
             now: datetime | None = None) -> None:
    """Change an account's role; the last active admin cannot be demoted."""
    _check_role(app_role)
    with write_transaction(db):
        account = _account(db, person_id)
        if account is None:
            raise AccountError(f"account: person {person_id} has no account")
        if app_role != "admin" and is_last_active_admin(db, person_id):
            raise AccountError("app role: this is the last admin; make someone else admin "
                               "first")
        db.execute("UPDATE accounts SET app_role = ?, updated_at = ?, updated_by = ? "
                   "WHERE person_id = ?", [app_role, to_iso(now or utcnow()), actor, person_id])


def list_accounts(db: sqlite_utils.Database) -> list[dict]:
    """Every account with its person (never the hash)."""
    return list(db.query(
        """SELECT a.person_id, p.name, p.email, p.active, a.app_role, a.must_change_password,
                  a.failed_attempts, a.locked_until, a.created_at, a.created_by,
                  a.updated_at, a.updated_by
           FROM accounts a JOIN people p ON p.id = a.person_id ORDER BY p.name"""))


def ensure_first_admin(db: sqlite_utils.Database, *, email: str, name: str,
                       password: str | None = None, now: datetime | None = None,
                       actor: str = "first start") -> str | None:
    """At the first start: when no admin account exists, make `email` one (creating the
    person, capacity 0 so that no case is routed to them, when there is none). Returns the
    one-time password when none was given and a new password was needed, else None; once
    an admin exists it does nothing."""
    from analysis.cases.people import save_person

    if db.execute("SELECT 1 FROM accounts WHERE app_role = 'admin'").fetchone():
        return None
    now = now or utcnow()
    row = db.execute("SELECT id FROM people WHERE email = ?", [(email or "").strip()]).fetchone()
    if row is None:
        if password is not None:
            problem = password_problem(password, email=email, name=name)
            if problem:
                raise AccountError(problem)
        with write_transaction(db):
            person_id = save_person(db, name, email, capacity=0, actor=actor, now=now)
    else:
        person_id = row[0]
    if _account(db, person_id) is None:
        return create_account(db, person_id, app_role="admin", password=password, actor=actor,
                              now=now)
    set_role(db, person_id, "admin", actor=actor, now=now)
    if password is not None:
        set_password(db, person_id, password, actor=actor, now=now)
    return None


# ------------------------------------------------------------------ sign-in and sessions
# Sign-in attempts, sessions and their events are no page's figures: they write with
# changes_figures=False, so signing in (or a wrong password) does not empty every cache.


def record_sign_in_event(db, outcome: str, *, email, person_id, now: datetime) -> None:
    """One sign_in_events row (inside the caller's transaction)."""
    db.execute("INSERT INTO sign_in_events (email, person_id, outcome, at) VALUES (?, ?, ?, ?)",
               [(email or "")[:254], person_id, outcome, to_iso(now)])


def lock_duration(failed_attempts: int) -> timedelta | None:
    """How long the account locks after its `failed_attempts`-th consecutive failure (None:
    it does not lock): 15 min at 5, 30 min at 10, 1 h at 15 ... at most 24 h."""
    if failed_attempts <= 0 or failed_attempts % MAX_FAILED_ATTEMPTS:
        return None
    doublings = failed_attempts // MAX_FAILED_ATTEMPTS - 1
    if doublings >= 7:                  # 15 min x 2^7 is past 24 h already
        return MAX_LOCK
    return min(FIRST_LOCK * 2 ** doublings, MAX_LOCK)


def sign_in(db: sqlite_utils.Database, email: str, password: str, *,
            now: datetime | None = None) -> Session:
    """Check an email and password; a new Session, or AuthError (see the module docstring
    for throttling). The returned token is the only copy."""
    now = now or utcnow()
    email = (email or "").strip()
    password = password if isinstance(password, str) else ""
    rows = list(db.query(
        """SELECT p.id, p.active, a.password_hash, a.failed_attempts, a.locked_until
           FROM people p JOIN accounts a ON a.person_id = p.id WHERE p.email = ?""", [email]))
    account = rows[0] if rows and rows[0]["active"] and rows[0]["password_hash"] else None
    if account is None:
        _verify(None, password)
        with write_transaction(db, changes_figures=False):
            record_sign_in_event(db, "unknown user", email=email,
                                 person_id=rows[0]["id"] if rows else None, now=now)
        raise AuthError(SIGN_IN_REFUSED, reason="unknown user")
    person_id = account["id"]
    locked_until = from_iso(account["locked_until"]) if account["locked_until"] else None
    if locked_until is not None and now < locked_until:
        _verify(None, password)
        with write_transaction(db, changes_figures=False):
            record_sign_in_event(db, "locked", email=email, person_id=person_id, now=now)
        raise AuthError(f"Too many wrong passwords: this account is locked until "
                        f"{to_iso(locked_until)} (UTC).", reason="locked",
                        locked_until=locked_until)
    if not _verify(account["password_hash"], password):
        failed = account["failed_attempts"] + 1
        lock = lock_duration(failed)
        until = now + lock if lock else None
        with write_transaction(db, changes_figures=False):
            db.execute("UPDATE accounts SET failed_attempts = ?, locked_until = COALESCE(?, "
                       "locked_until) WHERE person_id = ?",
                       [failed, to_iso(until) if until else None, person_id])
            record_sign_in_event(db, "wrong password", email=email, person_id=person_id, now=now)
        raise AuthError(SIGN_IN_REFUSED, reason="wrong password", locked_until=until)
    new_hash = (hash_password(password) if _hasher.check_needs_rehash(account["password_hash"])
                else None)
    with write_transaction(db, changes_figures=False):
        db.execute("UPDATE accounts SET failed_attempts = 0, locked_until = NULL, "
                   "password_hash = COALESCE(?, password_hash) WHERE person_id = ?",
                   [new_hash, person_id])
        return open_session(db, person_id, email=email, now=now)


def drop_one_time_password(db: sqlite_utils.Database, person_id: int) -> None:
    """Forget an unused one-time password (the person signs in another way now, through an
    identity provider), so it stays usable by nobody."""
    with write_transaction(db):
        db.execute("UPDATE accounts SET password_hash = NULL, must_change_password = 0 "
                   "WHERE person_id = ? AND must_change_password = 1", [person_id])


def open_session(db: sqlite_utils.Database, person_id: int, *, email: str,
                 now: datetime | None = None) -> Session:
    """A new session for a person whose identity was just proven (a password here, an
    identity provider in `identity`), with its 'signed in' event. The returned token is
    the only copy."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    stamp = to_iso(now)
    with write_transaction(db, changes_figures=False):
        db.execute("INSERT INTO sessions (token_hash, person_id, created_at, last_seen_at, "
                   "expires_at) VALUES (?, ?, ?, ?, ?)",
                   [token_hash(token), person_id, stamp, stamp,
                    to_iso(now + ABSOLUTE_TIMEOUT)])
        record_sign_in_event(db, "signed in", email=email, person_id=person_id, now=now)
    return _session(db, token, person_id, created_at=from_iso(stamp), last_seen_at=from_iso(stamp))


def _session(db, token: str, person_id: int, *, created_at: datetime,
             last_seen_at: datetime) -> Session:
    row = db.execute("SELECT p.name, p.email, p.team_id, a.app_role, a.must_change_password "
                     "FROM people p JOIN accounts a ON a.person_id = p.id WHERE p.id = ?",
                     [person_id]).fetchone()
    teams = {r[0] for r in db.execute("SELECT id FROM teams WHERE lead_id = ? OR manager_id = ?",
                                      [person_id, person_id]).fetchall()}
    if row[2] is not None:
        teams.add(row[2])
    return Session(token=token, person_id=person_id, name=row[0], email=row[1],
                   app_role=row[3], team_ids=frozenset(teams),
                   must_change_password=bool(row[4]), created_at=created_at,
                   last_seen_at=last_seen_at)


def session_for(db: sqlite_utils.Database, token: str | None, *,
                now: datetime | None = None) -> Session | None:
    """The live session of a token, its last use moved to `now`; None for an unknown, ended
    or expired token (an expiry ends the session and records 'expired'), and for a person
    made inactive or without an account."""
    if not token:
        return None
    now = now or utcnow()
    digest = token_hash(token)
    rows = list(db.query(
        """SELECT s.person_id, s.created_at, s.last_seen_at, s.expires_at, p.email,
                  p.active AND a.person_id IS NOT NULL AS usable
           FROM sessions s JOIN people p ON p.id = s.person_id
           LEFT JOIN accounts a ON a.person_id = s.person_id
           WHERE s.token_hash = ? AND s.ended_at IS NULL""", [digest]))
    if not rows:
        return None
    row = rows[0]
    created, seen = from_iso(row["created_at"]), from_iso(row["last_seen_at"])
    expired = now >= from_iso(row["expires_at"]) or now >= seen + IDLE_TIMEOUT
    if expired or not row["usable"]:
        with write_transaction(db, changes_figures=False):
            db.execute("UPDATE sessions SET ended_at = ? WHERE token_hash = ?",
                       [to_iso(now), digest])
            record_sign_in_event(db, "expired", email=row["email"],
                                 person_id=row["person_id"], now=now)
        return None
    if to_iso(now) > row["last_seen_at"]:
        # Every page run passes here: the touch must not look like a change of figures
        # (it would empty every cached read).
        with write_transaction(db, changes_figures=False):
            db.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?",
                       [to_iso(now), digest])
        seen = from_iso(to_iso(now))
    return _session(db, token, row["person_id"], created_at=created, last_seen_at=seen)


def sign_out(db: sqlite_utils.Database, token: str | None, *,
             now: datetime | None = None) -> None:
    """End a session (nothing happens for an unknown or already ended token)."""
    if not token:
        return
    now = now or utcnow()
    digest = token_hash(token)
    with write_transaction(db, changes_figures=False):
        row = db.execute("SELECT s.person_id, p.email FROM sessions s JOIN people p "
                         "ON p.id = s.person_id WHERE s.token_hash = ? AND s.ended_at IS NULL",
                         [digest]).fetchone()
        if row is None:
            return
        db.execute("UPDATE sessions SET ended_at = ? WHERE token_hash = ?", [to_iso(now), digest])
        record_sign_in_event(db, "signed out", email=row[1], person_id=row[0], now=now)

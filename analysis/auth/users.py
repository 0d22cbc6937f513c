"""Managing accounts by email: what `python -m analysis users` and the Users page do.

An account belongs to a person of the case queue (see `accounts`); here an admin names it
by the person's email. `add_user` makes the person when there is none (capacity 0, so that
giving someone an account never routes cases to them; Case settings sets a capacity), and
gives them an account with a one-time password unless a password is given.

The last active admin is protected: it can be neither demoted nor deactivated, so a store
always keeps someone who can manage it. Deactivating a person ends their sessions and
stops both their sign-in and the case queue's automatic assignment (it is the case queue's
own `people.active`); reactivating undoes it.

An unmasked export (`export_unmasked`) needs an admin's email and password, checked like a
sign-in (a wrong password counts toward the lockout and is recorded), and is recorded in
the record-view audit (`UNMASKED_EXPORT_KEY`): who, when, how many rows, which file.

Each write runs in one `store.write_transaction` (joining the caller's, if any) and takes
`actor` and `now`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlite_utils

from analysis.auth.accounts import (
    AccountError,
    create_account,
    is_last_active_admin,
    reset_password,
    set_role,
    sign_in,
    sign_out,
)
from analysis.auth.permissions import require
from analysis.store import write_transaction
from analysis.store.clock import to_iso, utcnow

ACCOUNT_FIELDS = ["email", "name", "role", "teams", "active", "locked_until", "last_sign_in",
                  "must_change_password"]
"""What a listing of accounts shows (never a password hash)."""

EVENT_FIELDS = ["at", "email", "outcome"]

UNMASKED_EXPORT_KEY = "export:unmasked"
"""The record-view audit's key for unmasked exports: not one customer's record but every
customer's comments, so they are kept under this one key (`unmasked_exports` reads them)."""


# ------------------------------------------------------------------ finding people


def _clean_email(email) -> str:
    text = (email or "").strip() if isinstance(email, str) else ""
    if not text:
        raise AccountError("email: required")
    return text


def _person_by_email(db, email: str) -> dict | None:
    # people.email is COLLATE NOCASE: Ana@Example.org finds ana@example.org.
    rows = list(db.query("SELECT p.id, p.name, p.email, p.team_id, p.role, p.capacity, "
                         "p.active, a.app_role FROM people p LEFT JOIN accounts a "
                         "ON a.person_id = p.id WHERE p.email = ?", [email]))
    return rows[0] if rows else None


def account_for(db: sqlite_utils.Database, email: str) -> dict:
    """The person and account of `email` ({id, name, email, active, app_role, ...});
    AccountError naming the email when there is no such account."""
    email = _clean_email(email)
    person = _person_by_email(db, email)
    if person is None or person["app_role"] is None:
        raise AccountError(f"email: there is no account for {email[:80]!r}")
    return person


def _team_id(db, team) -> int | None:
    """The id of the team named `team` (any case); AccountError listing the teams if none."""
    text = (str(team) if team is not None else "").strip()
    if not text:
        return None
    row = db.execute("SELECT id FROM teams WHERE name = ? COLLATE NOCASE", [text]).fetchone()
    if row is None:
        names = [r[0] for r in db.execute("SELECT name FROM teams ORDER BY name")]
        known = f" (teams: {', '.join(names)})" if names else " (there are no teams yet)"
        raise AccountError(f"team: there is no team {text[:80]!r}{known}")
    return row[0]


# ------------------------------------------------------------------ writes


def add_user(db: sqlite_utils.Database, email: str, *, app_role: str, name: str | None = None,
             team=None, password: str | None = None, actor: str,
             now: datetime | None = None) -> str | None:
    """Give the person with `email` an account with `app_role`, making the person first when
    there is none (then `name` is needed). `name` and `team` (a team's name) given for an
    existing person update them. Returns the one-time password (show it once: it is not
    kept), or None when `password` was given."""
    from analysis.cases.people import PeopleError, save_person

    email = _clean_email(email)
    name = (name or "").strip() or None
    now = now or utcnow()
    try:
        with write_transaction(db):
            person = _person_by_email(db, email)
            if person is not None and person["app_role"] is not None:
                raise AccountError(f"email: {person['email']!r} already has an account "
                                   f"({person['app_role']}); change its role instead")
            team_id = _team_id(db, team)
            if person is None:
                if name is None:
                    raise AccountError(f"name: {email[:80]!r} is nobody in the case queue "
                                       f"yet; give their name to add them")
                person_id = save_person(db, name, email, team_id=team_id, capacity=0,
                                        actor=actor, now=now)
            else:
                person_id = person["id"]
                if name is not None or team_id is not None:
                    save_person(db, name or person["name"], person["email"],
                                team_id=team_id if team_id is not None else person["team_id"],
                                role=person["role"], capacity=person["capacity"],
                                active=bool(person["active"]), person_id=person_id,
                                actor=actor, now=now)
            return create_account(db, person_id, app_role=app_role, password=password,
                                  actor=actor, now=now)
    except PeopleError as exc:  # the same kind of refusal, so callers catch one error
        raise AccountError(str(exc)) from None


def change_role(db: sqlite_utils.Database, email: str, app_role: str, *, actor: str,
                now: datetime | None = None) -> None:
    """Give the account of `email` another role (the last active admin keeps theirs)."""
    set_role(db, account_for(db, email)["id"], app_role, actor=actor, now=now or utcnow())


def reset_user_password(db: sqlite_utils.Database, email: str, *, actor: str,
                        now: datetime | None = None) -> str:
    """A new one-time password for `email` (returned once), to be changed at the next
    sign-in; every session of theirs ends and their lock is lifted."""
    return reset_password(db, account_for(db, email)["id"], actor=actor, now=now or utcnow())


def set_active(db: sqlite_utils.Database, email: str, active: bool, *, actor: str,
               now: datetime | None = None) -> bool:
    """Deactivate (every session ends; no sign-in, no case assigned) or reactivate the
    person of `email`. Refuses to deactivate the last active admin. Returns whether it
    changed anything."""
    stamp = to_iso(now or utcnow())
    with write_transaction(db):
        person = account_for(db, email)
        if bool(person["active"]) == bool(active):
            return False
        if not active and is_last_active_admin(db, person["id"]):
            raise AccountError(f"active: {person['email']!r} is the last active admin; make "
                               f"someone else admin first")
        db.execute("UPDATE people SET active = ?, updated_at = ?, updated_by = ? WHERE id = ?",
                   [int(bool(active)), stamp, actor, person["id"]])
        if not active:
            db.execute("UPDATE sessions SET ended_at = ? WHERE person_id = ? "
                       "AND ended_at IS NULL", [stamp, person["id"]])
    return True


# ------------------------------------------------------------------ reads


def user_rows(db: sqlite_utils.Database, *, now: datetime | None = None) -> list[dict]:
    """Every account, by name: ACCOUNT_FIELDS plus person_id. `teams`: the person's team and
    the teams they lead or manage; `locked_until`: only a lock still running at `now`;
    `last_sign_in`: the last successful sign-in (None: never)."""
    stamp = to_iso(now or utcnow())
    rows = db.query(
        """SELECT p.id AS person_id, p.email, p.name, a.app_role AS role, p.active,
                  CASE WHEN a.locked_until > ? THEN a.locked_until END AS locked_until,
                  (SELECT MAX(e.at) FROM sign_in_events e WHERE e.person_id = p.id
                   AND e.outcome = 'signed in') AS last_sign_in,
                  a.must_change_password,
                  (SELECT group_concat(name, '; ') FROM (
                       SELECT t.name FROM teams t WHERE t.id = p.team_id OR t.lead_id = p.id
                       OR t.manager_id = p.id ORDER BY t.name)) AS teams
           FROM accounts a JOIN people p ON p.id = a.person_id
           ORDER BY p.name COLLATE NOCASE, p.email""", [stamp])
    return [{**row, "active": bool(row["active"]),
             "must_change_password": bool(row["must_change_password"]),
             "teams": row["teams"] or ""} for row in rows]


def recent_sign_in_events(db: sqlite_utils.Database, *, limit: int = 50) -> list[dict]:
    """The last `limit` sign-in events, newest first: at, email (as typed), outcome."""
    return list(db.query("SELECT at, email, outcome FROM sign_in_events "
                         "ORDER BY at DESC, id DESC LIMIT ?", [limit]))


# ------------------------------------------------------------------ unmasked export


def verify_admin(db: sqlite_utils.Database, email: str, password: str, *,
                 now: datetime | None = None) -> str:
    """Check that `email` and `password` belong to an active admin, as a sign-in does (a
    wrong password counts toward the lockout; the attempt is a sign-in event, and the
    session it opens is closed at once). Returns the admin's email as stored. Raises
    AuthError (wrong, unknown, locked), AccountError (a one-time password not yet changed)
    or PermissionDenied (not an admin)."""
    now = now or utcnow()
    session = sign_in(db, email, password, now=now)
    sign_out(db, session.token, now=now)
    if session.must_change_password:
        raise AccountError(f"password: {session.email!r} still has a one-time password; sign "
                           f"in to the app and choose a password first")
    require(session.app_role, "export unmasked")
    return session.email


def export_unmasked(db: sqlite_utils.Database, out_path, *, email: str, password: str,
                    now: datetime | None = None) -> int:
    """Export every feedback with its comment as stored (personal data included) to
    `out_path`, for an admin only (`verify_admin`; a refusal writes nothing). The export is
    recorded in the record-view audit; when that record cannot be written, the file is
    removed again: no unmasked export without its audit row. Returns the rows written."""
    from analysis.privacy.forget import record_view
    from analysis.reports.export import export_feedback

    now = now or utcnow()
    admin = verify_admin(db, email, password, now=now)
    out_path = Path(out_path)
    # Exported outside the write transaction: holding the write lock for the whole export
    # would keep the worker's sweep waiting.
    count = export_feedback(db, out_path, masked=False)
    try:
        with write_transaction(db):
            record_view(db, UNMASKED_EXPORT_KEY, actor=admin, now=now,
                        what=f"unmasked export: {count} feedback rows to {str(out_path)[:200]}")
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return count


def unmasked_exports(db: sqlite_utils.Database) -> list[dict]:
    """Every unmasked export recorded, oldest first: {actor, at, what}."""
    from analysis.privacy.forget import views_of

    return views_of(db, UNMASKED_EXPORT_KEY)

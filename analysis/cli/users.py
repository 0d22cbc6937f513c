"""`python -m analysis` commands. Accounts for signing in: add, list, role, reset, deactivate,
reactivate."""

from __future__ import annotations

import click

from analysis.cli.common import (
    actor_option,
    cli,
    db_option,
    emit,
    fail,
    open_db,
    open_db_for_writing,
)
from analysis.settings import get_settings


@cli.group()
def users():
    """Accounts for signing in (issue 24): add one, list them, change a role, reset a
    password, deactivate or reactivate. A password never goes on the command line: a new
    account gets a one-time password, printed once (or $CLOSELOOP_NEW_PASSWORD)."""


ROLE_METAVAR = "admin|manager|analyst|viewer"


def _account_change(work):
    """Run an account write; its refusal (AccountError, naming the field) is one `error:`
    line and exit code 1."""
    from analysis.auth.accounts import AccountError

    try:
        return work()
    except AccountError as exc:
        fail(click.get_current_context(), str(exc))


@users.command(name="add")
@db_option
@click.option("--email", required=True, help="The person's email (their sign-in name).")
@click.option("--role", "app_role", required=True, metavar=ROLE_METAVAR)
@click.option("--name", default=None,
              help="The person's name: needed when they are not in the case queue yet.")
@click.option("--team", default=None, help="The person's team, by name.")
@actor_option
def users_add(db_path, email, app_role, name, team, actor):
    """Give a person an account, making the person when there is none (capacity 0: no case
    is routed to them until Case settings gives them one). Prints the one-time password,
    once (changed at the first sign-in), unless $CLOSELOOP_NEW_PASSWORD gives the password."""
    import os

    from analysis.auth.users import add_user

    password = os.environ.get("CLOSELOOP_NEW_PASSWORD") or None
    db = open_db_for_writing(db_path)
    one_time = _account_change(lambda: add_user(
        db, email, app_role=app_role, name=name, team=team, password=password,
        actor=actor or get_settings().actor))
    click.echo(f"added {email.strip()} ({app_role})")
    if one_time:
        click.echo(f"one-time password (shown only this once; changed at the first sign-in): "
                   f"{one_time}")
    else:
        click.echo("password: the one in CLOSELOOP_NEW_PASSWORD")


@users.command(name="list")
@db_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "table"]), default="json",
              show_default=True)
def users_list(db_path, fmt):
    """Every account: email, name, role, teams, active, locked until (a lock still running),
    last sign-in, and whether a one-time password still waits to be changed. Never a
    password or its hash."""
    from analysis.auth.users import ACCOUNT_FIELDS, user_rows

    rows = [{k: row[k] for k in ACCOUNT_FIELDS} for row in user_rows(open_db(db_path))]
    if fmt == "table":
        _echo_table(rows, ACCOUNT_FIELDS)
        return
    emit(rows, ACCOUNT_FIELDS, fmt)


def _echo_table(rows: list[dict], fields: list[str], *, width: int = 40) -> None:
    """Rows as aligned plain-text columns for a terminal (each value cut to `width`)."""
    def cell(value) -> str:
        text = "" if value is None else ("yes" if value is True else "no" if value is False
                                         else " ".join(str(value).split()))
        return text if len(text) <= width else text[:width - 1] + "…"

    table = [fields, *[[cell(row.get(f)) for f in fields] for row in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(fields))]
    for line in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


@users.command(name="role")
@db_option
@click.option("--email", required=True)
@click.option("--role", "app_role", required=True, metavar=ROLE_METAVAR)
@actor_option
def users_role(db_path, email, app_role, actor):
    """Change an account's role (the last active admin cannot be demoted)."""
    from analysis.auth.users import change_role

    db = open_db_for_writing(db_path)
    _account_change(lambda: change_role(db, email, app_role,
                                        actor=actor or get_settings().actor))
    click.echo(f"{email.strip()} is now {app_role}")


@users.command(name="reset")
@db_option
@click.option("--email", required=True)
@actor_option
def users_reset(db_path, email, actor):
    """A new one-time password for an account, printed once; every session of theirs
    ends, a lock is lifted, and they choose a new password at the next sign-in."""
    from analysis.auth.users import reset_user_password

    db = open_db_for_writing(db_path)
    one_time = _account_change(lambda: reset_user_password(
        db, email, actor=actor or get_settings().actor))
    click.echo(f"one-time password for {email.strip()} (shown only this once; their sessions "
               f"ended): {one_time}")


@users.command(name="deactivate")
@db_option
@click.option("--email", required=True)
@actor_option
def users_deactivate(db_path, email, actor):
    """Stop an account: its sessions end, it cannot sign in, and the case queue assigns the
    person no more cases. The last active admin cannot be deactivated."""
    from analysis.auth.users import set_active

    db = open_db_for_writing(db_path)
    changed = _account_change(lambda: set_active(db, email, False,
                                                 actor=actor or get_settings().actor))
    click.echo(f"deactivated {email.strip()} (sessions ended)" if changed
               else f"{email.strip()} was inactive already")


@users.command(name="reactivate")
@db_option
@click.option("--email", required=True)
@actor_option
def users_reactivate(db_path, email, actor):
    """Let a deactivated account sign in again (with its old password)."""
    from analysis.auth.users import set_active

    db = open_db_for_writing(db_path)
    changed = _account_change(lambda: set_active(db, email, True,
                                                 actor=actor or get_settings().actor))
    click.echo(f"reactivated {email.strip()}" if changed else f"{email.strip()} was active already")

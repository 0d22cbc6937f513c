"""`python -m analysis` commands. The store and its data: migrate, import, demo, check, export,
forget, views."""

from __future__ import annotations

from pathlib import Path

import click

from analysis import store
from analysis.cli.common import (
    actor_option,
    cli,
    db_option,
    emit,
    fail,
    one_line,
    open_db,
    open_db_for_writing,
    parse_now,
)
from analysis.settings import get_settings


@cli.command()
@db_option
def migrate(db_path):
    """Create or upgrade the database schema."""
    db = open_db_for_writing(db_path, migrate=False)
    applied = store.apply_migrations(db)
    click.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


@cli.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@db_option
@click.option("--map", "mappings", multiple=True, metavar="FIELD=COLUMN",
              help="Use COLUMN of the file for FIELD (repeatable), e.g. --map comment='Consumer complaint narrative'.")
@click.option("--score-type", type=click.Choice(["nps", "csat", "ces", "rating"]), default=None,
              help="Scale of the score column when the file does not say.")
@click.option("--source", default=None, help="Name of the source system (default: derived from the file).")
@actor_option
def import_(file, db_path, mappings, score_type, source, actor):
    """Import a CSV or JSON Lines file of feedback."""
    from analysis import ingest

    mapping = {}
    for item in mappings:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column:
            raise click.BadParameter(f"expected FIELD=COLUMN, got {item!r}", param_hint="--map")
        mapping[field.strip()] = column
    db = open_db_for_writing(db_path)
    result = ingest.import_file(
        db, Path(file), mapping=mapping or None, score_type=score_type, source=source,
        actor=actor or get_settings().actor,
    )
    click.echo(result.summary_line())
    for warning in result.warnings:
        click.echo(f"warning: {one_line(warning)}", err=True)


@cli.command()
@db_option
@click.option("--rows", default=20000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the injected truths (default: demo_truth.json beside the database).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds feedback.")
@click.option("--themes/--no-themes", "with_themes", default=True, show_default=True,
              help="Also score sentiment and fit themes, so every page has content at once.")
@click.option("--pipeline", "pipeline_name", type=click.Choice(["default", "tiny"]),
              default="default", show_default=True,
              help="Theme pipeline: the real offline model, or 'tiny' (hashing vectors, no "
                   "model file, seconds; for trying things out and tests).")
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="End the demo's history at this moment (default: the clock). The same "
                   "--seed and --now give the same rows.")
@actor_option
def demo(db_path, rows, seed, truth_path, if_empty, with_themes, pipeline_name, now_text,
         actor):
    """Write a realistic demo data set with known, injected truths, with its sentiment and
    themes (progress on stderr, one summary line on stdout)."""
    from analysis.demo import first_run
    from analysis.themes import ThemePipeline

    now = parse_now(now_text) if now_text else None
    db = open_db(db_path)
    actor = actor or get_settings().actor
    pipeline = ThemePipeline.tiny() if pipeline_name == "tiny" else ThemePipeline()

    def say(message: str) -> None:
        click.echo(message, err=True)

    # Checked before write access, so that `make run` works on a filled read-only store.
    if if_empty and not store.is_empty(db):
        if with_themes and not store.is_read_only(db) and first_run.unfinished_demo_store(db):
            say("the demo store has no themes yet (an earlier first run stopped): finishing it")
            run = first_run.finish_first_run(db, actor=actor, now=now, pipeline=pipeline,
                                             say=say)
            click.echo(f"demo: finished ({_steps(run)})")
            return
        click.echo("database already holds feedback; demo not generated")
        return
    store.ensure_writable(db)
    path = Path(db_path or get_settings().db_path)
    truth_file = Path(truth_path) if truth_path else path.parent / "demo_truth.json"
    run = first_run.build_first_run_store(
        db, rows=rows, seed=seed, truth_path=truth_file, actor=actor, themes=with_themes,
        pipeline=pipeline, now=now, say=say)
    click.echo(f"demo: {run.rows} feedback rows written, truth in {truth_file} ({_steps(run)})")


def _steps(run) -> str:
    return ", ".join(f"{name} {seconds:.0f} s" for name, seconds in run.seconds.items())


@cli.command()
@db_option
@click.option("--move", is_flag=True,
              help="Move the rows found to the rejects, each with its reason.")
@actor_option
def check(db_path, move, actor):
    """Find stored rows that today's import rules would reject (a date before
    CLOSELOOP_EARLIEST_DATE or more than a day ahead, a date that is no real moment, a score
    between the steps of its scale), e.g. in a store written by an older version."""
    from analysis.domain.dates import plausible_window
    from analysis.ingest import feedback

    db = open_db_for_writing(db_path) if move else open_db(db_path)
    now = store.utcnow()
    window = dict(zip(("earliest", "latest"), plausible_window(now)))
    rows = feedback.implausible_rows(db, **window)
    for row in rows[:20]:
        valid = bool(row.pop("_valid_date"))
        click.echo(f"feedback {row['id']}: "
                   f"{feedback.why_implausible(row, valid_date=valid, **window)}")
    if len(rows) > 20:
        click.echo(f"... and {len(rows) - 20:,} more")
    if not move:
        click.echo(f"{len(rows):,} stored row(s) break today's import rules"
                   + ("; --move puts them in the rejects" if rows else ""))
        return
    with store.write_transaction(db):
        moved = feedback.reject_stored_implausible_rows(
            db, **window, actor=actor or get_settings().actor, now=now,
            reason_suffix=" (found by `python -m analysis check`)")
    click.echo(f"moved {moved:,} stored row(s) to the rejects")


@cli.command()
@db_option
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="CSV file to write.")
@click.option("--unmasked", is_flag=True,
              help="Write comments as stored, personal data included: needs the admin role "
                   "(--as an admin's email, the password from $CLOSELOOP_PASSWORD or asked "
                   "for), and is recorded in the record-view audit.")
@click.option("--as", "as_email", default=None, metavar="EMAIL",
              help="With --unmasked: the email of an active admin account.")
def export(db_path, out_path, unmasked, as_email):
    """Export every feedback with its sentiment and themes as CSV.

    Personal data is left out: no customer id, name or email column, and emails, phone,
    card and IBAN numbers inside comments become [email], [phone], [card], [iban] unless
    --unmasked is given (admins only: the password is checked like a sign-in, so wrong
    ones count toward the account's lockout; a refusal writes no file)."""
    from analysis.reports import export as export_module

    ctx = click.get_current_context()
    if as_email is not None and not unmasked:
        fail(ctx, "--as: only an unmasked export (--unmasked) needs an admin")
    if not unmasked:
        count = export_module.export_feedback(open_db(db_path), Path(out_path), masked=True)
        click.echo(f"exported {count} feedback rows to {out_path}")
        return
    admin = (as_email or "").strip()
    if not admin:
        fail(ctx, "--unmasked needs the admin role: give --as EMAIL of an admin account "
                   "(its password from CLOSELOOP_PASSWORD or the prompt)")
    count = _unmasked_export(ctx, open_db_for_writing(db_path), out_path, admin)
    click.echo(f"exported {count} feedback rows to {out_path} (unmasked, as {admin}; "
               f"recorded in the record-view audit)")


def _unmasked_export(ctx: click.Context, db, out_path: str, email: str) -> int:
    import os

    from analysis.auth.accounts import AccountError, AuthError
    from analysis.auth.permissions import PermissionDenied
    from analysis.auth.users import export_unmasked

    password = os.environ.get("CLOSELOOP_PASSWORD")
    if not password:
        try:
            password = click.prompt(f"Password for {email}", hide_input=True, err=True)
        except click.Abort:
            fail(ctx, "password: none given (set CLOSELOOP_PASSWORD or type it at the prompt)")
    try:
        return export_unmasked(db, Path(out_path), email=email, password=password)
    except (AuthError, AccountError, PermissionDenied) as exc:
        fail(ctx, f"unmasked export refused: {exc}")


@cli.command()
@db_option
@click.option("--customer", "customer_key", default=None, metavar="KEY",
              help="The customer key as stored (id:C-17 or email:jo@example.com; a bare id "
                   "is tried as id:<id>).")
@click.option("--email", default=None, help="The customer's email address (any case).")
@click.option("--keep-comments-anonymised/--drop-comments", "anonymise", default=True,
              show_default=True,
              help="Keep the customer's comments with personal data masked, or remove them.")
@actor_option
def forget(db_path, customer_key, email, anonymise, actor):
    """Erase a customer's personal data (issue 24): their name, email and key on feedback,
    cases, messages to them and contact history; their comments kept anonymised or
    dropped. Records an erasure holding only a SHA-256 of the key. Prints a JSON summary."""
    import json

    from analysis.privacy.forget import ForgetError, forget_customer

    ctx = click.get_current_context()
    if (customer_key is None) == (email is None):
        fail(ctx, "give exactly one of --customer and --email")
    db = open_db_for_writing(db_path)
    try:
        with store.write_transaction(db):
            summary = forget_customer(db, customer_key=customer_key, email=email,
                                      anonymise_comments=anonymise,
                                      actor=actor or get_settings().actor)
    except ForgetError as exc:
        fail(ctx, str(exc))
    click.echo(json.dumps(summary, sort_keys=True))


@cli.command(name="views")
@db_option
@click.option("--customer", "customer_key", default=None, metavar="KEY",
              help="The customer key as stored (id:C-17 or email:jo@example.com).")
@click.option("--email", default=None, help="The customer's email address (any case).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def record_views(db_path, customer_key, email, fmt):
    """Who viewed a customer's record (issue 24's audit): one row per view, oldest first,
    with customer_key, actor, at (UTC) and what was viewed (a case, an outbox list, an
    unmasked export)."""
    from analysis.privacy.forget import ForgetError, record_views_of

    ctx = click.get_current_context()
    if (customer_key is None) == (email is None):
        fail(ctx, "give exactly one of --customer and --email")
    try:
        found = record_views_of(open_db(db_path), customer_key=customer_key, email=email)
    except ForgetError as exc:
        fail(ctx, str(exc))
    emit(found, ["customer_key", "actor", "at", "what"], fmt)

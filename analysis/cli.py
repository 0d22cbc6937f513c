"""`python -m analysis ...`: everything a scheduler or a script needs.

Each command opens the store with `store.connect` and calls the same functions the pages
call. Heavy modules (models) are imported inside the commands that need them, so that
`--help` and quick commands stay fast.

A failure the user can meet and fix (a read-only or full or busy store, a file that is not
a database, an unreadable input, a bad setting) ends the command with one line on stderr,
`error: ...`, and exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from analysis import store
from analysis.ingest.errors import ImportFileError
from analysis.messages import clip, excerpt
from analysis.settings import SettingsError, get_settings, prepare_offline_environment

_DB_PATH_KEY = "closeloop.db_path"


class _Cli(click.Group):
    """The one place where expected failures become `error: <one line>` and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (store.StoreError, ImportFileError) as exc:
            _fail(ctx, str(exc))
        except sqlite3.Error as exc:
            # Writes outside write_transaction (job heartbeats, one-statement updates) and
            # reads meet the same read-only, full or busy store.
            error = store.store_error(exc, ctx.meta.get(_DB_PATH_KEY))
            if error is None:
                raise
            _fail(ctx, str(error))
        except OSError as exc:
            _fail(ctx, _os_error_message(exc))
        except SettingsError as exc:
            _fail(ctx, str(exc))


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"error: {_one_line(message)}", err=True)
    ctx.exit(1)


def _one_line(message: str) -> str:
    # A scheduler's log keeps one line per failure; a library's message may span several.
    return clip(" ".join(message.splitlines()))


def _os_error_message(exc: OSError) -> str:
    if exc.filename is None:
        return str(exc)
    return f"{exc.strerror or exc}: {excerpt(str(exc.filename), 200, noun='path')}"


def _open(db_path: str | None, *, migrate: bool = True):
    """The store, for reading; `store.ensure_writable` before a command writes."""
    click.get_current_context().meta[_DB_PATH_KEY] = db_path or get_settings().db_path
    return store.connect(db_path, migrate=migrate)


def _open_for_writing(db_path: str | None, *, migrate: bool = True):
    db = _open(db_path, migrate=migrate)
    store.ensure_writable(db)
    return db


db_option = click.option(
    # No dir_okay=False: click would print its usage text; store.connect says it in one line.
    "--db", "db_path", type=click.Path(), default=None,
    help="SQLite file (default: $CLOSELOOP_DB or data/closeloop.db).",
)
actor_option = click.option(
    "--actor", default=None, help="Who is acting, recorded with every write (default: $CLOSELOOP_ACTOR or 'system').",
)


@click.group(cls=_Cli)
def cli():
    """Closeloop: turn customer feedback into themes, trends and owned actions."""
    prepare_offline_environment()


@cli.command()
@db_option
def migrate(db_path):
    """Create or upgrade the database schema."""
    db = _open_for_writing(db_path, migrate=False)
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
    db = _open_for_writing(db_path)
    result = ingest.import_file(
        db, Path(file), mapping=mapping or None, score_type=score_type, source=source,
        actor=actor or get_settings().actor,
    )
    click.echo(result.summary_line())
    for warning in result.warnings:
        click.echo(f"warning: {_one_line(warning)}", err=True)


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

    now = _parse_now(now_text) if now_text else None
    db = _open(db_path)
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


EXIT_BUSY = 75
"""Exit code when a theme refresh is already running (EX_TEMPFAIL: try again later), so a
scheduler can tell "busy" from "failed"."""


@cli.command()
@db_option
@click.option("--refit", is_flag=True, help="Fit the theme model again on all comments (explicit; slower).")
@click.option("--skip-sentiment", is_flag=True, help="Only refresh themes.")
@actor_option
def themes(db_path, refit, skip_sentiment, actor):
    """Score sentiment of new comments and assign themes (fit a model on first run).

    Only one theme refresh runs at a time, here or in the app: while another is running
    this command does nothing and exits with code 75."""
    from analysis import themes as themes_module
    from analysis.text import sentiment

    db = _open_for_writing(db_path)
    actor = actor or get_settings().actor
    # Checked first so a busy store costs no sentiment run; the authoritative check is the
    # one refresh_themes makes in the transaction that records the new job (and records a
    # dead job as failed, so a refresh whose process died does not block this one).
    running = themes_module.running_job(db)
    if running is not None:
        _refuse_busy(running)
    if not skip_sentiment:
        summary = sentiment.score_feedback(db, actor=actor)
        accuracy = ("" if summary.cv_accuracy is None else
                    f", classifier cross-validated accuracy {summary.cv_accuracy:.0%}")
        click.echo(f"sentiment: {summary.n_scored} scored, unscored comments by "
                   f"{summary.method}{accuracy}")
    try:
        result = themes_module.refresh_themes(db, refit=refit, actor=actor,
                                              progress=_echo_progress)
    except themes_module.JobAlreadyRunning as exc:
        _refuse_busy(exc.job)
    click.echo(result.message)


def _refuse_busy(job: dict) -> None:
    from analysis.jobs import describe_job

    click.echo(f"error: a theme refresh is already running ({describe_job(job)}); not starting "
               "another. Try again when it has finished.", err=True)
    sys.exit(EXIT_BUSY)


def _echo_progress(fraction: float, message: str) -> None:
    click.echo(f"  {fraction:4.0%} {message}", err=True)


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

    db = _open_for_writing(db_path) if move else _open(db_path)
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
        _fail(ctx, "--as: only an unmasked export (--unmasked) needs an admin")
    if not unmasked:
        count = export_module.export_feedback(_open(db_path), Path(out_path), masked=True)
        click.echo(f"exported {count} feedback rows to {out_path}")
        return
    admin = (as_email or "").strip()
    if not admin:
        _fail(ctx, "--unmasked needs the admin role: give --as EMAIL of an admin account "
                   "(its password from CLOSELOOP_PASSWORD or the prompt)")
    count = _unmasked_export(ctx, _open_for_writing(db_path), out_path, admin)
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
            _fail(ctx, "password: none given (set CLOSELOOP_PASSWORD or type it at the prompt)")
    try:
        return export_unmasked(db, Path(out_path), email=email, password=password)
    except (AuthError, AccountError, PermissionDenied) as exc:
        _fail(ctx, f"unmasked export refused: {exc}")


def _parse_now(value: str | None):
    """--now as an aware UTC datetime (ISO 8601; a naive value is UTC)."""
    from datetime import datetime, timezone

    if value is None:
        return store.utcnow()
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 date and time such as "
                                 f"2026-03-02T09:00:00Z, got {value[:40]!r}",
                                 param_hint="--now") from None
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)


@cli.command()
@db_option
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="Run as if it were this moment (default: the clock).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Replay every period from this date up to --now, in order, as if the "
                   "sweep had run at the end of each (an imported history gets its alerts).")
@actor_option
def sweep(db_path, now_text, since, actor):
    """Detect spikes, update alerts, fire root-cause triggers, open cases for new feedback,
    update SLA states and escalate (one line per step). Idempotent: two sweeps at the same
    --now change nothing."""
    from analysis.sweep import run_sweep

    now = _parse_now(now_text)
    db = _open_for_writing(db_path)
    if since is not None and since.date() > now.date():
        raise click.BadParameter("--since is after --now", param_hint="--since")
    run_sweep(db, now=now, since=since.date() if since else None,
              actor=actor or get_settings().actor, progress=click.echo)


@cli.command()
@db_option
@click.option("--status", type=click.Choice(["open", "closed", "all"]), default="open",
              show_default=True, help="open: episodes still running (acknowledged or not).")
@click.option("--granularity", type=click.Choice(["day", "week"]), default=None,
              help="Only daily or weekly alerts (default: both).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def alerts(db_path, status, granularity, fmt):
    """List spike alerts newest first: a JSON array with one object per alert, or CSV."""
    from analysis.trends.alerts import ALERT_FIELDS, list_alerts

    found = list_alerts(_open(db_path), status=status, granularity=granularity)
    _emit(found, list(ALERT_FIELDS), fmt)


def _emit(rows: list[dict], fields: list[str], fmt: str) -> None:
    """Rows as a JSON array, or CSV (spreadsheet-safe) with `fields` as its columns."""
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2, default=float))
        return
    import pandas as pd

    from analysis.reports.csv_safety import safe_frame

    frame = pd.DataFrame(rows, columns=fields)
    for column in ("n", "rank", "mentions", "theme_id"):  # whole numbers, blank when none
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    frame = safe_frame(frame)
    click.echo(frame.to_csv(index=False, lineterminator="\n"), nl=False)


BENCHMARK_FIELDS = ["group", "n", "estimate", "ci_low", "ci_high", "shrunk", "shrunk_low",
                    "shrunk_high", "network", "diff", "diff_low", "diff_high", "p_value",
                    "q_value", "label", "rank"]
DRIVER_FIELDS = ["theme_id", "theme", "share", "mentions", "points", "ci_low", "ci_high",
                 "p_value", "best_quartile_share", "opportunity", "opportunity_low",
                 "opportunity_high"]


@cli.command()
@db_option
@click.option("--metric", required=True,
              metavar="nps|csat|ces|rating|negative|theme:ID|theme_negative:ID",
              help="theme:ID is a theme's share of commented responses; theme_negative:ID "
                   "the share of its mentions that are negative.")
@click.option("--by", type=click.Choice(["location", "segment", "channel", "touchpoint"]),
              default="location", show_default=True)
@click.option("--from", "start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="First day (UTC) of the responses compared.")
@click.option("--to", "end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day (UTC), inclusive.")
@click.option("--min-n", type=click.IntRange(min=2), default=30, show_default=True,
              help="Groups with fewer responses are not tested or ranked.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def benchmarks(db_path, metric, by, start, end, min_n, fmt):
    """Each location (or segment, channel, touchpoint) against the rest of the network:
    raw and shrunk estimates with intervals, difference, p and BH q, label and rank."""
    from analysis.benchmarks.metrics import MetricError, metric_for
    from analysis.benchmarks.ranking import benchmark
    from analysis.domain.filters import Filters

    db = _open(db_path)
    try:
        parsed = metric_for(db, metric)
    except MetricError as exc:
        raise click.BadParameter(str(exc), param_hint="--metric") from None
    if start and end and start > end:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    filters = Filters(start=start.date() if start else None, end=end.date() if end else None)
    result = benchmark(db, parsed, by=by, filters=filters, min_n=min_n)
    _emit([{k: row.get(k) for k in BENCHMARK_FIELDS} for row in result.rows],
          BENCHMARK_FIELDS, fmt)


@cli.command()
@db_option
@click.option("--metric", type=click.Choice(["nps", "csat", "rating"]), default="nps",
              show_default=True)
@click.option("--location", default=None, help="One location's drivers (default: all).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def drivers(db_path, metric, location, fmt):
    """Score points each theme costs (adjusted for location and segment, robust errors), and
    the opportunity of bringing its share down to the network's best quartile."""
    from analysis.benchmarks.drivers import key_drivers

    result = key_drivers(_open(db_path), metric=metric, location=location)
    _emit([{k: row.get(k) for k in DRIVER_FIELDS} for row in result.rows], DRIVER_FIELDS, fmt)


STATUS_CHOICE = click.Choice(["proposed", "planned", "in progress", "shipped", "abandoned"])
IMPROVEMENT_FIELDS = ["id", "title", "status", "owner", "locations", "target", "theme_ids",
                      "metric", "effective_date", "rollout_end", "impact", "confidence",
                      "effort", "priority", "evidence", "customers", "updated_at",
                      "updated_by"]


@cli.group()
def improvements():
    """Changes made because of feedback: add them, list them (see `impact` for the test)."""


@improvements.command(name="add")
@db_option
@click.option("--title", required=True)
@click.option("--location", "locations", multiple=True, required=True,
              help="A location the change touches (repeat for several).")
@click.option("--theme", "theme_ids", multiple=True, type=int,
              help="Id of a theme the change targets (repeat for several).")
@click.option("--metric", type=click.Choice(["nps", "csat", "ces", "rating", "negative"]),
              default=None, help="The metric the change targets (instead of, or with, themes).")
@click.option("--effective", required=True, metavar="YYYY-MM-DD",
              help="The first day the change is in place (local date).")
@click.option("--rollout-end", default=None, metavar="YYYY-MM-DD",
              help="The last day of a gradual roll-out; the weeks between are left out.")
@click.option("--description", default="")
@click.option("--owner", default=None)
@click.option("--status", type=STATUS_CHOICE, default="shipped",
              show_default=True)
@actor_option
def improvements_add(db_path, title, locations, theme_ids, metric, effective, rollout_end,
                     description, owner, status, actor):
    """Tag a change; prints the new improvement's id."""
    from analysis.improvements.records import (
        Improvement,
        ImprovementError,
        add_improvement,
        parse_date,
    )

    db = _open_for_writing(db_path)
    try:
        improvement = Improvement(
            title=title, locations=tuple(locations), theme_ids=tuple(theme_ids), metric=metric,
            effective_date=parse_date(effective, "effective date"),
            rollout_end=parse_date(rollout_end, "end of roll-out") if rollout_end else None,
            description=description, owner=owner, status=status)
        with store.write_transaction(db):
            improvement_id = add_improvement(db, improvement,
                                             actor=actor or get_settings().actor)
    except ImprovementError as exc:
        _fail(click.get_current_context(), str(exc))
    click.echo(improvement_id)


@improvements.command(name="list")
@db_option
@click.option("--status", type=STATUS_CHOICE, default=None,
              help="Only improvements with this status (default: all).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def improvements_list(db_path, status, fmt):
    """Every improvement, newest effective date first, with its priority and evidence."""
    from analysis.improvements.records import list_improvements

    rows = list_improvements(_open(db_path), status=status)
    if fmt == "csv":
        rows = [{**row, "locations": "; ".join(row["locations"]),
                 "theme_ids": "; ".join(map(str, row["theme_ids"]))} for row in rows]
        _emit(rows, IMPROVEMENT_FIELDS, fmt)
        return
    _emit(rows, IMPROVEMENT_FIELDS, fmt)


WHOM_FIELDS = ["customer_key", "customer_name", "customer_email", "linked_feedback",
               "last_feedback", "location", "message"]


@improvements.command(name="status")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--status", required=True, type=STATUS_CHOICE)
@actor_option
def improvements_status(db_path, improvement_id, status, actor):
    """Move an improvement along (kept in its history); prints 'changed' or 'unchanged'."""
    from analysis.improvements.records import ImprovementError, set_status

    db = _open_for_writing(db_path)
    try:
        with store.write_transaction(db):
            changed = set_status(db, improvement_id, status, actor=actor or get_settings().actor)
    except ImprovementError as exc:
        _fail(click.get_current_context(), str(exc))
    click.echo("changed" if changed else "unchanged")


@improvements.command(name="link")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--theme", "theme_id", type=int, default=None,
              help="Link the feedback of this theme (and its children).")
@click.option("--search", "words", default=None,
              help="Link the feedback whose comment holds these words (full-text search).")
@click.option("--location", "locations", multiple=True,
              help="Only feedback from this location (repeat; default: the improvement's).")
@click.option("--any-sentiment", is_flag=True,
              help="With --theme: every mention, not only the negative ones.")
@actor_option
def improvements_link(db_path, improvement_id, theme_id, words, locations, any_sentiment,
                      actor):
    """Link the feedback that asked for the change; prints how many were newly linked."""
    from analysis.improvements.records import (
        ImprovementError,
        feedback_for_search,
        feedback_for_theme,
        get_improvement,
        link_evidence,
    )

    ctx = click.get_current_context()
    if (theme_id is None) == (words is None):
        _fail(ctx, "give exactly one of --theme ID or --search WORDS")
    db = _open_for_writing(db_path)
    try:
        places = list(locations) or list(get_improvement(db, improvement_id).locations)
        if theme_id is not None:
            if db.execute("SELECT 1 FROM themes WHERE id = ?", [theme_id]).fetchone() is None:
                raise ImprovementError(f"theme: there is no theme {theme_id}")
            ids, via = feedback_for_theme(db, theme_id, places,
                                          negative_only=not any_sentiment), f"theme {theme_id}"
        else:
            ids, via = feedback_for_search(db, words, places), f"search {words.strip()[:60]!r}"
        with store.write_transaction(db):
            added = link_evidence(db, improvement_id, ids, via=via,
                                  actor=actor or get_settings().actor)
    except ImprovementError as exc:
        _fail(ctx, str(exc))
    click.echo(added)


@improvements.command(name="whom")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def improvements_whom(db_path, improvement_id, fmt):
    """Whom to tell: one row per customer whose linked feedback asked for the change, with
    the draft message ("We changed X, based on N requests like yours.")."""
    from analysis.improvements.records import ImprovementError, whom_to_tell

    try:
        rows = whom_to_tell(_open(db_path), improvement_id)
    except ImprovementError as exc:
        _fail(click.get_current_context(), str(exc))
    _emit(rows, WHOM_FIELDS, fmt)


@improvements.command(name="tell")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--template", "template_name", default="Resolved or shipped", show_default=True,
              help="The email template to write with (its `count` is the requests).")
@actor_option
def improvements_tell(db_path, improvement_id, template_name, actor):
    """Tell the customers who asked for a shipped change (through the outbox): prints how
    many messages were queued, held by the contact-frequency rule, and skipped."""
    import json

    from analysis.followup.followups import tell_requesters
    from analysis.followup.templates import TemplateError, find_template
    from analysis.improvements.records import ImprovementError

    ctx = click.get_current_context()
    db = _open_for_writing(db_path)
    template = find_template(db, template_name)
    if template is None:
        _fail(ctx, f"template: there is no template {template_name!r} (see `templates list`)")
    try:
        with store.write_transaction(db):
            found = tell_requesters(db, improvement_id, template.id,
                                    actor=actor or get_settings().actor)
    except (TemplateError, ImprovementError) as exc:
        _fail(ctx, str(exc))
    click.echo(json.dumps(found))


@cli.command()
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--window-weeks", type=click.IntRange(min=2, max=52), default=8,
              show_default=True, help="Complete weeks compared on each side of the change.")
@click.option("--comparison", multiple=True,
              help="A comparison location (repeat; default: every untouched location).")
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="Measure as if it were this moment (default: the clock).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True, help="csv: one row per method.")
def impact(db_path, improvement_id, window_weeks, comparison, now_text, fmt):
    """Did the change work? The headline (randomization inference) with effect, interval
    and p-value, every method's figures, n before and after, the smallest detectable effect
    and the warnings, as one JSON object."""
    import json

    from analysis.improvements.records import ImprovementError
    from analysis.improvements.report import impact_report

    now = _parse_now(now_text)
    db = _open(db_path)
    try:
        report = impact_report(db, improvement_id, window_weeks=window_weeks,
                               comparison=list(comparison) or None, now=now)
    except ImprovementError as exc:
        _fail(click.get_current_context(), str(exc))
    found = report.as_dict()
    if fmt == "csv":
        fields = ["method", "label", "test", "effect", "ci_low", "ci_high", "p_value", "n_pre",
                  "n_post", "assumptions", "note"]
        _emit(found["methods"], fields, fmt)
        return
    click.echo(json.dumps(found, indent=2, default=float))


CASE_CLI_FIELDS = ["id", "type", "route", "title", "customer_key", "theme_id", "theme",
                   "location", "priority", "priority_score", "priority_reasons", "status",
                   "owner", "team", "opened_at", "ack_due", "resolve_due", "followup_due",
                   "sla_status", "sla_state", "escalation_level", "resolution_category",
                   "feedback_ids"]


@cli.command()
@db_option
@click.option("--status", default="open", show_default=True,
              type=click.Choice(["open", "all", "new", "acknowledged", "in progress",
                                 "waiting on customer", "resolved", "followed up", "closed",
                                 "merged"]),
              help="open: not yet resolved; all; or one status.")
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="SLA states as of this moment (default: the clock).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def cases(db_path, status, now_text, fmt):
    """The case queue, what is due first first: one object per case with its route,
    priority and reasons, owner and team, due times and SLA status per stage."""
    import json

    from analysis.cases.records import list_cases

    rows = list_cases(_open(db_path), now=_parse_now(now_text), status=status)
    if fmt == "csv":
        rows = [{**row, "priority_reasons": "; ".join(
                    f"{r['part']} {r['points']:g}: {r['why']}" for r in row["priority_reasons"]),
                 "sla_status": "; ".join(f"{k}: {v}" for k, v in row["sla_status"].items()),
                 "feedback_ids": " ".join(map(str, row["feedback_ids"]))} for row in rows]
        _emit(rows, CASE_CLI_FIELDS, fmt)
        return
    click.echo(json.dumps([{k: row.get(k) for k in CASE_CLI_FIELDS} for row in rows],
                          indent=2, default=str))


@cli.command()
@db_option
@click.option("--every", "every_s", type=click.FloatRange(min=1), default=60.0,
              show_default=True, help="Seconds between sweeps.")
@click.option("--runs", type=click.IntRange(min=1), default=None,
              help="Stop after this many sweeps (default: run until stopped).")
@actor_option
def worker(db_path, every_s, runs, actor):
    """Keep sweeping (see `sweep`) every --every seconds. One worker per store: it holds a
    lease that expires after 3 x --every, so a crashed worker is replaced."""
    import signal

    from analysis.cases.worker import run_worker

    db = _open_for_writing(db_path)

    def stop(signum, frame):
        raise SystemExit(0)   # unwinds through run_worker, which releases the lease

    signal.signal(signal.SIGTERM, stop)
    try:
        run_worker(db, every_s=every_s, actor=actor or get_settings().actor, runs=runs,
                   log=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        pass


@cli.command()
@db_option
@click.option("--status", default=None,
              type=click.Choice(["queued", "sending", "sent", "failed", "dead", "held",
                                 "cancelled"]),
              help="Only messages with this status (default: all).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def outbox(db_path, status, fmt):
    """Messages on their way out, newest first: status, attempts, the next attempt and the
    last error (the worker sends them; see `worker`)."""
    from analysis.followup.outbox import OUTBOX_FIELDS, list_outbox

    rows = [{k: row[k] for k in OUTBOX_FIELDS}
            for row in list_outbox(_open(db_path), status=status, limit=None)]
    _emit(rows, OUTBOX_FIELDS, fmt)


@cli.group()
def templates():
    """Follow-up templates: preview one against a case, list them, add the starter set."""


@templates.command(name="preview")
@db_option
@click.option("--name", default=None, help="A stored template's name.")
@click.option("--text", default=None, help="A template body to try (email unless --channel).")
@click.option("--subject", default="Preview", show_default=True,
              help="With --text: the subject to try.")
@click.option("--channel", type=click.Choice(["email", "sms", "webhook"]), default="email",
              show_default=True, help="With --text: the channel it is written for.")
@click.option("--language", default="en", show_default=True,
              help="With --name: the language variant (falls back to en).")
@click.option("--case", "case_id", type=int, default=None,
              help="Render against this case (default: a sample case).")
def templates_preview(db_path, name, text, subject, channel, language, case_id):
    """Print the message as it would be sent; a refused, invalid or unfilled template is an
    error on standard error with exit code 2."""
    from analysis.followup.templates import (
        Template,
        TemplateError,
        context_for_case,
        find_template,
        render_for_sending,
        sample_context,
    )

    ctx = click.get_current_context()
    if (name is None) == (text is None):
        click.echo("error: give exactly one of --name NAME or --text TEXT", err=True)
        ctx.exit(2)
    db = _open(db_path)
    try:
        if name is not None:
            template = find_template(db, name, language)
            if template is None:
                raise TemplateError(f"name: there is no template {name!r}")
        else:
            template = Template(name="preview", purpose="status update", channel=channel,
                                subject=subject, body=text)
            template.check()
        context = context_for_case(db, case_id) if case_id is not None else sample_context()
        rendering = render_for_sending(template, context)
    except TemplateError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        ctx.exit(2)
    if rendering.subject:
        click.echo(f"Subject: {rendering.subject}\n")
    click.echo(rendering.body)
    if rendering.segments is not None:
        click.echo(f"\n({rendering.characters} characters, {rendering.encoding}, "
                   f"{rendering.segments} SMS segment(s))", err=True)


@templates.command(name="list")
@db_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def templates_list(db_path, fmt):
    """Every template with its purpose, channel, language and version."""
    from analysis.followup.templates import list_templates

    fields = ["id", "name", "purpose", "channel", "language", "theme_id", "version",
              "active", "updated_at", "updated_by", "subject"]
    rows = [{k: getattr(t, k) for k in fields} for t in list_templates(_open(db_path))]
    _emit(rows, fields, fmt)


@templates.command(name="seed")
@db_option
@actor_option
def templates_seed(db_path, actor):
    """Add the starter template of each purpose that is missing; prints how many."""
    from analysis.followup.templates import seed_templates

    db = _open_for_writing(db_path)
    with store.write_transaction(db):
        added = seed_templates(db, actor=actor or get_settings().actor)
    click.echo(len(added))


@cli.command()
@db_option
@click.option("--week", default=None, metavar="YYYY-Www",
              help="The ISO week to report, e.g. 2026-W12 (default: the last complete week "
                   "in CLOSELOOP_TZ).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="File to write (one self-contained HTML file, or Markdown).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html",
              show_default=True)
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="Report as if it were this moment (default: the clock).")
def report(db_path, week, out_path, fmt, now_text):
    """The weekly report: rising and falling themes overall and by location with quotes,
    the week's alerts and root-cause tasks, benchmark movers, improvements with their
    verdicts and the loop-health scorecard, each with its test or interval. Prints the path
    of the file written."""
    from analysis.reports.weekly import WeekError, parse_week, render_html, render_markdown
    from analysis.reports.weekly import weekly_report

    ctx = click.get_current_context()
    if week is not None:
        try:
            parse_week(week)
        except WeekError as exc:
            _fail(ctx, f"--week: {exc}")
    now = _parse_now(now_text)
    found = weekly_report(_open(db_path), week=week, now=now)
    text = render_html(found) if fmt == "html" else render_markdown(found)
    Path(out_path).write_text(text, encoding="utf-8")
    click.echo(out_path)


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
        _fail(ctx, "give exactly one of --customer and --email")
    db = _open_for_writing(db_path)
    try:
        with store.write_transaction(db):
            summary = forget_customer(db, customer_key=customer_key, email=email,
                                      anonymise_comments=anonymise,
                                      actor=actor or get_settings().actor)
    except ForgetError as exc:
        _fail(ctx, str(exc))
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
        _fail(ctx, "give exactly one of --customer and --email")
    try:
        found = record_views_of(_open(db_path), customer_key=customer_key, email=email)
    except ForgetError as exc:
        _fail(ctx, str(exc))
    _emit(found, ["customer_key", "actor", "at", "what"], fmt)


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
        _fail(click.get_current_context(), str(exc))


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
    db = _open_for_writing(db_path)
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

    rows = [{k: row[k] for k in ACCOUNT_FIELDS} for row in user_rows(_open(db_path))]
    if fmt == "table":
        _echo_table(rows, ACCOUNT_FIELDS)
        return
    _emit(rows, ACCOUNT_FIELDS, fmt)


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

    db = _open_for_writing(db_path)
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

    db = _open_for_writing(db_path)
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

    db = _open_for_writing(db_path)
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

    db = _open_for_writing(db_path)
    changed = _account_change(lambda: set_active(db, email, True,
                                                 actor=actor or get_settings().actor))
    click.echo(f"reactivated {email.strip()}" if changed else f"{email.strip()} was active already")

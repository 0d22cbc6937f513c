"""`python -m analysis ...`: everything a scheduler or a script needs.

Each command opens the store with `store.connect` and calls the same functions the pages
call. Heavy modules (models) are imported inside the commands that need them, so that
`--help` and quick commands stay fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from analysis import store
from analysis.settings import get_settings


def _open(db_path: str | None):
    return store.connect(db_path)


db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False), default=None,
    help="SQLite file (default: $CLOSELOOP_DB or data/closeloop.db).",
)
actor_option = click.option(
    "--actor", default=None, help="Who is acting, recorded with every write (default: $CLOSELOOP_ACTOR or 'system').",
)


@click.group()
def cli():
    """Closeloop: turn customer feedback into themes, trends and owned actions."""


@cli.command()
@db_option
def migrate(db_path):
    """Create or upgrade the database schema."""
    db = store.connect(db_path, migrate=False)
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
    db = _open(db_path)
    try:
        result = ingest.import_file(
            db, Path(file), mapping=mapping or None, score_type=score_type, source=source,
            actor=actor or get_settings().actor,
        )
    except ingest.ImportFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(result.summary_line())


@cli.command()
@db_option
@click.option("--rows", default=20000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the injected truths (default: demo_truth.json beside the database).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds feedback.")
@actor_option
def demo(db_path, rows, seed, truth_path, if_empty, actor):
    """Write a realistic demo data set with known, injected truths."""
    from analysis import demo as demo_module

    db = _open(db_path)
    if if_empty and not store.is_empty(db):
        click.echo("database already holds feedback; demo not generated")
        return
    path = Path(db_path or get_settings().db_path)
    truth_file = Path(truth_path) if truth_path else path.parent / "demo_truth.json"
    result = demo_module.generate_demo(db, rows=rows, seed=seed, truth_path=truth_file,
                                       actor=actor or get_settings().actor)
    click.echo(f"demo: {result.rows} feedback rows written, truth in {truth_file}")


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
    from analysis import sentiment, themes as themes_module

    db = _open(db_path)
    actor = actor or get_settings().actor
    # Checked first so a busy store costs no sentiment run; the authoritative check is the
    # one refresh_themes makes in the transaction that records the new job.
    running = themes_module.running_job(db, actor=actor)
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
    from analysis.themes import describe_job

    click.echo(f"error: a theme refresh is already running ({describe_job(job)}); not starting "
               "another. Try again when it has finished.", err=True)
    sys.exit(EXIT_BUSY)


def _echo_progress(fraction: float, message: str) -> None:
    click.echo(f"  {fraction:4.0%} {message}", err=True)


@cli.command()
@db_option
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="CSV file to write.")
def export(db_path, out_path):
    """Export every feedback with its sentiment and themes as CSV."""
    from analysis import export as export_module

    count = export_module.export_feedback(_open(db_path), Path(out_path))
    click.echo(f"exported {count} feedback rows to {out_path}")

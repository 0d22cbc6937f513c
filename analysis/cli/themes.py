"""`python -m analysis` commands. Theme refresh: assign new comments or refit the theme model."""

from __future__ import annotations

import sys

import click

from analysis.cli.common import actor_option, cli, db_option, open_db_for_writing
from analysis.settings import get_settings

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

    db = open_db_for_writing(db_path)
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

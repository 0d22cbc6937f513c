"""`python -m analysis` commands. Sweep and alerts, benchmarks and key drivers, the weekly
report."""

from __future__ import annotations

from pathlib import Path

import click

from analysis.cli.common import (
    actor_option,
    cli,
    db_option,
    emit,
    fail,
    open_db,
    open_db_for_writing,
    parse_now,
)
from analysis.settings import get_settings


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

    now = parse_now(now_text)
    db = open_db_for_writing(db_path)
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

    found = list_alerts(open_db(db_path), status=status, granularity=granularity)
    emit(found, list(ALERT_FIELDS), fmt)


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

    db = open_db(db_path)
    try:
        parsed = metric_for(db, metric)
    except MetricError as exc:
        raise click.BadParameter(str(exc), param_hint="--metric") from None
    if start and end and start > end:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    filters = Filters(start=start.date() if start else None, end=end.date() if end else None)
    result = benchmark(db, parsed, by=by, filters=filters, min_n=min_n)
    emit([{k: row.get(k) for k in BENCHMARK_FIELDS} for row in result.rows],
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

    result = key_drivers(open_db(db_path), metric=metric, location=location)
    emit([{k: row.get(k) for k in DRIVER_FIELDS} for row in result.rows], DRIVER_FIELDS, fmt)


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
    from analysis.reports.weekly import (
        WeekError,
        parse_week,
        render_html,
        render_markdown,
        weekly_report,
    )

    ctx = click.get_current_context()
    if week is not None:
        try:
            parse_week(week)
        except WeekError as exc:
            fail(ctx, f"--week: {exc}")
    now = parse_now(now_text)
    found = weekly_report(open_db(db_path), week=week, now=now)
    text = render_html(found) if fmt == "html" else render_markdown(found)
    Path(out_path).write_text(text, encoding="utf-8")
    click.echo(out_path)

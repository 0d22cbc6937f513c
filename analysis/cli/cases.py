"""`python -m analysis` commands. The case queue from the command line: list cases, run the
worker, the outbox."""

from __future__ import annotations

import click

from analysis.cli.common import (
    actor_option,
    cli,
    db_option,
    emit,
    open_db,
    open_db_for_writing,
    parse_now,
)
from analysis.settings import get_settings

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

    rows = list_cases(open_db(db_path), now=parse_now(now_text), status=status)
    if fmt == "csv":
        rows = [{**row, "priority_reasons": "; ".join(
                    f"{r['part']} {r['points']:g}: {r['why']}" for r in row["priority_reasons"]),
                 "sla_status": "; ".join(f"{k}: {v}" for k, v in row["sla_status"].items()),
                 "feedback_ids": " ".join(map(str, row["feedback_ids"]))} for row in rows]
        emit(rows, CASE_CLI_FIELDS, fmt)
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

    db = open_db_for_writing(db_path)

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
            for row in list_outbox(open_db(db_path), status=status, limit=None)]
    emit(rows, OUTBOX_FIELDS, fmt)

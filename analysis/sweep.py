"""The sweep: what a scheduler runs every few minutes (`python -m analysis sweep`).

One command with steps, in order, each in its own write transaction so that a failing
later step keeps what earlier ones did. A step is a function
`step(db, *, now, since, actor) -> result with .summary()`: spike alerts, root-cause
triggers, the case queue (analysis/cases/sweep.py), then the outbox (which runs its own
transactions: see analysis/followup/delivery.py).

    results = run_sweep(db, now=now, actor="scheduler")
    results["spike alerts"].summary()   # "2 period(s) evaluated, ... 1 alert(s) opened"
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime

import sqlite_utils

from analysis import store
from analysis.store.clock import to_iso, utcnow


def _alerts_step(db, *, now, since, actor):
    from analysis.trends.alerts import sweep_alerts

    return sweep_alerts(db, now=now, since=since, actor=actor)


def _triggers_step(db, *, now, since, actor):
    from analysis.trends.alerts import alert_settings, sweep_level
    from analysis.trends.triggers import sweep_triggers

    return sweep_triggers(db, now=now, since=since, actor=actor,
                          level=sweep_level(db, alert_settings(db)))


def _cases_step(db, *, now, since, actor):
    from analysis.cases.sweep import sweep_cases

    return sweep_cases(db, now=now, since=since, actor=actor)


def _outbox_step(db, *, now, since, actor):
    from analysis.followup.delivery import sweep_outbox

    return sweep_outbox(db, now=now, since=since, actor=actor)


_outbox_step.own_transactions = True   # a message is committed as sending before it leaves

STEPS: list[tuple[str, Callable]] = [
    ("spike alerts", _alerts_step),
    ("root-cause triggers", _triggers_step),
    ("cases", _cases_step),   # after the triggers: their tasks join the queue
    ("outbox", _outbox_step),   # last: sends what the steps before it queued
]


def run_sweep(db: sqlite_utils.Database, *, now: datetime | None = None,
              since: date | None = None, actor: str,
              progress: Callable[[str], None] | None = None) -> dict:
    """Run every step at `now`; with `since`, replay each period from that date as if the
    sweep had run at its end. Idempotent: the same `now` twice changes nothing."""
    now = now or utcnow()
    started = utcnow()
    results = {}
    for name, step in STEPS:
        if getattr(step, "own_transactions", False):
            results[name] = step(db, now=now, since=since, actor=actor)
        else:
            with store.write_transaction(db):
                results[name] = step(db, now=now, since=since, actor=actor)
        if progress:
            progress(f"{name}: {results[name].summary()}")
    with store.write_transaction(db):
        db.execute("INSERT INTO sweep_runs (now, since, summary, actor, started_at, "
                   "finished_at) VALUES (?, ?, ?, ?, ?, ?)",
                   [to_iso(now), since.isoformat() if since else None,
                    json.dumps({name: r.summary() for name, r in results.items()}), actor,
                    to_iso(started), to_iso(utcnow())])
    return results


def last_sweep(db: sqlite_utils.Database) -> dict | None:
    """The latest sweep run (now, since, summary, actor, started_at, finished_at), or None."""
    rows = list(db.query("SELECT * FROM sweep_runs ORDER BY id DESC LIMIT 1"))
    return rows[0] if rows else None

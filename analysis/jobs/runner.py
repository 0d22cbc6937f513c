"""A job is a `jobs` row: 'running', then 'done' or 'failed'; one running job per kind.

    job_id = start_job(db, "sweep", actor="cron", now=now)      # or JobAlreadyRunning
    with run_job(db, job_id, actor="cron", clock=clock_from(now)) as job:
        job(0.5, "halfway")                  # progress and heartbeat; JobInterrupted if dead
        with write_transaction(db):
            job.ensure_live()                # never write results for a job declared dead
            ...
        job.finish("done", "12 cases swept")

Rules that keep the row honest when several processes share the store (app servers, the CLI
from cron):
- One running job per kind: a row is inserted only inside the BEGIN IMMEDIATE transaction
  that found no live running job of its kind, so two starters cannot both pass the check.
- A running job proves it is alive with its heartbeat (see `liveness`). Reading a job never
  writes: `running_job` skips a dead one and `job_status` reports it as 'interrupted'. Only
  `reap_dead_jobs` records a dead job as failed ("interrupted: ..."), never deleting it; the
  starters call it inside their transaction, so a new job can start after a dead one.
- A job that was declared dead while in fact still running (suspended for minutes) notices
  at its next tick, and its final write checks the row inside its own transaction, so it
  never writes results after another job could have started.

Nothing here knows what a job does: its kind is a name, its work is the caller's.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import sqlite_utils

from analysis.jobs.liveness import (
    Clock,
    Heartbeat,
    heartbeat_interval,
    interruption,
    pid_scope,
    stale_after_s,
)
from analysis.messages import clip
from analysis.store import to_iso, utcnow, write_transaction

RUNNING, DONE, FAILED = "running", "done", "failed"
INTERRUPTED = "interrupted"
"""Never stored: how a read reports a 'running' row whose job is dead."""

JOB_COLUMNS = ("id", "kind", "status", "progress", "message", "started_at", "finished_at",
               "actor", "heartbeat_at", "pid", "host", "pid_scope", "finished_by")

ProgressFn = Callable[[float, str], None]


class JobAlreadyRunning(RuntimeError):
    """A live job of the same kind holds the slot; `job` is its status dict. `what` names
    the work for people ("a theme refresh"); default "a <kind> job"."""

    def __init__(self, job: dict, what: str | None = None):
        self.job = job
        super().__init__(f"{what or 'a ' + job['kind'] + ' job'} is already running "
                         f"({describe_job(job)})")


class JobInterrupted(RuntimeError):
    """This job's row was marked failed from elsewhere (it looked dead): stop, write nothing."""


def describe_job(job: dict) -> str:
    """One line for people: "job 12, started 2025-03-01T10:00:00Z by ana on web-1, 40%:
    embedding 400/1,000 new texts"."""
    text = f"job {job['id']}, started {job['started_at']} by {job['actor']}"
    if job.get("host"):
        text += f" on {job['host']}"
    text += f", {float(job.get('progress') or 0):.0%}"
    if job.get("message"):
        text += f": {job['message']}"
    return text


def clock_from(now: datetime | None) -> Clock:
    """A job's clock: `now` (default: the wall clock) when the job starts, then advancing in
    step with real time, so heartbeats move on however the caller fixed the start."""
    if now is None:
        return utcnow
    started = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - started)


# ----------------------------------------------------------------------------------- reads

def _select(db: sqlite_utils.Database, where: str, params: list) -> list[dict]:
    return list(db.query(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE {where} "
                         "ORDER BY id DESC", params))


def _running(db, kind: str | None) -> list[dict]:
    if kind is None:
        return _select(db, "status = 'running'", [])
    return _select(db, "kind = ? AND status = 'running'", [kind])


def running_job(db: sqlite_utils.Database, kind: str, *, now: datetime | None = None,
                stale_after: float | None = None) -> dict | None:
    """The newest live running job of this kind, or None. A dead one (see `liveness`) is
    skipped, not recorded: that is `reap_dead_jobs`' work."""
    now = now or utcnow()
    stale_after = stale_after_s() if stale_after is None else stale_after
    for job in _running(db, kind):
        if interruption(job, now, stale_after) is None:
            return job
    return None


def job_status(db: sqlite_utils.Database, job_id: int, *, now: datetime | None = None,
               stale_after: float | None = None) -> dict | None:
    """{id, kind, status, progress, message, started_at, finished_at, actor, heartbeat_at,
    pid, host, pid_scope, finished_by} or None. A 'running' row whose job is dead reads as
    status 'interrupted' with the reason as its message ("interrupted: no heartbeat since
    ..."), so a page polling it stops instead of spinning forever."""
    jobs = _select(db, "id = ?", [job_id])
    if not jobs:
        return None
    job = jobs[0]
    if job["status"] == RUNNING:
        stale_after = stale_after_s() if stale_after is None else stale_after
        reason = interruption(job, now or utcnow(), stale_after)
        if reason is not None:
            return {**job, "status": INTERRUPTED, "message": reason}
    return job


# ---------------------------------------------------------------------------------- writes

def reap_dead_jobs(db: sqlite_utils.Database, kind: str | None, *, actor: str, now: datetime,
                   stale_after: float | None = None) -> list[dict]:
    """Record every dead running job of `kind` (None: of every kind) as failed, with the
    reason as its message, `now` as finished_at and `actor` as finished_by; return them as
    recorded. Costs no write while nothing is dead; inside a write transaction (as the
    starters call it) it joins it."""
    stale_after = stale_after_s() if stale_after is None else stale_after
    if not any(interruption(job, now, stale_after) for job in _running(db, kind)):
        return []
    reaped = []
    with write_transaction(db):
        for job in _running(db, kind):  # again under the write lock: one may have finished
            reason = interruption(job, now, stale_after)
            if reason is None:
                continue
            db.execute("UPDATE jobs SET status = 'failed', message = ?, finished_at = ?, "
                       "finished_by = ? WHERE id = ? AND status = 'running'",
                       [reason, to_iso(now), actor, job["id"]])
            reaped.append({**job, "status": FAILED, "message": reason,
                           "finished_at": to_iso(now), "finished_by": actor})
    return reaped


def start_job(db: sqlite_utils.Database, kind: str, *, actor: str, now: datetime,
              what: str | None = None) -> int:
    """Insert a running job row of this kind, started and beating at `now`; raise
    JobAlreadyRunning (naming the work as `what`) if a live one holds the slot."""
    with write_transaction(db):
        reap_dead_jobs(db, kind, actor=actor, now=now)
        live = running_job(db, kind, now=now)
        if live is not None:
            raise JobAlreadyRunning(live, what)
        return db.execute(
            "INSERT INTO jobs (kind, status, progress, message, started_at, actor, heartbeat_at, "
            "pid, host, pid_scope) VALUES (?, 'running', 0, 'queued', ?, ?, ?, ?, ?, ?)",
            [kind, to_iso(now), actor, to_iso(now), os.getpid(), socket.gethostname(),
             pid_scope()]).lastrowid


def update_job(db: sqlite_utils.Database, job_id: int, progress: float, message: str, *,
               now: datetime) -> bool:
    """Record progress and a heartbeat at `now`; False if the row is no longer 'running'
    (declared dead from elsewhere)."""
    # One autocommit statement, deliberately not write_transaction: progress ticks must not
    # bump the store revision (every page cache keys on it) nor wait behind a long writer.
    try:
        cursor = db.execute(
            "UPDATE jobs SET progress = ?, message = ?, heartbeat_at = ? "
            "WHERE id = ? AND status = 'running'",
            [float(progress), message, to_iso(now), job_id])
    except Exception:  # a busy store must not fail the work over a progress bar
        return True
    return cursor.rowcount != 0


def ensure_live(db: sqlite_utils.Database, job_id: int, *, now: datetime) -> None:
    """Inside a job's final write transaction: stamp the heartbeat, or raise JobInterrupted
    (rolling the write back) if the row was marked failed meanwhile."""
    cursor = db.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                        [to_iso(now), job_id])
    if cursor.rowcount == 0:
        raise JobInterrupted(_interrupted_message(db, job_id))


def _interrupted_message(db, job_id: int) -> str:
    row = db.execute("SELECT status, message FROM jobs WHERE id = ?", [job_id]).fetchone()
    state = "is gone" if row is None else f"was marked {row[0]!r} ({row[1]})"
    return f"job {job_id} {state} while it ran; its results were not written"


def finish_job(db: sqlite_utils.Database, job_id: int, status: str, message: str, *,
               now: datetime, actor: str | None = None) -> None:
    """End a running job as 'done' (progress 1) or 'failed' at `now`; `actor` (default: the
    job's own) is recorded as finished_by."""
    # Only a running row: a job already recorded as interrupted keeps that record.
    at = to_iso(now)
    db.execute("UPDATE jobs SET status = ?, progress = CASE WHEN ? = 'done' THEN 1 ELSE progress "
               "END, message = ?, finished_at = ?, heartbeat_at = ?, "
               "finished_by = COALESCE(?, actor) WHERE id = ? AND status = 'running'",
               [status, status, message, at, at, actor, job_id])


def failure_message(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted: stopped from the keyboard (Ctrl-C)"
    return clip(f"{type(exc).__name__}: {exc}")  # a job's message is shown on a page


# ------------------------------------------------------------------------- a job at work

class JobRun:
    """A started job seen from inside: call it to report progress (which also beats), check
    `ensure_live` in the final write, `finish` at the end. Raises JobInterrupted at the next
    tick once the row was declared dead from elsewhere."""

    def __init__(self, db, job_id: int, *, actor: str, clock: Clock = utcnow,
                 callback: ProgressFn | None = None, heartbeat: Heartbeat | None = None):
        self.db, self.job_id, self.actor, self.clock = db, job_id, actor, clock
        self.callback, self.heartbeat = callback, heartbeat

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        alive = update_job(self.db, self.job_id, fraction, message, now=self.clock())
        if not alive or (self.heartbeat is not None and self.heartbeat.lost):
            raise JobInterrupted(_interrupted_message(self.db, self.job_id))
        if self.callback:
            self.callback(fraction, message)

    def ensure_live(self) -> None:
        ensure_live(self.db, self.job_id, now=self.clock())

    def finish(self, status: str, message: str) -> None:
        finish_job(self.db, self.job_id, status, message, actor=self.actor, now=self.clock())


@contextlib.contextmanager
def run_job(db: sqlite_utils.Database, job_id: int, *, actor: str, clock: Clock = utcnow,
            progress: ProgressFn | None = None) -> Iterator[JobRun]:
    """The started job `job_id` at work: a heartbeat thread runs for the duration, and any
    exception (Ctrl-C included) ends the job as failed before it propagates."""
    heartbeat = Heartbeat(db, job_id, heartbeat_interval(), clock=clock).start()
    run = JobRun(db, job_id, actor=actor, clock=clock, callback=progress, heartbeat=heartbeat)
    try:
        yield run
    except BaseException as exc:
        finish_job(db, job_id, FAILED, failure_message(exc), actor=actor, now=clock())
        raise
    finally:
        heartbeat.stop()

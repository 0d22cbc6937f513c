"""Jobs run in a background thread of this process, e.g. from a page's button.

    job_id = start_in_background(db_path, "themes", work, actor="ana")
    # work(db, job_id) runs in a daemon thread with its own connection; poll `job_status`

A page cannot hold a connection across reruns, and the thread outlives the click: the job
row says how it goes, for this session and any other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import sqlite_utils

from analysis import store
from analysis.jobs.runner import (
    FAILED,
    JobAlreadyRunning,
    clock_from,
    failure_message,
    finish_job,
    start_job,
)

Work = Callable[[sqlite_utils.Database, int], object]

_threads: dict[int, tuple[str, threading.Thread]] = {}
_threads_lock = threading.Lock()


def start_in_background(db_path, kind: str, work: Work, *, actor: str,
                        now: datetime | None = None, what: str | None = None) -> int:
    """Record a running job of `kind` and run `work(db, job_id)` in a daemon thread with its
    own connection; return the job id at once. If a job of this kind is already running, in
    this process or any other sharing the store, return its id instead of starting another.

    `work` ends the job itself (`run_job`); should it fail before it could, the job is
    recorded as failed here."""
    clock = clock_from(now)
    with _threads_lock:
        for job_id, (running_kind, thread) in _threads.items():
            if running_kind == kind and thread.is_alive():
                return job_id
        db = store.connect(db_path)
        try:
            job_id = start_job(db, kind, actor=actor, now=clock(), what=what)
        except JobAlreadyRunning as exc:
            return exc.job["id"]
        finally:
            db.close()

        def run():
            conn = None
            try:
                conn = store.connect(db_path)
                work(conn, job_id)
            except Exception as exc:
                try:
                    conn = conn or store.connect(db_path)
                    finish_job(conn, job_id, FAILED, failure_message(exc), actor=actor,
                               now=clock())
                except Exception:
                    pass
            finally:
                if conn is not None:
                    conn.close()

        thread = threading.Thread(target=run, name=f"closeloop-{kind}-{job_id}", daemon=True)
        _threads[job_id] = (kind, thread)
        thread.start()
    return job_id


def wait_for_job(job_id: int, timeout: float | None = None) -> bool:
    """Block until a job started in this process ends; True if it has (or was never ours)."""
    entry = _threads.get(job_id)
    if entry is None:
        return True
    entry[1].join(timeout)
    return not entry[1].is_alive()

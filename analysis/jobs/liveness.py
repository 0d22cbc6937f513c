"""Whether a 'running' job is still alive, and the heartbeat thread that proves it.

A job proves it is alive by stamping `heartbeat_at`: on every progress tick, and from a
`Heartbeat` thread during steps that report nothing for minutes. A job is dead when its
heartbeat is older than the stale threshold, or at once when its process is visibly gone on
this machine. A pid that still exists proves nothing (it may have been reused), so a live
pid falls back to the heartbeat.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from analysis import store
from analysis.settings import get_settings
from analysis.store import to_iso, utcnow

HEARTBEAT_MAX_INTERVAL_S = 30.0

Clock = Callable[[], datetime]


@functools.cache
def pid_scope() -> str | None:
    """Boot id and pid namespace of this process: two processes that agree on it can check
    each other's pids (another machine, or another container on this one, cannot). None
    where /proc does not say (then only the heartbeat counts)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negatives address process groups, not a process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours (EPERM), or cannot tell: assume alive
        return True
    return True


def stale_after_s() -> float:
    """`settings.job_stale_after_s`, read on every check so a changed setting applies."""
    return get_settings().job_stale_after_s


def interruption(job: dict, now: datetime, stale_after: float) -> str | None:
    """Why this 'running' job is dead, seen at `now`, or None while it may be alive."""
    heartbeat = job["heartbeat_at"] or job["started_at"]
    pid = job["pid"]
    if pid and job["pid_scope"] and job["pid_scope"] == pid_scope() and not _pid_alive(pid):
        return (f"interrupted: no heartbeat since {heartbeat} (process {pid} on {job['host']} "
                "has ended)")
    age = (now - store.from_iso(heartbeat)).total_seconds()
    if age > stale_after:
        return (f"interrupted: no heartbeat since {heartbeat} (stale after {stale_after:g} s, "
                f"checked at {to_iso(now)})")
    return None


def heartbeat_interval() -> float:
    # Five beats per stale threshold: a beat or two lost to a busy store never looks dead.
    return min(HEARTBEAT_MAX_INTERVAL_S, stale_after_s() / 5)


class Heartbeat:
    """Stamps a job's heartbeat from a daemon thread with its own connection, so steps that
    report no progress for minutes (a model fit, a save) still show the job is alive. A beat
    that finds the row no longer running sets `lost`; the job stops at its next tick."""

    def __init__(self, db, job_id: int, interval: float, *, clock: Clock = utcnow):
        self.job_id, self.interval, self.clock = job_id, interval, clock
        self.lost = False
        self._path = store.database_file(db)  # None for an in-memory store: ticks only
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        if self._path is not None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"closeloop-heartbeat-{self.job_id}")
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            conn = store.connect(self._path, migrate=False)
        except Exception:
            return
        try:
            # Wait for the write lock no longer than one beat: the next beat tries again.
            conn.execute(f"PRAGMA busy_timeout = {max(100, int(self.interval * 1000))}")
            while not self._stop.wait(self.interval):
                try:
                    # One autocommit statement: a beat must not bump the store revision.
                    cursor = conn.execute(
                        "UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                        [to_iso(self.clock()), self.job_id])
                except Exception:
                    continue
                if cursor.rowcount == 0:
                    self.lost = True
                    return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

"""The sweep worker: `python -m analysis worker --every 60` sweeps the store every minute.

One worker per store: it holds a lease (`worker_leases`) that it renews before every sweep
and that expires after `3 x every` seconds without renewal, so a second worker started by
mistake waits, and a crashed worker is replaced by the next one that starts (or by a
waiting one) once its lease runs out.

    holder = acquire_lease(db, "sweep", holder="host:1234", now=now, ttl_s=180)
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlite_utils

from analysis import store
from analysis.store.clock import from_iso, to_iso, utcnow

LEASE = "sweep"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire_lease(db: sqlite_utils.Database, name: str, *, holder: str, now: datetime,
                  ttl_s: float) -> bool:
    """Take or renew the lease; False when another holder's lease has not expired."""
    expires = to_iso(now + timedelta(seconds=ttl_s))
    with store.write_transaction(db):
        row = db.execute("SELECT holder, expires_at FROM worker_leases WHERE name = ?",
                         [name]).fetchone()
        if row is None:
            db.execute("INSERT INTO worker_leases (name, holder, acquired_at, renewed_at, "
                       "expires_at) VALUES (?, ?, ?, ?, ?)",
                       [name, holder, to_iso(now), to_iso(now), expires])
            return True
        if row[0] != holder and from_iso(row[1]) > now:
            return False
        if row[0] != holder:
            db.execute("UPDATE worker_leases SET holder = ?, acquired_at = ?, renewed_at = ?, "
                       "expires_at = ? WHERE name = ?",
                       [holder, to_iso(now), to_iso(now), expires, name])
        else:
            db.execute("UPDATE worker_leases SET renewed_at = ?, expires_at = ? WHERE name = ?",
                       [to_iso(now), expires, name])
        return True


def release_lease(db: sqlite_utils.Database, name: str, *, holder: str) -> None:
    with store.write_transaction(db):
        db.execute("DELETE FROM worker_leases WHERE name = ? AND holder = ?", [name, holder])


def lease_holder(db: sqlite_utils.Database, name: str = LEASE) -> dict | None:
    rows = list(db.query("SELECT * FROM worker_leases WHERE name = ?", [name]))
    return rows[0] if rows else None


def run_worker(db: sqlite_utils.Database, *, every_s: float, actor: str,
               holder: str | None = None, runs: int | None = None,
               log: Callable[[str], None] = print,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], datetime] = utcnow) -> int:
    """Sweep every `every_s` seconds while holding the lease; `runs` sweeps at most (None:
    forever). A sweep that fails is logged and retried next time: the worker outlives a
    bad minute. Returns the number of sweeps run."""
    from analysis.sweep import run_sweep

    holder = holder or worker_id()
    done = attempts = 0
    try:
        while runs is None or attempts < runs:
            attempts += 1
            started = time.monotonic()
            if acquire_lease(db, LEASE, holder=holder, now=clock(), ttl_s=3 * every_s):
                try:
                    results = run_sweep(db, now=clock(), actor=actor)
                    log("; ".join(f"{k}: {v.summary()}" for k, v in results.items()))
                    done += 1
                except Exception as exc:  # noqa: BLE001 - a worker must survive one bad sweep
                    log(f"sweep failed: {type(exc).__name__}: {exc}")
            else:
                row = lease_holder(db) or {}
                log(f"another worker holds the lease ({row.get('holder')}, until "
                    f"{row.get('expires_at')}); waiting")
            if runs is not None and attempts >= runs:
                break
            sleep(max(0.0, every_s - (time.monotonic() - started)))
    finally:
        release_lease(db, LEASE, holder=holder)
    return done

"""Settings an analyst changes in the app (alert sensitivity, minimum history), kept in the
store: one row per change, the newest wins, so every earlier value and who set it remain.

Deployment settings (paths, time zone, secrets) are environment variables read by
`analysis.settings`; these are the ones that belong to the data and its users.
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlite_utils

from analysis.store.clock import to_iso, utcnow


def read_app_setting(db: sqlite_utils.Database, key: str, default=None):
    row = db.execute("SELECT value FROM app_settings WHERE key = ? ORDER BY id DESC LIMIT 1",
                     [key]).fetchone()
    return default if row is None else json.loads(row[0])


def write_app_setting(db: sqlite_utils.Database, key: str, value, *, actor: str,
                      now: datetime | None = None) -> None:
    """Record a new value (call inside `store.write_transaction`)."""
    db.execute("INSERT INTO app_settings (key, value, actor, at) VALUES (?, ?, ?, ?)",
               [key, json.dumps(value), actor, to_iso(now or utcnow())])


def app_setting_history(db: sqlite_utils.Database, key: str) -> list[dict]:
    return [{"value": json.loads(r["value"]), "actor": r["actor"], "at": r["at"]}
            for r in db.query("SELECT value, actor, at FROM app_settings WHERE key = ? "
                              "ORDER BY id DESC", [key])]

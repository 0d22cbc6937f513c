"""Root-cause triggers: rules in the store ("a theme's share above 15% at a location for 2
consecutive weeks") that open a root-cause task once per episode. By default a rule counts
the theme's negative mentions only: a root cause is looked for behind complaints.

An episode of a rule at a cell is a run of consecutive complete periods in which the
cell's share is above the rule's threshold with at least its minimum volume. The rule
fires when the run reaches its length, and opens one task keyed by the run's first period;
a longer run is the same episode, so it never opens a second task, and while that task is
open a later run of the same cell is recorded on it instead of opening another. The task's owner is the
location's operations lead (`CLOSELOOP_OPERATIONS_LEADS`); its due date the period's end
plus the rule's days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import sqlite_utils

from analysis.domain.filters import date_bounds
from analysis.settings import get_settings, operations_lead
from analysis.store.clock import to_iso, utcnow
from analysis.themes.queries.base import CHILD, PARENT
from analysis.trends.periods import (
    PERIOD_DAYS,
    check_granularity,
    period_close,
    period_of,
    periods_between,
)
from analysis.trends.series import ALL_LOCATIONS, cell_counts
from analysis.trends.spikes import CellGrid

STEP = "root-cause triggers"
RULE_FIELDS = ("name", "share_above", "consecutive", "granularity", "min_volume",
               "negative_only", "theme_id", "location", "due_days", "enabled")


class RuleError(ValueError):
    """A trigger rule that cannot be saved; the message names the field."""


@dataclass(frozen=True)
class TriggerRule:
    name: str
    share_above: float = 0.15
    consecutive: int = 2
    granularity: str = "week"
    min_volume: int = 20
    negative_only: bool = True
    """Count only negative mentions: the share of feedback complaining about the theme."""
    theme_id: int | None = None
    location: str | None = None
    due_days: int = 7
    enabled: bool = True

    def check(self) -> TriggerRule:
        if not self.name.strip():
            raise RuleError("name: a rule needs a name")
        if not 0 < self.share_above < 1:
            raise RuleError(f"share above: must be between 0% and 100%, got "
                            f"{self.share_above:.1%}")
        if int(self.consecutive) < 1:
            raise RuleError("consecutive periods: must be at least 1")
        if self.granularity not in ("day", "week"):
            raise RuleError("granularity: must be day or week")
        if int(self.min_volume) < 1:
            raise RuleError("minimum volume: must be at least 1")
        if int(self.due_days) < 0:
            raise RuleError("due in days: cannot be negative")
        return self

    def describe(self) -> str:
        what = "a theme's" if self.theme_id is None else "the theme's"
        what += " negative" if self.negative_only else ""
        where = "a location" if self.location is None else self.location
        unit = "weeks" if self.granularity == "week" else "days"
        return (f"{what} share above {self.share_above:.0%} at {where} for {self.consecutive} "
                f"consecutive {unit} (at least {self.min_volume} responses each)")


def list_rules(db: sqlite_utils.Database, *, enabled_only: bool = False) -> list[dict]:
    where = "WHERE enabled = 1" if enabled_only else ""
    return list(db.query(f"SELECT * FROM trigger_rules {where} ORDER BY id"))


def _values(rule: TriggerRule) -> dict:
    rule.check()
    return {"name": rule.name.strip(), "share_above": float(rule.share_above),
            "consecutive": int(rule.consecutive), "granularity": rule.granularity,
            "min_volume": int(rule.min_volume), "negative_only": int(bool(rule.negative_only)),
            "theme_id": None if rule.theme_id is None else int(rule.theme_id),
            "location": rule.location or None, "due_days": int(rule.due_days),
            "enabled": int(bool(rule.enabled))}


def _check_theme(db, values: dict) -> None:
    # Fix: a rule naming a theme that does not exist failed on the foreign key with
    # sqlite3.IntegrityError ("FOREIGN KEY constraint failed"), not a RuleError naming
    # the field.
    theme_id = values["theme_id"]
    if theme_id is None:
        return
    row = db.execute("SELECT status FROM themes WHERE id = ?", [theme_id]).fetchone()
    if row is None:
        raise RuleError(f"theme: there is no theme {theme_id}")
    if row[0] != "active":
        # A merged or retired theme's comments count elsewhere now: the rule would never fire.
        raise RuleError(f"theme: theme {theme_id} is {row[0]}; pick an active theme")


def add_rule(db: sqlite_utils.Database, rule: TriggerRule, *, actor: str,
             now: datetime | None = None) -> int:
    """Store a new rule (inside `store.write_transaction`)."""
    values, stamp = _values(rule), to_iso(now or utcnow())
    _check_theme(db, values)
    rule_id = db.execute(
        f"INSERT INTO trigger_rules ({', '.join(values)}, created_at, created_by, updated_at, "
        f"updated_by) VALUES ({', '.join('?' * len(values))}, ?, ?, ?, ?)",
        [*values.values(), stamp, actor, stamp, actor]).lastrowid
    _rule_event(db, rule_id, "created", {"after": values}, actor, stamp)
    return rule_id


def update_rule(db: sqlite_utils.Database, rule_id: int, rule: TriggerRule, *, actor: str,
                now: datetime | None = None) -> bool:
    """Change a rule, keeping its old values in its history; False when nothing changed."""
    rows = list(db.query("SELECT * FROM trigger_rules WHERE id = ?", [int(rule_id)]))
    if not rows:
        raise RuleError(f"there is no trigger rule {rule_id}")
    before = {k: rows[0][k] for k in RULE_FIELDS}
    values = _values(rule)
    _check_theme(db, values)
    if before == values:
        return False
    stamp = to_iso(now or utcnow())
    db.execute(f"UPDATE trigger_rules SET {', '.join(f'{k} = ?' for k in values)}, "
               "updated_at = ?, updated_by = ? WHERE id = ?",
               [*values.values(), stamp, actor, int(rule_id)])
    _rule_event(db, int(rule_id), "changed", {"before": before, "after": values}, actor, stamp)
    return True


def _rule_event(db, rule_id: int, event: str, detail: dict, actor: str, stamp: str) -> None:
    db.execute("INSERT INTO trigger_rule_events (rule_id, event, detail, actor, at) "
               "VALUES (?, ?, ?, ?, ?)", [rule_id, event, json.dumps(detail), actor, stamp])


def rule_history(db: sqlite_utils.Database, rule_id: int) -> list[dict]:
    return list(db.query("SELECT event, detail, actor, at FROM trigger_rule_events "
                         "WHERE rule_id = ? ORDER BY id", [int(rule_id)]))


@dataclass
class TriggerSweep:
    rules: int = 0
    tasks_opened: int = 0

    def summary(self) -> str:
        return f"{self.rules} rule(s) checked, {self.tasks_opened} root-cause task(s) opened"


def _runs_ending(grid: CellGrid, rule: dict, last: int) -> dict[int, int]:
    """Per cell row, the first period index of the run of qualifying periods that ends at
    `last` and is at least `consecutive` long."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(grid.volume > 0, grid.mentions / np.maximum(grid.volume, 1), 0.0)
    qualifies = (share > rule["share_above"]) & (grid.volume >= rule["min_volume"])
    out = {}
    for c in np.flatnonzero(qualifies[:, last]):
        first = last
        while first - 1 >= 0 and qualifies[c, first - 1]:
            first -= 1
        if last - first + 1 >= rule["consecutive"]:
            out[int(c)] = first
    return out


def _run_from_start(grid: CellGrid, rule: dict, first_checked: date) -> bool:
    """Whether a run of qualifying periods starting at the grid's first column lasts up
    to a period the sweep checks."""
    checked = [i for i, p in enumerate(grid.periods) if date.fromisoformat(p) >= first_checked]
    if not checked:
        return False
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(grid.volume > 0, grid.mentions / np.maximum(grid.volume, 1), 0.0)
    qualifies = (share > rule["share_above"]) & (grid.volume >= rule["min_volume"])
    return bool(qualifies[:, :checked[0] + 1].all(axis=1).any())


def sweep_triggers(db: sqlite_utils.Database, *, now: datetime | None = None,
                   since: date | None = None, level: str, actor: str) -> TriggerSweep:
    """Check every enabled rule over complete periods up to `now` (from `since`, else the
    last few) and open the tasks due. Idempotent: a task is keyed by rule, cell and the
    first period of its run."""
    now = now or utcnow()
    settings = get_settings()
    tz = settings.timezone
    result = TriggerSweep()
    for rule in list_rules(db, enabled_only=True):
        result.rules += 1
        granularity = check_granularity(rule["granularity"])
        step = timedelta(days=PERIOD_DAYS[granularity])
        last_complete = period_of(now, granularity, tz) - step
        first_checked = _first_checked(db, granularity, since=since, tz=tz,
                                       last_complete=last_complete)
        if first_checked > last_complete:
            continue
        rule_level = _rule_level(db, rule, level)
        # Room behind the first checked period to find where a run began.
        column = "negative" if rule["negative_only"] else "mentions"
        first_read = first_checked - step * 60
        counts = cell_counts(db, granularity=granularity, first=first_read,
                             last=last_complete, level=rule_level, tz=tz)
        grid = CellGrid.from_counts(counts, column)
        if not grid.cells:
            continue
        # Fix: a run older than the 60 periods read began, as far as the grid could tell,
        # at its first column, which moves every sweep: each sweep took the same run for a
        # new episode (a new task, or another 'fired again' on the open one). Such a run is
        # read back to the first feedback so that its true first period keys it.
        bounds = date_bounds(db)
        # A day early: the stored date is UTC's, the local one may be the day before.
        earliest = bounds[0] - timedelta(days=1) if bounds else None
        if earliest is not None and earliest < first_read and \
                _run_from_start(grid, rule, first_checked):
            grid = CellGrid.from_counts(
                cell_counts(db, granularity=granularity, first=earliest, last=last_complete,
                            level=rule_level, tz=tz), column)
        names = dict(db.execute("SELECT id, name FROM themes").fetchall())
        for i, period in enumerate(grid.periods):
            if date.fromisoformat(period) < first_checked:
                continue
            for c, first in _runs_ending(grid, rule, i).items():
                theme_id, location = grid.cells[c]
                if rule["theme_id"] is not None and theme_id != rule["theme_id"]:
                    continue
                if rule["location"] is not None and location != rule["location"]:
                    continue
                if rule["location"] is None and location == ALL_LOCATIONS:
                    continue  # "at a location": the network as a whole is not one
                closes = period_close(date.fromisoformat(period), granularity, tz)
                if _open_task(db, rule, theme_id=theme_id, theme=names.get(theme_id, "?"),
                              location=location or None, episode_start=grid.periods[first],
                              period=period, grid=grid, c=c, i=i, first=first,
                              at=min(closes, now), actor=actor):
                    result.tasks_opened += 1
    for granularity in {r["granularity"] for r in list_rules(db, enabled_only=True)}:
        last_complete = period_of(now, granularity, tz) - timedelta(
            days=PERIOD_DAYS[granularity])
        db.execute("INSERT INTO sweep_periods (step, granularity, period_start, complete, "
                   "cells_tested, evaluated_at) VALUES (?, ?, ?, 1, 0, ?) ON CONFLICT "
                   "(step, granularity, period_start) DO NOTHING",
                   [STEP, granularity, last_complete.isoformat(), to_iso(now)])
    return result


RECHECK_PERIODS = 3
"""Complete periods every sweep checks again (late imports; a task is never opened twice)."""


def _first_checked(db, granularity: str, *, since: date | None, tz: str,
                   last_complete: date) -> date:
    """The first period to check: the one holding `since`; else the period after the last
    one a sweep checked, so a scheduler that was down catches up (and the last few again)."""
    step = timedelta(days=PERIOD_DAYS[granularity])
    if since is not None:
        return periods_between(since, since, granularity)[0]
    first = last_complete - step * (RECHECK_PERIODS - 1)
    row = db.execute("SELECT MAX(period_start) FROM sweep_periods WHERE step = ? AND "
                     "granularity = ?", [STEP, granularity]).fetchone()
    if row[0]:
        first = min(first, date.fromisoformat(row[0]) + step)
    return first


def _rule_level(db, rule: dict, level: str) -> str:
    """A rule about one theme counts at that theme's own level; others at the sweep's."""
    if rule["theme_id"] is None:
        return level
    row = db.execute("SELECT is_parent FROM themes WHERE id = ?", [rule["theme_id"]]).fetchone()
    return level if row is None else (PARENT if row[0] else CHILD)


def _open_task(db, rule: dict, *, theme_id: int, theme: str, location: str | None,
               episode_start: str, period: str, grid: CellGrid, c: int, i: int, first: int,
               at: datetime, actor: str) -> bool:
    exists = db.execute(
        "SELECT 1 FROM tasks WHERE kind = 'root_cause' AND rule_id = ? AND theme_id = ? "
        "AND location IS ? AND episode_start = ?",
        [rule["id"], theme_id, location, episode_start]).fetchone()
    if exists:
        return False
    # One open task per rule and cell: a run that breaks for a week and comes back is the
    # same problem still under investigation, recorded on the open task.
    still_open = db.execute(
        "SELECT id FROM tasks WHERE kind = 'root_cause' AND rule_id = ? AND theme_id = ? "
        "AND location IS ? AND status = 'open'", [rule["id"], theme_id, location]).fetchone()
    if still_open:
        seen = db.execute("SELECT 1 FROM task_events WHERE task_id = ? AND event = 'fired again'"
                          " AND json_extract(detail, '$.episode_start') = ?",
                          [still_open[0], episode_start]).fetchone()
        if not seen:
            db.execute("INSERT INTO task_events (task_id, event, detail, actor, at) VALUES "
                       "(?, 'fired again', ?, ?, ?)",
                       [still_open[0], json.dumps({"episode_start": episode_start,
                                                   "period": period}), actor, to_iso(at)])
        return False
    shares = [round(float(grid.mentions[c, j] / grid.volume[c, j]), 4)
              for j in range(first, i + 1)]
    detail = {"rule": rule["name"], "share_above": rule["share_above"],
              "periods": grid.periods[first:i + 1], "shares": shares,
              "mentions": [int(v) for v in grid.mentions[c, first:i + 1]],
              "volumes": [int(v) for v in grid.volume[c, first:i + 1]]}
    unit = "weeks" if rule["granularity"] == "week" else "days"
    what = "negative mentions" if rule["negative_only"] else "mentions"
    title = (f"Root cause: {theme} at {location or 'all locations'}, {what} above "
             f"{rule['share_above']:.0%} for {i - first + 1} {unit} (from {episode_start})")
    stamp = to_iso(at)
    due = to_iso(at + timedelta(days=int(rule["due_days"])))
    task_id = db.execute(
        "INSERT INTO tasks (kind, title, detail, rule_id, theme_id, location, episode_start, "
        "owner, due_at, created_at, created_by, updated_at) VALUES "
        "('root_cause', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [title, json.dumps(detail), rule["id"], theme_id, location, episode_start,
         operations_lead(location), due, stamp, actor, stamp]).lastrowid
    db.execute("INSERT INTO task_events (task_id, event, detail, actor, at) VALUES "
               "(?, 'opened', ?, ?, ?)", [task_id, json.dumps(detail), actor, stamp])
    return True


def list_tasks(db: sqlite_utils.Database, *, status: str | None = "open") -> list[dict]:
    where, params = ("WHERE t.status = ?", [status]) if status else ("", [])
    return list(db.query(f"""SELECT t.*, th.name AS theme FROM tasks t
                             LEFT JOIN themes th ON th.id = t.theme_id {where}
                             ORDER BY t.created_at DESC, t.id DESC""", params))

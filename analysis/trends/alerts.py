"""Spike alerts as episodes, and the sweep step that raises them.

An alert is one episode of one cell: opened in the period the cell first crosses (see
`spikes`), updated while it stays up, closed by the first complete period back at its
baseline. Acknowledging or snoozing it (who, note, until when) holds for the whole
episode; a new episode of the same cell is a new alert. Every change is an alert_events
row, every period of the episode an alert_periods row.

    sweep_alerts(db, now=now, actor="scheduler")           # the current and missed periods
    sweep_alerts(db, now=now, since=date(2025, 1, 1), ...) # replay, as if run at each end
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import sqlite_utils

from analysis.app_settings import read_app_setting, write_app_setting
from analysis.settings import get_settings
from analysis.store.clock import to_iso, utcnow
from analysis.themes.queries.base import LEVELS, PARENT
from analysis.trends.periods import (
    GRANULARITIES,
    PERIOD_DAYS,
    period_close,
    period_end,
    period_of,
    periods_between,
)
from analysis.trends.series import ALL_LOCATIONS, cell_counts, default_level
from analysis.trends.spikes import CellGrid, SpikeSettings, test_period

SETTINGS_KEY = "alerts"
STEP = "spike alerts"
REVIEWS = ("new", "acknowledged", "snoozed")


class AlertError(ValueError):
    """An alert action that cannot be done; the message says why."""


# --- settings -------------------------------------------------------------------------

@dataclass(frozen=True)
class AlertSettings:
    spikes: SpikeSettings = field(default_factory=SpikeSettings)
    level: str | None = None
    """Theme level the sweep tests: 'parent', 'theme', or None for parents when there are."""
    granularities: tuple[str, ...] = GRANULARITIES


def alert_settings(db: sqlite_utils.Database) -> AlertSettings:
    saved = read_app_setting(db, SETTINGS_KEY, {}) or {}
    spikes = SpikeSettings(**{k: v for k, v in saved.get("spikes", {}).items()
                              if k in SpikeSettings.__dataclass_fields__})
    level = saved.get("level") if saved.get("level") in LEVELS else None
    granularities = tuple(g for g in saved.get("granularities", GRANULARITIES)
                          if g in GRANULARITIES) or GRANULARITIES
    return AlertSettings(spikes, level, granularities)


def save_alert_settings(db: sqlite_utils.Database, settings: AlertSettings, *, actor: str,
                        now: datetime | None = None) -> None:
    """Check and record new settings (inside `store.write_transaction`)."""
    s = settings.spikes
    if not 0 < s.fdr < 0.5:
        raise AlertError(f"sensitivity (FDR) must be between 0 and 50%, got {s.fdr:.1%}")
    for name, label in (("min_baseline_responses", "Minimum baseline responses"),
                        ("min_count", "Minimum count"), ("baseline_weeks", "Baseline weeks"),
                        ("baseline_days", "Baseline days"),
                        ("min_baseline_periods", "Minimum baseline periods")):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AlertError(f"{label} must be a whole number of at least 1, got {value!r}")
    if not 0 < s.continue_p < 1:
        raise AlertError(f"the p-value an episode continues below must be between 0 and 1, "
                         f"got {s.continue_p!r}")
    if settings.level is not None and settings.level not in LEVELS:
        raise AlertError(f"theme level must be one of {', '.join(LEVELS)}")
    write_app_setting(db, SETTINGS_KEY, {"spikes": asdict(s), "level": settings.level,
                                         "granularities": list(settings.granularities)},
                      actor=actor, now=now)


def sweep_level(db: sqlite_utils.Database, settings: AlertSettings) -> str:
    return settings.level or default_level(db)


# --- the sweep step -------------------------------------------------------------------

@dataclass
class AlertSweep:
    periods_evaluated: int = 0
    cells_tested: int = 0
    opened: int = 0
    updated: int = 0
    closed: int = 0
    snoozes_ended: int = 0

    def summary(self) -> str:
        return (f"{self.periods_evaluated} period(s) evaluated, {self.cells_tested} cell tests, "
                f"{self.opened} alert(s) opened, {self.updated} updated, {self.closed} closed")


RECHECK = {"week": 4, "day": 7}
"""Complete periods every sweep tests again: feedback imported late, or themed by a refresh
after the period ended, reaches its alert (a period whose data did not change comes out the
same, so re-testing it changes nothing)."""


def periods_to_evaluate(db, granularity: str, *, now: datetime, since: date | None,
                        tz: str) -> list[date]:
    """Complete periods due, oldest first: from the period holding `since`; else every
    period after the last one evaluated (only the latest when none was), and the last
    RECHECK periods again.

    Only complete periods are tested. A running week tested at every sweep would be
    tested dozens of times, and each look is another chance of a false alarm (at hourly
    sweeps, four times the rate the sensitivity promises); the daily cells are the early
    warning within a week, each tested once when its day is over."""
    step = timedelta(days=PERIOD_DAYS[granularity])
    last = period_of(now, granularity, tz) - step
    if since is not None:
        return periods_between(since, last, granularity)
    row = db.execute("SELECT MAX(period_start) FROM sweep_periods WHERE step = ? AND "
                     "granularity = ? AND complete = 1", [STEP, granularity]).fetchone()
    first = last - step * (RECHECK[granularity] - 1)
    if row[0]:
        first = min(first, date.fromisoformat(row[0]) + step)
    return periods_between(first, last, granularity)


def sweep_alerts(db: sqlite_utils.Database, *, now: datetime | None = None,
                 since: date | None = None, actor: str) -> AlertSweep:
    """Test the complete periods due (see `periods_to_evaluate`) at every granularity, in
    order, and close the alerts of themes that are gone. With `since`, a replay: each period
    as if the sweep had run at its end. Call inside `store.write_transaction`. Idempotent:
    the same `now` twice changes nothing."""
    now = now or utcnow()
    tz = get_settings().timezone
    settings = alert_settings(db)
    level = sweep_level(db, settings)
    result = AlertSweep()
    result.snoozes_ended = _end_snoozes(db, now=now, actor=actor)
    for granularity in settings.granularities:
        due = periods_to_evaluate(db, granularity, now=now, since=since, tz=tz)
        if not due:
            continue
        lookback = settings.spikes.lookback(granularity)
        step = timedelta(days=PERIOD_DAYS[granularity])
        first_needed = due[0] - step * lookback
        counts = cell_counts(db, granularity=granularity, first=first_needed,
                             last=due[-1], level=level, tz=tz)
        whole = CellGrid.from_counts(counts)
        excluded = episode_periods(db, granularity)
        index = {p: i for i, p in enumerate(whole.periods)}
        for period in due:
            # A replay acts as if the sweep had run at each period's end; a live sweep
            # records when it really learned (a re-test after a late import is news now).
            at = period_close(period, granularity, tz) if since is not None else now
            i = index[period.isoformat()]
            grid, i = _window(whole, i, lookback)
            tests = test_period(grid, i, settings.spikes, excluded) if grid.cells else None
            tested = 0 if tests is None else int(tests["tested"].sum())
            if tests is not None:
                _apply_period(db, tests, granularity=granularity, at=at, actor=actor,
                              settings=settings.spikes, excluded=excluded, result=result)
            _record_sweep(db, granularity, period, tested, at)
            result.periods_evaluated += 1
            result.cells_tested += tested
        result.closed += _close_alerts_of_gone_themes(db, granularity, level, now=now,
                                                      actor=actor)
    return result


def _record_sweep(db, granularity: str, period: date, tested: int, at: datetime) -> None:
    """Note the period as evaluated; its evaluated_at changes only with its figures, so that
    a re-test of unchanged data writes nothing new."""
    old = db.execute("SELECT cells_tested FROM sweep_periods WHERE step = ? AND granularity = ? "
                     "AND period_start = ?", [STEP, granularity, period.isoformat()]).fetchone()
    if old is not None and old[0] == tested:
        return
    db.execute("INSERT INTO sweep_periods (step, granularity, period_start, complete, "
               "cells_tested, evaluated_at) VALUES (?, ?, ?, 1, ?, ?) "
               "ON CONFLICT (step, granularity, period_start) DO UPDATE SET "
               "cells_tested = excluded.cells_tested, evaluated_at = excluded.evaluated_at",
               [STEP, granularity, period.isoformat(), tested, to_iso(at)])


def _close_alerts_of_gone_themes(db, granularity: str, level: str, *, now: datetime,
                                 actor: str) -> int:
    """Close open alerts whose theme was merged or retired, or is not at the level the sweep
    tests any more: no sweep will test their cell again, so nothing else would close them."""
    stamp = to_iso(now)
    gone = db.execute(
        "SELECT a.id, t.status, t.is_parent FROM alerts a JOIN themes t ON t.id = a.theme_id "
        "WHERE a.status = 'open' AND a.granularity = ? AND (t.status != 'active' "
        "OR t.is_parent != ?)", [granularity, int(level == PARENT)]).fetchall()
    for alert_id, status, is_parent in gone:
        db.execute("UPDATE alerts SET status = 'closed', closed_at = ?, updated_at = ? "
                   "WHERE id = ?", [stamp, stamp, alert_id])
        reason = (f"the theme is {status}" if status != "active" else
                  "the sweep now tests the other theme level")
        _event(db, alert_id, "closed", {"reason": reason}, actor, stamp)
    return len(gone)


def _window(grid: CellGrid, i: int, lookback: int) -> tuple[CellGrid, int]:
    """The grid cut to period i and the `lookback` before it, with the themes mentioned
    there; and i's index in it.

    Fix: the cells tested in a period (hence the Benjamini-Hochberg family, its q-values
    and the overdispersion floor) came from whatever window the sweep happened to read: a
    replay from `since` kept every theme mentioned anywhere since then, a scheduled sweep
    only those of its last few periods, so the two gave different q-values and alerts, and
    two sweeps at the same `now` could rewrite a period's figures. Now a period's test
    depends only on its own window."""
    lo = max(0, i - lookback)
    columns = slice(lo, i + 1)
    mentioned = {t for (t, _), row in zip(grid.cells, grid.mentions[:, columns]) if row.any()}
    keep = [c for c, (t, _) in enumerate(grid.cells) if t in mentioned]
    return CellGrid(grid.granularity, grid.periods[columns], [grid.cells[c] for c in keep],
                    grid.mentions[keep][:, columns], grid.volume[keep][:, columns]), i - lo


def episode_periods(db, granularity: str) -> dict[tuple[int, str], set[str]]:
    """Per cell, the periods of its alert episodes: what baselines leave out."""
    out: dict[tuple[int, str], set[str]] = {}
    for theme_id, location, period in db.execute(
            "SELECT a.theme_id, a.location, p.period_start FROM alert_periods p "
            "JOIN alerts a ON a.id = p.alert_id WHERE a.granularity = ?", [granularity]):
        out.setdefault((theme_id, location or ALL_LOCATIONS), set()).add(period)
    return out


def _cell_alerts(db, granularity: str) -> dict[tuple[int, str], list[dict]]:
    out: dict[tuple[int, str], list[dict]] = {}
    for row in db.query("SELECT * FROM alerts WHERE granularity = ? ORDER BY first_period",
                        [granularity]):
        out.setdefault((row["theme_id"], row["location"] or ALL_LOCATIONS), []).append(row)
    return out


def _apply_period(db, tests: pd.DataFrame, *, granularity: str, at: datetime, actor: str,
                  settings: SpikeSettings, excluded: dict[tuple[int, str], set[str]],
                  result: AlertSweep) -> None:
    """One complete period's tests onto the episodes: open, continue, extend, close."""
    alerts = _cell_alerts(db, granularity)
    period = tests["period"].iloc[0]
    following = (date.fromisoformat(period)
                 + timedelta(days=PERIOD_DAYS[granularity])).isoformat()
    stamp = to_iso(at)
    for row in tests.itertuples(index=False):
        cell = (int(row.theme_id), row.location)
        episodes = alerts.get(cell, [])
        if not episodes and not row.crossed:
            continue
        elevated = bool(row.tested) and row.p_value < settings.continue_p and \
            row.observed > row.expected
        holding = next((e for e in episodes if _has_period(db, e["id"], period)), None)
        if holding is not None:  # a re-test: late data may have changed the figures
            if _record_period(db, holding["id"], row, stamp):
                _refresh_alert(db, holding, row, stamp, actor, result)
                if not row.crossed and not elevated and not _crossed_periods(db, holding["id"]):
                    _close(db, holding, "withdrawn", row, period, actor, stamp)
                    result.closed += 1
            continue
        open_before = next((e for e in episodes if e["status"] == "open"
                            and e["period_start"] < period), None)
        if row.crossed:
            starts_next = next((e for e in episodes if e["first_period"] == following), None)
            if open_before is not None:
                _record_period(db, open_before["id"], row, stamp)
                _refresh_alert(db, open_before, row, stamp, actor, result)
            elif starts_next is not None:
                # Late data made the period before an episode cross: one spike, one alert.
                _record_period(db, starts_next["id"], row, stamp)
                db.execute("UPDATE alerts SET first_period = ?, updated_at = ? WHERE id = ?",
                           [period, stamp, starts_next["id"]])
                _event(db, starts_next["id"], "extended", {"first_period": period}, actor,
                       stamp)
                result.updated += 1
            else:
                _open_alert(db, cell, row, granularity, stamp, actor)
                result.opened += 1
            excluded.setdefault(cell, set()).add(period)
        elif open_before is not None:
            if elevated:
                _record_period(db, open_before["id"], row, stamp)
                _refresh_alert(db, open_before, row, stamp, actor, result)
                excluded.setdefault(cell, set()).add(period)
            else:
                _close(db, open_before, "closed", row, period, actor, stamp)
                result.closed += 1


def _crossed_periods(db, alert_id: int) -> int:
    return db.execute("SELECT COUNT(*) FROM alert_periods WHERE alert_id = ? AND crossed = 1",
                      [alert_id]).fetchone()[0]


def _close(db, alert: dict, event: str, row, period: str, actor: str, stamp: str) -> None:
    """Close an episode: back at baseline ('closed'), or its only crossing undone by data
    that arrived later ('withdrawn')."""
    db.execute("UPDATE alerts SET status = 'closed', closed_at = ?, updated_at = ? "
               "WHERE id = ?", [stamp, stamp, alert["id"]])
    alert["status"] = "closed"
    _event(db, alert["id"], event, {"period": period, "observed": int(row.observed),
                                    "expected": round(float(row.expected), 2),
                                    "p_value": float(row.p_value)}, actor, stamp)


def _has_period(db, alert_id: int, period: str) -> bool:
    return db.execute("SELECT 1 FROM alert_periods WHERE alert_id = ? AND period_start = ?",
                      [alert_id, period]).fetchone() is not None


def _figures(row) -> dict:
    return {"observed": int(row.observed), "volume": int(row.volume),
            "expected": round(float(row.expected), 4), "p_value": float(row.p_value),
            "q_value": float(row.q_value), "crossed": int(bool(row.crossed))}


def _record_period(db, alert_id: int, row, stamp: str) -> bool:
    """Insert or update one period of an episode; True when anything changed."""
    figures = _figures(row)
    old = db.execute("SELECT observed, volume, expected, p_value, q_value, crossed FROM "
                     "alert_periods WHERE alert_id = ? AND period_start = ?",
                     [alert_id, row.period]).fetchone()
    if old is not None and tuple(old) == tuple(figures.values()):
        return False
    db.execute("INSERT INTO alert_periods (alert_id, period_start, observed, volume, expected, "
               "p_value, q_value, crossed, evaluated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (alert_id, period_start) DO UPDATE SET observed = excluded.observed, "
               "volume = excluded.volume, expected = excluded.expected, "
               "p_value = excluded.p_value, q_value = excluded.q_value, "
               "crossed = excluded.crossed, evaluated_at = excluded.evaluated_at",
               [alert_id, row.period, *figures.values(), stamp])
    return True


def _alert_values(row, granularity: str) -> dict:
    ratio = None if pd.isna(row.ratio) else round(float(row.ratio), 4)
    return {"period_start": row.period,
            "period_end": period_end(date.fromisoformat(row.period), granularity).isoformat(),
            "observed": int(row.observed), "volume": int(row.volume),
            "expected": round(float(row.expected), 4), "share": round(float(row.share), 6),
            "baseline_share": round(float(row.baseline_share), 6), "ratio": ratio,
            "p_value": float(row.p_value), "q_value": float(row.q_value)}


def _open_alert(db, cell, row, granularity: str, stamp: str, actor: str) -> int:
    values = _alert_values(row, granularity)
    alert_id = db.execute(
        "INSERT INTO alerts (theme_id, location, granularity, first_period, period_start, "
        "period_end, observed, volume, expected, share, baseline_share, ratio, p_value, "
        "q_value, peak_ratio, opened_at, updated_at) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [cell[0], cell[1] or None, granularity, row.period, values["period_start"],
         values["period_end"], values["observed"], values["volume"], values["expected"],
         values["share"], values["baseline_share"], values["ratio"], values["p_value"],
         values["q_value"], values["ratio"], stamp, stamp]).lastrowid
    _record_period(db, alert_id, row, stamp)
    _event(db, alert_id, "opened", values, actor, stamp)
    return alert_id


def _refresh_alert(db, alert: dict, row, stamp: str, actor: str, result: AlertSweep) -> None:
    """Record a later period of the episode, or the same period with more data. The alert
    describes the latest period that crossed: a period where the cell only stayed elevated
    (not significant on its own) keeps the episode open and is logged as 'continued', but
    does not replace the figures that made it an alert."""
    if row.period < alert["period_start"]:
        return
    values = _alert_values(row, alert["granularity"])
    if not row.crossed and row.period != alert["period_start"]:
        _event(db, alert["id"], "continued", values, actor, stamp)
        db.execute("UPDATE alerts SET updated_at = ? WHERE id = ?", [stamp, alert["id"]])
        result.updated += 1
        return
    if all(alert[k] == v for k, v in values.items()):
        return
    ratios = [v for v in (alert["peak_ratio"], values["ratio"]) if v is not None]
    peak = max(ratios) if ratios else None
    db.execute(f"UPDATE alerts SET {', '.join(f'{k} = ?' for k in values)}, peak_ratio = ?, "
               "updated_at = ? WHERE id = ?",
               [*values.values(), peak, stamp, alert["id"]])
    alert.update(values)
    _event(db, alert["id"], "updated", values, actor, stamp)
    result.updated += 1


def _event(db, alert_id: int, event: str, detail: dict, actor: str, stamp: str) -> None:
    db.execute("INSERT INTO alert_events (alert_id, event, detail, actor, at) "
               "VALUES (?, ?, ?, ?, ?)", [alert_id, event, json.dumps(detail), actor, stamp])


def _end_snoozes(db, *, now: datetime, actor: str) -> int:
    stamp = to_iso(now)
    ended = [r[0] for r in db.execute(
        "SELECT id FROM alerts WHERE review = 'snoozed' AND snoozed_until <= ?", [stamp])]
    for alert_id in ended:
        db.execute("UPDATE alerts SET review = 'new', updated_at = ? WHERE id = ?",
                   [stamp, alert_id])
        _event(db, alert_id, "snooze ended", {}, actor, stamp)
    return len(ended)


# --- people acting on alerts ----------------------------------------------------------

def _alert(db, alert_id: int) -> dict:
    rows = list(db.query("SELECT * FROM alerts WHERE id = ?", [int(alert_id)]))
    if not rows:
        raise AlertError(f"there is no alert {alert_id}")
    return rows[0]


def acknowledge_alert(db: sqlite_utils.Database, alert_id: int, *, actor: str,
                      note: str = "", now: datetime | None = None) -> None:
    """Mark the episode seen: it is not raised again while it lasts (inside a transaction)."""
    _alert(db, alert_id)
    stamp = to_iso(now or utcnow())
    db.execute("UPDATE alerts SET review = 'acknowledged', reviewed_by = ?, reviewed_at = ?, "
               "snoozed_until = NULL, note = ?, updated_at = ? WHERE id = ?",
               [actor, stamp, note.strip() or None, stamp, int(alert_id)])
    _event(db, int(alert_id), "acknowledged", {"note": note.strip()}, actor, stamp)


def snooze_alert(db: sqlite_utils.Database, alert_id: int, *, until: datetime, actor: str,
                 note: str = "", now: datetime | None = None) -> None:
    """Hide the episode until `until` (a naive time is UTC); raised again then if it is
    still open."""
    now = now or utcnow()
    if until.tzinfo is None:
        until = until.replace(tzinfo=timezone.utc)
    if until <= now:
        raise AlertError("a snooze must end in the future")
    _alert(db, alert_id)
    stamp = to_iso(now)
    db.execute("UPDATE alerts SET review = 'snoozed', reviewed_by = ?, reviewed_at = ?, "
               "snoozed_until = ?, note = ?, updated_at = ? WHERE id = ?",
               [actor, stamp, to_iso(until), note.strip() or None, stamp, int(alert_id)])
    _event(db, int(alert_id), "snoozed", {"until": to_iso(until), "note": note.strip()},
           actor, stamp)


# --- reading --------------------------------------------------------------------------

ALERT_FIELDS = ("id", "theme_id", "theme", "parent_theme_id", "location", "granularity",
                "first_period", "period_start", "period_end", "observed", "volume",
                "expected", "share", "baseline_share", "ratio", "p_value", "q_value",
                "status", "review", "reviewed_by", "snoozed_until", "note", "opened_at",
                "updated_at", "closed_at")


def list_alerts(db: sqlite_utils.Database, *, status: str = "open",
                granularity: str | None = None, theme_id: int | None = None,
                location: str | None = None) -> list[dict]:
    """Alerts newest first, one dict per alert with ALERT_FIELDS; status 'open' (episodes
    still running, whatever their review), 'closed' or 'all'."""
    if status not in ("open", "closed", "all"):
        raise AlertError(f"status must be open, closed or all, got {status!r}")
    clauses, params = ["1 = 1"], []
    if status != "all":
        clauses.append("a.status = ?")
        params.append(status)
    if granularity:
        clauses.append("a.granularity = ?")
        params.append(granularity)
    if theme_id is not None:
        clauses.append("a.theme_id = ?")
        params.append(int(theme_id))
    if location is not None:
        clauses.append("a.location IS ?")
        params.append(location or None)
    rows = db.query(
        f"""SELECT a.*, t.name AS theme, t.parent_id AS parent_theme_id FROM alerts a
            JOIN themes t ON t.id = a.theme_id WHERE {' AND '.join(clauses)}
            ORDER BY a.period_start DESC, a.q_value, a.id DESC""", params)
    return [{k: row[k] for k in ALERT_FIELDS} for row in rows]


def describe_alert(alert: dict) -> str:
    """One sentence: what, where, when and how big."""
    where = alert["location"] or "all locations"
    ratio = f"{alert['ratio']:.1f}x, " if alert.get("ratio") else ""
    return (f"{alert['theme']} at {where}: {alert['share']:.0%} of feedback in the "
            f"{alert['granularity']} of {alert['period_start']} vs "
            f"{alert['baseline_share']:.0%} baseline ({ratio}{alert['observed']} of "
            f"{alert['volume']}), q = {alert['q_value']:.3g}")


def alert_history(db: sqlite_utils.Database, alert_id: int) -> list[dict]:
    return list(db.query("SELECT event, detail, actor, at FROM alert_events WHERE alert_id = ? "
                         "ORDER BY id", [int(alert_id)]))


def alert_periods(db: sqlite_utils.Database, alert_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM alert_periods WHERE alert_id = ? ORDER BY period_start",
                         [int(alert_id)]))


__all__ = ["AlertError", "AlertSettings", "AlertSweep", "acknowledge_alert", "alert_history",
           "alert_periods", "alert_settings", "describe_alert", "list_alerts",
           "save_alert_settings", "snooze_alert", "sweep_alerts"]

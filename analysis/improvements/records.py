"""Improvements as records: what changed, where, for which theme or metric, from when, who
owns it, how far along it is, why (the linked feedback) and how much it is worth doing
(priority = impact x confidence / effort). Every change is a row in improvement_events.

    improvement_id = add_improvement(db, Improvement(title="Extra staff at lunch peak",
        locations=("Harbour Street",), theme_ids=(3,), effective_date=date(2025, 3, 3)),
        actor="ops")
    link_evidence(db, improvement_id, feedback_for_theme(db, 3, ["Harbour Street"]),
                  via="theme 3", actor="ops")
    whom_to_tell(db, improvement_id)   # one row per customer who asked, with their email

Writes run inside the caller's `store.write_transaction`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import sqlite_utils

from analysis.store.clock import to_iso, utcnow
from analysis.themes.queries.base import theme_members
from analysis.themes.queries.detail import fts_query

STATUSES = ("proposed", "planned", "in progress", "shipped", "abandoned")
METRICS = ("nps", "csat", "ces", "rating", "negative")
DEFAULT_CONFIDENCE = 0.5
"""Even odds that it works, until someone says otherwise."""
DEFAULT_EFFORT = 1.0
"""One person-week, until someone says otherwise."""
FIELDS = ("title", "description", "owner", "status", "metric", "effective_date",
          "rollout_end", "impact", "confidence", "effort")


class ImprovementError(ValueError):
    """An improvement that cannot be saved; the message names the field."""


@dataclass(frozen=True)
class Improvement:
    title: str
    locations: tuple[str, ...]
    effective_date: date
    theme_ids: tuple[int, ...] = ()
    metric: str | None = None
    description: str = ""
    owner: str | None = None
    status: str = "proposed"
    rollout_end: date | None = None
    impact: float | None = None
    confidence: float | None = None
    effort: float | None = None
    id: int | None = field(default=None, compare=False)

    def check(self) -> Improvement:
        if not self.title.strip():
            raise ImprovementError("title: an improvement needs a title")
        if not [loc for loc in self.locations if loc and loc.strip()]:
            raise ImprovementError("location: name at least one location the change touches")
        if not self.theme_ids and not self.metric:
            raise ImprovementError("target: name a theme or a metric (nps, csat, ces, rating, "
                                   "negative) the change should move")
        if self.metric is not None and self.metric not in METRICS:
            raise ImprovementError(f"metric: must be one of {', '.join(METRICS)}, got "
                                   f"{str(self.metric)[:40]!r}")
        if self.status not in STATUSES:
            raise ImprovementError(f"status: must be one of {', '.join(STATUSES)}, got "
                                   f"{str(self.status)[:40]!r}")
        if not isinstance(self.effective_date, date):
            raise ImprovementError("effective date: must be a date (YYYY-MM-DD)")
        if self.rollout_end is not None and self.rollout_end < self.effective_date:
            raise ImprovementError(f"end of roll-out: {self.rollout_end} is before the "
                                   f"effective date {self.effective_date}")
        if self.confidence is not None and not 0 <= self.confidence <= 1:
            raise ImprovementError(f"confidence: must be between 0 and 1 (0% to 100%), got "
                                   f"{self.confidence:g}")
        if self.effort is not None and not self.effort > 0:
            raise ImprovementError(f"effort: must be more than 0 person-weeks, got "
                                   f"{self.effort:g}")
        return self

    def values(self) -> dict:
        """The improvements row's own columns, normalised."""
        self.check()
        return {"title": self.title.strip(), "description": (self.description or "").strip(),
                "owner": (self.owner or "").strip() or None, "status": self.status,
                "metric": self.metric or None,
                "effective_date": self.effective_date.isoformat(),
                "rollout_end": self.rollout_end.isoformat() if self.rollout_end else None,
                "impact": None if self.impact is None else float(self.impact),
                "confidence": None if self.confidence is None else float(self.confidence),
                "effort": None if self.effort is None else float(self.effort)}


def parse_date(text: str, field_name: str) -> date:
    """A YYYY-MM-DD date, or ImprovementError naming the field."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise ImprovementError(f"{field_name}: {str(text)[:40]!r} is not a date (YYYY-MM-DD)") \
            from None


def _check_targets(db, improvement: Improvement, *, kept_themes=()) -> None:
    """Locations must have feedback (once there is any) and themes must exist; a theme newly
    targeted must be active, while one the record already had may since have been merged
    (its comments moved on; the record stays editable)."""
    # A misspelt location would be measured on no feedback at all, silently.
    known = {r[0] for r in db.execute("SELECT DISTINCT location FROM feedback "
                                      "WHERE location IS NOT NULL AND location != ''")}
    unknown = [loc for loc in improvement.locations if loc.strip() not in known]
    if known and unknown:
        raise ImprovementError(f"location: no feedback comes from {unknown[0][:60]!r}; "
                               f"known locations: {', '.join(sorted(known)[:12])}"
                               + (" ..." if len(known) > 12 else ""))
    for theme_id in improvement.theme_ids:
        row = db.execute("SELECT status FROM themes WHERE id = ?", [int(theme_id)]).fetchone()
        if row is None:
            raise ImprovementError(f"theme: there is no theme {theme_id}")
        if row[0] != "active" and theme_id not in kept_themes:
            raise ImprovementError(f"theme: theme {theme_id} is {row[0]}; pick an active theme")


def add_improvement(db: sqlite_utils.Database, improvement: Improvement, *, actor: str,
                    now: datetime | None = None) -> int:
    """Store a new improvement; returns its id."""
    values, stamp = improvement.values(), to_iso(now or utcnow())
    _check_targets(db, improvement)
    improvement_id = db.execute(
        f"INSERT INTO improvements ({', '.join(values)}, created_at, created_by, updated_at, "
        f"updated_by) VALUES ({', '.join('?' * len(values))}, ?, ?, ?, ?)",
        [*values.values(), stamp, actor, stamp, actor]).lastrowid
    _write_targets(db, improvement_id, improvement)
    _event(db, improvement_id, "created", {"after": _snapshot(values, improvement)}, actor,
           stamp)
    return improvement_id


def update_improvement(db: sqlite_utils.Database, improvement_id: int,
                       improvement: Improvement, *, actor: str,
                       now: datetime | None = None) -> bool:
    """Save an edited improvement, keeping the old values in its history; False when
    nothing changed."""
    before = get_improvement(db, improvement_id)
    values = improvement.values()
    _check_targets(db, improvement, kept_themes=before.theme_ids)
    old = _snapshot(before.values(), before)
    new = _snapshot(values, improvement)
    if old == new:
        return False
    stamp = to_iso(now or utcnow())
    db.execute(f"UPDATE improvements SET {', '.join(f'{k} = ?' for k in values)}, "
               "updated_at = ?, updated_by = ? WHERE id = ?",
               [*values.values(), stamp, actor, int(improvement_id)])
    _write_targets(db, int(improvement_id), improvement)
    changed = {k for k in new if new[k] != old[k]}
    event = "status changed" if changed == {"status"} else "changed"
    _event(db, int(improvement_id), event,
           {"before": {k: old[k] for k in changed}, "after": {k: new[k] for k in changed}},
           actor, stamp)
    return True


def set_status(db: sqlite_utils.Database, improvement_id: int, status: str, *, actor: str,
               now: datetime | None = None) -> bool:
    return update_improvement(db, improvement_id,
                              replace(get_improvement(db, improvement_id), status=status),
                              actor=actor, now=now)


def _snapshot(values: dict, improvement: Improvement) -> dict:
    return {**values, "locations": sorted(set(improvement.locations)),
            "theme_ids": sorted({int(t) for t in improvement.theme_ids})}


def _write_targets(db, improvement_id: int, improvement: Improvement) -> None:
    db.execute("DELETE FROM improvement_locations WHERE improvement_id = ?", [improvement_id])
    db.execute("DELETE FROM improvement_themes WHERE improvement_id = ?", [improvement_id])
    db.conn.executemany("INSERT INTO improvement_locations VALUES (?, ?)",
                        [(improvement_id, loc.strip())
                         for loc in sorted(set(improvement.locations)) if loc.strip()])
    db.conn.executemany("INSERT INTO improvement_themes VALUES (?, ?)",
                        [(improvement_id, int(t)) for t in sorted(set(improvement.theme_ids))])


def _event(db, improvement_id: int, event: str, detail: dict, actor: str, stamp: str) -> None:
    db.execute("INSERT INTO improvement_events (improvement_id, event, detail, actor, at) "
               "VALUES (?, ?, ?, ?, ?)",
               [improvement_id, event, json.dumps(detail, default=str), actor, stamp])


def get_improvement(db: sqlite_utils.Database, improvement_id: int) -> Improvement:
    rows = list(db.query("SELECT * FROM improvements WHERE id = ?", [int(improvement_id)]))
    if not rows:
        raise ImprovementError(f"there is no improvement {improvement_id}")
    return _from_row(db, rows[0])


def _from_row(db, row: dict) -> Improvement:
    locations = tuple(r[0] for r in db.execute(
        "SELECT location FROM improvement_locations WHERE improvement_id = ? ORDER BY location",
        [row["id"]]))
    themes = tuple(r[0] for r in db.execute(
        "SELECT theme_id FROM improvement_themes WHERE improvement_id = ? ORDER BY theme_id",
        [row["id"]]))
    return Improvement(
        id=row["id"], title=row["title"], description=row["description"], owner=row["owner"],
        status=row["status"], metric=row["metric"], locations=locations, theme_ids=themes,
        effective_date=date.fromisoformat(row["effective_date"]),
        rollout_end=date.fromisoformat(row["rollout_end"]) if row["rollout_end"] else None,
        impact=row["impact"], confidence=row["confidence"], effort=row["effort"])


def list_improvements(db: sqlite_utils.Database, *, status: str | None = None,
                      default_impact: bool = True) -> list[dict]:
    """One dict per improvement (newest effective date first): its fields, locations,
    theme ids and names, evidence counts and priority parts, the impact defaulting to the
    key drivers' opportunity where nobody set it (`default_impact=False` skips that: about
    half a second per location)."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    out, memo = [], {}
    for row in db.query(f"SELECT * FROM improvements {where} "
                        "ORDER BY effective_date DESC, id DESC", params):
        improvement = _from_row(db, row)
        names = theme_names(db, improvement.theme_ids)
        out.append({
            "id": improvement.id, "title": improvement.title, "status": improvement.status,
            "owner": improvement.owner, "locations": list(improvement.locations),
            "theme_ids": list(improvement.theme_ids),
            "themes": [names[t] for t in improvement.theme_ids],
            "metric": improvement.metric, "target": describe_target(improvement, names),
            "effective_date": row["effective_date"], "rollout_end": row["rollout_end"],
            **priority(improvement, default_impact=driver_impact(db, improvement, memo=memo)
                       if default_impact and improvement.impact is None else None),
            **evidence_counts(db, improvement.id),
            "description": improvement.description,
            "created_at": row["created_at"], "created_by": row["created_by"],
            "updated_at": row["updated_at"], "updated_by": row["updated_by"],
        })
    return out


def theme_names(db: sqlite_utils.Database, theme_ids) -> dict[int, str]:
    ids = [int(t) for t in theme_ids]
    if not ids:
        return {}
    rows = db.execute(f"SELECT id, name FROM themes WHERE id IN ({', '.join('?' * len(ids))})",
                      ids).fetchall()
    return {theme_id: dict(rows).get(theme_id, f"Theme {theme_id}") for theme_id in ids}


def describe_target(improvement: Improvement, names: dict[int, str]) -> str:
    metric = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "rating": "rating",
              "negative": "negative share"}.get(improvement.metric or "", "")
    themes = ", ".join(names.get(t, f"Theme {t}") for t in improvement.theme_ids)
    if metric and themes:
        return f"{metric} (themes: {themes})"
    return metric or f"{themes} share"


def improvement_history(db: sqlite_utils.Database, improvement_id: int) -> list[dict]:
    return [{**row, "detail": json.loads(row["detail"])} for row in db.query(
        "SELECT event, detail, actor, at FROM improvement_events WHERE improvement_id = ? "
        "ORDER BY id", [int(improvement_id)])]


# ------------------------------------------------------------------ priority


def priority(improvement: Improvement, *, default_impact: float | None = None) -> dict:
    """impact x confidence / effort, each part with whether it is a default; the impact's
    default is what the page computes from the key drivers (`default_impact`)."""
    impact = improvement.impact if improvement.impact is not None else default_impact
    confidence = (improvement.confidence if improvement.confidence is not None
                  else DEFAULT_CONFIDENCE)
    effort = improvement.effort if improvement.effort is not None else DEFAULT_EFFORT
    return {"impact": impact, "impact_is_default": improvement.impact is None,
            "confidence": confidence, "confidence_is_default": improvement.confidence is None,
            "effort": effort, "effort_is_default": improvement.effort is None,
            "priority": None if impact is None else impact * confidence / effort}


def driver_impact(db: sqlite_utils.Database, improvement: Improvement, *,
                  metric: str | None = None, memo: dict | None = None) -> float | None:
    """The impact's default: the key drivers' opportunity (score points if the targeted
    themes' share fell to the network's best quartile), summed over the targeted themes,
    averaged over the improvement's locations; on the improvement's own metric when the
    drivers model it (NPS, CSAT, rating), else NPS. None without a targeted theme or
    without drivers (too little data). `memo` keeps the drivers per (metric, level,
    location) across calls (a list of improvements shares most of them)."""
    from analysis.benchmarks.drivers import DRIVER_METRICS, key_drivers
    from analysis.themes.queries import CHILD, PARENT

    if not improvement.theme_ids:
        return None
    metric = metric or (improvement.metric if improvement.metric in DRIVER_METRICS else "nps")
    parents = {r[0] for r in db.execute(
        f"SELECT id FROM themes WHERE is_parent = 1 AND id IN "
        f"({', '.join('?' * len(improvement.theme_ids))})", list(improvement.theme_ids))}
    levels = {PARENT if t in parents else CHILD for t in improvement.theme_ids}
    memo = {} if memo is None else memo
    totals = []
    for location in improvement.locations:
        rows = {}
        for level in sorted(levels):
            key = (metric, level, location)
            if key not in memo:
                memo[key] = key_drivers(db, metric=metric, location=location, level=level).rows
            rows |= {r["theme_id"]: r for r in memo[key]}
        found = [rows[t]["opportunity"] for t in improvement.theme_ids if t in rows]
        if found:
            totals.append(sum(found))
    return sum(totals) / len(totals) if totals else None


# ------------------------------------------------------------------ evidence


def feedback_for_theme(db: sqlite_utils.Database, theme_id: int,
                       locations=(), *, negative_only: bool = True) -> list[int]:
    """Ids of the feedback mentioning the theme (or its children) at `locations` (all when
    empty): by default only the complaints, the ones that asked for a change."""
    members = theme_members(db, int(theme_id))
    where = [f"a.theme_id IN ({', '.join('?' * len(members))})"]
    params: list = list(members)
    if locations:
        where.append(f"f.location IN ({', '.join('?' * len(locations))})")
        params += list(locations)
    if negative_only:
        where.append("s.label = 'negative'")
    return [r[0] for r in db.execute(
        f"""SELECT DISTINCT f.id FROM feedback f
            JOIN theme_assignments a ON a.feedback_id = f.id
            LEFT JOIN sentiment s ON s.feedback_id = f.id
            WHERE {' AND '.join(where)} ORDER BY f.id""", params)]


def feedback_for_search(db: sqlite_utils.Database, words: str, locations=()) -> list[int]:
    """Ids of the feedback whose comment holds the words (full-text search, as the Themes
    page searches) at `locations` (all when empty)."""
    query = fts_query(words)
    if not query:
        return []
    where, params = ["f.id IN (SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH ?)"], \
        [query]
    if locations:
        where.append(f"f.location IN ({', '.join('?' * len(locations))})")
        params += list(locations)
    return [r[0] for r in db.execute(
        f"SELECT f.id FROM feedback f WHERE {' AND '.join(where)} ORDER BY f.id", params)]


def link_evidence(db: sqlite_utils.Database, improvement_id: int, feedback_ids, *, via: str,
                  actor: str, now: datetime | None = None) -> int:
    """Link feedback to the improvement (already linked rows are kept); returns how many
    were new."""
    get_improvement(db, improvement_id)
    ids = sorted({int(i) for i in feedback_ids})
    if not ids:
        return 0
    known = {r[0] for r in db.execute(
        f"SELECT id FROM feedback WHERE id IN ({', '.join('?' * len(ids))})", ids)} \
        if len(ids) < 30_000 else {r[0] for r in db.execute("SELECT id FROM feedback")}
    missing = [i for i in ids if i not in known]
    if missing:
        raise ImprovementError(f"evidence: there is no feedback {missing[0]}")
    stamp = to_iso(now or utcnow())
    before = db.execute("SELECT COUNT(*) FROM improvement_evidence WHERE improvement_id = ?",
                        [int(improvement_id)]).fetchone()[0]
    db.conn.executemany(
        "INSERT OR IGNORE INTO improvement_evidence (improvement_id, feedback_id, via, "
        "added_by, added_at) VALUES (?, ?, ?, ?, ?)",
        [(int(improvement_id), i, via, actor, stamp) for i in ids])
    added = db.execute("SELECT COUNT(*) FROM improvement_evidence WHERE improvement_id = ?",
                       [int(improvement_id)]).fetchone()[0] - before
    if added:
        _event(db, int(improvement_id), "evidence added", {"via": via, "feedback": added},
               actor, stamp)
    return added


def unlink_evidence(db: sqlite_utils.Database, improvement_id: int, feedback_ids, *,
                    actor: str, now: datetime | None = None) -> int:
    ids = [int(i) for i in feedback_ids]
    if not ids:
        return 0
    removed = db.execute(
        f"DELETE FROM improvement_evidence WHERE improvement_id = ? AND feedback_id IN "
        f"({', '.join('?' * len(ids))})", [int(improvement_id), *ids]).rowcount
    if removed:
        _event(db, int(improvement_id), "evidence removed", {"feedback": removed}, actor,
               to_iso(now or utcnow()))
    return removed


def evidence_counts(db: sqlite_utils.Database, improvement_id: int) -> dict:
    """How much feedback asked for it, from how many customers and locations."""
    row = db.execute(
        """SELECT COUNT(*), COUNT(DISTINCT f.customer_key), COUNT(DISTINCT f.location),
                  SUM(f.customer_key IS NULL)
           FROM improvement_evidence e JOIN feedback f ON f.id = e.feedback_id
           WHERE e.improvement_id = ?""", [int(improvement_id)]).fetchone()
    # A response without a customer key is a customer of its own.
    return {"evidence": row[0], "customers": row[1] + (row[3] or 0), "evidence_locations": row[2]}


def evidence(db: sqlite_utils.Database, improvement_id: int, *, limit: int | None = 200) -> list[dict]:
    """The linked feedback, newest first."""
    return list(db.query(
        f"""SELECT f.id AS feedback_id, f.received_at, f.location, f.customer_key,
                   f.comment, e.via, e.added_by, e.added_at
            FROM improvement_evidence e JOIN feedback f ON f.id = e.feedback_id
            WHERE e.improvement_id = ? ORDER BY f.received_at DESC
            {'' if limit is None else f'LIMIT {int(limit)}'}""", [int(improvement_id)]))


def whom_to_tell(db: sqlite_utils.Database, improvement_id: int) -> list[dict]:
    """One row per customer whose linked feedback asked for the change: the customer key,
    name and email of their latest linked response, how many of theirs are linked, and a
    draft line ("We changed X, based on N requests"). Customers without an email or id are
    left out: there is no one to write to."""
    improvement = get_improvement(db, improvement_id)
    total = evidence_counts(db, improvement_id)["evidence"]
    rows = db.execute(
        """SELECT f.customer_key, f.customer_name, f.customer_email, COUNT(*) AS linked,
                  MAX(f.received_at) AS last_feedback, f.location
           FROM improvement_evidence e JOIN feedback f ON f.id = e.feedback_id
           WHERE e.improvement_id = ? AND f.customer_key IS NOT NULL
           GROUP BY f.customer_key ORDER BY MAX(f.received_at) DESC""",
        [int(improvement_id)]).fetchall()
    message = f"We changed {improvement.title.strip()}, based on {total} requests like yours."
    return [{"customer_key": key, "customer_name": name, "customer_email": email,
             "linked_feedback": linked, "last_feedback": last, "location": location,
             "message": message}
            for key, name, email, linked, last, location in rows]

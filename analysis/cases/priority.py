"""A case's priority from a documented score, every part shown with its points.

    severity      how bad the response is: NPS 0-2 35, 3-4 25, 5-6 15; CSAT, rating and
                  CES at the bottom of the scale 30, the next band 15; a comment with no
                  score, by its negative sentiment: 15 + 20 x strength (up to 35)
    theme         the theme's business-impact weight, 0-25: set by hand, else from the key
                  drivers: half the NPS points the theme costs (a theme costing 24 points
                  weighs 12)
    customer      the customer's segment or tier, 0-30 (case settings, e.g. vip 20)
    spiking       15 if the theme has an open spike alert at the location (or everywhere)
    repeat        10 per earlier response from the same customer within `repeat_days`, up
                  to 20
    safety/legal  a safety or legal word in the comment (case settings) forces critical

Levels by the total: critical >= 70, high >= 45, medium >= 25, else low (editable).
Clarification and thank-you tasks are low whatever their score: they wait for nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import sqlite_utils

from analysis.app_settings import read_app_setting, write_app_setting
from analysis.cases.policy import CaseSettings, PolicyError
from analysis.store.clock import from_iso, to_iso, utcnow

THEME_WEIGHTS_KEY = "case theme weights"
MAX_THEME_POINTS = 25.0
SPIKE_POINTS = 15.0
REPEAT_POINTS, MAX_REPEAT_POINTS = 10.0, 20.0

_SEVERITY = {  # scale -> ((highest score, points), ...), first match wins
    "nps": ((2, 35.0), (4, 25.0), (6, 15.0)),
    "csat": ((1, 30.0), (2, 15.0)),
    "rating": ((1, 30.0), (2, 15.0)),
    "ces": ((1, 30.0), (3, 15.0)),
}


@dataclass(frozen=True)
class PriorityInput:
    route: str
    score_type: str | None = None
    score: float | None = None
    sentiment: str | None = None
    sentiment_score: float | None = None
    comment: str | None = None
    theme_weight: float | None = None
    theme_name: str | None = None
    segment: str | None = None
    spiking: bool = False
    repeats: int = 0


def _severity(item: PriorityInput) -> tuple[float, str]:
    if item.score_type in _SEVERITY and item.score is not None:
        for highest, points in _SEVERITY[item.score_type]:
            if item.score <= highest:
                return points, f"{item.score_type.upper()} {item.score:g}"
    if item.sentiment == "negative":
        strength = min(1.0, max(0.0, -(item.sentiment_score or 0.0)))
        return 15.0 + 20.0 * strength, f"negative comment (strength {strength:.2f})"
    return 0.0, "no negative score or comment"


@lru_cache(maxsize=64)
def _safety_pattern(words: tuple[str, ...]) -> re.Pattern | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def safety_words_in(comment: str | None, words: tuple[str, ...]) -> list[str]:
    pattern = _safety_pattern(tuple(words))
    if not comment or pattern is None:
        return []
    return sorted({m.group(0).lower() for m in pattern.finditer(comment)})


def priority_for(item: PriorityInput, settings: CaseSettings) -> tuple[str, float, list[dict]]:
    """(level, score, reasons): reasons are [{part, points, why}] in the order above."""
    reasons = []
    points, why = _severity(item)
    reasons.append({"part": "severity", "points": points, "why": why})
    weight = min(MAX_THEME_POINTS, max(0.0, item.theme_weight or 0.0))
    reasons.append({"part": "theme", "points": weight,
                    "why": f"{item.theme_name or 'no theme'}: business-impact weight"})
    value = float(settings.segment_points.get(item.segment or "", 0.0))
    reasons.append({"part": "customer", "points": value,
                    "why": f"segment {item.segment}" if item.segment else "no segment"})
    reasons.append({"part": "spiking", "points": SPIKE_POINTS if item.spiking else 0.0,
                    "why": "open spike alert on the theme here" if item.spiking
                    else "no spike alert"})
    repeat = min(MAX_REPEAT_POINTS, REPEAT_POINTS * item.repeats)
    reasons.append({"part": "repeat", "points": repeat,
                    "why": f"{item.repeats} earlier response(s) within "
                           f"{settings.repeat_days} days"})
    total = sum(r["points"] for r in reasons)
    safety = safety_words_in(item.comment, settings.safety_words)
    if safety:
        reasons.append({"part": "safety/legal", "points": 0.0,
                        "why": f"mentions {', '.join(safety)}: critical"})
    if item.route != "recovery" and not safety:
        return "low", total, reasons + [{"part": "route", "points": 0.0,
                                         "why": f"{item.route} tasks are low priority"}]
    t = settings.thresholds
    level = ("critical" if safety or total >= t["critical"] else "high" if total >= t["high"]
             else "medium" if total >= t["medium"] else "low")
    return level, total, reasons


# ------------------------------------------------------------------ theme weights


DRIVER_WEIGHTS_KEY = "case theme weight defaults"
DRIVER_WEIGHTS_MAX_AGE = timedelta(days=1)
"""The key drivers behind the default weights move with months of feedback: the sweep runs
every minute, so it refits them at most once a day."""


def driver_weights(db: sqlite_utils.Database, *, now: datetime | None = None,
                   refresh: bool = False) -> dict[int, float]:
    """Theme id -> half the NPS points the theme costs (key drivers at child and parent
    level, capped at 25), from the daily cache in the store, refitted when it is older than
    a day (`now`) or when `refresh`."""
    now = now or utcnow()
    cached = read_app_setting(db, DRIVER_WEIGHTS_KEY)
    if cached and not refresh and \
            now - from_iso(cached["computed_at"]) < DRIVER_WEIGHTS_MAX_AGE:
        return {int(k): float(v) for k, v in cached["weights"].items()}
    from analysis.benchmarks.drivers import DriverError, key_drivers
    from analysis.themes.queries import CHILD, PARENT

    weights: dict[int, float] = {}
    for level in (CHILD, PARENT):
        try:
            rows = key_drivers(db, metric="nps", level=level).rows
        except DriverError:
            rows = []
        for row in rows:
            if row.get("points") is not None and row["points"] < 0:
                weights[row["theme_id"]] = min(MAX_THEME_POINTS, -row["points"] / 2)
    write_app_setting(db, DRIVER_WEIGHTS_KEY,
                      {"computed_at": to_iso(now), "weights": {str(k): v for k, v in
                                                               weights.items()}},
                      actor="sweep", now=now)
    return weights


def theme_weights(db: sqlite_utils.Database, *, now: datetime | None = None,
                  drivers: bool = True) -> dict[int, float]:
    """Theme id -> business-impact points: the key drivers' default (`driver_weights`),
    overridden by weights set by hand. Writes the daily cache: call inside a transaction."""
    weights = driver_weights(db, now=now) if drivers else {}
    saved = read_app_setting(db, THEME_WEIGHTS_KEY, {}) or {}
    weights |= {int(k): float(v) for k, v in saved.items()}
    return weights


def save_theme_weight(db: sqlite_utils.Database, theme_id: int, weight: float | None, *,
                      actor: str, now: datetime | None = None) -> None:
    """Set a theme's weight by hand (None: back to the key drivers' default)."""
    if weight is not None and (isinstance(weight, bool) or not 0 <= weight <= MAX_THEME_POINTS):
        raise PolicyError(f"theme weight: must be 0-{MAX_THEME_POINTS:g} points, got {weight!r}")
    if db.execute("SELECT 1 FROM themes WHERE id = ?", [int(theme_id)]).fetchone() is None:
        raise PolicyError(f"theme weight: there is no theme {theme_id}")
    saved = dict(read_app_setting(db, THEME_WEIGHTS_KEY, {}) or {})
    if weight is None:
        saved.pop(str(theme_id), None)
    else:
        saved[str(int(theme_id))] = float(weight)
    write_app_setting(db, THEME_WEIGHTS_KEY, saved, actor=actor, now=now)


def theme_weight_rows(db: sqlite_utils.Database) -> list[dict]:
    """Active themes with their weight: the key drivers' default as last computed (the
    sweep refits it daily; reading never refits) and the weight set by hand, if any."""
    cached = read_app_setting(db, DRIVER_WEIGHTS_KEY) or {}
    defaults = {int(k): float(v) for k, v in (cached.get("weights") or {}).items()}
    by_hand = {int(k): float(v) for k, v in
               (read_app_setting(db, THEME_WEIGHTS_KEY, {}) or {}).items()}
    return [{"theme_id": theme_id, "theme": name, "level": "parent" if is_parent else "child",
             "from_key_drivers": round(defaults.get(theme_id, 0.0), 1),
             "set_by_hand": by_hand.get(theme_id)}
            for theme_id, name, is_parent in db.execute(
                "SELECT id, name, is_parent FROM themes WHERE status = 'active' "
                "ORDER BY is_parent DESC, name")]

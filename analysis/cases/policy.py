"""The case queue's rules, kept in the store and editable in the app: which scores open which
route, the SLA policy per priority, each location's business calendar, and the settings
(at-risk threshold, safety words, customer value, how far back the sweep looks).

Each is an app setting (analysis/app_settings.py): one row per change, the newest wins, so
every earlier value and who set it remain. Defaults are our playbook's.

    bands = route_bands(db)            # {"nps": {"recovery": (0, 6), ...}, ...}
    policy = sla_policies(db)["high"]  # SlaPolicy(ack=240, resolve=1440, follow_up=2880, ...)
    calendar_for(calendars(db), "Northgate")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import sqlite_utils

from analysis.app_settings import read_app_setting, write_app_setting
from analysis.cases.calendar import BusinessCalendar, CalendarError
from analysis.domain.scores import SCORE_SCALES, SCORE_TYPES
from analysis.settings import get_settings

ROUTES = ("recovery", "improvement", "advocacy")
ROOT_CAUSE = "root cause"
CASE_TYPE = {"recovery": "case", "improvement": "clarification", "advocacy": "thank you",
             ROOT_CAUSE: "root cause"}
"""Recovery opens a case; improvement a low-priority clarification task; advocacy a thank-you
/ review-request task; a root-cause trigger (trends) its own type."""
PRIORITIES = ("critical", "high", "medium", "low")
STAGES = ("acknowledge", "resolve", "follow up")
RESOLUTION_CATEGORIES = ("refund issued", "service recovery provided",
                         "operational change made", "no action warranted", "duplicate",
                         "other")

BANDS_KEY, SLA_KEY, CALENDARS_KEY, SETTINGS_KEY = (
    "case route bands", "case sla policies", "case calendars", "case settings")
DEFAULT_CALENDAR = "*"
"""The calendar of every location that has none of its own."""

DEFAULT_BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "nps": {"recovery": (0, 6), "improvement": (7, 8), "advocacy": (9, 10)},
    "csat": {"recovery": (1, 2), "improvement": (3, 3), "advocacy": (5, 5)},
    "ces": {"recovery": (1, 3)},          # our 1-7 scale, 7 = very easy
    "rating": {"recovery": (1, 2)},
}


class PolicyError(ValueError):
    """A rule that cannot be saved; the message names the field."""


@dataclass(frozen=True)
class SlaPolicy:
    """Minutes on the clock to each stage: acknowledge and resolve from opening, follow up
    from resolution (None: no follow-up due). `business_hours`: the location's business
    calendar, else around the clock."""
    acknowledge: int
    resolve: int
    follow_up: int | None
    business_hours: bool = True


DEFAULT_SLA = {
    # A safety or legal case cannot wait for Monday: critical runs around the clock.
    "critical": SlaPolicy(60, 4 * 60, 24 * 60, business_hours=False),
    "high": SlaPolicy(4 * 60, 24 * 60, 48 * 60),
    "medium": SlaPolicy(24 * 60, 72 * 60, 7 * 24 * 60),
    "low": SlaPolicy(48 * 60, 7 * 24 * 60, None),
}

DEFAULT_SAFETY_WORDS = (
    "injury", "injured", "hurt myself", "lawyer", "solicitor", "attorney", "lawsuit", "sue you",
    "legal action", "food poisoning", "poisoned", "allergic reaction", "anaphylaxis",
    "hospital", "assault", "harassed", "discrimination", "unsafe", "police", "fraud",
)


@dataclass(frozen=True)
class CaseSettings:
    at_risk: float = 0.75
    """A stage is at risk once this share of its time is used."""
    lookback_days: int = 14
    """The sweep opens cases for feedback received at most this many days before `now`;
    older feedback (a first import of years of history) is noted, not queued."""
    repeat_days: int = 90
    """Earlier feedback from the same customer within this many days is a repeat contact."""
    contact_min_days: int = 14
    """No new follow-up or survey request to a customer contacted within this many days,
    unless a case needs it."""
    safety_words: tuple[str, ...] = DEFAULT_SAFETY_WORDS
    """Words that force a case to critical (matched as whole words, any case)."""
    segment_points: dict = field(default_factory=dict)
    """Customer value: points per segment or tier, e.g. {"vip": 20, "business": 10}."""
    thresholds: dict = field(default_factory=lambda: {"critical": 70, "high": 45,
                                                      "medium": 25})
    """Lowest priority score of each level (below `medium`: low)."""

    def check(self) -> CaseSettings:
        if not 0 < self.at_risk < 1:
            raise PolicyError(f"at risk: must be between 0 and 100% of the time, got "
                              f"{self.at_risk!r}")
        for name in ("lookback_days", "repeat_days", "contact_min_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PolicyError(f"{name.replace('_', ' ')}: must be a whole number of days "
                                  f"(0 or more), got {value!r}")
        words = [w for w in self.safety_words if not isinstance(w, str) or not w.strip()]
        if words:
            raise PolicyError("safety words: every entry must be a word or phrase")
        for segment, points in self.segment_points.items():
            if isinstance(points, bool) or not isinstance(points, (int, float)) \
                    or not 0 <= points <= 30:
                raise PolicyError(f"customer value: points for {segment!r} must be 0-30, got "
                                  f"{points!r}")
        t = self.thresholds
        if set(t) != {"critical", "high", "medium"} or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in t.values()):
            raise PolicyError("priority thresholds: give numbers for critical, high and medium")
        if not t["critical"] > t["high"] > t["medium"] > 0:
            raise PolicyError(f"priority thresholds: need critical > high > medium > 0, got "
                              f"{t['critical']}, {t['high']}, {t['medium']}")
        return self


def case_settings(db: sqlite_utils.Database) -> CaseSettings:
    saved = read_app_setting(db, SETTINGS_KEY, {}) or {}
    known = {k: v for k, v in saved.items() if k in CaseSettings.__dataclass_fields__}
    if "safety_words" in known:
        known["safety_words"] = tuple(known["safety_words"])
    return CaseSettings(**known)


def save_case_settings(db: sqlite_utils.Database, settings: CaseSettings, *, actor: str,
                       now: datetime | None = None) -> None:
    settings = replace(settings, safety_words=tuple(
        w.strip().lower() for w in settings.safety_words if isinstance(w, str) and w.strip())
        if all(isinstance(w, str) for w in settings.safety_words) else settings.safety_words)
    settings.check()
    write_app_setting(db, SETTINGS_KEY, {**asdict(settings),
                                         "safety_words": list(settings.safety_words)},
                      actor=actor, now=now)


# ------------------------------------------------------------------ routes


def route_bands(db: sqlite_utils.Database) -> dict[str, dict[str, tuple[float, float]]]:
    saved = read_app_setting(db, BANDS_KEY)
    if saved is None:
        return {k: dict(v) for k, v in DEFAULT_BANDS.items()}
    return {scale: {route: (float(lo), float(hi)) for route, (lo, hi) in routes.items()}
            for scale, routes in saved.items()}


def save_route_bands(db: sqlite_utils.Database, bands: dict, *, actor: str,
                     now: datetime | None = None) -> None:
    """Check and record the score bands: per scale, per route, (lowest, highest) score;
    bands inside the scale, low <= high, no overlap. A scale may leave a route out."""
    clean: dict[str, dict[str, list[float]]] = {}
    for scale, routes in bands.items():
        if scale not in SCORE_TYPES:
            raise PolicyError(f"route bands: unknown scale {scale!r}; one of "
                              f"{', '.join(SCORE_TYPES)}")
        low_end, high_end = SCORE_SCALES[scale]
        taken = []
        for route, band in routes.items():
            if route not in ROUTES:
                raise PolicyError(f"route bands: unknown route {route!r} for {scale}")
            try:
                lo, hi = (float(band[0]), float(band[1]))
            except (TypeError, ValueError, IndexError):
                raise PolicyError(f"route bands: {scale} {route} needs two numbers") from None
            if not low_end <= lo <= hi <= high_end:
                raise PolicyError(f"route bands: {scale} {route} {lo:g}-{hi:g} must lie within "
                                  f"{low_end}-{high_end} with the lower first")
            for other, (olo, ohi) in taken:
                if lo <= ohi and olo <= hi:
                    raise PolicyError(f"route bands: {scale} {route} {lo:g}-{hi:g} overlaps "
                                      f"{other} {olo:g}-{ohi:g}")
            taken.append((route, (lo, hi)))
            clean.setdefault(scale, {})[route] = [lo, hi]
    write_app_setting(db, BANDS_KEY, clean, actor=actor, now=now)


def route_for(bands: dict, score_type: str | None, score: float | None,
              sentiment: str | None) -> str | None:
    """The route a response takes: by its score's band, else (no score) recovery for a
    negative comment; None: no case."""
    if score_type is not None and score is not None:
        for route, (lo, hi) in bands.get(score_type, {}).items():
            if lo <= score <= hi:
                return route
        return None
    return "recovery" if sentiment == "negative" else None


# ------------------------------------------------------------------ SLA policies


def sla_policies(db: sqlite_utils.Database) -> dict[str, SlaPolicy]:
    saved = read_app_setting(db, SLA_KEY)
    if saved is None:
        return dict(DEFAULT_SLA)
    return {p: SlaPolicy(**saved[p]) if p in saved else DEFAULT_SLA[p] for p in PRIORITIES}


def save_sla_policies(db: sqlite_utils.Database, policies: dict[str, SlaPolicy], *,
                      actor: str, now: datetime | None = None) -> None:
    for priority in PRIORITIES:
        if priority not in policies:
            raise PolicyError(f"SLA policy: {priority} is missing")
        p = policies[priority]
        for stage, minutes in (("acknowledge", p.acknowledge), ("resolve", p.resolve),
                               ("follow up", p.follow_up)):
            if minutes is None and stage == "follow up":
                continue
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
                raise PolicyError(f"SLA policy: {priority} {stage} must be a whole number of "
                                  f"minutes above 0, got {minutes!r}")
        if p.resolve < p.acknowledge:
            raise PolicyError(f"SLA policy: {priority} resolve ({p.resolve} min) comes before "
                              f"acknowledge ({p.acknowledge} min)")
    write_app_setting(db, SLA_KEY, {p: asdict(policies[p]) for p in PRIORITIES}, actor=actor,
                      now=now)


# ------------------------------------------------------------------ calendars


def default_calendar() -> BusinessCalendar:
    return BusinessCalendar(timezone=get_settings().timezone)


def calendars(db: sqlite_utils.Database) -> dict[str, BusinessCalendar]:
    """Location -> its business calendar; DEFAULT_CALENDAR for every other location."""
    saved = read_app_setting(db, CALENDARS_KEY, {}) or {}
    found = {location: BusinessCalendar.from_dict(value) for location, value in saved.items()}
    found.setdefault(DEFAULT_CALENDAR, default_calendar())
    return found


def calendar_for(found: dict[str, BusinessCalendar], location: str | None) -> BusinessCalendar:
    return found.get(location or DEFAULT_CALENDAR) or found[DEFAULT_CALENDAR]


def save_calendar(db: sqlite_utils.Database, location: str, calendar: dict, *, actor: str,
                  now: datetime | None = None) -> None:
    """Check and record one location's calendar (DEFAULT_CALENDAR for the default)."""
    if not isinstance(location, str) or not location.strip():
        raise PolicyError("calendar: name the location (or * for the default)")
    try:
        checked = BusinessCalendar.from_dict(calendar)
    except CalendarError as exc:
        raise PolicyError(f"calendar of {location}: {exc}") from None
    saved = read_app_setting(db, CALENDARS_KEY, {}) or {}
    write_app_setting(db, CALENDARS_KEY, {**saved, location.strip(): checked.as_dict()},
                      actor=actor, now=now)


def remove_calendar(db: sqlite_utils.Database, location: str, *, actor: str,
                    now: datetime | None = None) -> None:
    saved = read_app_setting(db, CALENDARS_KEY, {}) or {}
    if location in saved:
        write_app_setting(db, CALENDARS_KEY, {k: v for k, v in saved.items() if k != location},
                          actor=actor, now=now)


def band_rows(bands: dict) -> list[dict]:
    """The bands as editable rows (scale, route, lowest, highest): every scale x route, a
    route the scale leaves out with blank bounds."""
    return [{"scale": scale, "route": route,
             "lowest": bands.get(scale, {}).get(route, (None, None))[0],
             "highest": bands.get(scale, {}).get(route, (None, None))[1]}
            for scale in SCORE_TYPES for route in ROUTES]


def bands_from_rows(rows: list[dict]) -> dict:
    """Rows back to bands (for `save_route_bands`): both bounds blank leaves the route out;
    one blank is an error naming the row."""
    bands: dict[str, dict[str, tuple[float, float]]] = {}
    for row in rows:
        low, high = row.get("lowest"), row.get("highest")
        blank = [v is None or (isinstance(v, float) and v != v) or v == "" for v in (low, high)]
        if all(blank):
            continue
        if any(blank):
            raise PolicyError(f"route bands: {row['scale']} {row['route']} needs both the lowest "
                              f"and the highest score (or neither)")
        bands.setdefault(row["scale"], {})[row["route"]] = (low, high)
    return bands

"""What the Case queue and Case settings pages show, shaped from `analysis.cases`: the queue
(what is due first, countdowns in business time, SLA state in words and colour, priority
with its parts), its health, one case's detail (stages, priority parts, feedback, the
customer's earlier contacts, timeline, merge candidates), and the settings forms' values and
what they turn into. Reads only; `*_from_form` raise PolicyError naming the field.

    shown = queue(db, now=now, status="open", owner_id=None, team_id=None)
    queue_table(shown.rows, tz)          # one row per case, due first
    countdown(95, "at risk")             # "due in 1 h 35 min (business time)"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import sqlite_utils

from analysis.cases import people as people_mod
from analysis.cases import records
from analysis.cases.calendar import WEEKDAYS, BusinessCalendar
from analysis.cases.people import OPEN_STATUSES, RoutingRule
from analysis.cases.policy import (
    PRIORITIES,
    STAGES,
    CaseSettings,
    PolicyError,
    SlaPolicy,
    case_settings,
)
from analysis.store.clock import from_iso

MAX_ROWS = 200
"""The queue shows this many cases at most (what is due first); the count says how many
match."""
MAX_TEXT = 300
SCOPES = {"all": "All cases", "team": "My team", "mine": "My cases"}
STATUS_FILTERS = {"open": "Open (not resolved yet)", "all": "Every status"} | {
    s: s.capitalize() for s in records.STATUSES}
SLA_STATES = ("breached", "at risk", "paused", "on track", "met", "not started", "none")
SLA_BADGES = {"breached": "🔴 breached", "at risk": "🟠 at risk", "paused": "⏸️ paused",
              "on track": "🟢 on track", "met": "✅ met", "not started": "⚪ not started",
              "none": "— no target"}
PRIORITY_BADGES = {"critical": "🟥 critical", "high": "🟧 high", "medium": "🟨 medium",
                   "low": "⬜ low"}
ROUTE_LABELS = {"recovery": "Recovery", "improvement": "Improvement", "advocacy": "Advocacy",
                "root cause": "Root cause"}
NO_CASES = ("No cases yet. The sweep (`python -m analysis sweep`, or the Trends page's "
            "\"Run the sweep now\") opens a case for each negative response once feedback "
            "is imported. Set up teams, people, routing rules and SLA policies on the Case "
            "settings page first, so that new cases go to someone.")
NO_PEOPLE = ("No people yet: cases wait unassigned. Add teams and people on the Case settings "
             "page.")
FOLLOW_UP_HELP = ("\"Queue follow-up\" puts the message in the outbox, which sends it within "
                  "a minute; \"Send now\" also sends what is due at once. Once it is sent it "
                  "is on the timeline, and a resolved case becomes followed up.")
MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>$~#|])")


def markdown_safe(text) -> str:
    """Our sentences that quote user text, made inert for st.warning's Markdown."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


def cut(text, limit: int = MAX_TEXT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


# --------------------------------------------------------------------------- wording

def minutes_text(minutes: float) -> str:
    """3 h 20 min, 45 min, 0 min (rounded to the minute)."""
    total = round(abs(minutes))
    hours, mins = divmod(total, 60)
    if hours and mins:
        return f"{hours:,} h {mins} min"
    return f"{hours:,} h" if hours else f"{mins} min"


def countdown(minutes_left: float | None, state: str | None) -> str:
    """"due in 3 h 20 min (business time)", "2 h 5 min late", or what the state says."""
    if state == "paused":
        return "paused: waiting on the customer"
    if minutes_left is None:
        return {"met": "all stages met", "none": "no target",
                "not started": "nothing due yet"}.get(state or "", "nothing due")
    if minutes_left < 0:
        return f"{minutes_text(minutes_left)} late (business time)"
    return f"due in {minutes_text(minutes_left)} (business time)"


def sla_badge(state: str | None) -> str:
    return SLA_BADGES.get(state or "none", str(state))


def priority_parts_text(reasons: list[dict]) -> str:
    """The parts that scored, e.g. "severity 35 + theme 12 + repeat 10"; a safety word says
    so."""
    parts = [f"{r['part']} {r['points']:g}" for r in reasons if r.get("points")]
    flags = [r["part"] for r in reasons if r.get("part") == "safety/legal"]
    text = " + ".join(parts) or "0"
    return text + (" (safety/legal: critical)" if flags else "")


def local_time(value, timezone: str) -> str:
    if not value:
        return ""
    moment = from_iso(value) if isinstance(value, str) else value
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def minutes_between_text(minutes: float | None) -> str:
    return "n/a" if minutes is None else minutes_text(minutes)


# --------------------------------------------------------------------------- the queue

@dataclass(frozen=True)
class Queue:
    total: int
    """How many cases match the filters."""
    rows: list[dict]
    """The first MAX_ROWS of them, what is due first first."""


def queue(db: sqlite_utils.Database, *, now: datetime, status: str = "open",
          owner_id: int | None = None, team_id: int | None = None, priorities=(),
          locations=(), theme_ids=(), routes=(), sla_states=(), limit: int | None = None,
          open_cases: list[dict] | None = None) -> Queue:
    """The cases matching the filters, what is due first first (records.list_cases). With
    `open_cases` (list_cases' open cases at `now`, read once for many views), open ones are
    narrowed from it instead of read again."""
    limit = limit or MAX_ROWS
    filters = {"owner_id": owner_id, "team_id": team_id, "priorities": tuple(priorities),
               "locations": tuple(locations), "theme_ids": tuple(theme_ids),
               "routes": tuple(routes), "sla_states": tuple(sla_states)}
    if status == "open" and open_cases is not None:
        rows = narrow(open_cases, **filters)
    else:
        rows = records.list_cases(db, now=now, status=status, **filters)
    return Queue(total=len(rows), rows=rows[:limit])


def narrow(rows: list[dict], *, owner_id: int | None = None, team_id: int | None = None,
           priorities=(), locations=(), theme_ids=(), routes=(), sla_states=()) -> list[dict]:
    """list_cases' filters applied to rows it returned (the order kept)."""
    checks = [(column, set(values)) for column, values in (
        ("priority", priorities), ("location", locations), ("theme_id", theme_ids),
        ("route", routes), ("sla_state", sla_states)) if values]
    checks += [(column, {value}) for column, value in (("owner_id", owner_id),
                                                        ("team_id", team_id))
               if value is not None]
    if not checks:
        return rows
    return [r for r in rows if all(r[column] in allowed for column, allowed in checks)]


def health(db: sqlite_utils.Database, *, now: datetime,
           open_cases: list[dict] | None = None, team_ids=None) -> dict:
    """records.queue_health over every open case (the whole queue, whatever is filtered),
    or over the cases of `team_ids` (a manager's queue)."""
    return records.queue_health(db, now=now, cases=open_cases, team_ids=team_ids)


def health_metrics(found: dict) -> dict[str, tuple[str, str]]:
    """Label -> (value, help) for the tiles at the top of the queue."""
    out = {"Open": (f"{found['open']:,}", "Cases not resolved yet."),
           "At risk": (f"{found['at_risk']:,}",
                       "Open cases with a stage that has used most of its time."),
           "Breached": (f"{found['breached']:,}", "Open cases with a stage past due.")}
    for stage in STAGES:
        met = found["sla_met"][stage]
        value = "n/a" if met["share"] is None else f"{met['share']:.0%}"
        out[f"{stage.capitalize()} SLA met"] = (
            value, (f"This week: {met['met']:,} of {met['due']:,} {stage} deadlines that came "
                    "due were met."))
    median = found["median_minutes_to_acknowledge"]
    out["Median time to acknowledge"] = (
        minutes_between_text(median),
        "Over cases acknowledged this week, from opening, in wall-clock time.")
    return out


QUEUE_COLUMNS = ["case", "due", "SLA", "priority", "score", "priority parts", "status",
                 "title", "owner", "team", "location", "theme", "route", "opened"]


def queue_table(rows: list[dict], timezone: str) -> pd.DataFrame:
    return pd.DataFrame([{
        "case": r["id"], "due": countdown(r["minutes_left"], r["sla_state"]),
        "SLA": sla_badge(r["sla_state"]), "priority": PRIORITY_BADGES.get(r["priority"]),
        "score": r["priority_score"], "priority parts": priority_parts_text(
            r["priority_reasons"]),
        "status": r["status"], "title": cut(r["title"], 120), "owner": r["owner"] or "unassigned",
        "team": r["team"] or "", "location": r["location"] or "", "theme": r["theme"] or "",
        "route": ROUTE_LABELS.get(r["route"], r["route"]),
        "opened": local_time(r["opened_at"], timezone)} for r in rows], columns=QUEUE_COLUMNS)


SLA_COLOURS = {"breached": "background-color: #fde2e1; color: #8a1c1c",
               "at risk": "background-color: #fff1d6; color: #7a4a00",
               "paused": "background-color: #e8eaf0", "on track": "color: #14532d"}
"""Cell colours of the SLA and due columns (the text says the same, for any reader)."""


def queue_styler(frame: pd.DataFrame):
    """The queue table with its SLA and due cells coloured by the SLA state."""
    states = {badge: SLA_COLOURS.get(state, "") for state, badge in SLA_BADGES.items()}

    def colour(row: pd.Series) -> list[str]:
        style = states.get(row["SLA"], "")
        return [style if column in ("SLA", "due") else "" for column in row.index]

    return frame.style.apply(colour, axis=1)


def case_label(row: dict) -> str:
    """A case in a select box: what does not change (a select box keeps its pick by label)."""
    return f"#{row['id']} {cut(row['title'], 70)}"


def as_id(value) -> int | None:
    """An id picked in a select box: Streamlit keeps a pick by its label, and hands back
    the label itself when the options' labels changed since ("#12 ..." -> 12)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.match(r"^#(\d+)\b", str(value or ""))
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class QueueOptions:
    locations: list[str]
    themes: dict[int, str]
    people: dict[int, str]
    """Active people, id -> "Name (team)"."""
    everyone: list[dict]
    """Every person (people.people rows)."""
    has_cases: bool


def queue_options(db: sqlite_utils.Database) -> QueueOptions:
    locations = [r[0] for r in db.execute(
        "SELECT DISTINCT location FROM cases WHERE location IS NOT NULL AND location != '' "
        "ORDER BY location COLLATE NOCASE")]
    themes = dict(db.execute(
        "SELECT DISTINCT t.id, t.name FROM cases c JOIN themes t ON t.id = c.theme_id "
        "ORDER BY t.name COLLATE NOCASE").fetchall())
    everyone = people_mod.people(db)
    active = {p["id"]: person_label(p) for p in everyone if p["active"]}
    has_cases = db.execute("SELECT EXISTS (SELECT 1 FROM cases)").fetchone()[0] == 1
    return QueueOptions(locations, themes, active, everyone, has_cases)


def person_label(person: dict) -> str:
    team = f", {person['team']}" if person.get("team") else ""
    return f"{person['name']} ({person['role']}{team})"


# --------------------------------------------------------------------------- one case

@dataclass(frozen=True)
class CaseDetail:
    case: dict
    stages: pd.DataFrame
    priority: pd.DataFrame
    feedback: pd.DataFrame
    earlier: pd.DataFrame
    timeline: pd.DataFrame
    owner: str
    team: str
    theme: str
    merge_candidates: dict[int, str]
    """Other open cases of the same customer, id -> label: can be merged into this one."""
    merged_here: dict[int, str]
    """Cases merged into this one, id -> label: can be unmerged."""
    moves: tuple[str, ...]
    """The statuses this case can move to."""


def case_detail(db: sqlite_utils.Database, case_id: int, *, now: datetime,
                timezone: str) -> CaseDetail:
    case = records.get_case(db, case_id)
    clocks = records.Clocks.load(db)
    stages = clocks.status(case, now, case_settings(db).at_risk)
    stage_rows = [{"stage": stage, "state": sla_badge(s["state"]),
                   "due": local_time(s["due"], timezone) if s["due"] else "",
                   "time left": countdown(s["minutes_left"], s["state"])
                   if s["minutes_left"] is not None else ""}
                  for stage, s in stages.items()]
    names = dict(db.execute("SELECT id, name FROM people").fetchall())
    team = db.execute("SELECT name FROM teams WHERE id = ?", [case["team_id"]]).fetchone()
    theme = db.execute("SELECT name FROM themes WHERE id = ?", [case["theme_id"]]).fetchone()
    own = set(case["feedback_ids"])
    history = [h for h in records.contact_history(db, case["customer_key"])
               if not (h["kind"] == "feedback" and h["id"] in own)
               and not (h["kind"] == "case" and h["id"] == case["id"])]
    candidates, merged_here = {}, {}
    if case["customer_key"] and case["status"] != "merged":
        marks = ", ".join("?" * len(OPEN_STATUSES))
        for row in db.query(f"SELECT id, title, status FROM cases WHERE customer_key = ? "
                            f"AND id != ? AND status IN ({marks}) ORDER BY id",
                            [case["customer_key"], case["id"], *OPEN_STATUSES]):
            candidates[row["id"]] = case_label(row)
    for row in db.query("SELECT id, title, status FROM cases WHERE merged_into = ? "
                        "ORDER BY id", [case["id"]]):
        merged_here[row["id"]] = case_label(row)
    return CaseDetail(
        case=case,
        stages=pd.DataFrame(stage_rows, columns=["stage", "state", "due", "time left"]),
        priority=pd.DataFrame([{"part": r["part"], "points": r["points"],
                                "why": cut(r["why"], 200)} for r in case["priority_reasons"]],
                              columns=["part", "points", "why"]),
        feedback=feedback_table(records.case_feedback(db, case["id"]), timezone),
        earlier=pd.DataFrame([{"at": local_time(h["at"], timezone), "kind": h["kind"],
                               "id": h["id"], "summary": cut(h["summary"])} for h in history],
                             columns=["at", "kind", "id", "summary"]),
        timeline=timeline_table(records.timeline(db, case["id"]), names, timezone),
        owner=names.get(case["owner_id"], "unassigned") if case["owner_id"] else "unassigned",
        team=team[0] if team else "no team", theme=theme[0] if theme else "no theme",
        merge_candidates=candidates, merged_here=merged_here,
        moves=records.TRANSITIONS.get(case["status"], ()))


def feedback_table(rows: list[dict], timezone: str) -> pd.DataFrame:
    return pd.DataFrame([{
        "feedback": r["id"], "received": local_time(r["received_at"], timezone),
        "score": "" if r["score"] is None else f"{(r['score_type'] or '').upper()} "
                                               f"{r['score']:g}",
        "sentiment": r["sentiment"] or "", "comment": cut(r["comment"]),
        "location": r["location"] or "", "channel": r["channel"] or ""} for r in rows],
        columns=["feedback", "received", "score", "sentiment", "comment", "location",
                 "channel"])


def timeline_table(events: list[dict], names: dict, timezone: str) -> pd.DataFrame:
    rows = []
    for e in events:
        change = (f"{e['from_status'] or '·'} → {e['to_status']}"
                  if e["to_status"] and e["from_status"] != e["to_status"] else "")
        rows.append({"at": local_time(e["at"], timezone), "event": e["event"],
                     "change": change, "by": e["actor"], "note": cut(e["note"] or ""),
                     "detail": cut(_detail_text(e["event"], e["detail"] or {}, names))})
    return pd.DataFrame(rows, columns=["at", "event", "change", "by", "note", "detail"])


def _detail_text(name: str, detail: dict, names: dict) -> str:
    def who(person):
        return "nobody" if person is None else names.get(person, f"person {person}")

    if name == "assigned":
        text = f"{who(detail.get('from_owner'))} → {who(detail.get('to_owner'))}"
        return text + (f" ({detail['why']})" if detail.get("why") else "")
    if name == "routed":
        return f"rule: {detail.get('rule')}; owner: {who(detail.get('owner_id'))}"
    if name == "merged":
        return f"into case #{detail.get('into')}"
    if name in ("merged in", "unmerged"):
        return f"from case #{detail.get('from')}"
    if name == "unmerged out":
        return f"case #{detail.get('case')}"
    if name == "escalated":
        return (f"level {detail.get('level')} to {detail.get('to') or 'nobody'}: "
                f"{detail.get('reason')}")
    if name in ("sla at risk", "sla breached"):
        return f"{detail.get('stage')} due {detail.get('due')}"
    if name == "follow-up queued":
        return (f"message #{detail.get('message')}, {detail.get('template')} (version "
                f"{detail.get('version')}): {detail.get('subject')}")
    if name in ("follow-up sent", "review request sent"):
        return f"message #{detail.get('message')} to {detail.get('to')}: {detail.get('subject')}"
    skip = {"feedback", "before", "team_id", "owner_id"}
    return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in detail.items()
                     if k not in skip and v not in ("", None, [], {}))


# --------------------------------------------------------------------------- settings

def teams_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"team": r["id"], "name": r["name"], "lead": r["lead"] or "",
                          "manager": r["manager"] or "", "active members": r["members"],
                          "changed": r["updated_at"], "by": r["updated_by"]} for r in rows],
                        columns=["team", "name", "lead", "manager", "active members",
                                 "changed", "by"])


def people_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"person": r["id"], "name": r["name"], "email": r["email"],
                          "team": r["team"] or "", "role": r["role"],
                          "capacity": r["capacity"], "open cases": r["open_cases"],
                          "active": bool(r["active"]), "changed": r["updated_at"],
                          "by": r["updated_by"]} for r in rows],
                        columns=["person", "name", "email", "team", "role", "capacity",
                                 "open cases", "active", "changed", "by"])


def rule_conditions(rule: RoutingRule, themes: dict[int, str]) -> str:
    parts = []
    for name in people_mod.RULE_FIELDS:
        value = getattr(rule, name)
        if value is None:
            continue
        if name == "theme_id":
            parts.append(f"theme = {themes.get(value, f'#{value}')}")
        else:
            parts.append(f"{name} = {value}")
    return " and ".join(parts) or "every case"


def rule_target(rule: RoutingRule, teams: dict[int, str], people: dict[int, str]) -> str:
    if rule.person_id is not None:
        return f"person: {people.get(rule.person_id, f'#{rule.person_id}')}"
    return f"team: {teams.get(rule.team_id, f'#{rule.team_id}')}"


def rules_table(found: list[RoutingRule], themes: dict[int, str], teams: dict[int, str],
                people: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame([{"order": n, "rule": r.id, "name": r.name,
                          "when": rule_conditions(r, themes),
                          "goes to": rule_target(r, teams, people), "active": r.active}
                         for n, r in enumerate(found, start=1)],
                        columns=["order", "rule", "name", "when", "goes to", "active"])


def reordered(found: list[RoutingRule], rule_id: int, step: int) -> list[RoutingRule]:
    """The rules with `rule_id` moved one place up (step -1) or down (+1), positions 1..n;
    only the rules whose position changes are returned (to be saved)."""
    ids = [r.id for r in found]
    at = ids.index(rule_id)
    to = at + step
    if not 0 <= to < len(found):
        return []
    order = list(found)
    order[at], order[to] = order[to], order[at]
    from dataclasses import replace

    return [replace(r, position=n) for n, r in enumerate(order, start=1) if r.position != n]


UNITS = {"minutes": 1, "hours": 60}


def sla_form_values(policies: dict[str, SlaPolicy]) -> dict[str, dict]:
    """Per priority: unit (hours when every target is whole hours), acknowledge, resolve,
    follow up (0: none), business_hours."""
    out = {}
    for priority in PRIORITIES:
        p = policies[priority]
        minutes = [m for m in (p.acknowledge, p.resolve, p.follow_up) if m is not None]
        unit = "hours" if all(m % 60 == 0 for m in minutes) else "minutes"
        k = UNITS[unit]
        out[priority] = {"unit": unit, "acknowledge": p.acknowledge / k,
                         "resolve": p.resolve / k,
                         "follow up": 0.0 if p.follow_up is None else p.follow_up / k,
                         "business_hours": p.business_hours}
    return out


def _whole_minutes(value, unit: str, field: str) -> int:
    if value is None:
        raise PolicyError(f"{field}: give a number")
    minutes = float(value) * UNITS[unit]
    if abs(minutes - round(minutes)) > 1e-6:
        raise PolicyError(f"{field}: {value:g} {unit} is not a whole number of minutes")
    return round(minutes)


def policies_from_form(values: dict[str, dict]) -> dict[str, SlaPolicy]:
    """The form's values (as `sla_form_values`) as policies; save_sla_policies checks the
    rest (above 0, resolve after acknowledge)."""
    out = {}
    for priority in PRIORITIES:
        v = values[priority]
        unit = v["unit"] if v.get("unit") in UNITS else "minutes"
        follow = _whole_minutes(v["follow up"] or 0, unit, f"SLA policy: {priority} follow up")
        out[priority] = SlaPolicy(
            acknowledge=_whole_minutes(v["acknowledge"], unit,
                                       f"SLA policy: {priority} acknowledge"),
            resolve=_whole_minutes(v["resolve"], unit, f"SLA policy: {priority} resolve"),
            follow_up=follow or None, business_hours=bool(v["business_hours"]))
    return out


def calendar_form_values(calendar: BusinessCalendar) -> dict:
    return {"timezone": calendar.timezone, "around_the_clock": calendar.around_the_clock,
            "country": calendar.country or "", "subdivision": calendar.subdivision or "",
            "closed_days": "\n".join(d.isoformat() for d in calendar.closed_days),
            **{f"hours_{day}": ", ".join(f"{a}-{b}" for a, b in calendar.hours[n])
               for n, day in enumerate(WEEKDAYS)}}


_SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$")


def _spans(text: str, day: str) -> list[list[str]]:
    spans = []
    for part in (p for p in re.split(r"[,;]", text or "") if p.strip()):
        match = _SPAN.match(part)
        if not match:
            raise PolicyError(f"opening hours on {day}: {part.strip()[:40]!r} is not "
                              "\"HH:MM-HH:MM\" (several: comma-separated; closed: empty)")
        spans.append([t.zfill(5) for t in match.groups()])
    return spans


def calendar_from_form(values: dict) -> dict:
    """The stored form for `policy.save_calendar`, which checks the rest (time zone,
    country, subdivision, times) and names the field."""
    days = []
    for n, line in enumerate(x.strip() for x in (values.get("closed_days") or "").splitlines()):
        if not line:
            continue
        try:
            date.fromisoformat(line)
        except ValueError:
            raise PolicyError(f"closed days: line {n + 1}, {line[:30]!r}, is not a date as "
                              "YYYY-MM-DD") from None
        days.append(line)
    return {"timezone": (values.get("timezone") or "").strip(),
            "around_the_clock": bool(values.get("around_the_clock")),
            "country": (values.get("country") or "").strip().upper() or None,
            "subdivision": (values.get("subdivision") or "").strip() or None,
            "closed_days": days,
            "hours": {day: _spans(values.get(f"hours_{day}", ""), day) for day in WEEKDAYS}}


def calendar_summary(calendar: BusinessCalendar) -> str:
    if calendar.around_the_clock:
        hours = "around the clock"
    else:
        hours = "; ".join(f"{day} {', '.join(f'{a}-{b}' for a, b in calendar.hours[n])}"
                          for n, day in enumerate(WEEKDAYS) if calendar.hours[n]) or "closed"
    holidays = (f"public holidays of {calendar.country}"
                + (f"-{calendar.subdivision}" if calendar.subdivision else "")
                if calendar.country else "no public holidays")
    extra = f", {len(calendar.closed_days)} extra closed day(s)" if calendar.closed_days else ""
    return f"{calendar.timezone}: {hours}; {holidays}{extra}"


def settings_form_values(settings: CaseSettings) -> dict:
    return {"at_risk_pct": round(settings.at_risk * 100, 2),
            "lookback_days": settings.lookback_days, "repeat_days": settings.repeat_days,
            "contact_min_days": settings.contact_min_days,
            "safety_words": "\n".join(settings.safety_words),
            "segment_points": "\n".join(f"{k}: {v:g}"
                                        for k, v in settings.segment_points.items()),
            **{f"threshold_{k}": float(settings.thresholds[k])
               for k in ("critical", "high", "medium")}}


def _whole(value, field: str) -> int:
    if value is None or float(value) != int(value):
        raise PolicyError(f"{field}: must be a whole number of days (0 or more), got {value!r}")
    return int(value)


def settings_from_form(values: dict) -> CaseSettings:
    points = {}
    for n, line in enumerate((values.get("segment_points") or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, number = line.rpartition(":")
        try:
            value = float(number)
        except ValueError:
            value = None
        if not sep or not name.strip() or value is None:
            raise PolicyError(f"customer value: line {n}, {line.strip()[:40]!r}, is not "
                              "\"segment: points\"")
        points[name.strip()] = int(value) if value == int(value) else value
    words = tuple(w.strip() for w in (values.get("safety_words") or "").splitlines()
                  if w.strip())
    at_risk = values.get("at_risk_pct")
    if at_risk is None:
        raise PolicyError("at risk: give the share of a stage's time (%)")
    return CaseSettings(
        at_risk=float(at_risk) / 100,
        lookback_days=_whole(values.get("lookback_days"), "lookback days"),
        repeat_days=_whole(values.get("repeat_days"), "repeat days"),
        contact_min_days=_whole(values.get("contact_min_days"), "contact min days"),
        safety_words=words, segment_points=points,
        thresholds={k: values.get(f"threshold_{k}") for k in ("critical", "high", "medium")})


def last_changed(history: list[dict]) -> str:
    if not history:
        return "Defaults: never changed."
    return f"Last changed by {history[0]['actor']} at {history[0]['at']}."


@dataclass(frozen=True)
class SettingsOptions:
    teams: dict[int, str]
    people: dict[int, str]
    """Everyone (active or not), id -> "Name (role, team)"."""
    themes: dict[int, str]
    locations: list[str]
    segments: list[str]
    channels: list[str]


def settings_options(db: sqlite_utils.Database) -> SettingsOptions:
    from analysis.domain.filters import filter_options
    from analysis.themes.queries import CHILD, PARENT
    from analysis.themes.queries.base import theme_choices

    found = filter_options(db)
    themes = dict(theme_choices(db, CHILD))
    themes |= {t: f"{n} (parent theme)" for t, n in theme_choices(db, PARENT).items()}
    return SettingsOptions(
        teams={t["id"]: t["name"] for t in people_mod.teams(db)},
        people={p["id"]: person_label(p) + ("" if p["active"] else ", inactive")
                for p in people_mod.people(db)},
        themes=dict(sorted(themes.items(), key=lambda kv: kv[1].casefold())),
        locations=found.get("locations", []), segments=found.get("segments", []),
        channels=found.get("channels", []))

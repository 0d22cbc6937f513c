"""An improvement's impact, from the store: its measure's weekly cells, the windows its dates
give, every estimate (impact.py), the verdict in words, and the warnings only the store
knows of (another improvement in the same place and window, a spike alert in the window).

    report = impact_report(db, improvement_id, window_weeks=8)
    report.as_dict()   # what `python -m analysis impact` prints
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlite_utils

from analysis.domain.filters import date_bounds
from analysis.improvements.impact import (
    ALPHA,
    WINDOW_WEEKS,
    ImpactResult,
    estimate_impact,
)
from analysis.improvements.measures import Measure, measure_for, weekly_cells
from analysis.improvements.records import Improvement, get_improvement
from analysis.settings import get_settings
from analysis.store.clock import utcnow
from analysis.themes.queries.base import theme_members
from analysis.trends.periods import period_of


@dataclass
class ImpactReport:
    improvement: Improvement
    measure: Measure
    result: ImpactResult | None
    verdict: str
    warnings: list[str]

    def as_dict(self) -> dict:
        """The CLI's JSON: the headline method and its figures, every method's figures,
        n_pre, n_post, min_detectable_effect, warnings."""
        r = self.result
        head = r.headline if r else None
        return {
            "id": self.improvement.id, "title": self.improvement.title,
            "measure": self.measure.label, "unit": self.measure.unit,
            "higher_is_better": self.measure.higher_is_better,
            "headline": head.method if head else None,
            "headline_label": head.label if head else None,
            "effect": head.effect if head else None,
            "ci_low": head.ci_low if head else None, "ci_high": head.ci_high if head else None,
            "p_value": head.p_value if head else None,
            "verdict": self.verdict,
            "n_pre": r.n_pre if r else 0, "n_post": r.n_post if r else 0,
            "min_detectable_effect": r.min_detectable_effect if r else None,
            "methods": [e.as_dict() for e in r.estimates] if r else [],
            "design": r.design if r else {},
            "windows": {k: (v.isoformat() if isinstance(v, date) else v)
                        for k, v in (r.windows if r else {}).items()},
            "comparison": r.comparison if r else [],
            "event_study": r.event_study if r else [],
            "warnings": self.warnings,
        }


def change_weeks(improvement: Improvement, tz: str) -> tuple[date, date]:
    """(the first week the change touches, the first week wholly after it and its
    roll-out): a change effective on a Wednesday leaves its week out of both windows."""
    del tz  # the dates are local already
    effective = improvement.effective_date
    first = effective - timedelta(days=effective.weekday())
    done = improvement.rollout_end or effective
    post = done - timedelta(days=done.weekday())
    if improvement.rollout_end is not None or effective.weekday() != 0:
        post += timedelta(weeks=1)
    return first, post


def impact_report(db: sqlite_utils.Database, improvement_id: int, *,
                  window_weeks: int = WINDOW_WEEKS, comparison: list[str] | None = None,
                  now: datetime | None = None) -> ImpactReport:
    improvement = get_improvement(db, improvement_id)
    measure = measure_for(db, improvement)
    tz = get_settings().timezone
    now = now or utcnow()
    last_week = period_of(now, "week", tz) - timedelta(weeks=1)
    pre_end, post_start = change_weeks(improvement, tz)
    bounds = date_bounds(db)
    if bounds is None or pre_end - timedelta(weeks=window_weeks) > last_week:
        verdict = ("Not measurable yet: no feedback before the change." if bounds is None
                   else "Not measurable yet: the change is in the future.")
        return ImpactReport(improvement, measure, None, verdict, [verdict])
    first = min(bounds[0], pre_end - timedelta(weeks=window_weeks))
    cells = weekly_cells(db, measure, first=first, last=last_week, tz=tz)
    cells = cells[cells["week"] <= last_week]
    others = _touched_elsewhere(db, improvement)
    candidates = comparison if comparison is not None else sorted(
        set(cells["location"]) - set(improvement.locations) - others)
    result = estimate_impact(cells, treated=list(improvement.locations), pre_end=pre_end,
                             post_start=post_start, last_week=last_week,
                             window_weeks=window_weeks, comparison=candidates,
                             first_week=first - timedelta(days=first.weekday()))
    warnings = list(result.warnings)
    if others and comparison is None:
        warnings.append("left out of the comparison because another improvement on the same "
                        f"target touched them in the window: {', '.join(sorted(others))}")
    warnings += _overlaps(db, improvement, result)
    warnings += _spike_alerts(db, improvement, result)
    return ImpactReport(improvement, measure, result, verdict_text(measure, result), warnings)


def _window_bounds(result: ImpactResult) -> tuple[date, date]:
    w = result.windows
    end = (w["post_last"] or w["pre_last"]) + timedelta(days=6)
    return w["pre_first"], end


def _same_target_sql(improvement: Improvement) -> tuple[str, list]:
    if improvement.metric:
        return "i.metric = ?", [improvement.metric]
    ids = list(improvement.theme_ids)
    return (f"i.id IN (SELECT improvement_id FROM improvement_themes WHERE theme_id IN "
            f"({', '.join('?' * len(ids))}))", ids)


def _other_improvements(db, improvement: Improvement, start: date, end: date):
    target, params = _same_target_sql(improvement)
    return list(db.query(
        f"""SELECT i.id, i.title, i.effective_date,
                   (SELECT group_concat(location, ', ') FROM improvement_locations l
                    WHERE l.improvement_id = i.id) AS locations
            FROM improvements i WHERE i.id != ? AND i.status != 'abandoned' AND {target}
              AND i.effective_date BETWEEN ? AND ?""",
        [improvement.id, *params, start.isoformat(), end.isoformat()]))


def _touched_elsewhere(db, improvement: Improvement) -> set[str]:
    """Locations another live improvement on the same target changed within a year of
    this one: not untouched, so not a comparison."""
    start = improvement.effective_date - timedelta(weeks=26)
    end = improvement.effective_date + timedelta(weeks=26)
    found = set()
    for row in _other_improvements(db, improvement, start, end):
        found |= {loc.strip() for loc in (row["locations"] or "").split(",")}
    return found - set(improvement.locations)


def _overlaps(db, improvement: Improvement, result: ImpactResult) -> list[str]:
    start, end = _window_bounds(result)
    out = []
    for row in _other_improvements(db, improvement, start, end):
        shared = set((row["locations"] or "").split(", ")) & set(improvement.locations)
        if shared:
            out.append(f"another improvement overlaps: #{row['id']} \"{row['title']}\" "
                       f"({row['effective_date']}) at {', '.join(sorted(shared))} on the "
                       "same target in the window; the estimate mixes both")
    return out


def _spike_alerts(db, improvement: Improvement, result: ImpactResult) -> list[str]:
    start, end = _window_bounds(result)
    places = ", ".join("?" * len(improvement.locations))
    where = ["p.crossed = 1", "p.period_start BETWEEN ? AND ?",
             f"(a.location IS NULL OR a.location = '' OR a.location IN ({places}))"]
    params = [start.isoformat(), end.isoformat(), *improvement.locations]
    if improvement.theme_ids:
        members = sorted({m for t in improvement.theme_ids for m in theme_members(db, t)}
                         | set(improvement.theme_ids))
        where.append(f"a.theme_id IN ({', '.join('?' * len(members))})")
        params += members
    rows = db.execute(
        f"""SELECT DISTINCT a.id, t.name, COALESCE(NULLIF(a.location, ''), 'all locations'),
                   MIN(p.period_start)
            FROM alerts a JOIN alert_periods p ON p.alert_id = a.id
            JOIN themes t ON t.id = a.theme_id
            WHERE {' AND '.join(where)} GROUP BY a.id ORDER BY a.id""", params).fetchall()
    return [f"the window contains a spike alert: #{alert_id} {name} at {where_} (from "
            f"{since}); a one-off spike moves the before/after figures"
            for alert_id, name, where_, since in rows]


def verdict_text(measure: Measure, result: ImpactResult) -> str:
    head = result.headline
    if head.effect is None or head.p_value is None:
        return "Not measurable: too little data in the windows around the change."
    unit = measure.unit
    direction = "rose" if head.effect > 0 else "fell"
    interval = (f"95% CI {head.ci_low:+.1f} to {head.ci_high:+.1f}"
                if head.ci_low is not None and head.ci_high is not None
                else "95% CI unbounded: too few placebos")
    figures = (f"{measure.label} {direction} by {abs(head.effect):.1f} {unit} against "
               f"{'the comparison locations' if result.comparison else 'its own history'} "
               f"({interval}; randomization p = {head.p_value:.3f}, "
               f"{result.design['placebos']} placebo "
               f"{'locations' if result.design['placebo'] == 'space' else 'dates'})")
    if head.p_value <= ALPHA:
        better = (head.effect > 0) == measure.higher_is_better
        return f"{'It worked' if better else 'It made things worse'}: {figures}."
    mde = result.min_detectable_effect
    floor = (f" The smallest effect this design detects with 80% power is about {mde:.1f} "
             f"{unit}." if mde is not None and math.isfinite(mde) else "")
    return f"No change detectable: {figures}.{floor}"

"""Outcomes of closing the loop: do customers with a recovery case come back happier, does
the follow-up go with a better next score, do complaints come back after resolution, and how
cases were resolved.

    found = outcomes(db, start=date(2025, 1, 1), end=date(2025, 4, 1), by="theme", now=now)
    found.detractor_recovery            # share of customers whose next score is higher
    found.next_score_by_follow_up       # per scale: followed up minus not, Welch t
    found.rows(), found.as_dict()

Definitions (the cohort fixed by the period, what became of it read as of `now`):

    detractor recovery   customers with a recovery case opened in the period whose score was
                         negative on NPS (a detractor, 0-6) or CSAT (1-2), their first such
                         case in the period: the share whose NEXT response on the same scale
                         (their earliest scored feedback received after the case opened) is
                         higher. Customers with no next response yet are counted apart
                         (`without_next_response`): their outcome is unknown, not "no better".
    next score by follow-up  the same customers' next scores, per scale: those whose case got a
                         follow-up sent before that next response, minus the others (Welch's
                         t test). Observational: who gets followed up is not random.
    repeat complaints    recovery cases resolved in the period, with a customer and a theme:
                         the share whose customer sent negative feedback (by its sentiment,
                         else its score band) on the same theme (or one of its children) within
                         `repeat_days` after the resolution. Only cases whose whole window has
                         passed by `now` count; the others are `repeat_window_open`.
    resolution mix       cases of every type resolved in the period (their current
                         resolution): count and share of each resolution category.

Grouping (`by`): the case's team, owner, location or theme; "month" is the month the case
opened (detractor recovery) or was resolved (repeat complaints, resolution mix).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlite_utils

from analysis.cases.policy import RESOLUTION_CATEGORIES
from analysis.domain.scores import score_band
from analysis.loop_health.figures import (
    OBSERVATIONAL,
    Comparison,
    estimate_dict,
    share,
    welch,
)
from analysis.loop_health.reads import (
    check_by,
    follow_ups_sent,
    group_of,
    load_cases,
    period,
)
from analysis.stats.estimates import SQL_IS_NEGATIVE, Estimate
from analysis.store.clock import from_iso, to_iso
from analysis.themes.queries.base import theme_members

RECOVERY_SCALES = ("nps", "csat")
REPEAT_DAYS = 90


@dataclass
class CategoryShare:
    category: str
    count: int
    share: Estimate


@dataclass
class Outcomes:
    start: str
    end: str
    as_of: str
    by: str | None
    group: str | None
    detractor_recovery: Estimate
    without_next_response: int
    next_score_by_follow_up: list[Comparison]
    repeat_complaints: Estimate
    repeat_window_open: int
    resolution_mix: list[CategoryShare]
    groups: list[Outcomes] = field(default_factory=list)

    def figures(self) -> list[tuple[str, Estimate]]:
        return [("detractor_recovery", self.detractor_recovery),
                ("repeat_complaints", self.repeat_complaints),
                *((f"resolution:{c.category}", c.share) for c in self.resolution_mix)]

    def rows(self) -> list[dict]:
        """One row per group (the whole period when not broken down) and figure: group,
        metric, value, ci_low, ci_high, n, method; the follow-up comparisons add p_value,
        other_n (the not-followed-up side; n is the followed-up side) and the caveat."""
        rows = []
        for part in self.groups or [self]:
            rows += [{"group": part.group, "metric": metric, **estimate_dict(figure),
                      "p_value": None, "other_n": None, "caveat": None}
                     for metric, figure in part.figures()]
            rows += [{"group": part.group, "metric": c.name, "value": c.estimate,
                      "ci_low": c.ci_low, "ci_high": c.ci_high, "n": c.n, "method": c.test,
                      "p_value": c.p_value, "other_n": c.other_n, "caveat": c.caveat}
                     for c in part.next_score_by_follow_up]
        return rows

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "as_of": self.as_of, "by": self.by,
                "group": self.group,
                "detractor_recovery": estimate_dict(self.detractor_recovery),
                "without_next_response": self.without_next_response,
                "next_score_by_follow_up": [c.as_dict() for c in self.next_score_by_follow_up],
                "repeat_complaints": estimate_dict(self.repeat_complaints),
                "repeat_window_open": self.repeat_window_open,
                "resolution_mix": [{"category": c.category, "count": c.count,
                                    "share": estimate_dict(c.share)}
                                   for c in self.resolution_mix],
                "groups": [g.as_dict() for g in self.groups]}


def outcomes(db: sqlite_utils.Database, *, start, end, by: str | None = None, now=None,
             repeat_days: int = REPEAT_DAYS) -> Outcomes:
    """Outcomes for [start, end) (dates or aware datetimes), overall and, with `by`, per
    group in `groups`. `now` (default: the clock) is when the outcomes are read: later
    responses and messages are not seen."""
    by = check_by(by)
    start_s, end_s, as_of, now_at = period(start, end, now)
    now_s = to_iso(now_at)
    cases = load_cases(db, before=as_of)

    def within(at):
        return at is not None and start_s <= at < as_of

    sent = follow_ups_sent(db, by=now_s)
    items = {"recovery": recovery_cohort(db, [c for c in cases if within(c["opened_at"])], sent,
                                     now_s),
             "repeat": _repeats(db, [c for c in cases if within(c["resolved_at"])], now_at,
                                repeat_days),
             "mix": [(c, c["resolved_at"], c["resolution_category"]) for c in cases
                     if within(c["resolved_at"]) and c["resolution_category"]]}
    whole = _outcomes(items, start_s, end_s, as_of, by, None)
    if by is not None:
        names = sorted({group_of(by, case, at) for found in items.values()
                        for case, at, _ in found} - {None})
        whole.groups = [_outcomes({k: [i for i in found if group_of(by, i[0], i[1]) == name]
                                   for k, found in items.items()},
                                  start_s, end_s, as_of, by, name) for name in names]
    return whole


# ------------------------------------------------------------------ what each counts


def recovery_cohort(db, opened: list[dict], sent: dict, now: str) -> list[tuple]:
    """(case, opened_at, {scale, score, next score or None, followed up before it?}) per
    customer: their first recovery case in the period with a negative NPS or CSAT score."""
    seen, found = set(), []
    for case in opened:
        if case["route"] != "recovery" or not case["customer_key"] \
                or case["customer_key"] in seen:
            continue
        marks = ", ".join("?" * len(RECOVERY_SCALES))
        first = db.execute(
            f"""SELECT f.id, f.score_type, f.score FROM case_feedback cf
                JOIN feedback f ON f.id = cf.feedback_id
                WHERE cf.case_id = ? AND f.score IS NOT NULL AND f.score_type IN ({marks})
                ORDER BY f.received_at, f.id LIMIT 1""",
            [case["id"], *RECOVERY_SCALES]).fetchone()
        if first is None or score_band(first[1], first[2]) != "negative":
            continue
        seen.add(case["customer_key"])
        after = db.execute(
            """SELECT score, received_at FROM feedback WHERE customer_key = ?
               AND score_type = ? AND score IS NOT NULL AND id != ?
               AND received_at > ? AND received_at <= ? ORDER BY received_at, id LIMIT 1""",
            [case["customer_key"], first[1], first[0], case["opened_at"], now]).fetchone()
        followed = after is not None and any(
            m["sent_at"] < after[1] for m in sent.get(case["id"], []))
        found.append((case, case["opened_at"], {
            "scale": first[1], "score": first[2], "next": after[0] if after else None,
            "followed_up": followed}))
    return found


def _repeats(db, resolved: list[dict], now, days: int) -> list[tuple]:
    """(case, resolved_at, repeated? or None while its window is still open) per resolved
    recovery case with a customer and a theme."""
    found = []
    for case in resolved:
        if case["route"] != "recovery" or not case["customer_key"] or case["theme_id"] is None:
            continue
        until = from_iso(case["resolved_at"]) + timedelta(days=days)
        if until > now:
            found.append((case, case["resolved_at"], None))
            continue
        members = theme_members(db, case["theme_id"])
        marks = ", ".join("?" * len(members))
        again = db.execute(
            f"""SELECT 1 FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
                WHERE f.customer_key = ? AND f.received_at > ? AND f.received_at <= ?
                  AND ({SQL_IS_NEGATIVE})
                  AND EXISTS (SELECT 1 FROM theme_assignments a WHERE a.feedback_id = f.id
                              AND a.theme_id IN ({marks}))
                LIMIT 1""",
            [case["customer_key"], case["resolved_at"], to_iso(until), *members]).fetchone()
        found.append((case, case["resolved_at"], again is not None))
    return found


# ------------------------------------------------------------------ the figures


def _outcomes(items: dict, start: str, end: str, as_of: str, by: str | None,
              group: str | None) -> Outcomes:
    answered = [v for _, _, v in items["recovery"] if v["next"] is not None]
    judged = [v for _, _, v in items["repeat"] if v is not None]
    categories = [v for _, _, v in items["mix"]]
    scales = [s for s in RECOVERY_SCALES if any(v["scale"] == s for v in answered)]
    return Outcomes(
        start=start, end=end, as_of=as_of, by=by, group=group,
        detractor_recovery=share("Detractor recovery % (next score higher)",
                                 sum(1 for v in answered if v["next"] > v["score"]),
                                 len(answered)),
        without_next_response=len(items["recovery"]) - len(answered),
        next_score_by_follow_up=[welch(
            f"Next {scale.upper()} score, followed up minus not",
            [v["next"] for v in answered if v["scale"] == scale and v["followed_up"]],
            [v["next"] for v in answered if v["scale"] == scale and not v["followed_up"]],
            caveat=OBSERVATIONAL) for scale in scales],
        repeat_complaints=share("Repeat complaints % (same theme after resolution)",
                                sum(judged), len(judged)),
        repeat_window_open=len(items["repeat"]) - len(judged),
        resolution_mix=[CategoryShare(c, categories.count(c),
                                      share(f"Resolved as {c} %", categories.count(c),
                                            len(categories)))
                        for c in RESOLUTION_CATEGORIES])

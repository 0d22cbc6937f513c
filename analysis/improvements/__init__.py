"""Improvements: changes made because of feedback, and whether they worked.

    records.py   the improvement (targets, dates, status, priority), its history, its
                 evidence (linked feedback) and whom to tell when it ships
    measures.py  the targeted measure per location and ISO week, as sums
    impact.py    before/after, interrupted time series, difference-in-differences and the
                 headline: randomization inference (placebo in space, else in time)
    report.py    all of it for one stored improvement, with the verdict and warnings
"""

from analysis.improvements.impact import ImpactResult, estimate_impact
from analysis.improvements.records import (
    METRICS,
    STATUSES,
    Improvement,
    ImprovementError,
    add_improvement,
    get_improvement,
    list_improvements,
    update_improvement,
)
from analysis.improvements.report import ImpactReport, impact_report

__all__ = ["METRICS", "STATUSES", "ImpactReport", "ImpactResult", "Improvement",
           "ImprovementError", "add_improvement", "estimate_impact", "get_improvement",
           "impact_report", "list_improvements", "update_improvement"]

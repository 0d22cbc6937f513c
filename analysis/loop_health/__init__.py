"""Loop health: is the case queue closing the loop with customers, and does it help?

    metrics.py   over a period: time to acknowledge and resolve, SLA met per stage, follow-up,
                 close-the-loop and escalation rates, backlog, cases per owner, automation
    outcomes.py  detractor recovery, next score with and without a follow-up, repeat
                 complaints after resolution, resolution category mix
    figures.py   the statistics: order-statistic quantile intervals, Wilson shares, Welch
    reads.py     the store reads, the period and the grouping (team, owner, location, theme,
                 month)

    health = loop_health(db, start=start, end=end, by="location", now=now)
    found = outcomes(db, start=start, end=end, by="month", now=now)
"""

from analysis.loop_health.figures import OBSERVATIONAL, Comparison
from analysis.loop_health.metrics import LoopHealth, OwnerLoad, loop_health
from analysis.loop_health.outcomes import CategoryShare, Outcomes, outcomes
from analysis.loop_health.reads import BY, LoopHealthError

__all__ = ["BY", "OBSERVATIONAL", "CategoryShare", "Comparison", "LoopHealth",
           "LoopHealthError", "Outcomes", "OwnerLoad", "loop_health", "outcomes"]

"""Figures for the Overview page: headline KPIs against the previous period, volume and NPS
over time, and a table per location. All aggregation happens in SQL, so the page stays fast
on 100,000 responses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import sqlite_utils

from analysis.domain.dates import STORED_DATE_SHAPE
from analysis.domain.filters import Filters, date_bounds
from analysis.domain.periods import period_start_sql
from analysis.stats import estimates as metrics
from analysis.stats.estimates import Difference, Estimate

DEFAULT_PERIOD_DAYS = 90


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    current: Estimate
    previous: Estimate
    change: Difference
    unit: str  # "pts", "%", "" ...


def default_period(db: sqlite_utils.Database, *, days: int = DEFAULT_PERIOD_DAYS) -> tuple[date, date] | None:
    """The last `days` days up to the latest feedback: what a first visit shows."""
    bounds = date_bounds(db)
    if bounds is None:
        return None
    first, last = bounds
    return max(first, last - timedelta(days=days - 1)), last


_SQL_NEGATIVE_COUNTS = f"""
    SUM(CASE WHEN {metrics.SQL_IS_NEGATIVE} THEN 1 ELSE 0 END) AS negative,
    SUM(CASE WHEN {metrics.SQL_IS_NEGATIVE} IS NOT NULL THEN 1 ELSE 0 END) AS judged
"""


def _aggregate(db, filters: Filters, group_by: str | None = None) -> list[dict]:
    """SQL_COUNTS plus negative counts over filtered feedback, optionally grouped."""
    where, params = filters.where_sql()
    select_group = f"{group_by} AS grp, " if group_by else ""
    return list(db.query(
        f"""SELECT {select_group}{metrics.SQL_COUNTS}, {_SQL_NEGATIVE_COUNTS}
            FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
            WHERE {where}{" GROUP BY grp" if group_by else ""}""",
        params,
    ))


def _volume_estimate(n: int) -> Estimate:
    # Volume is a count: a Poisson approximation gives it an interval and a variance.
    half = metrics.Z95 * n ** 0.5
    return Estimate("Volume", float(n), max(0.0, n - half), n + half, n,
                    "count, Poisson interval", float(n))


def _estimates(row: dict) -> dict[str, Estimate]:
    found = metrics.estimates_from_row(row)
    found["volume"] = _volume_estimate(row.get("volume") or 0)
    found["negative"] = metrics.share_from_counts("Negative %", row.get("negative") or 0,
                                                  row.get("judged") or 0)
    return found


KPI_LABELS = {
    "nps": ("NPS", "pts"),
    "csat": ("CSAT", "%"),
    "ces": ("CES (1-7)", ""),
    "volume": ("Responses", ""),
    "negative": ("Negative feedback", "%"),
}


def kpis(db: sqlite_utils.Database, filters: Filters) -> list[Kpi]:
    """Each headline metric for the filtered period, the equally long period before it, and
    the change with its test. Without dates in the filters there is no previous period."""
    current = _estimates(_aggregate(db, filters)[0])
    before_filters = filters.previous_period()
    if before_filters is not None:
        previous = _estimates(_aggregate(db, before_filters)[0])
    else:
        previous = {k: Estimate(v.name, None, None, None, 0, v.method) for k, v in current.items()}
    result = []
    for key, (label, unit) in KPI_LABELS.items():
        change = metrics.compare(current[key], previous[key])
        result.append(Kpi(key, label, current[key], previous[key], change, unit))
    return result


def volume_and_nps_over_time(db: sqlite_utils.Database, filters: Filters, freq: str = "W") -> pd.DataFrame:
    """One row per period: volume, and NPS with its interval (blank where no NPS answers)."""
    period_sql = period_start_sql(freq)
    where, params = filters.where_sql()
    rows = db.execute(
        f"""SELECT {period_sql} AS period, {metrics.SQL_COUNTS}
            FROM feedback f WHERE {where} GROUP BY period ORDER BY period""",
        params,
    ).fetchall()
    records = []
    for row in rows:
        if pd.isna(pd.to_datetime(row[0], errors="coerce")):
            continue  # a stored date that is no real day (30 February): not a period
        promoters, passives, detractors = (row[1] or 0), (row[2] or 0), (row[3] or 0)
        estimate = metrics.nps_from_counts(promoters, passives, detractors)
        records.append({
            "period": pd.Timestamp(row[0]),
            "volume": row[-1],
            "nps": estimate.value,
            "nps_low": estimate.ci_low,
            "nps_high": estimate.ci_high,
            "nps_n": estimate.n,
        })
    columns = ["period", "volume", "nps", "nps_low", "nps_high", "nps_n"]
    return pd.DataFrame.from_records(records, columns=columns)


def location_table(db: sqlite_utils.Database, filters: Filters) -> pd.DataFrame:
    """Per location: volume, NPS with interval, CSAT %, CES mean, negative share, and the NPS
    change against the previous period with its p-value."""
    def grouped(f: Filters) -> dict[str, dict]:
        rows = _aggregate(db, f, group_by="COALESCE(NULLIF(f.location, ''), '(no location)')")
        return {row["grp"]: row for row in rows}

    current = grouped(filters)
    before = filters.previous_period()
    previous = grouped(before) if before is not None else {}
    records = []
    for location, row in current.items():
        est = _estimates(row)
        prev_nps = _estimates(previous[location])["nps"] if location in previous else \
            metrics.nps_from_counts(0, 0, 0)
        change = metrics.compare(est["nps"], prev_nps)
        records.append({
            "location": location,
            "responses": row["volume"],
            "nps": est["nps"].value,
            "nps_low": est["nps"].ci_low,
            "nps_high": est["nps"].ci_high,
            "nps_n": est["nps"].n,
            "nps_change": change.estimate,
            "nps_change_p": change.p_value,
            "csat": est["csat"].value,
            "ces": est["ces"].value,
            "negative_pct": est["negative"].value,
        })
    columns = ["location", "responses", "nps", "nps_low", "nps_high", "nps_n", "nps_change",
               "nps_change_p", "csat", "ces", "negative_pct"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    return frame.sort_values("responses", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class KpiTile:
    """One KPI as the page shows it: every figure worded, the change coloured only when its
    test says it is real."""
    label: str
    value: str
    delta: str | None
    delta_color: str  # "normal", "inverse" (lower is better) or "off" (not significant)
    help: str
    interval: str | None
    change: str | None


def _formatted(value: float | None, unit: str, digits: int) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{' ' + unit if unit == 'pts' else unit}"


def kpi_tile(kpi: Kpi, *, alpha: float = 0.05) -> KpiTile:
    digits = 0 if kpi.key == "volume" else 1
    current, change = kpi.current, kpi.change
    delta = None
    if change.estimate is not None:
        delta = f"{change.estimate:+,.{digits}f}{' pts' if kpi.unit in ('pts', '%') else ''}"
    help_lines = [current.method, f"n = {current.n:,}"]
    if current.ci_low is not None:
        help_lines.append(f"95% CI {current.ci_low:,.1f} to {current.ci_high:,.1f}")
    if change.p_value is not None:
        help_lines.append(f"Change vs previous period: {change.test}, "
                          f"95% CI {change.ci_low:+,.1f} to {change.ci_high:+,.1f}, "
                          f"p = {change.p_value:.3f}")
    significant = change.p_value is not None and change.p_value < alpha
    interval = None
    if current.ci_low is not None and kpi.key != "volume":
        interval = f"95% CI {current.ci_low:,.1f} to {current.ci_high:,.1f} (n = {current.n:,})"
    change_text = None
    if change.p_value is not None:
        verdict = "significant" if significant else "not significant"
        change_interval = ("" if change.ci_low is None or kpi.key == "volume" else
                           f"95% CI {change.ci_low:+,.1f} to {change.ci_high:+,.1f}, ")
        change_text = f"Change {change_interval}p = {change.p_value:.3f} ({verdict})"
    # Lower is better only for the share of negative feedback.
    color = "off" if not significant else "inverse" if kpi.key == "negative" else "normal"
    return KpiTile(kpi.label, _formatted(current.value, kpi.unit, digits), delta, color,
                   "  \n".join(help_lines), interval, change_text)


def period_caption(filters: Filters) -> str | None:
    """'1 Jan 2025 to 31 Mar 2025, compared with ...' when the filters hold a full range."""
    previous = filters.previous_period()
    if previous is None:
        return None
    return (f"{filters.start:%d %b %Y} to {filters.end:%d %b %Y}, compared with "
            f"{previous.start:%d %b %Y} to {previous.end:%d %b %Y}.")


def unreadable_dates(db: sqlite_utils.Database) -> int:
    """How many stored responses have a date of another shape than the store's (written by
    hand, or by a version before the importer checked): the figures leave exactly these
    out (Filters.where_sql), and the page says so."""
    return db.execute("SELECT COUNT(*) FROM feedback WHERE NOT received_at GLOB ?",
                      [STORED_DATE_SHAPE]).fetchone()[0]

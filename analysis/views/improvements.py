"""What the Improvements page shows, shaped from `analysis.improvements`: the list by status
with each one's verdict and priority, the form's choices and what it turns into, and for one
improvement its impact (the measure over time with fitted lines, the event study, every
estimate in one table, the verdict and warnings), its evidence, whom to tell and its
history. Reads only; figures escape user text (`charts.plain_text`).

    shown = impact_view(db, improvement_id, window_weeks=8, comparison=None, now=now)
    shown.verdict, shown.estimates     # plain-language headline; one row per method
    impact_figure(shown)                # the measure, the change date, fitted lines
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import sqlite_utils

from analysis.benchmarks.drivers import DRIVER_METRICS
from analysis.improvements import records
from analysis.improvements.impact import ALPHA, WINDOW_WEEKS
from analysis.improvements.records import Improvement, ImprovementError
from analysis.improvements.report import impact_report
from analysis.privacy.display import frame_for_role, row_for_role
from analysis.reports.charts import MARGIN, plain_text
from analysis.themes.queries import CHILD, PARENT
from analysis.themes.queries.base import theme_choices, theme_status

STATUS_LABELS = {"proposed": "Proposed", "planned": "Planned", "in progress": "In progress",
                 "shipped": "Shipped", "abandoned": "Abandoned"}
METRIC_LABELS = {"": "No metric: the themes' share", "nps": "NPS", "csat": "CSAT",
                 "ces": "CES", "rating": "Rating", "negative": "Negative share"}
MEASURED_STATUSES = ("in progress", "shipped")
"""The list shows a verdict for these; the others have not changed anything yet."""
NO_FEEDBACK = ("No feedback yet: an improvement can be recorded now, but its impact is "
               "measured on feedback. Import a file on the Import page, or load the demo "
               "data (`python -m analysis demo`).")
NO_IMPROVEMENTS = ("No improvements yet. Record a change below: what changed, where, from "
                   "when, and which theme or metric it should move; the page then measures "
                   "whether it worked.")
MAX_TEXT = 300
MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>$~#|])")


def markdown_safe(text) -> str:
    """Our sentences that quote user text (a location, a theme, a title), made inert for
    the Markdown of st.warning / st.success: links, images, LaTeX and styling need these."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


def cut(text, limit: int = MAX_TEXT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def has_feedback(db: sqlite_utils.Database) -> bool:
    return bool(theme_status(db)["feedback"])


# --------------------------------------------------------------------------- the form

@dataclass(frozen=True)
class FormOptions:
    locations: list[str]
    themes: dict[int, str]
    """Active themes, id -> label (a parent theme says so)."""


def form_options(db: sqlite_utils.Database) -> FormOptions:
    places = [r[0] for r in db.execute(
        "SELECT DISTINCT location FROM feedback WHERE location IS NOT NULL AND location != '' "
        "ORDER BY location COLLATE NOCASE")]
    themes = {t: n for t, n in theme_choices(db, CHILD).items()}
    themes |= {t: f"{n} (parent theme)" for t, n in theme_choices(db, PARENT).items()}
    return FormOptions(places, dict(sorted(themes.items(), key=lambda kv: kv[1].casefold())))


def split_locations(text: str) -> tuple[str, ...]:
    """Locations typed as text (a store without feedback has none to pick): comma or
    semicolon separated."""
    return tuple(p.strip() for p in re.split(r"[,;\n]", text or "") if p.strip())


def improvement_from_form(values: dict) -> Improvement:
    """The form's values as a checked Improvement, or ImprovementError naming the field.
    `values`: title, description, owner, locations (a sequence), theme_ids, metric ("" for
    none), effective_date, rollout_end, status, impact, confidence_pct, effort."""
    effective = values.get("effective_date")
    if not isinstance(effective, date):
        raise ImprovementError("effective date: pick the first day the change is in place")
    rollout = values.get("rollout_end")
    confidence = values.get("confidence_pct")
    improvement = Improvement(
        title=str(values.get("title") or ""), description=str(values.get("description") or ""),
        owner=str(values.get("owner") or "").strip() or None,
        locations=tuple(values.get("locations") or ()),
        theme_ids=tuple(int(t) for t in values.get("theme_ids") or ()),
        metric=values.get("metric") or None, effective_date=effective,
        rollout_end=rollout if isinstance(rollout, date) else None,
        status=values.get("status") or "proposed",
        impact=_number(values.get("impact")),
        confidence=None if _number(confidence) is None else _number(confidence) / 100,
        effort=_number(values.get("effort")))
    return improvement.check()


def form_values(improvement: Improvement | None, *, today: date) -> dict:
    """What the form starts from: the improvement's values, or a new one's defaults."""
    if improvement is None:
        return {"title": "", "description": "", "owner": "", "locations": [], "theme_ids": [],
                "metric": "", "effective_date": today, "rollout_end": None,
                "status": "proposed", "impact": None, "confidence_pct": None, "effort": None}
    return {"title": improvement.title, "description": improvement.description or "",
            "owner": improvement.owner or "", "locations": list(improvement.locations),
            "theme_ids": list(improvement.theme_ids), "metric": improvement.metric or "",
            "effective_date": improvement.effective_date,
            "rollout_end": improvement.rollout_end, "status": improvement.status,
            "impact": improvement.impact,
            "confidence_pct": None if improvement.confidence is None
            else round(improvement.confidence * 100, 1),
            "effort": improvement.effort}


def _number(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


# --------------------------------------------------------------------------- the list

LIST_COLUMNS = ["id", "title", "status", "verdict", "priority", "impact", "confidence",
                "effort", "target", "locations", "effective_date", "owner", "evidence",
                "customers"]


def driver_metric(improvement: Improvement) -> str:
    return improvement.metric if improvement.metric in DRIVER_METRICS else "nps"


def default_impact(db: sqlite_utils.Database, improvement: Improvement) -> float | None:
    """The impact's default: the key drivers' opportunity of the targeted themes."""
    return records.driver_impact(db, improvement, metric=driver_metric(improvement))


def priority_parts(db: sqlite_utils.Database, improvement: Improvement) -> dict:
    """impact x confidence / effort, each part with whether it is a default."""
    return records.priority(improvement, default_impact=default_impact(db, improvement))


def improvement_rows(db: sqlite_utils.Database) -> list[dict]:
    """Every improvement (records.list_improvements), its priority using the drivers'
    default impact where none is set, sorted by status then priority."""
    rows = records.list_improvements(db)
    out = []
    for row in rows:
        if row["impact_is_default"]:
            row = {**row, **priority_parts(db, records.get_improvement(db, row["id"]))}
        out.append(row)
    order = {s: k for k, s in enumerate(records.STATUSES)}
    return sorted(out, key=lambda r: (order.get(r["status"], 99),
                                      -(r["priority"] if r["priority"] is not None else -1e18),
                                      r["id"]))


def list_table(rows: list[dict], verdicts: dict[int, str]) -> pd.DataFrame:
    frame = pd.DataFrame([{
        "id": r["id"], "title": cut(r["title"], 120), "status": r["status"],
        "verdict": verdicts.get(r["id"], "not measured: not shipped"
                                if r["status"] not in MEASURED_STATUSES else ""),
        "priority": r["priority"], "impact": r["impact"], "confidence": r["confidence"],
        "effort": r["effort"], "target": cut(r["target"], 120),
        "locations": cut(", ".join(r["locations"]), 120),
        "effective_date": r["effective_date"], "owner": r["owner"] or "",
        "evidence": r["evidence"], "customers": r["customers"]} for r in rows],
        columns=LIST_COLUMNS)
    return frame


def pick_label(row: dict) -> str:
    return f"#{row['id']} {cut(row['title'], 80)} ({row['status']})"


# --------------------------------------------------------------------------- impact

ESTIMATE_COLUMNS = ["headline", "method", "effect", "ci_low", "ci_high", "p_value", "n_pre",
                    "n_post", "test", "assumptions", "note"]


@dataclass
class ImpactView:
    improvement: Improvement
    measure: str
    unit: str
    higher_is_better: bool
    verdict: str
    kind: str
    """"worked", "worse", "no change" or "not measurable"."""
    headline: dict
    """method, label, effect, ci_low, ci_high, p_value, n_pre, n_post (None values when
    not measurable)."""
    estimates: pd.DataFrame
    event_study: pd.DataFrame
    series: pd.DataFrame
    fitted: pd.DataFrame
    windows: dict
    comparison: list[str]
    design: dict
    min_detectable_effect: float | None
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The verdict in a few words, for the list."""
        head = self.headline
        if head.get("effect") is None or head.get("p_value") is None:
            return self.verdict.split(":")[0].rstrip(".")
        return (f"{self.verdict.split(':')[0]} ({head['effect']:+.1f} {self.unit}, "
                f"p = {head['p_value']:.3f})")


def impact_view(db: sqlite_utils.Database, improvement_id: int, *,
                window_weeks: int = WINDOW_WEEKS, comparison: list[str] | None = None,
                now: datetime | None = None) -> ImpactView:
    report = impact_report(db, improvement_id, window_weeks=window_weeks,
                           comparison=comparison, now=now)
    found = report.as_dict()
    result = report.result
    series = (result.series if result is not None and result.series is not None
              else pd.DataFrame(columns=["week", "n", "mean", "group"]))
    estimates = pd.DataFrame([{
        "headline": m["method"] == found["headline"], "method": m["label"],
        "effect": m["effect"], "ci_low": m["ci_low"], "ci_high": m["ci_high"],
        "p_value": m["p_value"], "n_pre": m["n_pre"], "n_post": m["n_post"],
        "test": m["test"], "assumptions": m["assumptions"], "note": m["note"]}
        for m in found["methods"]], columns=ESTIMATE_COLUMNS)
    windows = result.windows if result is not None else {}
    return ImpactView(
        improvement=report.improvement, measure=report.measure.label, unit=report.measure.unit,
        higher_is_better=report.measure.higher_is_better, verdict=report.verdict,
        kind=verdict_kind(report.verdict),
        headline={k: found[k] for k in ("effect", "ci_low", "ci_high", "p_value", "n_pre",
                                        "n_post")}
        | {"method": found["headline"], "label": found["headline_label"]},
        estimates=estimates,
        event_study=pd.DataFrame(found["event_study"],
                                 columns=["relative_week", "estimate", "ci_low", "ci_high"]),
        series=series, fitted=fitted_lines(series, windows), windows=windows,
        comparison=list(found["comparison"]), design=dict(found["design"]),
        min_detectable_effect=found["min_detectable_effect"],
        warnings=list(report.warnings))


def verdict_kind(verdict: str) -> str:
    for start, kind in (("It worked", "worked"), ("It made things worse", "worse"),
                        ("No change detectable", "no change")):
        if verdict.startswith(start):
            return kind
    return "not measurable"


def _weeks(first: date | None, last: date | None) -> list[date]:
    if first is None or last is None:
        return []
    return [first + timedelta(weeks=k) for k in range((last - first).days // 7 + 1)]


def fitted_lines(series: pd.DataFrame, windows: dict) -> pd.DataFrame:
    """Per group (treated, comparison) and window (before, after): the straight line WLS
    fits to the weekly means (weights: responses), as the interrupted time series does
    (its level and slope change are these two lines' difference at the change)."""
    rows = []
    spans = {"before": _weeks(windows.get("pre_first"), windows.get("pre_last")),
             "after": _weeks(windows.get("post_first"), windows.get("post_last"))}
    for group, part in series.groupby("group", sort=False):
        for segment, weeks in spans.items():
            points = part[part["week"].isin(weeks)]
            if len(points) < 2 or not weeks:
                continue
            x = np.array([(w - weeks[0]).days / 7 for w in points["week"]], dtype=float)
            slope, intercept = np.polyfit(x, points["mean"].to_numpy(float), 1,
                                          w=np.sqrt(points["n"].to_numpy(float)))
            for w in (weeks[0], weeks[-1]):
                rows.append({"group": group, "segment": segment, "week": w,
                             "fitted": intercept + slope * (w - weeks[0]).days / 7,
                             "slope": slope})
    return pd.DataFrame(rows, columns=["group", "segment", "week", "fitted", "slope"])


def headline_caption(shown: ImpactView) -> str:
    head, design = shown.headline, shown.design
    if head.get("effect") is None:
        return ""
    where = (f"against {len(shown.comparison)} comparison location(s)" if shown.comparison
             else "against the treated locations' own history (no comparison location)")
    placebo = design.get("placebo")
    mde = shown.min_detectable_effect
    floor = (f" Smallest effect detectable with 80% power: about {mde:.1f} {shown.unit}."
             if mde is not None and math.isfinite(mde) else "")
    return (f"Headline: {head['label']}, {where}; {design.get('placebos', 0)} placebo "
            f"{'locations' if placebo == 'space' else 'dates'}, so the smallest possible "
            f"p-value is {design.get('smallest_p', 1):.3f}. A p-value at or under {ALPHA} "
            f"says the change is larger than chance alone would give; the 95% interval is "
            f"every effect the placebos would not reject. n: {head['n_pre']:,} responses "
            f"before, {head['n_post']:,} after.{floor}")


def windows_caption(shown: ImpactView) -> str:
    w = shown.windows
    if not w:
        return ""
    after = (f"after: {w['post_first']} to {w['post_last'] + timedelta(days=6)}"
             if w.get("post_first") else "after: no complete week yet")
    return (f"Weeks compared ({w['window_weeks']} each side): before: {w['pre_first']} to "
            f"{w['pre_last'] + timedelta(days=6)}; {after}. Weeks between (the change's own "
            "week, a roll-out) are left out.")


# --------------------------------------------------------------------------- figures

TREATED_COLOUR, COMPARISON_COLOUR = "#1f77b4", "#7f7f7f"


def impact_figure(shown: ImpactView) -> go.Figure:
    """The measure per week at the treated locations and the comparison group, the windows
    shaded, the change date (and roll-out end) marked, and each window's fitted line."""
    figure = go.Figure()
    series, windows = shown.series, shown.windows
    if series.empty:
        return figure
    colours = {"treated": TREATED_COLOUR, "comparison": COMPARISON_COLOUR}
    names = {"treated": "Changed location(s)", "comparison": "Comparison group"}
    for span, label in ((("pre_first", "pre_last"), "before"),
                        (("post_first", "post_last"), "after")):
        if windows.get(span[0]) is not None:
            figure.add_vrect(x0=windows[span[0]], x1=windows[span[1]] + timedelta(days=6),
                             fillcolor="#dbeafe" if label == "before" else "#dcfce7",
                             opacity=0.5, line_width=0, layer="below")
    for group, part in series.groupby("group", sort=False):
        part = part.sort_values("week")
        figure.add_scatter(
            x=part["week"], y=part["mean"], mode="lines+markers", name=names.get(group, group),
            line={"color": colours.get(group, "#333"), "width": 1.5},
            marker={"size": 5}, customdata=part["n"],
            hovertemplate=f"{names.get(group, group)}<br>week of %{{x|%Y-%m-%d}}: "
                          "%{y:.1f} (n=%{customdata:,})<extra></extra>")
    for (group, segment), part in shown.fitted.groupby(["group", "segment"], sort=False):
        figure.add_scatter(
            x=part["week"], y=part["fitted"], mode="lines",
            name=f"Fitted line, {names.get(group, group).lower()}",
            legendgroup=f"fit-{group}", showlegend=segment == "before",
            line={"color": colours.get(group, "#333"), "width": 3,
                  "dash": "solid" if group == "treated" else "dash"},
            hovertemplate=f"fitted ({segment}): %{{y:.1f}}, slope "
                          f"{part['slope'].iloc[0]:+.2f} per week<extra></extra>")
    marks = [(shown.improvement.effective_date, "change")]
    if shown.improvement.rollout_end:
        marks.append((shown.improvement.rollout_end, "roll-out end"))
    for day, text in marks:
        stamp = pd.Timestamp(day)
        figure.add_shape(type="line", x0=stamp, x1=stamp, y0=0, y1=1, yref="paper",
                         line={"color": "#b91c1c", "width": 2, "dash": "dot"})
        figure.add_annotation(x=stamp, y=1, yref="paper", text=text, showarrow=False,
                              yanchor="bottom", font={"color": "#b91c1c"})
    figure.update_layout(height=400, margin={**MARGIN, "t": 30}, legend_orientation="h",
                         yaxis_title=plain_text(f"{shown.measure} ({shown.unit})"),
                         xaxis_title="Week", hovermode="closest")
    return figure


def event_study_figure(shown: ImpactView) -> go.Figure:
    """The difference between changed and comparison locations per week relative to the
    change (week -1 is the reference, 0): flat before the change if the trends were
    parallel, a step after it if the change worked."""
    figure = go.Figure()
    frame = shown.event_study.dropna(subset=["estimate"])
    if frame.empty:
        return figure
    high = (frame["ci_high"] - frame["estimate"]).fillna(0)
    low = (frame["estimate"] - frame["ci_low"]).fillna(0)
    colours = ["#1f77b4" if k >= 0 else "#7f7f7f" for k in frame["relative_week"]]
    figure.add_scatter(
        x=frame["relative_week"], y=frame["estimate"], mode="markers",
        marker={"size": 9, "color": colours}, name="Difference vs week -1",
        error_y={"type": "data", "array": high, "arrayminus": low},
        hovertemplate="week %{x}: %{y:.1f} (95% interval shown as bars)<extra></extra>")
    figure.add_hline(y=0, line={"color": "#111827", "width": 1})
    figure.add_vline(x=-0.5, line={"color": "#b91c1c", "dash": "dot"})
    figure.update_layout(height=320, margin=MARGIN, showlegend=False,
                         xaxis={"title": "Weeks since the change", "dtick": 1},
                         yaxis_title=plain_text(f"Difference in {shown.measure} "
                                                f"({shown.unit})"))
    return figure


# --------------------------------------------------------------------------- the rest

def evidence_table(db: sqlite_utils.Database, improvement_id: int, role: str | None,
                   limit: int = 200) -> pd.DataFrame:
    """The linked feedback, newest first, its comments and customer keys as `role` may see
    them (masked before they are cut, so a cut never splits what the masks must find)."""
    rows = [row_for_role(r, role) for r in records.evidence(db, improvement_id, limit=limit)]
    columns = ["feedback_id", "received_at", "location", "customer_key", "comment", "via",
               "added_by", "added_at"]
    return pd.DataFrame([{**r, "comment": cut(r["comment"]), "via": cut(r["via"], 120)}
                         for r in rows], columns=columns)


def whom_to_tell_table(db: sqlite_utils.Database, improvement_id: int,
                       role: str | None) -> pd.DataFrame:
    """The customers to tell, one row each, their key, name and email as `role` may see
    them: a role that may not see customer data still sees how many there are and can
    tell them (the addresses never leave the server)."""
    columns = ["customer_key", "customer_name", "customer_email", "linked_feedback",
               "last_feedback", "location", "message"]
    return frame_for_role(pd.DataFrame(records.whom_to_tell(db, improvement_id),
                                       columns=columns), role)


def history_table(events: list[dict]) -> pd.DataFrame:
    """The improvement's events, oldest first, with what changed as short text."""
    return pd.DataFrame([{"at": e["at"], "event": e["event"], "by": e["actor"],
                          "detail": cut(_detail_text(e["detail"] or {}))} for e in events],
                        columns=["at", "event", "by", "detail"])


def _detail_text(detail: dict) -> str:
    if "before" in detail and "after" in detail:
        return "; ".join(f"{k}: {detail['before'].get(k)!r} → {v!r}"
                         for k, v in detail["after"].items())
    if "after" in detail:
        return "; ".join(f"{k}: {v!r}" for k, v in detail["after"].items()
                         if v not in ("", None, []))
    return "; ".join(f"{k}: {v}" for k, v in detail.items() if v not in ("", None))

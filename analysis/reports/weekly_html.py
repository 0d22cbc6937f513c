"""The weekly report as one self-contained HTML file, and as Markdown.

The HTML asks for nothing over the network: the CSS is inline, the charts are small SVG
drawn here, and there is no script, font, image or link to another host. Every piece of
text from the store (comments, theme and location names, titles, owners) goes through
`html.escape`; the Markdown escapes what Markdown would read as markup or HTML.
"""

from __future__ import annotations

import html
import re

from analysis.reports.weekly import SECTIONS, WeeklyReport

HEADINGS = dict(SECTIONS)
NOTHING_YET = ("Nothing yet: the store holds no feedback. Import a file or load the demo "
               "data, then run the report again.")

CSS = """
:root { --ink: #1f2933; --muted: #5f6b7a; --rise: #b42318; --fall: #1d6fb8; --line: #d8dee6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color: var(--ink); margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; border-bottom: 2px solid var(--line); padding-bottom: 4px;
     margin-top: 32px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta, p.note, .method { color: var(--muted); }
.method { font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left;
         vertical-align: top; }
th { background: #f3f5f8; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.rising { color: var(--rise); font-weight: 600; }
.falling { color: var(--fall); font-weight: 600; }
.tag { display: inline-block; border: 1px solid var(--line); border-radius: 3px;
       padding: 0 4px; font-size: 12px; }
blockquote { margin: 4px 0 4px 12px; padding: 2px 8px; border-left: 3px solid var(--line);
             color: #333; font-style: italic; white-space: pre-wrap; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 170px; }
.card .big { font-size: 20px; font-weight: 600; }
svg { vertical-align: middle; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  section { break-before: page; page-break-before: always; }
  section.first { break-before: auto; page-break-before: auto; }
  table, blockquote, .card, svg { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"""


# ---------------------------------------------------------------------------- numbers


def _num(value, digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1f}%"


def _p(value) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _interval(low, high, digits: int = 1, sign: bool = True) -> str:
    if low is None and high is None:
        return "no interval"
    return f"[{_num(low, digits, sign)}, {_num(high, digits, sign)}]"


def _where(location) -> str:
    return location if location else "All locations"


def _change_words(cell: dict) -> str:
    """A change always with its interval and test result."""
    if not cell.get("tested"):
        return "not tested (too few responses)"
    return (f"{_num(cell['change'], 1, True)} pts, 95% CI "
            f"{_interval(cell['change_low'], cell['change_high'])}, "
            f"p {_p(cell['p_value'])}, q {_p(cell['q_value'])}")


def _hours(value) -> str:
    return "–" if value is None else f"{value:g} h"


# ------------------------------------------------------------------------------- SVG


def sparkline(values, *, width: int = 120, height: int = 26, highlight_last: bool = True) -> str:
    """A small inline SVG line of `values` (None: a gap), the last point marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(values) < 2 or not points:
        return ""
    top = max(v for _, v in points) or 1.0
    step = (width - 6) / (len(values) - 1)

    def xy(i, v):
        return 3 + i * step, height - 3 - (v / top) * (height - 6)

    path = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}"
                    for k, (x, y) in enumerate(xy(i, v) for i, v in points))
    last = ""
    if highlight_last and values[-1] is not None:
        x, y = xy(len(values) - 1, values[-1])
        last = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#b42318"/>'
    return (f'<svg width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="weekly share">'
            f'<path d="{path}" fill="none" stroke="#5f6b7a" stroke-width="1.5"/>{last}</svg>')


def share_bars(rows: list[dict], *, width: int = 620) -> str:
    """Horizontal bars: each theme's share this week (dark) and in the baseline (light),
    with the week's interval as a whisker when it has one."""
    rows = [r for r in rows if r.get("share") is not None or r.get("baseline_share")]
    if not rows:
        return ""
    label_w, bar_h, gap = 170, 9, 8
    top = max(max(r.get("share") or 0, r.get("baseline_share") or 0) for r in rows) or 1.0
    scale = (width - label_w - 60) / top
    height = len(rows) * (2 * bar_h + gap) + 22
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="share of commented feedback, week and baseline">']
    y = 4
    for r in rows:
        name = html.escape(str(r["theme"])[:28])
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h + 3}" font-size="11" '
                     f'text-anchor="end" fill="#1f2933">{name}</text>')
        week = r.get("share") or 0
        base = r.get("baseline_share") or 0
        colour = {"rising": "#b42318", "falling": "#1d6fb8"}.get(r.get("direction"), "#52606d")
        parts.append(f'<rect x="{label_w}" y="{y}" width="{week * scale:.1f}" '
                     f'height="{bar_h}" fill="{colour}"/>')
        parts.append(f'<rect x="{label_w}" y="{y + bar_h}" width="{base * scale:.1f}" '
                     f'height="{bar_h}" fill="#c5ced8"/>')
        parts.append(f'<text x="{label_w + max(week, base) * scale + 4:.1f}" '
                     f'y="{y + bar_h + 3}" font-size="10" fill="#5f6b7a">{_pct(r.get("share"))}'
                     f' / {_pct(r.get("baseline_share"))}</text>')
        y += 2 * bar_h + gap
    parts.append(f'<text x="{label_w}" y="{height - 4}" font-size="10" fill="#5f6b7a">'
                 f'dark: this week · light: baseline weeks · red rising, blue falling '
                 f'(q ≤ 0.05)</text></svg>')
    return "".join(parts)


def change_bars(rows: list[dict], *, key: str = "change", low: str = "change_low",
                high: str = "change_high", label: str = "group", width: int = 520) -> str:
    """Diverging bars around zero with the 95% interval as a line."""
    rows = [r for r in rows if r.get(key) is not None]
    if not rows:
        return ""
    label_w, row_h = 150, 18
    reach = max(max(abs(r.get(low) or 0), abs(r.get(high) or 0), abs(r[key])) for r in rows)
    reach = reach or 1.0
    half = (width - label_w - 10) / 2
    zero = label_w + half
    height = len(rows) * row_h + 6
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="change with interval">',
             f'<line x1="{zero}" y1="0" x2="{zero}" y2="{height}" stroke="#9aa5b1"/>']
    for i, r in enumerate(rows):
        y = 3 + i * row_h
        x = zero + r[key] / reach * half
        colour = "#b42318" if r.get("label") == "worsened" else (
            "#1d6fb8" if r.get("label") == "improved" else "#9aa5b1")
        parts.append(f'<text x="{label_w - 6}" y="{y + 11}" font-size="11" text-anchor="end" '
                     f'fill="#1f2933">{html.escape(str(r[label])[:24])}</text>')
        parts.append(f'<rect x="{min(x, zero):.1f}" y="{y + 3}" width="{abs(x - zero):.1f}" '
                     f'height="8" fill="{colour}"/>')
        if r.get(low) is not None and r.get(high) is not None:
            x1, x2 = (zero + r[low] / reach * half, zero + r[high] / reach * half)
            parts.append(f'<line x1="{x1:.1f}" y1="{y + 7}" x2="{x2:.1f}" y2="{y + 7}" '
                         f'stroke="#1f2933" stroke-width="1"/>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------ HTML


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """`rows` hold HTML already escaped (cells built with _e)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric
                                    else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _quotes_html(quotes: list[str]) -> str:
    return "".join(f"<blockquote>{_e(q)}</blockquote>" for q in quotes)


def _direction_html(cell: dict) -> str:
    d = cell["direction"]
    return f'<span class="{d}">{_e(d)}</span>' if d in ("rising", "falling") else _e(d)


def _section(key: str, body: str, first: bool = False) -> str:
    cls = ' class="first"' if first else ""
    return f'<section id="{key}"{cls}><h2>{_e(HEADINGS[key])}</h2>{body}</section>'


def _summary_html(r: WeeklyReport) -> str:
    if r.empty:
        return f'<p class="note">{_e(NOTHING_YET)}</p>'
    v = r.volume
    base = v.get("baseline_weekly_commented")
    cards = [
        ("Responses this week", f"{v.get('responses', 0):,}"),
        ("Commented", f"{v.get('commented', 0):,}"),
        ("Commented per baseline week", "–" if base is None else f"{base:,.0f}"),
        ("Themes rising / falling", f"{len(r.rising)} / {len(r.falling)}"),
        ("Alerts in the week", f"{len(r.alerts)}"),
        ("Root-cause tasks", f"{len(r.tasks)}"),
    ]
    out = '<div class="cards">' + "".join(
        f'<div class="card"><div class="method">{_e(k)}</div><div class="big">{_e(val)}</div>'
        f"</div>" for k, val in cards) + "</div>"
    for note in r.notes:
        out += f'<p class="note">{_e(note)}</p>'
    return out


def _themes_html(r: WeeklyReport) -> str:
    if r.empty:
        return f'<p class="note">{_e(NOTHING_YET)}</p>'
    if not r.themes:
        return '<p class="note">No themes yet: run the theme refresh to find them.</p>'
    out = (f'<p class="method">Share of commented feedback mentioning each theme, the week '
           f'against the {r.baseline_weeks} weeks before it pooled ({r.baseline_start} to '
           f'{r.baseline_end}). Test: {_e(r.theme_test)}; {r.cells_tested} cells tested. '
           f"Rising or falling means q ≤ 0.05; anything else is not told apart from chance."
           f"</p>")
    out += share_bars(r.themes)
    for title, cells in (("Rising", r.rising), ("Falling", r.falling)):
        out += f"<h3>{title}</h3>"
        if not cells:
            out += f'<p class="note">No theme {title.lower()} beyond chance this week.</p>'
        for c in cells:
            out += (f'<p><b>{_e(c["theme"])}</b>: {_pct(c["share"])} of {c["commented"]:,} '
                    f'this week against {_pct(c["baseline_share"])} of '
                    f'{c["baseline_commented"]:,} — {_e(_change_words(c))} '
                    f'{sparkline(c["series"])}</p>{_quotes_html(c["quotes"])}')
    rows = [[_e(c["theme"]), f'{c["mentions"]:,}', _pct(c["share"]), _pct(c["baseline_share"]),
             _num(c["change"], 1, True), _interval(c["change_low"], c["change_high"]),
             _p(c["p_value"]), _p(c["q_value"]), _direction_html(c), sparkline(c["series"])]
            for c in r.themes]
    out += "<h3>Every theme</h3>" + _table(
        ["Theme", "Mentions", "Share", "Baseline", "Change (pts)", "95% CI", "p", "q",
         "Reading", "Weekly share"], rows, {1, 2, 3, 4, 5, 6, 7})
    return out


def _locations_html(r: WeeklyReport) -> str:
    if r.empty:
        return f'<p class="note">{_e(NOTHING_YET)}</p>'
    out = ('<p class="method">Each theme at each location, the week against the baseline '
           "weeks, in the same Benjamini-Hochberg family as the overall themes. Only the "
           "cells that rose or fell beyond chance are listed.</p>")
    if not r.location_changes:
        out += '<p class="note">No theme rose or fell beyond chance at any one location.</p>'
    for c in r.location_changes:
        out += (f'<p><b>{_e(c["theme"])}</b> at <b>{_e(_where(c["location"]))}</b>: '
                f'{_direction_html(c)}, {_pct(c["share"])} of {c["commented"]:,} against '
                f'{_pct(c["baseline_share"])} of {c["baseline_commented"]:,} — '
                f'{_e(_change_words(c))} {sparkline(c["series"])}</p>'
                f'{_quotes_html(c["quotes"])}')
    out += "<h3>Standing out against the network</h3>"
    out += (f'<p class="method">Over the baseline weeks and the week together ('
            f"{r.baseline_start} to {r.week_end}): each location's share of a theme against "
            f"the rest of the network (two-sample z test, Benjamini-Hochberg across "
            f"{r.standing_tested} cells). A standing difference, not a change.</p>")
    if not r.standing_out:
        out += '<p class="note">No location stands out on any theme beyond chance.</p>'
    else:
        out += _table(["Location", "Theme", "n", "Share", "95% CI", "Rest of network",
                       "Difference (pts)", "95% CI", "q", "Reading"],
                      [[_e(s["group"]), _e(s["theme"]), f'{s["n"]:,}', _pct(s["estimate"]),
                        _interval(s["ci_low"], s["ci_high"], sign=False), _pct(s["network"]),
                        _num(s["diff"], 1, True), _interval(s["diff_low"], s["diff_high"]),
                        _p(s["q_value"]), _e(s["label"])] for s in r.standing_out],
                      {2, 3, 4, 5, 6, 7, 8})
    return out


def _alerts_html(r: WeeklyReport) -> str:
    if r.empty:
        return f'<p class="note">{_e(NOTHING_YET)}</p>'
    out = "<h3>Spike alerts with a period in the week</h3>"
    if not r.alerts:
        out += '<p class="note">No spike alert in this week (has the sweep run?).</p>'
    else:
        out += _table(
            ["Theme", "Where", "Granularity", "Periods in the week", "Observed / volume",
             "Share", "Baseline", "Expected", "Smallest q", "Episode", "Status"],
            [[_e(a["theme"]), _e(_where(a["location"])), _e(a["granularity"]),
              _e(", ".join(a["periods"])), f'{a["observed"]:,} / {a["volume"]:,}',
              _pct(a["share"]), _pct(a["baseline_share"]), _num(a["expected"]),
              _p(a["q_value"]),
              _e(("opened this week" if a["opened_in_week"] else "since ")
                 + ("" if a["opened_in_week"] else a["first_period"])),
              _e(f'{a["status"]}, {a["review"]}')] for a in r.alerts],
            {4, 5, 6, 7, 8})
    out += "<h3>Root-cause tasks</h3>"
    if not r.tasks:
        out += '<p class="note">No root-cause task fired in this week.</p>'
    else:
        out += _table(
            ["Task", "Owner", "Status", "Due", "Periods", "Shares"],
            [[_e(t["title"]), _e(t["owner"] or "—"), _e(t["status"]), _e(t["due_at"] or "—"),
              _e(", ".join(t["periods"])), _e(", ".join(f"{s:.0f}%" for s in t["shares"]))]
             for t in r.tasks])
    return out


def _movers_html(r: WeeklyReport) -> str:
    if r.empty:
        return f'<p class="note">{_e(NOTHING_YET)}</p>'
    out = (f'<p class="method">Each location this week ({r.week_start} to {r.week_end}, UTC '
           f"days) against the baseline weeks pooled, largest change first. Test: "
           f"{_e(r.movers_test)}. Improved or worsened means q ≤ 0.05.</p>")
    for metric, rows in r.movers.items():
        out += f"<h3>{_e(metric)}</h3>"
        net = r.network_moves.get(metric)
        if net:
            out += (f'<p>Network: {_num(net["before"])} (n={net["n_before"]:,}) → '
                    f'{_num(net["now"])} (n={net["n_now"]:,}), change '
                    f'{_num(net["change"], 1, True)}, 95% CI '
                    f'{_interval(net["change_low"], net["change_high"])}, '
                    f'p {_p(net["p_value"])}.</p>')
        if not rows:
            out += '<p class="note">No location has responses for this metric.</p>'
            continue
        out += change_bars(rows)
        out += _table(["Location", "n before", "Before", "n week", "Week", "Week 95% CI",
                       "Change", "95% CI", "p", "q", "Reading"],
                      [[_e(m["group"]), f'{m["n_before"]:,}', _num(m["before"]),
                        f'{m["n_now"]:,}', _num(m["now"]),
                        _interval(m["now_low"], m["now_high"], sign=False),
                        _num(m["change"], 1, True),
                        _interval(m["change_low"], m["change_high"]), _p(m["p_value"]),
                        _p(m["q_value"]), _e(m["label"])] for m in rows],
                      {1, 2, 3, 4, 5, 6, 7, 8, 9})
    return out


def _improvements_html(r: WeeklyReport) -> str:
    if r.empty:
        return f'<p class="note">{_e(NOTHING_YET)}</p>'
    if not r.improvements:
        return '<p class="note">No improvement recorded yet.</p>'
    out = ('<p class="method">Shipped improvements with the verdict of their impact report '
           "(randomization inference against comparison locations or their own history), "
           "measured as of the end of this week; the rest with their status.</p>")
    out += _table(["Improvement", "Status", "Where", "Target", "Effective", "Verdict"],
                  [[_e(i["title"]) + (' <span class="tag">effective this week</span>'
                                      if i["effective_this_week"] else ""),
                    _e(i["status"]), _e(", ".join(i["locations"])), _e(i["target"]),
                    _e(i["effective_date"]), _e(i["verdict"] or "— (not shipped)")]
                   for i in r.improvements])
    if r.improvements_left_out:
        out += (f'<p class="note">{r.improvements_left_out} more improvement(s) not shown '
                f"(at most {len(r.improvements)} per report).</p>")
    return out


def _loop_html(r: WeeklyReport) -> str:
    if r.empty:
        return f'<p class="note">{_e(NOTHING_YET)}</p>'
    if not r.loop_health:
        return '<p class="note">The week has not started: no loop-health figures.</p>'
    out = ('<p class="method">Cases of the week (loop health, analysis/loop_health): each '
           "figure with its 95% interval and n. SLA met counts the stages that came due or "
           "were done in the week against the due times the SLA targets below set.</p>")
    out += _table(["Figure", "Value", "95% CI", "n", "Method"],
                  [[_e(f["label"]), _e(_loop_value(f)), _e(_loop_interval(f)), f'{f["n"]:,}',
                    f'<span class="method">{_e(f["method"])}</span>'] for f in r.loop_health],
                  {1, 2, 3})
    out += "<h3>SLA targets</h3>"
    out += _table(["Priority", "Acknowledge", "Resolve", "Follow up", "Clock"],
                  [[_e(t["priority"]), _hours(t["acknowledge_hours"]),
                    _hours(t["resolve_hours"]), _hours(t["follow_up_hours"]) if
                    t["follow_up_hours"] is not None else "none", _e(t["clock"])]
                   for t in r.sla_targets], {1, 2, 3})
    return out


def _loop_value(f: dict) -> str:
    if f["value"] is None:
        return "–"
    if f["unit"] == "%":
        return _pct(f["value"])
    if f["unit"] == "cases":
        return f'{f["value"]:,.0f}'
    return f'{f["value"]:.1f} {f["unit"]}'


def _loop_interval(f: dict) -> str:
    if f["ci_low"] is None and f["ci_high"] is None:
        return "census: no interval" if "census" in (f["method"] or "") else "–"
    return _interval(f["ci_low"], f["ci_high"], sign=False)


RENDERERS = {"summary": _summary_html, "themes": _themes_html, "locations": _locations_html,
             "alerts": _alerts_html, "movers": _movers_html,
             "improvements": _improvements_html, "loop": _loop_html}


def render_html(report: WeeklyReport) -> str:
    """One HTML document, nothing fetched from anywhere."""
    sections = "".join(_section(key, RENDERERS[key](report), first=i == 0)
                       for i, (key, _) in enumerate(SECTIONS))
    meta = (f"{report.week_start} to {report.week_end} ({_e(report.timezone)}), baseline "
            f"{report.baseline_start} to {report.baseline_end}; generated "
            f"{_e(report.generated_at)}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{_e(report.title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{_e(report.title)}</h1><p class=\"meta\">{meta}</p></header>"
            f"{sections}</body></html>\n")


# -------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def md(text) -> str:
    """User text as literal Markdown: one line, markup characters escaped (so `<script>`
    stays text, as `&lt;script&gt;`, and a pipe never splits a table cell)."""
    text = " ".join(str("" if text is None else text).split())
    # Entities for what HTML reads (a Markdown viewer shows them as the characters), a
    # backslash for Markdown's own markup.
    text = html.escape(text, quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def _md_quotes(quotes: list[str]) -> str:
    return "".join(f"> {md(q)}\n>\n" for q in quotes)


def render_markdown(report: WeeklyReport) -> str:
    r = report
    out = [f"# {md(r.title)}\n",
           f"{r.week_start} to {r.week_end} ({md(r.timezone)}), baseline {r.baseline_start} "
           f"to {r.baseline_end}; generated {md(r.generated_at)}\n"]
    for key, heading in SECTIONS:
        out.append(f"## {heading}\n")
        if r.empty:
            out.append(NOTHING_YET + "\n")
            continue
        out.append(_MD_SECTIONS[key](r))
    return "\n".join(out)


def _md_summary(r: WeeklyReport) -> str:
    v = r.volume
    base = v.get("baseline_weekly_commented")
    lines = [f"- Responses this week: {v.get('responses', 0):,}",
             f"- Commented: {v.get('commented', 0):,} (baseline weeks: "
             f"{'–' if base is None else f'{base:,.0f}'} a week)",
             f"- Themes rising / falling: {len(r.rising)} / {len(r.falling)}",
             f"- Alerts in the week: {len(r.alerts)}; root-cause tasks: {len(r.tasks)}"]
    lines += [f"- {md(n)}" for n in r.notes]
    return "\n".join(lines) + "\n"


def _md_themes(r: WeeklyReport) -> str:
    if not r.themes:
        return "No themes yet: run the theme refresh to find them.\n"
    out = [f"Test: {md(r.theme_test)}; {r.cells_tested} cells tested.\n"]
    for title, cells in (("Rising", r.rising), ("Falling", r.falling)):
        out.append(f"### {title}\n")
        if not cells:
            out.append(f"No theme {title.lower()} beyond chance this week.\n")
        for c in cells:
            out.append(f"- **{md(c['theme'])}**: {_pct(c['share'])} of {c['commented']:,} "
                       f"against {_pct(c['baseline_share'])} of {c['baseline_commented']:,}: "
                       f"{_change_words(c)}\n")
            out.append(_md_quotes(c["quotes"]))
    out.append("### Every theme\n")
    out.append(_md_table(
        ["Theme", "Mentions", "Share", "Baseline", "Change (pts)", "95% CI", "p", "q",
         "Reading"],
        [[md(c["theme"]), f"{c['mentions']:,}", _pct(c["share"]), _pct(c["baseline_share"]),
          _num(c["change"], 1, True), _interval(c["change_low"], c["change_high"]),
          _p(c["p_value"]), _p(c["q_value"]), c["direction"]] for c in r.themes]))
    return "\n".join(out)


def _md_locations(r: WeeklyReport) -> str:
    out = []
    if not r.location_changes:
        out.append("No theme rose or fell beyond chance at any one location.\n")
    for c in r.location_changes:
        out.append(f"- **{md(c['theme'])}** at **{md(_where(c['location']))}**: "
                   f"{c['direction']}, {_pct(c['share'])} of {c['commented']:,} against "
                   f"{_pct(c['baseline_share'])} of {c['baseline_commented']:,}: "
                   f"{_change_words(c)}\n")
        out.append(_md_quotes(c["quotes"]))
    out.append("### Standing out against the network\n")
    if not r.standing_out:
        out.append("No location stands out on any theme beyond chance.\n")
    else:
        out.append(_md_table(
            ["Location", "Theme", "n", "Share", "Rest of network", "Difference (pts)",
             "95% CI", "q", "Reading"],
            [[md(s["group"]), md(s["theme"]), f"{s['n']:,}", _pct(s["estimate"]),
              _pct(s["network"]), _num(s["diff"], 1, True),
              _interval(s["diff_low"], s["diff_high"]), _p(s["q_value"]), s["label"]]
             for s in r.standing_out]))
    return "\n".join(out)


def _md_alerts(r: WeeklyReport) -> str:
    out = ["### Spike alerts with a period in the week\n"]
    if not r.alerts:
        out.append("No spike alert in this week (has the sweep run?).\n")
    else:
        out.append(_md_table(
            ["Theme", "Where", "Granularity", "Periods", "Observed / volume", "Share",
             "Baseline", "Smallest q", "Status"],
            [[md(a["theme"]), md(_where(a["location"])), a["granularity"],
              ", ".join(a["periods"]), f"{a['observed']:,} / {a['volume']:,}",
              _pct(a["share"]), _pct(a["baseline_share"]), _p(a["q_value"]),
              f"{a['status']}, {a['review']}"] for a in r.alerts]))
    out.append("### Root-cause tasks\n")
    if not r.tasks:
        out.append("No root-cause task fired in this week.\n")
    else:
        out.append(_md_table(["Task", "Owner", "Status", "Due", "Periods"],
                             [[md(t["title"]), md(t["owner"] or "—"), md(t["status"]),
                               md(t["due_at"] or "—"), ", ".join(t["periods"])]
                              for t in r.tasks]))
    return "\n".join(out)


def _md_movers(r: WeeklyReport) -> str:
    out = [f"Test: {md(r.movers_test)}.\n"]
    for metric, rows in r.movers.items():
        out.append(f"### {md(metric)}\n")
        out.append(_md_table(
            ["Location", "n before", "Before", "n week", "Week", "Change", "95% CI", "q",
             "Reading"],
            [[md(m["group"]), f"{m['n_before']:,}", _num(m["before"]), f"{m['n_now']:,}",
              _num(m["now"]), _num(m["change"], 1, True),
              _interval(m["change_low"], m["change_high"]), _p(m["q_value"]), m["label"]]
             for m in rows]))
    return "\n".join(out)


def _md_improvements(r: WeeklyReport) -> str:
    if not r.improvements:
        return "No improvement recorded yet.\n"
    return _md_table(["Improvement", "Status", "Where", "Effective", "Verdict"],
                     [[md(i["title"]), md(i["status"]), md(", ".join(i["locations"])),
                       md(i["effective_date"]), md(i["verdict"] or "— (not shipped)")]
                      for i in r.improvements])


def _md_loop(r: WeeklyReport) -> str:
    if not r.loop_health:
        return "The week has not started: no loop-health figures.\n"
    out = [_md_table(["Figure", "Value", "95% CI", "n"],
                     [[md(f["label"]), _loop_value(f), _loop_interval(f), f"{f['n']:,}"]
                      for f in r.loop_health])]
    out.append("### SLA targets\n")
    out.append(_md_table(["Priority", "Acknowledge", "Resolve", "Follow up", "Clock"],
                         [[t["priority"], _hours(t["acknowledge_hours"]),
                           _hours(t["resolve_hours"]),
                           _hours(t["follow_up_hours"]) if t["follow_up_hours"] is not None
                           else "none", t["clock"]] for t in r.sla_targets]))
    return "\n".join(out)


_MD_SECTIONS = {"summary": _md_summary, "themes": _md_themes, "locations": _md_locations,
                "alerts": _md_alerts, "movers": _md_movers, "improvements": _md_improvements,
                "loop": _md_loop}

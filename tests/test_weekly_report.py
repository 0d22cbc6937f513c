"""Issue 23: the weekly report, its two renderings and `python -m analysis report`.

The truth demo's injected spike (billing at Northgate in 2025-W19), worse location (Old
Town's cleanliness) and improvement (Harbour Street's wait time, from 2024-12-02) must show
where they fall; user text must be escaped; the HTML must ask for nothing from the network.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from analysis.reports.weekly import (
    SECTIONS,
    WeekError,
    parse_week,
    render_html,
    render_markdown,
    weekly_report,
)
from analysis.reports.weekly_html import NOTHING_YET
from tests.conftest import DEMO_NOW

HOSTILE = ("<script>alert('x')</script> the card terminal charged me twice "
           "<img src=https://evil.example/a.png> | **bold** [link](https://evil.example)")
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
                "p", "b", "span", "div", "section", "table", "thead", "tbody", "tr", "th", "td",
                "blockquote", "svg", "path", "circle", "rect", "line", "text"}


def external_references(page: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every real tag attribute that could fetch something, and
    of every tag outside the report's own vocabulary (a script, an image, a link...)."""
    from html.parser import HTMLParser

    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in ALLOWED_TAGS:
                found.append((tag, "", ""))
            for name, value in attrs:
                if name in ("src", "href", "action", "data", "poster", "srcset", "xlink:href",
                            "background") or "//" in (value or "") and name != "content":
                    found.append((tag, name, value or ""))

    Tags().feed(page)
    return found


def prepare_demo(db, truth: dict, themes: dict[str, int]) -> None:
    """Alerts and tasks (a sweep replaying the spring), the injected improvement recorded
    as shipped, and a hostile comment as the spike's first quote."""
    from analysis.improvements.records import Improvement, add_improvement
    from analysis.sweep import run_sweep

    run_sweep(db, now=store.from_iso(DEMO_NOW), since=date(2025, 3, 1), actor="test")
    improvement = truth["improvement"]
    spike = truth["spike"]
    with store.write_transaction(db):
        add_improvement(db, Improvement(
            title="Extra staff at peak <b>times</b>", locations=(improvement["location"],),
            theme_ids=(themes[improvement["theme"]],),
            effective_date=date.fromisoformat(improvement["date"]), status="shipped"),
            actor="test")
        first = db.execute(
            """SELECT MIN(f.id) FROM feedback f JOIN theme_assignments a
               ON a.feedback_id = f.id AND a.theme_id = ?
               WHERE f.location = ? AND f.received_at >= ? AND f.received_at < ?""",
            [themes[spike["theme"]], spike["location"], spike["week_start"] + "T00:00:00Z",
             "2025-05-12T00:00:00Z"]).fetchone()[0]
        db.execute("UPDATE theme_assignments SET probability = 1.0 WHERE feedback_id = ?",
                   [first])
        db.execute("UPDATE feedback SET comment = ? WHERE id = ?", [HOSTILE, first])


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")


def test_parse_week():
    assert parse_week("2026-W12") == date(2026, 3, 16)
    assert parse_week("2025w19") == date(2025, 5, 5)
    for bad in ("", "2026-12", "W12", "2026-W00", "2025-W53", "2026-W12x", "twelve"):
        with pytest.raises(WeekError):
            parse_week(bad)


def test_the_demo_week_shows_its_spike_worse_location_and_improvement(truth_demo, utc):
    db, truth, themes = truth_demo
    prepare_demo(db, truth, themes)
    spike = truth["spike"]
    report = weekly_report(db, week=spike["iso_week"], now=store.from_iso(DEMO_NOW))
    assert report.week == "2025-W19" and report.week_start == date(2025, 5, 5)
    assert not report.empty and report.baseline_weeks >= 4

    # The spike: rising overall and at its location, with its test and quotes.
    assert [c["theme"] for c in report.rising] == [spike["theme"]]
    (cell,) = [c for c in report.location_changes
               if (c["theme"], c["location"]) == (spike["theme"], spike["location"])]
    assert cell["direction"] == "rising" and cell["q_value"] < 0.05
    assert cell["change_low"] > 0 and cell["p_value"] is not None
    assert HOSTILE in cell["quotes"]
    assert all(c["q_value"] is not None or not c["tested"] for c in report.themes)
    # ... and its weekly alert, opened this week.
    (alert,) = [a for a in report.alerts if a["granularity"] == "week"
                and (a["theme"], a["location"]) == (spike["theme"], spike["location"])]
    assert alert["opened_in_week"] and alert["q_value"] < 0.05

    # The worse location stands out against the network, with its test.
    worse = truth["worse_location"]
    assert any((s["group"], s["theme"], s["label"]) == (worse["location"], worse["theme"],
                                                        "worse") and s["q_value"] <= 0.05
               for s in report.standing_out)

    # The improvement with its impact verdict.
    (improvement,) = report.improvements
    assert improvement["status"] == "shipped"
    assert improvement["verdict"].startswith("It worked"), improvement["verdict"]

    # Movers carry intervals and q; the scorecard its n and the SLA targets.
    for rows in report.movers.values():
        assert {r["group"] for r in rows} == set(truth["locations"])
        for r in rows:
            assert r["label"] in ("improved", "worsened", "no clear change",
                                  "too few responses")
            if r["change"] is not None:
                assert r["change_low"] <= r["change"] <= r["change_high"]
                assert r["q_value"] is not None
    assert set(report.movers) == {"NPS", "Negative share %"}
    metrics = {f["metric"] for f in report.loop_health}
    assert {"acknowledge_median", "sla_met:acknowledge", "backlog_open"} <= metrics
    assert all("n" in f for f in report.loop_health)
    assert [t["priority"] for t in report.sla_targets] == ["critical", "high", "medium", "low"]

    page = render_html(report)
    text = render_markdown(report)
    for _, heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page
        assert f"\n## {heading}\n" in text
    assert re.findall(r"<h2>(.*?)</h2>", page) == re.findall(r"^## (.*)$", text, re.M)
    # Escaped user text: the comment and the improvement's title.
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Extra staff at peak &lt;b&gt;times&lt;/b&gt;" in page
    assert "&lt;script&gt;" in text and "<script" not in text and "<b>" not in text
    assert "\\| \\*\\*bold\\*\\*" in text      # no table split, no bold
    # Nothing external: no reference to another host, no script, stylesheet link or font.
    assert external_references(page) == []
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert page.count("<svg") >= 3 and "@media print" in page and "page-break-before" in page
    # Every change is said with its interval and test, never bare.
    assert "95% CI" in page and " q " in page


def test_default_week_is_the_last_complete_week(truth_demo, utc):
    db, _, _ = truth_demo
    report = weekly_report(db, now=store.from_iso(DEMO_NOW))    # Monday 2025-06-30
    assert report.week == "2025-W26"
    assert report.week_start == date(2025, 6, 23) and report.week_end == date(2025, 6, 29)
    assert report.volume["responses"] > 0


def test_a_running_week_says_so(truth_demo, utc):
    db, _, _ = truth_demo
    report = weekly_report(db, week="2025-W27", now=store.from_iso(DEMO_NOW))
    assert any("not over yet" in note for note in report.notes)
    assert "not over yet" in render_html(report)


def test_an_empty_store_gives_a_report_saying_so(db, utc):
    report = weekly_report(db, week="2026-W12", now=store.from_iso("2026-03-30T09:00:00Z"))
    assert report.empty
    page, text = render_html(report), render_markdown(report)
    for _, heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page and f"## {heading}" in text
    assert NOTHING_YET in page and NOTHING_YET in text
    assert external_references(page) == []


def test_an_empty_week_in_a_filled_store_still_renders(truth_demo, utc):
    db, _, _ = truth_demo
    report = weekly_report(db, week="2019-W10", now=store.from_iso(DEMO_NOW))
    assert not report.empty and report.volume["responses"] == 0
    assert report.rising == [] and report.location_changes == []
    page = render_html(report)
    assert all(f"<h2>{heading}</h2>" in page for _, heading in SECTIONS)
    render_markdown(report)


def test_cli_writes_the_file_and_prints_its_path(db_path, tmp_path, utc):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli_module.cli, ["report", "--db", str(db_path), "--week",
                                                 "2026-W12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert NOTHING_YET in out.read_text(encoding="utf-8")

    md = tmp_path / "report.md"
    result = CliRunner().invoke(cli_module.cli, ["report", "--db", str(db_path), "--out",
                                                 str(md), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(md)
    assert md.read_text(encoding="utf-8").startswith("# Weekly report ")


def test_cli_report_on_the_demo(truth_demo, db_path, tmp_path, utc):
    out = tmp_path / "w19.md"
    result = CliRunner().invoke(cli_module.cli, [
        "report", "--db", str(db_path), "--week", "2025-W19", "--out", str(out),
        "--format", "md", "--now", DEMO_NOW])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "**billing** at **Northgate**: rising" in text


@pytest.mark.parametrize("week", ["2026-13", "2025-W53", "next week"])
def test_cli_refuses_a_bad_week_in_one_line(db_path, tmp_path, week):
    from tests.test_cli_errors import assert_one_line_error, run_cli

    out = tmp_path / "never.html"
    result = run_cli("report", "--db", str(db_path), "--week", week, "--out", str(out))
    assert_one_line_error(result, "--week")
    assert not out.exists()


PLANTED_NAME, PLANTED_EMAIL = "Philippa Quartermain", "philippa.q@customers.example"
PLANTED = (f"This is {PLANTED_NAME} ({PLANTED_EMAIL}): billed twice! Call 020 7946 0958 or "
           "reach.me@planted.example, refund card 4111 1111 1111 1111 or IBAN "
           "GB82 WEST 1234 5698 7654 32")
PLANTED_SECRETS = ("Philippa", "Quartermain", "philippa.q", "customers.example", "7946",
                   "reach.me", "planted.example", "1111 1111", "GB82 WEST", "5698 7654")


def test_a_shared_report_never_quotes_personal_data(truth_demo, utc):
    """The report is mailed to a list, downloaded from the Impact page and forwarded on:
    its quotes are masked whoever reads them, and the quoted customer's own name and email
    are taken out (the page, the CLI and the weekly email all render this report)."""
    db, truth, themes = truth_demo
    prepare_demo(db, truth, themes)
    spike = truth["spike"]
    with store.write_transaction(db):
        db.execute("UPDATE feedback SET comment = ?, customer_name = ?, customer_email = ? "
                   "WHERE comment = ?", [PLANTED, PLANTED_NAME, PLANTED_EMAIL, HOSTILE])
    report = weekly_report(db, week=spike["iso_week"], now=store.from_iso(DEMO_NOW))
    quotes = [q for c in [*report.themes, *report.location_changes] for q in c["quotes"]]
    assert ("This is [name] ([email]): billed twice! Call [phone] or [email], refund card "
            "[card] or IBAN [iban]") in quotes
    for page in (render_html(report), render_markdown(report)):
        assert [s for s in PLANTED_SECRETS if s in page] == []
        unescaped = page.replace("\\", "")          # Markdown escapes the brackets
        assert "[card]" in unescaped and "[iban]" in unescaped


"""Issue 23: the weekly report's HTML file opens in headless Chromium with the network cut
off, asks for nothing but itself, and prints: a screenshot and a PDF, both non-empty."""

from __future__ import annotations

from datetime import date

import pytest

from analysis import store
from analysis.reports.weekly import render_html, weekly_report
from tests.conftest import DEMO_NOW

pytestmark = pytest.mark.browser

HOSTILE = ("<img src=https://evil.example/a.png> <script>fetch('https://evil.example')"
           "</script> charged twice")


def test_the_report_file_needs_no_network_and_prints(truth_demo, browser, tmp_path,
                                                     monkeypatch):
    from analysis.sweep import run_sweep

    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    db, truth, themes = truth_demo
    run_sweep(db, now=store.from_iso(DEMO_NOW), since=date(2025, 4, 1), actor="test")
    spike = truth["spike"]
    with store.write_transaction(db):   # a hostile comment among the spike's quotes
        db.execute(
            """UPDATE feedback SET comment = ? WHERE id = (
                   SELECT MIN(f.id) FROM feedback f JOIN theme_assignments a
                   ON a.feedback_id = f.id AND a.theme_id = ?
                   WHERE f.location = ? AND f.received_at >= ? AND f.received_at < ?)""",
            [HOSTILE, themes[spike["theme"]], spike["location"],
             spike["week_start"] + "T00:00:00Z", "2025-05-12T00:00:00Z"])
    report = weekly_report(db, week=spike["iso_week"], now=store.from_iso(DEMO_NOW))
    path = tmp_path / "weekly.html"
    path.write_text(render_html(report), encoding="utf-8")

    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB",
                                  timezone_id="UTC")
    page = context.new_page()
    requested, refused, errors = [], [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def guard(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_load_state("networkidle")
        assert page.title() == "Weekly report 2025-W19"
        assert page.locator("section h2").count() == 7
        # The hostile comment is text on the page, never an element.
        assert page.locator("script").count() == 0 and page.locator("img").count() == 0
        assert page.get_by_text("<img src=https://evil.example/a.png>",
                                exact=False).count() >= 1
        assert page.locator("svg").count() >= 3

        shot = tmp_path / "weekly.png"
        page.screenshot(path=str(shot), full_page=True)
        page.emulate_media(media="print")
        pdf = tmp_path / "weekly.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
    finally:
        context.close()

    assert refused == [], refused
    assert requested == [path.as_uri()], requested
    assert errors == []
    assert shot.stat().st_size > 10_000
    assert pdf.stat().st_size > 10_000 and pdf.read_bytes().startswith(b"%PDF")

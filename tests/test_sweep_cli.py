"""`python -m analysis sweep` and `python -m analysis alerts` on a small weekly store with
one injected spike (Billing at North in week 14, see tests/test_trends_alerts.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from analysis.store.clock import to_iso
from analysis.trends.alerts import ALERT_FIELDS
from tests.test_cli_errors import run_cli
from tests.test_trends_alerts import (
    BILLING,
    PARKING,
    after,
    load,
    weekly_only,
)
from tests.test_trends_series import add_theme

REQUIRED = ("id", "theme_id", "theme", "location", "granularity", "period_start",
            "period_end", "observed", "expected", "share", "baseline_share", "ratio",
            "p_value", "q_value", "status", "opened_at")
SPIKES = {("North", 14): 60, ("North", 15): 22}


@pytest.fixture
def spiked_path(db_path, monkeypatch):
    """Weeks 0..15 loaded (the spike in week 14, back to normal in 15), weekly alerts."""
    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    db = store.connect(db_path)
    add_theme(db, BILLING, "Billing")
    add_theme(db, PARKING, "Parking")
    weekly_only(db)
    load(db, range(16), SPIKES)
    db.close()
    return db_path


def invoke(*args: str):
    result = CliRunner().invoke(cli_module.cli, list(args))
    assert "Traceback" not in result.output
    return result


def sweep(path, *args: str):
    return invoke("sweep", "--db", str(path), *args)


def listed(path, *args: str) -> list[dict]:
    result = invoke("alerts", "--db", str(path), *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sweep_prints_one_line_per_step(spiked_path):
    result = sweep(spiked_path, "--now", to_iso(after(14)))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    # No sweep before: the last four complete weeks (the running week is never tested).
    assert lines[0].startswith("spike alerts: 4 period(s) evaluated, ")
    assert lines[1].startswith("root-cause triggers: 1 rule(s) checked, ")
    assert lines[2].startswith("cases: ")


def test_sweep_since_replays_every_week_and_opens_the_spike(spiked_path):
    result = sweep(spiked_path, "--now", to_iso(after(15)), "--since", "2025-01-06")
    assert result.exit_code == 0, result.output
    assert "spike alerts: 16 period(s) evaluated" in result.stdout   # complete weeks 0..15
    found = listed(spiked_path, "--status", "all")
    north = [a for a in found if a["location"] == "North"]
    assert [(a["theme"], a["first_period"], a["status"]) for a in north] == \
        [("Billing", "2025-04-14", "closed")]
    # The same sweep again changes nothing.
    again = sweep(spiked_path, "--now", to_iso(after(15)), "--since", "2025-01-06")
    assert "0 alert(s) opened, 0 updated, 0 closed" in again.stdout
    assert listed(spiked_path, "--status", "all") == found


def test_the_real_command_runs_as_a_scheduler_would(spiked_path):
    out = run_cli("sweep", "--db", str(spiked_path), "--now", "2025-04-21T06:00:00Z",
                  "--since", "2025-01-06", env={"CLOSELOOP_TZ": "UTC"})
    assert out.returncode == 0, out.stderr
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == \
        ["spike alerts", "root-cause triggers", "cases", "outbox"]
    out = run_cli("alerts", "--db", str(spiked_path), env={"CLOSELOOP_TZ": "UTC"})
    assert out.returncode == 0, out.stderr
    assert any(a["location"] == "North" for a in json.loads(out.stdout))


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", ""])
def test_a_bad_now_is_a_clear_error(spiked_path, value):
    result = sweep(spiked_path, "--now", value)
    assert result.exit_code == 2
    assert "--now" in result.stderr and "ISO 8601" in result.stderr
    assert listed(spiked_path, "--status", "all") == []


def test_since_after_now_is_refused(spiked_path):
    result = sweep(spiked_path, "--now", "2025-02-01T00:00:00Z", "--since", "2025-03-01")
    assert result.exit_code == 2
    assert "--since is after --now" in result.stderr
    result = sweep(spiked_path, "--now", "2025-02-01T00:00:00Z", "--since", "March")
    assert result.exit_code == 2 and "--since" in result.stderr


def test_a_naive_now_is_utc(spiked_path):
    assert sweep(spiked_path, "--now", "2025-04-21T06:00:00", "--since",
                 "2025-01-06").exit_code == 0
    [north] = [a for a in listed(spiked_path) if a["location"] == "North"]
    assert north["opened_at"] == "2025-04-21T00:00:00Z"


def test_alerts_json_has_one_object_per_alert_with_its_figures(spiked_path):
    sweep(spiked_path, "--now", to_iso(after(14)), "--since", "2025-01-06")
    found = listed(spiked_path)
    assert found
    for alert in found:
        assert set(REQUIRED) <= set(alert)
    north = next(a for a in found if a["location"] == "North")
    assert (north["theme"], north["theme_id"], north["granularity"], north["period_start"],
            north["period_end"], north["observed"], north["status"]) == \
        ("Billing", BILLING, "week", "2025-04-14", "2025-04-20", 60, "open")
    assert north["share"] == pytest.approx(0.3)
    assert north["ratio"] == pytest.approx(3, rel=0.05)
    assert 0 <= north["p_value"] <= north["q_value"] <= 0.05
    assert north["expected"] == pytest.approx(20, abs=0.5)
    networks = [a for a in found if a["location"] is None]
    assert all(a["theme"] == "Billing" for a in networks)


def test_alerts_csv_has_the_same_columns(spiked_path):
    sweep(spiked_path, "--now", to_iso(after(14)), "--since", "2025-01-06")
    as_json = listed(spiked_path)
    result = invoke("alerts", "--db", str(spiked_path), "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == ALERT_FIELDS
    assert set(REQUIRED) <= set(rows[0])
    assert [int(r["id"]) for r in rows] == [a["id"] for a in as_json]
    north = next(r for r in rows if r["location"] == "North")
    assert (north["theme"], north["period_start"], north["observed"]) == \
        ("Billing", "2025-04-14", "60")
    assert any(r["location"] == "" for r in rows)      # all locations: an empty cell


def test_alerts_status_and_granularity_filters(spiked_path):
    sweep(spiked_path, "--now", to_iso(after(15)), "--since", "2025-01-06")
    everything = listed(spiked_path, "--status", "all")
    assert everything and all(a["status"] == "closed" for a in everything)
    assert listed(spiked_path) == []                       # open is the default
    assert listed(spiked_path, "--status", "open") == []
    assert listed(spiked_path, "--status", "closed") == everything
    assert listed(spiked_path, "--status", "all", "--granularity", "week") == everything
    assert listed(spiked_path, "--status", "all", "--granularity", "day") == []
    result = invoke("alerts", "--db", str(spiked_path), "--status", "snoozed")
    assert result.exit_code == 2


def test_daily_alerts_are_listed_by_granularity(db_path, monkeypatch):
    from datetime import UTC, date, datetime, time, timedelta

    from tests.test_trends_series import add_feedback

    monkeypatch.setenv("CLOSELOOP_TZ", "UTC")
    db = store.connect(db_path)
    add_theme(db, BILLING, "Billing")
    start = date(2025, 1, 6)
    add_feedback(db, [(datetime.combine(start + timedelta(days=d), time(12), UTC), "North",
                       30, {BILLING: 20 if d == 40 else 3}) for d in range(41)])
    db.close()
    assert sweep(db_path, "--now", "2025-02-16T06:00:00Z", "--since", "2025-01-06"
                 ).exit_code == 0
    daily = listed(db_path, "--status", "all", "--granularity", "day")
    assert [(a["location"], a["period_start"]) for a in daily if a["location"]] == \
        [("North", "2025-02-15")]
    assert all(a["granularity"] == "day" for a in daily)
    weekly = listed(db_path, "--status", "all", "--granularity", "week")
    assert all(a["granularity"] == "week" for a in weekly)


def test_an_empty_store_lists_an_empty_array(db_path):
    result = invoke("alerts", "--db", str(db_path))
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = invoke("alerts", "--db", str(db_path), "--format", "csv")
    assert result.stdout.splitlines() == [",".join(ALERT_FIELDS)]
    result = sweep(db_path, "--now", "2025-03-03T06:00:00Z")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4

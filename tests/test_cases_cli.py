"""`python -m analysis sweep` opening cases, `python -m analysis cases` (the JSON/CSV contract)
and `python -m analysis worker` with its lease."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from analysis.cases.worker import LEASE, acquire_lease, lease_holder, run_worker
from tests.case_stores import MONDAY, add, response, team, themes

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("id", "type", "route", "customer_key", "theme_id", "location", "priority",
            "priority_reasons", "status", "owner", "team", "opened_at", "ack_due",
            "resolve_due", "followup_due", "sla_status", "escalation_level",
            "resolution_category", "feedback_ids")


def invoke(*args: str):
    result = CliRunner().invoke(cli_module.cli, list(args))
    assert "Traceback" not in result.output
    return result


def seeded(db) -> list[int]:
    themes(db)
    team(db)
    return add(db, response("c1", "nps", 2), response("c2", "nps", 9, sentiment="positive"),
               response("c3", "csat", 4, sentiment="positive"))


def test_the_sweep_opens_cases_and_says_so(db, db_path):
    seeded(db)
    result = invoke("sweep", "--db", str(db_path), "--now", MONDAY.isoformat())
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[2]
    assert line.startswith("cases: 3 feedback looked at, 2 case(s) opened, 0 joined")
    again = invoke("sweep", "--db", str(db_path), "--now", MONDAY.isoformat())
    assert again.stdout.splitlines()[2].startswith("cases: 0 feedback looked at, 0 case(s)")


def test_cases_lists_every_field_scripts_rely_on(db, db_path):
    ids = seeded(db)
    invoke("sweep", "--db", str(db_path), "--now", MONDAY.isoformat())
    found = json.loads(invoke("cases", "--db", str(db_path), "--now",
                              (MONDAY + timedelta(hours=1)).isoformat()).stdout)
    assert len(found) == 2 and all(set(REQUIRED) <= set(row) for row in found)
    recovery = next(r for r in found if r["route"] == "recovery")
    assert recovery["customer_key"] == "id:c1" and recovery["feedback_ids"] == [ids[0]]
    assert recovery["sla_status"] == {"acknowledge": "on track", "resolve": "on track",
                                      "follow up": "not started"}
    assert recovery["owner"] == "Agent 0" and recovery["team"] == "Customer care"
    assert {r["part"] for r in recovery["priority_reasons"]} >= {"severity", "theme",
                                                                  "customer", "repeat"}
    text = invoke("cases", "--db", str(db_path), "--status", "all", "--format", "csv",
                  "--now", MONDAY.isoformat()).stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == cli_module.CASE_CLI_FIELDS and len(table) == 2
    assert "acknowledge: on track" in table[0]["sla_status"]


def test_cases_on_an_empty_store_is_an_empty_array(db_path):
    result = invoke("cases", "--db", str(db_path))
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_the_worker_sweeps_and_releases_its_lease(db, db_path):
    seeded(db)
    lines = []
    done = run_worker(db, every_s=0.01, actor="worker", holder="w1", runs=2, log=lines.append,
                      sleep=lambda s: None, clock=lambda: MONDAY)
    assert done == 2 and "2 case(s) opened" in lines[0] and "0 case(s) opened" in lines[1]
    assert lease_holder(db) is None


def test_one_worker_per_store_and_an_expired_lease_is_taken_over(db):
    assert acquire_lease(db, LEASE, holder="w1", now=MONDAY, ttl_s=180)
    assert not acquire_lease(db, LEASE, holder="w2", now=MONDAY + timedelta(seconds=60),
                             ttl_s=180)
    lines = []
    assert run_worker(db, every_s=60, actor="w", holder="w2", runs=1, log=lines.append,
                      sleep=lambda s: None, clock=lambda: MONDAY) == 0
    assert lines[0].startswith("another worker holds the lease (w1")
    # w1 crashed: no renewal; after 3 x every its lease is free.
    assert acquire_lease(db, LEASE, holder="w2", now=MONDAY + timedelta(seconds=181),
                         ttl_s=180)
    assert lease_holder(db)["holder"] == "w2"


def _sweeps(db_path) -> int:
    return store.connect(db_path).execute("SELECT COUNT(*) FROM sweep_runs").fetchone()[0]


def test_the_worker_command_stops_cleanly_on_sigterm(db, db_path):
    seeded(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLOSELOOP_DB": str(db_path)}
    worker = subprocess.Popen([sys.executable, "-m", "analysis", "worker", "--every", "1"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _sweeps(db_path) == 0:
            time.sleep(0.2)
        assert lease_holder(store.connect(db_path)) is not None
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "spike alerts:" in err
    assert lease_holder(store.connect(db_path)) is None

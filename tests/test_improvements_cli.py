"""`python -m analysis improvements add|list` and `python -m analysis impact`: the contract
scripts and schedulers rely on (ids on stdout, one-line errors naming the field, the JSON
fields), on the demo with its injected improvement (tests/test_improvements.py)."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from tests.test_improvements import NOW

IMPACT_FIELDS = ("headline", "effect", "ci_low", "ci_high", "p_value", "methods", "n_pre",
                 "n_post", "min_detectable_effect", "warnings", "verdict")
METHOD_FIELDS = ("method", "label", "test", "effect", "ci_low", "ci_high", "p_value",
                 "n_pre", "n_post", "assumptions")


def invoke(*args: str):
    result = CliRunner().invoke(cli_module.cli, list(args))
    assert "Traceback" not in result.output
    return result


def add(db_path, *extra: str):
    return invoke("improvements", "add", "--db", str(db_path), *extra)


def _injected(db_path, truth, themes, *extra: str) -> int:
    injected = truth["improvement"]
    result = add(db_path, "--title", "Extra staff at peak", "--location", injected["location"],
                 "--theme", str(themes[injected["theme"]]), "--effective", injected["date"],
                 "--actor", "ops", *extra)
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip())


def test_add_prints_the_new_id_and_records_the_actor(truth_demo, db_path):
    db, truth, themes = truth_demo
    improvement_id = _injected(db_path, truth, themes, "--location", "Airport",
                               "--metric", "csat", "--owner", "Dana")
    row = db.execute("SELECT title, status, metric, owner, created_by FROM improvements "
                     "WHERE id = ?", [improvement_id]).fetchone()
    assert row == ("Extra staff at peak", "shipped", "csat", "Dana", "ops")
    locations = [r[0] for r in db.execute(
        "SELECT location FROM improvement_locations WHERE improvement_id = ? ORDER BY 1",
        [improvement_id])]
    assert locations == ["Airport", "Harbour Street"]


def test_add_refuses_bad_input_in_one_line_naming_the_field(truth_demo, db_path):
    db, truth, themes = truth_demo
    cases = [
        (("--title", "X", "--location", "Harbour Street", "--effective", "2025-03-03"),
         "error: target: name a theme or a metric"),
        (("--title", "X", "--location", "Harbour Street", "--metric", "nps",
          "--effective", "3 March"), "error: effective date: '3 March' is not a date"),
        (("--title", "X", "--location", "Nowhere", "--metric", "nps",
          "--effective", "2025-03-03"), "error: location: no feedback comes from 'Nowhere'"),
        (("--title", "X", "--location", "Harbour Street", "--theme", "999",
          "--effective", "2025-03-03"), "error: theme: there is no theme 999"),
        (("--title", "X", "--location", "Harbour Street", "--metric", "nps",
          "--effective", "2025-03-03", "--rollout-end", "2025-03-01"),
         "error: end of roll-out: 2025-03-01 is before"),
    ]
    for args, message in cases:
        result = add(db_path, *args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith(message), result.stderr
        assert result.stderr.count("\n") == 1
    assert db.execute("SELECT COUNT(*) FROM improvements").fetchone()[0] == 0


def test_list_gives_every_improvement_as_json_or_csv(truth_demo, db_path):
    _, truth, themes = truth_demo
    first = _injected(db_path, truth, themes)
    second = _injected(db_path, truth, themes, "--status", "planned",
                       "--effective", "2025-05-05")
    rows = json.loads(invoke("improvements", "list", "--db", str(db_path)).stdout)
    assert [r["id"] for r in rows] == [second, first]
    assert set(cli_module.IMPROVEMENT_FIELDS) <= set(rows[0])
    assert rows[1]["locations"] == ["Harbour Street"] and rows[1]["target"] == "wait time share"
    # Nobody set the impact: it defaults to the key drivers' opportunity.
    assert rows[1]["impact_is_default"] and rows[1]["confidence"] == 0.5
    assert rows[1]["impact"] is not None
    assert rows[1]["priority"] == pytest.approx(rows[1]["impact"] * 0.5 / 1.0)
    planned = json.loads(invoke("improvements", "list", "--db", str(db_path),
                                "--status", "planned").stdout)
    assert [r["id"] for r in planned] == [second]
    text = invoke("improvements", "list", "--db", str(db_path), "--format", "csv").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == cli_module.IMPROVEMENT_FIELDS
    assert table[1]["locations"] == "Harbour Street" and table[1]["status"] == "shipped"


def test_list_on_an_empty_store_is_an_empty_array(db_path):
    result = invoke("improvements", "list", "--db", str(db_path))
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_impact_prints_the_headline_every_method_and_the_warnings(truth_demo, db_path):
    _, truth, themes = truth_demo
    improvement_id = _injected(db_path, truth, themes)
    result = invoke("impact", "--db", str(db_path), "--id", str(improvement_id),
                    "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(IMPACT_FIELDS) <= set(found)
    assert found["headline"] == "randomization" and found["p_value"] <= 0.05
    assert found["ci_low"] <= -15 <= found["ci_high"]
    assert [m["method"] for m in found["methods"]] == ["before_after", "its", "did",
                                                      "randomization"]
    for method in found["methods"]:
        assert set(METHOD_FIELDS) <= set(method)
        assert all(isinstance(method[k], (int, float)) and math.isfinite(method[k])
                   for k in ("effect", "ci_low", "ci_high", "p_value"))
    assert isinstance(found["warnings"], list)
    assert found["windows"]["window_weeks"] == 8


def test_impact_window_and_csv_rows_per_method(truth_demo, db_path):
    _, truth, themes = truth_demo
    improvement_id = _injected(db_path, truth, themes)
    result = invoke("impact", "--db", str(db_path), "--id", str(improvement_id),
                    "--window-weeks", "6", "--now", NOW.isoformat(), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["method"] for r in rows] == ["before_after", "its", "did", "randomization"]
    found = json.loads(invoke("impact", "--db", str(db_path), "--id", str(improvement_id),
                              "--window-weeks", "6", "--now", NOW.isoformat()).stdout)
    assert found["windows"]["window_weeks"] == 6
    assert math.isclose(float(rows[-1]["effect"]), found["effect"], rel_tol=1e-6)


def test_impact_of_an_unknown_improvement_is_a_one_line_error(db_path):
    store.connect(db_path).close()
    result = invoke("impact", "--db", str(db_path), "--id", "7")
    assert result.exit_code == 1
    assert result.stderr == "error: there is no improvement 7\n"


def test_impact_of_a_future_change_says_not_measurable_yet(truth_demo, db_path):
    _, truth, themes = truth_demo
    improvement_id = _injected(db_path, truth, themes, "--effective", "2025-09-01",
                               "--status", "planned")
    found = json.loads(invoke("impact", "--db", str(db_path), "--id", str(improvement_id),
                              "--now", NOW.isoformat()).stdout)
    assert found["p_value"] is None and found["methods"] == []
    assert found["warnings"] == ["Not measurable yet: the change is in the future."]


def test_status_moves_an_improvement_along_and_says_whether_it_changed(truth_demo, db_path):
    db, truth, themes = truth_demo
    improvement_id = _injected(db_path, truth, themes, "--status", "planned")
    args = ("improvements", "status", "--db", str(db_path), "--id", str(improvement_id),
            "--status", "shipped", "--actor", "lead")
    assert invoke(*args).stdout == "changed\n"
    assert invoke(*args).stdout == "unchanged\n"
    events = db.execute("SELECT event, actor FROM improvement_events WHERE improvement_id = ? "
                        "ORDER BY id", [improvement_id]).fetchall()
    assert events == [("created", "ops"), ("status changed", "lead")]
    result = invoke("improvements", "status", "--db", str(db_path), "--id", "99",
                    "--status", "shipped")
    assert result.exit_code == 1 and result.stderr == "error: there is no improvement 99\n"


def test_link_takes_a_themes_complaints_or_a_search_at_the_improvements_locations(
        truth_demo, db_path):
    from analysis.improvements.records import evidence_counts, feedback_for_theme

    db, truth, themes = truth_demo
    improvement_id = _injected(db_path, truth, themes)
    wait = themes[truth["improvement"]["theme"]]
    base = ("improvements", "link", "--db", str(db_path), "--id", str(improvement_id))
    result = invoke(*base, "--theme", str(wait))
    assert result.exit_code == 0, result.output
    expected = feedback_for_theme(db, wait, ["Harbour Street"])
    assert int(result.stdout) == len(expected) > 20
    assert invoke(*base, "--theme", str(wait)).stdout == "0\n"
    searched = invoke(*base, "--search", "queue", "--location", "Airport")
    assert searched.exit_code == 0 and int(searched.stdout) > 0
    counts = evidence_counts(db, improvement_id)
    assert counts["evidence"] == len(expected) + int(searched.stdout)
    assert counts["evidence_locations"] == 2
    for args, message in (((), "error: give exactly one of --theme ID or --search WORDS"),
                          (("--theme", "1", "--search", "x"), "error: give exactly one"),
                          (("--theme", "999"), "error: theme: there is no theme 999")):
        failed = invoke(*base, *args)
        assert failed.exit_code == 1 and failed.stderr.startswith(message)


def test_whom_lists_the_customers_to_tell_as_json_or_csv(truth_demo, db_path):
    from analysis.improvements.records import whom_to_tell

    db, truth, themes = truth_demo
    improvement_id = _injected(db_path, truth, themes)
    invoke("improvements", "link", "--db", str(db_path), "--id", str(improvement_id),
           "--theme", str(themes[truth["improvement"]["theme"]]))
    rows = json.loads(invoke("improvements", "whom", "--db", str(db_path),
                             "--id", str(improvement_id)).stdout)
    assert rows == whom_to_tell(db, improvement_id) and rows
    assert rows[0]["message"].startswith("We changed Extra staff at peak, based on ")
    text = invoke("improvements", "whom", "--db", str(db_path), "--id", str(improvement_id),
                  "--format", "csv").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == cli_module.WHOM_FIELDS and len(table) == len(rows)


def test_the_cli_choices_are_the_records_own():
    """The CLI spells statuses and metrics out (importing the records at start-up would load
    statsmodels for every command): they must stay the records' lists."""
    from analysis.improvements.records import METRICS, STATUSES

    assert tuple(cli_module.STATUS_CHOICE.choices) == STATUSES
    add_command = cli_module.cli.commands["improvements"].commands["add"]
    metric = next(p for p in add_command.params if p.name == "metric")
    assert tuple(metric.type.choices) == METRICS

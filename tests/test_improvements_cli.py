"""`python -m analysis improvements add|list` and `python -m analysis impact`: the contract
scripts and schedulers rely on (ids on stdout, one-line errors naming the field, the JSON
fields), on the demo with its injected improvement (tests/test_improvements.py)."""

from __future__ import annotations

import csv
import io
import json
import math

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
    assert rows[1]["priority"] is None and rows[1]["confidence"] == 0.5
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

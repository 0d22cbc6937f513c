"""`python -m analysis benchmarks` and `python -m analysis drivers`: one object (or CSV row)
per group or theme, the library's figures, clear errors.

The benchmark store: CSAT at A (30 of 40 satisfied), B (20 of 40), C (25 of 40) and Tiny
(1 of 5) in March 2025, plus 10 satisfied answers at A in January; segments "new" and
"old"; NPS, CES, rating and a theme at A and B. The drivers store is tests/test_drivers.py's
planted one (theme A costs 40 NPS points).
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from analysis.benchmarks.drivers import key_drivers
from analysis.benchmarks.metrics import Metric
from analysis.benchmarks.ranking import benchmark
from tests.test_benchmarks import add_rows, csat, scores, wilson
from tests.test_drivers import A, B, C, _planted_rows
from tests.test_trends_series import add_theme

REQUIRED = ("group", "n", "estimate", "ci_low", "ci_high", "shrunk", "shrunk_low",
            "shrunk_high", "network", "diff", "p_value", "q_value", "label")
DRIVER_REQUIRED = ("theme_id", "theme", "share", "points", "ci_low", "ci_high", "p_value",
                   "opportunity")
JANUARY = datetime(2025, 1, 15, 12, tzinfo=UTC)


def invoke(*args: str):
    result = CliRunner().invoke(cli_module.cli, list(args))
    assert "Traceback" not in result.output
    return result


def listed(*args: str) -> list[dict]:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def csv_rows(*args: str) -> list[dict]:
    result = invoke(*args, "--format", "csv")
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


@pytest.fixture
def bench_path(db_path):
    db = store.connect(db_path)
    add_theme(db, 7, "Queues")
    rows = (csat("A", 30, 40) + csat("B", 20, 40) + csat("C", 25, 40) + csat("Tiny", 1, 5)
            + scores("csat", "A", [5] * 10, received_at=JANUARY))
    for k, row in enumerate(rows):
        row["segment"] = "new" if k % 2 else "old"
    rows += (scores("nps", "A", [10] * 20 + [3] * 20) + scores("nps", "B", [10] * 10 + [3] * 30)
             + scores("ces", "A", [5, 6] * 20) + scores("ces", "B", [3, 4] * 20)
             + scores("rating", "A", [4, 5] * 20) + scores("rating", "B", [2, 3] * 20)
             + [{"score_type": "nps", "score": 8, "location": loc, "themes": [7] * (k < m)}
                for loc, m in (("A", 5), ("B", 30)) for k in range(40)])
    add_rows(db, rows)
    db.close()
    return db_path


def test_benchmarks_gives_one_object_per_group_with_every_field(bench_path):
    found = listed("benchmarks", "--db", str(bench_path), "--metric", "csat",
                   "--to", "2025-12-31")
    assert [r["group"] for r in found] == ["A", "C", "B", "Tiny"]    # by rank, Tiny last
    for row in found:
        assert set(REQUIRED) <= set(row), row
    a = {r["group"]: r for r in found}["A"]
    # A: 40 satisfied of 50 (30 in March, 10 in January); the network 86 of 135.
    assert a["n"] == 50 and a["estimate"] == pytest.approx(80.0)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(wilson(40, 50))
    assert a["network"] == pytest.approx(86 / 135 * 100)
    assert a["diff"] == pytest.approx(80 - 46 / 85 * 100)
    assert a["shrunk_low"] < a["shrunk"] < a["shrunk_high"]
    assert a["network"] < a["shrunk"] < a["estimate"]
    assert 0 < a["p_value"] <= a["q_value"] <= 1
    assert a["label"] == "better" and a["rank"] == 1
    tiny = {r["group"]: r for r in found}["Tiny"]
    assert (tiny["label"], tiny["p_value"], tiny["q_value"], tiny["diff"], tiny["rank"]) == \
        ("too few responses", None, None, None, None)
    # The very figures the library gives.
    db = store.connect(bench_path)
    library = benchmark(db, Metric.parse("csat")).rows
    assert [{k: r[k] for k in REQUIRED} for r in library] == \
        [{k: pytest.approx(r[k]) if isinstance(r[k], float) else r[k] for k in REQUIRED}
         for r in found]


def test_benchmarks_csv_has_the_same_rows_and_columns(bench_path):
    found = listed("benchmarks", "--db", str(bench_path), "--metric", "csat")
    rows = csv_rows("benchmarks", "--db", str(bench_path), "--metric", "csat")
    assert set(REQUIRED) <= set(rows[0])
    assert len(rows) == len(found)
    for got, want in zip(rows, found):
        for key in REQUIRED:
            if want[key] is None:
                assert got[key] == ""
            elif isinstance(want[key], str):
                assert got[key] == want[key]
            else:
                assert float(got[key]) == pytest.approx(want[key])


def test_benchmarks_respects_the_dates(bench_path):
    march = listed("benchmarks", "--db", str(bench_path), "--metric", "csat",
                   "--from", "2025-03-01", "--to", "2025-03-31")
    a = {r["group"]: r for r in march}["A"]
    assert (a["n"], a["estimate"]) == (40, 75.0)
    january = listed("benchmarks", "--db", str(bench_path), "--metric", "csat",
                     "--to", "2025-01-31")
    assert [(r["group"], r["n"]) for r in january] == [("A", 10)]


def test_benchmarks_by_segment(bench_path):
    found = listed("benchmarks", "--db", str(bench_path), "--metric", "csat",
                   "--by", "segment")
    assert sorted((r["group"], r["n"]) for r in found) == [("new", 67), ("old", 68)]


@pytest.mark.parametrize(("metric", "a", "b"), [
    ("nps", 0.0, -25.0), ("ces", 5.5, 3.5), ("rating", 4.5, 2.5),
    # Theme shares are over every commented response (210 at A, 200 at B), any scale.
    ("negative", None, None), ("theme:7", 500 / 210, 15.0)])
def test_benchmarks_takes_every_metric(bench_path, metric, a, b):
    found = {r["group"]: r for r in listed("benchmarks", "--db", str(bench_path),
                                           "--metric", metric, "--min-n", "2")}
    if a is not None:
        assert (found["A"]["estimate"], found["B"]["estimate"]) == pytest.approx((a, b))
    for row in found.values():
        assert row["label"] in ("better", "worse", "not distinguishable")
    if metric == "theme:7":    # no sentiment known: a theme is a problem, more is worse
        assert (found["A"]["label"], found["B"]["label"]) == ("better", "worse")


@pytest.mark.parametrize("metric", ["sentiment", "theme:x", "theme:99"])
def test_benchmarks_refuses_a_bad_metric_naming_it(bench_path, metric):
    result = invoke("benchmarks", "--db", str(bench_path), "--metric", metric)
    assert result.exit_code == 2
    assert "--metric" in result.stderr
    assert (metric if metric != "theme:99" else "no theme 99") in result.stderr


def test_benchmarks_refuses_from_after_to(bench_path):
    result = invoke("benchmarks", "--db", str(bench_path), "--metric", "nps",
                    "--from", "2025-03-02", "--to", "2025-03-01")
    assert result.exit_code == 2
    assert "--from is after --to" in result.stderr
    bad = invoke("benchmarks", "--db", str(bench_path), "--metric", "nps", "--from", "March")
    assert bad.exit_code == 2 and "--from" in bad.stderr


def test_benchmarks_refuses_an_unknown_grouping(bench_path):
    result = invoke("benchmarks", "--db", str(bench_path), "--metric", "nps",
                    "--by", "region")
    assert result.exit_code == 2 and "--by" in result.stderr


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "rating", "negative"])
def test_benchmarks_of_an_empty_store_is_an_empty_list(db_path, metric):
    store.connect(db_path).close()
    assert listed("benchmarks", "--db", str(db_path), "--metric", metric) == []
    result = invoke("benchmarks", "--db", str(db_path), "--metric", metric,
                    "--format", "csv")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split(",")[:3] == ["group", "n", "estimate"]
    assert len(result.stdout.splitlines()) == 1


# ------------------------------------------------------------------ drivers


@pytest.fixture
def drivers_path(db_path):
    db = store.connect(db_path)
    for theme_id, name in ((A, "Theme A"), (B, "Theme B"), (C, "Theme C")):
        add_theme(db, theme_id, name)
    add_rows(db, _planted_rows())
    db.close()
    return db_path


def test_drivers_gives_one_object_per_theme_with_every_field(drivers_path):
    found = listed("drivers", "--db", str(drivers_path), "--metric", "nps")
    assert [r["theme_id"] for r in found] == [A, B]        # C: too few mentions
    for row in found:
        assert set(DRIVER_REQUIRED) <= set(row), row
        assert row["ci_low"] < row["points"] < row["ci_high"]
        assert 0 <= row["p_value"] <= 1 and 0 <= row["share"] <= 100
    a = found[0]
    assert a["theme"] == "Theme A"
    assert a["ci_low"] <= -40 <= a["ci_high"] and a["opportunity"] > 0
    assert a["p_value"] < 1e-10
    library = key_drivers(store.connect(drivers_path), metric="nps").rows
    assert [r["points"] for r in found] == pytest.approx([r["points"] for r in library])


def test_drivers_csv_has_the_same_rows_and_columns(drivers_path):
    found = listed("drivers", "--db", str(drivers_path))
    rows = csv_rows("drivers", "--db", str(drivers_path))
    assert set(DRIVER_REQUIRED) <= set(rows[0]) and len(rows) == len(found)
    for got, want in zip(rows, found):
        assert got["theme"] == want["theme"]
        for key in DRIVER_REQUIRED:
            if key != "theme":
                assert float(got[key]) == pytest.approx(want[key])


def test_drivers_of_one_location(drivers_path):
    worst = {r["theme_id"]: r for r in listed("drivers", "--db", str(drivers_path),
                                              "--location", "L4")}
    best = {r["theme_id"]: r for r in listed("drivers", "--db", str(drivers_path),
                                             "--location", "L1")}
    assert worst[A]["share"] > 50 and best[A]["share"] < 15
    assert worst[A]["opportunity"] > 0 and best[A]["opportunity"] == 0
    assert listed("drivers", "--db", str(drivers_path), "--location", "Nowhere") == []


@pytest.mark.parametrize("metric", ["csat", "rating"])
def test_drivers_takes_csat_and_rating(db_path, metric):
    db = store.connect(db_path)
    add_theme(db, A, "Theme A")
    rows = []
    for k in range(200):
        has_a = k % 4 == 0
        good = 5 if metric == "csat" else 4.5
        score = (2 if has_a else good) if k % 10 else (good if has_a else 2)
        rows.append({"score_type": metric, "score": score, "location": f"L{k // 20 % 2}",
                     "themes": [A] * has_a})
    add_rows(db, rows)
    db.close()
    found = listed("drivers", "--db", str(db_path), "--metric", metric)
    assert [r["theme_id"] for r in found] == [A]
    # Every block of 20 (10 blocks, alternating locations): 5 comments with A, 1 of them
    # high; 15 without, 14 of them high. So the location adds nothing and A costs
    # (14/15 - 1/5) of the distance from low to high.
    scale = 100 if metric == "csat" else 2.5
    assert found[0]["points"] == pytest.approx((0.2 - 14 / 15) * scale)
    assert not math.isnan(found[0]["p_value"])


def test_drivers_refuses_a_bad_metric(drivers_path):
    result = invoke("drivers", "--db", str(drivers_path), "--metric", "ces")
    assert result.exit_code == 2
    assert "--metric" in result.stderr and "ces" in result.stderr


def test_drivers_of_an_empty_store_is_an_empty_list(db_path):
    store.connect(db_path).close()
    assert listed("drivers", "--db", str(db_path)) == []

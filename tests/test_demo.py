"""The demo data set: deterministic, valid, and carrying the truths detectors are tested on."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from analysis import demo, store
from analysis.cli import cli

NOW = datetime(2025, 6, 18, 14, 30, tzinfo=timezone.utc)
ROWS = 5000
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One 5,000-row demo shared by the read-only tests below."""
    folder = tmp_path_factory.mktemp("demo")
    db = store.connect(folder / "demo.db")
    result = demo.generate_demo(db, rows=ROWS, seed=11, truth_path=folder / "truth.json",
                                actor="test", now=NOW)
    rows = [dict(r) for r in db.query("SELECT * FROM feedback ORDER BY id")]
    labels = {r["external_id"]: r for r in result.truth["rows"]}
    for row in rows:
        row["themes"] = labels[row["external_id"]]["themes"]
        row["sentiment"] = labels[row["external_id"]]["sentiment"]
    yield {"db": db, "result": result, "truth": result.truth, "rows": rows,
           "truth_path": folder / "truth.json"}
    db.close()


def _share(rows, theme):
    commented = [r for r in rows if r["comment"]]
    return sum(theme in r["themes"] for r in commented) / len(commented)


def _dump(db):
    return [tuple(r) for r in db.execute("SELECT * FROM feedback ORDER BY id").fetchall()]


def test_same_seed_and_now_give_identical_rows_and_truth(tmp_path):
    outputs = []
    for name in ("a", "b"):
        db = store.connect(tmp_path / f"{name}.db")
        demo.generate_demo(db, rows=800, seed=3, truth_path=tmp_path / f"{name}.json",
                           actor="test", now=NOW)
        outputs.append((_dump(db), (tmp_path / f"{name}.json").read_bytes()))
        db.close()
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1] == outputs[1][1]

    other = demo.build_demo(800, 4, now=NOW)
    assert [r["comment"] for r in other.records] != [row[14] for row in outputs[0][0]]


def test_writes_requested_rows_and_one_import_batch(generated):
    db = generated["db"]
    assert generated["result"].rows == ROWS
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == ROWS
    batch = next(db.query("SELECT * FROM import_batches"))
    assert (batch["file_name"], batch["source"], batch["actor"]) == ("demo", "demo", "test")
    assert batch["rows_read"] == batch["imported"] == ROWS
    assert db.execute("SELECT COUNT(DISTINCT import_batch) FROM feedback").fetchone()[0] == 1
    assert generated["truth"]["rows_written"] == ROWS


def test_every_column_holds_valid_values(generated):
    rows, truth = generated["rows"], generated["truth"]
    start, end = truth["period"]["start"], truth["period"]["end"]
    assert start == "2023-12-19T00:00:00Z" and end == "2025-06-18T14:30:00Z"
    assert len({r["external_id"] for r in rows}) == ROWS
    assert all(re.fullmatch(r"demo-\d{6}", r["external_id"]) for r in rows)
    for r in rows:
        assert start <= r["received_at"] <= end
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["received_at"])
        assert r["location"] in truth["locations"]
        assert r["segment"] in truth["segments"]
        assert r["channel"] in truth["channels"]
        assert r["touchpoint"] in truth["touchpoints"]
        assert r["source"] == "demo" and r["created_by"] == "test"
        if r["score"] is not None:
            low, high = SCALES[r["score_type"]]
            assert low <= r["score"] <= high and r["score"] == int(r["score"])
        assert r["score"] is not None or r["comment"], "a row needs a score or a comment"
    kinds = Counter(r["score_type"] for r in rows)
    assert set(kinds) == {"nps", "csat", "ces", "rating", None}
    no_comment = sum(r["comment"] is None and r["score"] is not None for r in rows)
    no_score = sum(r["score"] is None and bool(r["comment"]) for r in rows)
    assert 0.05 * ROWS < no_comment < 0.25 * ROWS
    assert 0.02 * ROWS < no_score < 0.15 * ROWS
    # Received times follow external ids, so the data reads in time order.
    assert [r["received_at"] for r in rows] == sorted(r["received_at"] for r in rows)


def test_locations_differ_clearly_in_size(generated):
    sizes = Counter(r["location"] for r in generated["rows"])
    assert len(sizes) == 8
    assert max(sizes.values()) > 3 * min(sizes.values())


def test_truth_labels_every_row(generated):
    truth, rows = generated["truth"], generated["rows"]
    assert len(truth["rows"]) == ROWS
    assert truth["themes"] == demo.THEMES
    for r in rows:
        assert set(r["themes"]) <= set(truth["themes"])
        assert r["sentiment"] in ("negative", "neutral", "positive")
        assert len(r["themes"]) <= 3
        if not r["comment"]:
            assert r["themes"] == [] and r["sentiment"] == "neutral"
    counts = Counter(len(r["themes"]) for r in rows if r["comment"])
    assert counts[1] > counts[2] > counts[3] > 0


def test_comment_text_is_varied_and_noisy(generated):
    comments = [r["comment"] for r in generated["rows"] if r["comment"]]
    assert len(set(comments)) > 0.6 * len(comments)
    assert any(len(c) < 15 for c in comments) and any(c.count(". ") >= 3 for c in comments)
    assert any(c.islower() and len(c) > 30 for c in comments)
    assert any(c.isupper() and len(c) > 15 for c in comments)
    sarcastic = set(generated["truth"]["sarcastic_ids"])
    assert sarcastic
    assert all(r["sentiment"] == "negative" for r in generated["rows"]
               if r["external_id"] in sarcastic)


def test_review_and_social_comments_carry_handles_urls_and_location_names(generated):
    rows = [r for r in generated["rows"] if r["comment"]]
    social = [r for r in rows if r["channel"] in ("social", "review")]
    handles = [r for r in social if re.search(r"(^|\s)@\w+", r["comment"])]
    urls = [r for r in social if re.search(r"https?://|www\.", r["comment"])]
    hashtags = [r for r in social if re.search(r"#\w+", r["comment"])]
    named = [r for r in rows if r["location"] in r["comment"]]
    assert len(handles) > 20 and len(urls) > 10 and len(hashtags) > 10 and len(named) > 50
    assert all(r["channel"] in ("social", "review") for r in rows
               if re.search(r"https?://", r["comment"]))


def test_spike_week_share_far_above_baseline(generated):
    spike, rows = generated["truth"]["spike"], generated["rows"]
    assert (spike["theme"], spike["location"]) == ("billing", "Northgate")
    assert date.fromisoformat(spike["week_start"]).weekday() == 0
    assert date.fromisoformat(spike["week_end"]) == date(2025, 4, 27)
    here = [r for r in rows if r["location"] == spike["location"]]
    week = [r for r in here if spike["week_start"] <= r["received_at"][:10] <= spike["week_end"]]
    rest = [r for r in here if r not in week]
    week_share, base_share = _share(week, spike["theme"]), _share(rest, spike["theme"])
    assert week_share == pytest.approx(spike["spike_share"], abs=1e-4)
    assert base_share == pytest.approx(spike["baseline_share"], abs=1e-4)
    assert week_share > 3 * base_share
    weekly = sum(spike["theme"] in r["themes"] for r in rest) / ((len(set(
        r["received_at"][:10] for r in generated["rows"]))) / 7)
    assert sum(spike["theme"] in r["themes"] for r in week) > 3 * weekly


def test_worse_location_has_about_double_the_network_share(generated):
    worse, rows = generated["truth"]["worse_location"], generated["rows"]
    assert (worse["location"], worse["theme"]) == ("Old Town", "cleanliness")
    here = _share([r for r in rows if r["location"] == worse["location"]], worse["theme"])
    network = _share(rows, worse["theme"])
    assert here == pytest.approx(worse["share"], abs=1e-4)
    assert network == pytest.approx(worse["network_share"], abs=1e-4)
    assert 1.6 < here / network < 2.5
    assert worse["mean_normalised_score"] < worse["network_mean_normalised_score"]


def test_improvement_halves_the_share_from_its_date(generated):
    imp, rows = generated["truth"]["improvement"], generated["rows"]
    assert (imp["location"], imp["theme"]) == ("Harbour Street", "wait time")
    assert date.fromisoformat(imp["date"]).weekday() == 0
    here = [r for r in rows if r["location"] == imp["location"]]
    before = _share([r for r in here if r["received_at"][:10] < imp["date"]], imp["theme"])
    after = _share([r for r in here if r["received_at"][:10] >= imp["date"]], imp["theme"])
    assert before == pytest.approx(imp["measured_share_before"], abs=1e-4)
    assert after == pytest.approx(imp["measured_share_after"], abs=1e-4)
    assert before == pytest.approx(imp["share_before"], abs=0.06)
    assert after == pytest.approx(imp["share_after"], abs=0.06)
    assert imp["effect"]["nps_after"] > imp["effect"]["nps_before"]


def test_weekends_are_busier_with_more_wait_time_complaints(generated):
    rows = generated["rows"]
    weekend = [r for r in rows if datetime.fromisoformat(r["received_at"][:10]).weekday() >= 5]
    weekday = [r for r in rows if r not in weekend]
    assert len(weekend) / 2 > 1.2 * len(weekday) / 5
    assert _share(weekend, "wait time") > 1.2 * _share(weekday, "wait time")
    pattern = generated["truth"]["seasonality"]
    assert set(pattern["weekday_volume_multiplier"]) == set(demo.WEEKDAYS)
    assert len(pattern["monthly_volume_multiplier"]) == 12


def test_sentiment_follows_scores_with_some_disagreement(generated):
    nps = [r for r in generated["rows"] if r["score_type"] == "nps" and r["comment"]
           and r["themes"]]
    detractors = [r for r in nps if r["score"] <= 6]
    promoters = [r for r in nps if r["score"] >= 9]
    negative = lambda group: sum(r["sentiment"] == "negative" for r in group) / len(group)  # noqa: E731
    positive = lambda group: sum(r["sentiment"] == "positive" for r in group) / len(group)  # noqa: E731
    assert negative(detractors) > 0.75 and positive(promoters) > 0.6
    assert 0 < negative(promoters) < 0.3


def test_repeat_customers_link_by_customer_key(generated):
    db = generated["db"]
    per_customer = [n for (n,) in db.execute(
        "SELECT COUNT(*) FROM feedback WHERE customer_key IS NOT NULL GROUP BY customer_key")]
    repeat = sum(n > 1 for n in per_customer) / len(per_customer)
    assert 0.12 < repeat < 0.35
    emails = db.execute("SELECT customer_email FROM feedback WHERE customer_email IS NOT NULL")
    assert all(e.lower().split("@")[1].split(".")[-1] in ("example", "com", "net", "org")
               and "example" in e.lower() for (e,) in emails)


def test_truth_file_is_written_and_reloads(generated):
    reloaded = json.loads(generated["truth_path"].read_text(encoding="utf-8"))
    assert reloaded == generated["truth"] == demo.load_truth(generated["truth_path"])
    for key in ("spike", "worse_location", "improvement", "seasonality", "themes",
                "locations", "seed", "rows_written", "period", "rows"):
        assert key in reloaded
    assert reloaded["seed"] == 11


def test_full_text_index_covers_the_demo_comments(generated):
    db = generated["db"]
    hits = db.execute("SELECT COUNT(*) FROM feedback_fts WHERE feedback_fts MATCH 'charged'")
    assert hits.fetchone()[0] > 0
    trigger = db.execute("SELECT sql FROM sqlite_master WHERE name = 'feedback_ai'").fetchone()
    assert trigger is not None
    db.execute("INSERT INTO feedback_fts(feedback_fts, rank) VALUES('integrity-check', 1)")


def test_running_again_adds_nothing(tmp_path):
    db = store.connect(tmp_path / "again.db")
    first = demo.generate_demo(db, rows=300, seed=5, actor="test", now=NOW)
    second = demo.generate_demo(db, rows=300, seed=5, actor="test", now=NOW)
    assert (first.rows, second.rows, second.duplicates) == (300, 0, 300)
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 300


def test_cli_demo_writes_rows_and_if_empty_skips_second_time(tmp_path):
    path = tmp_path / "cli.db"
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--db", str(path), "--rows", "500", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "500 feedback rows written" in result.output
    truth = json.loads((tmp_path / "demo_truth.json").read_text(encoding="utf-8"))
    assert truth["rows_written"] == 500 and truth["seed"] == 3

    again = runner.invoke(cli, ["demo", "--db", str(path), "--rows", "500", "--if-empty"])
    assert again.exit_code == 0, again.output
    assert "not generated" in again.output
    db = store.connect(path)
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 500
    assert db.execute("SELECT COUNT(*) FROM import_batches").fetchone()[0] == 1

"""The demo data set: deterministic, valid, and carrying the truths detectors are tested on."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections import Counter
from datetime import UTC, date, datetime
from importlib import resources

import pytest
from click.testing import CliRunner

from analysis import demo, store
from analysis.auth import ROLES
from analysis.cli import cli
from analysis.demo import corpus, model
from analysis.domain.scores import SCORE_SCALES, nps_group
from analysis.ingest.feedback import FEEDBACK_FIELDS

NOW = datetime(2025, 6, 18, 14, 30, tzinfo=UTC)
ROWS = 5000


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


def test_writes_requested_rows_and_one_finished_import_batch(generated):
    db = generated["db"]
    assert generated["result"].rows == ROWS
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == ROWS
    batches = list(db.query("SELECT * FROM import_batches"))
    assert batches == [{
        "id": generated["result"].batch_id, "file_name": "demo", "source": "demo",
        "file_sha256": None, "mapping": "{}", "score_type": None,
        "started_at": "2025-06-18T14:30:00Z", "finished_at": "2025-06-18T14:30:00Z",
        "rows_read": ROWS, "imported": ROWS, "duplicates": 0, "rejected": 0, "actor": "test",
    }]
    assert db.execute("SELECT COUNT(DISTINCT import_batch) FROM feedback").fetchone()[0] == 1
    assert generated["truth"]["rows_written"] == ROWS
    assert generated["truth"]["batch_id"] == generated["result"].batch_id


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
            low, high = SCORE_SCALES[r["score_type"]]
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
    weekly = sum(spike["theme"] in r["themes"] for r in rest) / ((len({
        r["received_at"][:10] for r in generated["rows"]})) / 7)
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
    detractors = [r for r in nps if nps_group(r["score"]) == "detractors"]
    promoters = [r for r in nps if nps_group(r["score"]) == "promoters"]

    def share(group, sentiment):
        return sum(r["sentiment"] == sentiment for r in group) / len(group)

    assert share(detractors, "negative") > 0.75 and share(promoters, "positive") > 0.6
    assert 0 < share(promoters, "negative") < 0.3


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


def test_running_again_adds_nothing_and_records_the_duplicates(tmp_path):
    db = store.connect(tmp_path / "again.db")
    first = demo.generate_demo(db, rows=300, seed=5, actor="test", now=NOW)
    second = demo.generate_demo(db, rows=300, seed=5, actor="test", now=NOW)
    assert (first.rows, second.rows, second.duplicates) == (300, 0, 300)
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 300
    batch = db["import_batches"].get(second.batch_id)
    assert (batch["rows_read"], batch["imported"], batch["duplicates"], batch["rejected"]) == (
        300, 0, 300, 0)


def test_cli_demo_writes_rows_and_if_empty_skips_second_time(tmp_path):
    path = tmp_path / "cli.db"
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--db", str(path), "--rows", "500", "--seed", "3",
                                 "--no-themes"])
    assert result.exit_code == 0, result.output
    assert "500 feedback rows written" in result.output
    truth = json.loads((tmp_path / "demo_truth.json").read_text(encoding="utf-8"))
    assert truth["rows_written"] == 500 and truth["seed"] == 3
    assert store.connect(path).execute("SELECT COUNT(*) FROM themes").fetchone()[0] == 0

    again = runner.invoke(cli, ["demo", "--db", str(path), "--rows", "500", "--if-empty",
                                "--no-themes"])
    assert again.exit_code == 0, again.output
    assert "not generated" in again.output
    db = store.connect(path)
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 500
    assert db.execute("SELECT COUNT(*) FROM import_batches").fetchone()[0] == 1


def test_truth_nps_and_normalised_scores_follow_the_domain_scales(generated):
    rows, truth = generated["rows"], generated["truth"]
    imp, worse = truth["improvement"], truth["worse_location"]

    def nps(scores):
        groups = Counter(nps_group(s) for s in scores)
        return 100 * (groups["promoters"] - groups["detractors"]) / len(scores)

    here = [r for r in rows if r["location"] == imp["location"] and r["score_type"] == "nps"]
    before = [r["score"] for r in here if r["received_at"][:10] < imp["date"]]
    after = [r["score"] for r in here if r["received_at"][:10] >= imp["date"]]
    assert imp["effect"]["nps_before"] == pytest.approx(nps(before), abs=0.051)
    assert imp["effect"]["nps_after"] == pytest.approx(nps(after), abs=0.051)

    def normalised(r):
        low, high = SCORE_SCALES[r["score_type"]]
        return (r["score"] - low) / (high - low)

    scored = [r for r in rows if worse["theme"] in r["themes"] and r["score"] is not None]
    at_worse = [normalised(r) for r in scored if r["location"] == worse["location"]]
    assert worse["mean_normalised_score"] == pytest.approx(sum(at_worse) / len(at_worse),
                                                           abs=1e-4)
    assert truth["score_scales"] == {kind: list(scale) for kind, scale in SCORE_SCALES.items()}


def test_score_tables_give_one_chance_per_point_of_each_domain_scale():
    assert list(model.SCORE_TABLES) == list(SCORE_SCALES)
    for kind, table in model.SCORE_TABLES.items():
        low, high = SCORE_SCALES[kind]
        assert len(table) == len(model.SENTIMENTS)
        assert all(len(chances) == high - low + 1 for chances in table), kind


@pytest.mark.parametrize(("now", "start"), [
    (datetime(2025, 6, 18, 14, 30, tzinfo=UTC), "2023-12-19"),
    # 18 months before 31 March is 30 September, the last day that month has.
    (datetime(2024, 3, 31, 0, 0, tzinfo=UTC), "2022-10-01"),
    # ... and before 31 August, 28 February (2023 is no leap year).
    (datetime(2024, 8, 31, 23, 59, 59, tzinfo=UTC), "2023-03-01"),
])
def test_period_starts_the_day_after_the_same_date_18_months_back(now, start):
    period = demo.build_demo(40, 1, now=now).truth["period"]
    assert (period["start_date"], period["end_date"]) == (start, now.date().isoformat())


def test_corpus_ships_inside_the_package_with_words_for_every_theme():
    # The app runs from the source tree: the data file must sit beside the modules.
    shipped = resources.files("analysis.demo").joinpath("corpus.toml")
    assert shipped.is_file()
    assert set(tomllib.loads(shipped.read_text(encoding="utf-8"))["templates"]) == set(
        model.THEMES)
    words = corpus.corpus()
    assert words is corpus.corpus(), "parsed once, then shared"
    assert len(words.templates) == len(model.THEMES)
    for theme, groups in zip(model.THEMES, words.templates):
        wanted = {"pos", "contrast"} if theme == "praise" else {"neg", "pos", "neu", "sarc"}
        assert wanted <= set(groups), theme
    assert "spike" in words.templates[model.SPIKE_THEME]
    assert len(words.closers) == len(words.end_punctuation) == len(model.SENTIMENTS)


def _raw_corpus() -> dict:
    text = resources.files("analysis.demo").joinpath("corpus.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_corpus_without_a_theme_is_refused_naming_the_themes():
    raw = _raw_corpus()
    del raw["templates"]["billing"]
    with pytest.raises(ValueError, match=r"\[templates\] must hold one table per theme"):
        corpus.parse_corpus(raw)


def test_corpus_template_with_an_unfilled_slot_is_refused_naming_it():
    raw = _raw_corpus()
    raw["templates"]["pricing"]["neg"].append("paid {price} for nothing")
    with pytest.raises(ValueError, match=r"\{price\} in 'paid \{price\} for nothing'"):
        corpus.parse_corpus(raw)


PINNED_ROWS_SHA256 = "9c7297de5709a422514996472d6a48ee53569542888b2984b93eb8a17983d482"
PINNED_TRUTH_SHA256 = "b427cf35ad4317192c494aed6f48dd15168ad5d756189b42374fc2aff622b763"


def test_rows_and_truth_file_are_pinned_for_a_fixed_seed_and_clock(tmp_path):
    """The demo's output, byte for byte, for 300 rows, seed 5, at NOW.

    The hashes were computed with the generator as it stood before issue 16 split it into
    corpus, generator and truth, and the split kept them: restructuring must not change
    the data newcomers, tests and benchmarks see. If this fails, the demo's output changed:
    a reordered random draw, a new word in corpus.toml, a new figure in the truth. Make
    that change deliberately, check the other demo tests still hold, and update the hashes
    with it (saying why in the commit).
    """
    db = store.connect(tmp_path / "pinned.db")
    demo.generate_demo(db, rows=300, seed=5, truth_path=tmp_path / "truth.json", actor="test",
                       now=NOW)
    rows = [list(r) for r in db.execute(
        f"SELECT {', '.join(FEEDBACK_FIELDS)} FROM feedback ORDER BY id")]
    db.close()
    rows_sha = hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
    truth_sha = hashlib.sha256((tmp_path / "truth.json").read_bytes()).hexdigest()
    assert (rows_sha, truth_sha) == (PINNED_ROWS_SHA256, PINNED_TRUTH_SHA256)


def test_cli_demo_comes_with_sentiment_and_two_levels_of_themes(tmp_path):
    path = tmp_path / "first-run.db"
    result = CliRunner().invoke(cli, ["demo", "--db", str(path), "--rows", "800",
                                      "--pipeline", "tiny", "--now", "2026-11-28T12:00:00Z"])
    assert result.exit_code == 0, result.output
    # Progress in the terminal, step by step, then one summary line with the seconds.
    for said in ("writing 800 demo feedback rows", "scoring sentiment", "embedding",
                 "fitting themes", "parent themes", "replaying the sweep", "spike alerts:"):
        assert said in result.output
    assert re.search(r"800 feedback rows written.*\(demo rows \d+ s, sentiment \d+ s, "
                     r"embedding \d+ s, fit \d+ s, sweep \d+ s\)", result.output), result.output
    db = store.connect(path)
    assert db.execute("SELECT COUNT(*) FROM sentiment").fetchone()[0] > 0
    children, parents = db.execute(
        "SELECT SUM(is_parent = 0), SUM(is_parent = 1) FROM themes WHERE status = 'active'"
    ).fetchone()
    assert children >= parents >= 1
    assert db.execute("SELECT COUNT(*) FROM theme_assignments").fetchone()[0] > 0
    # The sweep ran over the whole history: every week up to now was evaluated.
    weeks = db.execute("SELECT COUNT(*) FROM sweep_periods WHERE granularity = 'week'"
                       ).fetchone()[0]
    assert weeks >= 70
    # The last two weeks' negative feedback is in the case queue, handed to the demo's staff.
    assert "cases:" in result.output
    cases, owned = db.execute("SELECT COUNT(*), COUNT(owner_id) FROM cases").fetchone()
    assert cases > 0 and owned > 0
    # The care team (lead, manager, four agents) and the demo users who are not in it
    # (admin, analyst, viewer), one account per app role.
    assert db.execute("SELECT COUNT(*) FROM people WHERE active = 1").fetchone()[0] == 9
    assert sorted(r[0] for r in db.execute("SELECT app_role FROM accounts")) == sorted(ROLES)
    assert db.execute("SELECT COUNT(DISTINCT purpose) FROM templates").fetchone()[0] == 8


def test_demo_if_empty_finishes_a_first_run_that_stopped_before_its_themes(tmp_path):
    path = tmp_path / "stopped.db"
    runner = CliRunner()
    # The rows were written, then the first run stopped (Ctrl-C during the fit).
    # A fixed --now: the rows drawn depend on it, and the tiny pipeline finds no themes in
    # some 600-row samples.
    assert runner.invoke(cli, ["demo", "--db", str(path), "--rows", "600", "--no-themes",
                               "--now", "2026-11-28T12:00:00Z"]).exit_code == 0
    result = runner.invoke(cli, ["demo", "--db", str(path), "--if-empty", "--pipeline", "tiny",
                                 "--now", "2026-11-28T12:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "finishing it" in result.output and "demo: finished" in result.output
    db = store.connect(path)
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 600
    assert db.execute("SELECT COUNT(*) FROM theme_models WHERE is_active = 1").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*) FROM sentiment").fetchone()[0] > 0
    # The same seed and --now give the same rows.
    twin = tmp_path / "twin.db"
    assert runner.invoke(cli, ["demo", "--db", str(twin), "--rows", "600", "--no-themes",
                               "--now", "2026-11-28T12:00:00Z"]).exit_code == 0
    rows = "SELECT external_id, received_at, location, comment FROM feedback ORDER BY id"
    assert store.connect(twin).execute(rows).fetchall() == db.execute(rows).fetchall()
    # Finished: the next make run starts at once.
    again = runner.invoke(cli, ["demo", "--db", str(path), "--if-empty", "--pipeline", "tiny"])
    assert "not generated" in again.output


def test_demo_if_empty_never_fits_themes_on_a_users_own_store(tmp_path):
    path = tmp_path / "own.db"
    csv_file = tmp_path / "own.csv"
    csv_file.write_text("id,received_at,comment\na1,2025-01-02,Queue was long\n",
                        encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(csv_file), "--db", str(path)]).exit_code == 0
    result = runner.invoke(cli, ["demo", "--db", str(path), "--if-empty", "--pipeline", "tiny"])
    assert result.exit_code == 0 and "not generated" in result.output
    assert store.connect(path).execute("SELECT COUNT(*) FROM theme_models").fetchone()[0] == 0


def test_the_demo_users_sign_in_with_their_documented_passwords(db):
    """One account per role, each password passing the policy, the manager managing the
    care team; all of them in the README. Made only by the demo's staff seeding."""
    from pathlib import Path

    from analysis.auth import accounts
    from analysis.demo.staff import DEMO_USERS, demo_accounts, seed_demo_staff

    assert [role for role, *_ in DEMO_USERS] == list(ROLES)
    with store.write_transaction(db):
        assert seed_demo_staff(db, actor="test", now=NOW)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for role, name, email, password in DEMO_USERS:
        assert accounts.password_problem(password, email=email, name=name) is None
        session = accounts.sign_in(db, email, password, now=NOW)
        assert (session.app_role, session.name, session.must_change_password) == (
            role, name, False)
        assert email in readme and password in readme, email
    manager = accounts.sign_in(db, "marco.rossi@demo.example", DEMO_USERS[1][3], now=NOW)
    care = db.execute("SELECT id FROM teams WHERE name = 'Customer care'").fetchone()[0]
    assert manager.team_ids == {care}
    assert demo_accounts(db) == sorted(email for _, _, email, _ in DEMO_USERS)
    # A store that has people already gets no demo staff and no demo users.
    with store.write_transaction(db):
        assert not seed_demo_staff(db, actor="test", now=NOW)
    assert db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == len(ROLES)

"""Improvements page under AppTest, on a demo store labelled with its true themes (Harbour
Street halved its wait-time share from the truth's improvement date: the truth's
`improvement`), on an empty store and on a read-only one; and the views it is built from.

The seeded store is built once per module (about a second) and copied for every test; the
clock is pinned to the demo's end, so the verdicts are the same every day."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis import store
from analysis.improvements import records
from analysis.improvements.records import Improvement, ImprovementError
from analysis.views import improvements as views

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "improvements.py")
APP = str(ROOT / "app.py")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # the demo's end: a reproducible history
ACTOR = "ops@example.org"
VERDICT_FIGURES = re.compile(r"95% CI [+-]?\d+\.\d to [+-]?\d+\.\d; randomization p = 0\.\d{3}")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """(store file, truth, theme name -> id) of the seeded store, built once."""
    from analysis import demo
    from tests.stores import seed_truth_themes

    folder = tmp_path_factory.mktemp("improvements_store")
    path = folder / "closeloop.db"
    db = store.connect(path)
    demo.generate_demo(db, rows=20_000, seed=7, truth_path=folder / "truth.json",
                       actor="test", now=NOW)
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    themes = seed_truth_themes(db, truth)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path, truth, themes


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(store, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def seeded(template, db_path, clock):
    shutil.copyfile(template[0], db_path)
    return db_path, template[1], template[2]


def _add(path, improvement: Improvement) -> int:
    db = store.connect(path)
    try:
        with store.write_transaction(db):
            return records.add_improvement(db, improvement, actor="test", now=NOW)
    finally:
        db.close()


def _truth_improvement(truth, themes, **changes) -> Improvement:
    found = truth["improvement"]
    values = {"title": "Extra staff at peak times", "locations": (found["location"],),
              "theme_ids": (themes[found["theme"]],),
              "effective_date": date.fromisoformat(found["date"]), "status": "shipped"}
    return Improvement(**{**values, **changes})


def _page(user: str | None = ACTOR, params: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if user:
        at.session_state["user"] = user
    for name, value in (params or {}).items():
        at.query_params[name] = value
    return at.run()


def _through_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["user"] = ACTOR
    at.run()
    at.switch_page("pages/improvements.py").run()
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with `column` (AppTest does not expose a table's key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, column
    return found[0]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _fill(at: AppTest, suffix: str = "new", **values) -> AppTest:
    for name, value in values.items():
        key = f"impr_f_{name}_{suffix}"
        if name in ("title", "owner", "locations_text"):
            at.text_input(key=key).input(value)
        elif name == "description":
            at.text_area(key=key).input(value)
        elif name in ("locations", "theme_ids"):
            at.multiselect(key=key).set_value(value)
        elif name in ("status", "metric"):
            at.selectbox(key=key).set_value(value)
        elif name in ("effective_date", "rollout_end"):
            at.date_input(key=key).set_value(value)
        else:
            at.number_input(key=key).set_value(value)
    return at.button(key=f"impr_save_{suffix}").click().run()


# ----------------------------------------------------------------------------- page

def test_an_empty_store_shows_the_empty_state_and_the_form_still_saves(db_path, clock):
    store.connect(db_path).close()
    at = _through_app()
    _ok(at)
    assert at.title[0].value == "Improvements"
    infos = " ".join(i.value for i in at.info)
    assert "No improvements yet" in infos and "No feedback yet" in infos
    # No feedback: no location to pick, so they are typed; no theme, so a metric.
    at = _fill(at, title="New till layout", locations_text="North, South", metric="nps",
               effective_date=date(2026, 10, 5))
    _ok(at)
    assert any("Improvement saved" in s.value for s in at.success)
    listed = _table(at, "verdict")
    assert list(listed["title"]) == ["New till layout"]
    assert listed["locations"].iloc[0] == "North, South"
    assert at.selectbox(key="impr_pick").value == listed["id"].iloc[0]
    assert any(i.value.startswith("Not measurable yet") for i in at.info)


def test_an_improvement_made_through_the_form_is_listed_and_measured(seeded):
    path, truth, themes = seeded
    at = _page()
    _ok(at)
    assert any("No improvements yet" in i.value for i in at.info)
    at = _fill(at, title="Extra staff at lunch", description="One more person 11-14h",
               owner="Dana", locations=[truth["improvement"]["location"]],
               theme_ids=[themes["wait time"]], status="shipped",
               effective_date=date.fromisoformat(truth["improvement"]["date"]))
    _ok(at)
    listed = _table(at, "verdict")
    row = listed.iloc[0]
    assert (row["title"], row["status"], row["owner"]) == ("Extra staff at lunch", "shipped",
                                                           "Dana")
    assert row["verdict"].startswith("It worked (") and "p = " in row["verdict"]
    assert row["target"] == "wait time share" and row["effective_date"] == truth[
        "improvement"]["date"]
    stored = records.list_improvements(store.connect(path))
    assert [(r["title"], r["created_by"]) for r in stored] == [("Extra staff at lunch", ACTOR)]
    # The new one is open below the list, and the new-improvement form is blank again.
    assert at.selectbox(key="impr_pick").value == stored[0]["id"]
    assert at.text_input(key="impr_f_title_new").value == ""


def test_the_truth_improvement_worked_with_its_interval_p_value_and_four_estimates(seeded):
    path, truth, themes = seeded
    improvement_id = _add(path, _truth_improvement(truth, themes))
    at = _page()
    _ok(at)
    (verdict,) = [s.value for s in at.success]
    assert verdict.startswith("It worked: wait time share % fell by ")
    assert VERDICT_FIGURES.search(verdict), verdict
    shown = _metrics(at)
    effect = float(shown["Effect"].split()[0])
    low, high = (float(v) for v in shown["95% interval"].split(" to "))
    assert low < effect < high < 0
    # The injected change: 30% -> 15% of comments, measured about -12.7 points.
    assert low < truth["improvement"]["effect"]["measured_share_change"] * 100 < high
    assert float(shown["p-value"]) <= 0.05
    n_pre, n_post = (int(v.replace(",", "")) for v in shown["n before / after"].split(" / "))
    assert n_pre > 100 and n_post > 100
    estimates = _table(at, "assumptions")
    assert len(estimates) == 4
    assert {"effect", "ci_low", "ci_high", "p_value", "n_pre", "n_post", "test",
            "assumptions"} <= set(estimates.columns)
    assert list(estimates["method"]) == [
        "Before/after (descriptive)", "Interrupted time series", "Difference-in-differences",
        "Randomization inference, placebo in time"]
    headline = estimates[estimates["headline"]]
    assert list(headline["method"]) == ["Randomization inference, placebo in time"]
    assert headline["effect"].iloc[0] == pytest.approx(effect, abs=0.051)
    assert (estimates["n_pre"] == n_pre).all() and estimates["p_value"].notna().all()
    assert (estimates["ci_low"] < estimates["effect"]).all()
    assert (estimates["effect"] < estimates["ci_high"]).all()
    # The chart (measure, change date, fitted lines) and the event study.
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    figure = json.loads(charts[0].proto.spec)
    names = {t.get("name") for t in figure["data"]}
    assert {"Changed location(s)", "Comparison group",
            "Fitted line, changed location(s)"} <= names
    assert any(s.get("x0", "").startswith(truth["improvement"]["date"])
               for s in figure["layout"]["shapes"] if s["type"] == "line")
    captions = " ".join(c.value for c in at.caption)
    assert "Comparison group: Airport" in captions and "Headline: Randomization" in captions
    assert "Estimates (CSV)" in {b.proto.label for b in at.get("download_button")}
    assert at.query_params["improvement"] in (str(improvement_id), [str(improvement_id)])


def test_the_window_and_the_comparison_group_can_be_changed(seeded):
    path, truth, themes = seeded
    improvement_id = _add(path, _truth_improvement(truth, themes))
    at = _page()
    picker = at.multiselect(key=f"impr_comparison_{improvement_id}_8")
    assert "Harbour Street" not in picker.options and len(picker.value) == 7
    picker.set_value(["Airport", "Northgate"]).run()
    _ok(at)
    assert "Comparison group: Airport, Northgate." in " ".join(c.value for c in at.caption)
    at.number_input(key=f"impr_window_{improvement_id}").set_value(4).run()
    _ok(at)
    assert "(4 each side)" in " ".join(c.value for c in at.caption)
    # A new window starts from the automatic comparison again.
    assert len(at.multiselect(key=f"impr_comparison_{improvement_id}_4").value) == 7
    assert _table(at, "assumptions")["n_pre"].iloc[0] < 250


def test_a_placebo_improvement_is_not_significant(seeded):
    path, _, themes = seeded
    # Nothing was injected at Old Town on pricing: a change tagged there did nothing.
    _add(path, Improvement(title="New price tags", locations=("Old Town",),
                           theme_ids=(themes["pricing"],), effective_date=date(2026, 6, 1),
                           status="shipped"))
    at = _page()
    _ok(at)
    assert not at.success
    verdicts = [i.value for i in at.info if i.value.startswith("No change detectable")]
    assert len(verdicts) == 1 and VERDICT_FIGURES.search(verdicts[0])
    assert float(_metrics(at)["p-value"]) > 0.05
    assert _table(at, "verdict")["verdict"].iloc[0].startswith("No change detectable (")


@pytest.mark.parametrize("values, words", [
    ({"title": "  "}, "title: an improvement needs a title"),
    ({"locations": []}, "location: name at least one location"),
    ({"theme_ids": []}, "target: name a theme or a metric"),
    ({"rollout_end": date(2026, 4, 1)},
     "end of roll-out: 2026-04-01 is before the effective date 2026-04-27"),
])
def test_bad_input_is_refused_with_the_field_named(seeded, values, words):
    path, _, themes = seeded
    good = {"title": "Extra staff", "locations": ["Harbour Street"],
            "theme_ids": [themes["wait time"]], "effective_date": date(2026, 4, 27)}
    at = _fill(_page(), **{**good, **values})
    assert not at.exception
    assert [e.value for e in at.error] == ["Not saved."]
    assert any(words in t.value for t in at.text), [t.value for t in at.text]
    db = store.connect(path)
    assert not records.list_improvements(db)  # nothing half-written
    db.close()
    if "title" not in values:  # what was typed is kept, to be corrected
        assert at.text_input(key="impr_f_title_new").value == good["title"]


def test_editing_writes_history_and_shipping_shows_whom_to_tell(seeded):
    path, truth, themes = seeded
    improvement_id = _add(path, _truth_improvement(truth, themes, status="planned"))
    at = _page()
    _ok(at)
    assert any("Once the improvement ships" in c.value for c in at.caption)
    # Evidence: the wait-time comments at Harbour Street (the demo has no sentiment scored,
    # so every mention, not only complaints).
    at.checkbox(key=f"impr_ev_negative_{improvement_id}").uncheck()
    at.button(key=f"impr_ev_link_theme_{improvement_id}").click().run()
    _ok(at)
    db = store.connect(path)
    counts = records.evidence_counts(db, improvement_id)
    assert counts["evidence"] > 100 and counts["evidence_locations"] == 1
    assert _metrics(at)["Feedback linked"] == f"{counts['evidence']:,}"
    assert _metrics(at)["Customers who raised it"] == f"{counts['customers']:,}"
    assert len(_table(at, "via")) == min(counts["evidence"], 200)

    at.selectbox(key=f"impr_status_{improvement_id}").set_value("shipped")
    at.button(key=f"impr_set_status_{improvement_id}").click().run()
    _ok(at)
    assert any(s.value == "Status set to shipped." for s in at.success)
    history = records.improvement_history(db, improvement_id)
    assert [e["event"] for e in history] == ["created", "evidence added", "status changed"]
    assert history[-1]["detail"] == {"before": {"status": "planned"},
                                     "after": {"status": "shipped"}}
    assert history[-1]["actor"] == ACTOR
    shown = _table(at, "event")
    assert list(shown["event"]) == ["created", "evidence added", "status changed"]
    assert shown["detail"].iloc[-1] == "status: 'planned' → 'shipped'"
    tell = _table(at, "customer_email")
    assert len(tell) == len(records.whom_to_tell(db, improvement_id)) > 50
    assert tell["message"].iloc[0].startswith("We changed Extra staff at peak times, based on")
    assert "Whom to tell (CSV)" in {b.proto.label for b in at.get("download_button")}
    # The edit form carries the new status, and saving an edit keeps the old values.
    assert at.selectbox(key=f"impr_f_status_{improvement_id}").value == "shipped"
    at = _fill(at, suffix=str(improvement_id), owner="Sam", confidence_pct=80.0, effort=2.0)
    _ok(at)
    history = records.improvement_history(db, improvement_id)
    assert history[-1]["event"] == "changed"
    assert history[-1]["detail"]["after"] == {"owner": "Sam", "confidence": 0.8, "effort": 2.0}
    parts = _metrics(at)
    assert (parts["Confidence"], parts["Effort (person-weeks)"]) == ("80%", "2")
    db.close()


def test_telling_them_by_email_queues_one_message_per_customer_who_asked(seeded):
    from analysis.cases.records import record_contact
    from analysis.followup.outbox import list_outbox
    from analysis.followup.templates import seed_templates

    path, truth, themes = seeded
    improvement_id = _add(path, _truth_improvement(truth, themes))
    db = store.connect(path)
    improvement = records.get_improvement(db, improvement_id)
    linked = records.feedback_for_theme(db, improvement.theme_ids[0], improvement.locations,
                                        negative_only=False)
    with store.write_transaction(db):
        records.link_evidence(db, improvement_id, linked, via="theme", actor="test", now=NOW)
    people = records.whom_to_tell(db, improvement_id)
    with_email = [p for p in people if p["customer_email"]]
    assert len(with_email) > 10
    # No templates yet: the page says where to add them.
    at = _page()
    _ok(at)
    assert any("No email templates yet" in c.value for c in at.caption)
    assert f"impr_tell_send_{improvement_id}" not in [b.key for b in at.button]
    with store.write_transaction(db):
        seed_templates(db, actor="test", now=NOW)
        # One of them was contacted two days ago: held, with the reason.
        record_contact(db, with_email[0]["customer_key"], "survey", actor="crm",
                       now=NOW - timedelta(days=2))
    at = _page()
    _ok(at)
    picker = at.selectbox(key=f"impr_tell_template_{improvement_id}")
    assert picker.format_func(picker.value) == "Resolved or shipped (email, en)"
    assert all("(email" in o for o in picker.options)
    at.button(key=f"impr_tell_send_{improvement_id}").click().run()
    _ok(at)
    assert "Messages queued: the outbox sends them within a minute." in [
        s.value for s in at.success]
    told = [t.value for t in at.text if "message(s) queued" in t.value]
    skipped = len(people) - len(with_email)
    assert told and told[0].startswith(f"{len(with_email) - 1:,} message(s) queued, 1 held")
    assert f"{skipped:,} skipped" in told[0]
    sent = [m for m in list_outbox(db, limit=None) if m["kind"] == "improvement shipped"]
    assert len(sent) == len(with_email)
    assert {m["recipient"] for m in sent} == {p["customer_email"] for p in with_email}
    held = [m for m in sent if m["status"] == "held"]
    assert len(held) == 1 and held[0]["last_error"].startswith(
        "held by the contact-frequency rule")
    assert held[0]["created_by"] == ACTOR
    assert all(m["subject"].startswith("You asked, we changed it") for m in sent)
    db.close()


def test_a_link_opens_one_improvement(seeded):
    path, truth, themes = seeded
    first = _add(path, _truth_improvement(truth, themes))
    second = _add(path, Improvement(title="Card readers", locations=("Airport",),
                                    metric="csat", effective_date=date(2026, 7, 6),
                                    status="in progress"))
    at = _page(params={"improvement": str(second)})
    _ok(at)
    assert at.selectbox(key="impr_pick").value == second
    assert "Card readers" in [t.value for t in at.text]
    assert _page(params={"improvement": "999"}).selectbox(key="impr_pick").value in (
        first, second)  # an unknown id in a hand-edited link is ignored


def test_a_change_without_a_complete_week_after_it_is_not_measurable_yet(seeded):
    path, _, _ = seeded
    _add(path, Improvement(title="New queue signs", locations=("Old Town",), metric="nps",
                           effective_date=NOW.date() - timedelta(days=10), status="shipped"))
    at = _page()
    _ok(at)
    assert any(i.value.startswith("Not measurable") for i in at.info)
    assert any("no complete week after the change yet" in w.value for w in at.warning)
    assert "Effect" not in _metrics(at)


def test_a_single_comparison_location_still_gives_a_verdict(seeded):
    path, truth, themes = seeded
    improvement_id = _add(path, _truth_improvement(truth, themes))
    at = _page()
    at.multiselect(key=f"impr_comparison_{improvement_id}_8").set_value(["Airport"]).run()
    _ok(at)
    assert "Comparison group: Airport." in " ".join(c.value for c in at.caption)
    assert len(_table(at, "assumptions")) == 4


def test_a_link_through_the_app_opens_its_improvement(seeded):
    path, truth, themes = seeded
    first = _add(path, _truth_improvement(truth, themes, status="planned"))
    second = _add(path, _truth_improvement(truth, themes, title="Second"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["improvement"] = str(second)
    at.run()
    at.switch_page("pages/improvements.py").run()
    _ok(at)
    assert first != second and at.selectbox(key="impr_pick").value == second


def test_the_page_is_in_the_navigation(seeded):
    at = _through_app()
    _ok(at)
    assert at.title[0].value == "Improvements"


def test_a_read_only_store_renders_with_writes_switched_off(seeded):
    from tests.stores import no_write_permission

    path, truth, themes = seeded
    improvement_id = _add(path, _truth_improvement(truth, themes))
    with no_write_permission(path.parent, path):
        at = _page()
        _ok(at)
        assert at.button(key="impr_save_new").disabled
        assert at.button(key=f"impr_set_status_{improvement_id}").disabled
        assert at.button(key=f"impr_ev_link_search_{improvement_id}").disabled


# ----------------------------------------------------------------------------- views

def test_the_form_values_become_an_improvement_or_name_the_field():
    values = views.form_values(None, today=date(2026, 1, 5))
    assert values["effective_date"] == date(2026, 1, 5) and values["status"] == "proposed"
    made = views.improvement_from_form({**values, "title": " Tills ",
                                        "locations": views.split_locations("North; South,"),
                                        "metric": "nps", "confidence_pct": 70.0})
    assert made.locations == ("North", "South") and made.confidence == pytest.approx(0.7)
    assert made.theme_ids == () and made.owner is None and made.impact is None
    assert views.form_values(made, today=date(2030, 1, 1))["confidence_pct"] == 70.0
    with pytest.raises(ImprovementError, match="^effective date: "):
        views.improvement_from_form({**values, "title": "x", "locations": ["N"],
                                     "metric": "nps", "effective_date": None})
    with pytest.raises(ImprovementError, match="^confidence: "):
        views.improvement_from_form({**values, "title": "x", "locations": ["N"],
                                     "metric": "nps", "confidence_pct": 150.0})
    with pytest.raises(ImprovementError, match="^effort: "):
        views.improvement_from_form({**values, "title": "x", "locations": ["N"],
                                     "metric": "nps", "effort": 0.0})


def test_fitted_lines_are_the_weighted_least_squares_line_of_each_window():
    start = date(2026, 1, 5)
    weeks = [start + timedelta(weeks=k) for k in range(10)]
    means = [10 + 2 * k for k in range(4)] + [0, 0] + [50 - k for k in range(4)]
    series = pd.DataFrame({"week": weeks, "n": 20, "mean": means, "group": "treated"})
    windows = {"pre_first": weeks[0], "pre_last": weeks[3], "post_first": weeks[6],
               "post_last": weeks[9], "window_weeks": 4}
    fitted = views.fitted_lines(series, windows)
    before = fitted[fitted["segment"] == "before"]
    after = fitted[fitted["segment"] == "after"]
    assert list(before["fitted"]) == pytest.approx([10, 16])
    assert list(after["fitted"]) == pytest.approx([50, 47])
    assert list(before["slope"]) == pytest.approx([2, 2])
    assert list(after["week"]) == [weeks[6], weeks[9]]
    # Weighted: a heavy week pulls the line to itself.
    series.loc[0, ["n", "mean"]] = [10_000, 0.0]
    heavy = views.fitted_lines(series, windows)
    assert heavy["fitted"].iloc[0] == pytest.approx(0, abs=0.05)
    assert np.isfinite(heavy["fitted"]).all()


def test_our_sentences_quoting_user_text_are_inert_markdown():
    text = views.markdown_safe("left out: [click](javascript:x) <b>$x$</b> *a* `c`")
    assert "\\[click\\]" in text and "\\<b\\>" in text and "\\$x\\$" in text
    assert "\\*a\\*" in text and "\\`c\\`" in text
    assert views.markdown_safe("pre-trends differ (p = 0.001)") == \
        "pre-trends differ (p = 0.001)"
    assert views.cut("x" * 400).endswith("… (400 characters)")
    assert views.verdict_kind("It made things worse: NPS fell") == "worse"
    assert views.verdict_kind("Not measurable yet: the change is in the future.") == \
        "not measurable"

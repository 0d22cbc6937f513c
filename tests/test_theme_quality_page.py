"""Theme quality page under AppTest: audited accuracy, seed themes and the corrections list on
a seeded store (themes inserted directly), and on an empty one; user text never in Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_theme_queries import STAFF, WAIT, seed_theme_store

from analysis import store
from analysis.themes import admin as theme_admin

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "theme_quality.py")
HOSTILE = "<img src=x onerror=alert(1)> **Refunds**"


def _app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _markdown(at) -> list[str]:
    return ([m.value for m in at.markdown] + [c.value for c in at.caption]
            + [a.value for a in at.success] + [a.value for a in at.error]
            + [a.value for a in at.info])


def _frame(at, column: str):
    """The dataframe that has `column` (seeds have "terms", corrections "to_theme")."""
    frames = [d.value for d in at.dataframe if column in d.value]
    assert len(frames) == 1, f"{len(frames)} tables with a {column!r} column"
    return frames[0]


def _id(db, external_id: str) -> int:
    return db.execute("SELECT id FROM feedback WHERE external_id = ?", [external_id]).fetchone()[0]


@pytest.fixture
def audited_path(db_path):
    """The themes store, with two confirmed comments, one correction and a seed theme."""
    db = store.connect(db_path)
    seed_theme_store(db)
    theme_admin.confirm_theme(db, _id(db, "cur-0"), WAIT, actor="ana")
    theme_admin.confirm_theme(db, _id(db, "cur-5"), WAIT, actor="ana")
    theme_admin.correct_theme(db, _id(db, "cur-6"), WAIT, STAFF, actor="bo")
    theme_admin.add_seed_theme(db, "Refunds", ["refund", "money back"], actor="ana")
    db.close()
    return db_path


def test_metrics_show_the_audited_accuracy(audited_path):
    at = _app()
    assert not at.exception
    assert at.title[0].value == "Theme quality"
    shown = _metrics(at)
    assert list(shown) == ["Audited theme accuracy", "Audited comments",
                           "Sentiment classifier accuracy", "Comments with a theme"]
    assert shown["Audited theme accuracy"] == "67%"  # 2 of 3 audited comments were right
    assert shown["Audited comments"] == "3"
    assert shown["Sentiment classifier accuracy"] == "not available"


def test_seed_themes_and_corrections_are_listed(audited_path):
    at = _app()
    seeds = _frame(at, "terms")
    assert list(seeds["name"]) == ["Refunds"]
    assert list(seeds["terms"].iloc[0]) == ["refund", "money back"]
    corrections = _frame(at, "to_theme")
    assert corrections[["actor", "from_theme", "to_theme"]].values.tolist() == [
        ["bo", "Waiting time", "Staff"]]
    assert corrections["comment"].iloc[0] == "Waited 6 minutes in the queue at the desk"
    assert any(c.startswith("1 corrections;") for c in _markdown(at))


def test_adding_a_seed_theme_stores_it_and_hostile_names_stay_text(audited_path):
    at = _app()
    at.text_input(key="seed_name").input(HOSTILE)
    at.text_area(key="seed_terms").input("refund\nmoney back, Refund")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    assert any("Seed theme added" in s.value for s in at.success)
    assert list(_frame(at, "terms")["name"]) == ["Refunds", HOSTILE]
    db = store.connect(audited_path)
    try:
        terms = db.execute("SELECT seed_terms FROM themes WHERE name = ?", [HOSTILE]).fetchone()[0]
    finally:
        db.close()
    assert terms == '["refund", "money back"]'
    assert at.text_input(key="seed_name").value == ""  # the form is ready for the next one

    # The same name again is refused with the reason, which quotes the name: as plain text.
    at.text_input(key="seed_name").input(HOSTILE)
    at.text_area(key="seed_terms").input("anything")
    at.button[0].click().run()
    assert any("Seed theme not added" in e.value for e in at.error)
    assert any(HOSTILE in t.value for t in at.text)
    assert all("Refunds" not in value and "onerror" not in value for value in _markdown(at))


def test_a_seed_without_terms_is_refused(audited_path):
    at = _app()
    at.text_input(key="seed_name").input("Parking fees")
    at.button[0].click().run()
    assert any("Seed theme not added" in e.value for e in at.error)
    assert list(_frame(at, "terms")["name"]) == ["Refunds"]


def test_an_audit_confirms_or_moves_a_comment(audited_path):
    at = _app()
    at.selectbox(key="audit_theme").set_value(WAIT).run()
    assert not at.exception
    sample = _frame(at, "probability")
    db = store.connect(audited_path)
    try:
        audited = {r[0] for r in db.execute("SELECT feedback_id FROM theme_audits")}
        first, second = (int(i) for i in sample["feedback_id"][:2])
    finally:
        db.close()
    assert len(sample) == 20 and not audited & set(sample["feedback_id"])  # unaudited only

    at.button(key="audit_move").click().run()  # no comment chosen yet
    assert any("choose a comment first" in e.value for e in at.error)

    at.selectbox(key="audit_comment").set_value(first)
    at.selectbox(key="audit_right").select(str(STAFF))
    at.button(key="audit_move").click().run()
    assert not at.exception
    assert any("Correction saved" in s.value for s in at.success)
    corrections = _frame(at, "to_theme")
    assert corrections["to_theme"].iloc[0] == "Staff"
    assert first not in set(_frame(at, "probability")["feedback_id"])  # audited: gone

    at.selectbox(key="audit_comment").set_value(second)
    at.button(key="audit_ok").click().run()
    assert any("Confirmed" in s.value for s in at.success)
    # 3 right (cur-0, cur-5 and this one) of 5 audited.
    assert _metrics(at)["Audited comments"] == "5"
    assert _metrics(at)["Audited theme accuracy"] == "60%"


def test_empty_database(db_path):
    store.connect(db_path).close()
    at = _app()
    assert not at.exception
    assert any("No feedback yet" in i.value for i in at.info)
    assert not at.metric
    assert any("No seed themes yet" in c for c in _markdown(at))
    assert any("No corrections yet" in c for c in _markdown(at))
    # Seeds can be defined before any data: the first refresh uses them.
    at.text_input(key="seed_name").input("Waiting time")
    at.text_area(key="seed_terms").input("queue, wait")
    at.button[0].click().run()
    assert not at.exception
    assert list(_frame(at, "terms")["name"]) == ["Waiting time"]

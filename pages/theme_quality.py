"""Theme quality: how right the themes are (audits), what analysts told the model (seed
themes) and what they changed (corrections).

Thin page: figures from `analysis.themes.queries`, their wording from
`analysis.views.theme_quality`, writes through `analysis.themes.admin`. Theme names, seed
terms, comments and actors are user text, shown only through st.dataframe, st.text and
widgets: never Markdown; comments as the acting role may read them.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from analysis import store
from analysis.themes import admin, queries
from analysis.views import theme_quality as views
from analysis.views.themes import theme_id_from_key
from pages import current_actor, current_role, db_key, flash, page_start, run_write, show_flash

# Keyed on the store's file and revision, which every write changes.
CACHE = {"max_entries": 4, "ttl": timedelta(hours=1), "show_spinner": False}


@st.cache_data(**CACHE)
def _figures(key) -> dict:
    return queries.quality_figures(store.connect(key[0]))


@st.cache_data(**CACHE)
def _seeds(key):
    return queries.seed_theme_frame(store.connect(key[0]))


@st.cache_data(**CACHE)
def _choices(key) -> dict[int, str]:
    return queries.theme_choices(store.connect(key[0]))


@st.cache_data(max_entries=16, ttl=timedelta(hours=1), show_spinner=False)
def _audit_sample(key, theme_id: int, role):
    return views.audit_comments(store.connect(key[0]), theme_id, role)


@st.cache_data(**CACHE)
def _corrections(key, role):
    return views.corrections(store.connect(key[0]), role)


# Writes run in widget callbacks, before the script reruns, so the page redraws with the
# new figures at once.

def _add_seed(db) -> None:
    name = st.session_state.get("seed_name", "")
    terms = views.parse_terms(st.session_state.get("seed_terms", ""))
    if run_write(lambda: admin.add_seed_theme(db, name, terms, actor=current_actor()),
             "Seed theme added: the next refit uses it.", "Seed theme not added."):
        st.session_state["seed_name"] = st.session_state["seed_terms"] = ""


def _audit(db, theme_id: int, right: bool) -> None:
    feedback_id = st.session_state.get("audit_comment")
    if feedback_id is None:
        flash("error", "Not done: choose a comment first.")
    elif right:
        run_write(lambda: admin.confirm_theme(db, int(feedback_id), theme_id, actor=current_actor()),
              "Confirmed: this counts towards the audited accuracy.", "Not done.")
    else:
        right_theme = theme_id_from_key(st.session_state.get("audit_right"))
        run_write(lambda: admin.correct_theme(db, int(feedback_id), theme_id, right_theme,
                                          actor=current_actor()),
              "Correction saved; it is re-applied after every refit.", "Not done.")


def _seed_section(db, key) -> None:
    st.subheader("Seed themes")
    st.caption("Themes you define up front, with words that describe them. The next refit "
               "looks for them in the comments; renamed and merged themes are kept too.")
    seeds = _seeds(key)
    if seeds.empty:
        st.caption("No seed themes yet.")
    else:
        st.dataframe(seeds, hide_index=True, key="quality_seeds",
                     column_order=["name", "terms", "mentions"],
                     column_config={"name": st.column_config.TextColumn("Theme"),
                                    "terms": st.column_config.ListColumn("Seed terms"),
                                    "mentions": st.column_config.NumberColumn("Comments")})
    with st.form("seed_form", border=True):
        st.text_input("Name", key="seed_name", max_chars=120,
                      placeholder="e.g. Waiting time")
        st.text_area("Terms", key="seed_terms", height=80,
                     placeholder="one per line or separated by commas, e.g. queue, wait, slow")
        st.form_submit_button("Add seed theme", on_click=_add_seed, args=(db,),
                              disabled=store.is_read_only(db))


def _audit_section(db, key) -> None:
    st.subheader("Audit a theme")
    st.caption("Check comments the model put in a theme: confirm the right ones, move the "
               "wrong ones. They come in a fixed random order, not the surest first, so the "
               "audited accuracy above is not flattered.")
    choices = _choices(key)
    theme_id = st.selectbox("Theme", list(choices), index=None, key="audit_theme",
                            format_func=lambda t: choices.get(t, str(t)),
                            placeholder="Choose a theme to audit")
    if theme_id not in choices:
        return
    sample = _audit_sample(key, theme_id, current_role())
    if sample.empty:
        st.caption("Every comment of this theme has been audited.")
        return
    texts = dict(zip(sample["feedback_id"], sample["comment"]))
    if st.session_state.get("audit_comment") not in texts:
        st.session_state.pop("audit_comment", None)
    st.dataframe(sample, hide_index=True, key="quality_audit",
                 column_order=["received_at", "probability", "comment"], column_config={
                     "received_at": st.column_config.DatetimeColumn("Date",
                                                                    format="YYYY-MM-DD"),
                     "probability": st.column_config.NumberColumn("Probability",
                                                                  format="%.2f"),
                     "comment": st.column_config.TextColumn("Comment", width="large")})
    st.selectbox("Comment", list(texts), index=None, key="audit_comment",
                 format_func=lambda i: (texts.get(i) or "")[:120],
                 placeholder="Choose a comment from the list above")
    st.selectbox("If wrong, it is really about", views.correction_keys(choices, theme_id),
                 key="audit_right", format_func=lambda k: views.correction_label(k, choices))
    col1, col2 = st.columns(2)
    read_only = store.is_read_only(db)
    col1.button("Theme is right", key="audit_ok", on_click=_audit, args=(db, theme_id, True),
                disabled=read_only)
    col2.button("Move to that theme", key="audit_move", on_click=_audit,
                args=(db, theme_id, False), disabled=read_only)


def _corrections_section(key) -> None:
    st.subheader("Corrections")
    frame, total = _corrections(key, current_role())
    if frame.empty:
        st.caption("No corrections yet. Audit a theme above to correct its comments; every "
                   "correction is re-applied after each refit.")
        return
    st.caption(f"{total:,} corrections; the latest {len(frame):,} are shown, newest first. "
               f"Each is re-applied after every refit.")
    st.dataframe(frame, hide_index=True, key="quality_corrections", column_config={
        "at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
        "actor": st.column_config.TextColumn("By"),
        "comment": st.column_config.TextColumn("Comment", width="large"),
        "from_theme": st.column_config.TextColumn("From theme"),
        "to_theme": st.column_config.TextColumn("To theme"),
    })


def render() -> None:
    db, _ = page_start()  # no sidebar filter applies: audits and corrections are store-wide
    key = db_key(db)
    st.title("Theme quality")
    show_flash()
    figures = _figures(key)
    if figures["status"]["feedback"] == 0:
        st.info("No feedback yet, so nothing to audit. You can still define seed themes "
                "below; the first theme refresh uses them.")
    else:
        # Two rows of two: four in a row cut the values short in the centred layout.
        for column, (label, value, help_text) in zip(st.columns(2) + st.columns(2),
                                                     views.quality_metrics(figures)):
            column.metric(label, value, help=help_text)
        _audit_section(db, key)
    _seed_section(db, key)
    _corrections_section(key)


render()

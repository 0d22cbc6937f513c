"""Case queue: a manager's working screen. Queue health at the top, then the cases (mine, my
team's or all; filtered by status, priority, SLA state, location, theme and route) sorted by
what is due first, with countdowns in business time; bulk assign and acknowledge; and one
case's detail: its feedback, the customer's earlier feedback and contacts, the timeline,
notes, status changes (resolving needs a category), assignment, merge and unmerge, and
a follow-up to the customer (a template with a live preview against the case, queued in the
outbox, or sent at once; a resolved case whose follow-up is sent becomes "followed up").

Thin page: everything shown comes from `analysis.views.cases` (which reads
`analysis.cases` and writes nothing); writes go through `analysis.cases.records` inside
write transactions, as `pages.current_actor()`: the signed-in user or the person picked as
"who am I".
A change made on an older version of a case (someone else changed it meanwhile) is refused
by the store (CaseConflict): the page says so and shows the case as it is now.
Titles, names, notes and comments are user text: shown only through st.dataframe, st.text,
widget options and, inside our own sentences, escaped Markdown.
Speed: reads are cached (bounded, keyed by the store's file and revision and the minute);
the open cases are read once a minute and shared by the health and every filter; the list
shows the first 200 cases due; the detail is a fragment, so typing a note or picking a
status does not redraw the queue.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from analysis import store
from analysis.auth import permissions
from analysis.cases import records
from analysis.followup import delivery as follow_delivery
from analysis.followup import followups as follow
from analysis.followup import outbox as follow_outbox
from analysis.privacy.display import frame_for_role
from analysis.settings import SettingsError, get_settings
from analysis.views import cases as views
from analysis.views import followup as follow_views
from pages import (
    NOBODY,
    case_write_check,
    current_actor,
    current_role,
    current_session,
    db_key,
    flash,
    page_start,
    recorded_view,
    show_flash,
    who_am_i,
)

CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}
FLASH_AT = "cases_flash_at"   # which section a write's message belongs next to
CONFLICT = "cases_conflict"   # a refused change's message, shown once
RERUN = "cases_rerun_app"     # a write from the detail fragment: redraw the whole page
PICK = "cases_pick"
ME = "cases_me"
PARAM = "case"  # ?case=ID opens one
NUMBER = st.column_config.NumberColumn


# Every read is cached, bounded and keyed on the store's file and revision (every write
# changes it) and on the minute (countdowns move with the clock).
@st.cache_data(max_entries=8, **CACHE)
def _options(key) -> views.QueueOptions:
    return views.queue_options(store.connect(key[0]))


@st.cache_resource(max_entries=2, **CACHE)
def _open_cases(key, now) -> list[dict]:
    """Every open case with its SLA clocks (a second at 10,000 cases), read once a minute
    and shared, not copied: the health and every filter of open cases narrow it. Read only."""
    return records.list_cases(store.connect(key[0]), now=now)


@st.cache_data(max_entries=8, **CACHE)
def _health(key, now, teams: tuple | None = None) -> dict:
    """`teams`: a manager's teams (their queue's health); None: the whole queue."""
    return views.health(store.connect(key[0]), now=now, open_cases=_open_cases(key, now),
                        team_ids=teams)


@st.cache_data(max_entries=16, **CACHE)
def _queue(key, now, status: str, owner_id, team_id, priorities: tuple, locations: tuple,
           theme_ids: tuple, routes: tuple, sla_states: tuple,
           teams: tuple | None = None) -> views.Queue:
    """`teams`: only the cases of these teams (a manager's scope); None: every case."""
    found = views.queue(store.connect(key[0]), now=now, status=status, owner_id=owner_id,
                        team_id=team_id, priorities=priorities, locations=locations,
                        theme_ids=theme_ids, routes=routes, sla_states=sla_states,
                        open_cases=_open_cases(key, now) if status == "open" else None,
                        limit=None if teams is None else 10**9)
    if teams is None:
        return found
    rows = [r for r in found.rows if r["team_id"] in set(teams)]
    return views.Queue(total=len(rows), rows=rows[:views.MAX_ROWS])


def _team_scope() -> tuple | None:
    """The teams whose cases the signed-in role may see: a manager's own teams; None (every
    case) for the others and in local mode."""
    session = current_session()
    if session is not None and session.app_role == "manager":
        return tuple(sorted(session.team_ids))
    return None


def _in_scope(case: dict) -> bool:
    teams = _team_scope()
    return teams is None or case.get("team_id") in set(teams)


def _customer_hidden() -> bool:
    """Whether the acting role may not see customer names and contacts."""
    return not permissions.shows_customer_data(current_role())


@st.cache_data(max_entries=16, **CACHE)
def _detail(key, case_id: int, now, timezone: str) -> views.CaseDetail:
    return views.case_detail(store.connect(key[0]), case_id, now=now, timezone=timezone)


@st.cache_data(max_entries=16, **CACHE)
def _follow_up_options(key, case_id: int, timezone: str) -> follow_views.FollowUpOptions:
    db = store.connect(key[0])
    return follow_views.follow_up_options(db, records.get_case(db, case_id), timezone)


@st.cache_data(max_entries=32, **CACHE)
def _follow_up_preview(key, case_id: int, template_id: int,
                       extra: tuple) -> follow_views.Preview:
    return follow_views.follow_up_preview(store.connect(key[0]), case_id, template_id,
                                          dict(extra))


# ----------------------------------------------------------------------------- writes
# Widget callbacks: they run before the script reruns, so the page redraws at once. A
# refusal (CaseError names the field) or a store failure becomes one message next to the
# section it came from; a version conflict becomes a warning above the case.

def _actor() -> str:
    return current_actor()


def _write(section: str, action, success: str, db, failure: str = "Not saved.", *,
           cases, permission: str = "work cases") -> bool:
    """Run `action` in one write transaction after the server-side check that the acting
    role may take `permission` on every one of `cases` (a manager: their teams' only)."""
    state = st.session_state
    state[FLASH_AT] = section
    state[RERUN] = True
    try:
        check = case_write_check(cases, permission)
        with store.write_transaction(db):
            check(db)   # the cases' teams as the transaction sees them
            action()
    except records.CaseConflict as exc:
        state[CONFLICT] = (section, str(exc))
        return False
    except (ValueError, store.StoreError, permissions.PermissionDenied) as exc:
        flash("error", failure, str(exc))
        return False
    flash("success", success)
    return True


def _forget(*names: str) -> None:
    for name in names:
        st.session_state.pop(name, None)


def _acknowledge(db, case_id: int, version: int) -> None:
    _write("detail", lambda: records.change_status(
        db, case_id, "acknowledged", actor=_actor(), now=store.utcnow(),
        expected_version=version), f"Case #{case_id} acknowledged.", db, cases=[case_id])


def _change_status(db, case_id: int, version: int) -> None:
    state = st.session_state
    to = state.get(f"cases_to_{case_id}")
    category = state.get(f"cases_category_{case_id}") or None
    note = state.get(f"cases_note_{case_id}", "")
    if _write("detail", lambda: records.change_status(
            db, case_id, to, actor=_actor(), now=store.utcnow(), expected_version=version,
            note=note, resolution_category=category if to == "resolved" else None),
            f"Case #{case_id} is now {to}.", db, "Status not changed.", cases=[case_id]):
        # Set, not dropped: a dropped value would come back from the browser.
        _forget(f"cases_to_{case_id}")
        state[f"cases_category_{case_id}"] = ""
        state[f"cases_note_{case_id}"] = ""


def _assign(db, case_id: int, version: int) -> None:
    owner = st.session_state.get(f"cases_owner_{case_id}") or None
    _write("detail", lambda: records.assign(
        db, case_id, owner, actor=_actor(), now=store.utcnow(), expected_version=version),
        f"Case #{case_id} assigned." if owner else f"Case #{case_id} back in its team's queue.",
        db, "Not assigned.", cases=[case_id])


def _add_note(db, case_id: int) -> None:
    note = st.session_state.get(f"cases_new_note_{case_id}", "")
    if _write("detail", lambda: records.add_note(db, case_id, note, actor=_actor(),
                                                 now=store.utcnow()),
              "Note added.", db, "Note not added.", cases=[case_id]):
        st.session_state[f"cases_new_note_{case_id}"] = ""


def _merge(db, keep_id: int, version: int) -> None:
    duplicate = views.as_id(st.session_state.get(f"cases_merge_{keep_id}"))
    if duplicate is None:
        st.session_state[FLASH_AT] = "detail"
        flash("error", "Nothing merged: choose the duplicate case.")
        return
    _write("detail", lambda: records.merge_cases(
        db, keep_id, int(duplicate), actor=_actor(), now=store.utcnow(),
        expected_versions={keep_id: version}),
        f"Case #{duplicate} merged into case #{keep_id}.", db, "Not merged.",
        cases=[keep_id, int(duplicate)])


def _unmerge(db, duplicate_id: int, pick_after: int | None = None) -> None:
    if _write("detail", lambda: records.unmerge_case(db, int(duplicate_id), actor=_actor(),
                                                     now=store.utcnow()),
              f"Case #{duplicate_id} unmerged: its feedback and status are back.", db,
              "Not unmerged.", cases=[duplicate_id]) and pick_after is not None:
        st.session_state[PICK] = pick_after


def _unmerge_picked(db, keep_id: int) -> None:
    picked = views.as_id(st.session_state.get(f"cases_unmerge_pick_{keep_id}"))
    if picked is None:
        st.session_state[FLASH_AT] = "detail"
        flash("error", "Nothing unmerged: choose the case.")
        return
    _unmerge(db, picked, keep_id)


def _bulk(db, how: str, rows: dict[int, dict]) -> None:
    state = st.session_state
    picked = [i for i in map(views.as_id, state.get("cases_bulk", [])) if i in rows]
    state[FLASH_AT] = "bulk"
    if not picked:
        flash("error", "Nothing done: select cases first.")
        return
    now, actor = store.utcnow(), _actor()
    if how == "assign":
        owner = state.get("cases_bulk_owner") or None

        def action():
            for i in picked:
                records.assign(db, i, owner, actor=actor, now=now,
                               expected_version=rows[i]["version"])
        message = f"{len(picked):,} case(s) assigned." if owner else \
            f"{len(picked):,} case(s) back in their team's queue."
    else:
        new = [i for i in picked if rows[i]["status"] == "new"]

        def action():
            for i in new:
                records.change_status(db, i, "acknowledged", actor=actor, now=now,
                                      expected_version=rows[i]["version"])
        skipped = len(picked) - len(new)
        message = f"{len(new):,} case(s) acknowledged." + (
            f" {skipped:,} skipped: not new." if skipped else "")
    if _write("bulk", action, message, db, "Nothing done.", cases=picked):
        state["cases_bulk"] = []  # set, not dropped: a dropped value comes back


def _follow_up_extra(case_id: int) -> dict:
    state = st.session_state
    return follow_views.extra_values({name: state.get(f"cases_fu_{name}_{case_id}")
                                      for name in follow_views.EXTRA_FIELDS})


def _follow_up(db, case_id: int, send: bool) -> None:
    """Queue the follow-up (the same message twice is one message); with `send`, send what
    is due at once, as the worker does every minute."""
    state = st.session_state
    template_id = state.get(f"cases_fu_template_{case_id}")
    if template_id is None:
        state[FLASH_AT] = "follow-up"
        flash("error", "Nothing queued: choose a template.")
        return
    now, queued = store.utcnow(), []

    def queue():
        last = db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
        message_id = follow.write_follow_up(db, case_id, int(template_id), actor=_actor(),
                                            extra=_follow_up_extra(case_id), now=now)
        queued.extend([message_id, message_id <= last])

    if not _write("follow-up", queue, "Follow-up queued: the outbox sends it within a "
                                      "minute.", db, "Not queued.", cases=[case_id],
                  permission="send follow-ups"):
        return
    message_id, existed = queued
    if existed:   # the same message for this case was queued before: never twice
        status, sent_at = db.execute("SELECT status, sent_at FROM outbox WHERE id = ?",
                                     [message_id]).fetchone()
        flash("success", f"This message was queued already (message #{message_id}): it "
                         "is not queued twice.",
              f"Status: {status}" + (f", sent at {sent_at}" if sent_at else ""))
        if status == "sent":
            return
    if not send:
        return
    try:
        result = follow_outbox.drain_outbox(db, now=now,
                                            on_sent=follow_delivery.on_message_sent)
    except (SettingsError, ValueError, store.StoreError) as exc:
        flash("error", "Queued, but not sent.", str(exc))
        return
    row = db.execute("SELECT status, last_error, recipient, subject FROM outbox WHERE id = ?",
                     [message_id]).fetchone()
    if row and row[0] == "sent":
        flash("success", "Follow-up sent.", f"To {row[2]}: {row[3]}\n"
                                            f"{follow_views.drain_text(result)}")
    else:
        flash("error", "Queued, but not sent.", "\n".join(filter(None, [
            f"Message #{message_id} is {row[0] if row else 'gone'}: "
            f"{(row[1] if row else '') or 'not due yet'}", follow_views.NOT_SENT_HINT])))


# ----------------------------------------------------------------------------- sections

def _flash_here(section: str) -> None:
    state = st.session_state
    if state.get(CONFLICT, ("",))[0] == section:
        message = state.pop(CONFLICT)[1]
        state.pop(FLASH_AT, None)
        st.warning(views.markdown_safe(message) + ". " + (
            "Nothing was done; the list shows the cases as they are now." if section == "bulk"
            else "The case as it is now is shown below."), icon=":material/sync_problem:")
    if state.get(FLASH_AT) == section:
        state.pop(FLASH_AT, None)
        show_flash()


def _who_am_i(options: views.QueueOptions) -> dict | None:
    """The person picked as "who am I" (remembered for the session), or None."""
    return who_am_i(options.people, options.everyone, key=ME,
                    help="There is no sign-in here: pick yourself, so that \"My cases\" "
                         "works and your changes are recorded under your email.")


def _health_section(key, now) -> None:
    teams = _team_scope()
    found = _health(key, now, teams)
    tiles = views.health_metrics(found)
    names = list(tiles)
    first = ["Open", "At risk", "Breached", "Median time to acknowledge"]
    for row in (first, [n for n in names if n not in first]):
        for column, name in zip(st.columns(len(row)), row, strict=True):
            value, help_text = tiles[name]
            column.metric(name, value, help=help_text)
    whose = "The whole queue" if teams is None else "Your teams' cases"
    st.caption(f"{whose}. SLA met: the deadlines that came due this week (since "
               f"{found['week_start'][:10]}, UTC); open cases that are late count as breached.")


def _filters(options: views.QueueOptions) -> dict:
    one, two, three = st.columns(3)
    status = one.selectbox("Status", list(views.STATUS_FILTERS), key="cases_status",
                           format_func=views.STATUS_FILTERS.get)
    priorities = two.multiselect("Priority", list(views.PRIORITY_BADGES),
                                 key="cases_priorities")
    sla_states = three.multiselect("SLA state", list(views.SLA_STATES), key="cases_sla",
                                   format_func=views.sla_badge)
    one, two, three = st.columns(3)
    locations = one.multiselect("Location", options.locations, key="cases_locations")
    themes = two.multiselect("Theme", list(options.themes), key="cases_themes",
                             format_func=lambda t: options.themes.get(t, f"Theme #{t}"))
    routes = three.multiselect("Route", list(views.ROUTE_LABELS), key="cases_routes",
                               format_func=views.ROUTE_LABELS.get)
    return {"status": status, "priorities": tuple(priorities), "sla_states": tuple(sla_states),
            "locations": tuple(locations), "theme_ids": tuple(themes), "routes": tuple(routes)}


def _scope(me: dict | None) -> tuple[bool, int | None, int | None]:
    """(usable, owner_id, team_id) for "My cases", "My team" or all."""
    scope = st.radio("Show", list(views.SCOPES), key="cases_scope", horizontal=True,
                     format_func=views.SCOPES.get)
    if scope == "all":
        return True, None, None
    if me is None:
        st.info("Pick who you are above to see your cases or your team's.")
        return False, None, None
    if scope == "mine":
        return True, me["id"], None
    if me["team_id"] is None:
        st.info("You are in no team: set your team on the Case settings page.")
        return False, None, None
    return True, None, me["team_id"]


def _queue_section(db, key, now, options: views.QueueOptions, me) -> list[dict]:
    st.subheader("Cases")
    usable, owner_id, team_id = _scope(me)
    chosen = _filters(options)
    if not usable:
        return []
    shown = _queue(key, now, chosen["status"], owner_id, team_id, chosen["priorities"],
                   chosen["locations"], chosen["theme_ids"], chosen["routes"],
                   chosen["sla_states"], _team_scope())
    if _team_scope() is not None:
        st.caption("You see the cases of your own teams only.")
    if not shown.rows:
        st.info("No case matches: widen the filters.")
        return []
    tz = get_settings().timezone
    st.dataframe(views.queue_styler(views.queue_table(shown.rows, tz)), hide_index=True,
                 key="cases_table",
                 column_config={
                     "case": NUMBER("case", format="%d"),
                     "score": NUMBER("score", format="%.0f",
                                     help="The priority score: the sum of its parts"),
                     "due": st.column_config.TextColumn(
                         "due", help="The next deadline, counted in the location's business "
                                     "hours (critical cases: around the clock)"),
                     "SLA": st.column_config.TextColumn(
                         "SLA", help="The worst stage: breached, at risk (most of its time "
                                     "used), paused, on track")})
    more = (f"The first {len(shown.rows):,} of {shown.total:,} matching cases"
            if shown.total > len(shown.rows) else f"{shown.total:,} matching case(s)")
    st.caption(f"{more}, what is due first first. Times in {tz}.")
    _bulk_section(db, shown.rows, options)
    return shown.rows


def _bulk_section(db, rows: list[dict], options: views.QueueOptions) -> None:
    by_id = {r["id"]: r for r in rows}
    read_only = store.is_read_only(db)
    with st.expander("Bulk actions: assign or acknowledge several cases",
                     icon=":material/checklist:"):
        labels = {r["id"]: views.case_label(r) for r in rows}
        state = st.session_state
        state["cases_bulk"] = [i for i in map(views.as_id, state.get("cases_bulk", []))
                               if i in labels]
        owners = [NOBODY, *options.people]
        if state.get("cases_bulk_owner") not in owners:
            state["cases_bulk_owner"] = NOBODY
        st.multiselect("Cases", list(labels), key="cases_bulk", format_func=labels.get,
                       placeholder="Pick the cases to act on")
        left, right = st.columns([2, 1], vertical_alignment="bottom")
        left.selectbox("Assign to", owners, key="cases_bulk_owner",
                       format_func=lambda p: "Nobody: back to the team's queue"
                       if p == NOBODY else options.people[p])
        right.button("Assign selected", key="cases_bulk_assign", on_click=_bulk,
                     args=(db, "assign", by_id), disabled=read_only)
        st.button("Acknowledge selected", key="cases_bulk_ack", on_click=_bulk,
                  args=(db, "acknowledge", by_id), disabled=read_only)
    _flash_here("bulk")


def _pick(db, rows: list[dict]) -> int | None:
    state = st.session_state
    ids = [r["id"] for r in rows]
    labels = {r["id"]: views.case_label(r) for r in rows}
    if PICK not in state:  # the link that opened the page, once per visit
        wanted = st.query_params.get(PARAM)
        if wanted and str(wanted).isdigit():
            state[PICK] = int(wanted)
    wanted = state[PICK] = views.as_id(state.get(PICK))
    if wanted is not None and wanted not in ids:
        try:  # a case outside the list (resolved, merged, filtered out) stays open
            case = records.get_case(db, int(wanted))
            if not _in_scope(case):
                raise records.CaseError(f"case: #{case['id']} is not one of your teams' cases")
            ids.insert(0, case["id"])
            labels[case["id"]] = views.case_label(case)
        except records.CaseError:
            state.pop(PICK, None)
    if not ids:
        return None
    if state.get(PICK) not in ids:
        state[PICK] = ids[0]
    picked = st.selectbox("Open case", ids, key=PICK, format_func=labels.get)
    st.query_params[PARAM] = str(picked)  # the open case can be sent as a link
    return picked


@st.fragment
def _detail_section(db, key, case_id: int, now, options: views.QueueOptions) -> None:
    """One case; its own widgets rerun only this section, a write the whole page."""
    state = st.session_state
    if state.pop(RERUN, False):  # a write from here: the queue and its health change too
        st.rerun()
    shown = _detail(key, case_id, now, get_settings().timezone)
    case = shown.case
    i, version = case["id"], case["version"]
    if not _in_scope(case):
        st.error(f"Case #{i} is not one of your teams' cases.", icon=":material/block:")
        return
    hidden = _customer_hidden() or not recorded_view(db, [case["customer_key"]],
                                                     f"case #{i}")
    st.subheader(f"Case #{i}")
    _flash_here("detail")  # the outcome of a change made here, or why it was refused
    st.text(case["title"])
    lines = [f"Status: {case['status']}"
             + (f" (into case #{case['merged_into']})" if case["merged_into"] else ""),
             f"Priority: {case['priority']} (score {case['priority_score']:.0f})",
             f"Owner: {shown.owner}; team: {shown.team}",
             (f"Location: {case['location'] or 'none'}; theme: {shown.theme}; route: "
              f"{case['route']} ({case['type']})"),
             f"Customer: {'hidden' if hidden else case['customer_key'] or 'unknown'}",
             f"Opened: {views.local_time(case['opened_at'], get_settings().timezone)}"
             + (f"; escalated to level {case['escalation_level']}"
                if case["escalation_level"] else "")]
    if case["resolution_category"]:
        lines.append(f"Resolution: {case['resolution_category']}: "
                     f"{case['resolution_note'] or ''}")
    st.text(views.cut("\n".join(lines), 2000))
    left, right = st.columns(2)
    left.markdown("**Deadlines** (business time)")
    left.dataframe(shown.stages, hide_index=True, key=f"cases_stages_{i}")
    right.markdown(f"**Priority: {case['priority']}**, score {case['priority_score']:.0f}")
    right.dataframe(shown.priority, hide_index=True, key=f"cases_parts_{i}",
                    column_config={"points": NUMBER("points", format="%.1f")})
    feedback, earlier, timeline = st.tabs(["Feedback", "Earlier feedback and contacts",
                                           "Timeline"])
    with feedback:
        if hidden and not shown.feedback.empty:
            # As for a role that may not see customer data (no role: fail closed), the
            # comment's cut mark handled by the one rule.
            st.dataframe(frame_for_role(shown.feedback, None), hide_index=True,
                         key=f"cases_feedback_{i}")
        elif shown.feedback.empty:
            st.caption("No feedback in this case (a root-cause task, or merged away).")
        else:
            st.dataframe(shown.feedback, hide_index=True, key=f"cases_feedback_{i}")
    with earlier:
        if hidden:
            st.caption("Customer data is hidden for your role.")
        elif shown.earlier.empty:
            st.caption("Nothing earlier from this customer." if case["customer_key"]
                       else "The customer is unknown: no history to show.")
        else:
            st.dataframe(shown.earlier, hide_index=True, key=f"cases_earlier_{i}")
    with timeline:
        st.dataframe(shown.timeline, hide_index=True, key=f"cases_timeline_{i}")
    _actions(db, shown, options, version)
    if case["status"] != "merged" and not hidden:
        _follow_up_section(db, key, shown)


def _follow_up_section(db, key, shown: views.CaseDetail) -> None:
    """Write to the customer: a template, the values only a person knows, the preview
    against this case (gaps shown), then queue it or send it now."""
    i = shown.case["id"]
    state = st.session_state
    tz = get_settings().timezone
    found = _follow_up_options(key, i, tz)
    with st.expander("Write follow-up", icon=":material/mail:"):
        if not found.templates:
            st.info(follow_views.NO_EMAIL_TEMPLATES)
            st.page_link("pages/templates.py", label="Templates", icon=":material/mail:")
            return
        if found.address:
            st.text(f"To: {found.address}")
        else:
            st.warning("The customer left no email address on this case: there is no one "
                       "to send a follow-up to.", icon=":material/warning:")
        pick_key = f"cases_fu_template_{i}"
        if state.get(pick_key) not in found.templates:
            state[pick_key] = found.suggested
        template_id = st.selectbox(
            "Template", list(found.templates), key=pick_key, format_func=found.templates.get,
            help="The first suits the case's status: a resolved case's apology or \"we "
                 "changed it\", an open case's status update.")
        for column, (name, label) in zip(st.columns(len(follow_views.EXTRA_FIELDS)),
                                         follow_views.EXTRA_FIELDS.items(), strict=True):
            column.text_input(label, key=f"cases_fu_{name}_{i}", max_chars=300)
        extra = _follow_up_extra(i)
        preview = _follow_up_preview(key, i, int(template_id), tuple(sorted(extra.items())))
        if preview.error:
            st.error(views.markdown_safe(preview.error), icon=":material/error:")
        rendering = preview.rendering
        if rendering is not None:
            if rendering.missing:
                st.warning(views.markdown_safe(
                    f"Gaps: {preview.missing_text}. Fill them in above (or pick another "
                    "template): a message with a gap is not sent."),
                    icon=":material/warning:")
            st.text(f"Subject: {rendering.subject}")
            with st.container(border=True, key=f"cases_fu_preview_{i}"):
                st.html(follow_views.email_html(rendering.body))
        disabled = store.is_read_only(db) or not found.address or rendering is None
        left, right, _ = st.columns([1, 1, 2])
        left.button("Queue follow-up", key=f"cases_follow_up_{i}", on_click=_follow_up,
                    args=(db, i, False), icon=":material/mail:", disabled=disabled,
                    type="primary")
        right.button("Send now", key=f"cases_fu_send_{i}", on_click=_follow_up,
                     args=(db, i, True), icon=":material/send:", disabled=disabled)
        st.caption(views.FOLLOW_UP_HELP)
        _flash_here("follow-up")
        if not found.messages.empty:
            st.markdown("**Messages about this case**")
            st.dataframe(found.messages, hide_index=True, key=f"cases_fu_messages_{i}",
                         column_config={"message": NUMBER("message", format="%d")})


def _actions(db, shown: views.CaseDetail, options: views.QueueOptions, version: int) -> None:
    case = shown.case
    i = case["id"]
    read_only = store.is_read_only(db)
    st.markdown("**Act on this case**")
    if case["status"] == "merged":
        st.info(f"This case is merged into case #{case['merged_into']}: its feedback is "
                "there. Unmerge it to work on it again.")
        st.button("Unmerge this case", key=f"cases_unmerge_self_{i}", on_click=_unmerge,
                  args=(db, i, i), disabled=read_only)
    if "acknowledged" in shown.moves:
        st.button("Acknowledge", key=f"cases_ack_{i}", on_click=_acknowledge,
                  args=(db, i, version), disabled=read_only, type="primary")
    # Forms: choosing a move, a category or an owner redraws nothing until it is saved.
    if shown.moves:
        to_key = f"cases_to_{i}"
        if st.session_state.get(to_key) not in shown.moves:
            st.session_state[to_key] = shown.moves[0]
        with st.form(f"cases_status_form_{i}"):
            one, two = st.columns(2)
            one.selectbox("Move to", list(shown.moves), key=to_key)
            two.selectbox("Resolution category (needed to resolve)",
                          ["", *records.RESOLUTION_CATEGORIES], key=f"cases_category_{i}",
                          format_func=lambda c: c or "choose when resolving")
            st.text_area("Note with the change", key=f"cases_note_{i}", max_chars=4000,
                         height=68, help="Resolving needs one: say how it was resolved.")
            st.form_submit_button("Change status", key=f"cases_change_{i}",
                                  on_click=_change_status, args=(db, i, version),
                                  disabled=read_only)
    if case["status"] != "merged":
        owners = [NOBODY, *options.people]
        owner_key = f"cases_owner_{i}"
        if st.session_state.get(owner_key) not in owners:
            st.session_state[owner_key] = case["owner_id"] if case["owner_id"] in owners \
                else NOBODY
        with st.form(f"cases_owner_form_{i}"):
            left, right = st.columns([2, 1], vertical_alignment="bottom")
            left.selectbox("Owner", owners, key=owner_key,
                           format_func=lambda p: "Nobody: the team's queue" if p == NOBODY
                           else options.people[p])
            right.form_submit_button("Assign", key=f"cases_assign_{i}", on_click=_assign,
                                     args=(db, i, version), disabled=read_only)
    with st.form(f"cases_note_form_{i}"):
        left, right = st.columns([2, 1], vertical_alignment="bottom")
        left.text_area("Note", key=f"cases_new_note_{i}", max_chars=4000, height=68,
                       placeholder="What happened, what was said")
        right.form_submit_button("Add note", key=f"cases_add_note_{i}", on_click=_add_note,
                                 args=(db, i), disabled=read_only)
    for name, allowed in ((f"cases_merge_{i}", shown.merge_candidates),
                          (f"cases_unmerge_pick_{i}", shown.merged_here)):
        if name in st.session_state:  # a pick by label, or one that is gone
            picked = views.as_id(st.session_state[name])
            if picked in allowed:
                st.session_state[name] = picked
            else:
                del st.session_state[name]
    if shown.merge_candidates:
        with st.form(f"cases_merge_form_{i}"):
            left, right = st.columns([2, 1], vertical_alignment="bottom")
            left.selectbox("Merge a duplicate of this customer's into this case",
                           list(shown.merge_candidates), key=f"cases_merge_{i}",
                           format_func=shown.merge_candidates.get)
            right.form_submit_button("Merge", key=f"cases_merge_button_{i}", on_click=_merge,
                                     args=(db, i, version), disabled=read_only)
    if shown.merged_here:
        with st.form(f"cases_unmerge_form_{i}"):
            left, right = st.columns([2, 1], vertical_alignment="bottom")
            left.selectbox("Merged into this case", list(shown.merged_here),
                           key=f"cases_unmerge_pick_{i}", format_func=shown.merged_here.get)
            right.form_submit_button("Unmerge", key=f"cases_unmerge_{i}",
                                     on_click=_unmerge_picked, args=(db, i),
                                     disabled=read_only)


# ----------------------------------------------------------------------------- page

def render() -> None:
    db, _ = page_start()
    key = db_key(db)
    st.title("Case queue")
    if FLASH_AT not in st.session_state:
        show_flash()
    st.session_state.pop(RERUN, None)
    options = _options(key)
    if not options.has_cases:
        st.info(views.NO_CASES)
        if not options.everyone:
            st.info(views.NO_PEOPLE)
        st.page_link("pages/case_settings.py", label="Case settings", icon=":material/tune:")
        return
    now = store.utcnow().replace(second=0, microsecond=0)
    me = _who_am_i(options)
    if not options.everyone:
        st.info(views.NO_PEOPLE)
        st.page_link("pages/case_settings.py", label="Case settings", icon=":material/tune:")
    _health_section(key, now)
    st.divider()
    rows = _queue_section(db, key, now, options, me)
    st.divider()
    picked = _pick(db, rows)
    if picked is not None:
        _detail_section(db, key, picked, now, options)


render()

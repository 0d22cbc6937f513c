"""Users: who may sign in, and with which role (admins only; issue 24).

The accounts with their teams, lock and last sign-in; add an account (its one-time
password is shown once, on the run after it was made, and never again); change a role,
reset a password, deactivate or reactivate; the recent sign-in events.

Thin page: reads and writes go through `analysis.auth.users` (which refuses, naming the
field, e.g. demoting or deactivating the last active admin); writes run in widget
callbacks through `run_write`, which checks the signed-in role again ("manage users").
Emails, names and team names are user text: shown only through dataframes, st.text and
widget options.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import store
from analysis.auth import ROLES, users
from analysis.cases import people
from pages import (current_actor, current_session, page_start, run_write, show_flash,
                   sign_in_mode)

# (email, one-time password) of the last add or reset: popped, so shown on one run only.
# (A comment, not a string: Streamlit's magic would draw a bare string on the page.)
NEW_PASSWORD = "_users_new_password"
NO_TEAM = 0
EVENTS_SHOWN = 50
ACCOUNT_COLUMNS = {"email": "Email", "name": "Name", "role": "Role", "teams": "Teams",
                   "active": "Active", "locked_until": "Locked until (UTC)",
                   "last_sign_in": "Last sign-in (UTC)",
                   "must_change_password": "Must change password"}


# ----------------------------------------------------------------------------- writes

def _add(db, team_names: dict[int, str]) -> None:
    s = st.session_state
    email = s.get("users_add_email", "")
    team = team_names.get(s.get("users_add_team") or NO_TEAM)

    def write() -> None:
        one_time = users.add_user(db, email, app_role=s.get("users_add_role", "viewer"),
                                  name=s.get("users_add_name", ""), team=team,
                                  actor=current_actor(), now=store.utcnow())
        s[NEW_PASSWORD] = (email.strip(), one_time)

    if run_write(write, "Account added.", "Not added."):
        # Set, not deleted: a deleted form widget keeps its old value in the browser.
        s["users_add_email"] = s["users_add_name"] = ""


def _change_role(db, email: str, pick: int) -> None:
    role = st.session_state.get(f"users_role_{pick}")
    run_write(lambda: users.change_role(db, email, role, actor=current_actor(),
                                        now=store.utcnow()), "Role changed.", "Not changed.")


def _reset(db, email: str) -> None:
    def write() -> None:
        st.session_state[NEW_PASSWORD] = (email, users.reset_user_password(
            db, email, actor=current_actor(), now=store.utcnow()))

    run_write(write, "Password reset: their sessions ended.", "Not reset.")


def _set_active(db, email: str, active: bool) -> None:
    run_write(lambda: users.set_active(db, email, active, actor=current_actor(),
                                       now=store.utcnow()),
              "Account reactivated." if active else "Account deactivated: its sessions ended.",
              "Not changed.")


# ----------------------------------------------------------------------------- sections

def _new_password() -> None:
    shown = st.session_state.pop(NEW_PASSWORD, None)
    if shown is None:
        return
    st.warning("One-time password, shown only this once: give it to its owner, who chooses "
               "their own password at the first sign-in.", icon=":material/key:")
    st.text(shown[0])
    st.code(shown[1], language=None)


def _accounts(found: list[dict]) -> None:
    st.subheader("Accounts")
    if not found:
        st.caption("No accounts yet: add one below.")
        return
    table = pd.DataFrame(found, columns=list(ACCOUNT_COLUMNS)).rename(columns=ACCOUNT_COLUMNS)
    st.dataframe(table, hide_index=True, key="users_table")


def _add_form(db, team_names: dict[int, str], read_only: bool) -> None:
    st.subheader("Add an account")
    with st.form("users_add_form"):
        one, two = st.columns(2)
        one.text_input("Email", key="users_add_email", max_chars=320)
        two.text_input("Name", key="users_add_name", max_chars=200,
                       help="Needed when the person is not in the case queue yet.")
        one.selectbox("Role", list(ROLES), index=len(ROLES) - 1, key="users_add_role")
        two.selectbox("Team", [NO_TEAM, *team_names], key="users_add_team",
                      format_func=lambda t: "No team" if t == NO_TEAM else team_names[t])
        st.form_submit_button("Add account", key="users_add", on_click=_add,
                              args=(db, team_names), disabled=read_only, type="primary")
    st.caption("A new person gets capacity 0 (no case is routed to them; Case settings "
               "changes that). The account gets a one-time password, shown once.")


def _manage(db, found: list[dict], read_only: bool) -> None:
    if not found:
        return
    st.subheader("Change an account")
    labels = {row["person_id"]: f"{row['email']} ({row['role']}"
                                f"{'' if row['active'] else ', inactive'})" for row in found}
    if st.session_state.get("users_pick") not in labels:
        st.session_state.pop("users_pick", None)
    pick = st.selectbox("Account", list(labels), format_func=labels.get, key="users_pick")
    row = next(r for r in found if r["person_id"] == pick)
    role, change = st.columns([3, 1], vertical_alignment="bottom")
    role.selectbox("Role", list(ROLES), index=list(ROLES).index(row["role"]),
                   key=f"users_role_{pick}")
    change.button("Change role", key="users_change_role", on_click=_change_role,
                  args=(db, row["email"], pick), disabled=read_only)
    # Your own reset would end the session that is to show you the new password.
    session = current_session()
    own = session is not None and session.person_id == row["person_id"]
    reset, active = st.columns(2)
    reset.button("Reset password", key="users_reset", on_click=_reset, args=(db, row["email"]),
                 disabled=read_only or own,
                 help="Your own password: another admin resets it, or `python -m analysis "
                      "users reset`." if own else "A new one-time password; their sessions end.")
    if row["active"]:
        active.button("Deactivate", key="users_deactivate", on_click=_set_active,
                      args=(db, row["email"], False), disabled=read_only,
                      help="Their sessions end; they cannot sign in, and the case queue "
                           "assigns them no more cases.")
    else:
        active.button("Reactivate", key="users_reactivate", on_click=_set_active,
                      args=(db, row["email"], True), disabled=read_only)


def _events(db) -> None:
    st.subheader("Recent sign-in events")
    found = users.recent_sign_in_events(db, limit=EVENTS_SHOWN)
    if not found:
        st.caption("No sign-in yet.")
        return
    st.dataframe(pd.DataFrame(found, columns=users.EVENT_FIELDS).rename(
        columns={"at": "At (UTC)", "email": "Email (as typed)", "outcome": "Outcome"}),
        hide_index=True, key="users_events")


def render() -> None:
    db, _ = page_start()
    st.title("Users")
    if not sign_in_mode():
        st.caption("Local mode: nobody signs in while the app listens on 127.0.0.1 only. "
                   "These accounts are used when it is served beyond this machine.")
    show_flash()
    _new_password()
    read_only = store.is_read_only(db)
    found = users.user_rows(db, now=store.utcnow())
    team_names = {team["id"]: team["name"] for team in people.teams(db)}
    _accounts(found)
    _add_form(db, team_names, read_only)
    _manage(db, found, read_only)
    _events(db)


render()

"""What every page shares: the start of a page run, who is acting, and the cached store key.

Every page follows one pattern (DEVELOPERS.md shows it):

    import streamlit as st
    from pages import page_start

    def render() -> None:
        db, filters = page_start()
        st.title("...")
        ...                  # read through analysis functions, write with actor=current_actor()

    render()

Streamlit never lists this file as a page (`__init__.py` is skipped in pages/), so the code
all pages share lives here rather than being copied into each.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from analysis import store
from analysis.auth import accounts, gate, identity, permissions
from analysis.cases import records
from analysis.domain.filters import Filters
from analysis.privacy import forget as privacy_forget
from analysis.settings import get_settings

PAGES_DIR = Path(__file__).resolve().parent
TOKEN = "_auth_token"          # the signed-in session's token (only the browser session has it)
SESSION = "_auth_session"      # the Session checked on this run
PAGE = "_auth_page"            # the page the last run showed (a callback's page)
LOCAL_BANNER = "Local mode: no sign-in; the app listens on 127.0.0.1 only."
COOKIE = "closeloop_session"   # + "_<port>": the session token, so a reload stays signed in
COOKIE_READ = "_auth_cookie_read"   # the cookie was looked at once in this browser session
COOKIE_WRITE = "_auth_cookie_write"  # "set" or "clear": done by the next run's browser
PROVIDER_SIGN_OUT = "_auth_provider_sign_out"  # sign out of st.login's identity too
PROVIDER_REFUSED = "_auth_provider_refused"    # why st.login's identity may not come in
VIEWED = "_records_viewed"  # actor -> the (customer key, what) views recorded this session


def ensure_app_shell() -> None:
    """Rerun through app.py when Streamlit ran this page on its own.

    Until st.navigation has run once in a server process, Streamlit treats the pages/
    folder as old-style pages: a fresh server's first session on /themes runs the page
    without app.py (no filters, no titles). Switching that fallback off and rerunning sends
    the session through app.py, which then runs the page inside the navigation.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# ----------------------------------------------------------------------------- sign-in
# The one gate: app.py calls `signed_in` before it draws anything, and `page_start` (which
# every page runs first) checks the session again and the page's access; `run_write`
# checks the write's action. Local mode (the server listens on the loopback address only)
# has no sign-in and acts as admin.


def sign_in_mode() -> bool:
    """Whether this server needs sign-in (it listens beyond 127.0.0.1)."""
    return gate.sign_in_required(st.get_option("server.address"))


def current_session() -> accounts.Session | None:
    """The signed-in session checked on this run (None in local mode or signed out)."""
    return st.session_state.get(SESSION) if sign_in_mode() else None


def current_role() -> str | None:
    """The acting role: admin in local mode, the session's role when signed in, else None."""
    if not sign_in_mode():
        return "admin"
    session = st.session_state.get(SESSION)
    return session.app_role if session else None


def current_actor() -> str:
    """Who is acting, recorded with every write: the signed-in user's email in sign-in
    mode; in local mode the person picked as "who am I" (the Case queue, Templates), else
    st.session_state["user"] or the settings actor."""
    if sign_in_mode():
        session = st.session_state.get(SESSION)
        if session is not None:
            return session.email
    return (st.session_state.get(PICKED_ACTOR) or st.session_state.get("user")
            or get_settings().actor)


# ----------------------------------------------------------------------------- who am I
# Without sign-in (local mode) a person picks themselves on the Case queue or the Templates
# page; every page's writes then record them (current_actor).

PICKED = "_cases_me"             # the person id picked as "who am I"
PICKED_ACTOR = "_cases_actor"    # that person's email
NOBODY = 0


def who_am_i(people: dict[int, str], everyone: list[dict], *, key: str, help: str,
             on_pick=None) -> dict | None:
    """The "who am I" picker over `people` (id -> label; `everyone`: the rows with id and
    email), remembered for the browser session; returns the person (a row of `everyone`)
    or None. Signed in, there is no picker: you are who signed in. `on_pick(person)` runs
    when the pick changes."""
    state = st.session_state
    session = current_session()
    if session is not None:
        state[PICKED_ACTOR] = None
        st.caption(f"Acting as {session.email} (signed in).")
        return next((p for p in everyone if p["id"] == session.person_id), None)
    ids = [NOBODY, *people]
    if state.get(key) not in ids:
        state[key] = state.get(PICKED) if state.get(PICKED) in ids else NOBODY

    def remember() -> None:
        state[PICKED] = state.get(key, NOBODY)
        if on_pick is not None:
            on_pick(next((p for p in everyone if p["id"] == state[PICKED]), None))

    actor = current_actor()
    picked = st.selectbox(
        "Who am I", ids, key=key, on_change=remember,
        format_func=lambda p: f"Nobody picked (acting as {actor})" if p == NOBODY
        else people[p], help=help)
    state[PICKED] = picked
    person = next((p for p in everyone if p["id"] == picked), None)
    state[PICKED_ACTOR] = person["email"] if person else None
    return person


def can_write(page: str | None = None) -> bool:
    """May the acting role use the writes of `page` (default: the current page)?"""
    return gate.can_write(current_role(), page or current_page())


def current_page() -> str | None:
    """The page being run: the first pages/*.py file on the call stack (a widget callback
    defined in a page counts), else the page the last run showed."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.suffix == ".py" and path.parent == PAGES_DIR and path.stem != "__init__":
            return path.stem
        frame = frame.f_back
    return st.session_state.get(PAGE)


def _check_session(db) -> accounts.Session | None:
    state = st.session_state
    if TOKEN not in state and not state.get(COOKIE_READ):
        # A new browser session (a reload, a new tab): the token the browser kept. Read once
        # only: Streamlit's cookies are those of the page's first request, so after a
        # sign-out they would still hold the ended token.
        state[COOKIE_READ] = True
        kept = _cookies().get(_cookie_name())
        if kept:
            state[TOKEN] = kept
    had_token = bool(state.get(TOKEN))
    session = accounts.session_for(db, state.get(TOKEN))
    if session is None:
        state.pop(TOKEN, None)
        state.pop(SESSION, None)
        if had_token:  # ended, expired or unknown: the browser should forget it too
            state[COOKIE_WRITE] = "clear"
    else:
        state[SESSION] = session
    return session


def _cookie_name() -> str:
    """Browsers keep cookies per host, not per port: two Closeloop servers on one host
    (two stores) must not read or clear each other's session."""
    return f"{COOKIE}_{st.get_option('server.port')}"


def _cookies() -> dict:
    try:
        return dict(st.context.cookies)
    except Exception:  # noqa: BLE001 - no browser request (a script run without a server)
        return {}


def keep_signed_in_cookie() -> None:
    """Set or clear the session cookie in the browser when a sign-in or a sign-out asked for
    it. A script sets it (Streamlit has no server-side cookie for us), so it cannot be
    HttpOnly: it is SameSite=Strict, Secure over https, lives no longer than the session's
    absolute expiry, and holds only a random token whose hash the store checks on every
    run (a copied cookie is dead once its session ends or is signed out)."""
    what = st.session_state.pop(COOKIE_WRITE, None)
    if what == "set" and st.session_state.get(TOKEN):
        value, age = st.session_state[TOKEN], int(accounts.ABSOLUTE_TIMEOUT.total_seconds())
    elif what == "clear":
        value, age = "", 0
    else:
        return
    if not all(c.isalnum() or c in "-_" for c in value):
        return  # token_urlsafe's alphabet only: nothing else is ever written into the script
    st.html(
        "<script>document.cookie = " + repr(f"{_cookie_name()}={value}; Path=/; "
                                            f"Max-Age={age}; SameSite=Strict")
        + " + (location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True, width=1)


def _sign_out() -> None:
    try:
        accounts.sign_out(store.connect(), st.session_state.get(TOKEN))
    except store.StoreError:
        pass
    for name in (TOKEN, SESSION, "user", VIEWED):
        st.session_state.pop(name, None)
    st.session_state[COOKIE_WRITE] = "clear"
    if _provider_user().get("is_logged_in"):
        st.session_state[PROVIDER_SIGN_OUT] = True


# ----------------------------------------------------------------------------- st.login
# With an identity provider in .streamlit/secrets.toml ([auth], Streamlit's format), the
# sign-in form offers it beside the password form; the provider proves the email, and
# Closeloop's own account for it gives the role (analysis.auth.identity).

def identity_providers() -> list[str | None]:
    """The providers st.login may use ([] when none is set up)."""
    try:
        auth = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - no secrets file, or an unreadable one: no provider,
        return []      # and the password form still works
    return identity.configured_providers(auth)


def _provider_user() -> dict:
    try:
        return st.user.to_dict()
    except Exception:  # noqa: BLE001 - no identity provider set up
        return {}


def _sign_in_by_provider(db) -> accounts.Session | None:
    """The session of the person st.login just signed in (made once per browser session);
    None for a proof too old to open one (the sign-in form follows), or after showing why
    they may not come in, with a way to sign out of the provider (st.stop)."""
    state = st.session_state
    refusal = state.get(PROVIDER_REFUSED)
    if refusal is None:
        try:
            session = identity.sign_in_with_identity(db, _provider_user())
        except accounts.AuthError as exc:
            if exc.reason == "stale":
                return None
            refusal = state[PROVIDER_REFUSED] = str(exc)  # once: not an event per rerun
        else:
            _start_session(session)
            return session
    st.title("Sign in to Closeloop")
    st.error("Closeloop cannot let you in with this identity.", icon=":material/block:")
    st.text(refusal)   # quotes the provider's email claim: not Markdown
    st.button("Sign out of the identity provider", key="provider_sign_out",
              on_click=st.logout)
    st.stop()


def _start_session(session: accounts.Session) -> None:
    st.session_state[TOKEN] = session.token
    st.session_state[SESSION] = session
    st.session_state[COOKIE_WRITE] = "set"
    st.session_state.pop(VIEWED, None)   # the view audit's "already recorded" is per person


def _sign_in_form(db) -> None:
    st.title("Sign in to Closeloop")
    providers = identity_providers()
    for name in providers:
        st.button(f"Sign in with {identity.provider_label(name)}", type="primary",
                  key=f"sign_in_with_{name or 'provider'}", on_click=st.login,
                  args=(name,) if name else (), icon=":material/login:")
    if providers:
        st.caption("Or with a Closeloop password:")
    with st.form("sign_in"):
        email = st.text_input("Email", key="sign_in_email")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        refusal = gate.published_password_refusal(email, password, os.environ)
        if refusal:
            st.error("Not signed in: this password is published.", icon=":material/block:")
            st.text(refusal)
            return
        try:
            session = accounts.sign_in(db, email, password)
        except (accounts.AuthError, store.StoreError) as exc:
            st.error(str(exc))
        else:
            _start_session(session)
            st.rerun()


def _set_password_form(db, session: accounts.Session) -> None:
    st.title("Choose a new password")
    st.info(f"Signed in as {session.email}: the password you used was a one-time password. "
            f"Choose your own (at least {accounts.MIN_PASSWORD_LENGTH} characters).")
    with st.form("set_password"):
        first = st.text_input("New password", type="password", key="new_password")
        second = st.text_input("New password again", type="password", key="new_password_2")
        submitted = st.form_submit_button("Save password", type="primary")
    if submitted:
        if first != second:
            st.error("The two passwords differ.")
            return
        try:
            accounts.set_password(db, session.person_id, first, actor=session.email,
                                  keep_token=session.token)
        except accounts.AccountError as exc:
            st.error(str(exc))
        else:
            st.rerun()


def signed_in(db) -> accounts.Session | None:
    """The gate app.py runs first. Local mode: the banner, then None (act as admin).
    Sign-in mode: the signed-in session; without one, the sign-in form (or the forced
    password change) and st.stop()."""
    if not sign_in_mode():
        st.sidebar.caption(LOCAL_BANNER)
        return None
    if st.session_state.pop(PROVIDER_SIGN_OUT, False):
        st.logout()  # ends this run: the browser goes through the provider's sign-out
    session = _check_session(db)
    if session is None and _provider_user().get("is_logged_in"):
        session = _sign_in_by_provider(db)
    keep_signed_in_cookie()
    if session is None:
        _sign_in_form(db)
        st.stop()
    if session.must_change_password:
        _set_password_form(db, session)
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as {session.email} ({session.app_role})")
        st.button("Sign out", key="sign_out", on_click=_sign_out, icon=":material/logout:")
    return session


def page_start():
    """(db, filters) for a page run: the app shell ensured, the store opened, the signed-in
    session and the page's access checked (a refusal stops the page), and the sidebar
    filters app.py parsed from the URL (defaults when there are none). A role that may
    not write on this page gets the store read-only, so its write buttons are off and a
    write that gets past them anyway is refused by the store."""
    ensure_app_shell()
    db = store.connect()
    page = current_page()
    st.session_state[PAGE] = page
    if sign_in_mode():
        session = _check_session(db)
        if session is None or session.must_change_password:
            st.error("Sign in first.")
            st.stop()
        if page is not None:
            try:
                permissions.require(session.app_role, f"view page:{page}")
            except permissions.PermissionDenied as exc:
                st.error(str(exc), icon=":material/block:")
                st.stop()
        if not gate.can_write(session.app_role, page):
            db.execute("PRAGMA query_only = 1")
    return db, st.session_state.get("filters") or Filters()


def db_key(db) -> tuple[str, int]:
    """What cached reads key on: the store's file and its revision, so a cache never shows
    figures older than the last write."""
    return str(get_settings().db_path), store.revision(db)


FLASH_KEY = "_flash"


def flash(kind: str, message: str, detail: str = "") -> None:
    """A message for the next run to show ("error" or "success"); `detail` may be user text."""
    st.session_state[FLASH_KEY] = (kind, message, detail)


def run_write(write, success: str, failure: str = "Not done.") -> bool:
    """Run a write from a widget callback; its outcome shows on the next run (`show_flash`).

    Callbacks run before the script, outside app.py's guard, so a refusal (a ValueError
    saying why) and a store failure (read-only, full, busy: a StoreError) are caught here
    and shown as one message instead of a traceback.
    """
    try:
        require_write()
        write()
    except permissions.PermissionDenied as exc:
        flash("error", failure, str(exc))
        return False
    except (ValueError, store.StoreError) as exc:
        flash("error", failure, str(exc))
        return False
    flash("success", success)
    return True


def require_write() -> None:
    """Raise PermissionDenied unless the signed-in role may write on the current page (the
    session checked again: a callback runs before the page's own checks). `run_write`
    calls it; a write that does not go through run_write (a job started in the background)
    calls it first."""
    if not sign_in_mode():
        return
    session = _check_session(store.connect())
    if session is None:
        raise permissions.PermissionDenied("Sign in first: nothing was changed.")
    gate.require_write(session.app_role, current_page())


def case_write_check(case_ids, action: str = "work cases"):
    """The server-side check of a Case queue write: the session read again now (a callback
    runs before the page's checks), then a function of the write's connection that raises
    PermissionDenied unless the role may take `action` ("work cases" or "send follow-ups")
    on every one of `case_ids` (a manager: only their own teams' cases, whatever the page
    offered). Call that function inside the write's transaction, so a case moved to
    another team in between cannot slip through. Local mode: admin."""
    if not sign_in_mode():
        return lambda db: None
    session = _check_session(store.connect())
    if session is None:
        raise permissions.PermissionDenied("Sign in first: nothing was changed.")

    def check(db) -> None:
        gate.require_case_action(session.app_role, action, team_ids=session.team_ids,
                                 case_teams=records.case_teams(db, case_ids),
                                 case_ids=case_ids)
    return check


def recorded_view(db, customer_keys, what: str) -> bool:
    """Record, once per browser session, that the acting person viewed `what` of these
    customers' records (the audit of issue 24). False when the store cannot record it
    (read-only, busy): the caller then hides the data, as no view goes unrecorded."""
    actor = current_actor()   # a "who am I" pick in local mode changes who is viewing
    seen = st.session_state.setdefault(VIEWED, {}).setdefault(actor, set())
    if privacy_forget.record_views_once(db, customer_keys, actor=actor, what=what, seen=seen):
        return True
    st.caption("Customer data is hidden: this store could not record that you viewed it.")
    return False


def show_flash() -> None:
    kind, message, detail = st.session_state.pop(FLASH_KEY, (None, None, ""))
    if message:
        (st.error if kind == "error" else st.success)(message)  # our own wording only
        if detail:
            st.text(detail)  # may quote a name the analyst typed

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

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from analysis import store
from analysis.domain.filters import Filters
from analysis.settings import get_settings


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


def current_actor() -> str:
    """Who is acting, recorded with every write: the signed-in user once sign-in exists
    (it will set st.session_state["user"]), else the settings actor."""
    return st.session_state.get("user") or get_settings().actor


def page_start():
    """(db, filters) for a page run: the app shell ensured, the store opened, and the
    sidebar filters app.py parsed from the URL (defaults when there are none)."""
    ensure_app_shell()
    return store.connect(), st.session_state.get("filters") or Filters()


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
        write()
    except (ValueError, store.StoreError) as exc:
        flash("error", failure, str(exc))
        return False
    flash("success", success)
    return True


def show_flash() -> None:
    kind, message, detail = st.session_state.pop(FLASH_KEY, (None, None, ""))
    if message:
        (st.error if kind == "error" else st.success)(message)  # our own wording only
        if detail:
            st.text(detail)  # may quote a name the analyst typed

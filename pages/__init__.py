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

"""Closeloop: entry point, navigation and the sidebar filters every page shares.

The filters live in the URL's query string, so any view can be sent as a link; this file
reads them on a session's first run and writes them back on every run (navigation between
pages would otherwise drop them). Pages read the parsed filters from
st.session_state["filters"].
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import streamlit as st

from analysis import store
from analysis.auth import gate, pages_for
from analysis.domain.filters import (NPS_GROUPS, PAGE_PARAMS, Filters, clamp_dates,
                                     date_bounds, filter_options)
from analysis.settings import SettingsError, get_settings, prepare_offline_environment
from analysis.views.overview import default_period
from pages import sign_in_mode, signed_in

prepare_offline_environment()  # before any page imports a model library

# A local file, not a ":material/...:" name: Streamlit loads those favicons from an internet
# font server, and the app must work with no network (tests/e2e/test_offline.py).
ICON = Path(__file__).resolve().parent / "assets" / "closeloop.svg"
st.set_page_config(page_title="Closeloop", page_icon=ICON, layout="wide")

# No url_path anywhere: each page's URL is its file name. Until st.navigation has run once
# in a server process, Streamlit treats the pages/ folder as old-style pages: a fresh
# server's first session on /themes runs pages/themes.py without this file (no filters,
# no titles), and any other path opens "Page not found". Each page therefore starts with a
# guard that switches that fallback off and reruns through app.py; the default page lives
# at / only.
PAGES = {
    "Insights": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/themes.py", title="Themes", icon=":material/topic:"),
        st.Page("pages/trends.py", title="Trends", icon=":material/trending_up:"),
        st.Page("pages/benchmarks.py", title="Benchmarks", icon=":material/leaderboard:"),
        st.Page("pages/theme_quality.py", title="Theme quality", icon=":material/fact_check:"),
    ],
    "Act": [
        st.Page("pages/improvements.py", title="Improvements", icon=":material/construction:"),
        st.Page("pages/impact.py", title="Impact", icon=":material/insights:"),
        st.Page("pages/cases.py", title="Case queue", icon=":material/inbox:"),
        st.Page("pages/case_settings.py", title="Case settings", icon=":material/tune:"),
        st.Page("pages/templates.py", title="Templates", icon=":material/mail:"),
    ],
    "Data": [
        st.Page("pages/import.py", title="Import", icon=":material/upload_file:"),
    ],
    "Admin": [
        st.Page("pages/users.py", title="Users", icon=":material/manage_accounts:"),
    ],
}
DEFAULT_PAGE = "overview"


def page_name(page) -> str:
    """A page's file in pages/ without ".py" (permissions.PAGE_ACCESS's key); its URL path
    is that name, except the default page's (at /)."""
    return page.url_path or DEFAULT_PAGE


def role_menu(role: str) -> None:
    """In sign-in mode: the sidebar menu of the pages `role` may open, in PAGES' sections.
    Every page stays registered with st.navigation (hidden), so a link to a refused page
    leads to its refusal, which page_start says on the server."""
    allowed = set(pages_for(role))
    with st.sidebar:
        for section, entries in PAGES.items():
            shown = [p for p in entries if page_name(p) in allowed]
            if shown:
                st.caption(section)
            for page in shown:
                st.page_link(page, label=page.title, icon=page.icon)


_WIDGETS = {  # Filters field -> widget key
    "locations": "flt_locations",
    "segments": "flt_segments",
    "channels": "flt_channels",
    "touchpoints": "flt_touchpoints",
    "nps_groups": "flt_nps_groups",
}


@st.cache_data(max_entries=16, show_spinner=False)
def _options(db_path: str, revision: int) -> tuple[dict, tuple[date, date] | None]:
    db = store.connect(db_path)
    return filter_options(db), date_bounds(db)


def _load_filters_from_url(options: dict, bounds) -> None:
    """First run of a session: seed the widgets from the link that opened it."""
    url = Filters.from_query_params({k: st.query_params.get_all(k) for k in st.query_params})
    for name, key in _WIDGETS.items():
        allowed = NPS_GROUPS if name == "nps_groups" else options.get(name, [])
        st.session_state[key] = [v for v in getattr(url, name) if v in allowed]
    if bounds is not None:
        start, end = url.start, url.end
        if start is None and end is None:
            start, end = default_period(store.connect()) or bounds
        st.session_state["flt_dates"] = clamp_dates((start, end), bounds)


def sidebar_filters(db) -> Filters:
    options, bounds = _options(str(get_settings().db_path), store.revision(db))
    if "_filters_from_url" not in st.session_state:
        _load_filters_from_url(options, bounds)
        st.session_state["_filters_from_url"] = True
    with st.sidebar:
        st.header("Filters")
        start = end = None
        if bounds is None:
            st.caption("No feedback yet: filters appear once data is imported.")
        else:
            if "flt_dates" not in st.session_state:
                st.session_state["flt_dates"] = default_period(db) or bounds
            else:  # a hand-edited link or a store that shrank: keep the range pickable
                st.session_state["flt_dates"] = clamp_dates(st.session_state["flt_dates"], bounds)
            picked = st.date_input("Date range", key="flt_dates", format="YYYY-MM-DD",
                                   min_value=bounds[0], max_value=bounds[1])
            if isinstance(picked, (list, tuple)) and len(picked) == 2:
                start, end = picked
            elif isinstance(picked, (list, tuple)) and len(picked) == 1:
                start = picked[0]  # the second click of a range pick has not happened yet
        st.multiselect("Location", options.get("locations", []), key=_WIDGETS["locations"])
        st.multiselect("Segment", options.get("segments", []), key=_WIDGETS["segments"])
        st.multiselect("Channel", options.get("channels", []), key=_WIDGETS["channels"])
        st.multiselect("Touchpoint", options.get("touchpoints", []), key=_WIDGETS["touchpoints"])
        st.multiselect("NPS group", list(NPS_GROUPS), key=_WIDGETS["nps_groups"],
                       format_func=str.capitalize)
    filters = Filters(
        start=start, end=end,
        **{name: tuple(st.session_state.get(key, [])) for name, key in _WIDGETS.items()},
    )
    kept = {k: st.query_params.get_all(k) for k in PAGE_PARAMS if k in st.query_params}
    st.query_params.from_dict({**filters.to_query_params(), **kept})
    return filters


@st.cache_resource(show_spinner=False)
def _first_start(db_path: str, address: str | None) -> bool:
    """Once per server process (a failure is not cached: the next run tries again): in
    sign-in mode with no admin yet, make the first admin (CLOSELOOP_ADMIN_EMAIL ...) and
    print its one-time password to the server log, once; warn there when the demo users
    (published passwords) are still in the store."""
    one_time = gate.first_start(store.connect(db_path), os.environ, server_address=address)
    if one_time:
        email = os.environ.get("CLOSELOOP_ADMIN_EMAIL") or gate.DEFAULT_ADMIN_EMAIL
        print(f"Closeloop first start: the admin {email} "
              f"has the one-time password {one_time} (change it at the first sign-in; it is "
              f"shown only this once)", flush=True)
    warning = gate.demo_accounts_warning(store.connect(db_path))
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return True


try:
    database = store.connect()
except (store.StoreError, SettingsError) as exc:  # not a database, a bad CLOSELOOP_* value, ...
    st.navigation(PAGES)
    st.error(str(exc), icon=":material/error:")
    st.stop()
if sign_in_mode():
    try:
        _first_start(str(get_settings().db_path), st.get_option("server.address"))
    except (ValueError, store.StoreError) as exc:  # AccountError, PeopleError: a bad value
        print(f"Closeloop first start: {exc}", file=sys.stderr, flush=True)
        st.navigation(PAGES, position="hidden")
        st.error(f"First start: {exc}", icon=":material/error:")
        st.stop()
    navigation = st.navigation(PAGES, position="hidden")
    session = signed_in(database)  # the sign-in form and st.stop() without a session
    role_menu(session.app_role)
else:
    navigation = st.navigation(PAGES)
    signed_in(database)  # local mode: its banner
if store.is_read_only(database):
    st.sidebar.warning("Read-only: this database cannot be written (file permissions or a "
                       "read-only disk). Browsing and exports work; imports and theme changes "
                       "are switched off.", icon=":material/lock:")
st.session_state["filters"] = sidebar_filters(database)
try:
    navigation.run()
except store.StoreError as exc:
    # A write the store refused (read-only, disk full, busy past the timeout): the message
    # names the database and says nothing was written; a traceback would say nothing more.
    st.error(str(exc), icon=":material/error:")

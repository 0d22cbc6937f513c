"""No network needed: every page renders completely with the internet out of reach.

Every request to a host other than the app's own is aborted and recorded, so a font, icon,
image or script fetched from elsewhere fails the test instead of silently needing a network.
The favicon link is checked as well: browsers may fetch it late or lazily, after the
recorded requests are read.
"""

from __future__ import annotations

import ast
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import ROOT
from .test_journeys import assert_no_traceback, expect_navigation, wait_for_app_idle

pytestmark = pytest.mark.browser
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def app_pages() -> list[tuple[str, str]]:
    """(URL path, navigation title) of every st.Page in app.py. Parsed, not imported
    (importing app.py would run Streamlit), so a new page is covered without editing this."""
    pages = []
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text())):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page"):
            continue
        options = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        stem = ast.literal_eval(node.args[0]).rsplit("/", 1)[-1].removesuffix(".py")
        pages.append(("/" if options.get("default") else f"/{stem}", options["title"]))
    assert pages, "no st.Page(...) found in app.py"
    return pages


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname in LOCAL_HOSTS


@pytest.mark.parametrize("server", ["demo_app", "empty_app"])
@pytest.mark.parametrize("path,title", app_pages())
def test_every_page_renders_with_no_network(page, request, server, path, title):
    app = request.getfixturevalue(server)
    blocked: list[str] = []

    def only_local(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_local)
    # Routes do not cover websockets; the app's own is the only one it should open.
    page.on("websocket", lambda ws: None if is_local(ws.url) else blocked.append(ws.url))

    page.goto(app.url + path)
    expect_navigation(page)
    # Pages may add words after the navigation title ("Import" -> "Import feedback").
    heading = page.get_by_test_id("stMain").get_by_role(
        "heading", level=1, name=re.compile(rf"^{re.escape(title)}"))
    expect(heading).to_be_visible()
    wait_for_app_idle(page)
    expect(heading).to_be_visible()
    assert_no_traceback(page)

    assert blocked == [], f"{path} fetched from outside the app: {blocked}"
    icons = page.locator("link[rel~='icon']")
    expect(icons).not_to_have_count(0)
    hrefs = [icon.evaluate("link => link.href") for icon in icons.all()]
    assert all(is_local(href) for href in hrefs), f"favicon from outside the app: {hrefs}"
    # Not Streamlit's default: proves app.py's page_icon reached the browser.
    assert not any(href.endswith("/favicon.png") for href in hrefs), hrefs

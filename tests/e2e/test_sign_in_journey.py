"""Journey in headless Chromium against the real app listening on 0.0.0.0 (sign-in mode,
issue 24): a manager signs in, sees only their team's cases in the queue, and is refused
the Case settings page by the server."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from .conftest import (
    ROOT,
    SERVER_START_TIMEOUT,
    AppServer,
    child_env,
    free_port,
    python_executable,
    screenshot,
)

pytestmark = pytest.mark.browser
MANAGER = "mia.manager@staff.example"
ADMIN = "ada.admin@staff.example"
PASSWORD = "Tulip-Kettle-Orbit-93"


def start_signed_app(db_path, *, name: str, port: int | None = None,
                     extra_args: tuple[str, ...] = ()) -> AppServer:
    """Like conftest.start_app, but listening on every interface: sign-in mode."""
    port = port or free_port()
    log_path = db_path.parent / f"streamlit-{name}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [python_executable(), "-m", "streamlit", "run", "app.py",
             "--server.port", str(port), "--server.address", "0.0.0.0",
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", *extra_args],
            cwd=ROOT, env=child_env(db_path), stdout=log, stderr=subprocess.STDOUT)
    server = AppServer(db_path=db_path, port=port, process=process, log_path=log_path,
                       name=name)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"the {name} server exited early:\n{server.log()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"the {name} server did not start:\n{server.log()}", pytrace=False)
        time.sleep(0.25)


@pytest.fixture(scope="module")
def teams_store(e2e_dir, chromium_path):
    """The case-page store (seven cases of "Customer care"), two of its cases moved to a
    second team, a manager of Customer care and an admin with known passwords."""
    from analysis import store
    from analysis.auth import accounts
    from analysis.cases import people
    from tests.test_cases_page import build_store

    path = e2e_dir / "signin" / "closeloop.db"
    path.parent.mkdir()
    found = build_store(path, now=store.utcnow().replace(microsecond=0))
    db = store.connect(path)
    with store.write_transaction(db):
        other = people.save_team(db, "Back office", actor="test")
        manager = people.save_person(db, "Mia Manager", MANAGER, team_id=found["team"],
                                     role="manager", capacity=0, actor="test")
        admin = people.save_person(db, "Ada Admin", ADMIN, capacity=0, actor="test")
        cases = [r[0] for r in db.execute("SELECT id FROM cases ORDER BY id")]
        db.execute(f"UPDATE cases SET team_id = ? WHERE id IN ({cases[0]}, {cases[1]})",
                   [other])
    accounts.create_account(db, manager, app_role="manager", password=PASSWORD, actor="test")
    accounts.create_account(db, admin, app_role="admin", password=PASSWORD, actor="test")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path, cases[2:], cases[:2]


@pytest.fixture(scope="module")
def signed_app(teams_store):
    server = start_signed_app(teams_store[0], name="signin")
    yield server
    server.stop()


def sign_in(main) -> None:
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()
    main.get_by_role("textbox", name="Email").fill(MANAGER)
    main.get_by_role("textbox", name="Password").fill(PASSWORD)
    main.get_by_role("button", name="Sign in").click()


def test_a_manager_signs_in_sees_their_team_s_queue_and_is_refused_case_settings(
        page, signed_app, teams_store):
    _, team_cases, other_cases = teams_store
    page.goto(signed_app.url + "/")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
    sign_in(main)
    expect(main.get_by_role("heading", name="Overview")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text(f"Signed in as {MANAGER} (manager)")
    expect(sidebar.get_by_role("link", name="Case settings")).to_have_count(0)
    expect(sidebar.get_by_role("link", name="Templates")).to_have_count(0)

    sidebar.get_by_role("link", name="Case queue").click()
    expect(page).to_have_url(re.compile(r"/cases"))
    expect(main.get_by_role("heading", name="Case queue")).to_be_visible()
    expect(main).to_contain_text("You see the cases of your own teams only.")
    expect(main).to_contain_text(f"{len(team_cases)} matching case(s)")
    picker = main.get_by_test_id("stSelectbox").filter(has_text="Open case") \
        .get_by_role("combobox")
    expect(picker).to_have_value(re.compile(r"^#\d+ "))
    picked = int(re.match(r"^#(\d+) ", picker.input_value()).group(1))
    assert picked in team_cases and picked not in other_cases
    expect(main.get_by_role("heading", name=f"Case #{picked}")).to_be_visible()

    # Case settings is not in the menu; its address is refused by the server. A typed
    # address is a new browser session: the session cookie keeps the manager signed in.
    page.goto(signed_app.url + "/case_settings")
    expect(main.get_by_test_id("stAlert").filter(
        has_text="The manager role may not view page:case_settings.")).to_be_visible()
    expect(main.get_by_role("heading", name="Case settings")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "sign-in-manager-refused-case-settings")


def session_cookie(page) -> dict | None:
    return next((c for c in page.context.cookies()
                 if c["name"].startswith("closeloop_session_")), None)


def test_a_reload_stays_signed_in_until_sign_out(page, signed_app):
    page.goto(signed_app.url + "/")
    main = page.get_by_test_id("stMain")
    sidebar = page.get_by_test_id("stSidebar")
    sign_in(main)
    expect(sidebar).to_contain_text(f"Signed in as {MANAGER} (manager)")
    page.wait_for_function("document.cookie.includes('closeloop_session_')")
    cookie = session_cookie(page)
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert len(cookie["value"]) >= 40          # the random token, nothing about the user
    assert MANAGER not in cookie["value"]

    page.reload()
    expect(sidebar).to_contain_text(f"Signed in as {MANAGER} (manager)")
    expect(main.get_by_role("heading", name="Overview")).to_be_visible()

    sidebar.get_by_role("button", name="Sign out").click()
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()
    page.wait_for_function("!document.cookie.includes('closeloop_session_')")
    page.reload()
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_a_copied_cookie_of_a_signed_out_session_signs_nobody_in(page, signed_app, browser):
    page.goto(signed_app.url + "/")
    main = page.get_by_test_id("stMain")
    sign_in(main)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Signed in as")
    page.wait_for_function("document.cookie.includes('closeloop_session_')")
    copied = session_cookie(page)
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()

    other = browser.new_context()
    try:
        other.add_cookies([{k: copied[k] for k in ("name", "value", "domain", "path")}])
        stranger = other.new_page()
        stranger.goto(signed_app.url + "/")
        expect(stranger.get_by_test_id("stMain").get_by_role(
            "heading", name="Sign in to Closeloop")).to_be_visible()
        expect(stranger.get_by_text("Signed in as")).to_have_count(0)
    finally:
        other.close()


@pytest.fixture(scope="module")
def provider_app(teams_store):
    """The same store behind an app whose .streamlit/secrets.toml names an OpenID Connect
    provider: tests/oidc_provider.py, a real one on 127.0.0.1 that signs in the manager."""
    from tests.oidc_provider import OidcProvider

    port = free_port()
    with OidcProvider(email=MANAGER) as provider:
        secrets_file = teams_store[0].parent / "secrets.toml"
        secrets_file.write_text(provider.secrets_toml(
            redirect_uri=f"http://127.0.0.1:{port}/oauth2callback"), encoding="utf-8")
        server = start_signed_app(teams_store[0], name="oidc", port=port,
                                  extra_args=("--secrets.files", str(secrets_file)))
        yield server, provider
        server.stop()


def test_a_manager_signs_in_through_the_identity_provider(page, provider_app, teams_store):
    server, provider = provider_app
    _, team_cases, _ = teams_store
    page.goto(server.url + "/")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()
    expect(main.get_by_role("textbox", name="Email")).to_be_visible()   # passwords still work
    main.get_by_role("button", name="Sign in with your organisation's sign-in").click()

    # to the provider and back through /oauth2callback, signed in with the account's role
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text(f"Signed in as {MANAGER} (manager)")
    assert {"/authorize", "/token"} <= set(provider.requests)
    sidebar.get_by_role("link", name="Case queue").click()
    expect(main).to_contain_text(f"{len(team_cases)} matching case(s)")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "sign-in-identity-provider-manager")

    sidebar.get_by_role("button", name="Sign out").click()
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()
    page.reload()
    expect(main.get_by_role("heading", name="Sign in to Closeloop")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_the_identity_provider_s_word_alone_lets_nobody_in(page, provider_app):
    server, provider = provider_app
    provider.email = "stranger@elsewhere.example"
    try:
        page.goto(server.url + "/")
        main = page.get_by_test_id("stMain")
        main.get_by_role("button", name="Sign in with your organisation's sign-in").click()
        expect(main.get_by_test_id("stAlert").filter(
            has_text="Closeloop cannot let you in with this identity.")).to_be_visible()
        expect(main).to_contain_text(
            "There is no active Closeloop account for stranger@elsewhere.example")
        expect(page.get_by_text("Signed in as")).to_have_count(0)
        expect(page.get_by_test_id("stMetric")).to_have_count(0)
    finally:
        provider.email = MANAGER

"""Browser harness: seeded databases built from code, the real app as a subprocess, and
headless Chromium driven by Playwright's sync API.

Servers are session-scoped (a Streamlit start costs seconds on 2 cores) and each test gets a
fresh browser context, so cookies and session state never leak between journeys. The
browser is Debian's /usr/bin/chromium, never a downloaded one; with CI=true a missing
browser fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
]
SERVER_START_TIMEOUT = float(os.environ.get("CLOSELOOP_E2E_START_TIMEOUT", "120"))
# Generous: the first render on a fresh server imports pandas, plotly and friends on 2
# shared cores; later waits are much shorter in practice.
UI_TIMEOUT_MS = int(os.environ.get("CLOSELOOP_E2E_UI_TIMEOUT_MS", "60000"))
DEMO_ROWS = 2000
DEMO_SEED = 7


def python_executable() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(db_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CLOSELOOP_DB": str(db_path),
        "CLOSELOOP_MODEL_DIR": str(db_path.parent / "models"),
        "CLOSELOOP_ACTOR": "e2e",
        "HF_HUB_OFFLINE": "1",
        "NUMBA_CACHE_DIR": str(ROOT / ".numba_cache"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@dataclass
class AppServer:
    """A running `streamlit run app.py` on its own port and database."""

    db_path: Path
    port: int
    process: subprocess.Popen
    log_path: Path
    name: str = "app"
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_app(db_path: Path, *, name: str = "app", timeout: float = SERVER_START_TIMEOUT,
              log_dir: Path | None = None) -> AppServer:
    """Start the real app on `db_path` and wait until its health endpoint answers. The log
    goes beside the database unless `log_dir` says where (a read-only store's folder)."""
    port = free_port()
    log_path = (log_dir or db_path.parent) / f"streamlit-{name}-{port}.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [python_executable(), "-m", "streamlit", "run", "app.py",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=child_env(db_path), stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()  # the child holds its own descriptor
    server = AppServer(db_path=db_path, port=port, process=process, log_path=log_path, name=name)
    health = f"{server.url}/_stcore/health"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"the {name} server exited with code {process.returncode} before it "
                        f"was healthy; its output:\n{server.log()}", pytrace=False)
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"the {name} server did not answer {health} within {timeout:.0f} s; "
                        f"its output:\n{server.log()}", pytrace=False)
        time.sleep(0.25)


def build_demo_db(path: Path, *, rows: int = DEMO_ROWS, seed: int = DEMO_SEED,
                  themes: bool = True, now: str | None = None) -> dict:
    """A demo store built the way a newcomer's `make run` builds it, through
    `python -m analysis demo` (rows, sentiment, themes in two levels), with the tiny pipeline
    so that no browser test needs the real embedding model; `now` (ISO 8601) fixes where its
    history ends, for a journey that needs the same rows every time. Returns what was built."""
    from analysis import store

    command = [python_executable(), "-m", "analysis", "demo", "--db", str(path), "--rows",
               str(rows), "--seed", str(seed), "--truth", str(path.parent / "demo_truth.json"),
               "--pipeline", "tiny", "--themes" if themes else "--no-themes",
               *(["--now", now] if now else [])]
    out = subprocess.run(command, cwd=ROOT, env=child_env(path), capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}"
    info = {"themes": False, "output": out.stdout + out.stderr}
    if themes:
        db = store.connect(path)
        assert _has_themes(db), f"no theme fitted on the demo data:\n{info['output']}"
        db.close()
        info["themes"] = True
    return info


def _has_themes(db) -> bool:
    return db.execute("SELECT COUNT(*) FROM theme_assignments").fetchone()[0] > 0


# ------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver "
                   "(.ci/run does it); browser tests never download a browser")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def playwright_instance(chromium_path):
    from playwright.sync_api import expect, sync_playwright

    # expect() has its own 5 s default, separate from the context's timeout.
    expect.set_options(timeout=UI_TIMEOUT_MS)

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance, chromium_path):
    # launch() (not launch_persistent_context) gives Chromium a fresh temporary profile, so
    # no state from an earlier run or another engineer's browser can leak in.
    browser = playwright_instance.chromium.launch(
        executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB",
                                  timezone_id="UTC")
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
        except Exception:  # the page may be gone; the failure itself is what matters
            pass
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def demo_db(e2e_dir, chromium_path) -> Path:
    # chromium_path first: without a browser, skip before spending time on data.
    path = e2e_dir / "demo" / "closeloop.db"
    path.parent.mkdir()
    build_demo_db(path)
    return path


@pytest.fixture(scope="session")
def demo_app(demo_db):
    server = start_app(demo_db, name="demo")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def empty_app(e2e_dir, chromium_path):
    path = e2e_dir / "empty" / "closeloop.db"
    path.parent.mkdir()
    server = start_app(path, name="empty")
    yield server
    server.stop()


def screenshot(page, name: str) -> Path:
    """The end of a journey, kept under test-artifacts/ for a human to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target

"""Every setting Closeloop reads, in one place.

Settings come from environment variables so that the app, the CLI, a scheduler and the
tests all configure the same way. Read them with `get_settings()`; nothing else in the
project looks at `os.environ` for configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A CLOSELOOP_* variable holds a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    db_path: Path
    """SQLite file. `CLOSELOOP_DB`, default `data/closeloop.db` under the project root."""
    model_dir: Path
    """Where fitted theme models are saved. `CLOSELOOP_MODEL_DIR`, default `data/models`."""
    embedding_model: str
    """Sentence-transformers model: a folder on disk, or empty for the bundled
    all-MiniLM-L6-v2. `CLOSELOOP_EMBEDDING_MODEL`."""
    numba_cache_dir: Path
    """Numba compiles UMAP on first use; a writable cache makes later processes fast."""
    busy_timeout_ms: int
    """How long a writer waits for another writer before giving up. `CLOSELOOP_BUSY_TIMEOUT_MS`."""
    actor: str
    """Who the CLI and an unauthenticated app act as. `CLOSELOOP_ACTOR`, default `system`."""
    timezone: str
    """Time zone for naive timestamps in imported files. `CLOSELOOP_TZ`, default UTC."""
    job_stale_after_s: int
    """A running job (theme refresh) whose heartbeat is older than this many seconds is
    taken as dead and marked failed, so another can start. `CLOSELOOP_JOB_STALE_SECONDS`,
    default 300: jobs beat every 30 s or faster, so five minutes also absorbs a busy store
    and some clock skew between machines."""
    earliest_date: date
    """Feedback dated before this day is rejected as implausible (a typo, a default date
    like 1900-01-01, a mangled epoch). `CLOSELOOP_EARLIEST_DATE`, default 2000-01-01.
    Dates more than a day in the future are always rejected."""
    max_upload_bytes: int
    """Largest file the Import page reads. `CLOSELOOP_MAX_UPLOAD_MB`, default 200 (the size
    Streamlit's uploader accepts by default)."""
    operations_leads: dict[str, str]
    """Who owns a root-cause task at each location: `CLOSELOOP_OPERATIONS_LEADS`, e.g.
    `Northgate=ana@example.org; Old Town=ben@example.org; *=ops@example.org` (`*`: every
    other location and the network as a whole). Empty by default: tasks start unowned."""


def get_settings() -> Settings:
    """Read settings from the environment, fresh on every call (tests change it)."""
    env = os.environ
    db_path = Path(env.get("CLOSELOOP_DB") or PROJECT_ROOT / "data" / "closeloop.db")
    model_dir = Path(env.get("CLOSELOOP_MODEL_DIR") or db_path.parent / "models")
    return Settings(
        db_path=db_path,
        model_dir=model_dir,
        embedding_model=env.get("CLOSELOOP_EMBEDDING_MODEL", ""),
        numba_cache_dir=_numba_cache_dir(env),
        busy_timeout_ms=_positive_int(env, "CLOSELOOP_BUSY_TIMEOUT_MS", 30000),
        actor=_actor(env),
        timezone=_time_zone(env),
        job_stale_after_s=_positive_int(env, "CLOSELOOP_JOB_STALE_SECONDS", 300),
        earliest_date=_date(env, "CLOSELOOP_EARLIEST_DATE", date(2000, 1, 1)),
        max_upload_bytes=_positive_int(env, "CLOSELOOP_MAX_UPLOAD_MB", 200) * 1024 * 1024,
        operations_leads=_operations_leads(env),
    )


def _operations_leads(env) -> dict[str, str]:
    name = "CLOSELOOP_OPERATIONS_LEADS"
    leads: dict[str, str] = {}
    for number, item in enumerate((env.get(name) or "").split(";"), start=1):
        if not item.strip():
            continue
        location, sep, person = item.partition("=")
        if not sep or not location.strip() or not person.strip():
            raise SettingsError(f"{name} must list LOCATION=PERSON pairs separated by ';', "
                                f"item {number} is {item.strip()[:40]!r}")
        leads[location.strip()] = person.strip()
    return leads


def operations_lead(location: str | None, settings: Settings | None = None) -> str | None:
    """The operations lead of `location` (None: the network), else the `*` entry, else None."""
    leads = (settings or get_settings()).operations_leads
    return leads.get(location or "*") or leads.get("*")


def _date(env, name: str, default: date) -> date:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a date as YYYY-MM-DD, got {raw[:40]!r}") from None


def _actor(env) -> str:
    actor = env.get("CLOSELOOP_ACTOR", "system").strip()
    if not actor:
        raise SettingsError("CLOSELOOP_ACTOR must name who acts (it is recorded with every "
                            "write); it is set but blank")
    return actor


def _time_zone(env) -> str:
    name = (env.get("CLOSELOOP_TZ") or "UTC").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path such as "../etc"
        raise SettingsError(f"CLOSELOOP_TZ must be an IANA time zone such as "
                            f"Europe/Paris, got {name[:40]!r}") from None
    return name


def _numba_cache_dir(env) -> Path:
    return Path(env.get("NUMBA_CACHE_DIR") or PROJECT_ROOT / ".numba_cache")


def _positive_int(env, name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(f"{name} must be a whole number above 0, got {raw[:40]!r}")
    return value


def prepare_offline_environment() -> None:
    """Set the variables that keep model libraries offline and their caches writable.

    Must run before sentence-transformers, transformers or umap are imported: they read
    these at import time.
    """
    # Not get_settings(): this runs first thing in the CLI and app.py, and a bad
    # CLOSELOOP_* value must reach their one-line error, not fail here.
    numba_cache_dir = _numba_cache_dir(os.environ)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    numba_cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir))


# ------------------------------------------------------------------ delivery (issue 22)

SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
SMTP_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class DeliverySettings:
    """Where messages go and the credentials to send them: environment variables first,
    else `.streamlit/secrets.toml` ([smtp] and [webhooks] tables, `webhook_secret`). Never
    stored in the database or the repository (git ignores secrets.toml)."""
    smtp_host: str | None
    smtp_port: int
    smtp_security: str
    """starttls (port 587), ssl (port 465) or none (a local relay or a test server)."""
    smtp_user: str | None
    smtp_password: str | None
    smtp_from: str | None
    webhooks: dict[str, str]
    """Name -> URL: "alerts" (critical cases, spike alerts, escalations, Slack-style JSON)
    and "events" (case changes for a CRM or help desk, signed)."""
    webhook_secret: str | None
    """The HMAC-SHA256 key that signs every webhook (`Closeloop-Signature`)."""

    @property
    def can_email(self) -> bool:
        return bool(self.smtp_host and self.smtp_from)


def delivery_settings(secrets_file: Path | None = None) -> DeliverySettings:
    env = os.environ
    secrets = _secrets(secrets_file or SECRETS_FILE)
    smtp = secrets.get("smtp", {}) if isinstance(secrets.get("smtp"), dict) else {}

    def pick(name: str, key: str):
        value = env.get(name)
        if value is None or not value.strip():
            value = smtp.get(key)
        return str(value).strip() if value is not None and str(value).strip() else None

    security = (pick("CLOSELOOP_SMTP_SECURITY", "security") or "starttls").lower()
    if security not in SMTP_SECURITY:
        raise SettingsError(f"CLOSELOOP_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)},"
                            f" got {security[:20]!r}")
    port_text = pick("CLOSELOOP_SMTP_PORT", "port")
    default_port = {"starttls": 587, "ssl": 465, "none": 25}[security]
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise SettingsError(f"CLOSELOOP_SMTP_PORT must be a port number, got {port_text!r}")
    hooks = dict(secrets.get("webhooks", {})) if isinstance(secrets.get("webhooks"), dict) \
        else {}
    for number, item in enumerate((env.get("CLOSELOOP_WEBHOOKS") or "").split(";"), start=1):
        if not item.strip():
            continue
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise SettingsError(f"CLOSELOOP_WEBHOOKS must list NAME=URL pairs (http or https) "
                                f"separated by ';', item {number} is {item.strip()[:40]!r}")
        hooks[name.strip()] = url.strip()
    secret = env.get("CLOSELOOP_WEBHOOK_SECRET") or secrets.get("webhook_secret")
    return DeliverySettings(
        smtp_host=pick("CLOSELOOP_SMTP_HOST", "host"), smtp_port=port, smtp_security=security,
        smtp_user=pick("CLOSELOOP_SMTP_USER", "user"),
        smtp_password=pick("CLOSELOOP_SMTP_PASSWORD", "password"),
        smtp_from=pick("CLOSELOOP_SMTP_FROM", "from"),
        webhooks={k: str(v) for k, v in hooks.items()},
        webhook_secret=str(secret) if secret else None)


def _secrets(path: Path) -> dict:
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path} cannot be read: {exc}") from None

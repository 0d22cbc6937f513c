"""The sign-in gate's rules, without Streamlit: when sign-in is needed, which action each
page's writes need, and the first start's admin. `pages.page_start` applies them on every
page run; `app.py` runs `first_start` once per server process."""

from __future__ import annotations

from collections.abc import Mapping

from analysis.auth import permissions
from analysis.auth.accounts import ensure_first_admin

WRITE_ACTION: dict[str, str | None] = {
    "cases": "work cases",
    "case_settings": "edit case settings",
    "users": "manage users",
    "templates": "edit templates",
    "improvements": "edit improvements",
    "themes": "edit themes",
    "theme_quality": "edit themes",
    "trends": "edit alerts",
    "import": "import",
    "overview": "import",          # an empty store's "Load demo data" imports
    "benchmarks": None,
    "impact": None,
}
"""The action a page's writes need (None: the page writes nothing). Every page in
permissions.PAGE_ACCESS has an entry."""

assert set(WRITE_ACTION) == set(permissions.PAGE_ACCESS), "WRITE_ACTION must list every page"

DEFAULT_ADMIN_NAME = "Administrator"
DEFAULT_ADMIN_EMAIL = "admin@closeloop.local"
"""The first admin's email when CLOSELOOP_ADMIN_EMAIL is not set."""


def sign_in_required(server_address: str | None) -> bool:
    """Sign-in is needed unless the app listens on the loopback address alone."""
    return not permissions.local_mode_allowed(server_address)


def can_write(role: str | None, page: str | None) -> bool:
    """May `role` use the writes of `page`? A page that writes nothing: False. An unknown
    page (a script that is no page of pages/): only the admin."""
    if page not in WRITE_ACTION:
        return role == "admin"
    action = WRITE_ACTION[page]
    return action is not None and permissions.can(role, action)


def require_write(role: str | None, page: str | None) -> None:
    """Raise PermissionDenied unless `role` may use the writes of `page`."""
    if page in WRITE_ACTION and WRITE_ACTION[page] is not None:
        permissions.require(role, WRITE_ACTION[page])
    elif role != "admin":
        raise permissions.PermissionDenied(
            f"The {role} role may not change anything on the {page} page.")


def first_start(db, env: Mapping[str, str], *, server_address: str | None) -> str | None:
    """At a start that needs sign-in and has no admin yet: make the admin named by
    CLOSELOOP_ADMIN_EMAIL (CLOSELOOP_ADMIN_NAME, CLOSELOOP_ADMIN_PASSWORD optional).
    (DEFAULT_ADMIN_EMAIL when unset). Returns the one-time password to print once when no
    password was given, else None. Raises AccountError for an unusable password or email."""
    if not sign_in_required(server_address):
        return None
    if db.execute("SELECT 1 FROM accounts WHERE app_role = 'admin'").fetchone():
        return None
    email = (env.get("CLOSELOOP_ADMIN_EMAIL") or "").strip() or DEFAULT_ADMIN_EMAIL
    name = (env.get("CLOSELOOP_ADMIN_NAME") or "").strip() or DEFAULT_ADMIN_NAME
    password = env.get("CLOSELOOP_ADMIN_PASSWORD") or None
    return ensure_first_admin(db, email=email, name=name, password=password)


def demo_accounts_warning(db) -> str | None:
    """What to print in the server log when a store served beyond this machine still has the
    demo users, whose passwords the README publishes (None when it has none)."""
    from analysis.demo.staff import demo_accounts

    found = demo_accounts(db)
    if not found:
        return None
    return (f"Closeloop: this store has the demo users ({', '.join(found)}), whose passwords "
            f"are published in the README, so their published passwords sign nobody in here "
            f"(unless {DEMO_USERS_ALLOWED}=allow): reset their passwords or deactivate them "
            f"(python -m analysis users reset|deactivate --email ...)")


DEMO_USERS_ALLOWED = "CLOSELOOP_DEMO_USERS"
"""Set to "allow" to let the demo users sign in with their published passwords on a server
that needs sign-in (to try the roles on your own machine)."""


def published_password_refusal(email: str, password: str, env: Mapping[str, str]) -> str | None:
    """Why a sign-in with a demo user's published password (README) is refused on a server
    that needs sign-in, or None. Anyone who can reach the server could read that password:
    it signs nobody in unless CLOSELOOP_DEMO_USERS=allow. Once reset, the account signs in
    as any other."""
    from analysis.demo.staff import DEMO_USERS

    if (env.get(DEMO_USERS_ALLOWED) or "").strip().lower() == "allow":
        return None
    wanted = (email or "").strip().lower()
    if any(wanted == demo_email and password == demo_password
           for _, _, demo_email, demo_password in DEMO_USERS):
        return (f"{email.strip()} is a demo user whose password is published in the README, "
                f"so it signs nobody in on a server others can reach. Reset it (python -m "
                f"analysis users reset --email ...), or start the app with "
                f"{DEMO_USERS_ALLOWED}=allow to try the demo on your own machine.")
    return None


def require_case_action(role: str | None, action: str, *, team_ids, case_teams: Mapping,
                        case_ids) -> None:
    """Raise PermissionDenied unless `role` may take `action` ("work cases", "send
    follow-ups") on every one of `case_ids`, whose teams `case_teams` gives (case id ->
    team id; a case missing from it does not exist, and the write itself says so). A
    manager: only the cases of `team_ids`. The message names the case."""
    require_write(role, "cases")
    for case_id in case_ids:
        if int(case_id) not in case_teams:
            continue
        try:
            permissions.require(role, action, team_ids=team_ids,
                                case_team_id=case_teams[int(case_id)])
        except permissions.PermissionDenied as exc:
            raise permissions.PermissionDenied(
                f"Case #{int(case_id)}: {str(exc)[0].lower()}{str(exc)[1:]} Nothing was "
                "changed.") from None

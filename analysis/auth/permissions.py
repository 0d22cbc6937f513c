"""Who may do what: the one place that says it. Pages and the CLI ask `can` or `require`;
nothing else compares role names.

Roles (an account's `app_role`):
- admin: everything, including settings, users (the Users page) and routing rules;
- manager: works the cases of their own teams (and sends their follow-ups), reads the
  read-only pages, sees customer data;
- analyst: themes, trends, improvements, templates, theme quality and import; never sees
  customer names or contacts;
- viewer (leadership): the read-only pages only (overview, trends, benchmarks, impact, and
  themes without editing).

A page is reached through "view page:<name>" where <name> is its file in pages/ without
".py" (`PAGE_ACCESS` lists every one); what a page lets you change is a separate action
("edit themes" on the Themes page), so a viewer can read Themes but not rename one.
"""

from __future__ import annotations

ROLES = ("admin", "manager", "analyst", "viewer")

READ_ONLY_PAGES = ("overview", "trends", "benchmarks", "impact", "themes")

PAGE_ACCESS: dict[str, frozenset[str]] = {
    "overview": frozenset(ROLES),
    "trends": frozenset(ROLES),
    "benchmarks": frozenset(ROLES),
    "impact": frozenset(ROLES),
    "themes": frozenset(ROLES),              # viewers and managers read; "edit themes" edits
    "theme_quality": frozenset({"admin", "analyst"}),
    "improvements": frozenset({"admin", "analyst"}),
    "templates": frozenset({"admin", "analyst"}),
    "import": frozenset({"admin", "analyst"}),
    "cases": frozenset({"admin", "manager"}),
    "case_settings": frozenset({"admin"}),
    "users": frozenset({"admin"}),           # accounts and roles: "manage users"
}
"""Which roles may open each page in pages/ (key: the file name without ".py")."""

TEAM_ACTIONS = frozenset({"work cases", "send follow-ups"})
"""Actions a manager may take only on cases of their own teams."""

_ACTION_ROLES: dict[str, frozenset[str]] = {
    "work cases": frozenset({"admin", "manager"}),
    "send follow-ups": frozenset({"admin", "manager"}),
    "edit case settings": frozenset({"admin"}),
    "edit templates": frozenset({"admin", "analyst"}),
    "edit improvements": frozenset({"admin", "analyst"}),
    "edit themes": frozenset({"admin", "analyst"}),
    "edit alerts": frozenset({"admin", "analyst"}),
    "import": frozenset({"admin", "analyst"}),
    "manage users": frozenset({"admin"}),
    "export unmasked": frozenset({"admin"}),
    "view customer data": frozenset({"admin", "manager"}),
    # Viewers (leadership) read aggregates: comments reach them masked (privacy.display).
    "read comments unmasked": frozenset({"admin", "manager", "analyst"}),
}

ACTIONS: dict[str, frozenset[str]] = {
    **_ACTION_ROLES,
    **{f"view page:{page}": roles for page, roles in PAGE_ACCESS.items()},
}
"""Every action, and the roles that may take it (before the managers' team limit)."""

ANY_CASE = object()
"""`can`'s default case_team_id: the question is about the action in general, not one case.
Pass a case's `team_id` (None for a case without a team) to ask about that case."""


class PermissionDenied(PermissionError):
    """A role tried an action it may not take; the message names the role and the action."""


def _action(action: str) -> str:
    if action.startswith("view page:") and action.endswith(".py"):
        action = action[:-3]
    if action not in ACTIONS:
        raise ValueError(f"action: unknown action {action[:60]!r}")
    return action


def _refusal(role, action: str, *, team_ids=None, case_team_id=ANY_CASE) -> str | None:
    """Why `role` may not take `action` (None when it may)."""
    action = _action(action)
    if role not in ROLES:
        return f"{str(role)[:30]!r} is not a role (one of {', '.join(ROLES)}), so it may not " \
               f"{action}"
    if role not in ACTIONS[action]:
        return f"the {role} role may not {action}"
    if (role == "manager" and action in TEAM_ACTIONS and case_team_id is not ANY_CASE
            and (case_team_id is None or case_team_id not in set(team_ids or ()))):
        return f"the {role} role may {action} only for cases of their own teams"
    return None


def can(role: str | None, action: str, *, team_ids=None, case_team_id=ANY_CASE) -> bool:
    """May `role` take `action`? For "work cases" and "send follow-ups" on one case, pass the
    case's team as `case_team_id` and the acting person's teams as `team_ids`: a manager
    may act only on cases of their teams (a case without a team included: refused).
    An unknown action raises ValueError (a typo must not silently refuse or allow)."""
    return _refusal(role, action, team_ids=team_ids, case_team_id=case_team_id) is None


def require(role: str | None, action: str, *, team_ids=None, case_team_id=ANY_CASE) -> None:
    """Raise PermissionDenied (naming the role and the action) unless `can`."""
    reason = _refusal(role, action, team_ids=team_ids, case_team_id=case_team_id)
    if reason is not None:
        raise PermissionDenied(reason[0].upper() + reason[1:] + ".")


def pages_for(role: str | None) -> list[str]:
    """The pages `role` may open, in PAGE_ACCESS order."""
    return [page for page, roles in PAGE_ACCESS.items() if role in roles]


def shows_customer_data(role: str | None) -> bool:
    """Whether customer names, emails and contacts are shown unmasked to `role`."""
    return can(role, "view customer data")


LOCAL_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})


def local_mode_allowed(address: str | None) -> bool:
    """Whether the no-sign-in local mode may run: only while the app listens on the loopback
    address alone (127.0.0.1, localhost or ::1). Empty (Streamlit's default: every
    interface), 0.0.0.0, :: or any other address needs sign-in."""
    text = (address or "").strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text in LOCAL_ADDRESSES

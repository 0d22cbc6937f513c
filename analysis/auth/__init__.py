"""Users and roles: accounts, sign-in and sessions (`accounts`), who may do what
(`permissions`, the one place that says it), and an admin's managing of accounts by email
(`users`: the users CLI and the Users page)."""

from analysis.auth.accounts import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_FAILED_ATTEMPTS,
    MIN_PASSWORD_LENGTH,
    SIGN_IN_REFUSED,
    AccountError,
    AuthError,
    Session,
    create_account,
    ensure_first_admin,
    list_accounts,
    password_problem,
    reset_password,
    session_for,
    set_password,
    set_role,
    sign_in,
    sign_out,
)
from analysis.auth.permissions import (
    ACTIONS,
    PAGE_ACCESS,
    ROLES,
    PermissionDenied,
    can,
    local_mode_allowed,
    pages_for,
    require,
    shows_customer_data,
)

__all__ = [
    "ABSOLUTE_TIMEOUT", "ACTIONS", "IDLE_TIMEOUT", "MAX_FAILED_ATTEMPTS",
    "MIN_PASSWORD_LENGTH", "PAGE_ACCESS", "ROLES", "SIGN_IN_REFUSED", "AccountError",
    "AuthError", "PermissionDenied", "Session", "can", "create_account", "ensure_first_admin",
    "list_accounts", "local_mode_allowed", "pages_for", "password_problem", "require",
    "reset_password", "session_for", "set_password", "set_role", "shows_customer_data",
    "sign_in", "sign_out",
]

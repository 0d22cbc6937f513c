"""`python -m analysis ...`: everything a scheduler or a script needs.

Each command opens the store with `store.connect` and calls the same functions the pages
call. Heavy modules (models) are imported inside the commands that need them, so that
`--help` and quick commands stay fast.

A failure the user can meet and fix (a read-only or full or busy store, a file that is not
a database, an unreadable input, a bad setting) ends the command with one line on stderr,
`error: ...`, and exit code 1; anything else is a bug and keeps its traceback.

`common` holds the group and what the commands share; each other module one job's commands
(importing it registers them on the group).
"""

from analysis.cli import cases, data, improvements, insights, templates, themes, users
from analysis.cli.cases import CASE_CLI_FIELDS
from analysis.cli.common import cli
from analysis.cli.improvements import IMPROVEMENT_FIELDS, STATUS_CHOICE, WHOM_FIELDS

__all__ = ["CASE_CLI_FIELDS", "IMPROVEMENT_FIELDS", "STATUS_CHOICE", "WHOM_FIELDS", "cases",
           "cli", "data", "improvements", "insights", "templates", "themes", "users"]

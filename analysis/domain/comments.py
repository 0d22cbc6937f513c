"""What counts as a comment: text with something other than white space in it."""

from __future__ import annotations

SHOWN_COMMENT_CHARS = 2_000
"""Characters of one comment a page shows: a 1 MB comment is stored whole (and exported
whole) but must not be sent to a browser whole."""

# SQL's TRIM removes spaces only unless told which characters: tab, line feed, carriage
# return and space are what Python's str.strip() removes from a typed comment.
_WHITESPACE = "' ' || char(9) || char(10) || char(13)"


def has_comment(text: str | None) -> bool:
    """Whether `text` says anything: the same rule as `has_comment_sql`."""
    return bool(text and text.strip(" \t\n\r"))


def has_comment_sql(alias: str = "f") -> str:
    """SQL, true where the row has a comment (the same rule as `has_comment`)."""
    return f"(TRIM(COALESCE({alias}.comment, ''), {_WHITESPACE}) != '')"


def shown_comment_sql(alias: str = "f", limit: int = SHOWN_COMMENT_CHARS) -> str:
    """SQL for a comment as a page shows it: whole up to `limit` characters, else cut and
    saying its length."""
    column = f"{alias}.comment"
    return (f"(CASE WHEN length({column}) > {int(limit)} THEN substr({column}, 1, {int(limit)})"
            f" || '… (' || length({column}) || ' characters)' ELSE {column} END)")

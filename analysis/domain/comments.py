"""What counts as a comment: text with something other than white space in it."""

from __future__ import annotations


def has_comment(text: str | None) -> bool:
    return bool(text and text.strip())


def has_comment_sql(alias: str = "f") -> str:
    """SQL, true where the row has a comment (the same rule as `has_comment`)."""
    return f"(TRIM(COALESCE({alias}.comment, '')) != '')"

"""Quoting user-supplied values in messages, at a bounded size.

Every message that repeats what a user gave (a reject reason, an error on a page, a line on
stderr, a log) quotes it through `excerpt`, so a 50 MB "column name" or a line of random
bytes becomes a short, readable quote that says how long the original was:

    >>> excerpt("x" * 50_000_000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (a 50,000,000-character value)"
    >>> excerpt("9,5")
    "'9,5'"
"""

from __future__ import annotations

EXCERPT_CHARS = 48
"""Characters of a long value kept in a message: enough to recognise it in the file."""


def excerpt(value: object, limit: int = EXCERPT_CHARS, *, noun: str = "value") -> str:
    """`repr` of a string, cut to `limit` characters with its full length named when longer.

    Control characters are escaped by repr, so a value cannot break a message's line or
    a terminal; the cut happens before repr so the escaping cannot make it long again.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    quoted = repr(text[:limit])
    return f"{quoted[:-1]}…{quoted[-1]} (a {len(text):,}-character {noun})"


def clip(message: str, limit: int = 400) -> str:
    """A whole message cut to `limit` characters (for text from libraries that may quote
    a user's value at any length, such as a CSV parser's error)."""
    if len(message) <= limit:
        return message
    return message[:limit] + f"… ({len(message):,} characters in all)"


def excerpts(values, limit: int = 20) -> str:
    """Comma-separated excerpts of the first `limit` values, saying how many were left out:
    a file's column list in a message, whatever the file holds."""
    values = list(values)
    shown = ", ".join(excerpt(v) for v in values[:limit])
    return shown + (f", … ({len(values) - limit:,} more)" if len(values) > limit else "")

"""Readable theme names from a topic's keywords."""

from __future__ import annotations

from collections.abc import Sequence


def _crude_stem(word: str) -> str:
    """Enough to see "queue queued" or "wait waiting" as one word twice; not a real stemmer."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def auto_name(keywords: Sequence[str], *, n: int = 3) -> str:
    """A readable name from top keywords, e.g. "wait / queue / minutes": a keyword whose words
    are all already shown is skipped ("wait time" after "wait" and "time"), and so is a
    bigram that says one word twice ("slow slow", "queue queued": c-TF-IDF picks these up
    from "slow, slow service" and reads nothing into them)."""
    chosen: list[str] = []
    seen: set[str] = set()
    for keyword in keywords:
        words = keyword.split()
        tokens = set(words)
        if not tokens or tokens <= seen or len({_crude_stem(w) for w in words}) < len(words):
            continue
        chosen.append(keyword)
        seen |= tokens
        if len(chosen) == n:
            break
    return " / ".join(chosen) if chosen else "misc"

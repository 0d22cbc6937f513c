"""Text as the theme model sees it: what people say, not where they said it or who they are.

Themes are found in cleaned text; the stored comment is never changed. Cleaning removes what
would make a cluster about a place or a person rather than a subject: @handles, URLs, e-mail
addresses, redaction masks ("XXXX"), the names of locations and customers (whole words, any
case), and the '#' of
hashtags (the word stays: "#refund" is about refunds). A theme named after a branch or a
handle is a defect, so the theme model also treats the words of those names as stop words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# A URL's trailing punctuation belongs to the sentence, not the URL.
_URL = re.compile(r"(?:https?://|www\.)\S*[^\s.,;:!?)\]'\"]", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_HASH = re.compile(r"(?<![\w#])#(?=\w)")
_SPACE = re.compile(r"\s+")
# Redaction masks left by exports (CFPB's "XX/XX/XXXX", "XXXX", "****"): without this they
# become the most frequent "word" of every theme. Upper-case X only, so "xx" slang stays.
_REDACTED = re.compile(r"\b(?:X{2,}[/-]?)+\b|\*{3,}")
_WORD = re.compile(r"\w+")


def _normalise_names(names: Iterable[str]) -> tuple[str, ...]:
    found = {_SPACE.sub(" ", str(n)).strip() for n in names if n is not None}
    # Longest first, so "North Park Mall" goes before "North Park".
    return tuple(sorted((n for n in found if n), key=lambda n: (-len(n), n.casefold())))


@lru_cache(maxsize=4096)  # per comment's candidate names too (see _NameFinder)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern | None:
    if not names:
        return None
    parts = []
    for name in names:
        # Inner spaces match any run of whitespace; \b only where the name starts/ends with
        # a word character, so "O'Hare" or "#1 Store" still match as whole words.
        body = r"\s+".join(re.escape(piece) for piece in name.split(" "))
        start = r"\b" if re.match(r"\w", name) else r"(?<!\w)"
        end = r"\b" if re.search(r"\w$", name) else r"(?!\w)"
        parts.append(f"{start}{body}{end}")
    return re.compile("|".join(parts), re.IGNORECASE)


def names_pattern(names: Iterable[str]) -> re.Pattern | None:
    """A compiled pattern matching any of `names` as whole words (cached per name set)."""
    return _names_pattern(_normalise_names(names))


class _NameFinder:
    """`names_pattern` for thousands of names (every customer's): one alternation of them all
    costs a try per name at every position of every comment (minutes on 20k comments). A name
    can only match where its first word stands as a whole word, so each text is matched
    against the alternation of just those names, in the same longest-first order: the same
    matches, at a cost that grows with the text, not with the number of names."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.by_first_word: dict[str, list[int]] = {}
        self.always: list[int] = []  # names without a word character
        for index, name in enumerate(names):
            first = _WORD.search(name)
            if first is None:
                self.always.append(index)
            else:
                self.by_first_word.setdefault(first.group(0).casefold(), []).append(index)

    def sub(self, replacement: str, text: str) -> str:
        found = set(self.always)
        for word in {w.casefold() for w in _WORD.findall(text)}:
            found.update(self.by_first_word.get(word, ()))
        if not found:
            return text
        return _names_pattern(tuple(self.names[i] for i in sorted(found))).sub(replacement, text)


def clean_for_clustering(text: str | None, *, names: Iterable[str] | _NameFinder = ()) -> str:
    """`text` without handles, URLs, e-mails, '#' marks and the given names; spaces collapsed."""
    if not text:
        return ""
    text = _URL.sub(" ", str(text))
    text = _EMAIL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _HASH.sub("", text)
    text = _REDACTED.sub(" ", text)
    finder = names if isinstance(names, (re.Pattern, _NameFinder)) else names_pattern(names)
    if finder is not None:
        text = finder.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def clean_many(texts: Iterable[str | None], *, names: Iterable[str] = ()) -> list[str]:
    """`clean_for_clustering` over many texts, indexing the names once."""
    finder = _NameFinder(_normalise_names(names))
    return [clean_for_clustering(t, names=finder) for t in texts]


def name_words(names: Iterable[str]) -> set[str]:
    """Lower-cased words of the names, for the theme vectorizer's stop words: a name the
    cleaner missed (a misspelling, a possessive) still never becomes a theme keyword."""
    words: set[str] = set()
    for name in names:
        if name:
            words.update(w.casefold() for w in _WORD.findall(str(name)) if len(w) > 1)
    return words

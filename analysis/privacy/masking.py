"""Mask personal data inside free text (issue 24): emails, IBANs, payment cards, phones.

    mask_text("Call me on +44 20 7946 0958 or mail jo@example.com")
    -> "Call me on [phone] or mail [email]"

The passes run in this order, each on the output of the one before:

1. email addresses -> "[email]" (local part of RFC 5322 "atext" characters and dots, an
   "@", a domain of at least two dot-separated labels);
2. IBANs -> "[iban]": two letters, two check digits, 11 to 30 letters or digits, written
   compact or in groups separated by single spaces, that pass the ISO 13616 mod-97 check
   (so "AB12 CDEF..." that merely looks like one stays). Of the lengths that pass, the one
   taken leaves no part of a following IBAN or number behind: by chance an IBAN with the
   start of what follows can pass the check too;
3. payment cards -> "[card]": 13 to 19 digits, compact or in groups separated by single
   spaces or dashes, that pass the Luhn check. Any run of consecutive groups is tried, so
   a card written right after another number ("order 12 4111 1111 1111 1111") is found;
4. phone numbers and long numbers: a run of digit groups (optionally starting with "+" or
   "(", groups separated by one or two of space, dash, dot, parentheses) with
   - fewer than 7 digits: kept (years, prices, short order numbers, "order 4521");
   - 7 to 15 digits (E.164 allows 15 at most) -> "[phone]";
   - 16 or more digits -> "[number]". Such a number failed the Luhn check of pass 3, so
     it is not a valid card, but it is most likely a card with a typo (which still shows
     15 correct digits), an account or a reference number: it is masked rather than kept.
   Kept as they are: a run that contains a date (2025-03-04, 04.03.2025, 04/03/2025 with
   a four-digit year), a decimal number (one dot and no other separator: 1234567.89), a
   number right after a currency sign, a letter, a dot or a comma (£1234567, ref1234567,
   3.14159265), and times (the colon is not a phone separator).

Limits: names, street addresses and national identifiers without digits are not
recognised; an order or tracking number of 7 digits or more is masked as "[phone]" or
"[number]" (privacy first); a phone number written with unusual separators (slashes,
commas) is masked only in its parts of 7 digits or more.

Speed: the regexes are compiled once and a comment without a digit or an "@" skips the
passes that need one, so 100,000 typical comments take well under a few seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

EMAIL, IBAN, CARD, PHONE, NUMBER = "[email]", "[iban]", "[card]", "[phone]", "[number]"
NAME = "[name]"
MASKED_COLUMNS = ("comment",)
"""The free-text columns that `mask_row` masks by default."""

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@" + _LABEL + r"(?:\." + _LABEL + r")+")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_CARD = re.compile(r"(?<![\d+])\d+(?:[ -]\d+)*")
_PHONE = re.compile(r"(?<![\w@£$€¥.,+-])(?:\+ ?|\()?\d+(?:[ .()-]{1,2}\d+)*")
_DIGIT = re.compile(r"\d")
_GROUP = re.compile(r"\d+")
_DATE = re.compile(r"(?<!\d)(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4})(?!\d)")
_DECIMAL = re.compile(r"\d+\.\d+")
_NUMBER_RUNS_ON = re.compile(r"[\d .()+-]*")


def mask_text(text: str) -> str:
    """`text` with email addresses, IBANs, card and phone numbers replaced by "[email]",
    "[iban]", "[card]", "[phone]" (or "[number]" for 16+ digits that are not a card)."""
    if not text:
        return text
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    if _DIGIT.search(text) is None:
        return text
    text = _mask_ibans(text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


def mask_value(value: Any) -> Any:
    """A string masked with `mask_text`; anything else (None, numbers, NaN) unchanged."""
    return mask_text(value) if isinstance(value, str) else value


def mask_row(row: Mapping, columns: Iterable[str] = MASKED_COLUMNS) -> dict:
    """A copy of `row` with `columns` (those present) masked."""
    out = dict(row)
    for column in columns:
        if column in out:
            out[column] = mask_value(out[column])
    return out


def identity_masker(emails: Iterable[str] = (), names: Iterable[str] = ()):
    """A function that masks text like `mask_text` and also takes out one customer's own
    `emails` (any case -> "[email]", even where the email pattern would miss them) and
    `names` (each name whole and each of its words of 3 letters or more, as whole words in
    any case -> "[name]"). Values that are not strings pass through unchanged.

    For text known to be one customer's (their comment in a shared report, an erasure):
    mask_text alone cannot know that "Jo Bloggs" is a name. `mask_text` goes first, so
    the own email or name inside someone else's address cannot cut that address in two."""
    emails = sorted({e.strip() for e in emails if e and e.strip()})
    names = [n.strip() for n in names if n and n.strip()]
    own_emails = (re.compile("|".join(re.escape(e) for e in emails), re.IGNORECASE)
                  if emails else None)
    words = {n for name in names for n in [name, *name.split()] if len(n) >= 3}
    own_names = None
    if words:
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        own_names = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def mask(text):
        if not isinstance(text, str):
            return text
        text = mask_text(text)
        if own_emails is not None:
            text = own_emails.sub(EMAIL, text)
        return own_names.sub(NAME, text) if own_names is not None else text

    return mask


# ------------------------------------------------------------------ checks

def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    total = 0
    for k, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if k % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    """ISO 13616 mod-97: move the first four characters to the end, letters to 10..35,
    and the number modulo 97 must be 1."""
    compact = compact.upper()
    if not (15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit()
            and compact.isalnum() and compact.isascii()):
        return False
    rearranged = compact[4:] + compact[:4]
    remainder = 0
    for char in rearranged:
        value = int(char, 36)
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


# ------------------------------------------------------------------ the passes

def _mask_ibans(text: str) -> str:
    out, done, pos = [], 0, 0
    while (match := _IBAN.search(text, pos)) is not None:
        # The match may have swallowed the words after the IBAN ("... 7654 32 THANKS"), or
        # stopped inside a longer one: scan again right after whatever was (or was not)
        # an IBAN.
        end = _iban_end(text, match)
        if end is not None:
            out += [text[done:match.start()], IBAN]
            done = pos = match.start() + end
        else:
            spaces = _space_ends(match.group(0))
            pos = match.start() + spaces[0] + 1 if len(spaces) > 1 else match.end()
    return "".join(out) + text[done:] if out else text


def _space_ends(found: str) -> list[int]:
    """Where a prefix of an _IBAN match can end: at each space, and at its end."""
    return [k for k, char in enumerate(found) if char == " "] + [len(found)]


def _iban_end(text: str, match: re.Match) -> int | None:
    """How long the IBAN at the start of `match` is (None when no prefix of it ending at
    a space passes the check). An IBAN may be written right before another IBAN or a
    number, and by chance the IBAN with a part of what follows may pass the check too,
    which would leave the rest unmasked. So of the prefixes that pass, the one chosen
    swallows the start of no other IBAN going on past it, then leaves the fewest digits
    behind for the card and phone passes to miss, then is the longest."""
    found = match.group(0)
    valid = [e for e in _space_ends(found) if iban_ok(found[:e].replace(" ", ""))]
    if not valid:
        return None

    def cost(end: int) -> tuple:
        stop = match.start() + end
        inner = [match.start() + k + 1 for k in _space_ends(found) if k < end]
        swallows = any(_iban_past(text, start, stop) for start in inner)
        return swallows, _digits_left(text, stop, match.end()), -end

    return min(valid, key=cost)


def _digits_left(text: str, stop: int, match_end: int) -> int:
    """Digits the card and phone passes would leave unmasked right after an IBAN ending
    at `stop`: in the rest of its match and the number that runs on from it."""
    rest = text[stop:match_end] + _NUMBER_RUNS_ON.match(text, match_end).group(0)
    rest = _PHONE.sub(_phone, _CARD.sub(_card, rest))
    return sum(1 for char in rest if "0" <= char <= "9")


def _iban_past(text: str, start: int, stop: int) -> bool:
    """Whether a valid IBAN starts at `start` and ends after `stop`."""
    match = _IBAN.match(text, start)
    if match is None:
        return False
    found = match.group(0)
    return any(start + e > stop and iban_ok(found[:e].replace(" ", ""))
               for e in _space_ends(found))


def _card(match: re.Match) -> str:
    found = match.group(0)
    spans = [m.span() for m in _GROUP.finditer(found)]
    digits = sum(end - start for start, end in spans)
    if digits < 13:
        return found
    window = _luhn_window(found, spans)
    if window is None:
        return found
    first, last = window
    start, end = spans[first][0], spans[last][1]
    rest = found[end:]
    return found[:start] + CARD + (_CARD.sub(_card, rest) if rest else "")


def _luhn_window(found: str, spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first run of consecutive digit groups (longest first from each start) holding
    13 to 19 digits that passes the Luhn check, as (first group, last group)."""
    for first in range(len(spans)):
        total, candidates = 0, []
        for last in range(first, len(spans)):
            total += spans[last][1] - spans[last][0]
            if total > 19:
                break
            if total >= 13:
                candidates.append(last)
        for last in reversed(candidates):
            text = "".join(found[s:e] for s, e in spans[first:last + 1])
            if luhn_ok(text):
                return first, last
    return None


def _phone(match: re.Match) -> str:
    found = match.group(0)
    digits = sum(1 for char in found if "0" <= char <= "9")
    if digits < 7:
        return found
    if _DATE.search(found) or _DECIMAL.fullmatch(found):
        return found
    return PHONE if digits <= 15 else NUMBER

"""Who sees what (issue 24): the one rule that every page, its views and the shared reports
apply to comment text and to customer fields.

    comment_for_role("call me on 020 7946 0958", "viewer")   -> "call me on [phone]"
    customer_value("Jo Bloggs", "analyst")                    -> "[hidden]"
    frame_for_role(comments, "viewer")       # a copy: comments masked, customers hidden

- Comment text is masked with `mask_text` (emails, phone numbers, Luhn-valid card numbers,
  IBANs) for viewers, and for anything that is not one of our roles (None, a typo): fail
  closed. Admins, managers and analysts read comments as written: they work with single
  comments (cases, theme audits, evidence) and need the customer's words.
- Customer name, email, id and key (CUSTOMER_COLUMNS; a key can hold an email) are shown
  only to the roles that `permissions.shows_customer_data` (admin, manager); for every
  other role each becomes HIDDEN. A missing value stays missing: that the customer is
  unknown says nothing about them.
- Text written by or to one known customer (their feedback in a template preview, a
  message to them) is part of that customer's record: shown as written only to the roles
  that see customer data, masked for the others (`customer_text`).
- A shared report (the weekly report: mailed to a list, downloaded, forwarded on) has no
  reader whose role could be asked, so its quotes are always masked, and each quote's own
  customer's name and email are taken out too (`shared_quote`).

Cut text: a comment cut to a length (ending in "… (2345 characters)", or to a length the
caller gives as `cut_at`, such as a map's first 140 characters) may end inside an email or
a card number, which the masks would no longer recognise; its last, possibly partial, word
and the words with digits or an "@" just before it are dropped before masking. (A cut IBAN
may still show its first groups.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from analysis.auth.permissions import can, shows_customer_data
from analysis.privacy.masking import MASKED_COLUMNS, identity_masker, mask_text

HIDDEN = "[hidden]"
"""What a role that may not see customer data sees instead of a name, email, id or key."""
CUSTOMER_COLUMNS = ("customer_id", "customer_name", "customer_email", "customer_key")
"""The columns that identify a customer, wherever a table carries them."""
COMMENT_COLUMNS = MASKED_COLUMNS
"""The free-text columns a customer wrote (what an export masks too)."""
# How a page's query ends a comment it cut (domain.comments.shown_comment_sql).
_CUT_MARK = re.compile(r"… \(\d+ characters\)$")
_NUMBER_LIKE = re.compile(r"[\d@]")

__all__ = ["COMMENT_COLUMNS", "CUSTOMER_COLUMNS", "HIDDEN",
           "comment_for_role", "customer_text", "customer_value", "frame_for_role",
           "hide_customer_fields", "hides_message", "message_for_role",
           "reads_comments_as_written", "row_for_role", "shared_quote", "shown_customer_keys",
           "shows_customer_data"]


def reads_comments_as_written(role: str | None) -> bool:
    """Whether `role` reads comment text unmasked (the "read comments unmasked" action:
    admin, manager, analyst; an unknown role does not)."""
    return can(role, "read comments unmasked")


def comment_for_role(text: Any, role: str | None, *, cut_at: int | None = None) -> Any:
    """A comment as `role` may read it: as written, or masked with `mask_text`. `cut_at`:
    the text was cut to this many characters by its query, so when it is that long its
    last word may be a fragment and is dropped before masking. Not a string: unchanged."""
    if not isinstance(text, str) or reads_comments_as_written(role):
        return text
    return _masked(text, cut_at)


def customer_value(value: Any, role: str | None) -> Any:
    """A customer's name, email, id or key as `role` may see it: itself, or HIDDEN.
    Missing (None, NaN, blank) stays as it is."""
    if shows_customer_data(role) or _missing(value):
        return value
    return HIDDEN


def customer_text(text: Any, role: str | None, *, cut_at: int | None = None) -> Any:
    """Text by or to one known customer (their feedback in a preview, a message to them):
    as written for the roles that see customer data, masked for the others; `cut_at` as
    in `comment_for_role`."""
    if not isinstance(text, str) or shows_customer_data(role):
        return text
    return _masked(text, cut_at)


def row_for_role(row: Mapping, role: str | None) -> dict:
    """A copy of `row` with its comment columns and customer columns (those present) as
    `role` may see them."""
    out = dict(row)
    for column in COMMENT_COLUMNS:
        if column in out:
            out[column] = comment_for_role(out[column], role)
    for column in CUSTOMER_COLUMNS:
        if column in out:
            out[column] = customer_value(out[column], role)
    return out


def frame_for_role(frame: pd.DataFrame, role: str | None, *,
                   cut_at: int | None = None) -> pd.DataFrame:
    """`row_for_role` for a table: a copy with its comment and customer columns (those
    present) as `role` may see them; `cut_at` as in `comment_for_role`."""
    out = frame.copy()
    for column in COMMENT_COLUMNS:
        if column in out and not reads_comments_as_written(role):
            out[column] = out[column].map(lambda t: comment_for_role(t, role, cut_at=cut_at))
    if not shows_customer_data(role):
        out = hide_customer_fields(out)
    return out


def hide_customer_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose customer columns are HIDDEN whoever looks (missing values
    kept): for a page that could not record who viewed them."""
    out = frame.copy()
    for column in CUSTOMER_COLUMNS:
        if column in out:
            out[column] = out[column].astype(object).map(
                lambda v: v if _missing(v) else HIDDEN)
    return out


def shown_customer_keys(rows: pd.DataFrame | Iterable[Mapping]) -> list[str]:
    """The customer keys a table (or a list of rows) shows in the clear (not hidden, not
    missing), each once: whose data a page shows, for the audit of record views."""
    if isinstance(rows, pd.DataFrame):
        keys = list(rows["customer_key"]) if "customer_key" in rows else []
    else:
        keys = [row.get("customer_key") for row in rows]
    return [k for k in dict.fromkeys(keys) if isinstance(k, str) and k.strip() and k != HIDDEN]


def message_for_role(row: Mapping, role: str | None) -> dict:
    """An outbox message as `role` may see it. A message tied to a customer or a case (a
    follow-up, a review request, "we changed it", a case's alert or event) has its
    recipient, subject and body HIDDEN for the roles that may not see customer data, and
    its reason masked; staff messages (the weekly report, the alert digest, a test send)
    are shown as they are."""
    out = dict(row)
    if not hides_message(row, role):
        return out
    for column in ("recipient", "subject", "body"):
        if column in out and not _missing(out[column]):
            out[column] = HIDDEN
    if "customer_key" in out:
        out["customer_key"] = customer_value(out["customer_key"], role)
    if isinstance(out.get("last_error"), str):
        out["last_error"] = mask_text(out["last_error"])
    return out


def hides_message(row: Mapping, role: str | None) -> bool:
    """Whether `message_for_role` hides this outbox message from `role` (so its events'
    details, which can quote the recipient, are masked too)."""
    return not shows_customer_data(role) and _about_a_customer(row)


def shared_quote(text: Any, *, names: Iterable[str | None] = (),
                 emails: Iterable[str | None] = (), cut_at: int | None = None) -> Any:
    """A comment quoted in a shared report: masked with `mask_text` whoever reads it, and
    the quoted customer's own `names` and `emails` taken out ("[name]", "[email]"). Then cut
    to `cut_at` characters (masked first, so a cut never splits what the masks must see)."""
    if not isinstance(text, str):
        return text
    masked = identity_masker([e for e in emails if e], [n for n in names if n])(text)
    if cut_at is not None and len(masked) > cut_at:
        masked = masked[:cut_at].rstrip() + "…"
    return masked


def _about_a_customer(row: Mapping) -> bool:
    return any(not _missing(row.get(column)) for column in ("customer_key", "case_id"))


def _masked(text: str, cut_at: int | None) -> str:
    mark = _CUT_MARK.search(text)
    if mark is not None:
        return _masked_cut(text[:mark.start()]) + mark.group(0)
    if cut_at is not None and len(text) >= cut_at:
        return _masked_cut(text) + "…"
    return mask_text(text)


def _masked_cut(text: str) -> str:
    """`mask_text` of a text cut at its end: the last word may be a fragment the masks
    cannot recognise ("jo@exa", "4111 11"), and the words with digits or an "@" right
    before it may be the rest of it, so they all go first."""
    words = text.split(" ")[:-1]
    while words and _NUMBER_LIKE.search(words[-1]):
        words.pop()
    return mask_text(" ".join(words))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False

"""CSV exports that are safe to open in a spreadsheet.

Every CSV the app hands out goes through `to_safe_csv`: feedback text is written by
customers, and a comment such as `=HYPERLINK("http://evil", "click")` would otherwise run as
a formula when an analyst opens the export in Excel or LibreOffice (CSV injection, OWASP).
"""

from __future__ import annotations

import re

import pandas as pd

# OWASP CSV injection: cells starting with these are read as formulas (tab and carriage
# return because some spreadsheets strip them and then see the next character).
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value):
    """One cell: text that a spreadsheet would take for a formula gets a leading quote.

    Non-text values (numbers, dates, missing) are returned unchanged; so is text that is
    a plain number such as "-3" or "+1.5", which a spreadsheet reads as a number, never a
    formula.
    """
    if not isinstance(value, str) or not value:
        return value
    stripped = value.lstrip(" ")
    if stripped.startswith(_TRIGGERS) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell and column name neutralised."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(
                series) or pd.api.types.is_bool_dtype(series):
            continue
        out[column] = series.astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as CSV bytes, UTF-8 with a BOM (so Excel picks the right encoding), without
    the index, with formula-like text neutralised."""
    text = safe_frame(frame).to_csv(index=False, lineterminator="\r\n")
    return text.encode("utf-8-sig")

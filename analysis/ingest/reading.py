"""Reading a feedback file: bytes -> a frame of strings, one row per data row.

Encodings, formats (CSV with any of , ; tab | as delimiter, JSON Lines, a JSON array) and
delimiters are sniffed. A row that cannot be split into fields is kept, flagged in the
READ_ERROR column with the raw text in READ_RAW, so that the importer can reject it with its
reason instead of losing it.

What a user's file can get wrong, and what happens:
- not text (a workbook, binary bytes), or a first line too long to be a header row: an
  ImportFileError before any parsing, quoting at most a short excerpt of the file;
- an unclosed quote: the row where it opens is rejected, naming its line, and the lines
  after that line are read as rows of their own (not swallowed into one value); in a file
  read row by row (one with a fault), a quoted value running on over 1,000 lines (or
  1,000,000 characters) is taken for one;
- JSON nested too deeply to read: that line is rejected (JSON Lines), the file refused
  (a JSON array), and a CSV file that starts like such JSON is read as CSV;
- text after a closing quote (`"x"y`): the row is rejected, naming the column;
- a repeated header (or JSON key): the repeat is renamed "Name.1", with a warning;
- lines in Windows-1252 inside an otherwise UTF-8 file: each line is decoded in its own
  encoding, with a warning naming the rows.
Warnings are short strings in `frame.attrs["warnings"]` (an empty list when none).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.ingest.csv_reader import read_csv
from analysis.ingest.decoding import (
    check_content,
    check_header_length,
    check_upload,
    decode,
    load,
    say,
)
from analysis.ingest.errors import ImportFileError
from analysis.ingest.frames import READ_ERROR, READ_RAW, RESERVED, unique_labels
from analysis.ingest.json_reader import read_json_array, read_json_lines
from analysis.messages import excerpt

PREVIEW_CHARS = 500
"""Characters of one cell a page shows; a longer cell is cut and says its length."""

__all__ = ["READ_ERROR", "READ_RAW", "PREVIEW_CHARS", "bounded_frame", "bounded_text",
           "check_upload", "data_columns", "preview_frame", "read_table"]


def read_table(source: str | Path | bytes, *, name: str | None = None) -> pd.DataFrame:
    """Read a CSV (any of , ; tab | as delimiter) or JSON Lines file into a frame of strings.

    Encodings: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252 (Latin-1 for the
    bytes cp1252 leaves undefined), line by line where UTF-8 and cp1252 lines are mixed.
    Rows that cannot be split into fields are kept, flagged in the READ_ERROR column with
    the raw text in READ_RAW; all other cells are strings ("" when empty). What the user
    should know but need not stop for is in frame.attrs["warnings"]. No size limit: that is
    the Import page's (`check_upload`).
    """
    data, name = load(source, name)
    check_content(data, name)
    text, fallback = decode(data, name)
    kind = _sniff_kind(text, name)
    if kind == "jsonl":
        frame = read_json_lines(text, fallback)
    elif kind == "json":
        frame = read_json_array(text, name, fallback)
    else:
        check_header_length(text, name)
        frame = read_csv(text, name, fallback)
    frame.attrs.setdefault("warnings", [])
    frame.attrs["file_name"] = name
    return frame


def data_columns(frame: pd.DataFrame) -> list[str]:
    """The file's own columns (without read_table's bookkeeping columns)."""
    return [c for c in frame.columns if c not in RESERVED]


def bounded_text(value: str, limit: int = PREVIEW_CHARS) -> str:
    """`value` itself when short, else an excerpt that says its length: user text on a page."""
    return value if len(value) <= limit else excerpt(value, limit)


def bounded_frame(frame: pd.DataFrame, limit: int = PREVIEW_CHARS) -> pd.DataFrame:
    """A copy of `frame` whose text cells and column names are cut to about `limit`
    characters, so that one huge value cannot flood a page (or the browser)."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: bounded_text(v, limit) if isinstance(v, str) else v)
    out.columns = unique_labels([bounded_text(str(c), limit) for c in out.columns])[0]
    return out


def preview_frame(frame: pd.DataFrame, rows: int = 20,
                  limit: int = PREVIEW_CHARS) -> pd.DataFrame:
    """The first `rows` rows of the file's own columns, each cell at most about `limit`
    characters."""
    return bounded_frame(frame.head(rows)[data_columns(frame)], limit)


def _sniff_kind(text: str, name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    head = text.lstrip()[:1]
    if suffix == ".json":
        return "json" if head == "[" else "jsonl"
    if suffix in (".xlsx", ".xls", ".xlsm", ".ods", ".parquet", ".pdf", ".zip", ".gz"):
        raise ImportFileError(say(name, f"unknown format {excerpt(suffix)}; "
                                         "expected CSV or JSON Lines"))
    if head == "{" and isinstance(_json_or_none(text.lstrip().split("\n", 1)[0]), dict):
        return "jsonl"
    if head == "[" and isinstance(_json_or_none(text), list):
        return "json"
    return "csv"


def _json_or_none(text: str) -> object:
    """`text` as JSON, or None when it is not JSON that json can read."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # too deeply nested is not this kind either
        return None

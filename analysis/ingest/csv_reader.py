"""Reading CSV: Arrow's fast reader for well-formed files, the csv module's strict reader
a record at a time for the rest, so that every fault is pinned to its row, line and column.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from analysis.ingest.decoding import LINE_BREAK, say
from analysis.ingest.errors import ImportFileError
from analysis.ingest.frames import (
    build_frame,
    fallback_warning,
    rows_touching,
    unique_names,
)
from analysis.messages import clip, excerpt

_QUOTED = re.compile(r'"[^"]*+(?:""[^"]*+)*+"')  # a quoted value, up to its closing quote

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long narratives are normal


def sniff_delimiter(text: str, name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix == ".tsv":
        return "\t"
    sample = text[:65536]
    truncated = len(text) > len(sample)
    best, best_score = ",", None
    for delimiter in (",", ";", "\t", "|"):
        records = [r for r in itertools.islice(
            csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), 60) if r]
        if truncated and len(records) > 1:
            records = records[:-1]  # the sample may cut the last record short
        if not records:
            continue
        width = len(records[0])
        consistent = sum(len(r) == width for r in records) / len(records)
        score = (width > 1, consistent, width)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


@functools.lru_cache(maxsize=8)
def _well_quoted(delimiter: str) -> re.Pattern:
    """Matches as far as every quote that opens a value closes, followed by a delimiter or
    a line break; a quote inside an unquoted value is a plain character (as for csv and
    Arrow). Linear (possessive), so that it can vet a whole file for the fast path."""
    d = re.escape(delimiter)
    return re.compile(
        rf'(?:[^"]++'
        rf'|(?<=[^{d}\r\n])"'
        rf'|(?<![^{d}\r\n])"[^"]*+(?:""[^"]*+)*+"(?=[{d}\r\n]|\Z))*+')


@functools.lru_cache(maxsize=8)
def _value_quote(delimiter: str) -> re.Pattern:
    d = re.escape(delimiter)
    return re.compile(rf'(?<![^{d}\r\n])"[^"]*+(?:""[^"]*+)*+"')


@functools.lru_cache(maxsize=8)
def _value_end(delimiter: str) -> re.Pattern:
    return re.compile(rf"[{re.escape(delimiter)}\r\n]")


def _quote_fault(record: str, delimiter: str) -> tuple[int, bool] | None:
    """Where a quote that opens a value in `record` (one CSV record's text) goes wrong:
    (its offset, whether it is unclosed: never closes, or only on a later line), or None."""
    at = _well_quoted(delimiter).match(record).end()
    if at == len(record):
        return None
    closed = _QUOTED.match(record, at)
    return at, closed is None or LINE_BREAK.search(record, at, closed.end()) is not None


def _spanning_quote(record: str, delimiter: str) -> int | None:
    """Offset of the first quoted value in `record` that runs past a line break."""
    for quoted in _value_quote(delimiter).finditer(record):
        if LINE_BREAK.search(record, quoted.start(), quoted.end()):
            return quoted.start()
    return None


def _records(lines: list[str], start: int, delimiter: str):
    """(values or None, first line, end line, csv's error or None) for each record from
    line `start` on; after an error the reader carries on with the next line."""
    # Not islice: it would step through the `start` lines before it on every restart, which
    # is quadratic in a file with many unclosed quotes.
    rest = map(lines.__getitem__, range(start, len(lines)))
    reader = csv.reader(rest, delimiter=delimiter, strict=True)
    while True:
        first = start + reader.line_num
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield None, first, start + reader.line_num, str(exc)
            continue
        yield values, first, start + reader.line_num, None


class _RowByRow:
    """The csv module's strict reader, a record at a time, so that every fault is pinned to
    its row, line and column, and an unclosed quote costs one row, not the rest of the file.
    """

    def __init__(self, text: str, delimiter: str, name: str):
        self.lines = io.StringIO(text, newline="").readlines()  # as csv.reader splits them
        self.delimiter, self.name = delimiter, name
        self.columns: list[str] | None = None
        self.warnings: list[str] = []
        self.header_span = (0, 0)
        self.records, self.errors, self.raws, self.spans = [], [], [], []

    def read(self) -> _RowByRow:
        start = 0
        while start is not None:
            start = self._read_from(start)
        if self.columns is None:
            raise ImportFileError(say(self.name, "the file has no header row"))
        return self

    def frame(self) -> pd.DataFrame:
        cells = (dict(zip(self.columns, zip(*self.records))) if self.records
                 else {c: () for c in self.columns})
        return build_frame(self.columns, cells, self.errors, self.raws)

    def char_spans(self) -> tuple[tuple[int, int], list[tuple[int, int]]]:
        """The header's and each row's (start, end) offsets in the text."""
        offsets = list(itertools.accumulate(map(len, self.lines), initial=0))
        first, end = self.header_span
        return (offsets[first], offsets[end]), [(offsets[f], offsets[e]) for f, e in self.spans]

    def _read_from(self, start: int) -> int | None:
        """Read from line `start`; the line to read on from after an unclosed quote."""
        for values, first, end, error in _records(self.lines, start, self.delimiter):
            if values == []:
                continue  # a blank line holds no data
            if self.columns is None:
                self._take_header(values, first, end, error)
                continue
            if error is None and len(values) == len(self.columns):
                self._keep(values, "", "", first, end)
                continue
            restart = self._take_fault(values, first, end, error)
            if restart is not None:
                return restart
        return None

    def _take_header(self, values, first: int, end: int, error: str | None) -> None:
        if error is not None:
            record = "".join(self.lines[first:end])
            fault = _quote_fault(record, self.delimiter)
            if fault is None:
                problem = clip(error)
            elif fault[1]:
                problem = "an unclosed quote, so it runs on into the rows below"
            else:
                problem = (f"text after a closing quote in "
                           f"{excerpt(self._value_text(record, fault[0]))}")
            raise ImportFileError(say(self.name, f"cannot read the header row (line "
                                                  f"{first + 1:,}): {problem}"))
        self.columns, self.warnings = unique_names(values)
        self.header_span = (first, end)

    def _take_fault(self, values, first: int, end: int, error: str | None) -> int | None:
        record = "".join(self.lines[first:end])
        if error is None:
            return self._wrong_width(values, record, first, end)
        fault = _quote_fault(record, self.delimiter)
        if fault is None:
            self._reject(f"cannot read this row: {clip(error)}", record, first, end)
            return None
        at, unclosed = fault
        column = self._column(record, at)
        if unclosed:
            opening = self._line_at(first, at)
            self._reject(f"an unclosed quote opens in this row (line {opening + 1:,}, column "
                         f"{column}); the lines after it are read as rows of their own",
                         "".join(self.lines[first:opening + 1]), first, opening + 1)
            return opening + 1
        # A value like "x"y is ambiguous (csv reads xy, a spreadsheet "x"y): a reject naming
        # the column is safer than importing either reading without a word.
        self._reject(f"the value in column {column} has text after its closing quote "
                     f"({excerpt(self._value_text(record, at))}); quote the whole value and "
                     "double each quote inside it", record, first, end)
        return None

    def _wrong_width(self, values, record: str, first: int, end: int) -> int | None:
        reason = f"the row has {len(values)} values but the header has {len(self.columns)} columns"
        at = _spanning_quote(record, self.delimiter) if end - first > 1 else None
        if at is None:
            self._keep([""] * len(self.columns), reason,
                       json.dumps(values, ensure_ascii=False), first, end)
            return None
        # A quoted value that swallows line breaks and leaves the row the wrong width is
        # the mark of a quote never meant to span lines: read the lines after it as rows.
        opening = self._line_at(first, at)
        self._reject(f"{reason}: the quote that opens on line {opening + 1:,} (column "
                     f"{self._column(record, at)}) runs on to a later line, probably an "
                     "unclosed quote; the lines after it are read as rows of their own",
                     "".join(self.lines[first:opening + 1]), first, opening + 1)
        return opening + 1

    def _keep(self, values, error: str, raw: str, first: int, end: int) -> None:
        self.records.append(values)
        self.errors.append(error)
        self.raws.append(raw)
        self.spans.append((first, end))

    def _reject(self, reason: str, text: str, first: int, end: int) -> None:
        raw = json.dumps(text.rstrip("\r\n"), ensure_ascii=False)
        self._keep([""] * len(self.columns), reason, raw, first, end)

    def _line_at(self, first: int, offset: int) -> int:
        """Index of the line that holds character `offset` of the record starting at `first`."""
        for index in range(first, len(self.lines)):
            offset -= len(self.lines[index])
            if offset < 0:
                return index
        return len(self.lines) - 1

    def _column(self, record: str, at: int) -> str:
        """The column whose value starts at offset `at` of `record`, for a message."""
        before = next(csv.reader(io.StringIO(record[:at], newline=""),
                                 delimiter=self.delimiter), [""])
        index = len(before) - 1
        if self.columns is not None and index < len(self.columns):
            return excerpt(self.columns[index])
        return f"{index + 1:,}"

    def _value_text(self, record: str, at: int) -> str:
        """The value starting with a quote at `at`, as written, up to the next delimiter."""
        closed = _QUOTED.match(record, at)
        stop = _value_end(self.delimiter).search(record, closed.end() if closed else at)
        return record[at:stop.start() if stop else len(record)]


def _read_csv_arrow(text: str, delimiter: str) -> pd.DataFrame | None:
    """Arrow's multithreaded CSV reader, for the common case of a well-formed file.

    Returns None (and the csv-module path reads the file row by row, to say which rows are
    wrong) when a quote is unclosed or followed by text, when any row has the wrong number
    of values, or when Arrow cannot read the file.
    """
    if _well_quoted(delimiter).match(text).end() != len(text):
        return None  # Arrow would read such quotes without a word
    invalid = []

    def on_invalid_row(row):
        invalid.append(row)
        return "skip"

    try:
        first = next(r for r in csv.reader(io.StringIO(text[:1_000_000], newline=""),
                                           delimiter=delimiter) if r)
        width = len(first)
        table = pa_csv.read_csv(
            pa.BufferReader(text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True,
                                            block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                              invalid_row_handler=on_invalid_row),
            convert_options=pa_csv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowException, StopIteration, csv.Error, UnicodeError, ValueError):
        return None
    if invalid or table.num_columns != width or table.num_rows == 0:
        return None
    header = [v or "" for v in table.slice(0, 1).to_pylist()[0].values()]
    if header != first:
        return None  # Arrow and the csv module disagree on the header: trust the latter
    names, warnings = unique_names(header)
    frame = table.slice(1).rename_columns(names).to_pandas()
    frame.attrs["warnings"] = warnings
    return frame


def read_csv(text: str, name: str, fallback: list[tuple[int, int, int]] = ()
              ) -> pd.DataFrame:
    delimiter = sniff_delimiter(text, name)
    if not fallback:  # a warning naming rows needs the row-by-row path's line numbers
        fast = _read_csv_arrow(text, delimiter)
        if fast is not None:
            return fast
    rows = _RowByRow(text, delimiter, name).read()
    frame = rows.frame()
    warnings = list(rows.warnings)
    if fallback:
        header, spans = rows.char_spans()
        warnings.append(fallback_warning(rows_touching(spans, fallback),
                                          header=bool(rows_touching([header], fallback))))
    frame.attrs["warnings"] = warnings
    return frame

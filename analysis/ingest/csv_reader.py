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


SPAN_LINES = 1_000
SPAN_CHARS = 1_000_000
"""How far one record may run over lines (or characters) before its open quote is called
unclosed. A real comment is shorter; without a bound, each unclosed quote could cost a read
to the end of the file, and a file of them time quadratic in its size. Only the row-by-row
reader applies it: Arrow's reader, for well-formed files, keeps such a value whole."""


class _Feed:
    """The lines from `start` on, as csv.reader takes them, that end for good once a record
    has run over SPAN_LINES lines or SPAN_CHARS characters: csv then reports that record's
    open quote, and a fresh reader carries on from where the feed stopped. (Indexed from
    `start`, not islice, which would step through every line before it on each restart.)"""

    def __init__(self, lines: list[str], start: int):
        self.lines, self.at, self.end = lines, start, len(lines)
        self.new_record()

    def new_record(self) -> int:
        self.first, self.chars = self.at, 0
        return self.first

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.at > self.first and (self.at - self.first >= SPAN_LINES
                                     or self.chars >= SPAN_CHARS):
            self.end = self.at
        if self.at >= self.end:
            raise StopIteration
        line = self.lines[self.at]
        self.at += 1
        self.chars += len(line)
        return line


def _values_opened(text: str, delimiter: str) -> int | None:
    """How many values `text`, read from the start of a record, opens when it ends inside
    a quoted value (counting that one); None when it does not."""
    reader = csv.reader([text, '"'], delimiter=delimiter, strict=True)  # '"' closes it
    try:
        values = next(reader)
    except csv.Error:
        return None
    return len(values) if reader.line_num == 2 else None


def _records(lines: list[str], start: int, delimiter: str):
    """(values or None, first line, end line, csv's error or None) for each record from
    line `start` on; after an error the reader carries on with the next line."""
    while start < len(lines):
        feed = _Feed(lines, start)
        yield from _fed_records(feed, csv.reader(feed, delimiter=delimiter, strict=True))
        start = feed.at


def _fed_records(feed: _Feed, reader):
    while True:
        first = feed.new_record()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield None, first, feed.at, str(exc)
            continue
        yield values, first, feed.at, None


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
        at = _spanning_quote(record, self.delimiter) if end - first > 1 else None
        if at is None:
            self._keep([""] * len(self.columns), self._width_reason(len(values)),
                       json.dumps(values, ensure_ascii=False), first, end)
            return None
        # A quoted value that swallows line breaks and leaves the row the wrong width is
        # the mark of a quote never meant to span lines: read the lines after it as rows.
        opening = self._line_at(first, at)
        self._reject_swallowing(len(values), record, at, first, opening)
        if opening > first:
            return opening + 1
        return self._past_swallowed(first, end, len(values))

    def _past_swallowed(self, first: int, end: int, width: int) -> int:
        """The line to read on from once line `first`, whose quote swallowed the lines up to
        `end` into a row of `width` values, is rejected.

        A next line that also ends inside a quoted value puts csv in the state it was in
        there, so it would swallow the same lines up to `end`: its row's width follows from
        the two lines alone. Such lines are rejected here one by one while that width is
        wrong, instead of reading on to `end` again for each (quadratic in a file of them).
        """
        line = first + 1
        while line + 1 < end:
            opened = _values_opened(self.lines[line], self.delimiter)
            before = _values_opened("".join(self.lines[line - 1:line + 1]), self.delimiter)
            if opened is None or before is None:
                break
            width += opened - before  # the values after this line are the same
            if width == len(self.columns):
                break  # a good row: csv reads it
            text = self.lines[line]
            at = _well_quoted(self.delimiter).match(text).end()
            self._reject_swallowing(width, text, at, line, line)
            line += 1
        return line

    def _width_reason(self, width: int) -> str:
        return f"the row has {width} values but the header has {len(self.columns)} columns"

    def _reject_swallowing(self, width: int, record: str, at: int, first: int,
                           opening: int) -> None:
        self._reject(f"{self._width_reason(width)}: the quote that opens on line "
                     f"{opening + 1:,} (column {self._column(record, at)}) runs on to a "
                     "later line, probably an unclosed quote; the lines after it are read "
                     "as rows of their own",
                     "".join(self.lines[first:opening + 1]), first, opening + 1)

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

"""Reading a feedback file: bytes -> a frame of strings, one row per data row.

Encodings, formats (CSV with any of , ; tab | as delimiter, JSON Lines, a JSON array) and
delimiters are sniffed. A row that cannot be split into fields is kept, flagged in the
READ_ERROR column with the raw text in READ_RAW, so that the importer can reject it with its
reason instead of losing it.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from analysis.ingest.errors import ImportFileError

# Columns that read_table adds for rows it could not split into fields (bad JSON line, wrong
# number of CSV values): the reason, and the row as read. They are not data columns.
READ_ERROR = "_closeloop_read_error"
READ_RAW = "_closeloop_read_raw"
_RESERVED = (READ_ERROR, READ_RAW)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long narratives are normal


def read_table(source: str | Path | bytes, *, name: str | None = None) -> pd.DataFrame:
    """Read a CSV (any of , ; tab | as delimiter) or JSON Lines file into a frame of strings.

    Encodings: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252, else latin-1.
    Rows that cannot be split into fields are kept, flagged in the READ_ERROR column with
    the raw text in READ_RAW; all other cells are strings ("" when empty).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "upload"
    else:
        path = Path(source)
        name = name or path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportFileError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    text = _decode(data, name)
    kind = _sniff_kind(text, name)
    if kind == "jsonl":
        frame = _read_json_lines(text)
    elif kind == "json":
        frame = _read_json_array(text, name)
    else:
        frame = _read_csv(text, name)
    frame.attrs["file_name"] = name
    return frame


def data_columns(frame: pd.DataFrame) -> list[str]:
    """The file's own columns (without read_table's bookkeeping columns)."""
    return [c for c in frame.columns if c not in _RESERVED]


def _decode(data: bytes, name: str) -> str:
    if not data.strip():
        raise ImportFileError(f"{name}: the file is empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{name}: not valid UTF-16 text ({exc.reason})") from exc
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"{name}: this looks like an Excel workbook or a zip archive, "
                              "not a CSV or JSON Lines file; save it as CSV first")
    if b"\x00" in data[:4096]:
        raise ImportFileError(f"{name}: not a text file (it holds binary data); "
                              "expected CSV or JSON Lines")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    # UTF-8 first: it almost never decodes text written in another encoding by accident.
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # every byte is a latin-1 character: never fails


def _sniff_kind(text: str, name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    head = text.lstrip()[:1]
    if suffix == ".json":
        return "json" if head == "[" else "jsonl"
    if suffix in (".xlsx", ".xls", ".xlsm", ".ods", ".parquet", ".pdf", ".zip", ".gz"):
        raise ImportFileError(f"{name}: unknown format {suffix!r}; expected CSV or JSON Lines")
    if head == "{":
        first = text.lstrip().split("\n", 1)[0]
        try:
            if isinstance(json.loads(first), dict):
                return "jsonl"
        except ValueError:
            pass
    if head == "[":
        try:
            if isinstance(json.loads(text), list):
                return "json"
        except ValueError:
            pass
    return "csv"


def _sniff_delimiter(text: str, name: str) -> str:
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


def _unique_names(names: list[str]) -> list[str]:
    out, seen = [], {}
    for i, raw in enumerate(names):
        label = raw.strip() or f"column {i + 1}"
        if label in seen:
            seen[label] += 1
            label = f"{label}.{seen[label]}"
        seen.setdefault(label, 0)
        out.append(label)
    return out


def _frame(columns: list[str], cells: dict[str, list], errors: list, raws: list) -> pd.DataFrame:
    n = len(errors) if errors else len(cells[columns[0]]) if columns else 0
    if columns:
        # Through Arrow: several times faster than pandas' own string constructor.
        frame = pa.table({c: pa.array(cells[c], type=pa.string()) for c in columns}).to_pandas()
    else:
        frame = pd.DataFrame(index=pd.RangeIndex(n))
    if any(errors):
        frame[READ_ERROR] = pd.Series(errors, dtype="str")
        frame[READ_RAW] = pd.Series(raws, dtype="str")
    return frame


def _read_csv_arrow(text: str, delimiter: str) -> pd.DataFrame | None:
    """Arrow's multithreaded CSV reader, for the common case of a well-formed file.

    Returns None (and the csv-module path reads the file row by row, to say which rows are
    wrong) when any row has the wrong number of values or Arrow cannot read the file.
    """
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
    table = table.slice(1).rename_columns(_unique_names(header))
    return table.to_pandas()


def _read_csv(text: str, name: str) -> pd.DataFrame:
    delimiter = _sniff_delimiter(text, name)
    fast = _read_csv_arrow(text, delimiter)
    if fast is not None:
        return fast
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(r for r in reader if r)
    except StopIteration:
        raise ImportFileError(f"{name}: the file has no header row") from None
    except csv.Error as exc:
        raise ImportFileError(f"{name}: cannot read the header row ({exc})") from exc
    columns = _unique_names(header)
    width = len(columns)
    try:
        records = [r for r in reader if r]  # a blank line holds no data
    except csv.Error as exc:
        raise ImportFileError(f"{name}: cannot read the CSV after line {reader.line_num} "
                              f"({exc})") from exc
    errors: list[str] = []
    raws: list[str] = []
    wrong = [i for i, r in enumerate(records) if len(r) != width]
    if wrong:
        errors, raws = [""] * len(records), [""] * len(records)
        for i in wrong:
            errors[i] = (f"the row has {len(records[i])} values but the header has "
                         f"{width} columns")
            raws[i] = json.dumps(records[i], ensure_ascii=False)
            records[i] = [""] * width
    cells = dict(zip(columns, zip(*records))) if records else {c: () for c in columns}
    return _frame(columns, cells, errors, raws)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _objects_to_frame(items: list[tuple[object, str, str]]) -> pd.DataFrame:
    """items: (parsed object or None, error, raw text) per row."""
    columns: dict[str, None] = {}
    for obj, _, _ in items:
        if isinstance(obj, dict):
            columns.update(dict.fromkeys(str(k).strip() for k in obj))
    names = list(columns)
    cells = {c: [] for c in names}
    errors, raws = [], []
    for obj, error, raw in items:
        if not error and not isinstance(obj, dict):
            error = f"the line is a JSON {type(obj).__name__}, not an object"
        if error:
            for c in names:
                cells[c].append("")
            errors.append(error)
            raws.append(json.dumps(raw, ensure_ascii=False))
            continue
        row = {str(k).strip(): v for k, v in obj.items()}
        for c in names:
            cells[c].append(_cell(row.get(c)))
        errors.append("")
        raws.append("")
    return _frame(names, cells, errors, raws)


_JSON_TYPE = {"dict": "object", "list": "array", "str": "string", "int": "number",
              "float": "number", "bool": "boolean", "NoneType": "null"}


def _read_json_lines(text: str) -> pd.DataFrame:
    items = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            msg = getattr(exc, "msg", str(exc))
            col = getattr(exc, "colno", None)
            items.append((None, f"the line is not valid JSON: {msg}"
                                + (f" (column {col})" if col else ""), line))
            continue
        if not isinstance(obj, dict):
            kind = _JSON_TYPE.get(type(obj).__name__, type(obj).__name__)
            items.append((None, f"the line is a JSON {kind}, not an object", line))
            continue
        items.append((obj, "", line))
    return _objects_to_frame(items)


def _read_json_array(text: str, name: str) -> pd.DataFrame:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImportFileError(f"{name}: not valid JSON ({exc})") from exc
    if not isinstance(data, list):
        raise ImportFileError(f"{name}: expected a JSON array of objects or JSON Lines")
    items = []
    for obj in data:
        if isinstance(obj, dict):
            items.append((obj, "", ""))
        else:
            kind = _JSON_TYPE.get(type(obj).__name__, type(obj).__name__)
            items.append((None, f"the item is a JSON {kind}, not an object",
                          json.dumps(obj, ensure_ascii=False)))
    return _objects_to_frame(items)


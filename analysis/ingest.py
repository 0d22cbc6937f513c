"""Importing feedback files: read, map columns to feedback fields, validate, write.

    result = import_file(db, Path("survey.csv"), mapping=None, score_type=None,
                         source=None, actor="ana")
    print(result.summary_line())

The flow is `read_table` (bytes -> DataFrame of strings) -> `detect_mapping` (column names ->
feedback fields) -> `import_frame` (convert and validate every row, then write the batch,
its feedback rows and its rejects in one transaction).

Rules the rest of the app relies on:
- nothing the user gave is silently dropped: every data row is imported, counted as a
  duplicate, or kept in `import_rejects` with its row number, field, reason and raw values,
  so `rows_read == imported + duplicates + rejected`;
- only lines that are entirely blank are skipped (they hold no data and are not counted);
- `source` defaults to the file name's stem and, with `external_id`, identifies a response,
  so re-importing the same file (or an overlapping export of the same name) adds nothing;
- timestamps without an offset are in the settings' time zone (`CLOSELOOP_TZ`) and are
  stored in UTC; slashed dates are read day-first only when the column proves it
  (some first part above 12 and no second part above 12), otherwise month-first;
- an import is one `store.write_transaction`: it lands whole or not at all.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import re
import sys
from dataclasses import dataclass, field as dataclass_field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlite_utils
from dateutil import parser as dateutil_parser
from pandas.tseries.api import guess_datetime_format

from analysis import store
from analysis.feedback import FEEDBACK_FIELDS, SCORE_SCALES, insert_feedback_columns
from analysis.settings import get_settings

# Columns that read_table adds for rows it could not split into fields (bad JSON line, wrong
# number of CSV values): the reason, and the row as read. They are not data columns.
READ_ERROR = "_closeloop_read_error"
READ_RAW = "_closeloop_read_raw"
_RESERVED = (READ_ERROR, READ_RAW)

SCORE_TYPES = tuple(SCORE_SCALES)
_SCALE_NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "rating": "rating"}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long narratives are normal


class ImportFileError(Exception):
    """The whole file cannot be imported (as opposed to one row, which becomes a reject)."""


@dataclass
class ImportResult:
    batch_id: int
    file_name: str
    rows_read: int
    imported: int
    duplicates: int
    rejected: int
    mapping: dict[str, str] = dataclass_field(default_factory=dict)
    score_type: str | None = None

    def summary_line(self) -> str:
        return (f"imported {self.imported}, duplicates skipped {self.duplicates}, "
                f"rejected {self.rejected} (batch {self.batch_id}, {self.file_name})")


# --------------------------------------------------------------------------- reading

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


# --------------------------------------------------------------------------- mapping

def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(name).casefold())


# Exact names (normalised: lower case, letters and digits only), best first.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "received_at": ("receivedat", "date", "recordeddate", "datereceived", "createdat",
                    "created", "timestamp", "submitted", "submittedat", "submitteddate",
                    "responsedate", "reviewdate", "surveydate", "feedbackdate", "datetime",
                    "enddate", "completedat", "completed", "time", "startdate"),
    "comment": ("comment", "comments", "text", "review", "reviewtext", "feedback",
                "feedbacktext", "verbatim", "consumercomplaintnarrative", "narrative",
                "body", "message", "content", "response", "openended", "reason", "remarks"),
    "score": ("score", "nps", "npsscore", "rating", "stars", "starrating", "csat",
              "csatscore", "ces", "cesscore", "likelihoodtorecommend", "recommend", "ltr",
              "overallrating", "satisfaction", "effort", "value"),
    "location": ("location", "store", "branch", "site", "storename", "branchname",
                 "locationname", "sitename", "outlet", "shop", "restaurant", "hotel"),
    "external_id": ("externalid", "id", "responseid", "complaintid", "reviewid",
                    "feedbackid", "surveyresponseid", "recordid", "ticketid", "uuid"),
    "segment": ("segment", "tier", "plan", "customersegment", "customertier",
                "customertype", "membership"),
    "channel": ("channel", "submittedvia", "source", "medium", "platform", "via"),
    "touchpoint": ("touchpoint", "journeystage", "stage", "journey", "journeystep", "step"),
    "customer_id": ("customerid", "clientid", "userid", "accountid", "memberid", "custid"),
    "customer_name": ("customername", "name", "fullname", "clientname", "reviewername",
                      "author", "username", "reviewer"),
    "customer_email": ("customeremail", "email", "emailaddress", "mail", "clientemail",
                       "useremail"),
    "score_type": ("scoretype", "surveytype", "metric", "scale", "scoretypename"),
}
# Second pass for headers like "How likely are you to recommend us? (0-10)".
_CONTAINS: dict[str, tuple[str, ...]] = {
    "received_at": ("date", "timestamp", "time"),
    "comment": ("comment", "feedback", "narrative", "verbatim", "review", "text"),
    "score": ("recommend", "score", "rating", "nps", "csat", "stars"),
    "customer_email": ("email",),
}


def detect_mapping(columns) -> dict[str, str]:
    """Guess which column holds which feedback field from the usual export headers.

    Exact names (case and punctuation ignored) first, then names that contain a telling
    word; a column serves one field. `source` and "Company" columns are never guessed.
    """
    columns = [c for c in columns if c not in _RESERVED]
    normalised = {c: _norm(c) for c in columns}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field_name, names in _SYNONYMS.items():
        for wanted in names:
            hit = next((c for c in columns if c not in used and normalised[c] == wanted), None)
            if hit is not None:
                mapping[field_name] = hit
                used.add(hit)
                break
    for field_name, words in _CONTAINS.items():
        if field_name in mapping:
            continue
        for word in words:
            hit = next((c for c in columns if c not in used and word in normalised[c]
                        and not normalised[c].endswith("id")), None)
            if hit is not None:
                mapping[field_name] = hit
                used.add(hit)
                break
    return {f: mapping[f] for f in FEEDBACK_FIELDS if f in mapping}


_SCORE_TYPE_WORDS = {
    "nps": "nps", "netpromoter": "nps", "netpromoterscore": "nps", "recommend": "nps",
    "likelihoodtorecommend": "nps", "ltr": "nps",
    "csat": "csat", "satisfaction": "csat", "customersatisfaction": "csat",
    "ces": "ces", "effort": "ces", "customereffort": "ces", "customereffortscore": "ces",
    "rating": "rating", "ratings": "rating", "stars": "rating", "star": "rating",
    "starrating": "rating", "review": "rating", "reviews": "rating",
}


def infer_score_type(column: str | None) -> str | None:
    """The scale a score column's name announces ("NPS", "CSAT score", "Star rating"), if any."""
    if not column:
        return None
    words = [w for w in re.split(r"[^0-9a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
                                  .casefold()) if w]
    for word in words:
        if word in _SCORE_TYPE_WORDS:
            return _SCORE_TYPE_WORDS[word]
    joined = "".join(words)
    for key in ("netpromoter", "likelihoodtorecommend", "customersatisfaction",
                "customereffort", "starrating"):
        if key in joined:
            return _SCORE_TYPE_WORDS[key]
    return None


def normalise_score_type(value: str | None) -> str | None:
    """'NPS', 'Net Promoter', 'stars' ... -> one of SCORE_TYPES; None when unknown."""
    key = _norm(value or "")
    if key in SCORE_TYPES:
        return key
    return _SCORE_TYPE_WORDS.get(key) or ({"5star": "rating", "starrating": "rating",
                                           "customereffortscore": "ces",
                                           "customersatisfactionscore": "csat"}).get(key)


def resolve_mapping(columns, mapping: dict[str, str | None] | None, *,
                    file_name: str) -> dict[str, str]:
    """Detected mapping overridden by the given one; a given field mapped to None or ""
    means "not in the file". Raises ImportFileError for unknown fields or columns."""
    columns = [c for c in columns if c not in _RESERVED]
    given = dict(mapping or {})
    for field_name in given:
        if field_name not in FEEDBACK_FIELDS:
            raise ImportFileError(
                f"{field_name!r} is not a feedback field; fields are: "
                + ", ".join(FEEDBACK_FIELDS))
    for field_name, column in given.items():
        if column and column not in columns:
            raise ImportFileError(
                f"column {column!r} (mapped to {field_name}) is not in {file_name}; "
                f"its columns are: " + ", ".join(repr(c) for c in columns))
    taken = {c for c in given.values() if c}
    detected = detect_mapping([c for c in columns if c not in taken])
    resolved = {f: c for f, c in detected.items() if f not in given}
    resolved.update({f: c for f, c in given.items() if c})
    return {f: resolved[f] for f in FEEDBACK_FIELDS if f in resolved}


# --------------------------------------------------------------------------- dates

# Patterns for whole columns are strings, not compiled: pandas hands a string to Arrow's
# regex engine (RE2, in C), a compiled pattern to Python's `re` one value at a time, which
# cost more than all the date parsing. Digits are spelled [0-9] because the engines
# disagree on \d: Python's also takes other scripts' digits (pandas' number parser does
# not, so an Arabic-Indic epoch crashed the import); such values take the slower paths.
_EPOCH_S = r"^[0-9]{9,10}(\.[0-9]+)?$"
_EPOCH_MS = r"^[0-9]{12,13}$"
_ISO_PREFIX = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
               r"[ \t]*(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$")
_ISO_AWARE_END = (r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?[ \t]*"
                  r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$")
_ISO_SHAPE = re.compile(r"^9999-99-99")
_AWARE_ISO_SHAPE = re.compile(r"99:99(:99(\.9+)?)?\s*(a|[+-]99(:?99)?)$")

_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %I:%M%p")
_MONTH_FIRST = tuple(f"%m{s}%d{s}{y}{t}" for s in "/-" for y in ("%Y", "%y") for t in _TIMES)
_DAY_FIRST = tuple(f"%d{s}%m{s}{y}{t}" for s in "/.-" for y in ("%Y", "%y") for t in _TIMES)
_OTHER_FORMATS = (
    "%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y.%m.%d", "%Y%m%d",
    "%b %d, %Y", "%B %d, %Y", "%b %d, %Y %H:%M", "%b %d, %Y %I:%M %p", "%B %d, %Y %I:%M %p",
    "%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y", "%d %b %Y %H:%M", "%d-%b-%Y", "%d-%b-%y",
    "%a, %d %b %Y %H:%M:%S %z", "%a %b %d %H:%M:%S %Y", "%A, %B %d, %Y",
)
_DATEUTIL_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def _day_first(values: pd.Series) -> bool:
    candidates = values[values.str.contains(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b",
                                            regex=True)]
    if candidates.empty:
        return False
    parts = pc.extract_regex(pa.array(candidates.tolist(), type=pa.string()),
                             r"^\s*(?P<first>\d{1,2})(?P<sep>[/.-])(?P<second>\d{1,2})")
    first = pc.cast(pc.struct_field(parts, "first"), pa.int32())
    second = pc.cast(pc.struct_field(parts, "second"), pa.int32())
    if pc.any(pc.greater(second, 12)).as_py():
        return False
    if pc.any(pc.greater(first, 12)).as_py():
        return True
    # Ambiguous throughout: dotted dates are a day-first convention, slashes month-first.
    dotted = pc.sum(pc.equal(pc.struct_field(parts, "sep"), ".")).as_py() or 0
    return dotted * 2 > len(candidates)


def _to_utc_seconds(parsed: pd.Series, tz: str) -> np.ndarray:
    """datetime Series (naive: local time in tz; aware: any zone) -> UTC datetime64[s]."""
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(tz, ambiguous=np.zeros(len(parsed), dtype=bool),
                                       nonexistent="shift_forward")
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")


def _parse_with(values: pd.Series, fmt: str) -> pd.Series:
    aware = "%z" in fmt or fmt == "ISO8601-aware"
    fmt = "ISO8601" if fmt.startswith("ISO8601") else fmt
    return pd.to_datetime(values, format=fmt, errors="coerce", utc=aware)


def _candidate_formats(shape: str, sample: list[str], day_first: bool) -> list[str]:
    if _ISO_SHAPE.match(shape):
        return ["ISO8601-aware" if _AWARE_ISO_SHAPE.search(shape) else "ISO8601"]
    guessed = [guess_datetime_format(v, dayfirst=day_first) for v in sample[:3]]
    slashed = (_DAY_FIRST + _MONTH_FIRST) if day_first else (_MONTH_FIRST + _DAY_FIRST)
    out = []
    for fmt in [g for g in guessed if g] + list(slashed) + list(_OTHER_FORMATS):
        if fmt not in out:
            out.append(fmt)
    return out


def _fallback_parse(value: str, tz: ZoneInfo, day_first: bool) -> datetime | None:
    """One value that no vectorised format read. Reject values that lack a day, month or
    year (dateutil would fill them from a default date) rather than guess them."""
    try:
        first, second = (dateutil_parser.parse(value, dayfirst=day_first, default=d)
                         for d in _DATEUTIL_DEFAULTS)
    except (ValueError, OverflowError, TypeError):
        return None
    if first.date() != second.date():
        return None
    if first.tzinfo is None:
        first = first.replace(tzinfo=tz)
    return first


def parse_dates(values, *, tz: str | None = None) -> list[str | None]:
    """Timestamps in mixed formats -> UTC 'YYYY-MM-DDTHH:MM:SSZ' strings (None: unreadable).

    Vectorised: each distinct value is parsed once; values are grouped by shape (digits and
    letters blurred) and each group is read with one format; only values that no format
    reads go through dateutil one by one.
    """
    return _parse_dates_array(values, tz=tz).tolist()


def _parse_dates_array(values, *, tz: str | None = None) -> np.ndarray:
    """parse_dates as an object array (what the importer indexes with row masks)."""
    tz = tz or get_settings().timezone
    zone = ZoneInfo(tz)
    strings = pd.Series(values, dtype="str").fillna("").str.strip()
    codes, uniques = pd.factorize(strings)
    u = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    parsed = np.full(len(u), np.datetime64("NaT"), dtype="datetime64[s]")
    todo = u.ne("").to_numpy(dtype=bool, copy=True)

    epoch_s = u.str.match(_EPOCH_S).to_numpy(dtype=bool)
    if epoch_s.any():
        seconds = pd.to_numeric(u[epoch_s])
        parsed[epoch_s] = pd.to_datetime(seconds, unit="s", utc=True).dt.tz_localize(
            None).to_numpy().astype("datetime64[s]")
        todo &= ~epoch_s
    epoch_ms = u.str.match(_EPOCH_MS).to_numpy(dtype=bool)
    if epoch_ms.any():
        parsed[epoch_ms] = pd.to_datetime(pd.to_numeric(u[epoch_ms]), unit="ms", utc=True
                                          ).dt.tz_localize(None).to_numpy().astype(
            "datetime64[s]")
        todo &= ~epoch_ms

    # Fast lane for ISO 8601, the most common export format: no shape grouping needed.
    iso_like = todo & u.str.match(_ISO_PREFIX).to_numpy(dtype=bool)
    if iso_like.any():
        candidates = u[iso_like]
        aware = candidates.str.contains(_ISO_AWARE_END).to_numpy(dtype=bool)
        for mask, fmt in ((aware, "ISO8601-aware"), (~aware, "ISO8601")):
            if mask.any():
                group = candidates[mask]
                result = _parse_with(group, fmt)
                ok = result.notna().to_numpy()
                if ok.any():
                    positions = group.index.to_numpy()[ok]
                    parsed[positions] = _to_utc_seconds(result[ok], tz)
                    todo[positions] = False

    if todo.any():
        rest = u[todo]
        day_first = _day_first(rest)
        shapes = rest.str.replace(r"\d", "9", regex=True).str.replace(
            r"[A-Za-z]+", "a", regex=True)
        groups = shapes.groupby(shapes, sort=False).groups
        if len(groups) <= 200:  # beyond that the column is free text: go value by value
            for shape, index in groups.items():
                if "9" not in shape:
                    # Every candidate format reads a day or a year in digits: trying all
                    # eighty on "n/a" or "not a date" only recompiles strptime's patterns.
                    continue
                group = rest.loc[index]
                sample = group.iloc[:20]
                best, best_hits = None, 0
                for fmt in _candidate_formats(shape, sample.tolist(), day_first):
                    hits = int(_parse_with(sample, fmt).notna().sum())
                    if hits > best_hits:
                        best, best_hits = fmt, hits
                    if hits == len(sample):
                        break
                if best is None:
                    continue
                result = _parse_with(group, best)
                ok = result.notna().to_numpy()
                if ok.any():
                    positions = group.index.to_numpy()[ok]
                    parsed[positions] = _to_utc_seconds(result[ok], tz)
                    todo[positions] = False
        for position in np.flatnonzero(todo):
            moment = _fallback_parse(u.iloc[position], zone, day_first)
            if moment is not None:
                parsed[position] = np.datetime64(store.to_iso(moment)[:-1], "s")

    iso = np.datetime_as_string(parsed, unit="s")
    iso_uniques = np.where(np.isnat(parsed), None, np.char.add(iso.astype(str), "Z"))
    return iso_uniques[codes] if len(codes) else np.empty(0, dtype=object)


# --------------------------------------------------------------------------- importing

def _format_score(raw: str) -> str:
    return raw.strip()


def _column_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    # Stripped once, vectorised: every field ignores surrounding white space. An object
    # array of str, so that row masks select from it and .tolist() hands SQLite plain str.
    return frame[column].fillna("").str.strip().to_numpy(dtype=object)


def _missing(values: np.ndarray) -> np.ndarray:
    """Which items of an object array are None (elementwise, unlike `is None`)."""
    return np.equal(values, None)


def _or_none(values: np.ndarray) -> list:
    """Empty strings become NULL in the store. Changes `values` (a fresh selection)."""
    values[values == ""] = None
    return values.tolist()


def _raw_row(frame_columns: list[str], values: list) -> str:
    return json.dumps(dict(zip(frame_columns, values)), ensure_ascii=False)


def import_frame(
    db: sqlite_utils.Database,
    frame: pd.DataFrame,
    *,
    file_name: str,
    mapping: dict[str, str | None] | None = None,
    score_type: str | None = None,
    source: str | None = None,
    actor: str,
    now: datetime | None = None,
    file_sha256: str | None = None,
) -> ImportResult:
    """Validate every row of `frame` (strings, as from read_table) and write the batch.

    `mapping`: field -> column; fields it leaves out are detected, fields it maps to None
    are not imported. `score_type`: the scale of the score column when rows do not say
    (default: from the column's name). `source`: default the file name's stem.
    """
    started = now or store.utcnow()
    if score_type is not None and score_type not in SCORE_TYPES:
        raise ImportFileError(f"unknown score type {score_type!r}; expected one of "
                              + ", ".join(SCORE_TYPES))
    columns = data_columns(frame)
    if not columns and READ_ERROR in frame and len(frame):
        raise ImportFileError(f"{file_name}: no row could be read; the first problem: "
                              f"{frame[READ_ERROR].iloc[0]}")
    resolved = resolve_mapping(columns, mapping, file_name=file_name)
    if "received_at" not in resolved:
        raise ImportFileError(
            f"{file_name}: no date column found (columns: "
            + ", ".join(repr(c) for c in columns)
            + "); say which one holds the date, e.g. --map received_at='Date received'")
    if "comment" not in resolved and "score" not in resolved:
        raise ImportFileError(
            f"{file_name}: neither a comment nor a score column found (columns: "
            + ", ".join(repr(c) for c in columns)
            + "); map one, e.g. --map comment=COLUMN or --map score=COLUMN")
    file_score_type = score_type or infer_score_type(resolved.get("score"))
    if "score" in resolved and not file_score_type and "score_type" not in resolved:
        raise ImportFileError(
            f"{file_name}: the score column {resolved['score']!r} does not say its scale; "
            "give the score type (nps, csat, ces or rating), e.g. --score-type nps")
    source_name = (source or "").strip() or Path(file_name).stem or file_name

    n = len(frame)
    values = {f: _column_values(frame, c) for f, c in resolved.items()}
    dates = _parse_dates_array(values["received_at"])
    read_errors = (frame[READ_ERROR].fillna("").to_numpy(dtype=object) if READ_ERROR in frame
                   else None)
    read_raws = frame[READ_RAW].fillna("").tolist() if READ_RAW in frame else [""] * n

    # Validation, a column at a time: each rule below is a mask over all rows, applied in
    # the order a row's problems are reported, and a row is rejected for its first problem
    # only. Python touches a row one by one only to word the reason of a rejected one.
    pending = np.ones(n, dtype=bool)  # not rejected (yet)
    rejects: list[tuple[int, str | None, str]] = []  # (index, field, reason)

    def reject(mask, field_name, reason):
        hit = pending & mask
        rejects.extend((i, field_name, reason(i)) for i in np.flatnonzero(hit).tolist())
        pending[hit] = False

    if read_errors is not None:
        reject(read_errors != "", None, lambda i: read_errors[i])
    raw_dates = values["received_at"]
    date_column = resolved["received_at"]
    reject(_missing(dates), "received_at",
           lambda i: f"the date is empty (column {date_column!r})" if not raw_dates[i]
           else f"cannot read the date {raw_dates[i]!r}")

    row_types = np.full(n, file_score_type, dtype=object)
    if "score_type" in values:
        given = values["score_type"]
        codes, uniques = pd.factorize(given)  # a handful of spellings: normalise each once
        row_types = np.array([normalise_score_type(u) if u else file_score_type
                              for u in uniques], dtype=object)[codes]
        reject((given != "") & _missing(row_types), "score_type",
               lambda i: f"unknown score type {given[i]!r} (expected nps, csat, ces or rating)")

    has_score = np.zeros(n, dtype=bool)
    numbers = np.full(n, np.nan)
    if "score" in values:
        raw_scores = values["score"]
        has_score = raw_scores != ""
        decimal_points = pd.Series(raw_scores, dtype="str").str.replace(
            r"^([+-]?\d+),(\d+)$", r"\1.\2", regex=True)  # "9,5": a decimal comma
        numbers = pd.to_numeric(decimal_points, errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan)
        reject(has_score & ~np.isfinite(numbers), "score",
               lambda i: f"the score {_format_score(raw_scores[i])!r} is not a number")
        reject(has_score & _missing(row_types), "score_type",
               lambda i: f"score {_format_score(raw_scores[i])} has no score type "
                         "(expected nps, csat, ces or rating)")
        low = np.full(n, np.nan)
        high = np.full(n, np.nan)
        for name, (scale_low, scale_high) in SCORE_SCALES.items():
            on_scale = row_types == name
            low[on_scale], high[on_scale] = scale_low, scale_high
        with np.errstate(invalid="ignore"):
            outside = has_score & ((numbers < low) | (numbers > high))
        reject(outside, "score",
               lambda i: f"score {_format_score(raw_scores[i])} is outside the "
                         f"{_SCALE_NAMES[row_types[i]]} scale "
                         f"{SCORE_SCALES[row_types[i]][0]}-{SCORE_SCALES[row_types[i]][1]}")
    comments = values.get("comment")
    no_comment = comments == "" if comments is not None else np.ones(n, dtype=bool)
    reject(no_comment & ~has_score, "comment",
           lambda i: "the comment is empty and there is no score")
    rejects.sort(key=lambda r: r[0])  # file order

    keep = np.flatnonzero(pending)
    scored = has_score[keep]
    columns_in = {
        "received_at": dates[keep].tolist(),
        # Python floats where there is a score, NULL where there is none.
        "score": np.where(scored, numbers[keep], None).tolist(),
        "score_type": np.where(scored, row_types[keep], None).tolist(),
    }
    if "source" in values:
        sources = values["source"][keep]
        sources[sources == ""] = source_name
        columns_in["source"] = sources.tolist()
    else:
        columns_in["source"] = [source_name] * len(keep)
    for f in resolved:  # the comment and the text fields
        if f not in columns_in and f != "score_type":
            columns_in[f] = _or_none(values[f][keep])

    reject_rows = []
    if rejects:
        picked = frame[columns].iloc[[index for index, _, _ in rejects]].fillna("")
        for (index, field_name, reason), cells in zip(
                rejects, picked.itertuples(index=False, name=None)):
            raw = read_raws[index] or _raw_row(columns, list(cells))
            reject_rows.append((index + 1, field_name, reason, raw))

    mapping_json = json.dumps(resolved, ensure_ascii=False)
    with store.write_transaction(db):
        cursor = db.execute(
            "INSERT INTO import_batches (file_name, source, file_sha256, mapping, score_type,"
            " started_at, rows_read, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [file_name, source_name, file_sha256, mapping_json, file_score_type,
             store.to_iso(started), n, actor],
        )
        batch_id = cursor.lastrowid
        imported, duplicates = insert_feedback_columns(db, columns_in, batch_id=batch_id,
                                                       actor=actor, now=started)
        db.conn.executemany(
            "INSERT INTO import_rejects (batch_id, row_number, field, reason, raw) "
            "VALUES (?, ?, ?, ?, ?)",
            [(batch_id, *r) for r in reject_rows],
        )
        finished = now or store.utcnow()
        db.execute(
            "UPDATE import_batches SET finished_at = ?, imported = ?, duplicates = ?, "
            "rejected = ? WHERE id = ?",
            [store.to_iso(finished), imported, duplicates, len(reject_rows), batch_id],
        )
    return ImportResult(batch_id=batch_id, file_name=file_name, rows_read=n,
                        imported=imported, duplicates=duplicates, rejected=len(reject_rows),
                        mapping=resolved, score_type=file_score_type)


def import_file(
    db: sqlite_utils.Database,
    path: Path,
    *,
    mapping: dict[str, str | None] | None = None,
    score_type: str | None = None,
    source: str | None = None,
    actor: str,
    now: datetime | None = None,
) -> ImportResult:
    """Read and import one file; see import_frame."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{path.name}: cannot read the file ({exc.strerror or exc})"
                              ) from exc
    frame = read_table(data, name=path.name)
    return import_frame(db, frame, file_name=path.name, mapping=mapping,
                        score_type=score_type, source=source, actor=actor, now=now,
                        file_sha256=hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------- reading back

def rejects_frame(db: sqlite_utils.Database, batch_id: int) -> pd.DataFrame:
    """The rejected rows of one batch, in file order."""
    rows = db.execute(
        "SELECT row_number, field, reason, raw FROM import_rejects WHERE batch_id = ? "
        "ORDER BY row_number, id", [batch_id]).fetchall()
    return pd.DataFrame(rows, columns=["row_number", "field", "reason", "raw"])


def recent_batches(db: sqlite_utils.Database, limit: int = 20) -> pd.DataFrame:
    """The latest import batches, newest first."""
    columns = ["id", "file_name", "source", "started_at", "finished_at", "rows_read",
               "imported", "duplicates", "rejected", "score_type", "actor"]
    rows = db.execute(
        f"SELECT {', '.join(columns)} FROM import_batches ORDER BY id DESC LIMIT ?",
        [int(limit)]).fetchall()
    return pd.DataFrame(rows, columns=columns)

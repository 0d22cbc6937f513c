"""Reading JSON Lines and JSON arrays of objects: a line that is not an object is a row
with its reason, and keys that collide (after stripping spaces, or repeated) are warned of.
"""

from __future__ import annotations

import io
import itertools
import json

import pandas as pd

from analysis.ingest.decoding import say
from analysis.ingest.errors import ImportFileError
from analysis.ingest.frames import (
    and_list,
    build_frame,
    capped,
    fallback_warning,
    numbered,
    renamed_phrase,
    rows_touching,
    unique_labels,
)
from analysis.messages import clip, excerpt


class _RepeatedKeys(dict):
    """A JSON object that gives a key twice: the dict json would make (the last value
    wins), and every pair, so that no value is lost."""

    pairs: list


def _object_pairs(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        obj = _RepeatedKeys(obj)
        obj.pairs = pairs
    return obj


_JSON = json.JSONDecoder(object_pairs_hook=_object_pairs)


def _too_deep(noun: str) -> str:
    """The reason for a row whose arrays or objects json cannot follow to the bottom."""
    return (f"the {noun} is nested too deeply to read (arrays or objects inside one "
            "another hundreds of levels deep)")


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


def _object_row(obj: dict) -> tuple[dict, list[tuple]]:
    """The object's values by column name (keys stripped, repeats renamed "Key.1"), and
    (label, keys as given, names read as) for each repeated key."""
    if type(obj) is dict:
        row = {k.strip(): v for k, v in obj.items()}  # JSON keys are always strings
        if len(row) == len(obj):
            return row, []
    pairs = obj.pairs if isinstance(obj, _RepeatedKeys) else list(obj.items())
    keys = [k for k, _ in pairs]
    names, repeats = unique_labels([k.strip() for k in keys])
    collisions = [(label, tuple(keys[i] for i in at), tuple(names[i] for i in at[1:]))
                  for label, at in repeats.items()]
    return dict(zip(names, (v for _, v in pairs))), collisions


def _key_warnings(collisions: dict[tuple, list[int]]) -> list[str]:
    warnings = [
        f"the key {excerpt(label)} appears {len(keys):,} times in {numbered('row', rows)} "
        f"(as {and_list([excerpt(k) for k in keys])}; spaces around a key are ignored); "
        f"{renamed_phrase(list(renamed))}"
        for (label, keys, renamed), rows in collisions.items()]
    return capped(warnings, "repeated keys")


def _objects_to_frame(items: list[tuple[object, str, str]],
                      noun: str) -> tuple[pd.DataFrame, list[str]]:
    """items: (parsed object or None, error, raw text) per row. The frame, and warnings."""
    try:
        return _frame_of(items, noun)
    except RecursionError:
        # json writes a nested value back a frame or two deeper than it read it, so a value
        # nested just short of the limit fails only here: write every value as text row by
        # row, rejecting the rows that cannot be, and build the frame from text alone.
        return _frame_of([_as_text(item, noun) for item in items], noun)


def _as_text(item: tuple[object, str, str], noun: str) -> tuple[object, str, str]:
    obj, error, raw = item
    if error or not isinstance(obj, dict):
        return item
    pairs = obj.pairs if isinstance(obj, _RepeatedKeys) else list(obj.items())
    try:
        return _object_pairs([(k, _cell(v)) for k, v in pairs]), "", raw
    except RecursionError:
        return None, _too_deep(noun), raw


def _frame_of(items: list[tuple[object, str, str]],
              noun: str) -> tuple[pd.DataFrame, list[str]]:
    rows: list[dict] = []
    errors, raws = [], []
    collisions: dict[tuple, list[int]] = {}
    plain: dict[tuple, bool] = {}  # key tuples that need no stripping: most files repeat one
    for number, (obj, error, raw) in enumerate(items, 1):
        if error or not isinstance(obj, dict):
            rows.append({})
            errors.append(error or f"the {noun} is a JSON {type(obj).__name__}, not an object")
            raws.append(json.dumps(raw, ensure_ascii=False))
            continue
        keys = tuple(obj)
        if keys not in plain:
            plain[keys] = all(k == k.strip() for k in keys)
        row, repeated = (obj, ()) if type(obj) is dict and plain[keys] else _object_row(obj)
        for collision in repeated:
            collisions.setdefault(collision, []).append(number)
        rows.append(row)
        errors.append("")
        raws.append("")
    names = list(dict.fromkeys(itertools.chain.from_iterable(rows)))  # first seen, first
    cells = {}
    for c in names:  # a column at a time: most cells are strings already
        values = [row.get(c) for row in rows]
        cells[c] = [v if type(v) is str else _cell(v) for v in values]
    return build_frame(names, cells, errors, raws), _key_warnings(collisions)


_JSON_TYPE = {"dict": "object", "list": "array", "str": "string", "int": "number",
              "float": "number", "bool": "boolean", "NoneType": "null",
              "_RepeatedKeys": "object"}


def _json_line(line: str) -> tuple[object, str, str]:
    try:
        obj = _JSON.decode(line)
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        return None, f"the line is not valid JSON: {msg}" + (f" (column {col})" if col else ""), line
    except RecursionError:
        return None, _too_deep("line"), line
    if not isinstance(obj, dict):
        kind = _JSON_TYPE.get(type(obj).__name__, type(obj).__name__)
        return None, f"the line is a JSON {kind}, not an object", line
    return obj, "", line


def read_json_lines(text: str, fallback: list[tuple[int, int, int]] = ()) -> pd.DataFrame:
    # Lines end at \n, \r\n or \r only: a JSON string may hold U+2028 or U+0085, which
    # str.splitlines would break a record at.
    lines = io.StringIO(text, newline="").readlines()
    items = [_json_line(line.rstrip("\r\n")) for line in lines if line.strip()]
    frame, warnings = _objects_to_frame(items, "line")
    if fallback:
        offsets = list(itertools.accumulate(map(len, lines), initial=0))
        spans = [(offsets[i], offsets[i + 1]) for i, line in enumerate(lines) if line.strip()]
        warnings.append(fallback_warning(rows_touching(spans, fallback)))
    frame.attrs["warnings"] = warnings
    return frame


def _array_item(obj: object) -> tuple[object, str, str]:
    if isinstance(obj, dict):
        return obj, "", ""
    try:
        raw = json.dumps(obj, ensure_ascii=False)
    except RecursionError:
        return None, _too_deep("item"), ""
    kind = _JSON_TYPE.get(type(obj).__name__, type(obj).__name__)
    return None, f"the item is a JSON {kind}, not an object", raw


def read_json_array(text: str, name: str,
                     fallback: list[tuple[int, int, int]] = ()) -> pd.DataFrame:
    try:
        data = _JSON.decode(text)
    except ValueError as exc:
        raise ImportFileError(say(name, f"not valid JSON ({clip(str(exc))})")) from exc
    except RecursionError as exc:
        # One value too deep spoils the whole array: json cannot say where the items end.
        raise ImportFileError(say(name, "not readable as JSON: its arrays or objects are "
                                        "nested inside one another hundreds of levels "
                                        "deep")) from exc
    if not isinstance(data, list):
        raise ImportFileError(say(name, "expected a JSON array of objects or JSON Lines"))
    frame, warnings = _objects_to_frame([_array_item(obj) for obj in data], "item")
    if fallback:  # items do not keep their lines: name the lines
        warnings.append(fallback_warning([number for number, _, _ in fallback], noun="line"))
    frame.attrs["warnings"] = warnings
    return frame

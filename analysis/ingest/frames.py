"""The frame `read_table` returns, and the words its warnings share.

Every reader builds its result with `build_frame`: the file's columns as strings, plus, for
rows it could not split into fields, the READ_ERROR and READ_RAW columns that the importer
turns into rejects. Column names are made unique here, with a warning for each repeat.
"""

from __future__ import annotations

import bisect

import pandas as pd
import pyarrow as pa

from analysis.messages import excerpt

# Columns that read_table adds for rows it could not split into fields (bad JSON line, wrong
# number of CSV values): the reason, and the row as read. They are not data columns.
READ_ERROR = "_closeloop_read_error"
READ_RAW = "_closeloop_read_raw"
RESERVED = (READ_ERROR, READ_RAW)
LISTED = 10  # row numbers, columns or warnings a message lists before "…"


def build_frame(columns: list[str], cells: dict[str, list], errors: list, raws: list) -> pd.DataFrame:
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


def unique_labels(labels: list[str]) -> tuple[list[str], dict[str, list[int]]]:
    """Labels made unique ("Name", "Name.1", ...; never a label the list already holds),
    and, for each label given more than once, the positions where it was given."""
    names, first, repeats, taken = [], {}, {}, set(labels)
    suffix: dict[str, int] = {}  # per label, the lowest suffix not yet known to be taken:
    # so that n repeats of a name cost n steps, not n²
    for i, label in enumerate(labels):
        if label not in first:
            first[label] = i
            names.append(label)
            continue
        repeats.setdefault(label, [first[label]]).append(i)
        n = suffix.get(label, 1)
        while f"{label}.{n}" in taken:
            n += 1
        suffix[label] = n + 1
        taken.add(f"{label}.{n}")
        names.append(f"{label}.{n}")
    return names, repeats


def and_list(items: list[str]) -> str:
    shown = items[:LISTED] + (["…"] if len(items) > LISTED else [])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def renamed_phrase(renamed: list[str]) -> str:
    if len(renamed) == 1:
        return (f"the second is read as {excerpt(renamed[0])} and is not imported unless "
                "you map it")
    return (f"the others are read as {and_list([excerpt(r) for r in renamed])} and are not "
            "imported unless you map them")


def capped(messages: list[str], what: str) -> list[str]:
    if len(messages) <= LISTED:
        return messages
    return messages[:LISTED] + [f"… and {len(messages) - LISTED:,} more {what}"]


def unique_names(header: list[str]) -> tuple[list[str], list[str]]:
    """Column names for a header row, and a warning for each name it repeats."""
    labels = [raw.strip() or f"column {i + 1}" for i, raw in enumerate(header)]
    names, repeats = unique_labels(labels)
    warnings = [
        f"the header {excerpt(label)} appears {len(at):,} times (columns "
        f"{and_list([f'{i + 1:,}' for i in at])}); {renamed_phrase([names[i] for i in at[1:]])}"
        for label, at in repeats.items()]
    return names, capped(warnings, "repeated headers")


def rows_touching(spans: list[tuple[int, int]],
                   fallback: list[tuple[int, int, int]]) -> list[int]:
    """1-based numbers of the spans (start, end offsets) that hold a fallback line."""
    starts = [start for _, start, _ in fallback]
    hits = []
    for number, (start, end) in enumerate(spans, 1):
        i = bisect.bisect_left(starts, end) - 1  # the last fallback line starting before end
        if i >= 0 and fallback[i][2] > start:
            hits.append(number)
    return hits


def numbered(noun: str, numbers: list[int]) -> str:
    listed = ", ".join(f"{n:,}" for n in numbers[:LISTED])
    return (f"{noun} {listed}" if len(numbers) == 1
            else f"{noun}s {listed}{', …' if len(numbers) > LISTED else ''}")


def fallback_warning(numbers: list[int], *, header: bool = False, noun: str = "row") -> str:
    parts = ["the header row"] if header else []
    if numbers:
        count = f"{len(numbers):,} {noun}{'s' if len(numbers) != 1 else ''}"
        parts.append(f"{count} ({numbered(noun, numbers)})")
    several = len(numbers) + header > 1
    return (f"{' and '.join(parts)} {'are' if several else 'is'} not UTF-8 like the rest of "
            f"the file: read as Windows-1252 (Latin-1), so check {'their' if several else 'its'}"
            " accents")

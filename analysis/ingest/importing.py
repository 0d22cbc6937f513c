"""Importing a read file: convert and validate every row, then write the batch, its
feedback rows and its rejects in one transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from analysis import store
from analysis.domain.scores import SCALE_NAMES, SCORE_SCALES, SCORE_STEPS
from analysis.ingest.batches import add_rejects, close_batch, open_batch
from analysis.ingest.dates import check_dates
from analysis.ingest.errors import ImportFileError
from analysis.ingest.feedback import insert_feedback_columns
from analysis.ingest.mapping import (
    SCORE_TYPES,
    infer_score_type,
    normalise_score_type,
    resolve_mapping,
)
from analysis.ingest.reading import READ_ERROR, READ_RAW, data_columns, read_table
from analysis.messages import EXCERPT_CHARS, excerpt, excerpts

_PLAIN_NUMBER = r"^[+-]?[0-9]+(?:\.[0-9]+|,[0-9]{1,2})?$"  # an Arrow regex: digits spelled [0-9]


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
    warnings: list[str] = dataclass_field(default_factory=list)
    """What the import did not stop for but the user should know (from read_table's
    frame.attrs["warnings"]: duplicated headers, mixed encodings, ...)."""

    def summary_line(self) -> str:
        return (f"imported {self.imported}, duplicates skipped {self.duplicates}, "
                f"rejected {self.rejected} (batch {self.batch_id}, {self.file_name})")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str) -> str:
    """A score that passed the plain-number check, as the file wrote it: digits need no
    quotes, but a value of a million zeros still needs cutting."""
    return text if len(text) <= EXCERPT_CHARS else excerpt(text)


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
        raise ImportFileError(f"unknown score type {excerpt(score_type)}; expected one of "
                              + ", ".join(SCORE_TYPES))
    columns = data_columns(frame)
    if not columns and READ_ERROR in frame and len(frame):
        raise ImportFileError(f"{file_name}: no row could be read; the first problem: "
                              f"{frame[READ_ERROR].iloc[0]}")
    resolved = resolve_mapping(columns, mapping, file_name=file_name)
    if "received_at" not in resolved:
        raise ImportFileError(
            f"{file_name}: no date column found (columns: "
            + excerpts(columns)
            + "); say which one holds the date, e.g. --map received_at='Date received'")
    if "comment" not in resolved and "score" not in resolved:
        raise ImportFileError(
            f"{file_name}: neither a comment nor a score column found (columns: "
            + excerpts(columns)
            + "); map one, e.g. --map comment=COLUMN or --map score=COLUMN")
    file_score_type = score_type or infer_score_type(resolved.get("score"))
    if "score" in resolved and not file_score_type and "score_type" not in resolved:
        raise ImportFileError(
            f"{file_name}: the score column {excerpt(resolved['score'])} does not say its scale; "
            "give the score type (nps, csat, ces or rating), e.g. --score-type nps")
    source_name = (source or "").strip() or Path(file_name).stem or file_name

    n = len(frame)
    values = {f: _column_values(frame, c) for f, c in resolved.items()}
    dates, date_problems = check_dates(values["received_at"], now=started)
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
           lambda i: f"the date is empty (column {excerpt(date_column)})" if not raw_dates[i]
           else date_problems[i] or f"cannot read the date {excerpt(raw_dates[i])}")

    row_types = np.full(n, file_score_type, dtype=object)
    if "score_type" in values:
        given = values["score_type"]
        codes, uniques = pd.factorize(given)  # a handful of spellings: normalise each once
        row_types = np.array([normalise_score_type(u) if u else file_score_type
                              for u in uniques], dtype=object)[codes]
        reject((given != "") & _missing(row_types), "score_type",
               lambda i: f"unknown score type {excerpt(given[i])} (expected nps, csat, ces or rating)")

    has_score = np.zeros(n, dtype=bool)
    numbers = np.full(n, np.nan)
    if "score" in values:
        raw_scores = values["score"]
        has_score = raw_scores != ""
        plain = pd.Series(raw_scores, dtype="str").str.match(_PLAIN_NUMBER).to_numpy(
            dtype=bool)
        # "9,5": a decimal comma. "1e1", "0x9", "inf" and "١٠" are numbers to Python but
        # not how a survey export writes a score: rejected, not guessed.
        decimal_points = pd.Series(raw_scores, dtype="str").str.replace(",", ".", regex=False)
        numbers = np.where(plain, pd.to_numeric(decimal_points.where(plain, ""),
                                                errors="coerce"), np.nan).astype("float64")
        reject(has_score & ~np.isfinite(numbers), "score",
               lambda i: f"the score {excerpt(raw_scores[i])} is not a number"
               if not _is_number(raw_scores[i]) else
               f"the score {excerpt(raw_scores[i])} is not written as a plain number "
               "(digits, with a decimal point or comma)")
        reject(has_score & _missing(row_types), "score_type",
               lambda i: f"score {_number(raw_scores[i])} has no score type "
                         "(expected nps, csat, ces or rating)")
        low, high, step = (np.full(n, np.nan) for _ in range(3))
        for name, (scale_low, scale_high) in SCORE_SCALES.items():
            on_scale = row_types == name
            low[on_scale], high[on_scale] = scale_low, scale_high
            step[on_scale] = SCORE_STEPS[name]
        with np.errstate(invalid="ignore"):
            outside = has_score & ((numbers < low) | (numbers > high))
            between = has_score & (np.mod(numbers, step) != 0)
        reject(outside, "score",
               lambda i: f"score {_number(raw_scores[i])} is outside the "
                         f"{SCALE_NAMES[row_types[i]]} scale "
                         f"{SCORE_SCALES[row_types[i]][0]}-{SCORE_SCALES[row_types[i]][1]}")
        reject(between, "score",
               lambda i: f"{SCALE_NAMES[row_types[i]]} scores are whole numbers; "
                         f"score {_number(raw_scores[i])} is not"
                         if SCORE_STEPS[row_types[i]] == 1 else
                         f"ratings are whole or half stars; score {_number(raw_scores[i])} "
                         "is neither")
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

    with store.write_transaction(db):
        batch_id = open_batch(db, file_name=file_name, source=source_name, actor=actor,
                              now=started, rows_read=n, mapping=resolved,
                              score_type=file_score_type, file_sha256=file_sha256)
        imported, duplicates = insert_feedback_columns(db, columns_in, batch_id=batch_id,
                                                       actor=actor, now=started)
        add_rejects(db, batch_id, reject_rows)
        close_batch(db, batch_id, now=now or store.utcnow(), imported=imported,
                    duplicates=duplicates, rejected=len(reject_rows))
    return ImportResult(batch_id=batch_id, file_name=file_name, rows_read=n,
                        imported=imported, duplicates=duplicates, rejected=len(reject_rows),
                        mapping=resolved, score_type=file_score_type,
                        warnings=list(frame.attrs.get("warnings", [])))


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

"""Export feedback with its sentiment and themes as one CSV row per response.

    n = export_feedback(db, "feedback.csv", filters=Filters(locations=("North",)))

The file is written in batches (keyset pagination on feedback id) so that 100,000 rows
never sit in memory at once, and every cell goes through `csv_safety.to_safe_csv`, which
neutralises spreadsheet formula injection (a comment starting with "=" must not run in
Excel). `theme_id` is the primary active theme; `theme` names all of the response's
active themes, primary first, then by probability, separated by "; ". `parent_theme_id` and
`parent_theme` are the primary theme's parent theme.

Personal data (issue 24): the file never holds the customer's id, name, email or key (they
are not export columns), and the comment text is masked by default with
`analysis.privacy.masking.mask_text` (emails, phone numbers, card numbers, IBANs become
"[email]", "[phone]", "[card]", "[iban]"). `masked=False` writes the raw text; the CLI's
`--unmasked` asks for it (it will require the admin role once sign-in and roles land).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import sqlite_utils

from analysis.domain.filters import Filters

EXPORT_COLUMNS = [
    "external_id", "received_at", "location", "segment", "score_type", "score", "comment",
    "sentiment_label", "sentiment_score", "theme_id", "theme", "parent_theme_id", "parent_theme",
]
THEME_SEPARATOR = "; "
BATCH_ROWS = 5000


def export_feedback(db: sqlite_utils.Database, out_path: str | Path, *,
                    filters: Filters | None = None, batch_rows: int = BATCH_ROWS,
                    masked: bool = True) -> int:
    """Write the feedback matching `filters` (all of it by default) to `out_path` as CSV;
    return the number of rows written. Comments are masked (personal data replaced by
    placeholders) unless `masked` is False. The file appears whole or not at all: it is
    written next to the target and renamed into place at the end."""
    from analysis.privacy.masking import mask_value
    from analysis.reports.csv_safety import to_safe_csv

    out_path = Path(out_path)
    where, params = (filters or Filters()).where_sql(readable_dates_only=False)
    header = to_safe_csv(_empty_frame())
    tmp_path = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    written, last_id = 0, 0
    try:
        with open(tmp_path, "wb") as out:
            out.write(header)
            while True:
                frame, last_id = _batch(db, where, params, last_id, batch_rows)
                if frame is None:
                    break
                if masked:
                    frame["comment"] = frame["comment"].map(mask_value)
                body = to_safe_csv(frame)
                # Each batch is serialised with its own header line; keep only the first.
                if not body.startswith(header):
                    raise RuntimeError("to_safe_csv did not start its output with the header")
                out.write(body[len(header):])
                written += len(frame)
        os.replace(tmp_path, out_path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return written


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in EXPORT_COLUMNS})


def _batch(db, where: str, params: list, after_id: int, size: int):
    rows = db.execute(f"""
        SELECT f.id, f.external_id, f.received_at, f.location, f.segment, f.score_type,
               f.score, f.comment, s.label, s.score
        FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
        WHERE f.id > ? AND ({where}) ORDER BY f.id LIMIT ?""",
        [after_id] + list(params) + [size]).fetchall()
    if not rows:
        return None, after_id
    ids = [r[0] for r in rows]
    themes = _themes_for(db, ids[0], ids[-1])
    records = []
    for fid, external_id, received_at, location, segment, score_type, score, comment, \
            label, sentiment_score in rows:
        assigned = themes.get(fid, [])
        primary = next(((tid, parent) for tid, _, is_primary, parent in assigned if is_primary),
                       (None, None))
        records.append({
            "external_id": external_id, "received_at": received_at, "location": location,
            "segment": segment, "score_type": score_type, "score": score, "comment": comment,
            "sentiment_label": label, "sentiment_score": sentiment_score,
            "theme_id": primary[0],
            "theme": THEME_SEPARATOR.join(name for _, name, _, _ in assigned) or None,
            "parent_theme_id": primary[1][0] if primary[1] else None,
            "parent_theme": primary[1][1] if primary[1] else None,
        })
    frame = pd.DataFrame.from_records(records, columns=EXPORT_COLUMNS)
    # Whole numbers stay whole in the file (no "12.0" theme ids).
    frame["theme_id"] = frame["theme_id"].astype("Int64")
    frame["parent_theme_id"] = frame["parent_theme_id"].astype("Int64")
    return frame, ids[-1]


def _themes_for(db, first_id: int, last_id: int) -> dict[int, list[tuple]]:
    """Active themes per feedback id in [first_id, last_id], primary first: (theme id,
    name, is_primary, (parent id, parent name) or None)."""
    out: dict[int, list[tuple]] = {}
    for fid, tid, name, is_primary, parent_id, parent_name in db.execute("""
            SELECT ta.feedback_id, t.id, t.name, ta.is_primary, p.id, p.name
            FROM theme_assignments ta JOIN themes t ON t.id = ta.theme_id
            LEFT JOIN themes p ON p.id = t.parent_id AND p.status = 'active'
            WHERE ta.feedback_id BETWEEN ? AND ? AND t.status = 'active'
            ORDER BY ta.feedback_id, ta.is_primary DESC, ta.probability DESC, t.id""",
            [first_id, last_id]):
        parent = (parent_id, parent_name) if parent_id is not None else None
        out.setdefault(fid, []).append((tid, name, is_primary, parent))
    return out

"""A demo data set, and writing it: the rows into a store as one import batch (one
transaction), the truth beside them as JSON.

    result = generate_demo(db, rows=20000, seed=7, truth_path=Path("data/demo_truth.json"),
                           actor="system", now=None)

What a newcomer sees first, and what the detectors are tested against: eight locations of
clearly different size, NPS/CSAT/CES surveys, reviews, tickets, social posts and emails over
the 18 months ending at `now`, with comments written from many templates (typos, sarcasm,
mixed themes, @handles, URLs and location names included), repeat customers, and weekly and
yearly seasonality. Four effects are injected on purpose and described in the truth file:

- spike: one theme at one location in one ISO week gets several times its usual volume;
- worse_location: one location is about twice the network's share on one theme, always;
- improvement: from a known date one location's share of one theme is halved;
- driver: whoever mentions one theme scores one step lower on the scale, so it costs the most
  score points (the truth gives every theme's true points, as the key-drivers regression
  estimates them).

The same seed and the same `now` give byte-identical rows and truth file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlite_utils

from analysis import store
from analysis.demo.generator import as_utc, draw, feedback_records
from analysis.demo.truth import measure, write_truth
from analysis.ingest.batches import close_batch, open_batch
from analysis.ingest.feedback import insert_feedback


@dataclass
class DemoResult:
    rows: int
    truth: dict
    batch_id: int | None = None
    duplicates: int = 0


@dataclass
class DemoData:
    """The generated data set before it is written: records and truth."""
    records: list[dict]
    truth: dict


def build_demo(rows: int, seed: int, *, now: datetime) -> DemoData:
    """Generate the rows and the truth without touching a database (pure, deterministic)."""
    sample = draw(rows, seed, now=now)
    return DemoData(records=feedback_records(sample), truth=measure(sample))


def generate_demo(
    db: sqlite_utils.Database,
    rows: int = 20000,
    seed: int = 7,
    *,
    truth_path: Path | None = None,
    actor: str,
    now: datetime | None = None,
) -> DemoResult:
    """Write `rows` demo feedback rows (one import batch, one transaction) and their truth.

    Returns the number of rows actually inserted (rows already present, e.g. from an
    earlier run with the same seed, are skipped as duplicates) and the truth dict, which
    is exactly what `truth_path` receives as JSON.
    """
    now = as_utc(now or store.utcnow())
    data = build_demo(rows, seed, now=now)
    with store.write_transaction(db):
        batch_id = open_batch(db, file_name="demo", source="demo", actor=actor, now=now,
                              rows_read=len(data.records))
        inserted, duplicates = insert_feedback(db, data.records, batch_id=batch_id,
                                               actor=actor, now=now)
        close_batch(db, batch_id, now=now, imported=inserted, duplicates=duplicates,
                    rejected=0)
    truth = data.truth
    truth["rows_written"] = inserted
    truth["batch_id"] = batch_id
    # Keep `rows` last in the file: everything a reader wants first sits above it.
    truth["rows"] = truth.pop("rows")
    if truth_path is not None:
        write_truth(truth, Path(truth_path))
    return DemoResult(rows=inserted, truth=truth, batch_id=batch_id, duplicates=duplicates)

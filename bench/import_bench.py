"""Import speed: 100,000 realistic survey rows through `ingest.import_file`.

    .venv/bin/python bench/import_bench.py [--rows 100000] [--seed 3]

Writes a CSV with mixed date formats (ISO with offsets, naive ISO, US m/d/Y, epoch seconds,
"Mar 5, 2024") and about 1% bad rows (scores off the scale, unreadable dates, empty rows),
imports it into a fresh temporary database, and prints a human line then, last, one JSON
object. Target: rows_per_s >= 20,000.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import ingest, store  # noqa: E402

TARGET_ROWS_PER_S = 20_000
STORES = [f"Store {c}{n}" for c in "ABCDEFGH" for n in range(1, 7)]
CHANNELS = ["web", "app", "email", "in store", "phone"]
SEGMENTS = ["Basic", "Plus", "Premium"]
TOUCHPOINTS = ["checkout", "delivery", "support", "returns", "onboarding"]
OPENERS = ["The staff were", "Delivery was", "Checkout felt", "Support was", "The app is",
           "My order was", "The store looked", "Returns were"]
WORDS = ["friendly", "slow", "quick", "confusing", "great", "late", "broken", "helpful",
         "rude", "clean", "expensive", "easy", "painful", "smooth", "crowded", "excellent"]


def _date_text(rng: random.Random, moment: datetime) -> str:
    style = rng.random()
    if style < 0.35:
        return moment.astimezone(timezone(timedelta(hours=rng.choice([-5, 0, 1, 2])))
                                 ).isoformat(timespec="seconds")
    if style < 0.60:
        return moment.strftime("%Y-%m-%d %H:%M")
    if style < 0.80:
        return f"{moment.month}/{moment.day}/{moment.year} {moment:%H:%M}"
    if style < 0.90:
        return str(int(moment.timestamp()))
    return moment.strftime("%b %d, %Y").replace(" 0", " ")


def write_csv(path: Path, rows: int, seed: int) -> int:
    """Write the file; return how many rows were made bad on purpose."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    bad = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Response ID", "Recorded Date", "NPS", "Comment", "Store", "Channel",
                         "Segment", "Touchpoint", "Customer Email", "Customer ID"])
        for i in range(rows):
            moment = start + timedelta(seconds=rng.randrange(0, 500 * 86400))
            score = str(rng.choice(range(11)))
            comment = (f"{rng.choice(OPENERS)} {rng.choice(WORDS)} and {rng.choice(WORDS)}, "
                       f"{rng.choice(WORDS)} overall." if rng.random() < 0.8 else "")
            date = _date_text(rng, moment)
            roll = rng.random()
            if roll < 0.004:
                score, bad = "11", bad + 1
            elif roll < 0.007:
                date, bad = "not a date", bad + 1
            elif roll < 0.010:
                score, comment, bad = "", "", bad + 1
            customer = rng.randrange(30_000)
            writer.writerow([f"R{i:07d}", date, score, comment, rng.choice(STORES),
                             rng.choice(CHANNELS), rng.choice(SEGMENTS), rng.choice(TOUCHPOINTS),
                             f"Customer{customer}@Example.com" if customer % 3 else "",
                             f"C{customer}" if customer % 3 == 0 else ""])
    return bad


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "bench_survey.csv"
        expected_bad = write_csv(csv_path, args.rows, args.seed)
        db = store.connect(Path(tmp) / "bench.db")
        started, cpu_started = time.perf_counter(), time.process_time()
        result = ingest.import_file(db, csv_path, actor="bench")
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        db.close()
    figures = {
        "rows": result.rows_read,
        "seconds": round(seconds, 2),
        "rows_per_s": int(result.rows_read / seconds),
        # CPU time of this process: a steadier figure than wall time on a shared machine.
        "cpu_seconds": round(cpu_seconds, 2),
        "rows_per_cpu_s": int(result.rows_read / cpu_seconds),
        "imported": result.imported,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "expected_rejected": expected_bad,
        "target_rows_per_s": TARGET_ROWS_PER_S,
    }
    print(f"imported {result.rows_read:,} rows in {seconds:.2f} s "
          f"({figures['rows_per_s']:,} rows/s, {figures['rows_per_cpu_s']:,} per CPU second; "
          f"target {TARGET_ROWS_PER_S:,}); "
          f"{result.rejected} rejected, {expected_bad} made bad on purpose")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

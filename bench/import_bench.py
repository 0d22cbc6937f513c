"""Import speed: 100,000 realistic survey rows through `ingest.import_file`.

    .venv/bin/python bench/import_bench.py [--rows 100000] [--seed 3] [--runs 3]

Writes a CSV with mixed date formats (ISO with offsets, naive ISO, US m/d/Y, epoch seconds,
"Mar 5, 2024") and about 1% bad rows (scores off the scale, unreadable dates, empty rows),
then imports it `--runs` times, each into a fresh temporary database in a fresh Python
process (so no run profits from caches the one before warmed; interpreter start-up and
imports are not timed), and prints one line per run, then, last, one JSON object with the
median figures. Target: rows_per_s >= 20,000. Wall time depends on what else the machine
runs, so each run also reports its CPU time and the load average when it started.

Each run also checks, outside the timed part, that nothing was traded for speed: every bad
row rejected, the full-text index complete, the feedback indexes all there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sqlite3
import statistics
import subprocess
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


def _indexes(db) -> list[tuple]:
    return sorted(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                             "AND tbl_name = 'feedback'").fetchall())


def import_once(csv_path: Path, db_path: Path) -> dict:
    """One timed import into a new store, then the checks (untimed)."""
    db = store.connect(db_path)
    indexes_before = _indexes(db)
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    result = ingest.import_file(db, csv_path, actor="bench")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    try:  # FTS5's own check that the index holds exactly the rows' comments
        db.execute("INSERT INTO feedback_fts(feedback_fts) VALUES ('integrity-check')")
        fts_ok = True
    except sqlite3.DatabaseError:
        fts_ok = False
    stored = db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    indexes_ok = _indexes(db) == indexes_before
    db.close()
    return {
        "rows": result.rows_read,
        "seconds": round(seconds, 2),
        "rows_per_s": int(result.rows_read / seconds),
        # CPU time of this process: a steadier figure than wall time on a shared machine.
        "cpu_seconds": round(cpu_seconds, 2),
        "rows_per_cpu_s": int(result.rows_read / cpu_seconds),
        "imported": result.imported,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "stored": stored,
        "fts_ok": fts_ok,
        "indexes_ok": indexes_ok,
        "load_avg_1min": round(load, 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="imports, each in a fresh process")
    parser.add_argument("--one", type=Path, metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # a child run: import the given file once, print its figures
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(import_once(args.one, Path(tmp) / "bench.db")))
        return {}

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "bench_survey.csv"
        expected_bad = write_csv(csv_path, args.rows, args.seed)
        for n in range(1, max(1, args.runs) + 1):
            child = subprocess.run([sys.executable, __file__, "--one", str(csv_path)],
                                   capture_output=True, text=True, check=False)
            if child.returncode:
                sys.exit(f"run {n} failed:\n{child.stderr}")
            run = json.loads(child.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(f"run {n}: {run['rows']:,} rows in {run['seconds']:.2f} s "
                  f"({run['rows_per_s']:,} rows/s; {run['cpu_seconds']:.2f} CPU s, "
                  f"{run['rows_per_cpu_s']:,} rows per CPU second; load average "
                  f"{run['load_avg_1min']} on {os.cpu_count()} cores); "
                  f"{run['rejected']} rejected, {expected_bad} made bad on purpose")
    median = sorted(runs, key=lambda r: r["rows_per_s"])[(len(runs) - 1) // 2]
    figures = {
        **{k: median[k] for k in ("rows", "seconds", "rows_per_s", "cpu_seconds",
                                  "imported", "duplicates", "rejected")},
        # Medians of each figure on its own: the median run's CPU time need not be the
        # median CPU time.
        "rows_per_cpu_s": int(statistics.median(r["rows_per_cpu_s"] for r in runs)),
        "expected_rejected": expected_bad,
        "checks_ok": all(r["rejected"] == expected_bad and r["fts_ok"] and r["indexes_ok"]
                         and r["stored"] == r["imported"] for r in runs),
        "runs": len(runs),
        "rows_per_s_each": [r["rows_per_s"] for r in runs],
        "rows_per_cpu_s_each": [r["rows_per_cpu_s"] for r in runs],
        "load_avg_1min_each": [r["load_avg_1min"] for r in runs],
        "cpu_count": os.cpu_count(),
        "target_rows_per_s": TARGET_ROWS_PER_S,
    }
    print(f"median of {len(runs)}: {figures['rows_per_s']:,} rows/s, "
          f"{figures['rows_per_cpu_s']:,} per CPU second (target {TARGET_ROWS_PER_S:,} rows/s); "
          f"checks {'ok' if figures['checks_ok'] else 'FAILED'}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

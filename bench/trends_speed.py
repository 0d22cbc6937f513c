"""How fast the trend series and the sweep run on 100,000 feedback rows with 50 themes x 20
locations (the issue's target: the series SQL in under 3 s).

    .venv/bin/python bench/trends_speed.py                   # builds the store in a temp dir
    .venv/bin/python bench/trends_speed.py --db /tmp/ts.db   # reuse (or build once into) it

The store is synthetic and built in seconds: 100,000 commented responses over 78 weeks at
20 locations, each mentioning one to three of 50 child themes grouped under 10 parents,
with sentiment. Timed: `series.cell_counts` weekly and daily over the whole history at both
levels, one sweep at the last moment (the current and last periods), and a full replay of
the history (`--since` the first day). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 3.0
START = date(2025, 1, 6)
WEEKS = 78


def build(path: Path, rows: int, themes: int, locations: int, seed: int = 3) -> None:
    from analysis import store
    from analysis.ingest.feedback import insert_feedback

    rng = np.random.default_rng(seed)
    db = store.connect(path)
    if not store.is_empty(db):
        return
    now = "2026-07-01T00:00:00Z"
    seconds = rng.integers(0, WEEKS * 7 * 86400, rows)
    location = rng.integers(0, locations, rows)
    feedback = [{"external_id": f"b{i}", "source": "bench", "comment": f"comment {i}",
                 "received_at": (datetime(2025, 1, 6, tzinfo=timezone.utc)
                                 + timedelta(seconds=int(s))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "location": f"Location {loc:02d}", "score_type": "nps",
                 "score": int(rng.integers(0, 11))}
                for i, (s, loc) in enumerate(zip(seconds, location))]
    popularity = rng.dirichlet(np.full(themes, 0.7))
    with store.write_transaction(db):
        insert_feedback(db, feedback, batch_id=None, actor="bench", now=datetime.now(timezone.utc))
        ids = [r[0] for r in db.execute("SELECT id FROM feedback ORDER BY id")]
        parents = themes // 5
        for p in range(parents):
            db.execute("INSERT INTO themes (id, name, is_parent, created_at, created_by, "
                       "updated_at) VALUES (?, ?, 1, ?, 'bench', ?)",
                       [1000 + p, f"Parent {p}", now, now])
        for t in range(themes):
            db.execute("INSERT INTO themes (id, name, parent_id, created_at, created_by, "
                       "updated_at) VALUES (?, ?, ?, ?, 'bench', ?)",
                       [t + 1, f"Theme {t}", 1000 + t % parents, now, now])
        assignments, sentiment = [], []
        for fid in ids:
            k = int(rng.integers(1, 4))
            for rank, t in enumerate(rng.choice(themes, size=k, replace=False, p=popularity)):
                assignments.append((fid, int(t) + 1, 0.9, int(rank == 0), "fit", now))
            value = float(rng.uniform(-1, 1))
            label = "negative" if value < -0.3 else "positive" if value > 0.3 else "neutral"
            sentiment.append((fid, label, value, 0.9, "bench", now))
        db.conn.executemany("INSERT INTO theme_assignments (feedback_id, theme_id, probability, "
                            "is_primary, origin, assigned_at) VALUES (?, ?, ?, ?, ?, ?)",
                            assignments)
        db.conn.executemany("INSERT INTO sentiment (feedback_id, label, score, confidence, "
                            "method, scored_at) VALUES (?, ?, ?, ?, ?, ?)", sentiment)
    db.close()


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return round(time.perf_counter() - started, 3), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--themes", type=int, default=50)
    parser.add_argument("--locations", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="trends_speed_"))
    path = args.db or folder / "bench.db"
    build_s, _ = timed(lambda: build(path, args.rows, args.themes, args.locations))
    print(f"store ready in {build_s:.1f} s: {path}", file=sys.stderr)

    from analysis import store
    from analysis.sweep import run_sweep
    from analysis.themes.queries.base import CHILD, PARENT
    from analysis.trends.series import cell_counts

    db = store.connect(path)
    last = START + timedelta(weeks=WEEKS) - timedelta(days=1)
    figures: dict = {"rows": args.rows, "themes": args.themes, "locations": args.locations}
    for granularity in ("week", "day"):
        for level in (CHILD, PARENT):
            seconds, counts = timed(lambda: cell_counts(db, granularity=granularity,
                                                        first=START, last=last, level=level))
            figures[f"series_{granularity}_{level}_s"] = seconds
            print(f"cell_counts {granularity} {level}: {seconds:.2f} s, "
                  f"{len(counts.mentions):,} cells x periods", file=sys.stderr)
    now = datetime.combine(last, datetime.min.time(), timezone.utc) + timedelta(hours=12)
    with store.write_transaction(db):
        db.execute("DELETE FROM alert_periods")
        db.execute("DELETE FROM alert_events")
        db.execute("DELETE FROM alerts")
        db.execute("DELETE FROM sweep_periods")
        db.execute("DELETE FROM task_events")
        db.execute("DELETE FROM tasks")
    figures["replay_sweep_s"], results = timed(
        lambda: run_sweep(db, now=now, since=START, actor="bench"))
    for name, result in results.items():
        print(f"replay {name}: {result.summary()}", file=sys.stderr)
    figures["sweep_s"], _ = timed(lambda: run_sweep(db, now=now + timedelta(minutes=5),
                                                    actor="bench"))
    figures["alerts"] = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    series = [v for k, v in figures.items() if k.startswith("series_")]
    figures["series_max_s"] = max(series)
    figures["pass_series_under_3s"] = figures["series_max_s"] < TARGET_S
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""How long the sweep (`python -m analysis sweep`) takes on 100,000 feedback rows with 10,000
open cases (issue 21's target: the sweep in under 10 s on 2 cores).

    .venv/bin/python bench/sweep_bench.py                    # builds the store in a temp dir
    .venv/bin/python bench/sweep_bench.py --quick            # 20,000 rows, 2,000 cases
    .venv/bin/python bench/sweep_bench.py --db /tmp/sw.db    # reuse (or build once into) it
    .venv/bin/python bench/sweep_bench.py --profile          # cProfile both sweeps too

The store: a demo of `--rows` responses (seed 1, 18 months up to `now`; its 8 locations
split into `--locations` branches, 20 by default) whose themes and sentiment are its truth's
labels (no model fitted, as the tests do), in two levels: each of the 9 true themes is a
parent with `--splits` (4) child themes, its mentions shared among them by feedback id (the
real pipeline finds ~35 child themes at 100,000 responses). A "Customer care" team (lead,
manager, 12 agents; room for 25 open cases each) and a "Reviews" team (4 agents) that a
routing rule sends advocacy to. The case settings look back just far enough (whole days)
that the first sweep opens about `--cases` cases. The store is built in a child process,
so the peak RSS reported is the sweeps' own.

Timed, each through `analysis.sweep.run_sweep` with the seconds of every step:
- the first sweep at `now`, which opens the cases (every routed response in the look-back
  window; later feedback from the same customer on the same theme joins their case);
- the steady sweep one hour later, after ~`--new` responses arrived in that hour (with their
  sentiment and themes, as if the themes job had run): it opens their cases, assigns
  waiting ones, and checks the SLA clock of every open case. The target is on this one;
- the same sweep again at the same moment (idempotent: nothing new, the clocks only).
Wall and CPU seconds of each; the JSON also holds the BLAS threads and the load average.
`--blas-threads 1` runs with one BLAS thread (the default is the environment's, as
`python -m analysis sweep` would run): on two shared cores OpenBLAS's threads wait for each
other, and the key drivers behind the cases' theme weights slow down several times.

With `--profile` (or when the steady sweep misses the target) the steady sweep is run again
on a copy of the store taken before it, under cProfile, and the top 15 functions by
cumulative time are printed to stderr; with `--profile`, the first sweep too. Progress and
human-readable lines go to stderr; the last line on stdout is one JSON object with every
figure and "pass".
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 10.0
NOW = "2026-06-30T09:00:00Z"   # a Tuesday morning
SEED = 1
ACTOR = "bench"
AGENTS, CAPACITY, REVIEW_AGENTS = 12, 25, 4


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ------------------------------------------------------------------ the store


def lookback_for(db, cases: int, now) -> tuple[int, int]:
    """The whole days of look-back whose routed feedback opens at least `cases` cases (the
    sweep's own rule: one case per (type, customer, primary theme), every response without
    a customer its own), and the cases that look-back opens."""
    from analysis.cases.policy import CASE_TYPE, route_bands, route_for
    from analysis.store.clock import from_iso

    bands = route_bands(db)
    rows = db.execute(
        """SELECT f.received_at, f.score_type, f.score, f.customer_key, s.label,
                  (SELECT a.theme_id FROM theme_assignments a WHERE a.feedback_id = f.id
                   ORDER BY a.is_primary DESC, a.probability DESC LIMIT 1)
           FROM feedback f LEFT JOIN sentiment s ON s.feedback_id = f.id
           ORDER BY f.received_at DESC""").fetchall()
    opened_per_day: dict[int, int] = {}
    keys: set = set()
    for received, score_type, score, customer, sentiment, theme in rows:
        route = route_for(bands, score_type, score, sentiment)
        if route is None:
            continue
        key = (CASE_TYPE[route], customer, theme or 0)
        if customer and key in keys:
            continue
        keys.add(key)
        age = (now - from_iso(received)).total_seconds() / 86400
        day = max(1, math.ceil(age))
        opened_per_day[day] = opened_per_day.get(day, 0) + 1
    total = 0
    for day in sorted(opened_per_day):
        total += opened_per_day[day]
        if total >= cases:
            return day, total
    return max(opened_per_day), total


def spread_locations(db, wanted: int) -> None:
    """The demo has 8 locations; split each into branches ("Northgate 1", "Northgate 2", ...)
    by feedback id until there are `wanted` (the earlier locations get the extra branch)."""
    from analysis import store

    names = [r[0] for r in db.execute("SELECT DISTINCT location FROM feedback "
                                      "WHERE location IS NOT NULL ORDER BY location")]
    if not names or wanted <= len(names):
        return
    base, extra = divmod(wanted, len(names))
    with store.write_transaction(db):
        for i, name in enumerate(names):
            branches = base + (i < extra)
            db.execute("UPDATE feedback SET location = ? || ' ' || (id % ? + 1) "
                       "WHERE location = ?", [name, branches, name])


def seed_theme_tree(db, truth: dict, splits: int) -> int:
    """Two levels from the truth's labels: each true theme a parent with `splits` child
    themes, a response's mention of it going to one child (by feedback id), as the real
    pipeline's tree would (~35 child themes at 100,000 responses). Returns the children."""
    from analysis import store

    ids = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
    children: dict[str, list[int]] = {}
    with store.write_transaction(db):
        for name in truth["themes"]:
            parent = db.execute(
                "INSERT INTO themes (name, is_parent, created_at, created_by, updated_at) "
                "VALUES (?, 1, ?, ?, ?)", [name, NOW, ACTOR, NOW]).lastrowid
            children[name] = [db.execute(
                "INSERT INTO themes (name, parent_id, created_at, created_by, updated_at) "
                "VALUES (?, ?, ?, ?, ?)", [f"{name} / {k + 1}", parent, NOW, ACTOR, NOW]
            ).lastrowid for k in range(splits)]
        db.conn.executemany(
            "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
            "origin, assigned_at) VALUES (?, ?, 1.0, ?, 'analyst', ?)",
            [(ids[row["external_id"]], children[name][ids[row["external_id"]] % splits],
              int(k == 0), NOW)
             for row in truth["rows"] if row["external_id"] in ids
             for k, name in enumerate(row["themes"])])
    return sum(len(c) for c in children.values())


def build(path: Path, rows: int, cases: int, locations: int, splits: int) -> dict:
    """Demo rows with true themes and sentiment, teams and people, case settings."""
    from analysis import store
    from analysis.cases.people import (
        DEFAULT_TEAM,
        RoutingRule,
        save_person,
        save_rule,
        save_team,
    )
    from analysis.cases.policy import CaseSettings, save_case_settings
    from analysis.demo import generate_demo

    now = store.from_iso(NOW)
    db = store.connect(path)
    started = time.perf_counter()
    truth = generate_demo(db, rows=rows, seed=SEED, actor=ACTOR, now=now).truth
    log(f"demo rows: {time.perf_counter() - started:.1f} s")
    spread_locations(db, locations)
    themes = seed_theme_tree(db, truth, splits)
    log(f"themes: {themes} children under {len(truth['themes'])} parents")
    from tests.stores import seed_truth_sentiment

    seed_truth_sentiment(db, truth, now=NOW)
    lookback, expected = lookback_for(db, cases, now)
    with store.write_transaction(db):
        manager = save_person(db, "Morgan Manager", "manager@example.com", role="manager",
                              actor=ACTOR, now=now)
        lead = save_person(db, "Lee Lead", "lead@example.com", role="team lead", actor=ACTOR,
                           now=now)
        care = save_team(db, DEFAULT_TEAM, lead_id=lead, manager_id=manager, actor=ACTOR,
                         now=now)
        reviews = save_team(db, "Reviews", lead_id=lead, manager_id=manager, actor=ACTOR,
                            now=now)
        save_person(db, "Lee Lead", "lead@example.com", team_id=care, role="team lead",
                    person_id=lead, actor=ACTOR, now=now)
        for i in range(AGENTS):
            save_person(db, f"Agent {i:02d}", f"agent{i:02d}@example.com", team_id=care,
                        capacity=CAPACITY, actor=ACTOR, now=now)
        for i in range(REVIEW_AGENTS):
            save_person(db, f"Reviewer {i}", f"reviewer{i}@example.com", team_id=reviews,
                        capacity=CAPACITY, actor=ACTOR, now=now)
        save_rule(db, RoutingRule(name="thank-yous to Reviews", team_id=reviews,
                                  route="advocacy"), actor=ACTOR, now=now)
        save_case_settings(db, CaseSettings(lookback_days=lookback), actor=ACTOR, now=now)
    figures = describe(db) | {"expected_cases": expected}
    db.close()
    return figures


def describe(db) -> dict:
    from analysis.cases.policy import case_settings

    def one(sql: str):
        return db.execute(sql).fetchone()[0]

    return {"rows": one("SELECT COUNT(*) FROM feedback"),
            "locations": one("SELECT COUNT(DISTINCT location) FROM feedback"),
            "themes": one("SELECT COUNT(*) FROM themes WHERE is_parent = 0"),
            "parent_themes": one("SELECT COUNT(*) FROM themes WHERE is_parent = 1"),
            "lookback_days": case_settings(db).lookback_days}


def add_new_feedback(db, count: int, now, seed: int = SEED) -> int:
    """`count` responses received in the hour before `now`, each with the sentiment and
    themes of a random earlier response (as if the themes job had scored them); about a
    third from customers who already gave feedback (some join their open case)."""
    from analysis import store
    from analysis.ingest.feedback import insert_feedback
    from analysis.store.clock import to_iso

    rng = random.Random(seed)
    donors = db.execute(
        """SELECT f.id, f.location, f.segment, f.channel, f.score_type, f.score, f.comment,
                  f.customer_key FROM feedback f ORDER BY f.id""").fetchall()
    customers = [r[0] for r in db.execute(
        "SELECT DISTINCT customer_id FROM feedback WHERE customer_id IS NOT NULL LIMIT 5000")]
    picked = [donors[rng.randrange(len(donors))] for _ in range(count)]
    rows = []
    for i, (_, location, segment, channel, score_type, score, comment, _) in enumerate(picked):
        received = now - timedelta(seconds=rng.randrange(1, 3600))
        customer = rng.choice(customers) if customers and rng.random() < 0.33 else \
            f"new-customer-{i}"
        rows.append({"external_id": f"new-{to_iso(now)}-{i}", "source": "bench",
                     "received_at": to_iso(received), "location": location,
                     "segment": segment, "channel": channel, "score_type": score_type,
                     "score": score, "comment": comment, "customer_id": customer})
    stamp = to_iso(now)
    with store.write_transaction(db):
        inserted, _ = insert_feedback(db, rows, batch_id=None, actor=ACTOR, now=now)
        new_ids = [r[0] for r in db.execute(
            "SELECT id FROM feedback WHERE external_id LIKE ? ORDER BY id",
            [f"new-{to_iso(now)}-%"])]
        for new_id, donor in zip(new_ids, picked):
            db.execute("INSERT INTO sentiment (feedback_id, label, score, confidence, method, "
                       "scored_at) SELECT ?, label, score, confidence, method, ? FROM sentiment "
                       "WHERE feedback_id = ?", [new_id, stamp, donor[0]])
            db.execute("INSERT INTO theme_assignments (feedback_id, theme_id, probability, "
                       "is_primary, origin, assigned_at) SELECT ?, theme_id, probability, "
                       "is_primary, origin, ? FROM theme_assignments WHERE feedback_id = ?",
                       [new_id, stamp, donor[0]])
    return inserted


# ------------------------------------------------------------------ timing


def timed_sweep(db, now) -> tuple[float, float, dict, dict]:
    """(wall seconds, CPU seconds of this process, step -> seconds, step -> summary) of one
    `run_sweep` at `now`: a step's seconds run from the end of the previous step (or the
    start) to the moment `run_sweep` reports it, its write transaction's commit included.
    CPU seconds count every thread (BLAS threads waiting for a core spin, and show here)."""
    from analysis.sweep import run_sweep

    cpu = time.process_time()
    marks = [time.perf_counter()]
    results = run_sweep(db, now=now, actor=ACTOR,
                        progress=lambda _message: marks.append(time.perf_counter()))
    total = time.perf_counter() - marks[0]
    cpu = time.process_time() - cpu
    steps = {name: round(marks[i + 1] - marks[i], 3) for i, name in enumerate(results)}
    return round(total, 3), round(cpu, 3), steps, {n: r.summary() for n, r in results.items()}


def copy_file_store(source: Path, target: Path) -> None:
    from analysis import store

    db = store.connect(source)
    try:
        store.backup(db, target)
    finally:
        db.close()


def profile_sweep(source: Path, now, folder: Path, top: int = 15) -> str:
    """cProfile one sweep at `now` on a scratch copy of `source` in `folder`; the top `top`
    functions by cumulative time."""
    from analysis import store
    from analysis.sweep import run_sweep

    path = folder / f"{source.stem}_profiled.db"
    copy_file_store(source, path)
    db = store.connect(path)
    profiler = cProfile.Profile()
    profiler.enable()
    run_sweep(db, now=now, actor=ACTOR)
    profiler.disable()
    db.close()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def open_cases(db) -> dict:
    from analysis.cases.people import OPEN_STATUSES

    marks = ", ".join("?" * len(OPEN_STATUSES))
    row = db.execute(f"""SELECT COUNT(*), SUM(owner_id IS NOT NULL) FROM cases
                         WHERE status IN ({marks})""", list(OPEN_STATUSES)).fetchone()
    return {"open": row[0], "assigned": row[1] or 0}


def blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"),
               default=None)


def run(args, folder: Path) -> None:
    source = args.db or folder / "built.db"

    started = time.perf_counter()
    expected = None
    if not source.exists():
        child = subprocess.run(
            [sys.executable, __file__, "--build-only", "--db", str(source), "--rows",
             str(args.rows), "--cases", str(args.cases), "--locations", str(args.locations),
             "--splits", str(args.splits)],
            stdout=subprocess.PIPE, text=True, check=True)
        expected = json.loads(child.stdout.strip().splitlines()[-1])["expected_cases"]
    build_s = round(time.perf_counter() - started, 1)
    log(f"store ready in {build_s:.1f} s: {source}")

    from analysis import store

    work = folder / "sweep.db"
    copy_file_store(source, work)
    db = store.connect(work)
    store_figures = describe(db)
    now = store.from_iso(NOW)
    log(f"{store_figures['rows']:,} feedback rows at {store_figures['locations']} locations, "
        f"{store_figures['themes']} themes under {store_figures['parent_themes']} parents, "
        f"look-back {store_figures['lookback_days']} days, {open_cases(db)['open']:,} open "
        f"cases before the first sweep; BLAS threads: {blas_threads()}")

    first_s, first_cpu, first_steps, first_summary = timed_sweep(db, now)
    first_cases = open_cases(db)
    log(f"first sweep at {NOW}: {first_s:.2f} s (CPU {first_cpu:.2f} s), "
        f"{first_cases['open']:,} open cases ({first_cases['assigned']:,} assigned)")
    for name, seconds in first_steps.items():
        log(f"  {name}: {seconds:.2f} s -- {first_summary[name]}")

    later = now + timedelta(hours=1)
    arrived = add_new_feedback(db, args.new, later)
    snapshot = folder / "before_steady.db"
    store.backup(db, snapshot)
    before = open_cases(db)
    steady_s, steady_cpu, steady_steps, steady_summary = timed_sweep(db, later)
    after = open_cases(db)
    log(f"steady sweep an hour later ({arrived} new responses, {before['open']:,} open cases "
        f"before): {steady_s:.2f} s (CPU {steady_cpu:.2f} s), {after['open']:,} open after")
    for name, seconds in steady_steps.items():
        log(f"  {name}: {seconds:.2f} s -- {steady_summary[name]}")
    again_s, again_cpu, _, _ = timed_sweep(db, later)
    log(f"the same sweep again (idempotent, nothing new): {again_s:.2f} s "
        f"(CPU {again_cpu:.2f} s)")
    db.close()

    passed = steady_s < TARGET_S
    if args.profile:
        log("profiling the first sweep on a copy of the built store (cProfile, top 15 by "
            "cumulative time; profiling slows it):")
        log(profile_sweep(source, now, folder))
    if args.profile or not passed:
        log("profiling the steady sweep on a copy taken before it "
            "(cProfile, top 15 by cumulative time; profiling slows it):")
        log(profile_sweep(snapshot, later, folder))

    figures = {
        **store_figures, "expected_cases": expected,
        "open_cases": before["open"], "open_cases_assigned": before["assigned"],
        "new_feedback": arrived, "open_cases_after_steady": after["open"],
        "build_s": build_s,
        "first_sweep_s": first_s, "first_sweep_cpu_s": first_cpu,
        **{f"first_{_key(name)}_s": s for name, s in first_steps.items()},
        "steady_sweep_s": steady_s, "steady_sweep_cpu_s": steady_cpu,
        **{f"steady_{_key(name)}_s": s for name, s in steady_steps.items()},
        "repeat_sweep_s": again_s, "repeat_sweep_cpu_s": again_cpu,
        "first_summary": first_summary, "steady_summary": steady_summary,
        "peak_rss_mb": peak_rss_mb(), "blas_threads": blas_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "target_s": TARGET_S,
        "pass": passed,
    }
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None,
                        help="reuse (or build once into) this store; the sweeps run on a copy")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--locations", type=int, default=20)
    parser.add_argument("--splits", type=int, default=4,
                        help="child themes per true (parent) theme")
    parser.add_argument("--new", type=int, default=200,
                        help="responses arriving in the hour before the steady sweep")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 2,000 cases")
    parser.add_argument("--profile", action="store_true",
                        help="also run the steady sweep under cProfile (top 15 on stderr)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="set OPENBLAS/OMP/MKL_NUM_THREADS (default: as the environment "
                             "has them, as `python -m analysis sweep` would run)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (the stores before and after)")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.cases = 20_000, 2_000
    if args.blas_threads is not None:   # before numpy is imported (by analysis)
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.blas_threads)
    if args.build_only:
        print(json.dumps(build(args.db, args.rows, args.cases, args.locations,
                               args.splits)))
        return
    if args.keep:
        folder = Path(tempfile.mkdtemp(prefix="sweep_bench_"))
        log(f"keeping {folder}")
        run(args, folder)
    else:
        with tempfile.TemporaryDirectory(prefix="sweep_bench_") as name:
            run(args, Path(name))


def _key(step: str) -> str:
    return step.replace(" ", "_").replace("-", "_")


if __name__ == "__main__":
    main()

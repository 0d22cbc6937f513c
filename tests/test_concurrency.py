"""Two processes writing one store at once: no "database is locked", no lost write.

Real processes, not threads: SQLite's locking is per connection and per process, and the
failure this guards against (a plain BEGIN that upgrades to a write lock too late and is
refused at once) only shows between separate connections racing for the write lock. Each
transaction through store.write_transaction bumps store_meta's revision inside the
transaction, so the final revision counts exactly the transactions that committed.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from analysis import store

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
LOCKED = "database is locked"

# A second process hammering the store with small analyst-style transactions (theme renames
# through theme_admin, the same write path the Themes page uses) until told to stop.
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from analysis import store
    from analysis.themes import admin as theme_admin
    db_path, theme_id, stop_file, min_writes = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    ready_file = Path(str(stop_file) + ".ready")
    db = store.connect(db_path)
    n = 0
    first = None
    while n < min_writes or not stop_file.exists():
        theme_admin.rename_theme(db, theme_id, f"name {n}", actor="writer")
        if first is None:
            first = store.to_iso(store.utcnow())
            ready_file.touch()
        n += 1
        if n > 100000:
            break
    print(n, first)
""")


def write_csv(path: Path, rows: int, prefix: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "received_at", "location", "nps", "comment"])
        for i in range(rows):
            writer.writerow([f"{prefix}{i}", f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}T10:00:00Z",
                             ("North", "South", "Harbour")[i % 3], i % 11,
                             f"{prefix} comment number {i} about the queue"])
        writer.writerow(["bad", "not a date", "North", 5, "rejected row"])


def env_for(db_path: Path) -> dict:
    import os

    env = dict(os.environ)
    env.update({"CLOSELOOP_DB": str(db_path), "PYTHONPATH": str(ROOT),
                "CLOSELOOP_BUSY_TIMEOUT_MS": "30000"})
    return env


def run_cli_import(db_path: Path, csv_path: Path) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "analysis", "import", str(csv_path), "--db", str(db_path),
                             "--actor", "importer"], cwd=ROOT, env=env_for(db_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def add_theme(db) -> int:
    now = store.to_iso(store.utcnow())
    with store.write_transaction(db):
        cursor = db.execute("INSERT INTO themes (name, created_at, created_by, updated_at) "
                            "VALUES ('queues', ?, 'test', ?)", [now, now])
    return cursor.lastrowid


def test_an_import_and_analyst_writes_at_once_lose_nothing(db, db_path, tmp_path):
    rows = 20_000
    big = tmp_path / "big.csv"
    write_csv(big, rows, "big")
    theme_id = add_theme(db)
    revision_before = store.revision(db)
    stop = tmp_path / "stop"

    writer = subprocess.Popen([PYTHON, "-c", WRITER, str(db_path), str(theme_id), str(stop), "50"],
                              cwd=ROOT, env=env_for(db_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    # Start the import only once the writer is writing, and stop the writer only after the
    # import has finished: the two overlap by construction, not by luck of process start-up.
    ready = Path(str(stop) + ".ready")
    deadline = time.monotonic() + 120
    while not ready.exists() and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not ready.exists():
        writer.kill()
        pytest.fail("the writer never wrote: " + writer.communicate()[1][-2000:])
    importer = run_cli_import(db_path, big)
    try:
        imp_out, imp_err = importer.communicate(timeout=300)
    finally:
        stop.touch()
    out, err = writer.communicate(timeout=300)

    assert LOCKED not in imp_err and LOCKED not in err
    assert importer.returncode == 0, imp_err
    assert writer.returncode == 0, err
    writes, first_write = out.split()
    writes = int(writes)

    batch = db.execute("SELECT rows_read, imported, rejected, started_at, finished_at "
                       "FROM import_batches").fetchall()
    assert len(batch) == 1
    rows_read, imported, rejected, started_at, finished_at = batch[0]
    assert (rows_read, imported, rejected) == (rows + 1, rows, 1)
    assert f"imported {rows}" in imp_out
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == rows
    assert db.execute("SELECT COUNT(*) FROM feedback_fts").fetchone()[0] == rows
    assert db.execute("SELECT COUNT(*) FROM theme_events WHERE theme_id = ? AND event = 'renamed'",
                      [theme_id]).fetchone()[0] == writes
    assert db.execute("SELECT name FROM themes WHERE id = ?", [theme_id]).fetchone()[0] \
        == f"name {writes - 1}"
    # One import transaction plus one per rename, and not one more or less.
    assert store.revision(db) == revision_before + 1 + writes
    # The writer really raced the import: it was writing before the import committed.
    assert first_write <= finished_at, "the two processes did not overlap; test proves nothing"


def test_two_imports_at_once_both_land_whole(db, db_path, tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_csv(first, 15_000, "a")
    write_csv(second, 15_000, "b")
    revision_before = store.revision(db)
    processes = [run_cli_import(db_path, first), run_cli_import(db_path, second)]
    results = [p.communicate(timeout=300) for p in processes]
    for process, (out, err) in zip(processes, results):
        assert LOCKED not in err
        assert process.returncode == 0, err
        assert "imported 15000" in out
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 30_000
    assert db.execute("SELECT COUNT(*) FROM import_rejects").fetchone()[0] == 2
    per_batch = dict(db.execute("SELECT b.file_name, COUNT(f.id) FROM import_batches b "
                                "LEFT JOIN feedback f ON f.import_batch = b.id GROUP BY b.id"))
    assert per_batch == {"first.csv": 15_000, "second.csv": 15_000}
    assert store.revision(db) == revision_before + 2


def test_many_short_writers_at_once_lose_nothing(db, db_path, tmp_path):
    """Four processes, each 60 small feedback transactions: every row and revision counts."""
    script = textwrap.dedent("""
        import sys
        from analysis import store
        from analysis.ingest import feedback
        db = store.connect(sys.argv[1])
        tag = sys.argv[2]
        for i in range(60):
            with store.write_transaction(db):
                # Read-then-write inside the transaction: the pattern a plain BEGIN deadlocks on.
                n = db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
                feedback.insert_feedback(db, [{"source": tag, "external_id": str(i),
                    "received_at": "2025-01-01T00:00:00Z", "comment": f"seen {n}"}],
                    batch_id=None, actor=tag)
        print("ok")
    """)
    revision_before = store.revision(db)
    processes = [subprocess.Popen([PYTHON, "-c", script, str(db_path), f"w{k}"], cwd=ROOT,
                                  env=env_for(db_path), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for k in range(4)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert LOCKED not in err
        assert process.returncode == 0 and out.strip() == "ok", err
    assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 240
    assert store.revision(db) == revision_before + 240

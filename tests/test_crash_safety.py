"""A writer killed with SIGKILL mid-write leaves a consistent store: integrity_check passes,
and the batch (or the theme fit) landed whole or not at all.

SIGKILL, not SIGTERM: no Python cleanup runs, exactly like a power cut or the OOM killer.
"Mid-write" is detected, not guessed: an import validates first and writes in one
transaction at the end, so the test waits until the WAL file grows (SQLite spills the
transaction's pages into it) and kills then; a theme refit reports its phase in `jobs`,
so the test kills as soon as it says "writing themes", and then checks that the job left
'running' by the kill is reported as interrupted.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from analysis import store
from analysis.settings import get_settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
IMPORT_ROWS = int(os.environ.get("CLOSELOOP_CRASH_ROWS", "200000"))


def env_for(db_path: Path) -> dict:
    env = dict(os.environ)
    env.update({"CLOSELOOP_DB": str(db_path), "PYTHONPATH": str(ROOT),
                "CLOSELOOP_MODEL_DIR": str(db_path.parent / "models")})
    return env


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "received_at", "location", "nps", "comment"])
        for i in range(rows):
            writer.writerow([f"r{i}", f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:00:00Z",
                             ("North", "South", "Harbour", "Old Town")[i % 4], i % 11,
                             f"comment {i}: the queue at the till was long and the staff kind"])
        writer.writerow(["bad", "not a date", "North", 5, "rejected row"])


def check_integrity(db_path: Path) -> None:
    db = store.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        # The full-text index is a shadow of feedback, kept by triggers in the same transaction.
        db.execute("INSERT INTO feedback_fts(feedback_fts) VALUES ('integrity-check')")
        assert db.execute("SELECT COUNT(*) FROM feedback_fts").fetchone()[0] == \
            db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
    finally:
        db.close()


def kill_when(process: subprocess.Popen, condition, *, timeout: float, what: str) -> float:
    """SIGKILL `process` as soon as `condition()` holds; return when (seconds after start)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the process ended (code {process.returncode}) before {what}; "
                        f"cannot test a crash during it.\n{out}\n{err}")
        if condition():
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert process.returncode == -signal.SIGKILL
            return time.monotonic() - start
        time.sleep(0.005)
    process.kill()
    process.wait()
    pytest.fail(f"{what} did not happen within {timeout:.0f} s")


def test_an_import_killed_mid_write_lands_whole_or_not_at_all(db_path, tmp_path):
    big = tmp_path / "big.csv"
    write_csv(big, IMPORT_ROWS)
    # A first, committed import: it must survive the crash untouched.
    small = tmp_path / "small.csv"
    write_csv(small, 100)
    db = store.connect(db_path)
    from analysis import ingest

    kept = ingest.import_file(db, small, actor="test")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    wal = Path(f"{db_path}-wal")
    baseline = wal.stat().st_size if wal.exists() else 0

    process = subprocess.Popen([PYTHON, "-m", "analysis", "import", str(big), "--db", str(db_path)],
                               cwd=ROOT, env=env_for(db_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    # More than a few pages in the WAL: the import's own transaction is being written.
    kill_when(process, lambda: wal.exists() and wal.stat().st_size > baseline + 512 * 1024,
              timeout=900, what="the import started writing")

    check_integrity(db_path)
    db = store.connect(db_path)
    batches = db.execute("SELECT id, file_name, rows_read, imported, rejected, finished_at "
                         "FROM import_batches ORDER BY id").fetchall()
    assert batches[0][0] == kept.batch_id and batches[0][3] == kept.imported
    assert db.execute("SELECT COUNT(*) FROM feedback WHERE import_batch = ?",
                      [kept.batch_id]).fetchone()[0] == kept.imported
    if len(batches) == 1:  # none of the killed batch
        assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == kept.imported
        assert db.execute("SELECT COUNT(*) FROM import_rejects WHERE batch_id != ?",
                          [kept.batch_id]).fetchone()[0] == 0
    else:  # all of it (the kill came after the commit)
        assert len(batches) == 2
        batch_id, _, rows_read, imported, rejected, finished_at = batches[1]
        assert finished_at is not None
        assert db.execute("SELECT COUNT(*) FROM feedback WHERE import_batch = ?",
                          [batch_id]).fetchone()[0] == imported == IMPORT_ROWS
        assert rows_read == imported + rejected
    print(f"killed import: {'none' if len(batches) == 1 else 'all'} of the batch landed")
    # And the store is usable: a new import after the crash lands.
    after = tmp_path / "after.csv"
    write_csv(after, 50)
    again = ingest.import_file(db, after, actor="test")
    assert again.imported + again.duplicates == 50
    check_integrity(db_path)
    db.close()


REFIT = textwrap.dedent("""
    import sys
    from analysis import store, themes
    db = store.connect(sys.argv[1])
    pipeline = themes.ThemePipeline.tiny(min_cluster_size=15, min_samples=5)
    themes.refresh_themes(db, refit=True, pipeline=pipeline, actor="crash-test")
    print("finished")
""")


def snapshot(db) -> dict:
    return {
        "themes": db.execute("SELECT id, name, status FROM themes ORDER BY id").fetchall(),
        "assignments": db.execute("SELECT feedback_id, theme_id, is_primary, model_id "
                                  "FROM theme_assignments ORDER BY 1, 2").fetchall(),
        "active": db.execute("SELECT id, version FROM theme_models WHERE is_active = 1").fetchall(),
        "models": db.execute("SELECT COUNT(*) FROM theme_models").fetchone()[0],
    }


def test_a_theme_refit_killed_mid_write_keeps_the_previous_themes(db_path, tmp_path):
    from analysis import demo, jobs, themes
    db = store.connect(db_path)
    demo.generate_demo(db, rows=3000, seed=11, truth_path=tmp_path / "truth.json", actor="test")
    first = themes.refresh_themes(
        db, refit=True, pipeline=themes.ThemePipeline.tiny(min_cluster_size=15, min_samples=5),
        actor="test")
    before = snapshot(db)
    assert before["active"] and before["assignments"], first.message

    process = subprocess.Popen([PYTHON, "-c", REFIT, str(db_path)], cwd=ROOT,
                               env=env_for(db_path), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    probe = store.connect(db_path)

    def writing() -> bool:
        row = probe.execute("SELECT message FROM jobs WHERE actor = 'crash-test' "
                            "ORDER BY id DESC LIMIT 1").fetchone()
        return row is not None and row[0] in ("saving the model", "writing themes")

    kill_when(process, writing, timeout=900, what="the refit reached its write phase")
    probe.close()

    check_integrity(db_path)
    after = snapshot(db)
    print(f"killed refit: {'previous themes kept' if after['models'] == before['models'] else 'new fit whole'}")
    if after["models"] == before["models"]:  # killed before its commit: nothing changed
        assert after == before
    else:  # killed after it: the new fit is complete and alone active
        assert len(after["active"]) == 1 and after["active"] != before["active"]
        new_model = after["active"][0][0]
        assert after["assignments"], "a committed fit has its assignments"
        assert {a[3] for a in after["assignments"] if a[3] is not None} <= {new_model}
    # The killed job's row is still 'running' (nothing ran after SIGKILL, unless the kill came
    # after it finished). Readers report it as interrupted: at once on this machine, where its
    # pid is visibly gone, otherwise once its heartbeat is older than the threshold; the
    # reaper records it so.
    (job_id, status), = db.execute("SELECT id, status FROM jobs WHERE actor = 'crash-test'")
    assert status in ("running", "done")
    if status == "running":
        later = store.utcnow() + timedelta(seconds=get_settings().job_stale_after_s + 1)
        seen_at = store.utcnow() if jobs.pid_scope() else later
        assert themes.running_job(db, now=seen_at) is None
        row = themes.job_status(db, job_id, now=seen_at)
        assert row["status"] == "interrupted", row
        assert row["message"].startswith("interrupted: no heartbeat since"), row
        reaped, = jobs.reap_dead_jobs(db, themes.JOB_KIND, actor="test", now=seen_at)
        row = themes.job_status(db, job_id, now=seen_at)
        assert reaped["id"] == job_id and row["status"] == "failed", row
        assert row["message"].startswith("interrupted: no heartbeat since"), row
        assert row["finished_by"] == "test"
        print(f"killed refit's job: {row['message']}")
    # The store stays usable: a refresh after the crash works.
    again = themes.refresh_themes(
        db, refit=True, pipeline=themes.ThemePipeline.tiny(min_cluster_size=15, min_samples=5),
        actor="test")
    assert snapshot(db)["active"], again.message
    check_integrity(db_path)
    db.close()

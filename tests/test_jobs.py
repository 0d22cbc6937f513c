"""The job runner on its own, with a kind no product code uses and fixed clocks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from analysis import jobs, store

KIND = "test-kind"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
STALE_AFTER = timedelta(seconds=300)  # the default CLOSELOOP_JOB_STALE_SECONDS


def row(db, job_id) -> dict:
    """The row as stored (the reads may report it differently)."""
    return next(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))


def foreign_job(db, *, heartbeat, kind=KIND, started="2025-03-01T11:00:00Z", pid=4242,
                scope=None) -> int:
    """A running job as a process on another machine would have recorded it."""
    with store.write_transaction(db):
        return db.execute(
            "INSERT INTO jobs (kind, status, progress, message, started_at, actor, heartbeat_at, "
            "pid, host, pid_scope) VALUES (?, 'running', 0.25, 'sweeping', ?, 'cron', ?, ?, "
            "'elsewhere', ?)",
            [kind, started, None if heartbeat is None else store.to_iso(heartbeat), pid,
             scope]).lastrowid


# ------------------------------------------------------------------------------- starting

def test_a_started_job_is_running_from_the_given_time_in_this_process(db):
    job_id = jobs.start_job(db, KIND, actor="ana", now=NOW)
    job = row(db, job_id)
    assert (job["kind"], job["status"], job["progress"], job["message"]) == \
        (KIND, "running", 0, "queued")
    assert job["started_at"] == job["heartbeat_at"] == "2025-03-01T12:00:00Z"
    assert (job["actor"], job["pid"], job["host"]) == ("ana", os.getpid(), socket.gethostname())
    assert job["pid_scope"] == jobs.pid_scope()
    assert jobs.running_job(db, KIND, now=NOW)["id"] == job_id


def test_a_live_job_of_a_kind_refuses_a_second_one_and_says_which_holds_the_slot(db):
    first = jobs.start_job(db, KIND, actor="ana", now=NOW)
    with pytest.raises(jobs.JobAlreadyRunning) as refused:
        jobs.start_job(db, KIND, actor="bo", now=NOW + timedelta(seconds=10))
    assert refused.value.job["id"] == first
    assert str(refused.value) == (
        f"a test-kind job is already running (job {first}, started 2025-03-01T12:00:00Z by ana "
        f"on {socket.gethostname()}, 0%: queued)")
    with pytest.raises(jobs.JobAlreadyRunning, match="^a sweep is already running"):
        jobs.start_job(db, KIND, actor="bo", now=NOW, what="a sweep")
    assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_kinds_do_not_share_a_slot(db):
    jobs.start_job(db, KIND, actor="ana", now=NOW)
    other = jobs.start_job(db, "other-kind", actor="ana", now=NOW)
    assert jobs.running_job(db, "other-kind", now=NOW)["id"] == other


def test_a_job_can_start_after_a_dead_one_which_its_start_records_as_failed(db):
    dead = foreign_job(db, heartbeat=NOW - STALE_AFTER - timedelta(seconds=1))
    new = jobs.start_job(db, KIND, actor="ana", now=NOW)
    assert row(db, dead)["status"] == "failed"
    assert row(db, dead)["finished_by"] == "ana"
    assert row(db, dead)["finished_at"] == "2025-03-01T12:00:00Z"
    assert jobs.running_job(db, KIND, now=NOW)["id"] == new


# ---------------------------------------------------------------------- reading and reaping

def test_reading_a_dead_job_reports_it_interrupted_and_writes_nothing(db):
    job_id = foreign_job(db, heartbeat=NOW - timedelta(minutes=10))
    revision = store.revision(db)
    assert jobs.running_job(db, KIND, now=NOW) is None
    status = jobs.job_status(db, job_id, now=NOW)
    assert status["status"] == jobs.INTERRUPTED
    assert status["message"] == ("interrupted: no heartbeat since 2025-03-01T11:50:00Z (stale "
                                 "after 300 s, checked at 2025-03-01T12:00:00Z)")
    assert status["finished_at"] is None and status["progress"] == 0.25
    assert store.revision(db) == revision
    assert row(db, job_id)["status"] == "running" and row(db, job_id)["message"] == "sweeping"


def test_a_job_is_alive_up_to_the_stale_threshold_and_dead_past_it(db):
    job_id = foreign_job(db, heartbeat=NOW)
    assert jobs.job_status(db, job_id, now=NOW + STALE_AFTER)["status"] == "running"
    later = NOW + STALE_AFTER + timedelta(seconds=1)
    assert jobs.job_status(db, job_id, now=later)["status"] == "interrupted"
    assert jobs.running_job(db, KIND, now=later, stale_after=3600)["id"] == job_id


def test_a_job_without_a_heartbeat_counts_from_its_start(db):
    job_id = foreign_job(db, heartbeat=None, started="2025-03-01T11:00:00Z")
    status = jobs.job_status(db, job_id, now=NOW)
    assert status["message"].startswith("interrupted: no heartbeat since 2025-03-01T11:00:00Z")


def test_the_reaper_records_dead_jobs_of_its_kind_as_failed_and_leaves_the_rest(db):
    dead = foreign_job(db, heartbeat=NOW - timedelta(minutes=10))
    live = foreign_job(db, heartbeat=NOW - timedelta(minutes=1))
    other_kind = foreign_job(db, heartbeat=NOW - timedelta(minutes=10), kind="other-kind")
    reaped = jobs.reap_dead_jobs(db, KIND, actor="sweeper", now=NOW)
    assert [job["id"] for job in reaped] == [dead]
    assert reaped[0]["status"] == "failed"
    recorded = row(db, dead)
    assert recorded["status"] == "failed" and recorded["finished_by"] == "sweeper"
    assert recorded["finished_at"] == "2025-03-01T12:00:00Z"
    assert recorded["message"].startswith("interrupted: no heartbeat since 2025-03-01T11:50:00Z")
    assert recorded["progress"] == 0.25 and recorded["actor"] == "cron"  # kept, not deleted
    assert row(db, live)["status"] == "running" and row(db, other_kind)["status"] == "running"
    assert jobs.job_status(db, dead, now=NOW)["status"] == "failed"
    assert [job["id"] for job in jobs.reap_dead_jobs(db, None, actor="sweeper", now=NOW)] == \
        [other_kind]


def test_the_reaper_writes_nothing_while_nothing_is_dead(db):
    foreign_job(db, heartbeat=NOW - timedelta(minutes=1))
    revision = store.revision(db)
    assert jobs.reap_dead_jobs(db, KIND, actor="sweeper", now=NOW) == []
    assert store.revision(db) == revision


def test_a_job_whose_process_ended_on_this_machine_is_dead_at_once(db):
    if jobs.pid_scope() is None:
        pytest.skip("no /proc: only the heartbeat can tell")
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = foreign_job(db, heartbeat=NOW, pid=ended.pid, scope=jobs.pid_scope())
    assert jobs.job_status(db, dead, now=NOW)["message"] == (
        f"interrupted: no heartbeat since 2025-03-01T12:00:00Z (process {ended.pid} on "
        "elsewhere has ended)")
    # The same pid seen from another machine proves nothing: its heartbeat decides.
    elsewhere = foreign_job(db, heartbeat=NOW, pid=ended.pid, scope="another/machine")
    assert jobs.running_job(db, KIND, now=NOW)["id"] == elsewhere


# ------------------------------------------------------------------------- a job at work

def test_progress_stamps_the_heartbeat_at_the_given_time_until_the_job_is_declared_dead(db):
    job_id = jobs.start_job(db, KIND, actor="ana", now=NOW)
    revision = store.revision(db)
    assert jobs.update_job(db, job_id, 0.5, "halfway", now=NOW + timedelta(seconds=30))
    job = row(db, job_id)
    assert (job["progress"], job["message"], job["heartbeat_at"]) == \
        (0.5, "halfway", "2025-03-01T12:00:30Z")
    assert store.revision(db) == revision  # page caches do not churn on progress ticks
    jobs.reap_dead_jobs(db, KIND, actor="bo", now=NOW + timedelta(hours=1))
    assert not jobs.update_job(db, job_id, 0.6, "still here", now=NOW + timedelta(hours=1))
    with pytest.raises(jobs.JobInterrupted, match=f"job {job_id} was marked 'failed'"):
        jobs.ensure_live(db, job_id, now=NOW + timedelta(hours=1))


def test_finishing_stamps_the_given_time_and_never_overwrites_a_recorded_interruption(db):
    done = jobs.start_job(db, KIND, actor="ana", now=NOW)
    jobs.finish_job(db, done, jobs.DONE, "3 swept", now=NOW + timedelta(minutes=2))
    job = row(db, done)
    assert (job["status"], job["progress"], job["message"]) == ("done", 1, "3 swept")
    assert job["finished_at"] == job["heartbeat_at"] == "2025-03-01T12:02:00Z"
    assert job["finished_by"] == "ana"
    dead = jobs.start_job(db, KIND, actor="ana", now=NOW + timedelta(hours=1))
    jobs.reap_dead_jobs(db, KIND, actor="bo", now=NOW + timedelta(hours=2))
    jobs.finish_job(db, dead, jobs.DONE, "too late", now=NOW + timedelta(hours=2))
    assert row(db, dead)["status"] == "failed" and row(db, dead)["finished_by"] == "bo"


def test_run_job_reports_progress_and_records_a_failure_before_it_propagates(db):
    seen = []
    job_id = jobs.start_job(db, KIND, actor="ana", now=NOW)
    with pytest.raises(ValueError, match="boom"), jobs.run_job(
            db, job_id, actor="ana", clock=lambda: NOW,
            progress=lambda f, m: seen.append((f, m))) as job:
        job(1.5, "over the top")
        raise ValueError("boom")
    assert seen == [(1.0, "over the top")]
    job = row(db, job_id)
    assert (job["status"], job["message"], job["finished_at"]) == \
        ("failed", "ValueError: boom", "2025-03-01T12:00:00Z")


def test_run_job_records_ctrl_c_as_an_interruption(db):
    job_id = jobs.start_job(db, KIND, actor="ana", now=NOW)
    with pytest.raises(KeyboardInterrupt), jobs.run_job(db, job_id, actor="ana",
                                                         clock=lambda: NOW):
        raise KeyboardInterrupt
    assert row(db, job_id)["message"] == "interrupted: stopped from the keyboard (Ctrl-C)"


def test_a_job_declared_dead_stops_at_its_next_tick(db):
    job_id = jobs.start_job(db, KIND, actor="ana", now=NOW)
    with jobs.run_job(db, job_id, actor="ana", clock=lambda: NOW) as job:
        job(0.1, "started")
        jobs.reap_dead_jobs(db, KIND, actor="bo", now=NOW + timedelta(hours=1))
        with pytest.raises(jobs.JobInterrupted, match="its results were not written"):
            job(0.2, "next step")
        with pytest.raises(jobs.JobInterrupted):
            job.ensure_live()
    assert row(db, job_id)["finished_by"] == "bo"


def test_a_job_finished_inside_run_job_is_done(db):
    job_id = jobs.start_job(db, KIND, actor="ana", now=NOW)
    with jobs.run_job(db, job_id, actor="ana", clock=lambda: NOW + timedelta(seconds=5)) as job:
        job.finish(jobs.DONE, "all swept")
    job = row(db, job_id)
    assert (job["status"], job["progress"], job["finished_at"]) == \
        ("done", 1, "2025-03-01T12:00:05Z")


def test_a_job_clock_starts_at_the_given_time_and_runs_on():
    clock = jobs.clock_from(NOW)
    first = clock()
    time.sleep(0.05)
    assert NOW <= first < clock() < NOW + timedelta(seconds=10)
    assert abs((jobs.clock_from(None)() - store.utcnow()).total_seconds()) < 5


def test_the_heartbeat_thread_beats_on_its_clock_and_notices_when_declared_dead(db):
    job_id = jobs.start_job(db, KIND, actor="ana", now=NOW)
    beat = jobs.Heartbeat(db, job_id, interval=0.05,
                          clock=lambda: NOW + timedelta(minutes=1)).start()
    try:
        deadline = time.monotonic() + 10
        while row(db, job_id)["heartbeat_at"] != "2025-03-01T12:01:00Z":
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)
        jobs.reap_dead_jobs(db, KIND, actor="bo", now=NOW + timedelta(hours=1))
        while not beat.lost:
            assert time.monotonic() < deadline, "the heartbeat did not notice"
            time.sleep(0.02)
    finally:
        beat.stop()


def test_the_heartbeat_interval_follows_the_stale_threshold(monkeypatch):
    assert jobs.heartbeat_interval() == jobs.HEARTBEAT_MAX_INTERVAL_S
    monkeypatch.setenv("CLOSELOOP_JOB_STALE_SECONDS", "10")
    assert jobs.heartbeat_interval() == 2


# ----------------------------------------------------------------------------- background

def test_work_runs_in_the_background_with_its_own_connection(db, db_path):
    ran = {}

    def work(conn, job_id):
        ran["thread"] = threading.current_thread().name
        ran["other_connection"] = conn is not db
        with jobs.run_job(conn, job_id, actor="ana") as job:
            job.finish(jobs.DONE, "worked")

    job_id = jobs.start_in_background(db_path, KIND, work, actor="ana")
    assert jobs.wait_for_job(job_id, timeout=30)
    assert jobs.job_status(db, job_id)["status"] == "done"
    assert ran == {"thread": f"closeloop-{KIND}-{job_id}", "other_connection": True}


def test_a_second_background_start_returns_the_running_job(db, db_path):
    release = threading.Event()

    def work(conn, job_id):
        with jobs.run_job(conn, job_id, actor="ana") as job:
            release.wait(30)
            job.finish(jobs.DONE, "worked")

    first = jobs.start_in_background(db_path, KIND, work, actor="ana")
    try:
        assert jobs.start_in_background(db_path, KIND, work, actor="bo") == first
        assert not jobs.wait_for_job(first, timeout=0.05)
    finally:
        release.set()
    assert jobs.wait_for_job(first, timeout=30)
    assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_background_work_that_fails_before_ending_its_job_leaves_it_failed(db, db_path):
    def work(conn, job_id):
        raise RuntimeError("could not even start")

    job_id = jobs.start_in_background(db_path, KIND, work, actor="ana", now=NOW)
    assert jobs.wait_for_job(job_id, timeout=30)
    job = row(db, job_id)
    assert (job["status"], job["message"]) == ("failed", "RuntimeError: could not even start")
    assert job["started_at"] == "2025-03-01T12:00:00Z"
    assert "2025-03-01T12:00:00Z" <= job["finished_at"] < "2025-03-01T12:05:00Z"


def test_a_job_never_started_here_needs_no_wait():
    assert jobs.wait_for_job(987654, timeout=0)

"""Long work as jobs: one running job per kind, a heartbeat, progress, and a reaper for the
jobs whose process died. Theme refresh is the first kind; the sweep, the outbox and reports
come next, so nothing here knows what a job does.

`runner`: the `jobs` rows (start, read, progress, finish, reap) and a job at work;
`liveness`: when a running job counts as dead, and the heartbeat thread; `background`: a job
run in a thread of this process.
"""

from analysis.jobs.background import start_in_background, wait_for_job
from analysis.jobs.liveness import (
    HEARTBEAT_MAX_INTERVAL_S,
    Heartbeat,
    heartbeat_interval,
    pid_scope,
)
from analysis.jobs.runner import (
    DONE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    JobAlreadyRunning,
    JobInterrupted,
    JobRun,
    ProgressFn,
    clock_from,
    describe_job,
    ensure_live,
    failure_message,
    finish_job,
    job_status,
    reap_dead_jobs,
    run_job,
    running_job,
    start_job,
    update_job,
)

__all__ = [
    "DONE", "FAILED", "HEARTBEAT_MAX_INTERVAL_S", "INTERRUPTED", "RUNNING", "Heartbeat",
    "JobAlreadyRunning", "JobInterrupted", "JobRun", "ProgressFn", "clock_from", "describe_job",
    "ensure_live", "failure_message", "finish_job", "heartbeat_interval", "job_status",
    "pid_scope", "reap_dead_jobs", "run_job", "running_job", "start_in_background",
    "start_job", "update_job", "wait_for_job",
]

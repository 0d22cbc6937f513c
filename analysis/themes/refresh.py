"""Refreshing themes: fit once, then assign new comments; as a job, one at a time.

    result = refresh_themes(db, actor="ana")              # fit once, then assign new comments
    result = refresh_themes(db, refit=True, actor="ana")  # refit on everything
    job_id = start_refresh_job(db_path, refit=False, actor="ana")  # the same, in a thread
    print(result.message)

A refresh is a job of kind "themes" (`analysis.jobs`): one runs at a time across processes,
its progress and heartbeat are in its `jobs` row, and a refresh whose process died is
reported as interrupted by `job_status` and recorded as failed by the next one to start.
Analyst corrections are re-applied after every fit and every transform.
"""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from analysis import jobs
from analysis.domain.comments import has_comment_sql
from analysis.store import to_iso, utcnow
from analysis.themes.fit import fit
from analysis.themes.persistence import ModelUnavailable, active_model_row
from analysis.themes.pipeline import ThemePipeline
from analysis.themes.results import RefreshResult
from analysis.themes.transform import transform

JOB_KIND = "themes"
JOB_WHAT = "a theme refresh"
"""How JobAlreadyRunning names a theme job to people."""


def refresh_themes(
    db: sqlite_utils.Database,
    *,
    refit: bool = False,
    pipeline: ThemePipeline | None = None,
    actor: str,
    now: datetime | None = None,
    progress: jobs.ProgressFn | None = None,
    job_id: int | None = None,
) -> RefreshResult:
    """Fit themes (no active model, or `refit`), else assign only comments no model has seen.

    Never raises on an empty or tiny corpus (the result's message says why nothing changed);
    other failures mark the job failed and leave the previous themes intact. Raises
    JobAlreadyRunning, before doing anything, while another theme job is alive (in this
    process or another sharing the store), and JobInterrupted, writing nothing, if this job
    was marked dead from elsewhere while it ran. `job_id`: a job already started for this
    refresh (`start_refresh_job`)."""
    if not actor or not str(actor).strip():
        raise ValueError("actor is required: who is refreshing the themes?")
    now = now or utcnow()
    at = to_iso(now)
    pipeline = pipeline or ThemePipeline()
    clock = jobs.clock_from(now)
    job_id = job_id or jobs.start_job(db, JOB_KIND, actor=actor, now=now, what=JOB_WHAT)
    with jobs.run_job(db, job_id, actor=actor, clock=clock, progress=progress) as report:
        report(0.01, "starting")
        active = active_model_row(db)
        if active is not None and not refit:
            if active["params"].get("embedder") != pipeline.get_embedder().name:
                result = fit(db, pipeline, actor=actor, at=at, report=report,
                             reason="the embedding model changed, so themes were refitted")
            else:
                try:
                    result = transform(db, pipeline, active, actor=actor, at=at, report=report)
                except ModelUnavailable as exc:
                    result = fit(db, pipeline, actor=actor, at=at, report=report,
                                 reason=f"the saved model could not be used ({exc}), so "
                                        "themes were refitted")
        else:
            result = fit(db, pipeline, actor=actor, at=at, report=report)
        report.finish(jobs.DONE, result.message)
    if progress:
        progress(1.0, result.message)
    return result


def start_refresh_job(db_path, *, refit: bool, actor: str,
                      pipeline: ThemePipeline | None = None, now: datetime | None = None) -> int:
    """Run `refresh_themes` in a background thread with its own connection; return the job id
    at once (poll `job_status`). If a theme job is already running, in this process or any
    other sharing the store, return its id instead of starting a second one."""
    def work(db, job_id):
        refresh_themes(db, refit=refit, pipeline=pipeline, actor=actor, now=now, job_id=job_id)

    return jobs.start_in_background(db_path, JOB_KIND, work, actor=actor, now=now, what=JOB_WHAT)


def running_job(db: sqlite_utils.Database, kind: str = JOB_KIND, *,
                now: datetime | None = None) -> dict | None:
    """The live theme job (see `jobs.running_job`), or None. Reads only: a dead one is
    skipped, and recorded as failed by the next refresh to start."""
    return jobs.running_job(db, kind, now=now)


def themed_share(db: sqlite_utils.Database) -> float:
    """Share of non-empty comments with at least one theme (0..1); 0 on an empty store."""
    # COUNT(DISTINCT f.id), not COUNT(*): the join has a row per theme of a comment.
    total, themed = db.execute(
        "SELECT COUNT(DISTINCT f.id), COUNT(DISTINCT a.feedback_id) FROM feedback f "
        "LEFT JOIN theme_assignments a "
        f"ON a.feedback_id = f.id WHERE {has_comment_sql('f')}").fetchone()
    return themed / total if total else 0.0

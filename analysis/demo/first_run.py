"""The store a newcomer's first `make run` opens: demo feedback with its sentiment and its
themes already there, so that every page shows real content on the first visit instead of
"No themes yet" and a three-minute wait behind a button.

    run = build_first_run_store(db, rows=20000, seed=7, actor="demo", say=print)
    run.seconds    # {"demo rows": 9.1, "sentiment": 30.2, "embedding": 52.0, "compile": 0.0,
                   #  "fit": 61.5, "sweep": 3.0}

Each step says what it does through `say` (the CLI prints it in the terminal), and is timed
apart so that `bench/first_run.py` can report where the minutes go. Embedding is its own
step (the vectors are cached in the store, so the fit then embeds nothing), and so is the
numba compile of UMAP and NN-descent, which only a machine's first fit pays
(`themes.compiling`): a step that must compile says so before it starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlite_utils


@dataclass
class FirstRun:
    rows: int
    """Feedback rows written."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per step: demo rows, sentiment, embedding, compile, fit, sweep (a step
    skipped is absent)."""
    themes_message: str | None = None
    """The theme refresh's own summary, or None when themes were not fitted."""


def build_first_run_store(db: sqlite_utils.Database, *, rows: int = 20000, seed: int = 7,
                          actor: str, truth_path: Path | None = None,
                          now: datetime | None = None, themes: bool = True, pipeline=None,
                          say: Callable[[str], None] = lambda message: None) -> FirstRun:
    """Write the demo rows, score their sentiment and fit themes (`themes=False`: rows only).
    `pipeline`: the theme pipeline (default: the real one, offline model); its embedder
    scores sentiment too, so a tiny pipeline needs no model file at all."""
    from analysis import demo

    run = FirstRun(rows=0)

    def step(name: str, work: Callable[[], object]):
        return _timed(run, name, work)

    say(f"writing {rows:,} demo feedback rows")
    result = step("demo rows", lambda: demo.generate_demo(db, rows=rows, seed=seed,
                                                          truth_path=truth_path, actor=actor,
                                                          now=now))
    run.rows = result.rows
    if themes:
        finish_first_run(db, actor=actor, now=now, pipeline=pipeline, say=say, run=run)
    return run


def unfinished_demo_store(db: sqlite_utils.Database) -> bool:
    """A store holding demo rows only and no fitted themes: a first run stopped before its
    themes (Ctrl-C during the fit), which `demo --if-empty` finishes instead of skipping."""
    from analysis.themes.persistence import active_model_row

    sources = {r[0] for r in db.execute("SELECT DISTINCT source FROM import_batches")}
    return sources == {"demo"} and active_model_row(db) is None


def finish_first_run(db: sqlite_utils.Database, *, actor: str, now: datetime | None = None,
                     pipeline=None, say: Callable[[str], None] = lambda message: None,
                     run: FirstRun | None = None) -> FirstRun:
    """The steps after the demo rows: sentiment of unscored responses, embedding, the
    compile a machine pays once, the theme fit, and the sweep replayed over the history."""
    from analysis import themes as themes_module
    from analysis.text import sentiment
    from analysis.themes import compiling
    from analysis.themes.corpus import comments_to_theme, embed_comments

    run = run or FirstRun(rows=0)

    def step(name: str, work: Callable[[], object]):
        return _timed(run, name, work)

    pipeline = pipeline or themes_module.ThemePipeline()
    embedder = pipeline.get_embedder()
    say("scoring sentiment")
    summary = step("sentiment", lambda: sentiment.score_feedback(
        db, embedder=embedder, actor=actor, now=now, progress=_every_tenth(say, "sentiment")))
    say(f"sentiment: {summary.n_scored:,} responses scored")

    _, docs, _ = comments_to_theme(db, only_new=False)
    say(f"embedding {len(docs):,} comments for themes")
    step("embedding", lambda: embed_comments(db, docs, embedder, _fraction_reporter(say),
                                             0.0, 1.0))

    if pipeline.umap_model is None:  # only UMAP and NN-descent compile
        compiling.enable_disk_cache()
        if compiling.compile_pending(len(docs)):
            say(compiling.COMPILE_MESSAGE)
            step("compile", lambda: themes_module.warm_up(pipeline))
        else:
            run.seconds["compile"] = 0.0

    say("fitting themes")
    refreshed = step("fit", lambda: themes_module.refresh_themes(
        db, pipeline=pipeline, actor=actor, now=now, progress=_fraction_reporter(say)))
    run.themes_message = refreshed.message

    say("replaying the sweep over the demo's history (spike alerts, root-cause triggers, "
        "cases)")
    step("sweep", lambda: replay_sweep(db, actor=actor, now=now, say=say))
    return run


def replay_sweep(db: sqlite_utils.Database, *, actor: str, now: datetime | None = None,
                 say: Callable[[str], None] = lambda message: None) -> None:
    """Run the sweep over every period since the first feedback, as a scheduler would have
    done had it run all along, so that the Trends page opens with the demo's alerts and the
    case queue with the last two weeks' cases, handed to the demo's staff."""
    from analysis.domain.filters import date_bounds
    from analysis.sweep import run_sweep

    from analysis import store
    from analysis.demo.staff import seed_demo_staff
    from analysis.followup.templates import seed_templates

    with store.write_transaction(db):
        seed_demo_staff(db, actor=actor, now=now)   # so the cases it opens have owners
        seed_templates(db, actor=actor, now=now)    # so a follow-up can be written at once
    bounds = date_bounds(db)
    if bounds is not None:
        run_sweep(db, now=now, since=bounds[0], actor=actor, progress=lambda m: say(f"  {m}"))


def _timed(run: FirstRun, name: str, work: Callable[[], object]):
    started = time.perf_counter()
    result = work()
    run.seconds[name] = round(time.perf_counter() - started, 1)
    return result


def _every_tenth(say, what: str) -> Callable[[int, int], None]:
    """A (done, total) progress callback that speaks about every tenth of the way."""
    last = {"tenth": -1}

    def report(done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth != last["tenth"]:
            last["tenth"] = tenth
            say(f"  {what}: {done:,}/{total:,}")

    return report


def _fraction_reporter(say) -> Callable[[float, str], None]:
    """A (fraction, message) progress callback that speaks when the message changes, not
    on every embedded batch."""
    last = {"message": None}

    def report(fraction: float, message: str) -> None:
        head = message.split(" ")[0] if message.startswith("embedding") else message
        if head != last["message"]:
            last["message"] = head
            say(f"  {fraction:4.0%} {message}")

    return report

"""Theme speed on 20,000 demo comments with the real all-MiniLM-L6-v2, on this machine.

    .venv/bin/python bench/themes_speed.py [--rows 20000] [--new 1000]

1. First full embedding of every comment (comments/s; cached in the store afterwards).
2. A full theme refit with embeddings cached (seconds), after `themes.warm_up()` compiled
   numba (timed apart: once per process). Target: well under a minute.
3. Assigning `--new` new comments with the saved model, no refit (seconds, embedding them
   included). Target: under 15 s.
Prints human lines, then last one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REFIT_TARGET_S = 60
ASSIGN_TARGET_S = 15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=None,
                        help="SQLite file that receives the computed embeddings for later runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["CLOSELOOP_MODEL_DIR"] = str(tmp / "models")
        os.environ["CLOSELOOP_DB"] = str(tmp / "speed.db")
        from analysis import demo, store, themes
        from analysis.ingest import feedback
        from analysis.text import embeddings
        from analysis.themes.corpus import comments_to_theme

        db = store.connect(tmp / "speed.db")
        now = datetime(2025, 6, 1, tzinfo=timezone.utc)
        demo.generate_demo(db, rows=args.rows, seed=7, actor="bench", now=now)
        embedder = embeddings.default_embedder()
        ids, docs, _ = comments_to_theme(db, only_new=False)
        embedder.encode(["warm up"])  # model load is not embedding speed
        started = time.perf_counter()
        embeddings.embed_texts(db, docs, embedder)
        embed_s = time.perf_counter() - started
        unique = len(set(docs))
        if args.cache is not None:
            sys.path.insert(0, str(ROOT / "bench"))
            from themes_quality import copy_embeddings

            copy_embeddings(args.cache, db, into_cache=True)
        print(f"first embedding: {len(docs):,} comments ({unique:,} distinct texts) in "
              f"{embed_s:.1f}s = {unique / embed_s:,.0f} texts/s")

        # The app warms numba up once per process (themes.warm_up); measure that apart.
        started = time.perf_counter()
        themes.warm_up()
        warm_s = time.perf_counter() - started
        print(f"numba warm-up (once per process): {warm_s:.1f}s")
        steps: list[tuple[float, str]] = []

        def step(fraction, message):
            steps.append((time.perf_counter(), message.split(" ")[0] + " " + message.split(" ")[1]
                          if " " in message else message))

        started = time.perf_counter()
        fit = themes.refresh_themes(db, refit=True, actor="bench", progress=step)
        refit_s = time.perf_counter() - started
        breakdown = {}
        previous = started
        for moment, name in steps:
            breakdown[name] = round(breakdown.get(name, 0) + moment - previous, 1)
            previous = moment
        # Each entry is the time spent *before* that step was announced, i.e. the previous step.
        print("refit steps (time until each message): " + ", ".join(
            f"{k} {v}s" for k, v in breakdown.items()))
        print(f"refit with cached embeddings: {refit_s:.1f}s (target < {REFIT_TARGET_S}s) - "
              f"{fit.message}")

        extra = demo.build_demo(args.new, 99, now=now)
        records = [{**r, "external_id": f"new-{r.get('external_id')}"} for r in extra.records]
        with store.write_transaction(db):
            feedback.insert_feedback(db, records, batch_id=None, actor="bench")
        started = time.perf_counter()
        assigned = themes.refresh_themes(db, actor="bench")
        assign_s = time.perf_counter() - started
        print(f"assign {assigned.n_documents:,} new comments: {assign_s:.1f}s "
              f"(target < {ASSIGN_TARGET_S}s) - {assigned.message}")
        figures = {
            "rows": args.rows, "comments": len(docs), "distinct_texts": unique,
            "embed_s": round(embed_s, 2), "embed_texts_per_s": round(unique / embed_s, 1),
            "refit_cached_s": round(refit_s, 2), "n_themes": fit.n_themes,
            "unthemed_share": round(fit.unthemed_share, 4),
            "refit_steps_s": breakdown, "warm_up_s": round(warm_s, 1),
            "assign_new_n": assigned.n_documents, "assign_new_s": round(assign_s, 2),
            "refit_ok": refit_s < REFIT_TARGET_S, "assign_ok": assign_s < ASSIGN_TARGET_S,
        }
        db.close()
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()

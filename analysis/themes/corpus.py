"""The comments a theme model reads: cleaned, with the names it must never turn into themes."""

from __future__ import annotations

import sqlite_utils

from analysis.domain.comments import has_comment_sql
from analysis.text import embeddings as emb
from analysis.text.cleaning import clean_many


def proper_names(db: sqlite_utils.Database) -> list[str]:
    """Locations and customer names in the store: cleaning removes them from comments, and
    a fit treats their words as stop words, so no theme is about a branch or a person."""
    rows = db.execute(
        "SELECT DISTINCT location FROM feedback WHERE location IS NOT NULL AND location != '' "
        "UNION SELECT DISTINCT customer_name FROM feedback WHERE customer_name IS NOT NULL "
        "AND customer_name != ''").fetchall()
    return [r[0] for r in rows]


def comments_to_theme(db: sqlite_utils.Database, *,
                      only_new: bool) -> tuple[list[int], list[str], list[int]]:
    """(ids, cleaned texts) of commented feedback, oldest first, plus the ids whose text
    cleans to nothing (a bare handle or link: honestly unthemed). `only_new`: only comments
    no model has considered yet."""
    sql = f"SELECT f.id, f.comment FROM feedback f WHERE {has_comment_sql('f')}"
    if only_new:
        sql += " AND f.id NOT IN (SELECT feedback_id FROM theme_coverage)"
    rows = db.execute(sql + " ORDER BY f.id").fetchall()
    cleaned = clean_many([r[1] for r in rows], names=proper_names(db))
    ids, texts, empty = [], [], []
    for (fid, _), text in zip(rows, cleaned):
        if len(text) >= 2:
            ids.append(fid)
            texts.append(text)
        else:
            empty.append(fid)
    return ids, texts, empty


def seed_label(seed: dict) -> str:
    # The zero-shot label: the analyst's name and terms, so the embedder sees their vocabulary.
    return f"{seed['name']}: {', '.join(seed['terms'])}"


def embed_comments(db: sqlite_utils.Database, texts: list[str], embedder, report,
                   start: float, end: float):
    """Vectors of `texts` through the embedding cache, reporting progress between the
    fractions `start` and `end`."""
    def tick(done, total):
        report(start + (end - start) * done / max(total, 1),
               f"embedding {done:,}/{total:,} new texts")

    return emb.embed_texts(db, texts, embedder, progress=tick)

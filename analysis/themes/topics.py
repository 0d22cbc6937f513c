"""What a fitted topic model says about comments, in the terms the store keeps: each
comment's primary topic (outliers folded in), its secondary topics, and the assignment rows
these become once topics are themes. Shared by a fit and a transform."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def topic_embeddings(topic_model) -> tuple[list[int], np.ndarray]:
    """Non-outlier topic ids, in order, and their rows of topic_embeddings_."""
    info_topics = sorted(topic_model.get_topics().keys())
    vectors = np.asarray(topic_model.topic_embeddings_)
    offset = 1 if -1 in info_topics else 0
    topics = [t for t in info_topics if t != -1]
    return topics, vectors[offset:offset + len(topics)]


def keywords(topic_model, topic: int) -> list[str]:
    words = topic_model.get_topic(topic) or []
    return [w for w, _ in words if w]


def collapse(topics, topic_ids, *, min_themes: int, max_theme_share: float) -> str | None:
    """Why this clustering says nothing about the corpus, or None when it is usable."""
    if len(topic_ids) < min_themes:
        return f"only {len(topic_ids)} theme(s)"
    counts = np.bincount(np.asarray([t for t in topics if t != -1], dtype=int))
    largest = counts.max() / len(topics) if len(counts) else 0.0
    if largest > max_theme_share:
        return f"one theme holds {largest:.0%} of the comments"
    return None


def reduce_outliers(topic_model, docs, topics, embeddings, pipeline, *,
                    unthemeable: int = 0, copies=None) -> tuple[list[int], np.ndarray]:
    """BERTopic's embedding-strategy outlier reduction with a threshold lowered just enough
    that at most `max_unthemed_share` of these comments stay unthemed, counting the
    `unthemeable` ones (text that cleans to nothing) too, since the reported share does.
    `copies`: how many comments each doc stands for (the fit models distinct texts), so the
    budget is in comments. Returns the new topics and, per doc, its cosine similarity to its
    topic (used as probability)."""
    from sklearn.preprocessing import normalize

    topics = np.asarray(topics, dtype=int)
    topic_ids, vectors = topic_embeddings(topic_model)
    sims = normalize(np.asarray(embeddings, dtype=np.float32)) @ normalize(vectors).T \
        if len(topic_ids) else np.zeros((len(topics), 0))
    weight = np.ones(len(topics), dtype=np.int64) if copies is None else np.asarray(copies)
    outliers = np.flatnonzero(topics == -1)
    if len(outliers) and len(topic_ids):
        best = sims[outliers].max(axis=1)
        allowed = max(0, math.floor(pipeline.max_unthemed_share * (int(weight.sum())
                                                                   + unthemeable))
                      - unthemeable)
        threshold = pipeline.outlier_threshold
        # Fold the most similar outliers first until the comments left fit the budget.
        order = np.argsort(-best, kind="stable")
        left = np.asarray(weight[outliers])[order][::-1].cumsum()[::-1]
        need = int(np.searchsorted(-left, -allowed, side="left"))
        if need > 0:
            # A hair below the need-th best: BERTopic recomputes these similarities, and a
            # rounding difference would otherwise leave a comment or two over the budget.
            threshold = min(threshold, float(best[order[need - 1]]) - 1e-6)
        reduced = topic_model.reduce_outliers(
            list(docs), topics.tolist(), strategy="embeddings", embeddings=np.asarray(embeddings),
            threshold=max(threshold, 1e-9))
        topics = np.asarray(reduced, dtype=int)
    column = {t: i for i, t in enumerate(topic_ids)}
    topic_sim = np.array([sims[i, column[t]] if t in column else 0.0
                          for i, t in enumerate(topics)], dtype=float)
    return topics.tolist(), topic_sim


def secondary_topics(topic_model, docs, topics, pipeline) -> list[list[tuple[int, float]]]:
    """Extra themes per comment: topics with a share of the approximate distribution at or
    above `multi_theme_threshold`, strongest first."""
    if pipeline.max_themes_per_comment <= 1 or not docs:
        return [[] for _ in docs]
    topic_ids, _ = topic_embeddings(topic_model)
    if len(topic_ids) < 2:
        return [[] for _ in docs]
    distr, _ = topic_model.approximate_distribution(list(docs), batch_size=1000)
    distr = np.asarray(distr)
    out = []
    for i, primary in enumerate(topics):
        extra = []
        if primary != -1 and distr.shape[1] == len(topic_ids):
            row = distr[i]
            for j in np.argsort(row)[::-1]:
                if row[j] < pipeline.multi_theme_threshold:
                    break
                if topic_ids[j] != primary:
                    extra.append((topic_ids[j], float(row[j])))
                if len(extra) >= pipeline.max_themes_per_comment - 1:
                    break
        out.append(extra)
    return out


def _primary_probability(probs, i: int, fallback: float) -> float:
    if probs is None:
        return fallback
    probs = np.asarray(probs)
    if probs.ndim == 1 and len(probs) > i:
        value = float(probs[i])
    elif probs.ndim == 2 and len(probs) > i:
        value = float(np.max(probs[i]))
    else:
        value = fallback
    if not np.isfinite(value) or value <= 0:
        value = fallback
    return float(min(1.0, max(0.0, value)))


@dataclass
class TopicAssignments:
    """A model's verdict on comments `ids`, position by position."""

    ids: list[int]
    model_topics: list[int]
    """The topic the model itself gave (-1: outlier), before outliers were folded in."""
    topics: list[int]
    """After outlier reduction; -1 only for the comments left honestly unthemed."""
    probs: Any
    """The model's probabilities (BERTopic's `probs`), or None."""
    topic_sim: np.ndarray
    """Cosine similarity of each comment to its topic: the probability of a folded outlier."""
    secondary: list[list[tuple[int, float]]]

    def rows(self, topic_to_theme: dict[int, int], *, model_id: int, at: str,
             fresh_origin: str) -> list[tuple]:
        """`theme_assignments` rows (feedback_id, theme_id, probability, is_primary, origin,
        model_id, assigned_at): a primary per themed comment, then its secondary themes."""
        rows = []
        for i, fid in enumerate(self.ids):
            t = self.topics[i]
            if t == -1 or t not in topic_to_theme:
                continue
            primary_theme = topic_to_theme[t]
            similarity = float(max(0.0, min(1.0, self.topic_sim[i])))
            if self.model_topics[i] == -1:
                origin, probability = "outlier_reduction", similarity
            else:
                origin = fresh_origin
                probability = _primary_probability(self.probs, i, similarity)
            rows.append((fid, primary_theme, probability, 1, origin, model_id, at))
            seen = {primary_theme}
            for extra, weight in self.secondary[i]:
                theme = topic_to_theme.get(extra)
                if theme is None or theme in seen:
                    continue
                seen.add(theme)
                rows.append((fid, theme, float(min(1.0, weight)), 0, fresh_origin, model_id, at))
        return rows

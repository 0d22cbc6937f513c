"""Reconciling a fit's topics with the stable themes in the store: a pure function.

    plan = reconcile(fitted_topics, existing_themes, match_threshold=0.8)
    plan.decisions    # per topic: which theme it becomes, created or revived, its name
    plan.retire       # active themes no topic matched

Each topic is matched to an existing theme by the cosine similarity of centroids (Hungarian
assignment, one topic per theme, from `match_threshold`), using the centroids stored for
this embedder: a matched topic keeps the theme id, and an analyst's locked name; an
unmatched one creates a theme; active child themes no topic matched are retired, and a retired
theme matched again is revived. A topic that matches a merged theme lands on the end of its
merge chain, and the matched theme keeps the centroid. Seed topics (BERTopic zero-shot
topics from analyst seed themes) are their seed theme. Names follow the topic's keywords
unless the theme's name is locked or it is a seed.

Nothing here reads or writes the store: the fit reads `ExistingTheme`s inside its write
transaction and writes the plan there (`fit.write_fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.themes.naming import auto_name

SEEDED, MATCHED, REVIVED, CREATED = "seeded", "matched", "revived", "created"


@dataclass(frozen=True)
class FittedTopic:
    topic: int
    keywords: list[str]
    centroid: np.ndarray
    """Mean embedding of the topic's comments."""
    seed_theme_id: int | None = None
    """The seed theme this zero-shot topic stands for, or None."""
    name: str | None = None
    """A readable name for the topic (a phrase from its comments); None: from keywords."""


@dataclass(frozen=True)
class ExistingTheme:
    id: int
    name: str
    status: str
    """'active', 'retired' or 'merged'."""
    merged_into: int | None = None
    name_locked: bool = False
    is_seed: bool = False
    centroid: np.ndarray | None = None
    """Its stored centroid for the embedder of this fit, or None."""


@dataclass(frozen=True)
class TopicDecision:
    topic: int
    outcome: str
    """SEEDED, MATCHED, REVIVED (a retired theme matched again) or CREATED."""
    theme_id: int | None
    """The theme the topic becomes; None: the theme CREATED for it."""
    centroid_owner: int | None
    """The theme whose stored centroid this topic's centroid replaces (the matched or seed
    theme, even when merged into another); None: the created theme."""
    name: str
    """The topic's readable name (the theme's auto_name): its phrase, else its keywords."""
    keywords: list[str]
    similarity: float | None = None
    """Centroid cosine similarity of a matched or revived topic."""
    takes_name: bool = True
    """Whether the theme's name becomes `name` (not for a locked name or a seed)."""
    renamed_from: str | None = None
    """The theme's name before, when `name` replaces a different one."""


@dataclass(frozen=True)
class ReconcilePlan:
    decisions: list[TopicDecision]
    retire: list[int] = field(default_factory=list)
    """Themes active before the fit that no topic matched, in id order."""

    def count(self, outcome: str) -> int:
        return sum(d.outcome == outcome for d in self.decisions)


def match_topics(topic_centroids: dict[int, np.ndarray], theme_ids: list[int],
                 theme_vectors: np.ndarray, threshold: float) -> dict[int, tuple[int, float]]:
    """topic -> (candidate theme id, similarity), one topic per theme, Hungarian on cosine."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.preprocessing import normalize

    topics = list(topic_centroids)
    if not topics or not theme_ids:
        return {}
    a = normalize(np.vstack([topic_centroids[t] for t in topics]))
    b = normalize(theme_vectors)
    if a.shape[1] != b.shape[1]:
        return {}
    sims = a @ b.T
    rows, cols = linear_sum_assignment(-sims)
    return {topics[r]: (theme_ids[c], float(sims[r, c])) for r, c in zip(rows, cols)
            if sims[r, c] >= threshold}


def resolve(themes: dict[int, ExistingTheme], theme_id: int | None) -> int | None:
    """The theme that `theme_id` now stands for: itself, or the end of its merge chain (the
    same rule as `admin.resolve_theme`, on plain data: any records with `status` and
    `merged_into`, child themes here, parents in `hierarchy.plan_parents`)."""
    seen = set()
    while theme_id not in seen:
        seen.add(theme_id)
        theme = themes.get(theme_id)
        if theme is None or theme.status != "merged" or theme.merged_into is None:
            return theme_id
        theme_id = theme.merged_into
    return theme_id


def reconcile(topics: Sequence[FittedTopic], themes: Sequence[ExistingTheme], *,
              match_threshold: float) -> ReconcilePlan:
    """Which theme each fitted topic becomes, and which themes retire (module docstring)."""
    by_id = {t.id: t for t in themes}
    candidates = sorted((t for t in themes if t.centroid is not None and not t.is_seed),
                        key=lambda t: t.id)
    free = {t.topic: t.centroid for t in topics if t.seed_theme_id is None}
    matches = match_topics(
        free, [t.id for t in candidates],
        np.vstack([t.centroid for t in candidates]) if candidates else np.zeros((0, 0)),
        match_threshold)
    # Decisions apply in topic order, and two topics may land on one theme (through a
    # merge): a theme revived or renamed by one topic is seen so by the next.
    status = {t.id: t.status for t in themes}
    names = {t.id: t.name for t in themes}
    decisions = []
    for topic in topics:
        name = topic.name or auto_name(topic.keywords)
        similarity = None
        if topic.seed_theme_id is not None:
            owner = topic.seed_theme_id
            theme_id, outcome = resolve(by_id, owner), SEEDED
        elif topic.topic in matches:
            owner, similarity = matches[topic.topic]
            theme_id, outcome = resolve(by_id, owner), MATCHED
            if status[theme_id] == "retired":
                status[theme_id], outcome = "active", REVIVED
        else:
            decisions.append(TopicDecision(topic.topic, CREATED, None, None, name,
                                           topic.keywords))
            continue
        theme = by_id[theme_id]
        takes_name = not (theme.name_locked or theme.is_seed)
        renamed_from = names[theme_id] if takes_name and names[theme_id] != name else None
        if takes_name:
            names[theme_id] = name
        decisions.append(TopicDecision(topic.topic, outcome, theme_id, owner, name,
                                       topic.keywords, similarity, takes_name, renamed_from))
    kept = {d.theme_id for d in decisions}
    retire = sorted(t.id for t in themes
                    if t.status == "active" and not t.is_seed and t.id not in kept)
    return ReconcilePlan(decisions, retire)

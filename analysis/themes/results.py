"""What a theme refresh reports back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RefreshResult:
    model_version: str | None
    refit: bool
    n_documents: int
    """Comments the model looked at in this run (all of them on a fit, the new ones on a
    transform)."""
    n_themes: int
    n_new_assigned: int
    """Of those, how many got at least one theme."""
    unthemed_share: float
    """Share of those left unthemed (0..1)."""
    message: str

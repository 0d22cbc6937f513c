"""What the Theme quality page shows, shaped from `analysis.themes.queries`: its metrics with
their help texts, the comments of an audit and of the corrections as the reader's role may
read them (`analysis.privacy.display`), the choices of an audit, and seed terms as an
analyst types them. No Streamlit here."""

from __future__ import annotations

import re

import pandas as pd
import sqlite_utils

from analysis.privacy.display import frame_for_role
from analysis.stats.estimates import Estimate
from analysis.themes.queries import NO_THEME, audit_sample, corrections_count, corrections_frame
from analysis.views.themes import UNTHEMED_KEY, format_pct


def audit_counts(accuracy: Estimate) -> dict:
    """Audited comments, and how many of them were confirmed or corrected, from the
    audited accuracy (`admin.audited_accuracy`: a comment audited twice counts once)."""
    audited = accuracy.n
    confirmed = round(accuracy.value / 100 * audited) if audited else 0
    return {"audited": audited, "confirmed": confirmed, "corrected": audited - confirmed}


def header_metrics(figures: dict) -> list[tuple[str, str, str | None]]:
    """(label, value, help) of audited accuracy, sentiment classifier accuracy and theme
    coverage, from `quality_figures`."""
    accuracy, cv, status = figures["accuracy"], figures["sentiment_cv"], figures["status"]
    if accuracy is not None and accuracy.value is not None:
        interval = (f"{accuracy.method}: 95% interval {format_pct(accuracy.ci_low)} to "
                    f"{format_pct(accuracy.ci_high)}, {accuracy.n} audited comments.")
        audited = (format_pct(accuracy.value), interval)
    else:
        audited = ("no audits yet",
                   "Audit a theme on the Theme quality page to measure it.")
    return [
        ("Audited theme accuracy", *audited),
        ("Sentiment classifier accuracy",
         "not available" if cv is None else f"{cv * 100:.0f}%",
         "Cross-validated accuracy of the latest sentiment classifier."),
        ("Comments with a theme", f"{status['assigned']:,} of {status['commented']:,}", None),
    ]


def quality_metrics(figures: dict) -> list[tuple[str, str, str | None]]:
    """(label, value, help) of the quality page's four metrics, from `quality_figures`."""
    audits = audit_counts(figures["accuracy"])
    accuracy, classifier, coverage = header_metrics(figures)
    return [accuracy,
            ("Audited comments", f"{audits['audited']:,}",
             f"{audits['confirmed']:,} confirmed, {audits['corrected']:,} corrected."),
            classifier, coverage]


def audit_comments(db: sqlite_utils.Database, theme_id: int,
                   role: str | None) -> pd.DataFrame:
    """The comments to audit next in a theme (`queries.audit_sample`), as `role` may read
    them."""
    return frame_for_role(audit_sample(db, theme_id), role)


def corrections(db: sqlite_utils.Database, role: str | None) -> tuple[pd.DataFrame, int]:
    """The latest corrections with their comments as `role` may read them, and how many
    there are in all."""
    return frame_for_role(corrections_frame(db), role), corrections_count(db)


def correction_keys(choices: dict[int, str], theme_id: int) -> list[str]:
    """Where a comment wrongly put in `theme_id` can go: no theme, or another theme."""
    return [UNTHEMED_KEY] + [str(t) for t in choices if t != theme_id]


def correction_label(key: str, choices: dict[int, str]) -> str:
    """The text of a `correction_keys` option."""
    return NO_THEME if key == UNTHEMED_KEY else choices.get(int(key), key)


def parse_terms(text: str | None) -> list[str]:
    """Seed terms typed as one per line or separated by commas; blanks and repeats
    (ignoring case) dropped, first spelling kept."""
    terms: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or ""):
        term = " ".join(part.split())
        if term:
            terms.setdefault(term.casefold(), term)
    return list(terms.values())

"""The themes read model: plain functions that take the store (and `Filters`) and return
frames and dicts, for the Themes and Theme quality pages and any later report.

    table = theme_table(db, Filters(start=date(2025, 3, 1), end=date(2025, 3, 31)))
    table.frame            # one row per active theme, plus "Unthemed"
    table.period           # which periods the "change" column compares

Definitions every reader relies on:
- *Commented feedback* is feedback with a comment (`domain.comments`); it is the
  denominator of every share here (a theme can only be found in a comment).
- A *mention* of a theme is one assignment row, primary or secondary: a comment about
  queues and about staff counts once for each, so shares across themes add up to more
  than 100%. `primary_mentions` counts primary assignments only.
- Two levels (`CHILD`, `PARENT`): child themes carry the assignments; a parent's comments
  are its children's, each comment once (the `parent_theme_assignments` view), so a parent's
  share is not the sum of its children's.
- Only `active` themes are shown; *Unthemed* is commented feedback with no assignment to
  an active theme, shown as its own row so the table never hides what the model missed.
- *Deduplicated mentions* count near-duplicate comments (`near_duplicates`) once, under
  their canonical comment; *customers* counts distinct `customer_key` (unknown customers,
  whose key is NULL, are not counted).

Modules: `table` (the theme table and its quotes), `detail` (a picked theme's locations,
weeks, sentiment, comments and the comment map), `quality` (audits, seed themes,
corrections), `base` (what they share). What pages make of these figures (wording, column
specs, clicks) is in `analysis.views.themes` and `analysis.views.theme_quality`.
"""

from analysis.themes.queries.base import (
    CHILD,
    LEVELS,
    PARENT,
    UNTHEMED,
    running_theme_job_id,
    theme_choices,
    theme_status,
)
from analysis.themes.queries.detail import (
    COMMENT_COLUMNS,
    COMMENTS_PAGE_SIZE,
    SENTIMENT_LABELS,
    SHORT_COMMENT_CHARS,
    MapPoints,
    comment_map_points,
    fts_query,
    theme_by_location,
    theme_comment_count,
    theme_comments,
    theme_comments_page,
    theme_drilldown,
    theme_sentiment_mix,
    theme_share_over_time,
)
from analysis.themes.queries.quality import (
    AUDIT_COLUMNS,
    CORRECTION_COLUMNS,
    NO_THEME,
    SEED_COLUMNS,
    audit_sample,
    corrections_count,
    corrections_frame,
    quality_figures,
    seed_theme_frame,
)
from analysis.themes.queries.table import (
    DEFAULT_WINDOW_DAYS,
    THEME_TABLE_COLUMNS,
    Period,
    ThemeTable,
    comparison_period,
    theme_quotes,
    theme_table,
)

__all__ = [
    "AUDIT_COLUMNS", "CHILD", "COMMENTS_PAGE_SIZE", "COMMENT_COLUMNS", "CORRECTION_COLUMNS",
    "DEFAULT_WINDOW_DAYS", "LEVELS", "NO_THEME", "PARENT", "SEED_COLUMNS", "SENTIMENT_LABELS",
    "SHORT_COMMENT_CHARS", "THEME_TABLE_COLUMNS", "UNTHEMED", "MapPoints", "Period",
    "ThemeTable", "audit_sample", "comment_map_points", "comparison_period",
    "corrections_count", "corrections_frame", "fts_query", "quality_figures",
    "running_theme_job_id", "seed_theme_frame", "theme_by_location", "theme_choices",
    "theme_comment_count", "theme_comments", "theme_comments_page", "theme_drilldown",
    "theme_quotes", "theme_sentiment_mix", "theme_share_over_time", "theme_status",
    "theme_table",
]

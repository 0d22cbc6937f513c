"""What the Themes page shows, shaped from `analysis.themes.queries`: the theme list and its
column specs, what a click in it picks, the drill-down's sentences, and the messages shown
instead of the explorer. No Streamlit here: a page turns these into widgets.

Select boxes key themes by text: the theme id as a string, or UNTHEMED_KEY.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.themes.queries import COMMENTS_PAGE_SIZE, Period, ThemeTable
from analysis.themes.queries.base import normalise

UNTHEMED_KEY = "unthemed"
TOP_THEMES = 25
KEYWORDS_SHOWN = 6


def format_pct(value, digits: int = 0) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}%"


def _span(period_filters) -> str:
    return f"{period_filters.start.isoformat()} to {period_filters.end.isoformat()}"


def period_note(period: Period) -> str:
    """Which two periods the "change" column compares, in a sentence."""
    current, previous = period.current, period.previous
    if period.explicit:
        return f"Change compares {_span(current)} with {_span(previous)}."
    days = (current.end - current.start).days + 1
    return (f"No full date range selected: change compares the last {days} days "
            f"({_span(current)}) with the {days} days before ({_span(previous)}).")


def theme_id_from_key(key: str | None) -> int | None:
    return None if key in (None, UNTHEMED_KEY) else int(key)


def theme_names_by_key(frame: pd.DataFrame) -> dict[str, str]:
    """Select-box key -> theme name for the rows of a theme table frame, in table order."""
    keys = [UNTHEMED_KEY if unthemed else str(int(tid))
            for tid, unthemed in zip(frame["theme_id"], frame["is_unthemed"])]
    return dict(zip(keys, frame["name"]))


def with_nps_interval(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a theme table frame with "nps_interval" as text ("" without an interval)."""
    frame = frame.copy()
    frame["nps_interval"] = [
        "" if pd.isna(lo) else f"{lo:.0f} to {hi:.0f} (n={n})"
        for lo, hi, n in zip(frame["nps_ci_low"], frame["nps_ci_high"], frame["nps_n"])]
    return frame


# Column wording and formats of the page's tables, as plain data: the page turns each into a
# Streamlit column config ("kind" names the column type; the rest are its arguments).
THEME_LIST_SPEC = {
    "name": {"kind": "text", "label": "Theme"},
    "mentions": {"kind": "number", "label": "Mentions", "help": "Primary and secondary."},
    "dedup_mentions": {"kind": "number", "label": "Mentions (dedup.)",
                       "help": "Near-duplicate comments counted once."},
    "customers": {"kind": "number", "label": "Customers", "help": "Distinct known customers."},
    "share_pct": {"kind": "number", "label": "Share %", "format": "%.1f",
                  "help": "Mentions / commented feedback (themes overlap)."},
    "change_pts": {"kind": "number", "label": "Change (pts)", "format": "%+.1f",
                   "help": "Share change vs the previous period."},
    "change_p_value": {"kind": "number", "label": "p-value", "format": "%.3f",
                       "help": "Two-proportion z test of the change."},
    "sentiment_mean": {"kind": "number", "label": "Sentiment", "format": "%+.2f",
                       "help": "Mean sentiment score, -1 to 1."},
    "nps": {"kind": "number", "label": "NPS", "format": "%.0f"},
    "nps_interval": {"kind": "text", "label": "NPS 95% interval"},
    "keywords": {"kind": "text", "label": "Keywords"},
}
THEME_LIST_COLUMNS = list(THEME_LIST_SPEC)
COMMENT_LIST_SPEC = {
    "received_at": {"kind": "date", "label": "Date", "format": "YYYY-MM-DD"},
    "location": {"kind": "text", "label": "Location"},
    "score": {"kind": "number", "label": "Score"},
    "sentiment_label": {"kind": "text", "label": "Sentiment"},
    "probability": {"kind": "number", "label": "Probability", "format": "%.2f"},
    "comment": {"kind": "text", "label": "Comment", "width": "large"},
}


@dataclass(frozen=True)
class ThemeListView:
    """The rows of a theme table the page draws, and which theme each row is."""

    frame: pd.DataFrame  # THEME_LIST_COLUMNS only: quotes and intervals stay server side
    keys: list[str]      # select-box key of each row, in row order
    note: str            # which themes are shown, in our own words (never the search text)
    table_key: str       # widget key of the table: new rows, new key (see `table_click`)


def theme_list_view(frame: pd.DataFrame, *, search: str = "", show_all: bool = False,
                    limit: int = TOP_THEMES) -> ThemeListView:
    """The `limit` largest themes of a theme table frame (all with `show_all`), or the
    themes whose name or keywords hold every word of `search`; the Unthemed row always
    stays last, so the table never hides what the model missed.

    A browser draws a few hundred rows with list columns noticeably slower than 25, and
    the hidden columns (three quotes per theme) would be sent for nothing. Keywords become
    one text cell of the first `KEYWORDS_SHOWN`."""
    themes = frame[~frame["is_unthemed"].astype(bool)]
    total = len(themes)
    words = normalise(search or "").split()
    if words:
        haystacks = [normalise(f"{name} {' '.join(keywords)}")
                     for name, keywords in zip(themes["name"], themes["keywords"])]
        shown = themes[[all(w in h for w in words) for h in haystacks]]
        note = f"{len(shown):,} of {total:,} themes match the search."
    elif show_all or total <= limit:
        shown, note = themes, f"All {total:,} themes, largest first."
    else:
        shown = themes.head(limit)
        note = (f"The {limit} largest of {total:,} themes. Find a theme by name or keyword, "
                f"or show them all.")
    rows = with_nps_interval(pd.concat([shown, frame[frame["is_unthemed"].astype(bool)]]))
    # Keywords as one text cell: a browser draws list cells (bubbles) markedly slower.
    rows["keywords"] = [", ".join(words[:KEYWORDS_SHOWN]) for words in rows["keywords"]]
    return ThemeListView(rows[THEME_LIST_COLUMNS].reset_index(drop=True),
                         list(theme_names_by_key(rows)), note,
                         f"themes_table_{int(show_all)}_{search}")


def table_click(keys: list[str], rows: list[int], table_key: str,
                last: tuple | None) -> tuple[tuple, str | None]:
    """A row selection in a table whose rows are `keys`: (what to remember of it, the key
    it newly picked or None). Only a new click picks: a rerun that reports the same
    selection must not undo a choice made elsewhere since. The table's key is part of
    the click because it changes with the rows, and with them what a row number means."""
    picked = keys[rows[0]] if rows and 0 <= rows[0] < len(keys) else None
    click = (table_key, picked)
    return click, (picked if click != last else None)


def theme_list_caption(table: ThemeTable) -> str:
    return (f"Shares are of {table.commented:,} commented responses; a comment can carry "
            f"several themes, so shares add up to more than 100%. {period_note(table.period)} "
            f"Unthemed: comments no theme fits yet.")


def coverage_summary(status: dict) -> str:
    """How much of the commented feedback has a theme, from `theme_status`."""
    share = status["assigned"] / status["commented"] * 100 if status["commented"] else None
    return (f"{status['assigned']:,} of {status['commented']:,} commented responses have a "
            f"theme ({format_pct(share)}). Audited accuracy, seed themes and corrections: "
            f"see the Theme quality page.")


def theme_row(frame: pd.DataFrame, theme_id: int | None) -> pd.Series | None:
    """The theme table row of a theme (None: the Unthemed row), or None if it is gone."""
    # theme_id is a nullable Int64 column: the Unthemed row compares as NA.
    mask = (frame["is_unthemed"] if theme_id is None
            else frame["theme_id"].eq(theme_id).fillna(False).astype(bool))
    rows = frame[mask]
    return None if rows.empty else rows.iloc[0]


def share_summary(row: pd.Series) -> str:
    return (f"{int(row['mentions']):,} mentions, {format_pct(row['share_pct'], 1)} of "
            f"commented feedback (95% interval {format_pct(row['share_ci_low'], 1)} to "
            f"{format_pct(row['share_ci_high'], 1)}).")


def change_summary(row: pd.Series) -> str | None:
    """The change in share with its interval and test, or None when there is no change."""
    if row["change_pts"] is None or pd.isna(row["change_pts"]):
        return None
    return (f"Change vs previous period: {row['change_pts']:+.1f} points "
            f"(95% interval {row['change_ci_low']:+.1f} to {row['change_ci_high']:+.1f}; "
            f"{row['change_test']}, p = {row['change_p_value']:.3g}).")


def detail_caption(row: pd.Series) -> str:
    """The sentence under a picked theme's name: its share, then its change if any."""
    return share_summary(row) + " " + (change_summary(row) or "")


def detail_quotes(drilldown: dict, row: pd.Series) -> list[str]:
    """The representative comments of a picked theme: the drill-down's ranked quotes, or
    for the unthemed comments (which have none) the table row's."""
    quotes = drilldown["quotes"]
    return list(quotes["comment"]) if quotes is not None else list(row["quotes"])


def comments_offset(page: int) -> int:
    """Offset of a 1-based page of comments."""
    return (int(page) - 1) * COMMENTS_PAGE_SIZE


def comments_summary(total: int, shown: int, page: int) -> str:
    first = comments_offset(page) + 1 if shown else 0
    return f"{total:,} comments; showing {shown:,} from number {first:,}."


def merge_candidates(frame: pd.DataFrame, theme_id: int) -> dict[int, str]:
    """Other active themes of a theme table frame (id -> name) that can merge into it."""
    others = frame[~frame["is_unthemed"] & frame["theme_id"].ne(theme_id).fillna(False)]
    return {int(t): str(n) for t, n in zip(others["theme_id"], others["name"])}


def merged_message(sources: list[int]) -> str:
    return f"Merged {len(sources)} theme(s) into this one."


NO_FEEDBACK = ("No feedback yet. Import a file on the Import page, or load the demo data "
               "(`python -m analysis demo`), then run a theme refresh here.")
NO_THEMES = ("No themes yet. Click “Refresh themes” above to find the themes in your "
             "comments (the first run fits the model and can take a few minutes).")
NO_COMMENTS = ("No commented feedback matches the current filters. Widen the filters in "
               "the sidebar.")


def empty_message(status: dict, commented: int | None) -> str | None:
    """What the Themes page says instead of its explorer, or None when there is something
    to explore: `status` from `theme_status`, `commented` the commented feedback under the
    filters (None when not counted)."""
    if status["feedback"] == 0:
        return NO_FEEDBACK
    if status["themes"] == 0:
        return NO_THEMES
    return NO_COMMENTS if not commented else None


def job_view(status) -> tuple[str, float, str]:
    """(state, progress 0..1, message) of a refresh job status, a dict or an object; a
    missing status reads as failed."""
    def field(name, default=None):
        if status is None:
            return default
        if isinstance(status, dict):
            return status.get(name, default)
        return getattr(status, name, default)

    progress = float(field("progress", 0) or 0)
    return (field("status", "failed"), min(max(progress, 0.0), 1.0),
            str(field("message", "") or ""))


def job_outcome(state: str, message: str) -> tuple[str, str, str]:
    """(kind, headline, detail) of a refresh job that has ended, for the page's flash."""
    if state == "done":
        return "success", "Theme refresh finished.", message
    return "error", "Theme refresh failed.", message

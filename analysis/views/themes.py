"""What the Themes page shows, shaped from `analysis.themes.queries`: the two-level theme list
(parents first, each opening into its children) and its column specs, what a click in it
picks, the drill-down's sentences, the choices of a rename, merge or move, and the messages
shown instead of the explorer. No Streamlit here: a page turns these into widgets.
Comments are shown as the reader's role may read them (`analysis.privacy.display`): the
functions that return comment text take the role.

Select boxes key themes by text: the theme id as a string (ids are unique across both
levels), or UNTHEMED_KEY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import sqlite_utils

from analysis.domain.filters import Filters
from analysis.privacy.display import (
    comment_for_role,
    frame_for_role,
    reads_comments_as_written,
)
from analysis.themes.queries import (
    CHILD,
    COMMENTS_PAGE_SIZE,
    PARENT,
    SHORT_COMMENT_CHARS,
    MapPoints,
    Period,
    ThemeTable,
    comment_map_points,
    theme_comments_page,
)
from analysis.themes.queries.base import normalise

UNTHEMED_KEY = "unthemed"
TOP_THEMES = 25
KEYWORDS_SHOWN = 6
CHILDREN_SHOWN = 6


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


def _interval(low, high, fmt: str) -> str:
    return "" if low is None or high is None or pd.isna(low) or pd.isna(high) else \
        f"{low:{fmt}} to {high:{fmt}}"


def with_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a theme table frame with its 95% intervals as text columns
    ("share_interval", "change_interval", "nps_interval"; "" without an interval), so the
    table shows every figure with its interval, as the detail does."""
    frame = with_nps_interval(frame)
    frame["share_interval"] = [_interval(lo, hi, ".1f") for lo, hi in
                               zip(frame["share_ci_low"], frame["share_ci_high"])]
    frame["change_interval"] = [_interval(lo, hi, "+.1f") for lo, hi in
                                zip(frame["change_ci_low"], frame["change_ci_high"])]
    return frame


# Column wording and formats of the page's tables, as plain data: the page turns each into a
# Streamlit column config ("kind" names the column type; the rest are its arguments).
# What a reader compares first (size, share, change, sentiment, NPS, each with its interval
# or test), then the counts that qualify them.
_FIGURES_SPEC = {
    "mentions": {"kind": "number", "label": "Mentions", "help": "Primary and secondary."},
    "share_pct": {"kind": "number", "label": "Share %", "format": "%.1f",
                  "help": "Mentions / commented feedback (themes overlap)."},
    "share_interval": {"kind": "text", "label": "Share 95% interval",
                       "help": "Wilson interval, percent."},
    "change_pts": {"kind": "number", "label": "Change (pts)", "format": "%+.1f",
                   "help": "Share change vs the previous period."},
    "change_interval": {"kind": "text", "label": "Change 95% interval",
                        "help": "Interval of the change, points."},
    "change_p_value": {"kind": "number", "label": "p-value", "format": "%.3f",
                       "help": "Two-proportion z test of the change."},
    "sentiment_mean": {"kind": "number", "label": "Sentiment", "format": "%+.2f",
                       "help": "Mean sentiment score, -1 to 1."},
    "nps": {"kind": "number", "label": "NPS", "format": "%.0f"},
    "nps_interval": {"kind": "text", "label": "NPS 95% interval"},
    "dedup_mentions": {"kind": "number", "label": "Mentions (dedup.)",
                       "help": "Near-duplicate comments counted once."},
    "customers": {"kind": "number", "label": "Customers", "help": "Distinct known customers."},
}
# Child themes: what the model found (a parent's table of children, or a flat store's list).
THEME_LIST_SPEC = {
    "name": {"kind": "text", "label": "Theme"},
    **_FIGURES_SPEC,
    "keywords": {"kind": "text", "label": "Keywords"},
}
THEME_LIST_COLUMNS = list(THEME_LIST_SPEC)
# The list the page leads with: parent themes (and any theme without a parent).
PARENT_LIST_SPEC = {
    "name": {"kind": "text", "label": "Theme"},
    "n_children": {"kind": "number", "label": "Children",
                   "help": "Child themes in this parent theme."},
    **_FIGURES_SPEC,
    "children": {"kind": "text", "label": "Child themes", "help": "Largest first."},
    "keywords": {"kind": "text", "label": "Keywords"},
}
PARENT_LIST_COLUMNS = list(PARENT_LIST_SPEC)
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

    frame: pd.DataFrame  # the list's columns only: quotes and raw bounds stay server side
    keys: list[str]      # select-box key of each row, in row order
    note: str            # which themes are shown, in our own words (never the search text)
    table_key: str       # widget key of the table: new rows, new key (see `table_click`)


def _search_texts(themes: pd.DataFrame) -> list[list[str]]:
    """Per row, the texts a search looks in: its own name and keywords, and (a parent's
    "search_texts") each of its children's."""
    if "search_texts" in themes:
        return [list(texts) for texts in themes["search_texts"]]
    return [[f"{name} {' '.join(words)}"]
            for name, words in zip(themes["name"], themes["keywords"])]


def _names_text(names, shown: int = CHILDREN_SHOWN) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(str(n) for n in list(names)[:shown]) + more


def theme_list_view(frame: pd.DataFrame, *, search: str = "", show_all: bool = False,
                    limit: int = TOP_THEMES, columns: list[str] | None = None,
                    noun: str = "themes", table_key: str = "themes_table") -> ThemeListView:
    """The `limit` largest themes of a theme table frame (all with `show_all`), or the
    themes whose name or keywords hold every word of `search` (a parent: or one of its
    children's); the Unthemed row always stays last, so the table never hides what the
    model missed. `columns`: THEME_LIST_COLUMNS unless given (PARENT_LIST_COLUMNS for
    `ThemeLevels.top`); `noun` names the rows in the note.

    A browser draws a few hundred rows with list columns noticeably slower than 25, and
    hidden columns (quotes) would be sent for nothing: lists become one text cell."""
    themes = frame[~frame["is_unthemed"].astype(bool)]
    total = len(themes)
    words = normalise(search or "").split()
    if words:
        matches = [any(all(w in normalise(text) for w in words) for text in texts)
                   for texts in _search_texts(themes)]
        shown = themes[pd.Series(matches, index=themes.index, dtype=bool)]
        note = f"{len(shown):,} of {total:,} {noun} match the search."
    elif show_all or total <= limit:
        shown, note = themes, f"All {total:,} {noun}, largest first."
    else:
        shown = themes.head(limit)
        note = (f"The {limit} largest of {total:,} {noun}. Find a theme by name or keyword, "
                f"or show them all.")
    rows = with_intervals(pd.concat([shown, frame[frame["is_unthemed"].astype(bool)]]))
    # Keywords as one text cell: a browser draws list cells (bubbles) markedly slower.
    rows["keywords"] = [", ".join(words[:KEYWORDS_SHOWN]) for words in rows["keywords"]]
    if "child_names" in rows:
        rows["children"] = [_names_text(names) for names in rows["child_names"]]
    return ThemeListView(rows[columns or THEME_LIST_COLUMNS].reset_index(drop=True),
                         list(theme_names_by_key(rows)), note,
                         f"{table_key}_{int(show_all)}_{search}")


# --------------------------------------------------------------------------- two levels

@dataclass(frozen=True)
class ThemeLevels:
    """A store's themes at both levels, as the page shows them: what it leads with (`top`)
    and what each parent opens into (`children`)."""

    top: pd.DataFrame       # parents and parentless child themes, largest first, then
    #                         Unthemed; plus "child_names" and "search_texts" lists
    parents: pd.DataFrame   # the parent theme table rows (no Unthemed row)
    children: pd.DataFrame  # every child theme table row, largest first (no Unthemed row)
    commented: int          # commented feedback under the filters: every share's denominator
    period: Period          # which periods "change" compares

    @property
    def has_parents(self) -> bool:
        return not self.parents.empty


def _ids(frame: pd.DataFrame, column: str = "theme_id") -> list[int | None]:
    return [None if pd.isna(v) else int(v) for v in frame[column]]


def _own_text(frame: pd.DataFrame) -> list[str]:
    return [f"{name} {' '.join(words)}" for name, words in zip(frame["name"], frame["keywords"])]


def theme_levels(parents: ThemeTable, children: ThemeTable) -> ThemeLevels:
    """The two theme tables (`theme_table` at PARENT and CHILD level, same filters) joined
    into what the page shows. A child theme whose parent is not active (a store fitted
    before parents existed, a theme added by hand) is listed at the top level on its own,
    so no theme is hidden."""
    p, c = parents.frame, children.frame
    parent_rows = p[~p["is_unthemed"].astype(bool)].reset_index(drop=True)
    kids = c[~c["is_unthemed"].astype(bool)].reset_index(drop=True)
    parent_ids = set(_ids(parent_rows))
    # A mask, not a list: an empty list would select no columns rather than no rows.
    in_parent = pd.Series([t in parent_ids for t in _ids(kids, "parent_id")],
                          index=kids.index, dtype=bool)
    names_of: dict[int, list[str]] = {}
    texts_of: dict[int, list[str]] = {}
    for parent_id, name, text in zip(_ids(kids[in_parent], "parent_id"),
                                     kids[in_parent]["name"], _own_text(kids[in_parent])):
        names_of.setdefault(parent_id, []).append(str(name))
        texts_of.setdefault(parent_id, []).append(text)
    loose = kids[~in_parent]
    ranked = pd.concat([parent_rows, loose], ignore_index=True)
    ranked["child_names"] = [names_of.get(t, []) for t in _ids(ranked)]
    ranked["search_texts"] = [[own, *texts_of.get(t, [])]
                              for own, t in zip(_own_text(ranked), _ids(ranked))]
    ranked = ranked.assign(_name=[str(n).casefold() for n in ranked["name"]]).sort_values(
        ["mentions", "_name", "theme_id"], ascending=[False, True, True]).drop(columns="_name")
    unthemed = p[p["is_unthemed"].astype(bool)].assign(child_names=[[]], search_texts=[[]])
    top = pd.concat([ranked, unthemed], ignore_index=True)
    for column in ("theme_id", "parent_id", "n_children"):
        top[column] = top[column].astype("Int64")
    # Unthemed and themes without a parent have no child themes: 0, not an empty cell the
    # grid would print as "None".
    top["n_children"] = top["n_children"].fillna(0)
    return ThemeLevels(top, parent_rows, kids, parents.commented, parents.period)


def top_list_view(levels: ThemeLevels, *, search: str = "",
                  show_all: bool = False) -> ThemeListView:
    """The table the page leads with: the largest parent themes (see `theme_list_view`)."""
    only_parents = levels.top["level"].eq(PARENT) | levels.top["is_unthemed"].astype(bool)
    noun = "parent themes" if levels.has_parents and only_parents.all() else "themes"
    return theme_list_view(levels.top, search=search, show_all=show_all,
                           columns=PARENT_LIST_COLUMNS, noun=noun, table_key="themes_parents")


def children_of(levels: ThemeLevels, parent_id: int) -> pd.DataFrame:
    """The child theme rows of a parent, largest first."""
    frame = levels.children
    return frame[frame["parent_id"].eq(parent_id).fillna(False).astype(bool)]


def child_list_view(levels: ThemeLevels, parent_id: int) -> ThemeListView:
    """The table a parent opens into: all its child themes, largest first (no Unthemed
    row: an unthemed comment has no parent either)."""
    rows = children_of(levels, parent_id)
    shown = with_intervals(rows)
    shown["keywords"] = [", ".join(words[:KEYWORDS_SHOWN]) for words in shown["keywords"]]
    count = len(rows)
    note = (f"{count:,} child theme{'s' if count != 1 else ''}, largest first; select one to "
            f"open it." if count else "No child themes in this parent theme.")
    return ThemeListView(shown[THEME_LIST_COLUMNS].reset_index(drop=True),
                         [str(t) for t in _ids(rows)], note, f"themes_children_{parent_id}")


def theme_options(levels: ThemeLevels) -> dict[str, str]:
    """Select-box key -> label of every theme at both levels: child themes largest first,
    then parent themes largest first (labelled as such), then Unthemed. The leading table
    already shows every parent; the box is the way to the many child themes it does not,
    so they come first (a dropdown draws only its first few options until one types)."""
    top = levels.top
    parents = top[top["level"].eq(PARENT) & ~top["is_unthemed"].astype(bool)]
    options = {str(t): str(n) for t, n in zip(_ids(levels.children), levels.children["name"])}
    options.update((str(t), f"{n} (parent theme)") for t, n in zip(_ids(parents), parents["name"]))
    options.update((UNTHEMED_KEY, str(n)) for n in top[top["is_unthemed"].astype(bool)]["name"])
    return options


def picked_row(levels: ThemeLevels, theme_id: int | None) -> pd.Series | None:
    """The table row of a theme at either level (None: the Unthemed row), or None if gone."""
    row = theme_row(levels.top, theme_id)
    return row if row is not None or theme_id is None else theme_row(levels.children, theme_id)


def is_parent(row: pd.Series) -> bool:
    return row["level"] == PARENT and not row["is_unthemed"]


def opened_parent(levels: ThemeLevels, theme_id: int | None) -> int | None:
    """The parent whose child themes the page lists for a picked theme: the theme itself
    when it is a parent, its parent when it is a child in one, else None."""
    row = picked_row(levels, theme_id)
    if row is None or row["is_unthemed"]:
        return None
    if is_parent(row):
        return int(row["theme_id"])
    parent = row["parent_id"]
    return int(parent) if pd.notna(parent) and int(parent) in _ids(levels.parents) else None


def level_note(levels: ThemeLevels, row: pd.Series) -> str:
    """What kind of theme a picked row is, in our own words (no names: shown as Markdown)."""
    if row["is_unthemed"]:
        return "Comments no theme fits yet."
    if is_parent(row):
        n = len(children_of(levels, int(row["theme_id"])))
        return (f"A parent theme of {n} child theme{'s' if n != 1 else ''}: its figures count "
                f"each of their comments once.")
    if opened_parent(levels, int(row["theme_id"])) is not None:
        return "A child theme of the parent theme listed above."
    return "A theme with no parent theme."


def merge_choices(levels: ThemeLevels, row: pd.Series) -> dict[int, str]:
    """Themes of the same level as a picked one (id -> name) that can merge into it:
    parents into parents, child themes into child themes."""
    frame = levels.parents if is_parent(row) else levels.children
    return merge_candidates(frame, int(row["theme_id"]))


def move_choices(levels: ThemeLevels, theme_id: int) -> dict[int, str]:
    """Active parent themes (id -> name, by name) a child theme can move to: all but its
    own parent."""
    row = picked_row(levels, theme_id)
    current = None if row is None or pd.isna(row["parent_id"]) else int(row["parent_id"])
    pairs = [(t, str(n)) for t, n in zip(_ids(levels.parents), levels.parents["name"])
             if t != current]
    return dict(sorted(pairs, key=lambda p: (p[1].casefold(), p[0])))


def table_click(keys: list[str], rows: list[int], table_key: str,
                last: tuple | None) -> tuple[tuple, str | None]:
    """A row selection in a table whose rows are `keys`: (what to remember of it, the key
    it newly picked or None). Only a new click picks: a rerun that reports the same
    selection must not undo a choice made elsewhere since. The table's key is part of
    the click because it changes with the rows, and with them what a row number means."""
    picked = keys[rows[0]] if rows and 0 <= rows[0] < len(keys) else None
    click = (table_key, picked)
    return click, (picked if click != last else None)


def theme_list_caption(table: ThemeTable | ThemeLevels) -> str:
    return (f"Shares are of {table.commented:,} commented responses; a comment can carry "
            f"several themes, so shares add up to more than 100%. {period_note(table.period)} "
            f"Unthemed: comments no theme fits yet.")


def top_list_caption(levels: ThemeLevels) -> str:
    """What the leading table's figures are: `theme_list_caption` and how parents count."""
    notes = []
    if levels.has_parents:
        notes.append("A parent theme counts each comment of its child themes once; pick one "
                     "to see its child themes.")
    if (levels.top["level"].eq(CHILD) & ~levels.top["is_unthemed"].astype(bool)).any():
        notes.append("Themes without a parent theme are listed on their own."
                     if levels.has_parents else
                     "These themes were fitted before parent themes existed: refit the "
                     "themes to group them under 6-15 parent themes.")
    return " ".join([theme_list_caption(levels), *notes])


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


def figures_summary(row: pd.Series) -> str:
    """The picked theme's NPS with its interval and its mean sentiment with its n."""
    if row["nps"] is None or pd.isna(row["nps"]):
        nps = "NPS: no NPS scores in this view."
    else:
        nps = (f"NPS {row['nps']:.0f} (95% interval {row['nps_ci_low']:.0f} to "
               f"{row['nps_ci_high']:.0f}, n={int(row['nps_n']):,}).")
    if row["sentiment_mean"] is None or pd.isna(row["sentiment_mean"]):
        return nps + " No sentiment scores."
    return (nps + f" Mean sentiment {row['sentiment_mean']:+.2f} on -1 to 1 "
            f"(n={int(row['sentiment_n']):,}).")


def detail_quotes(drilldown: dict, row: pd.Series, role: str | None) -> list[str]:
    """The representative comments of a picked theme, as `role` may read them: the
    drill-down's ranked quotes, or for the unthemed comments (which have none) the table
    row's."""
    quotes = drilldown["quotes"]
    found = list(quotes["comment"]) if quotes is not None else list(row["quotes"])
    return [comment_for_role(quote, role) for quote in found]


MASKED_SEARCH_REFUSED = ("Searching for numbers or email addresses is off for your role: "
                         "the comments reach you with personal data masked, and a count of "
                         "matches would tell what the mask hides. All comments are shown.")


def search_for_role(search: str, role: str | None) -> tuple[str, str | None]:
    """(the search to run, why it was dropped or None). A role that reads comments masked
    may not search for digits or "@": the number of matches would reveal whether a
    masked email, phone or card number is in them."""
    if search and not reads_comments_as_written(role) and re.search(r"[\d@]", search):
        return "", MASKED_SEARCH_REFUSED
    return search, None


def comments_page(db: sqlite_utils.Database, filters: Filters, theme_id: int | None,
                  search: str, offset: int, role: str | None) -> tuple[pd.DataFrame, int]:
    """One page of the theme's comments (`queries.theme_comments_page`) as `role` may read
    them, and the count of all matching comments (a search `role` may not run: none)."""
    search, _ = search_for_role(search, role)
    frame, total = theme_comments_page(db, filters, theme_id, search, offset)
    return frame_for_role(frame, role), total


def map_points(db: sqlite_utils.Database, filters: Filters, role: str | None) -> MapPoints:
    """The map of comments (`queries.comment_map_points`), its hover texts (each the first
    SHORT_COMMENT_CHARS characters of a comment) as `role` may read them."""
    points = comment_map_points(db, filters)
    return MapPoints(frame_for_role(points.frame, role, cut_at=SHORT_COMMENT_CHARS),
                     points.total)


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


MOVED = "Theme moved to another parent theme."
NEW_PARENT = "New parent theme added, with this theme in it."


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

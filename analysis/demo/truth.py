"""The demo's truth: what was injected (spike, worse location, improvement, driver,
seasonality), the figures measured on the rows actually drawn, and a label per row (themes,
intended sentiment), so theme and sentiment code can score itself. Shares are always "rows whose
comment mentions the theme / rows with a non-empty comment" over the slice in question.

Written as JSON with the summary indented and one line per labelled row, so that the file
stays readable at 100k rows; the same sample always gives the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from analysis.demo.corpus import corpus
from analysis.demo.generator import mood_chances
from analysis.demo.model import (
    CHANNEL_NAMES,
    DRIVER_STEPS,
    DRIVER_THEME,
    GENERATOR_VERSION,
    IMPROVEMENT_AFTER,
    IMPROVEMENT_BEFORE,
    IMPROVEMENT_LOCATION,
    IMPROVEMENT_NEG_AFTER,
    IMPROVEMENT_THEME,
    LOCATION_NAMES,
    LOCATIONS,
    MONTH_VOLUME,
    MONTH_WAIT,
    MONTHS,
    NEGATIVE,
    SCORE_TABLES,
    SEGMENT_NAMES,
    SEGMENTS,
    SENTIMENTS,
    SPIKE_LOCATION,
    SPIKE_MULTIPLIER,
    SPIKE_THEME,
    THEMES,
    TOUCHPOINTS,
    TREND_GROWTH,
    WAIT,
    WEEKDAY_VOLUME,
    WEEKDAY_WAIT,
    WEEKDAYS,
    WORSE_LOCATION,
    WORSE_RATIO,
    WORSE_THEME,
)
from analysis.demo.sample import Sample
from analysis.domain.scores import CSAT_SATISFIED_MIN, SCORE_SCALES, nps_group
from analysis.store import to_iso

DEFINITIONS = {
    "share": "rows whose comment mentions the theme / rows with a non-empty comment, "
             "over the slice (location, dates) in question",
    "week": "ISO week, Monday to Sunday, dates in UTC",
    "labels": "rows[].themes: themes the comment mentions; rows[].sentiment: intended "
              "sentiment of the text (sarcasm counts as negative); rows with no comment "
              "or a filler such as 'n/a' have no themes and sentiment 'neutral'",
    "normalised_score": "(score - scale minimum) / (scale maximum - scale minimum)",
}


def measure(sample: Sample) -> dict:
    """The truth of one sample; `rows` (the per-row labels) comes last."""
    calendar, n = sample.calendar, sample.volumes.rows
    measured = _Measures(sample)
    return {
        "generator": GENERATOR_VERSION,
        "seed": sample.seed,
        "now": to_iso(calendar.now),
        "rows_requested": n,
        "rows_written": n,
        "period": {
            "start": f"{calendar.start_date.isoformat()}T00:00:00Z",
            "end": to_iso(calendar.now),
            "start_date": calendar.start_date.isoformat(),
            "end_date": calendar.end_date.isoformat(),
            "days": calendar.days,
        },
        "definitions": dict(DEFINITIONS),
        "themes": list(THEMES),
        "locations": list(LOCATION_NAMES),
        "location_weights": {name: LOCATIONS[name] for name in LOCATION_NAMES},
        "segments": list(SEGMENTS),
        "channels": list(CHANNEL_NAMES),
        "touchpoints": list(TOUCHPOINTS),
        "score_scales": {kind: list(scale) for kind, scale in SCORE_SCALES.items()},
        "spike": _spike(sample, measured),
        "worse_location": _worse_location(sample, measured),
        "improvement": _improvement(sample, measured),
        "driver": _driver(sample),
        "seasonality": _seasonality(sample, measured),
        "overall": _overall(sample, measured),
        "decorations": _decorations(),
        "sarcastic_ids": [external_id for external_id, sarcastic
                          in zip(sample.external_ids, sample.comments.sarcastic) if sarcastic],
        "rows": labelled_rows(sample),
    }


def labelled_rows(sample: Sample) -> list[dict]:
    """Per row: its external id, the themes its comment mentions and its intended sentiment."""
    return [{"external_id": external_id, "themes": [THEMES[t] for t in themes],
             "sentiment": SENTIMENTS[s]}
            for external_id, themes, s in zip(sample.external_ids, sample.comments.themes,
                                              sample.comments.sentiment.tolist())]


def write_truth(truth: dict, path: Path) -> None:
    """JSON with the summary indented and one line per labelled row (100k rows stay readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps({**truth, "rows": "__ROWS__"}, indent=2, ensure_ascii=False)
    body = "[\n" + ",\n".join(
        "    " + json.dumps(row, ensure_ascii=False) for row in truth["rows"]) + "\n  ]"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head.replace('"__ROWS__"', body, 1) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_truth(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class _Measures:
    """Shares and means over slices of one sample's rows."""

    def __init__(self, sample: Sample):
        self.labels = sample.labels
        self.commented = sample.answers.has_comment
        self.everywhere = np.ones(sample.volumes.rows, dtype=bool)
        self.normalised_score = _normalised_scores(sample.scores, sample.answers.score_type)

    def share(self, mask: np.ndarray, theme: int):
        mask = mask & self.commented
        return _round(self.labels[mask, theme].mean()) if int(mask.sum()) else None

    def commented_count(self, mask: np.ndarray, theme: int | None = None) -> int:
        if theme is not None:
            mask = mask & self.labels[:, theme]
        return int((mask & self.commented).sum())


def _spike(sample: Sample, m: _Measures) -> dict:
    calendar, r = sample.calendar, sample.responses
    in_week = np.isin(r.day, calendar.spike_days)
    here = r.location == LOCATION_NAMES.index(SPIKE_LOCATION)
    spike_count = m.commented_count(here & in_week, SPIKE_THEME)
    other_count = m.commented_count(here & ~in_week, SPIKE_THEME)
    other_weeks = (calendar.days - len(calendar.spike_days)) / 7
    weekly = other_count / other_weeks if other_weeks else 0.0
    iso = calendar.spike_start.isocalendar()
    return {
        "description": f"{THEMES[SPIKE_THEME]} complaints at {SPIKE_LOCATION} jump in one ISO "
                       "week (a card terminal charging customers twice)",
        "theme": THEMES[SPIKE_THEME],
        "location": SPIKE_LOCATION,
        "iso_week": f"{iso[0]}-W{iso[1]:02d}",
        "week_start": calendar.spike_start.isoformat(),
        "week_end": calendar.spike_end.isoformat(),
        "multiplier": SPIKE_MULTIPLIER,
        "extra_rows": sample.volumes.extra,
        "baseline_share": m.share(here & ~in_week, SPIKE_THEME),
        "spike_share": m.share(here & in_week, SPIKE_THEME),
        "baseline_weekly_count": _round(weekly, 2),
        "spike_count": spike_count,
        "measured_volume_multiplier": _round(spike_count / weekly, 2) if weekly else None,
        "location_rows_in_week": int((here & in_week).sum()),
    }


def _worse_location(sample: Sample, m: _Measures) -> dict:
    here = sample.responses.location == LOCATION_NAMES.index(WORSE_LOCATION)
    theme_rows = m.labels[:, WORSE_THEME] & m.commented
    sentiment = sample.comments.sentiment
    loc_share = m.share(here, WORSE_THEME)
    net_share = m.share(m.everywhere, WORSE_THEME)
    return {
        "description": f"{WORSE_LOCATION} has about twice the network's share of "
                       f"{THEMES[WORSE_THEME]} comments all the time, and they are angrier",
        "location": WORSE_LOCATION,
        "theme": THEMES[WORSE_THEME],
        "intended_ratio": WORSE_RATIO,
        "share": loc_share,
        "network_share": net_share,
        "others_share": m.share(~here, WORSE_THEME),
        "ratio": _round(loc_share / net_share, 3) if loc_share and net_share else None,
        "mean_normalised_score": _mean(m.normalised_score[theme_rows & here]),
        "network_mean_normalised_score": _mean(m.normalised_score[theme_rows]),
        "negative_rate": _mean(sentiment[theme_rows & here] == NEGATIVE),
        "network_negative_rate": _mean(sentiment[theme_rows] == NEGATIVE),
    }


def _improvement(sample: Sample, m: _Measures) -> dict:
    r, improve_date = sample.responses, sample.calendar.improve_date
    here, before = r.at_improvement, r.before_improvement
    measured_before = m.share(here & before, IMPROVEMENT_THEME)
    measured_after = m.share(here & ~before, IMPROVEMENT_THEME)
    nps_rows = sample.answers.score_type == "nps"
    return {
        "description": f"{IMPROVEMENT_LOCATION} fixed its {THEMES[IMPROVEMENT_THEME]} problem "
                       f"(an extra staff member at peak times) from {improve_date.isoformat()}",
        "location": IMPROVEMENT_LOCATION,
        "theme": THEMES[IMPROVEMENT_THEME],
        "date": improve_date.isoformat(),
        "share_before": IMPROVEMENT_BEFORE,
        "share_after": IMPROVEMENT_AFTER,
        "measured_share_before": measured_before,
        "measured_share_after": measured_after,
        "rows_before": m.commented_count(here & before),
        "rows_after": m.commented_count(here & ~before),
        "effect": {
            "share_change": _round(IMPROVEMENT_AFTER - IMPROVEMENT_BEFORE),
            "relative_change": _round(IMPROVEMENT_AFTER / IMPROVEMENT_BEFORE - 1),
            "measured_share_change": _round(measured_after - measured_before)
            if measured_before is not None and measured_after is not None else None,
            "negative_rate_multiplier_after": IMPROVEMENT_NEG_AFTER,
            "nps_before": _nps(sample.scores[here & before & nps_rows]),
            "nps_after": _nps(sample.scores[here & ~before & nps_rows]),
        },
    }


# The per-response value each key-drivers metric averages (as analysis.benchmarks does).
_DRIVER_VALUES = {
    "nps": lambda score: {"promoters": 100.0, "passives": 0.0,
                          "detractors": -100.0}[nps_group(score)],
    "csat": lambda score: 100.0 if score >= CSAT_SATISFIED_MIN else 0.0,
    "rating": float,
}


def _driver(sample: Sample) -> dict:
    """The injected driver, and the points it and every theme cost by the generating model.

    The points are the coefficients of the key-drivers regression (score value on theme
    indicators with location and segment fixed effects, over commented responses with a
    score of the metric's scale) fitted to each response's expected value given its
    themes, location and segment, instead of its drawn score: the figure the regression
    estimates, free of the score draw's noise (and of the mood draw's).
    """
    answers, labels, r = sample.answers, sample.labels, sample.responses
    moods = mood_chances(sample)
    points, direct = {}, {}
    for kind, value in _DRIVER_VALUES.items():
        low, high = SCORE_SCALES[kind]
        steps = np.arange(low, high + 1, dtype=float)
        table = np.array(SCORE_TABLES[kind], dtype=float)
        table /= table.sum(axis=1, keepdims=True)
        plain = table @ np.array([value(x) for x in steps])
        driven = table @ np.array([value(max(x - DRIVER_STEPS, low)) for x in steps])
        rows = (answers.score_type == kind) & answers.has_score & answers.has_comment
        mentions = labels[rows, DRIVER_THEME]
        expected = np.where(mentions, moods[rows] @ driven, moods[rows] @ plain)
        design = [np.ones(int(rows.sum())), *(labels[rows, t].astype(float)
                                              for t in range(len(THEMES)))]
        for codes, names in ((r.location, LOCATION_NAMES), (r.segment, SEGMENT_NAMES)):
            design += [(codes[rows] == j).astype(float) for j in range(1, len(names))]
        design = np.column_stack(design)
        # Columns without a row (tiny demos) carry nothing: lstsq's minimum norm zeroes them.
        coefficients = np.linalg.lstsq(design, expected, rcond=None)[0]
        points[kind] = {THEMES[t]: _round(coefficients[1 + t], 2) for t in range(len(THEMES))}
        direct[kind] = _round(np.mean(moods[rows][mentions] @ (driven - plain)), 2) \
            if mentions.any() else None
    return {
        "description": f"whoever mentions {THEMES[DRIVER_THEME]} marks the score "
                       f"{DRIVER_STEPS} step lower on its scale than the comment's mood gives "
                       "(never below the scale's lowest point)",
        "theme": THEMES[DRIVER_THEME],
        "steps": DRIVER_STEPS,
        "direct_points": direct,
        "points": points,
        "points_definition": "per metric (NPS +100/0/-100, CSAT 100 when satisfied, rating "
                             "in stars) and theme: the coefficient of the theme in an OLS of "
                             "each commented, scored response's expected value (given its "
                             "themes, location and segment, under the generating model) on "
                             "theme indicators and location and segment dummies; what "
                             "`python -m analysis drivers` estimates",
    }


def _seasonality(sample: Sample, m: _Measures) -> dict:
    weekday = sample.responses.weekday
    wd_volume = WEEKDAY_VOLUME / WEEKDAY_VOLUME.mean()
    rows_by_wd = np.bincount(weekday, minlength=7).astype(float)
    days_by_wd = np.bincount(sample.calendar.day_weekday, minlength=7)
    per_day = rows_by_wd / np.maximum(days_by_wd, 1)
    return {
        "description": "volume and the wait-time share rise at weekends and in December "
                       "(and summer); volume grows steadily over the period",
        "weekday_volume_multiplier": {WEEKDAYS[d]: _round(wd_volume[d], 3) for d in range(7)},
        "weekday_wait_time_multiplier": {WEEKDAYS[d]: WEEKDAY_WAIT[d].item() for d in range(7)},
        "monthly_volume_multiplier": {
            MONTHS[month]: MONTH_VOLUME[month].item() for month in range(12)},
        "monthly_wait_time_multiplier": {
            MONTHS[month]: MONTH_WAIT[month].item() for month in range(12)},
        "trend_growth_over_period": TREND_GROWTH,
        "measured_weekday_volume_index": {
            WEEKDAYS[d]: _round(per_day[d] / per_day.mean(), 3) for d in range(7)},
        "measured_weekday_wait_time_share": {
            WEEKDAYS[d]: m.share(weekday == d, WAIT) for d in range(7)},
    }


def _overall(sample: Sample, m: _Measures) -> dict:
    n, commented, sentiment = sample.volumes.rows, m.commented, sample.comments.sentiment
    location = sample.responses.location
    commented_rows = int(commented.sum())
    cust_counts = np.bincount(sample.responses.customer)
    cust_counts = cust_counts[cust_counts > 0]
    score_types = Counter(kind or "none" for kind in sample.answers.score_type.tolist())
    return {
        "theme_shares": {THEMES[t]: m.share(m.everywhere, t) for t in range(len(THEMES))},
        "sentiment_mix": {
            SENTIMENTS[s]: _mean(sentiment[commented & ~sample.answers.filler] == s)
            for s in range(len(SENTIMENTS))},
        "rows_with_comment": commented_rows,
        "rows_without_comment": int(n - commented_rows),
        "rows_without_score": int(np.isnan(sample.scores).sum()),
        "rows_without_theme": int((commented & ~m.labels.any(axis=1)).sum()),
        "score_types": dict(sorted(score_types.items())),
        "rows_by_location": {name: int((location == j).sum())
                             for j, name in enumerate(LOCATION_NAMES)},
        "customers": len(cust_counts),
        "repeat_customer_share": _mean(cust_counts > 1),
        "sarcastic_rows": int(sample.comments.sarcastic.sum()),
    }


def _decorations() -> dict:
    words = corpus().decorations
    tags = [name.replace(" ", "") for name in LOCATION_NAMES]
    return {
        "brand": words.brand,
        "handles": [*words.brand_handles, *(words.location_handle.format(tag=t) for t in tags)],
        "hashtags": [words.brand_hashtag, *(words.location_hashtag.format(tag=t) for t in tags),
                     *words.negative_hashtags, *words.positive_hashtags],
        "url_domains": list(words.url_domains),
        "note": "social and review comments carry these, and location names appear in "
                "comments; theme code should strip them",
    }


def _round(value, digits: int = 4):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return round(float(value), digits)


def _mean(values: np.ndarray):
    """Mean ignoring missing scores; None for an empty slice (tiny demo sets)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return _round(values.mean()) if len(values) else None


def _normalised_scores(score: np.ndarray, score_type: np.ndarray) -> np.ndarray:
    out = np.full(len(score), np.nan)
    for kind, (low, high) in SCORE_SCALES.items():
        mask = score_type == kind
        out[mask] = (score[mask] - low) / (high - low)
    return out


def _nps(scores: np.ndarray):
    """NPS in points, one decimal, by the domain's promoter and detractor bands."""
    scores = scores[~np.isnan(scores)]
    if not len(scores):
        return None
    groups = Counter(map(nps_group, scores.tolist()))
    return _round(100 * (groups["promoters"] / len(scores) - groups["detractors"] / len(scores)),
                  1)

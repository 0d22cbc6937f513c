"""Score scales, their steps and their bands, in Python and in SQL.

    >>> SCORE_SCALES["nps"], SCORE_BANDS["nps"]
    ((0, 10), (6, 9))
    >>> score_band("nps", 7)
    'neutral'
    >>> nps_group_sql("detractors")
    "(f.score_type = 'nps' AND f.score < 7)"
"""

from __future__ import annotations

SCORE_TYPES = ("nps", "csat", "ces", "rating")

SCORE_SCALES: dict[str, tuple[int, int]] = {
    "nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5)}
"""Lowest and highest score of each scale. CES is our 1-7 scale where 7 is "very easy"; the
schema's CHECK constraint holds a literal copy (a test keeps them equal)."""

SCORE_STEPS: dict[str, float] = {"nps": 1.0, "csat": 1.0, "ces": 1.0, "rating": 0.5}
"""The finest value each scale has: survey answers are whole points; review sites show
half stars, so ratings may be halves."""

SCORE_BANDS: dict[str, tuple[int, int]] = {
    "nps": (6, 9), "csat": (2, 4), "ces": (3, 5), "rating": (2, 4)}
"""(top of the negative band, bottom of the positive band) per scale. NPS 0-6 detractors,
7-8 passives, 9-10 promoters; CSAT and ratings 1-2 / 3 / 4-5; CES 1-3 / 4 / 5-7."""

SCALE_NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "rating": "rating"}

NPS_GROUPS = ("promoters", "passives", "detractors")
NPS_DETRACTOR_MAX, NPS_PROMOTER_MIN = SCORE_BANDS["nps"]
CSAT_SATISFIED_MIN = SCORE_BANDS["csat"][1]


def score_band(score_type: str, score: float) -> str:
    """'negative', 'neutral' or 'positive'. A fractional score belongs to the band it has not
    yet left: NPS 6.5 is below 7, so a detractor; a 3.5-star average is neutral."""
    negative_max, positive_min = SCORE_BANDS[score_type]
    if score < negative_max + 1:
        return "negative"
    if score < positive_min:
        return "neutral"
    return "positive"


def nps_group(score: float) -> str:
    """'promoters', 'passives' or 'detractors' for one NPS answer."""
    return {"negative": "detractors", "neutral": "passives",
            "positive": "promoters"}[score_band("nps", score)]


def nps_group_sql(group: str, alias: str = "f") -> str:
    """SQL, true where the row's NPS answer is in `group` (one of NPS_GROUPS); the same
    bands as `score_band`."""
    nps, score = f"{alias}.score_type = 'nps'", f"{alias}.score"
    return {
        "promoters": f"({nps} AND {score} >= {NPS_PROMOTER_MIN})",
        "passives": f"({nps} AND {score} >= {NPS_DETRACTOR_MAX + 1} "
                    f"AND {score} < {NPS_PROMOTER_MIN})",
        "detractors": f"({nps} AND {score} < {NPS_DETRACTOR_MAX + 1})",
    }[group]


def negative_score_sql(alias: str = "f") -> str:
    """SQL CASE: whether the row's score is in its scale's negative band, as `score_band`
    says (NULL: no score)."""
    whens = " ".join(
        f"WHEN {alias}.score_type = '{name}' THEN {alias}.score < {negative_max + 1}"
        for name, (negative_max, _) in SCORE_BANDS.items())
    return f"CASE {whens} END"

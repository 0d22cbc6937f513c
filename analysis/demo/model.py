"""The numbers behind the demo: how many rows each location, segment, channel, weekday and
month gets, how likely each theme and sentiment is, which scores follow, and the three
effects injected on purpose. The words live in corpus.toml; the drawing in generator.py."""

from __future__ import annotations

import numpy as np

GENERATOR_VERSION = "closeloop-demo/2"  # 2: pricing injected as a key driver

THEMES = [
    "wait time", "staff friendliness", "cleanliness", "pricing", "product quality",
    "billing", "onboarding", "app/website", "praise",
]
WAIT, STAFF, CLEAN, PRICE, PRODUCT, BILLING, ONBOARD, APP, PRAISE = range(len(THEMES))
NO_THEME = len(THEMES)                # the main theme of a comment that mentions none

# Clearly different sizes: the biggest store gets almost four times the smallest's volume.
LOCATIONS = {
    "Harbour Street": 0.22, "Northgate": 0.17, "Riverside": 0.14, "Old Town": 0.12,
    "Airport": 0.11, "Westfield Mall": 0.10, "University": 0.08, "Station Square": 0.06,
}
SEGMENTS = {"Standard": 0.60, "Plus": 0.28, "Business": 0.12}
CHANNELS = {"survey": 0.62, "review": 0.14, "ticket": 0.10, "social": 0.07, "email": 0.07}
TOUCHPOINTS = ["Onboarding", "Visit", "Checkout", "Support", "Billing", "App"]
LOCATION_NAMES, SEGMENT_NAMES, CHANNEL_NAMES = list(LOCATIONS), list(SEGMENTS), list(CHANNELS)
"""Rows hold location, segment and channel as numbers: indexes into these."""
SENTIMENTS = ["negative", "neutral", "positive"]
NEGATIVE, NEUTRAL, POSITIVE = range(len(SENTIMENTS))
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
PERIOD_MONTHS = 18                  # the demo covers the 18 months ending at `now`

# --- Injected truths -------------------------------------------------------------------
SPIKE_LOCATION, SPIKE_THEME, SPIKE_MULTIPLIER = "Northgate", BILLING, 5.0
SPIKE_WEEKS_BEFORE_END = 8          # the spike week starts 8 Mondays before now's week
SPIKE_MIN_EXTRA = 10                # keeps the spike visible in small data sets
SPIKE_EXPECTED_SHARE = 0.12         # billing's usual share there, as the model gives it
SPIKE_NEG_RATE = 0.95               # the incident's comments are nearly all complaints
WORSE_LOCATION, WORSE_THEME, WORSE_RATIO = "Old Town", CLEAN, 2.0
IMPROVEMENT_LOCATION, IMPROVEMENT_THEME = "Harbour Street", WAIT
IMPROVEMENT_BEFORE, IMPROVEMENT_AFTER = 0.30, 0.15
IMPROVEMENT_DAYS_BEFORE_END = 210   # snapped back to a Monday
IMPROVEMENT_NEG_AFTER = 0.85        # after the fix, every comment there is a little happier
# A key driver: whoever mentions pricing marks the score one step lower on its scale than
# the comment's mood alone gives (never below the scale's lowest point), so pricing costs
# more score points than any theme whose cost comes from its complaints alone.
DRIVER_THEME, DRIVER_STEPS = PRICE, 1

# --- Customers ----------------------------------------------------------------------------
REPEAT_RATE = 0.20                  # ~20% of customers come back ...
REPEAT_GEOMETRIC_P = 0.45           # ... a geometric number of extra times ...
MAX_RESPONSES = 8                   # ... up to eight responses in all
WANDER_RATE = 0.15                  # responses from a store other than the customer's own
ANONYMOUS_RATE = 0.6                # one-off reviewers and posters without a customer id
NO_EMAIL_RATE = 0.5                 # ... and of those, without an email either
SHOUTED_EMAIL_RATE = 0.05           # "Olivia.smith@...": addresses typed with a capital

# --- Seasonality --------------------------------------------------------------------------
WEEKDAY_VOLUME = np.array([0.85, 0.80, 0.85, 0.95, 1.10, 1.35, 1.25])
WEEKDAY_WAIT = np.array([0.85, 0.85, 0.90, 0.95, 1.10, 1.45, 1.35])
MONTH_VOLUME = np.array([0.85, 0.85, 0.95, 1.0, 1.0, 1.05, 1.15, 1.15, 1.0, 0.95, 1.05, 1.30])
MONTH_WAIT = np.array([0.90, 0.90, 0.95, 1.0, 1.0, 1.05, 1.15, 1.15, 1.0, 0.95, 1.05, 1.30])
TREND_GROWTH = 0.20                 # volume grows 20% from the first day to the last
HOUR_PROFILE = np.array([
    0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 4.0, 4.5, 4.5, 5.5,
    7.0, 6.5, 5.0, 4.5, 5.0, 6.0, 6.5, 6.0, 5.0, 3.5, 2.0, 0.8,
])

# --- Theme model --------------------------------------------------------------------------
# Chance that a comment mentions each theme, before location/segment/channel/season factors.
BASE_SHARE = np.array([0.17, 0.15, 0.09, 0.13, 0.14, 0.07, 0.05, 0.08, 0.11])
LOCATION_FACTORS = {   # kept <= 1.3 so the injected 2x stays the clear outlier
    "Airport": {PRICE: 1.3, WAIT: 1.2},
    "University": {APP: 1.3, PRICE: 1.15},
    "Westfield Mall": {WAIT: 1.1, PRODUCT: 1.1},
    "Station Square": {WAIT: 1.15, PRODUCT: 0.9},
    "Riverside": {STAFF: 1.1},
}
SEGMENT_FACTORS = {"Business": {BILLING: 1.4, ONBOARD: 1.2}, "Plus": {APP: 1.25, PRAISE: 1.1}}
CHANNEL_FACTORS = {
    "ticket": {BILLING: 2.2, APP: 1.8, ONBOARD: 1.8, WAIT: 0.6, PRODUCT: 0.8, PRAISE: 0.4},
    "email": {BILLING: 1.8, ONBOARD: 1.5, APP: 1.4, PRAISE: 0.6},
    "social": {APP: 1.3, WAIT: 1.2, PRAISE: 1.2},
    "review": {PRAISE: 1.3, PRODUCT: 1.2, STAFF: 1.1},
}
MAX_THEME_CHANCE = 0.98             # even a heavily weighted theme is sometimes left out
MAX_THEMES = 3                      # themes one comment mentions at most
FILLER_RATE = 0.015                 # "n/a", "nothing to add": a comment with no theme
# Chance that a mention of the theme is negative (praise never is).
NEG_RATE = np.array([0.88, 0.45, 0.72, 0.78, 0.50, 0.88, 0.62, 0.72, 0.0])
NEG_RATE_RANGE = (0.02, 0.97)       # no theme is ever all praise or all complaint
LOCATION_NEG = {"Old Town": 1.06, "Airport": 1.05, "University": 0.95, "Harbour Street": 0.98}
WORSE_NEG_RATE = 0.93               # cleanliness mentions at the worse location
SEGMENT_NEG = {"Plus": 0.92}
NEUTRAL_SINGLE = 0.18               # single-theme comments that are neither good nor bad
HIDDEN_SENTIMENT = np.array([0.25, 0.35, 0.40])   # mood behind an empty comment's score
SARCASM_RATE = 0.05

# Score given the comment's sentiment (negative, neutral, positive): some disagreement. One
# chance per point of the scale, lowest first (analysis.domain.scores.SCORE_SCALES).
SCORE_TABLES = {
    "nps": [
        [.10, .07, .09, .11, .12, .13, .14, .10, .07, .04, .03],
        [.01, .01, .02, .04, .06, .12, .16, .22, .20, .10, .06],
        [.01, .005, .005, .01, .01, .02, .03, .08, .15, .30, .38],
    ],
    "csat": [[.35, .33, .20, .08, .04], [.04, .14, .45, .30, .07], [.01, .02, .07, .35, .55]],
    "ces": [
        [.22, .24, .20, .14, .10, .06, .04],
        [.03, .06, .14, .32, .24, .14, .07],
        [.01, .02, .04, .08, .20, .30, .35],
    ],
    "rating": [[.45, .28, .15, .08, .04], [.05, .15, .45, .28, .07], [.01, .02, .06, .26, .65]],
}
# Per channel: (score types and their chances, chance of no score, chance of empty comment)
CHANNEL_SCORING = {
    "survey": ({"nps": 0.5, "csat": 0.3, "ces": 0.2}, 0.0, 0.20),
    "review": ({"rating": 1.0}, 0.02, 0.04),
    "ticket": ({"csat": 1.0}, 0.20, 0.0),
    "email": ({"csat": 1.0}, 0.30, 0.0),
    "social": ({"rating": 1.0}, 0.50, 0.0),
}
SPIKE_CHANNELS = {"survey": 0.40, "review": 0.10, "ticket": 0.25, "social": 0.15, "email": 0.10}
ANONYMOUS_CHANNELS = ("review", "social")
# Journey stage given the comment's main theme (last row: no theme).
TOUCHPOINT_GIVEN_THEME = np.array([
    # Onboarding Visit Checkout Support Billing App
    [0.00, 0.55, 0.35, 0.10, 0.00, 0.00],   # wait time
    [0.00, 0.60, 0.20, 0.20, 0.00, 0.00],   # staff friendliness
    [0.00, 0.90, 0.10, 0.00, 0.00, 0.00],   # cleanliness
    [0.00, 0.30, 0.50, 0.00, 0.20, 0.00],   # pricing
    [0.00, 0.80, 0.10, 0.00, 0.00, 0.10],   # product quality
    [0.00, 0.00, 0.10, 0.15, 0.75, 0.00],   # billing
    [0.85, 0.00, 0.00, 0.05, 0.00, 0.10],   # onboarding
    [0.05, 0.00, 0.00, 0.10, 0.00, 0.85],   # app/website
    [0.00, 0.80, 0.10, 0.00, 0.00, 0.10],   # praise
    [0.07, 0.50, 0.15, 0.10, 0.08, 0.10],   # no theme
])


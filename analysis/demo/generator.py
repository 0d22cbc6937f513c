"""A realistic demo data set with known, injected truths.

    result = generate_demo(db, rows=20000, seed=7, truth_path=Path("data/demo_truth.json"),
                           actor="system", now=None)

What a newcomer sees first, and what the detectors are tested against: eight locations of
clearly different size, NPS/CSAT/CES surveys, reviews, tickets, social posts and emails over
the 18 months ending at `now`, with comments written from many templates (typos, sarcasm,
mixed themes, @handles, URLs and location names included), repeat customers, and weekly and
yearly seasonality. Three effects are injected on purpose and described in the truth file:

- spike: one theme at one location in one ISO week gets several times its usual volume;
- worse_location: one location is about twice the network's share on one theme, always;
- improvement: from a known date one location's share of one theme is halved.

The truth also labels every row (themes in the comment, intended sentiment) so theme and
sentiment code can score itself. Shares are always "rows whose comment mentions the theme /
rows with a non-empty comment" over the slice in question.

The same seed and the same `now` give byte-identical rows and truth file: numpy's Generator
draws the structure (vectorised), a `random.Random` seeded from it writes the text.
"""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import sqlite_utils

from analysis import store
from analysis.ingest.feedback import insert_feedback

GENERATOR_VERSION = "closeloop-demo/1"

THEMES = [
    "wait time", "staff friendliness", "cleanliness", "pricing", "product quality",
    "billing", "onboarding", "app/website", "praise",
]
WAIT, STAFF, CLEAN, PRICE, PRODUCT, BILLING, ONBOARD, APP, PRAISE = range(len(THEMES))

# Clearly different sizes: the biggest store gets almost four times the smallest's volume.
LOCATIONS = {
    "Harbour Street": 0.22, "Northgate": 0.17, "Riverside": 0.14, "Old Town": 0.12,
    "Airport": 0.11, "Westfield Mall": 0.10, "University": 0.08, "Station Square": 0.06,
}
SEGMENTS = {"Standard": 0.60, "Plus": 0.28, "Business": 0.12}
CHANNELS = {"survey": 0.62, "review": 0.14, "ticket": 0.10, "social": 0.07, "email": 0.07}
TOUCHPOINTS = ["Onboarding", "Visit", "Checkout", "Support", "Billing", "App"]
SENTIMENTS = ["negative", "neutral", "positive"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

BRAND = "Copper Kettle"
BRAND_HANDLES = ["@CopperKettle", "@copperkettle_help", "@CopperKettleUK"]
URL_DOMAINS = ["copperkettle.example", "t.example", "img.example.net"]

# --- Injected truths -------------------------------------------------------------------
SPIKE_LOCATION, SPIKE_THEME, SPIKE_MULTIPLIER = "Northgate", BILLING, 5.0
SPIKE_WEEKS_BEFORE_END = 8          # the spike week starts 8 Mondays before now's week
SPIKE_MIN_EXTRA = 10                # keeps the spike visible in small data sets
WORSE_LOCATION, WORSE_THEME, WORSE_RATIO = "Old Town", CLEAN, 2.0
IMPROVEMENT_LOCATION, IMPROVEMENT_THEME = "Harbour Street", WAIT
IMPROVEMENT_BEFORE, IMPROVEMENT_AFTER = 0.30, 0.15
IMPROVEMENT_DAYS_BEFORE_END = 210   # snapped back to a Monday
IMPROVEMENT_NEG_AFTER = 0.85        # after the fix, every comment there is a little happier

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
FILLER_RATE = 0.015                 # "n/a", "nothing to add": a comment with no theme
# Chance that a mention of the theme is negative (praise never is).
NEG_RATE = np.array([0.88, 0.45, 0.72, 0.78, 0.50, 0.88, 0.62, 0.72, 0.0])
LOCATION_NEG = {"Old Town": 1.06, "Airport": 1.05, "University": 0.95, "Harbour Street": 0.98}
WORSE_NEG_RATE = 0.93               # cleanliness mentions at the worse location
SEGMENT_NEG = {"Plus": 0.92}
NEUTRAL_SINGLE = 0.18               # single-theme comments that are neither good nor bad
HIDDEN_SENTIMENT = np.array([0.25, 0.35, 0.40])   # mood behind an empty comment's score
SARCASM_RATE = 0.05

# Score given the comment's sentiment (negative, neutral, positive): some disagreement.
SCORE_TABLES = {
    "nps": (0, [
        [.10, .07, .09, .11, .12, .13, .14, .10, .07, .04, .03],
        [.01, .01, .02, .04, .06, .12, .16, .22, .20, .10, .06],
        [.01, .005, .005, .01, .01, .02, .03, .08, .15, .30, .38],
    ]),
    "csat": (1, [[.35, .33, .20, .08, .04], [.04, .14, .45, .30, .07], [.01, .02, .07, .35, .55]]),
    "ces": (1, [
        [.22, .24, .20, .14, .10, .06, .04],
        [.03, .06, .14, .32, .24, .14, .07],
        [.01, .02, .04, .08, .20, .30, .35],
    ]),
    "rating": (1, [[.45, .28, .15, .08, .04], [.05, .15, .45, .28, .07], [.01, .02, .06, .26, .65]]),
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

# --- Text ---------------------------------------------------------------------------------
SLOTS = {
    "mins": ["20 minutes", "25 minutes", "half an hour", "40 minutes", "45 mins", "an hour",
             "over an hour", "35 minutes", "30 mins", "50 minutes", "fifteen minutes",
             "twenty five minutes", "nearly an hour", "40 mins"],
    "mins_adj": ["40 minute", "45 minute", "hour-long", "half-hour", "35 minute", "50 minute"],
    "mins_mid": ["5 minutes", "ten minutes", "8 mins", "about ten minutes", "a few minutes"],
    "short_mins": ["2 minutes", "a couple of minutes", "under five minutes", "no time at all",
                   "about a minute", "3 mins"],
    "staff": ["cashier", "manager", "barista", "guy at the till", "woman at the counter",
              "shift supervisor", "server", "young lad on the till", "staff member",
              "assistant manager", "lady at the register"],
    "product": ["flat white", "sandwich", "croissant", "salad", "breakfast wrap", "soup",
                "smoothie", "toastie", "lunch box", "latte", "bagel", "slice of cake",
                "bowl of porridge", "hot chocolate"],
    "amount": ["£3.80", "£4.20", "£4.95", "£5.50", "£6.75", "£7.90", "£8.40", "£9.95",
               "£12.50", "£14", "£18.40"],
    "charge": ["£9.99", "£14.99", "£19.99", "£24.50", "£29.00", "£7.45", "£42.10", "£60"],
    "plan": ["Plus membership", "Business account", "subscription", "loyalty plan",
             "membership", "Plus plan"],
    "feature": ["order-ahead screen", "login page", "checkout page", "loyalty card screen",
                "payment screen", "menu page", "store finder", "rewards tab"],
    "area": ["tables", "toilets", "floors", "counters", "bins", "windows", "chairs",
             "high chairs", "cutlery trays"],
    "days": ["3", "4", "5", "six", "ten", "twelve"],
    "years": ["2", "3", "five", "ten", "a couple of", "many"],
}

# theme -> polarity -> templates. Clauses without final punctuation; joined by the composer.
TEMPLATES: dict[int, dict[str, list[str]]] = {
    WAIT: {
        "neg": [
            "waited {mins} for a {product}",
            "the queue was out the door and it took {mins} to get served",
            "we sat there for {mins} before anyone took our order",
            "{mins} wait on a {day}, which is ridiculous",
            "service was painfully slow",
            "the line barely moved, {mins} in total",
            "took {mins} just to get a {product}, unacceptable",
            "there was only one {staff} on and the wait was endless",
            "had to wait {mins} even though the place was half empty",
            "my order took {mins} to arrive",
            "far too long to be served, {mins} at least",
            "the wait times are getting worse every visit",
            "I gave up after {mins} in the queue",
            "slow slow slow, {mins} for a {product}",
            "queued for {mins} on {day} lunchtime",
        ],
        "pos": [
            "served within {short_mins}",
            "barely any wait even on a busy {day}",
            "my {product} was ready in {short_mins}",
            "the queue moved really quickly",
            "super fast service",
            "no waiting around, in and out in {short_mins}",
            "quick service despite the crowd",
            "order was ready before I'd even sat down, impressive",
            "they got through the line fast",
        ],
        "neu": [
            "the wait was {mins_mid}, normal for a {day}",
            "service speed was fine, nothing special",
            "waited a bit but that's expected at lunchtime",
            "the queue was average",
        ],
        "sarc": [
            "great, another {mins_adj} wait",
            "love spending {mins} in a queue for a {product}, best part of my day",
            "wow, only {mins} for a {product} this time, what a treat",
            "fantastic, waited so long my {product} went cold",
        ],
        "short_neg": ["too slow", "long wait", "slow service", "queue was huge", "way too slow"],
        "short_pos": ["quick service", "fast service", "no queue"],
    },
    STAFF: {
        "neg": [
            "the {staff} was really rude",
            "the {staff} rolled their eyes when I asked a question",
            "staff were unfriendly and clearly didn't want to be there",
            "nobody said hello or even looked up",
            "the {staff} was dismissive when I raised a problem",
            "got a very rude response from the {staff}",
            "staff chatting among themselves and ignoring customers",
            "the {staff} snapped at my partner for no reason",
            "felt unwelcome the moment I walked in",
            "the {staff} was condescending and unhelpful",
            "zero customer service skills from the {staff}",
            "staff attitude was awful",
            "the {staff} argued with me instead of helping",
        ],
        "pos": [
            "the {staff} was lovely",
            "staff were so friendly and welcoming",
            "the {staff} went out of their way to help",
            "really warm and helpful team",
            "the {staff} remembered my name, nice touch",
            "friendly smiles from everyone behind the counter",
            "the {staff} was patient and kind with my kids",
            "brilliant customer service from the {staff}",
            "staff were polite and attentive",
        ],
        "neu": [
            "staff were ok",
            "the {staff} was polite enough",
            "service from the team was standard",
            "staff did their job, nothing more",
        ],
        "sarc": [
            "lovely to be ignored by the {staff} for ten minutes, really made me feel special",
            "oh the {staff} was a real ray of sunshine today",
            "customer service with a scowl, just what I wanted",
        ],
        "short_neg": ["rude staff", "unfriendly staff", "staff were rude", "terrible attitude"],
        "short_pos": ["friendly staff", "lovely staff", "great team"],
    },
    CLEAN: {
        "neg": [
            "the {area} were filthy",
            "the {area} were sticky and clearly hadn't been wiped",
            "toilets were disgusting",
            "rubbish all over the floor",
            "the place looked like it hadn't been cleaned all day",
            "crumbs and spilled drinks everywhere",
            "dirty {area} and overflowing bins",
            "bins overflowing and it smelled bad",
            "the {area} were grimy",
            "the whole place felt dirty and neglected",
            "nobody cleaned the {area} the whole time we were there",
            "it was honestly unhygienic",
            "saw the {staff} wipe the counter with a filthy cloth",
        ],
        "pos": [
            "spotless {area}",
            "the place was really clean",
            "everything was clean and tidy",
            "the {area} were immaculate",
            "clean toilets for once",
            "very hygienic, saw someone cleaning constantly",
            "nice fresh and clean store",
            "the {area} were sparkling",
        ],
        "neu": [
            "cleanliness was acceptable",
            "the place was reasonably clean",
            "the {area} were ok, could be tidier",
            "clean enough",
        ],
        "sarc": [
            "loved the sticky {area}, really adds to the atmosphere",
            "great to see the bins overflowing again, very welcoming",
        ],
        "short_neg": ["dirty", "filthy toilets", "place was dirty", "sticky tables"],
        "short_pos": ["very clean", "spotless", "clean store"],
    },
    PRICE: {
        "neg": [
            "{amount} for a {product} is a rip off",
            "way too expensive",
            "prices have gone up again and it's not worth it",
            "overpriced for what you get",
            "paid {amount} for a small {product}, crazy",
            "the prices are ridiculous now",
            "can't justify {amount} for a {product}",
            "much pricier than anywhere else nearby",
            "portion was tiny for {amount}",
            "poor value for money",
            "they charge extra for everything",
            "{amount} for a {product}? no thanks",
            "the latest price hike is pushing me away",
        ],
        "pos": [
            "great value for money",
            "really reasonable prices",
            "only {amount} for a {product}, bargain",
            "good deals and fair prices",
            "cheaper than the other places around here",
            "the meal deal is brilliant value",
            "worth every penny",
            "fair price for what you get",
        ],
        "neu": [
            "prices are what you'd expect",
            "pricing is about average",
            "{amount} for a {product}, about normal",
            "prices are fair enough, not cheap",
        ],
        "sarc": [
            "oh great, {amount} for a {product}, such a bargain",
            "love paying {amount} for a tiny {product}, what a deal",
        ],
        "short_neg": ["too expensive", "overpriced", "pricey", "rip off"],
        "short_pos": ["good value", "great prices", "cheap"],
    },
    PRODUCT: {
        "neg": [
            "my {product} was stale",
            "the {product} was cold and soggy",
            "the {product} tasted like it had been sitting there for hours",
            "the {product} was burnt",
            "quality has really gone downhill",
            "my {product} was completely tasteless",
            "they got my order wrong and the {product} was inedible",
            "the {product} was watery and bland",
            "half the fillings were missing from my {product}",
            "food was poor quality",
            "the {product} was undercooked",
            "my {product} was nothing like the picture",
            "the {product} was dry as cardboard",
        ],
        "pos": [
            "the {product} was delicious",
            "best {product} I've had in ages",
            "really fresh and tasty food",
            "the {product} was perfect",
            "lovely quality, you can tell it's made fresh",
            "my {product} was hot and full of flavour",
            "consistently good quality",
            "the new {product} is amazing",
        ],
        "neu": [
            "the {product} was fine",
            "food was ok",
            "my {product} was average",
            "quality was decent, nothing special",
        ],
        "sarc": [
            "mmm, stale {product}, my favourite",
            "nothing says quality like a cold {product}",
        ],
        "short_neg": ["stale food", "cold food", "poor quality", "tasteless"],
        "short_pos": ["tasty", "great food", "delicious"],
    },
    BILLING: {
        "neg": [
            "I was charged twice for the same order",
            "my card was charged {charge} I didn't authorise",
            "still waiting for a refund of {charge}",
            "the invoice was wrong again",
            "got billed for my {plan} after I cancelled",
            "they took {charge} from my account with no explanation",
            "the receipt didn't match what I paid",
            "overcharged by {charge} and nobody can explain why",
            "direct debit went out twice this month",
            "my refund has taken over three weeks",
            "billing is a mess, three emails and still not fixed",
            "was charged full price instead of the {plan} discount",
            "mystery charge of {charge} on my statement",
        ],
        "pos": [
            "refund was processed really quickly",
            "billing was straightforward and clear",
            "they sorted out a double charge straight away",
            "the invoice was clear and easy to understand",
            "got my {charge} refund the same day",
            "payment went through smoothly",
            "they fixed my billing issue in one call",
            "clear receipts and no surprise charges",
        ],
        "neu": [
            "billing was fine",
            "payment worked as expected",
            "got my invoice, no issues",
            "the charge for my {plan} was as expected",
        ],
        "sarc": [
            "brilliant, charged twice again, thanks",
            "love a surprise {charge} charge on my statement, keeps life interesting",
        ],
        "short_neg": ["charged twice", "wrong bill", "refund still missing", "double charged"],
        "short_pos": ["easy payment", "quick refund"],
        # The incident behind the spike week: a card terminal charging twice.
        "spike": [
            "charged twice at {loc} this week",
            "the card machine at {loc} charged me twice",
            "double charged again, {charge} gone twice",
            "your payment system charged me twice for one {product}",
            "card taken twice at the till, want my money back",
            "paid once, charged twice, {charge} each time",
        ],
    },
    ONBOARD: {
        "neg": [
            "signing up was a nightmare",
            "the account setup kept failing",
            "never received my welcome email",
            "the activation code didn't work",
            "took {days} days to get my {plan} activated",
            "the registration form is far too long",
            "nobody explained how the {plan} works when I joined",
            "setting up my loyalty card was confusing",
            "had to sign up three times before it worked",
            "the joining instructions were unclear",
            "my membership still isn't active after a week",
            "the verification email went to spam and then expired",
            "the onboarding process is clunky and slow",
        ],
        "pos": [
            "signing up took two minutes",
            "really easy to get started",
            "the {staff} walked me through setting up my {plan}",
            "the welcome email was clear and helpful",
            "activating my {plan} was painless",
            "smooth registration process",
            "loved how simple joining was",
            "setup was quick and well explained",
        ],
        "neu": [
            "signing up was ok",
            "registration was standard",
            "the setup process was fine",
            "joining took a few steps but worked",
        ],
        "sarc": [
            "only took {days} days to activate my account, lightning fast",
            "great, a fourth activation code and still not activated",
        ],
        "short_neg": ["signup broken", "couldn't register", "setup failed"],
        "short_pos": ["easy signup", "simple setup"],
    },
    APP: {
        "neg": [
            "the app keeps crashing",
            "the website wouldn't let me log in",
            "the {feature} in the app is broken",
            "the app froze on the {feature} three times",
            "couldn't place an order on the website",
            "the app is slow and buggy",
            "the new app update is terrible",
            "the website keeps timing out on the {feature}",
            "order-ahead in the app never works",
            "the app logged me out and lost my points",
            "the site is impossible to use on mobile",
            "the {feature} doesn't load at all",
            "the app shows the wrong opening times",
        ],
        "pos": [
            "the app is really easy to use",
            "ordering through the app was seamless",
            "love the new app update",
            "the website is quick and clear",
            "the {feature} works perfectly now",
            "the app makes ordering ahead so easy",
            "great app, never had a problem",
            "checking my points in the app is simple",
        ],
        "neu": [
            "the app works ok",
            "the website is fine",
            "used the app, no complaints",
            "the {feature} does the job",
        ],
        "sarc": [
            "love how the app crashes every single time, great work",
            "amazing website, took me only six attempts to log in",
        ],
        "short_neg": ["app broken", "app crashes", "website down", "buggy app"],
        "short_pos": ["great app", "app works well"],
    },
    PRAISE: {
        "pos": [
            "love this place",
            "best spot in town",
            "always a great experience",
            "everything was perfect",
            "fantastic visit as always",
            "highly recommend",
            "my favourite place to stop",
            "couldn't fault anything",
            "one of the best Copper Kettle stores",
            "really enjoyed our visit",
            "top notch all round",
            "never disappoints",
            "five stars from me",
            "keep up the great work",
            "such a nice atmosphere",
            "an absolute gem",
        ],
        "short_pos": ["love it", "perfect", "10/10", "brilliant", "great", "amazing"],
        # Praise as the good half of a complaint ("usually love it here, but ...").
        "contrast": [
            "I usually love this place",
            "normally a great experience",
            "this is usually my favourite store",
            "I've always recommended you",
            "it's normally brilliant",
        ],
    },
}
FILLERS = ["n/a", "nothing to add", "no comment", ".", "-", "none", "see previous", "nothing",
           "na", "no", "N/A", "nothing else"]
OPENERS = [
    "Visited the {loc} store on {day}", "Popped in on my lunch break",
    "Came in with the family on {day}", "I've been a customer for {years} years",
    "First time at the {loc} branch", "Went in this morning", "I come here most weeks",
    "Stopped by on the way to work", "Met a friend here on {day}",
]
CLOSERS = {
    0: ["Not impressed", "Won't be rushing back", "Please sort this out", "Really disappointing",
        "Expected better", "Very frustrating", "Do better"],
    1: ["That's all", "Thanks", "Might try again", "It was what it was"],
    2: ["Will definitely be back", "Thanks", "Keep it up", "See you next week", "Made my day"],
}
SAME_JOINERS = [" and ", ", ", ". ", "; ", ", plus ", ". Also, ", " and also "]
CONTRAST_JOINERS = [", but ", " but ", ". But ", ". However, ", ", however "]
END_PUNCT = {0: [".", "", "!", "!!", "...", "."], 1: [".", "", "."], 2: [".", "!", "", "!!", "."]}
NEG_HASHTAGS = ["#fail", "#notimpressed", "#customerservice", "#disappointed"]
POS_HASHTAGS = ["#happy", "#coffeetime", "#localgem", "#treatyourself"]

FIRST_NAMES = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophia", "Emily", "Freya", "Ella",
    "Priya", "Aisha", "Fatima", "Zara", "Mei", "Yuki", "Sofia", "Lucia", "Chloe", "Hannah",
    "Niamh", "Aoife", "Sarah", "Rachel", "Laura", "Anna", "Maria", "Ewa", "Ingrid", "Leila",
    "Oliver", "George", "Noah", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Charlie", "Jacob",
    "Mohammed", "Omar", "Arjun", "Rohan", "Wei", "Kenji", "Mateo", "Luca", "Liam", "Connor",
    "Daniel", "James", "Thomas", "Samuel", "David", "Joseph", "Kwame", "Tariq", "Piotr", "Lars",
]
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Khan", "Ali", "Singh", "Chen", "Wang", "Nguyen", "Kowalski",
    "Murphy", "O'Brien", "Kelly", "Campbell", "Stewart", "MacDonald", "Hughes", "Edwards",
    "Garcia", "Rossi", "Müller", "Okafor", "Mensah", "Haddad", "Nakamura", "Silva", "Novak",
    "Larsen", "Fischer", "Ahmed", "Begum", "Hussain",
]
# Reserved example domains only: the demo must never hold a real person's address.
PERSONAL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example", "inbox.example"]
BUSINESS_DOMAINS = ["northwind.example", "acme.example", "globex.example", "initech.example",
                    "umbrella.example", "contoso.example"]

_SLOT_NAMES = {
    id(t): [name for _, name, _, _ in string.Formatter().parse(t) if name]
    for theme in TEMPLATES.values() for group in theme.values() for t in group
}
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")


@dataclass
class DemoResult:
    rows: int
    truth: dict
    batch_id: int | None = None
    duplicates: int = 0


@dataclass
class _Data:
    """The generated data set before it is written: records and truth."""
    records: list[dict]
    truth: dict
    extra: dict = field(default_factory=dict)


def generate_demo(
    db: sqlite_utils.Database,
    rows: int = 20000,
    seed: int = 7,
    *,
    truth_path: Path | None = None,
    actor: str,
    now: datetime | None = None,
) -> DemoResult:
    """Write `rows` demo feedback rows (one import batch, one transaction) and their truth.

    Returns the number of rows actually inserted (rows already present, e.g. from an
    earlier run with the same seed, are skipped as duplicates) and the truth dict, which
    is exactly what `truth_path` receives as JSON.
    """
    now = _as_utc(now or store.utcnow())
    data = build_demo(rows, seed, now=now)
    with store.write_transaction(db):
        batch_id = db["import_batches"].insert({
            "file_name": "demo", "source": "demo", "mapping": "{}", "score_type": None,
            "started_at": store.to_iso(now), "finished_at": store.to_iso(now),
            "rows_read": len(data.records), "imported": 0, "duplicates": 0, "rejected": 0,
            "actor": actor,
        }).last_pk
        inserted, duplicates = insert_feedback(db, data.records, batch_id=batch_id,
                                               actor=actor, now=now)
        db.execute("UPDATE import_batches SET imported = ?, duplicates = ? WHERE id = ?",
                   [inserted, duplicates, batch_id])
    truth = data.truth
    truth["rows_written"] = inserted
    truth["batch_id"] = batch_id
    # Keep `rows` last in the file: everything a reader wants first sits above it.
    truth["rows"] = truth.pop("rows")
    if truth_path is not None:
        write_truth(truth, Path(truth_path))
    return DemoResult(rows=inserted, truth=truth, batch_id=batch_id, duplicates=duplicates)


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


# --- Generation ----------------------------------------------------------------------------

def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _round(value, digits: int = 4):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return round(float(value), digits)


def build_demo(rows: int, seed: int, *, now: datetime) -> _Data:
    """Generate the rows and the truth without touching a database (pure, deterministic)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    now = _as_utc(now)
    rng = np.random.default_rng(seed)
    text_rng = random.Random(int(rng.integers(2**63)))

    loc_names = list(LOCATIONS)
    loc_w = np.array(list(LOCATIONS.values()))
    loc_w = loc_w / loc_w.sum()
    seg_names = list(SEGMENTS)
    seg_w = np.array(list(SEGMENTS.values()))
    chan_names = list(CHANNELS)
    chan_w = np.array(list(CHANNELS.values()))
    L_SPIKE = loc_names.index(SPIKE_LOCATION)
    L_WORSE = loc_names.index(WORSE_LOCATION)
    L_IMPROVE = loc_names.index(IMPROVEMENT_LOCATION)

    # Period: whole days from 18 months before now's date up to now (today is partial).
    end_date = now.date()
    start_date = _add_months(end_date, -18) + timedelta(days=1)
    n_days = (end_date - start_date).days + 1
    start_epoch = int(datetime(start_date.year, start_date.month, start_date.day,
                               tzinfo=timezone.utc).timestamp())
    elapsed_today = now.hour * 3600 + now.minute * 60 + now.second
    day_dates = [start_date + timedelta(days=i) for i in range(n_days)]
    day_wd = np.array([d.weekday() for d in day_dates])
    day_month = np.array([d.month - 1 for d in day_dates])
    day_w = WEEKDAY_VOLUME[day_wd] * MONTH_VOLUME[day_month] * (
        1 + TREND_GROWTH * np.arange(n_days) / max(n_days - 1, 1))
    day_w[-1] *= elapsed_today / 86400
    if day_w.sum() <= 0:
        day_w[:] = 1.0

    spike_start = end_date - timedelta(days=end_date.weekday()) - timedelta(
        weeks=SPIKE_WEEKS_BEFORE_END)
    spike_end = spike_start + timedelta(days=6)
    spike_days = np.arange((spike_start - start_date).days, (spike_end - start_date).days + 1)
    improve_date = end_date - timedelta(days=IMPROVEMENT_DAYS_BEFORE_END)
    improve_date -= timedelta(days=improve_date.weekday())
    improve_epoch = int(datetime(improve_date.year, improve_date.month, improve_date.day,
                                 tzinfo=timezone.utc).timestamp())

    # Extra rows carry the spike; their number follows the week's expected volume.
    week_volume = rows * day_w[spike_days].sum() / day_w.sum() * loc_w[L_SPIKE] * 0.9
    expected_spike_share = 0.12     # billing's usual share there, as the model gives it
    n_extra = max(int(round((SPIKE_MULTIPLIER - 1) * expected_spike_share * week_volume)),
                  SPIKE_MIN_EXTRA)
    n_extra = min(n_extra, rows // 5)
    n_base = rows - n_extra

    # --- customers: ~20% come back, mostly to their home store
    counts = np.zeros(0, dtype=np.int64)
    while counts.sum() < n_base:
        size = max(int((n_base - counts.sum()) / 1.3) + 20, 20)
        repeat = rng.random(size) < 0.20
        more = np.where(repeat, np.minimum(1 + rng.geometric(0.45, size), 8), 1)
        counts = np.concatenate([counts, more])
    cum = np.cumsum(counts)
    n_cust = int(np.searchsorted(cum, n_base) + 1)
    counts = counts[:n_cust].copy()
    counts[-1] -= cum[n_cust - 1] - n_base
    total_cust = n_cust + n_extra
    home = rng.choice(len(loc_names), size=total_cust, p=loc_w)
    home[n_cust:] = L_SPIKE
    cust_seg = rng.choice(len(seg_names), size=total_cust, p=seg_w)
    first_idx = rng.integers(len(FIRST_NAMES), size=total_cust)
    last_idx = rng.integers(len(LAST_NAMES), size=total_cust)
    cust_counts = np.concatenate([counts, np.ones(n_extra, dtype=np.int64)])

    cust = np.concatenate([rng.permutation(np.repeat(np.arange(n_cust), counts)),
                           np.arange(n_cust, total_cust)])
    n = rows
    is_extra = np.zeros(n, dtype=bool)
    is_extra[n_base:] = True
    loc = home[cust].copy()
    wander = (rng.random(n) < 0.15) & ~is_extra
    loc[wander] = rng.choice(len(loc_names), size=int(wander.sum()), p=loc_w)
    seg = cust_seg[cust]

    day = np.empty(n, dtype=np.int64)
    day[:n_base] = rng.choice(n_days, size=n_base, p=day_w / day_w.sum())
    spike_day_w = day_w[spike_days]
    day[n_base:] = rng.choice(spike_days, size=n_extra, p=spike_day_w / spike_day_w.sum())
    secs = rng.choice(24, size=n, p=HOUR_PROFILE / HOUR_PROFILE.sum()) * 3600 + rng.integers(
        0, 3600, size=n)
    last = day == n_days - 1
    secs[last] = (rng.random(int(last.sum())) * max(elapsed_today, 1)).astype(np.int64)
    secs[last] = np.minimum(secs[last], max(elapsed_today - 1, 0))
    ts = start_epoch + day * 86400 + secs

    chan = rng.choice(len(chan_names), size=n, p=chan_w)
    spike_chan_w = np.array([SPIKE_CHANNELS[c] for c in chan_names])
    chan[n_base:] = rng.choice(len(chan_names), size=n_extra, p=spike_chan_w)

    # Everything from here on is in time order, so external ids follow received_at.
    order = np.argsort(ts, kind="stable")
    cust, loc, seg, day, ts, chan, is_extra = (a[order] for a in
                                               (cust, loc, seg, day, ts, chan, is_extra))
    wd = day_wd[day]
    month = day_month[day]
    before = ts < improve_epoch

    # --- scores and comment presence per channel
    score_type = np.full(n, None, dtype=object)
    has_score = np.ones(n, dtype=bool)
    has_comment = np.ones(n, dtype=bool)
    for c, name in enumerate(chan_names):
        mask = chan == c
        k = int(mask.sum())
        types, p_none, p_empty = CHANNEL_SCORING[name]
        type_names = list(types)
        score_type[mask] = np.array(type_names, dtype=object)[
            rng.choice(len(type_names), size=k, p=list(types.values()))]
        has_score[mask] = rng.random(k) >= p_none
        has_comment[mask] = rng.random(k) >= p_empty
    has_comment |= is_extra | ~has_score
    score_type[~has_score] = None
    filler = has_comment & ~is_extra & (rng.random(n) < FILLER_RATE)

    # --- which themes each comment mentions
    T = len(THEMES)
    p = np.tile(BASE_SHARE, (n, 1))
    for table, index, names in ((LOCATION_FACTORS, loc, loc_names),
                                (SEGMENT_FACTORS, seg, seg_names),
                                (CHANNEL_FACTORS, chan, chan_names)):
        factors = np.ones((len(names), T))
        for name, by_theme in table.items():
            for theme, factor in by_theme.items():
                factors[names.index(name), theme] = factor
        p *= factors[index]
    p[:, WAIT] *= WEEKDAY_WAIT[wd] * MONTH_WAIT[month]
    # Controlled themes: their share must come out as designed, so they get exact
    # probabilities and are never used to fill an otherwise empty comment.
    k_worse = WORSE_RATIO * (1 - loc_w[L_WORSE]) / (1 - WORSE_RATIO * loc_w[L_WORSE])
    p[:, WORSE_THEME] = BASE_SHARE[WORSE_THEME] * np.where(loc == L_WORSE, k_worse, 1.0)
    p[:, WORSE_THEME] /= 1 - FILLER_RATE
    at_improve = loc == L_IMPROVE
    for period_mask, target in ((before, IMPROVEMENT_BEFORE), (~before, IMPROVEMENT_AFTER)):
        mask = at_improve & period_mask & has_comment & ~is_extra
        if mask.any():
            natural = p[mask, IMPROVEMENT_THEME]
            p[mask, IMPROVEMENT_THEME] = target * natural / natural.mean() / (1 - FILLER_RATE)
    p[is_extra, SPIKE_THEME] = 1.0
    p = np.minimum(p, 0.98, where=~is_extra[:, None], out=p.copy())
    labels = rng.random((n, T)) < p
    labels[~has_comment | filler] = False
    controlled = np.zeros((n, T), dtype=bool)
    controlled[:, WORSE_THEME] = True
    controlled[at_improve, IMPROVEMENT_THEME] = True
    controlled[is_extra, SPIKE_THEME] = True
    empty = has_comment & ~filler & ~labels.any(axis=1)
    if empty.any():
        weights = np.where(controlled[empty], 0.0, p[empty])
        labels[np.flatnonzero(empty), _pick(rng, weights)] = True
    for i in np.flatnonzero(labels.sum(axis=1) > 3):
        keep = [t for t in np.flatnonzero(labels[i]) if controlled[i, t]]
        others = [int(t) for t in np.flatnonzero(labels[i]) if not controlled[i, t]]
        rng.shuffle(others)
        labels[i] = False
        labels[i, keep + others[: 3 - len(keep)]] = True

    # --- comment text, sentiment and per-row labels
    # Python lists: indexing numpy arrays one element at a time is slow in a 100k-row loop.
    theme_lists = [[t for t, on in enumerate(row) if on] for row in labels.tolist()]
    loc_l, seg_l, wd_l, chan_l = loc.tolist(), seg.tolist(), wd.tolist(), chan.tolist()
    extra_l, commented_l, filler_l = is_extra.tolist(), has_comment.tolist(), filler.tolist()
    improved_l = (at_improve & ~before).tolist()
    first_l = [FIRST_NAMES[j] for j in first_idx[cust].tolist()]
    neg_base = NEG_RATE.tolist()
    loc_neg_l = [LOCATION_NEG.get(name, 1.0) for name in loc_names]
    seg_neg_l = [SEGMENT_NEG.get(name, 1.0) for name in seg_names]
    sentiment_l = [1] * n
    primary_l = [T] * n                      # T = no theme
    sarcastic_l = [False] * n
    comments: list[str | None] = [None] * n
    writer = _Writer(text_rng, loc_names)
    for i in range(n):
        if not commented_l[i]:
            continue
        if filler_l[i]:
            comments[i] = text_rng.choice(FILLERS)
            continue
        themes = list(theme_lists[i])
        text_rng.shuffle(themes)
        if extra_l[i]:
            themes.remove(SPIKE_THEME)
            themes.insert(0, SPIKE_THEME)
        main = next((t for t in themes if t != PRAISE), PRAISE)
        if main == PRAISE:
            s = 2
        else:
            neg = neg_base[main] * loc_neg_l[loc_l[i]] * seg_neg_l[seg_l[i]]
            if main == WORSE_THEME and loc_l[i] == L_WORSE:
                neg = WORSE_NEG_RATE
            if extra_l[i]:
                neg = 0.95
            elif improved_l[i]:
                neg *= IMPROVEMENT_NEG_AFTER
            neg = min(max(neg, 0.02), 0.97)
            neu = NEUTRAL_SINGLE if len(themes) == 1 else 0.0
            u = text_rng.random()
            s = 0 if u < neg * (1 - neu) else (1 if u < neg * (1 - neu) + neu else 2)
        comments[i], sarcastic_l[i] = writer.comment(
            main, themes, s, loc=loc_l[i], wd=wd_l[i], channel=chan_names[chan_l[i]],
            spike=extra_l[i], first=first_l[i])
        sentiment_l[i] = s
        primary_l[i] = main
    sentiment = np.array(sentiment_l, dtype=np.int64)
    primary = np.array(primary_l, dtype=np.int64)
    sarcastic = np.array(sarcastic_l, dtype=bool)

    # Scores follow the comment's sentiment; an empty comment hides a mood of its own.
    mood = sentiment.copy()
    silent = ~has_comment | filler
    loc_neg = np.array([LOCATION_NEG.get(name, 1.0) for name in loc_names])
    hidden = np.tile(HIDDEN_SENTIMENT, (int(silent.sum()), 1))
    hidden[:, 0] *= loc_neg[loc[silent]] * np.where(
        at_improve[silent] & ~before[silent], IMPROVEMENT_NEG_AFTER, 1.0)
    mood[silent] = _pick(rng, hidden)
    score = np.full(n, np.nan)
    for kind, (low, table) in SCORE_TABLES.items():
        for s in range(3):
            mask = (score_type == kind) & (mood == s) & has_score
            if mask.any():
                probs = np.array(table[s])
                score[mask] = low + rng.choice(len(probs), size=int(mask.sum()),
                                               p=probs / probs.sum())
    touch = _pick(rng, TOUCHPOINT_GIVEN_THEME[primary])

    # --- identities
    emails, names = _customer_identities(rng, total_cust, first_idx, last_idx, cust_seg,
                                         seg_names)
    single = cust_counts[cust] == 1
    anonymous_channel = np.isin(chan, [chan_names.index("review"), chan_names.index("social")])
    no_id = single & anonymous_channel & (rng.random(n) < 0.6)
    no_email = no_id & (rng.random(n) < 0.5)
    shout_email = rng.random(n) < 0.05
    width = max(6, len(str(n)))
    received = np.datetime_as_string(ts.astype("datetime64[s]"), unit="s").tolist()

    cust_l = cust.tolist()
    no_id_l, no_email_l, shout_l = no_id.tolist(), no_email.tolist(), shout_email.tolist()
    touch_l = touch.tolist()
    score_l = [None if np.isnan(x) else x for x in score.tolist()]
    score_type_l = score_type.tolist()
    records = []
    truth_rows = []
    for i in range(n):
        external_id = f"demo-{i + 1:0{width}d}"
        c = cust_l[i]
        email = None if no_email_l[i] else emails[c]
        if email and shout_l[i]:
            email = email.capitalize()
        records.append({
            "external_id": external_id,
            "source": "demo",
            "received_at": received[i] + "Z",
            "location": loc_names[loc_l[i]],
            "segment": seg_names[seg_l[i]],
            "channel": chan_names[chan_l[i]],
            "touchpoint": TOUCHPOINTS[touch_l[i]],
            "customer_id": None if no_id_l[i] else f"CK-{100001 + c}",
            "customer_name": names[c],
            "customer_email": email,
            "score_type": score_type_l[i],
            "score": score_l[i],
            "comment": comments[i],
        })
        truth_rows.append({
            "external_id": external_id,
            "themes": [THEMES[t] for t in theme_lists[i]],
            "sentiment": SENTIMENTS[sentiment_l[i]],
        })

    context = dict(
        n=n, n_extra=n_extra, loc=loc, chan=chan, ts=ts, wd=wd, month=month, day=day,
        labels=labels, commented=has_comment, sentiment=sentiment, score=score,
        score_type=score_type, before=before, cust=cust, n_days=n_days, day_w=day_w,
        loc_names=loc_names, spike_days=spike_days, sarcastic=sarcastic, filler=filler,
        is_extra=is_extra,
    )
    truth = _truth(
        context, seed=seed, now=now, start_date=start_date, end_date=end_date,
        spike_start=spike_start, spike_end=spike_end, improve_date=improve_date,
        records=records,
    )
    truth["rows"] = truth_rows
    return _Data(records=records, truth=truth)


def _customer_identities(rng, total, first_idx, last_idx, cust_seg, seg_names):
    styles = rng.integers(4, size=total)
    numbers = rng.integers(1, 99, size=total)
    personal = rng.integers(len(PERSONAL_DOMAINS), size=total)
    business = rng.integers(len(BUSINESS_DOMAINS), size=total)
    business_seg = seg_names.index("Business")
    emails, names, seen = [], [], set()
    for c in range(total):
        first, last = FIRST_NAMES[first_idx[c]], LAST_NAMES[last_idx[c]]
        names.append(f"{first} {last}")
        local_last = re.sub(r"[^a-z]", "", last.lower().replace("ü", "u"))
        local = [f"{first.lower()}.{local_last}", f"{first.lower()}{local_last[0]}{numbers[c]}",
                 f"{first[0].lower()}{local_last}", f"{first.lower()}_{local_last}{numbers[c]}"][
            styles[c]]
        domain = (BUSINESS_DOMAINS[business[c]] if cust_seg[c] == business_seg
                  else PERSONAL_DOMAINS[personal[c]])
        email = f"{local}@{domain}"
        suffix = 2
        while email in seen:       # two different people never share an address
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        seen.add(email)
        emails.append(email)
    return emails, names


class _Writer:
    """Turns (themes, sentiment) into a comment in one of many voices."""

    def __init__(self, rng: random.Random, loc_names: list[str]):
        self.rng = rng
        self.loc_names = loc_names
        self.loc_tags = [name.replace(" ", "") for name in loc_names]
        self.loc_slugs = [name.lower().replace(" ", "-") for name in loc_names]

    def _fill(self, template: str, slots: dict) -> str:
        names = _SLOT_NAMES.get(id(template))
        if names is None:
            names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        if not names:
            return template
        values = {}
        for name in names:
            values[name] = slots[name] if name in slots else self.rng.choice(SLOTS[name])
        return template.format(**values)

    def _clause(self, theme: int, polarity: int, slots: dict, *, contrast: bool, spike: bool,
                allow_sarcasm: bool) -> tuple[str, bool]:
        rng = self.rng
        group = TEMPLATES[theme]
        if theme == PRAISE:
            pool = group["contrast"] if contrast else group["pos"]
            return self._fill(rng.choice(pool), slots), False
        if polarity == 0:
            if spike and theme == SPIKE_THEME and rng.random() < 0.6:
                return self._fill(rng.choice(group["spike"]), slots), False
            if allow_sarcasm and rng.random() < SARCASM_RATE:
                return self._fill(rng.choice(group["sarc"]), slots), True
            return self._fill(rng.choice(group["neg"]), slots), False
        pool = group["pos"] if polarity == 2 else group["neu"]
        return self._fill(rng.choice(pool), slots), False

    def comment(self, main: int, themes: list[int], s: int, *, loc: int, wd: int,
                channel: str, spike: bool, first: str) -> tuple[str, bool]:
        rng = self.rng
        slots = {"loc": self.loc_names[loc], "day": WEEKDAYS[wd]}
        # The main theme carries the comment's sentiment; others mostly agree, some contrast.
        mentions = [(main, s)]
        for t in themes:
            if t == main:
                continue
            if t == PRAISE:
                mentions.append((t, 2))
            elif s == 0:
                mentions.append((t, 0 if rng.random() < 0.8 else 2))
            else:
                mentions.append((t, 2 if rng.random() < 0.85 else 0))
        agree = [m for m in mentions if m[1] == s]
        against = [m for m in mentions if m[1] != s]
        sarcastic = False
        style = rng.random()
        if len(mentions) == 1 and style < 0.17 and f"short_{'neg' if s == 0 else 'pos'}" in \
                TEMPLATES[main] and s != 1 and not (spike and main == SPIKE_THEME):
            body = rng.choice(TEMPLATES[main]["short_neg" if s == 0 else "short_pos"])
        else:
            clauses_for = []
            for t, pol in agree:
                text, sarc = self._clause(t, pol, slots, contrast=False, spike=spike,
                                          allow_sarcasm=(t == main and not against))
                sarcastic |= sarc
                clauses_for.append(text)
            clauses_against = [self._clause(t, pol, slots, contrast=(s == 0), spike=False,
                                            allow_sarcasm=False)[0] for t, pol in against]
            if style > 0.8:      # long: separate sentences, an opener and a closer
                sentences = []
                # "First time here" next to "usually love it" would contradict itself.
                if rng.random() < 0.6 and not clauses_against:
                    sentences.append(self._fill(rng.choice(OPENERS), {
                        **slots, "years": rng.choice(SLOTS["years"])}))
                if clauses_against:
                    sentences.append(" and ".join(clauses_against) + ". But " + clauses_for[0])
                else:
                    sentences.append(clauses_for[0])
                for clause in clauses_for[1:]:
                    sentences.append(("Also, " if rng.random() < 0.3 else "") + clause)
                if rng.random() < 0.6:
                    sentences.append(rng.choice(CLOSERS[s]))
                body = ". ".join(sentences)
            else:
                body = clauses_for[0]
                for clause in clauses_for[1:]:
                    body += rng.choice(SAME_JOINERS) + clause
                if clauses_against:
                    body = " and ".join(clauses_against) + rng.choice(CONTRAST_JOINERS) + body
        body += rng.choice(END_PUNCT[s])

        case = rng.random()
        if case < 0.05:
            body = body.lower()
        elif case < 0.065 and s == 0:
            body = body.upper()
        elif case < 0.18:
            pass                  # left as typed: no capitals at sentence starts
        else:
            body = _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), body)
        if rng.random() < 0.06:
            body = _typos(body, rng)
        return self._decorate(body, s, loc, channel, first), sarcastic

    def _decorate(self, body: str, s: int, loc: int, channel: str, first: str) -> str:
        """Channel voice: handles, hashtags and links on social, greetings on email, ..."""
        rng = self.rng
        name = self.loc_names[loc]
        r = rng.random()
        if channel == "social" and r < 0.75:
            if rng.random() < 0.7:
                handle = rng.choice(BRAND_HANDLES + [f"@CopperKettle{self.loc_tags[loc]}"])
                body = f"{handle} {body}"
            tags = []
            if rng.random() < 0.5:
                tags.append(rng.choice(["#CopperKettle", f"#{self.loc_tags[loc]}"]))
            if rng.random() < 0.4:
                tags.append(rng.choice(NEG_HASHTAGS if s == 0 else POS_HASHTAGS))
            if tags:
                body += " " + " ".join(tags)
            if rng.random() < 0.3:
                body += " " + self._url(loc)
        elif channel == "review" and r < 0.35:
            pick = rng.random()
            if pick < 0.4:
                body = rng.choice([f"{name} branch: ", f"Review of {name} - ", f"Re {name}: "]) + body
            elif pick < 0.7:
                body += f" ({name})"
            elif pick < 0.85:
                body += " " + self._url(loc)
            else:
                body = f"{rng.choice(BRAND_HANDLES)} {body}"
        elif channel == "email" and r < 0.4:
            body = f"{rng.choice(['Hi team', 'Hello', 'Dear Copper Kettle'])},\n\n{body}\n\n" \
                   f"{rng.choice(['Thanks', 'Regards', 'Cheers'])}, {first}"
        elif channel == "ticket" and r < 0.3:
            body = f"Ref {rng.randint(10000, 99999)}: {body}"
        elif r > 0.95:
            body = rng.choice([f"At {name} today. ", f"{name} store - "]) + body
        return body

    def _url(self, loc: int) -> str:
        rng = self.rng
        code = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(6))
        return rng.choice([
            f"https://copperkettle.example/stores/{self.loc_slugs[loc]}",
            f"https://t.example/{code}",
            f"https://img.example.net/p/{code}",
            f"www.copperkettle.example/help?ref={code}",
        ])


def _typos(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.choice((1, 1, 2))):
        letters = [j for j, ch in enumerate(chars) if ch.isalpha()]
        if len(letters) < 4:
            break
        j = rng.choice(letters)
        op = rng.random()
        if op < 0.4 and j + 1 < len(chars) and chars[j + 1].isalpha():
            chars[j], chars[j + 1] = chars[j + 1], chars[j]
        elif op < 0.75:
            del chars[j]
        else:
            chars.insert(j, chars[j])
    return "".join(chars)


# --- Truth ---------------------------------------------------------------------------------

def _truth(ctx: dict, *, seed, now, start_date, end_date, spike_start, spike_end,
           improve_date, records) -> dict:
    loc_names = ctx["loc_names"]
    labels, commented, loc = ctx["labels"], ctx["commented"], ctx["loc"]

    def share(mask, theme):
        mask = mask & commented
        total = int(mask.sum())
        return _round(labels[mask, theme].mean()) if total else None

    everywhere = np.ones(ctx["n"], dtype=bool)
    norm_score = _normalised_scores(ctx["score"], ctx["score_type"])

    # spike
    L_SPIKE = loc_names.index(SPIKE_LOCATION)
    in_week = np.isin(ctx["day"], ctx["spike_days"])
    at_spike = loc == L_SPIKE
    spike_count = int((labels[:, SPIKE_THEME] & at_spike & in_week & commented).sum())
    other_count = int((labels[:, SPIKE_THEME] & at_spike & ~in_week & commented).sum())
    other_weeks = (ctx["n_days"] - len(ctx["spike_days"])) / 7
    weekly = other_count / other_weeks if other_weeks else 0.0
    iso = spike_start.isocalendar()
    spike = {
        "description": f"{THEMES[SPIKE_THEME]} complaints at {SPIKE_LOCATION} jump in one ISO "
                       "week (a card terminal charging customers twice)",
        "theme": THEMES[SPIKE_THEME],
        "location": SPIKE_LOCATION,
        "iso_week": f"{iso[0]}-W{iso[1]:02d}",
        "week_start": spike_start.isoformat(),
        "week_end": spike_end.isoformat(),
        "multiplier": SPIKE_MULTIPLIER,
        "extra_rows": ctx["n_extra"],
        "baseline_share": share(at_spike & ~in_week, SPIKE_THEME),
        "spike_share": share(at_spike & in_week, SPIKE_THEME),
        "baseline_weekly_count": _round(weekly, 2),
        "spike_count": spike_count,
        "measured_volume_multiplier": _round(spike_count / weekly, 2) if weekly else None,
        "location_rows_in_week": int((at_spike & in_week).sum()),
    }

    # worse location
    L_WORSE = loc_names.index(WORSE_LOCATION)
    at_worse = loc == L_WORSE
    theme_rows = labels[:, WORSE_THEME] & commented
    loc_share = share(at_worse, WORSE_THEME)
    net_share = share(everywhere, WORSE_THEME)
    worse = {
        "description": f"{WORSE_LOCATION} has about twice the network's share of "
                       f"{THEMES[WORSE_THEME]} comments all the time, and they are angrier",
        "location": WORSE_LOCATION,
        "theme": THEMES[WORSE_THEME],
        "intended_ratio": WORSE_RATIO,
        "share": loc_share,
        "network_share": net_share,
        "others_share": share(~at_worse, WORSE_THEME),
        "ratio": _round(loc_share / net_share, 3) if loc_share and net_share else None,
        "mean_normalised_score": _mean(norm_score[theme_rows & at_worse]),
        "network_mean_normalised_score": _mean(norm_score[theme_rows]),
        "negative_rate": _mean(ctx["sentiment"][theme_rows & at_worse] == 0),
        "network_negative_rate": _mean(ctx["sentiment"][theme_rows] == 0),
    }

    # improvement
    L_IMPROVE = loc_names.index(IMPROVEMENT_LOCATION)
    at_improve = loc == L_IMPROVE
    before = ctx["before"]
    measured_before = share(at_improve & before, IMPROVEMENT_THEME)
    measured_after = share(at_improve & ~before, IMPROVEMENT_THEME)
    nps = ctx["score_type"] == "nps"
    improvement = {
        "description": f"{IMPROVEMENT_LOCATION} fixed its {THEMES[IMPROVEMENT_THEME]} problem "
                       f"(an extra staff member at peak times) from {improve_date.isoformat()}",
        "location": IMPROVEMENT_LOCATION,
        "theme": THEMES[IMPROVEMENT_THEME],
        "date": improve_date.isoformat(),
        "share_before": IMPROVEMENT_BEFORE,
        "share_after": IMPROVEMENT_AFTER,
        "measured_share_before": measured_before,
        "measured_share_after": measured_after,
        "rows_before": int((at_improve & before & commented).sum()),
        "rows_after": int((at_improve & ~before & commented).sum()),
        "effect": {
            "share_change": _round(IMPROVEMENT_AFTER - IMPROVEMENT_BEFORE),
            "relative_change": _round(IMPROVEMENT_AFTER / IMPROVEMENT_BEFORE - 1),
            "measured_share_change": _round(measured_after - measured_before)
            if measured_before is not None and measured_after is not None else None,
            "negative_rate_multiplier_after": IMPROVEMENT_NEG_AFTER,
            "nps_before": _nps(ctx["score"][at_improve & before & nps]),
            "nps_after": _nps(ctx["score"][at_improve & ~before & nps]),
        },
    }

    # seasonality
    wd_volume = WEEKDAY_VOLUME / WEEKDAY_VOLUME.mean()
    rows_by_wd = np.bincount(ctx["wd"], minlength=7).astype(float)
    days_by_wd = np.bincount([(start_date + timedelta(days=d)).weekday()
                              for d in range(ctx["n_days"])], minlength=7)
    per_day = rows_by_wd / np.maximum(days_by_wd, 1)
    seasonality = {
        "description": "volume and the wait-time share rise at weekends and in December "
                       "(and summer); volume grows steadily over the period",
        "weekday_volume_multiplier": {WEEKDAYS[d]: _round(wd_volume[d], 3) for d in range(7)},
        "weekday_wait_time_multiplier": {WEEKDAYS[d]: WEEKDAY_WAIT[d].item() for d in range(7)},
        "monthly_volume_multiplier": {MONTHS[m]: MONTH_VOLUME[m].item() for m in range(12)},
        "monthly_wait_time_multiplier": {MONTHS[m]: MONTH_WAIT[m].item() for m in range(12)},
        "trend_growth_over_period": TREND_GROWTH,
        "measured_weekday_volume_index": {
            WEEKDAYS[d]: _round(per_day[d] / per_day.mean(), 3) for d in range(7)},
        "measured_weekday_wait_time_share": {
            WEEKDAYS[d]: share(ctx["wd"] == d, WAIT) for d in range(7)},
    }

    # overall picture
    commented_rows = int(commented.sum())
    cust_counts = np.bincount(ctx["cust"])
    cust_counts = cust_counts[cust_counts > 0]
    score_types: dict[str, int] = {}
    for record in records:
        key = record["score_type"] or "none"
        score_types[key] = score_types.get(key, 0) + 1
    overall = {
        "theme_shares": {THEMES[t]: share(everywhere, t) for t in range(len(THEMES))},
        "sentiment_mix": {
            SENTIMENTS[s]: _mean(ctx["sentiment"][commented & ~ctx["filler"]] == s)
            for s in range(3)},
        "rows_with_comment": commented_rows,
        "rows_without_comment": int(ctx["n"] - commented_rows),
        "rows_without_score": int(np.isnan(ctx["score"]).sum()),
        "rows_without_theme": int((commented & ~labels.any(axis=1)).sum()),
        "score_types": dict(sorted(score_types.items())),
        "rows_by_location": {name: int((loc == j).sum()) for j, name in enumerate(loc_names)},
        "customers": int(len(cust_counts)),
        "repeat_customer_share": _mean(cust_counts > 1),
        "sarcastic_rows": int(ctx["sarcastic"].sum()),
    }

    return {
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "now": store.to_iso(now),
        "rows_requested": ctx["n"],
        "rows_written": ctx["n"],
        "period": {
            "start": f"{start_date.isoformat()}T00:00:00Z",
            "end": store.to_iso(now),
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
            "days": ctx["n_days"],
        },
        "definitions": {
            "share": "rows whose comment mentions the theme / rows with a non-empty comment, "
                     "over the slice (location, dates) in question",
            "week": "ISO week, Monday to Sunday, dates in UTC",
            "labels": "rows[].themes: themes the comment mentions; rows[].sentiment: intended "
                      "sentiment of the text (sarcasm counts as negative); rows with no comment "
                      "or a filler such as 'n/a' have no themes and sentiment 'neutral'",
            "normalised_score": "(score - scale minimum) / (scale maximum - scale minimum)",
        },
        "themes": list(THEMES),
        "locations": list(loc_names),
        "location_weights": {name: LOCATIONS[name] for name in loc_names},
        "segments": list(SEGMENTS),
        "channels": list(CHANNELS),
        "touchpoints": list(TOUCHPOINTS),
        "score_scales": {"nps": [0, 10], "csat": [1, 5], "ces": [1, 7], "rating": [1, 5]},
        "spike": spike,
        "worse_location": worse,
        "improvement": improvement,
        "seasonality": seasonality,
        "overall": overall,
        "decorations": {
            "brand": BRAND,
            "handles": BRAND_HANDLES + [f"@CopperKettle{n.replace(' ', '')}" for n in loc_names],
            "hashtags": ["#CopperKettle"] + [f"#{n.replace(' ', '')}" for n in loc_names]
            + NEG_HASHTAGS + POS_HASHTAGS,
            "url_domains": URL_DOMAINS,
            "note": "social and review comments carry these, and location names appear in "
                    "comments; theme code should strip them",
        },
        "sarcastic_ids": [r["external_id"] for r, sarc in zip(records, ctx["sarcastic"]) if sarc],
        "rows": [],
    }


def _mean(values: np.ndarray):
    """Mean ignoring missing scores; None for an empty slice (tiny demo sets)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return _round(values.mean()) if len(values) else None


def _normalised_scores(score: np.ndarray, score_type: np.ndarray) -> np.ndarray:
    out = np.full(len(score), np.nan)
    for kind, (low, high) in {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7),
                              "rating": (1, 5)}.items():
        mask = score_type == kind
        out[mask] = (score[mask] - low) / (high - low)
    return out


def _nps(scores: np.ndarray):
    scores = scores[~np.isnan(scores)]
    if not len(scores):
        return None
    return _round(100 * ((scores >= 9).mean() - (scores <= 6).mean()), 1)

"""Sampling the demo's rows, in named steps that each take what the earlier ones drew:

    calendar -> volumes -> customers -> responses -> answers -> themes -> comments
             -> scores -> touchpoints -> people -> feedback_records

the period and where the injected effects fall in it; how many rows, and how many of them
carry the spike; the customers; who answered where, when and through which channel; score
type and whether there is a comment; the themes each comment mentions; the text and its
sentiment; the scores that follow the sentiment; the journey stage; names and addresses.

numpy's Generator draws the structure (vectorised), a `random.Random` seeded from it writes
the text. The order of draws is part of the output (the same seed and `now` give the same
rows, byte for byte, and tests/test_demo.py pins them): a new draw goes after the existing
ones, or the pinned hash changes on purpose.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
from dateutil.relativedelta import relativedelta

from analysis.demo.corpus import corpus
from analysis.demo.model import (
    ANONYMOUS_CHANNELS,
    ANONYMOUS_RATE,
    BASE_SHARE,
    CHANNEL_FACTORS,
    CHANNEL_NAMES,
    CHANNEL_SCORING,
    CHANNELS,
    DRIVER_STEPS,
    DRIVER_THEME,
    FILLER_RATE,
    HIDDEN_SENTIMENT,
    HOUR_PROFILE,
    IMPROVEMENT_AFTER,
    IMPROVEMENT_BEFORE,
    IMPROVEMENT_DAYS_BEFORE_END,
    IMPROVEMENT_LOCATION,
    IMPROVEMENT_NEG_AFTER,
    IMPROVEMENT_THEME,
    LOCATION_FACTORS,
    LOCATION_NAMES,
    LOCATION_NEG,
    LOCATIONS,
    MAX_RESPONSES,
    MAX_THEME_CHANCE,
    MAX_THEMES,
    MONTH_VOLUME,
    MONTH_WAIT,
    NEG_RATE,
    NEG_RATE_RANGE,
    NEGATIVE,
    NEUTRAL,
    NEUTRAL_SINGLE,
    NO_EMAIL_RATE,
    NO_THEME,
    PERIOD_MONTHS,
    POSITIVE,
    PRAISE,
    REPEAT_GEOMETRIC_P,
    REPEAT_RATE,
    SCORE_TABLES,
    SEGMENT_FACTORS,
    SEGMENT_NAMES,
    SEGMENT_NEG,
    SEGMENTS,
    SENTIMENTS,
    SHOUTED_EMAIL_RATE,
    SPIKE_CHANNELS,
    SPIKE_EXPECTED_SHARE,
    SPIKE_LOCATION,
    SPIKE_MIN_EXTRA,
    SPIKE_MULTIPLIER,
    SPIKE_NEG_RATE,
    SPIKE_THEME,
    SPIKE_WEEKS_BEFORE_END,
    THEMES,
    TOUCHPOINT_GIVEN_THEME,
    TOUCHPOINTS,
    TREND_GROWTH,
    WAIT,
    WANDER_RATE,
    WEEKDAY_VOLUME,
    WEEKDAY_WAIT,
    WORSE_LOCATION,
    WORSE_NEG_RATE,
    WORSE_RATIO,
    WORSE_THEME,
)
from analysis.demo.sample import (
    Answers,
    Calendar,
    Comments,
    Customers,
    People,
    Responses,
    Sample,
    Volumes,
)
from analysis.demo.text import CommentWriter
from analysis.domain.scores import SCORE_SCALES

_LOCATION_WEIGHTS = np.array(list(LOCATIONS.values()))
_LOCATION_WEIGHTS = _LOCATION_WEIGHTS / _LOCATION_WEIGHTS.sum()
_SEGMENT_WEIGHTS = np.array(list(SEGMENTS.values()))
_CHANNEL_WEIGHTS = np.array(list(CHANNELS.values()))
L_SPIKE = LOCATION_NAMES.index(SPIKE_LOCATION)
L_WORSE = LOCATION_NAMES.index(WORSE_LOCATION)
L_IMPROVE = LOCATION_NAMES.index(IMPROVEMENT_LOCATION)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def draw(rows: int, seed: int, *, now: datetime) -> Sample:
    """Draw every row of a demo of `rows` rows ending at `now` (pure, deterministic)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)
    text_rng = random.Random(int(rng.integers(2**63)))
    calendar = _calendar(as_utc(now))
    volumes = _volumes(rows, calendar)
    customers = _customers(rng, volumes)
    responses = _responses(rng, calendar, volumes, customers)
    answers = _answers(rng, responses)
    labels = _themes(rng, responses, answers)
    comments = _comments(text_rng, responses, answers, labels, customers)
    scores = _scores(rng, responses, answers, comments, labels)
    touchpoints = _pick(rng, TOUCHPOINT_GIVEN_THEME[comments.primary])
    people = _people(rng, customers, responses)
    width = max(6, len(str(rows)))
    return Sample(seed=seed, calendar=calendar, volumes=volumes, customers=customers,
                  responses=responses, answers=answers, labels=labels, comments=comments,
                  scores=scores, touchpoints=touchpoints, people=people,
                  external_ids=[f"demo-{i + 1:0{width}d}" for i in range(rows)])


def feedback_records(sample: Sample) -> list[dict]:
    """One dict per row, as `analysis.ingest.feedback.insert_feedback` takes them."""
    r, people = sample.responses, sample.people
    received = np.datetime_as_string(r.timestamp.astype("datetime64[s]"), unit="s").tolist()
    score_type = sample.answers.score_type.tolist()
    score = [None if np.isnan(x) else x for x in sample.scores.tolist()]
    return [
        {
            "external_id": sample.external_ids[i],
            "source": "demo",
            "received_at": received[i] + "Z",
            "location": LOCATION_NAMES[loc],
            "segment": SEGMENT_NAMES[seg],
            "channel": CHANNEL_NAMES[chan],
            "touchpoint": TOUCHPOINTS[touch],
            "customer_id": people.customer_id[i],
            "customer_name": people.customer_name[i],
            "customer_email": people.customer_email[i],
            "score_type": score_type[i],
            "score": score[i],
            "comment": sample.comments.text[i],
        }
        for i, (loc, seg, chan, touch) in enumerate(zip(
            r.location.tolist(), r.segment.tolist(), r.channel.tolist(),
            sample.touchpoints.tolist()))
    ]


# --- Steps ---------------------------------------------------------------------------------

def _calendar(now: datetime) -> Calendar:
    end_date = now.date()
    start_date = end_date - relativedelta(months=PERIOD_MONTHS) + timedelta(days=1)
    n_days = (end_date - start_date).days + 1
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
    improve_date = end_date - timedelta(days=IMPROVEMENT_DAYS_BEFORE_END)
    improve_date -= timedelta(days=improve_date.weekday())
    return Calendar(
        now=now, start_date=start_date, end_date=end_date, start_epoch=_epoch(start_date),
        elapsed_today=elapsed_today, day_weekday=day_wd, day_month=day_month, day_weight=day_w,
        spike_start=spike_start, spike_end=spike_end,
        spike_days=np.arange((spike_start - start_date).days, (spike_end - start_date).days + 1),
        improve_date=improve_date, improve_epoch=_epoch(improve_date))


def _volumes(rows: int, calendar: Calendar) -> Volumes:
    # Extra rows carry the spike; their number follows the week's expected volume.
    day_w = calendar.day_weight
    week_volume = (rows * day_w[calendar.spike_days].sum() / day_w.sum()
                   * _LOCATION_WEIGHTS[L_SPIKE] * 0.9)
    extra = max(round((SPIKE_MULTIPLIER - 1) * SPIKE_EXPECTED_SHARE * week_volume),
                SPIKE_MIN_EXTRA)
    return Volumes(rows=rows, extra=min(extra, rows // 5))


def _customers(rng: np.random.Generator, volumes: Volumes) -> Customers:
    # A few come back, mostly to their home store; draw batches until the rows are covered.
    n_base = volumes.base
    counts = np.zeros(0, dtype=np.int64)
    while counts.sum() < n_base:
        size = max(int((n_base - counts.sum()) / 1.3) + 20, 20)
        repeat = rng.random(size) < REPEAT_RATE
        more = np.where(repeat, np.minimum(1 + rng.geometric(REPEAT_GEOMETRIC_P, size),
                                           MAX_RESPONSES), 1)
        counts = np.concatenate([counts, more])
    cum = np.cumsum(counts)
    n_cust = int(np.searchsorted(cum, n_base) + 1)
    counts = counts[:n_cust].copy()
    counts[-1] -= cum[n_cust - 1] - n_base
    total = n_cust + volumes.extra
    home = rng.choice(len(LOCATION_NAMES), size=total, p=_LOCATION_WEIGHTS)
    home[n_cust:] = L_SPIKE
    segment = rng.choice(len(SEGMENT_NAMES), size=total, p=_SEGMENT_WEIGHTS)
    words = corpus()
    first_name = rng.integers(len(words.first_names), size=total)
    last_name = rng.integers(len(words.last_names), size=total)
    return Customers(count=n_cust, home=home, segment=segment, first_name=first_name,
                     last_name=last_name,
                     responses=np.concatenate([counts, np.ones(volumes.extra, dtype=np.int64)]))


def _responses(rng: np.random.Generator, calendar: Calendar, volumes: Volumes,
               customers: Customers) -> Responses:
    n, n_base, n_extra = volumes.rows, volumes.base, volumes.extra
    n_cust = customers.count
    cust = np.concatenate([
        rng.permutation(np.repeat(np.arange(n_cust), customers.responses[:n_cust])),
        np.arange(n_cust, customers.total)])
    is_extra = np.zeros(n, dtype=bool)
    is_extra[n_base:] = True
    loc = customers.home[cust].copy()
    wander = (rng.random(n) < WANDER_RATE) & ~is_extra
    loc[wander] = rng.choice(len(LOCATION_NAMES), size=int(wander.sum()), p=_LOCATION_WEIGHTS)
    seg = customers.segment[cust]

    day_w, spike_days = calendar.day_weight, calendar.spike_days
    day = np.empty(n, dtype=np.int64)
    day[:n_base] = rng.choice(calendar.days, size=n_base, p=day_w / day_w.sum())
    spike_day_w = day_w[spike_days]
    day[n_base:] = rng.choice(spike_days, size=n_extra, p=spike_day_w / spike_day_w.sum())
    secs = rng.choice(24, size=n, p=HOUR_PROFILE / HOUR_PROFILE.sum()) * 3600 + rng.integers(
        0, 3600, size=n)
    # Today only up to `now`: nothing is received in the future.
    elapsed = calendar.elapsed_today
    last = day == calendar.days - 1
    secs[last] = (rng.random(int(last.sum())) * max(elapsed, 1)).astype(np.int64)
    secs[last] = np.minimum(secs[last], max(elapsed - 1, 0))
    ts = calendar.start_epoch + day * 86400 + secs

    chan = rng.choice(len(CHANNEL_NAMES), size=n, p=_CHANNEL_WEIGHTS)
    spike_chan_w = np.array([SPIKE_CHANNELS[c] for c in CHANNEL_NAMES])
    chan[n_base:] = rng.choice(len(CHANNEL_NAMES), size=n_extra, p=spike_chan_w)

    order = np.argsort(ts, kind="stable")
    cust, loc, seg, day, ts, chan, is_extra = (a[order] for a in
                                               (cust, loc, seg, day, ts, chan, is_extra))
    return Responses(
        customer=cust, location=loc, segment=seg, channel=chan, day=day, timestamp=ts,
        weekday=calendar.day_weekday[day], month=calendar.day_month[day], is_extra=is_extra,
        before_improvement=ts < calendar.improve_epoch, at_improvement=loc == L_IMPROVE)


def _answers(rng: np.random.Generator, responses: Responses) -> Answers:
    n, chan = responses.n, responses.channel
    score_type = np.full(n, None, dtype=object)
    has_score = np.ones(n, dtype=bool)
    has_comment = np.ones(n, dtype=bool)
    for c, name in enumerate(CHANNEL_NAMES):
        mask = chan == c
        k = int(mask.sum())
        types, p_none, p_empty = CHANNEL_SCORING[name]
        type_names = list(types)
        score_type[mask] = np.array(type_names, dtype=object)[
            rng.choice(len(type_names), size=k, p=list(types.values()))]
        has_score[mask] = rng.random(k) >= p_none
        has_comment[mask] = rng.random(k) >= p_empty
    # A row needs a score or a comment, and a spike row is its comment.
    has_comment |= responses.is_extra | ~has_score
    score_type[~has_score] = None
    filler = has_comment & ~responses.is_extra & (rng.random(n) < FILLER_RATE)
    return Answers(score_type=score_type, has_score=has_score, has_comment=has_comment,
                   filler=filler)


def _theme_chances(responses: Responses, answers: Answers) -> np.ndarray:
    """Rows x themes: the chance that the row's comment mentions each theme."""
    r = responses
    n, themes = r.n, len(THEMES)
    p = np.tile(BASE_SHARE, (n, 1))
    for table, index, names in ((LOCATION_FACTORS, r.location, LOCATION_NAMES),
                                (SEGMENT_FACTORS, r.segment, SEGMENT_NAMES),
                                (CHANNEL_FACTORS, r.channel, CHANNEL_NAMES)):
        factors = np.ones((len(names), themes))
        for name, by_theme in table.items():
            for theme, factor in by_theme.items():
                factors[names.index(name), theme] = factor
        p *= factors[index]
    p[:, WAIT] *= WEEKDAY_WAIT[r.weekday] * MONTH_WAIT[r.month]
    # Controlled themes: their share must come out as designed, so they get exact
    # probabilities (fillers, which mention nothing, are made up for).
    loc_w = _LOCATION_WEIGHTS[L_WORSE]
    k_worse = WORSE_RATIO * (1 - loc_w) / (1 - WORSE_RATIO * loc_w)
    p[:, WORSE_THEME] = BASE_SHARE[WORSE_THEME] * np.where(r.location == L_WORSE, k_worse, 1.0)
    p[:, WORSE_THEME] /= 1 - FILLER_RATE
    for period_mask, target in ((r.before_improvement, IMPROVEMENT_BEFORE),
                                (~r.before_improvement, IMPROVEMENT_AFTER)):
        mask = r.at_improvement & period_mask & answers.has_comment & ~r.is_extra
        if mask.any():
            natural = p[mask, IMPROVEMENT_THEME]
            p[mask, IMPROVEMENT_THEME] = target * natural / natural.mean() / (1 - FILLER_RATE)
    p[r.is_extra, SPIKE_THEME] = 1.0
    return np.minimum(p, MAX_THEME_CHANCE, where=~r.is_extra[:, None], out=p.copy())


def _themes(rng: np.random.Generator, responses: Responses, answers: Answers) -> np.ndarray:
    p = _theme_chances(responses, answers)
    n, themes = p.shape
    labels = rng.random((n, themes)) < p
    labels[~answers.has_comment | answers.filler] = False
    controlled = np.zeros((n, themes), dtype=bool)
    controlled[:, WORSE_THEME] = True
    controlled[responses.at_improvement, IMPROVEMENT_THEME] = True
    controlled[responses.is_extra, SPIKE_THEME] = True
    # A real comment mentions something; never a controlled theme, or its share would drift.
    empty = answers.has_comment & ~answers.filler & ~labels.any(axis=1)
    if empty.any():
        weights = np.where(controlled[empty], 0.0, p[empty])
        labels[np.flatnonzero(empty), _pick(rng, weights)] = True
    for i in np.flatnonzero(labels.sum(axis=1) > MAX_THEMES):
        keep = [t for t in np.flatnonzero(labels[i]) if controlled[i, t]]
        others = [int(t) for t in np.flatnonzero(labels[i]) if not controlled[i, t]]
        rng.shuffle(others)
        labels[i] = False
        labels[i, keep + others[: MAX_THEMES - len(keep)]] = True
    return labels


def _comments(text_rng: random.Random, responses: Responses, answers: Answers,
              labels: np.ndarray, customers: Customers) -> Comments:
    n = responses.n
    words = corpus()
    # Python lists: indexing numpy arrays one element at a time is slow in a 100k-row loop.
    theme_lists = [[t for t, on in enumerate(row) if on] for row in labels.tolist()]
    loc_l, seg_l = responses.location.tolist(), responses.segment.tolist()
    wd_l, chan_l = responses.weekday.tolist(), responses.channel.tolist()
    extra_l, commented_l = responses.is_extra.tolist(), answers.has_comment.tolist()
    filler_l = answers.filler.tolist()
    improved_l = (responses.at_improvement & ~responses.before_improvement).tolist()
    first_l = [words.first_names[j]
               for j in customers.first_name[responses.customer].tolist()]
    sentiment_l = [NEUTRAL] * n
    primary_l = [NO_THEME] * n
    sarcastic_l = [False] * n
    texts: list[str | None] = [None] * n
    writer = CommentWriter(text_rng, LOCATION_NAMES, words)
    for i in range(n):
        if not commented_l[i]:
            continue
        if filler_l[i]:
            texts[i] = text_rng.choice(words.fillers)
            continue
        themes = list(theme_lists[i])
        text_rng.shuffle(themes)
        if extra_l[i]:
            themes.remove(SPIKE_THEME)
            themes.insert(0, SPIKE_THEME)
        main = next((t for t in themes if t != PRAISE), PRAISE)
        if main == PRAISE:
            s = POSITIVE
        else:
            neg = _negative_rate(main, loc_l[i], seg_l[i], spike=extra_l[i],
                                 improved=improved_l[i])
            neu = NEUTRAL_SINGLE if len(themes) == 1 else 0.0
            u = text_rng.random()
            s = NEGATIVE if u < neg * (1 - neu) else (
                NEUTRAL if u < neg * (1 - neu) + neu else POSITIVE)
        texts[i], sarcastic_l[i] = writer.comment(
            main, themes, s, loc=loc_l[i], wd=wd_l[i], channel=CHANNEL_NAMES[chan_l[i]],
            spike=extra_l[i], first=first_l[i])
        sentiment_l[i] = s
        primary_l[i] = main
    return Comments(text=texts, themes=theme_lists,
                    sentiment=np.array(sentiment_l, dtype=np.int64),
                    primary=np.array(primary_l, dtype=np.int64),
                    sarcastic=np.array(sarcastic_l, dtype=bool))


_NEG_RATE = NEG_RATE.tolist()
_LOCATION_NEG = [LOCATION_NEG.get(name, 1.0) for name in LOCATION_NAMES]
_SEGMENT_NEG = [SEGMENT_NEG.get(name, 1.0) for name in SEGMENT_NAMES]


def _negative_rate(main: int, loc: int, seg: int, *, spike: bool, improved: bool) -> float:
    """Chance that a comment whose main theme is `main` is a complaint."""
    neg = _NEG_RATE[main] * _LOCATION_NEG[loc] * _SEGMENT_NEG[seg]
    if main == WORSE_THEME and loc == L_WORSE:
        neg = WORSE_NEG_RATE
    if spike:
        neg = SPIKE_NEG_RATE
    elif improved:
        neg *= IMPROVEMENT_NEG_AFTER
    low, high = NEG_RATE_RANGE
    return min(max(neg, low), high)


def _scores(rng: np.random.Generator, responses: Responses, answers: Answers,
            comments: Comments, labels: np.ndarray) -> np.ndarray:
    # Scores follow the comment's sentiment; an empty comment hides a mood of its own.
    mood = comments.sentiment.copy()
    silent = ~answers.has_comment | answers.filler
    mood[silent] = _pick(rng, _hidden_moods(responses, silent))
    score = np.full(responses.n, np.nan)
    for kind, table in SCORE_TABLES.items():
        low = SCORE_SCALES[kind][0]
        for s in range(len(table)):
            mask = (answers.score_type == kind) & (mood == s) & answers.has_score
            if mask.any():
                probs = np.array(table[s])
                score[mask] = low + rng.choice(len(probs), size=int(mask.sum()),
                                               p=probs / probs.sum())
        # The driver moves no draw: the same rows, one step lower where it is mentioned.
        driven = (answers.score_type == kind) & answers.has_score & labels[:, DRIVER_THEME]
        score[driven] = np.maximum(score[driven] - DRIVER_STEPS, low)
    return score


def _hidden_moods(responses: Responses, silent: np.ndarray) -> np.ndarray:
    """Chances (unnormalised) of each mood behind the score of each silent row."""
    hidden = np.tile(HIDDEN_SENTIMENT, (int(silent.sum()), 1))
    hidden[:, NEGATIVE] *= np.array(_LOCATION_NEG)[responses.location[silent]] * np.where(
        responses.at_improvement[silent] & ~responses.before_improvement[silent],
        IMPROVEMENT_NEG_AFTER, 1.0)
    return hidden


def mood_chances(sample: Sample) -> np.ndarray:
    """Rows x (negative, neutral, positive): the chance of each mood behind the row's score
    before anything is drawn, as `_comments` and `_scores` draw it (the main theme is a
    uniform pick among the non-praise themes, a spike row's is billing). What the truth
    needs for the expected score of a row given its themes, location and segment."""
    r, answers = sample.responses, sample.answers
    chances = np.zeros((r.n, len(SENTIMENTS)))
    silent = ~answers.has_comment | answers.filler
    hidden = _hidden_moods(r, silent)
    chances[silent] = hidden / hidden.sum(axis=1, keepdims=True)
    loc_l, seg_l, extra_l = r.location.tolist(), r.segment.tolist(), r.is_extra.tolist()
    improved_l = (r.at_improvement & ~r.before_improvement).tolist()
    for i in np.flatnonzero(~silent).tolist():
        themes = sample.comments.themes[i]
        mains = [SPIKE_THEME] if extra_l[i] else [t for t in themes if t != PRAISE]
        if not mains:
            chances[i, POSITIVE] = 1.0
            continue
        neu = NEUTRAL_SINGLE if len(themes) == 1 else 0.0
        neg = np.mean([_negative_rate(t, loc_l[i], seg_l[i], spike=extra_l[i],
                                      improved=improved_l[i]) for t in mains]) * (1 - neu)
        chances[i] = (neg, neu, 1.0 - neg - neu)
    return chances


def _people(rng: np.random.Generator, customers: Customers, responses: Responses) -> People:
    emails, names = _identities(rng, customers)
    n, cust = responses.n, responses.customer
    single = customers.responses[cust] == 1
    anonymous_channel = np.isin(responses.channel,
                                [CHANNEL_NAMES.index(c) for c in ANONYMOUS_CHANNELS])
    no_id = single & anonymous_channel & (rng.random(n) < ANONYMOUS_RATE)
    no_email = no_id & (rng.random(n) < NO_EMAIL_RATE)
    shout_email = rng.random(n) < SHOUTED_EMAIL_RATE
    ids, row_names, row_emails = [], [], []
    for c, hide_id, hide_email, shout in zip(cust.tolist(), no_id.tolist(), no_email.tolist(),
                                             shout_email.tolist()):
        email = None if hide_email else emails[c]
        if email and shout:
            email = email.capitalize()
        ids.append(None if hide_id else f"CK-{100001 + c}")
        row_names.append(names[c])
        row_emails.append(email)
    return People(customer_id=ids, customer_name=row_names, customer_email=row_emails)


def _identities(rng: np.random.Generator, customers: Customers) -> tuple[list[str], list[str]]:
    """(email, name) per customer; business customers write from their company's domain."""
    words = corpus()
    total = customers.total
    styles = rng.integers(4, size=total)
    numbers = rng.integers(1, 99, size=total)
    personal = rng.integers(len(words.personal_domains), size=total)
    business = rng.integers(len(words.business_domains), size=total)
    business_seg = SEGMENT_NAMES.index("Business")
    emails, names, seen = [], [], set()
    for c in range(total):
        first = words.first_names[customers.first_name[c]]
        last = words.last_names[customers.last_name[c]]
        names.append(f"{first} {last}")
        local_last = re.sub(r"[^a-z]", "", last.lower().replace("ü", "u"))
        local = [f"{first.lower()}.{local_last}", f"{first.lower()}{local_last[0]}{numbers[c]}",
                 f"{first[0].lower()}{local_last}", f"{first.lower()}_{local_last}{numbers[c]}"][
            styles[c]]
        domain = (words.business_domains[business[c]] if customers.segment[c] == business_seg
                  else words.personal_domains[personal[c]])
        email = f"{local}@{domain}"
        suffix = 2
        while email in seen:       # two different people never share an address
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        seen.add(email)
        emails.append(email)
    return emails, names


# --- Helpers -------------------------------------------------------------------------------

def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)

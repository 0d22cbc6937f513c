"""What the generator's steps hand each other, and what the truth measures: one small
dataclass per step, arrays with one entry per row (or per customer, or per day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np


@dataclass(frozen=True)
class Calendar:
    """The period: whole days from 18 months before `now`'s date up to `now` (today is
    partial), their expected volume, and the days the injected effects fall on."""
    now: datetime
    start_date: date
    end_date: date
    start_epoch: int
    elapsed_today: int             # seconds of today before `now`
    day_weekday: np.ndarray        # per day of the period: 0 = Monday
    day_month: np.ndarray          # per day: 0 = January
    day_weight: np.ndarray         # per day: relative volume
    spike_start: date
    spike_end: date
    spike_days: np.ndarray         # day numbers of the spike week
    improve_date: date
    improve_epoch: int

    @property
    def days(self) -> int:
        return len(self.day_weight)


@dataclass(frozen=True)
class Volumes:
    rows: int
    extra: int                     # rows added at the spike location in the spike week

    @property
    def base(self) -> int:
        return self.rows - self.extra


@dataclass(frozen=True)
class Customers:
    """One entry per customer; the last `volumes.extra` customers write one spike row each."""
    count: int                     # customers behind the ordinary rows
    home: np.ndarray               # location number
    segment: np.ndarray
    first_name: np.ndarray         # index into the corpus's first names
    last_name: np.ndarray
    responses: np.ndarray          # rows each customer writes

    @property
    def total(self) -> int:
        return len(self.home)


@dataclass(frozen=True)
class Responses:
    """One entry per row, in time order (so external ids follow received_at)."""
    customer: np.ndarray
    location: np.ndarray
    segment: np.ndarray
    channel: np.ndarray
    day: np.ndarray                # day number in the period
    timestamp: np.ndarray          # epoch seconds
    weekday: np.ndarray
    month: np.ndarray
    is_extra: np.ndarray           # a spike row
    before_improvement: np.ndarray
    at_improvement: np.ndarray     # at the location that improves

    @property
    def n(self) -> int:
        return len(self.customer)


@dataclass(frozen=True)
class Answers:
    score_type: np.ndarray         # object: a scale name, None where there is no score
    has_score: np.ndarray
    has_comment: np.ndarray
    filler: np.ndarray             # a comment that says nothing ("n/a")


@dataclass(frozen=True)
class Comments:
    text: list[str | None]
    themes: list[list[int]]        # theme numbers each comment mentions, ascending
    sentiment: np.ndarray          # intended sentiment (NEGATIVE, NEUTRAL, POSITIVE)
    primary: np.ndarray            # the theme carrying the sentiment, NO_THEME for none
    sarcastic: np.ndarray


@dataclass(frozen=True)
class People:
    """Per row: who the customer is, as the row records it."""
    customer_id: list[str | None]
    customer_name: list[str]
    customer_email: list[str | None]


@dataclass(frozen=True)
class Sample:
    """Everything drawn for one demo: what the rows are made of and what the truth measures."""
    seed: int
    calendar: Calendar
    volumes: Volumes
    customers: Customers
    responses: Responses
    answers: Answers
    labels: np.ndarray             # rows x themes: the comment mentions the theme
    comments: Comments
    scores: np.ndarray             # NaN where there is no score
    touchpoints: np.ndarray
    people: People
    external_ids: list[str]

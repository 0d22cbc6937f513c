"""Writing one comment: from (themes, sentiment, channel) to text in one of many voices, with
sarcasm, short and long forms, joiners, typos, odd capitals, and each channel's decorations
(handles, hashtags and links on social, branch names on reviews, greetings on email).

Every draw comes from the one `random.Random` the generator hands in, in a fixed order: the
demo's text is reproducible from its seed, so the order of draws here is part of the output.
"""

from __future__ import annotations

import random
import re
import string

from analysis.demo.corpus import Corpus, corpus, slot_names
from analysis.demo.model import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    PRAISE,
    SARCASM_RATE,
    SPIKE_THEME,
    WEEKDAYS,
)

_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")
_URL_CODE_CHARACTERS = string.ascii_letters + string.digits


class CommentWriter:
    """Turns (themes, sentiment) into a comment in one of many voices."""

    def __init__(self, rng: random.Random, loc_names: list[str], words: Corpus | None = None):
        self.rng = rng
        self.words = words or corpus()
        self.loc_names = loc_names
        decorations = self.words.decorations
        tags = [name.replace(" ", "") for name in loc_names]
        self.loc_slugs = [name.lower().replace(" ", "-") for name in loc_names]
        self.loc_handles = [(*decorations.brand_handles,
                             decorations.location_handle.format(tag=tag)) for tag in tags]
        self.loc_hashtags = [(decorations.brand_hashtag, decorations.location_hashtag.format(tag=tag))
                             for tag in tags]

    def _fill(self, template: str, slots: dict) -> str:
        names = self.words.slot_names.get(template)
        if names is None:
            names = slot_names(template)
        if not names:
            return template
        values = {}
        for name in names:
            values[name] = slots[name] if name in slots else self.rng.choice(self.words.slots[name])
        return template.format(**values)

    def _clause(self, theme: int, polarity: int, slots: dict, *, contrast: bool, spike: bool,
                allow_sarcasm: bool) -> tuple[str, bool]:
        rng = self.rng
        group = self.words.templates[theme]
        if theme == PRAISE:
            pool = group["contrast"] if contrast else group["pos"]
            return self._fill(rng.choice(pool), slots), False
        if polarity == NEGATIVE:
            if spike and theme == SPIKE_THEME and rng.random() < 0.6:
                return self._fill(rng.choice(group["spike"]), slots), False
            if allow_sarcasm and rng.random() < SARCASM_RATE:
                return self._fill(rng.choice(group["sarc"]), slots), True
            return self._fill(rng.choice(group["neg"]), slots), False
        pool = group["pos"] if polarity == POSITIVE else group["neu"]
        return self._fill(rng.choice(pool), slots), False

    def comment(self, main: int, themes: list[int], s: int, *, loc: int, wd: int,
                channel: str, spike: bool, first: str) -> tuple[str, bool]:
        """(text, whether it is sarcastic) for a comment whose main theme carries sentiment
        `s`; `first` is the customer's first name, for signing emails."""
        rng = self.rng
        words = self.words
        templates = words.templates[main]
        slots = {"loc": self.loc_names[loc], "day": WEEKDAYS[wd]}
        # The main theme carries the comment's sentiment; others mostly agree, some contrast.
        mentions = [(main, s)]
        for t in themes:
            if t == main:
                continue
            if t == PRAISE:
                mentions.append((t, POSITIVE))
            elif s == NEGATIVE:
                mentions.append((t, NEGATIVE if rng.random() < 0.8 else POSITIVE))
            else:
                mentions.append((t, POSITIVE if rng.random() < 0.85 else NEGATIVE))
        agree = [m for m in mentions if m[1] == s]
        against = [m for m in mentions if m[1] != s]
        sarcastic = False
        style = rng.random()
        short = "short_neg" if s == NEGATIVE else "short_pos"
        if len(mentions) == 1 and style < 0.17 and short in templates and s != NEUTRAL \
                and not (spike and main == SPIKE_THEME):
            body = rng.choice(templates[short])
        else:
            clauses_for = []
            for t, pol in agree:
                text, sarc = self._clause(t, pol, slots, contrast=False, spike=spike,
                                          allow_sarcasm=(t == main and not against))
                sarcastic |= sarc
                clauses_for.append(text)
            clauses_against = [self._clause(t, pol, slots, contrast=(s == NEGATIVE), spike=False,
                                            allow_sarcasm=False)[0] for t, pol in against]
            if style > 0.8:      # long: separate sentences, an opener and a closer
                sentences = []
                # "First time here" next to "usually love it" would contradict itself.
                if rng.random() < 0.6 and not clauses_against:
                    sentences.append(self._fill(rng.choice(words.openers), {
                        **slots, "years": rng.choice(words.slots["years"])}))
                if clauses_against:
                    sentences.append(" and ".join(clauses_against) + ". But " + clauses_for[0])
                else:
                    sentences.append(clauses_for[0])
                for clause in clauses_for[1:]:
                    sentences.append(("Also, " if rng.random() < 0.3 else "") + clause)
                if rng.random() < 0.6:
                    sentences.append(rng.choice(words.closers[s]))
                body = ". ".join(sentences)
            else:
                body = clauses_for[0]
                for clause in clauses_for[1:]:
                    body += rng.choice(words.same_joiners) + clause
                if clauses_against:
                    body = " and ".join(clauses_against) + rng.choice(words.contrast_joiners) + body
        body += rng.choice(words.end_punctuation[s])

        case = rng.random()
        if case < 0.05:
            body = body.lower()
        elif case < 0.065 and s == NEGATIVE:
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
        decorations = self.words.decorations
        name = self.loc_names[loc]
        r = rng.random()
        if channel == "social" and r < 0.75:
            if rng.random() < 0.7:
                body = f"{rng.choice(self.loc_handles[loc])} {body}"
            tags = []
            if rng.random() < 0.5:
                tags.append(rng.choice(self.loc_hashtags[loc]))
            if rng.random() < 0.4:
                tags.append(rng.choice(decorations.negative_hashtags if s == NEGATIVE
                                       else decorations.positive_hashtags))
            if tags:
                body += " " + " ".join(tags)
            if rng.random() < 0.3:
                body += " " + self._url(loc)
        elif channel == "review" and r < 0.35:
            pick = rng.random()
            if pick < 0.4:
                body = rng.choice(decorations.review_prefixes).format(loc=name) + body
            elif pick < 0.7:
                body += decorations.review_suffix.format(loc=name)
            elif pick < 0.85:
                body += " " + self._url(loc)
            else:
                body = f"{rng.choice(decorations.brand_handles)} {body}"
        elif channel == "email" and r < 0.4:
            greeting = rng.choice(decorations.email_greetings)
            signoff = rng.choice(decorations.email_signoffs)
            body = f"{greeting},\n\n{body}\n\n{signoff}, {first}"
        elif channel == "ticket" and r < 0.3:
            body = decorations.ticket_prefix.format(number=rng.randint(10000, 99999)) + body
        elif r > 0.95:
            body = rng.choice(decorations.visit_prefixes).format(loc=name) + body
        return body

    def _url(self, loc: int) -> str:
        rng = self.rng
        code = "".join(rng.choice(_URL_CODE_CHARACTERS) for _ in range(6))
        return rng.choice(self.words.decorations.urls).format(slug=self.loc_slugs[loc], code=code)


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

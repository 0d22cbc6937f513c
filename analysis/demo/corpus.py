"""The demo's words, from corpus.toml beside this module: read once, checked, and indexed the
way the text writer asks for them (templates by theme number, closers by sentiment)."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

from analysis.demo.model import SENTIMENTS, THEMES

CORPUS_FILE = "corpus.toml"
ROW_SLOTS = ("loc", "day")
"""Slots filled from the row itself (its location and weekday), not drawn from [slots]."""

Words = tuple[str, ...]


@dataclass(frozen=True)
class Decorations:
    """How each channel's comments look around the body: handles, hashtags, links, greetings."""
    brand: str
    brand_handles: Words
    location_handle: str
    brand_hashtag: str
    location_hashtag: str
    negative_hashtags: Words
    positive_hashtags: Words
    url_domains: Words
    urls: Words
    review_prefixes: Words
    review_suffix: str
    email_greetings: Words
    email_signoffs: Words
    ticket_prefix: str
    visit_prefixes: Words


@dataclass(frozen=True)
class Corpus:
    templates: tuple[dict[str, Words], ...]
    """Per theme number (model.THEMES order): template group ("neg", "sarc", ...) -> clauses."""
    slots: dict[str, Words]
    fillers: Words
    openers: Words
    same_joiners: Words
    contrast_joiners: Words
    closers: tuple[Words, ...]
    """Per sentiment number (model.SENTIMENTS order)."""
    end_punctuation: tuple[Words, ...]
    decorations: Decorations
    first_names: Words
    last_names: Words
    personal_domains: Words
    business_domains: Words
    slot_names: dict[str, Words]
    """Template -> the slots it names, in order: parsed once here, not once per comment."""


def slot_names(template: str) -> Words:
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


@cache
def corpus() -> Corpus:
    """The corpus shipped in this package (parsed on first use, then shared)."""
    text = resources.files(__package__).joinpath(CORPUS_FILE).read_text(encoding="utf-8")
    return parse_corpus(tomllib.loads(text))


def parse_corpus(raw: dict) -> Corpus:
    """A Corpus from corpus.toml's tables; a clear ValueError names what does not fit."""
    comments, people = raw["comments"], raw["people"]
    templates = raw["templates"]
    if set(templates) != set(THEMES):
        raise ValueError(f"{CORPUS_FILE}: [templates] must hold one table per theme "
                         f"{THEMES}, found {list(templates)}")
    for table in ("closers", "end_punctuation"):
        if set(comments[table]) != set(SENTIMENTS):
            raise ValueError(f"{CORPUS_FILE}: [comments.{table}] must hold one list per "
                             f"sentiment {SENTIMENTS}, found {list(comments[table])}")
    names = {f.name for f in fields(Decorations)}
    if set(raw["decorations"]) != names:
        raise ValueError(f"{CORPUS_FILE}: [decorations] must hold exactly {sorted(names)}, "
                         f"found {sorted(raw['decorations'])}")
    every_template = [template for groups in templates.values()
                      for clauses in groups.values() for template in clauses]
    every_template += comments["openers"]
    result = Corpus(
        templates=tuple({group: tuple(clauses) for group, clauses in templates[name].items()}
                        for name in THEMES),
        slots={name: tuple(values) for name, values in raw["slots"].items()},
        fillers=tuple(comments["fillers"]),
        openers=tuple(comments["openers"]),
        same_joiners=tuple(comments["same_joiners"]),
        contrast_joiners=tuple(comments["contrast_joiners"]),
        closers=tuple(tuple(comments["closers"][s]) for s in SENTIMENTS),
        end_punctuation=tuple(tuple(comments["end_punctuation"][s]) for s in SENTIMENTS),
        decorations=Decorations(**{key: value if isinstance(value, str) else tuple(value)
                                   for key, value in raw["decorations"].items()}),
        first_names=tuple(people["first_names"]),
        last_names=tuple(people["last_names"]),
        personal_domains=tuple(people["personal_domains"]),
        business_domains=tuple(people["business_domains"]),
        slot_names={template: slot_names(template) for template in every_template},
    )
    unknown = {(template, name) for template, names in result.slot_names.items()
               for name in names if name not in result.slots and name not in ROW_SLOTS}
    if unknown:
        raise ValueError(f"{CORPUS_FILE}: templates name slots that [slots] does not fill: "
                         + "; ".join(f"{{{name}}} in {template!r}"
                                     for template, name in sorted(unknown)))
    return result

"""Readable theme names: `phrase_names`, a short phrase from each theme's own comments
("Refund still missing", "Prices have gone up"), and `auto_name`, the keyword name it falls
back to ("wait / queue / minutes"), which stays as the theme's keyword detail."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

K = TypeVar("K", bound=Hashable)


def _crude_stem(word: str) -> str:
    """Enough to see "queue queued" or "wait waiting" as one word twice; not a real stemmer."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def auto_name(keywords: Sequence[str], *, n: int = 3) -> str:
    """A readable name from top keywords, e.g. "wait / queue / minutes": a keyword whose words
    are all already shown is skipped ("wait time" after "wait" and "time"), and so is a
    bigram that says one word twice ("slow slow", "queue queued": c-TF-IDF picks these up
    from "slow, slow service" and reads nothing into them)."""
    chosen: list[str] = []
    seen: set[str] = set()
    for keyword in keywords:
        words = keyword.split()
        tokens = set(words)
        if not tokens or tokens <= seen or len({_crude_stem(w) for w in words}) < len(words):
            continue
        chosen.append(keyword)
        seen |= tokens
        if len(chosen) == n:
            break
    return " / ".join(chosen) if chosen else "misc"


# Phrase names ---------------------------------------------------------------------------

_NEGATIONS = frozenset({"no", "not", "never", "nobody", "nothing", "cannot"})
# Particles end a phrase where they complete its verb ("prices have gone up", "website
# keeps timing out", "rip off"), which `_Corpus` tells from how the verb is followed.
_PARTICLES = frozenset({"up", "out", "in", "off", "down", "on", "over", "away", "back"})
# sklearn's list is made for search and holds words that name complaints ("wrong bill",
# "interest rate", "payoff amount", "top notch", "five stars"): these may start or end one.
_CONTENT = frozenset({
    "amount", "bill", "call", "detail", "empty", "fire", "front", "full", "interest", "name",
    "serious", "system", "thick", "thin", "top", "two", "three", "four", "five", "six",
    "eight", "nine", "ten", "eleven", "twelve", "fifteen", "twenty", "forty", "fifty",
    "sixty", "hundred"})
# Chat filler and greetings missing from that list, which leave a phrase mid-thought
# ("really slow", "got charged", "not let") or name nothing ("Hi team", "Thanks").
_FILLER = frozenset({"really", "just", "also", "still", "even", "got", "get", "gets", "went",
                     "like", "did", "let", "pretty", "quite", "bit", "lot",
                     "thanks", "thank", "cheers", "regards", "hi", "hey"})
_EDGE_STOP = (frozenset(ENGLISH_STOP_WORDS) - _CONTENT) | _FILLER
_TOKEN = re.compile(r"[\w'-]+|[^\w\s]")
_LETTERS = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")

LIFT_CAP = math.log(20)
"""Being more than 20x as common as elsewhere earns a phrase nothing more."""
FRAGMENT = 0.3
"""What a phrase that hangs or is the tail of a longer one keeps of its score."""
COVERAGE_POWER = 0.75
"""Coverage counts with diminishing returns (see `phrase_names`)."""
TOPICAL_FLOOR = 0.2
"""What a phrase without one topical word keeps of its score."""
TOPICAL_CAP = 1.5
"""Topical weight beyond one and a half top words earns nothing more."""
COMMENT_CHARS = 1000
"""Read of each comment: its first 1,000 characters (about 170 words). All of nearly any
feedback comment; of a long complaint the opening, which says what it is about, while its
story only adds time (50 x 500 CFPB complaints: about 6 s uncut, 3.5 s cut). Uncut, 14
of the 15 CFPB issue names stay the same (the 15th: "Rescinded the Revocation" for
"Confirm that they received", both from one pasted letter)."""
CANDIDATES = 40
"""Ranked phrases kept per group: its next best ones, when a stronger claim takes one."""


def _sample(comments: Sequence[str], k: int) -> list[str]:
    # Evenly spaced rather than the first k: a parent's comments come child after child,
    # and its first k would all be one child's.
    n = len(comments)
    if n <= k:
        return list(comments)
    return [comments[(i * n) // k] for i in range(k)]


def _may_end(word: str) -> bool:
    return word not in _EDGE_STOP and "'" not in word and len(word) > 1


def _may_start(word: str) -> bool:
    return _may_end(word) or word in _NEGATIONS or word.endswith("n't")


def _claim(phrase: str) -> tuple[str, ...]:
    # "Slow service" and "service was slow" would read as one name on two themes.
    return tuple(sorted({_crude_stem(w) for w in phrase.split() if _may_end(w)}))


def _shifted(mask: np.ndarray, by: int) -> np.ndarray:
    """mask[i - by] at i (False where that is outside)."""
    out = np.zeros_like(mask)
    if by > 0:
        out[by:] = mask[:-by]
    else:
        out[:by] = mask[-by:]
    return out


class _Vocabulary(dict):
    """Token as written -> token id, each distinct token classified once, so that the cost
    per token is one dict lookup. Token id 0 is the break (punctuation, numbers, words
    with a digit or '_', the end of a comment): no phrase spans one."""

    def __init__(self):
        super().__init__()
        self.written = [""]  # per token id: the word as written, edge quotes/dashes stripped
        self.word = [-1]     # per token id: its lower-case word's id, -1 for a break
        self.title = [False]
        self.number = [False]  # per token id: a break holding a digit ("20", "2x")
        self.word_ids: dict[str, int] = {}
        self.words: list[str] = []
        self["\n"] = 0

    def __missing__(self, token: str) -> int:
        index = len(self.written)
        self[token] = index
        word = token.strip("'-")
        if word and _LETTERS.fullmatch(word):
            low = word.lower()
            if low not in self.word_ids:
                self.word_ids[low] = len(self.words)
                self.words.append(low)
            self.word.append(self.word_ids[low])
            self.title.append(word[0].isupper() and not word.isupper())
            self.number.append(False)
        else:
            self.word.append(-1)
            self.title.append(False)
            self.number.append(any(ch.isdigit() for ch in token))
        self.written.append(word)
        return index


@dataclass
class _Counts:
    """The n-grams of one length n, over all groups."""

    n: int
    first: np.ndarray  # per n-gram: the token position of one occurrence
    total: np.ndarray  # per n-gram: comments holding it, all groups together
    gram: np.ndarray   # per (n-gram, group) cell: the n-gram,
    group: np.ndarray  # the group,
    count: np.ndarray  # and how many of the group's comments hold it
    hangs: np.ndarray  # per n-gram: a complement follows it in 60% of the comments
    # Set by _Corpus._index:
    leader: np.ndarray = None     # per n-gram: the group where it is most common ...
    runner_up: np.ndarray = None  # ... and the next one (-1: none)
    by_group: np.ndarray = None   # cells ordered by group ...
    bounds: np.ndarray = None     # ... each group's slice of them
    cell_key: np.ndarray = None   # per cell: n-gram x groups + group


def _count(words: np.ndarray, doc: np.ndarray, doc_group: np.ndarray, n_groups: int,
           usable: np.ndarray, may_start: np.ndarray, end_ok: np.ndarray,
           followed: np.ndarray, max_n: int) -> list[_Counts | None]:
    """How many comments of each group hold each n-gram (n <= max_n), in numpy: an n-gram
    is an integer, its (n-1)-gram's id x vocabulary + its last word, so no string is made
    for the millions of them; one stable sort per n puts each n-gram's occurrences
    together in comment order (comments are laid out group after group), so counting
    comments and groups is comparing neighbours."""
    size, n_words = len(words), int(words.max(initial=0)) + 1
    safe = np.maximum(words, 0)
    span = usable.astype(np.int64)  # usable words in a row from each position, to max_n
    for step in range(1, max_n):
        span += (span == step) & _shifted(usable, -step)
    start_ok = usable & may_start[safe]
    found: list[_Counts | None] = []
    prefix = np.zeros(size, dtype=np.int64)  # per position: id of the (n-1)-gram there
    for n in range(1, max_n + 1):
        at = np.flatnonzero(start_ok & (span >= n))
        if not len(at):
            break
        last = safe[at + n - 1]
        key = prefix[at] * n_words + last
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        new = np.empty(len(at), dtype=bool)
        new[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
        ids = np.cumsum(new) - 1
        at = at[order]
        prefix[at] = ids
        keep = end_ok[at + n - 1]  # counted: those that may end where they do
        pos, gram = at[keep], ids[keep]
        if not len(pos):
            found.append(None)
            continue
        d = doc[pos]
        once = np.empty(len(pos), dtype=bool)  # once per comment: "slow, so slow" is one
        once[0] = True
        once[1:] = (gram[1:] != gram[:-1]) | (d[1:] != d[:-1])
        gram, pos, grp = gram[once], pos[once], doc_group[d[once]]
        cell = np.empty(len(gram), dtype=bool)
        cell[0] = True
        cell[1:] = (gram[1:] != gram[:-1]) | (grp[1:] != grp[:-1])
        starts = np.flatnonzero(cell)
        n_ids = int(ids[-1]) + 1
        first = np.zeros(n_ids, dtype=np.int64)
        first[gram[starts]] = pos[starts]
        hanging = np.bincount(gram, weights=followed[pos + n - 1], minlength=n_ids)
        total = np.bincount(gram, minlength=n_ids)
        found.append(_Counts(n, first, total, gram[starts], grp[starts],
                             np.diff(np.append(starts, len(gram))),
                             hanging >= 0.6 * np.maximum(total, 1)))
    return found


class _Corpus:
    """Every group's sampled comments as one array of tokens, and their n-gram counts."""

    def __init__(self, texts: list[list[str]], names: set[str], max_n: int):
        vocabulary = _Vocabulary()
        lookup = vocabulary.__getitem__
        tokens: list[int] = []
        lengths: list[int] = []
        doc_group: list[int] = []
        self.spans: list[tuple[int, int]] = []
        for g, comments in enumerate(texts):
            start = len(tokens)
            for text in comments:
                if len(text) > COMMENT_CHARS:  # cut at a space: no half word
                    text = text[:COMMENT_CHARS].rsplit(None, 1)[0]
                before = len(tokens)
                tokens.extend(map(lookup, _TOKEN.findall(text)))
                tokens.append(0)
                lengths.append(len(tokens) - before)
                doc_group.append(g)
            self.spans.append((start, len(tokens)))
        self.vocabulary = vocabulary
        self.n_docs = np.asarray([len(c) for c in texts], dtype=np.int64)
        self.n_all = int(self.n_docs.sum())
        self.n_groups = len(texts)
        self.token = np.asarray(tokens, dtype=np.int64)
        self.words = np.asarray(vocabulary.word, dtype=np.int64)[self.token]
        self.word_list = vocabulary.words
        n_vocab = len(self.word_list)
        banned = np.zeros(n_vocab, dtype=bool)
        for word in names:
            if word in vocabulary.word_ids:
                banned[vocabulary.word_ids[word]] = True
        is_word = self.words >= 0
        safe = np.maximum(self.words, 0)
        # Proper names. Brand, company and law names ("Copper Kettle", "Explore Credit",
        # "Equal Credit Opportunity Act") are frequent in one group and rare elsewhere, so
        # they would win, and a theme named after a company is the defect the cleaner's
        # name list is there to prevent. Banned: words written Title-case more often than
        # not where no sentence or clause starts; two or more Title-case words in a row
        # there; and Title-case words next to either (a name starting a sentence).
        inside = is_word & _shifted(is_word, 1)
        title = np.asarray(vocabulary.title, dtype=bool)[self.token]
        n_title = np.bincount(self.words[title & inside], minlength=n_vocab)
        n_inside = np.bincount(self.words[inside], minlength=n_vocab)
        banned |= (n_title >= 2) & (2 * n_title > n_inside)
        in_name = title & inside
        off = banned[safe] & is_word | in_name & (_shifted(in_name, 1) | _shifted(in_name, -1))
        for _ in range(3):  # "Equal" before "Credit Opportunity Act"
            off |= title & (_shifted(off, 1) | _shifted(off, -1))
        self.usable = is_word & ~off
        may_end = np.fromiter((_may_end(w) for w in self.word_list), dtype=bool, count=n_vocab)
        may_start = np.fromiter((_may_start(w) for w in self.word_list), dtype=bool,
                                count=n_vocab)
        end_ok = self.usable & may_end[safe]
        followed = self._contexts(safe, may_end, end_ok)
        self.stems: dict[str, int] = {}
        self.stem_of = np.fromiter(
            (self.stems.setdefault(_crude_stem(w), len(self.stems)) for w in self.word_list),
            dtype=np.int64, count=n_vocab)
        self.counts: list[_Counts | None] = []
        if self.usable.any():
            doc = np.repeat(np.arange(len(lengths)), lengths)
            self.counts = _count(self.words, doc, np.asarray(doc_group, dtype=np.int64),
                                 self.n_groups, self.usable, may_start, end_ok, followed,
                                 max_n)
        for c in self.counts:
            if c is not None:
                self._index(c)
        # Comments that say one content word on its own, between punctuation marks
        # ("Amazing.", "Went in this morning. Love it!", "Overpriced for what you get"),
        # per (group, word): see `rank`. Negations and greetings count as words: "nothing
        # to add" and "hi team" do not say "add" or "team" alone.
        self.alone_key = self.alone_count = np.zeros(0, dtype=np.int64)  # (group, word)
        said = np.fromiter((w not in ENGLISH_STOP_WORDS or w in _CONTENT or w in _NEGATIONS
                            for w in self.word_list), dtype=bool, count=n_vocab)
        said &= np.fromiter(("'" not in w or w.endswith("n't") for w in self.word_list),
                            dtype=bool, count=n_vocab)  # "it's amazing" says "amazing"
        at = np.flatnonzero(self.usable & said[safe])
        if len(at):
            run = np.cumsum(self.words < 0)[at]  # runs of words end at every break
            pair = np.unique(run * n_vocab + self.words[at])
            pair_run = pair // n_vocab
            single = (np.bincount(pair_run)[pair_run] == 1) & may_end[pair % n_vocab]
            doc = np.repeat(np.arange(len(lengths)), lengths)
            first = np.flatnonzero(np.diff(np.append(-1, run)))  # a position in each run
            run_doc = np.zeros(int(run.max()) + 1, dtype=np.int64)
            run_doc[run[first]] = doc[at[first]]
            said = np.unique(run_doc[pair_run[single]] * n_vocab + pair[single] % n_vocab)
            self.alone_key, self.alone_count = np.unique(
                np.asarray(doc_group)[said // n_vocab] * n_vocab + said % n_vocab,
                return_counts=True)

    def _contexts(self, safe: np.ndarray, may_end: np.ndarray,
                  end_ok: np.ndarray) -> np.ndarray:
        """What surrounds words: sets `fragment_start`, lets particles end a phrase (in
        `end_ok`), and returns per position whether a complement follows (see `_Counts`).

        A phrase that a complement follows in 60% or more of its uses (a number, a
        particle or "to", a content word) hangs: "door and it took" (20 minutes),
        "clearly didn't want" (to be there), "latest price" (hike), "prices have gone"
        (up). A phrase whose first word one content word precedes that often is the tail
        of a longer one: "notch all round" (top), "hello or even looked" (said). Either
        keeps `FRAGMENT` of its score. A particle that follows a word in 30% or more of
        its uses completes it, so it may end a phrase ("timing out", "gone up", "rip
        off"), unless a noun follows it ("best spot in" town)."""
        n_vocab = len(self.word_list)
        words, usable = self.words, self.usable
        ids = self.vocabulary.word_ids
        number = np.asarray(self.vocabulary.number, dtype=bool)[self.token]
        particle = np.zeros(n_vocab, dtype=bool)
        particle[[ids[w] for w in _PARTICLES if w in ids]] = True
        complement = may_end | particle
        if "to" in ids:
            complement[ids["to"]] = True
        uses = np.bincount(words[usable], minlength=n_vocab)
        prev_word, prev_usable = _shifted(safe, 1), _shifted(usable, 1)

        # Per word: its most common content-word predecessor's share of its uses.
        at = np.flatnonzero(usable & prev_usable & may_end[prev_word])
        pair, count = np.unique(words[at] * n_vocab + prev_word[at], return_counts=True)
        top = np.zeros(n_vocab)
        np.maximum.at(top, pair // n_vocab, count)
        self.fragment_start = (uses >= 3) & (top >= 0.6 * uses)

        # Particles: share of the preceding word's uses that this particle follows.
        at = np.flatnonzero(usable & particle[safe] & prev_usable)
        pair, inverse, count = np.unique(prev_word[at] * n_vocab + safe[at],
                                         return_inverse=True, return_counts=True)
        completes = (count >= 0.3 * np.maximum(uses[pair // n_vocab], 3))[inverse]
        next_word = _shifted(safe, -1)
        next_is_word = _shifted(words >= 0, -1)  # a name too: "spot in" (Old) Town
        at = at[completes]
        end_ok[at[~(next_is_word[at] & may_end[next_word[at]])]] = True
        return _shifted(number, -1) | next_is_word & complement[next_word]

    def _index(self, c: _Counts) -> None:
        c.by_group = np.argsort(c.group, kind="stable")
        c.bounds = np.searchsorted(c.group[c.by_group], np.arange(self.n_groups + 1))
        c.cell_key = c.gram * self.n_groups + c.group  # ascending: cells come sorted
        rate = c.count / self.n_docs[c.group]
        order = np.lexsort((c.group, -rate, c.gram))  # per n-gram, most common group first
        gram, group = c.gram[order], c.group[order]
        head = np.ones(len(gram), dtype=bool)
        head[1:] = gram[1:] != gram[:-1]
        c.leader = np.full(len(c.total), -1, dtype=np.int64)
        c.runner_up = np.full(len(c.total), -1, dtype=np.int64)
        c.leader[gram[head]] = group[head]
        second = np.flatnonzero(~head & _shifted(head, 1))
        c.runner_up[gram[second]] = group[second]

    def _cells(self, c: _Counts | None, g: int, plain: bool = False):
        """(n-gram, count, rate, lift) of the n-grams group g holds; `plain`: lift 1."""
        if c is None:
            return None
        rows = c.by_group[c.bounds[g]:c.bounds[g + 1]]
        gram, count = c.gram[rows], c.count[rows]
        n_group = self.n_docs[g]
        rate = count / n_group
        rest_count = c.total[gram] - count
        rest_docs = np.full(len(gram), self.n_all - n_group, dtype=np.int64)
        if self.n_groups >= 3:
            # Against the other groups but the one where the phrase is most common: one
            # theme split in two must not make its subject look ordinary to both halves.
            rival = np.where(c.leader[gram] == g, c.runner_up[gram], c.leader[gram])
            rival_docs = np.where(rival >= 0, self.n_docs[np.maximum(rival, 0)], 0)
            has = (rival >= 0) & (rest_docs > rival_docs)
            if has.any():
                where = np.searchsorted(c.cell_key, gram[has] * self.n_groups + rival[has])
                rest_count[has] -= c.count[where]
                rest_docs[has] -= rival_docs[has]
        background = (rest_count + 0.5) / (rest_docs + 1)
        lift = np.minimum(np.log(rate / background), LIFT_CAP)
        # One group alone (or with empty others) has nothing to stand out from: neutral.
        return gram, count, rate, np.where((rest_docs > 0) & ~plain, lift, 1.0)

    def rank(self, g: int, keywords: Sequence[str], min_words: int,
             plain: bool = False) -> list[tuple[float, str]]:
        """The group's best phrases, (score, phrase) best first (see `phrase_names`);
        `plain`: by coverage and topicality alone, for a group that says nothing the
        others do not say as often (a copy of another)."""
        if self.n_docs[g] == 0 or not self.counts:
            return []
        # How topical each word (stem) is: its own coverage x lift, relative to the
        # group's top word; the caller's keywords are as topical as their rank says.
        topical = np.zeros(len(self.stems))
        unigrams = self._cells(self.counts[0], g, plain)
        if unigrams is not None:
            gram, count, rate, lift = unigrams
            keep = (count >= 2) & (lift > 0)
            value = rate[keep] * lift[keep]
            if len(value):
                stems = self.stem_of[self.words[self.counts[0].first[gram[keep]]]]
                np.maximum.at(topical, stems, value / value.max())
        for rank, keyword in enumerate(list(keywords)[:5]):
            for word in str(keyword).lower().split():
                stem = self.stems.get(_crude_stem(word))
                if stem is not None:
                    topical[stem] = max(topical[stem], 1.0 / (1 + 0.5 * rank))

        n_group = int(self.n_docs[g])
        min_count = 2 if n_group < 20 else max(3, math.ceil(0.01 * n_group))
        scores, where = [], []
        for c in self.counts:
            found = self._cells(c, g, plain)
            if found is None:
                continue
            gram, count, rate, lift = found
            if 1 < c.n < min_words:
                continue
            if c.n < min_words:
                # A single word names a group only as what its comments say alone: the
                # share of comments saying it and no other word replaces its coverage.
                # "Perfect" for a cluster of "perfect." (it holds 68% of them, the best
                # phrase "payment went through smoothly" 6%), never "Minutes" for the
                # wait-time comments that mention minutes (29%) in sentences.
                count = np.zeros(len(gram), dtype=np.int64)
                if len(self.alone_key):
                    key = g * len(self.word_list) + self.words[c.first[gram]]
                    slot = np.minimum(np.searchsorted(self.alone_key, key),
                                      len(self.alone_key) - 1)
                    hit = self.alone_key[slot] == key
                    count[hit] = self.alone_count[slot[hit]]
                rate = count / n_group
            keep = (count >= min_count) & (lift > 0)
            if not keep.any():
                continue
            at, rate, lift, count = c.first[gram[keep]], rate[keep], lift[keep], count[keep]
            stem = np.stack([self.stem_of[self.words[at + j]] for j in range(c.n)], axis=1)
            weight = np.zeros(len(at))
            repeated = np.zeros(len(at), dtype=bool)
            for j in range(c.n):
                fresh = np.all(stem[:, :j] != stem[:, j:j + 1], axis=1)
                weight += np.where(fresh, topical[stem[:, j]], 0.0)
                repeated |= ~fresh
            score = (rate ** COVERAGE_POWER * lift
                     * (TOPICAL_FLOOR + np.minimum(weight, TOPICAL_CAP)))
            hanging = c.hangs[gram[keep]] | self.fragment_start[self.words[at]]
            score = np.where(hanging, score * FRAGMENT, score)
            # A phrase saying one word twice ("slow slow", "queue queued") reads as noise.
            scores.append(np.where(repeated, -1.0, score))
            where.append((c.n, at, count))
        if not scores:
            return []
        every = np.concatenate(scores)
        pool = 4 * CANDIDATES
        cut = np.sort(every)[-pool] if len(every) > pool else -np.inf
        found: dict[str, tuple[float, int]] = {}
        for score, (n, at, count) in zip(scores, where):
            for i in np.flatnonzero((score >= cut) & (score > 0)):  # ties at the cut stay
                text = " ".join(self.word_list[w] for w in self.words[at[i]:at[i] + n])
                found[text] = (float(score[i]), int(count[i]))
        # A phrase said almost only inside a longer one is that one cut short: "card
        # declined" (45 of 60 comments) inside "card declined at checkout" (45). The
        # longer takes its place, with the better of the two scores.
        for text, (score, count) in sorted(found.items(), key=lambda t: -len(t[0])):
            if text not in found:
                continue
            parts = text.split()
            for size in range(len(parts) - 1, 1, -1):
                for start in range(len(parts) - size + 1):
                    inner = " ".join(parts[start:start + size])
                    if inner in found and count >= 0.9 * found[inner][1]:
                        score = max(score, found.pop(inner)[0])
            found[text] = (score, count)
        ranked = sorted(((score, text) for text, (score, _) in found.items()),
                        key=lambda t: (-t[0], t[1]))
        return ranked[:CANDIDATES]

    def surface(self, g: int, phrase: str) -> str:
        """The phrase as the group's comments most often write it, first letter capital."""
        start, stop = self.spans[g]
        ids = [self.vocabulary.word_ids[w] for w in phrase.split()]
        n, words, usable = len(ids), self.words[start:stop], self.usable[start:stop]
        length = max(len(words) - n + 1, 0)
        hit = np.ones(length, dtype=bool)
        for j, w in enumerate(ids):
            hit &= (words[j:j + length] == w) & usable[j:j + length]
        forms: Counter = Counter()
        for at in np.flatnonzero(hit)[:1000] + start:
            form = " ".join(self.vocabulary.written[t] for t in self.token[at:at + n])
            forms[form[:1].upper() + form[1:]] += 1
        # Shouting is not how a phrase is written: all capitals only if nothing else.
        calm = {f: c for f, c in forms.items() if not f.isupper()} or forms
        if not calm:
            return phrase[:1].upper() + phrase[1:]
        return min(calm, key=lambda f: (-calm[f], f))


def phrase_names(groups: Mapping[K, Sequence[str]],
                 keywords: Mapping[K, Sequence[str]] | None = None, *,
                 stop_words: Iterable[str] = (), max_words: int = 4, min_words: int = 2,
                 per_group: int = 500, taken: Iterable[str] = ()) -> dict[K, str]:
    """A short name per group, a phrase taken from the group's own comments.

    `groups`: each theme's comments, cleaned (`analysis.text.cleaning`), most typical first;
    at most `per_group` of them are read, evenly spaced (a parent's union of its children
    stays a mix of them). `keywords`: the theme model's keywords per group, best first, if
    any. `stop_words`: customer and location names; no name ever holds one of their words.
    `taken`: names already in use elsewhere (e.g. the child themes' when naming parents),
    which no name here repeats. Returns, for every key of `groups`, a name like
    "Refund still missing", "Minutes to get served", "Prices have gone up": `min_words`
    (2) to `max_words` (at most 4) words as most comments write them, first letter
    capitalised; letters only, no digits, never starting or ending with a stop word (a
    negation may start: "Nobody said hello"; a particle that completes its verb may end:
    "Rip off"); a single word only where comments say just that ("Overpriced"). Distinct
    across groups; deterministic; pure.

    Each phrase of 1-4 words is scored for each group as

        coverage ** 0.75 * min(log lift, log 20) * (0.2 + min(topical, 1.5))

    where coverage is the share of the group's comments that hold it (once per comment),
    lift is that over its share of the other groups' comments, and topical sums over its
    distinct words how characteristic each is of the group (a word's own coverage x lift,
    relative to the group's best word; a keyword of rank r counts 1 / (1 + r / 2)). Why, on
    the 5,000-row demo (truth themes, and the 85 themes of a real tiny-pipeline fit) and
    on the CFPB complaints sample grouped by Issue:

    - coverage x lift (as c-TF-IDF): what the group says and others do not. The demo's
      openers and sign-offs ("Went in this morning", "Will definitely be back") are in
      every theme, their lift is about 1 and they never win.
    - lift capped at 20x: beyond that, more exclusivity is noise. Uncapped, a phrase 2 of
      38 CFPB complaints pasted from one letter ("knowingly with willful intent") beat the
      group's subject because it is nowhere else.
    - lift leaves out the one other group where the phrase is most common: a theme the
      model split in two would otherwise find its subject ordinary. Demo "billing" split
      at random: its second half was "Account with no explanation", now "Card was
      charged"; CFPB "Getting the loan": "Applied for a loan", now "Loan application".
    - topical words: a phrase made of the theme's words beats a template made of
      incidental ones. Without them the demo's "staff friendliness" was "Way to help",
      "product quality" "Slice of cake", "onboarding" "Signing up"; with them "Staff were
      so friendly", "Consistently good quality", "Setup process". The keywords weigh in
      here: a phrase covering them scores higher.
    - coverage ** 0.75: coverage counts with diminishing returns, so topicality can tell
      apart phrases of similar frequency. At power 1, half of the demo's "wait time" is
      "Expected at lunchtime" (from "waited a bit but that's expected at lunchtime"), at
      0.75 "Twenty five minutes"; the whole theme "Service was painfully slow".
    - a phrase that a complement (a number, a particle, "to", a content word) follows in
      60% of its uses hangs ("Door and it took" 20 minutes, "Latest price" hike), and one
      whose first word a single content word precedes in 60% of its uses is a tail ("Notch
      all round" after top): either keeps 0.3 of its score.
    - proper names are out: words written Title-case more often than not inside a
      sentence, runs of Title-case words, and Title-case words next to those. Brand,
      company and law names ("Copper Kettle stores", "Explore Credit", "Equal Credit
      Opportunity Act") are frequent in one group and nowhere else, so they won.
    - a phrase needs 3 comments and 1% of the group (2 under 20 comments).
    - one word names a group only as comments say it alone between punctuation marks
      ("Amazing.", "Love it!"); that share then stands for its coverage. A fit's cluster
      of "perfect." comments is "Perfect" (68% say it), not "Payment went through
      smoothly" (6%); demo "wait time" is never "Minutes" (29% say it, in sentences).

    Names are handed out strongest score first; a group whose phrase went to a stronger
    claim takes its next best (phrases with the same words, "slow service" and "service
    was slow", count as one). A group with no phrase left gets its best one with its most
    distinctive other word ("Slow service (kitchen)"), then `auto_name(keywords)`, then
    "Misc" (with "(b)", "(c)" if even those repeat). A group that says nothing the others
    do not say as often (a copy of another) is ranked by coverage and topicality alone.

    Parents (the union of their children's comments, named in their own call): a broad
    group's long phrases are each one child's and lose on coverage, so what its children
    share wins without a rule of its own (`max_words=3` makes it firmer: CFPB issues
    grouped in five parents gave "Make a payment", "Credit report", "Loan application",
    "Interest rate", "Title loan"). Its best phrase is often its largest child's name;
    `taken` can forbid the children's names, at the cost of weaker second choices.

    Cost (CPU): 50 groups x 500 demo comments (7 words each) about 0.2 s; each comment is
    read to 1,000 characters, so 50 x 500 CFPB complaints (200 words each) about 3.5 s.
    """
    keys = list(groups)
    keywords = keywords or {}
    if not keys:
        return {}
    max_words = max(1, min(int(max_words), 4))
    min_words = max(1, min(int(min_words), max_words))
    per_group = max(1, int(per_group))
    names_words = {w.lower() for name in stop_words if name
                   for w in _LETTERS.findall(str(name).replace("\u2019", "'"))}
    texts = [[str(c).replace("\u2019", "'") for c in _sample(list(groups[key]), per_group) if c]
             for key in keys]
    corpus = _Corpus(texts, names_words, max_words)
    ranked = [corpus.rank(g, list(keywords.get(key) or ()), min_words)
              or corpus.rank(g, list(keywords.get(key) or ()), min_words, plain=True)
              for g, key in enumerate(keys)]

    # Strongest claims first: a phrase two groups want goes to the one it scores higher
    # for, and the other takes its next best.
    names: dict[int, str] = {}
    taken = [str(t) for t in taken if t]
    claimed = {_claim(" ".join(_LETTERS.findall(t.lower()))) for t in taken}
    for _, g, phrase in sorted((-score, g, phrase) for g, found in enumerate(ranked)
                               for score, phrase in found):
        claim = _claim(phrase)
        if g in names or claim in claimed:
            continue
        name = corpus.surface(g, phrase)
        # Written Title Case Throughout by most who use it: a name (a law's, a company's)
        # that slipped past the proper-name rules, not a subject.
        if " " in name and all(w[:1].isupper() for w in name.split()[1:]):
            continue
        names[g] = name
        claimed.add(claim)
    used = {name.casefold() for name in [*names.values(), *taken]}
    for g, key in enumerate(keys):
        if g in names:
            continue
        name = None
        if ranked[g]:
            # Every phrase it had went to a stronger claim: its best one, told apart by
            # its most distinctive word not already in it.
            best = ranked[g][0][1]
            extra = next((w for _, w in corpus.rank(g, (), 1)
                          if " " not in w and w not in best.split()), None)
            if extra is not None:
                name = f"{corpus.surface(g, best)} ({extra})"
        if name is None or name.casefold() in used:
            fallback = auto_name(list(keywords.get(key) or ()))
            name = fallback if fallback != "misc" else "Misc"
        base, letter = name, ord("a")
        while name.casefold() in used:  # groups with nothing at all to tell them apart
            letter += 1
            name = f"{base} ({chr(letter)})"
        names[g] = name
        used.add(name.casefold())
    return {key: names[g] for g, key in enumerate(keys)}

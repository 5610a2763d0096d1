"""Finding the words of a small closed list (month names, nationalities) in a text.

A list gives, per language, the forms of each entry in a compact notation, folded (see
`script.fold`) when the list is read:

    word      the word itself ("samedi")
    stem*     the stem and an ending of at most three letters ("syrien*": syrienne, syriens);
              in Arabic one of the usual endings of a nisba or plural ("روس*": روسي، روسية، روسيين)
    a_b, a-b  two words in a row, joined by a space, a hyphen or a full stop ("segunda-feira",
              "Estados_Unidos", "EE_UU"); each may be a stem. The list writes the usual spelling:
              "_" for a space, "-" for a hyphen
    ?word     a weak form: another word is spelt the same ("May", "mars" the verb in Arabic), so
              the form counts only next to a digit or after a marker word ("in May", "يوم الاثنين")
    ^Word     a form that counts only capitalised: in lower case it is another word ("França" but
              "uma conversa franca", "Suède" but "en suède")

An Arabic word is also read without the clitics it may start with (و ب ل ف ال...). In Chinese
(and other scripts written without spaces) a form is a run of characters, matched longest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from service.checks.script import UNSPACED_SCRIPTS, Script, Token, fold, language_script, tokens
from service.checks.transliterate import arabic_readings

MAX_ENDING = 3
_ARABIC_ENDINGS = frozenset({"", "ا", "ي", "ه", "يا", "يه", "ين", "ون", "ان", "يين", "يون", "ييه"})
# What may stand between the words of a two-word form: up to two of these characters.
_JOIN_CHARS = frozenset(" -.\u00a0\u202f\u2011–")
# What may stand between the start of a sentence and its first word.
_OPENERS = " \t\n\u00a0\"'“”‘’«»„‚‹›([{—–-"
_SENTENCE_ENDS = ".!?:;…。！？"


class Case(Enum):
    """What a capital letter says about a listed word in a language."""

    ANY = "any"  # nothing
    REQUIRED = "required"  # the word is always capitalised (English month names): lower case is another word
    LOWER = "lower"  # the word is written in lower case: capitalised inside a sentence, it is a name


@dataclass(frozen=True)
class Form:
    key: str  # what the form stands for: a month, a country
    parts: tuple[str, ...]  # folded words
    stems: tuple[bool, ...]  # per part, whether an ending may follow
    weak: bool = False
    written: str = ""  # the form as the list writes it, without its marks
    capitalised: bool = False  # counts only with a capital


@dataclass(frozen=True)
class Match:
    key: str
    start: int
    end: int
    text: str
    strong: bool  # not a weak form, or a weak one that its context confirms
    form: Form


def parse_forms(key: str, cell: str) -> list[Form]:
    """The forms of one entry, written in the notation of the module notes."""
    forms: list[Form] = []
    for item in cell.split():
        weak = item.startswith("?")
        capitalised = item.startswith("^")
        item = item.lstrip("?^")
        words = re.split("[_-]", item)
        parts = tuple(fold(w.rstrip("*")) for w in words)
        stems = tuple(w.endswith("*") for w in words)
        written = item.replace("*", "").replace("_", " ")
        forms.append(Form(key, parts, stems, weak, written, capitalised))
    return forms


def _ending_ok(ending: str, arabic: bool) -> bool:
    if arabic:
        return ending in _ARABIC_ENDINGS
    return len(ending) <= MAX_ENDING


def _arabic_readings(word: str) -> list[str]:
    readings = arabic_readings(word)
    folded = readings[0]
    # A weekday keeps its article after a clitic: "بالسبت", "للسبت" (the alif dropped) -> "السبت".
    for prefix in ("وال", "بال", "فال", "كال", "لل"):
        if folded.startswith(prefix) and len(folded) > len(prefix) + 1:
            readings.append("ال" + folded[len(prefix) :])
    return readings


def _joins(gap: str) -> bool:
    return 0 < len(gap) <= 2 and all(ch in _JOIN_CHARS for ch in gap)


def _is_initial(text: str, start: int) -> bool:
    j = start - 1
    while j >= 0 and text[j] in _OPENERS:
        j -= 1
    return j < 0 or text[j] in _SENTENCE_ENDS


class Lexicon:
    """The forms of one language, indexed for looking them up in a text of that language."""

    def __init__(
        self,
        forms: Iterable[Form],
        language: str,
        *,
        case: Case = Case.ANY,
        markers: Iterable[str] = (),
    ) -> None:
        self.language = language
        self.script = language_script(language)
        self.case = case
        self.markers = frozenset(fold(m) for m in markers)
        self.forms = tuple(forms)
        self._exact: dict[str, list[Form]] = {}
        self._stems: dict[str, list[Form]] = {}
        for form in self.forms:
            first = form.parts[0]
            if form.stems[0]:
                self._stems.setdefault(first[:2], []).append(form)
            else:
                self._exact.setdefault(first, []).append(form)
        # Longest first: "印度尼西亚" before "印度".
        self._runs = sorted(self.forms, key=lambda f: -len(f.parts[0]))

    def find(self, text: str) -> list[Match]:
        """Every listed form in `text`, in order, none overlapping another."""
        if self.script in UNSPACED_SCRIPTS:
            return self._find_runs(text)
        words = tokens(text, split_unspaced=False)
        readings = [self._readings(w) for w in words]
        out: list[Match] = []
        i = 0
        while i < len(words):
            match = self._match_at(text, words, readings, i)
            if match is None:
                i += 1
                continue
            form, last = match
            start, end = words[i].start, words[last].end
            out.append(
                Match(form.key, start, end, text[start:end], self._strong(text, words, i, last, form), form)
            )
            i = last + 1
        return out

    def _readings(self, word: Token) -> list[str]:
        if word.script is None:
            return []
        if self.case is Case.REQUIRED and not word.text[:1].isupper():
            return []
        if word.script is Script.ARABIC:
            return _arabic_readings(word.text)
        return [fold(word.text)]

    def _candidates(self, reading: str) -> list[Form]:
        return self._exact.get(reading, []) + self._stems.get(reading[:2], [])

    def _part_matches(self, form: Form, index: int, readings: Sequence[str]) -> bool:
        part, stem = form.parts[index], form.stems[index]
        arabic = self.script is Script.ARABIC
        return any(
            r == part or (stem and r.startswith(part) and _ending_ok(r[len(part) :], arabic))
            for r in readings
        )

    def _match_at(
        self, text: str, words: Sequence[Token], readings: Sequence[list[str]], i: int
    ) -> tuple[Form, int] | None:
        best: tuple[Form, int] | None = None
        for reading in readings[i]:
            for form in self._candidates(reading):
                if not self._part_matches(form, 0, [reading]):
                    continue
                if form.capitalised and not words[i].text[:1].isupper():
                    continue
                last = i + len(form.parts) - 1
                if last >= len(words):
                    continue
                joined = all(
                    _joins(text[words[k - 1].end : words[k].start])
                    and self._part_matches(form, k - i, readings[k])
                    for k in range(i + 1, last + 1)
                )
                if joined and (best is None or last > best[1]):
                    best = (form, last)
        return best

    def _strong(self, text: str, words: Sequence[Token], first: int, last: int, form: Form) -> bool:
        capitalised_inside = (
            self.case is Case.LOWER
            and words[first].text[:1].isupper()
            and not _is_initial(text, words[first].start)
        )
        if not form.weak and not capitalised_inside:
            return True
        before = words[first - 1] if first > 0 else None
        after = words[last + 1] if last + 1 < len(words) else None
        if any(w is not None and w.script is None for w in (before, after)):
            return True  # next to a digit: "3 mai", "Mars 2019" stays weak only without one
        return before is not None and fold(before.text) in self.markers and not capitalised_inside

    def _find_runs(self, text: str) -> list[Match]:
        folded = fold(text)
        if len(folded) != len(text):  # offsets must stay those of `text`
            folded = text
        taken = [False] * len(text)
        out: list[Match] = []
        for form in self._runs:
            run = form.parts[0]
            start = folded.find(run)
            while start >= 0:
                end = start + len(run)
                if not any(taken[start:end]):
                    taken[start:end] = [True] * (end - start)
                    out.append(Match(form.key, start, end, text[start:end], not form.weak, form))
                start = folded.find(run, end)
        return sorted(out, key=lambda m: m.start)

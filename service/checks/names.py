"""NAME_MISSING / NAME_ALTERED: names of the source that the output drops or changes.

Names are read from a source whose script marks them with capitals (Latin, Cyrillic, Greek), in
a language that does not capitalise every noun (German does): a run of capitalised words, joined
across "of", "on the", "de"..., without the first word of a sentence unless that word is
capitalised elsewhere too. Words that translators translate ("Supreme Court", "Hurricane",
"Mr.") and acronyms (NATO is OTAN in French) do not count.

A name is found in the output when each of its words is: by its letters, give or take accents
and an inflected ending (Doseba, Dosebas); by its consonants in Cyrillic, Greek and Arabic
(see `transliterate`); or, for the places in `exonyms`, by the target language's own name for
it (for a country, also by the forms `demonyms` lists: "испанских" for "Spanish"). Where a word
cannot be compared (a Chinese output, or a skeleton too short to tell) the name is exempt, never
reported. A missing name is ALTERED when the output has a name of its own in its place that the
source does not have, MISSING otherwise; a place written as in the source where the target
language has its own name ("Turkey" in German) is ALTERED too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from service.checks.demonyms import country_named
from service.checks.exonyms import GENERIC_NAME_WORDS, PLACES, Place
from service.checks.findings import Finding, FindingKind, pair_with_strays
from service.checks.script import (
    CASED_SCRIPTS,
    UNSPACED_SCRIPTS,
    Script,
    Token,
    fold,
    language_script,
    sentences,
    tokens,
)
from service.checks.transliterate import MIN_SKELETON, arabic_readings, skeleton, skeletons_match

# Languages that capitalise every noun: capitals say nothing about names there.
NOUN_CAPITALISING = frozenset({"de", "lb"})
# Lower-case words that may stand inside a name ("Newport on the Levee", "Ludwig van Beethoven").
CONNECTORS = frozenset(
    "of on the de del della di da do dos das du des la le van von der den y al el bin".split()
)
# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = frozenset("mr mrs ms dr prof st gen col capt sgt rev jr sr vs no mt ft".split())
# What may stand between the start of a sentence (or a colon) and its first word.
_OPENERS = " \t\n\u00a0\"'“”‘’«»„‚‹›([{—–-"
# What may stand between two words of one name.
_NAME_GAPS = frozenset({" ", "\u00a0", "-", "'", "’", ". "})
# Scripts whose words can be compared with a Latin name by their consonants.
_SKELETON_SCRIPTS = frozenset({Script.LATIN, Script.CYRILLIC, Script.GREEK, Script.ARABIC})


@dataclass(frozen=True)
class Name:
    text: str
    start: int
    end: int
    parts: tuple[Token, ...]  # the words that identify it: no generic words, no acronyms
    qualifier: bool = (
        False  # a place after a comma that qualifies the name before it ("Wheeling, West Virginia")
    )


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _is_acronym(token: Token) -> bool:
    return _letters(token.text) >= 2 and token.text.isupper()


def _capitalised(token: Token) -> bool:
    return token.script in CASED_SCRIPTS and token.text[:1].isupper() and _letters(token.text) >= 2


def _initial_positions(text: str, language: str) -> set[int]:
    return {sentence.start for sentence in sentences(text, language)}


def _is_initial(text: str, token: Token, sentence_starts: set[int]) -> bool:
    """Whether a word opens a sentence, a quotation after a colon, or the text."""
    j = token.start - 1
    while j >= 0 and text[j] in _OPENERS:
        j -= 1
    if j < 0 or text[j] in ":;":
        return True
    return any(p in sentence_starts for p in range(j + 1, token.start + 1))


def find_names(text: str, language: str) -> list[Name]:
    """Names in `text`, in order; none for a language or script whose capitals do not mark names."""
    if language in NOUN_CAPITALISING or language_script(language) not in CASED_SCRIPTS:
        return []
    toks = tokens(text)
    starts = _initial_positions(text, language)
    initial = [_is_initial(text, t, starts) for t in toks]
    capitalised_inside = {
        fold(t.text) for t, first in zip(toks, initial, strict=True) if _capitalised(t) and not first
    }
    groups: list[list[Token]] = []
    current: list[Token] = []
    pending: list[Token] = []  # connectors waiting for the next capitalised word
    for token, first in zip(toks, initial, strict=True):
        if _capitalised(token):
            if first and fold(token.text) not in capitalised_inside:
                current, pending = _flush(groups, current), []
                continue
            previous = pending[-1] if pending else (current[-1] if current else None)
            joins = previous is not None and text[previous.end : token.start] in _NAME_GAPS
            if pending and fold(token.text) in GENERIC_NAME_WORDS:
                joins = False  # "Twitter on Saturday" is two things
            if joins:
                current.extend([*pending, token])
            else:
                current = _flush(groups, current)
                current = [token]
            pending = []
        elif (
            current
            and fold(token.text) in CONNECTORS
            and text[(pending or current)[-1].end : token.start] == " "
        ):
            pending.append(token)
        else:
            current, pending = _flush(groups, current), []
    _flush(groups, current)
    names: list[Name] = []
    for index, group in enumerate(groups):
        parts = tuple(
            t
            for t in group
            if _capitalised(t) and not _is_acronym(t) and fold(t.text) not in GENERIC_NAME_WORDS
        )
        if not parts:
            continue
        start, end = group[0].start, group[-1].end
        after = text[end : end + 1]
        qualifier = (
            index > 0
            and text[groups[index - 1][-1].end : start] == ", "
            and (after == "" or after in ".,;:!?)")
        )
        names.append(Name(text[start:end], start, end, parts, qualifier))
    return names


def _flush(groups: list[list[Token]], current: list[Token]) -> list[Token]:
    if current:
        groups.append(current)
    return []


def place_of(name: Name, language: str) -> Place | None:
    """The listed place a name stands for, if any ("Germany", "German" -> Germany)."""
    whole = fold(name.text.replace("-", " "))
    parts = [fold(p.text) for p in name.parts]
    if language == "en":
        index = _ENGLISH_PLACES
        return index.get(whole) or next((index[p] for p in parts if p in index), None)
    for place in PLACES:
        for stem in place.spellings.get(language, ()):
            if whole.startswith(stem) if " " in stem else any(p.startswith(stem) for p in parts):
                return place
    return None


_ENGLISH_PLACES = {word: place for place in PLACES for word in place.spellings["en"]}


def _similar_spelling(wanted: str, found: str) -> bool:
    """Same word give or take accents and an ending: "doseba"/"dosebas", "bestwood"/"bestwookd"."""
    if wanted == found:
        return True
    if len(wanted) < 4 or len(found) < 4:
        return False
    prefix = 0
    for a, b in zip(wanted, found, strict=False):
        if a != b:
            break
        prefix += 1
    return prefix >= 4 and prefix >= 0.6 * len(wanted)


class _Status(Enum):
    FOUND = "found"
    MISSING = "missing"
    UNCHECKABLE = "uncheckable"


@dataclass(frozen=True)
class _Word:
    token: Token
    folded: str
    readings: tuple[str, ...]  # folded spellings to match stems against
    skeletons: tuple[str, ...]


class _Text:
    """A text's words, prepared for looking names up in it."""

    def __init__(self, text: str, language: str) -> None:
        self.text = text
        self.language = language
        self.script = language_script(language)
        self.folded = fold(text)
        self.words: list[_Word] = []
        for token in tokens(text, split_unspaced=False):
            readings = (
                tuple(arabic_readings(token.text)) if token.script is Script.ARABIC else (fold(token.text),)
            )
            skeletons = {skeleton(r) for r in readings} if token.script in _SKELETON_SCRIPTS else set()
            self.words.append(_Word(token, fold(token.text), readings, tuple(s for s in skeletons if s)))
        self.phrase = " " + " ".join(w.folded for w in self.words) + " "

    def has_stem(self, stem: str, *, not_as: frozenset[str] = frozenset()) -> bool:
        """Whether a word starts with `stem` (a phrase: whether the text has it).

        Words spelt exactly as in `not_as` (the source's spelling, lower case) count only when
        the stem is all of the word but an ending of one letter: "Macedonia" is Spanish too, but
        "Turkey" in a German text does not stand for "Türkei", though both start with "turk".
        """
        if self.script in UNSPACED_SCRIPTS or any(_is_han(ch) for ch in stem):
            return stem in self.folded
        if " " in stem:
            return " " + stem in self.phrase
        return any(
            r.startswith(stem) and (w.token.text.lower() not in not_as or len(r) - len(stem) <= 1)
            for w in self.words
            for r in w.readings
        )

    def count_word(self, word: Token) -> int:
        """How many words of this text spell `word`, a word of another text."""
        folded = fold(word.text)
        wanted = skeleton(word.text)
        count = 0
        for w in self.words:
            if w.token.script is word.script:
                # Within one script letters decide; consonants only for a long skeleton
                # ("Macedonia", "Mazedonien"), since short ones recur in common words.
                if _similar_spelling(folded, w.folded) or (
                    len(wanted) > MIN_SKELETON
                    and any(skeletons_match(wanted, s, exact=True) for s in w.skeletons)
                ):
                    count += 1
            elif w.token.script in _SKELETON_SCRIPTS and any(skeletons_match(wanted, s) for s in w.skeletons):
                # Across scripts a name must look like one: capitalised where the script has
                # capitals (a lower-case Russian word is not a name).
                if w.token.script not in CASED_SCRIPTS or w.token.text[:1].isupper():
                    count += 1
        return count

    def find_word(self, word: Token) -> _Status:
        """Whether a source word is in this text, absent, or impossible to tell."""
        if self.count_word(word):
            return _Status.FOUND
        if self.script is Script.LATIN:
            return _Status.MISSING
        if self.script in _SKELETON_SCRIPTS and len(skeleton(word.text)) >= MIN_SKELETON:
            return _Status.MISSING
        return _Status.UNCHECKABLE


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def _find_name(name: Name, source_language: str, output: _Text) -> tuple[_Status, str]:
    place = place_of(name, source_language)
    if place is not None and output.language in place.spellings:
        as_source = frozenset(p.text.lower() for p in name.parts)
        if any(output.has_stem(s, not_as=as_source) for s in place.spellings[output.language]):
            return _Status.FOUND, ""
        if country_named(output.text, output.language, place.english):
            return _Status.FOUND, ""  # by a form the stems miss: "испанских"
        if all(any(_similar_spelling(fold(p.text), w.folded) for w in output.words) for p in name.parts):
            return _Status.MISSING, "untranslated"
        return _Status.MISSING, ""
    statuses = [output.find_word(part) for part in name.parts]
    if _Status.MISSING in statuses:
        return _Status.MISSING, ""
    if _Status.FOUND in statuses:
        return _Status.FOUND, ""
    return _Status.UNCHECKABLE, ""


def _unsupported(output: _Text, source: _Text, places: list[Place]) -> list[Token]:
    """Words of the output that look like names and match nothing in the source, in order.

    Latin words in an output of another script always look like names; in a cased script a
    capitalised word inside a sentence does, except in languages that capitalise nouns. The
    target language's names for `places` (those the source names) are supported.
    """
    place_stems = [s for place in places for s in place.spellings.get(output.language, ()) if " " not in s]
    names_by_case = output.script in CASED_SCRIPTS and output.language not in NOUN_CAPITALISING
    starts = _initial_positions(output.text, output.language) if names_by_case else set()
    found: list[Token] = []
    for w in output.words:
        token = w.token
        if _letters(token.text) < 3 or _is_acronym(token):
            continue
        foreign_latin = token.script is Script.LATIN and output.script is not Script.LATIN
        if not foreign_latin:
            if not names_by_case or not _capitalised(token) or _is_initial(output.text, token, starts):
                continue
            if output.language == "en" and w.folded in GENERIC_NAME_WORDS:
                continue
        if any(r.startswith(stem) for r in w.readings for stem in place_stems):
            continue
        if source.find_word(token) is not _Status.FOUND:
            found.append(token)
    return found


def _sort_names(
    names: list[Name], source_language: str, out: _Text
) -> tuple[list[Name], list[Name], list[Name], list[Name]]:
    """The source's names the output lacks: missing, left untranslated, uncheckable, and given fewer times.

    A name the source gives more often than the output counts as "fewer": the output may say "it" the
    second time, so it only matters when the output has a stray name to put in its place.
    """
    missing: list[Name] = []
    untranslated: list[Name] = []
    uncheckable: list[Name] = []
    fewer: list[Name] = []
    mentions: dict[str, int] = {}
    previous_found = False
    for name in names:
        status, note = _find_name(name, source_language, out)
        if (
            status is _Status.MISSING
            and name.qualifier
            and previous_found
            and place_of(name, source_language)
        ):
            status = _Status.FOUND  # "Manchester, England" may well lose its country
        previous_found = status is _Status.FOUND
        if status is _Status.MISSING:
            (untranslated if note else missing).append(name)
        elif status is _Status.UNCHECKABLE:
            uncheckable.append(name)
        elif out.script is language_script(source_language) and place_of(name, source_language) is None:
            for part in name.parts:
                key = fold(part.text)
                mentions[key] = mentions.get(key, 0) + 1
                if mentions[key] > out.count_word(part):
                    fewer.append(name)
                    break
    return missing, untranslated, uncheckable, fewer


def check_names(source: str, output: str, source_language: str, target_language: str) -> list[Finding]:
    """NAME_MISSING and NAME_ALTERED findings for the names of `source` (see the module notes)."""
    names = find_names(source, source_language)
    if not names:
        return []
    out = _Text(output, target_language)
    missing, untranslated, uncheckable, fewer = _sort_names(names, source_language, out)
    findings = [
        Finding(
            FindingKind.NAME_ALTERED,
            f"{name.text!r} is left as in the source; the target language has its own name for it",
            (name.start, name.end),
            in_source=True,
        )
        for name in untranslated
    ]
    places = [p for p in (place_of(name, source_language) for name in names) if p is not None]
    strays = (
        _unsupported(out, _Text(source, source_language), places) if missing or uncheckable or fewer else []
    )
    paired, strays = pair_with_strays(
        missing, strays, altered=FindingKind.NAME_ALTERED, missing=FindingKind.NAME_MISSING, also=fewer
    )
    findings += paired
    # A name that cannot be compared is only suspect when the output has a Latin name the
    # source lacks: a transliterated name would not be in Latin letters.
    latin_strays = [t for t in strays if t.script is Script.LATIN and out.script is not Script.LATIN]
    for name, stray in zip(uncheckable, latin_strays, strict=False):
        findings.append(
            Finding(
                FindingKind.NAME_ALTERED,
                f"{stray.text!r} is not a name of the source (which has {name.text!r})",
                (stray.start, stray.end),
            )
        )
    return sorted(findings, key=lambda f: (f.in_source, f.span or (0, 0)))


def check_unsupported_names(article: str, summary: str, language: str) -> list[Finding]:
    """Names of a summary of which not one word is in its article."""
    source = _Text(article, language)
    return [
        Finding(FindingKind.NAME_ALTERED, f"{name.text!r} is not in the article", (name.start, name.end))
        for name in find_names(summary, language)
        if all(source.find_word(part) is not _Status.FOUND for part in name.parts)
    ]

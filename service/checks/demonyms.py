"""NAME_ALTERED for nationalities: an output that names another country than its source, or misspells one.

"Russian officials" written "les responsables français" keeps every capitalised name of the
sentence, and a German "Syrianischen" looks enough like "Syrien" to pass for it. This module
lists, for the countries of `exonyms.PLACES`, the words each language uses for the country, its
adjective and its people (notation in `lexicon`), strictly enough that a listed form is that
country and nothing else, and reports two things:

- another country: a country of the source that the output does not name (by these forms or by
  the looser stems of `exonyms`) while the output names a country the source does not, paired in
  order ("'français' where the source has 'Russian'");
- a form the language does not have: an output word that starts like the source's own word for
  a country ("Syrian") and is not a form of it in the target language, written as the source
  writes it ("Turkey" in German) or with an ending grafted on ("Syrianischen").

A country the source names and the output leaves out, with no other in its place, is not
reported here: "Turkish officials" may well become "Ankara". England, Scotland and Britain count
as one country, since translators use them for each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from service.checks.demonym_table import SAME_COUNTRY, TABLE
from service.checks.exonyms import PLACES, Place
from service.checks.findings import Finding, FindingKind, first_of_each, spans_overlap
from service.checks.lexicon import Case, Lexicon, Match, parse_forms
from service.checks.script import UNSPACED_SCRIPTS, Script, Token, fold, language_script, tokens
from service.checks.transliterate import arabic_readings

LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "ru", "ar", "zh")

# Endings that make a word of the language out of another language's stem ("Syrian" + "ischen"):
# a word that starts with the source's own word and goes on with one of these is a made-up form.
_GRAFTED_ENDINGS: dict[str, tuple[str, ...]] = {
    "de": ("isch", "e", "en", "er", "es", "em", "s", "in"),
    "nl": ("isch", "e", "en", "er", "s", "se"),
    "fr": ("e", "s", "ne", "nes", "ais", "ien", "ois"),
    "es": ("o", "a", "os", "as", "es", "ano", "ana", "ense"),
    "it": ("o", "a", "i", "e", "ano", "ana", "ese"),
    "pt": ("o", "a", "os", "as", "es", "ano", "ana", "ense"),
    "en": ("s", "n", "an", "ian", "ish"),
}
_MIN_GRAFT_STEM = 5


@dataclass(frozen=True)
class Country:
    key: str  # the English key of `exonyms`
    group: str  # the key it counts as (Britain for England)
    forms: dict[str, str]  # language -> forms in the notation of `lexicon`


def _parse(table: str) -> tuple[Country, ...]:
    countries: list[Country] = []
    for line in table.strip().splitlines():
        if not line.startswith(" "):
            key = line.strip()
            countries.append(Country(key, SAME_COUNTRY.get(key, key), {}))
            continue
        for cell in line.split("|"):
            language, _, forms = cell.partition(":")
            countries[-1].forms[language.strip()] = forms.strip()
    return tuple(countries)


COUNTRIES = _parse(TABLE)
_PLACES: dict[str, Place] = {place.english: place for place in PLACES}


@cache
def _lexicon(language: str) -> Lexicon | None:
    if language not in LANGUAGES:
        return None
    forms = [
        form for country in COUNTRIES for form in parse_forms(country.group, country.forms.get(language, ""))
    ]
    return Lexicon(forms, language, case=Case.REQUIRED if language == "en" else Case.ANY)


def find_nationalities(text: str, language: str) -> list[Match]:
    """Listed words for a country in `text`, in order; `Match.key` is the country's group key."""
    lexicon = _lexicon(language)
    return lexicon.find(text) if lexicon is not None else []


def country_named(text: str, language: str, key: str) -> bool:
    """Whether `text` names the country of `exonyms` key `key` (or one counted as it) by a listed form."""
    group = SAME_COUNTRY.get(key, key)
    return any(m.key == group for m in find_nationalities(text, language))


def _loosely_named(text: str, language: str, group: str) -> bool:
    """Whether `text` has one of the looser `exonyms` stems of a country of the group."""
    stems = [
        stem
        for country in COUNTRIES
        if country.group == group and country.key in _PLACES
        for stem in _PLACES[country.key].spellings.get(language, ())
    ]
    if not stems:
        return False
    folded = fold(text)
    if language_script(language) in UNSPACED_SCRIPTS:
        return any(stem in folded for stem in stems)
    words = [w for w in tokens(text, split_unspaced=False) if w.script is not None]
    readings = [
        r for w in words for r in (arabic_readings(w.text) if w.script is Script.ARABIC else [fold(w.text)])
    ]
    phrase = " " + " ".join(fold(w.text) for w in words) + " "
    return any(
        (" " + stem + " ") in phrase if " " in stem else any(r.startswith(stem) for r in readings)
        for stem in stems
    )


@dataclass(frozen=True)
class NationalityFinding:
    finding: Finding
    source_span: tuple[int, int]  # the source's word for the country concerned
    source_text: str
    another_country: bool  # the output names another country; otherwise it misspells this one


def _group(match: Match) -> str:
    return match.key


def _kept_name(source: str, source_language: str, index: int, words: list[Token]) -> bool:
    """Whether a word copied from the source stands in a name kept as a whole ("British Airways")."""
    neighbours = [words[j] for j in (index - 1, index + 1) if 0 <= j < len(words)]
    source_words = {w.text for w in tokens(source, split_unspaced=False)}
    return any(
        n.text[:1].isupper() and n.text in source_words and not find_nationalities(n.text, source_language)
        for n in neighbours
    )


def _grafted(
    source: str,
    output: str,
    wanted: list[Match],
    recognised: list[Match],
    source_language: str,
    target_language: str,
) -> list[NationalityFinding]:
    """Output words that are the source's word for a country, as it is or with an ending grafted on."""
    taken = [(m.start, m.end) for m in recognised]
    words = tokens(output, split_unspaced=False)
    found: list[NationalityFinding] = []
    for mention in wanted:
        if len(mention.form.parts) > 1 or mention.form.stems[0]:
            continue  # only a single whole word: "Syrian", not "United States" or a stem
        stem = fold(mention.text)
        if len(stem) < _MIN_GRAFT_STEM:
            continue
        for index, word in enumerate(words):
            if any(spans_overlap(span, (word.start, word.end)) for span in taken):
                continue  # a form of the target language
            folded = fold(word.text)
            if not folded.startswith(stem):
                continue
            ending = folded[len(stem) :]
            if ending:
                endings = _GRAFTED_ENDINGS.get(target_language, ())
                if not any(ending.startswith(e) for e in endings) or len(ending) > 7:
                    continue
                detail = f"{word.text!r} is not a word of the output language for {mention.text!r}"
            else:
                if _kept_name(source, source_language, index, words):
                    continue
                detail = (
                    f"{word.text!r} is left as in the source; the output language has its own word for it"
                )
            found.append(
                NationalityFinding(
                    Finding(FindingKind.NAME_ALTERED, detail, (word.start, word.end)),
                    (mention.start, mention.end),
                    mention.text,
                    another_country=False,
                )
            )
            taken.append((word.start, word.end))
            break
    return found


def nationality_findings(
    source: str, output: str, source_language: str, target_language: str
) -> list[NationalityFinding]:
    """NAME_ALTERED findings for the countries of `source` (see the module notes), with their source spans."""
    if source_language == target_language or _lexicon(target_language) is None:
        return []
    in_source = find_nationalities(source, source_language)
    if not in_source:
        return []
    in_output = find_nationalities(output, target_language)
    named = {m.key for m in in_source}
    kept = {m.key for m in in_output}
    missing = [
        m
        for m in first_of_each(in_source, _group)
        if m.key not in kept and not _loosely_named(output, target_language, m.key)
    ]
    strays = first_of_each((m for m in in_output if m.key not in named), _group)
    found = [
        NationalityFinding(
            Finding(
                FindingKind.NAME_ALTERED,
                f"{stray.text!r} where the source has {original.text!r} (another country)",
                (stray.start, stray.end),
            ),
            (original.start, original.end),
            original.text,
            another_country=True,
        )
        for original, stray in zip(missing, strays, strict=False)
    ]
    return found + _grafted(source, output, in_source, in_output, source_language, target_language)


def check_nationalities(
    source: str, output: str, source_language: str, target_language: str
) -> list[Finding]:
    """NAME_ALTERED for an output that names another country than its source, or a made-up form of it."""
    return [f.finding for f in nationality_findings(source, output, source_language, target_language)]


def merge_with_names(names: list[Finding], nationalities: list[NationalityFinding]) -> list[Finding]:
    """The findings of `check_names` and of this module, one per problem.

    A name finding about the same source word as a nationality finding (spanned in the source, or
    spanned in the output where it names that source word) is the same problem: a changed
    nationality replaces it, since it says more; a made-up or untranslated form gives way to it.
    """
    merged = list(names)
    for item in nationalities:
        same = [
            f
            for f in merged
            if (f.in_source and spans_overlap(f.span, item.source_span))
            or (
                not f.in_source
                and spans_overlap(f.span, item.finding.span)
                and repr(item.source_text) in f.detail
            )
        ]
        if item.another_country:
            merged = [f for f in merged if f not in same] + [item.finding]
        elif not same:
            merged.append(item.finding)
    return merged


def unsupported_nationalities(article: str, summary: str, language: str) -> list[Finding]:
    """NAME_ALTERED for a country a summary names and its article does not, by any of its forms."""
    named = {m.key for m in find_nationalities(article, language)}
    return [
        Finding(FindingKind.NAME_ALTERED, f"{m.text!r}: the article names no such country", (m.start, m.end))
        for m in first_of_each(find_nationalities(summary, language), _group)
        if m.key not in named and not _loosely_named(article, language, m.key)
    ]

"""How well the integrity checks tell a wrong output from a right one, on human references.

`python -m bench.quality.integrity --data DIR` reads DIR/translation.jsonl (English sentences
with professional translations) and DIR/summaries.jsonl (articles with a human summary) and
measures two things:

- False alarms: `check_translation` on each reference translation, on documents of three
  consecutive references of one language, and `check_summary` on each reference summary. A
  reference is a correct output, so any finding is a false alarm.
- Faults caught: faults injected into each reference (see `inject`), each checked against the
  same source. A fault is caught when its output gets a finding of a kind the clean reference
  did not get; "as expected" when that kind is the one the fault calls for.

Prints the tables and writes them, with the method, to bench/INTEGRITY.md (or --out). Nothing of
the data's text is written: items are named by their ids.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.checks import Finding, FindingKind, check_summary, check_translation
from service.checks.dates import MONTHS, WEEKDAYS, find_dates, spell_unit
from service.checks.demonyms import find_nationalities
from service.checks.exonyms import GENERIC_NAME_WORDS
from service.checks.numbers import find_numbers
from service.checks.script import UNSPACED_SCRIPTS, Script, fold, language_script, sentences, tokens
from service.checks.transliterate import arabic_readings, skeleton, skeletons_match
from service.text.detect import LanguageDetector

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "bench" / "INTEGRITY.md"
# Targets the checks are held to on this data.
MAX_FALSE_ALARM_RATE = 0.05
MIN_CATCH_RATE = 0.90
DOCUMENT_SIZE = 3

FAULTS = (
    "echo",
    "drop_sentence",
    "drop_clause",
    "loop",
    "wrong_language",
    "number",
    "date",
    "name_changed",
    "name_dropped",
    "nationality",
)
EXPECTED: dict[str, frozenset[FindingKind]] = {
    "echo": frozenset({FindingKind.ECHO}),
    "drop_sentence": frozenset({FindingKind.OMISSION}),
    "drop_clause": frozenset({FindingKind.OMISSION}),
    "loop": frozenset({FindingKind.REPETITION}),
    "wrong_language": frozenset({FindingKind.WRONG_LANGUAGE}),
    "number": frozenset({FindingKind.NUMBER_ALTERED, FindingKind.NUMBER_MISSING}),
    "date": frozenset({FindingKind.NUMBER_ALTERED, FindingKind.NUMBER_MISSING}),
    "name_changed": frozenset({FindingKind.NAME_ALTERED, FindingKind.NAME_MISSING}),
    "name_dropped": frozenset({FindingKind.NAME_MISSING, FindingKind.NAME_ALTERED}),
    "nationality": frozenset({FindingKind.NAME_ALTERED, FindingKind.NAME_MISSING}),
}
FAULT_NOTES = {
    "echo": "the source itself as the output",
    "drop_sentence": "a document of three references with one of them left out",
    "drop_clause": "one clause (between commas, semicolons, colons or sentence ends) of at least 4 words "
    "and 15% of the reference left out",
    "loop": "a phrase of 2-4 words (3-6 characters in Chinese) said three times in a row",
    "wrong_language": "the reference of another target language for the same source",
    "number": "one digit changed in a number that the reference shares with the source",
    "date": "a month or weekday name that the reference shares with the source replaced by another month or "
    "weekday of the same language that the source does not name (`service.checks.dates.spell_unit`: Russian "
    'keeps its case, Chinese its numerals: "9月" -> "5月")',
    "name_changed": "a name the reference shares with the source replaced by a name from another reference",
    "name_dropped": "a name the reference shares with the source left out. A name here is a capitalised "
    "source word that does not open a sentence and is not one of the title, institution, place-type and "
    'calendar words of `service.checks.exonyms.GENERIC_NAME_WORDS` ("Street", "Court", "Saturday"); '
    "its spelling in the reference is capitalised too, and found by its letters (Latin script and Latin "
    "words in Chinese) or its consonants (Cyrillic, Arabic)",
    "nationality": "one word for a country (its name, adjective or people: `service.checks.demonyms`) "
    "that the reference shares with the source replaced by another reference's word for a country the "
    'source does not name ("turc" -> "mexicain"); other words of the reference for the same country stay',
}
LIMITS = [
    "- A name left out of a Chinese (or Japanese, Korean) output is never reported: the translator may "
    "have written it in Han characters, which cannot be compared with the source's letters. A name "
    "replaced by another Latin-script name is.",
    "- German capitalises every noun, so a name replaced by another in a German output is only reported "
    "as missing, and names are not read from a German source at all.",
    "- A name the source gives twice and the output once (the second time as a pronoun, say) is reported "
    "only when the output has a stray name of its own in the same script.",
    "- A dropped clause is caught by its length only when the output ends up under 70% of the length "
    "the source implies; otherwise only through the numbers and names it held.",
    "- A country replaced in one place is not reported when the output names it elsewhere (a "
    '"griechische" left beside a changed "Griechenland"), nor when the output merely leaves it out: '
    'translators drop countries ("Manchester, England"). A month or weekday changed in one place and kept '
    "in another is missed the same way.",
    "- Human references also leave things out: most false alarms above are a name the translator dropped "
    "or replaced by the target language's own (an exonym the place table does not list).",
]
_CLAUSE_END = re.compile(r"[,;:،，；：、]\s*|(?<=[.!?。！？])\s*")


@dataclass(frozen=True)
class TranslationItem:
    id: str
    source: str
    reference: str
    source_language: str
    target_language: str
    # The same source's references in the other target languages.
    siblings: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SummaryItem:
    id: str
    language: str
    article: str
    reference: str


@dataclass(frozen=True)
class Fault:
    kind: str
    output: str


@dataclass(frozen=True)
class Outcome:
    item_id: str
    language: str
    fault: str
    new_kinds: frozenset[FindingKind]

    @property
    def caught(self) -> bool:
        return bool(self.new_kinds)

    @property
    def as_expected(self) -> bool:
        return bool(self.new_kinds & EXPECTED[self.fault])


@dataclass
class Report:
    references: dict[str, list[tuple[str, list[Finding]]]] = field(default_factory=lambda: defaultdict(list))
    documents: dict[str, list[tuple[str, list[Finding]]]] = field(default_factory=lambda: defaultdict(list))
    summaries: dict[str, list[tuple[str, list[Finding]]]] = field(default_factory=lambda: defaultdict(list))
    outcomes: list[Outcome] = field(default_factory=list)
    not_injected: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: float = 0.0


def load_translations(path: Path) -> list[TranslationItem]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_source: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        by_source[row["src"]][row["tgt_lang"]] = row["ref"]
    return [
        TranslationItem(
            row["id"],
            row["src"],
            row["ref"],
            row["src_lang"],
            row["tgt_lang"],
            {lang: ref for lang, ref in by_source[row["src"]].items() if lang != row["tgt_lang"]},
        )
        for row in rows
    ]


def load_summaries(path: Path) -> list[SummaryItem]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [SummaryItem(row["id"], row["lang"], row["article"], row["references"][0]) for row in rows]


def _joiner(language: str) -> str:
    return "" if language_script(language) in UNSPACED_SCRIPTS else " "


def documents(items: Sequence[TranslationItem], size: int = DOCUMENT_SIZE) -> list[TranslationItem]:
    """Consecutive items of one target language joined into documents of `size` sentences."""
    by_language: dict[str, list[TranslationItem]] = defaultdict(list)
    for item in items:
        by_language[item.target_language].append(item)
    docs = []
    for language, group in by_language.items():
        for i in range(0, len(group) - size + 1, size):
            part = group[i : i + size]
            siblings = {
                other: _joiner(other).join(p.siblings[other] for p in part)
                for other in part[0].siblings
                if all(other in p.siblings for p in part)
            }
            docs.append(
                TranslationItem(
                    f"{part[0].id}+{size - 1}",
                    " ".join(p.source for p in part),
                    _joiner(language).join(p.reference for p in part),
                    part[0].source_language,
                    language,
                    siblings,
                )
            )
    return docs


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r" ([,.;:!?،，。])", r"\1", text)
    return text.strip()


def _drop_clause(item: TranslationItem, rng: random.Random) -> str | None:
    text = item.reference
    bounds = [0] + [m.end() for m in _CLAUSE_END.finditer(text) if 0 < m.end() < len(text)] + [len(text)]
    units = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    unspaced = language_script(item.target_language) in UNSPACED_SCRIPTS
    size = len(text)
    candidates = [
        (a, b)
        for a, b in units
        if (b - a) >= 0.15 * size
        and (b - a) < 0.8 * size
        and (len(text[a:b]) >= 8 if unspaced else len(text[a:b].split()) >= 4)
    ]
    if len(units) < 2 or not candidates:
        return None
    a, b = rng.choice(candidates)
    if b == len(text):  # the last clause: the one before it now ends the text, with its full stop
        ending = re.search(r"[.!?。！？»”\"]*$", text.rstrip()).group()  # type: ignore[union-attr]
        return _tidy(re.sub(r"[\s,;:،，；：、]+$", "", text[:a]) + ending)
    return _tidy(text[:a] + text[b:])


def _loop(item: TranslationItem, rng: random.Random) -> str | None:
    text = item.reference
    words = [t for t in tokens(text) if t.script is not None]
    if language_script(item.target_language) in UNSPACED_SCRIPTS:
        length = rng.randint(3, 6)
        runs = [t for t in words if t.script in UNSPACED_SCRIPTS]
        if len(runs) < length:
            return None
        first = rng.randrange(0, len(runs) - length + 1)
        start, end = runs[first].start, runs[first + length - 1].end
        phrase = text[start:end]
        return text[:end] + phrase * 2 + text[end:]
    length = rng.randint(2, 4)
    if len(words) < length + 1:
        return None
    first = rng.randrange(0, len(words) - length + 1)
    start, end = words[first].start, words[first + length - 1].end
    phrase = text[start:end]
    return text[:end] + f" {phrase}" * 2 + text[end:]


def _change_digit(mention_text: str, rng: random.Random) -> str:
    positions = [i for i, ch in enumerate(mention_text) if ch.isdigit()]
    i = rng.choice(positions)
    ch = mention_text[i]
    value = unicodedata.digit(ch)
    zero = ord(ch) - value
    choices = [
        d for d in range(10) if d != value and not (d == 0 and i == positions[0] and len(positions) > 1)
    ]
    return mention_text[:i] + chr(zero + rng.choice(choices)) + mention_text[i + 1 :]


def _number(item: TranslationItem, rng: random.Random) -> str | None:
    wanted: set[float] = set()
    for mention in find_numbers(item.source, item.source_language):
        wanted |= mention.values
    shared = [m for m in find_numbers(item.reference, item.target_language) if m.values & wanted]
    if not shared:
        return None
    mention = rng.choice(shared)
    for _ in range(10):
        changed = _change_digit(mention.text, rng)
        new = find_numbers(changed, item.target_language)
        if new and not any(m.values & wanted for m in new):
            return item.reference[: mention.start] + changed + item.reference[mention.end :]
    return None


def _date(item: TranslationItem, rng: random.Random) -> str | None:
    """A month or weekday that the reference shares with the source, changed to one the source lacks."""
    named = {m.unit for m in find_dates(item.source, item.source_language)}
    shared = [m for m in find_dates(item.reference, item.target_language) if m.strong and m.unit in named]
    if not shared:
        return None
    mention = rng.choice(shared)
    units = range(MONTHS) if mention.is_month else range(MONTHS, MONTHS + WEEKDAYS)
    spellings = [spell_unit(u, item.target_language, mention.text) for u in units if u not in named]
    choices = [word for word in spellings if word]
    if not choices:
        return None
    return item.reference[: mention.start] + rng.choice(choices) + item.reference[mention.end :]


def nationality_pool(items: Sequence[TranslationItem]) -> dict[str, list[tuple[str, str, str]]]:
    """Per target language, (item id, word, country) for every word for a country in the references."""
    pool: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for item in items:
        for match in find_nationalities(item.reference, item.target_language):
            pool[item.target_language].append((item.id, match.text, match.key))
    return pool


def _nationality(item: TranslationItem, pool: list[tuple[str, str, str]], rng: random.Random) -> str | None:
    """A word of the reference for a country of the source, replaced by another reference's for another."""
    named = {m.key for m in find_nationalities(item.source, item.source_language)}
    shared = [m for m in find_nationalities(item.reference, item.target_language) if m.key in named]
    choices = sorted({word for owner, word, key in pool if owner != item.id and key not in named})
    if not shared or not choices:
        return None
    mention = rng.choice(shared)
    return item.reference[: mention.start] + rng.choice(choices) + item.reference[mention.end :]


def _source_names(item: TranslationItem) -> list[list[str]]:
    """Runs of capitalised source words that are not the first word of a sentence."""
    starts = {s.start for s in sentences(item.source, item.source_language)}
    runs: list[list[str]] = []
    previous_end = -2
    for token in tokens(item.source):
        capitalised = (
            token.script in (Script.LATIN, Script.CYRILLIC)
            and token.text[:1].isupper()
            and not token.text.isupper()
            and len(token.text) >= 3
            and token.start not in starts
            and item.source[: token.start].rstrip()[-1:] not in ('"', "“", ":")
            and fold(token.text) not in GENERIC_NAME_WORDS
        )
        if not capitalised:
            previous_end = -2
            continue
        if runs and item.source[previous_end : token.start] in (" ", "-"):
            runs[-1].append(token.text)
        else:
            runs.append([token.text])
        previous_end = token.end
    return runs


def _word_matches(source_word: str, token_text: str, token_script: Script | None) -> bool:
    if token_script in (Script.LATIN, Script.CYRILLIC) and not token_text[:1].isupper():
        return False  # "prison" in a French reference is not the name "Prison"
    if token_script is Script.LATIN:
        return fold(token_text) == fold(source_word) or (
            len(source_word) >= 4 and fold(token_text).startswith(fold(source_word))
        )
    if token_script in (Script.CYRILLIC, Script.ARABIC):
        wanted = skeleton(source_word)
        readings = arabic_readings(token_text) if token_script is Script.ARABIC else [token_text]
        return len(wanted) >= 4 and any(skeletons_match(wanted, skeleton(r)) for r in readings)
    return False


def name_matches(item: TranslationItem) -> list[list[tuple[int, int]]]:
    """For each source name found in the reference, the spans of the reference words that spell it."""
    ref_tokens = [t for t in tokens(item.reference, split_unspaced=False) if t.script is not None]
    found = []
    for run in _source_names(item):
        spans = [(t.start, t.end) for t in ref_tokens if any(_word_matches(w, t.text, t.script) for w in run)]
        if spans:
            found.append(spans)
    return found


def _names(
    item: TranslationItem, pool: list[tuple[str, str]], rng: random.Random
) -> tuple[str | None, str | None]:
    """(name changed, name dropped) versions of the reference; None where it shares no name."""
    matches = name_matches(item)
    if not matches:
        return None, None
    spans = rng.choice(matches)
    text = item.reference
    # Dropped: every word of the name, and what joins them.
    start, end = spans[0][0], spans[-1][1]
    if len(spans) > 1 and any(b[0] - a[1] > 3 for a, b in zip(spans, spans[1:], strict=False)):
        start, end = spans[-1]
    dropped = _tidy(text[:start] + text[end:])
    # Changed: the last word of the name (a surname, a place) replaced by another reference's name.
    last_start, last_end = spans[-1]
    current = text[last_start:last_end]
    choices = [
        word
        for owner, word in pool
        if owner != item.id and fold(word) != fold(current) and skeleton(word) != skeleton(current)
    ]
    changed = text[:last_start] + rng.choice(choices) + text[last_end:] if choices else None
    return changed, dropped


def name_pool(items: Sequence[TranslationItem]) -> dict[str, list[tuple[str, str]]]:
    """Per target language, (item id, word) for every reference word that spells a source name."""
    pool: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item in items:
        for spans in name_matches(item):
            for start, end in spans:
                pool[item.target_language].append((item.id, item.reference[start:end]))
    return pool


def inject(
    item: TranslationItem,
    pool: list[tuple[str, str]],
    rng: random.Random,
    *,
    document: bool = False,
    countries: Sequence[tuple[str, str, str]] = (),
    calendar_rng: random.Random | None = None,
) -> tuple[list[Fault], list[str]]:
    """Faulty versions of the reference, and the faults that could not be made for it.

    The date and nationality faults draw from `calendar_rng` (default `rng`), so that adding them
    left the other faults as they were drawn before.
    """
    faults: list[Fault] = [Fault("echo", item.source)]
    missing: list[str] = []

    def add(kind: str, output: str | None) -> None:
        if output and output != item.reference:
            faults.append(Fault(kind, output))
        else:
            missing.append(kind)

    if document:
        return faults, missing
    add("drop_clause", _drop_clause(item, rng))
    add("loop", _loop(item, rng))
    others = sorted(item.siblings)
    add("wrong_language", item.siblings[rng.choice(others)] if others else None)
    add("number", _number(item, rng))
    changed, dropped = _names(item, pool, rng)
    add("name_changed", changed)
    add("name_dropped", dropped)
    add("date", _date(item, calendar_rng or rng))
    add("nationality", _nationality(item, list(countries), calendar_rng or rng))
    return faults, missing


def _drop_sentence(doc: TranslationItem, parts: Sequence[TranslationItem], rng: random.Random) -> Fault:
    keep = list(parts)
    keep.pop(rng.randrange(len(keep)))
    return Fault("drop_sentence", _joiner(doc.target_language).join(p.reference for p in keep))


def evaluate(
    translations: Sequence[TranslationItem],
    summaries: Sequence[SummaryItem],
    *,
    seed: int = 0,
    detector: LanguageDetector | None = None,
) -> Report:
    detector = detector or LanguageDetector()
    rng = random.Random(seed)
    calendar_rng = random.Random(seed + 1)
    report = Report()
    started = time.perf_counter()
    pools = name_pool(translations)
    countries = nationality_pool(translations)

    def run(item: TranslationItem, faults: list[Fault], clean: list[Finding]) -> None:
        clean_kinds = Counter(f.kind for f in clean)
        for fault in faults:
            found = check_translation(
                item.source, fault.output, item.source_language, item.target_language, detector=detector
            )
            new = Counter(f.kind for f in found) - clean_kinds
            report.outcomes.append(Outcome(item.id, item.target_language, fault.kind, frozenset(new)))

    for item in translations:
        clean = check_translation(
            item.source, item.reference, item.source_language, item.target_language, detector=detector
        )
        report.references[item.target_language].append((item.id, clean))
        faults, missing = inject(
            item,
            pools[item.target_language],
            rng,
            countries=countries[item.target_language],
            calendar_rng=calendar_rng,
        )
        for kind in missing:
            report.not_injected[(kind, item.target_language)] += 1
        run(item, faults, clean)

    by_language: dict[str, list[TranslationItem]] = defaultdict(list)
    for item in translations:
        by_language[item.target_language].append(item)
    for doc in documents(translations):
        clean = check_translation(
            doc.source, doc.reference, doc.source_language, doc.target_language, detector=detector
        )
        report.documents[doc.target_language].append((doc.id, clean))
        group = by_language[doc.target_language]
        first = next(i for i, it in enumerate(group) if doc.id.startswith(it.id))
        parts = group[first : first + DOCUMENT_SIZE]
        run(doc, [_drop_sentence(doc, parts, rng)], clean)

    for summary in summaries:
        found = check_summary(summary.article, summary.reference, summary.language, detector=detector)
        report.summaries[summary.language].append((summary.id, found))
    report.seconds = time.perf_counter() - started
    return report


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"


def _false_alarm_rows(groups: dict[str, list[tuple[str, list[Finding]]]]) -> list[str]:
    rows = []
    total = flagged = 0
    for language in sorted(groups):
        results = groups[language]
        hits = [found for _, found in results if found]
        kinds = Counter(f.kind.value for found in hits for f in found)
        rows.append(
            f"| {language} | {_rate(len(hits), len(results))} | "
            + (", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "-")
            + " |"
        )
        total += len(results)
        flagged += len(hits)
    rows.append(f"| **all** | **{_rate(flagged, total)}** | |")
    return rows


def false_alarm_rate(report: Report) -> tuple[int, int]:
    results = [found for group in report.references.values() for _, found in group]
    return sum(1 for found in results if found), len(results)


def catch_rate(report: Report) -> tuple[int, int]:
    return sum(o.caught for o in report.outcomes), len(report.outcomes)


def render(report: Report, data: str) -> str:
    """The report as Markdown."""
    languages = sorted({o.language for o in report.outcomes})
    flagged, references = false_alarm_rate(report)
    caught, faults = catch_rate(report)
    subtle = [o for o in report.outcomes if o.fault not in ("echo", "loop", "wrong_language")]
    alarm_ok = references and flagged / references <= MAX_FALSE_ALARM_RATE
    catch_ok = faults and caught / faults >= MIN_CATCH_RATE
    lines = [
        "# Integrity checks on human references",
        "",
        f"`python -m bench.quality.integrity --data {data}` ({report.seconds:.0f} s on this machine). "
        "Generated: edit `bench/quality/integrity.py`, not this file.",
        "",
        f"- False alarms on reference translations: **{_rate(flagged, references)}** "
        f"(target at most {MAX_FALSE_ALARM_RATE:.0%}: {'met' if alarm_ok else 'missed'})",
        f"- Injected faults caught: **{_rate(caught, faults)}** "
        f"(target at least {MIN_CATCH_RATE:.0%}: {'met' if catch_ok else 'missed'}); "
        f"without the echo, loop and wrong-language faults, which every item gets: "
        f"{_rate(sum(o.caught for o in subtle), len(subtle))}",
        "",
        "## False alarms",
        "",
        "A reference is a correct output: any finding on it is a false alarm.",
        "",
        "Reference translations (`check_translation(source, reference)`):",
        "",
        "| target | references with a finding | findings |",
        "| --- | --- | --- |",
        *_false_alarm_rows(report.references),
        "",
        f"Documents of {DOCUMENT_SIZE} consecutive references of one language:",
        "",
        "| target | documents with a finding | findings |",
        "| --- | --- | --- |",
        *_false_alarm_rows(report.documents),
        "",
        "Reference summaries (`check_summary(article, reference)`):",
        "",
        "| language | summaries with a finding | findings |",
        "| --- | --- | --- |",
        *_false_alarm_rows(report.summaries),
        "",
        "## Injected faults",
        "",
        "Caught: the faulty output gets a finding of a kind the clean reference did not get. "
        "As expected: that kind is the one the fault calls for.",
        "",
        "| fault | injected | caught | as expected | expected kinds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for fault in FAULTS:
        outcomes = [o for o in report.outcomes if o.fault == fault]
        lines.append(
            f"| {fault} | {len(outcomes)} | {_rate(sum(o.caught for o in outcomes), len(outcomes))} | "
            f"{_rate(sum(o.as_expected for o in outcomes), len(outcomes))} | "
            + ", ".join(sorted(k.value for k in EXPECTED[fault]))
            + " |"
        )
    lines.append(
        f"| **all** | {faults} | **{_rate(caught, faults)}** | "
        f"{_rate(sum(o.as_expected for o in report.outcomes), faults)} | |"
    )
    lines += ["", "Caught per fault and target language:", ""]
    lines.append("| fault | " + " | ".join(languages) + " |")
    lines.append("| --- |" + " --- |" * len(languages))
    for fault in FAULTS:
        cells = []
        for language in languages:
            outcomes = [o for o in report.outcomes if o.fault == fault and o.language == language]
            cells.append(f"{sum(o.caught for o in outcomes)}/{len(outcomes)}" if outcomes else "-")
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    cells = []
    for language in languages:
        outcomes = [o for o in report.outcomes if o.language == language]
        cells.append(_rate(sum(o.caught for o in outcomes), len(outcomes)))
    lines.append("| **all** | " + " | ".join(cells) + " |")
    if report.not_injected:
        lines += ["", "Not injected (the reference offers nothing to change):", ""]
        lines.append(
            ", ".join(
                f"{kind} {language}: {n}" for (kind, language), n in sorted(report.not_injected.items())
            )
        )
    lines += ["", "## Faults", ""]
    lines += [f"- `{fault}`: {FAULT_NOTES[fault]}." for fault in FAULTS]
    lines += ["", "## What the checks cannot see", "", *LIMITS]
    lines += ["", "## Items with findings", ""]
    lines += ["Missed faults and false alarms, by item id (the data's text stays out of the repository).", ""]
    for group_name, groups in (
        ("reference", report.references),
        ("document", report.documents),
        ("summary", report.summaries),
    ):
        for language in sorted(groups):
            for item_id, found in groups[language]:
                if found:
                    kinds = ", ".join(sorted(f.kind.value for f in found))
                    lines.append(f"- false alarm, {group_name} `{item_id}`: {kinds}")
    for outcome in report.outcomes:
        if not outcome.caught:
            lines.append(f"- missed {outcome.fault}: `{outcome.item_id}`")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality.integrity", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with translation.jsonl and summaries.jsonl"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="Markdown report (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injection")
    args = parser.parse_args(argv)
    translations = load_translations(args.data / "translation.jsonl")
    summaries_path = args.data / "summaries.jsonl"
    summaries = load_summaries(summaries_path) if summaries_path.exists() else []
    report = evaluate(translations, summaries, seed=args.seed)
    text = render(report, str(args.data))
    print(text)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

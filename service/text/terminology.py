"""Glossaries and do-not-translate terms: finding them in text, masking them for a model, checking outputs.

A request's `Terminology` holds glossary pairs (a source term and how to write it in one target
language) and terms to keep as they are. `Terminology.terms_for(text, language)` picks the terms
that apply to one output: the kept terms and the pairs for `language` whose source term occurs in
the text the output is made from.

Terms are matched as whole words, ignoring case: a term that starts or ends with a letter or a digit
does not match inside a longer word ("Kyiv" is not found in "Kyivstar"), except in the scripts
written without spaces, where any run of characters is a candidate. An output writes a term "as
asked" when the expected form occurs in it as a whole word with its letters' case as given, or
with only the first letter's case changed (a term at the start of a sentence).

Models that cannot be told what to write (encoder-decoder translators) are given the text with each
term replaced by a placeholder they copy through, then the placeholders are replaced by the
expected forms (`mask_terms`, `restore_terms`). The placeholder is a made-up alphanumeric code,
"ZQ" and a number. It was chosen by tokenizing candidates with the sentencepiece (Marian, M2M100,
mBART-50) and BPE (NLLB) vocabularies the model tests train on news text: brackets, underscores,
"<", "#", "@", "X" and "⟦⟧" are not in such vocabularies and come back as <unk>, which no model can
copy; letters and digits always are. A trained translator leaves a code like "ZQ3" untouched, as
it does product and flight numbers, where a plain number could be reformatted for the target locale
and a word ("TERM") could be translated. Restoring tolerates the spaces a model may put inside the
code ("ZQ 3", "Z Q3").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from service.text.scripts import NO_SPACE_CHARACTERS

_NO_SPACE = re.compile(f"[{NO_SPACE_CHARACTERS}]")
_WORD_CHARACTER = re.compile(r"\w")


@dataclass(frozen=True)
class GlossaryEntry:
    """`source` is written `target` in `target_language` (a normalised tag)."""

    source: str
    target: str
    target_language: str


@dataclass(frozen=True)
class Term:
    """One term as it applies to one output: the term given, and how the output must write it."""

    source: str
    expected: str


@dataclass(frozen=True)
class TermReport:
    """Whether one output writes one term as asked."""

    term: str
    expected: str
    applied: bool


@dataclass(frozen=True)
class Terminology:
    """A request's glossary pairs and kept terms, validated (see service.pipeline.terminology)."""

    entries: tuple[GlossaryEntry, ...] = ()
    keep: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries or self.keep)

    def terms_for(self, text: str, language: str) -> tuple[Term, ...]:
        """The terms that apply to an output in `language` made from `text`, longest source first.

        A glossary pair for `language` wins over a kept term with the same source.
        """
        if not self:
            return ()
        chosen: dict[str, Term] = {}
        for entry in self.entries:
            if entry.target_language == language and entry.source.casefold() not in chosen:
                if contains_term(text, entry.source):
                    chosen[entry.source.casefold()] = Term(entry.source, entry.target)
        for kept in self.keep:
            if kept.casefold() not in chosen and contains_term(text, kept):
                chosen[kept.casefold()] = Term(kept, kept)
        return tuple(sorted(chosen.values(), key=lambda term: -len(term.source)))

    def key(self) -> tuple[object, ...]:
        """What a cache key needs to tell two terminologies apart."""
        return (self.entries, self.keep)


NO_TERMINOLOGY = Terminology()


@lru_cache(maxsize=1024)
def _pattern(term: str, ignore_case: bool) -> re.Pattern[str]:
    body = re.escape(term)
    # A boundary only where the term's edge is a word character of a script written with spaces.
    head = term[:1]
    tail = term[-1:]
    if _WORD_CHARACTER.match(head) and not _NO_SPACE.match(head):
        body = r"(?<!\w)" + body
    if _WORD_CHARACTER.match(tail) and not _NO_SPACE.match(tail):
        body += r"(?!\w)"
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def find_term(text: str, term: str) -> list[tuple[int, int]]:
    """Where `term` occurs in `text` as a whole word, ignoring case: (start, end) offsets."""
    if not term:
        return []
    return [match.span() for match in _pattern(term, True).finditer(text)]


def contains_term(text: str, term: str) -> bool:
    return bool(term) and _pattern(term, True).search(text) is not None


def writes_term(output: str, expected: str) -> bool:
    """Whether `output` writes `expected` as asked: exactly, or with only its first letter's case changed."""
    if not expected:
        return False
    if _pattern(expected, False).search(output):
        return True
    first = expected[0]
    swapped = first.upper() if first.islower() else first.lower()
    return swapped != first and _pattern(swapped + expected[1:], False).search(output) is not None


def report_terms(terms: Iterable[Term], output: str) -> tuple[TermReport, ...]:
    """One report per term, in the order given: does `output` write it as asked?"""
    return tuple(TermReport(t.source, t.expected, writes_term(output, t.expected)) for t in terms)


def prompt_instruction(terms: Sequence[Term]) -> str:
    """The "use these terms" paragraph of an LLM prompt; empty without terms.

    It follows the text in the prompt, so that the part before the text stays the same for every
    request and its model state can be cached.
    """
    if not terms:
        return ""
    lines = [
        f'- "{t.source}": keep it as "{t.expected}"'
        if t.source == t.expected
        else f'- "{t.source}": write "{t.expected}"'
        for t in terms
    ]
    return "Use these terms exactly as given:\n" + "\n".join(lines)


# -- placeholders --------------------------------------------------------------------------------------

PLACEHOLDER_PREFIX = "ZQ"
# The code as a model may give it back: spaces inside, or the letters' case changed.
_PLACEHOLDER = re.compile(r"(?<![A-Za-z])Z\s?Q\s?(\d{1,3})(?!\d)", re.IGNORECASE)


@dataclass(frozen=True)
class MaskedText:
    """A text with its terms replaced by placeholders, and what each placeholder stands for."""

    text: str
    # Placeholder number -> the form to put back.
    replacements: tuple[str, ...] = ()


def mask_terms(text: str, terms: Sequence[Term]) -> MaskedText:
    """Replace each occurrence of each term's source by a placeholder; longer terms are matched first.

    Returns the text unchanged when it already holds something that reads as a placeholder: the
    restore step could not tell the two apart.
    """
    if not terms or _PLACEHOLDER.search(text):
        return MaskedText(text)
    taken: list[tuple[int, int, int]] = []  # start, end, term index
    for index, term in enumerate(sorted(terms, key=lambda t: -len(t.source))):
        for start, end in find_term(text, term.source):
            if all(end <= s or start >= e for s, e, _ in taken):
                taken.append((start, end, index))
    if not taken:
        return MaskedText(text)
    ordered = sorted(terms, key=lambda t: -len(t.source))
    used = sorted({index for _, _, index in taken})
    number = {index: n for n, index in enumerate(used)}
    pieces: list[str] = []
    cursor = 0
    for start, end, index in sorted(taken):
        pieces += [text[cursor:start], f"{PLACEHOLDER_PREFIX}{number[index]}"]
        cursor = end
    pieces.append(text[cursor:])
    return MaskedText("".join(pieces), tuple(ordered[index].expected for index in used))


def restore_terms(output: str, masked: MaskedText) -> str:
    """Put each term's expected form where the model copied its placeholder.

    A placeholder with a number that was never given is removed rather than shown to a reader.
    """
    if not masked.replacements:
        return output

    def replace(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return masked.replacements[number] if number < len(masked.replacements) else ""

    restored = _PLACEHOLDER.sub(replace, output)
    return re.sub(r"[ \t]{2,}", " ", restored).strip()

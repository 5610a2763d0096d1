"""What a check reports, and how reports turn into a score and a choice between candidates.

A `Finding` is one typed problem with an output: its kind, a sentence a person can read, and where
it is. The span indexes the output, except for something the output lacks (a missing number,
name or sentence), whose span indexes the source (`in_source`).

`check_score` folds a list of findings into one figure between 0 and 1 (1: nothing found), for a
confidence figure; `pick_better` keeps the candidate whose findings weigh less.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar


class FindingKind(StrEnum):
    """The kinds of problem the checks report. Stable names: add members, never rename them."""

    WRONG_LANGUAGE = "WRONG_LANGUAGE"  # the output, or a sentence of it, is in another language
    ECHO = "ECHO"  # the output copies the source untranslated
    REPETITION = "REPETITION"  # a phrase loops
    OMISSION = "OMISSION"  # the output is too short for its source, or a source sentence has no match
    # Numbers include dates: a month or weekday named in words ("Saturday", "3月") is one.
    NUMBER_MISSING = "NUMBER_MISSING"  # a number of the source is not in the output
    NUMBER_ALTERED = "NUMBER_ALTERED"  # the output has a different number in its place
    # Names include nationalities: "Russian" is the name of a country as much as "Russia" is.
    NAME_MISSING = "NAME_MISSING"  # a name of the source is not in the output
    NAME_ALTERED = "NAME_ALTERED"  # the output has a different name in its place, or a made-up form


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    detail: str
    # Character offsets [start, end) in the output, or in the source when `in_source` is set;
    # None when the finding concerns the text as a whole.
    span: tuple[int, int] | None = None
    in_source: bool = False


class Mention(Protocol):
    """Something a check found in a text: its words and where they stand."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


M = TypeVar("M", bound=Mention)
S = TypeVar("S", bound=Mention)


def pair_with_strays(
    lost: Sequence[M],
    strays: Sequence[S],
    *,
    altered: FindingKind,
    missing: FindingKind,
    also: Sequence[M] = (),
    gloss: Callable[[M | S], str] | None = None,
) -> tuple[list[Finding], list[S]]:
    """Findings for what an output lacks of its source, and the strays left unpaired.

    Each of `lost` (a number, a name, a month of the source that the output lacks) is paired in
    order with a stray of the output (one of the same sort that the source does not have): `altered`,
    spanned where the stray stands in the output; once the strays run out, `missing`, spanned in the
    source. `also` follow `lost` only as far as strays are left for them (a value the source gives
    twice needs to be there once, unless the output has a stray to account for). `gloss` adds a
    word of explanation to each side ("March for May").
    """
    candidates = [*lost, *also[: max(0, len(strays) - len(lost))]]
    findings: list[Finding] = []
    for index, original in enumerate(candidates):
        if index < len(strays):
            stray = strays[index]
            note = f" ({gloss(stray)} for {gloss(original)})" if gloss else ""
            detail = f"{stray.text!r} where the source has {original.text!r}{note}"
            findings.append(Finding(altered, detail, (stray.start, stray.end)))
        else:
            note = f" ({gloss(original)})" if gloss else ""
            detail = f"the source's {original.text!r}{note} is not in the output"
            findings.append(Finding(missing, detail, (original.start, original.end), in_source=True))
    return findings, list(strays[len(candidates) :])


def first_of_each(mentions: Iterable[M], key: Callable[[M], Hashable]) -> list[M]:
    """The first mention of each `key` (a month, a country), in order."""
    seen: set[Hashable] = set()
    out: list[M] = []
    for mention in mentions:
        if key(mention) not in seen:
            seen.add(key(mention))
            out.append(mention)
    return out


def spans_overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> bool:
    """Whether two character spans share a character (None: no span)."""
    return a is not None and b is not None and a[0] < b[1] and b[0] < a[1]


# How much one finding of each kind lowers the score: an output in the wrong language or copied
# from the source is useless; a looping phrase or a dropped sentence spoils a part of it; a wrong
# number or name is one serious error in an otherwise usable text; a missing one may be a
# translator's choice (a country left out of "Manchester, England").
KIND_WEIGHTS: dict[FindingKind, float] = {
    FindingKind.WRONG_LANGUAGE: 0.9,
    FindingKind.ECHO: 0.9,
    FindingKind.REPETITION: 0.5,
    FindingKind.OMISSION: 0.5,
    FindingKind.NUMBER_ALTERED: 0.4,
    FindingKind.NUMBER_MISSING: 0.3,
    FindingKind.NAME_ALTERED: 0.3,
    FindingKind.NAME_MISSING: 0.2,
}
# Each further finding of a kind already found counts this much less than the one before:
# ten missing names are worse than one, but not ten times as bad.
REPEAT_DECAY = 0.5


def check_score(findings: Iterable[Finding]) -> float:
    """1.0 for no findings, falling towards 0 as findings add up; never below 0."""
    score = 1.0
    seen: Counter[FindingKind] = Counter()
    for finding in findings:
        weight = KIND_WEIGHTS[finding.kind] * REPEAT_DECAY ** seen[finding.kind]
        seen[finding.kind] += 1
        score *= 1.0 - weight
    return score


@dataclass(frozen=True)
class CheckedText:
    """A candidate output with the findings of the checks on it."""

    text: str
    findings: tuple[Finding, ...] = field(default=())

    @property
    def score(self) -> float:
        return check_score(self.findings)


def pick_better(first: CheckedText, second: CheckedText) -> CheckedText:
    """The candidate with the higher check score; on a tie the one with fewer findings, then `first`."""
    if first.score != second.score:
        return first if first.score > second.score else second
    if len(first.findings) != len(second.findings):
        return first if len(first.findings) < len(second.findings) else second
    return first

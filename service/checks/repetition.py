"""REPETITION: a phrase that loops, the commonest way a generating model goes wrong.

Two shapes count. A unit of one or more words said again right after itself ("in the city in the
city in the city"); people double a word now and then ("very, very"), so a single word has to come
three times and a longer unit twice. And a long passage said twice anywhere in the text (a model
that starts its answer again). Scripts written without spaces are read character by character,
where doubling is grammar ("谢谢", "看看"): there a unit has to be longer or come more often.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.checks.findings import Finding, FindingKind
from service.checks.script import UNSPACED_SCRIPTS, Token, fold, tokens

# The longest looping unit looked for, in tokens.
MAX_UNIT = 16
# A passage of this many tokens said twice is a repetition even when not back to back.
LONG_PASSAGE_WORDS = 10
LONG_PASSAGE_CHARS = 20


@dataclass(frozen=True)
class _Run:
    first: int  # index of the first token of the run
    unit: int  # tokens in the repeated unit
    copies: int


def _counts_as_loop(unit: list[Token], copies: int) -> bool:
    if not any(t.script is not None for t in unit):
        return False  # digits alone: "10 10" is a score or a list, not a loop
    if all(t.script in UNSPACED_SCRIPTS for t in unit):
        size = len(unit)
        return (size >= 3 and copies >= 2) or (size == 2 and copies >= 3) or copies >= 4
    return (len(unit) >= 2 and copies >= 2) or copies >= 3


def _runs(keys: list[str], toks: list[Token]) -> list[_Run]:
    """Back-to-back repeats, longest coverage first at each position, never overlapping."""
    runs: list[_Run] = []
    i = 0
    while i < len(keys):
        best: _Run | None = None
        for size in range(1, min(MAX_UNIT, (len(keys) - i) // 2) + 1):
            unit = keys[i : i + size]
            copies = 1
            while keys[i + copies * size : i + (copies + 1) * size] == unit:
                copies += 1
            if copies > 1 and _counts_as_loop(toks[i : i + size], copies):
                if best is None or size * copies > best.unit * best.copies:
                    best = _Run(i, size, copies)
        if best is None:
            i += 1
        else:
            runs.append(best)
            i += best.unit * best.copies
    return runs


def _long_passages(keys: list[str], toks: list[Token], covered: set[int]) -> list[tuple[int, int, int]]:
    """(first, second, length) for a long passage said twice apart, outside the runs already found."""
    found: list[tuple[int, int, int]] = []
    seen: dict[tuple[str, ...], int] = {}
    i = 0
    while i < len(keys):
        unspaced = toks[i].script in UNSPACED_SCRIPTS
        size = LONG_PASSAGE_CHARS if unspaced else LONG_PASSAGE_WORDS
        gram = tuple(keys[i : i + size])
        if len(gram) < size or any(j in covered for j in range(i, i + size)):
            i += 1
            continue
        earlier = seen.get(gram)
        if earlier is not None and earlier + size <= i:
            length = size
            while (
                i + length < len(keys) and keys[earlier + length] == keys[i + length] and earlier + length < i
            ):
                length += 1
            found.append((earlier, i, length))
            i += length
            continue
        seen.setdefault(gram, i)
        i += 1
    return found


def _excerpt(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def find_repetition(text: str) -> list[Finding]:
    """REPETITION findings with spans over the looping part of `text`."""
    toks = tokens(text)
    keys = [fold(t.text) for t in toks]
    findings: list[Finding] = []
    covered: set[int] = set()
    for run in _runs(keys, toks):
        last = run.first + run.unit * run.copies - 1
        covered.update(range(run.first, last + 1))
        unit_text = text[toks[run.first].start : toks[run.first + run.unit - 1].end]
        findings.append(
            Finding(
                FindingKind.REPETITION,
                f"{_excerpt(unit_text)!r} comes {run.copies} times in a row",
                (toks[run.first].start, toks[last].end),
            )
        )
    for earlier, later, length in _long_passages(keys, toks, covered):
        passage = text[toks[later].start : toks[later + length - 1].end]
        findings.append(
            Finding(
                FindingKind.REPETITION,
                f"{_excerpt(passage)!r} is said twice (first at character {toks[earlier].start})",
                (toks[later].start, toks[later + length - 1].end),
            )
        )
    return sorted(findings, key=lambda f: f.span or (0, 0))

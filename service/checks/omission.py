"""OMISSION: a translation too short for its source, or a source sentence with no counterpart.

Translations run to a fairly steady length against their source, once the language pair is
accounted for (`script.expected_length_ratio`); human references here stay within about 20% of
it. An output far shorter has lost something. For a source of several sentences, its sentences
are aligned with the output's by length, in order, the way parallel texts are aligned (Gale and
Church): one source sentence may match one, two or three output sentences or the other way
round, or nothing at all, and a source sentence matched with nothing, or with far too little, is
reported with its span in the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from service.checks.findings import Finding, FindingKind
from service.checks.script import expected_length_ratio, sentences, text_size
from service.text.sentences import Sentence

# The whole output below this share of its expected length is an omission.
WHOLE_MIN_RATIO = 0.70
# An aligned block below this share of its expected length is an omission: a lone sentence
# varies more in length than a block of several.
BLOCK_MIN_RATIO = 0.55
MULTI_MIN_RATIO = 0.70
# Sources shorter than this (in `text_size` units) vary too much in length to judge.
MIN_SOURCE_SIZE = 30
# A source sentence shorter than this may be folded into a neighbour's translation unremarked.
MIN_SENTENCE_SIZE = 15
# Alignment costs: a log length ratio of 1 costs 1; a block that is not one-to-one costs more,
# and leaving a sentence unmatched costs OMIT_COST, which a big length mismatch exceeds.
_BLOCK_PENALTY = {(1, 1): 0.0, (1, 2): 0.25, (2, 1): 0.25, (2, 2): 0.5, (1, 3): 0.5, (3, 1): 0.5}
OMIT_COST = 0.4
_SMOOTHING = 10.0
# Alignment paths stray at most this many sentences from the diagonal (long texts stay cheap).
_BAND = 12


@dataclass(frozen=True)
class _Block:
    source: tuple[int, int]  # [first, last) source sentence indices
    output: tuple[int, int]


def _align(source_sizes: list[float], output_sizes: list[float]) -> list[_Block]:
    n, m = len(source_sizes), len(output_sizes)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    moves = [*_BLOCK_PENALTY, (1, 0), (0, 1)]
    for i in range(n + 1):
        diagonal = i * m // max(n, 1)
        for j in range(max(0, diagonal - _BAND), min(m, diagonal + _BAND) + 1):
            if cost[i][j] == inf:
                continue
            for di, dj in moves:
                ni, nj = i + di, j + dj
                if ni > n or nj > m:
                    continue
                if di and dj:
                    s = sum(source_sizes[i:ni])
                    t = sum(output_sizes[j:nj])
                    step = abs(math.log((t + _SMOOTHING) / (s + _SMOOTHING))) + _BLOCK_PENALTY[(di, dj)]
                else:
                    step = OMIT_COST
                if cost[i][j] + step < cost[ni][nj]:
                    cost[ni][nj] = cost[i][j] + step
                    back[ni][nj] = (di, dj)
    blocks: list[_Block] = []
    i, j = n, m
    while i or j:
        move = back[i][j]
        assert move is not None
        di, dj = move
        blocks.append(_Block((i - di, i), (j - dj, j)))
        i, j = i - di, j - dj
    return blocks[::-1]


def _span(parts: tuple[Sentence, ...], first: int, last: int) -> tuple[int, int]:
    return parts[first].start, parts[last - 1].end


def check_omission(source: str, output: str, source_language: str, target_language: str) -> list[Finding]:
    """OMISSION findings: sentences of the source left out, or an output too short overall."""
    factor = expected_length_ratio(source_language, target_language)
    source_size = text_size(source)
    if source_size < MIN_SOURCE_SIZE:
        return []
    findings: list[Finding] = []
    source_sentences = sentences(source, source_language)
    if len(source_sentences) >= 2:
        output_sentences = sentences(output, target_language)
        source_sizes = [text_size(s.text) * factor for s in source_sentences]
        output_sizes = [text_size(s.text) for s in output_sentences]
        for block in _align(source_sizes, output_sizes):
            expected = sum(source_sizes[block.source[0] : block.source[1]])
            if block.source[0] == block.source[1] or expected < MIN_SENTENCE_SIZE * factor:
                continue
            got = sum(output_sizes[block.output[0] : block.output[1]])
            span = _span(source_sentences, *block.source)
            if block.output[0] == block.output[1]:
                findings.append(
                    Finding(
                        FindingKind.OMISSION,
                        "a source sentence with no counterpart in the output",
                        span,
                        True,
                    )
                )
            elif (
                got / expected
                < (MULTI_MIN_RATIO if block.source[1] - block.source[0] > 1 else BLOCK_MIN_RATIO)
                and expected >= 2 * MIN_SENTENCE_SIZE
            ):
                findings.append(
                    Finding(
                        FindingKind.OMISSION,
                        f"translated in {got / expected:.0%} of the length it would need",
                        span,
                        True,
                    )
                )
    ratio = text_size(output) / (source_size * factor)
    if not findings and ratio < WHOLE_MIN_RATIO:
        findings.append(
            Finding(FindingKind.OMISSION, f"the output is {ratio:.0%} of the length its source would need")
        )
    return findings

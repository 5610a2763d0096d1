"""Packing sentences into chunks that fit a model's input budget, without dropping text."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_WORD = re.compile(r"\S+\s*")


def chunk_sentences(
    sentences: Sequence[str], budget: int, count_tokens: Callable[[str], int], *, joiner: str = " "
) -> list[str]:
    """Greedily pack whole sentences into chunks of at most `budget` tokens.

    A sentence longer than the budget on its own is cut at word boundaries (or between
    characters for scripts without spaces) into pieces that fit. Every character of every
    sentence ends up in exactly one chunk, in order.
    """
    if budget < 1:
        raise ValueError("budget must be at least one token")
    chunks: list[str] = []
    current: list[str] = []
    current_tokens = 0
    for sentence in sentences:
        pieces = (
            [sentence] if count_tokens(sentence) <= budget else _split_long(sentence, budget, count_tokens)
        )
        for piece in pieces:
            piece_tokens = count_tokens(piece)
            # The joiner may add a token; count the joined text when close to the limit.
            if current and (
                current_tokens + piece_tokens > budget
                or count_tokens(joiner.join([*current, piece])) > budget
            ):
                chunks.append(joiner.join(current))
                current, current_tokens = [], 0
            current.append(piece)
            current_tokens += piece_tokens
    if current:
        chunks.append(joiner.join(current))
    return chunks


def _split_long(sentence: str, budget: int, count_tokens: Callable[[str], int]) -> list[str]:
    units = _WORD.findall(sentence)
    if len(units) <= 1:
        units = list(sentence)  # no spaces (CJK, or one enormous token): cut between characters
    pieces: list[str] = []
    current = ""
    for unit in units:
        candidate = current + unit
        if current and count_tokens(candidate.strip()) > budget:
            pieces.append(current.strip())
            current = unit
        else:
            current = candidate
        # A single unit over budget (a giant "word"): cut it by characters.
        if count_tokens(current.strip()) > budget and len(current) > 1:
            head = current
            while head and count_tokens(head.strip()) > budget:
                cut = max(1, len(head) * budget // max(count_tokens(head), 1))
                cut = min(cut, len(head) - 1) or 1
                pieces.append(head[:cut].strip())
                head = head[cut:]
            current = head
    if current.strip():
        pieces.append(current.strip())
    return [p for p in pieces if p]

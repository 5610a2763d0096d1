"""Packing sentences into chunks that fit a model's input budget, without dropping text."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_WORD = re.compile(r"\S+\s*")
# The most tokens one join is taken to add to the sum of the parts' counts.
_JOIN_MARGIN = 2


def chunk_sentences(
    sentences: Sequence[str],
    budget: int,
    count_tokens: Callable[[str], int],
    *,
    joiner: str = " ",
    checkpoint: Callable[[], None] | None = None,
) -> list[str]:
    """Greedily pack whole sentences into chunks of at most `budget` tokens.

    A sentence longer than the budget on its own is cut at word boundaries (or between
    characters for scripts without spaces) into pieces that fit. Every character of every
    sentence ends up in exactly one chunk, in order. `checkpoint` is called before each sentence;
    it raises to abandon the work (a caller gone).
    """
    if budget < 1:
        raise ValueError("budget must be at least one token")
    chunks: list[str] = []
    current: list[str] = []
    current_tokens = 0
    for sentence in sentences:
        if checkpoint is not None:
            checkpoint()
        tokens = count_tokens(sentence)
        pieces = (
            [(sentence, tokens)]
            if tokens <= budget
            else [(piece, count_tokens(piece)) for piece in _split_long(sentence, budget, count_tokens)]
        )
        for piece, piece_tokens in pieces:
            # A join may add a token or two (the joiner, a word that tokenizes differently after it):
            # the joined text is counted only when the parts come that close to the limit, not for
            # every sentence, which made a long article's chunking quadratic.
            near = current_tokens + piece_tokens + _JOIN_MARGIN * len(current) >= budget
            if current and (
                current_tokens + piece_tokens > budget
                or (near and count_tokens(joiner.join([*current, piece])) > budget)
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

"""Multilingual sentence splitting with character offsets into the original text."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Languages pysbd has rules for; others use the generic rules below.
_PYSBD_LANGUAGES = frozenset("en hi mr zh es am ar hy bg ur ru pl fa nl da fr my el it ja de kk sk".split())
# Generic rule: a sentence ends at . ! ? (and their CJK/Arabic forms), optionally followed by
# closing quotes or brackets, then white space; CJK full stops need no white space after them.
_GENERIC_END = re.compile(r"(?<=[.!?؟…])[\"'”’»)\]]*\s+|(?<=[。！？])[”’」』）]*\s*")
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset of the first character in the source text
    end: int  # offset one past the last character


@lru_cache(maxsize=32)
def _segmenter(language: str) -> Any:
    import pysbd

    return pysbd.Segmenter(language=language, clean=False)


_lock = threading.Lock()


def split_sentences(text: str, language: str, checkpoint: Callable[[], None] | None = None) -> list[Sentence]:
    """Split `text` into sentences, never across paragraphs, each with its offsets in `text`.

    `checkpoint` is called before each paragraph; it raises to abandon a long split (a caller gone), and an
    abandoned split leaves nothing in the cache.
    """
    key = (text, language)
    with _cache_lock:
        cached = _recent.get(key)
        if cached is not None:
            _recent.move_to_end(key)
            return list(cached)
    sentences = _split(text, language, checkpoint)
    with _cache_lock:
        _recent[key] = sentences
        while len(_recent) > _RECENT_SPLITS:
            _recent.popitem(last=False)
    return list(sentences)


# One article is split several times in one request (chunking, an extractive summary, grounding);
# the splitter takes seconds on the longest ones. The last few splits are kept.
_RECENT_SPLITS = 8
_recent: OrderedDict[tuple[str, str], tuple[Sentence, ...]] = OrderedDict()
_cache_lock = threading.Lock()


def _split(text: str, language: str, checkpoint: Callable[[], None] | None) -> tuple[Sentence, ...]:
    sentences: list[Sentence] = []
    cursor = 0
    for para_start, para in _paragraphs(text):
        if checkpoint is not None:
            checkpoint()
        for piece in _split_paragraph(para, language):
            stripped = piece.strip()
            if not stripped:
                continue
            found = text.find(stripped, max(cursor, para_start))
            if found < 0:  # the splitter altered the text; keep going without offsets drifting
                continue
            sentences.append(Sentence(stripped, found, found + len(stripped)))
            cursor = found + len(stripped)
    return tuple(sentences)


def _paragraphs(text: str) -> list[tuple[int, str]]:
    out = []
    start = 0
    for match in _PARAGRAPH.finditer(text):
        out.append((start, text[start : match.start()]))
        start = match.end()
    out.append((start, text[start:]))
    return [(s, p) for s, p in out if p.strip()]


def _split_paragraph(paragraph: str, language: str) -> list[str]:
    if language in _PYSBD_LANGUAGES:
        # pysbd keeps state per call; its segmenters are cheap to share behind a lock.
        with _lock:
            return list(_segmenter(language).segment(paragraph))
    return _GENERIC_END.split(paragraph)

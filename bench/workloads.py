"""What the benchmark sends: English passages and articles of set lengths, built from the seed articles.

Every request text is unique (it carries its index), so that a result cache cannot answer a throughput
run; the cache has a measurement of its own.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
# The English seeds: the reference sample and the en_* articles.
_ENGLISH = ("000_", "en_")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

# Six target languages for the multi-target runs, one en->xx model each.
TARGET_LANGUAGES = ("de", "fr", "es", "it", "nl", "pt")


@cache
def english_paragraphs() -> tuple[str, ...]:
    """Body paragraphs of the English seeds (headlines dropped), in file order."""
    paragraphs: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        if not path.name.startswith(_ENGLISH):
            continue
        blocks = [b.strip() for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
        paragraphs.extend(b.replace("\n", " ") for b in blocks[1:])
    if not paragraphs:
        raise RuntimeError(f"no English seed articles in {SEEDS}")
    return tuple(paragraphs)


@cache
def english_sentences() -> tuple[str, ...]:
    return tuple(s for p in english_paragraphs() for s in _SENTENCE_END.split(p) if len(s) > 20)


def passage(index: int, chars: int = 300) -> str:
    """A few consecutive sentences, about `chars` long: one translation request."""
    sentences = english_sentences()
    parts = [f"Update {index}:"]
    i = index
    while sum(len(p) + 1 for p in parts) < chars:
        parts.append(sentences[i % len(sentences)])
        i += 1
    return " ".join(parts)


def article(index: int, chars: int) -> str:
    """A news article of about `chars` characters: a headline and whole paragraphs cycled from the seeds,
    the last one cut at a sentence end."""
    paragraphs = english_paragraphs()
    blocks = [f"Bulletin {index}: regional news digest"]
    size = len(blocks[0])
    i = index
    while size < chars:
        paragraph = paragraphs[i % len(paragraphs)]
        i += 1
        room = chars - size - 2
        if len(paragraph) > room:
            kept = ""
            for sentence in _SENTENCE_END.split(paragraph):
                if len(kept) + len(sentence) + 1 > room:
                    break
                kept = f"{kept} {sentence}".strip()
            if len(kept) < 40:  # not even one sentence fits: stop short of the target
                break
            paragraph = kept
        blocks.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(blocks)

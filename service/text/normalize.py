"""Invisible and control characters in submitted text, handled one way for every RPC.

- Stripped, silently: zero-width characters (U+200B ZERO WIDTH SPACE, U+200C ZWNJ, U+200D ZWJ,
  U+2060 WORD JOINER, U+FEFF BOM / ZERO WIDTH NO-BREAK SPACE) and the bidirectional embedding,
  override and isolate controls (U+202A..U+202E, U+2066..U+2069). They are invisible, carry
  nothing a summary needs, can make a text read differently from what a model sees ("Trojan
  Source" reordering), and split words in ways that confuse tokenizers and language detection.
- Refused with INVALID_ARGUMENT, reason CONTROL_CHARACTERS: NUL and the other C0 control
  characters except tab, line feed, vertical tab, form feed and carriage return, and DEL. They
  never occur in prose; they mark binary or corrupted input, which no model output would fix.

Offsets the service returns (extractive spans) index the text as submitted: the pipeline maps
them back over what was stripped here.
"""

from __future__ import annotations

import re

from service.errors import InvalidInputError, Reason

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
STRIPPED_CHARACTERS = frozenset(ZERO_WIDTH + BIDI_CONTROLS)
_STRIP = str.maketrans("", "", ZERO_WIDTH + BIDI_CONTROLS)
_REFUSED = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


def clean_text(text: str, field: str) -> str:
    """`text` without zero-width and bidi controls; InvalidInputError if it holds a refused control."""
    bad = _REFUSED.search(text)
    if bad is not None:
        raise InvalidInputError(
            field,
            f"contains the control character U+{ord(bad.group()):04X} at index {bad.start()}; "
            "send plain text",
            reason=Reason.CONTROL_CHARACTERS,
        )
    return text.translate(_STRIP)


def submitted_positions(original: str) -> list[int]:
    """For each character of `clean_text(original).strip()`, its index in `original`.

    Maps offsets into the text the pipeline works on back to the text as submitted.
    """
    kept = [i for i, ch in enumerate(original) if ch not in STRIPPED_CHARACTERS]
    lead = 0
    while lead < len(kept) and original[kept[lead]].isspace():
        lead += 1
    return kept[lead:]

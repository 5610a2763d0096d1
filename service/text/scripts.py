"""Which languages and scripts are written without spaces, and what goes between their sentences.

Chinese, Japanese and Thai put no space between words or between sentences, so text in them is
joined with nothing. Korean is not one of them: its syllable blocks look like CJK characters, but
it separates words and sentences with spaces, like the Latin scripts.
"""

from __future__ import annotations

# Languages (normalised tags) written without spaces between words and sentences.
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th"})

# The same scripts as the body of a regex character class: Thai, hiragana and katakana, CJK
# unified ideographs with extension A.
NO_SPACE_CHARACTERS = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"


def joiner(language: str) -> str:
    """What goes between two sentences (or chunks, or translated pieces) of `language`."""
    return "" if language in NO_SPACE_LANGUAGES else " "

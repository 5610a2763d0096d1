"""Writing systems, word tokens with offsets, and the folding the checks compare words by.

The checks compare a source with an output that may be in another script, so they need to know
which script a character belongs to, which scripts mark names with capitals, which are written
without spaces, and how to compare two spellings that differ only in accents or case.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from service.text.sentences import Sentence, split_sentences


class Script(StrEnum):
    LATIN = "Latin"
    CYRILLIC = "Cyrillic"
    GREEK = "Greek"
    ARABIC = "Arabic"
    HEBREW = "Hebrew"
    HAN = "Han"
    KANA = "Kana"
    HANGUL = "Hangul"
    THAI = "Thai"
    INDIC = "Indic"
    OTHER = "other"


# Scripts in which a capital letter starts a name (and a sentence).
CASED_SCRIPTS = frozenset({Script.LATIN, Script.CYRILLIC, Script.GREEK})
# Scripts written without spaces between words: a word is not a unit there, a character is.
UNSPACED_SCRIPTS = frozenset({Script.HAN, Script.KANA, Script.THAI})

_LANGUAGE_SCRIPTS: dict[str, Script] = {
    "ru": Script.CYRILLIC,
    "uk": Script.CYRILLIC,
    "bg": Script.CYRILLIC,
    "sr": Script.CYRILLIC,
    "el": Script.GREEK,
    "ar": Script.ARABIC,
    "fa": Script.ARABIC,
    "ur": Script.ARABIC,
    "he": Script.HEBREW,
    "zh": Script.HAN,
    "ja": Script.KANA,
    "ko": Script.HANGUL,
    "th": Script.THAI,
    "hi": Script.INDIC,
    "bn": Script.INDIC,
}


def language_script(language: str) -> Script:
    """The script a language is normally written in (Latin unless listed)."""
    return _LANGUAGE_SCRIPTS.get(language, Script.LATIN)


# Code point ranges [start, end) of each script, checked in this order.
_SCRIPT_RANGES: tuple[tuple[Script, tuple[tuple[int, int], ...]], ...] = (
    (Script.LATIN, ((0, 0x0250), (0x1E00, 0x1F00))),
    (Script.GREEK, ((0x0370, 0x0400), (0x1F00, 0x2000))),
    (Script.CYRILLIC, ((0x0400, 0x0530),)),
    (Script.HEBREW, ((0x0590, 0x0600),)),
    (Script.ARABIC, ((0x0600, 0x0780), (0x08A0, 0x0900), (0xFB50, 0xFE00), (0xFE70, 0xFF00))),
    (Script.INDIC, ((0x0900, 0x0E00),)),
    (Script.THAI, ((0x0E00, 0x0E80),)),
    (Script.KANA, ((0x3040, 0x3100), (0x31F0, 0x3200), (0xFF66, 0xFFA0))),
    (Script.HANGUL, ((0x1100, 0x1200), (0x3130, 0x3190), (0xAC00, 0xD7B0))),
    (Script.HAN, ((0x3400, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2FA20), (0x3007, 0x3008))),  # U+3007 〇
    (Script.LATIN, ((0xFF21, 0xFF5B),)),  # full-width Latin letters
)


@lru_cache(maxsize=8192)
def char_script(ch: str) -> Script | None:
    """The script of a letter or digit-like character; None for anything else (digits included)."""
    if not ch.isalpha():
        return None
    code = ord(ch)
    for script, ranges in _SCRIPT_RANGES:
        if any(start <= code < end for start, end in ranges):
            return script
    return Script.OTHER


def letter_scripts(text: str) -> dict[Script, int]:
    """How many letters of each script the text holds."""
    counts: dict[Script, int] = {}
    for ch in text:
        script = char_script(ch)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return counts


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    script: Script | None  # None: digits only

    @property
    def is_capitalised(self) -> bool:
        return self.text[:1].isupper()


def _is_mark(ch: str) -> bool:
    # Combining marks belong to their word (Arabic and Indic vowel signs); so does the Arabic
    # tatweel, which only stretches a word.
    return unicodedata.category(ch)[0] == "M" or ch == "\u0640"


@lru_cache(maxsize=8192)
def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or _is_mark(ch)


# The checks of one output tokenize its text and its source several times each; texts up to this long are
# tokenized once and remembered (the last few), longer ones (a whole article) every time, and not kept.
_CACHED_TOKENS_CHARS = 4096


def tokens(text: str, *, split_unspaced: bool = True) -> list[Token]:
    """Words with their offsets: runs of letters and digits, cut where the script changes.

    Apostrophes and hyphens end a word ("l’Arizona" -> "l", "Arizona"; "Kai-Fu" -> "Kai", "Fu").
    With `split_unspaced`, each character of a script written without spaces is a token.
    """
    if len(text) <= _CACHED_TOKENS_CHARS:
        return list(_remembered_tokens(text, split_unspaced))
    return _tokens(text, split_unspaced)


@lru_cache(maxsize=32)
def _remembered_tokens(text: str, split_unspaced: bool) -> tuple[Token, ...]:
    return tuple(_tokens(text, split_unspaced))


def _tokens(text: str, split_unspaced: bool) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if not _is_word_char(text[i]):
            i += 1
            continue
        start = i
        run_script = char_script(text[i])
        i += 1
        if not (split_unspaced and run_script in UNSPACED_SCRIPTS):
            while i < n and _is_word_char(text[i]):
                script = char_script(text[i])
                if script is not None and not _is_mark(text[i]):
                    if split_unspaced and script in UNSPACED_SCRIPTS:
                        break
                    if run_script is None:
                        run_script = script
                    elif script != run_script:
                        break
                i += 1
        while i < n and _is_mark(text[i]):
            i += 1
        out.append(Token(text[start:i], start, i, run_script))
    return out


_FOLD_EXTRA = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "ı": "i", "ё": "е"}
)
# Arabic spellings that vary without changing a word: hamza seats, alif maqsura, ta marbuta.
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})


@lru_cache(maxsize=64)
def sentences(text: str, language: str) -> tuple[Sentence, ...]:
    """`split_sentences`, remembered for the last few texts: several checks split the same output."""
    return tuple(split_sentences(text, language))


# Words recur across checks and calls; whole texts are folded once and not kept.
_CACHED_FOLD_CHARS = 64


def fold(text: str) -> str:
    """Lower case without accents and Arabic vowel signs: "Agüero" -> "aguero", "Ёлка" -> "елка"."""
    return _fold_word(text) if len(text) <= _CACHED_FOLD_CHARS else _fold(text)


@lru_cache(maxsize=65_536)
def _fold_word(text: str) -> str:
    return _fold(text)


def _fold(text: str) -> str:
    lowered = text.lower().translate(_FOLD_EXTRA).translate(_ARABIC_FOLD)
    decomposed = unicodedata.normalize("NFKD", lowered)
    # Stripping every combining mark would also strip the "й" of Cyrillic and Indic vowel signs;
    # strip only from Latin, Greek and Arabic letters.
    out: list[str] = []
    for ch in decomposed:
        if unicodedata.category(ch) == "Mn" and out and char_script(out[-1]) in _ACCENT_STRIPPED:
            continue
        if ch == "\u0640":
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


_ACCENT_STRIPPED = frozenset({Script.LATIN, Script.GREEK, Script.ARABIC})


# Length of the same content written in each language, relative to English, counted by
# `text_size`: published ratios for European languages run 1.1-1.3 against English; with a Han
# character counted as three letters, Chinese and Japanese come out close to English.
LENGTH_RELATIVE_TO_ENGLISH: dict[str, float] = {
    "en": 1.0,
    "fr": 1.15,
    "es": 1.15,
    "it": 1.12,
    "pt": 1.12,
    "ca": 1.12,
    "ro": 1.12,
    "de": 1.25,
    "nl": 1.15,
    "da": 1.05,
    "sv": 1.05,
    "no": 1.05,
    "fi": 1.1,
    "pl": 1.12,
    "cs": 1.05,
    "sk": 1.05,
    "ru": 1.14,
    "uk": 1.1,
    "bg": 1.12,
    "el": 1.2,
    "ar": 0.9,
    "fa": 0.95,
    "he": 0.8,
    "tr": 1.05,
    "zh": 1.04,
    "ja": 1.1,
    "ko": 0.9,
}
# Weight of one character in `text_size`, by script: a Han character carries about a word.
_SIZE_WEIGHTS = {Script.HAN: 3.0, Script.KANA: 1.5, Script.HANGUL: 2.0}


def text_size(text: str) -> float:
    """Letters and digits, a Han character counting as three letters: a length comparable across scripts."""
    size = 0.0
    for ch in text:
        if ch.isalnum():
            script = char_script(ch)
            size += _SIZE_WEIGHTS.get(script, 1.0) if script is not None else 1.0
    return size


def expected_length_ratio(source_language: str, target_language: str) -> float:
    """How much longer (by `text_size`) a translation usually is than its source."""
    return LENGTH_RELATIVE_TO_ENGLISH.get(target_language, 1.0) / LENGTH_RELATIVE_TO_ENGLISH.get(
        source_language, 1.0
    )

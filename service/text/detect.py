"""Offline language identification with a confidence, on py3langid's bundled model.

Besides the text's main language, the detector tells whether the text mixes languages: it
identifies the language of each sentence, joins neighbouring sentences of one language into
passages, identifies each passage again as a whole, and measures how many of the text's letters
each confidently identified language covers. Two or more languages with a substantial share
(MIXED_MIN_SHARE) make the text mixed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from service.errors import UndeterminedLanguageError
from service.text.languages import LANGUAGE_NAMES, language_name
from service.text.sentences import split_sentences

# Below this many letters a text says too little about its language.
MIN_LETTERS = 1
# A language counts as part of a mixed text when it covers at least this share of the letters.
MIXED_MIN_SHARE = 0.20
# A passage counts towards its language's share only when identified at least this surely.
PASSAGE_CONFIDENT = 0.90
# Sentences with fewer letters, or identified less surely, join their neighbours' passage:
# headlines and short quotes are where single-sentence identification goes wrong.
SENTENCE_MIN_LETTERS = 12
SENTENCE_CONFIDENT = 0.50
# A passage is identified again on at most this many of its characters: its sentences already
# agree on the language, and a sample keeps the cost of a long single-language text low.
PASSAGE_SAMPLE_CHARS = 4_000
# The splitter's language-neutral rules ("und" is BCP-47 for "undetermined"): they end sentences
# at Latin, CJK and Arabic punctuation alike, and never look inside a language they do not know.
_ANY_LANGUAGE = "und"


@dataclass(frozen=True)
class LanguageShare:
    """A language and the share of a text's letters written in it, from 0 to 1."""

    language: str
    share: float


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float
    candidates: tuple[tuple[str, float], ...] = ()
    # Set only when the text mixes languages: each language with a substantial share, largest first.
    mixed: tuple[LanguageShare, ...] = ()


def count_letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def describe_shares(shares: tuple[LanguageShare, ...]) -> str:
    """E.g. "English ('en') 58%, French ('fr') 42%"."""
    return ", ".join(f"{language_name(s.language)} ({s.language!r}) {s.share:.0%}" for s in shares)


class LanguageDetector:
    """Identifies the language of a text; thread-safe, loads its model once on first use."""

    def __init__(self, max_chars: int = 20_000) -> None:
        self._max_chars = max_chars
        self._lock = threading.Lock()
        self._identifier = None

    def _model(self) -> Any:
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                # Restrict to the languages the service names: dialect labels (wuu, ary, pcm...)
                # would otherwise split the probability of their macrolanguage.
                identifier.set_languages(sorted(set(LANGUAGE_NAMES) & set(identifier.labels)))
                self._identifier = identifier
            return self._identifier

    def warmup(self) -> None:
        self.detect("The service is warming up its language detector.")

    def detect(self, text: str, *, field: str = "text") -> Detection:
        """Most likely language with its probability, and the languages a mixed text is made of.

        A text in one language is identified as a whole, on its opening `max_chars` characters.
        For a mixed text, identification as a whole favours whichever language has the more
        distinctive features, not the one most of the text is in; there the language with the
        largest share is the answer, its share the confidence, and the shares the candidates.
        Raises when the text has no letters.
        """
        if count_letters(text) < MIN_LETTERS:
            raise UndeterminedLanguageError(
                field, "has no letters to identify a language by; set source_language explicitly"
            )
        sample = text[: self._max_chars]
        # With norm_probs the model's ranking is already a probability distribution, best first.
        ranked = self._model().rank(sample)[:5]
        candidates = tuple((lang, float(prob)) for lang, prob in ranked)
        top_lang, top_conf = candidates[0]
        shares = self.language_shares(text)
        mixed = tuple(s for s in shares if s.share >= MIXED_MIN_SHARE)
        if len(mixed) < 2:
            return Detection(language=top_lang, confidence=top_conf, candidates=candidates)
        return Detection(
            language=mixed[0].language,
            confidence=mixed[0].share,
            candidates=tuple((s.language, s.share) for s in shares[:5]),
            mixed=mixed,
        )

    def language_shares(self, text: str) -> tuple[LanguageShare, ...]:
        """Each confidently identified language's share of the text's letters, largest first.

        Letters in passages that cannot be identified surely count in the total but towards no
        language, so the shares may add up to less than 1.
        """
        passages = self._passages(text)
        total = sum(letters for _, letters in passages)
        if not total:
            return ()
        model = self._model()
        letters_by_language: dict[str, int] = {}
        for passage, letters in passages:
            language, confidence = model.rank(passage[:PASSAGE_SAMPLE_CHARS])[0]
            if confidence >= PASSAGE_CONFIDENT:
                letters_by_language[language] = letters_by_language.get(language, 0) + letters
        shares = [LanguageShare(lang, n / total) for lang, n in letters_by_language.items()]
        return tuple(sorted(shares, key=lambda s: (-s.share, s.language)))

    def _passages(self, text: str) -> list[tuple[str, int]]:
        """Runs of consecutive sentences of one language, joined, with their letter counts.

        A sentence too short or too ambiguous to identify on its own joins the passage before it
        (or, at the start, the one after it).
        """
        model = self._model()
        labelled: list[tuple[str | None, str, int]] = []
        for sentence in split_sentences(text, _ANY_LANGUAGE):
            letters = count_letters(sentence.text)
            if not letters:
                continue
            label = None
            if letters >= SENTENCE_MIN_LETTERS:
                language, confidence = model.rank(sentence.text)[0]
                if confidence >= SENTENCE_CONFIDENT:
                    label = language
            labelled.append((label, sentence.text, letters))
        first = next((label for label, _, _ in labelled if label is not None), None)
        passages: list[tuple[str | None, list[str], int]] = []
        for label, sentence_text, letters in labelled:
            label = label or (passages[-1][0] if passages else first)
            if passages and passages[-1][0] == label:
                passages[-1][1].append(sentence_text)
                passages[-1] = (label, passages[-1][1], passages[-1][2] + letters)
            else:
                passages.append((label, [sentence_text], letters))
        return [("\n".join(sentences), letters) for _, sentences, letters in passages]

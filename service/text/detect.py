"""Offline language identification with a confidence, on py3langid's bundled model."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from service.errors import UndeterminedLanguageError
from service.text.languages import LANGUAGE_NAMES

# Below this many letters a text says too little about its language.
MIN_LETTERS = 1


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float
    candidates: tuple[tuple[str, float], ...] = ()


def count_letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


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
        """Most likely language with its probability; raises when the text has no letters."""
        if count_letters(text) < MIN_LETTERS:
            raise UndeterminedLanguageError(
                field, "has no letters to identify a language by; set source_language explicitly"
            )
        sample = text[: self._max_chars]
        # With norm_probs the model's ranking is already a probability distribution, best first.
        ranked = self._model().rank(sample)[:5]
        candidates = tuple((lang, float(prob)) for lang, prob in ranked)
        top_lang, top_conf = candidates[0]
        return Detection(language=top_lang, confidence=top_conf, candidates=candidates)

"""Fake models for unit and integration tests: deterministic, instant, and named as fakes.

They implement the Summarizer and Translator protocols of service.models.base with visible,
checkable transformations, so that tests can tell which model made which text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from service.errors import ModelError, RequestCancelledError
from service.models.base import (
    SUMMARIZE,
    TRANSLATE,
    GenerationParams,
    ModelDescription,
    ModelSpec,
    ScoredText,
    SummaryText,
)
from service.models.extractive import ExtractiveSummarizer
from service.pipeline import Limits, SummarizationPipeline
from service.text.detect import LanguageDetector


class FakeSummarizer:
    """Summary = "<name>[<lang>]:" + the first `max_sentences` words of the input."""

    def __init__(
        self,
        name: str = "fake-sum",
        languages: Sequence[str] = ("en",),
        max_input_tokens: int = 10_000,
        delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self.languages = tuple(languages)
        self.max_input_tokens = max_input_tokens
        self.delay_s = delay_s
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def describe(self) -> ModelDescription:
        return ModelDescription(self.name, "fake", "", "none", (SUMMARIZE,), summary_languages=self.languages)

    def warmup(self) -> None:
        pass

    def summarizes(self, language: str) -> bool:
        return language in self.languages

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        with self.lock:
            self.calls.append((text, language))
        _sleep_checking(self.delay_s, params)
        words = text.split()[: max(1, params.max_sentences)]
        return SummaryText(f"{self.name}[{language}]: " + " ".join(words))


class FakeBatchSummarizer(FakeSummarizer):
    """A FakeSummarizer that also summarizes several texts in one call, and records each batch."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[list[str]] = []

    def summarize_many(
        self, texts: Sequence[str], language: str, params: GenerationParams
    ) -> list[SummaryText]:
        with self.lock:
            self.batches.append(list(texts))
        return [self.summarize(text, language, params) for text in texts]


class FakeTranslator:
    """Translation = "<target>(" + text + ")"; covers the pairs given."""

    def __init__(
        self,
        name: str,
        pairs: Sequence[tuple[str, str]],
        fail_on: Sequence[str] = (),
        delay_s: float = 0.0,
        max_input_tokens: int = 10_000,
    ) -> None:
        self.name = name
        self.pairs = frozenset(pairs)
        self.fail_on = frozenset(fail_on)
        self.delay_s = delay_s
        self.max_input_tokens = max_input_tokens
        self.calls: list[tuple[tuple[str, ...], str, str]] = []

    def describe(self) -> ModelDescription:
        return ModelDescription(
            self.name, "fake", "", "none", (TRANSLATE,), translation_pairs=tuple(sorted(self.pairs))
        )

    def warmup(self) -> None:
        pass

    def translates(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        self.calls.append((tuple(texts), source, target))
        if target in self.fail_on:
            raise ModelError(f"fake failure into {target}")
        _sleep_checking(self.delay_s, params)
        return [f"{target}({t})" for t in texts]


class FakeMultiTranslator(FakeTranslator):
    """A FakeTranslator that also takes several targets in one call, like a batched LLM."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.batches: list[tuple[str, tuple[str, ...]]] = []

    def translate_to_many(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[str]]:
        self.batches.append((source, tuple(targets)))
        if set(targets) & self.fail_on:
            raise ModelError("fake batch failure")
        _sleep_checking(self.delay_s, params)
        return {target: [f"{target}({t})" for t in texts] for target in targets}


class ScriptedTranslator(FakeTranslator):
    """A FakeTranslator that answers from a script: `script[(text, target)]` is what it writes for
    that text, or a list of answers given in turn (the last one repeats). Unscripted text gets the
    FakeTranslator's "<target>(text)". Tests script real sentences, right or faulty, for the checks.
    Every output is scored `log_prob` (None: no score, like a model that reports none)."""

    def __init__(
        self,
        name: str,
        pairs: Sequence[tuple[str, str]],
        script: Mapping[tuple[str, str], str | Sequence[str]],
        log_prob: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, pairs, **kwargs)
        self.log_prob = log_prob
        self.script = {
            key: [answers] if isinstance(answers, str) else list(answers) for key, answers in script.items()
        }

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        plain = super().translate(texts, source, target, params)
        return [self._answer(text, target, default) for text, default in zip(texts, plain, strict=True)]

    def translate_scored(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[ScoredText]:
        return [ScoredText(text, self.log_prob) for text in self.translate(texts, source, target, params)]

    def _answer(self, text: str, target: str, default: str) -> str:
        answers = self.script.get((text, target))
        if not answers:
            return default
        return answers.pop(0) if len(answers) > 1 else answers[0]


class ScriptedSummarizer(FakeSummarizer):
    """A FakeSummarizer that writes the same given summary whatever the article."""

    def __init__(self, summary: str, log_prob: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.summary = summary
        self.log_prob = log_prob

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        super().summarize(text, language, params)
        return SummaryText(self.summary, log_prob=self.log_prob)


def _sleep_checking(seconds: float, params: GenerationParams) -> None:
    """Sleep in 10 ms 'decoding steps', stopping like a real model when asked to."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if params.should_stop is not None and params.should_stop():
            raise RequestCancelledError("stopped")
        time.sleep(0.01)
    if params.should_stop is not None and params.should_stop():
        raise RequestCancelledError("stopped")


ALL = ("en", "fr", "de", "es", "ru", "ar", "zh")


def fake_pipeline(
    *,
    summarizer: FakeSummarizer | None = None,
    translators: Sequence[FakeTranslator] | None = None,
    limits: Limits = Limits(),
    detector: LanguageDetector | None = None,
) -> SummarizationPipeline:
    """English and French summaries; translation between English and every other language."""
    summarizer = summarizer or FakeSummarizer(languages=("en", "fr"))
    if translators is None:
        pairs = [(a, b) for lang in ALL if lang != "en" for a, b in (("en", lang), (lang, "en"))]
        translators = [FakeTranslator("fake-mt", pairs)]
    return SummarizationPipeline(
        profile="fake",
        detector=detector or LanguageDetector(),
        summarizers=[summarizer],
        translators=list(translators),
        extractive=ExtractiveSummarizer(ModelSpec(name="textrank", backend="extractive")),
        limits=limits,
    )

"""What the pipeline needs from a model, as protocols, and the plain data that crosses that line.

Backends speak text, never protobuf. A backend object may implement Summarizer, Translator or both.

Models also say how sure they were of what they wrote, where they can: the mean log-probability per
generated token (`SummaryText.log_prob`, and `ScoredTranslator.translate_scored`). It is optional: a
backend without it (the extractive summarizer) leaves it None, and the pipeline's confidence then
rests on its integrity checks alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from service.text.terminology import NO_TERMINOLOGY, Terminology

SUMMARIZE = "summarize"
TRANSLATE = "translate"
TASKS = frozenset({SUMMARIZE, TRANSLATE})


@dataclass(frozen=True)
class ModelSpec:
    """One model of a profile, as configured: what to load and what it is for."""

    name: str
    backend: str  # a registered backend name: "seq2seq", "llm", "extractive"
    source: str = ""  # hub id, local folder, GGUF file, or "packaged:<name>"
    tasks: tuple[str, ...] = (SUMMARIZE,)
    # Languages it summarizes; empty means any language the sentence splitter handles.
    languages: tuple[str, ...] = ()
    # Directed (source, target) pairs it translates. For multilingual models list them all,
    # or set `translate_all = true` in options to mean every pair of `languages`.
    pairs: tuple[tuple[str, str], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadContext:
    """Where and how backends load their weights. Backends take these from here and nowhere else (not from
    the environment): Settings fills them in once, at start-up."""

    cache_dir: Path
    threads: int = 1
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"
    runtime: str = "transformers"  # default runtime; a spec's options may override it
    offline: bool = False  # never ask the Hugging Face hub; use what its cache holds


@dataclass(frozen=True)
class GenerationParams:
    """Decoding controls for one call. `should_stop` is polled between decoding steps.

    `terminology`: the request's glossary and kept terms. A model that honours it applies, to each
    text, the terms that `terminology.terms_for(text, output_language)` picks.
    """

    max_new_tokens: int = 120
    min_new_tokens: int = 0
    num_beams: int = 1
    max_sentences: int = 3
    should_stop: Callable[[], bool] | None = None
    terminology: Terminology = NO_TERMINOLOGY


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class SummaryText:
    """A model's summary; extractive models also say where each sentence came from."""

    text: str
    spans: tuple[Span, ...] = ()
    # The mean log-probability per generated token (<= 0); None when the model gives none.
    log_prob: float | None = None


@dataclass(frozen=True)
class ScoredText:
    """A model's output and the mean log-probability per generated token (None: not reported)."""

    text: str
    log_prob: float | None = None


@dataclass(frozen=True)
class ModelDescription:
    name: str
    backend: str
    source: str
    runtime: str
    tasks: tuple[str, ...]
    summary_languages: tuple[str, ...] = ()
    translation_pairs: tuple[tuple[str, str], ...] = ()
    any_language: bool = False
    # Whether its outputs follow GenerationParams.terminology (others' are still checked and reported).
    honours_terminology: bool = False


@runtime_checkable
class Model(Protocol):
    name: str

    def describe(self) -> ModelDescription: ...

    def warmup(self) -> None: ...


@runtime_checkable
class Summarizer(Model, Protocol):
    #: Most tokens one input may have; longer articles are chunked by the pipeline.
    max_input_tokens: int

    def summarizes(self, language: str) -> bool: ...

    def count_tokens(self, text: str) -> int: ...

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText: ...


@runtime_checkable
class Translator(Model, Protocol):
    max_input_tokens: int

    def translates(self, source: str, target: str) -> bool: ...

    def count_tokens(self, text: str) -> int: ...

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]: ...


@runtime_checkable
class BatchSummarizer(Summarizer, Protocol):
    """A summarizer that summarizes several texts in one batched pass (the chunks of a long article)."""

    def summarize_many(
        self, texts: Sequence[str], language: str, params: GenerationParams
    ) -> list[SummaryText]: ...


@runtime_checkable
class MultiTargetTranslator(Translator, Protocol):
    """A translator that does several target languages in one batched pass."""

    def translate_to_many(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[str]]: ...


@runtime_checkable
class ScoredTranslator(Translator, Protocol):
    """A translator that also says how sure it was: `translate` with each output's log-probability."""

    def translate_scored(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[ScoredText]: ...


@runtime_checkable
class ScoredMultiTargetTranslator(MultiTargetTranslator, Protocol):
    """`translate_to_many` with each output's log-probability."""

    def translate_to_many_scored(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[ScoredText]]: ...


def expand_pairs(spec: ModelSpec) -> tuple[tuple[str, str], ...]:
    """The spec's translation pairs, with `translate_all` expanded over its languages."""
    if TRANSLATE not in spec.tasks:
        return ()
    if spec.options.get("translate_all"):
        langs = spec.languages
        return tuple((a, b) for a in langs for b in langs if a != b)
    return spec.pairs

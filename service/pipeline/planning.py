"""Validating requests and planning their work, before any model runs.

Cleans the submitted text, settles the source language (declared or detected, with warnings),
checks the targets and the options, and looks up in the route table which models make each
language. Every refusal names the request field it is about: InvalidInputError for a malformed
request, UnsupportedLanguageError for a language the profile cannot handle. The language
detector is the only model consulted here; its results are cached by the text's hash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service import telemetry
from service.errors import InvalidInputError, Reason, UnsupportedLanguageError
from service.models.base import GenerationParams, Summarizer
from service.pipeline.cache import ResultCache, text_key
from service.pipeline.evidence import check_min_confidence
from service.pipeline.routes import Route, RouteTable, SummaryRoute
from service.pipeline.terminology import validate_terminology
from service.pipeline.types import (
    LENGTH_PRESETS,
    MAX_SENTENCES_RANGE,
    MAX_TOKENS_RANGE,
    NUM_BEAMS_RANGE,
    Limits,
    Mode,
    SourceLanguage,
    SummarizeJob,
    SummaryOptions,
    TranslateJob,
)
from service.text.detect import Detection, LanguageDetector, describe_shares
from service.text.html import article_text
from service.text.languages import language_name, normalize_language
from service.text.normalize import clean_text
from service.text.terminology import NO_TERMINOLOGY, Terminology

# Detections below this confidence are reported as uncertain.
CONFIDENT = 0.80


@dataclass(frozen=True)
class Plan:
    """A validated summarization request, ready to run."""

    job: SummarizeJob
    text: str
    source: SourceLanguage
    summary_language: str
    targets: tuple[str, ...]
    params: GenerationParams
    summarizer: Summarizer
    # The article's way into the summary language, when the summarizer cannot read the source.
    pivot: Route | None = None
    # The summary's way into each other target, in the order asked.
    routes: tuple[Route, ...] = ()
    terminology: Terminology = NO_TERMINOLOGY

    def route_to(self, target: str) -> Route:
        return next(route for route in self.routes if route.target == target)


@dataclass(frozen=True)
class TranslationPlan:
    """A validated Translate request, ready to run."""

    texts: tuple[str, ...]
    source: SourceLanguage
    targets: tuple[str, ...]
    routes: tuple[Route, ...]  # into each target other than the source, in the order asked
    terminology: Terminology = NO_TERMINOLOGY
    min_confidence: float = 0.0
    submitted: tuple[str, ...] = ()  # the texts as the caller sent them, for offsets into them

    def route_to(self, target: str) -> Route:
        return next(route for route in self.routes if route.target == target)


class Planner:
    """Turns Summarize and Translate requests into plans. Raises the errors the caller should see."""

    def __init__(
        self,
        *,
        profile: str,
        detector: LanguageDetector,
        routes: RouteTable,
        extractive: Summarizer,
        limits: Limits,
        cache: ResultCache,
    ) -> None:
        self.profile = profile
        self.detector = detector
        self.routes = routes
        self.extractive = extractive
        self.limits = limits
        self.cache = cache

    # -- requests ------------------------------------------------------------------------------

    def detect(self, text: str) -> Detection:
        cleaned = clean_text(text, "text").strip()
        if not cleaned:
            raise InvalidInputError("text", "is empty", reason=Reason.EMPTY_TEXT)
        self._check_size(cleaned, "text")
        with telemetry.current().stage(telemetry.DETECT):
            return self.detector.detect(cleaned)

    def plan(self, job: SummarizeJob) -> Plan:
        """Validate a request and decide which models make which language."""
        text = self._article_text(job)
        params = generation_params(job.options)
        source = self._source_language(text, job.source_language, "source_language", "text")
        targets = self._targets(job.target_languages, source.language)
        summary = self._summary_route(source, job.options.mode)

        def unreachable(target: str) -> str:
            return (
                f"profile {self.profile!r} cannot produce {language_name(target)} ({target!r}) "
                f"from {language_name(summary.language)}; "
                f"supported: {', '.join(sorted(self.routes.languages))}"
            )

        routes = self._routes_into(summary.language, targets, unreachable)
        terminology = validate_terminology(job.terminology)
        return Plan(
            job,
            text,
            source,
            summary.language,
            targets,
            params,
            summary.summarizer,
            summary.pivot,
            routes,
            terminology,
        )

    def plan_translation(self, job: TranslateJob) -> TranslationPlan:
        """Validate a Translate request and find the route into each target."""
        texts = self._texts(job.texts)
        min_confidence = check_min_confidence(job.min_confidence, "min_confidence")
        if not job.target_languages:
            raise InvalidInputError(
                "target_languages", "is empty; give at least one language", reason=Reason.EMPTY
            )
        source = self._source_language("\n".join(texts), job.source_language, "source_language", "texts")
        targets = self._targets(job.target_languages, source.language)

        def unreachable(target: str) -> str:
            return f"profile {self.profile!r} cannot translate {source.language!r} into {target!r}"

        return TranslationPlan(
            texts,
            source,
            targets,
            self._routes_into(source.language, targets, unreachable),
            validate_terminology(job.terminology),
            min_confidence,
            tuple(job.texts),
        )

    # -- text ----------------------------------------------------------------------------------

    def _article_text(self, job: SummarizeJob) -> str:
        text = clean_text(job.text, "text")
        if job.is_html:  # entities can spell invisible controls too
            text = clean_text(article_text(text), "text")
        text = text.strip()
        if not text:
            raise InvalidInputError(
                "text",
                "is empty" + (" after removing HTML markup" if job.is_html else ""),
                reason=Reason.EMPTY_TEXT,
            )
        self._check_size(text, "text")
        return text

    def _texts(self, raw: Sequence[str]) -> tuple[str, ...]:
        if not raw:
            raise InvalidInputError("texts", "is empty; give at least one text", reason=Reason.EMPTY_TEXT)
        if len(raw) > self.limits.max_translate_texts:
            raise InvalidInputError(
                "texts",
                f"has {len(raw)} texts; the limit is {self.limits.max_translate_texts}",
                reason=Reason.TOO_MANY,
            )
        texts = []
        for i, text in enumerate(raw):
            cleaned = clean_text(text, f"texts[{i}]").strip()
            if not cleaned:
                raise InvalidInputError(f"texts[{i}]", "is empty", reason=Reason.EMPTY_TEXT)
            self._check_size(cleaned, f"texts[{i}]")
            texts.append(cleaned)
        return tuple(texts)

    def _check_size(self, text: str, field: str) -> None:
        if len(text) > self.limits.max_text_chars:
            raise InvalidInputError(
                field,
                f"has {len(text):,} characters; the limit is {self.limits.max_text_chars:,}",
                reason=Reason.TEXT_TOO_LONG,
            )

    # -- languages -----------------------------------------------------------------------------

    def _detect(self, text: str, field: str) -> Detection:
        """Detection, cached by the text's hash: a repeated article skips the detector."""
        key = ("detect", text_key(text))
        hit = self.cache.get(key)
        observer = telemetry.current()
        observer.cache("detection", hit is not None)
        if hit is None:
            with observer.stage(telemetry.DETECT):
                hit = self.detector.detect(text, field=field)
            self.cache.put(key, hit, 64)
        return hit

    def _source_language(self, text: str, declared: str, field: str, text_field: str) -> SourceLanguage:
        if declared:
            return self._declared_source(text, declared, field, text_field)
        return self._detected_source(text, text_field)

    def _declared_source(self, text: str, declared: str, field: str, text_field: str) -> SourceLanguage:
        known = self.routes.languages
        language = normalize_language(declared, field=field)
        if language not in known:
            raise UnsupportedLanguageError(
                field,
                f"{language_name(language)} ({language!r}) is not supported by profile "
                f"{self.profile!r}; supported: {', '.join(sorted(known))}",
            )
        warnings: list[str] = []
        try:
            detected: Detection | None = self._detect(text, text_field)
        except InvalidInputError:
            detected = None
        if detected and detected.language != language and detected.confidence >= CONFIDENT:
            warnings.append(
                f"source_language is {language!r} but the text looks like {detected.language!r} "
                f"(confidence {detected.confidence:.2f}); proceeding as {language!r}"
            )
        mixed = detected.mixed if detected else ()
        warnings.extend(_mixed_warning(detected, language))
        return SourceLanguage(language, 1.0, True, tuple(warnings), mixed)

    def _detected_source(self, text: str, text_field: str) -> SourceLanguage:
        known = self.routes.languages
        detected = self._detect(text, text_field)
        if detected.language not in known:
            raise UnsupportedLanguageError(
                text_field,
                f"is in {language_name(detected.language)} ({detected.language!r}, confidence "
                f"{detected.confidence:.2f}), which profile {self.profile!r} does not support; "
                f"supported: {', '.join(sorted(known))}. Set source_language if the detection is wrong",
            )
        warnings = _mixed_warning(detected, detected.language)
        if detected.confidence < CONFIDENT and not detected.mixed:  # a mix says why itself
            warnings.append(
                f"language detection is uncertain ({detected.language!r} at {detected.confidence:.2f}); "
                "set source_language to be sure"
            )
        return SourceLanguage(detected.language, detected.confidence, False, tuple(warnings), detected.mixed)

    def _targets(self, raw: Sequence[str], default: str, field: str = "target_languages") -> tuple[str, ...]:
        if len(raw) > self.limits.max_targets:
            raise InvalidInputError(
                field,
                f"has {len(raw)} languages; the limit is {self.limits.max_targets}",
                reason=Reason.TOO_MANY,
            )
        targets: list[str] = []
        for i, tag in enumerate(raw):
            language = normalize_language(tag, field=f"{field}[{i}]")
            if language in targets:
                raise InvalidInputError(
                    f"{field}[{i}]", f"{tag!r} repeats {language!r}", reason=Reason.DUPLICATE_LANGUAGE
                )
            targets.append(language)
        return tuple(targets) or (default,)

    # -- routes --------------------------------------------------------------------------------

    def _summary_route(self, source: SourceLanguage, mode: Mode) -> SummaryRoute:
        if mode is Mode.EXTRACTIVE:
            return SummaryRoute(self.extractive, source.language)
        summary = self.routes.summary_route(source.language)
        if summary is None:
            raise UnsupportedLanguageError(
                "source_language" if source.declared else "text",
                f"profile {self.profile!r} cannot summarize {language_name(source.language)} "
                f"({source.language!r}) text, directly or through English; try mode EXTRACTIVE",
            )
        return summary

    def _routes_into(
        self, source: str, targets: Sequence[str], unreachable: Callable[[str], str]
    ) -> tuple[Route, ...]:
        """The route from `source` into each target but itself; `unreachable` words the refusal."""
        routes = []
        for i, target in enumerate(targets):
            if target == source:
                continue
            route = self.routes.route(source, target)
            if route is None:
                raise UnsupportedLanguageError(f"target_languages[{i}]", unreachable(target))
            routes.append(route)
        return tuple(routes)


def generation_params(options: SummaryOptions) -> GenerationParams:
    """Decoding parameters from the summary options: explicit bounds over the length preset."""
    _check_range("max_tokens", options.max_tokens, MAX_TOKENS_RANGE)
    _check_range("max_sentences", options.max_sentences, MAX_SENTENCES_RANGE)
    _check_range("num_beams", options.num_beams, NUM_BEAMS_RANGE)
    check_min_confidence(options.min_confidence, "options.min_confidence")
    preset_tokens, preset_sentences = LENGTH_PRESETS[options.length]
    return GenerationParams(
        max_new_tokens=options.max_tokens or preset_tokens,
        max_sentences=options.max_sentences or preset_sentences,
        num_beams=options.num_beams or 1,
    )


def _check_range(name: str, value: int | None, bounds: tuple[int, int]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise InvalidInputError(
            f"options.{name}", f"must be {bounds[0]}..{bounds[1]}, got {value}", reason=Reason.OUT_OF_RANGE
        )


def _mixed_warning(detected: Detection | None, language: str) -> list[str]:
    if detected is None or not detected.mixed:
        return []
    return [
        f"the text mixes languages: {describe_shares(detected.mixed)}; all of it is handled as "
        f"{language!r}, so the passages in the other languages may come out poorly"
    ]

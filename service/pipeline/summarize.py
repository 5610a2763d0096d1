"""The summarization pipeline: validate, detect, (pivot), summarize, translate into every target.

Pure Python over the model protocols: no grpc, no torch. Blocking; the server runs it off the
event loop. `run()` is a generator so that each language can be sent as soon as it is ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from service.errors import (
    DeadlineError,
    InvalidInputError,
    ModelError,
    Reason,
    RequestCancelledError,
    SummarizerError,
    UnsupportedLanguageError,
)
from service.models.base import (
    BatchSummarizer,
    GenerationParams,
    MultiTargetTranslator,
    Span,
    Summarizer,
    SummaryText,
    Translator,
)
from service.pipeline.cache import ResultCache, text_key
from service.pipeline.types import (
    LENGTH_PRESETS,
    MAX_SENTENCES_RANGE,
    MAX_TOKENS_RANGE,
    NUM_BEAMS_RANGE,
    LanguageFailure,
    LanguageSummary,
    Limits,
    Mode,
    ProfileInfo,
    SourceLanguage,
    SummarizeJob,
    SummaryEvent,
    SummaryOptions,
    TranslateJob,
    TranslateResult,
    TranslationItem,
)
from service.text.chunking import chunk_sentences
from service.text.detect import Detection, LanguageDetector, describe_shares
from service.text.html import html_to_text
from service.text.languages import language_name, normalize_language
from service.text.normalize import STRIPPED_CHARACTERS, clean_text
from service.text.scripts import joiner
from service.text.sentences import split_sentences

log = logging.getLogger(__name__)

PIVOT = "en"
# Detections below this confidence are reported as uncertain.
CONFIDENT = 0.80
# Map-reduce stops after this many rounds even if partial summaries stay long.
_MAX_REDUCE_ROUNDS = 4

StopCheck = Callable[[], bool]


def _never() -> bool:
    return False


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


class SummarizationPipeline:
    def __init__(
        self,
        *,
        profile: str,
        detector: LanguageDetector,
        summarizers: Sequence[Summarizer],
        translators: Sequence[Translator],
        extractive: Summarizer,
        limits: Limits = Limits(),
        cache: ResultCache | None = None,
    ) -> None:
        self.profile = profile
        self.detector = detector
        self.summarizers = tuple(summarizers)
        self.translators = tuple(translators)
        self.extractive = extractive
        self.limits = limits
        self.cache = cache if cache is not None else ResultCache()

    # -- description -------------------------------------------------------------------------

    def describe(self) -> ProfileInfo:
        models = {}
        for model in (*self.summarizers, *self.translators, self.extractive):
            models[model.name] = model.describe()
        return ProfileInfo(self.profile, tuple(models.values()), tuple(sorted(self.languages())))

    def languages(self) -> set[str]:
        """Every language accepted as a source or a target."""
        langs: set[str] = set()
        for s in self.summarizers:
            langs.update(s.describe().summary_languages)
        for t in self.translators:
            for a, b in t.describe().translation_pairs:
                langs.update((a, b))
        return langs

    def warmup(self) -> None:
        self.detector.warmup()
        for model in {id(m): m for m in (*self.summarizers, *self.translators, self.extractive)}.values():
            started = time.perf_counter()
            model.warmup()
            log.info("warmed up %s in %.1f s", model.name, time.perf_counter() - started)

    # -- routing -----------------------------------------------------------------------------

    def _abstractive_for(self, language: str) -> Summarizer | None:
        return next((s for s in self.summarizers if s.summarizes(language)), None)

    def route(self, source: str, target: str) -> tuple[Translator, ...] | None:
        """The translators that take `source` to `target`: one directly, or two through English."""
        direct = next((t for t in self.translators if t.translates(source, target)), None)
        if direct is not None:
            return (direct,)
        if PIVOT in (source, target):
            return None
        first = next((t for t in self.translators if t.translates(source, PIVOT)), None)
        second = next((t for t in self.translators if t.translates(PIVOT, target)), None)
        if first is None or second is None:
            return None
        return (first, second)

    # -- detection ---------------------------------------------------------------------------

    def detect(self, text: str) -> Detection:
        cleaned = clean_text(text, "text").strip()
        if not cleaned:
            raise InvalidInputError("text", "is empty", reason=Reason.EMPTY_TEXT)
        self._check_size(cleaned, "text")
        return self.detector.detect(cleaned)

    def _detect(self, text: str, field: str) -> Detection:
        """Detection, cached by the text's hash: a repeated article skips the detector."""
        key = ("detect", text_key(text))
        hit = self.cache.get(key)
        if hit is None:
            hit = self.detector.detect(text, field=field)
            self.cache.put(key, hit, 64)
        return hit

    def _check_size(self, text: str, field: str) -> None:
        if len(text) > self.limits.max_text_chars:
            raise InvalidInputError(
                field,
                f"has {len(text):,} characters; the limit is {self.limits.max_text_chars:,}",
                reason=Reason.TEXT_TOO_LONG,
            )

    def _source_language(self, text: str, declared: str, field: str, text_field: str) -> SourceLanguage:
        known = self.languages()
        if declared:
            language = normalize_language(declared, field=field)
            if language not in known:
                raise UnsupportedLanguageError(
                    field,
                    f"{language_name(language)} ({language!r}) is not supported by profile "
                    f"{self.profile!r}; supported: {', '.join(sorted(known))}",
                )
            warnings: list[str] = []
            try:
                detected = self._detect(text, text_field)
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

    # -- planning ----------------------------------------------------------------------------

    def plan(self, job: SummarizeJob) -> Plan:
        """Validate a request and decide which models make which language. Raises InvalidInputError."""
        text = clean_text(job.text, "text")
        if job.is_html:  # entities can spell invisible controls too
            text = clean_text(html_to_text(text), "text")
        text = text.strip()
        if not text:
            raise InvalidInputError(
                "text",
                "is empty" + (" after removing HTML markup" if job.is_html else ""),
                reason=Reason.EMPTY_TEXT,
            )
        self._check_size(text, "text")
        params = self._params(job.options)
        source = self._source_language(text, job.source_language, "source_language", "text")
        targets = self._targets(job.target_languages, source.language)

        if job.options.mode is Mode.EXTRACTIVE:
            summarizer: Summarizer | None = self.extractive
            summary_language = source.language
        else:
            summarizer = self._abstractive_for(source.language)
            summary_language = source.language
            if summarizer is None:
                summarizer = self._abstractive_for(PIVOT)
                summary_language = PIVOT
                if summarizer is None or self.route(source.language, PIVOT) is None:
                    raise UnsupportedLanguageError(
                        "source_language" if source.declared else "text",
                        f"profile {self.profile!r} cannot summarize {language_name(source.language)} "
                        f"({source.language!r}) text, directly or through English; try mode EXTRACTIVE",
                    )
        for i, target in enumerate(targets):
            if target != summary_language and self.route(summary_language, target) is None:
                raise UnsupportedLanguageError(
                    f"target_languages[{i}]",
                    f"profile {self.profile!r} cannot produce {language_name(target)} ({target!r}) "
                    f"from {language_name(summary_language)}; "
                    f"supported: {', '.join(sorted(self.languages()))}",
                )
        assert summarizer is not None
        return Plan(job, text, source, summary_language, targets, params, summarizer)

    @staticmethod
    def _params(options: SummaryOptions) -> GenerationParams:
        def check(name: str, value: int | None, bounds: tuple[int, int]) -> None:
            if value is not None and not bounds[0] <= value <= bounds[1]:
                raise InvalidInputError(
                    f"options.{name}",
                    f"must be {bounds[0]}..{bounds[1]}, got {value}",
                    reason=Reason.OUT_OF_RANGE,
                )

        check("max_tokens", options.max_tokens, MAX_TOKENS_RANGE)
        check("max_sentences", options.max_sentences, MAX_SENTENCES_RANGE)
        check("num_beams", options.num_beams, NUM_BEAMS_RANGE)
        preset_tokens, preset_sentences = LENGTH_PRESETS[options.length]
        return GenerationParams(
            max_new_tokens=options.max_tokens or preset_tokens,
            max_sentences=options.max_sentences or preset_sentences,
            num_beams=options.num_beams or 1,
        )

    # -- running -----------------------------------------------------------------------------

    def run(self, plan: Plan, should_stop: StopCheck = _never) -> Iterator[SummaryEvent]:
        """Yield the source language, then each target's summary (or failure) as soon as it is ready.

        The summary language (the source's, or English when pivoting) comes first when it is a
        target; the others follow in the order asked. Cancellation and deadlines end the run.
        """
        yield plan.source
        params = GenerationParams(
            max_new_tokens=plan.params.max_new_tokens,
            min_new_tokens=plan.params.min_new_tokens,
            num_beams=plan.params.num_beams,
            max_sentences=plan.params.max_sentences,
            should_stop=should_stop,
        )
        started = time.perf_counter()
        try:
            base, base_models = self._cached_summary(plan, params)
        except (RequestCancelledError, DeadlineError):
            raise
        except Exception as exc:  # the base summary failed: every language fails with it
            error = _as_domain_error(exc, "summarization failed")
            for target in plan.targets:
                yield LanguageFailure(target, error)
            return
        base_ms = (time.perf_counter() - started) * 1000
        summary_language = plan.summary_language
        if summary_language in plan.targets:
            yield LanguageSummary(
                summary_language, base.text, base_models, "", base_ms, _source_spans(plan, base.spans)
            )
        pending = [t for t in plan.targets if t != summary_language]
        for group, translator in self._batches(summary_language, pending):
            _check_stop(should_stop)
            started = time.perf_counter()
            try:
                texts = self._cached_translations(base.text, summary_language, group, translator, params)
            except (RequestCancelledError, DeadlineError):
                raise
            except Exception as exc:
                error = _as_domain_error(exc, f"translation into {', '.join(group)} failed")
                for target in group:
                    yield LanguageFailure(target, error)
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            for target in group:
                route = self.route(summary_language, target)
                assert route is not None  # checked by plan()
                yield LanguageSummary(
                    target,
                    texts[target],
                    (*base_models, *(t.name for t in route)),
                    summary_language,
                    elapsed_ms,
                )

    # -- cache -------------------------------------------------------------------------------

    def _summary_key(self, plan: Plan) -> tuple[object, ...]:
        route = self.route(plan.source.language, plan.summary_language) or ()
        return (
            "summary",
            text_key(plan.text),
            plan.source.language,
            plan.summary_language,
            plan.job.options.mode.value,
            plan.params.max_new_tokens,
            plan.params.num_beams,
            plan.params.max_sentences,
            plan.summarizer.name,
            tuple(t.name for t in route),
        )

    def _translation_key(self, text: str, source: str, target: str, num_beams: int) -> tuple[object, ...]:
        route = self.route(source, target) or ()
        return ("translation", text_key(text), source, target, num_beams, tuple(t.name for t in route))

    def _cached_summary(self, plan: Plan, params: GenerationParams) -> tuple[SummaryText, tuple[str, ...]]:
        key = self._summary_key(plan)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        result = self._summary_in(plan, params)
        self.cache.put(key, result, len(result[0].text) + 64)
        return result

    def _cached_translations(
        self,
        text: str,
        source: str,
        targets: tuple[str, ...],
        translator: MultiTargetTranslator | None,
        params: GenerationParams,
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        for target in targets:
            hit = self.cache.get(self._translation_key(text, source, target, params.num_beams))
            if hit is not None:
                out[target] = hit
        missing = tuple(t for t in targets if t not in out)
        if missing:
            fresh = self._translate_group(text, source, missing, translator, params)
            for target, translated in fresh.items():
                self.cache.put(
                    self._translation_key(text, source, target, params.num_beams),
                    translated,
                    len(translated) + 64,
                )
            out.update(fresh)
        return out

    def cached_events(self, plan: Plan) -> list[SummaryEvent] | None:
        """The whole answer from the cache, without touching a model; None unless every part is cached."""
        base = self.cache.get(self._summary_key(plan))
        if base is None:
            return None
        summary, models = base
        events: list[SummaryEvent] = [plan.source]
        if plan.summary_language in plan.targets:
            events.append(
                LanguageSummary(
                    plan.summary_language, summary.text, models, "", 0.0, _source_spans(plan, summary.spans)
                )
            )
        for target in plan.targets:
            if target == plan.summary_language:
                continue
            key = self._translation_key(summary.text, plan.summary_language, target, plan.params.num_beams)
            translated = self.cache.get(key)
            if translated is None:
                return None
            route = self.route(plan.summary_language, target) or ()
            events.append(
                LanguageSummary(
                    target, translated, (*models, *(t.name for t in route)), plan.summary_language, 0.0
                )
            )
        return events

    def _batches(
        self, source: str, targets: Sequence[str]
    ) -> list[tuple[tuple[str, ...], MultiTargetTranslator | None]]:
        """Targets a single multi-target model covers directly go in one batch; the rest one by one."""
        grouped: dict[int, list[str]] = {}
        models: dict[int, MultiTargetTranslator] = {}
        singles: list[tuple[tuple[str, ...], MultiTargetTranslator | None]] = []
        for target in targets:
            route = self.route(source, target)
            assert route is not None  # checked by plan()
            if len(route) == 1 and isinstance(route[0], MultiTargetTranslator):
                grouped.setdefault(id(route[0]), []).append(target)
                models[id(route[0])] = route[0]
            else:
                singles.append(((target,), None))
        batches: list[tuple[tuple[str, ...], MultiTargetTranslator | None]] = [
            (tuple(group), models[key]) for key, group in grouped.items()
        ]
        return batches + singles

    def _translate_group(
        self,
        text: str,
        source: str,
        targets: tuple[str, ...],
        translator: MultiTargetTranslator | None,
        params: GenerationParams,
    ) -> dict[str, str]:
        if translator is None or len(targets) == 1:
            out = {}
            for target in targets:
                route = self.route(source, target)
                assert route is not None
                out[target] = self._translate_text(text, source, target, route, params)
            return out
        chunks = self._chunks_for(text, source, translator)
        pieces = translator.translate_to_many(chunks, source, targets, params)
        return {t: joiner(t).join(p.strip() for p in pieces[t]) for t in targets}

    def _chunks_for(self, text: str, language: str, translator: Translator) -> list[str]:
        # Most texts sent for translation fit whole: one token count then, not a sentence split and a
        # count per sentence. Past 8 characters a token, a text cannot fit; skip the count.
        budget = translator.max_input_tokens
        if len(text) <= 8 * budget and translator.count_tokens(text) <= budget:
            return [text]
        sentences = [s.text for s in split_sentences(text, language)] or [text]
        return chunk_sentences(
            sentences, translator.max_input_tokens, translator.count_tokens, joiner=joiner(language)
        )

    def _summary_in(self, plan: Plan, params: GenerationParams) -> tuple[SummaryText, tuple[str, ...]]:
        models: list[str] = []
        text = plan.text
        if plan.job.options.mode is Mode.EXTRACTIVE:
            return plan.summarizer.summarize(text, plan.source.language, params), (plan.summarizer.name,)
        if plan.summary_language != plan.source.language:
            route = self.route(plan.source.language, plan.summary_language)
            assert route is not None
            text = self._translate_text(text, plan.source.language, plan.summary_language, route, params)
            models.extend(t.name for t in route)
        summary = self._summarize_long(plan.summarizer, text, plan.summary_language, params)
        models.append(plan.summarizer.name)
        return summary, tuple(models)

    def _summarize_long(
        self, summarizer: Summarizer, text: str, language: str, params: GenerationParams
    ) -> SummaryText:
        """Summarize text of any length: map-reduce over sentence-aligned chunks that fit the model."""
        budget = summarizer.max_input_tokens
        for _ in range(_MAX_REDUCE_ROUNDS):
            if summarizer.count_tokens(text) <= budget:
                break
            sentences = [s.text for s in split_sentences(text, language)]
            chunks = chunk_sentences(sentences, budget, summarizer.count_tokens, joiner=joiner(language))
            log.debug("map-reduce: %d chunks of at most %d tokens", len(chunks), budget)
            _check_stop(params.should_stop)
            if isinstance(summarizer, BatchSummarizer):  # the chunks as one batch
                partials = [s.text for s in summarizer.summarize_many(chunks, language, params)]
            else:
                partials = []
                for chunk in chunks:
                    _check_stop(params.should_stop)
                    partials.append(summarizer.summarize(chunk, language, params).text)
            text = "\n".join(partials)
        _check_stop(params.should_stop)
        return summarizer.summarize(text, language, params)

    def _translate_text(
        self,
        text: str,
        source: str,
        target: str,
        route: Sequence[Translator],
        params: GenerationParams,
    ) -> str:
        """Translate text of any length through a route, in sentence-aligned chunks that fit each model."""
        current, current_lang = text, source
        for hop, translator in enumerate(route):
            next_lang = target if hop == len(route) - 1 else PIVOT
            chunks = self._chunks_for(current, current_lang, translator)
            _check_stop(params.should_stop)
            pieces = translator.translate(chunks, current_lang, next_lang, params)
            current, current_lang = joiner(next_lang).join(p.strip() for p in pieces), next_lang
        return current

    # -- translation RPC ---------------------------------------------------------------------

    def translate(self, job: TranslateJob, should_stop: StopCheck = _never) -> TranslateResult:
        if not job.texts:
            raise InvalidInputError("texts", "is empty; give at least one text", reason=Reason.EMPTY_TEXT)
        if len(job.texts) > self.limits.max_translate_texts:
            raise InvalidInputError(
                "texts",
                f"has {len(job.texts)} texts; the limit is {self.limits.max_translate_texts}",
                reason=Reason.TOO_MANY,
            )
        texts = []
        for i, raw in enumerate(job.texts):
            cleaned = clean_text(raw, f"texts[{i}]").strip()
            if not cleaned:
                raise InvalidInputError(f"texts[{i}]", "is empty", reason=Reason.EMPTY_TEXT)
            self._check_size(cleaned, f"texts[{i}]")
            texts.append(cleaned)
        if not job.target_languages:
            raise InvalidInputError(
                "target_languages", "is empty; give at least one language", reason=Reason.EMPTY
            )
        source = self._source_language("\n".join(texts), job.source_language, "source_language", "texts")
        targets = self._targets(job.target_languages, source.language)
        routes = {}
        for i, target in enumerate(targets):
            if target == source.language:
                continue
            route = self.route(source.language, target)
            if route is None:
                raise UnsupportedLanguageError(
                    f"target_languages[{i}]",
                    f"profile {self.profile!r} cannot translate {source.language!r} into {target!r}",
                )
            routes[target] = route
        params = GenerationParams(should_stop=should_stop)
        translated: dict[str, list[str]] = {target: [] for target in routes}
        for group, translator in self._batches(source.language, list(routes)):
            for text in texts:
                for target, out in self._translate_group(
                    text, source.language, group, translator, params
                ).items():
                    translated[target].append(out)
        items = []
        for index, text in enumerate(texts):
            for target in targets:
                if target == source.language:
                    items.append(TranslationItem(index, target, text, ()))
                else:
                    names = tuple(t.name for t in routes[target])
                    items.append(TranslationItem(index, target, translated[target][index], names))
        return TranslateResult(source, tuple(items))


def _mixed_warning(detected: Detection | None, language: str) -> list[str]:
    if detected is None or not detected.mixed:
        return []
    return [
        f"the text mixes languages: {describe_shares(detected.mixed)}; all of it is handled as "
        f"{language!r}, so the passages in the other languages may come out poorly"
    ]


def _source_spans(plan: Plan, spans: tuple[Span, ...]) -> tuple[Span, ...]:
    """Spans into the text as submitted: undo the removal of invisible characters and outer space.

    For HTML input, spans index the text after markup removal, as the API documents.
    """
    if not spans or plan.job.is_html:
        return spans
    original = plan.job.text
    kept = [i for i, ch in enumerate(original) if ch not in STRIPPED_CHARACTERS]
    lead = 0
    while lead < len(kept) and original[kept[lead]].isspace():
        lead += 1
    positions = kept[lead:]
    return tuple(Span(positions[s.start], positions[s.end - 1] + 1) for s in spans if s.end > s.start)


def _check_stop(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise RequestCancelledError("the request was cancelled or its deadline passed")


def _as_domain_error(exc: Exception, what: str) -> SummarizerError:
    if isinstance(exc, SummarizerError):
        return exc
    log.exception("%s", what)
    return ModelError(what)

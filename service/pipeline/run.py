"""Running a summarization plan: the base summary, its translations, and the events that carry them.

The base summary is made once, in the summary language (map-reduce over an article longer than
the summarizer reads), grounded in the article's sentences, then translated into the other targets
batch by batch, sentence by sentence (`grounding` owns how the sources carry over). Both are cached,
keyed by everything that shapes them, so that a repeated request can be answered from the cache
alone. Events are built by one helper whether they come from the models or from the cache.

Every output is cached with its evidence (`evidence.py`): the base summary checked against the
article, each translation checked against the base summary and repaired if it fails (`repair.py`).
An output below the request's `min_confidence` becomes that language's failure.

Each part of the answer is reported to the call's observer once: a cache hit or miss, and the
stage (summarize, translate) and target languages that made it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator

import service.pipeline.grounding as grounding
from service import telemetry
from service.errors import DeadlineError, ModelError, RequestCancelledError, SummarizerError
from service.models.base import BatchSummarizer, GenerationParams, Summarizer, SummaryText
from service.pipeline.cache import ResultCache, text_key
from service.pipeline.evidence import (
    CheckedOutput,
    Evidence,
    screen,
    summary_evidence,
    translated_summary_evidence,
)
from service.pipeline.planning import Plan
from service.pipeline.repair import TranslationChecker
from service.pipeline.routes import Route, TranslationBatch, batches
from service.pipeline.stopping import StopCheck, check_stop, checkpoint, never_stop
from service.pipeline.terminology import term_reports
from service.pipeline.translate import translate_sentences_batch
from service.pipeline.types import LanguageFailure, LanguageSummary, Mode, SummaryEvent
from service.text.chunking import chunk_sentences
from service.text.languages import language_name
from service.text.scripts import joiner
from service.text.sentences import split_sentences

log = logging.getLogger(__name__)

# Map-reduce stops after this many rounds even if partial summaries stay long.
MAX_REDUCE_ROUNDS = 4


@dataclasses.dataclass(frozen=True)
class BaseSummary:
    """The summary in the summary language, and the models that made it (translators first)."""

    summary: SummaryText
    models: tuple[str, ...]
    evidence: Evidence = Evidence()
    # Its sentences, each with its sources in the submitted text; translations follow them one by one.
    sentences: tuple[grounding.GroundedSentence, ...] = ()


class SummaryRunner:
    """Runs plans against the models, through the result cache."""

    def __init__(self, cache: ResultCache, checker: TranslationChecker) -> None:
        self.cache = cache
        self.checker = checker

    def run(self, plan: Plan, should_stop: StopCheck = never_stop) -> Iterator[SummaryEvent]:
        """Yield the source language, then each target's summary (or failure) as soon as it is ready.

        The summary language (the source's, or English when pivoting) comes first when it is a
        target; the others follow in the order asked. Cancellation and deadlines end the run.
        """
        yield plan.source
        params = dataclasses.replace(plan.params, should_stop=should_stop, terminology=plan.terminology)
        started = time.perf_counter()
        try:
            base = self._base_summary(plan, params)
        except (RequestCancelledError, DeadlineError):
            raise
        except Exception as exc:  # the base summary failed: every language fails with it
            error = as_domain_error(exc, "summarization failed")
            yield from (LanguageFailure(target, error) for target in plan.targets)
            return
        if plan.summary_language in plan.targets:
            yield language_summary(plan, base, plan.summary_language, None, _ms_since(started))
        for batch in batches(plan.routes):
            check_stop(should_stop)
            yield from self._batch_events(plan, base, batch, params)

    def cached_events(self, plan: Plan) -> list[SummaryEvent] | None:
        """The whole answer from the cache, without touching a model; None unless every part is cached."""
        base = self.cache.get(summary_key(plan))
        if base is None:
            return None
        events: list[SummaryEvent] = [plan.source]
        if plan.summary_language in plan.targets:
            events.append(language_summary(plan, base, plan.summary_language, None, 0.0))
        for route in plan.routes:
            translated = self.cache.get(translation_key(plan, base, route))
            if translated is None:
                return None  # the run looks again, and reports, part by part
            events.append(language_summary(plan, base, route.target, translated, 0.0))
        observer = telemetry.current()
        observer.cache("summary", True)
        for _route in plan.routes:
            observer.cache("translation", True)
        return events

    def _batch_events(
        self, plan: Plan, base: BaseSummary, batch: TranslationBatch, params: GenerationParams
    ) -> list[SummaryEvent]:
        started = time.perf_counter()
        try:
            with telemetry.current().stage(
                telemetry.TRANSLATE,
                source_language=batch.source,
                target_languages=batch.targets,
                models=batch.model_names,
            ):
                texts = self._translations(plan, base, batch, params)
        except (RequestCancelledError, DeadlineError):
            raise
        except Exception as exc:
            error = as_domain_error(exc, f"translation into {', '.join(batch.targets)} failed")
            return [LanguageFailure(target, error) for target in batch.targets]
        elapsed_ms = _ms_since(started)
        return [language_summary(plan, base, t, texts[t], elapsed_ms) for t in batch.targets]

    def _base_summary(self, plan: Plan, params: GenerationParams) -> BaseSummary:
        key = summary_key(plan)
        hit = self.cache.get(key)
        observer = telemetry.current()
        observer.cache("summary", hit is not None)
        if hit is not None:
            if plan.summary_language in plan.targets:
                with observer.languages((plan.summary_language,), cache_hit=True):
                    pass  # the summary's own language is answered too, in no time, as a cached translation is
            return hit
        result = _summarize_plan(plan, params, self.checker)
        self.cache.put(key, result, len(result.summary.text) + 64)
        return result

    def _translations(
        self, plan: Plan, base: BaseSummary, batch: TranslationBatch, params: GenerationParams
    ) -> dict[str, CheckedOutput]:
        """The summary's sentences translated into each target of the batch, sentence i as item i,
        checked against the summary and repaired where they fail."""
        out: dict[str, CheckedOutput] = {}
        observer = telemetry.current()
        for route in batch.routes:
            hit = self.cache.get(translation_key(plan, base, route))
            observer.cache("translation", hit is not None)
            if hit is not None:
                out[route.target] = hit
                with observer.languages((route.target,), cache_hit=True):
                    pass  # the language is answered too, in no time
        missing = tuple(route for route in batch.routes if route.target not in out)
        if missing:
            sentences = [sentence.text for sentence in base.sentences]
            fresh = translate_sentences_batch(sentences, TranslationBatch(missing, batch.translator), params)
            for route in missing:
                checked = self.checker.checked_sentences(
                    base.summary.text, sentences, fresh[route.target], route, params
                )
                out[route.target] = checked
                self.cache.put(translation_key(plan, base, route), checked, len(checked.text) + 64)
        return out


def language_summary(
    plan: Plan, base: BaseSummary, language: str, translated: CheckedOutput | None, duration_ms: float
) -> LanguageSummary | LanguageFailure:
    """The event for one target: the base summary itself, or its sentence-by-sentence translation;
    a failure instead when its confidence is below the request's `min_confidence`."""
    if translated is None:
        text = base.summary.text
        event = LanguageSummary(
            language,
            text,
            base.models,
            "",
            duration_ms,
            grounding.submitted_spans(plan, base.summary.spans),
            term_reports(plan.terminology, plan.text, language, text),
            grounding.summary_sentences(text, base.sentences),
            base.evidence,
        )
    else:
        text = translated.text
        event = LanguageSummary(
            language,
            text,
            (*base.models, *translated.models(plan.route_to(language).model_names)),
            plan.summary_language,
            duration_ms,
            (),
            term_reports(plan.terminology, base.summary.text, language, text),
            grounding.translated_sentences(text, translated.sentences, base.sentences),
            translated_summary_evidence(base.evidence, translated.evidence),
        )
    what = f"the {language_name(language)} ({language!r}) summary"
    withheld = screen(event.evidence, plan.job.options.min_confidence, what)
    return event if withheld is None else LanguageFailure(language, withheld)


def summary_key(plan: Plan) -> tuple[object, ...]:
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
        plan.pivot.model_names if plan.pivot is not None else (),
        _terminology_key(plan),
    )


def translation_key(plan: Plan, base: BaseSummary, route: Route) -> tuple[object, ...]:
    return (
        "translation",
        text_key(base.summary.text),
        route.source,
        route.target,
        plan.params.num_beams,
        route.model_names,
        _terminology_key(plan),
    )


def _terminology_key(plan: Plan) -> str:
    return text_key(repr(plan.terminology.key())) if plan.terminology else ""


def _summarize_plan(plan: Plan, params: GenerationParams, checker: TranslationChecker) -> BaseSummary:
    """The base summary, grounded in the article and checked against it in the summary's language."""
    observer = telemetry.current()
    # The summary is itself one of the answers when its language is a target.
    answered = (plan.summary_language,) if plan.summary_language in plan.targets else ()
    if plan.job.options.mode is Mode.EXTRACTIVE:
        with (
            observer.stage(telemetry.SUMMARIZE, model=plan.summarizer.name, language=plan.source.language),
            observer.languages(answered),
        ):
            summary = plan.summarizer.summarize(plan.text, plan.source.language, params)
        evidence = summary_evidence(plan.text, summary, plan.source.language, checker.detector)
        grounded = grounding.ground_summary(plan, summary)
        return BaseSummary(summary, (plan.summarizer.name,), evidence, grounded)
    text = plan.text
    models: tuple[str, ...] = ()
    pivot = None
    if plan.pivot is not None:
        with observer.stage(
            telemetry.TRANSLATE,
            source_language=plan.pivot.source,
            target_languages=(plan.pivot.target,),
            models=plan.pivot.model_names,
            pivot=True,
        ):
            pivot = grounding.translate_article(text, plan.source.language, plan.pivot, params)
        text = pivot.text
        models = plan.pivot.model_names
    with (
        observer.stage(telemetry.SUMMARIZE, model=plan.summarizer.name, language=plan.summary_language),
        observer.languages(answered),
    ):
        summary = summarize_long(plan.summarizer, text, plan.summary_language, params)
    evidence = summary_evidence(text, summary, plan.summary_language, checker.detector)
    grounded = grounding.ground_summary(plan, summary, pivot)
    return BaseSummary(summary, (*models, plan.summarizer.name), evidence, grounded)


def summarize_long(summarizer: Summarizer, text: str, language: str, params: GenerationParams) -> SummaryText:
    """Summarize text of any length: map-reduce over sentence-aligned chunks that fit the model."""
    budget = summarizer.max_input_tokens
    stop = checkpoint(params.should_stop)  # between sentences, chunks and rounds
    for _ in range(MAX_REDUCE_ROUNDS):
        stop()
        if summarizer.count_tokens(text) <= budget:
            break
        sentences = [s.text for s in split_sentences(text, language, stop)]
        chunks = chunk_sentences(
            sentences, budget, summarizer.count_tokens, joiner=joiner(language), checkpoint=stop
        )
        log.debug("map-reduce: %d chunks of at most %d tokens", len(chunks), budget)
        stop()
        text = "\n".join(_summarize_chunks(summarizer, chunks, language, params))
    check_stop(params.should_stop)
    return summarizer.summarize(text, language, params)


def _summarize_chunks(
    summarizer: Summarizer, chunks: list[str], language: str, params: GenerationParams
) -> list[str]:
    if isinstance(summarizer, BatchSummarizer):  # the chunks as one batch
        return [s.text for s in summarizer.summarize_many(chunks, language, params)]
    partials = []
    for chunk in chunks:
        check_stop(params.should_stop)
        partials.append(summarizer.summarize(chunk, language, params).text)
    return partials


def as_domain_error(exc: Exception, what: str) -> SummarizerError:
    """A model's failure as the service's error; anything not already one is logged and wrapped."""
    if isinstance(exc, SummarizerError):
        return exc
    log.exception("%s", what)
    return ModelError(what)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000

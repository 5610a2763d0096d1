"""The summarization pipeline: validate, detect, (pivot), summarize, translate into every target.

`SummarizationPipeline` is the one object the server and the loader hold. It builds the route
table once, from the models it is given, and hands each call to the module that owns it:
`planning` (validation and plans), `run` (the summarize run and its cache), `translate` (the
Translate RPC). Pure Python over the model protocols: no grpc, no torch. Blocking; the server
runs it off the event loop. `run()` is a generator so that each language can be sent as soon as
it is ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from service.models.base import Summarizer, Translator
from service.pipeline.cache import ResultCache
from service.pipeline.planning import Plan, Planner
from service.pipeline.repair import TranslationChecker
from service.pipeline.routes import Route, RouteTable
from service.pipeline.run import SummaryRunner
from service.pipeline.stopping import StopCheck, never_stop
from service.pipeline.translate import run_translation
from service.pipeline.types import (
    Limits,
    ProfileInfo,
    SummarizeJob,
    SummaryEvent,
    TranslateJob,
    TranslateResult,
)
from service.text.detect import Detection, LanguageDetector

__all__ = ["Plan", "SummarizationPipeline"]

log = logging.getLogger(__name__)


class SummarizationPipeline:
    """A profile's models behind the four things the API asks: plan, run, translate, describe."""

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
        self._detector = detector
        self._models = (*summarizers, *translators, extractive)
        self._routes = RouteTable(summarizers, translators)
        cache = cache if cache is not None else ResultCache()
        self._planner = Planner(
            profile=profile,
            detector=detector,
            routes=self._routes,
            extractive=extractive,
            limits=limits,
            cache=cache,
        )
        # Checks every output against its source, and repairs the translations that fail.
        self._checker = TranslationChecker(self._routes, detector, limits.max_repair_attempts)
        self._runner = SummaryRunner(cache, self._checker)

    # -- description -------------------------------------------------------------------------

    def describe(self) -> ProfileInfo:
        models = {}
        for model in self._models:
            models[model.name] = model.describe()
        return ProfileInfo(self.profile, tuple(models.values()), tuple(sorted(self.languages())))

    def languages(self) -> set[str]:
        """Every language accepted as a source or a target."""
        return set(self._routes.languages)

    def warmup(self) -> None:
        self._detector.warmup()
        for model in {id(m): m for m in self._models}.values():
            started = time.perf_counter()
            model.warmup()
            log.info("warmed up %s in %.1f s", model.name, time.perf_counter() - started)

    def route(self, source: str, target: str) -> tuple[Translator, ...] | None:
        """The translators that take `source` to `target`: one directly, or two through English."""
        route = self._routes.route(source, target)
        return route.translators if route is not None else None

    def translation_route(self, source: str, target: str) -> Route | None:
        """The route itself, for a caller that translates step by step (the evaluation does)."""
        return self._routes.route(source, target)

    @property
    def checker(self) -> TranslationChecker:
        """The checks and repairs every output goes through."""
        return self._checker

    # -- requests ----------------------------------------------------------------------------

    def detect(self, text: str) -> Detection:
        return self._planner.detect(text)

    def plan(self, job: SummarizeJob) -> Plan:
        """Validate a request and decide which models make which language. Raises InvalidInputError."""
        return self._planner.plan(job)

    def run(self, plan: Plan, should_stop: StopCheck = never_stop) -> Iterator[SummaryEvent]:
        """Yield the source language, then each target's summary (or failure) as soon as it is ready."""
        return self._runner.run(plan, should_stop)

    def cached_events(self, plan: Plan) -> list[SummaryEvent] | None:
        """The whole answer from the cache, without touching a model; None unless every part is cached."""
        return self._runner.cached_events(plan)

    def translate(self, job: TranslateJob, should_stop: StopCheck = never_stop) -> TranslateResult:
        return run_translation(self._planner.plan_translation(job), self._checker, should_stop)

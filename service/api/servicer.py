"""summarizer.v1.SummarizerService: protobuf in, pipeline call, protobuf out. Nothing else.

Besides: what only the servicer sees (admission, the plan, the cache, each language as it is
ready) is noted for the call's access line and metrics (`calls.note_*`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

import grpc

from service.api import calls, convert
from service.api.admission import Admission
from service.api.runner import Runner, StopSignal
from service.errors import NotReadyError
from service.pipeline import (
    LanguageFailure,
    LanguageSummary,
    Mode,
    SourceLanguage,
    SummarizationPipeline,
    SummarizeJob,
    SummaryEvent,
)
from service.pipeline.summarize import Plan
from service.request_context import request_id_var
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc


class SummarizerServicer(pb_grpc.SummarizerServiceServicer):
    def __init__(
        self,
        runner: Runner,
        pipeline: SummarizationPipeline | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.runner = runner
        self._pipeline = pipeline
        self.draining = False
        # Summarize, StreamSummarize and Translate hold an admission slot for their whole run.
        self.admission = admission if admission is not None else Admission()

    def attach(self, pipeline: SummarizationPipeline) -> None:
        """Make the service usable once its models are loaded and warmed up."""
        self._pipeline = pipeline

    @property
    def pipeline(self) -> SummarizationPipeline:
        if self.draining:
            raise NotReadyError("the server is shutting down; retry on another replica")
        if self._pipeline is None:
            raise NotReadyError("the server is loading its models; retry shortly")
        return self._pipeline

    async def Summarize(
        self, request: pb.SummarizeRequest, context: grpc.aio.ServicerContext
    ) -> pb.SummarizeResponse:
        started = time.perf_counter()
        request_id = request_id_var.get()
        pipeline = self.pipeline
        job = convert.summarize_job(request, request_id)
        stop = StopSignal(context)
        async with self.admission.admit(stop, self._summary_cost(job)):
            calls.note_admitted()
            plan = await self.runner.light(pipeline.plan, job)
            calls.note_plan(plan)
            source: SourceLanguage | None = None
            results: list[LanguageSummary | LanguageFailure] = []
            async with aclosing(self._events(pipeline, plan, stop)) as events:
                async for event in events:
                    if isinstance(event, SourceLanguage):
                        source = event
                    else:
                        results.append(event)
        assert source is not None
        if results and all(isinstance(r, LanguageFailure) for r in results):
            # Nothing could be made: the call fails with the (shared) cause.
            first = results[0]
            assert isinstance(first, LanguageFailure)
            raise first.error
        total_ms = (time.perf_counter() - started) * 1000
        return convert.summarize_response(request_id, source, results, plan.targets, total_ms)

    async def StreamSummarize(
        self, request: pb.StreamSummarizeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamSummarizeResponse]:
        request_id = request_id_var.get()
        pipeline = self.pipeline
        job = convert.summarize_job(request, request_id)
        stop = StopSignal(context)
        async with self.admission.admit(stop, self._summary_cost(job)):
            calls.note_admitted()
            plan = await self.runner.light(pipeline.plan, job)
            calls.note_plan(plan)
            # Closed here, not whenever the collector gets to it: a stream given up on mid-way (client
            # gone, or not reading) stops its model work and frees its slot at once.
            async with aclosing(self._events(pipeline, plan, stop)) as events:
                async for event in events:
                    yield convert.stream_event(event, request_id)

    def _summary_cost(self, job: SummarizeJob) -> int:
        """An extractive summary sends no text to a model: only its translations cost memory."""
        chars = len(job.text) if job.options.mode is Mode.ABSTRACTIVE else 0
        return self.admission.costs.summary(chars, len(job.target_languages))

    async def _events(
        self, pipeline: SummarizationPipeline, plan: Plan, stop: StopSignal
    ) -> AsyncGenerator[SummaryEvent, None]:
        """A fully cached answer comes straight back; anything else runs on the model workers."""
        cached = pipeline.cached_events(plan)
        calls.note_cached(cached is not None)
        if cached is not None:
            for event in cached:
                calls.note_event(event)
                yield event
            return
        run = self.admission.metrics.count_stops(pipeline.run(plan, stop))
        async with aclosing(self.runner.iterate(run, stop=stop)) as events:
            async for event in events:
                calls.note_event(event)
                yield event

    async def Translate(
        self, request: pb.TranslateRequest, context: grpc.aio.ServicerContext
    ) -> pb.TranslateResponse:
        started = time.perf_counter()
        request_id = request_id_var.get()
        translate = self.admission.metrics.count_stops_of(self.pipeline.translate)
        job = convert.translate_job(request, request_id)
        stop = StopSignal(context)
        cost = self.admission.costs.translation(
            sum(len(text) for text in request.texts), len(request.target_languages)
        )
        async with self.admission.admit(stop, cost):
            calls.note_admitted()
            result = await self.runner.model(translate, job, stop, stop=stop)
        calls.note_source(result.source.language)
        if result.failures and not result.items:  # every translation withheld: nothing to return
            raise result.failures[0].error
        return convert.translate_response(request_id, result, (time.perf_counter() - started) * 1000)

    async def DetectLanguage(
        self, request: pb.DetectLanguageRequest, context: grpc.aio.ServicerContext
    ) -> pb.DetectLanguageResponse:
        detection = await self.runner.light(self.pipeline.detect, request.text)
        calls.note_source(detection.language)
        return convert.detect_response(detection)

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        return convert.list_models_response(self.pipeline.describe())

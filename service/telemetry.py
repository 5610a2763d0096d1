"""What the pipeline and the models report about their work, without knowing who listens.

The pipeline reports its stages (detect, summarize, translate), the target languages each stage
makes and its cache lookups; the models report their batches and token counts. They call
`current()`, the observer of the call being served, which the server installs per call with
`observing()`: Prometheus metrics, OpenTelemetry spans, or both (`Fanout`). Outside a call, or with
nothing listening, it is `NULL_OBSERVER`, whose methods do nothing.

The observer travels with the call's context: the API layer copies the context into the worker
threads it runs the pipeline on, and a batched model job carries the observer of its caller onto
the batching thread. No third-party imports here: prometheus_client and opentelemetry stay behind
the API layer, and are imported only when they are switched on.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Protocol

#: The stages a call goes through; `summarizer_stage_duration_seconds{stage}` takes these values.
DETECT = "detect"
SUMMARIZE = "summarize"
TRANSLATE = "translate"
STAGES = (DETECT, SUMMARIZE, TRANSLATE)

#: What the result cache holds, the `kind` of a cache lookup.
CACHE_KINDS = ("detection", "summary", "translation")

Attribute = str | int | float | bool | Sequence[str]


class Stage(Protocol):
    """A stage in progress: facts learnt while it runs (which model, how many tokens) go here."""

    def annotate(self, **attributes: Attribute) -> None: ...


class Observer(Protocol):
    """Who listens to the work of one call. Every method must be cheap and must never raise."""

    def stage(self, name: str, **attributes: Attribute) -> AbstractContextManager[Stage]:
        """Time the block as stage `name` (one of STAGES)."""
        ...

    def languages(self, tags: Sequence[str], **attributes: Attribute) -> AbstractContextManager[Stage]:
        """The block makes the text of these target languages (one model call may make several)."""
        ...

    def batch(self, model: str, rows: int, input_tokens: int, output_tokens: int) -> None:
        """One batched model run: its rows, prompt tokens and generated tokens, all callers together."""
        ...

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        """This call's own share of a model run."""
        ...

    def cache(self, kind: str, hit: bool) -> None:
        """A lookup in the result cache for a part of the answer (one of CACHE_KINDS)."""
        ...


class _NullStage:
    def annotate(self, **attributes: Attribute) -> None:
        pass


#: A stage that keeps nothing, for observers with nothing to note.
NULL_STAGE: Stage = _NullStage()


class NullObserver:
    """Listens to nothing."""

    def stage(self, name: str, **attributes: Attribute) -> AbstractContextManager[Stage]:
        return nullcontext(NULL_STAGE)

    def languages(self, tags: Sequence[str], **attributes: Attribute) -> AbstractContextManager[Stage]:
        return nullcontext(NULL_STAGE)

    def batch(self, model: str, rows: int, input_tokens: int, output_tokens: int) -> None:
        pass

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        pass

    def cache(self, kind: str, hit: bool) -> None:
        pass


NULL_OBSERVER: Observer = NullObserver()

_observer: contextvars.ContextVar[Observer] = contextvars.ContextVar("observer", default=NULL_OBSERVER)


def current() -> Observer:
    """The observer of the call being served (NULL_OBSERVER outside a call)."""
    return _observer.get()


@contextmanager
def observing(observer: Observer) -> Iterator[Observer]:
    """Make `observer` current for the block (and for the work the block hands to other threads)."""
    token = _observer.set(observer)
    try:
        yield observer
    finally:
        _observer.reset(token)


def install(observer: Observer) -> None:
    """Make `observer` current for the rest of this context (a call's own task: it ends with the call)."""
    _observer.set(observer)


class _Stages:
    def __init__(self, stages: list[Stage]) -> None:
        self._stages = stages

    def annotate(self, **attributes: Attribute) -> None:
        for stage in self._stages:
            stage.annotate(**attributes)


class Fanout:
    """Reports to several observers (metrics and traces)."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = tuple(observers)

    @contextmanager
    def stage(self, name: str, **attributes: Attribute) -> Iterator[Stage]:
        with ExitStack() as stack:
            yield _Stages([stack.enter_context(o.stage(name, **attributes)) for o in self.observers])

    @contextmanager
    def languages(self, tags: Sequence[str], **attributes: Attribute) -> Iterator[Stage]:
        with ExitStack() as stack:
            yield _Stages([stack.enter_context(o.languages(tags, **attributes)) for o in self.observers])

    def batch(self, model: str, rows: int, input_tokens: int, output_tokens: int) -> None:
        for observer in self.observers:
            observer.batch(model, rows, input_tokens, output_tokens)

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        for observer in self.observers:
            observer.tokens(model, input_tokens, output_tokens)

    def cache(self, kind: str, hit: bool) -> None:
        for observer in self.observers:
            observer.cache(kind, hit)


def combine(observers: Sequence[Observer | None]) -> Observer:
    """One observer for all of `observers` that are set: the one itself, a Fanout, or NULL_OBSERVER."""
    present = [o for o in observers if o is not None]
    if not present:
        return NULL_OBSERVER
    if len(present) == 1:
        return present[0]
    return Fanout(present)

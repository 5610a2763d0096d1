"""Runs blocking pipeline work off the event loop, wired to the caller's deadline and cancellation.

Model work goes to a pool of pipeline workers, one per running slot. They are cheap Python threads: the models
decide how concurrent calls share the cores (a CTranslate2 model batches them together across
requests; a transformers model takes them one at a time). Light work (validation, language
detection) has its own small pool so it never queues behind a long generation.

Work runs in a copy of the calling task's context, so that what the call set there (its request
id, its telemetry observer) is seen by the pipeline and the models on the worker threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import grpc

from service.errors import DeadlineError, RequestCancelledError

T = TypeVar("T")
_DONE = object()


class StopSignal:
    """Set when the caller cancels or its deadline passes; polled by models between decoding steps."""

    def __init__(self, context: grpc.aio.ServicerContext | None) -> None:
        self._event = threading.Event()
        remaining = context.time_remaining() if context is not None else None
        self.deadline = time.monotonic() + remaining if remaining is not None else None
        if context is not None:
            context.add_done_callback(lambda _ctx: self._event.set())

    def __call__(self) -> bool:
        return self._event.is_set() or self.expired()

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def set(self) -> None:
        self._event.set()

    def translate(self, exc: RequestCancelledError) -> Exception:
        """A stop caused by the deadline is reported as such."""
        if self.expired():
            return DeadlineError("the deadline passed before the work finished")
        return exc


class Runner:
    def __init__(self, model_workers: int = 4, light_workers: int = 2) -> None:
        self.model_pool = ThreadPoolExecutor(max_workers=model_workers, thread_name_prefix="model")
        self.light_pool = ThreadPoolExecutor(max_workers=light_workers, thread_name_prefix="light")
        self._busy = 0
        self._busy_lock = threading.Lock()

    @property
    def busy_workers(self) -> int:
        """Worker threads running a piece of work now; the server checks it before exiting."""
        with self._busy_lock:
            return self._busy

    def _counted(self, fn: Callable[..., T]) -> Callable[..., T]:
        def run(*args: object) -> T:
            with self._busy_lock:
                self._busy += 1
            try:
                return fn(*args)
            finally:
                with self._busy_lock:
                    self._busy -= 1

        return run

    async def light(self, fn: Callable[..., T], *args: object) -> T:
        run = self._counted(contextvars.copy_context().run)
        return await asyncio.get_running_loop().run_in_executor(self.light_pool, run, fn, *args)

    async def model(self, fn: Callable[..., T], *args: object, stop: StopSignal) -> T:
        run = self._counted(contextvars.copy_context().run)
        try:
            return await asyncio.get_running_loop().run_in_executor(self.model_pool, run, fn, *args)
        except RequestCancelledError as exc:
            raise stop.translate(exc) from exc

    async def iterate(self, iterator: Iterator[T], *, stop: StopSignal) -> AsyncGenerator[T, None]:
        """Async-iterate a blocking generator, advancing it on a model worker one item at a time.

        Steps never overlap: each waits for the one before, and closing waits for a step that is
        still running (a consumer cancelled mid-step), so the generator never runs on two threads.
        All steps run in one copy of the caller's context, as the generator would if it ran here.
        """
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        step: concurrent.futures.Future[object] | None = None
        try:
            while True:
                step = self.model_pool.submit(self._counted(context.run), next, iterator, _DONE)
                try:
                    item = await asyncio.wrap_future(step)
                except RequestCancelledError as exc:
                    raise stop.translate(exc) from exc
                if item is _DONE:
                    return
                yield item  # type: ignore[misc]
        finally:
            stop.set()  # a consumer that stops early (client gone) stops the model too
            pending = step
            try:
                await loop.run_in_executor(
                    self.light_pool, self._counted(_close_after), pending, iterator, context
                )
            except RuntimeError:  # the pools are already shut down: the process is exiting
                pass

    def shutdown(self) -> None:
        self.model_pool.shutdown(wait=False, cancel_futures=True)
        self.light_pool.shutdown(wait=False, cancel_futures=True)


def _close_after(
    step: concurrent.futures.Future[object] | None, iterator: Iterator[object], context: contextvars.Context
) -> None:
    if step is not None:
        concurrent.futures.wait([step])  # the stop signal is set: the step ends at its next check
    close = getattr(iterator, "close", None)
    if close is not None:
        context.run(close)  # the step has left the context: it can be entered again

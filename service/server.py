"""The gRPC server: wiring, health, reflection, start-up order and graceful shutdown."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.api.admission import Admission
from service.api.interceptors import ErrorInterceptor
from service.api.observability import Observability
from service.api.runner import Runner
from service.api.security import BearerTokenInterceptor, describe_transport, server_credentials
from service.api.servicer import SummarizerServicer
from service.config import Settings
from service.metrics import Counters
from service.pipeline import SummarizationPipeline
from service.resources import resident_memory
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

T = TypeVar("T")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SummarizerService"].full_name
# Readiness: NOT_SERVING until the models are warm, and again from SIGTERM on. Load balancers and
# readiness probes ask these.
READINESS_SERVICES = ("", SERVICE_NAME)
# Liveness: SERVING from the moment the server listens until the process exits, through loading and
# draining alike, so that a liveness probe restarts only a process that no longer answers.
LIVENESS_SERVICE = "liveness"


class Server:
    """A started gRPC server with its health and summarizer services."""

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        servicer: SummarizerServicer,
        health_servicer: health.aio.HealthServicer,
        runner: Runner,
        metrics: Counters | None = None,
        memory_budget_bytes: int | None = None,
        observability: Observability | None = None,
    ) -> None:
        self.grpc = server
        self.port = port
        self.servicer = servicer
        self.health = health_servicer
        self.runner = runner
        self.metrics = metrics if metrics is not None else Counters()
        self.memory_budget_bytes = memory_budget_bytes
        self.observability = observability
        self.withdrawn = False

    async def set_serving(self, pipeline: SummarizationPipeline) -> None:
        if self.memory_budget_bytes is not None:
            self._limit_request_memory(self.memory_budget_bytes, pipeline.max_request_model_bytes)
        self.servicer.attach(pipeline)
        if self.observability is not None:
            self.observability.describe(pipeline.describe())
        if self.withdrawn:  # stopping already: the pipeline serves what still comes, readiness stays off
            return
        for name in READINESS_SERVICES:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving on port %d", self.port)

    async def withdraw(self) -> None:
        """Readiness goes NOT_SERVING for good; calls are still accepted and served."""
        self.withdrawn = True
        for name in READINESS_SERVICES:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    def _limit_request_memory(self, budget: int, max_model_bytes: int | None) -> None:
        """Requests are charged against what the loaded models leave of the budget, each no more for its
        model work than one batch takes when the models size their batches (`max_model_bytes`)."""
        admission = self.servicer.admission
        held = resident_memory()
        pool = budget - held
        smallest = admission.costs.summary(0, 1)
        if pool < smallest:
            log.warning(
                "memory budget %.0f MB: the loaded server already holds %.0f MB; requests get the "
                "minimum of %.0f MB, one at a time (raise --memory-budget-mb)",
                budget / 2**20,
                held / 2**20,
                smallest / 2**20,
            )
            pool = smallest
        admission.limit_memory(pool, max_model_bytes)
        log.info(
            "memory budget %.0f MB: %.0f MB held after loading, %.0f MB for requests",
            budget / 2**20,
            held / 2**20,
            pool / 2**20,
        )

    async def stop(self, grace: float) -> None:
        """Readiness goes NOT_SERVING, queued and new calls are refused, running calls get `grace` seconds.

        Liveness stays SERVING while the calls drain: the process is healthy, only leaving.

        Queued calls are refused at once (UNAVAILABLE) rather than at the end of the grace period, so
        that their callers can retry on another replica now. gRPC cancels what still runs after
        `grace`; this returns by `grace` + 1 s even if gRPC is slower to let go.
        """
        self.servicer.draining = True
        refused = self.servicer.admission.drain()
        if refused:
            log.info("refused %d queued call(s): the server is draining", refused)
        await self.withdraw()
        stopping = asyncio.ensure_future(self.grpc.stop(grace))
        done, _ = await asyncio.wait((stopping,), timeout=grace + 1.0)
        if not done:
            log.warning("gRPC had not stopped 1 s after the grace period; going on without it")
        self.runner.shutdown()
        if self.observability is not None:
            self.observability.close()


async def build_server(settings: Settings, pipeline: SummarizationPipeline | None = None) -> Server:
    """Start listening at once; health says NOT_SERVING until `set_serving` (models ready).

    Interceptors run in order: the bearer-token check (when a token is set) before anything else,
    then request ids and the exception -> status table; outermost, the access log, metrics and
    traces of every call (those refused for their token included). TLS, or mutual TLS with a client
    CA, when the settings name certificate files; plaintext otherwise.
    """
    credentials = server_credentials(settings)  # bad files fail here, before anything listens
    metrics = Counters()
    runner = Runner(model_workers=settings.max_concurrent_requests)
    servicer = SummarizerServicer(runner, admission=Admission.from_settings(settings, metrics))
    observability = Observability.from_settings(settings, (SERVICE_NAME,), metrics, servicer.admission)
    interceptors: list[grpc.aio.ServerInterceptor] = [observability.interceptor]
    token = settings.bearer_token()
    if token is not None:
        interceptors.append(BearerTokenInterceptor(token, metrics=metrics))
    interceptors.append(
        ErrorInterceptor(
            (SERVICE_NAME,), stream_send_timeout_s=settings.stream_send_timeout_s, metrics=metrics
        )
    )
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.max_receive_bytes),
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
            *connection_age_options(settings),
        ],
    )
    pb_grpc.add_SummarizerServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in READINESS_SERVICES:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await health_servicer.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{settings.host}:{settings.port}"
    try:
        _check_port_free(settings.host, settings.port)
        try:
            if credentials is not None:
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:  # gRPC's "Failed to bind to address ..."
            port = 0
        if port == 0:
            raise OSError(f"cannot listen on {address}: the address is not available or the port is in use")
        observability.start()  # /metrics, once the gRPC port is ours
    except OSError:
        observability.close()
        raise
    await server.start()
    wrapped = Server(
        server, port, servicer, health_servicer, runner, metrics, settings.memory_budget_bytes, observability
    )
    if pipeline is not None:
        await wrapped.set_serving(pipeline)
    return wrapped


def connection_age_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC core options that close each connection after a maximum age (with a GOAWAY), if one is set.

    A client keeps a connection, and so a replica, for as long as the connection lives. Closing it now
    and then makes clients resolve the service name again and spread over the replicas that exist now,
    so that a replica added by scaling out receives traffic too. gRPC adds its own jitter of +-10%.
    """
    if settings.max_connection_age_s <= 0:
        return []
    return [
        ("grpc.max_connection_age_ms", max(1, round(settings.max_connection_age_s * 1000))),
        ("grpc.max_connection_age_grace_ms", round(settings.max_connection_age_grace_s * 1000)),
    ]


async def prestop(server: Server, seconds: float, stop_requested: asyncio.Event) -> None:
    """Keep serving for `seconds` with readiness withdrawn, while the replica leaves the endpoints.

    After SIGTERM an orchestrator removes the replica from its endpoints and load balancers, but that
    takes a few seconds to reach every client; calls that arrive meanwhile are served rather than
    refused. A second SIGTERM or SIGINT cuts the wait short.
    """
    await server.withdraw()
    log.info("readiness withdrawn; still serving for %.1f s before draining", seconds)
    stop_requested.clear()
    try:
        await asyncio.wait_for(stop_requested.wait(), timeout=seconds)
        log.info("second stop signal: draining now")
    except TimeoutError:
        pass


async def serve(
    settings: Settings,
    load: Callable[[Settings], SummarizationPipeline],
    *,
    on_port: Callable[[int], None] | None = None,
) -> int:
    """Run until SIGTERM or SIGINT. Returns the process exit code."""
    server = await build_server(settings)
    log.info(
        "listening on %s:%d, %s (NOT_SERVING until the models are ready)",
        settings.host,
        server.port,
        describe_transport(settings),
    )
    if on_port is not None:
        on_port(server.port)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)

    started = time.perf_counter()
    loading = _in_daemon_thread(loop, _load_and_warm, settings, load)
    waiter = asyncio.ensure_future(stop_requested.wait())
    done, _ = await asyncio.wait([loading, waiter], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
    if loading in done:
        try:
            pipeline = loading.result()
        except BaseException:
            waiter.cancel()
            await server.stop(0)
            raise  # ConfigurationError: the caller prints one line and exits non-zero
        log.info("models ready in %.1f s", time.perf_counter() - started)
        freeze_heap()
        await server.set_serving(pipeline)
        await waiter
        if settings.prestop_s > 0:
            await prestop(server, settings.prestop_s, stop_requested)
    log.info("shutting down: draining in-flight calls for up to %.0f s", settings.grace_s)
    await server.stop(settings.grace_s)
    busy = server.runner.busy_workers
    if busy:
        # Work abandoned at the end of the grace period (a step that does not check the stop signal)
        # would hold interpreter exit for as long as it runs: the worker threads are joined at exit.
        log.warning("stopped; %d worker thread(s) still busy with abandoned work: exiting without them", busy)
        exit_now(0)
    log.info("stopped")
    if not loading.done():
        # Stopped while the models load: the loader thread is inside the model libraries' native code, and
        # their teardown at interpreter exit would run under it and abort the process. Leave at once.
        exit_now(0)
    return 0


def exit_now(code: int) -> None:
    """End the process at once, after flushing the logs: nothing is joined, nothing more runs."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _check_port_free(host: str, port: int) -> None:
    """Name a port already in use in one line, before gRPC fails on it with a long log line of its own."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # gRPC reports an address it cannot resolve
    for family, kind, proto, _, sockaddr in infos:
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:
            continue  # an address family this machine lacks: gRPC skips it too
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(f"port {port} on {host} is already in use") from None


def freeze_heap() -> None:
    """Exempt everything alive after loading from the cyclic collector.

    Loading leaves hundreds of thousands of long-lived objects (tokenizers, vocabularies, model
    wrappers). Scanning them in every full collection stalls every thread for tens of milliseconds,
    which shows up directly in tail latency; frozen, they are never scanned again.
    """
    gc.collect()  # start-up garbage goes first, so that none of it is frozen
    gc.freeze()
    log.debug("froze %d objects out of garbage collection", gc.get_freeze_count())


def _in_daemon_thread(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., T], *args: object
) -> asyncio.Future[T]:
    """Run start-up loading in a daemon thread, so that a stop during loading need not wait for it."""
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the loop, re-raised there
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name="model-loader", daemon=True).start()
    return future


def _load_and_warm(
    settings: Settings, load: Callable[[Settings], SummarizationPipeline]
) -> SummarizationPipeline:
    pipeline = load(settings)
    if settings.warmup:
        pipeline.warmup()
    return pipeline

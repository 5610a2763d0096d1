"""The gRPC server: wiring, health, reflection, start-up order and graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.api.admission import Admission
from service.api.interceptors import ErrorInterceptor
from service.api.runner import Runner
from service.api.security import BearerTokenInterceptor, describe_transport, server_credentials
from service.api.servicer import SummarizerServicer
from service.config import Settings
from service.metrics import Counters
from service.pipeline import SummarizationPipeline
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
    ) -> None:
        self.grpc = server
        self.port = port
        self.servicer = servicer
        self.health = health_servicer
        self.runner = runner
        self.metrics = metrics if metrics is not None else Counters()
        self.withdrawn = False

    async def set_serving(self, pipeline: SummarizationPipeline) -> None:
        self.servicer.attach(pipeline)
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

    async def stop(self, grace: float) -> None:
        """Readiness goes NOT_SERVING, new calls are refused, in-flight calls get `grace` seconds.

        Liveness stays SERVING while the calls drain: the process is healthy, only leaving.
        """
        self.servicer.draining = True
        await self.withdraw()
        await self.grpc.stop(grace)
        self.runner.shutdown()


async def build_server(settings: Settings, pipeline: SummarizationPipeline | None = None) -> Server:
    """Start listening at once; health says NOT_SERVING until `set_serving` (models ready).

    Interceptors run in order: the bearer-token check (when a token is set) before anything else,
    then request ids and the exception -> status table. TLS, or mutual TLS with a client CA, when
    the settings name certificate files; plaintext otherwise.
    """
    credentials = server_credentials(settings)  # bad files fail here, before anything listens
    metrics = Counters()
    runner = Runner(model_workers=settings.max_concurrent_requests)
    servicer = SummarizerServicer(runner, admission=Admission.from_settings(settings, metrics))
    interceptors: list[grpc.aio.ServerInterceptor] = []
    token = settings.bearer_token()
    if token is not None:
        interceptors.append(BearerTokenInterceptor(token, metrics=metrics))
    interceptors.append(ErrorInterceptor((SERVICE_NAME,)))
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
    if credentials is not None:
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    wrapped = Server(server, port, servicer, health_servicer, runner, metrics)
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
    log.info("stopped")
    return 0


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

"""Real servers on 127.0.0.1 with port 0: in a thread (fake or real pipelines) or as a subprocess
(through `devkit.launcher`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import grpc
import pytest

from devkit import launcher
from service.config import Settings
from service.pipeline import Limits, SummarizationPipeline
from service.server import Server, build_server
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.fakes import fake_pipeline

ROOT = Path(__file__).resolve().parents[2]


class ServerThread:
    """Runs build_server() on its own event loop in a background thread."""

    def __init__(self, settings: Settings, pipeline: SummarizationPipeline | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: Server = self.call(build_server(settings, pipeline))
        self.target = f"127.0.0.1:{self.server.port}"

    def call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def set_serving(self, pipeline: SummarizationPipeline) -> None:
        self.call(self.server.set_serving(pipeline))

    def stop(self, grace: float = 1.0) -> None:
        self.call(self.server.stop(grace))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def server_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"host": "127.0.0.1", "port": 0, "warmup": False}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fake_server() -> Iterator[ServerThread]:
    server = ServerThread(server_settings(), fake_pipeline(limits=Limits(max_text_chars=20_000)))
    yield server
    server.stop()


@pytest.fixture()
def stub(fake_server: ServerThread) -> Iterator[pb_grpc.SummarizerServiceStub]:
    with grpc.insecure_channel(fake_server.target) as channel:
        yield pb_grpc.SummarizerServiceStub(channel)


class ServerProcess(launcher.ServerProcess):
    """The launcher as these tests use it: launched at once, this checkout first on the child's PYTHONPATH,
    its output in a log under `tmp`. A test waits for the port and for SERVING itself, watching the health
    statuses on the way, and stops it with `terminate()` (or `kill()` once it has signalled it itself).

    It stays in the test run's process group, so that a `timeout` that ends the run ends it too. `env` adds
    variables to its environment (SUMMARIZER_* settings, which an older server ignores).
    """

    def __init__(self, tmp: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        super().__init__(
            args,
            tmp / f"server-{time.monotonic_ns()}.log",
            stop_timeout_s=60.0,
            offline=False,
            pythonpath=True,
            own_session=False,
            env=env,
        )
        self.launch()

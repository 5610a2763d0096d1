"""Real servers on 127.0.0.1 with port 0: in a thread (fake or real pipelines) or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

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


class ServerProcess:
    """`python -m service` as a child process on a free loopback port."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port_file = tmp / f"port-{time.monotonic_ns()}"
        self.log = tmp / f"server-{time.monotonic_ns()}.log"
        command = [
            sys.executable,
            "-m",
            "service",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(self.port_file),
            *args,
        ]
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen"), str(ROOT / "clients")])
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=self._log_handle, stderr=subprocess.STDOUT
        )

    def wait_port(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while not self.port_file.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError("server did not bind a port in time")
            time.sleep(0.05)
        return f"127.0.0.1:{self.port_file.read_text().strip()}"

    def output(self) -> str:
        if not self._log_handle.closed:
            self._log_handle.flush()
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log_handle.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log_handle.close()

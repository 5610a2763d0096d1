"""The service as a child process: `python -m service` on 127.0.0.1 with a free port, for the tests, the
benchmarks and the demo.

It owns the start (the port comes back through `--port-file`, then the health service is polled until
SERVING), the stop (SIGTERM, a grace period, then SIGKILL) and what can be read back from the server's
output. What the callers need differently are options of `ServerProcess`, not copies of it:

- `log_path`: the output goes to a log file, read back for failures, tests and the benchmark's batch
  lines; with None it goes to the terminal, as the demo shows it.
- `offline`: HF_HUB_OFFLINE=1, models come from the cache only.
- `pythonpath`: this checkout's code first on the child's import path, whatever is installed.
- `own_session`: a session of its own, so that a Ctrl-C in the terminal reaches only the caller, which
  then stops the server in order.

The defaults suit an unattended run (the benchmark); tests and the demo set what differs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from summarizer_client import SummarizerClient, SummarizerClientError

ROOT = Path(__file__).resolve().parent.parent

# The micro-batcher's DEBUG lines for each batch it runs (service/models/batching.py): when it starts, and how
# long it ran.
_BATCH_LINE = re.compile(r"-batcher: batch of (\d+) \(")
_BATCH_RAN_LINE = re.compile(r"-batcher: batch of \d+ ran in ([\d.]+) ms")
# How often the port file is looked for while the server binds.
_PORT_POLL_S = 0.05
# One health wait at a time, short enough to notice a server that died meanwhile.
_HEALTH_SLICE_S = 2.0


class ServerError(RuntimeError):
    """The server did not start, or died; the message ends with the tail of its log."""


def tree_rss(pid: int) -> int:
    """Resident set size of a process and all its children, in bytes (0 once it is gone)."""
    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


class ServerProcess:
    """`python -m service <args>` on 127.0.0.1 with a free port; as a context manager, stopped on exit.

    `start()` launches it and waits until SERVING. A caller that watches the start itself calls
    `launch()` and `wait_port()`, then polls health on its own. The caller's `args` come first on the
    command line, so that the launcher's host, port and port file always win.
    """

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path | None = None,
        *,
        stop_timeout_s: float = 30.0,
        offline: bool = True,
        pythonpath: bool = False,
        own_session: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.log_path = log_path
        self.stop_timeout_s = stop_timeout_s
        self.offline = offline
        self.pythonpath = pythonpath
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.startup_s = float("nan")
        self._launched_at = 0.0
        self._port_dir: Path | None = None

    # -- starting --------------------------------------------------------------------------------

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._running().pid

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        if self.offline:
            env["HF_HUB_OFFLINE"] = "1"
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen"), str(ROOT / "clients")])
        env.update(self.extra_env)
        return env

    def launch(self) -> None:
        """Start the process and return at once; its command line heads its output."""
        if self.process is not None:
            raise RuntimeError("this server was launched already")
        self._port_dir = Path(tempfile.mkdtemp(prefix="summarizer-server-"))
        command = [
            sys.executable,
            "-m",
            "service",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(self._port_dir / "port"),
            *self.args,  # after the defaults, so that a caller's --port or --host wins
        ]
        heading = f"$ {' '.join(command)}\n"
        self._launched_at = time.perf_counter()
        if self.log_path is None:
            print(heading, end="", flush=True)
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self._environment(), start_new_session=self.own_session
            )
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copy of the descriptor; ours is closed as soon as it has started.
        with self.log_path.open("wb") as log:
            log.write(heading.encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_session,
            )

    def wait_port(self, timeout_s: float = 60.0) -> str:
        """Wait until the server has bound its port; returns its address."""
        return self._wait_port(time.monotonic() + timeout_s, timeout_s)

    def start(self, timeout_s: float) -> float:
        """Launch the server and wait until its health says SERVING. Returns the seconds that took."""
        deadline = time.monotonic() + timeout_s
        self.launch()
        self._wait_port(deadline, timeout_s)
        self._wait_serving(deadline, timeout_s)
        self.startup_s = time.perf_counter() - self._launched_at
        return self.startup_s

    def _wait_port(self, deadline: float, timeout_s: float) -> str:
        assert self._port_dir is not None, "launch() first"
        port_file = self._port_dir / "port"
        # The service writes the file under another name and renames it: it is never read half-written.
        while not port_file.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise ServerError(f"no port after {timeout_s:.0f} s{self.log_tail()}")
            time.sleep(_PORT_POLL_S)
        self.port = int(port_file.read_text().strip())
        self._remove_port_dir()
        return self.target

    def _wait_serving(self, deadline: float, timeout_s: float) -> None:
        with SummarizerClient(self.target, timeout=30) as client:
            while True:
                self._check_alive()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServerError(f"not SERVING after {timeout_s:.0f} s{self.log_tail()}")
                try:
                    client.wait_ready(min(remaining, _HEALTH_SLICE_S))
                    return
                except SummarizerClientError:  # not ready within this slice: check that it is alive, wait on
                    continue

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("this server has not been launched")
        return self.process

    def _check_alive(self) -> None:
        code = self._running().poll()
        if code is not None:
            raise ServerError(f"the server exited with code {code}{self.log_tail()}")

    # -- stopping --------------------------------------------------------------------------------

    def terminate(self, timeout_s: float | None = None) -> int | None:
        """SIGTERM, up to `timeout_s` (default `stop_timeout_s`) to drain and exit, then SIGKILL.

        Returns the exit code.
        """
        process = self.process
        if process is None:
            return None
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_timeout_s if timeout_s is None else timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            return process.returncode
        finally:
            self._remove_port_dir()

    def kill(self) -> None:
        """SIGKILL now, if it still runs: for a server that a test has already signalled itself."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._remove_port_dir()

    def _remove_port_dir(self) -> None:
        if self._port_dir is not None:
            shutil.rmtree(self._port_dir, ignore_errors=True)
            self._port_dir = None

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    # -- what it wrote ---------------------------------------------------------------------------

    def output(self) -> str:
        """Everything in the log so far ("" when the output goes to the terminal)."""
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        """The log's last lines, as a block to end an error message with ("" when there is none)."""
        tail = self.output().strip().splitlines()[-lines:]
        return ("\n  server log (" + str(self.log_path) + "):\n    " + "\n    ".join(tail)) if tail else ""

    def log_offset(self) -> int:
        """The log's size now: a mark for `batch_sizes`."""
        log_path = self._log()
        return log_path.stat().st_size if log_path.exists() else 0

    def batch_sizes(self, since: int) -> list[int]:
        """Rows in each model batch the server logged after `since` (it runs at DEBUG for this)."""
        return [int(n) for n in _BATCH_LINE.findall(self._log_since(since))]

    def batch_seconds(self, since: int) -> list[float]:
        """How long each model batch the server logged after `since` ran, in seconds."""
        return [float(ms) / 1000 for ms in _BATCH_RAN_LINE.findall(self._log_since(since))]

    def _log_since(self, since: int) -> str:
        with self._log().open("rb") as log:
            log.seek(since)
            return log.read().decode("utf-8", "replace")

    def _log(self) -> Path:
        if self.log_path is None:
            raise RuntimeError("this server writes to the terminal; there is no log to read")
        return self.log_path

    def rss(self) -> int:
        """Resident memory of the server and its children, in bytes."""
        return tree_rss(self.process.pid) if self.process is not None else 0

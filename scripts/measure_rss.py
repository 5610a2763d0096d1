"""Measure a server's resident memory idle and under concurrent requests, for sizing its container.

Starts `python -m service` for a profile on 127.0.0.1 with a free port, waits until it is SERVING, samples
its RSS (psutil) while idle, then while CONCURRENCY clients each send REQUESTS Summarize calls of the seed
article into the target languages, and idle again afterwards. Prints one JSON object.

    python scripts/measure_rss.py --profile tiny --concurrency 4 --requests 2 -t en -t fr

Large inputs: `--long-chars 100000` sends the article repeated to that length (each copy marked, so the text
is not one sentence many times over), `--server-arg=--memory-budget-mb=4608` passes settings to the server,
and the calls' outcomes are counted by status code instead of stopping at the first error:

    python scripts/measure_rss.py --profile embedded --concurrency 8 --requests 1 --long-chars 100000 \
        --call-timeout-s 120 --server-arg=--memory-budget-mb=4608
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_dba0962fc812cd96.txt"
MB = 1024 * 1024


class RssSampler:
    """The largest RSS of a process seen since the last reset, sampled every `interval` seconds."""

    def __init__(self, process: psutil.Process, interval: float = 0.05) -> None:
        self.process = process
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(self.interval)

    def reset(self) -> None:
        self.peak = self.process.memory_info().rss

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def wait_serving(target: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}")
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise SystemExit(f"not SERVING after {timeout} s")


def long_article(article: str, chars: int) -> str:
    """`article` repeated to about `chars` characters, each copy opening with its own line."""
    copies = 1 + chars // (len(article) + 2)  # each copy with its part line and separator is longer still
    text = "\n\n".join(f"Part {copy}.\n\n{article}" for copy in range(1, copies + 1))
    return text[:chars].rsplit(".", 1)[0] + "."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2, help="Summarize calls per client")
    parser.add_argument("-t", "--target", action="append", default=None, help="target languages (en)")
    parser.add_argument("--chars", type=int, default=0, help="send only the article's first CHARS characters")
    parser.add_argument("--long-chars", type=int, default=0, help="the article repeated to N characters")
    parser.add_argument("--server-arg", action="append", default=[], help="an extra argument for the server")
    parser.add_argument("--max-tokens", type=int, default=0, help="summary length bound (server default)")
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--ready-timeout-s", type=float, default=900.0)
    parser.add_argument("--call-timeout-s", type=float, default=900.0)
    args = parser.parse_args(argv)
    targets = args.target or ["en"]

    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen"), str(ROOT / "clients")]),
        }
        command = [sys.executable, "-m", "service", "--profile", args.profile, "--host", "127.0.0.1"]
        command += ["--port", "0", "--port-file", str(port_file), "--log-level", "WARNING"]
        # On a busy machine one call can outlast a connection's maximum age and its grace.
        command += ["--max-connection-age-s", "0", *args.server_arg]
        started = time.monotonic()
        server = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            while not port_file.exists():
                if server.poll() is not None:
                    raise SystemExit(f"the server exited with {server.returncode}")
                time.sleep(0.05)
            target = f"127.0.0.1:{port_file.read_text().strip()}"
            process = psutil.Process(server.pid)
            sampler = RssSampler(process)
            wait_serving(target, server, args.ready_timeout_s)
            ready_s = time.monotonic() - started
            start_peak = sampler.peak
            time.sleep(args.idle_s)
            idle = process.memory_info().rss
            sampler.reset()

            article = SEED.read_text(encoding="utf-8")
            if args.chars:
                article = article[: args.chars].rsplit(".", 1)[0] + "."
            if args.long_chars:
                article = long_article(article, args.long_chars - 32)  # room for the edition line
            outcomes: Counter[str] = Counter()
            details: dict[str, str] = {}  # the first message of each error code
            request = pb.SummarizeRequest(
                text=article, target_languages=targets, options=pb.SummaryOptions(max_tokens=args.max_tokens)
            )
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.SummarizerServiceStub(channel)

                def client(index: int) -> float:
                    began = time.monotonic()
                    for n in range(args.requests):
                        # A distinct request id and a distinct text: no cache hits.
                        varied = pb.SummarizeRequest()
                        varied.CopyFrom(request)
                        varied.text = f"{article}\n\n(Edition {index}.{n}.)"
                        try:
                            stub.Summarize(varied, timeout=args.call_timeout_s)
                            outcomes["OK"] += 1
                        except grpc.RpcError as err:
                            outcomes[err.code().name] += 1
                            details.setdefault(err.code().name, err.details() or "")
                    return time.monotonic() - began

                load_started = time.monotonic()
                with ThreadPoolExecutor(args.concurrency) as pool:
                    client_s = list(pool.map(client, range(args.concurrency)))
                load_s = time.monotonic() - load_started
            loaded_peak = sampler.peak
            time.sleep(args.idle_s)
            after = process.memory_info().rss
            sampler.stop()
        finally:
            server.terminate()
            server.wait(timeout=120)
    print(
        json.dumps(
            {
                "profile": args.profile,
                "targets": targets,
                "concurrency": args.concurrency,
                "requests_per_client": args.requests,
                "article_chars": len(article),
                "max_tokens": args.max_tokens or "default",
                "ready_s": round(ready_s, 1),
                "peak_while_starting_mb": round(start_peak / MB),
                "idle_mb": round(idle / MB),
                "peak_under_load_mb": round(loaded_peak / MB),
                "idle_after_load_mb": round(after / MB),
                "outcomes": dict(outcomes),
                "error_details": details,
                "load_s": round(load_s, 1),
                "slowest_client_s": round(max(client_s), 1),
                "cpus": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

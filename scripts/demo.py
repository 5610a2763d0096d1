"""End to end: start the server, send the sample article, print its summary in several languages, stop.

Usage: python scripts/demo.py [--profile embedded] [--target fr --target de ...] [--article FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from summarizer_client import LanguageFailed, LanguageSummary, SourceLanguage, SummarizerClient

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_dba0962fc812cd96.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="embedded")
    parser.add_argument("--target", action="append", dest="targets")
    parser.add_argument("--article", type=Path, default=SEED)
    parser.add_argument("--start-timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    targets = args.targets or ["en", "fr", "de", "es"]
    article = args.article.read_text(encoding="utf-8")

    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        command = [
            sys.executable,
            "-m",
            "service",
            "--profile",
            args.profile,
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ]
        print(f"$ {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        server = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            while not port_file.exists():
                if server.poll() is not None:
                    print(f"demo: the server exited with code {server.returncode}", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            target = f"127.0.0.1:{port_file.read_text().strip()}"
            with SummarizerClient(target, timeout=args.start_timeout) as client:
                client.wait_ready(args.start_timeout)
                ready_s = time.perf_counter() - started
                print(
                    f"\nserver ready on {target} after {ready_s:.1f} s (profile {args.profile})", flush=True
                )
                print(
                    f"article: {args.article.name} ({len(article):,} characters); "
                    f"targets: {', '.join(targets)}\n"
                )
                sent = time.perf_counter()
                failures = 0
                for event in client.stream_summarize(article, targets):
                    elapsed = time.perf_counter() - sent
                    if isinstance(event, SourceLanguage):
                        how = "declared" if event.declared else f"detected, confidence {event.confidence:.2f}"
                        print(f"source language: {event.language} ({how})\n", flush=True)
                    elif isinstance(event, LanguageSummary):
                        s = event.summary
                        origin = f"translated from {s.translated_from}" if s.translated_from else "written"
                        print(f"== {s.language} [{origin}; at {elapsed:.1f} s; {' -> '.join(s.models)}] ==")
                        print(s.text + "\n", flush=True)
                    elif isinstance(event, LanguageFailed):
                        failures += 1
                        f = event.failure
                        print(f"== {f.language}: FAILED ({f.code}) {f.message} ==\n", flush=True)
                print(f"all {len(targets)} languages in {time.perf_counter() - sent:.1f} s")
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                code = server.wait(timeout=60)
                print(f"server stopped (exit code {code})")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""End to end: start the server, send the sample article, print its summary in several languages, stop.

Usage: python scripts/demo.py [--profile embedded] [--target fr --target de ...] [--article FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run by its path, a script finds its own folder on sys.path, not the checkout's: put the checkout first,
# so that the demo runs this tree's launcher (and service) whether or not it has been installed.
sys.path.insert(0, str(ROOT))

from devkit.launcher import ServerError, ServerProcess  # noqa: E402
from summarizer_client import LanguageFailed, LanguageSummary, SourceLanguage, SummarizerClient  # noqa: E402

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

    # The server's own output streams to the terminal with the demo's; a profile of hub models may
    # download what the cache lacks.
    server = ServerProcess(
        ["--profile", args.profile], None, stop_timeout_s=60.0, offline=False, own_session=False
    )
    with server:
        try:
            ready_s = server.start(args.start_timeout)
        except ServerError as err:
            print(f"demo: {err}", file=sys.stderr)
            return 1
        try:
            print(
                f"\nserver ready on {server.target} after {ready_s:.1f} s (profile {args.profile})",
                flush=True,
            )
            print(
                f"article: {args.article.name} ({len(article):,} characters); targets: {', '.join(targets)}\n"
            )
            with SummarizerClient(server.target, timeout=args.start_timeout) as client:
                failures = show_summaries(client, article, targets)
        finally:
            print(f"server stopped (exit code {server.terminate()})")
    return 1 if failures else 0


def show_summaries(client: SummarizerClient, article: str, targets: list[str]) -> int:
    """Stream the article's summaries, printing each as it arrives; returns how many languages failed."""
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
    return failures


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m bench.quality`: evaluate summary and translation quality, one profile after another.

python -m bench.quality --profile tiny                   # a few minutes
python -m bench.quality --profile embedded --max-cases 4 # en, fr, de, zh
python -m bench.quality --cases my/cases --profile tiny --pivot
python -m bench.quality --data ../shared/eval --profile tiny # also news with human references

With --data, each profile's per-language results also go to bench/QUALITY.md (its section there
is replaced; the rest of the file is kept), and where the folder has translation.jsonl, the
profile's confidence and repairs are measured on it too (bench.quality.confidence) and appended
to bench/out/quality-<profile>.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from bench.quality.cases import DEFAULT_CASES, ROOT, Case, CaseError, load_cases
from bench.quality.confidence import measure
from bench.quality.external import TRANSLATIONS_FILE, ExternalData, load_external
from bench.quality.report import (
    LANGUAGE_LEGEND,
    LEGEND,
    render_language_text,
    render_markdown,
    render_quality_block,
    render_text,
    update_quality_file,
)
from bench.quality.runner import EvalOptions, ProfileReport, evaluate, running_server
from service.profiles import BUILTIN_PROFILES
from summarizer_client import SummarizerClient, SummarizerClientError

DEFAULT_OUT = ROOT / "bench" / "out"
DEFAULT_REPORT = ROOT / "bench" / "QUALITY.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--profile", action="append", dest="profiles", help="a profile to evaluate (repeatable; default tiny)"
    )
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="folder of .toml/.json cases")
    parser.add_argument(
        "--data",
        type=Path,
        help="folder of external data: summaries.jsonl and/or translation.jsonl "
        "(see bench/quality/external.py), evaluated after the cases; with translation.jsonl, each "
        "profile's confidence and repairs are also measured on it in process (bench.quality.confidence)",
    )
    parser.add_argument(
        "--data-limit",
        type=int,
        help="with --data: confidence on only the first N items of each target language",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        help="the per-language report that --data updates (default bench/QUALITY.md)",
    )
    parser.add_argument("--case", action="append", dest="only", help="run only the case with this id")
    parser.add_argument("--max-cases", type=int, help="run only the first N cases (in file-name order)")
    parser.add_argument(
        "--length",
        choices=("short", "medium", "long"),
        default="medium",
        help="abstractive length preset (default medium, the service's own default; the references "
        "are 2-3 sentences)",
    )
    parser.add_argument(
        "--extractive-sentences", type=int, default=3, help="sentences in the extractive summary (default 3)"
    )
    parser.add_argument(
        "--pivot",
        action="store_true",
        help="also summarize abstractively the languages a profile reaches only through English "
        "(the whole article is translated first: minutes per case on the tiny profile)",
    )
    parser.add_argument("--no-translations", action="store_true", help="skip the translation references")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where quality-<profile>.md goes")
    parser.add_argument("--start-timeout", type=float, default=900.0, help="seconds for a server to be ready")
    parser.add_argument("--call-timeout", type=float, default=900.0, help="deadline of each call, seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    profiles = args.profiles or ["tiny"]
    try:
        cases = load_cases(args.cases)
    except CaseError as exc:
        print(f"quality: {exc}", file=sys.stderr)
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {c.id for c in cases})
        if unknown:
            print(f"quality: no case with id {', '.join(unknown)} in {args.cases}", file=sys.stderr)
            return 2
        cases = [c for c in cases if c.id in args.only]
    if args.max_cases is not None:
        cases = cases[: max(0, args.max_cases)]
    data: ExternalData | None = None
    if args.data is not None:
        try:
            data = load_external(args.data)
        except CaseError as exc:
            print(f"quality: {exc}", file=sys.stderr)
            return 2
    options = EvalOptions(
        length=args.length,
        extractive_sentences=args.extractive_sentences,
        pivot=args.pivot,
        translations=not args.no_translations,
        call_timeout=args.call_timeout,
    )
    command = "python -m bench.quality " + shlex.join(argv if argv is not None else sys.argv[1:])

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    data_cases: tuple[Case, ...] = data.summaries if data else ()
    if data is not None:
        progress(
            f"data: {len(data.summaries)} articles and {data.translation_count} translations from {args.data}"
        )
    commit = current_commit()  # the code that runs, whatever is edited while it does
    load_at_start = os.getloadavg()
    reports: list[ProfileReport] = []
    failed = False
    for profile in profiles:
        log_path = args.out / f"server-{profile}.log"
        progress(f"[{profile}] starting the server (log: {log_path})")
        try:
            with running_server(profile, log_path=log_path, start_timeout=args.start_timeout) as (
                address,
                startup_s,
            ):
                progress(
                    f"[{profile}] ready on {address} after {startup_s:.1f} s; "
                    f"{len(cases)} cases, {len(data_cases)} data articles"
                )
                with SummarizerClient(address, timeout=args.call_timeout) as client:
                    report = evaluate(
                        client,
                        cases,
                        profile,
                        options,
                        progress,
                        data_cases=data_cases,
                        data_translations=data.translations if data else (),
                    )
                report.startup_s = startup_s
        except (RuntimeError, SummarizerClientError) as exc:
            unreachable = hub_unreachable(profile, log_path)
            if unreachable:
                print(f"quality: profile {profile} not evaluated: {unreachable}", file=sys.stderr)
            else:
                print(f"quality: profile {profile}: {exc}", file=sys.stderr)
            failed = True
            continue
        reports.append(report)
        failed = failed or bool(report.errors)
        args.out.mkdir(parents=True, exist_ok=True)
        markdown = args.out / f"quality-{profile}.md"
        text = render_markdown(report, cases_folder=_shown(args.cases), command=command)
        if data is not None and (args.data / TRANSLATIONS_FILE).is_file():
            # The server has stopped: the profile loads in process now.
            progress(f"[{profile}] confidence and repairs on {args.data}")
            confidence = measure(args.data, profile, limit=args.data_limit)
            print(confidence)
            # Its headings one level down, under this report's title.
            text += "\n" + "\n".join(
                "#" + line if line.startswith("#") else line for line in confidence.splitlines()
            )
        markdown.write_text(text, encoding="utf-8")
        progress(f"[{profile}] wrote {markdown}")
        if data is not None:
            machine = machine_line(commit, load_at_start)
            folder = _shown(args.data)
            block = render_quality_block(report, data_folder=folder, command=command, machine=machine)
            update_quality_file(args.report, profile, block)
            progress(f"[{profile}] updated {args.report}")
    if reports:
        print()
        print(render_text(reports))
        print()
        print(LEGEND)
        if data is not None:
            print()
            print(render_language_text(reports))
            print()
            print(LANGUAGE_LEGEND)
    return 1 if failed else 0


def machine_line(commit: str, load_at_start: tuple[float, float, float]) -> str:
    """Where and on what the figures were measured: commit, cores, load averages (1, 5, 15 min)."""

    def shown(load: tuple[float, float, float]) -> str:
        return " ".join(f"{x:.2f}" for x in load)

    return (
        f"commit {commit}; {os.cpu_count()} CPUs; load average {shown(load_at_start)} at the start, "
        f"{shown(os.getloadavg())} at the end (1, 5, 15 min)"
    )


def current_commit() -> str:
    """The checkout's commit, marked when tracked files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return commit


# What a failed download says in the server's log, beside the ModelLoadError's "cannot load".
_HUB_FAILURE_MARKS = (
    "LocalEntryNotFoundError",
    "couldn't connect",
    "Max retries exceeded",
    "Name or service not known",
    "offline mode",
)


def _is_hub_id(source: str) -> bool:
    """'owner/name', not a packaged model nor a local folder."""
    return source.count("/") == 1 and ":" not in source and not source.startswith((".", "/", "~"))


def hub_unreachable(profile: str, log_path: Path) -> str:
    """A clear line when a profile of hub models could not start because the Hugging Face hub is
    out of reach and the cache lacks a model; "" when that is not why it failed."""
    spec = BUILTIN_PROFILES.get(profile)
    hub_sources = [m.source for m in (spec.models if spec else ()) if _is_hub_id(m.source)]
    if not hub_sources:
        return ""
    try:
        log = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    failure = next((line.strip() for line in log.splitlines() if "cannot load" in line), "")
    if not failure or not any(mark in log for mark in _HUB_FAILURE_MARKS):
        return ""
    return (
        "the Hugging Face hub is not reachable from this machine and the model cache lacks its models "
        f"({len(hub_sources)} hub models, e.g. {hub_sources[0]}); the server said: {failure[:300]}"
    )


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)

"""`python -m bench.quality`: evaluate summary and translation quality, one profile after another.

python -m bench.quality --profile tiny                   # a few minutes
python -m bench.quality --profile embedded --max-cases 4 # en, fr, de, zh
python -m bench.quality --cases my/cases --profile tiny --pivot
python -m bench.quality --profile embedded --data DIR   # also confidence and repairs on DIR's references
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.quality.cases import DEFAULT_CASES, ROOT, CaseError, load_cases
from bench.quality.confidence import measure
from bench.quality.report import LEGEND, render_markdown, render_text
from bench.quality.runner import EvalOptions, ProfileReport, evaluate, running_server
from summarizer_client import SummarizerClient, SummarizerClientError

DEFAULT_OUT = ROOT / "bench" / "out"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--profile", action="append", dest="profiles", help="a profile to evaluate (repeatable; default tiny)"
    )
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="folder of .toml/.json cases")
    parser.add_argument("--case", action="append", dest="only", help="run only the case with this id")
    parser.add_argument("--max-cases", type=int, help="run only the first N cases (in file-name order)")
    parser.add_argument(
        "--length",
        choices=("short", "medium", "long"),
        default="short",
        help="abstractive length preset (default short: the references are 2-3 sentences)",
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
    parser.add_argument(
        "--data",
        type=Path,
        help="a folder with translation.jsonl: after each profile's cases, measure its confidence and "
        "repairs on these references in process (bench.quality.confidence)",
    )
    parser.add_argument(
        "--data-limit", type=int, help="with --data: only the first N items of each target language"
    )
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
                progress(f"[{profile}] ready on {address} after {startup_s:.1f} s; {len(cases)} cases")
                with SummarizerClient(address, timeout=args.call_timeout) as client:
                    report = evaluate(client, cases, profile, options, progress)
                report.startup_s = startup_s
        except (RuntimeError, SummarizerClientError) as exc:
            print(f"quality: profile {profile}: {exc}", file=sys.stderr)
            failed = True
            continue
        reports.append(report)
        failed = failed or bool(report.errors)
        args.out.mkdir(parents=True, exist_ok=True)
        markdown = args.out / f"quality-{profile}.md"
        text = render_markdown(report, cases_folder=_shown(args.cases), command=command)
        if args.data is not None:  # the server has stopped: the profile loads in process now
            progress(f"[{profile}] confidence and repairs on {args.data}")
            confidence = measure(args.data, profile, limit=args.data_limit)
            print(confidence)
            # Its headings one level down, under this report's title.
            text += "\n" + "\n".join(
                "#" + line if line.startswith("#") else line for line in confidence.splitlines()
            )

        markdown.write_text(text, encoding="utf-8")
        progress(f"[{profile}] wrote {markdown}")
    if reports:
        print()
        print(render_text(reports))
        print()
        print(LEGEND)
    return 1 if failed else 0


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)

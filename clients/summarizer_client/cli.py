"""The `summarizer-client` command: summarize, translate, detect, models, health.

Exit codes: 0 success, 1 the server answered with an error (or is not SERVING),
2 bad usage or an unreadable input file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from .client import DEFAULT_TARGET, SummarizerClient
from .errors import SummarizerClientError
from .types import (
    DetectedLanguage,
    LanguageFailed,
    LanguageFailure,
    LanguageSummary,
    SourceLanguage,
    StreamEvent,
    Summary,
)

DEFAULT_TIMEOUT_S = 300.0
SERVER_ENV = "SUMMARIZER_SERVER"
TOKEN_ENV = "SUMMARIZER_TOKEN"


class _InputError(Exception):
    """An input file or stdin could not be read."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad usage (2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_usage(sys.stderr)
        return 2

    # Flags win over the environment, read now rather than at import time.
    server = getattr(args, "server", None) or os.environ.get(SERVER_ENV) or DEFAULT_TARGET
    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None
    timeout = getattr(args, "timeout", DEFAULT_TIMEOUT_S)
    handler: Callable[[SummarizerClient, argparse.Namespace], int] = args.handler
    try:
        with SummarizerClient(server, timeout=timeout, token=token) as client:
            return handler(client, args)
    except _InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SummarizerClientError as err:
        message = f"error: {err.code.name}: {err.details}"
        if err.request_id and err.request_id not in err.details:
            message += f" (request id {err.request_id})"
        print(message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- commands ------------------------------------------------------------------------------


def _summarize(client: SummarizerClient, args: argparse.Namespace) -> int:
    text = _read_input(args.file)
    kwargs: dict[str, Any] = {
        "source_language": args.source,
        "mode": args.mode,
        "length": args.length,
        "max_tokens": args.max_tokens,
        "max_sentences": args.sentences,
        "num_beams": args.beams,
        "html": args.html,
        "request_id": args.request_id,
    }
    if args.no_stream:
        result = client.summarize(text, args.targets, **kwargs)
        if args.json:
            _print_json(_jsonable(result), indent=2)
            return 0
        _print_source(result.source_language, result.warnings)
        for summary in result.summaries:
            _print_summary(summary)
        for failure in result.failures:
            _print_failure(failure)
        return 0

    for event in client.stream_summarize(text, args.targets, **kwargs):
        if args.json:
            _print_json(_event_json(event))
        elif isinstance(event, SourceLanguage):
            detected = DetectedLanguage(event.language, event.confidence, event.declared)
            _print_source(detected, event.warnings)
        elif isinstance(event, LanguageSummary):
            _print_summary(event.summary)
        else:
            _print_failure(event.failure)
    return 0


def _translate(client: SummarizerClient, args: argparse.Namespace) -> int:
    texts = [_read_input(t) if t == "-" else t for t in args.texts]
    result = client.translate(texts, args.targets, source_language=args.source)
    if args.json:
        _print_json(_jsonable(result), indent=2)
        return 0
    _print_source(result.source_language, [])
    for translation in result.translations:
        models = f" ({' -> '.join(translation.models)})" if translation.models else ""
        _out(f"== [{translation.text_index}] {translation.language}{models} ==")
        _out(translation.text)
        _out("")
    return 0


def _detect(client: SummarizerClient, args: argparse.Namespace) -> int:
    detection = client.detect_language(_read_input(args.text) if args.text == "-" else args.text)
    if args.json:
        _print_json(_jsonable(detection), indent=2)
        return 0
    _out(f"{detection.language} (confidence {detection.confidence:.3f})")
    if detection.candidates:
        ranked = ", ".join(f"{c.language} {c.confidence:.3f}" for c in detection.candidates)
        _out(f"candidates: {ranked}")
    return 0


def _models(client: SummarizerClient, args: argparse.Namespace) -> int:
    info = client.list_models()
    if args.json:
        _print_json(_jsonable(info), indent=2)
        return 0
    _out(f"profile: {info.profile}")
    for model in info.models:
        _out(f"- {model.name} ({model.backend}, {model.runtime}): {', '.join(model.tasks) or 'no task'}")
        if model.source:
            _out(f"    source: {model.source}")
        if model.any_language:
            _out("    summarizes: any language")
        elif model.summary_languages:
            _out(f"    summarizes: {', '.join(model.summary_languages)}")
        if model.translation_pairs:
            _out(f"    translates: {', '.join(f'{p.source}->{p.target}' for p in model.translation_pairs)}")
    _out(f"languages: {', '.join(info.languages)}")
    return 0


def _health(client: SummarizerClient, args: argparse.Namespace) -> int:
    if args.wait is not None:
        client.wait_ready(args.wait, service=args.service)
        status = "SERVING"
    else:
        status = client.check_health(args.service)
    _out(status)
    return 0 if status == "SERVING" else 1


# -- output --------------------------------------------------------------------------------


def _out(line: str) -> None:
    # Flush per line so that streamed languages show up as they arrive, even through a pipe.
    print(line, flush=True)


def _print_source(source: DetectedLanguage, warnings: Sequence[str]) -> None:
    how = "declared" if source.declared else f"detected, confidence {source.confidence:.2f}"
    _out(f"source: {source.language} ({how})")
    for warning in warnings:
        _out(f"warning: {warning}")
    _out("")


def _print_summary(summary: Summary) -> None:
    parts = []
    if summary.translated_from:
        parts.append(f"translated from {summary.translated_from}")
    parts.append(f"{summary.duration_ms / 1000:.1f} s")
    if summary.models:
        parts.append(" -> ".join(summary.models))
    _out(f"== {summary.language} ({', '.join(parts)}) ==")
    _out(summary.text)
    _out("")


def _print_failure(failure: LanguageFailure) -> None:
    _out(f"== {failure.language}: FAILED ({failure.code.name}): {failure.message} ==")
    _out("")


def _print_json(value: Any, *, indent: int | None = None) -> None:
    _out(json.dumps(value, ensure_ascii=False, indent=indent))


def _jsonable(value: Any) -> Any:
    return dataclasses.asdict(value, dict_factory=_json_dict)


def _json_dict(items: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: value.name if isinstance(value, grpc.StatusCode) else value for key, value in items}


def _event_json(event: StreamEvent) -> dict[str, Any]:
    # Shaped like StreamSummarizeResponse: the key that is present says which event it is.
    if isinstance(event, SourceLanguage):
        detected = DetectedLanguage(event.language, event.confidence, event.declared)
        return {
            "request_id": event.request_id,
            "source_language": _jsonable(detected),
            "warnings": list(event.warnings),
        }
    if isinstance(event, LanguageSummary):
        return {"request_id": event.request_id, "summary": _jsonable(event.summary)}
    assert isinstance(event, LanguageFailed)
    return {"request_id": event.request_id, "failure": _jsonable(event.failure)}


# -- input and arguments -------------------------------------------------------------------


def _read_input(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise _InputError(f"cannot read {source}: {err}") from err


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value!r}")
    return number


def _languages(value: str) -> list[str]:
    # "fr,de" and "fr de" both work; BCP-47 tags never hold a comma.
    return [tag for tag in (part.strip() for part in value.split(",")) if tag]


class _ExtendLanguages(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = list(getattr(namespace, self.dest, None) or [])
        for value in values:
            current.extend(value)
        setattr(namespace, self.dest, current)


def _build_parser() -> argparse.ArgumentParser:
    # The connection flags are accepted before or after the command. SUPPRESS keeps a
    # command's parser from overwriting a value given before the command with a default.
    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group("connection")
    group.add_argument(
        "--server",
        metavar="HOST:PORT",
        default=argparse.SUPPRESS,
        help=f"server address (default: ${SERVER_ENV} or {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=argparse.SUPPRESS,
        help=f"deadline of each call (default: {DEFAULT_TIMEOUT_S:g})",
    )
    group.add_argument(
        "--token",
        default=argparse.SUPPRESS,
        help=f"bearer token sent as the authorization header (default: ${TOKEN_ENV})",
    )

    parser = argparse.ArgumentParser(
        prog="summarizer-client",
        description="Talk to a multilingual summarizer server.",
        parents=[connection],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    summarize = commands.add_parser(
        "summarize", parents=[connection], help="summarize an article into one or more languages"
    )
    summarize.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="the article; - or none: stdin"
    )
    _add_targets(summarize, required=False, help="a language to summarize into (default: the source's)")
    summarize.add_argument(
        "--source", default="", metavar="LANG", help="the article's language (default: detect)"
    )
    summarize.add_argument("--mode", choices=["abstractive", "extractive"], help="(default: the server's)")
    summarize.add_argument("--length", choices=["short", "medium", "long"], help="(default: the server's)")
    summarize.add_argument("--max-tokens", type=_positive_int, metavar="N", help="bound on generated tokens")
    summarize.add_argument("--sentences", type=_positive_int, metavar="N", help="sentences, extractive mode")
    summarize.add_argument("--beams", type=_positive_int, metavar="N", help="beam width, seq2seq models")
    summarize.add_argument("--html", action="store_true", help="the article is HTML")
    summarize.add_argument("--request-id", metavar="ID", help="an id to find this call in the server's logs")
    summarize.add_argument("--json", action="store_true", help="JSON: one line per event when streaming")
    summarize.add_argument(
        "--no-stream", action="store_true", help="one Summarize call: print everything at the end"
    )
    summarize.set_defaults(handler=_summarize)

    translate = commands.add_parser("translate", parents=[connection], help="translate texts")
    translate.add_argument("texts", nargs="+", metavar="TEXT", help="a text to translate; - reads stdin")
    _add_targets(translate, required=True, help="a language to translate into")
    translate.add_argument(
        "--source", default="", metavar="LANG", help="the texts' language (default: detect)"
    )
    translate.add_argument("--json", action="store_true", help="print JSON")
    translate.set_defaults(handler=_translate)

    detect = commands.add_parser("detect", parents=[connection], help="identify a text's language")
    detect.add_argument("text", metavar="TEXT", help="the text; - reads stdin")
    detect.add_argument("--json", action="store_true", help="print JSON")
    detect.set_defaults(handler=_detect)

    models = commands.add_parser("models", parents=[connection], help="describe the loaded models")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(handler=_models)

    health = commands.add_parser(
        "health", parents=[connection], help="print the health status; exit 1 unless SERVING"
    )
    health.add_argument("--service", default="", help="the service name to check (default: the server)")
    health.add_argument(
        "--wait", type=_positive_float, metavar="SECONDS", help="poll until SERVING, at most this long"
    )
    health.set_defaults(handler=_health)
    return parser


def _add_targets(parser: argparse.ArgumentParser, *, required: bool, help: str) -> None:
    parser.add_argument(
        "-t",
        "--target",
        dest="targets",
        nargs="+",
        type=_languages,
        action=_ExtendLanguages,
        default=[],
        required=required,
        metavar="LANG",
        help=f"{help}; repeat it or list several",
    )

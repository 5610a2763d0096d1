"""The `summarizer-client` command: summarize, batch, translate, detect, models, health, completion.

Exit codes: 0 success, 1 the server answered with an error (or is not SERVING, or an article
of a batch failed), 2 bad usage or an unreadable input file, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from ._channel import DEFAULT_TARGET
from .aio import AsyncSummarizerClient
from .client import SummarizerClient
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
    """An input file, a TLS file or stdin could not be read."""


@dataclass(frozen=True)
class Connection:
    """How to reach the server, from the flags and the environment; PEM files are read already."""

    target: str
    timeout: float
    token: str | None = None
    tls: bool = False
    ca_cert: bytes | None = None
    client_cert: bytes | None = None
    client_key: bytes | None = None
    server_name: str | None = None

    def _kwargs(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "token": self.token,
            "tls": self.tls,
            "ca_cert": self.ca_cert,
            "client_cert": self.client_cert,
            "client_key": self.client_key,
            "server_name": self.server_name,
        }

    def client(self, **options: Any) -> SummarizerClient:
        return SummarizerClient(self.target, **self._kwargs(), **options)

    def async_client(self, **options: Any) -> AsyncSummarizerClient:
        """An asyncio client; make it inside the event loop that will use it."""
        return AsyncSummarizerClient(self.target, **self._kwargs(), **options)


Handler = Callable[[argparse.Namespace, Connection], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_usage(sys.stderr)
            return 2
        if (getattr(args, "client_cert", None) is None) != (getattr(args, "client_key", None) is None):
            parser.error("--client-cert and --client-key go together")
        if getattr(args, "tls_server_name", None) and not _wants_tls(args):
            parser.error("--tls-server-name needs TLS (--tls or --ca-cert)")
    except SystemExit as exc:  # argparse exits on --help (0) and on bad usage (2)
        return exc.code if isinstance(exc.code, int) else 2

    handler: Handler = args.handler
    try:
        return handler(args, _connection(args))
    except _InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SummarizerClientError as err:
        print(f"error: {_describe_error(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _connection(args: argparse.Namespace) -> Connection:
    # Flags win over the environment, read now rather than at import time.
    return Connection(
        target=getattr(args, "server", None) or os.environ.get(SERVER_ENV) or DEFAULT_TARGET,
        timeout=getattr(args, "timeout", DEFAULT_TIMEOUT_S),
        token=getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None,
        tls=_wants_tls(args),
        ca_cert=_read_pem(getattr(args, "ca_cert", None)),
        client_cert=_read_pem(getattr(args, "client_cert", None)),
        client_key=_read_pem(getattr(args, "client_key", None)),
        server_name=getattr(args, "tls_server_name", None),
    )


def _wants_tls(args: argparse.Namespace) -> bool:
    # A CA or a client certificate only makes sense over TLS: either one turns it on.
    return bool(
        getattr(args, "tls", False) or getattr(args, "ca_cert", None) or getattr(args, "client_cert", None)
    )


def _read_pem(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as err:
        raise _InputError(f"cannot read {path}: {err.strerror or err}") from err


def _describe_error(err: SummarizerClientError) -> str:
    message = f"{err.code.name}: {err.details}"
    if err.request_id and err.request_id not in err.details:
        message += f" (request id {err.request_id})"
    if err.retry_after is not None:
        message += f"; the server asks to retry after {err.retry_after:g} s"
    return message


def _blocking(command: Callable[[SummarizerClient, argparse.Namespace], int]) -> Handler:
    """A handler that runs `command` with a blocking client, closed afterwards."""

    def run(args: argparse.Namespace, connection: Connection) -> int:
        with connection.client() as client:
            return command(client, args)

    return run


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

    events = client.stream_summarize(text, args.targets, **kwargs)
    console = None if args.json else _terminal_console()
    if console is not None:
        from . import _live  # rich loads only for a terminal

        _live.show(console, events, args.targets)
        return 0
    for event in events:
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


def _run_batch(args: argparse.Namespace, connection: Connection) -> int:
    from . import _batch as batch  # rich loads only for the commands that draw with it

    return batch.run(
        batch.BatchOptions(
            articles=args.articles,
            out=Path(args.out),
            targets=list(args.targets),
            concurrency=args.concurrency,
            source_language=args.source,
            mode=args.mode,
            length=args.length,
            html=args.html,
            retry_errors=args.retry_errors,
        ),
        connection.async_client,
    )


def _print_completion(args: argparse.Namespace, connection: Connection) -> int:
    from . import _completion as completion

    sys.stdout.write(completion.script(_build_parser(), args.shell))
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


def _terminal_console() -> Any:
    """A rich Console on stdout when stdout is a terminal; None when it is piped or redirected."""
    if not sys.stdout.isatty():
        return None
    from rich.console import Console

    return Console()


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
        metavar="TARGET",
        default=argparse.SUPPRESS,
        help=(
            "host:port, dns:///host:port or a comma list of addresses (calls are spread over "
            f"them); default: ${SERVER_ENV} or {DEFAULT_TARGET}"
        ),
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
    group.add_argument(
        "--tls", action="store_true", default=argparse.SUPPRESS, help="dial TLS, trusting the system's CAs"
    )
    _files(
        group.add_argument(
            "--ca-cert",
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="PEM bundle of the CA that signed the server's certificate (implies --tls)",
        )
    )
    _files(
        group.add_argument(
            "--client-cert",
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="PEM client certificate, for servers that require one (mutual TLS); with --client-key",
        )
    )
    _files(
        group.add_argument(
            "--client-key", metavar="FILE", default=argparse.SUPPRESS, help="PEM key of --client-cert"
        )
    )
    group.add_argument(
        "--tls-server-name",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="check the server's certificate against NAME instead of the target's host",
    )

    parser = argparse.ArgumentParser(
        prog="summarizer-client",
        description="Talk to a multilingual summarizer server.",
        parents=[connection],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    summarize = commands.add_parser(
        "summarize",
        parents=[connection],
        help="summarize an article into one or more languages",
        description=(
            "Summarize an article. On a terminal each language shows up as soon as it is ready; "
            "piped, the output is plain text (or JSON lines with --json)."
        ),
    )
    _files(
        summarize.add_argument(
            "file", nargs="?", default="-", metavar="FILE", help="the article; - or none: stdin"
        )
    )
    _add_targets(summarize, required=False, help="a language to summarize into (default: the source's)")
    _add_summary_options(summarize)
    summarize.add_argument("--max-tokens", type=_positive_int, metavar="N", help="bound on generated tokens")
    summarize.add_argument("--sentences", type=_positive_int, metavar="N", help="sentences, extractive mode")
    summarize.add_argument("--beams", type=_positive_int, metavar="N", help="beam width, seq2seq models")
    summarize.add_argument("--html", action="store_true", help="the article is HTML")
    summarize.add_argument("--request-id", metavar="ID", help="an id to find this call in the server's logs")
    summarize.add_argument("--json", action="store_true", help="JSON: one line per event when streaming")
    summarize.add_argument(
        "--no-stream", action="store_true", help="one Summarize call: print everything at the end"
    )
    summarize.set_defaults(handler=_blocking(_summarize))

    batch = commands.add_parser(
        "batch",
        parents=[connection],
        help="summarize every article of a folder or glob into a JSON-lines file",
        description=(
            "Summarize many articles, several at a time, appending one JSON line per article to "
            "--out: the file, the request id, the languages, and the summaries or the error. A run "
            "skips the articles --out already holds, so running the same command again resumes "
            "an interrupted batch. Ctrl-C stops at once and keeps every line written. Articles "
            "named *.html or *.htm are sent as HTML. The exit status is 1 when an article failed."
        ),
    )
    _files(
        batch.add_argument(
            "articles",
            metavar="DIR_OR_GLOB",
            help="a folder (its files, not its subfolders), a file, or a glob such as 'news/**/*.txt'",
        )
    )
    _add_targets(batch, required=False, help="a language to summarize into (default: the source's)")
    _files(
        batch.add_argument(
            "--out", required=True, metavar="FILE", help="the JSON-lines file to append the results to"
        )
    )
    batch.add_argument(
        "--concurrency",
        type=_positive_int,
        default=4,
        metavar="N",
        help="articles in flight at once (default: 4)",
    )
    _add_summary_options(batch)
    batch.add_argument("--html", action="store_true", help="send every article as HTML")
    batch.add_argument(
        "--retry-errors",
        action="store_true",
        help="summarize again the articles whose line in --out holds an error (the line is replaced)",
    )
    batch.set_defaults(handler=_run_batch)

    translate = commands.add_parser("translate", parents=[connection], help="translate texts")
    translate.add_argument("texts", nargs="+", metavar="TEXT", help="a text to translate; - reads stdin")
    _add_targets(translate, required=True, help="a language to translate into")
    translate.add_argument(
        "--source", default="", metavar="LANG", help="the texts' language (default: detect)"
    )
    translate.add_argument("--json", action="store_true", help="print JSON")
    translate.set_defaults(handler=_blocking(_translate))

    detect = commands.add_parser("detect", parents=[connection], help="identify a text's language")
    detect.add_argument("text", metavar="TEXT", help="the text; - reads stdin")
    detect.add_argument("--json", action="store_true", help="print JSON")
    detect.set_defaults(handler=_blocking(_detect))

    models = commands.add_parser("models", parents=[connection], help="describe the loaded models")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.set_defaults(handler=_blocking(_models))

    health = commands.add_parser(
        "health", parents=[connection], help="print the health status; exit 1 unless SERVING"
    )
    health.add_argument("--service", default="", help="the service name to check (default: the server)")
    health.add_argument(
        "--wait", type=_positive_float, metavar="SECONDS", help="poll until SERVING, at most this long"
    )
    health.set_defaults(handler=_blocking(_health))

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script",
        description=(
            "Print a completion script. bash: source <(summarizer-client completion bash). "
            "zsh: source <(summarizer-client completion zsh), or save it as _summarizer-client "
            "in a folder on $fpath."
        ),
    )
    completion.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete in")
    completion.set_defaults(handler=_print_completion)
    return parser


def _add_summary_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", default="", metavar="LANG", help="the article's language (default: detect)"
    )
    parser.add_argument("--mode", choices=["abstractive", "extractive"], help="(default: the server's)")
    parser.add_argument("--length", choices=["short", "medium", "long"], help="(default: the server's)")


def _files(action: argparse.Action) -> argparse.Action:
    """Mark an argument whose value is a path, for the completion scripts."""
    action.complete_paths = True  # type: ignore[attr-defined]
    return action


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

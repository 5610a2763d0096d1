"""`summarizer-service` / `python -m service`: flags mirror the SUMMARIZER_* environment variables."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from service import __version__
from service.errors import ConfigurationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="summarizer-service",
        description="Serve summarizer.v1 over gRPC. Every flag can also be set as SUMMARIZER_<NAME> "
        "(e.g. SUMMARIZER_PROFILE=tiny); flags win.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--profile", help="model profile: embedded (default), tiny, hub, or a custom name")
    parser.add_argument("--profile-file", type=Path, help="TOML file that defines a custom profile")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 in containers)")
    parser.add_argument("--port", type=int, help="port to listen on (default 50051; 0 picks a free one)")
    parser.add_argument(
        "--runtime", choices=("transformers", "ctranslate2"), help="default inference runtime"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="inference threads (default: the cores this process may use, from its CPU affinity and "
        "cgroup CPU quota)",
    )
    parser.add_argument(
        "--device", help="where models run: cpu (default), cuda or cuda:N; a missing GPU stops the start"
    )
    parser.add_argument(
        "--offline",
        action="store_const",
        const=True,
        help="load models from local folders and caches only (default: on when HF_HUB_OFFLINE=1)",
    )
    parser.add_argument("--cache-dir", type=Path, help="where converted models are cached")
    parser.add_argument(
        "--verify-models",
        action="store_const",
        const=True,
        help="check every converted model's files in full at start (SHA-256: seconds per GB); by default "
        "a start checks sampled blocks and the model's output on a probe",
    )
    parser.add_argument("--grace-s", type=float, help="seconds in-flight calls get on shutdown")
    parser.add_argument(
        "--stream-send-timeout-s",
        type=float,
        help="cancel a stream whose client takes no message for this long, freeing its slot (default 30)",
    )
    requests = parser.add_argument_group("request limits")
    requests.add_argument("--max-text-chars", type=int, help="longest accepted article, in characters")
    requests.add_argument("--max-targets", type=int, help="most target languages in one call (default 16)")
    requests.add_argument(
        "--max-translate-texts", type=int, help="most texts in one Translate call (default 64)"
    )
    requests.add_argument(
        "--max-receive-bytes", type=int, help="largest request message, in bytes (default 4 MiB)"
    )
    requests.add_argument(
        "--max-repair-attempts",
        type=int,
        help="model calls that may repair one output failing its integrity checks, 0..8 (default 2; "
        "0: report the findings, never repair)",
    )
    fleet = parser.add_argument_group("running as one of several replicas")
    fleet.add_argument(
        "--prestop-s",
        type=float,
        help="on SIGTERM, turn readiness NOT_SERVING but keep serving this many seconds before draining, "
        "while the replica is taken out of load balancing (default 0)",
    )
    fleet.add_argument(
        "--max-connection-age-s",
        type=float,
        help="close client connections after this many seconds so that clients re-resolve and reach new "
        "replicas (default 300; 0: never)",
    )
    fleet.add_argument(
        "--max-connection-age-grace-s",
        type=float,
        help="seconds calls in flight on such a connection get to finish; longer calls fail UNAVAILABLE "
        "(default 600)",
    )
    limits = parser.add_argument_group("admission (Summarize, StreamSummarize and Translate)")
    limits.add_argument("--max-concurrent-requests", type=int, help="requests running at once (default 16)")
    limits.add_argument(
        "--max-queue",
        type=int,
        help="requests waiting for a running slot (default 32); past it: RESOURCE_EXHAUSTED at once",
    )
    limits.add_argument(
        "--memory-budget-mb",
        type=int,
        help="memory the whole server may use; requests are charged their estimated memory against what "
        "the models leave of it (default: 90%% of the cgroup memory limit, else half the RAM)",
    )
    security = parser.add_argument_group("security (all off by default)")
    security.add_argument(
        "--auth-token",
        help="require 'authorization: Bearer <token>' on summarizer calls; prefer SUMMARIZER_AUTH_TOKEN "
        "or --auth-token-file, which other users cannot read in the process list",
    )
    security.add_argument("--auth-token-file", type=Path, help="read the bearer token from this file")
    security.add_argument("--tls-cert", type=Path, help="PEM server certificate chain: serve TLS only")
    security.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    security.add_argument(
        "--tls-client-ca", type=Path, help="PEM CA bundle: require client certificates it signed (mTLS)"
    )
    parser.add_argument("--no-warmup", dest="warmup", action="store_const", const=False, help="skip warm-up")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--log-json", action="store_const", const=True, help="log one JSON object per line")
    parser.add_argument("--port-file", type=Path, help="write the bound port to this file once listening")
    observe = parser.add_argument_group("observability (docs/operations.md)")
    observe.add_argument(
        "--metrics-port", type=int, help="serve Prometheus /metrics over HTTP on this port (default 0: off)"
    )
    observe.add_argument("--metrics-host", help="address /metrics listens on (default: the same as --host)")
    observe.add_argument(
        "--otlp-endpoint",
        help="send OpenTelemetry traces over OTLP/gRPC to this URL, e.g. http://collector:4317 "
        "(default: OTEL_EXPORTER_OTLP_ENDPOINT; unset: no tracing)",
    )
    observe.add_argument(
        "--log-text",
        action="store_const",
        const=True,
        help="log the article text of each call at DEBUG (default off: text is never logged)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "port_file"}
    try:
        from service.config import settings_from_env

        settings = settings_from_env(**overrides)
    except ConfigurationError as exc:
        print(f"summarizer-service: {exc}", file=sys.stderr)
        return 2

    from service.logging_setup import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    configure_inference_threads()
    # Heavy imports (torch, transformers) happen only now, after logging is set up.
    from service.loader import build_pipeline
    from service.server import serve

    def write_port(port: int) -> None:
        if args.port_file is not None:
            tmp = args.port_file.with_suffix(".tmp")
            tmp.write_text(str(port))
            tmp.replace(args.port_file)

    log = logging.getLogger("service")
    log.info(
        "starting profile %s (runtime %s on %s, %d threads%s)",
        settings.profile or ("from " + str(settings.profile_file) if settings.profile_file else "embedded"),
        settings.runtime,
        settings.device,
        settings.inference_threads,
        ", offline" if settings.offline else "",
    )
    try:
        return asyncio.run(serve(settings, build_pipeline, on_port=write_port))
    except ConfigurationError as exc:
        print(f"summarizer-service: cannot start: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"summarizer-service: cannot start: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else that stops the start: one line here, the traceback at DEBUG
        log.debug("start-up failed", exc_info=True)
        print(f"summarizer-service: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


#: Runtime settings for OpenMP, which CTranslate2 (libgomp) and torch run their intra-op threads on:
#: a thread that waits for work sleeps instead of spinning. Spinning wins on an idle machine by a few
#: microseconds a step; beside a busy neighbour (a pod with a CPU limit on a shared node), spinning
#: threads burn the time slices the working ones need, and a short summary took seconds instead of
#: a fraction of one. CTranslate2 has no setting of its own for this.
OPENMP_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_inference_threads() -> None:
    """Set the OpenMP wait policy before any inference runtime is imported, unless the user set it."""
    for name, value in OPENMP_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


if __name__ == "__main__":
    raise SystemExit(main())

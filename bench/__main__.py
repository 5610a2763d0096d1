"""Benchmark: the naive transformers baseline against the service over gRPC and the raw CTranslate2 engine
on the same requests, in one run, and the machine's roofline.

The figures are printed as tables and, for a full run, written to bench/RESULTS.md (after each section
too, so that a run that dies keeps what it measured).

    make bench                       # = python -m bench: the full run (about 50 minutes on 2 quiet cores)
    make bench BENCH_ARGS=--quick    # a smoke run of every path: small counts, short outputs
    python -m bench --only translation --quick --out /tmp/results.md
    python -m bench --device cuda --only translation --only llm --no-baseline   # see bench/gpu_check.sh

The seq2seq models are built once from configs (random weights) under ~/.cache/summarizer/bench; server
logs and the generated profile files of each run are kept under ~/.cache/summarizer/bench/runs/.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
import shlex
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

# Quiet the libraries before they are imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SECTIONS = ("translation", "summaries", "llm", "demo", "roofline")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

log = logging.getLogger("bench")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts and short outputs")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable; default: all)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write the Markdown report here (default: bench/RESULTS.md for a full run, none for --quick)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="where built model folders are kept (default ~/.cache/summarizer/bench)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the service and the raw engine run: cpu (default), cuda or cuda:N (the baseline stays on "
        "the CPU)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the naive transformers baseline in the translation and llm sections",
    )
    parser.add_argument(
        "--no-raw", action="store_true", help="skip the raw CTranslate2 runs beside the service"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for the baseline (default: one per core, as the server)",
    )
    return parser


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so that a running server subprocess is always stopped."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    warnings.filterwarnings("ignore")
    _stop_on_sigterm()

    from bench import demo, models, perf, report, roofline
    from bench.scenarios import Plan, Section, llm, summaries, translation
    from service.config import default_cache_dir as service_default_cache_dir

    plan = dataclasses.replace(
        Plan.quick_plan() if args.quick else Plan.full(),
        device=args.device,
        baseline=not args.no_baseline,
        raw=not args.no_raw,
    )
    chosen = [s for s in SECTIONS if not args.only or s in args.only]
    cache_dir = (args.cache_dir or models.default_cache_dir()).expanduser()
    service_cache = Path(os.environ.get("SUMMARIZER_CACHE_DIR") or service_default_cache_dir()).expanduser()
    threads = args.threads or os.cpu_count() or 1
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    work_dir = cache_dir / "runs" / stamp
    work_dir.mkdir(parents=True, exist_ok=True)

    command = "python -m bench" + "".join(
        f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:])
    )
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = perf.machine_info()
    load_start = perf.load_average()
    started = time.perf_counter()
    log.info("%s: sections %s; logs and profiles in %s", command, ", ".join(chosen), work_dir)
    if not args.quick:
        log.info("machine load average %s; on a busy machine the figures are noisy", load_start)

    sections: dict[str, Section] = {}
    gpus = perf.cuda_devices()

    def write_report(partial: str = "") -> None:
        """The Markdown report of the sections so far; written after each section too, so that a run that
        dies (out of memory on a shared machine) keeps what it measured."""
        if out is None:
            return
        text = report.markdown(
            sections,
            plan=plan,
            command=command,
            date=date,
            duration_s=time.perf_counter() - started,
            machine=machine,
            load=(load_start, perf.load_average()),
            gpus=gpus,
            partial=partial,
        )
        out.write_text(text, encoding="utf-8")

    def attempt(name: str, fn: Callable[[Section], None]) -> None:
        """Run one section; a failure is reported with whatever it measured before it."""
        t0 = time.perf_counter()
        log.info("== %s", name)
        section = sections[name] = Section(name)
        load = perf.load_average()
        try:
            fn(section)
        except KeyboardInterrupt:
            section.error = "interrupted"
            raise
        except Exception as exc:  # one section failing must not lose the others' figures
            log.exception("section %s failed", name)
            section.error = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
        finally:
            section.load = (load, perf.load_average())
            section.duration_s = time.perf_counter() - t0
        log.info("== %s done in %.0f s (load average %s)", name, section.duration_s, section.load[1])
        write_report(f"written after the {name} section; the run has not finished")

    try:
        built: dict[str, models.BuiltModel] = {}
        if {"translation", "summaries", "roofline"} & set(chosen):
            t0 = time.perf_counter()
            built["marian"] = models.build_marian(cache_dir)
            if "summaries" in chosen or "roofline" in chosen:
                built["bart"] = models.build_bart(cache_dir)
            log.info(
                "models ready in %.0f s: %s",
                time.perf_counter() - t0,
                ", ".join(f"{m.name} ({m.parameters / 1e6:.0f}M parameters)" for m in built.values()),
            )
        if "translation" in chosen:
            attempt(
                "translation", lambda s: translation(s, plan, built["marian"], work_dir, threads, cache_dir)
            )
        if "summaries" in chosen:
            attempt(
                "summaries",
                lambda s: summaries(s, plan, built["bart"], built["marian"], work_dir, threads, cache_dir),
            )
        if "llm" in chosen:
            attempt("llm", lambda s: llm(s, plan, service_cache, work_dir, threads))
        if "demo" in chosen:
            attempt("demo", lambda s: demo.measure(s, plan, service_cache, work_dir, plan.demo_repeats))
        if "roofline" in chosen and plan.device != "cpu":
            log.info("roofline: measured on the CPU only; skipped for --device %s", plan.device)
        elif "roofline" in chosen:
            attempt(
                "roofline",
                lambda s: roofline.measure_section(
                    s,
                    marian=built["marian"],
                    bart=built.get("bart"),
                    llm_folder=models.packaged_llm_folder(service_cache),
                    cache_dir=cache_dir,
                    quick=plan.quick,
                ),
            )
    except KeyboardInterrupt:
        log.warning("interrupted; reporting what was measured")

    duration = time.perf_counter() - started
    text = "\n\n".join(t.text() for t in report.tables(sections))
    print("\n" + text + "\n")
    print(report.targets_table_of(report.targets(sections)).text())
    for warning in report.warnings(sections):
        print(f"\nwarning: {warning}")
    for problem in report.errors(sections):
        print(f"\nnot measured: {problem}")
    print(f"\ntook {duration / 60:.1f} min; load average at start {load_start}, at end {perf.load_average()}")
    if out is not None:
        write_report()
        print(f"wrote {out}")
    failed = any(s.error for s in sections.values()) or len(sections) < len(chosen)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

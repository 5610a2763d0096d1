"""The benchmark's sections. Each measures the naive baseline in-process, frees it, then the service
over gRPC as a subprocess, on the same kind of requests, and after each of the service's concurrency levels
the raw CTranslate2 engine on the very same requests (`bench.raw`), and returns plain results for the
report.

- `translation`: Marian (opus-mt-en-de shape), Translate at several concurrencies, peak RSS.
- `summaries`: DistilBART (cnn-12-6 shape) and six en->xx Marian models: Summarize throughput,
  cost by article length and by number of target languages, and the latency of a repeated request.
- `llm`: the embedded profile's Qwen2.5-1.5B against transformers fp32 on its HF folder, and the
  profile's start-up time once its conversion is cached.
- `demo` (bench/demo.py): the seed article into en, fr, de, es on the embedded profile, as `make demo`
  sends it, beside the raw engine on the same prompts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from bench import workloads
from bench.baseline import LLMBaseline, Seq2SeqBaseline
from bench.models import BuiltModel, llm_conversion_cached, packaged_llm_folder
from bench.perf import RssSampler, Run, run_load, torch_threads
from bench.raw import LLMInputs, RawLevel
from devkit.launcher import ServerProcess
from service.models.base import ModelSpec
from service.profiles import get_profile

log = logging.getLogger(__name__)

# Every request text carries a fresh index, across all sections, so that no two are alike.
_INDEX = itertools.count(1)


def _indices(count: int) -> int:
    """The first of `count` fresh request indices."""
    first = next(_INDEX)
    for _ in range(count - 1):
        next(_INDEX)
    return first


@dataclass(frozen=True)
class Plan:
    """How much to send. `full()` is the reported run; `quick()` a smoke run of every path."""

    quick: bool
    translate_tokens: int  # forced output length of every Marian generation
    summary_tokens: int  # forced output length of every BART generation
    llm_tokens: int  # most new tokens per LLM request (its own end token may come first)
    marian_baseline: int
    marian_levels: tuple[tuple[int, int], ...]  # (concurrency, requests)
    bart_baseline: int
    bart_levels: tuple[tuple[int, int], ...]
    lengths: tuple[int, ...]
    target_counts: tuple[int, ...]
    cache_repeats: int
    llm_baseline: int
    llm_levels: tuple[tuple[int, int], ...]
    demo_repeats: int  # fresh servers that each answer the demo's request once
    run_cap_s: float  # no new request of a run is sent after this many seconds
    request_timeout_s: float
    start_timeout_s: float  # generous: a first start converts the models
    device: str = "cpu"  # where the service and the raw engine run ("cpu", "cuda", "cuda:N")
    baseline: bool = True  # measure the naive transformers baseline (on the CPU, whatever the device)
    raw: bool = True  # measure the raw engine beside the service at every level

    @staticmethod
    def full() -> Plan:
        return Plan(
            quick=False,
            translate_tokens=64,
            summary_tokens=96,
            llm_tokens=48,
            marian_baseline=12,
            # Ten batches' worth of requests at every level, so that the ramp-up and the tail of a run (a
            # part-filled first and last batch) weigh little: at 16 and 48 requests they dominated.
            marian_levels=((1, 10), (4, 40), (16, 160), (32, 320)),
            bart_baseline=3,
            bart_levels=((1, 10), (4, 40)),
            lengths=(1_000, 4_000, 16_000),
            target_counts=(1, 3, 6),
            cache_repeats=20,
            llm_baseline=3,
            # Concurrency 8 rather than 16: ten batches of 16 prompts take over ten minutes per side here.
            llm_levels=((1, 10), (4, 40), (8, 80)),
            demo_repeats=3,
            run_cap_s=900.0,
            request_timeout_s=600.0,
            start_timeout_s=1800.0,
        )

    @staticmethod
    def quick_plan() -> Plan:
        return Plan(
            quick=True,
            translate_tokens=16,
            summary_tokens=24,
            llm_tokens=16,
            marian_baseline=2,
            marian_levels=((1, 2), (4, 4), (16, 16), (32, 32)),
            bart_baseline=1,
            bart_levels=((1, 1), (4, 4)),
            lengths=(1_000, 4_000, 16_000),
            target_counts=(1, 3, 6),
            cache_repeats=5,
            llm_baseline=1,
            llm_levels=((1, 1), (2, 2)),
            demo_repeats=1,
            run_cap_s=60.0,
            request_timeout_s=300.0,
            start_timeout_s=1800.0,
        )


@dataclass
class ServerStats:
    profile: str
    startup_s: float = math.nan
    idle_rss: int = 0
    peak_rss: int = 0  # sampled while under load
    rss_samples: int = 0
    runtimes: dict[str, str] = field(default_factory=dict)  # model -> runtime, as ListModels says
    thread_layout: str = ""  # the server's own report of its inference threads (start-up log, ListModels)
    conversion_cached: bool | None = None  # embedded profile: was the conversion cache warm before
    first_startup_s: float = math.nan  # embedded profile: the first start of the run


@dataclass
class Section:
    """What a section measured; `error` says why a part is missing."""

    name: str
    baseline: list[Run] = field(default_factory=list)
    service: list[Run] = field(default_factory=list)
    raw: list[RawLevel] = field(default_factory=list)  # the raw engine at the service's levels
    server: ServerStats | None = None
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    load: tuple[str, str] = ("", "")  # the machine's load averages when the section started and ended
    duration_s: float = math.nan


def _free() -> None:
    gc.collect()


@contextlib.contextmanager
def _sampling(stats: ServerStats, pid: int) -> Iterator[None]:
    """Sample the server's RSS while the block runs; the peak is kept even if the block fails."""
    sampler = RssSampler(pid)
    try:
        with sampler:
            yield
    finally:
        stats.peak_rss, stats.rss_samples = sampler.peak, sampler.samples


def _profile_toml(
    path: Path, name: str, models: list[dict[str, Any]], description: str = "benchmark models: random weights"
) -> Path:
    """A custom profile file; every value is a string, list or int, written as TOML by hand."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)  # strings, ints and lists of them are valid TOML in JSON spelling

    lines = [f"name = {value(name)}", f"description = {value(description)}"]
    for model in models:
        lines += ["", "[[models]]"] + [f"{k} = {value(v)}" for k, v in model.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _spec_entry(spec: ModelSpec, **options: Any) -> dict[str, Any]:
    """A profile's model, as a profile-file entry, with extra options."""
    entry: dict[str, Any] = {"name": spec.name, "backend": spec.backend, "tasks": list(spec.tasks)}
    if spec.source:
        entry["source"] = spec.source
    if spec.languages:
        entry["languages"] = list(spec.languages)
    if spec.pairs:
        entry["pairs"] = [list(pair) for pair in spec.pairs]
    if spec.backend != "extractive":
        entry["options"] = {**spec.options, **options}
    return entry


# The raw engine at one level: (concurrency, first request index, requests) -> its runs per layout.
RawMeasure = Callable[[int, int, int], RawLevel]


def _levels(
    server: ServerProcess,
    section: Section,
    levels: Sequence[tuple[int, int]],
    send: Callable[[int], int],
    cap_s: float,
    raw: RawMeasure | None = None,
) -> None:
    """The service at each (concurrency, requests) level, with the model batches it formed meanwhile, each
    followed by the raw engine on the same requests (the server idles meanwhile). Results are appended to
    the section as they come, so that a failure keeps what was measured before it."""
    for concurrency, requests in levels:
        first = _indices(requests)
        mark = server.log_offset()
        run = run_load(
            f"service, concurrency {concurrency}",
            send,
            requests,
            concurrency,
            cap_s=cap_s,
            first_index=first,
        )
        run.batches = server.batch_sizes(mark)
        run.batch_s = server.batch_seconds(mark)
        section.service.append(run)
        if raw is not None:
            try:
                section.raw.append(raw(concurrency, first, requests))
            except Exception as exc:  # the service's figures stand without the engine's
                log.exception("raw engine at concurrency %d failed", concurrency)
                section.raw.append(RawLevel(concurrency, failed={"all": f"{type(exc).__name__}: {exc}"}))


# Random weights write noise, which every integrity check of a translation flags, and a flagged translation
# is translated again sentence by sentence (up to two more model calls): work the baseline does not do, and
# that a real model rarely needs. The random-weight sections turn the repairs off to compare equal work.
NO_REPAIRS = ["--max-repair-attempts", "0"]


def _server_args(
    profile: str, profile_file: Path | None, device: str = "cpu", extra: Sequence[str] = ()
) -> list[str]:
    # DEBUG, for the batcher's line per batch (no request text is logged at any level by the batcher).
    args = ["--profile", profile, "--log-level", "DEBUG", "--device", device, *extra]
    if profile_file is not None:
        args += ["--profile-file", str(profile_file)]
    return args


def _runtimes(target: str) -> dict[str, str]:
    from summarizer_client import SummarizerClient

    with SummarizerClient(target, timeout=30) as client:
        return {m.name: m.runtime for m in client.list_models().models}


def _thread_layout(server: ServerProcess, target: str) -> str:
    """How the server says it lays out its inference threads: its start-up log line, else any ListModels
    field that names threads or a layout. Empty when it says nothing (older servers)."""
    text = server.log_path.read_text(encoding="utf-8", errors="replace") if server.log_path else ""
    lines = [line.strip() for line in text.splitlines() if "thread layout" in line.lower()]
    if lines:
        return lines[0].split("thread layout", 1)[-1].strip(" :=")
    from summarizer_client import SummarizerClient

    with SummarizerClient(target, timeout=30) as client:
        reported = []
        for model in client.list_models().models:
            for item in dataclasses.fields(model):
                if "thread" in item.name or "layout" in item.name:
                    reported.append(f"{model.name}: {item.name} {getattr(model, item.name)}")
    return "; ".join(reported)


def _started(server: ServerProcess, stats: ServerStats, timeout_s: float) -> None:
    """Start the server and read back what it runs: runtimes and thread layout."""
    stats.startup_s = server.start(timeout_s)
    stats.runtimes = _runtimes(server.target)
    stats.thread_layout = _thread_layout(server, server.target)
    log.info(
        "SERVING after %.1f s; runtimes %s; thread layout %s",
        stats.startup_s,
        stats.runtimes,
        stats.thread_layout or "not reported",
    )


class _TokenCounter:
    """Tokens in a model's output text, read back with its own tokenizer: a check that the service wrote
    as many as it was told to (the random models' outputs read back at about their own length)."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer

        self._tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        self._lock = threading.Lock()  # tokenizers are not thread-safe; the service side calls from many
        self.counts: dict[str, list[int]] = {"baseline": [], "service": []}

    def add(self, side: str, text: str) -> None:
        with self._lock:
            self.counts[side].append(len(self._tokenizer(text, add_special_tokens=False)["input_ids"]))

    def means(self) -> dict[str, float]:
        return {side: (sum(v) / len(v) if v else math.nan) for side, v in self.counts.items()}


# -- translation: Marian -----------------------------------------------------------------------------


def _translation_baseline(plan: Plan, marian: BuiltModel, threads: int, counter: _TokenCounter) -> Run:
    tokens = plan.translate_tokens
    with torch_threads(threads):
        model = Seq2SeqBaseline(marian.folder)
        model.generate(workloads.passage(0), tokens)  # lazy initialisation, not timed

        def send(i: int) -> int:
            out = model.generate(workloads.passage(i), tokens)
            counter.add("baseline", out.text)
            return out.tokens

        requests = plan.marian_baseline
        return run_load(
            "baseline: transformers fp32, sequential",
            send,
            requests,
            1,
            cap_s=plan.run_cap_s,
            first_index=_indices(requests),
        )


def service_compute_type(device: str, options: dict[str, Any] | None = None) -> str:
    """The compute type the service picks for a model on `device` (its default unless the spec sets one)."""
    from service.models.options import compute_type

    return compute_type(ModelSpec(name="bench", backend="seq2seq", options=options or {}), device)


def _seq2seq_raw(
    plan: Plan, built: BuiltModel, cache_dir: Path, text: Callable[[int], str], tokens: int
) -> RawMeasure | None:
    """The raw engine on a built encoder-decoder, fed the texts the service got at each level."""
    if not plan.raw:
        return None
    from bench.raw import Seq2SeqInputs, converted_seq2seq, measure_level

    folder = converted_seq2seq(built.folder, cache_dir)
    inputs = Seq2SeqInputs(built.folder)
    compute_type = service_compute_type(plan.device)

    def measure(concurrency: int, first: int, requests: int) -> RawLevel:
        run = inputs.job_run([text(first + i) for i in range(requests)], tokens)
        return measure_level(
            model=folder,
            kind="translator",
            run=run,
            concurrency=concurrency,
            device=plan.device,
            compute_type=compute_type,
        )

    return measure


def translation(
    section: Section, plan: Plan, marian: BuiltModel, work_dir: Path, threads: int, cache_dir: Path
) -> None:
    from summarizer_client import SummarizerClient

    tokens = plan.translate_tokens
    counter = _TokenCounter(marian.folder)
    section.extra["forced_tokens"] = tokens
    if plan.baseline:
        section.baseline.append(_translation_baseline(plan, marian, threads, counter))
        section.extra["read_back"] = counter.means()
        _free()
    raw = _seq2seq_raw(plan, marian, cache_dir, workloads.passage, tokens)

    name = "bench-translation"
    model = {
        "name": "opus-mt-en-de",
        "backend": "seq2seq",
        "source": str(marian.folder),
        "tasks": ["translate"],
        "pairs": [["en", "de"]],
        "options": {"force_output_tokens": tokens},
    }
    profile = _profile_toml(work_dir / f"{name}.toml", name, [model])
    args = _server_args(name, profile, plan.device, NO_REPAIRS)
    with ServerProcess(args, work_dir / f"server-{name}.log") as server:
        stats = section.server = ServerStats(f"{name} (opus-mt-en-de)")
        log.info("starting the service (%s)", name)
        _started(server, stats, plan.start_timeout_s)
        with SummarizerClient(server.target, timeout=plan.request_timeout_s) as client:
            client.translate(workloads.passage(0), ["de"], source_language="en")  # the channel, not timed
            stats.idle_rss = server.rss()

            def send(i: int) -> int:
                result = client.translate(workloads.passage(i), ["de"], source_language="en")
                for translation in result.translations:
                    counter.add("service", translation.text)
                return tokens

            with _sampling(stats, server.pid):
                _levels(server, section, plan.marian_levels, send, plan.run_cap_s, raw)
            section.extra["read_back"] = counter.means()


# -- summaries: DistilBART + six Marian models ---------------------------------------------------------


@dataclass
class _SummaryRuns:
    """One side's figures for the summaries section."""

    throughput: list[Run] = field(default_factory=list)
    lengths: dict[int, Run] = field(default_factory=dict)
    calls: dict[int, int] = field(default_factory=dict)  # generate() calls per article length
    targets: dict[int, Run] = field(default_factory=dict)


def _summaries_baseline(plan: Plan, bart: BuiltModel, marian: BuiltModel, threads: int) -> _SummaryRuns:
    runs = _SummaryRuns()
    s_tokens, t_tokens = plan.summary_tokens, plan.translate_tokens
    with torch_threads(threads):
        summarizer = Seq2SeqBaseline(bart.folder)
        translator = Seq2SeqBaseline(marian.folder)
        summarizer.generate(workloads.article(0, 1_000), 4)  # lazy initialisation, not timed
        translator.generate(workloads.passage(0), 4)

        def summarize(i: int, chars: int = 1_000) -> int:
            out = summarizer.summarize(workloads.article(i, chars), s_tokens)
            runs.calls[chars] = out.calls
            return out.tokens

        def summarize_into(i: int, count: int) -> int:
            summary = summarizer.summarize(workloads.article(i, 1_000), s_tokens)
            # Each target language separately, one generate() after another.
            return summary.tokens + sum(
                translator.generate(summary.text, t_tokens).tokens for _ in range(count)
            )

        requests = plan.bart_baseline
        runs.throughput.append(
            run_load(
                "baseline: transformers fp32, sequential",
                summarize,
                requests,
                1,
                cap_s=plan.run_cap_s,
                first_index=_indices(requests),
            )
        )
        for chars in plan.lengths:
            runs.lengths[chars] = run_load(
                f"baseline, {chars} characters",
                partial(summarize, chars=chars),
                1,
                1,
                cap_s=plan.run_cap_s,
                first_index=_indices(1),
            )
        for count in plan.target_counts:
            runs.targets[count] = run_load(
                f"baseline, {count} targets",
                partial(summarize_into, count=count),
                1,
                1,
                cap_s=plan.run_cap_s,
                first_index=_indices(1),
            )
    return runs


def _summaries_profile(plan: Plan, bart: BuiltModel, marian: BuiltModel, targets: tuple[str, ...]) -> list:
    models: list[dict[str, Any]] = [
        {
            "name": "distilbart-cnn-12-6",
            "backend": "seq2seq",
            "source": str(bart.folder),
            "tasks": ["summarize"],
            "languages": ["en"],
            "options": {"force_output_tokens": plan.summary_tokens},
        }
    ]
    for lang in targets:
        models.append(
            {
                "name": f"opus-mt-en-{lang}",
                "backend": "seq2seq",
                # One random-weight folder for every pair; each is still a model of its own in the server.
                "source": str(marian.folder),
                "tasks": ["translate"],
                "pairs": [["en", lang]],
                "options": {"force_output_tokens": plan.translate_tokens},
            }
        )
    return models


def summaries(
    section: Section,
    plan: Plan,
    bart: BuiltModel,
    marian: BuiltModel,
    work_dir: Path,
    threads: int,
    cache_dir: Path,
) -> None:
    from summarizer_client import SummarizerClient

    s_tokens = plan.summary_tokens
    targets = workloads.TARGET_LANGUAGES[: max(plan.target_counts)]
    section.extra["forced_tokens"] = (s_tokens, plan.translate_tokens)
    base = _summaries_baseline(plan, bart, marian, threads)
    section.baseline = base.throughput
    # The service's runs are filled in as they finish, so that a failure keeps what was measured.
    section.extra["lengths"] = {
        chars: {
            "chars": len(workloads.article(0, chars)),
            "baseline": base.lengths[chars],
            "baseline_calls": base.calls.get(chars, 0),
            "service": None,
        }
        for chars in plan.lengths
    }
    section.extra["targets"] = {
        count: {"baseline": base.targets[count], "service": None} for count in plan.target_counts
    }
    _free()

    name = "bench-summaries"
    profile = _profile_toml(work_dir / f"{name}.toml", name, _summaries_profile(plan, bart, marian, targets))
    raw = _seq2seq_raw(plan, bart, cache_dir, lambda i: workloads.article(i, 1_000), s_tokens)
    args = _server_args(name, profile, plan.device, NO_REPAIRS)
    with ServerProcess(args, work_dir / f"server-{name}.log") as server:
        stats = section.server = ServerStats(f"{name} (distilbart + {len(targets)} x opus-mt-en-xx)")
        log.info("starting the service (%s)", name)
        _started(server, stats, plan.start_timeout_s)
        with SummarizerClient(server.target, timeout=plan.request_timeout_s) as client:

            def summarize(text: str, langs: tuple[str, ...]) -> int:
                """One Summarize; returns the tokens of one forced summary."""
                result = client.summarize(text, list(langs), source_language="en", max_tokens=s_tokens)
                if result.failures:
                    failure = result.failures[0]
                    raise RuntimeError(f"{failure.language}: {failure.code.name} {failure.message}")
                return s_tokens

            def by_length(i: int, chars: int) -> int:
                return summarize(workloads.article(i, chars), ("en",))

            def by_targets(i: int, count: int) -> int:
                return summarize(workloads.article(i, 1_000), targets[:count])

            summarize(workloads.article(0, 1_000), ("en",))  # the channel, not timed
            stats.idle_rss = server.rss()
            with _sampling(stats, server.pid):
                _levels(
                    server,
                    section,
                    plan.bart_levels,
                    lambda i: summarize(workloads.article(i, 1_000), ("en",)),
                    plan.run_cap_s,
                    raw,
                )
                for chars in plan.lengths:
                    section.extra["lengths"][chars]["service"] = run_load(
                        f"service, {chars} characters",
                        partial(by_length, chars=chars),
                        1,
                        1,
                        cap_s=plan.run_cap_s,
                        first_index=_indices(1),
                    )
                for count in plan.target_counts:
                    section.extra["targets"][count]["service"] = run_load(
                        f"service, {count} targets",
                        partial(by_targets, count=count),
                        1,
                        1,
                        cap_s=plan.run_cap_s,
                        first_index=_indices(1),
                    )
                section.extra["cache"] = _cache_hits(plan, lambda text: summarize(text, ("en",)))


def _cache_hits(plan: Plan, summarize: Callable[[str], int]) -> dict[str, Any]:
    """The same Summarize twice, then again and again: the latency of the repeats.

    Without a result cache every repeat costs a full summary, so the repeats stop after `run_cap_s / 4`.
    """
    text = workloads.article(_indices(1), 1_000)
    t0 = time.perf_counter()
    summarize(text)
    first = time.perf_counter() - t0
    run = run_load(
        "service, the same request again",
        lambda i: summarize(text),
        plan.cache_repeats,
        1,
        cap_s=plan.run_cap_s / 4,
    )
    return {"first_s": first, "repeats": run}


# -- the embedded LLM ----------------------------------------------------------------------------------

# fp32 weights of a 1.5B model, the loading copy and the activations, with room to spare.
_LLM_BASELINE_BYTES = 10 * 2**30
_LLM_SENTENCES = 3  # the service's default (medium) summary length
# The llm backend's default repetition penalty (service.models.llm), unless the profile sets one.
LLM_REPETITION_PENALTY = 1.05


def _llm_baseline(plan: Plan, model: LLMBaseline, threads: int, when: str) -> Run:
    def send(i: int) -> int:
        return model.summarize(workloads.article(i, 1_000), "en", _LLM_SENTENCES, plan.llm_tokens).tokens

    requests = plan.llm_baseline
    with torch_threads(threads):
        return run_load(
            f"baseline: transformers fp32, sequential ({when})",
            send,
            requests,
            1,
            cap_s=plan.run_cap_s * 2,
            first_index=_indices(requests),
        )


def _merged(label: str, runs: Sequence[Run]) -> Run:
    """Runs at one concurrency taken at different times, as one."""
    return Run(
        label,
        runs[0].concurrency,
        sum(r.planned for r in runs),
        latencies=[t for r in runs for t in r.latencies],
        tokens=sum(r.tokens for r in runs),
        wall_s=sum(r.wall_s for r in runs),
        errors=[e for r in runs for e in r.errors],
        skipped=sum(r.skipped for r in runs),
    )


def _llm_baseline_fits(section: Section) -> bool:
    """Whether the fp32 baseline fits in the memory available now; if not, the section says so."""
    available = psutil.virtual_memory().available
    if available >= _LLM_BASELINE_BYTES:
        return True
    section.error = (
        f"baseline skipped: {available / 2**30:.1f} GiB of memory available, "
        f"{_LLM_BASELINE_BYTES / 2**30:.0f} GiB needed for fp32"
    )
    return False


def _load_llm_baseline(folder: Path, threads: int) -> LLMBaseline:
    with torch_threads(threads):
        baseline = LLMBaseline(folder)
        baseline.summarize("The council met on Monday.", "en", 1, 2)  # lazy initialisation, not timed
    return baseline


def llm_spec() -> ModelSpec:
    """The embedded profile's LLM, as the service loads it."""
    return next(spec for spec in get_profile("embedded").models if spec.backend == "llm")


def llm_inputs(hf_folder: Path) -> LLMInputs:
    """Prompts and decoding options as the service's LLM runtime builds them (its repetition penalty)."""
    from bench.raw import LLMInputs

    penalty = float(llm_spec().options.get("repetition_penalty", LLM_REPETITION_PENALTY))
    return LLMInputs(hf_folder, hf_folder.parent / "ct2-int8", penalty)


def _llm_raw(plan: Plan, hf_folder: Path) -> RawMeasure | None:
    """The raw engine on the service's own conversion of the LLM, fed the summary prompts it got."""
    if not plan.raw:
        return None
    from bench.raw import measure_level

    inputs = llm_inputs(hf_folder)
    compute_type = service_compute_type(plan.device, dict(llm_spec().options))

    def measure(concurrency: int, first: int, requests: int) -> RawLevel:
        articles = [workloads.article(first + i, 1_000) for i in range(requests)]
        return measure_level(
            model=hf_folder.parent / "ct2-int8",
            kind="generator",
            run=inputs.job_run(articles, plan.llm_tokens),
            concurrency=concurrency,
            device=plan.device,
            compute_type=compute_type,
        )

    return measure


def llm(section: Section, plan: Plan, service_cache_dir: Path, work_dir: Path, threads: int) -> None:
    from summarizer_client import SummarizerClient

    section.extra["max_new_tokens"] = plan.llm_tokens
    folder = packaged_llm_folder(service_cache_dir)
    if folder is None:
        section.error = f"no dequantized LLM folder under {service_cache_dir / 'llm'}; run `make setup` first"
        return
    baseline_runs: list[Run] = []
    # The baseline runs before the service and again after it, so that a drift in the machine's speed over
    # the minutes of this section reaches both sides alike. Its fp32 weights (6 GB) are let go in between:
    # kept, they sat beside the server and the raw engine on a shared machine, and ran it out of memory.
    if plan.baseline and _llm_baseline_fits(section):
        baseline = _load_llm_baseline(folder, threads)
        section.extra["baseline_load_s"] = baseline.load_s
        baseline_runs.append(_llm_baseline(plan, baseline, threads, "before the service"))
        del baseline
        _free()

    counter = _TokenCounter(folder)
    stats = section.server = ServerStats("embedded (qwen2.5-coder-1.5b-instruct)")
    stats.conversion_cached = llm_conversion_cached(service_cache_dir)
    args = _server_args("embedded", None, plan.device)
    # The first start may convert the model, and reads its files from disk; the figure that matters is the
    # start after it, with the conversion cached.
    log.info("starting the service (embedded), a first time")
    with ServerProcess(args, work_dir / "server-embedded-first.log") as first:
        stats.first_startup_s = first.start(plan.start_timeout_s)
    log.info("first start: SERVING after %.1f s", stats.first_startup_s)
    with ServerProcess(args, work_dir / "server-embedded-second.log") as second:
        log.info("starting the service (embedded) again")
        stats.startup_s = second.start(plan.start_timeout_s)
    log.info("second start: SERVING after %.1f s", stats.startup_s)
    # The load runs on the same models with every generation held to plan.llm_tokens, as the baseline's:
    # left free, the two sides stop at different places (int8 against fp32 weights, and the service's
    # repetition penalty), and a side that writes less looks slower in tokens/s, having paid for the
    # same prompt.
    equal_work = _profile_toml(
        work_dir / "bench-embedded.toml",
        "bench-embedded",
        [_spec_entry(spec, force_output_tokens=plan.llm_tokens) for spec in get_profile("embedded").models],
        description="the embedded profile, with a forced output length",
    )
    raw = _llm_raw(plan, folder)
    with ServerProcess(
        _server_args("bench-embedded", equal_work, plan.device), work_dir / "server-embedded.log"
    ) as server:
        startup_s = stats.startup_s
        _started(server, stats, plan.start_timeout_s)
        stats.startup_s = startup_s  # the figure reported is the plain profile's second start
        with SummarizerClient(server.target, timeout=plan.request_timeout_s) as client:
            stats.idle_rss = server.rss()

            def send(i: int) -> int:
                result = client.summarize(
                    workloads.article(i, 1_000), ["en"], source_language="en", max_tokens=plan.llm_tokens
                )
                if result.failures:
                    failure = result.failures[0]
                    raise RuntimeError(f"{failure.code.name} {failure.message}")
                for summary in result.summaries:
                    counter.add("service", summary.text)
                return plan.llm_tokens

            with _sampling(stats, server.pid):
                _levels(server, section, plan.llm_levels, send, plan.run_cap_s * 2, raw)
    if counter.counts["service"]:
        section.extra["read_back"] = counter.means()
    if baseline_runs and _llm_baseline_fits(section):
        baseline = _load_llm_baseline(folder, threads)
        baseline_runs.append(_llm_baseline(plan, baseline, threads, "after the service"))
        del baseline
        _free()
    if baseline_runs:
        section.baseline.append(_merged("baseline: transformers fp32, sequential", baseline_runs))
        section.extra["baseline_runs"] = baseline_runs

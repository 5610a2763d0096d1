"""CTranslate2 on this machine: which of its backends and compute types is fastest for our models, and where
single-sequence decoding of the embedded LLM loses time against the memory-bandwidth bound. Writes
bench/ENGINE.md (a generated report, like bench/RESULTS.md).

    python -m bench.engine                       # both parts, on the Marian shape and the embedded LLM
    python -m bench.engine --quick               # a smoke run: one round, short outputs
    python -m bench.engine --only backends --out /tmp/ENGINE.md
    python -m bench.engine --device cuda         # the GPU's compute types (float16, int8_float16, ...)

Backends: CTranslate2 picks its GEMM library and instruction set when it loads a model, from the CPU and
from environment variables (CT2_USE_MKL, CT2_PACKED_GEMM, CT2_FORCE_CPU_ISA, and the upstream name
CT2_USE_EXPERIMENTAL_PACKED_GEMM). Each configuration therefore runs in a child process of its own
(`bench.raw_engine`, no torch), with CT2_VERBOSE=1 so that the child's log says what CTranslate2 actually
selected; the report shows that, not what the variable asked for. Configurations run in interleaved rounds,
so that a change in the machine's load reaches all of them; figures are medians.

Decoding: the embedded LLM writes one sequence at a few tokens a second, while reading its int8 weights
once per step at the machine's bandwidth would allow more. Each variant of one generate_batch call (step
callback, repetition penalty, log probabilities, static prompt cache, threads) is timed on the same prompt,
as steps per second from the difference of two forced output lengths.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.engine")

ENGINE_MD = Path(__file__).resolve().parent / "ENGINE.md"
PARTS = ("backends", "decoding")


# -- configurations --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    name: str
    env: dict[str, str]


CPU_BACKENDS: tuple[Backend, ...] = (
    Backend("default", {}),
    Backend("MKL unpacked", {"CT2_PACKED_GEMM": "0"}),
    Backend("upstream packed-GEMM variable", {"CT2_USE_EXPERIMENTAL_PACKED_GEMM": "1"}),
    Backend("oneDNN", {"CT2_USE_MKL": "0"}),
    Backend("default, AVX512", {"CT2_FORCE_CPU_ISA": "AVX512"}),
    Backend("oneDNN, AVX512", {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX512"}),
)
CPU_COMPUTE_TYPES = ("int8", "int8_float32", "int8_bfloat16", "int16", "float32")
GPU_COMPUTE_TYPES = ("int8_float16", "float16", "int8_bfloat16", "bfloat16", "int8_float32", "float32")
# The LLM is 1.5B parameters: float32 and int16 copies are 6 and 3 GB and not worth a round here.
LLM_CPU_COMPUTE_TYPES = ("int8", "int8_float32", "int8_bfloat16")
CPU_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


@dataclass(frozen=True)
class Config:
    backend: Backend
    compute_type: str

    @property
    def label(self) -> str:
        return f"{self.backend.name}, {self.compute_type}"


def configurations(device: str, compute_types: Sequence[str]) -> list[Config]:
    """Every backend at int8, and the default backend at every other compute type (on a GPU: the compute
    types only)."""
    if device.startswith("cuda"):
        return [Config(Backend("default", {}), c) for c in compute_types]
    configs = [Config(b, "int8") for b in CPU_BACKENDS]
    configs += [Config(CPU_BACKENDS[0], c) for c in compute_types if c != "int8"]
    return configs


# -- what CTranslate2 says it selected ---------------------------------------------------------------------

_REPORT_LINES = {
    "isa": re.compile(r"Selected ISA: (\S+)"),
    "mkl": re.compile(r"Use Intel MKL: (\w+)"),
    "sgemm": re.compile(r"SGEMM backend: (\S+) \(packed: (\w+)\)"),
    "gemm_s16": re.compile(r"GEMM_S16 backend: (\S+) \(packed: (\w+)\)"),
    "gemm_s8": re.compile(r"GEMM_S8 backend: (\S+) \(packed: (\w+)"),
    "compute_type": re.compile(r"Selected compute type: (\S+)"),
    "cpu": re.compile(r"\bCPU: (.+)$"),
}


def backend_report(log_text: str) -> dict[str, str]:
    """What CTranslate2's CT2_VERBOSE=1 log says it selected: ISA, GEMM backends (with ", packed" when it
    packs the weights), compute type. The first occurrence of each line counts."""
    found: dict[str, str] = {}
    for line in log_text.splitlines():
        for key, pattern in _REPORT_LINES.items():
            match = pattern.search(line)
            if match is None or key in found:
                continue
            if key in ("sgemm", "gemm_s16", "gemm_s8"):
                name, packed = match.group(1), match.group(2)
                found[key] = name + (", packed" if packed == "true" else "")
            else:
                found[key] = match.group(1).strip()
    return found


def describe_report(report: dict[str, str]) -> str:
    if not report:
        return "–"
    parts = [f"ISA {report.get('isa', '?')}", f"int8 GEMM {report.get('gemm_s8', '?')}"]
    parts.append(f"fp32 GEMM {report.get('sgemm', '?')}")
    parts.append(f"computes {report.get('compute_type', '?')}")
    return "; ".join(parts)


def cpu_flags(cpuinfo: str) -> list[str]:
    """The CPU's flags among those that decide CTranslate2's kernels, in CPU_FLAGS order."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in CPU_FLAGS if flag in present]
    return []


# -- measuring -------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One configuration on one model: its rates per round, or why it could not run."""

    config: Config
    rates: dict[str, list[float]] = field(default_factory=dict)  # metric -> one figure per round
    report: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def median(self, metric: str) -> float:
        values = [v for v in self.rates.get(metric, []) if v == v]
        return statistics.median(values) if values else float("nan")


@dataclass
class Workload:
    """A model and the job runs that measure it; `metrics(result)` turns a child's result into figures."""

    name: str
    model: Path
    kind: str
    runs: list[dict[str, Any]]
    metric_names: tuple[str, ...]

    def metrics(self, result: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError


class MarianWorkload(Workload):
    """64-token translations of 32 passages, in batches of 16 on every core: tokens/s."""

    def metrics(self, result: dict[str, Any]) -> dict[str, float]:
        run = result["runs"][0]
        return {"tokens/s": run["tokens"] / statistics.median(run["walls_s"])}


class LLMWorkload(Workload):
    """Prompt reading (one new token after each prompt) and single-sequence decoding (two output lengths)."""

    prompt_tokens: int = 0
    steps: tuple[int, int] = (8, 40)

    def metrics(self, result: dict[str, Any]) -> dict[str, float]:
        from bench.roofline import steps_per_s

        prompt, short, long = result["runs"]
        walls = [statistics.median(r["walls_s"]) for r in (prompt, short, long)]
        return {
            "prompt tokens/s": self.prompt_tokens / walls[0],
            "decode tokens/s": steps_per_s((self.steps[0], walls[1]), (self.steps[1], walls[2])),
        }


def measure_cells(
    workload: Workload, configs: Sequence[Config], *, device: str, rounds: int, cores: int
) -> list[Cell]:
    """Every configuration once per round, each in a fresh child, rounds interleaved."""
    from bench.raw_engine import EngineError, run_job

    cells = [Cell(c) for c in configs]
    kind_device, _, index = device.partition(":")
    for round_index in range(rounds):
        for cell in cells:
            if cell.error:
                continue
            job = {
                "model": str(workload.model),
                "kind": workload.kind,
                "device": kind_device,
                "device_index": int(index or 0),
                "compute_type": cell.config.compute_type,
                "inter_threads": 1,
                "intra_threads": cores if kind_device == "cpu" else 1,
                "runs": workload.runs,
            }
            env = {"CT2_VERBOSE": "1", "OMP_WAIT_POLICY": "PASSIVE", **cell.config.backend.env}
            try:
                result = run_job(job, env=env, timeout_s=1800)
            except EngineError as exc:
                cell.error = _first_error(str(exc))
                log.warning("%s / %s: %s", workload.name, cell.config.label, cell.error)
                continue
            cell.report = cell.report or backend_report(result["log"])
            for metric, value in workload.metrics(result).items():
                cell.rates.setdefault(metric, []).append(value)
            log.info(
                "round %d, %s / %s: %s",
                round_index + 1,
                workload.name,
                cell.config.label,
                ", ".join(f"{m} {v:,.1f}" for m, v in workload.metrics(result).items()),
            )
    return cells


def _first_error(text: str) -> str:
    """The line of a child's failure that says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[0][:300] if lines else "failed"


# -- the decoding bound ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of calling generate_batch for a single sequence."""

    name: str
    options: dict[str, Any]
    callback: bool = False
    static: bool = True


def decoding_variants(repetition_penalty: float) -> list[Variant]:
    """The plain call, each option the service sets added alone, and the service's own combination."""
    plain = {"repetition_penalty": 1.0, "return_scores": False}
    return [
        Variant("plain: no callback, no penalty, no scores", plain),
        Variant("+ Python step callback", plain, callback=True),
        Variant(
            f"+ repetition penalty {repetition_penalty}", {**plain, "repetition_penalty": repetition_penalty}
        ),
        # generate_batch's log probabilities (generate_tokens calls them return_log_prob).
        Variant("+ return_scores", {**plain, "return_scores": True}),
        Variant("static prompt not cached", plain, static=False),
        Variant(
            f"the service's call: callback, penalty {repetition_penalty}, scores",
            {"repetition_penalty": repetition_penalty, "return_scores": True},
            callback=True,
        ),
    ]


@dataclass
class VariantResult:
    variant: str
    threads: str  # the layout, "1x2" or "1x1"
    steps_per_s: list[float] = field(default_factory=list)
    request_s: list[float] = field(default_factory=list)  # one whole request (prompt + long output)

    @property
    def median_steps(self) -> float:
        values = [v for v in self.steps_per_s if v == v]
        return statistics.median(values) if values else float("nan")


def measure_decoding(
    llm_model: Path, inputs: Any, article: str, *, rounds: int, steps: tuple[int, int], cores: int
) -> list[VariantResult]:
    """Each variant on the same prompt in one child per thread layout, variants interleaved in rounds."""
    from bench.raw_engine import run_job
    from bench.roofline import steps_per_s

    variants = decoding_variants(inputs.repetition_penalty)
    results: list[VariantResult] = []
    for intra in sorted({cores, 1}, reverse=True):
        runs: list[dict[str, Any]] = []
        for _ in range(rounds):
            for variant in variants:
                for count in steps:
                    run = inputs.job_run([article], count, static=variant.static, **variant.options)
                    runs.append(
                        {
                            **run,
                            "label": variant.name,
                            "callback": variant.callback,
                            "batch_size": 1,
                            "warmup_rows": 1 if not runs else 0,
                        }
                    )
        job = {
            "model": str(llm_model),
            "kind": "generator",
            "compute_type": "int8",
            "inter_threads": 1,
            "intra_threads": intra,
            "runs": runs,
        }
        result = run_job(job, env={"OMP_WAIT_POLICY": "PASSIVE"}, timeout_s=3600)
        by_name = {v.name: VariantResult(v.name, f"1x{intra}") for v in variants}
        timed = result["runs"]
        for i in range(0, len(timed), 2):
            short, long = timed[i], timed[i + 1]
            entry = by_name[short["label"]]
            entry.steps_per_s.append(steps_per_s((steps[0], short["wall_s"]), (steps[1], long["wall_s"])))
            entry.request_s.append(long["wall_s"])
        results += by_name.values()
        log.info(
            "decoding, 1x%d: %s",
            intra,
            "; ".join(f"{r.variant} {r.median_steps:.2f} steps/s" for r in by_name.values()),
        )
    return results


@dataclass
class PromptBatchResult:
    name: str
    tokens: int  # prompt tokens read (the static part excluded: it is cached)
    walls_s: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / statistics.median(self.walls_s) if self.walls_s else float("nan")


def prompt_rows_cut(rows: Sequence[list[str]]) -> list[list[str]]:
    """Each row cut to the shortest row's length: a batch CTranslate2 can read at once."""
    shortest = min(len(row) for row in rows)
    return [list(row[:shortest]) for row in rows]


def measure_prompt_batch(
    llm_model: Path, inputs: Any, articles: Sequence[str], *, rounds: int, cores: int
) -> list[PromptBatchResult]:
    """Reading a batch of summary prompts as the service batches them (lengths as they come), one at a time,
    and cut to equal length: CTranslate2 reads a batch's prompts at once only up to the shortest one, and
    the rest of each a token per step."""
    from bench.raw_engine import run_job

    base = inputs.job_run(articles, 1)
    cut = {**base, "rows": prompt_rows_cut(base["rows"])}
    plans = [
        (f"{len(articles)} prompts in one batch, lengths as they come", base, len(articles)),
        (f"the same {len(articles)} prompts one at a time", base, 1),
        (f"the same {len(articles)} cut to the shortest one's length, one batch", cut, len(articles)),
    ]
    runs = [
        {**run, "label": name, "batch_size": batch, "warmup_rows": 1 if i == 0 and r == 0 else 0}
        for r in range(rounds)
        for i, (name, run, batch) in enumerate(plans)
    ]
    job = {
        "model": str(llm_model),
        "kind": "generator",
        "compute_type": "int8",
        "inter_threads": 1,
        "intra_threads": cores,
        "runs": runs,
    }
    result = run_job(job, env={"OMP_WAIT_POLICY": "PASSIVE"}, timeout_s=3600)
    out = {name: PromptBatchResult(name, sum(len(row) for row in run["rows"])) for name, run, _ in plans}
    for timed in result["runs"]:
        out[timed["label"]].walls_s.append(timed["wall_s"])
    for entry in out.values():
        log.info("prompt reading, %s: %.1f tokens/s", entry.name, entry.tokens_per_s)
    return list(out.values())


def prompt_batch_lines(results: Sequence[PromptBatchResult], lengths: Sequence[int]) -> list[str]:
    alone = results[1].tokens_per_s if len(results) > 1 else float("nan")
    lines = [
        f"Prompts of {min(lengths)} to {max(lengths)} tokens past the cached static part (the service's "
        "summary prompts of ~1k-character articles, one new token each):",
        "",
        "| how | prompt tokens | prompt tokens/s | vs one at a time |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.tokens:,} | {_num(r.tokens_per_s)} | {_ratio(r.tokens_per_s, alone)} |"
        )
    return lines


def vocabulary_options() -> dict[str, list[str]]:
    """The options of Generator.generate_batch and Translator.translate_batch that restrict the output
    vocabulary, read from CTranslate2's own signatures (in a child: no torch next to it)."""
    import subprocess

    code = (
        "import ctranslate2, json, re\n"
        "out = {}\n"
        "for cls, fn in (('Generator', 'generate_batch'), ('Translator', 'translate_batch')):\n"
        "    doc = getattr(getattr(ctranslate2, cls), fn).__doc__ or ''\n"
        "    names = re.findall(r'^\\s+(\\w+):', doc, re.M)\n"
        "    out[cls + '.' + fn] = sorted({n for n in names if 'vmap' in n or 'vocab' in n})\n"
        "print(json.dumps(out))\n"
    )
    import json

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return dict(json.loads(done.stdout)) if done.returncode == 0 else {}


def library_has(marker: bytes) -> bool | None:
    """Whether CTranslate2's shared library mentions `marker` (None if the library cannot be found)."""
    import ctranslate2

    package = Path(ctranslate2.__file__).resolve().parent
    libraries = sorted(package.parent.glob("ctranslate2.libs/libctranslate2*")) + sorted(
        package.glob("libctranslate2*")
    )
    if not libraries:
        return None
    return marker in libraries[0].read_bytes()


# -- the report --------------------------------------------------------------------------------------------

NOISE = 0.05  # differences under 5% are within the run-to-run noise of a shared machine


def _ratio(x: float, base: float) -> str:
    return f"×{x / base:.2f}" if x == x and base == base and base else "–"


def _num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}" if x == x else "–"


def _variables(config: Config) -> str:
    return " ".join(f"`{k}={v}`" for k, v in config.backend.env.items()) or "(none)"


def cells_table(cells: Sequence[Cell], metrics: Sequence[str]) -> list[str]:
    default = cells[0]
    head = ["configuration", "variables", "CTranslate2 selected", *metrics, f"{metrics[-1]} vs default"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cell in cells:
        if cell.error:
            row = [cell.config.label, _variables(cell.config), f"failed: {cell.error}"]
            row += ["–"] * len(metrics) + ["–"]
        else:
            row = [cell.config.label, _variables(cell.config), describe_report(cell.report)]
            row += [_num(cell.median(m)) for m in metrics]
            row.append(_ratio(cell.median(metrics[-1]), default.median(metrics[-1])))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return lines


def pick(cells: Sequence[Cell], metric: str) -> tuple[Cell, str]:
    """The configuration to run on this machine for `metric`, and why: the fastest, unless it is within
    NOISE of the default, which then stays (nothing to set)."""
    default = cells[0]
    measured = [c for c in cells if not c.error and c.median(metric) == c.median(metric)]
    if not measured:
        return default, "nothing was measured"
    best = max(measured, key=lambda c: c.median(metric))
    base = default.median(metric)
    if best is default or not base == base:
        return default, "the default is the fastest"
    gain = best.median(metric) / base - 1
    if gain < NOISE:
        return default, f"{best.config.label} is {gain:.0%} faster, within the noise: keep the default"
    return best, f"{gain:.0%} faster than the default"


def findings(cells: Sequence[Cell], metric: str) -> list[str]:
    """What the table shows, in words, from its figures."""
    out = []
    by_label = {c.config.label: c for c in cells}
    default = cells[0]
    chosen, why = pick(cells, metric)
    out.append(f"Pick: **{chosen.config.label}** ({_variables(chosen.config)}): {why}.")
    selected = {c.config.compute_type: c.report.get("compute_type") for c in cells if c.report}
    same = [t for t, s in selected.items() if s and s != t]
    if same:
        out.append(
            "Compute types CTranslate2 ran as another: "
            + ", ".join(f"`{t}` ran as `{selected[t]}`" for t in same)
            + " (its own log)."
        )
    failed = [c for c in cells if c.error]
    for cell in failed:
        out.append(f"`{cell.config.label}` could not run: {cell.error}")
    upstream = by_label.get("upstream packed-GEMM variable, int8")
    if upstream and upstream.report and upstream.report == default.report:
        out.append(
            "`CT2_USE_EXPERIMENTAL_PACKED_GEMM=1` changes nothing CTranslate2 reports: this build reads "
            "`CT2_PACKED_GEMM` instead"
            + (" (packed is already its default)" if "packed" in default.report.get("gemm_s8", "") else "")
            + "."
        )
    return out


def decoding_lines(
    results: Sequence[VariantResult],
    *,
    bandwidth: float,
    step_bytes: int,
    projection_bytes: int,
    vocab_options: dict[str, list[str]],
    steps: tuple[int, int],
) -> list[str]:
    bound = bandwidth / step_bytes if step_bytes else float("nan")
    lines = [
        f"- Bandwidth bound: {bandwidth / 1e9:.1f} GB/s (a float32 matrix-vector product over 1 GiB, every "
        f"core) over {step_bytes / 1e9:.3f} GB of weights read per step (model.bin: every decoder matrix and "
        f"the output projection) = **{bound:.1f} steps/s**.",
        f"- The output projection over the vocabulary is {projection_bytes / 1e6:,.0f} MB of those "
        f"{step_bytes / 1e6:,.0f} MB ({projection_bytes / step_bytes:.0%}): a step that only reads memory "
        f"would save at most that share with a restricted vocabulary. Options that restrict it: "
        + "; ".join(f"`{fn}`: {', '.join(names) or 'none'}" for fn, names in vocab_options.items())
        + ".",
        "",
        "| variant | layout | steps/s | ms per step | cost vs plain | of the bandwidth bound | "
        f"one request ({steps[1]} tokens) |",
        "|---|---|---|---|---|---|---|",
    ]
    plain = {r.threads: r for r in results if r.variant.startswith("plain")}
    for r in results:
        steps_s = r.median_steps
        ms = 1000 / steps_s if steps_s == steps_s and steps_s else float("nan")
        base = plain.get(r.threads)
        base_ms = (
            1000 / base.median_steps if base and base.median_steps == base.median_steps else float("nan")
        )
        cost = "–" if r is base else f"{ms - base_ms:+.1f} ms ({(ms - base_ms) / base_ms:+.0%})"
        request = statistics.median(r.request_s) if r.request_s else float("nan")
        lines.append(
            f"| {r.variant} | {r.threads} | {_num(steps_s, 2)} | {_num(ms)} | {cost} | "
            f"{steps_s / bound:.0%} | {_num(request, 2)} s |"
        )
    return lines


def verdict(results: Sequence[VariantResult]) -> list[str]:
    """The costs that matter, from the figures: each option's against the plain call, per thread layout."""
    out = []
    for threads in sorted({r.threads for r in results}):
        group = {r.variant: r for r in results if r.threads == threads}
        plain = next((r for name, r in group.items() if name.startswith("plain")), None)
        if plain is None or not plain.median_steps == plain.median_steps:
            continue
        base_ms = 1000 / plain.median_steps
        found = []
        for name, r in group.items():
            if r is plain or not r.median_steps == r.median_steps:
                continue
            extra = 1000 / r.median_steps - base_ms
            if abs(extra / base_ms) >= NOISE:
                found.append(f"{threads}: {name} costs {extra:+.1f} ms per step ({extra / base_ms:+.0%}).")
        out += found or [f"{threads}: no option costs more than {NOISE:.0%} of a step over the plain call."]
    return out


# -- the run -----------------------------------------------------------------------------------------------


def _marian_workload(cache_dir: Path, quick: bool) -> MarianWorkload:
    from bench import models, workloads
    from bench.raw import Seq2SeqInputs, converted_seq2seq

    built = models.build_marian(cache_dir)
    rows, tokens = (16, 16) if quick else (32, 64)
    inputs = Seq2SeqInputs(built.folder)
    run = inputs.job_run([workloads.passage(10_000 + i) for i in range(rows)], tokens)
    run.update(batch_size=16, repeats=1 if quick else 3)
    return MarianWorkload(
        f"Marian (opus-mt-en-de shape): {rows} passages, {tokens} forced tokens, batches of 16",
        converted_seq2seq(built.folder, cache_dir),
        "translator",
        [run],
        ("tokens/s",),
    )


def _llm_workload(folder: Path, quick: bool) -> tuple[LLMWorkload, Any, str]:
    from bench import workloads
    from bench.scenarios import llm_inputs

    inputs = llm_inputs(folder)
    articles = [workloads.article(20_000 + i, 1_000) for i in range(1 if quick else 3)]
    steps = (4, 12) if quick else (8, 40)
    repeats = 1 if quick else 2
    prompt = inputs.job_run(articles, 1, static=False)
    prompt.update(batch_size=1, repeats=repeats, warmup_rows=1)
    decode = [
        {**inputs.job_run(articles[:1], n), "batch_size": 1, "repeats": repeats, "warmup_rows": 0}
        for n in steps
    ]
    workload = LLMWorkload(
        f"Embedded LLM (Qwen2.5-Coder-1.5B-Instruct): {len(articles)} summary prompts read, one sequence "
        f"decoded ({steps[0]} and {steps[1]} tokens)",
        folder.parent / "ct2-int8",
        "generator",
        [prompt, *decode],
        ("prompt tokens/s", "decode tokens/s"),
    )
    workload.prompt_tokens = sum(len(row) for row in prompt["rows"])
    workload.steps = steps
    return workload, inputs, articles[0]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: one round, short outputs")
    parser.add_argument("--only", action="append", choices=PARTS, help="run only this part (repeatable)")
    parser.add_argument("--model", action="append", choices=("marian", "llm"), help="default: both")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--rounds", type=int, help="rounds over the configurations (default 3, LLM 2)")
    parser.add_argument(
        "--out", type=Path, help="the report (default: bench/ENGINE.md for a full run, none for --quick)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import ctranslate2

    from bench import models, perf
    from service.config import default_cache_dir

    started, load_start = time.perf_counter(), perf.load_average()
    parts = [p for p in PARTS if not args.only or p in args.only]
    chosen = args.model or ["marian", "llm"]
    cores = len(os.sched_getaffinity(0))
    kind = args.device.partition(":")[0]
    cache_dir = models.default_cache_dir()
    service_cache = Path(os.environ.get("SUMMARIZER_CACHE_DIR") or default_cache_dir()).expanduser()
    llm_folder = models.packaged_llm_folder(service_cache)
    flags = cpu_flags(Path("/proc/cpuinfo").read_text()) if Path("/proc/cpuinfo").is_file() else []
    supported = sorted(ctranslate2.get_supported_compute_types(kind))
    compute_types = GPU_COMPUTE_TYPES if kind == "cuda" else CPU_COMPUTE_TYPES
    lines: list[str] = []
    problems: list[str] = []

    if "backends" in parts:
        lines += ["## Backends and compute types", ""]
        if "marian" in chosen:
            workload = _marian_workload(cache_dir, args.quick)
            rounds = args.rounds or (1 if args.quick else 3)
            log.info("== %s, %d rounds", workload.name, rounds)
            cells = measure_cells(
                workload,
                configurations(args.device, compute_types),
                device=args.device,
                rounds=rounds,
                cores=cores,
            )
            lines += [f"### {workload.name}, on {cores} cores", ""] + cells_table(cells, ["tokens/s"])
            lines += [""] + [f"- {f}" for f in findings(cells, "tokens/s")] + [""]
        if "llm" in chosen and llm_folder is None:
            problems.append("the embedded LLM: no converted folder in the service's cache (run `make setup`)")
        elif "llm" in chosen and llm_folder is not None:
            llm_workload, _, _ = _llm_workload(llm_folder, args.quick)
            types = compute_types if kind == "cuda" else LLM_CPU_COMPUTE_TYPES
            rounds = args.rounds or (1 if args.quick else 2)
            log.info("== %s, %d rounds", llm_workload.name, rounds)
            cells = measure_cells(
                llm_workload,
                configurations(args.device, types),
                device=args.device,
                rounds=rounds,
                cores=cores,
            )
            lines += [f"### {llm_workload.name}, on {cores} cores", ""]
            lines += cells_table(cells, ["prompt tokens/s", "decode tokens/s"])
            lines += [""] + [f"- {f}" for f in findings(cells, "decode tokens/s")]
            prompt_pick, why = pick(cells, "prompt tokens/s")
            lines += [f"- For prompt reading alone: **{prompt_pick.config.label}**: {why}.", ""]
        ruy = library_has(b"ruy::")
        if ruy is False:
            lines += [
                "- ruy (CTranslate2's ARM backend) is not built into this wheel: its library holds no ruy "
                "code.",
                "",
            ]

    if "decoding" in parts and kind == "cpu" and llm_folder is not None and "llm" in chosen:
        from bench import workloads
        from bench.ct2_model import read_model
        from bench.roofline import run_probe

        log.info("== decoding bound")
        _, inputs, article = _llm_workload(llm_folder, args.quick)
        steps = (4, 12) if args.quick else (8, 40)
        probe = run_probe("numpy")
        bandwidth = float(probe["read_bandwidth"][max(probe["read_bandwidth"], key=int)])
        weights = read_model(llm_folder.parent / "ct2-int8")
        projection = weights.resolved(["decoder/projection/weight", "decoder/projection/weight_scale"])
        results = measure_decoding(
            llm_folder.parent / "ct2-int8",
            inputs,
            article,
            rounds=args.rounds or (1 if args.quick else 3),
            steps=steps,
            cores=cores,
        )
        batch_articles = [workloads.article(20_100 + i, 1_000) for i in range(4 if args.quick else 8)]
        prompt_batch = measure_prompt_batch(
            llm_folder.parent / "ct2-int8",
            inputs,
            batch_articles,
            rounds=args.rounds or (1 if args.quick else 3),
            cores=cores,
        )
        lengths = [len(row) for row in inputs.job_run(batch_articles, 1)["rows"]]
        lines += ["## The embedded LLM's single-sequence decoding against the bandwidth bound", ""]
        lines += decoding_lines(
            results,
            bandwidth=bandwidth,
            step_bytes=weights.step_bytes(),
            projection_bytes=sum(v.nbytes for v in projection.values()),
            vocab_options=vocabulary_options(),
            steps=steps,
        )
        lines += [""] + [f"- {v}" for v in verdict(results)] + [""]
        lines += ["### Reading a batch of prompts", ""] + prompt_batch_lines(prompt_batch, lengths) + [""]

    duration = time.perf_counter() - started
    header = [
        "# CTranslate2 on this machine",
        "",
        "Which of CTranslate2's backends and compute types runs our models fastest here, and where the "
        "embedded LLM's single-sequence decoding loses time. Generated by `python -m bench.engine`; every "
        "configuration ran in a child process of its own (CTranslate2 reads its variables when it loads a "
        "model) that never imports torch, and the backend columns are what CTranslate2's own log "
        "(CT2_VERBOSE=1) says it selected.",
        "",
    ]
    if args.quick:
        header += ["> Smoke run (`--quick`): one round, short outputs. Not figures to act on.", ""]
    header += [
        f"- Command: `python -m bench.engine{' ' + ' '.join(sys.argv[1:]) if argv is None else ''}`",
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; took {duration / 60:.1f} min",
        f"- Machine: {cores} cores ({perf.cpu_model()}); CPU flags that matter: {', '.join(flags) or 'none'}",
        f"- CTranslate2 {ctranslate2.__version__}; compute types it supports on {kind}: "
        f"{', '.join(supported)}",
        f"- Load average (1, 5, 15 min) at start: {load_start}; at end: {perf.load_average()}. With {cores} "
        f"cores, a 1-minute load above {cores} means other work shared the machine.",
        "",
    ]
    text = "\n".join(header + lines + [f"- Not measured: {p}" for p in problems]) + "\n"
    print(text)
    out = args.out if args.out is not None else (None if args.quick else ENGINE_MD)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

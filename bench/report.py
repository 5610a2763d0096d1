"""Tables for the terminal and for bench/RESULTS.md, and the targets each marked met or not met.

Every service figure is shown next to the baseline measured in the same run, as a ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.demo import TARGETS as DEMO_TARGETS
from bench.demo import DemoTimes
from bench.perf import Run
from bench.raw import RawLevel
from bench.scenarios import Plan, Section, ServerStats

MIB = 2**20
# The embedded LLM's prompt reading when the performance round began (raw engine, one prompt at a time, on a
# quiet two-core machine): the round's bound for it.
PROMPT_READING_BEFORE = 240.0


# -- formatting ----------------------------------------------------------------------------------------


def _ok(x: float | None) -> bool:
    return x is not None and not math.isnan(x) and not math.isinf(x)


def secs(x: float | None) -> str:
    if not _ok(x):
        return "–"
    assert x is not None
    return f"{x * 1000:.1f} ms" if x < 0.1 else f"{x:.2f} s"


def tenths(x: float | None) -> str:
    """Seconds to a tenth, for times of many seconds."""
    return f"{x:.1f} s" if _ok(x) else "–"


def num(x: float | None, digits: int = 1) -> str:
    return f"{x:,.{digits}f}" if _ok(x) else "–"


def ratio(x: float | None) -> str:
    return f"×{x:.2f}" if _ok(x) else "–"


def mib(x: int | None) -> str:
    return f"{x / MIB:,.0f} MB" if x else "–"


def _div(a: float | None, b: float | None) -> float:
    return a / b if _ok(a) and _ok(b) and b else math.nan  # type: ignore[operator]


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
            for i, h in enumerate(self.headers)
        ]
        line = "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))
        out = [self.title, "-" * len(self.title), line]
        out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in self.rows]
        out += [f"  {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |"]
        out.append("|" + "|".join("---" for _ in self.headers) + "|")
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        if self.notes:
            out += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(out)


@dataclass
class Target:
    goal: str
    measured: str
    met: bool | None  # None: not measured
    why: str = ""  # what the run shows about a miss: the engine's own figure, the engine's idle time
    section: str = ""  # the benchmark section that measures it

    @property
    def status(self) -> str:
        return "not measured" if self.met is None else ("met" if self.met else "not met")


# -- tables --------------------------------------------------------------------------------------------

_LOAD_HEADERS = [
    "run",
    "requests",
    "req/s",
    "tokens/s",
    "p50",
    "p95",
    "tokens/s vs baseline",
    "vs best raw engine",
    "note",
]


def _load_row(run: Run, base_tps: float, vs_baseline: str, vs_raw: str, note: str) -> list[str]:
    return [
        run.label,
        f"{run.completed}/{run.planned}",
        num(run.requests_per_s, 2),
        num(run.tokens_per_s),
        secs(run.p50),
        secs(run.p95),
        vs_baseline,
        vs_raw,
        note,
    ]


def _load_rows(baseline: Run | None, runs: Sequence[Run], raw: Sequence[RawLevel] = ()) -> list[list[str]]:
    """The baseline, then each service level followed by the best raw engine run on the same requests."""
    base_tps = baseline.tokens_per_s if baseline else math.nan
    rows = []
    if baseline is not None:
        rows.append(_load_row(baseline, base_tps, "×1.00 (reference)", "–", baseline.note()))
    raw_at = {level.concurrency: level for level in raw}
    for run in runs:
        level = raw_at.get(run.concurrency)
        best = level.best if level else None
        vs_raw = ratio(_raw_share(run, level)) if best else "–"
        rows.append(_load_row(run, base_tps, ratio(_div(run.tokens_per_s, base_tps)), vs_raw, run.note()))
        if best is not None:
            name, engine = best
            engine_row = _load_row(
                engine,
                base_tps,
                ratio(_div(engine.tokens_per_s, base_tps)),
                "×1.00 (ceiling)",
                "latency: each request's batch" + (f"; {engine.note()}" if engine.note() else ""),
            )
            engine_row[0] = (
                f"best raw engine, concurrency {run.concurrency}: {engine.label.removeprefix('raw ')}"
            )
            rows.append(engine_row)
    return rows


def raw_notes(raw: Sequence[RawLevel]) -> list[str]:
    """Every layout's figure at every level, failures, and a warning if a raw child imported torch."""
    if not raw:
        return []
    notes = []
    parts = []
    for level in raw:
        figures = [f"{name} {num(run.tokens_per_s)}" for name, run in level.runs.items()]
        figures += [f"{name} failed ({why[:160]})" for name, why in level.failed.items()]
        parts.append(f"concurrency {level.concurrency}: " + ", ".join(figures))
    notes.append(
        "Raw engine: ctranslate2 alone in a child process that never imports torch, the same model folder "
        "and requests (texts, forced length, decoding options), no step callback, a closed loop of callers "
        "like the clients'; the service's row is divided by the best layout's (inter x intra threads). "
        "tokens/s by layout: " + "; ".join(parts) + "."
    )
    if any(level.torch_imported for level in raw):
        notes.append("WARNING: a raw engine child imported torch; its figures may be low.")
    return notes


def _first(runs: Sequence[Run]) -> Run | None:
    return runs[0] if runs else None


def _at(runs: Sequence[Run], concurrency: int) -> Run | None:
    return next((r for r in runs if r.concurrency == concurrency), None)


def translation_table(section: Section) -> Table:
    forced = section.extra.get("forced_tokens", "?")
    table = Table(
        f"Marian translation (opus-mt-en-de shape), Translate en->de, {forced} tokens per request",
        _LOAD_HEADERS,
        _load_rows(_first(section.baseline), section.service, section.raw),
    )
    read_back = section.extra.get("read_back", {})
    base, service = read_back.get("baseline", math.nan), read_back.get("service", math.nan)
    table.notes.append(
        f"Every generation is forced to {forced} tokens on both sides. Output tokens read back with the "
        "model's tokenizer (a check that the service honoured it): "
        f"baseline {num(base)}, service {num(service)}."
    )
    if isinstance(forced, int) and _ok(service) and not 0.67 * forced <= service <= 1.5 * forced:
        table.notes.append(
            f"WARNING: the service's outputs read back as {service:.0f} tokens for {forced} forced: it did "
            "not honour force_output_tokens, so its figures are not comparable."
        )
    table.notes += raw_notes(section.raw)
    return table


def summaries_table(section: Section) -> Table:
    s_tokens, _ = section.extra.get("forced_tokens", ("?", "?"))
    return Table(
        f"DistilBART summaries (cnn-12-6 shape), Summarize of a ~1k-character article, "
        f"{s_tokens} tokens each",
        _LOAD_HEADERS,
        _load_rows(_first(section.baseline), section.service, section.raw),
        raw_notes(section.raw),
    )


def lengths_table(section: Section) -> Table:
    table = Table(
        "Cost by article length (Summarize into English; long articles are summarized in chunks)",
        [
            "article",
            "baseline",
            "generate() calls",
            "service",
            "service vs baseline",
            "baseline growth",
            "service growth",
        ],
    )
    lengths = section.extra.get("lengths", {})
    first_base = first_svc = math.nan
    for i, (_, row) in enumerate(sorted(lengths.items())):
        base, svc = row["baseline"].mean, row["service"].mean if row["service"] else math.nan
        if i == 0:
            first_base, first_svc = base, svc
        table.rows.append(
            [
                f"{row['chars']:,} chars",
                secs(base),
                str(row["baseline_calls"] or "–"),
                secs(svc),
                ratio(_div(base, svc)),
                ratio(_div(base, first_base)),
                ratio(_div(svc, first_svc)),
            ]
        )
    table.notes.append(
        "\"service vs baseline\" is the baseline's time over the service's (higher is faster); "
        "growth is each row's time over the first row's."
    )
    return table


def extra_target_cost(times: dict[int, float]) -> float:
    """Mean time of each target past the first, as a fraction of the one-target time."""
    counts = sorted(k for k, v in times.items() if _ok(v))
    if len(counts) < 2 or counts[0] != 1:
        return math.nan
    last = counts[-1]
    return _div((times[last] - times[1]) / (last - 1), times[1])


def targets_table(section: Section) -> Table:
    _, t_tokens = section.extra.get("forced_tokens", ("?", "?"))
    table = Table(
        "Cost by number of target languages (Summarize a ~1k-character article, "
        f"then translate the summary, {t_tokens} tokens per language)",
        [
            "targets",
            "baseline",
            "service",
            "service vs baseline",
            "baseline per extra target",
            "service per extra target",
        ],
    )
    rows = section.extra.get("targets", {})
    base_times = {k: r["baseline"].mean for k, r in rows.items()}
    svc_times = {k: r["service"].mean if r["service"] else math.nan for k, r in rows.items()}
    for count in sorted(rows):
        subset_b = {k: v for k, v in base_times.items() if k <= count}
        subset_s = {k: v for k, v in svc_times.items() if k <= count}
        table.rows.append(
            [
                str(count),
                secs(base_times[count]),
                secs(svc_times[count]),
                ratio(_div(base_times[count], svc_times[count])),
                "–" if count == 1 else ratio(extra_target_cost(subset_b)) + " of the first",
                "–" if count == 1 else ratio(extra_target_cost(subset_s)) + " of the first",
            ]
        )
    table.notes.append(
        "The baseline summarizes once, then runs one generate() per target language; the service gets one "
        "Summarize call with every target. Per extra target: (t(k) - t(1)) / (k - 1) / t(1)."
    )
    return table


def cache_table(section: Section) -> Table:
    cache = section.extra.get("cache") or {}
    run: Run | None = cache.get("repeats")
    table = Table(
        "Repeated request (the same Summarize again)", ["first call", "repeats", "p50", "p95", "note"]
    )
    if run is not None:
        table.rows.append(
            [
                secs(cache.get("first_s")),
                f"{run.completed}/{run.planned}",
                secs(run.p50),
                secs(run.p95),
                run.note(),
            ]
        )
    return table


def llm_table(section: Section) -> Table:
    table = Table(
        f"Embedded LLM (Qwen2.5-Coder-1.5B-Instruct), Summarize of a ~1k-character article, "
        f"{section.extra.get('max_new_tokens', '?')} new tokens each",
        _LOAD_HEADERS,
        _load_rows(_first(section.baseline), section.service, section.raw),
    )
    tokens = section.extra.get("max_new_tokens", "?")
    read_back = section.extra.get("read_back", {}).get("service")
    table.notes.append(
        f"Both sides write exactly {tokens} new tokens per request (the end token is held back: "
        "`min_new_tokens` in the baseline, `force_output_tokens` in the service's profile), so tokens/s "
        "compares equal work. Left free, the two sides stop at different places, and a side that writes "
        "less looks slower in tokens/s for the same prompt."
        + (
            f" The service's answers read back at {read_back:.1f} tokens on average (its output cleaning "
            "and decoding drop some: special tokens the model writes once its end token is held back, "
            "and any preamble)."
            if read_back is not None
            else ""
        )
    )
    runs = section.extra.get("baseline_runs", [])
    if len(runs) == 2:
        before, after = runs
        table.notes.append(
            "The baseline ran before the service and again after it (loaded again: its fp32 weights are "
            "let go meanwhile), so that a drift in the machine's speed reaches both sides; its row merges "
            "the two: "
            f"{before.tokens_per_s:.1f} tokens/s before, {after.tokens_per_s:.1f} after."
        )
    if "baseline_load_s" in section.extra:
        table.notes.append(
            f"Baseline load time (fp32 from the HF folder): {secs(section.extra['baseline_load_s'])}."
        )
    table.notes += raw_notes(section.raw)
    if section.raw:
        table.notes.append(
            "The raw engine sends each prompt less its static part, which it hands CTranslate2 as a cached "
            "static prompt, as the service's runtime does, with the service's repetition penalty."
        )
    return table


def servers_table(servers: Sequence[ServerStats]) -> Table:
    table = Table(
        "Servers",
        [
            "profile",
            "runtimes (ListModels)",
            "thread layout (as the server reports it)",
            "start-up to SERVING",
            "RSS idle",
            "peak RSS under load",
        ],
    )
    for s in servers:
        # The extractive summarizer, always present, runs no model runtime worth naming.
        named = {model: runtime for model, runtime in s.runtimes.items() if model != "textrank"}
        runtimes = ", ".join(sorted(set(named.values()))) or "–"
        startup = secs(s.startup_s)
        if _ok(s.first_startup_s):
            converting = ", converting" if s.conversion_cached is False else ""
            startup += f" (the run's first start{converting}: {secs(s.first_startup_s)})"
        table.rows.append(
            [
                s.profile,
                runtimes,
                s.thread_layout or "not reported",
                startup,
                mib(s.idle_rss),
                f"{mib(s.peak_rss)} ({s.rss_samples} samples)",
            ]
        )
    table.notes.append(
        "RSS is the server process and all its children, sampled every 0.1 s; MB = 2^20 bytes."
    )
    return table


_ROOFLINE_NOTES = [
    "Decoding: steps/s from two forced output lengths (8 and 40), so that reading the input drops out. "
    "Weights per step from the model's own model.bin: every decoder matrix and the output projection, not "
    "the embedding table (one row) nor the cross-attention's keys and values (once per input). Work: 2 x "
    "those matrices' elements x rows.",
    "Prompt reading: one new token after each summary prompt, prompts one at a time; the weights are read "
    "once per prompt and shared by its tokens.",
    "Memory bound = bandwidth at the step's working set / bytes per step; compute bound = the best int8 "
    "GEMM rate / work per step. Both in the unit of the measured column.",
]


def roofline_tables(section: Section) -> list[Table]:
    from bench.roofline import GEMM_SHAPES, Bounds, position_rows

    bounds: Bounds | None = section.extra.get("bounds")
    out = []
    if bounds is not None:
        shapes = [f"{m}x{k}x{n}" for m, k, n in GEMM_SHAPES]
        gemm = Table(
            "Machine bounds: GEMM throughput (M x K x N, every core)",
            ["kind", "library", *shapes],
            [
                [kind, library]
                + [num(shape_rates.get(shape, math.nan) / 1e9, 0) + f" {unit}" for shape in shapes]
                for kind, table, unit in (
                    ("int8", bounds.int8_gemm, "GOPS"),
                    ("fp32", bounds.fp32_gemm, "GFLOPS"),
                )
                for library, shape_rates in table.items()
            ],
        )
        gemm.notes.append(
            "CTranslate2 does not expose its own GEMM to Python: the int8 figure is oneDNN's s8 kernel "
            "through `torch._int_mm`, the fp32 ones numpy's (OpenBLAS) and torch's matmul, each probe in a "
            "child process of its own. 16x512x2048 is a Marian decoding step at 16 rows (FFN), "
            "512x1536x8960 the LLM's FFN over a 512-token prompt."
        )
        gemm.notes += [f"Not measured: {e}" for e in bounds.errors]
        bandwidth = Table(
            "Machine bounds: memory read bandwidth",
            ["working set", "read GB/s"],
            [
                [f"{size / MIB:,.0f} MiB", num(rate / 1e9)]
                for size, rate in sorted(bounds.read_bandwidth.items())
            ],
            [
                "A float32 matrix-vector product over the working set (numpy, every core): one vectorised "
                "pass over memory. The largest working set is the DRAM figure; smaller ones show the caches."
            ],
        )
        out += [gemm, bandwidth]
    positions = section.extra.get("positions") or []
    if positions:
        out.append(
            Table(
                "Roofline: each path against the bounds (raw CTranslate2 int8, one batch on every core)",
                [
                    "path",
                    "measured",
                    "weights read, work per step (or prompt token)",
                    "achieved",
                    "memory bound",
                    "compute bound",
                    "limited by",
                    "measured / bound",
                ],
                position_rows(positions),
                list(_ROOFLINE_NOTES),
            )
        )
        above = [p.path for p in positions if _ok(p.fraction) and p.fraction > 1.0]
        if above:
            out[-1].notes.append(
                f"Above its bound: {', '.join(above)}. CTranslate2's own kernels outran the probe there, so "
                "that roof is the probe's, not the machine's: the machine's is at least the measured figure."
            )
    return out


# -- targets -------------------------------------------------------------------------------------------


def _raw_share(run: Run | None, level: RawLevel | None) -> float:
    """The service run's tokens/s over the best raw engine's at its level."""
    best = level.best if level else None
    return _div(run.tokens_per_s if run else None, best[1].tokens_per_s if best else None)


def _raw_at(section: Section | None, concurrency: int) -> RawLevel | None:
    """The raw engine's runs at `concurrency`, if the section measured them."""
    return next((lv for lv in section.raw if lv.concurrency == concurrency), None) if section else None


def _raw_ratio(section: Section | None, concurrency: int) -> tuple[Run | None, float]:
    """The service's run at `concurrency` and its tokens/s over the best raw engine's at that level."""
    run = _at(section.service, concurrency) if section else None
    return run, _raw_share(run, _raw_at(section, concurrency))


def targets(sections: dict[str, Section]) -> list[Target]:
    out = []
    tr = sections.get("translation")
    base = _first(tr.baseline) if tr else None
    c16, share16 = _raw_ratio(tr, 16)
    base_tps = base.tokens_per_s if base else None
    r = _div(c16.tokens_per_s if c16 else None, base_tps)
    raw_r = _div(r, share16)
    out.append(
        Target(
            "Marian translation at concurrency 16 ≥ ×35 the baseline's tokens/s",
            f"{ratio(r)} ({num(c16.tokens_per_s if c16 else None)} vs {num(base_tps)} tokens/s; the best raw "
            f"engine: {ratio(raw_r)})",
            r >= 35 if _ok(r) else None,
            f"the engine itself makes {ratio(raw_r)} the baseline on this machine: ×35 needs the service at "
            f"{35 / raw_r:.1f}× the engine"
            if _ok(raw_r) and raw_r < 35
            else _serving(tr, 16),
            section="translation",
        )
    )
    for level in (16, 32):
        _, share = _raw_ratio(tr, level)
        out.append(
            Target(
                f"Marian translation at concurrency {level} ≥ 0.90 of the best raw engine",
                ratio(share),
                share >= 0.9 if _ok(share) else None,
                _serving(tr, level),
                section="translation",
            )
        )
    p95 = c16.p95 if c16 else math.nan
    raw16 = _raw_at(tr, 16)
    raw_best = raw16.best if raw16 else None
    out.append(
        Target(
            "Marian p95 latency at concurrency 16 ≤ 1.0 s",
            secs(p95),
            p95 <= 1.0 if _ok(p95) else None,
            f"the raw engine's own p95 at 16 is {secs(raw_best[1].p95)}; {_serving(tr, 16)}"
            if raw_best
            else "",
            section="translation",
        )
    )
    peak = tr.server.peak_rss if tr and tr.server else 0
    out.append(
        Target(
            "Server peak RSS with Marian ≤ 600 MB",
            mib(peak),
            peak <= 600 * MIB if peak else None,
            section="translation",
        )
    )

    su = sections.get("summaries")
    _, share = _raw_ratio(su, 4)
    out.append(
        Target(
            "DistilBART summaries at concurrency 4 ≥ 0.90 of the best raw engine",
            ratio(share),
            share >= 0.9 if _ok(share) else None,
            _serving(su, 4),
            section="summaries",
        )
    )
    rows = su.extra.get("targets", {}) if su else {}
    times = {k: r["service"].mean for k, r in rows.items() if r["service"]}
    cost = extra_target_cost(times)
    out.append(
        Target(
            "Each extra target language costs ≤ 0.5× the first one's time",
            f"{ratio(cost)} of the first (1 → {max(times) if times else '?'} targets)",
            cost <= 0.5 if _ok(cost) else None,
            section="summaries",
        )
    )
    lm = sections.get("llm")
    lbase = _first(lm.baseline) if lm else None
    best = max(lm.service, key=lambda run: run.concurrency) if lm and lm.service else None
    c1 = _at(lm.service, 1) if lm else None
    r = _div(best.tokens_per_s if best else None, lbase.tokens_per_s if lbase else None)
    r1 = _div(c1.tokens_per_s if c1 else None, lbase.tokens_per_s if lbase else None)
    out.append(
        Target(
            "Embedded LLM ≥ 3× baseline tokens/s",
            f"{ratio(r)} at concurrency {best.concurrency if best else '?'} ({ratio(r1)} at concurrency 1)",
            r >= 3 if _ok(r) else None,
            section="llm",
        )
    )
    roof = sections.get("roofline")
    positions = roof.extra.get("positions") or [] if roof else []
    decoding = next((p for p in positions if p.path == "LLM single-sequence decoding"), None)
    fraction = decoding.fraction if decoding else math.nan
    out.append(
        Target(
            "Embedded LLM single-sequence decoding ≥ 60% of the memory-bandwidth bound (raw engine)",
            f"{fraction:.0%}" if _ok(fraction) else "–",
            fraction >= 0.6 if _ok(fraction) else None,
            section="roofline",
        )
    )
    reading = next((p for p in positions if p.path == "LLM prompt reading"), None)
    rate = reading.units_per_s if reading else math.nan
    out.append(
        Target(
            "Embedded LLM prompt reading no slower than before this round "
            f"({PROMPT_READING_BEFORE:.0f} tokens/s, raw engine)",
            f"{num(rate)} tokens/s" if _ok(rate) else "–",
            rate >= PROMPT_READING_BEFORE if _ok(rate) else None,
            f"{_div(rate, reading.compute_bound):.0%} of the int8 compute bound measured in the same run "
            f"({num(reading.compute_bound)} tokens/s): reading a prompt is matrix work, not a read of the "
            "weights"
            if reading
            else "",
            section="roofline",
        )
    )
    start = lm.server.startup_s if lm and lm.server else math.nan
    out.append(
        Target(
            "Embedded profile start-up after the first < 10 s",
            secs(start),
            start < 10 if _ok(start) else None,
            section="llm",
        )
    )
    cache = su.extra.get("cache") if su else None
    run = cache.get("repeats") if cache else None
    p50 = run.p50 if run else math.nan
    out.append(
        Target("Cache hit < 5 ms p50", secs(p50), p50 < 0.005 if _ok(p50) else None, section="summaries")
    )
    out += demo_targets(sections.get("demo"))
    for target in out:
        if target.met is None and target.section not in sections:
            target.why = f"the {target.section} section was not in this run"
    return out


def demo_targets(section: Section | None) -> list[Target]:
    """The demo's request against the performance target (20 s) and the quality work's bound (31 s, the time
    before it), each beside the raw engine's time for the same prompts."""
    times: DemoTimes | None = section.extra.get("demo") if section else None
    total = times.median_s if times else math.nan
    raw = times.raw_s if times else math.nan
    measured = tenths(total) + (f" (the raw engine on the same prompts: {tenths(raw)})" if _ok(raw) else "")
    why = ""
    if times and _ok(raw):
        why = (
            f"the engine alone takes {tenths(raw)}: the summary ({tenths(times.raw_summary_s)}: a "
            f"{times.raw_prompt_tokens}-token prompt read, then {times.raw_summary_tokens} tokens written "
            "one a step), then its translation, which needs the summary first "
            f"({tenths(times.raw_translation_s)}: {times.raw_rows} sentence rows in one batch, "
            f"{times.raw_translation_tokens} tokens written)"
        )
    return [
        Target(
            f"The demo's request (the seed article into {', '.join(DEMO_TARGETS)}, embedded) ≤ {limit:.0f} s",
            measured,
            total <= limit if _ok(total) else None,
            why,
            section="demo",
        )
        for limit in (20.0, 31.0)
    ]


def demo_table(section: Section) -> Table:
    times: DemoTimes | None = section.extra.get("demo")
    table = Table(
        f"The demo's request: the seed article into {', '.join(DEMO_TARGETS)} (embedded profile, medium)",
        ["run", *(f"{t} at" for t in DEMO_TARGETS), "all"],
    )
    if times is None:
        return table
    for i, seen in enumerate(times.arrivals, 1):
        table.rows.append(
            [
                f"service, fresh server {i}",
                *(tenths(seen.get(t)) for t in DEMO_TARGETS),
                tenths(max(seen.values())),
            ]
        )
    if len(times.arrivals) > 1:
        table.rows.append(
            [
                "service, median",
                *(tenths(times.median_arrival(t)) for t in DEMO_TARGETS),
                tenths(times.median_s),
            ]
        )
    if _ok(times.raw_s):
        # The summary's language comes with the summary; the others after its translation.
        arrivals = (times.raw_summary_s if t == "en" else times.raw_s for t in DEMO_TARGETS)
        table.rows.append(["raw engine, same prompts", *map(tenths, arrivals), tenths(times.raw_s)])
    table.notes.append(
        "Each service run starts a fresh server (an empty result cache) and streams the answer as "
        "`make demo` does; a language's time is from sending the request to its arrival."
    )
    if _ok(times.raw_s):
        table.notes.append(
            "Raw engine: CTranslate2 alone (one batch on every core, no torch in its process) on the "
            f"service's prompts, greedy: the summary prompt ({times.raw_prompt_tokens} tokens, "
            f"{times.raw_summary_tokens} written, {tenths(times.raw_summary_s)}), then the translation "
            f"prompts of the summary's sentences into {', '.join(t for t in DEMO_TARGETS if t != 'en')} "
            "as one batch "
            f"({times.raw_rows} rows, {times.raw_translation_tokens} tokens written, "
            f"{tenths(times.raw_translation_s)}). It writes each row to its end token or budget; the service "
            "stops a summary once it holds the sentences it keeps, and checks each translation (repairing "
            "those that fail)."
        )
    if times.raw_error:
        table.notes.append(f"Raw engine: failed ({times.raw_error}).")
    return table


def _serving(section: Section | None, concurrency: int) -> str:
    """Where a service run's time went beside the raw engine's on the same rows: the share of the run the
    engine idled between the service's batches, and how long those batches took against the engine alone."""
    run = _at(section.service, concurrency) if section else None
    if run is None or not _ok(run.busy):
        return ""
    level = _raw_at(section, concurrency)
    best = level.best if level else None
    said = (
        f"the engine idled {1 - min(run.busy, 1):.0%} of the run between the service's batches (callers "
        f"answered, the next batch gathered); its {len(run.batch_s)} batches of {num(run.rows_per_batch)} "
        f"rows on average took {sum(run.batch_s):.1f} s in all"
    )
    if best is not None:
        said += f", where the raw engine ran the same rows in {best[1].wall_s:.1f} s ({best[0]})"
    return said


def targets_table_of(items: Sequence[Target]) -> Table:
    return Table(
        "Targets",
        ["target", "measured", "status", "where missed, what the run shows"],
        [[t.goal, t.measured, t.status, t.why if not t.met else ""] for t in items],
    )


# -- the whole report ----------------------------------------------------------------------------------


def tables(sections: dict[str, Section]) -> list[Table]:
    out = []
    if "translation" in sections:
        out.append(translation_table(sections["translation"]))
    if "summaries" in sections:
        s = sections["summaries"]
        out += [summaries_table(s), lengths_table(s), targets_table(s), cache_table(s)]
    if "llm" in sections:
        out.append(llm_table(sections["llm"]))
    if "demo" in sections:
        out.append(demo_table(sections["demo"]))
    if "roofline" in sections:
        out += roofline_tables(sections["roofline"])
    servers = [s.server for s in sections.values() if s.server is not None]
    if servers:
        out.append(servers_table(servers))
    return out


def errors(sections: dict[str, Section]) -> list[str]:
    return [f"{name}: {s.error}" for name, s in sections.items() if s.error]


def warnings(sections: dict[str, Section]) -> list[str]:
    """Conditions that make a section's figures something other than what its title says."""
    out = []
    for name, section in sections.items():
        server = section.server
        if server is None or not server.runtimes:
            continue
        other = {m: r for m, r in server.runtimes.items() if m != "textrank" and r != "ctranslate2"}
        if other:
            listed = ", ".join(f"{m} on {r}" for m, r in sorted(other.items()))
            out.append(f"{name}: the server did not run CTranslate2 for every model ({listed})")
    return out


def markdown(
    sections: dict[str, Section],
    *,
    plan: Plan,
    command: str,
    date: str,
    duration_s: float,
    machine: dict[str, str],
    load: tuple[str, str],
    gpus: int = 0,
    partial: str = "",
) -> str:
    lines = [
        "# Benchmark results",
        "",
        "The naive baseline (transformers fp32 `generate()`, in-process, one request at a time, one target "
        "language after another) against the service over gRPC with its default runtime (CTranslate2 int8), "
        "measured in the same run, and beside each service level the raw engine (CTranslate2 alone, best "
        "thread layout) on the same requests: the service's ratio to the naive loop says what the serving "
        "stack buys, its ratio to the raw engine what the serving layer costs. The seq2seq models are built "
        "from the hub checkpoints' configs with random weights (nothing is downloaded), so every generation "
        "is forced to a fixed length on both sides; the LLM is the packaged Qwen2.5-Coder-1.5B-Instruct with "
        "its real weights.",
        "",
    ]
    if partial:
        lines += [f"> Partial report ({partial}).", ""]
    if plan.quick:
        lines += [
            "> Smoke run (`--quick`): short outputs and one or a few requests per row. It shows that every "
            "path works, not how fast the service is; `make bench` on a quiet machine replaces this file.",
            "",
        ]
    device = (
        f"{plan.device} ({gpus} CUDA device{'s' if gpus != 1 else ''} visible)"
        if plan.device != "cpu"
        else (
            "CPU. No GPU is lent to this project now (CTranslate2 sees no CUDA device here); "
            "`bench/gpu_check.sh` runs the GPU section on a machine with one."
            if gpus == 0
            else f"CPU ({gpus} CUDA devices visible, unused: `bench/gpu_check.sh` measures them)"
        )
    )
    lines += [
        f"- Command: `{command}`",
        f"- Device: {device}",
        f"- Date: {date}; took {duration_s / 60:.1f} min",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['ram']} RAM, {machine['os']}, "
        f"Python {machine['python']}",
        f"- Libraries: torch {machine['torch']}, ctranslate2 {machine['ctranslate2']}, "
        f"transformers {machine['transformers']}, grpcio {machine['grpc']}",
        f"- Load average (1, 5, 15 min) at start: {load[0]}; at end: {load[1]}; by section (start → end): "
        + "; ".join(
            f"{name} {sec.load[0]} → {sec.load[1]} ({sec.duration_s / 60:.1f} min)"
            for name, sec in sections.items()
        )
        + f". With {machine['nproc']} CPUs, a 1-minute load well above {machine['nproc']} means other work "
        "shared the machine: the figures are noisy, and ratios (which share the noise) say more than "
        "absolute times.",
        "",
    ]
    for table in tables(sections):
        lines += [table.markdown(), ""]
    lines += [targets_table_of(targets(sections)).markdown(), ""]
    notes = warnings(sections)
    if notes:
        lines += ["### Warnings", ""] + [f"- {n}" for n in notes] + [""]
    problems = errors(sections)
    if problems:
        lines += ["### Not measured", ""] + [f"- {p}" for p in problems] + [""]
    lines += [
        "### How it was measured",
        "",
        "- Baseline: `AutoModelForSeq2SeqLM` / `AutoModelForCausalLM` in fp32, greedy `generate()` with "
        "`min_new_tokens = max_new_tokens` for the seq2seq models, on as many torch threads as the server "
        "gets (one per core). Long articles: windows of the model's input size, each summarized, then the "
        "partial summaries summarized.",
        "- Service: `python -m service --profile-file <toml>` started by the benchmark on 127.0.0.1 with "
        "a free port; the profile points at the built model folders and sets `force_output_tokens`. "
        "Requests go through `summarizer_client`; concurrency is that many client threads on one channel. "
        "The server runs with its default settings (one inference thread per core, default admission "
        "limits), except that the random-weight sections turn translation repairs off "
        "(`--max-repair-attempts 0`): noise fails every integrity check, and a repair translates again, "
        "work the baseline does not do.",
        "- Raw engine: `ctranslate2.Translator` / `Generator` on the same converted model (the service's own "
        "conversion of the LLM; the seq2seq folders converted with the service's converter), the same token "
        "rows and decoding options, in a child process that imports no torch, without the service's step "
        "callback. Each level tries one batch on every core (1 x cores) and one batch per core side by side "
        "(cores x 1), the rows in flight shared among the batches; callers form a closed loop, like the "
        "clients." + ("" if plan.quick else " Every level runs at least ten batches' worth of requests."),
        "- Every request text is unique (it carries an index), so a result cache cannot answer a throughput "
        "run; the repeated-request table measures the cache on its own.",
        "- tokens/s = generated tokens of the completed requests / wall time from the first send to the last "
        "answer; p50 and p95 are per-request latencies.",
        "- Model folders are cached under `~/.cache/summarizer/bench` and converted CTranslate2 models under "
        "the service's cache; a second run rebuilds nothing.",
        "",
    ]
    return "\n".join(lines)

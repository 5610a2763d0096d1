"""What bench.engine reads from CTranslate2's log and the CPU, and how it picks a configuration."""

from __future__ import annotations

from bench.engine import (
    CPU_BACKENDS,
    Backend,
    Cell,
    Config,
    VariantResult,
    backend_report,
    configurations,
    cpu_flags,
    describe_report,
    findings,
    pick,
    prompt_rows_cut,
    verdict,
)

_PREFIX = "[2026-11-30 08:23:55.943] [ctranslate2] [thread 30371] [info] "
VERBOSE_LOG = "\n".join(
    _PREFIX + line
    for line in (
        "CPU: GenuineIntel (SSE4.1=true, AVX=true, AVX2=true, AVX512=true)",
        " - Selected ISA: AVX2",
        " - Use Intel MKL: true",
        " - SGEMM backend: MKL (packed: true)",
        " - GEMM_S16 backend: MKL (packed: false)",
        " - GEMM_S8 backend: DNNL (packed: false, u8s8 preferred: true)",
        "Loaded model /m on device cpu:0",
        " - Selected compute type: int8_float32",
        " - Selected compute type: float32",
    )
)


def test_backend_report_reads_what_ctranslate2_selected() -> None:
    report = backend_report(VERBOSE_LOG)
    assert report["isa"] == "AVX2"
    assert report["mkl"] == "true"
    assert report["sgemm"] == "MKL, packed"
    assert report["gemm_s16"] == "MKL"
    assert report["gemm_s8"] == "DNNL"
    assert report["compute_type"] == "int8_float32"  # the first model's, not a later line's
    assert "GenuineIntel" in report["cpu"]
    assert describe_report(report) == "ISA AVX2; int8 GEMM DNNL; fp32 GEMM MKL, packed; computes int8_float32"
    assert backend_report("no report here") == {}
    assert describe_report({}) == "–"


def test_cpu_flags_keeps_the_ones_that_decide_the_kernels_in_order() -> None:
    cpuinfo = "processor\t: 0\nflags\t\t: fpu sse avx2 amx_int8 avx512f avx512_vnni foo\nbugs\t: none\n"
    assert cpu_flags(cpuinfo) == ["avx2", "avx512f", "avx512_vnni", "amx_int8"]
    assert cpu_flags("nothing") == []


def test_configurations_cover_every_backend_then_every_compute_type_once() -> None:
    configs = configurations("cpu", ("int8", "int8_float32", "float32"))
    assert [c.backend.name for c in configs[: len(CPU_BACKENDS)]] == [b.name for b in CPU_BACKENDS]
    assert all(c.compute_type == "int8" for c in configs[: len(CPU_BACKENDS)])
    assert [c.compute_type for c in configs[len(CPU_BACKENDS) :]] == ["int8_float32", "float32"]
    assert configs[0].backend.env == {}  # the first is the default: the reference of every ratio
    gpu = configurations("cuda", ("float16", "int8_float16"))
    assert [(c.backend.name, c.compute_type) for c in gpu] == [
        ("default", "float16"),
        ("default", "int8_float16"),
    ]


def _cell(name: str, env: dict[str, str], rates: list[float], report: dict[str, str] | None = None) -> Cell:
    return Cell(Config(Backend(name, env), "int8"), {"tokens/s": rates}, report or {})


def test_pick_keeps_the_default_unless_another_is_clearly_faster() -> None:
    default = _cell("default", {}, [100.0, 102.0, 98.0])
    close = _cell("close", {"X": "1"}, [103.0, 104.0, 102.0])
    chosen, why = pick([default, close], "tokens/s")
    assert chosen is default and "within the noise" in why
    fast = _cell("fast", {"Y": "0"}, [130.0, 125.0, 128.0])
    chosen, why = pick([default, close, fast], "tokens/s")
    assert chosen is fast and why.startswith("28% faster")
    broken = Cell(Config(Backend("broken", {}), "int8_bfloat16"), error="ValueError: not supported")
    chosen, _ = pick([default, broken], "tokens/s")
    assert chosen is default


def test_findings_say_when_a_variable_changes_nothing() -> None:
    report = {"gemm_s8": "MKL, packed", "compute_type": "int8_float32"}
    default = _cell("default", {}, [100.0], report)
    upstream = _cell(
        "upstream packed-GEMM variable", {"CT2_USE_EXPERIMENTAL_PACKED_GEMM": "1"}, [99.0], report
    )
    lines = findings([default, upstream], "tokens/s")
    assert lines[0].startswith("Pick: **default, int8**")
    assert any("ran as `int8_float32`" in line for line in lines)
    assert any("reads `CT2_PACKED_GEMM`" in line and "already its default" in line for line in lines)


def test_verdict_names_the_options_that_cost_more_than_the_noise() -> None:
    results = [
        VariantResult("plain: no callback, no penalty", "1x2", [10.0, 10.0]),  # 100 ms per step
        VariantResult("+ Python step callback", "1x2", [9.98]),  # 0.2 ms: noise
        VariantResult("+ repetition penalty 1.05", "1x2", [8.0]),  # 125 ms: +25%
    ]
    lines = verdict(results)
    assert lines == ["1x2: + repetition penalty 1.05 costs +25.0 ms per step (+25%)."]
    quiet = verdict(results[:2])
    assert quiet == ["1x2: no option costs more than 5% of a step over the plain call."]


def test_prompt_rows_cut_to_the_shortest_keeps_each_opening() -> None:
    rows = [["a", "b", "c"], ["d", "e"], ["f", "g", "h", "i"]]
    assert prompt_rows_cut(rows) == [["a", "b"], ["d", "e"], ["f", "g"]]
    assert rows[0] == ["a", "b", "c"]  # the rows themselves are left alone


def test_verdict_speaks_of_each_thread_layout_on_its_own() -> None:
    results = [
        VariantResult("plain: no callback, no penalty", "1x1", [5.0]),
        VariantResult("+ Python step callback", "1x1", [4.0]),  # 250 ms against 200: +25%
        VariantResult("plain: no callback, no penalty", "1x2", [10.0]),
        VariantResult("+ Python step callback", "1x2", [10.0]),
    ]
    assert verdict(results) == [
        "1x1: + Python step callback costs +50.0 ms per step (+25%).",
        "1x2: no option costs more than 5% of a step over the plain call.",
    ]

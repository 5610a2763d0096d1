"""How a CTranslate2 model spreads its threads: how many batches decode side by side (`inter`, CTranslate2's
replicas, which share one copy of the weights) and how many threads each batch runs on (`intra`).

The choice is made per model when it loads, in this order:

1. The model spec's options `inter_threads` and `intra_threads` (both, or one with the other derived).
2. `thread_layout = "measure"`: each candidate layout decodes the same warm-up batches side by side and
   the one with the most tokens per second wins (a few seconds at start, once per process).
3. The rule below, from measurements of raw CTranslate2 int8 on a 2-core x86 machine (full-size shapes):
   - on a GPU: one batch at a time (`1 x 1`); the device does the parallel work;
   - an encoder-decoder of width 512 or less (Marian) on the CPU: one batch per core, one thread each
     (`cores x 1`). At 16-row batches the Marian decoder gained nothing from a second core inside one
     batch, while two batches side by side nearly doubled its tokens per second (2,200 against
     1,150-1,240);
   - a wider encoder-decoder (DistilBART, width 1,024) on the CPU: one batch on every core (`1 x cores`).
     Its steps are large enough to share between cores: in the benchmark's raw engine, one batch on two
     cores made 61-75 tokens/s for one request against 40 for one core each, and 157-177 against 134-148
     for four; in the server, a one-row summary took 1.44 s against 1.78-2.0 s;
   - a decoder-only chat model on the CPU: one batch on every core (`1 x cores`). Its requests come one
     or a few at a time and wait on a single sequence's decoding, which a second core speeds up (9.3
     tokens/s on two cores); two batches side by side pay off only under a steady concurrent load
     (37 tokens/s against 26-28 for batches of four), which a profile can ask for with the options.

Plain data and arithmetic: no runtime is imported here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import ModelLoadError

log = logging.getLogger(__name__)

MEASURE = "measure"
RULE = "rule"


@dataclass(frozen=True)
class ThreadLayout:
    inter: int  # batches decoded side by side
    intra: int  # threads per batch
    how: str = RULE  # "options", "measure" or "rule": how it was chosen

    def __str__(self) -> str:
        return f"{self.inter}x{self.intra}"


# The widest encoder-decoder (hidden size) that the rule runs as one batch per core.
SIDE_BY_SIDE_MAX_WIDTH = 512


def rule_layout(cores: int, device: str, *, encoder_decoder: bool, width: int | None = None) -> ThreadLayout:
    """The documented default for a model of this kind (and hidden size, when known) on `cores` CPU
    threads (see the module docstring)."""
    cores = max(1, cores)
    if device != "cpu":
        return ThreadLayout(1, 1)
    if encoder_decoder and (width is None or width <= SIDE_BY_SIDE_MAX_WIDTH):
        return ThreadLayout(cores, 1)
    return ThreadLayout(1, cores)


def candidate_layouts(cores: int) -> list[ThreadLayout]:
    """The layouts a measurement compares: every split of `cores` into whole batches x threads."""
    cores = max(1, cores)
    return [
        ThreadLayout(inter, cores // inter, MEASURE) for inter in range(1, cores + 1) if cores % inter == 0
    ]


def configured_layout(
    model: str,
    spec_options: Mapping[str, Any],
    cores: int,
    device: str,
    *,
    encoder_decoder: bool,
    width: int | None = None,
) -> ThreadLayout | None:
    """The layout the spec's options fix, the rule's when they ask for none, or None when they ask for a
    measurement (`thread_layout = "measure"`)."""
    mode = str(spec_options.get("thread_layout", RULE))
    inter: Any = spec_options.get("inter_threads")
    intra: Any = spec_options.get("intra_threads")
    if mode not in (RULE, MEASURE):
        raise ModelLoadError(f'model {model!r}: thread_layout must be "rule" or "measure", not {mode!r}')
    if inter is None and intra is None:
        return (
            None
            if mode == MEASURE and device == "cpu"
            else rule_layout(cores, device, encoder_decoder=encoder_decoder, width=width)
        )
    if mode == MEASURE:
        raise ModelLoadError(
            f'model {model!r}: thread_layout = "measure" excludes inter_threads/intra_threads'
        )
    try:
        inter_n = int(inter) if inter is not None else max(1, cores // int(intra))
        intra_n = int(intra) if intra is not None else max(1, cores // inter_n)
    except (TypeError, ValueError, ZeroDivisionError) as err:
        raise ModelLoadError(
            f"model {model!r}: inter_threads and intra_threads must be whole numbers"
        ) from err
    if inter_n < 1 or intra_n < 1:
        raise ModelLoadError(f"model {model!r}: inter_threads and intra_threads must be at least 1")
    return ThreadLayout(inter_n, intra_n, "options")


def fastest_layout(
    candidates: Sequence[ThreadLayout], tokens_per_s: Callable[[ThreadLayout], float]
) -> tuple[ThreadLayout, dict[str, float]]:
    """The candidate with the most tokens per second, and every candidate's figure. A tie within 3% goes
    to the earlier candidate (fewer batches side by side: less memory, lower latency for one request)."""
    if not candidates:
        raise ValueError("no layout to measure")
    figures: dict[str, float] = {}
    best = candidates[0]
    for layout in candidates:
        figures[str(layout)] = rate = tokens_per_s(layout)
        if rate > figures[str(best)] * 1.03:
            best = layout
    return best, figures


def as_layout(threads: int | ThreadLayout) -> ThreadLayout:
    return threads if isinstance(threads, ThreadLayout) else ThreadLayout(1, max(0, threads))


def choose_layout(
    model: str,
    spec_options: Any,
    threads: int,
    device: str,
    *,
    encoder_decoder: bool,
    measure: Callable[[ThreadLayout], float],
    width: int | None = None,
) -> ThreadLayout:
    """The model's thread layout: from its options or the rule, or, when its options ask for it, the
    fastest candidate by `measure` (tokens per second) on this machine."""
    layout = configured_layout(
        model, spec_options, threads, device, encoder_decoder=encoder_decoder, width=width
    )
    if layout is not None:
        return layout
    started = time.perf_counter()
    best, figures = fastest_layout(candidate_layouts(threads), measure)
    log.info(
        "model %s: thread layouts measured in %.1f s (tokens/s): %s",
        model,
        time.perf_counter() - started,
        ", ".join(f"{name} {rate:.0f}" for name, rate in figures.items()),
    )
    return best


def layout_once(
    model: str,
    spec_options: Any,
    threads: int,
    device: str,
    *,
    encoder_decoder: bool,
    measure: Callable[[Path, ThreadLayout], float],
    width: int | None = None,
) -> Callable[[Path], ThreadLayout]:
    """`choose_layout` for a runtime opened from a folder, decided once per load (the runtime may be opened
    again after a conversion): `measure(folder, candidate)` gives a candidate's tokens per second."""
    chosen: list[ThreadLayout] = []

    def layout(folder: Path) -> ThreadLayout:
        if not chosen:
            chosen.append(
                choose_layout(
                    model,
                    spec_options,
                    threads,
                    device,
                    encoder_decoder=encoder_decoder,
                    measure=lambda candidate: measure(folder, candidate),
                    width=width,
                )
            )
        return chosen[0]

    return layout

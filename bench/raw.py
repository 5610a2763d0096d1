"""The raw-engine rows of the load tables: CTranslate2 alone on the service's model and the service's inputs.

For each concurrency level the service was measured at, the same requests (same texts, same forced output
length, same decoding options) go straight to `ctranslate2.Translator` / `Generator` in a child process
(`bench.raw_engine`), once per thread layout (`cpu_layouts`: one batch on every core, and one batch per
core). The best layout is the engine's ceiling there, and service / best raw is the serving layer's
efficiency.

This side tokenizes (transformers, in the parent) and converts the random-weight seq2seq folders once with
the service's own converter; the child only decodes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.perf import Run
from bench.raw_engine import EngineError, cpu_layouts, layout_plan, run_job
from service.models.thread_layout import ThreadLayout

log = logging.getLogger(__name__)


@dataclass
class RawLevel:
    """The raw engine at one concurrency level: a run per layout, or why a layout could not run."""

    concurrency: int
    runs: dict[str, Run] = field(default_factory=dict)  # layout name -> run
    failed: dict[str, str] = field(default_factory=dict)
    torch_imported: bool = False  # set if any child imported torch (it must not)

    @property
    def best(self) -> tuple[str, Run] | None:
        measured = [(name, run) for name, run in self.runs.items() if run.tokens_per_s == run.tokens_per_s]
        return max(measured, key=lambda item: item[1].tokens_per_s) if measured else None


def layouts_for(device: str) -> list[ThreadLayout]:
    """Thread layouts to try: on the CPU one batch on every core and one batch per core; on a GPU one
    replica and two (two batches in flight on the one device)."""
    if device.startswith("cuda"):
        return [ThreadLayout(1, 1), ThreadLayout(2, 1)]
    return cpu_layouts(len(os.sched_getaffinity(0)))


# -- models and inputs -----------------------------------------------------------------------------------


def converted_seq2seq(hf_folder: Path, cache_dir: Path, quantization: str = "int8") -> Path:
    """The CTranslate2 conversion of a built encoder-decoder folder, made once with the service's converter
    (the same bytes the service loads) and kept beside the folder."""
    from service.models.convert_cache import build_once
    from service.models.ct2_convert import CONVERSION_REVISION, convert_checkpoint

    target = cache_dir / f"{hf_folder.name}-ct2-{quantization}-r{CONVERSION_REVISION}"

    def build(tmp: Path) -> None:
        log.info("converting %s for the raw engine runs (once)", hf_folder.name)
        convert_checkpoint(hf_folder, tmp, quantization, encoder_decoder=True)

    build_once(target, build)
    return target


class Seq2SeqInputs:
    """Source token rows and the decoding options the service's CTranslate2 runtime uses
    (service.models.ct2_runtime.TranslatorRuntime), less its step callback."""

    def __init__(self, hf_folder: Path) -> None:
        from transformers import AutoTokenizer, GenerationConfig

        from service.models.ct2_runtime import search_options

        self.tokenizer: Any = AutoTokenizer.from_pretrained(hf_folder)
        self.limit = int(json.loads((hf_folder / "config.json").read_text())["max_position_embeddings"])
        generation = GenerationConfig.from_pretrained(hf_folder)
        self.options = search_options(generation)
        forced_bos = generation.forced_bos_token_id
        # The checkpoint's own first output token (BART's <s>); Marian en->de forces none.
        self.prefix = [] if forced_bos is None else self.tokenizer.convert_ids_to_tokens([forced_bos])

    def rows(self, texts: Sequence[str]) -> list[list[str]]:
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.limit)["input_ids"]
        return [list(self.tokenizer.convert_ids_to_tokens(row)) for row in ids]

    def job_run(self, texts: Sequence[str], tokens: int) -> dict[str, Any]:
        """One run's rows, prefixes and options: greedy, forced to `tokens` output tokens (prefix included,
        as the service counts them)."""
        return {
            "rows": self.rows(texts),
            "prefixes": [self.prefix] * len(texts) if self.prefix else None,
            "options": {
                "beam_size": 1,
                "max_decoding_length": tokens,
                "min_decoding_length": tokens,
                "max_input_length": 0,
                "return_scores": True,  # the service reads each output's mean log-probability
                **self.options,
            },
        }


def common_prefix(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """The longest shared opening of two token sequences."""
    length = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return list(a[:length])


class LLMInputs:
    """Chat prompts as the service builds them for a summary, split into the static part every prompt shares
    (which the service hands CTranslate2 as its cached static prompt) and the rest, with the decoding options
    of service.models.ct2_runtime.GeneratorRuntime, less its step callback."""

    def __init__(self, hf_folder: Path, ct2_folder: Path, repetition_penalty: float) -> None:
        from service.models.hf_files import load_tokenizer

        self.tokenizer: Any = load_tokenizer(hf_folder)
        self.vocabulary: list[str] = json.loads((ct2_folder / "vocabulary.json").read_text(encoding="utf-8"))
        self.repetition_penalty = repetition_penalty
        generation = json.loads((hf_folder / "generation_config.json").read_text(encoding="utf-8"))
        eos = generation.get("eos_token_id")
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in eos_ids:
            eos_ids.insert(0, self.tokenizer.eos_token_id)
        self.end_tokens = [self.vocabulary[i] for i in eos_ids]
        self.static = common_prefix(self.prompt_ids("Alpha beta."), self.prompt_ids("Omega psi."))

    def prompt_ids(self, article: str, language: str = "en", sentences: int = 3) -> list[int]:
        """The summary prompt in the style the service takes for `language`."""
        from service.models.llm_prompts import DEFAULT_SUMMARY_STYLES, style_for, summarize_messages

        style = style_for(DEFAULT_SUMMARY_STYLES, language)
        return self.chat_ids(summarize_messages(article, language, sentences, style=style))

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """A conversation's token ids in the model's chat template, ready for the answer."""
        ids: Any = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.vocabulary[i] for i in ids]

    def job_run(
        self, articles: Sequence[str], new_tokens: int, *, static: bool = True, **overrides: Any
    ) -> dict[str, Any]:
        """One run: each article's prompt (less the static part when `static`), greedy, exactly
        `new_tokens` new tokens."""
        rows = []
        for article in articles:
            ids = self.prompt_ids(article)
            if static and ids[: len(self.static)] == self.static:
                ids = ids[len(self.static) :]
            rows.append(self.tokens(ids))
        options: dict[str, Any] = {
            "max_length": new_tokens,
            "min_length": new_tokens,
            "sampling_topk": 1,
            "repetition_penalty": self.repetition_penalty,
            "include_prompt_in_result": False,
            "end_token": self.end_tokens,
            "return_scores": True,  # the service reads each output's mean log-probability
        }
        if static:
            options["cache_static_prompt"] = True
        options.update(overrides)
        return {
            "rows": rows,
            "options": options,
            "static_prompt": self.tokens(self.static) if static else None,
        }


# -- the runs ----------------------------------------------------------------------------------------------


def _as_run(label: str, concurrency: int, result: dict[str, Any]) -> Run:
    latencies = [float(x) for x in result["latencies"] if x == x]
    return Run(
        label,
        concurrency,
        len(result["latencies"]),
        latencies=latencies,
        tokens=int(result["tokens"]),
        wall_s=float(result["wall_s"]),
    )


def measure_level(
    *,
    model: Path,
    kind: str,
    run: dict[str, Any],
    concurrency: int,
    device: str,
    compute_type: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 3600.0,
) -> RawLevel:
    """The raw engine on `run` (rows and options) at `concurrency`, once per layout, each in a fresh child."""
    level = RawLevel(concurrency)
    kind_device, _, index = device.partition(":")
    for layout in layouts_for(device):
        batch, in_flight = layout_plan(concurrency, layout.inter)
        label = f"raw CTranslate2 {compute_type}, {str(layout)}: " + (
            f"{in_flight} batches of {batch} side by side" if in_flight > 1 else f"batches of {batch}"
        )
        job = {
            "model": str(model),
            "kind": kind,
            "device": kind_device,
            "device_index": int(index or 0),
            "compute_type": compute_type,
            "inter_threads": layout.inter,
            "intra_threads": layout.intra,
            "runs": [{**run, "label": label, "batch_size": batch, "in_flight": in_flight}],
        }
        try:
            result = run_job(job, env=env, timeout_s=timeout_s)
        except EngineError as exc:
            log.warning("%s at concurrency %d: %s", str(layout), concurrency, exc)
            level.failed[str(layout)] = str(exc).splitlines()[0]
            continue
        level.torch_imported |= bool(result.get("torch_imported"))
        measured = level.runs[str(layout)] = _as_run(label, concurrency, result["runs"][0])
        log.info(
            "%s, concurrency %d: %d rows in %.1f s, %.1f tokens/s (model load %.1f s)",
            label,
            concurrency,
            measured.planned,
            measured.wall_s,
            measured.tokens_per_s,
            result["load_s"],
        )
    return level

"""The chat model on CTranslate2: how its runtime is opened for one load.

Its batching policy (a token cap from the memory a batch may use and the prompt length, prompts of similar
length together), its thread layout (service/models/thread_layout.py), and its conversion from the HF
folder into the cache (service/models/ct2_convert.py): trusted only after its greedy output matches
transformers' on a probe, then fingerprinted so that later starts check the probe instead of converting.
No torch here, except for that reference run of a first conversion.
"""

from __future__ import annotations

from pathlib import Path

from service.errors import ModelLoadError
from service.models import options
from service.models.base import LoadContext, ModelSpec
from service.models.batch_costs import batch_token_cap
from service.models.batching import BatchPolicy
from service.models.ct2_convert import GreedyTokens, Integrity, load_converted, probe_key
from service.models.ct2_runtime import (
    GENERATOR_PROMPT_SPREAD,
    GENERATOR_STEP_PROMPTS,
    GeneratorRuntime,
)
from service.models.hf_files import read_config
from service.models.thread_layout import layout_once

PROBE_PROMPT = (
    "Summarize in one sentence: The city council approved a new budget for public transport on Monday."
)
# Greedy tokens of the probe that a start compares with the conversion's record (with their log-probabilities
# and the prompt's). Each is a decoding step of every start: 0.2 s for Qwen2.5-1.5B on a busy two-core CPU.
PROBE_STEPS = 4
# About how many tokens the chat template and the instruction add to a text.
PROMPT_OVERHEAD_TOKENS = 128


def start_generator(
    spec: ModelSpec,
    context: LoadContext,
    folder: Path,
    entry: Path,
    *,
    probe: list[int],
    eos_ids: list[int],
    repetition_penalty: float,
    row_tokens: int,
) -> GeneratorRuntime:
    """The CTranslate2 runtime of `spec`, converting the HF `folder` into the cache `entry` first unless it
    is there. `probe`: the probe prompt's ids in the chat template; `row_tokens`: the longest prompt."""
    name = spec.name
    compute_type = options.compute_type(spec, context.device)
    quantization = options.stored_quantization(compute_type)
    memory_cap = batch_token_cap(context.batch_memory_bytes, read_config(folder), row_tokens)
    batching = BatchPolicy.from_options(
        name,
        spec.options,
        max_tokens=min(memory_cap or BatchPolicy.max_tokens, GENERATOR_STEP_PROMPTS * row_tokens),
        prompt_spread=GENERATOR_PROMPT_SPREAD,
    )
    target = entry / f"ct2-{quantization}"
    if options.converted_folder(spec) is not None and not target.is_dir():
        raise ModelLoadError(f"model {name}: converted_folder holds no {target.name}")
    threads = context.threads

    def reference(prompt: list[int], steps: int) -> list[int]:
        from service.models.llm_torch import TorchRuntime  # a first conversion's check only

        runtime = TorchRuntime(folder, device="cpu", threads=threads, eos_ids=eos_ids, repetition_penalty=1.0)
        return runtime.generate([prompt], steps, None)[0]

    layout = layout_once(
        name,
        spec.options,
        threads,
        context.device,
        encoder_decoder=False,
        measure=lambda path, candidate: GeneratorRuntime.measure(
            path, probe, candidate, compute_type=compute_type
        ),
    )

    def open_runtime(path: Path) -> GeneratorRuntime:
        return GeneratorRuntime(
            path,
            device=context.device,
            compute_type=compute_type,
            threads=layout(path),
            eos_ids=eos_ids,
            repetition_penalty=repetition_penalty,
            batching=batching,
            label=name,
        )

    return load_converted(
        model=name,
        source=spec.source,
        hf_folder=folder,
        target=target,
        quantization=quantization,
        encoder_decoder=False,
        check=GreedyTokens(probe, eos_ids, reference, threads=threads),
        open_runtime=open_runtime,
        integrity=Integrity(
            lambda runtime: runtime.probe(probe, PROBE_STEPS),
            probe_key(context.device, compute_type),
            full=context.verify_models,
        ),
    )

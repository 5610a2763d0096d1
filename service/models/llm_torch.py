"""The llm backend's torch side: the transformers runtime (the reference) and the GGUF conversion.

`service.models.llm` imports this module only for a model on the transformers runtime, to convert a
GGUF file, or to check a CTranslate2 conversion; a server that serves converted models from the cache
on CTranslate2 never loads torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from service.errors import ModelLoadError
from service.models.decoding import ScoredIds
from service.models.torch_support import Stopping, use_threads


def dequantize_gguf(name: str, gguf: Path, folder: Path) -> None:
    """Write `gguf` into `folder` as a bf16 Hugging Face checkpoint with its tokenizer."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:
        raise ModelLoadError(f"model {name}: cannot read GGUF {gguf}: {exc}") from exc
    # The dequantized weights are plain tensors now; drop the GGUF quantization marker so
    # that the folder saves and loads like any other checkpoint.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = name
    model.to(torch.bfloat16).save_pretrained(folder)  # type: ignore[arg-type]
    tokenizer.save_pretrained(folder)


class TorchRuntime:
    """The reference runtime: transformers generate(), one sequence at a time, one call at a time."""

    name = "transformers"

    def __init__(
        self,
        folder: Path,
        *,
        device: str,
        threads: int,
        eos_ids: Sequence[int],
        repetition_penalty: float,
    ) -> None:
        use_threads(threads)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        self.model.to(torch.device(device)).eval()  # type: ignore[arg-type]
        self.eos_ids = list(eos_ids)
        self.repetition_penalty = repetition_penalty
        self._lock = threading.Lock()  # torch already uses every core for one sequence
        self.min_new_tokens = 0  # the end token is held back until then (force_output_tokens)

    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        static: Sequence[int] = (),  # unused: each prompt is run whole
        finished: Callable[[list[int]], bool] | None = None,
    ) -> list[list[int]]:
        outputs: list[list[int]] = []
        for prompt in prompts:  # one at a time: no padding effects on the reference runtime
            stopping = Stopping(should_stop, finished, len(prompt))
            with self._lock, torch.inference_mode():
                ids = torch.tensor([prompt], dtype=torch.long, device=self.model.device)
                out: Any = self.model.generate(  # type: ignore[misc]
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=max_new_tokens,
                    min_new_tokens=min(self.min_new_tokens, max_new_tokens),
                    do_sample=False,
                    repetition_penalty=self.repetition_penalty,
                    eos_token_id=self.eos_ids,
                    pad_token_id=self.eos_ids[0],
                    stopping_criteria=stopping.criteria,
                    output_scores=True,
                    return_dict_in_generate=True,
                )
                model: Any = self.model
                steps = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
            stopping.raise_if_stopped()
            written = out.sequences[0, len(prompt) :].tolist()
            log_prob = float(steps[0, : len(written)].mean()) if written else None
            outputs.append(ScoredIds(written, log_prob))
        return outputs

"""The seq2seq backend's transformers runtime: the reference, and the only seq2seq part that imports torch.

`service.models.seq2seq` imports this module only for a model whose runtime is "transformers" (and to
check a CTranslate2 conversion), so a server whose models all run on CTranslate2 never loads torch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from service.models.base import LoadContext, ModelSpec
from service.models.decoding import Decode, ScoredIds, decoder_start, end_ids
from service.models.sources import load_failure, transformers_location
from service.models.torch_support import Stopping, use_threads


def load_model(spec: ModelSpec, context: LoadContext, *, forced_length: bool) -> tuple[Any, Any]:
    """Tokenizer and model, on the context's device, ready for TorchRuntime.

    `forced_length`: every generation will be held to one length (the benchmarks' forced output).
    """
    use_threads(context.threads)
    where = transformers_location(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=context.offline)
        model = AutoModelForSeq2SeqLM.from_pretrained(
            where, local_files_only=context.offline, dtype=torch.float32
        )
    except Exception as err:
        raise load_failure(spec, err) from err
    model.to(torch.device(context.device)).eval()
    # The service's GenerationParams decide output lengths. The checkpoint's own would be overridden
    # anyway, but generate() warns on every call while they are set.
    model.generation_config.max_length = None
    model.generation_config.min_length = None
    if forced_length:
        # The checkpoint's forced end token would take the last of the forced places.
        model.generation_config.forced_eos_token_id = None
    return tokenizer, model


def teacher_forced_scores(hf_folder: Path, source: list[int], output: list[int]) -> Any:
    """transformers' fp32 scores on the CPU (a numpy array, one row per output step) for `output` given
    `source`: the reference a CTranslate2 conversion is checked against."""
    model = AutoModelForSeq2SeqLM.from_pretrained(hf_folder, dtype=torch.float32).eval()
    decoder = [decoder_start(model.config, model.generation_config), *output[:-1]]
    with torch.inference_mode():
        logits = model(
            input_ids=torch.tensor([source]),
            attention_mask=torch.ones((1, len(source)), dtype=torch.long),
            decoder_input_ids=torch.tensor([decoder]),
        ).logits[0]
    return logits.float().numpy()


class TorchRuntime:
    """transformers' generate(): the reference. The checkpoint's generation config applies as it is."""

    name = "transformers"

    def __init__(self, model: Any, pad_id: int) -> None:
        self._model = model
        self._start = decoder_start(model.config, model.generation_config)
        self._end = end_ids(model.config, model.generation_config)
        self._pad = pad_id
        # One generate() at a time: torch already spreads one call over every core, and the
        # service's pipeline workers may call in concurrently.
        self._busy = threading.Lock()

    def generate(
        self, sources: Sequence[list[int]], prefixes: Sequence[list[int]], decode: Decode
    ) -> list[list[int]]:
        """Output ids per source, opening with its prefix, without the decoder start and end tokens.

        Every prefix in one call has the same length.
        """
        width = max(len(ids) for ids in sources)
        device = self._model.device
        input_ids = torch.tensor([ids + [self._pad] * (width - len(ids)) for ids in sources], device=device)
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in sources], device=device)
        forced = len(prefixes[0])
        decoder_ids = torch.tensor([[self._start, *prefix] for prefix in prefixes], device=device)
        stopping = Stopping(decode.should_stop)
        with self._busy, torch.inference_mode():
            out = self._model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                decoder_input_ids=decoder_ids,
                max_new_tokens=max(1, decode.max_tokens - forced),
                min_new_tokens=max(0, decode.min_tokens - forced),
                num_beams=decode.num_beams,
                do_sample=False,
                stopping_criteria=stopping.criteria,
                output_scores=True,
                return_dict_in_generate=True,
            )
            steps = token_log_probs(self._model, out, decode.num_beams)
        stopping.raise_if_stopped()
        rows: list[list[int]] = []
        for row, row_steps in zip(out.sequences.tolist(), steps.tolist(), strict=True):
            row = row[1:]
            end = next((i for i in range(forced, len(row)) if row[i] in self._end), len(row))
            written = end - forced + (1 if end < len(row) else 0)  # the end token is scored too
            log_prob = sum(row_steps[:written]) / written if written > 0 else None
            rows.append(ScoredIds(row[:end], log_prob))
        return rows


def token_log_probs(model: Any, out: Any, beams: int) -> Any:
    """The log-probability of each generated token (batch x steps), from generate()'s scores.

    Greedy scores are the processed logits, normalised here; beam search's are log-probabilities
    already, followed along each hypothesis' beams.
    """
    if beams > 1:
        return model.compute_transition_scores(
            out.sequences, out.scores, out.beam_indices, normalize_logits=False
        )
    return model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)

"""What a batch costs before it decodes: the memory its prompts need, and the time to read them.

Both bound the one step of a batch that no stop signal can interrupt, reading its prompts:
- `batch_token_cap` turns the memory one batch may use into a prompt-token cap, from an estimate of the
  working memory per prompt token that the model's config gives (`working_set_per_token`);
- `PromptRate` learns how fast recent batches read their prompts, so that a job whose caller's deadline
  comes before its prompt would be read is refused rather than computed for nobody (`late_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Prompt tokens per batch when nothing narrower is configured or derived from memory.
DEFAULT_MAX_TOKENS = 32_768
# Bytes per prompt token assumed for a model whose config does not give its dimensions.
_UNKNOWN_BYTES_PER_TOKEN = 512 * 1024
# Weight of the newest batch in the estimate of how fast prompts are read.
_RATE_WEIGHT = 0.3
# Batches with fewer prompt tokens say little about the rate: fixed costs dominate their time.
_RATE_MIN_TOKENS = 256
# Reading a prompt costs more per token the longer it is (attention): a prompt of n tokens is counted as
# n * (1 + n / _ATTENTION_TOKENS). Fitted on SmolLM2-135M (CTranslate2 int8, 2 cores): 0.36 s for 256
# tokens, 0.68 s for 512, 4.9 s for 1,536 and 30 s for 4,096.
_ATTENTION_TOKENS = 256


def tokens_within(memory_bytes: int, bytes_per_token: int, row_tokens: int) -> int:
    """The prompt tokens a batch may hold in `memory_bytes` at `bytes_per_token`: never fewer than one full
    row (`row_tokens`: a batch of one always runs), never more than the default cap."""
    fitting = memory_bytes // max(1, bytes_per_token)
    return int(min(DEFAULT_MAX_TOKENS, max(row_tokens, fitting)))


def working_set_per_token(config: Any, row_tokens: int) -> int:
    """Estimated peak working memory of a CTranslate2 batch per prompt token (float32 activations), from
    the model's Hugging Face config, for prompts of up to `row_tokens` tokens:

    - the key/value cache: two vectors of the model's width per (decoder) layer, kept while it generates;
    - one layer's attention scores: `row_tokens` per head, and its feed-forward activations;
    - a few more vectors of the model's width.

    Against peak RSS over the loaded model (int8 on the CPU, freed memory returned to the system): one
    1,536-token prompt takes 337 MB on SmolLM2-135M (estimate 336 MB), 766 MB on Qwen2.5-1.5B (808 MB);
    768 tokens on Qwen take 411 MB (385 MB). Beam search multiplies the cache; it is not counted here.
    """
    width = model_width(config)
    layers = _dimension(config, "num_hidden_layers", "decoder_layers", "num_decoder_layers", "n_layer")
    if width is None or layers is None:
        return _UNKNOWN_BYTES_PER_TOKEN
    heads = _dimension(config, "num_attention_heads", "decoder_attention_heads", "num_heads", "n_head") or 1
    ffn = _dimension(config, "intermediate_size", "decoder_ffn_dim", "d_ff", "n_inner") or 4 * width
    floats = 2 * layers * width + heads * row_tokens + 2 * ffn + 8 * width
    return 4 * floats


def batch_token_cap(memory_bytes: int | None, config: Any, row_tokens: int) -> int | None:
    """The prompt tokens a batch may hold in `memory_bytes` (None: no memory limit, the batching default)."""
    if memory_bytes is None:
        return None
    return tokens_within(memory_bytes, working_set_per_token(config, row_tokens), row_tokens)


def model_width(config: Any) -> int | None:
    """The model's hidden size, as its config names it (None when it does not say)."""
    return _dimension(config, "hidden_size", "d_model", "n_embd")


def _dimension(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class PromptRate:
    """How long a batch takes to read its prompts: a moving average over recent batches, per unit of
    reading cost (longer prompts cost more per token)."""

    def __init__(self) -> None:
        self.seconds_per_unit = 0.0  # unknown until a batch has been measured

    @staticmethod
    def cost(lengths: Sequence[int]) -> float:
        return sum(n * (1 + n / _ATTENTION_TOKENS) for n in lengths)

    def note(self, lengths: Sequence[int], seconds: float) -> None:
        if sum(lengths) < _RATE_MIN_TOKENS or seconds <= 0:
            return
        rate = seconds / self.cost(lengths)
        if self.seconds_per_unit == 0.0:
            self.seconds_per_unit = rate
        else:
            self.seconds_per_unit += _RATE_WEIGHT * (rate - self.seconds_per_unit)

    def estimate(self, lengths: Sequence[int]) -> float:
        return self.seconds_per_unit * self.cost(lengths)

    def late_rows(self, lengths: Sequence[int], deadlines: Sequence[float | None], now: float) -> set[int]:
        """The rows (indices) whose callers' deadlines come before a batch of prompts of `lengths` would
        have read them, from `now` (time.monotonic()). They are taken out earliest deadline first, each
        time with the estimate redone for the smaller batch."""
        live = dict(enumerate(lengths))
        late: set[int] = set()
        while live:
            done_reading = now + self.estimate(list(live.values()))
            over = [
                row for row in live if (deadline := deadlines[row]) is not None and deadline < done_reading
            ]
            if not over:
                break
            earliest = min(over, key=lambda row: deadlines[row] or 0.0)
            late.add(earliest)
            del live[earliest]
        return late

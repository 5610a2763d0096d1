"""What one generate call is for and how it decodes: the plain data and interfaces every runtime shares.

A backend builds token ids and hands them to a runtime (transformers or CTranslate2) through one of the two
interfaces here: `Seq2SeqRuntime` for encoder-decoders, `CausalRuntime` for decoder-only chat models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from service.errors import ModelLoadError, RequestCancelledError
from service.models.base import SUMMARIZE, TRANSLATE


@dataclass(frozen=True)
class Request:
    """What one generate call is for: a summary (source == target) or a translation."""

    task: str
    source: str
    target: str

    @classmethod
    def summary(cls, language: str) -> Request:
        return cls(SUMMARIZE, language, language)

    @classmethod
    def translation(cls, source: str, target: str) -> Request:
        return cls(TRANSLATE, source, target)


class ScoredIds(list[int]):
    """Output token ids that also carry the mean log-probability per token the model gave them.

    Everywhere else a plain list of ids (it compares equal to one); `log_prob` is None when the
    runtime could not tell. Runtimes return these, so that scores travel with the ids they belong to.
    """

    log_prob: float | None

    def __init__(self, ids: Iterable[int] = (), log_prob: float | None = None) -> None:
        super().__init__(ids)
        self.log_prob = log_prob


def log_prob_of(ids: Sequence[int]) -> float | None:
    """The mean log-probability `ids` carry, if they are ScoredIds."""
    return ids.log_prob if isinstance(ids, ScoredIds) else None


def first_ids(ids: Sequence[int], count: int) -> list[int]:
    """The first `count` ids, keeping the score of the whole (a budget cut after the fact)."""
    if len(ids) <= count:
        return list(ids) if not isinstance(ids, ScoredIds) else ids
    return ScoredIds(ids[:count], log_prob_of(ids))


def mean_log_prob(score: float, length: int, length_penalty: float = 1.0, forced: int = 0) -> float:
    """CTranslate2's hypothesis score as the mean log-probability per token the model wrote.

    The score is the sum of the written tokens' log-probabilities (the end token's included) divided
    by length ** length_penalty, where `length` also counts the `forced` prefix tokens, which add
    nothing to the sum.
    """
    length = max(1, length)
    return score * length**length_penalty / max(1, length - forced)


@dataclass(frozen=True)
class Decode:
    """One seq2seq generate call's controls. Lengths count output tokens, the forced prefix included."""

    max_tokens: int
    min_tokens: int
    num_beams: int
    should_stop: Callable[[], bool] | None


def generation_stopped() -> RequestCancelledError:
    """The error a runtime raises when a caller's `should_stop` ended its generation."""
    return RequestCancelledError("generation stopped: the request was cancelled or its deadline passed")


def decoder_start(config: Any, generation: Any) -> int:
    """The token an encoder-decoder's output starts from, from the generation config or the model config."""
    start = generation.decoder_start_token_id
    if start is None:
        start = config.decoder_start_token_id
    if start is None:
        raise ModelLoadError(f"{config.model_type} checkpoint names no decoder start token")
    return int(start)


def end_ids(config: Any, generation: Any) -> frozenset[int]:
    """The tokens that end an output."""
    ids = generation.eos_token_id if generation.eos_token_id is not None else config.eos_token_id
    if ids is None:
        return frozenset()
    return frozenset([int(ids)] if isinstance(ids, int) else (int(i) for i in ids))


class Seq2SeqRuntime(Protocol):
    name: str

    def generate(
        self, sources: Sequence[list[int]], prefixes: Sequence[list[int]], decode: Decode
    ) -> list[list[int]]:
        """Output ids per source, opening with its prefix, without the decoder start and end tokens.

        Every prefix in one call has the same length.
        """
        ...


class CausalRuntime(Protocol):
    name: str
    min_new_tokens: int  # the end token is held back until then (force_output_tokens)

    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        static: Sequence[int] = (),
        finished: Callable[[list[int]], bool] | None = None,
    ) -> list[list[int]]:
        """Generated ids per prompt (prompt excluded), greedy. `static`: a prefix that many prompts
        share, which a runtime may compute once and keep (a hint; the result is the same). `finished`:
        asked with a row's ids so far after each step; True ends that row as an end token would (the
        caller keeps no more than that)."""
        ...

"""What the two transformers runtimes share (`seq2seq_torch`, `llm_torch`): the stopping criterion that
polls a caller's `should_stop` between decoding steps, and how many threads torch runs on.

Imports torch: only the `*_torch` modules import this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from service.models.decoding import generation_stopped


class StopWhenAsked(StoppingCriteria):
    """Polls the caller's `should_stop` after every decoding step and ends generation when it says so."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self._should_stop = should_stop
        self.triggered = False

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        if not self.triggered and self._should_stop():
            self.triggered = True
        done = torch.full((input_ids.shape[0],), self.triggered, dtype=torch.bool, device=input_ids.device)
        return cast(torch.BoolTensor, done)


class EndWhenFinished(StoppingCriteria):
    """Ends a one-row generation once `finished` says the ids written after the prompt are all the caller
    will keep."""

    def __init__(self, prompt_length: int, finished: Callable[[list[int]], bool]) -> None:
        self._prompt_length = prompt_length
        self._finished = finished

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = self._finished(input_ids[0, self._prompt_length :].tolist())
        return cast(torch.BoolTensor, torch.full((input_ids.shape[0],), done, device=input_ids.device))


class Stopping:
    """The stopping criteria for one generate() call, and the check after it."""

    def __init__(
        self,
        should_stop: Callable[[], bool] | None,
        finished: Callable[[list[int]], bool] | None = None,
        prompt_length: int = 0,
    ) -> None:
        self._stop = StopWhenAsked(should_stop) if should_stop is not None else None
        criteria: list[StoppingCriteria] = [self._stop] if self._stop is not None else []
        if finished is not None:
            criteria.append(EndWhenFinished(prompt_length, finished))
        self.criteria = StoppingCriteriaList(criteria)

    def raise_if_stopped(self) -> None:
        """RequestCancelledError when the caller's stop signal ended the generation."""
        if self._stop is not None and self._stop.triggered:
            raise generation_stopped()


def use_threads(threads: int) -> None:
    """Let torch use `threads` cores; 0 keeps torch's own choice."""
    if threads > 0:
        torch.set_num_threads(threads)

"""The text side of a seq2seq model: from texts to input ids and back, the way its family wants them.

`Seq2SeqCodec` owns the tokenizer (not thread-safe, and some keep the source language as state, so one caller
at a time), the family's prompt and forced output prefix, the input limit, and which requests the model
supports. It runs no model: the backend hands its ids to a runtime.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from service.errors import UnsupportedLanguageError
from service.models.base import TRANSLATE, ModelSpec
from service.models.decoding import Request
from service.models.families import Family

log = logging.getLogger(__name__)

# Longest input a model is given, whatever its position table allows: longer articles are chunked upstream.
MAX_INPUT_CAP = 1024


def input_limit(spec: ModelSpec, config: Any, tokenizer: Any) -> int:
    """Most tokens one input may have, before the family's prompt reserve."""
    positions = getattr(config, "max_position_embeddings", None)
    configured = spec.options.get("max_input_tokens")
    if configured:
        # A profile may lower the limit, or raise it for models without a position table (T5).
        return min(int(configured), positions) if isinstance(positions, int) else int(configured)
    # Tokenizers without a known limit report a huge sentinel.
    known = [
        n
        for n in (positions, getattr(tokenizer, "model_max_length", None))
        if isinstance(n, int) and 0 < n < 1_000_000
    ]
    return min([*known, MAX_INPUT_CAP])


class Seq2SeqCodec:
    """Texts to input ids and output ids to texts for one model, in its family's conventions."""

    def __init__(
        self, name: str, tokenizer: Any, family: Family, limit: int, default_prefix: Sequence[int]
    ) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self.family = family
        self.input_limit = limit
        # The checkpoint's own first output token (BART's <s>), for families that force none.
        self.default_prefix = list(default_prefix)
        self._hidden_ids = family.hidden_ids(tokenizer)
        self._special_tokens = tokenizer.num_special_tokens_to_add()
        self._lock = threading.Lock()
        self._supported: dict[Request, bool] = {}

    def supports(self, request: Request) -> bool:
        known = self._supported.get(request)
        if known is None:
            with self._lock:
                known = self.family.supports(self.tokenizer, request)
            self._supported[request] = known
        return known

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as an input, special tokens included, the family's prompt not."""
        with self._lock:
            ids = self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        return len(ids) + self._special_tokens

    def encode(self, texts: Sequence[str], request: Request) -> list[list[int]]:
        """Input ids for `texts`, special tokens included, truncated to the model's limit."""
        if not self.supports(request):
            field = "target_language" if request.task == TRANSLATE else "language"
            raise UnsupportedLanguageError(
                field, f"model {self.name} has no language code for {request.source}->{request.target}"
            )
        if not texts:
            return []
        with self._lock:
            self.family.prepare(self.tokenizer, request)
            prompts = [self.family.prompt(self.tokenizer, text, request) for text in texts]
            ids = self.tokenizer(prompts, truncation=True, max_length=self.input_limit)["input_ids"]
            if log.isEnabledFor(logging.DEBUG):
                self._log_truncation(prompts, [len(row) for row in ids])
        return [[int(i) for i in row] for row in ids]

    def encode_plain(self, text: str) -> list[int]:
        """Input ids for `text` as it is, with no family prompt or language set."""
        with self._lock:
            ids = self.tokenizer(text, truncation=True, max_length=self.input_limit)["input_ids"]
        return [int(i) for i in ids]

    def prefix(self, request: Request) -> list[int]:
        """The tokens every output for `request` opens with: a target language, or the checkpoint's BOS."""
        with self._lock:
            forced = self.family.forced_prefix(self.tokenizer, request)
        return list(self.default_prefix if forced is None else forced)

    def decode(self, rows: list[list[int]]) -> list[str]:
        if self._hidden_ids:
            rows = [[i for i in row if i not in self._hidden_ids] for row in rows]
        with self._lock:
            texts = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
        return [text.strip() for text in texts]

    def to_tokens(self, ids: Sequence[int]) -> list[str]:
        """Token strings for ids, as CTranslate2 takes them."""
        return list(self.tokenizer.convert_ids_to_tokens(list(ids)))

    def prompt_reserve(self, requests: Iterable[Request]) -> int:
        """The most tokens the family's prompt adds to a text, over `requests`."""

        def length(text: str) -> int:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

        probe = "x"
        with self._lock:
            prompts = [self.family.prompt(self.tokenizer, probe, request) for request in requests]
            return max([0, *(length(prompt) - length(probe) for prompt in prompts)])

    def _log_truncation(self, prompts: list[str], lengths: list[int]) -> None:
        """The pipeline chunks long articles, so a truncated input means a chunk was sized wrong."""
        for prompt, length in zip(prompts, lengths, strict=True):
            if length >= self.input_limit:
                total = len(self.tokenizer(prompt, verbose=False)["input_ids"])
                if total > self.input_limit:
                    log.debug("%s: input of %d tokens truncated to %d", self.name, total, self.input_limit)

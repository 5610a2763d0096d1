"""The naive baseline: what a user would write by hand with transformers, in-process, fp32.

One request at a time, greedy `generate()`, one target language after another. Long articles are
cut into windows of the model's input size, each window summarized, and the partial summaries
summarized again, which is the least a hand-written script must do to read past 1,024 tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# The service's own limit on map-reduce rounds (service.pipeline.summarize).
MAX_REDUCE_ROUNDS = 4


@dataclass(frozen=True)
class Generated:
    text: str
    tokens: int  # new tokens, the decoder start token excluded
    calls: int = 1  # generate() calls it took


class Seq2SeqBaseline:
    """AutoModelForSeq2SeqLM + AutoTokenizer from a local folder, fp32 on the CPU."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        started = time.perf_counter()
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        self.model: Any = AutoModelForSeq2SeqLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.max_input = int(self.model.config.max_position_embeddings)
        self.load_s = time.perf_counter() - started

    def generate(self, text: str, new_tokens: int) -> Generated:
        """Exactly `new_tokens` greedy tokens: the same count the service is forced to produce."""
        inputs = self.tokenizer([text], return_tensors="pt", truncation=True, max_length=self.max_input)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                num_beams=1,
                do_sample=False,
            )
        row = out[0].tolist()[1:]  # drop the decoder start token
        return Generated(self.tokenizer.decode(row, skip_special_tokens=True).strip(), len(row))

    def summarize(self, article: str, new_tokens: int) -> Generated:
        """Map-reduce by hand over windows of the model's input size, as many rounds as the service
        allows itself; whatever is still too long after them is truncated by the last call."""
        window = self.max_input - self.tokenizer.num_special_tokens_to_add()
        text, tokens, calls = article, 0, 0
        for _ in range(MAX_REDUCE_ROUNDS):
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(ids) <= window:
                break
            partials = []
            for start in range(0, len(ids), window):
                piece = self.generate(self.tokenizer.decode(ids[start : start + window]), new_tokens)
                partials.append(piece.text)
                tokens += piece.tokens
                calls += 1
            text = "\n".join(partials)
        final = self.generate(text, new_tokens)
        return Generated(final.text, tokens + final.tokens, calls + 1)


class LLMBaseline:
    """AutoModelForCausalLM on the dequantized HF folder, fp32, with the service's own prompt.

    Every generation writes exactly max_new_tokens, as the service does under `force_output_tokens`.
    """

    def __init__(self, folder: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        self.model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.load_s = time.perf_counter() - started

    def summarize(self, article: str, language: str, sentences: int, max_new_tokens: int) -> Generated:
        from service.models.llm_prompts import summarize_messages

        ids = self.tokenizer.apply_chat_template(
            summarize_messages(article, language, sentences),
            add_generation_prompt=True,
            tokenize=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids["input_ids"],
                attention_mask=ids["attention_mask"],
                max_new_tokens=max_new_tokens,
                min_new_tokens=max_new_tokens,  # the end token is held back: the service's forced length
                do_sample=False,
            )
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        return Generated(self.tokenizer.decode(new, skip_special_tokens=True).strip(), len(new))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

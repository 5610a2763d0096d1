"""Instruction-tuned causal LMs, prompted to summarize and to translate.

Weights come from a Hugging Face folder or hub id (`sources`), or from a GGUF file, which transformers
dequantizes once into a regular HF folder in the cache, so later starts load fast. Two runtimes:
`transformers` (the reference, `llm_torch`) and `ctranslate2` (`ct2_runtime.GeneratorRuntime`, int8 on the
CPU), converted once from the HF folder by `ct2_convert` and trusted only after its greedy output matches
transformers' on a probe. The prompts and the clean-up of answers live in `llm_prompts`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from service.errors import DeadlineError, ModelError, ModelLoadError, RequestCancelledError
from service.models import options
from service.models.assets import PACKAGED, PACKAGED_PREFIX, is_packaged, resolve_packaged
from service.models.base import (
    SUMMARIZE,
    TRANSLATE,
    GenerationParams,
    LoadContext,
    ModelDescription,
    ModelSpec,
    ScoredText,
    SummaryText,
    expand_pairs,
)
from service.models.convert_cache import build_once, stat_fingerprint
from service.models.ct2_convert import conversion_entry
from service.models.ct2_runtime import (
    GeneratorRuntime,
)
from service.models.decoding import CausalRuntime, log_prob_of
from service.models.llm_ct2 import PROBE_PROMPT, PROMPT_OVERHEAD_TOKENS, start_generator
from service.models.llm_prompts import (
    clean_output,
    finish_summary,
    style_for,
    summarize_messages,
    summary_complete,
    summary_styles,
    translate_messages,
)
from service.models.registry import register_backend
from service.models.sources import snapshot
from service.models.tokenizer_json import runtime_tokenizer

log = logging.getLogger(__name__)

# Distinct prompt prefixes (task, language, sentence count) whose model state is cached; each takes
# about 60 KB per token for Qwen2.5-1.5B, some 4 MB for a summary instruction.
MAX_STATIC_PREFIXES = 16
# Some 300 tokens: long enough for the time it takes to read them to show the machine's rate.
_CALIBRATION_PROMPT = "Repeat this: " + " ".join([PROBE_PROMPT.partition(": ")[2]] * 20)
# Part of a GGUF source's identity: bump it when the dequantization changes what it writes.
_DEQUANTIZE_REVISION = 1
_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>")

Messages = list[dict[str, str]]


class Answer(NamedTuple):
    """A generated answer, the mean log-probability of its tokens (None: not reported), and whether it ran
    to the token budget (rather than to an end token)."""

    text: str
    log_prob: float | None
    cut: bool


@register_backend("llm")
class LLMModel:
    """Summarizes and translates by prompting a chat model; greedy decoding.

    Options (`spec.options`): runtime, compute_type, force_output_tokens (service.models.options);
    max_input_tokens (2048); repetition_penalty (1.05); summary_languages (the spec's languages);
    summary_prompt (the summary prompt's style: "brief" or "news" for every language, or a table of
    language -> style, "*" for the rest; default: brief for French, news for the others, see llm_prompts);
    translate_all; and on CTranslate2 the batching options of service.models.batching.
    """

    def __init__(self, spec: ModelSpec, context: LoadContext) -> None:
        self.spec = spec
        self.name = spec.name
        self.context = context
        self.runtime_name = options.runtime(spec, context)
        self._forced_tokens = options.forced_output_tokens(spec)
        self.max_input_tokens = int(spec.options.get("max_input_tokens", 2048))
        self.repetition_penalty = float(spec.options.get("repetition_penalty", 1.05))
        self._summary_languages = frozenset(spec.options.get("summary_languages", spec.languages))
        self._summary_styles = summary_styles(spec.options.get("summary_prompt"), spec.name)
        self._pairs = frozenset(expand_pairs(spec))
        self._static_prefixes: dict[tuple[object, ...], tuple[int, ...]] = {}
        started = time.perf_counter()
        folder, entry = _hf_folder(spec, context)
        self.tokenizer = runtime_tokenizer(folder, self.runtime_name, self.name)
        self.eos_ids = _eos_ids(self.name, self.tokenizer)
        self.runtime: CausalRuntime
        if self.runtime_name == "ctranslate2":
            self.runtime = start_generator(
                spec,
                context,
                folder,
                entry,
                probe=self.prompt_ids([{"role": "user", "content": PROBE_PROMPT}]),
                eos_ids=self.eos_ids,
                repetition_penalty=self.repetition_penalty,
                row_tokens=self.max_input_tokens + PROMPT_OVERHEAD_TOKENS,
            )
        else:
            from service.models.llm_torch import TorchRuntime  # only this runtime imports torch

            self.runtime = TorchRuntime(
                folder,
                device=context.device,
                threads=context.threads,
                eos_ids=self.eos_ids,
                repetition_penalty=self.repetition_penalty,
            )
        if self._forced_tokens is not None:
            self.runtime.min_new_tokens = self._forced_tokens
        log.info("loaded %s (%s) in %.1f s", self.name, self.runtime_name, time.perf_counter() - started)

    # -- protocol ----------------------------------------------------------------------------

    def describe(self) -> ModelDescription:
        return ModelDescription(
            name=self.name,
            backend="llm",
            source=self.spec.source,
            runtime=self.runtime_name,
            tasks=self.spec.tasks,
            summary_languages=tuple(sorted(self._summary_languages)) if SUMMARIZE in self.spec.tasks else (),
            translation_pairs=tuple(sorted(self._pairs)),
            honours_terminology=True,  # the prompt lists the terms
            thread_layout=str(getattr(self.runtime, "layout", "") or ""),
        )

    def warmup(self) -> None:
        """A short generate, for the lazy initialisation. On CTranslate2, a prompt of some 300 tokens then
        goes through the batcher in the background: it shows the batcher how fast this machine reads a
        prompt, which it weighs callers' deadlines against. Read before SERVING, it added seconds to the
        start of a 1.5B model; in the background it is one batch that the first requests may wait for."""
        self._generate([[{"role": "user", "content": "Say OK."}]], 2, None)
        if isinstance(self.runtime, GeneratorRuntime) and self.runtime.batcher is not None:
            threading.Thread(target=self._calibrate, name=f"{self.name}-calibration", daemon=True).start()

    def _calibrate(self) -> None:
        try:
            self._generate([[{"role": "user", "content": _CALIBRATION_PROMPT}]], 1, None)
        except Exception:  # the model closed meanwhile: the rate is then learnt from the first real batches
            log.debug("%s: the prompt-rate calibration did not run", self.name, exc_info=True)

    def summarizes(self, language: str) -> bool:
        return SUMMARIZE in self.spec.tasks and language in self._summary_languages

    def translates(self, source: str, target: str) -> bool:
        return TRANSLATE in self.spec.tasks and (source, target) in self._pairs

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        [summary] = self.summarize_many([text], language, params)
        return summary

    def summarize_many(
        self, texts: Sequence[str], language: str, params: GenerationParams
    ) -> list[SummaryText]:
        sentences = params.max_sentences
        terms = params.terminology
        style = style_for(self._summary_styles, language)
        conversations = [
            summarize_messages(t, language, sentences, terms.terms_for(t, language), style) for t in texts
        ]
        static = self.static_prefix(
            ("summarize", language, sentences, style),
            lambda text, _: summarize_messages(text, language, sentences, style=style),
        )
        complete = summary_complete(language, sentences)
        decode = self.tokenizer.decode
        answers = self._generate(
            conversations,
            params.max_new_tokens,
            params.should_stop,
            static,
            finished=lambda ids: complete(str(decode(ids, skip_special_tokens=True))),
        )
        return [
            SummaryText(
                text=finish_summary(answer.text, text, language, sentences, cut=answer.cut),
                log_prob=answer.log_prob,
            )
            for text, answer in zip(texts, answers, strict=True)
        ]

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        return [out.text for out in self.translate_scored(texts, source, target, params)]

    def translate_scored(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[ScoredText]:
        terms = params.terminology
        conversations = [translate_messages(t, source, target, terms.terms_for(t, target)) for t in texts]
        longest = max((self.count_tokens(t) for t in texts), default=0)
        budget = min(2 * longest + 32, 1024)
        answers = self._generate(conversations, budget, params.should_stop, self.translation_prefix(source))
        return [ScoredText(clean_output(answer.text, target), answer.log_prob) for answer in answers]

    def translate_to_many(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[str]]:
        """Every text into every target in one batch: the decoder steps are shared across targets."""
        scored = self.translate_to_many_scored(texts, source, targets, params)
        return {target: [out.text for out in outputs] for target, outputs in scored.items()}

    def translate_to_many_scored(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[ScoredText]]:
        jobs = [(target, text) for target in targets for text in texts]
        terms = params.terminology
        conversations = [
            translate_messages(text, source, target, terms.terms_for(text, target)) for target, text in jobs
        ]
        longest = max((self.count_tokens(t) for t in texts), default=0)
        answers = self._generate(
            conversations, min(2 * longest + 32, 1024), params.should_stop, self.translation_prefix(source)
        )
        result: dict[str, list[ScoredText]] = {target: [] for target in targets}
        for (target, _), answer in zip(jobs, answers, strict=True):
            result[target].append(ScoredText(clean_output(answer.text, target), answer.log_prob))
        return result

    # -- prompts -----------------------------------------------------------------------------

    def prompt_ids(self, messages: Messages) -> list[int]:
        """The token ids of a conversation in the model's chat template, ready for the answer."""
        ids: Any = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):  # a BatchEncoding
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def static_prefix(
        self, key: tuple[object, ...], build: Callable[[str, str], Messages]
    ) -> tuple[int, ...]:
        """The prompt tokens that `build(text, target)` renders the same for any text and target: the
        system message and the instruction up to the first part that varies. Cached by `key`, at most
        MAX_STATIC_PREFIXES of them; past that, () (the prompt is sent whole)."""
        prefix = self._static_prefixes.get(key)
        if prefix is None and len(self._static_prefixes) >= MAX_STATIC_PREFIXES:
            return ()  # CTranslate2 keeps each cached prefix's model state: their number is bounded
        if prefix is None:
            a = self.prompt_ids(build("Alpha beta.", "fr"))
            b = self.prompt_ids(build("Omega psi.", "de"))
            common = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
            )
            prefix = self._static_prefixes[key] = tuple(a[:common])
        return prefix

    def translation_prefix(self, source: str) -> tuple[int, ...]:
        """The static prefix of translations from `source`, shared by every target language, so that the
        targets of one text still form one batch."""
        return self.static_prefix(
            ("translate", source), lambda text, target: translate_messages(text, source, target)
        )

    def _generate(
        self,
        conversations: Sequence[Messages],
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        static: Sequence[int] = (),
        finished: Callable[[list[int]], bool] | None = None,
    ) -> list[Answer]:
        """The answers as decoded text, each with the mean log-probability of its tokens. `finished` may end
        an answer before its budget (see CausalRuntime.generate)."""
        prompts = [self.prompt_ids(m) for m in conversations]
        if self._forced_tokens is not None:
            max_new_tokens, finished = self._forced_tokens, None
        try:
            outputs = self.runtime.generate(prompts, max_new_tokens, should_stop, static, finished)
        except (RequestCancelledError, DeadlineError):
            raise
        except Exception as exc:
            log.exception("generation failed in %s", self.name)
            raise ModelError(f"model {self.name} failed to generate") from exc
        return [
            Answer(
                str(self.tokenizer.decode(ids, skip_special_tokens=True)),
                log_prob_of(ids),
                len(ids) >= max_new_tokens and (not ids or ids[-1] not in self.eos_ids),
            )
            for ids in outputs
        ]


# -- loading ---------------------------------------------------------------------------------


def _hf_folder(spec: ModelSpec, context: LoadContext) -> tuple[Path, Path]:
    """The model's Hugging Face folder, and the cache entry its conversions go in.

    A GGUF file is dequantized into that entry (once); a folder or hub id is used where it is, and its
    conversion goes in the cache, or is taken from the `converted_folder` the profile names.
    """
    source = spec.source
    if not source:
        raise ModelLoadError(f"model {spec.name}: 'source' is required for the llm backend")
    if not (is_packaged(source) or source.endswith(".gguf")):
        folder = snapshot(spec, offline=context.offline)
        converted = options.converted_folder(spec)
        if converted is not None:
            return folder.path, converted
        return folder.path, conversion_entry(context.cache_dir, "llm", spec.name, folder.identity())
    if is_packaged(source):
        gguf = resolve_packaged(source, context.cache_dir)
    else:
        gguf = Path(source).expanduser()
        if not gguf.is_file():
            raise ModelLoadError(f"model {spec.name}: GGUF file {gguf} does not exist")
    entry = gguf_cache_entry(spec, context.cache_dir)

    def dequantize(tmp: Path) -> None:
        from service.models.llm_torch import dequantize_gguf

        log.info("converting %s to a Hugging Face folder (once; cached in %s)", gguf.name, entry / "hf")
        started = time.perf_counter()
        dequantize_gguf(spec.name, gguf, tmp)
        log.info("converted %s in %.0f s", gguf.name, time.perf_counter() - started)

    build_once(entry / "hf", dequantize)
    return entry / "hf", entry


def gguf_cache_entry(spec: ModelSpec, cache_dir: Path) -> Path:
    """The cache entry that a packaged or GGUF source is dequantized into (`hf`) and converted beside,
    worked out from the source's identity alone: nothing is joined, verified or written."""
    source = spec.source
    if is_packaged(source):
        identity = f"packaged|{PACKAGED[source.removeprefix(PACKAGED_PREFIX)].sha256}"
    elif source.endswith(".gguf"):
        identity = f"gguf|{stat_fingerprint(Path(source).expanduser())}"
    else:
        raise ModelLoadError(f"model {spec.name}: {source} is neither packaged weights nor a GGUF file")
    return conversion_entry(cache_dir, "llm", spec.name, f"dequantized {_DEQUANTIZE_REVISION}|{identity}")


def _eos_ids(name: str, tokenizer: Any) -> list[int]:
    """The ids that end an answer: the chat template's end tokens and the tokenizer's own."""
    ids = []
    for token in _END_TOKENS:
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid >= 0:
            ids.append(tid)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.insert(0, tokenizer.eos_token_id)
    if not ids:
        raise ModelLoadError(f"model {name}: its tokenizer has no end-of-sequence token")
    return ids

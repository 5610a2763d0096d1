"""Instruction-tuned causal LMs, prompted to summarize and to translate.

Weights come from a Hugging Face folder or hub id, or from a GGUF file. A GGUF is dequantized
by transformers once and cached as a regular HF folder, so later starts load fast. Two runtimes:
`transformers` (the reference) and `ctranslate2` (int8 on CPU), converted once from the HF folder
and cached; a conversion is only trusted after its greedy output matches transformers' on a probe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from service.errors import ModelError, ModelLoadError, RequestCancelledError
from service.models.assets import PACKAGED, is_packaged, resolve_packaged
from service.models.base import (
    SUMMARIZE,
    TRANSLATE,
    GenerationParams,
    LoadContext,
    ModelDescription,
    ModelSpec,
    SummaryText,
    expand_pairs,
)
from service.models.batching import BatchPolicy, Job, MicroBatcher, RowStops
from service.models.convert_cache import file_lock
from service.models.hf_files import load_tokenizer
from service.models.options import forced_output_tokens
from service.models.registry import register_backend
from service.text.languages import language_name

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are a careful news editor. You write accurate, neutral summaries and faithful translations. "
    "You answer with the requested text only."
)
# Distinct prompt prefixes (task, language, sentence count) whose model state is cached; each takes
# about 60 KB per token for Qwen2.5-1.5B, some 4 MB for a summary instruction.
_MAX_STATIC_PREFIXES = 16
_PROBE_PROMPT = (
    "Summarize in one sentence: The city council approved a new budget for public transport on Monday."
)
_PROBE_TOKENS = 12
# Lines a chatty model adds around the answer.
_PREAMBLE = re.compile(
    r"^\s*(?:sure[,!.]?|certainly[,!.]?|okay[,!.]?)?\s*(?:here(?: is|'s| are)[^:\n]{0,80}:|"
    r"(?:summary|translation|résumé|zusammenfassung|resumen|перевод|резюме|摘要|翻译|ملخص|ترجمة)"
    r"(?: in [a-z]+)?\s*[:：])\s*",
    re.IGNORECASE,
)
_TRAILER = re.compile(r"\n\s*(?:note|notes|explanation|\(note)\b.*$", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\n?|\n?```$")


def clean_output(text: str) -> str:
    """Strip the chatter instruction-tuned models wrap around an answer."""
    text = text.strip().replace("**", "")
    text = _FENCE.sub("", text).strip()
    text = _PREAMBLE.sub("", text, count=1).strip()
    text = _TRAILER.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”«»":
        text = text[1:-1].strip()
    if len(text) >= 2 and text[0] in "“«" and text[-1] in "”»":
        text = text[1:-1].strip()
    return text


def summarize_messages(text: str, language: str, sentences: int) -> list[dict[str, str]]:
    name = language_name(language)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": (
                f"Summarize the following news article in {name}, in at most {sentences} sentences. "
                f"Keep names, numbers and places exact. Write the summary in {name} only, with no title "
                f"and no introduction.\n\nArticle:\n{text}"
            ),
        },
    ]


def translate_messages(text: str, source: str, target: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": (
                f"Translate the following text from {language_name(source)} into {language_name(target)}. "
                f"Reply with the {language_name(target)} translation only.\n\nText:\n{text}"
            ),
        },
    ]


class _Runtime(Protocol):
    name: str
    min_new_tokens: int  # the end token is held back until then (force_output_tokens)

    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        static: Sequence[int] = (),
    ) -> list[list[int]]:
        """Generated ids per prompt (prompt excluded), greedy. `static`: a prefix that many prompts
        share, which a runtime may compute once and keep (a hint; the result is the same)."""
        ...


class _CT2Runtime:
    """CTranslate2 generation; concurrent requests are batched together by a MicroBatcher."""

    name = "ctranslate2"

    def __init__(
        self,
        folder: Path,
        threads: int,
        device: str,
        compute_type: str,
        eos_ids: Sequence[int],
        repetition_penalty: float,
        batching: BatchPolicy | None = None,
    ) -> None:
        import ctranslate2

        self.generator = ctranslate2.Generator(
            str(folder), device=device, compute_type=compute_type, intra_threads=threads
        )
        self.tokens: list[str] = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        self.end_tokens = [self.tokens[i] for i in eos_ids]
        self.repetition_penalty = repetition_penalty
        self.batcher = MicroBatcher(self._run_batch, batching, name="llm-batcher") if batching else None
        self.min_new_tokens = 0

    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        static: Sequence[int] = (),
    ) -> list[list[int]]:
        """A prompt that opens with `static` is sent as the rest of it, with `static` as CTranslate2's
        static prompt: its model state is computed once and cached, and rows batch only with rows of
        the same static prompt."""
        jobs = []
        for prompt in prompts:
            if static and len(prompt) > len(static) and prompt[: len(static)] == list(static):
                jobs.append(
                    Job(list(prompt[len(static) :]), max_new_tokens, should_stop, group=tuple(static))
                )
            else:
                jobs.append(Job(list(prompt), max_new_tokens, should_stop))
        if self.batcher is not None:
            return self.batcher.submit(jobs)
        self._run_batch(jobs)
        return [job.future.result() for job in jobs]

    def _run_batch(self, jobs: list[Job]) -> None:
        """One generate_batch over jobs that may come from different requests.

        Each job stops at its own budget or its own stop signal (RowStops); the others carry on.
        """
        stops = RowStops(jobs)
        static = cast(tuple[int, ...] | None, jobs[0].group)
        results = self.generator.generate_batch(
            [[self.tokens[i] for i in job.prompt] for job in jobs],
            static_prompt=[self.tokens[i] for i in static] if static else None,
            cache_static_prompt=True,
            max_length=max(job.max_new_tokens for job in jobs),
            min_length=self.min_new_tokens,
            sampling_topk=1,
            repetition_penalty=self.repetition_penalty,
            include_prompt_in_result=False,
            end_token=self.end_tokens,
            callback=stops,
        )
        stops.resolve([list(result.sequences_ids[0]) for result in results])


@register_backend("llm")
class LLMModel:
    """Summarizes and translates by prompting a chat model; greedy decoding."""

    def __init__(self, spec: ModelSpec, context: LoadContext) -> None:
        self.spec = spec
        self.name = spec.name
        self.context = context
        options = dict(spec.options)
        self.runtime_name = str(options.get("runtime", context.runtime))
        self.max_input_tokens = int(options.get("max_input_tokens", 2048))
        self.repetition_penalty = float(options.get("repetition_penalty", 1.05))
        self._summary_languages = frozenset(options.get("summary_languages", spec.languages))
        self._pairs = frozenset(expand_pairs(spec))
        started = time.perf_counter()
        folder = self._hf_folder()
        self.tokenizer = load_tokenizer(folder)
        self.eos_ids = self._eos_ids()
        if self.runtime_name == "ctranslate2":
            compute_type = str(
                options.get("compute_type", "int8" if context.device == "cpu" else "int8_float16")
            )
            ct2_folder = self._ct2_folder(folder, compute_type)
            self.runtime: _Runtime = _CT2Runtime(
                ct2_folder,
                context.threads,
                context.device,
                compute_type,
                self.eos_ids,
                self.repetition_penalty,
                batching=BatchPolicy.from_options(self.name, options),
            )
        elif self.runtime_name == "transformers":
            from service.models.llm_torch import TorchRuntime  # only this runtime imports torch

            self.runtime = TorchRuntime(folder, context.threads, self.eos_ids, self.repetition_penalty)
        else:
            raise ModelLoadError(f"model {self.name}: unknown runtime {self.runtime_name!r}")
        self._static_prefixes: dict[tuple[object, ...], tuple[int, ...]] = {}
        self._forced_tokens = forced_output_tokens(spec)
        if self._forced_tokens is not None:
            self.runtime.min_new_tokens = self._forced_tokens
        log.info("loaded %s (%s) in %.1f s", self.name, self.runtime_name, time.perf_counter() - started)

    # -- loading -----------------------------------------------------------------------------

    def _cache_key(self, gguf: Path) -> str:
        if is_packaged(self.spec.source):
            return PACKAGED[self.spec.source.removeprefix("packaged:")].sha256[:16]
        st = gguf.stat()
        return hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]

    def _hf_folder(self) -> Path:
        """A Hugging Face folder (or hub id resolved to the HF cache) holding the model."""
        source = self.spec.source
        if not source:
            raise ModelLoadError(f"model {self.name}: 'source' is required for the llm backend")
        if is_packaged(source):
            gguf = resolve_packaged(source, self.context.cache_dir)
        elif source.endswith(".gguf"):
            gguf = Path(source).expanduser()
            if not gguf.is_file():
                raise ModelLoadError(f"model {self.name}: GGUF file {gguf} does not exist")
        else:
            return self._local_or_hub(source)
        entry = self.context.cache_dir / "llm" / f"{self.name}-{self._cache_key(gguf)}"
        folder = entry / "hf"
        with file_lock(entry / ".lock"):
            if not (folder / "config.json").is_file():
                self._convert_gguf(gguf, folder)
        return folder

    def _local_or_hub(self, source: str) -> Path:
        path = Path(source).expanduser()
        if path.is_dir():
            return path
        try:
            from huggingface_hub import snapshot_download

            offline = self.context.offline or os.environ.get("HF_HUB_OFFLINE") == "1"
            return Path(snapshot_download(source, local_files_only=offline))
        except Exception as exc:
            raise ModelLoadError(
                f"model {self.name}: cannot load {source!r} from a local folder or the Hugging Face hub "
                f"({type(exc).__name__}); fetch it with `huggingface-cli download {source}` "
                "or set source to a local folder"
            ) from exc

    def _convert_gguf(self, gguf: Path, folder: Path) -> None:
        log.info("converting %s to a Hugging Face folder (once; cached in %s)", gguf.name, folder)
        started = time.perf_counter()
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        from service.models.llm_torch import dequantize_gguf

        dequantize_gguf(self.name, gguf, tmp)
        os.replace(tmp, folder)
        log.info("converted %s in %.0f s", gguf.name, time.perf_counter() - started)

    def _ct2_folder(self, hf_folder: Path, compute_type: str) -> Path:
        quantization = "int8" if compute_type.startswith("int8") else compute_type
        entry = hf_folder.parent if hf_folder.name == "hf" else self.context.cache_dir / "llm" / self.name
        folder = entry / f"ct2-{quantization}"
        with file_lock(entry / ".ct2.lock"):
            if not (folder / "model.bin").is_file():
                self._convert_ct2(hf_folder, folder, quantization)
        return folder

    def _convert_ct2(self, hf_folder: Path, folder: Path, quantization: str) -> None:
        from ctranslate2.converters import TransformersConverter

        log.info("converting %s to CTranslate2 %s (once; cached in %s)", self.name, quantization, folder)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        TransformersConverter(str(hf_folder), low_cpu_mem_usage=True).convert(
            str(tmp), quantization=quantization, force=True
        )
        self._check_conversion(hf_folder, tmp)
        os.replace(tmp, folder)

    def _check_conversion(self, hf_folder: Path, ct2_folder: Path) -> None:
        """Refuse a conversion whose greedy output differs from transformers' on a probe prompt.

        Quantization may change late tokens; the first few must agree. This catches converter
        bugs such as a wrong rotary base, which produce fluent but different text.
        """
        prompt = self._prompt_ids([{"role": "user", "content": _PROBE_PROMPT}])
        from service.models.llm_torch import TorchRuntime

        reference = TorchRuntime(hf_folder, self.context.threads, self.eos_ids, 1.0).generate(
            [prompt], _PROBE_TOKENS, None
        )[0]
        converted = _CT2Runtime(
            ct2_folder, self.context.threads, "cpu", "float32", self.eos_ids, 1.0
        ).generate([prompt], _PROBE_TOKENS, None)[0]
        agree = next((i for i, (a, b) in enumerate(zip(reference, converted, strict=False)) if a != b), None)
        if agree is not None and agree < 4:
            raise ModelLoadError(
                f"model {self.name}: the CTranslate2 conversion disagrees with transformers from token "
                f"{agree} on a probe prompt; use runtime 'transformers' for this model"
            )
        log.info("CTranslate2 conversion of %s matches transformers on the probe", self.name)

    def _eos_ids(self) -> list[int]:
        ids = []
        for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.append(tid)
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.insert(0, self.tokenizer.eos_token_id)
        if not ids:
            raise ModelLoadError(f"model {self.name}: its tokenizer has no end-of-sequence token")
        return ids

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
        )

    def warmup(self) -> None:
        self._generate([[{"role": "user", "content": "Say OK."}]], 2, None)

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
        conversations = [summarize_messages(t, language, sentences) for t in texts]
        static = self._static_prefix(
            ("summarize", language, sentences), lambda text, _: summarize_messages(text, language, sentences)
        )
        outputs = self._generate(conversations, params.max_new_tokens, params.should_stop, static)
        return [SummaryText(text=clean_output(out)) for out in outputs]

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        conversations = [translate_messages(t, source, target) for t in texts]
        longest = max((self.count_tokens(t) for t in texts), default=0)
        budget = min(2 * longest + 32, 1024)
        outputs = self._generate(conversations, budget, params.should_stop, self._translation_prefix(source))
        return [clean_output(o) for o in outputs]

    def translate_to_many(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[str]]:
        """Every text into every target in one batch: the decoder steps are shared across targets."""
        jobs = [(target, text) for target in targets for text in texts]
        conversations = [translate_messages(text, source, target) for target, text in jobs]
        longest = max((self.count_tokens(t) for t in texts), default=0)
        outputs = self._generate(
            conversations, min(2 * longest + 32, 1024), params.should_stop, self._translation_prefix(source)
        )
        result: dict[str, list[str]] = {target: [] for target in targets}
        for (target, _), out in zip(jobs, outputs, strict=True):
            result[target].append(clean_output(out))
        return result

    # -- generation --------------------------------------------------------------------------

    def _prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        ids: Any = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "keys"):  # a BatchEncoding
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def _static_prefix(
        self, key: tuple[object, ...], build: Callable[[str, str], list[dict[str, str]]]
    ) -> tuple[int, ...]:
        """The prompt tokens that `build(text, target)` renders the same for any text and target: the
        system message and the instruction up to the first part that varies. Cached by `key`."""
        prefix = self._static_prefixes.get(key)
        if prefix is None and len(self._static_prefixes) >= _MAX_STATIC_PREFIXES:
            return ()  # CTranslate2 keeps each cached prefix's model state: their number is bounded
        if prefix is None:
            a = self._prompt_ids(build("Alpha beta.", "fr"))
            b = self._prompt_ids(build("Omega psi.", "de"))
            common = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
            )
            prefix = self._static_prefixes[key] = tuple(a[:common])
        return prefix

    def _translation_prefix(self, source: str) -> tuple[int, ...]:
        # Shared by every target language, so that the targets of one text still form one batch.
        return self._static_prefix(
            ("translate", source), lambda text, target: translate_messages(text, source, target)
        )

    def _generate(
        self,
        conversations: Sequence[list[dict[str, str]]],
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        static: Sequence[int] = (),
    ) -> list[str]:
        prompts = [self._prompt_ids(m) for m in conversations]
        if self._forced_tokens is not None:
            max_new_tokens = self._forced_tokens
        try:
            outputs = self.runtime.generate(prompts, max_new_tokens, should_stop, static)
        except RequestCancelledError:
            raise
        except Exception as exc:
            log.exception("generation failed in %s", self.name)
            raise ModelError(f"model {self.name} failed to generate") from exc
        return [str(self.tokenizer.decode(ids, skip_special_tokens=True)) for ids in outputs]

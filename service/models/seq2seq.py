"""Encoder-decoder models: BART, DistilBART, T5, Marian (OPUS-MT), M2M100, mBART-50, NLLB.

`Seq2SeqModel` is the backend: it answers the pipeline's protocols, sizes each generation's budget, and
batches texts. What it builds on, each in its own module:
- `sources`: the Hugging Face folder (local, or a hub snapshot);
- `families` and `seq2seq_text`: how each family spells languages, and texts to ids and back;
- two runtimes that decode the same token ids: `seq2seq_torch` (transformers, the reference) and
  `ct2_runtime.TranslatorRuntime` (CTranslate2), whose model `ct2_convert` converts once, caches by what it
  was made from, and keeps only after its scores and greedy tokens on a probe input agree with transformers'.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import ModelError, ModelLoadError, RequestCancelledError, SummarizerError
from service.models import options
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
from service.models.batch_costs import batch_token_cap, model_width
from service.models.batching import BatchPolicy
from service.models.ct2_convert import Integrity, ScoresAndTokens, conversion_entry, load_converted, probe_key
from service.models.ct2_runtime import TranslatorRuntime
from service.models.decoding import Decode, Request, Seq2SeqRuntime, first_ids, log_prob_of
from service.models.families import detect_family
from service.models.hf_files import read_config, read_generation_config
from service.models.registry import register_backend
from service.models.seq2seq_text import Seq2SeqCodec, input_limit
from service.models.sources import ModelFolder, first_line, snapshot
from service.models.thread_layout import layout_once
from service.models.tokenizer_json import runtime_tokenizer
from service.text.terminology import MaskedText, mask_terms, restore_terms

log = logging.getLogger(__name__)

# A translation may be this much longer than its source, in tokens, and never longer than the last figure.
TRANSLATION_GROWTH = 2
TRANSLATION_SLACK = 16
MAX_TRANSLATION_TOKENS = 512
DEFAULT_BATCH_SIZE = 16
# The probe a fresh CTranslate2 conversion must pass, and whose output every start compares with its record.
_PROBE_TEXT = "The city council approved a new budget for public transport on Monday."
_PROBE_STEPS = 8


@dataclass(frozen=True)
class _Job:
    """One text into one target language."""

    target: str
    index: int
    source: list[int]
    prefix: list[int]


@dataclass(frozen=True)
class _Loaded:
    """What a runtime's loading yields: the tokenizer, the configs, and the transformers model if any."""

    tokenizer: Any
    config: Any
    generation: Any
    model: Any = None
    folder: ModelFolder | None = None


@register_backend("seq2seq")
class Seq2SeqModel:
    """An encoder-decoder model that summarizes, translates, or both, as its spec says.

    Options (`spec.options`):
      runtime, compute_type, force_output_tokens: see service.models.options.
      family: the language convention, when the checkpoint does not reveal it ("plain", "t5", "marian",
        "m2m_100", "mbart", "nllb").
      batch_size: texts per generate call (16).
      max_batch, max_batch_delay_ms, max_batch_refill_ms, max_batch_tokens: CTranslate2 only. Calls of
        concurrent requests are gathered for max_batch_delay_ms (5), or up to max_batch_refill_ms (250)
        while the last batch's callers come back, into one batch of at most max_batch texts (batch_size)
        per replica and max_batch_tokens input tokens (32,768). See service.models.batching.
      max_input_tokens: lowers (or, without a position table, sets) the input limit.
      translate_all: every pair of `languages` is a translation pair.

    Multilingual families (M2M100, mBART-50, NLLB) also translate into several targets in one batch
    (`translate_to_many`); Marian, T5 and plain models do not offer it, and the pipeline asks them target
    by target.
    """

    def __init__(self, spec: ModelSpec, context: LoadContext) -> None:
        self.name = spec.name
        self._spec = spec
        self.runtime_name = options.runtime(spec, context)
        self._forced_tokens = options.forced_output_tokens(spec)
        started = time.perf_counter()
        loaded = self._load_files(context)
        family = detect_family(spec, loaded.config.model_type, loaded.tokenizer)
        self.family = family.name
        forced_bos = loaded.generation.forced_bos_token_id
        self.codec = Seq2SeqCodec(
            self.name,
            loaded.tokenizer,
            family,
            input_limit(spec, loaded.config, loaded.tokenizer),
            [int(forced_bos)] if forced_bos is not None else [],
        )
        self._pairs = frozenset(expand_pairs(spec))
        self._batch_size = max(1, int(spec.options.get("batch_size", DEFAULT_BATCH_SIZE)))
        # A decoder with a position table cannot write past it.
        positions = getattr(loaded.config, "max_position_embeddings", None)
        self._output_limit = positions - 1 if isinstance(positions, int) and positions > 1 else None
        # Room for what the family adds to a text (a prefix, a target token), so a chunk the pipeline
        # sized by count_tokens() still fits.
        self.max_input_tokens = self.codec.input_limit - self.codec.prompt_reserve(
            self._configured_requests()
        )
        self.runtime: Seq2SeqRuntime = self._start_runtime(loaded, context)
        if family.multi_target:
            # Only these models are MultiTargetTranslators: the pipeline checks for the method.
            self.translate_to_many = self._translate
            self.translate_to_many_scored = self._translate_scored
        log.info(
            "loaded %s from %s (family %s, %s, %d input tokens) in %.1fs",
            self.name,
            spec.source,
            self.family,
            self.runtime_name,
            self.max_input_tokens,
            time.perf_counter() - started,
        )

    # -- the protocols -------------------------------------------------------------------------------

    def describe(self) -> ModelDescription:
        return ModelDescription(
            name=self.name,
            backend="seq2seq",
            source=self._spec.source,
            runtime=self.runtime_name,
            tasks=self._spec.tasks,
            summary_languages=self._spec.languages,
            translation_pairs=expand_pairs(self._spec),
            any_language=SUMMARIZE in self._spec.tasks and not self._spec.languages,
            honours_terminology=True,  # terms masked as placeholders it copies through
            thread_layout=str(getattr(self.runtime, "layout", "") or ""),
        )

    def summarizes(self, language: str) -> bool:
        if SUMMARIZE not in self._spec.tasks:
            return False
        if self._spec.languages and language not in self._spec.languages:
            return False
        return self.codec.supports(Request.summary(language))

    def translates(self, source: str, target: str) -> bool:
        return (source, target) in self._pairs and self.codec.supports(Request.translation(source, target))

    def count_tokens(self, text: str) -> int:
        return self.codec.count_tokens(text)

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        [summary] = self.summarize_many([text], language, params)
        return summary

    def summarize_many(
        self, texts: Sequence[str], language: str, params: GenerationParams
    ) -> list[SummaryText]:
        """Each text summarized on its own, batch_size texts to a generate call."""
        request = Request.summary(language)
        summaries: list[SummaryText] = []
        for start in range(0, len(texts), self._batch_size):
            masked = _masked(texts[start : start + self._batch_size], language, params)
            ids = self.generate_ids([m.text for m in masked], request, params, params.max_new_tokens)
            summaries += [
                SummaryText(restore_terms(text, m), log_prob=log_prob_of(row))
                for text, m, row in zip(self.codec.decode(ids), masked, ids, strict=True)
            ]
        return summaries

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        return self._translate(texts, source, [target], params)[target]

    def translate_scored(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[ScoredText]:
        return self._translate_scored(texts, source, [target], params)[target]

    def warmup(self) -> None:
        """One tiny generate, so that the first request does not pay for lazy initialisation."""
        request = self._probe_request()
        if request is None:
            log.debug("%s: no configured language to warm up with", self.name)
            return
        self.generate_ids(["Warm-up."], request, GenerationParams(max_new_tokens=2), 2)

    # -- generation ----------------------------------------------------------------------------------

    def generate_ids(
        self, texts: Sequence[str], request: Request, params: GenerationParams, max_new_tokens: int | None
    ) -> list[list[int]]:
        """Output ids per text for `request`: its forced prefix, then what the model wrote, without start and
        end tokens. `max_new_tokens=None` gives each text a budget from its own length."""
        sources = self.codec.encode(texts, request)
        prefix = self.codec.prefix(request)
        return self._generate(sources, [prefix] * len(sources), request.task, params, max_new_tokens)

    def _translate(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[str]]:
        scored = self._translate_scored(texts, source, targets, params)
        return {target: [out.text for out in outputs] for target, outputs in scored.items()}

    def _translate_scored(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[ScoredText]]:
        """Every text into every target; rows batch by length whatever their target; blanks stay blank."""
        results = {target: [ScoredText("")] * len(texts) for target in targets}
        jobs: list[_Job] = []
        indices = [i for i, text in enumerate(texts) if text.strip()]
        masks: dict[tuple[str, int], MaskedText] = {}
        for target in results:
            request = Request.translation(source, target)
            masked = _masked([texts[i] for i in indices], target, params)
            masks.update({(target, i): m for i, m in zip(indices, masked, strict=True)})
            sources = self.codec.encode([m.text for m in masked], request)
            prefix = self.codec.prefix(request)
            jobs += [_Job(target, i, ids, prefix) for i, ids in zip(indices, sources, strict=True)]
        jobs.sort(key=lambda job: (len(job.prefix), len(job.source)))
        for batch in self._batches(jobs):
            rows = self._generate(
                [job.source for job in batch], [job.prefix for job in batch], TRANSLATE, params, None
            )
            for job, translation, row in zip(batch, self.codec.decode(rows), rows, strict=True):
                restored = restore_terms(translation, masks[(job.target, job.index)])
                results[job.target][job.index] = ScoredText(restored, log_prob_of(row))
        return results

    def _batches(self, jobs: list[_Job]) -> Iterator[list[_Job]]:
        """Runs of at most batch_size jobs whose prefixes are equally long (one decoder input shape)."""
        batch: list[_Job] = []
        for job in jobs:
            if batch and (len(batch) == self._batch_size or len(job.prefix) != len(batch[0].prefix)):
                yield batch
                batch = []
            batch.append(job)
        if batch:
            yield batch

    def _budgets(self, sources: list[list[int]], max_new_tokens: int | None) -> list[int]:
        """Each source's output budget, capped by the decoder's position table."""
        if self._forced_tokens is not None:
            budgets = [self._forced_tokens] * len(sources)
        elif max_new_tokens is None:
            budgets = [
                min(MAX_TRANSLATION_TOKENS, TRANSLATION_GROWTH * len(ids) + TRANSLATION_SLACK)
                for ids in sources
            ]
        else:
            budgets = [max_new_tokens] * len(sources)
        if self._output_limit is not None:
            budgets = [min(budget, self._output_limit) for budget in budgets]
        return budgets

    def _generate(
        self,
        sources: list[list[int]],
        prefixes: list[list[int]],
        task: str,
        params: GenerationParams,
        max_new_tokens: int | None,
    ) -> list[list[int]]:
        """Output ids per source: its prefix, then what the model wrote, without start and end tokens."""
        budgets = self._budgets(sources, max_new_tokens)
        longest = max(budgets)
        if self._forced_tokens is not None:
            shortest = longest
        else:
            shortest = min(params.min_new_tokens, longest) if task == SUMMARIZE else 0
        if params.should_stop is not None and params.should_stop():
            raise RequestCancelledError(f"{self.name}: stopped before generation")
        decode = Decode(longest, shortest, max(1, params.num_beams), params.should_stop)
        try:
            rows = self.runtime.generate(sources, prefixes, decode)
        except SummarizerError:
            raise
        except Exception as err:
            raise ModelError(f"{self.name}: generation failed ({type(err).__name__})") from err
        return [first_ids(row, budget) for row, budget in zip(rows, budgets, strict=True)]

    # -- languages -----------------------------------------------------------------------------------

    def _configured_requests(self) -> list[Request]:
        requests = [Request.translation(source, target) for source, target in expand_pairs(self._spec)]
        if SUMMARIZE in self._spec.tasks:
            requests += [Request.summary(lang) for lang in self._spec.languages or ("en",)]
        return requests

    def _probe_request(self) -> Request | None:
        """The first configured request the model supports."""
        return next((r for r in self._configured_requests() if self.codec.supports(r)), None)

    # -- loading -------------------------------------------------------------------------------------

    def _load_files(self, context: LoadContext) -> _Loaded:
        if self.runtime_name == "transformers":
            # Only this runtime imports torch.
            from service.models.seq2seq_torch import load_model

            tokenizer, model = load_model(self._spec, context, forced_length=self._forced_tokens is not None)
            return _Loaded(tokenizer, model.config, model.generation_config, model=model)
        folder = snapshot(self._spec, offline=context.offline)
        return _Loaded(*_read_folder(self._spec, folder.path), folder=folder)

    def _start_runtime(self, loaded: _Loaded, context: LoadContext) -> Seq2SeqRuntime:
        if loaded.model is not None:
            from service.models.seq2seq_torch import TorchRuntime

            pad = loaded.tokenizer.pad_token_id
            return TorchRuntime(loaded.model, int(pad if pad is not None else 0))
        assert loaded.folder is not None
        probe = _probe_input(self.codec, self._probe_request())
        return _start_translator(self._spec, loaded, self.codec, probe, self._batch_size, context)


def _read_folder(spec: ModelSpec, folder: Path) -> tuple[Any, Any, Any]:
    """Tokenizer, model config and generation config: all the CTranslate2 runtime needs from the folder."""
    try:
        tokenizer = runtime_tokenizer(folder, "ctranslate2", spec.name)
        config = read_config(folder)
        generation = read_generation_config(folder, config)
    except ModelLoadError:
        raise
    except Exception as err:
        raise ModelLoadError(
            f"model {spec.name!r}: cannot load {spec.source} ({first_line(err)}); "
            "the folder must hold a model and tokenizer written by save_pretrained()"
        ) from err
    return tokenizer, config, generation


def _reference_scores(hf_folder: Path, source: list[int], output: list[int]) -> Any:
    """transformers' scores for the conversion check; imports torch, which only a fresh conversion needs."""
    from service.models.seq2seq_torch import teacher_forced_scores

    return teacher_forced_scores(hf_folder, source, output)


def _start_translator(
    spec: ModelSpec,
    loaded: _Loaded,
    codec: Seq2SeqCodec,
    probe: tuple[list[int], list[int]],
    batch_size: int,
    context: LoadContext,
) -> TranslatorRuntime:
    """The CTranslate2 runtime for the loaded folder, converting it first unless the cache has it."""
    assert loaded.folder is not None
    compute_type = options.compute_type(spec, context.device)
    quantization = options.stored_quantization(compute_type)
    # Across requests, batches are as large as within one unless the spec says otherwise; their tokens
    # fit the memory for one batch.
    batching = BatchPolicy.from_options(
        spec.name,
        {"max_batch": batch_size, **spec.options},
        max_tokens=batch_token_cap(context.batch_memory_bytes, loaded.config, codec.input_limit),
    )
    entry = conversion_entry(context.cache_dir, "seq2seq", spec.name, loaded.folder.identity())
    target = entry / f"ct2-{quantization}"
    source, prefix = probe
    layout = layout_once(
        spec.name,
        spec.options,
        context.threads,
        context.device,
        encoder_decoder=True,
        measure=lambda path, candidate: TranslatorRuntime.measure(
            path, codec.to_tokens(source), candidate, compute_type=compute_type
        ),
        width=model_width(loaded.config),
    )

    def open_runtime(path: Path) -> TranslatorRuntime:
        try:
            return TranslatorRuntime(
                path,
                codec.to_tokens,
                codec.tokenizer.convert_tokens_to_ids,
                device=context.device,
                compute_type=compute_type,
                threads=layout(path),
                generation=loaded.generation,
                batching=batching,
                label=spec.name,
            )
        except Exception as err:
            raise ModelLoadError(
                f"model {spec.name!r}: CTranslate2 cannot load {path} on {context.device} with "
                f"compute_type {compute_type} ({first_line(err)})"
            ) from err

    return load_converted(
        model=spec.name,
        source=spec.source,
        hf_folder=loaded.folder.path,
        target=target,
        quantization=quantization,
        encoder_decoder=True,
        check=ScoresAndTokens(source, prefix, codec.to_tokens, _reference_scores),
        open_runtime=open_runtime,
        integrity=Integrity(
            lambda runtime: runtime.probe(source, prefix, _PROBE_STEPS),
            probe_key(context.device, compute_type),
            full=context.verify_models,
        ),
    )


def _probe_input(codec: Seq2SeqCodec, request: Request | None) -> tuple[list[int], list[int]]:
    """Source ids and forced prefix of the conversion probe, built as a real request would be."""
    request = request or Request.summary("en")
    if codec.supports(request):
        return codec.encode([_PROBE_TEXT], request)[0], codec.prefix(request)
    return codec.encode_plain(_PROBE_TEXT), list(codec.default_prefix)


def _masked(texts: Sequence[str], language: str, params: GenerationParams) -> list[MaskedText]:
    """Each text with the terms of an output in `language` replaced by placeholders the model copies."""
    terminology = params.terminology
    return [mask_terms(text, terminology.terms_for(text, language)) for text in texts]

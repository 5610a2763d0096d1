"""Encoder-decoder models: BART, DistilBART, T5, Marian (OPUS-MT), M2M100, mBART-50, NLLB.

Every family spells languages its own way. A small table of family adapters turns the service's BCP-47 primary
tags into what the model expects: a task prefix (T5), a `>>xx<<` target token in the text (multi-target
OPUS-MT), or a source language set on the tokenizer plus a forced first output token (M2M100, mBART-50, NLLB).

Two runtimes decode the same token ids: `transformers` (the reference) and `ctranslate2`. A CTranslate2
model is converted once from the Hugging Face folder, cached under the cache directory by what it was made
from, and only kept after its scores and greedy tokens on a probe input agree with transformers'.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

from service.errors import (
    ModelError,
    ModelLoadError,
    RequestCancelledError,
    SummarizerError,
    UnsupportedLanguageError,
)
from service.models.base import (
    SUMMARIZE,
    TRANSLATE,
    GenerationParams,
    LoadContext,
    ModelDescription,
    ModelSpec,
    SummaryText,
    expand_pairs,
    forced_output_tokens,
)
from service.models.batching import BatchPolicy, Job, MicroBatcher, RowStops
from service.models.convert_cache import build_once, folder_key, safe_name
from service.models.hf_files import load_tokenizer, read_config, read_generation_config
from service.models.registry import register_backend
from service.text.languages import language_name

log = logging.getLogger(__name__)

RUNTIMES = ("ctranslate2", "transformers")
# Longest input a model is given, whatever its position table allows: longer articles are chunked upstream.
MAX_INPUT_CAP = 1024
# A translation may be this much longer than its source, in tokens, and never longer than the last figure.
TRANSLATION_GROWTH = 2
TRANSLATION_SLACK = 16
MAX_TRANSLATION_TOKENS = 512
DEFAULT_BATCH_SIZE = 16

# What CTranslate2 can store and compute in; a converted folder is named after it.
CT2_COMPUTE_TYPES = frozenset(
    {"int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32"}
)
# Part of the conversion cache key: bumped when the conversion below changes what it writes.
_CONVERSION_REVISION = 1
# The probe a fresh conversion must pass: the same input through both runtimes, float32 on the CPU.
_PROBE_TEXT = "The city council approved a new budget for public transport on Monday."
_PROBE_STEPS = 8
# A faithful conversion's scores correlate with transformers' at 0.999 or more, int8 weights included
# (measured on every family); a misplaced position table or foreign weights bring some step to 0.95 or less.
_MIN_SCORE_CORRELATION = 0.98
# CTranslate2 writes masked scores (an end token before the minimum length) as the lowest float.
_MASKED = -1e30

# tag: (ISO 639-3, mBART-50 code, NLLB-200 code); None where mBART-50 lacks the language.
_LANGUAGE_CODES: dict[str, tuple[str, str | None, str]] = {
    "ar": ("ara", "ar_AR", "arb_Arab"),
    "bg": ("bul", None, "bul_Cyrl"),
    "cs": ("ces", "cs_CZ", "ces_Latn"),
    "da": ("dan", None, "dan_Latn"),
    "de": ("deu", "de_DE", "deu_Latn"),
    "el": ("ell", None, "ell_Grek"),
    "en": ("eng", "en_XX", "eng_Latn"),
    "es": ("spa", "es_XX", "spa_Latn"),
    "fa": ("fas", "fa_IR", "pes_Arab"),
    "fi": ("fin", "fi_FI", "fin_Latn"),
    "fr": ("fra", "fr_XX", "fra_Latn"),
    "he": ("heb", "he_IL", "heb_Hebr"),
    "hi": ("hin", "hi_IN", "hin_Deva"),
    "hu": ("hun", None, "hun_Latn"),
    "id": ("ind", "id_ID", "ind_Latn"),
    "it": ("ita", "it_IT", "ita_Latn"),
    "ja": ("jpn", "ja_XX", "jpn_Jpan"),
    "ko": ("kor", "ko_KR", "kor_Hang"),
    "nl": ("nld", "nl_XX", "nld_Latn"),
    "no": ("nor", None, "nob_Latn"),
    "pl": ("pol", "pl_PL", "pol_Latn"),
    "pt": ("por", "pt_XX", "por_Latn"),
    "ro": ("ron", "ro_RO", "ron_Latn"),
    "ru": ("rus", "ru_RU", "rus_Cyrl"),
    "sv": ("swe", "sv_SE", "swe_Latn"),
    "th": ("tha", "th_TH", "tha_Thai"),
    "tr": ("tur", "tr_TR", "tur_Latn"),
    "uk": ("ukr", "uk_UA", "ukr_Cyrl"),
    "ur": ("urd", "ur_PK", "urd_Arab"),
    "vi": ("vie", "vi_VN", "vie_Latn"),
    "zh": ("zho", "zh_CN", "zho_Hans"),
}
# OPUS-MT target tokens that are not derived from the table above (Chinese models name Mandarin).
_OPUS_EXTRA_CODES = {"zh": ("cmn_Hans", "cmn")}

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?$")
# Files a hub snapshot needs for transformers and the converter; other frameworks' weights are left out.
_HUB_IGNORE = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "*.onnx_data", "onnx/*", "*.tflite", "*.gguf"]


@dataclass(frozen=True)
class _Request:
    """What one generate call is for: a summary (source == target) or a translation."""

    task: str
    source: str
    target: str


def _token_id(tokenizer: Any, token: str) -> int | None:
    """The token's id, or None when the vocabulary does not have it."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        return None
    return int(token_id)


class _Family:
    """Plain input and no language controls: BART, DistilBART, PEGASUS, mT5 and other one-task fine-tunes."""

    name = "plain"

    def supports(self, tokenizer: Any, request: _Request) -> bool:
        return True

    def prompt(self, tokenizer: Any, text: str, request: _Request) -> str:
        return text

    def prepare(self, tokenizer: Any, request: _Request) -> None:
        """Point the tokenizer at the request's languages, for families whose tokenizer takes them."""

    def forced_prefix(self, tokenizer: Any, request: _Request) -> list[int] | None:
        """Tokens the output must open with, or None to keep the checkpoint's own (BART's `<s>`)."""
        return None

    def hidden_ids(self, tokenizer: Any) -> frozenset[int]:
        """Ids to drop from the output that the tokenizer does not itself treat as special."""
        return frozenset()


class _T5(_Family):
    """T5 was trained with the task written in front of the input, in English."""

    name = "t5"

    def prompt(self, tokenizer: Any, text: str, request: _Request) -> str:
        if request.task == SUMMARIZE:
            return f"summarize: {text}"
        return f"translate {language_name(request.source)} to {language_name(request.target)}: {text}"


class _Marian(_Family):
    """OPUS-MT: one direction per model; a multi-target model picks its output by a `>>xx<<` token."""

    name = "marian"

    def _target_token(self, tokenizer: Any, target: str) -> str | None:
        for code in _opus_codes(target):
            token = f">>{code}<<"
            if _token_id(tokenizer, token) is not None:
                return token
        return None

    def supports(self, tokenizer: Any, request: _Request) -> bool:
        multi_target = bool(getattr(tokenizer, "supported_language_codes", None))
        if request.task != TRANSLATE or not multi_target:
            return True
        return self._target_token(tokenizer, request.target) is not None

    def prompt(self, tokenizer: Any, text: str, request: _Request) -> str:
        token = self._target_token(tokenizer, request.target) if request.task == TRANSLATE else None
        return f"{token} {text}" if token else text


class _LanguageCodes(_Family):
    """Multilingual models: the tokenizer takes the source language; the output opens with the target's."""

    def __init__(self, name: str, codes: Mapping[str, str]) -> None:
        self.name = name
        self._codes = codes

    def code(self, language: str) -> str | None:
        return self._codes.get(language)

    def token(self, code: str) -> str:
        return code

    def _language_token_id(self, tokenizer: Any, language: str) -> int | None:
        code = self.code(language)
        return None if code is None else _token_id(tokenizer, self.token(code))

    def supports(self, tokenizer: Any, request: _Request) -> bool:
        return all(
            self._language_token_id(tokenizer, lang) is not None for lang in (request.source, request.target)
        )

    def prepare(self, tokenizer: Any, request: _Request) -> None:
        tokenizer.src_lang = self.code(request.source)

    def forced_prefix(self, tokenizer: Any, request: _Request) -> list[int] | None:
        target = self._language_token_id(tokenizer, request.target)
        return None if target is None else [target]


class _M2M100(_LanguageCodes):
    """M2M100 names languages by their bare ISO 639-1 code; the vocabulary spells them `__fr__`."""

    def __init__(self) -> None:
        super().__init__("m2m_100", {})

    def code(self, language: str) -> str | None:
        return language

    def token(self, code: str) -> str:
        return f"__{code}__"

    def hidden_ids(self, tokenizer: Any) -> frozenset[int]:
        # transformers 5 does not register M2M100's language tokens as special, so decoding would keep them.
        return frozenset(getattr(tokenizer, "lang_token_to_id", {}).values())


def _opus_codes(target: str) -> list[str]:
    """Spellings a multi-target OPUS-MT vocabulary may use for `target`, most common first."""
    codes = [target]
    if target in _LANGUAGE_CODES:
        iso3, _, nllb = _LANGUAGE_CODES[target]
        codes += [iso3, nllb, nllb.split("_", 1)[0]]
    codes += _OPUS_EXTRA_CODES.get(target, ())
    return list(dict.fromkeys(codes))


_FAMILIES: dict[str, _Family] = {
    family.name: family
    for family in (
        _Family(),
        _T5(),
        _Marian(),
        _M2M100(),
        _LanguageCodes("mbart", {tag: row[1] for tag, row in _LANGUAGE_CODES.items() if row[1]}),
        _LanguageCodes("nllb", {tag: row[2] for tag, row in _LANGUAGE_CODES.items()}),
    )
}
# config.model_type -> family; any other type takes plain input.
_FAMILY_OF_MODEL_TYPE = {"marian": "marian", "t5": "t5", "m2m_100": "m2m_100", "mbart": "mbart"}


def _detect_family(spec: ModelSpec, model_type: str, tokenizer: Any) -> _Family:
    name = spec.options.get("family")
    if name is None:
        # NLLB checkpoints reuse the M2M100 architecture; only the tokenizer tells them apart.
        if type(tokenizer).__name__.startswith("Nllb"):
            name = "nllb"
        else:
            name = _FAMILY_OF_MODEL_TYPE.get(model_type, "plain")
    try:
        return _FAMILIES[str(name)]
    except KeyError:
        raise ModelLoadError(
            f"model {spec.name!r}: unknown family {name!r} in options; known: {', '.join(sorted(_FAMILIES))}"
        ) from None


# -- runtimes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decode:
    """One generate call's controls. Lengths count output tokens, the forced prefix included."""

    max_tokens: int
    min_tokens: int
    num_beams: int
    should_stop: Callable[[], bool] | None


def _decoder_start(config: Any, generation: Any) -> int:
    start = generation.decoder_start_token_id
    if start is None:
        start = config.decoder_start_token_id
    if start is None:
        raise ModelLoadError(f"{config.model_type} checkpoint names no decoder start token")
    return int(start)


def _end_ids(config: Any, generation: Any) -> frozenset[int]:
    ids = generation.eos_token_id if generation.eos_token_id is not None else config.eos_token_id
    if ids is None:
        return frozenset()
    return frozenset([int(ids)] if isinstance(ids, int) else (int(i) for i in ids))


class _Runtime(Protocol):
    name: str

    def generate(
        self, sources: Sequence[list[int]], prefixes: Sequence[list[int]], decode: _Decode
    ) -> list[list[int]]:
        """Output ids per source, opening with its prefix, without the decoder start and end tokens.

        Every prefix in one call has the same length.
        """
        ...


class _BatchKey(NamedTuple):
    """What one translate_batch call cannot vary per row; rows batch together only when it matches."""

    prefix_length: int
    beams: int
    min_tokens: int
    max_tokens: int | None  # beam search has no per-row stop: its rows share the length too


class _CT2Runtime:
    """A converted model run by CTranslate2's Translator on the token strings of the HF tokenizer.

    Every call goes through a MicroBatcher, so texts of concurrent requests decode in one batch.
    """

    name = "ctranslate2"

    def __init__(
        self,
        folder: Path,
        tokenizer: Any,
        device: str,
        compute_type: str,
        threads: int,
        generation: Any,
        batching: BatchPolicy,
        label: str,
    ) -> None:
        import ctranslate2

        kind, _, index = device.partition(":")
        self._translator = ctranslate2.Translator(
            str(folder),
            device=kind,
            device_index=int(index or 0),
            compute_type=compute_type,
            intra_threads=max(0, threads),
            inter_threads=1,
        )
        self._tokenizer = tokenizer
        self._options = _ct2_search_options(generation)
        self.batcher = MicroBatcher(self._run_batch, batching, name=f"{label}-batcher")

    def generate(
        self, sources: Sequence[list[int]], prefixes: Sequence[list[int]], decode: _Decode
    ) -> list[list[int]]:
        """Output ids per source, opening with its prefix, without the decoder start and end tokens."""
        beams = max(1, decode.num_beams)
        jobs = [
            Job(
                list(source),
                decode.max_tokens,
                decode.should_stop,
                prefix=list(prefix),
                group=_BatchKey(
                    len(prefix), beams, decode.min_tokens, decode.max_tokens if beams > 1 else None
                ),
            )
            for source, prefix in zip(sources, prefixes, strict=True)
        ]
        return self.batcher.submit(jobs)

    def _run_batch(self, jobs: list[Job]) -> None:
        """One translate_batch over rows that may come from different requests.

        Greedy rows stop at their own budget or their own stop signal (the step callback returns True
        for that row only); beam search has no step callback, so its rows are stopped between batches.
        """
        key = cast(_BatchKey, jobs[0].group)
        to_tokens = self._tokenizer.convert_ids_to_tokens
        stops = RowStops(jobs)
        results = self._translator.translate_batch(
            [to_tokens(job.prompt) for job in jobs],
            [to_tokens(job.prefix) for job in jobs] if key.prefix_length else None,
            beam_size=key.beams,
            max_decoding_length=max(job.max_new_tokens for job in jobs),
            min_decoding_length=key.min_tokens,
            max_input_length=0,  # inputs come truncated to the model's limit
            callback=stops if key.beams == 1 else None,
            **self._options,
        )
        to_ids = self._tokenizer.convert_tokens_to_ids
        stops.resolve([[int(i) for i in to_ids(result.hypotheses[0])] for result in results])


def _ct2_search_options(generation: Any) -> dict[str, Any]:
    """The checkpoint's decoding rules that transformers applies by default, spelled for CTranslate2."""
    options: dict[str, Any] = {}
    if generation.no_repeat_ngram_size:
        options["no_repeat_ngram_size"] = int(generation.no_repeat_ngram_size)
    if generation.repetition_penalty not in (None, 1.0):
        options["repetition_penalty"] = float(generation.repetition_penalty)
    if generation.length_penalty not in (None, 1.0):
        options["length_penalty"] = float(generation.length_penalty)
    return options


# -- conversion ------------------------------------------------------------------------------------------

# transformers 5 configs no longer carry these flags, which the converter reads; the modeling code
# hard-wires them (BART normalizes after each block, mBART before).
_LAYOUTS: dict[str, dict[str, bool]] = {
    "bart": {"normalize_before": False, "normalize_embedding": True},
    "mbart": {"normalize_before": True, "normalize_embedding": True},
}


class _ConverterTokenizer:
    """The tokenizer as the converter reads it, with what transformers 5 keeps elsewhere put back."""

    def __init__(self, tokenizer: Any, bos_id: int | None) -> None:
        self._tokenizer = tokenizer
        self._bos_id = bos_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    @property
    def bos_token(self) -> str | None:
        if self._tokenizer.bos_token is None and self._bos_id is not None:
            return str(self._tokenizer.convert_ids_to_tokens(self._bos_id))
        return cast("str | None", self._tokenizer.bos_token)

    def get_vocab(self) -> dict[str, int]:
        # M2M100's language tokens sit after the sentencepiece vocabulary but are not part of get_vocab().
        vocab = dict(self._tokenizer.get_vocab())
        for token, index in (getattr(self._tokenizer, "lang_token_to_id", None) or {}).items():
            vocab.setdefault(token, index)
        return vocab


def _convert_to_ct2(hf_folder: Path, output: Path, quantization: str) -> None:
    """Write the CTranslate2 model for `hf_folder` into the (empty) folder `output`."""
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        bos_id: int | None = None

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            config = model.config
            for flag, value in _LAYOUTS.get(config.model_type, {}).items():
                setattr(config, flag, value)
            if (
                config.model_type == "mbart"
                and getattr(config, "tokenizer_class", None) is None
                and config.decoder_start_token_id == config.eos_token_id
            ):
                # The converter takes a missing tokenizer class for mBART-25, whose decoder starts with a
                # language code; a decoder that starts with </s> is mBART-50's.
                config.tokenizer_class = "MBart50Tokenizer"
            self.bos_id = getattr(config, "bos_token_id", None)
            return model

        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            tokenizer = super().load_tokenizer(tokenizer_class, model_name_or_path, **kwargs)
            return _ConverterTokenizer(tokenizer, self.bos_id)

    Converter(str(hf_folder), low_cpu_mem_usage=True).convert(
        str(output), quantization=quantization, force=True
    )


def _ct2_vocabulary(folder: Path) -> list[str]:
    for name in ("target_vocabulary.json", "shared_vocabulary.json"):
        if (folder / name).is_file():
            return cast(list[str], json.loads((folder / name).read_text(encoding="utf-8")))
    raise ModelLoadError(f"{folder} holds no CTranslate2 target vocabulary")


def _verify_conversion(
    name: str, hf_folder: Path, ct2_folder: Path, tokenizer: Any, source: list[int], prefix: list[int]
) -> None:
    """Refuse a conversion that does not compute what transformers computes, on one probe input.

    CTranslate2 decodes the probe greedily (float32 compute, so that only the stored weights' rounding
    remains) and reports its scores over the whole vocabulary at every step; transformers scores the same
    tokens in one teacher-forced pass. The conversion passes when, at every step, the two score vectors
    correlate above _MIN_SCORE_CORRELATION, and the token CTranslate2 picked is transformers' greedy pick
    too, or loses to it by no more than the two runtimes' measured difference at that step (a near tie).
    Scores rather than text, because the tiny random models of the tests write the same token over and
    over, where a comparison of text could not tell a broken conversion from a good one.
    """
    import ctranslate2
    import numpy as np

    vocabulary = _ct2_vocabulary(ct2_folder)
    index = {token: i for i, token in enumerate(vocabulary)}
    translator = ctranslate2.Translator(str(ct2_folder), device="cpu", compute_type="float32")
    steps = max(_PROBE_STEPS, len(prefix) + 2)
    result = translator.translate_batch(
        [tokenizer.convert_ids_to_tokens(source)],
        [tokenizer.convert_ids_to_tokens(prefix)] if prefix else None,
        beam_size=1,
        max_decoding_length=steps,
        min_decoding_length=steps,
        max_input_length=0,
        return_logits_vocab=True,
    )[0]
    output = [index[token] for token in result.hypotheses[0]]
    converted = [np.asarray(step, dtype=np.float32) for step in result.logits[0]]
    del translator

    from service.models.seq2seq_torch import teacher_forced_scores

    reference = teacher_forced_scores(hf_folder, source, output)

    def refuse(detail: str) -> None:
        raise ModelLoadError(
            f"model {name!r}: the CTranslate2 conversion disagrees with transformers on a probe ({detail}); "
            "use runtime 'transformers' for this model (options.runtime)"
        )

    if len(output) < len(prefix) + 1 or len(converted) != len(output):
        refuse(f"CTranslate2 wrote {len(output)} tokens where {steps} were asked for")
    lowest = 1.0
    for step, (token, scores) in enumerate(zip(output, converted, strict=True)):
        # Vocabularies may differ at the end (OPUS-MT's <pad> is not in the converted model).
        width = min(reference.shape[1], scores.shape[0])
        expected, actual = reference[step, :width], scores[:width]
        usable = np.isfinite(expected) & np.isfinite(actual) & (expected > _MASKED) & (actual > _MASKED)
        # Scores are compared up to a constant: one runtime may report logits, the other log-probabilities.
        x = expected[usable] - expected[usable].mean()
        y = actual[usable] - actual[usable].mean()
        correlation = float(x @ y / max(float(np.linalg.norm(x) * np.linalg.norm(y)), 1e-30))
        if not correlation >= _MIN_SCORE_CORRELATION:
            refuse(f"scores at output step {step} correlate at {correlation:.3f}")
        lowest = min(lowest, correlation)
        if step < len(prefix):
            continue  # forced, not chosen
        noise = float(np.max(np.abs(x - y)))
        best = int(np.argmax(np.where(usable, expected, -np.inf)))
        if token >= width or not usable[token] or expected[best] - expected[token] > 2 * noise:
            refuse(
                f"greedy token {step} is {vocabulary[token]!r} where transformers picks {vocabulary[best]!r}"
            )
    log.info(
        "the CTranslate2 conversion of %s matches transformers on the probe (score correlation %.4f or more)",
        name,
        lowest,
    )


# -- the backend -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One text into one target language."""

    target: str
    index: int
    source: list[int]
    prefix: list[int]


@register_backend("seq2seq")
class Seq2SeqModel:
    """An encoder-decoder model that summarizes, translates, or both, as its spec says.

    Options (`spec.options`):
      runtime: "ctranslate2" or "transformers"; the load context's default otherwise.
      compute_type: CTranslate2's, and the quantization of the converted folder; "int8" on the CPU and
        "int8_float16" on a GPU unless given.
      family: the language convention, when the checkpoint does not reveal it ("plain", "t5", "marian",
        "m2m_100", "mbart", "nllb").
      batch_size: texts per generate call (16).
      max_batch, max_batch_delay_ms, max_batch_refill_ms, max_batch_tokens: CTranslate2 only. Calls of
        concurrent requests are gathered for max_batch_delay_ms (5), or up to max_batch_refill_ms (250)
        while the last batch's callers come back, into one batch of at most max_batch texts (batch_size)
        and max_batch_tokens input tokens (32,768). See service.models.batching.
      max_input_tokens: lowers (or, without a position table, sets) the input limit.
      translate_all: every pair of `languages` is a translation pair.
      force_output_tokens: for benchmarks only. Every generation writes exactly this many tokens (the end
        token is held back until then and the length is capped at the decoder's position table), in both
        runtimes, so that random-weight models of full size cost what real ones do.

    Multilingual families (M2M100, mBART-50, NLLB) also translate into several targets in one batch
    (`translate_to_many`); Marian, T5 and plain models do not offer it, and the pipeline asks them target
    by target.
    """

    def __init__(self, spec: ModelSpec, context: LoadContext) -> None:
        self.name = spec.name
        self._spec = spec
        self.runtime = str(spec.options.get("runtime", context.runtime))
        if self.runtime not in RUNTIMES:
            raise ModelLoadError(
                f"model {spec.name!r}: unknown runtime {self.runtime!r}; known: {', '.join(RUNTIMES)}"
            )
        self._forced_tokens = forced_output_tokens(spec)
        started = time.perf_counter()
        model: Any = None
        if self.runtime == "transformers":
            # Only this runtime imports torch.
            from service.models.seq2seq_torch import load_model

            self._tokenizer, model = load_model(spec, context, forced_length=self._forced_tokens is not None)
            config, generation = model.config, model.generation_config
        else:
            folder, revision = _snapshot(spec, context)
            self._tokenizer, config, generation = _load_configs(spec, folder)
        self._family = _detect_family(spec, config.model_type, self._tokenizer)
        self.family = self._family.name
        self._hidden_ids = self._family.hidden_ids(self._tokenizer)
        # Tokenizers are not thread-safe and some keep the source language as state: one caller at a time.
        self._lock = threading.Lock()
        self._supported: dict[_Request, bool] = {}
        self._pairs = frozenset(expand_pairs(spec))
        self._batch_size = max(1, int(spec.options.get("batch_size", DEFAULT_BATCH_SIZE)))
        self._special_tokens = self._tokenizer.num_special_tokens_to_add()
        self._input_limit = _input_limit(spec, config, self._tokenizer)
        # A decoder with a position table cannot write past it.
        positions = getattr(config, "max_position_embeddings", None)
        self._output_limit = positions - 1 if isinstance(positions, int) and positions > 1 else None
        forced_bos = generation.forced_bos_token_id
        self._default_prefix = [int(forced_bos)] if forced_bos is not None else []
        # Room for what the family adds to a text (a prefix, a target token), so a chunk the pipeline
        # sized by count_tokens() still fits.
        self.max_input_tokens = self._input_limit - self._prompt_reserve()
        self._runtime: _Runtime
        if model is not None:
            from service.models.seq2seq_torch import TorchRuntime

            pad = self._tokenizer.pad_token_id
            self._runtime = TorchRuntime(model, int(pad if pad is not None else 0))
        else:
            self._runtime = self._load_ct2(folder, revision, generation, context)
        if isinstance(self._family, _LanguageCodes):
            # Only these models are MultiTargetTranslators: the pipeline checks for the method.
            self.translate_to_many = self._translate
        log.info(
            "loaded %s from %s (family %s, %s, %d input tokens) in %.1fs",
            self.name,
            spec.source,
            self.family,
            self.runtime,
            self.max_input_tokens,
            time.perf_counter() - started,
        )

    # -- the protocols -------------------------------------------------------------------------------

    def describe(self) -> ModelDescription:
        return ModelDescription(
            name=self.name,
            backend="seq2seq",
            source=self._spec.source,
            runtime=self.runtime,
            tasks=self._spec.tasks,
            summary_languages=self._spec.languages,
            translation_pairs=expand_pairs(self._spec),
            any_language=SUMMARIZE in self._spec.tasks and not self._spec.languages,
        )

    def summarizes(self, language: str) -> bool:
        if SUMMARIZE not in self._spec.tasks:
            return False
        if self._spec.languages and language not in self._spec.languages:
            return False
        return self._supports(_Request(SUMMARIZE, language, language))

    def translates(self, source: str, target: str) -> bool:
        return (source, target) in self._pairs and self._supports(_Request(TRANSLATE, source, target))

    def count_tokens(self, text: str) -> int:
        with self._lock:
            ids = self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        return len(ids) + self._special_tokens

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        [summary] = self.summarize_many([text], language, params)
        return summary

    def summarize_many(
        self, texts: Sequence[str], language: str, params: GenerationParams
    ) -> list[SummaryText]:
        """Each text summarized on its own, batch_size texts to a generate call."""
        request = _Request(SUMMARIZE, language, language)
        summaries: list[SummaryText] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            ids = self._generate_ids(batch, request, params, params.max_new_tokens)
            summaries += [SummaryText(text) for text in self._decode(ids)]
        return summaries

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        return self._translate(texts, source, [target], params)[target]

    def warmup(self) -> None:
        """One tiny generate, so that the first request does not pay for lazy initialisation."""
        request = self._probe_request()
        if request is None:
            log.debug("%s: no configured language to warm up with", self.name)
            return
        self._generate_ids(["Warm-up."], request, GenerationParams(max_new_tokens=2), 2)

    # -- generation ----------------------------------------------------------------------------------

    def _translate(
        self, texts: Sequence[str], source: str, targets: Sequence[str], params: GenerationParams
    ) -> dict[str, list[str]]:
        """Every text into every target; rows batch by length whatever their target; blanks stay blank."""
        results = {target: [""] * len(texts) for target in targets}
        jobs: list[_Job] = []
        indices = [i for i, text in enumerate(texts) if text.strip()]
        for target in results:
            request = _Request(TRANSLATE, source, target)
            sources = self._encode([texts[i] for i in indices], request)
            prefix = self._prefix(request)
            jobs += [_Job(target, i, ids, prefix) for i, ids in zip(indices, sources, strict=True)]
        jobs.sort(key=lambda job: (len(job.prefix), len(job.source)))
        for batch in self._batches(jobs):
            rows = self._generate(
                [job.source for job in batch], [job.prefix for job in batch], TRANSLATE, params, None
            )
            for job, translation in zip(batch, self._decode(rows), strict=True):
                results[job.target][job.index] = translation
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

    def _encode(self, texts: Sequence[str], request: _Request) -> list[list[int]]:
        """Input ids for `texts`, special tokens included, truncated to the model's limit."""
        if not self._supports(request):
            field = "target_language" if request.task == TRANSLATE else "language"
            raise UnsupportedLanguageError(
                field, f"model {self.name} has no language code for {request.source}->{request.target}"
            )
        if not texts:
            return []
        with self._lock:
            self._family.prepare(self._tokenizer, request)
            prompts = [self._family.prompt(self._tokenizer, text, request) for text in texts]
            ids = self._tokenizer(prompts, truncation=True, max_length=self._input_limit)["input_ids"]
            if log.isEnabledFor(logging.DEBUG):
                self._log_truncation(prompts, [len(row) for row in ids])
        return [[int(i) for i in row] for row in ids]

    def _prefix(self, request: _Request) -> list[int]:
        """The tokens every output for `request` opens with: a target language, or the checkpoint's BOS."""
        with self._lock:
            forced = self._family.forced_prefix(self._tokenizer, request)
        return list(self._default_prefix if forced is None else forced)

    def _log_truncation(self, prompts: list[str], lengths: list[int]) -> None:
        """The pipeline chunks long articles, so a truncated input means a chunk was sized wrong."""
        for prompt, length in zip(prompts, lengths, strict=True):
            if length >= self._input_limit:
                total = len(self._tokenizer(prompt, verbose=False)["input_ids"])
                if total > self._input_limit:
                    log.debug("%s: input of %d tokens truncated to %d", self.name, total, self._input_limit)

    def _generate_ids(
        self, texts: Sequence[str], request: _Request, params: GenerationParams, max_new_tokens: int | None
    ) -> list[list[int]]:
        sources = self._encode(texts, request)
        prefix = self._prefix(request)
        return self._generate(sources, [prefix] * len(sources), request.task, params, max_new_tokens)

    def _generate(
        self,
        sources: list[list[int]],
        prefixes: list[list[int]],
        task: str,
        params: GenerationParams,
        max_new_tokens: int | None,
    ) -> list[list[int]]:
        """Output ids per source: its prefix, then what the model wrote, without start and end tokens.

        `max_new_tokens=None` gives each text a budget from its own length, as if it were generated alone.
        """
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
        longest = max(budgets)
        if self._forced_tokens is not None:
            shortest = longest
        else:
            shortest = min(params.min_new_tokens, longest) if task == SUMMARIZE else 0
        if params.should_stop is not None and params.should_stop():
            raise RequestCancelledError(f"{self.name}: stopped before generation")
        decode = _Decode(longest, shortest, max(1, params.num_beams), params.should_stop)
        try:
            rows = self._runtime.generate(sources, prefixes, decode)
        except SummarizerError:
            raise
        except Exception as err:
            raise ModelError(f"{self.name}: generation failed ({type(err).__name__})") from err
        return [row[:budget] for row, budget in zip(rows, budgets, strict=True)]

    def _decode(self, rows: list[list[int]]) -> list[str]:
        if self._hidden_ids:
            rows = [[i for i in row if i not in self._hidden_ids] for row in rows]
        with self._lock:
            texts = self._tokenizer.batch_decode(rows, skip_special_tokens=True)
        return [text.strip() for text in texts]

    # -- CTranslate2 ---------------------------------------------------------------------------------

    def _load_ct2(
        self, folder: Path, revision: str | None, generation: Any, context: LoadContext
    ) -> _CT2Runtime:
        default = "int8" if context.device == "cpu" else "int8_float16"
        compute_type = str(self._spec.options.get("compute_type") or default)
        if compute_type not in CT2_COMPUTE_TYPES:
            raise ModelLoadError(
                f"model {self.name!r}: unknown compute_type {compute_type!r}; "
                f"known: {', '.join(sorted(CT2_COMPUTE_TYPES))}"
            )
        # Across requests, batches are as large as within one unless the spec says otherwise.
        batching = BatchPolicy.from_options(self.name, {"max_batch": self._batch_size, **self._spec.options})
        key = folder_key(folder, revision=revision, salt=f"seq2seq-ct2-{_CONVERSION_REVISION}")
        target = context.cache_dir / "seq2seq" / f"{safe_name(self.name)}-{key}" / f"ct2-{compute_type}"

        def convert(tmp: Path) -> None:
            log.info("converting %s to CTranslate2 %s (once; cached in %s)", self.name, compute_type, target)
            started = time.perf_counter()
            try:
                _convert_to_ct2(folder, tmp, compute_type)
            except Exception as err:
                raise ModelLoadError(
                    f"model {self.name!r}: CTranslate2 cannot convert {self._spec.source} "
                    f"({_first_line(err)}); use runtime 'transformers' for this model (options.runtime)"
                ) from err
            log.info("converted %s in %.1fs", self.name, time.perf_counter() - started)
            source, prefix = self._probe_input()
            _verify_conversion(self.name, folder, tmp, self._tokenizer, source, prefix)

        build_once(target, convert)
        try:
            return _CT2Runtime(
                target,
                self._tokenizer,
                context.device,
                compute_type,
                context.threads,
                generation,
                batching,
                self.name,
            )
        except Exception as err:
            raise ModelLoadError(
                f"model {self.name!r}: CTranslate2 cannot load {target} on {context.device} with "
                f"compute_type {compute_type} ({_first_line(err)})"
            ) from err

    def _probe_input(self) -> tuple[list[int], list[int]]:
        """Source ids and forced prefix of the conversion probe, built as a real request would be."""
        request = self._probe_request() or _Request(SUMMARIZE, "en", "en")
        if self._supports(request):
            return self._encode([_PROBE_TEXT], request)[0], self._prefix(request)
        with self._lock:
            source = self._tokenizer(_PROBE_TEXT, truncation=True, max_length=self._input_limit)["input_ids"]
        return [int(i) for i in source], list(self._default_prefix)

    # -- languages -----------------------------------------------------------------------------------

    def _supports(self, request: _Request) -> bool:
        known = self._supported.get(request)
        if known is None:
            with self._lock:
                known = self._family.supports(self._tokenizer, request)
            self._supported[request] = known
        return known

    def _configured_requests(self) -> list[_Request]:
        requests = [_Request(TRANSLATE, source, target) for source, target in expand_pairs(self._spec)]
        if SUMMARIZE in self._spec.tasks:
            requests += [_Request(SUMMARIZE, lang, lang) for lang in self._spec.languages or ("en",)]
        return requests

    def _probe_request(self) -> _Request | None:
        """The first configured request the model supports."""
        return next((r for r in self._configured_requests() if self._supports(r)), None)

    def _prompt_reserve(self) -> int:
        """The most tokens the family's prompt adds to a text, over the configured languages and pairs."""

        def length(text: str) -> int:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

        probe = "x"
        with self._lock:
            prompts = [self._family.prompt(self._tokenizer, probe, r) for r in self._configured_requests()]
            return max([0, *(length(prompt) - length(probe) for prompt in prompts)])


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def _offline(context: LoadContext) -> bool:
    return context.offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE_WORDS


def _check_source(spec: ModelSpec) -> tuple[str, Path]:
    source = spec.source.strip()
    if not source:
        raise ModelLoadError(f"model {spec.name!r}: no source; give a hub id or a local folder")
    local = Path(source).expanduser()
    if not local.exists() and not _HUB_ID.match(source):
        raise ModelLoadError(
            f"model {spec.name!r}: local folder {source} does not exist; point source at a folder written by "
            "save_pretrained() or at a hub id"
        )
    return source, local


def _hint(source: str, local: Path) -> str:
    if local.exists():
        return "the folder must hold a model and tokenizer written by save_pretrained()"
    return f"fetch it first with `hf download {source}`, or point source at a local folder"


def _snapshot(spec: ModelSpec, context: LoadContext) -> tuple[Path, str | None]:
    """The model's folder for conversion, and the hub revision when it is a hub snapshot."""
    source, local = _check_source(spec)
    if local.is_dir():
        return local, None
    if local.exists():
        raise ModelLoadError(f"model {spec.name!r}: {source} is a file; point source at a model folder")
    try:
        from huggingface_hub import snapshot_download

        folder = Path(
            snapshot_download(source, local_files_only=_offline(context), ignore_patterns=_HUB_IGNORE)
        )
    except Exception as err:
        raise ModelLoadError(
            f"model {spec.name!r}: cannot load {source} ({_first_line(err)}); {_hint(source, local)}"
        ) from err
    # A snapshot folder is named after the commit it holds.
    return folder, f"{source}@{folder.name}"


def _load_configs(spec: ModelSpec, folder: Path) -> tuple[Any, Any, Any]:
    """Tokenizer, model config and generation config: all the CTranslate2 runtime needs from the folder."""
    try:
        tokenizer = load_tokenizer(folder)
        config = read_config(folder)
        generation = read_generation_config(folder, config)
    except Exception as err:
        raise ModelLoadError(
            f"model {spec.name!r}: cannot load {spec.source} ({_first_line(err)}); "
            "the folder must hold a model and tokenizer written by save_pretrained()"
        ) from err
    return tokenizer, config, generation


def _input_limit(spec: ModelSpec, config: Any, tokenizer: Any) -> int:
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

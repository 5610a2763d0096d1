"""Encoder-decoder models run by transformers: BART, DistilBART, T5, Marian (OPUS-MT), M2M100, mBART-50, NLLB.

Every family spells languages its own way. A small table of family adapters turns the service's BCP-47 primary
tags into what the model expects: a task prefix (T5), a `>>xx<<` target token in the text (multi-target
OPUS-MT), or a source language set on the tokenizer plus a forced first output token (M2M100, mBART-50, NLLB).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from service.errors import (
    CancelledError,
    ModelError,
    ModelLoadError,
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
)
from service.models.registry import register_backend
from service.text.languages import language_name

log = logging.getLogger(__name__)

# Longest input a model is given, whatever its position table allows: longer articles are chunked upstream.
MAX_INPUT_CAP = 1024
# A translation may be this much longer than its source, in tokens, and never longer than the last figure.
TRANSLATION_GROWTH = 2
TRANSLATION_SLACK = 16
MAX_TRANSLATION_TOKENS = 512
DEFAULT_BATCH_SIZE = 16

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

    def prepare(self, tokenizer: Any, request: _Request) -> dict[str, Any]:
        """Point the tokenizer at the request's languages; return extra generate() arguments."""
        return {}

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

    def prepare(self, tokenizer: Any, request: _Request) -> dict[str, Any]:
        tokenizer.src_lang = self.code(request.source)
        return {"forced_bos_token_id": self._language_token_id(tokenizer, request.target)}


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


class _StopWhenAsked(StoppingCriteria):
    """Polls the caller's `should_stop` after every decoding step and ends generation when it says so."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self._should_stop = should_stop
        self.triggered = False

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        if not self.triggered and self._should_stop():
            self.triggered = True
        done = torch.full((input_ids.shape[0],), self.triggered, dtype=torch.bool, device=input_ids.device)
        return cast(torch.BoolTensor, done)


@register_backend("seq2seq")
class Seq2SeqModel:
    """A transformers encoder-decoder model that summarizes, translates, or both, as its spec says."""

    def __init__(self, spec: ModelSpec, context: LoadContext) -> None:
        self.name = spec.name
        self._spec = spec
        self._device = torch.device(context.device)
        if context.threads > 0:
            torch.set_num_threads(context.threads)
        started = time.perf_counter()
        self._tokenizer, self._model = _load(spec, context)
        self._model.to(self._device).eval()
        # The service's GenerationParams decide output lengths. The checkpoint's own would be overridden
        # anyway, but generate() warns on every call while they are set.
        self._model.generation_config.max_length = None
        self._model.generation_config.min_length = None
        self._family = _detect_family(spec, self._model.config.model_type, self._tokenizer)
        self.family = self._family.name
        self._hidden_ids = self._family.hidden_ids(self._tokenizer)
        # Tokenizers are not thread-safe and some keep the source language as state: one caller at a time.
        self._lock = threading.Lock()
        self._supported: dict[_Request, bool] = {}
        self._pairs = frozenset(expand_pairs(spec))
        self._batch_size = int(spec.options.get("batch_size", DEFAULT_BATCH_SIZE))
        self._special_tokens = self._tokenizer.num_special_tokens_to_add()
        self._input_limit = _input_limit(spec, self._model.config, self._tokenizer)
        # A decoder with a position table cannot write past it.
        positions = getattr(self._model.config, "max_position_embeddings", None)
        self._output_limit = positions - 1 if isinstance(positions, int) and positions > 1 else None
        # Room for what the family adds to a text (a prefix, a target token), so a chunk the pipeline
        # sized by count_tokens() still fits.
        self.max_input_tokens = self._input_limit - self._prompt_reserve()
        log.info(
            "loaded %s from %s (family %s, %d input tokens) in %.1fs",
            self.name,
            spec.source,
            self.family,
            self.max_input_tokens,
            time.perf_counter() - started,
        )

    # -- the protocols -------------------------------------------------------------------------------

    def describe(self) -> ModelDescription:
        return ModelDescription(
            name=self.name,
            backend="seq2seq",
            source=self._spec.source,
            runtime="transformers",
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
        request = _Request(SUMMARIZE, language, language)
        ids = self._generate_ids([text], request, params, params.max_new_tokens)
        return SummaryText(self._decode(ids)[0])

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        request = _Request(TRANSLATE, source, target)
        results = [""] * len(texts)
        # Similar lengths batch with less padding; blank texts need no model.
        order = sorted((i for i, text in enumerate(texts) if text.strip()), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            indices = order[start : start + self._batch_size]
            ids = self._generate_ids([texts[i] for i in indices], request, params, None)
            for i, translation in zip(indices, self._decode(ids), strict=True):
                results[i] = translation
        return results

    def warmup(self) -> None:
        """One tiny generate, so that the first request does not pay for lazy initialisation."""
        for request in self._configured_requests():
            if self._supports(request):
                self._generate_ids(["Warm-up."], request, GenerationParams(max_new_tokens=2), 2)
                return
        log.debug("%s: no configured language to warm up with", self.name)

    # -- generation ----------------------------------------------------------------------------------

    def _encode(
        self, texts: Sequence[str], request: _Request
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Model inputs for `texts` and the family's extra generate() arguments."""
        if not self._supports(request):
            field = "target_language" if request.task == TRANSLATE else "language"
            raise UnsupportedLanguageError(
                field, f"model {self.name} has no language code for {request.source}->{request.target}"
            )
        with self._lock:
            extra = self._family.prepare(self._tokenizer, request)
            prompts = [self._family.prompt(self._tokenizer, text, request) for text in texts]
            batch = self._tokenizer(
                prompts, return_tensors="pt", padding=True, truncation=True, max_length=self._input_limit
            )
            if log.isEnabledFor(logging.DEBUG):
                self._log_truncation(prompts, batch["attention_mask"].sum(dim=1).tolist())
        inputs = {key: batch[key].to(self._device) for key in ("input_ids", "attention_mask")}
        return inputs, extra

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
        """Generated token ids, one row per text, each opening with the decoder's start token.

        `max_new_tokens=None` gives each text a budget from its own length, as if it were generated alone.
        """
        inputs, extra = self._encode(texts, request)
        lengths = inputs["attention_mask"].sum(dim=1).tolist()
        if max_new_tokens is None:
            budgets = [
                min(MAX_TRANSLATION_TOKENS, TRANSLATION_GROWTH * n + TRANSLATION_SLACK) for n in lengths
            ]
        else:
            budgets = [max_new_tokens] * len(lengths)
        if self._output_limit is not None:
            budgets = [min(budget, self._output_limit) for budget in budgets]
        longest = max(budgets)
        min_new_tokens = min(params.min_new_tokens, longest) if request.task == SUMMARIZE else 0
        stop = None
        if params.should_stop is not None:
            if params.should_stop():
                raise CancelledError(f"{self.name}: stopped before generation")
            stop = _StopWhenAsked(params.should_stop)
        try:
            with torch.inference_mode():
                ids = self._model.generate(
                    **inputs,
                    **extra,
                    max_new_tokens=longest,
                    min_new_tokens=min_new_tokens,
                    num_beams=max(1, params.num_beams),
                    do_sample=False,
                    stopping_criteria=StoppingCriteriaList([stop] if stop is not None else []),
                )
        except SummarizerError:
            raise
        except Exception as err:
            raise ModelError(f"{self.name}: generation failed ({type(err).__name__})") from err
        if stop is not None and stop.triggered:
            raise CancelledError(f"{self.name}: stopped during generation")
        return [row[: 1 + budget] for row, budget in zip(ids.tolist(), budgets, strict=True)]

    def _decode(self, rows: list[list[int]]) -> list[str]:
        if self._hidden_ids:
            rows = [[i for i in row if i not in self._hidden_ids] for row in rows]
        with self._lock:
            texts = self._tokenizer.batch_decode(rows, skip_special_tokens=True)
        return [text.strip() for text in texts]

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

    def _prompt_reserve(self) -> int:
        """The most tokens the family's prompt adds to a text, over the configured languages and pairs."""

        def length(text: str) -> int:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

        probe = "x"
        with self._lock:
            prompts = [self._family.prompt(self._tokenizer, probe, r) for r in self._configured_requests()]
            return max([0, *(length(prompt) - length(probe) for prompt in prompts)])


def _load(spec: ModelSpec, context: LoadContext) -> tuple[Any, Any]:
    source = spec.source.strip()
    if not source:
        raise ModelLoadError(f"model {spec.name!r}: no source; give a hub id or a local folder")
    local = Path(source).expanduser()
    if not local.exists() and not _HUB_ID.match(source):
        raise ModelLoadError(
            f"model {spec.name!r}: local folder {source} does not exist; point source at a folder written by "
            "save_pretrained() or at a hub id"
        )
    offline = context.offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE_WORDS
    where = str(local) if local.exists() else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=offline)
        model = AutoModelForSeq2SeqLM.from_pretrained(where, local_files_only=offline, dtype=torch.float32)
    except Exception as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        if local.exists():
            hint = "the folder must hold a model and tokenizer written by save_pretrained()"
        else:
            hint = f"fetch it first with `hf download {source}`, or point source at a local folder"
        raise ModelLoadError(f"model {spec.name!r}: cannot load {source} ({reason}); {hint}") from err
    return tokenizer, model


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

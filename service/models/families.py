"""Seq2seq model families: how each spells languages, one class per family, registered per config model_type.

Every family turns the service's BCP-47 primary tags into what its models expect: nothing (BART, PEGASUS and
other one-task fine-tunes), a task prefix (T5), a `>>xx<<` target token in the text (multi-target OPUS-MT), or
a source language set on the tokenizer plus a forced first output token (M2M100, mBART-50, NLLB). The base
class is the plain family; each other family overrides only its quirks.

A family registers itself for the `model_type`s of config.json it serves, and may claim a tokenizer class
instead (NLLB reuses the M2M100 architecture; only its tokenizer tells it apart). A profile may name the
family outright with the `family` option.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from service.errors import ModelLoadError
from service.models.base import SUMMARIZE, TRANSLATE, ModelSpec
from service.models.decoding import Request
from service.text.languages import language_name

# tag: (ISO 639-3, mBART-50 code, NLLB-200 code); None where mBART-50 lacks the language.
LANGUAGE_CODES: dict[str, tuple[str, str | None, str]] = {
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


def token_id(tokenizer: Any, token: str) -> int | None:
    """The token's id, or None when the vocabulary does not have it."""
    found = tokenizer.convert_tokens_to_ids(token)
    if found is None or found == tokenizer.unk_token_id:
        return None
    return int(found)


class Family:
    """Plain input and no language controls: BART, DistilBART, PEGASUS, mT5 and other one-task fine-tunes."""

    name = "plain"
    # Whether one batch may mix target languages (each row forcing its own): the pipeline then asks the model
    # for several targets at once.
    multi_target = False

    def supports(self, tokenizer: Any, request: Request) -> bool:
        return True

    def prompt(self, tokenizer: Any, text: str, request: Request) -> str:
        return text

    def prepare(self, tokenizer: Any, request: Request) -> None:
        """Point the tokenizer at the request's languages, for families whose tokenizer takes them."""

    def forced_prefix(self, tokenizer: Any, request: Request) -> list[int] | None:
        """Tokens the output must open with, or None to keep the checkpoint's own (BART's `<s>`)."""
        return None

    def hidden_ids(self, tokenizer: Any) -> frozenset[int]:
        """Ids to drop from the output that the tokenizer does not itself treat as special."""
        return frozenset()


_BY_NAME: dict[str, Family] = {}
_BY_MODEL_TYPE: dict[str, Family] = {}
_BY_TOKENIZER_PREFIX: dict[str, Family] = {}
F = TypeVar("F", bound=type[Family])


def register_family(*model_types: str, tokenizer_prefix: str | None = None) -> Callable[[F], F]:
    """Class decorator: the family serves checkpoints whose config names one of `model_types`, and any
    checkpoint whose tokenizer class name starts with `tokenizer_prefix`."""

    def decorate(cls: F) -> F:
        family = cls()
        if family.name in _BY_NAME:
            raise ValueError(f"seq2seq family {family.name!r} is registered twice")
        _BY_NAME[family.name] = family
        for model_type in model_types:
            _BY_MODEL_TYPE[model_type] = family
        if tokenizer_prefix:
            _BY_TOKENIZER_PREFIX[tokenizer_prefix] = family
        return cls

    return decorate


register_family()(Family)


def family_names() -> list[str]:
    return sorted(_BY_NAME)


def detect_family(spec: ModelSpec, model_type: str, tokenizer: Any) -> Family:
    """The spec's `family` option, else the family that claims the tokenizer, else the config's model_type's;
    a checkpoint nobody claims takes plain input."""
    name = spec.options.get("family")
    if name is not None:
        try:
            return _BY_NAME[str(name)]
        except KeyError:
            raise ModelLoadError(
                f"model {spec.name!r}: unknown family {name!r} in options; known: {', '.join(family_names())}"
            ) from None
    tokenizer_class = type(tokenizer).__name__
    for prefix, family in _BY_TOKENIZER_PREFIX.items():
        if tokenizer_class.startswith(prefix):
            return family
    return _BY_MODEL_TYPE.get(model_type, _BY_NAME[Family.name])


@register_family("t5")
class T5Family(Family):
    """T5 was trained with the task written in front of the input, in English."""

    name = "t5"

    def prompt(self, tokenizer: Any, text: str, request: Request) -> str:
        if request.task == SUMMARIZE:
            return f"summarize: {text}"
        return f"translate {language_name(request.source)} to {language_name(request.target)}: {text}"


def opus_codes(target: str) -> list[str]:
    """Spellings a multi-target OPUS-MT vocabulary may use for `target`, most common first."""
    codes = [target]
    if target in LANGUAGE_CODES:
        iso3, _, nllb = LANGUAGE_CODES[target]
        codes += [iso3, nllb, nllb.split("_", 1)[0]]
    codes += _OPUS_EXTRA_CODES.get(target, ())
    return list(dict.fromkeys(codes))


@register_family("marian")
class MarianFamily(Family):
    """OPUS-MT: one direction per model; a multi-target model picks its output by a `>>xx<<` token."""

    name = "marian"

    def _target_token(self, tokenizer: Any, target: str) -> str | None:
        for code in opus_codes(target):
            token = f">>{code}<<"
            if token_id(tokenizer, token) is not None:
                return token
        return None

    def supports(self, tokenizer: Any, request: Request) -> bool:
        multi_target = bool(getattr(tokenizer, "supported_language_codes", None))
        if request.task != TRANSLATE or not multi_target:
            return True
        return self._target_token(tokenizer, request.target) is not None

    def prompt(self, tokenizer: Any, text: str, request: Request) -> str:
        token = self._target_token(tokenizer, request.target) if request.task == TRANSLATE else None
        return f"{token} {text}" if token else text


class LanguageCodesFamily(Family):
    """Multilingual models: the tokenizer takes the source language; the output opens with the target's."""

    multi_target = True
    codes: Mapping[str, str] = {}

    def code(self, language: str) -> str | None:
        return self.codes.get(language)

    def token(self, code: str) -> str:
        return code

    def _language_token_id(self, tokenizer: Any, language: str) -> int | None:
        code = self.code(language)
        return None if code is None else token_id(tokenizer, self.token(code))

    def supports(self, tokenizer: Any, request: Request) -> bool:
        return all(
            self._language_token_id(tokenizer, lang) is not None for lang in (request.source, request.target)
        )

    def prepare(self, tokenizer: Any, request: Request) -> None:
        tokenizer.src_lang = self.code(request.source)

    def forced_prefix(self, tokenizer: Any, request: Request) -> list[int] | None:
        target = self._language_token_id(tokenizer, request.target)
        return None if target is None else [target]


@register_family("m2m_100")
class M2M100Family(LanguageCodesFamily):
    """M2M100 names languages by their bare ISO 639-1 code; the vocabulary spells them `__fr__`."""

    name = "m2m_100"

    def code(self, language: str) -> str | None:
        return language

    def token(self, code: str) -> str:
        return f"__{code}__"

    def hidden_ids(self, tokenizer: Any) -> frozenset[int]:
        # transformers 5 does not register M2M100's language tokens as special, so decoding would keep them.
        return frozenset(getattr(tokenizer, "lang_token_to_id", {}).values())


@register_family("mbart")
class MBart50Family(LanguageCodesFamily):
    """mBART-50: codes such as `fr_XX`; some of the service's languages are missing."""

    name = "mbart"
    codes = {tag: row[1] for tag, row in LANGUAGE_CODES.items() if row[1]}


@register_family(tokenizer_prefix="Nllb")
class NllbFamily(LanguageCodesFamily):
    """NLLB-200: codes with their script, such as `fra_Latn`."""

    name = "nllb"
    codes = {tag: row[2] for tag, row in LANGUAGE_CODES.items()}

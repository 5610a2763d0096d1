"""BCP-47 language tags: parsing, normalisation to the primary subtag, English and native names."""

from __future__ import annotations

import re

from service.errors import InvalidInputError, Reason

# English names, used in LLM prompts and messages. The keys are the tags the service speaks.
LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "zh": "Chinese",
}

# Each language's name for itself, for the languages the packaged LLMs are prompted in: a prompt may name
# the target so, and a model sometimes opens its answer with it as a label ("Deutsch: ...").
NATIVE_NAMES: dict[str, str] = {
    "ar": "العربية",
    "de": "Deutsch",
    "en": "English",
    "es": "español",
    "fr": "français",
    "it": "italiano",
    "ja": "日本語",
    "ko": "한국어",
    "nl": "Nederlands",
    "pl": "polski",
    "pt": "português",
    "ru": "русский",
    "tr": "Türkçe",
    "uk": "українська",
    "zh": "中文",
}

# Deprecated or alternative primary subtags that mean a language above.
_ALIASES = {"iw": "he", "in": "id", "nb": "no", "nn": "no", "cmn": "zh", "zho": "zh", "chi": "zh"}

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def normalize_language(tag: str, *, field: str = "language") -> str:
    """Return the service's form of a BCP-47 tag: the lower-case primary subtag ("pt-BR" -> "pt").

    Region and script subtags are accepted and dropped. Raises InvalidInputError for a value
    that is not a BCP-47 tag at all; whether the language is supported is the caller's check.
    """
    cleaned = tag.strip().replace("_", "-")
    if not cleaned:
        raise InvalidInputError(field, "is empty; give a BCP-47 language tag such as 'en' or 'fr'")
    if len(cleaned) > 35 or not _TAG.match(cleaned):
        raise InvalidInputError(
            field,
            f"{tag[:40]!r} is not a BCP-47 language tag (e.g. 'en', 'fr', 'zh-Hans')",
            reason=Reason.BAD_TAG,
        )
    primary = cleaned.split("-", 1)[0].lower()
    return _ALIASES.get(primary, primary)


def language_name(tag: str) -> str:
    """English name of a normalised tag, or the tag itself when unknown."""
    return LANGUAGE_NAMES.get(tag, tag)

"""Evaluation cases: an article, its language, reference summaries, and reference translations.

One case per file, TOML or JSON, read in file-name order::

    id = "en-syria-delegation"          # optional; the file name without its suffix otherwise
    language = "en"                     # the article's language (BCP-47)
    article_file = "seeds/000_dba0962fc812cd96.txt"   # or: article = "..."
    references = ["A reference summary.", "Another one."]

    # Optional: reference summaries in other languages; the service's summary is asked for in
    # each of these languages too (a translation of its own summary) and scored with chrF.
    [summary_translations]
    fr = ["Un résumé de référence."]

    # Optional: sentences with reference translations, keyed by target language.
    [[translations]]
    source = "The talks will resume next week."
    source_language = "en"              # optional; the case's language otherwise
    references = { fr = "Les pourparlers reprendront la semaine prochaine.", de = ["...", "..."] }

A relative `article_file` is looked up beside the case file first, then from the repository root.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CASES = ROOT / "bench" / "cases"
_KEYS = {"id", "language", "article", "article_file", "references", "summary_translations", "translations"}
_TRANSLATION_KEYS = {"source", "source_language", "references"}


class CaseError(ValueError):
    """A case file that cannot be used; the message names the file and the field."""


_Fail = Callable[[str], CaseError]


@dataclass(frozen=True)
class TranslationCase:
    source: str
    source_language: str
    references: Mapping[str, tuple[str, ...]]  # target language -> reference translations


@dataclass(frozen=True)
class Case:
    id: str
    language: str
    article: str
    references: tuple[str, ...]
    summary_translations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    translations: tuple[TranslationCase, ...] = ()
    path: Path | None = None


def load_cases(folder: Path = DEFAULT_CASES) -> list[Case]:
    """Every *.toml and *.json case in `folder`, in file-name order."""
    if not folder.is_dir():
        raise CaseError(f"{folder}: no such folder of cases")
    files = sorted(p for p in folder.iterdir() if p.suffix in (".toml", ".json") and p.is_file())
    if not files:
        raise CaseError(f"{folder}: holds no .toml or .json case")
    cases = [load_case(p) for p in files]
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CaseError(f"{folder}: case ids used twice: {', '.join(duplicates)}")
    return cases


def load_case(path: Path) -> Case:
    try:
        raw = path.read_text(encoding="utf-8")
        data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise CaseError(f"{path}: cannot read: {exc}") from exc
    return parse_case(data, path)


def parse_case(data: Any, path: Path) -> Case:
    def fail(message: str) -> CaseError:
        return CaseError(f"{path}: {message}")

    if not isinstance(data, dict):
        raise fail("must be a table (TOML) or an object (JSON)")
    unknown = set(data) - _KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    language = data.get("language")
    if not isinstance(language, str) or not language:
        raise fail("'language' must be a language tag such as 'en'")
    if ("article" in data) == ("article_file" in data):
        raise fail("give exactly one of 'article' (the text) and 'article_file' (a path)")
    if "article" in data:
        article = _text(data["article"], "article", fail)
    else:
        article = _read_article(_text(data["article_file"], "article_file", fail), path, fail)
    references = _texts(data.get("references"), "references", fail)
    summary_translations = _by_language(data.get("summary_translations", {}), "summary_translations", fail)
    translations = data.get("translations", [])
    if not isinstance(translations, list):
        raise fail("'translations' must be a list of tables")
    return Case(
        id=str(data.get("id") or path.stem),
        language=language,
        article=article,
        references=references,
        summary_translations=summary_translations,
        translations=tuple(
            _translation(item, language, f"translations[{i}]", fail) for i, item in enumerate(translations)
        ),
        path=path,
    )


def _translation(item: Any, language: str, where: str, fail: _Fail) -> TranslationCase:
    if not isinstance(item, dict):
        raise fail(f"{where} must be a table")
    unknown = set(item) - _TRANSLATION_KEYS
    if unknown:
        raise fail(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_TRANSLATION_KEYS)}")
    references = _by_language(item.get("references"), f"{where}.references", fail)
    if not references:
        raise fail(f"{where}.references: give at least one target language")
    return TranslationCase(
        source=_text(item.get("source"), f"{where}.source", fail),
        source_language=str(item.get("source_language") or language),
        references=references,
    )


def _text(value: Any, where: str, fail: _Fail) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"'{where}' must be a non-empty string")
    return value.strip()


def _texts(value: Any, where: str, fail: _Fail) -> tuple[str, ...]:
    """One string or a non-empty list of strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise fail(f"'{where}' must be a string or a non-empty list of strings")
    return tuple(_text(v, f"{where}[{i}]", fail) for i, v in enumerate(value))


def _by_language(value: Any, where: str, fail: _Fail) -> dict[str, tuple[str, ...]]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise fail(f"'{where}' must map language tags to texts")
    return {str(lang): _texts(texts, f"{where}.{lang}", fail) for lang, texts in value.items()}


def _read_article(name: str, case_path: Path, fail: _Fail) -> str:
    given = Path(name)
    candidates = [given] if given.is_absolute() else [case_path.parent / given, ROOT / given]
    for candidate in candidates:
        if candidate.is_file():
            return _text(candidate.read_text(encoding="utf-8"), "article_file", fail)
    raise fail(f"article_file {name!r} not found beside the case or under {ROOT}")

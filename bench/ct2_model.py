"""What a converted CTranslate2 model holds, read from its model.bin header: every variable's name, shape,
type and size, and the aliases between them (tied embeddings, and identical tensors stored once).

From these, the work of one decoding step: the bytes of weights it reads (every matrix the decoder
multiplies by, the output projection over the whole vocabulary included, the embedding table not: a step
reads one row of it) and the multiply-adds per row. Encoder-decoders leave out their cross-attention's
key/value projection, which runs once per input, not per step. The layout is CTranslate2's own
(`ctranslate2.specs.model_spec.ModelSpec._serialize`, binary version 6); only the header is read, the
weights are skipped over.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# CTranslate2's DataType ids, in the order of include/ctranslate2/types.h.
DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
SUPPORTED_BINARY_VERSIONS = (5, 6)

# Read once per input, not per step: the cross-attention's key/value projection of the encoder's output.
_CROSS_MEMORY = re.compile(r"^decoder/layer_\d+/attention/linear_1/")
# One row per step (a lookup), not a multiply.
_LOOKUP = re.compile(r"^(decoder|encoder)/(embeddings(_\d+)?|position_encodings)/")


@dataclass(frozen=True)
class Variable:
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) == 2 and self.name.endswith("/weight")


@dataclass(frozen=True)
class ModelWeights:
    spec: str  # e.g. TransformerSpec (encoder-decoder), TransformerDecoderSpec (decoder-only)
    revision: int
    variables: dict[str, Variable]
    aliases: dict[str, str]  # alias -> the stored variable it names

    @property
    def total_bytes(self) -> int:
        return sum(v.nbytes for v in self.variables.values())

    def resolved(self, names: Iterable[str]) -> dict[str, Variable]:
        """The stored variables behind `names` (aliases followed), each once."""
        out: dict[str, Variable] = {}
        for name in names:
            target = self.aliases.get(name, name)
            if target in self.variables:
                out[target] = self.variables[target]
        return out

    def _names(self, prefix: str) -> list[str]:
        return [n for n in [*self.variables, *self.aliases] if n.startswith(prefix)]

    def decoder_step(self) -> dict[str, Variable]:
        """The weights one decoding step reads."""
        names = [n for n in self._names("decoder/") if not _LOOKUP.match(n) and not _CROSS_MEMORY.match(n)]
        return self.resolved(names)

    def encoder_token(self) -> dict[str, Variable]:
        """The weights the encoder applies to each input token."""
        return self.resolved(n for n in self._names("encoder/") if not _LOOKUP.match(n))

    def projection_elements(self) -> int:
        """Elements of the output projection (vocabulary x model width), tied to the embeddings or not."""
        found = self.resolved(["decoder/projection/weight"])
        return sum(v.elements for v in found.values())

    def step_bytes(self) -> int:
        return sum(v.nbytes for v in self.decoder_step().values())

    def step_matrix_elements(self) -> int:
        """Weight-matrix elements one decoding step multiplies each row by: 2x this is its FLOPs per row."""
        return sum(v.elements for v in self.decoder_step().values() if v.is_matrix)

    def encoder_matrix_elements(self) -> int:
        """Weight-matrix elements the encoder multiplies each input token by."""
        return sum(v.elements for v in self.encoder_token().values() if v.is_matrix)


def _string(stream: BinaryIO) -> str:
    (length,) = struct.unpack("<H", stream.read(2))
    return stream.read(length)[:-1].decode("utf-8")  # written with a terminating NUL


def read_model(path: Path) -> ModelWeights:
    """The header of a CTranslate2 model.bin (or of the folder holding one)."""
    if path.is_dir():
        path = path / "model.bin"
    with path.open("rb") as stream:
        (version,) = struct.unpack("<I", stream.read(4))
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise ValueError(
                f"{path}: binary version {version}, this reader knows {SUPPORTED_BINARY_VERSIONS}"
            )
        spec = _string(stream)
        (revision,) = struct.unpack("<I", stream.read(4))
        (count,) = struct.unpack("<I", stream.read(4))
        variables: dict[str, Variable] = {}
        for _ in range(count):
            name = _string(stream)
            (rank,) = struct.unpack("<B", stream.read(1))
            shape = struct.unpack(f"<{rank}I", stream.read(4 * rank)) if rank else ()
            dtype_id, nbytes = struct.unpack("<BI", stream.read(5))
            stream.seek(nbytes, 1)
            dtype = DTYPES[dtype_id] if dtype_id < len(DTYPES) else f"type {dtype_id}"
            variables[name] = Variable(name, tuple(shape), dtype, nbytes)
        (alias_count,) = struct.unpack("<I", stream.read(4))
        aliases = {}
        for _ in range(alias_count):
            alias = _string(stream)
            aliases[alias] = _string(stream)
    return ModelWeights(spec, revision, variables, aliases)

"""Reading a CTranslate2 model.bin header, and the bytes and multiply-adds of one decoding step."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bench.ct2_model import DTYPES, read_model

_INT8, _FLOAT32 = DTYPES.index("int8"), DTYPES.index("float32")


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _write_model(
    path: Path, spec: str, variables: list[tuple[str, tuple[int, ...], int]], aliases: dict[str, str]
) -> Path:
    """A model.bin in CTranslate2's layout (binary version 6), with zero bytes for every weight."""
    out = struct.pack("<I", 6) + _string(spec) + struct.pack("<I", 7) + struct.pack("<I", len(variables))
    for name, shape, dtype in variables:
        size = 1
        for dim in shape:
            size *= dim
        nbytes = size * (1 if dtype == _INT8 else 4)
        out += _string(name) + struct.pack("<B", len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
        out += struct.pack("<BI", dtype, nbytes) + b"\0" * nbytes
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _string(alias) + _string(target)
    path.write_bytes(out)
    return path


def _encoder_decoder(tmp_path: Path) -> Path:
    d, vocab = 8, 50
    variables = [
        ("decoder/embeddings/weight", (vocab, d), _INT8),
        ("decoder/embeddings/weight_scale", (vocab,), _FLOAT32),
        ("decoder/position_encodings/encodings", (16, d), _FLOAT32),
        ("decoder/layer_0/self_attention/linear_0/weight", (3 * d, d), _INT8),
        ("decoder/layer_0/attention/linear_0/weight", (d, d), _INT8),
        ("decoder/layer_0/attention/linear_1/weight", (2 * d, d), _INT8),  # keys/values of the memory
        ("decoder/layer_0/ffn/linear_0/weight", (4 * d, d), _INT8),
        ("decoder/layer_0/ffn/linear_0/bias", (4 * d,), _FLOAT32),
        ("decoder/num_heads", (), _INT8),
        ("encoder/layer_0/ffn/linear_0/weight", (4 * d, d), _INT8),
    ]
    aliases = {
        "decoder/projection/weight": "decoder/embeddings/weight",  # tied output projection
        "encoder/embeddings_0/weight": "decoder/embeddings/weight",
        "decoder/layer_0/ffn/linear_1/bias": "decoder/layer_0/ffn/linear_0/bias",
    }
    return _write_model(tmp_path / "model.bin", "TransformerSpec", variables, aliases)


def test_the_header_is_read_without_the_weights(tmp_path: Path) -> None:
    model = read_model(_encoder_decoder(tmp_path).parent)
    assert model.spec == "TransformerSpec" and model.revision == 7
    assert model.variables["decoder/layer_0/ffn/linear_0/weight"].shape == (32, 8)
    assert model.variables["decoder/layer_0/ffn/linear_0/weight"].dtype == "int8"
    assert model.variables["decoder/num_heads"].shape == ()
    assert model.aliases["decoder/projection/weight"] == "decoder/embeddings/weight"
    assert model.total_bytes == sum(v.nbytes for v in model.variables.values())


def test_a_decoding_step_reads_the_tied_projection_but_not_the_lookups_or_the_memory(tmp_path: Path) -> None:
    model = read_model(_encoder_decoder(tmp_path))
    step = model.decoder_step()
    assert "decoder/embeddings/weight" in step  # as the projection, through its alias
    assert "decoder/embeddings/weight_scale" not in step  # the lookup's own scale
    assert "decoder/position_encodings/encodings" not in step
    assert "decoder/layer_0/attention/linear_1/weight" not in step  # once per input, not per step
    d, vocab = 8, 50
    matrices = 3 * d * d + d * d + 4 * d * d + vocab * d
    assert model.step_matrix_elements() == matrices
    assert model.step_bytes() == matrices + 4 * 4 * d + 1  # int8 matrices, the float32 bias, num_heads
    assert model.projection_elements() == vocab * d
    assert model.encoder_matrix_elements() == 4 * d * d


def test_an_untied_projection_counts_once(tmp_path: Path) -> None:
    variables = [
        ("decoder/embeddings/weight", (100, 4), _INT8),
        ("decoder/layer_0/ffn/linear_0/weight", (16, 4), _INT8),
        ("decoder/projection/weight", (100, 4), _INT8),
    ]
    model = read_model(_write_model(tmp_path / "model.bin", "TransformerDecoderSpec", variables, {}))
    assert model.step_bytes() == 16 * 4 + 100 * 4
    assert model.encoder_matrix_elements() == 0


def test_an_unknown_binary_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(struct.pack("<I", 99))
    with pytest.raises(ValueError, match="binary version 99"):
        read_model(path)

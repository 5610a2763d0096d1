"""The benchmark's raw engine on a tiny Marian model: converted with the service's converter, run in a child
process per thread layout without torch, every row decoded to the forced length; and the model.bin reader on
a real conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

from bench.ct2_model import read_model  # noqa: E402
from bench.raw import Seq2SeqInputs, converted_seq2seq, layouts_for, measure_level  # noqa: E402

pytestmark = [
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses:UserWarning"),
]


def test_raw_engine_decodes_every_row_to_the_forced_length_in_each_layout(
    marian_dir: Path, tmp_path: Path
) -> None:
    folder = converted_seq2seq(marian_dir, tmp_path)
    assert converted_seq2seq(marian_dir, tmp_path) == folder  # converted once
    inputs = Seq2SeqInputs(marian_dir)
    texts = [f"Report {i}: the council met on Monday to discuss the budget." for i in range(5)]
    run = inputs.job_run(texts, 6)
    assert all(row[-1] == "</s>" for row in run["rows"])  # the tokenizer's end token, as the service sends
    level = measure_level(
        model=folder, kind="translator", run=run, concurrency=2, device="cpu", compute_type="int8"
    )
    assert not level.failed
    assert level.torch_imported is False
    assert set(level.runs) == {str(layout) for layout in layouts_for("cpu")}
    for measured in level.runs.values():
        assert measured.completed == len(texts)
        assert measured.tokens == 6 * len(texts)
        assert measured.wall_s > 0
    assert level.best is not None

    weights = read_model(folder)
    assert weights.spec == "TransformerSpec"
    # The tied output projection is read every step; it is part of the step's bytes.
    assert weights.projection_elements() > 0
    assert weights.step_bytes() > weights.projection_elements()
    assert weights.encoder_matrix_elements() > 0

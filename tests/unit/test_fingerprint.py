"""The fingerprint of a converted folder: file digests, sampled and full, and probe outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.models import ct2_fingerprint
from service.models.ct2_fingerprint import FINGERPRINT_FILE, Fingerprint, probe_output


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model.bin").write_bytes(os.urandom(1 << 20))
    (tmp_path / "config.json").write_text('{"layers": 2}')
    return tmp_path


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_a_fingerprint_reads_back_as_written(folder: Path):
    recorded = Fingerprint.of(folder)
    recorded.probes["cpu/int8"] = probe_output([5, 7], [-0.25, -1.5, -0.125])
    recorded.write(folder)
    assert Fingerprint.read(folder) == recorded
    assert sorted(recorded.files) == ["config.json", "model.bin"]  # not the fingerprint file itself
    assert recorded.changed_files(folder, full=True) == []


def test_no_or_unreadable_fingerprint_reads_as_none(folder: Path):
    assert Fingerprint.read(folder) is None
    (folder / FINGERPRINT_FILE).write_text("{not json")
    assert Fingerprint.read(folder) is None


def test_the_full_check_finds_what_the_sampled_blocks_miss(folder: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ct2_fingerprint, "_SAMPLE_BLOCKS", 4)
    monkeypatch.setattr(ct2_fingerprint, "_SAMPLE_BYTES", 1024)
    recorded = Fingerprint.of(folder)
    flip_byte(folder / "model.bin", (1 << 19) + 12_345)  # between two sampled blocks
    assert recorded.changed_files(folder, full=False) == []
    assert recorded.changed_files(folder, full=True) == ["model.bin"]
    flip_byte(folder / "model.bin", 10)  # inside the first sampled block
    assert recorded.changed_files(folder, full=False) == ["model.bin"]


def test_a_file_missing_added_or_resized_is_a_change(folder: Path):
    recorded = Fingerprint.of(folder)
    (folder / "vocabulary.json").write_text("[]")
    assert recorded.changed_files(folder, full=False) == ["vocabulary.json"]
    (folder / "vocabulary.json").unlink()
    with (folder / "config.json").open("a") as handle:
        handle.write(" ")
    assert recorded.changed_files(folder, full=False) == ["config.json"]
    (folder / "config.json").unlink()
    assert recorded.changed_files(folder, full=False) == ["config.json"]


def test_probe_outputs_match_within_the_tolerance_and_not_beyond():
    recorded = probe_output([5, 7], [-0.25, -1.5])
    assert probe_output([5, 7], [-0.26, -1.49]).difference(recorded) is None
    assert "moved by up to 0.5" in (probe_output([5, 7], [-0.75, -1.5]).difference(recorded) or "")
    assert "greedy output differs" in (probe_output([5, 8], [-0.25, -1.5]).difference(recorded) or "")
    assert probe_output([5, 7], [float("nan"), -1.5]).difference(recorded) is not None

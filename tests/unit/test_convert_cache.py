"""The conversion cache: entries keyed by the source's identity and the converter's revision, built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.models.convert_cache import build_once, cache_entry, folder_identity


def model_folder(path: Path) -> Path:
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "t5"}', encoding="utf-8")
    (path / "model.safetensors").write_bytes(b"\0" * 16)
    return path


def test_a_local_folder_changes_identity_when_a_file_changes(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "model")
    before = folder_identity(folder)
    assert folder_identity(folder) == before
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert folder_identity(folder) != before


def test_a_hub_snapshot_is_identified_by_its_revision(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "0123abcd")
    identity = folder_identity(folder, revision="example/t5@0123abcd")
    (folder / "config.json").write_text("{}", encoding="utf-8")
    assert folder_identity(folder, revision="example/t5@0123abcd") == identity
    assert folder_identity(folder, revision="example/t5@4567ef01") != identity


def test_the_entry_changes_with_the_source_and_with_the_converter(tmp_path: Path) -> None:
    entry = cache_entry(tmp_path, "llm", "qwen/2.5 chat", "folder|a", 1)
    assert entry.parent == tmp_path / "llm" and entry.name.startswith("qwen_2.5_chat-")
    assert cache_entry(tmp_path, "llm", "qwen/2.5 chat", "folder|a", 1) == entry
    others = {
        cache_entry(tmp_path, "llm", "qwen/2.5 chat", "folder|b", 1),
        cache_entry(tmp_path, "llm", "qwen/2.5 chat", "folder|a", 2),
        cache_entry(tmp_path, "seq2seq", "qwen/2.5 chat", "folder|a", 1).parent / entry.name,
    }
    assert entry not in others and len(others) == 3


def test_build_once_builds_once_and_leaves_nothing_behind_a_failure(tmp_path: Path) -> None:
    target = tmp_path / "entry" / "ct2-int8"
    built: list[Path] = []

    def fail(tmp: Path) -> None:
        (tmp / "model.bin").write_bytes(b"half")
        raise RuntimeError("converter crashed")

    with pytest.raises(RuntimeError):
        build_once(target, fail)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir() if not p.name.startswith(".")] == []

    def build(tmp: Path) -> None:
        built.append(tmp)
        (tmp / "model.bin").write_bytes(b"whole")

    assert build_once(target, build) is True
    assert build_once(target, build) is False
    assert len(built) == 1 and (target / "model.bin").read_bytes() == b"whole"

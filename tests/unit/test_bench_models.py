"""Which cached conversion of the packaged LLM the benchmark measures."""

from __future__ import annotations

import os
from pathlib import Path

from bench.models import LLM_PREFIX, llm_conversion_cached, packaged_llm_folder


def _entry(cache: Path, key: str, mtime: int, *, converted: bool = True) -> Path:
    hf = cache / "llm" / f"{LLM_PREFIX}{key}" / "hf"
    hf.mkdir(parents=True)
    (hf / "config.json").write_text("{}")
    os.utime(hf / "config.json", ns=(mtime, mtime))
    if converted:
        (hf.parent / "ct2-int8").mkdir()
        (hf.parent / "ct2-int8" / "model.bin").write_bytes(b"")
    return hf


def test_the_newest_conversion_is_picked_whatever_its_name(tmp_path: Path) -> None:
    _entry(tmp_path, "0000aaaa", mtime=2_000_000_000_000_000_000)
    older = _entry(tmp_path, "ffff0000", mtime=1_000_000_000_000_000_000)
    newest = _entry(tmp_path, "8888bbbb", mtime=3_000_000_000_000_000_000)
    assert packaged_llm_folder(tmp_path) == newest
    assert older != newest
    assert llm_conversion_cached(tmp_path)


def test_an_entry_without_a_folder_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "llm" / f"{LLM_PREFIX}half-written").mkdir(parents=True)
    assert packaged_llm_folder(tmp_path) is None
    assert not llm_conversion_cached(tmp_path)
    only = _entry(tmp_path, "1234", mtime=5, converted=False)
    assert packaged_llm_folder(tmp_path) == only
    assert not llm_conversion_cached(tmp_path)

"""CPU and memory limits read from cgroup files (v1 and v2), laid out in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import resources
from service.config import Settings


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_and_memory_limit(tmp_path: Path):
    write(tmp_path, "cpu.max", "150000 100000\n")
    write(tmp_path, "memory.max", "2147483648\n")
    assert resources.cgroup_cpu_quota(tmp_path) == 1.5
    assert resources.available_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    assert resources.cgroup_memory_limit(tmp_path) == 2 << 30


def test_cgroup_v2_without_limits(tmp_path: Path):
    write(tmp_path, "cpu.max", "max 100000\n")
    write(tmp_path, "memory.max", "max\n")
    assert resources.cgroup_cpu_quota(tmp_path) is None
    assert resources.cgroup_memory_limit(tmp_path) is None
    assert resources.available_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_cgroup_v1_quota_and_memory_limit(tmp_path: Path):
    write(tmp_path, "cpu/cpu.cfs_quota_us", "50000\n")
    write(tmp_path, "cpu/cpu.cfs_period_us", "100000\n")
    write(tmp_path, "memory/memory.limit_in_bytes", str(512 << 20))
    assert resources.cgroup_cpu_quota(tmp_path) == 0.5
    assert resources.available_cpus(tmp_path) == 1  # never fewer than one thread
    assert resources.cgroup_memory_limit(tmp_path) == 512 << 20


def test_cgroup_v1_unlimited(tmp_path: Path):
    write(tmp_path, "cpu/cpu.cfs_quota_us", "-1\n")
    write(tmp_path, "cpu/cpu.cfs_period_us", "100000\n")
    write(tmp_path, "memory/memory.limit_in_bytes", "9223372036854771712\n")
    assert resources.cgroup_cpu_quota(tmp_path) is None
    assert resources.cgroup_memory_limit(tmp_path) is None


def test_no_cgroup_files_at_all(tmp_path: Path):
    assert resources.cgroup_cpu_quota(tmp_path) is None
    assert resources.cgroup_memory_limit(tmp_path) is None
    assert resources.available_cpus(tmp_path) >= 1


def test_settings_default_to_what_the_process_may_use():
    assert Settings().inference_threads == resources.available_cpus()
    assert Settings(threads=3).inference_threads == 3
    assert Settings(memory_budget_mb=1536).memory_budget_bytes == 1536 << 20
    assert 0 < Settings().memory_budget_bytes <= resources.physical_memory()


def test_resident_memory_is_this_process():
    assert 10 << 20 < resources.resident_memory() < resources.physical_memory()


FREED_BLOCKS = """
import sys
from service.resources import resident_memory, release_freed_memory


def touched(size):
    block = bytearray(size)
    block[::4096] = b"x" * len(range(0, size, 4096))
    return block


first = touched(8 << 20)
del first  # glibc raises its own threshold past this block's size when it is freed: later blocks use the heap
start = resident_memory()
held = [touched(2 << 20) for _ in range(100)]
held = held[-1:]  # every block freed but the last, which sits on top of the others
if sys.argv[1] == "released":
    assert release_freed_memory()
print((resident_memory() - start) >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_blocks_go_back_to_the_system_once_released():
    def held_mb(mode: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", FREED_BLOCKS, mode],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
            check=True,
        )
        return int(result.stdout.strip())

    assert held_mb("kept") > 150  # glibc's default keeps the 200 MB of freed 2 MB blocks
    assert held_mb("released") < 20


def test_inference_threads_wait_passively_unless_the_user_says_otherwise(monkeypatch):
    from service import cli

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    cli.configure_inference_threads()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    cli.configure_inference_threads()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_wait_policy_is_set_before_the_loader_imports_a_runtime(monkeypatch):
    """`main` sets it before importing the loader (which imports CTranslate2 or torch): OpenMP reads it once,
    when its library loads."""
    from service import cli

    seen: dict[str, str | None] = {}

    class _StopAtLoader(Exception):
        pass

    def fake_build_pipeline(*_args: object, **_kwargs: object) -> None:
        seen["policy"] = os.environ.get("OMP_WAIT_POLICY")
        raise _StopAtLoader

    import service.loader
    import service.logging_setup

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(service.loader, "build_pipeline", fake_build_pipeline)
    monkeypatch.setattr(service.logging_setup, "configure_logging", lambda *_args: None)  # leave pytest's
    try:
        cli.main(["--profile", "tiny", "--port", "0"])
    except _StopAtLoader:
        pass
    assert seen == {"policy": "PASSIVE"}

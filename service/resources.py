"""What this process may use of the machine: CPUs (affinity and cgroup quota) and memory (cgroup limit, RAM).

A container sees the host's cores and RAM in `os.cpu_count()` and `/proc/meminfo`, not what it is granted;
the cgroup files say what it is granted. Both cgroup v2 (`cpu.max`, `memory.max`) and v1
(`cpu.cfs_quota_us` / `cpu.cfs_period_us`, `memory.limit_in_bytes`) are read. No grpc, no psutil.

Memory freed by a model batch goes back to the system when the batch ends (`release_freed_memory`):
without it glibc keeps it, and the resident set grows batch after batch towards the largest working sets
seen.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 reports "no limit" as a huge number (the largest page-aligned signed 64-bit value).
_V1_UNLIMITED = 1 << 60
_LIBC: ctypes.CDLL | bool | None = None  # the C library once looked up; False where it cannot be loaded


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs granted by the cgroup quota (e.g. 1.5), or None without a quota."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota == "max":
            return None
        try:
            return int(quota) / int(period or "100000")
        except ValueError:
            return None
    quota_text = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu,cpuacct" / "cpu.cfs_quota_us")
    period_text = _read(root / "cpu" / "cpu.cfs_period_us") or _read(
        root / "cpu,cpuacct" / "cpu.cfs_period_us"
    )
    try:
        quota_us, period_us = int(quota_text or "-1"), int(period_text or "0")
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Cores this process can run on: its CPU affinity, capped by the cgroup quota (rounded up)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cgroup_memory_limit(root: Path = CGROUP_ROOT) -> int | None:
    """The cgroup memory limit in bytes, or None without one."""
    v2 = _read(root / "memory.max")
    if v2 is not None:
        return None if v2 == "max" else _positive_int(v2)
    limit = _positive_int(_read(root / "memory" / "memory.limit_in_bytes") or "")
    if limit is None or limit >= _V1_UNLIMITED or limit >= physical_memory():
        return None
    return limit


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30  # a guess only where the OS cannot say


def resident_memory() -> int:
    """This process's resident set size in bytes (0 where /proc is not there)."""
    statm = _read(Path("/proc/self/statm"))
    if statm is None:
        return 0
    try:
        return int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (IndexError, ValueError):
        return 0


def _positive_int(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None


def _c_library() -> ctypes.CDLL | None:
    """The C library, looked up once (find_library may run ldconfig)."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
        except OSError:
            _LIBC = False
    return _LIBC if isinstance(_LIBC, ctypes.CDLL) else None


def release_freed_memory() -> bool:
    """Hand back to the system the memory that freed blocks left in glibc's heaps (`malloc_trim(0)`).

    A model batch allocates its working set (attention scores, key/value caches) in blocks of megabytes.
    glibc serves such blocks from its heaps once one has been freed, and keeps what is freed there: without
    this, the resident set grows batch after batch towards the largest working sets seen. It is called once
    a batch has ended, not per allocation: mapping every large block on its own (a low mmap threshold) did
    return memory too, but made each decoding step map and zero its key/value caches again, and took the
    embedded model's seed-article summary from 26 s to 50 s, most of it in the kernel.
    Returns whether it ran (False on a C library without malloc_trim, such as musl).
    """
    libc = _c_library()
    try:
        libc.malloc_trim(0)  # type: ignore[union-attr]
    except (AttributeError, TypeError):
        log.debug("the C library has no malloc_trim; freed memory may stay with the process")
        return False
    return True

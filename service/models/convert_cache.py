"""Converted model folders kept under the cache directory: keyed by what they were made from, built once.

Every conversion of every backend goes through here. An entry's name carries a hash of the source's identity
(a hub revision, or the path, size and modification time of local files: `stat_fingerprint`) and of the
converter's revision, so that neither a changed source nor a changed converter reuses a stale folder.

A conversion is written into a temporary sibling folder and moved into place with one `os.replace`, under
a file lock, so that concurrent starts (servers, builds, tests) neither convert twice nor read half a folder.
Only the standard library here: the backends bring the converters.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w.-]+")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created if missing), held across processes until the block ends.

    Where this process cannot write (a read-only image or volume of finished models), nothing can be
    built either, so the lock writes nothing: an existing lock file is locked through a read-only
    handle, and a missing one is not created.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock_file(path)
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def safe_name(name: str) -> str:
    """`name` as one path component."""
    return _UNSAFE.sub("_", name).strip("._") or "model"


def stat_fingerprint(path: Path) -> str:
    """One file version: its resolved path, size and modification time. Cheap, and changes on any rewrite."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def folder_identity(folder: Path, *, revision: str | None = None) -> str:
    """What identifies the model in `folder`, changing whenever the model does.

    A hub snapshot is named by its revision, which is enough. A local folder is identified by the
    fingerprint of each file in it: the config and weights, and the tokenizer files too, since a conversion
    carries the vocabulary.
    """
    if revision is not None:
        return f"revision|{revision}"
    files = (stat_fingerprint(path) for path in sorted(folder.iterdir()) if path.is_file())
    return "|".join([f"folder|{folder.resolve()}", *files])


def cache_entry(cache_dir: Path, backend: str, name: str, identity: str, revision: int) -> Path:
    """The folder under `cache_dir` for what `backend` converts from the source `identity` with the converter
    at `revision`: named after the model, keyed by both."""
    key = short_hash(f"{backend}|converter {revision}|{identity}")
    return cache_dir / backend / f"{safe_name(name)}-{key}"


def build_once(target: Path, build: Callable[[Path], None]) -> bool:
    """Make `target` with `build(tmp_folder)` unless it exists; return whether this call built it.

    `build` writes into an empty temporary folder, which becomes `target` only when `build` returns. If
    it raises, nothing is left behind and the next call tries again.
    """
    if target.is_dir():
        return False
    with file_lock(target.with_name(f".{target.name}.lock")):
        if target.is_dir():  # another process finished it while this one waited
            return False
        # Left by a process that died mid-build; nobody else builds this target while the lock is held.
        for stale in target.parent.glob(f"{target.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.debug("built %s", target)
    return True

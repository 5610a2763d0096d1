"""Settings for running as one replica of several (pre-stop window, connection age), and model folders
that the server may only read."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from service.cli import _parser
from service.config import Settings, settings_from_env
from service.errors import ConfigurationError
from service.models import convert_cache
from service.server import connection_age_options


def test_defaults_close_connections_every_five_minutes_and_do_not_wait_before_draining():
    settings = Settings()
    assert (settings.prestop_s, settings.max_connection_age_s, settings.max_connection_age_grace_s) == (
        0.0,
        300.0,
        600.0,
    )
    assert dict(connection_age_options(settings)) == {
        "grpc.max_connection_age_ms": 300_000,
        "grpc.max_connection_age_grace_ms": 600_000,
    }


def test_env_then_flags():
    env = {
        "SUMMARIZER_PRESTOP_S": "7.5",
        "SUMMARIZER_MAX_CONNECTION_AGE_S": "120",
        "SUMMARIZER_MAX_CONNECTION_AGE_GRACE_S": "10",
    }
    settings = settings_from_env(env)
    assert (settings.prestop_s, settings.max_connection_age_s, settings.max_connection_age_grace_s) == (
        7.5,
        120.0,
        10.0,
    )
    args = _parser().parse_args(["--prestop-s", "3", "--max-connection-age-s", "0.5"])
    flags = {k: v for k, v in vars(args).items() if k != "port_file"}
    settings = settings_from_env(env, **flags)
    assert (settings.prestop_s, settings.max_connection_age_s, settings.max_connection_age_grace_s) == (
        3.0,
        0.5,
        10.0,
    )
    assert dict(connection_age_options(settings))["grpc.max_connection_age_ms"] == 500


def test_a_zero_age_sets_no_limit():
    assert connection_age_options(Settings(max_connection_age_s=0)) == []


@pytest.mark.parametrize(
    "env",
    [
        {"SUMMARIZER_PRESTOP_S": "-1"},
        {"SUMMARIZER_PRESTOP_S": "soon"},
        {"SUMMARIZER_MAX_CONNECTION_AGE_S": "-5"},
        {"SUMMARIZER_MAX_CONNECTION_AGE_GRACE_S": "-0.1"},
    ],
)
def test_bad_values_fail_loudly(env):
    with pytest.raises(ConfigurationError):
        settings_from_env(env)


class ReadOnlyFolder:
    """Stands in for a read-only mount (root ignores file modes, so a chmod cannot make one): opening
    for writing anything under `folder` fails with EROFS, as it does on one."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.real_open = os.open
        self.opened_for_reading: list[str] = []
        monkeypatch.setattr(convert_cache.os, "open", self.open)

    def open(self, path, flags, mode=0o777):  # type: ignore[no-untyped-def]
        if Path(path).parent == self.folder:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            self.opened_for_reading.append(str(path))
        return self.real_open(path, flags, mode)


def test_lock_in_a_read_only_folder_uses_an_existing_lock_file_without_writing(tmp_path, monkeypatch):
    lock = tmp_path / ".ct2.lock"
    lock.touch()
    folder = ReadOnlyFolder(tmp_path, monkeypatch)
    with convert_cache.file_lock(lock):
        # Held: another process's non-blocking attempt fails.
        with open(lock) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert folder.opened_for_reading == [str(lock)]


def test_lock_in_a_read_only_folder_without_a_lock_file_creates_none(tmp_path, monkeypatch):
    ReadOnlyFolder(tmp_path, monkeypatch)
    ran = []
    with convert_cache.file_lock(tmp_path / ".ct2.lock"):
        ran.append(True)
    assert ran and not (tmp_path / ".ct2.lock").exists()


def test_lock_in_a_writable_folder_creates_the_lock_file(tmp_path):
    with convert_cache.file_lock(tmp_path / "sub" / ".lock"):
        assert (tmp_path / "sub" / ".lock").exists()


def test_other_errors_still_raise(tmp_path, monkeypatch):
    def no_space(path, flags, mode=0o777):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(convert_cache.os, "open", no_space)
    with pytest.raises(OSError, match="No space"), convert_cache.file_lock(tmp_path / ".lock"):
        pass

"""Settings from env and flags, profiles, custom profile files, and the backend registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2

from service import errors
from service.api.status import rich_status, status_code_for
from service.config import settings_from_env
from service.errors import ConfigurationError
from service.models.base import ModelSpec, expand_pairs
from service.models.registry import backend_names, get_backend
from service.profiles import BUILTIN_PROFILES, get_profile, load_profile_file

ROOT = Path(__file__).resolve().parents[2]


def test_settings_from_env_then_flags():
    env = {"SUMMARIZER_PORT": "6000", "SUMMARIZER_PROFILE": "tiny", "SUMMARIZER_LOG_JSON": "true"}
    settings = settings_from_env(env)
    assert (settings.port, settings.profile, settings.log_json) == (6000, "tiny", True)
    assert settings_from_env(env, port=7000).port == 7000


@pytest.mark.parametrize(
    "env",
    [
        {"SUMMARIZER_PORT": "many"},
        {"SUMMARIZER_PORT": "70000"},
        {"SUMMARIZER_RUNTIME": "onnx"},
        {"SUMMARIZER_LOG_JSON": "maybe"},
        {"SUMMARIZER_PROFILE_FILE": "/nonexistent.toml"},
    ],
)
def test_bad_settings_fail_loudly(env):
    with pytest.raises(ConfigurationError):
        settings_from_env(env)


def test_builtin_profiles():
    assert set(BUILTIN_PROFILES) == {"embedded", "tiny", "hub"}
    embedded = get_profile("embedded")
    assert embedded.models[0].source == "packaged:qwen2.5-coder-1.5b-instruct-q4_k_m"
    hub = get_profile("hub")
    assert {m.source for m in hub.models} >= {
        "sshleifer/distilbart-cnn-12-6",
        "Helsinki-NLP/opus-mt-en-de",
        "Helsinki-NLP/opus-mt-zh-en",
    }
    with pytest.raises(ConfigurationError, match="embedded, tiny, hub"):
        get_profile("fast")


def test_custom_profile_file(tmp_path: Path):
    path = tmp_path / "news.toml"
    path.write_text(
        'name = "news-de"\n[[models]]\nname = "mt"\nbackend = "seq2seq"\nsource = "/models/opus-mt-en-de"\n'
        'tasks = ["translate"]\npairs = [["en", "de-DE"]]\n'
    )
    profile = load_profile_file(path)
    assert profile.name == "news-de"
    assert profile.models[0].pairs == (("en", "de"),)
    assert profile.models[-1].backend == "extractive"  # always added


@pytest.mark.parametrize(
    "body",
    [
        "",
        "[[models]]\nbackend = 'llm'\n",
        "[[models]]\nname='a'\nbackend='llm'\ntasks=['dance']\n",
        "[[models]]\nname='a'\nbackend='llm'\ncolour='red'\n",
        "not toml [",
    ],
)
def test_bad_profile_files(tmp_path: Path, body: str):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigurationError):
        load_profile_file(path)


def test_registry_miss_lists_the_backends():
    assert {"extractive", "seq2seq", "llm"} <= set(backend_names())
    with pytest.raises(ConfigurationError, match="available backends: extractive, llm, seq2seq"):
        get_backend("onnx")


def test_translate_all_expands_pairs():
    spec = ModelSpec(
        "m", "llm", tasks=("translate",), languages=("en", "fr", "de"), options={"translate_all": True}
    )
    assert len(expand_pairs(spec)) == 6 and ("fr", "de") in expand_pairs(spec)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidInputError("text", "is empty"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.UnsupportedLanguageError("source_language", "no"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.OverloadedError("busy"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.NotReadyError("loading"), grpc.StatusCode.UNAVAILABLE),
        (errors.DeadlineError("late"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.RequestCancelledError("gone"), grpc.StatusCode.CANCELLED),
        (errors.UnauthenticatedError("missing or invalid bearer token"), grpc.StatusCode.UNAUTHENTICATED),
        (errors.ModelError("secret internals"), grpc.StatusCode.INTERNAL),
        (RuntimeError("secret internals"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_table(exc, code):
    assert status_code_for(exc) == code
    status = rich_status(exc, "rid-1")
    if code == grpc.StatusCode.INTERNAL:
        assert "secret" not in status.message and "rid-1" in status.message
    else:
        assert status.message == exc.message


def _subclasses(kind: type[errors.SummarizerError]) -> list[type[errors.SummarizerError]]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_error_a_caller_can_get_has_its_own_status_and_a_reason():
    """The table covers the whole tree: only ModelError (and the start-up errors) fall to INTERNAL."""
    start_up_only = (errors.ConfigurationError,)
    for kind in _subclasses(errors.SummarizerError):
        assert isinstance(kind.reason, errors.Reason), kind
        if issubclass(kind, start_up_only):
            continue
        code = status_code_for(kind.__new__(kind))
        assert (code == grpc.StatusCode.INTERNAL) == issubclass(kind, errors.ModelError), kind


def test_a_status_without_a_request_id_carries_none():
    status = rich_status(errors.UnauthenticatedError("missing or invalid bearer token"), request_id="")
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, dict(info.metadata)) == (errors.Reason.UNAUTHENTICATED, {})
    assert status.code == code_pb2.UNAUTHENTICATED and status.message == "missing or invalid bearer token"


def test_logging_and_settings_load_without_the_rpc_layer():
    """Logging is configured before heavy imports; neither it nor the settings may pull in grpc."""
    probe = (
        "import sys, service.config, service.logging_setup, service.request_context; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc' or m.startswith('service.api')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"

"""Settings from env and flags, profiles, custom profile files, the backend registry and the error table."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2

from service import errors
from service.api.status import rich_status, status_code_for
from service.cli import _parser
from service.config import ENV_PREFIX, Settings, settings_from_env
from service.errors import ConfigurationError
from service.loader import check_device, load_context, model_runtimes
from service.models.base import ModelSpec, expand_pairs
from service.models.registry import backend_names, get_backend
from service.pipeline import Limits
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
        {"SUMMARIZER_DEVICE": "gpu"},
        {"SUMMARIZER_DEVICE": "CUDA"},
        {"SUMMARIZER_DEVICE": "cuda:"},
        {"SUMMARIZER_DEVICE": "cuda:x"},
        {"SUMMARIZER_DEVICE": "cuda:0\n"},
        {"SUMMARIZER_OFFLINE": "maybe"},
        {"SUMMARIZER_MAX_TRANSLATE_TEXTS": "0"},
        {"SUMMARIZER_MAX_RECEIVE_BYTES": "-1"},
    ],
)
def test_bad_settings_fail_loudly(env):
    with pytest.raises(ConfigurationError) as info:
        settings_from_env(env)
    assert "\n" not in str(info.value)  # the CLI prints it as one line


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0", "cuda:12"])
def test_devices(device):
    assert settings_from_env({"SUMMARIZER_DEVICE": device}).device == device
    assert settings_from_env({}, device=device).device == device


@pytest.mark.parametrize(
    ("env", "flag", "offline"),
    [
        ({}, None, False),
        ({"HF_HUB_OFFLINE": "1"}, None, True),
        ({"HF_HUB_OFFLINE": "ON"}, None, True),
        ({"HF_HUB_OFFLINE": "0"}, None, False),
        ({"HF_HUB_OFFLINE": "1", "SUMMARIZER_OFFLINE": "false"}, None, False),
        ({"SUMMARIZER_OFFLINE": "yes"}, None, True),
        ({}, True, True),
        ({"HF_HUB_OFFLINE": "0", "SUMMARIZER_OFFLINE": "0"}, True, True),
    ],
)
def test_offline_follows_hf_hub_offline_unless_set_itself(env, flag, offline):
    settings = settings_from_env(env, offline=flag)
    assert settings.offline is offline
    assert load_context(settings).offline is offline


COLLECTOR = "http://collector:4317"
OWN_COLLECTOR = "https://traces.internal:4317"
FLAG_COLLECTOR = "http://127.0.0.1:14317"


@pytest.mark.parametrize(
    ("env", "flag", "endpoint"),
    [
        ({}, None, ""),  # tracing off
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR}, None, COLLECTOR),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": f" {COLLECTOR}\n"}, None, COLLECTOR),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, None, ""),
        ({"SUMMARIZER_OTLP_ENDPOINT": OWN_COLLECTOR}, None, OWN_COLLECTOR),
        # set empty, our own variable turns off the tracing that OpenTelemetry's would turn on
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "SUMMARIZER_OTLP_ENDPOINT": ""}, None, ""),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "SUMMARIZER_OTLP_ENDPOINT": OWN_COLLECTOR},
            None,
            OWN_COLLECTOR,
        ),
        ({}, FLAG_COLLECTOR, FLAG_COLLECTOR),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR}, FLAG_COLLECTOR, FLAG_COLLECTOR),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "SUMMARIZER_OTLP_ENDPOINT": OWN_COLLECTOR},
            FLAG_COLLECTOR,
            FLAG_COLLECTOR,
        ),
    ],
)
def test_otlp_endpoint_follows_otel_exporter_otlp_endpoint_unless_set_itself(env, flag, endpoint):
    assert settings_from_env(env, otlp_endpoint=flag).otlp_endpoint == endpoint


def test_the_cli_reads_otel_exporter_otlp_endpoint_when_no_flag_is_given():
    """No --otlp-endpoint: the parser leaves it unset, so the variable is not overridden by a default."""
    args = vars(_parser().parse_args([]))
    assert settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR}, **args).otlp_endpoint == COLLECTOR
    args = vars(_parser().parse_args(["--otlp-endpoint", FLAG_COLLECTOR]))
    assert (
        settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR}, **args).otlp_endpoint == FLAG_COLLECTOR
    )


def test_a_bad_otel_exporter_otlp_endpoint_fails_loudly():
    with pytest.raises(ConfigurationError, match="otlp_endpoint must look like") as info:
        settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"})
    assert "\n" not in str(info.value)


def _flag_samples(tmp_path: Path) -> list[dict[str, str]]:
    """Two sets of non-default values, one per way of giving the token, covering every setting."""
    for name in ("profile.toml", "cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("-")
    (tmp_path / "token").write_text("file-token")
    common = {
        "profile": "tiny",
        "profile_file": str(tmp_path / "profile.toml"),
        "host": "0.0.0.0",
        "port": "6001",
        "max_text_chars": "5000",
        "max_targets": "3",
        "max_translate_texts": "7",
        "max_receive_bytes": "65536",
        "max_repair_attempts": "0",
        "runtime": "transformers",
        "threads": "3",
        "device": "cuda:1",
        "offline": "true",
        "cache_dir": str(tmp_path / "cache"),
        "verify_models": "true",
        "warmup": "false",
        "max_concurrent_requests": "5",
        "max_queue": "9",
        "memory_budget_mb": "2048",
        "stream_send_timeout_s": "4.5",
        "tls_cert": str(tmp_path / "cert.pem"),
        "tls_key": str(tmp_path / "key.pem"),
        "tls_client_ca": str(tmp_path / "ca.pem"),
        "grace_s": "2.5",
        "log_level": "DEBUG",
        "log_json": "true",
        "log_text": "true",
        "metrics_port": "9464",
        "metrics_host": "127.0.0.1",
        "otlp_endpoint": "http://127.0.0.1:4317",
        "prestop_s": "3",
        "max_connection_age_s": "120",
        "max_connection_age_grace_s": "90",
    }
    return [{**common, "auth_token": "inline-token"}, {**common, "auth_token_file": str(tmp_path / "token")}]


def test_every_setting_has_a_flag_and_a_variable_that_agree(tmp_path: Path):
    parser = _parser()
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "version", "port_file")}
    assert set(actions) == {f.name for f in fields(Settings)}
    defaults = Settings()
    changed: set[str] = set()
    for sample in _flag_samples(tmp_path):
        argv: list[str] = []
        for name, value in sample.items():
            action = actions[name]
            if action.nargs == 0:  # a switch: it sets its constant, so the sample must be that constant
                assert str(action.const).lower() == value, name
                argv.append(action.option_strings[0])
            else:
                argv += [action.option_strings[0], value]
        from_flags = settings_from_env({}, **vars(parser.parse_args(argv)))
        from_env = settings_from_env({ENV_PREFIX + name.upper(): value for name, value in sample.items()})
        assert from_flags == from_env
        changed |= {
            f.name for f in fields(Settings) if getattr(from_env, f.name) != getattr(defaults, f.name)
        }
    assert changed == {f.name for f in fields(Settings)}  # every sample took effect


def test_limits_and_load_context_come_from_the_settings(tmp_path: Path):
    settings = settings_from_env(
        {},
        max_text_chars=900,
        max_targets=2,
        max_translate_texts=5,
        device="cuda:1",
        cache_dir=tmp_path,
        memory_budget_mb=1200,
        verify_models=True,
    )
    assert Limits.from_settings(settings) == Limits(max_text_chars=900, max_targets=2, max_translate_texts=5)
    context = load_context(settings)
    assert (context.device, context.cache_dir, context.runtime) == ("cuda:1", tmp_path, "ctranslate2")
    # One model batch may take a third of the memory budget; models are checked in full on request.
    assert context.batch_memory_bytes == 400 << 20 and context.verify_models


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


def _gpus_seen_by_ctranslate2() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


def test_cuda_on_a_machine_without_a_gpu_is_refused_by_each_runtime_s_own_library():
    if _gpus_seen_by_ctranslate2():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigurationError, match="^device cuda: no CUDA device is visible to ctranslate2"):
        check_device("cuda", {"ctranslate2"})
    with pytest.raises(ConfigurationError, match="^device cuda:0: no CUDA device is visible to transformers"):
        check_device("cuda:0", {"transformers"})
    check_device("cpu", {"ctranslate2", "transformers"})
    check_device("cuda", {"onnx"})  # not a runtime the loader knows: the backend refuses it when loading


def test_a_cuda_index_past_the_visible_devices_is_refused(monkeypatch: pytest.MonkeyPatch):
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 2)  # a fake two-GPU machine
    check_device("cuda:1", {"ctranslate2"})
    with pytest.raises(ConfigurationError, match="ctranslate2 sees 2 CUDA device"):
        check_device("cuda:2", {"ctranslate2"})


def test_the_device_is_checked_for_the_runtimes_the_models_use():
    tiny = get_profile("tiny").models
    assert model_runtimes(tiny, "ctranslate2") == {"ctranslate2"}
    assert model_runtimes(tiny, "transformers") == {"transformers"}
    mixed = (*tiny, ModelSpec("mt", "seq2seq", options={"runtime": "transformers"}))
    assert model_runtimes(mixed, "ctranslate2") == {"ctranslate2", "transformers"}
    only_extractive = [spec for spec in tiny if spec.backend == "extractive"]
    assert model_runtimes(only_extractive, "ctranslate2") == {"ctranslate2"}

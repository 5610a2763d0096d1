"""One Settings object, built once at start-up from flags and SUMMARIZER_* variables.

Every knob of the server is a field here, with a flag in `cli.py` and a SUMMARIZER_<FIELD> variable.
The foreign variables read are HF_HUB_OFFLINE, the default of `offline`, and OpenTelemetry's
OTEL_EXPORTER_OTLP_ENDPOINT, the default of `otlp_endpoint` (`FALLBACK_ENV`). Bad values fail
loudly, before anything is loaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from service.errors import ConfigurationError
from service.resources import available_cpus, cgroup_memory_limit, physical_memory

ENV_PREFIX = "SUMMARIZER_"
#: Hugging Face's own switch for "no network"; `offline` follows it unless SUMMARIZER_OFFLINE is set.
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
#: OpenTelemetry's endpoint variable; `otlp_endpoint` follows it unless SUMMARIZER_OTLP_ENDPOINT is set.
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: The foreign variables a field falls back to when its SUMMARIZER_* variable is not set.
FALLBACK_ENV = {"offline": HF_OFFLINE_ENV, "otlp_endpoint": OTLP_ENDPOINT_ENV}
# The values huggingface_hub itself takes as "on"; like it, anything else means off.
_HF_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
# What a bearer token may contain: it travels as an HTTP/2 header value.
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # used with fullmatch
_DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?")  # used with fullmatch
# One model batch may take this share of the memory budget as working memory; the rest holds the
# loaded models and the requests' own data.
BATCH_MEMORY_SHARE = 1 / 3


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "summarizer"


@dataclass(frozen=True)
class Settings:
    profile: str = ""  # empty: the profile file's, else "embedded"
    profile_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 50051
    # Requests
    max_text_chars: int = 100_000
    max_targets: int = 16
    max_translate_texts: int = 64
    max_receive_bytes: int = 4 * 1024 * 1024
    # Model calls one output that fails its integrity checks may get to repair it; 0: never repair.
    max_repair_attempts: int = 2
    # Inference
    runtime: str = (
        "ctranslate2"  # default runtime for seq2seq and llm backends; transformers is the reference
    )
    threads: int = (
        0  # intra-op threads for inference; 0: the cores this process may use (affinity, CPU quota)
    )
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"; the loader checks that the device exists
    # Models come from local folders and caches only, never the network. Defaults from HF_HUB_OFFLINE.
    offline: bool = False
    cache_dir: Path = default_cache_dir()
    # Check every converted model's files in full (SHA-256) at start; otherwise sampled blocks and a probe.
    verify_models: bool = False
    warmup: bool = True
    # Admission, in front of inference only (Summarize, StreamSummarize, Translate)
    # Holding a running slot, each with a model worker. CTranslate2 models batch the model work of
    # running requests together, so this is also the largest batch concurrent requests can form.
    max_concurrent_requests: int = 16
    max_queue: int = 32  # waiting for a slot; past running + queued, RESOURCE_EXHAUSTED at once
    # The memory the whole server may use, models included; requests are admitted by their estimated
    # cost against what the loaded models leave of it. 0: 90% of the cgroup memory limit when there is
    # one, else half of the physical RAM.
    memory_budget_mb: int = 0
    # A stream whose client takes no message for this long is cancelled and its slot freed.
    stream_send_timeout_s: float = 30.0
    # Security: bearer token (inline or in a file) and TLS; all off by default
    auth_token: str | None = field(default=None, repr=False)
    auth_token_file: Path | None = None
    tls_cert: Path | None = None  # PEM server certificate chain; with tls_key, serve TLS only
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # PEM CA bundle: require and verify client certificates (mTLS)
    # Lifecycle
    grace_s: float = 20.0
    # Seconds between SIGTERM and the start of draining: readiness is NOT_SERVING at once but calls are
    # still served, while the orchestrator takes this replica out of its endpoints. 0: drain at once.
    prestop_s: float = 0.0
    # Connections are closed (GOAWAY) after this age, so that clients resolve their target again and
    # spread onto replicas that started since. 0: no limit. New calls go to a new connection at once;
    # calls in flight on the old one get the grace period, and one still running after it fails with
    # UNAVAILABLE, so the grace must outlast the longest call (a long article into many languages on
    # a busy CPU takes minutes).
    max_connection_age_s: float = 300.0
    max_connection_age_grace_s: float = 600.0
    # Logging
    log_level: str = "INFO"
    log_json: bool = False
    log_text: bool = False  # article text in DEBUG lines; never logged otherwise
    # Observability: Prometheus /metrics on its own port (0: off) and OTLP traces (empty: off)
    metrics_port: int = 0
    metrics_host: str = ""  # empty: the same address as `host`
    otlp_endpoint: str = ""  # http://collector:4317 (plaintext) or https://... (TLS)

    @property
    def inference_threads(self) -> int:
        return self.threads or available_cpus()

    @property
    def memory_budget_bytes(self) -> int:
        if self.memory_budget_mb:
            return self.memory_budget_mb << 20
        limit = cgroup_memory_limit()
        if limit is not None:
            return int(limit * 0.9)
        return physical_memory() // 2

    @property
    def batch_memory_bytes(self) -> int:
        """The working memory one model batch may take: a share of the memory budget."""
        return int(self.memory_budget_bytes * BATCH_MEMORY_SHARE)

    def validate(self) -> Settings:
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be 0..65535, got {self.port}")
        if self.grace_s < 0:
            raise ConfigurationError("grace_s must not be negative")
        self._validate_lifecycle()
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigurationError(
                f"log_level must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}"
            )
        if self.profile_file is not None and not self.profile_file.is_file():
            raise ConfigurationError(f"profile file {self.profile_file} does not exist")
        self._validate_requests()
        self._validate_inference()
        self._validate_security()
        self._validate_observability()
        return self

    def _validate_requests(self) -> None:
        if self.max_text_chars < 1:
            raise ConfigurationError("max_text_chars must be positive")
        if not 1 <= self.max_targets <= 64:
            raise ConfigurationError(f"max_targets must be 1..64, got {self.max_targets}")
        if self.max_translate_texts < 1:
            raise ConfigurationError(f"max_translate_texts must be positive, got {self.max_translate_texts}")
        if self.max_receive_bytes < 1:
            raise ConfigurationError(f"max_receive_bytes must be positive, got {self.max_receive_bytes}")
        if not 0 <= self.max_repair_attempts <= 8:
            raise ConfigurationError(f"max_repair_attempts must be 0..8, got {self.max_repair_attempts}")
        if self.max_concurrent_requests < 1:
            raise ConfigurationError(
                f"max_concurrent_requests must be at least 1, got {self.max_concurrent_requests}"
            )
        if self.max_queue < 0:
            raise ConfigurationError(f"max_queue must be 0 or more, got {self.max_queue}")
        if self.memory_budget_mb < 0:
            raise ConfigurationError(
                f"memory_budget_mb must be 0 (derived from the machine) or more, got {self.memory_budget_mb}"
            )
        if not self.stream_send_timeout_s > 0:
            raise ConfigurationError(
                f"stream_send_timeout_s must be positive, got {self.stream_send_timeout_s}"
            )

    def _validate_inference(self) -> None:
        if self.runtime not in ("transformers", "ctranslate2"):
            raise ConfigurationError(f"runtime must be 'transformers' or 'ctranslate2', got {self.runtime!r}")
        if not _DEVICE.fullmatch(self.device):
            raise ConfigurationError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.threads < 0:
            raise ConfigurationError("threads must be 0 (the cores this process may use) or more")

    def _validate_observability(self) -> None:
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigurationError(f"metrics_port must be 0 (off) or 1..65535, got {self.metrics_port}")
        if self.metrics_port and self.metrics_port == self.port:
            raise ConfigurationError(f"metrics_port {self.metrics_port} is the gRPC port; pick another")
        if self.otlp_endpoint and not re.fullmatch(r"https?://[^/\s]+/?", self.otlp_endpoint):
            raise ConfigurationError(
                "otlp_endpoint must look like http://host:4317 (plaintext) or https://host:4317 (TLS), "
                f"got {self.otlp_endpoint!r}"
            )

    @property
    def metrics_address(self) -> str:
        """Where /metrics listens: `metrics_host`, else the gRPC host (reachable where the API is)."""
        return self.metrics_host or self.host

    def _validate_lifecycle(self) -> None:
        for name in ("prestop_s", "max_connection_age_s", "max_connection_age_grace_s"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name} must not be negative, got {getattr(self, name)}")

    def _validate_security(self) -> None:
        if self.auth_token is not None and self.auth_token_file is not None:
            raise ConfigurationError("set auth_token or auth_token_file, not both")
        self.bearer_token()  # reads and checks the token now, not on the first call
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("tls_cert and tls_key go together: set both or neither")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigurationError("tls_client_ca (mutual TLS) needs tls_cert and tls_key as well")
        for name in ("tls_cert", "tls_key", "tls_client_ca"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigurationError(f"{name} file {path} does not exist")

    def bearer_token(self) -> str | None:
        """The token callers must present, from `auth_token` or `auth_token_file`; None: no auth."""
        if self.auth_token_file is not None:
            try:
                token = self.auth_token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(
                    f"cannot read auth_token_file {self.auth_token_file}: {exc}"
                ) from None
            source = f"auth_token_file {self.auth_token_file}"
        elif self.auth_token is not None:
            token, source = self.auth_token, "auth_token"
        else:
            return None
        if not _TOKEN.fullmatch(token):
            # Never echo the token itself.
            raise ConfigurationError(f"{source} must hold 1..4096 printable ASCII characters without spaces")
        return token


def _coerce(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is Path:
            return Path(raw).expanduser()
        return kind(raw)
    except ValueError:
        raise ConfigurationError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}"
        ) from None


def _field_type(name: str) -> type:
    annotation = {f.name: f.type for f in fields(Settings)}[name]
    text = str(annotation)
    for kind in (bool, int, float, Path):
        if kind.__name__ in text:
            return kind
    return str


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from SUMMARIZER_* variables, then explicit overrides (flags) on top.

    `offline` falls back to HF_HUB_OFFLINE when SUMMARIZER_OFFLINE is not set; `otlp_endpoint` to
    OTEL_EXPORTER_OTLP_ENDPOINT when SUMMARIZER_OTLP_ENDPOINT is not set (set empty, it turns tracing off).
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _coerce(f.name, raw, _field_type(f.name))
    if "offline" not in values and HF_OFFLINE_ENV in env:
        values["offline"] = env[HF_OFFLINE_ENV].strip().lower() in _HF_TRUE_WORDS
    # SUMMARIZER_OTLP_ENDPOINT set, even empty (tracing off), wins over OpenTelemetry's variable.
    own_endpoint = ENV_PREFIX + "OTLP_ENDPOINT" in env
    if "otlp_endpoint" not in values and not own_endpoint and env.get(OTLP_ENDPOINT_ENV):
        values["otlp_endpoint"] = env[OTLP_ENDPOINT_ENV].strip()
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigurationError(f"unknown settings: {sorted(unknown)}")
    return Settings(**values).validate()  # type: ignore[arg-type]

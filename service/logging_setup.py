"""Logging, configured once by the CLI before heavy imports. Article text is never logged at INFO.

Access lines (service/api/observability.py) carry their fields as a dict in the record attribute
`ACCESS_ATTRIBUTE`: one key each in JSON mode, `key=value` after the message in text mode.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from service.request_context import RequestIdFilter

#: The log record attribute that holds an access line's fields.
ACCESS_ATTRIBUTE = "access"


class TextFormatter(logging.Formatter):
    """The plain format, with an access line's fields after its message."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, ACCESS_ATTRIBUTE, None)
        if not fields:
            return line
        shown = [f"{key}={_plain(value)}" for key, value in fields.items() if key not in _IN_MESSAGE]
        return line + " " + " ".join(shown)


# Already in the access line's message (or, for the request id, in the prefix).
_IN_MESSAGE = frozenset({"request_id", "rpc", "code", "duration_ms"})


def _plain(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(getattr(record, ACCESS_ATTRIBUTE, None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party libraries are chatty at INFO (progress bars, download notices).
    for noisy in ("transformers", "huggingface_hub", "urllib3", "filelock", "accelerate"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Progress bars (weight loading, conversions) are noise in service logs.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")

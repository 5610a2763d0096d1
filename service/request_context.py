"""The id of the request being served, as a context variable, and the log filter that stamps it.

No grpc here: the RPC layer sets the id when a call begins; logging and the pipeline only read it.
"""

from __future__ import annotations

import contextvars
import logging

#: "-" outside a request (start-up, shutdown, background threads not started from a call).
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record made while serving a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True

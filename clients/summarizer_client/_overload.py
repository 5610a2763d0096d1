"""Whether to try again a call that the server refused as overloaded (RESOURCE_EXHAUSTED).

Off unless the caller asks for it: when every client waits and retries on its own, an overloaded
fleet stays overloaded for longer, so only callers that prefer waiting to failing opt in. Then the
client waits the delay the server asked for (RetryInfo), a bounded number of times, and never past
the call's deadline. A RESOURCE_EXHAUSTED without RetryInfo (e.g. a message over the size limit) is
never retried: waiting would not help.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ResourceExhaustedError, SummarizerClientError


@dataclass(frozen=True, slots=True)
class OverloadPolicy:
    enabled: bool = False
    #: Attempts in all, the first included.
    attempts: int = 3

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"overloaded_attempts must be at least 1, not {self.attempts!r}")

    def delay(self, error: SummarizerClientError, attempt: int, time_left: float) -> float | None:
        """Seconds to wait before attempt `attempt + 1`; None: give up and raise `error`."""
        if not self.enabled or attempt >= self.attempts:
            return None
        if not isinstance(error, ResourceExhaustedError) or error.retry_after is None:
            return None
        if error.retry_after >= time_left:
            return None  # the deadline would pass while waiting
        return error.retry_after

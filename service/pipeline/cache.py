"""A bounded, thread-safe LRU cache of summaries, translations and detections.

Keys hash the text and name everything that shapes the result (languages, options, the models
that made it), so a hit is always the answer the models would give again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class ResultCache:
    """LRU bounded by entry count and by the characters of the cached text values."""

    def __init__(self, max_entries: int = 4096, max_chars: int = 16_000_000) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def get(self, key: Hashable) -> Any | None:
        if not self.enabled:
            return None
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        if not self.enabled or size > self.max_chars:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._chars -= old[1]
            self._data[key] = (value, size)
            self._chars += size
            while self._data and (len(self._data) > self.max_entries or self._chars > self.max_chars):
                _, (_, dropped) = self._data.popitem(last=False)
                self._chars -= dropped

    def __len__(self) -> int:
        return len(self._data)

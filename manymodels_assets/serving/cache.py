"""A least-recently-used cache bounded by bytes, not by entries: models differ 4x in size."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    budget_bytes: int
    hits: int
    misses: int
    evictions: int


class ByteLRU:
    """Thread-safe LRU: ``put`` evicts the least recently used entries until the new one fits.

    An entry larger than the whole budget is not kept (the caller still has it for its request).
    """

    def __init__(self, budget_bytes: int):
        if budget_bytes < 0:
            raise ValueError(f"cache budget must be >= 0 bytes, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, count: bool = True) -> Any | None:
        """The value, now the most recently used; ``count=False`` for a second look in one request."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self._misses += count
                return None
            self._entries.move_to_end(key)
            self._hits += count
            return found[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if nbytes > self.budget_bytes:
                return
            while self._bytes + nbytes > self.budget_bytes:
                _, (_, size) = self._entries.popitem(last=False)
                self._bytes -= size
                self._evictions += 1
            self._entries[key] = (value, nbytes)
            self._bytes += nbytes

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(len(self._entries), self._bytes, self.budget_bytes, self._hits, self._misses,
                              self._evictions)

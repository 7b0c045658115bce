"""A bounded cache of finished frames, each stored under the key of everything it was computed from.

Why keys rather than invalidation calls: the key of an output frame is a digest of the pixel-changing parameters
and of the content digests of exactly the input frames it reads (the server's ``footprint``). When a parameter
or some input frames change, the frames whose keys change are exactly those the change affects; every other frame
is still served from here. Least recently used frames go first once ``budget_bytes`` is exceeded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..client import ResultFrame

DEFAULT_BUDGET_BYTES = 2 << 30
PATH_ENTRY_BYTES = 512  # what a frame returned by path costs here (its name, not its pixels)


@dataclass
class FrameCacheStats:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    evictions: int = 0
    entries: int = 0
    bytes: int = 0


class FrameCache:
    """``frame -> (key, ResultFrame)``; ``get`` answers only when the key matches (thread-safe)."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = int(budget_bytes)
        self._entries: OrderedDict[int, tuple[str, ResultFrame, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = FrameCacheStats()

    def get(self, frame: int, key: str) -> ResultFrame | None:
        with self._lock:
            entry = self._entries.get(frame)
            if entry is None or entry[0] != key:
                self.stats.misses += 1
                self.stats.stale += entry is not None
                return None
            self._entries.move_to_end(frame)
            self.stats.hits += 1
            return entry[1]

    def holds(self, frame: int, key: str) -> bool:
        """Whether ``get`` would answer, without counting a hit or a miss."""
        with self._lock:
            entry = self._entries.get(frame)
            return entry is not None and entry[0] == key

    def put(self, frame: int, key: str, result: ResultFrame) -> None:
        size = int(result.pixels.nbytes) if result.pixels is not None else PATH_ENTRY_BYTES
        with self._lock:
            old = self._entries.pop(frame, None)
            if old is not None:
                self.stats.bytes -= old[2]
            self._entries[frame] = (key, result, size)
            self.stats.bytes += size
            while self.stats.bytes > self.budget_bytes and len(self._entries) > 1:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self.stats.bytes -= dropped
                self.stats.evictions += 1
            self.stats.entries = len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.stats.bytes = 0
            self.stats.entries = 0

    def frames(self) -> list[int]:
        with self._lock:
            return sorted(self._entries)

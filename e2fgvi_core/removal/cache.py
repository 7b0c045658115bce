"""The per-shot cache: encoder features per frame, completed flows per adjacent pair and window predictions,
content-addressed.

Re-processing a shot after a matte tweak on a few frames should cost only what depends on those frames. Encoder
features depend on one masked frame, flows on one adjacent pair of masked frames, so they are keyed by a hash of
exactly what they are computed from: the pixels and hole at processing size (after ROI crop, proxy, padding), the
model identity (variant + weights sha256) and the processing geometry. A hit therefore returns the very tensor an
uncached run would compute, which keeps cached and uncached results identical.

One ``ShotCache`` may be shared by many runs and threads (the server holds one): an LRU within a byte budget.
Tensors are kept on the CPU so the budget is host memory, never device memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from e2fgvi_core.removal.config import CacheConfig

KINDS = ("features", "flows", "windows")


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was made; ``*_by_kind`` split them into features and flows."""

    hits: int
    misses: int
    bytes: int
    entries: int
    evictions: int
    budget_bytes: int
    hits_by_kind: dict[str, int]
    misses_by_kind: dict[str, int]
    bytes_by_kind: dict[str, int]

    def since(self, earlier: CacheStats) -> CacheStats:
        """The counters added since ``earlier`` (one job's own hits, misses, evictions on a cache the server shares
        between jobs); ``bytes``/``entries`` stay what the cache holds now."""
        return dataclasses.replace(
            self,
            hits=self.hits - earlier.hits,
            misses=self.misses - earlier.misses,
            evictions=self.evictions - earlier.evictions,
            hits_by_kind={k: v - earlier.hits_by_kind.get(k, 0) for k, v in self.hits_by_kind.items()},
            misses_by_kind={k: v - earlier.misses_by_kind.get(k, 0) for k, v in self.misses_by_kind.items()},
        )

    def to_mapping(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "bytes": self.bytes,
            "entries": self.entries,
            "evictions": self.evictions,
            "budget_bytes": self.budget_bytes,
            "hits_by_kind": dict(self.hits_by_kind),
            "misses_by_kind": dict(self.misses_by_kind),
            "bytes_by_kind": dict(self.bytes_by_kind),
        }


def digest_arrays(*arrays: np.ndarray, extra: str = "") -> str:
    """blake2b of the arrays' bytes, shapes and dtypes (and an extra label): the content address of an input."""
    h = hashlib.blake2b(digest_size=20)
    h.update(extra.encode())
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        h.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        h.update(memoryview(contiguous).cast("B"))
    return h.hexdigest()


def _nbytes(value: Any) -> int:
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if hasattr(value, "element_size") and hasattr(value, "nelement"):
        return int(value.element_size() * value.nelement())
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    return 64


def _to_cpu(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_to_cpu(v) for v in value)
    if hasattr(value, "detach"):
        # A copy, never a view: a view would keep the whole batch it came from alive outside the budget.
        return value.detach().to("cpu", copy=True)
    return value


class ShotCache:
    """Thread-safe LRU of model intermediates within ``CacheConfig.budget_bytes`` (0 keeps nothing)."""

    def __init__(self, config: CacheConfig | None = None) -> None:
        self.config = config or CacheConfig.from_env()
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._evictions = 0
        self._hits = {kind: 0 for kind in KINDS}
        self._misses = {kind: 0 for kind in KINDS}
        self._kind_bytes = {kind: 0 for kind in KINDS}

    @property
    def budget_bytes(self) -> int:
        return self.config.budget_bytes

    def get(self, kind: str, key: str) -> Any | None:
        """The cached value or None; counts a hit or a miss for ``kind``."""
        with self._lock:
            entry = self._entries.get((kind, key))
            if entry is None:
                self._misses[kind] = self._misses.get(kind, 0) + 1
                return None
            self._entries.move_to_end((kind, key))
            self._hits[kind] = self._hits.get(kind, 0) + 1
            return entry[0]

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store a CPU copy of ``value``, evicting least recently used entries beyond the budget."""
        value = _to_cpu(value)
        size = _nbytes(value)
        with self._lock:
            if size > self.config.budget_bytes:
                return
            old = self._entries.pop((kind, key), None)
            if old is not None:
                self._bytes -= old[1]
                self._kind_bytes[kind] -= old[1]
            self._entries[(kind, key)] = (value, size)
            self._bytes += size
            self._kind_bytes[kind] = self._kind_bytes.get(kind, 0) + size
            while self._bytes > self.config.budget_bytes and self._entries:
                (evicted_kind, _), (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
                self._kind_bytes[evicted_kind] -= evicted
                self._evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._kind_bytes = {kind: 0 for kind in self._kind_bytes}

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits=sum(self._hits.values()),
                misses=sum(self._misses.values()),
                bytes=self._bytes,
                entries=len(self._entries),
                evictions=self._evictions,
                budget_bytes=self.config.budget_bytes,
                hits_by_kind=dict(self._hits),
                misses_by_kind=dict(self._misses),
                bytes_by_kind=dict(self._kind_bytes),
            )

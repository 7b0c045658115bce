"""ShotCache: LRU within a byte budget, statistics, thread safety, content addressing."""

from __future__ import annotations

import threading

import numpy as np
import torch

from e2fgvi_core.removal.cache import ShotCache, digest_arrays
from e2fgvi_core.removal.config import CacheConfig


def _tensor(n_floats: int, value: float = 0.0) -> torch.Tensor:
    return torch.full((n_floats,), float(value), dtype=torch.float32)


def test_hits_misses_and_lru_eviction_within_budget():
    cache = ShotCache(CacheConfig(budget_bytes=3 * 400))
    for i in range(3):
        cache.put("features", f"k{i}", _tensor(100, i))
    assert cache.get("features", "k0") is not None  # k0 becomes most recent
    cache.put("features", "k3", _tensor(100, 3))  # evicts k1, the least recently used
    assert cache.get("features", "k1") is None
    assert cache.get("features", "k0")[0] == 0 and cache.get("features", "k3")[0] == 3
    stats = cache.stats()
    assert stats.bytes == 1200 and stats.entries == 3 and stats.evictions == 1
    assert stats.hits_by_kind["features"] == 3 and stats.misses_by_kind["features"] == 1
    assert stats.bytes_by_kind == {"features": 1200, "flows": 0, "windows": 0}


def test_kinds_are_separate_and_oversized_values_are_not_kept():
    cache = ShotCache(CacheConfig(budget_bytes=1000))
    cache.put("flows", "same", (_tensor(10), _tensor(10)))
    assert cache.get("features", "same") is None and cache.get("flows", "same") is not None
    cache.put("features", "big", _tensor(1000))
    assert cache.get("features", "big") is None and cache.stats().bytes == 80


def test_zero_budget_keeps_nothing():
    cache = ShotCache(CacheConfig(budget_bytes=0))
    calls = []
    for _ in range(2):
        if cache.get("features", "k") is None:
            calls.append(1)
            cache.put("features", "k", _tensor(4))
    assert len(calls) == 2 and cache.stats().entries == 0


def test_thread_safe_under_concurrent_use():
    cache = ShotCache(CacheConfig(budget_bytes=50 * 40))

    def work(offset: int) -> None:
        for i in range(300):
            key = f"k{(i + offset) % 80}"
            if cache.get("features", key) is None:
                cache.put("features", key, _tensor(10, i))

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats.bytes <= 2000 and stats.bytes == 40 * stats.entries
    assert stats.hits + stats.misses == 1200


def test_digest_depends_on_pixels_matte_and_dtype():
    a = np.zeros((4, 4, 3), np.uint8)
    m = np.zeros((4, 4), bool)
    base = digest_arrays(a, m)
    b = a.copy()
    b[1, 1, 1] = 1
    m2 = m.copy()
    m2[0, 0] = True
    assert len({base, digest_arrays(b, m), digest_arrays(a, m2), digest_arrays(a.astype(np.uint16), m)}) == 4
    assert digest_arrays(a.copy(), m.copy()) == base

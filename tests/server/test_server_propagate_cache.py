"""The server's shared ShotCache serves the weight-free engine too: a re-submit reuses each pair's flows and each
window's outputs, a matte tweak recomputes only the flows of the pairs it touches, and every result equals an
uncached run bit for bit."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.removal.api import RemovalRequest, run_removal
from e2fgvi_core.removal.cache import ShotCache
from e2fgvi_core.removal.config import CacheConfig
from e2fgvi_host.client import Client

TIMEOUT_S = 120.0
FRAMES = 12


def _pixels(pattern: str, first: int, count: int) -> np.ndarray:
    return np.stack([np.asarray(read_frame(pattern % n).pixels) for n in range(first, first + count)])


def _assert_equals_uncached(request: dict, folder, served: str, uncached_name: str) -> np.ndarray:
    """Run ``request`` in this process with a cache that keeps nothing and check the server's ``served`` outputs
    equal it bit for bit; returns them."""
    uncached = ShotCache(CacheConfig(budget_bytes=0))
    run_removal(RemovalRequest.from_mapping({**request, "out": str(folder / uncached_name)}), cache=uncached)
    assert uncached.stats().hits == 0
    result = _pixels(str(folder / served), 1001, FRAMES)
    np.testing.assert_array_equal(result, _pixels(str(folder / uncached_name), 1001, FRAMES))
    return result


def test_propagate_resubmits_hit_the_cache_and_equal_an_uncached_run(server_factory, support):
    server = server_factory()
    folder = server_factory.roots / "propagate"
    shot = support.make_shot(folder, frames=FRAMES, size=(48, 64), seed=5)
    request = {**shot, "engine": "propagate"}
    with Client(server.address, heartbeat_interval_s=1.0) as client:
        client.submit({**request, "out": str(folder / "a.%04d.exr")}).wait(TIMEOUT_S)
        first = client.status()["cache"]
        assert first["misses_by_kind"]["flows"] == FRAMES - 1  # one per adjacent pair, none asked twice
        client.submit({**request, "out": str(folder / "b.%04d.exr")}).wait(TIMEOUT_S)
        second = client.status()["cache"]
        assert second["misses"] == first["misses"], "an identical re-submit recomputes nothing"
        assert second["hits_by_kind"]["windows"] > first["hits_by_kind"].get("windows", 0)
        np.testing.assert_array_equal(
            _pixels(str(folder / "b.%04d.exr"), 1001, FRAMES), _pixels(str(folder / "a.%04d.exr"), 1001, FRAMES)
        )

        matte_path = shot["matte"] % 1006
        matte = read_frame(matte_path)
        pixels = np.array(matte.pixels)
        pixels[:6, :6] = 1.0
        matte.pixels = pixels
        write_frame(matte_path, matte)
        tweak = client.submit({**request, "out": str(folder / "c.%04d.exr")}).wait(TIMEOUT_S)
        third = client.status()["cache"]
        recomputed = third["misses_by_kind"]["flows"] - second["misses_by_kind"]["flows"]
        assert recomputed == 2, "only the two pairs that read the changed frame"
        # The job's own counters (its summary): every other pair's flows and camera motion came from the cache.
        assert tweak.summary["cache"]["hits_by_kind"]["flows"] == FRAMES - 3
        assert tweak.summary["cache"]["misses_by_kind"]["flows"] == 2

    # The same request run in this process with a cache that keeps nothing: identical bit for bit.
    _assert_equals_uncached(request, folder, "c.%04d.exr", "d.%04d.exr")


def test_a_changed_plate_frame_recomputes_its_pairs_and_equals_an_uncached_run(server_factory, support):
    """A plate frame re-rendered between submits (same matte): the flows of both pairs that read it are measured
    again, never taken from the cache, and the result equals an uncached run bit for bit."""
    server = server_factory()
    folder = server_factory.roots / "propagate-plate"
    shot = support.make_shot(folder, frames=FRAMES, size=(48, 64), seed=9)
    request = {**shot, "engine": "propagate"}
    with Client(server.address, heartbeat_interval_s=1.0) as client:
        client.submit({**request, "out": str(folder / "a.%04d.exr")}).wait(TIMEOUT_S)
        plate_path = shot["plate"] % 1006
        plate = read_frame(plate_path)
        pixels = np.array(plate.pixels, dtype=np.float32)
        w = pixels.shape[1]
        # A graded, shifted re-render: different texture everywhere outside the hole, so its flows differ.
        pixels = np.roll(pixels, 3, axis=1) * np.float32(0.8) + np.linspace(0, 0.1, w, dtype=np.float32)[None, :, None]
        matte = np.asarray(read_frame(shot["matte"] % 1006).pixels)[..., 0] > 0
        pixels[matte] = np.asarray(plate.pixels, dtype=np.float32)[matte]  # the object itself is unchanged
        plate.pixels = pixels.astype(np.float16)
        write_frame(plate_path, plate)
        changed = client.submit({**request, "out": str(folder / "b.%04d.exr")}).wait(TIMEOUT_S)
        stats = changed.summary["cache"]
        assert stats["misses_by_kind"]["flows"] == 2, "both pairs that read the re-rendered frame"
        assert stats["hits_by_kind"]["flows"] == FRAMES - 3

    after = _assert_equals_uncached(request, folder, "b.%04d.exr", "c.%04d.exr")
    # The fill of the frames beside it changed too: what the stale flows would have given is not what was made.
    before = _pixels(str(folder / "a.%04d.exr"), 1001, FRAMES)
    assert not np.array_equal(after[4], before[4]) and not np.array_equal(after[6], before[6])

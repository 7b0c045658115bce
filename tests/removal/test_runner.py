"""The runner with real models and real frames: exact cache, recomputation after a matte change, pass-through,
cancel, progress."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from e2fgvi_core.errors import JobCancelled
from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal
from e2fgvi_core.removal.cache import ShotCache
from e2fgvi_core.removal.config import CacheConfig


def _run(request, frames, mattes, cache=None, progress=None, cancel=None):
    sink = MemorySink()
    numbers = range(1001, 1001 + len(frames))
    summary = run_removal(
        request,
        progress=progress,
        cancel=cancel,
        cache=cache,
        source=MemorySource(dict(zip(numbers, frames))),
        matte_source=MemorySource(dict(zip(numbers, mattes.astype(np.uint8) * 255)), "matte"),
        sink=sink,
    )
    return summary, np.stack([sink.frames[n].pixels for n in numbers])


@pytest.mark.slow
def test_matte_change_recomputes_only_dependent_features_and_flows(make_checkpoint, synthetic_shot):
    """40 frames; after a full run, change the matte of 3 frames: only their features, the flows of their pairs and
    the windows that read them are recomputed."""
    frames, mattes = synthetic_shot(40, 60, 108, seed=3)
    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(make_checkpoint(1)), "device": "cpu", "roi": "full"}
    )
    shared = ShotCache(CacheConfig(budget_bytes=256 << 20))
    first, _ = _run(request, frames, mattes, cache=shared)
    assert first.cache_stats.misses_by_kind == {"features": 40, "flows": 39, "windows": 8}

    changed = mattes.copy()
    changed[16:19, 5:20, 60:80] = True
    second, out = _run(request, frames, changed, cache=shared)
    misses = dict(second.cache_stats.misses_by_kind)  # a summary counts its own job (issue 10), not the cache's life
    # features of 16, 17, 18; flows (15,16) (16,17) (17,18) (18,19); windows centred on 15 and 20 (the only ones
    # that read frames 16-18: references are 0, 10, 20, 30)
    assert misses == {"features": 3, "flows": 4, "windows": 2}
    assert second.windows_run == 8
    from e2fgvi_core.removal.prepare import dilate_hole

    hole = np.stack([dilate_hole(m) for m in changed])
    assert np.array_equal(out[~hole], frames[~hole])


def test_cached_and_uncached_results_are_identical(make_checkpoint, synthetic_shot):
    """Recomputing every stage in every window (no cache) equals computing each once (cache), bit for bit."""
    frames, mattes = synthetic_shot(8, 60, 108, seed=6)  # two overlapping windows share frames 0-5
    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(make_checkpoint(1)), "device": "cpu", "roi": "full"}
    )
    cold, uncached = _run(request, frames, mattes, cache=ShotCache(CacheConfig(budget_bytes=0)))
    assert cold.cache_stats.entries == 0 and cold.cache_stats.misses_by_kind["features"] == 6 + 8
    shared = ShotCache(CacheConfig(budget_bytes=256 << 20))
    first, cached = _run(request, frames, mattes, cache=shared)
    assert first.cache_stats.misses_by_kind == {"features": 8, "flows": 7, "windows": 2}
    again, rerun = _run(request, frames, mattes, cache=shared)
    assert again.cache_stats.misses == 0 and again.cache_stats.hits > 0  # the run's own counters: nothing recomputed
    assert np.array_equal(uncached, cached) and np.array_equal(cached, rerun)


def test_a_shared_cache_never_serves_a_job_computed_with_another_dilation(make_checkpoint, synthetic_shot):
    """Before: the cache key held the matte but not the dilated hole, so a --dilate 8 job after a --dilate 4 job on
    the same plate got the first job's features, flows and windows back (the server shares one ShotCache)."""
    frames, mattes = synthetic_shot(8, 60, 108, seed=6)
    settings = {"engine": "e2fgvi_hq", "weights": str(make_checkpoint(1)), "device": "cpu", "roi": "full"}
    wide = RemovalRequest.from_mapping({**settings, "matte_dilate": 8})
    _, alone = _run(wide, frames, mattes, cache=ShotCache(CacheConfig(budget_bytes=0)))
    shared = ShotCache(CacheConfig(budget_bytes=256 << 20))
    _run(RemovalRequest.from_mapping({**settings, "matte_dilate": 4}), frames, mattes, cache=shared)
    second, after = _run(wide, frames, mattes, cache=shared)
    assert second.cache_stats.misses_by_kind["features"] == 8  # nothing of the dilate-4 job was reused
    assert np.array_equal(after, alone)


def test_empty_mattes_pass_through_without_the_model(synthetic_shot):
    frames, mattes = synthetic_shot(20, 48, 64, seed=4, empty=set(range(9)))
    request = RemovalRequest.from_mapping({"engine": "propagate", "roi": "full", "neighbor_stride": 3})
    summary, out = _run(request, frames, mattes)
    assert summary.frames_passthrough == 9
    assert summary.windows_run == 4  # windows 0..2 see only empty mattes; 3..6 run (context windows of propagate)
    assert np.array_equal(out[:9], frames[:9])
    assert not np.array_equal(out[9:], frames[9:])


def test_progress_reports_and_cancel_between_windows(tmp_path, synthetic_shot):
    frames, mattes = synthetic_shot(16, 48, 64, seed=5)
    request = RemovalRequest.from_mapping({"engine": "propagate", "neighbor_stride": 4})
    reports = []
    summary, _ = _run(request, frames, mattes, progress=reports.append)
    assert reports[0].frames_done == 0 and reports[-1].stage == "done"
    assert [r.frames_done for r in reports] == sorted(r.frames_done for r in reports)
    assert reports[-1].frames_done == reports[-1].frames_total == 16 and summary.frames_written == 16

    cancel = threading.Event()

    def cancel_after_first_frames(progress):
        if progress.frames_done >= 4:
            cancel.set()

    out_dir = tmp_path / "out"
    file_request = RemovalRequest.from_mapping(
        {"engine": "propagate", "neighbor_stride": 4, "out": str(out_dir / "c.%04d.png")}
    )
    with pytest.raises(JobCancelled, match="cancelled after 4 of 16"):
        run_removal(
            file_request,
            progress=cancel_after_first_frames,
            cancel=cancel,
            source=MemorySource(dict(enumerate(frames))),
            matte_source=MemorySource(dict(enumerate(mattes.astype(np.uint8))), "matte"),
        )
    assert sorted(p.name for p in out_dir.iterdir()) == [f"c.{i:04d}.png" for i in range(4)]  # complete files only


def test_provenance_names_every_engine_setting_and_the_output_encoding():
    """Before: precision, --out-channels and --out-colorspace were missing, so a farm --resume kept a frame an
    fp16 or differently encoded job had written."""
    import dataclasses

    from e2fgvi_core.removal.config import EngineConfig
    from e2fgvi_core.removal.runner import job_provenance

    request = RemovalRequest.from_mapping(
        {"engine": "propagate", "precision": "fp32", "out_channels": "R,G,B", "out_colorspace": "linear"}
    )
    data = job_provenance(request, "propagate", None, None, 1001)
    assert {f.name for f in dataclasses.fields(EngineConfig)} <= set(data)
    assert (data["precision"], data["out_channels"], data["out_colorspace"]) == ("fp32", "R,G,B", "linear")
    assert job_provenance(RemovalRequest.from_mapping({"engine": "propagate"}), "propagate", None, None, 1001) != data

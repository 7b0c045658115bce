"""ROI and proxy: geometry rules, and real model runs that process only the crop / the reduced size."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal
from e2fgvi_core.removal.prepare import dilate_hole
from e2fgvi_core.removal.roi import plan_geometry, union_bbox

FEATURES_60X108 = 128 * 15 * 27 * 4  # bytes of one cached encoder feature map for a 60x108 processing size


def test_union_bbox():
    a = np.zeros((10, 20), bool)
    b = np.zeros((10, 20), bool)
    a[2:4, 3:5] = True
    b[6, 15] = True
    assert union_bbox([a, b]) == (3, 2, 16, 7)
    assert union_bbox([np.zeros((4, 4), bool)]) is None


def test_auto_roi_is_aligned_to_60x108_and_inside_the_frame():
    hole = np.zeros((1080, 1920), bool)
    hole[1000:1070, 1850:1900] = True  # near the bottom-right corner
    g = plan_geometry((1920, 1080), [hole], roi="auto", margin=48, proxy=1.0, engine="e2fgvi_hq")
    x0, y0, x1, y1 = g.rect
    assert (x1 - x0) % 108 == 0 and (y1 - y0) % 60 == 0
    assert 0 <= x0 and x1 <= 1920 and 0 <= y0 and y1 <= 1080
    assert x0 <= 1850 - 48 and y0 <= 1000 - 48 and x1 == 1920 and y1 == 1080
    assert g.proc_wh == (x1 - x0, y1 - y0) and not g.resized
    # proxy: the crop is aligned so that its reduced size is a multiple of 60x108
    gp = plan_geometry((1920, 1080), [hole], roi="auto", margin=48, proxy=0.5, engine="e2fgvi_hq")
    assert gp.proc_wh[0] % 108 == 0 and gp.proc_wh[1] % 60 == 0 and gp.resized


def test_full_roi_original_model_and_small_frames():
    hole = np.zeros((100, 200), bool)
    hole[10:20, 10:20] = True
    assert plan_geometry((200, 100), [hole], roi="full", margin=8, proxy=1.0, engine="e2fgvi_hq").is_full_frame
    original = plan_geometry((200, 100), [hole], roi="auto", margin=8, proxy=0.5, engine="e2fgvi")
    assert original.is_full_frame and original.proc_wh == (432, 240)
    # a frame smaller than one 60x108 unit is processed whole (and padded by the backend)
    small = plan_geometry((100, 50), [hole[:50, :100]], roi="auto", margin=8, proxy=1.0, engine="e2fgvi_hq")
    assert small.is_full_frame


def test_weight_free_engine_takes_whole_frames_under_auto_roi_but_honours_proxy():
    hole = np.zeros((360, 640), bool)
    hole[100:140, 300:360] = True
    whole = plan_geometry((640, 360), [hole], roi="auto", margin=8, proxy=1.0, engine="propagate")
    assert whole.is_full_frame and whole.proc_wh == (640, 360) and whole.pad_multiple_hw is None
    half = plan_geometry((640, 360), [hole], roi="auto", margin=8, proxy=0.5, engine="propagate")
    assert half.is_full_frame and half.proc_wh == (320, 180)


def _shot(height, width, length=6):
    rng = np.random.default_rng(12)
    frames = rng.integers(0, 256, size=(length, height, width, 3), dtype=np.uint8)
    mattes = np.zeros((length, height, width), dtype=np.uint8)
    mattes[:, 20:36, 30:50] = 255  # static: every window gets the same crop
    return frames, mattes


def _run(request, frames, mattes):
    sink = MemorySink()
    summary = run_removal(
        request,
        source=MemorySource(dict(enumerate(frames))),
        matte_source=MemorySource(dict(enumerate(mattes)), "matte"),
        sink=sink,
    )
    return summary, np.stack([sink.frames[i].pixels for i in range(len(frames))])


def _check_outside_and_filled(out, frames, mattes):
    hole = np.stack([dilate_hole(m > 0) for m in mattes])
    assert np.array_equal(out[~hole], frames[~hole])
    assert not np.array_equal(out[hole], frames[hole])


def test_auto_roi_runs_the_model_on_the_crop_only(make_checkpoint):
    frames, mattes = _shot(60, 324)
    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(make_checkpoint(1)), "device": "cpu", "roi": "auto", "roi_margin": 8}
    )
    summary, out = _run(request, frames, mattes)
    _check_outside_and_filled(out, frames, mattes)
    stats = summary.cache_stats
    assert stats.bytes_by_kind["features"] == 6 * FEATURES_60X108  # 60x108 crops of the 60x324 frames
    assert stats.bytes_by_kind["flows"] == 5 * 2 * (2 * 15 * 27 * 4)


def test_proxy_processes_at_half_size(make_checkpoint):
    frames, mattes = _shot(120, 216)
    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(make_checkpoint(1)), "device": "cpu", "roi": "full", "proxy": 0.5}
    )
    summary, out = _run(request, frames, mattes)
    _check_outside_and_filled(out, frames, mattes)
    assert summary.cache_stats.bytes_by_kind["features"] == 6 * FEATURES_60X108
    assert summary.cache_stats.bytes_by_kind["flows"] == 5 * 2 * (2 * 15 * 27 * 4)


def test_original_model_runs_whole_frames_at_432x240(filled_checkpoint, tmp_path):
    filled_checkpoint(tmp_path / "e2fgvi.pth", variant="e2fgvi", seed=0)
    frames, mattes = _shot(120, 216, length=2)
    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi", "weights": str(tmp_path / "e2fgvi.pth"), "device": "cpu", "roi": "auto"}
    )
    summary, out = _run(request, frames, mattes)
    _check_outside_and_filled(out, frames, mattes)
    features_240x432 = 128 * 60 * 108 * 4
    assert summary.variant == "e2fgvi"
    assert summary.cache_stats.bytes_by_kind["features"] == 2 * features_240x432
    assert summary.cache_stats.bytes_by_kind["flows"] == 2 * (2 * 60 * 108 * 4)

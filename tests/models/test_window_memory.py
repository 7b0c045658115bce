"""Memory bounded by the window: the estimate the engine checks before a window, and the refusal it gives."""

from __future__ import annotations

import sys

import pytest
import torch

from e2fgvi_core.errors import DeviceError
from e2fgvi_core.models import build_generator
from e2fgvi_core.removal.cache import ShotCache
from e2fgvi_core.removal.engines import ModelEngine, available_memory_bytes
from e2fgvi_core.removal.plan import Window
from e2fgvi_core.removal.roi import Geometry


@pytest.fixture(scope="module")
def hq():
    return build_generator("e2fgvi_hq").eval()


def test_estimate_grows_with_frames_and_area_and_matches_the_measured_order(hq):
    small = hq.estimate_window_bytes(13, 11, 240, 432)
    assert hq.estimate_window_bytes(20, 11, 240, 432) > small
    assert hq.estimate_window_bytes(13, 11, 480, 864) > 3 * small
    # docs/performance.md: one 13-frame window at 432x240 peaks a few hundred MiB above the loaded model
    assert 256 << 20 <= small <= 1536 << 20


def test_cpu_free_memory_is_read():
    free = available_memory_bytes(torch.device("cpu"))
    if sys.platform.startswith("linux"):
        assert free is not None
    assert free is None or 0 < free < 1 << 50


def test_a_window_that_cannot_fit_is_refused_with_the_need_and_the_options(hq):
    engine = ModelEngine(hq, "e2fgvi_hq", "0" * 64, torch.device("cpu"), ShotCache())
    huge = Geometry(
        frame_wh=(32400, 18000), rect=(0, 0, 32400, 18000), proc_wh=(32400, 18000), pad_multiple_hw=(60, 108)
    )
    window = Window(index=0, center=0, local=(0, 1, 2), refs=())
    with pytest.raises(
        DeviceError,
        match=r"window 0 needs about \d+\.\d GiB on cpu \(3 frames at 32400x18000\).*"
        r"--roi auto.*--proxy 0.5",
    ):
        engine.run_window(window, huge, lambda p: str(p), lambda p: (_ for _ in ()).throw(AssertionError("read")))
    small = Geometry(frame_wh=(432, 240), rect=(0, 0, 432, 240), proc_wh=(432, 240), pad_multiple_hw=(60, 108))
    engine._check_fits(window, small)  # fits: no error

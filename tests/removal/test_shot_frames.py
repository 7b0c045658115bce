"""``shot`` vs ``frames``: a subset of a 40-frame shot equals the same frames of the whole run, bit for bit, and
runs only the windows that contribute to it (and reads only their frames)."""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, plan_frames, run_removal
from e2fgvi_core.removal.config import EngineConfig
from e2fgvi_core.removal.plan import plan_shot

FIRST = 1001
LENGTH = 40
SIZES = (1, 7, 13)


class ReadLog(MemorySource):
    """A by-value source that remembers which frames the runner read (to count them)."""

    def __init__(self, frames, name="plate") -> None:
        super().__init__(frames, name)
        self.read_numbers: list[int] = []

    def read(self, frame: int):
        self.read_numbers.append(frame)
        return super().read(frame)


def _run(base: dict, frames_np, mattes, frames: str | None = None):
    numbers = range(FIRST, FIRST + len(frames_np))
    source = ReadLog(dict(zip(numbers, frames_np)))
    sink = MemorySink()
    request = RemovalRequest.from_mapping({**base, "shot": f"{FIRST}-{FIRST + LENGTH - 1}", "frames": frames})
    summary = run_removal(
        request,
        source=source,
        matte_source=MemorySource(dict(zip(numbers, mattes.astype(np.uint8) * 255)), "matte"),
        sink=sink,
    )
    return summary, {n: f.pixels for n, f in sink.frames.items()}, source.read_numbers


def _cases(offsets):
    return [(size, start) for size in SIZES for start in offsets if start + size <= LENGTH]


def _check_subsets(base, frames_np, mattes, cases, expected_windows, expected_reads):
    whole_summary, whole, _ = _run(base, frames_np, mattes)
    assert sorted(whole) == list(range(FIRST, FIRST + LENGTH))
    for size, start in cases:
        first, last = FIRST + start, FIRST + start + size - 1
        summary, out, reads = _run(base, frames_np, mattes, f"{first}-{last}")
        assert sorted(out) == list(range(first, last + 1)), (size, start)
        for number in out:
            assert np.array_equal(out[number], whole[number]), f"frame {number} of subset {first}-{last} differs"
        windows, read_positions = expected_windows(start, start + size - 1), expected_reads(start, start + size - 1)
        assert summary.windows_planned == windows, (size, start)
        assert summary.windows_run == windows, (size, start)  # every window here has a matte
        assert sorted(reads) == [FIRST + p for p in read_positions], (size, start)  # each frame read once
        assert summary.frames_read == len(read_positions)
    return whole_summary, whole


def _static_box_shot(length, height, width, seed=5):
    """A panning texture with a static matte wider than the pan of a few frames: its middle no frame shows, so
    propagate's spatial fill and temporal carry decide it."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, size=(height, width + 2 * length, 3), dtype=np.uint8)
    frames = np.stack([texture[:, 2 * t : 2 * t + width] for t in range(length)])
    mattes = np.zeros((length, height, width), dtype=bool)
    mattes[:, 12:30, 26:48] = True
    return frames, mattes


def test_propagate_subsets_equal_the_whole_run_and_run_only_their_windows():
    frames_np, mattes = _static_box_shot(LENGTH, 40, 72)
    context, every, stride = 4, 10, 5
    base = {
        "engine": "propagate",
        "propagate_context_frames": context,
        "propagate_carry_restart_frames": every,
        "propagate_flow_preset": "ultrafast",
    }

    def windows(a, b):  # windows output [s, s + stride); run from the carry restart before a up to b
        restart = every * (a // every)
        return len([s for s in range(0, LENGTH, stride) if s + stride > restart and s <= b])

    def reads(a, b):
        restart = every * (a // every)
        starts = [s for s in range(0, LENGTH, stride) if s + stride > restart and s <= b]
        return list(range(max(0, starts[0] - context), min(LENGTH, starts[-1] + stride + context)))

    cases = _cases((0, 9, 16, 27, LENGTH - 13, LENGTH - 7, LENGTH - 1))
    whole, carried = _check_subsets(base, frames_np, mattes, cases, windows, reads)
    assert whole.windows_planned == LENGTH // stride and whole.frames_warmup == 0

    # The carry matters on this shot (so the warm-up above is what made the subsets exact): without it, frames
    # after a restart point differ.
    _, fresh, _ = _run({**base, "propagate_temporal_spatial_fill": 0}, frames_np, mattes)
    assert not np.array_equal(carried[FIRST + 15], fresh[FIRST + 15])
    summary, _, _ = _run(base, frames_np, mattes, f"{FIRST + 17}-{FIRST + 18}")
    assert summary.frames_warmup == 7  # positions 10..16


@pytest.mark.slow
def test_hq_subsets_equal_the_whole_run_and_run_only_their_windows(make_checkpoint, synthetic_shot):
    frames_np, mattes = synthetic_shot(LENGTH, 60, 108, seed=3)
    base = {"engine": "e2fgvi_hq", "weights": str(make_checkpoint(1)), "device": "cpu", "roi": "full"}
    stride, ref_step = 5, 10

    def contributing(a, b):
        return [c for c in range(0, LENGTH, stride) if max(0, c - stride) <= b and min(LENGTH - 1, c + stride) >= a]

    def windows(a, b):
        return len(contributing(a, b))

    def reads(a, b):
        positions = set()
        for c in contributing(a, b):
            positions.update(range(max(0, c - stride), min(LENGTH, c + stride + 1)))
            positions.update(range(0, LENGTH, ref_step))  # num_ref=-1: every 10th frame of the shot
        return sorted(positions)

    _check_subsets(base, frames_np, mattes, _cases((0, 12, LENGTH - 13)), windows, reads)


def test_plan_frames_is_the_part_of_the_shot_plan_an_output_needs():
    shot = plan_shot(40, EngineConfig())
    part = plan_frames(shot, [12])
    assert [w.center for w in part.windows] == [10, 15]
    assert part.outputs == (12,) and part.warmup == () and part.windows_skipped == 6
    assert set(part.reads) == set(range(5, 21)) | {0, 30}
    with pytest.raises(ConfigError, match="outside the shot"):
        plan_frames(shot, [40])


def test_frames_outside_the_shot_is_a_config_error():
    with pytest.raises(ConfigError, match="not all inside shot"):
        RemovalRequest.from_mapping({"shot": "1001-1040", "frames": "1035-1045"})
    with pytest.raises(ConfigError, match="frames"):
        RemovalRequest.from_mapping({"frames": "10-x"})


def test_without_a_shot_the_frames_range_is_the_shot(synthetic_shot):
    """The old meaning of ``frames`` alone: references are planned over those frames only."""
    frames_np, mattes = synthetic_shot(12, 40, 64, seed=1)
    numbers = range(FIRST, FIRST + 12)
    sink = MemorySink()
    summary = run_removal(
        RemovalRequest.from_mapping({"engine": "propagate", "frames": f"{FIRST + 2}-{FIRST + 6}"}),
        source=MemorySource(dict(zip(numbers, frames_np))),
        matte_source=MemorySource(dict(zip(numbers, mattes.astype(np.uint8) * 255)), "matte"),
        sink=sink,
    )
    assert summary.frames == tuple(range(FIRST + 2, FIRST + 7)) and summary.frames_read == 5

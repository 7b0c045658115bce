"""Shot plan: the official windows and references, and the last-use bookkeeping that streaming relies on."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.removal.config import EngineConfig
from e2fgvi_core.removal.plan import plan_shot, select_references


def _padded(ids, width):
    return list(ids) + [-1] * (width - len(ids))


def test_windows_match_the_parity_case(parity_dir):
    data = np.load(parity_dir / "e2fgvi_hq_pipeline.npz")
    plan = plan_shot(24, EngineConfig())
    assert [w.center for w in plan.windows] == list(data["window_centers"])
    for window, local, refs in zip(plan.windows, data["window_neighbor_ids"], data["window_ref_ids"]):
        assert _padded(window.local, local.shape[0]) == list(local)
        assert _padded(window.refs, refs.shape[0]) == list(refs)


def test_official_nearest_references_and_out_of_range_drop():
    local = tuple(range(15, 26))
    # official: range(max(0, 20-20), min(30, 20+20) + 1, 10) -> 0, 10, 20(local), 30 (== length: dropped)
    assert select_references(20, local, 30, 10, 4) == [0, 10]
    # nearest: range(45, 55 + 1, 5) minus the local frames, relative to the centre (not aligned to ref_step)
    assert select_references(50, tuple(range(48, 53)), 200, 5, 2) == [45, 55]
    assert select_references(50, tuple(range(45, 56)), 200, 5, 2) == []


def test_last_use_bookkeeping():
    plan = plan_shot(24, EngineConfig())
    assert plan.outputs_after(0) == []
    assert plan.outputs_after(1) == [0, 1, 2, 3, 4]
    assert plan.outputs_after(4) == list(range(15, 24))
    assert 0 in plan.needed_by(4)  # reference of the last window
    assert plan.needed_by(5) == set()
    every = sorted(p for w in range(len(plan.windows)) for p in plan.outputs_after(w))
    assert every == list(range(24))


def test_context_windows_for_the_weight_free_engine():
    plan = plan_shot(12, EngineConfig(neighbor_stride=4), context_frames=2)
    assert [w.local for w in plan.windows] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11)]
    assert plan.windows[1].refs == (2, 3, 8, 9)

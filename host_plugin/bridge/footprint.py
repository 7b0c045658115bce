"""Which input frames one output frame is computed from: what ``frames_needed`` answers and the cache keys on.

Why a copy of the engine's window rule lives here: the bridge runs inside a host's Python, where ``e2fgvi_core``
cannot be imported, yet it must know, before any job runs, which input frames an output frame reads (OpenFX's
``getFramesNeeded``, the frames to send by value, and which cached frames a changed input frame invalidates).
This is a deliberate copy of ``e2fgvi_core.removal.plan`` (``plan_shot`` and ``plan_frames``), kept honest by
``tests/host_plugin/test_bridge.py::test_footprint_equals_the_engine_plan``, which compares it with the engine's plan for many shots and settings.
Positions are indices into the shot (0 .. length-1), as in the engine.
"""

from __future__ import annotations

MODEL_ENGINES = ("e2fgvi_hq", "e2fgvi")


def model_references(center: int, local: range, length: int, ref_step: int, num_ref: int) -> list[int]:
    """The reference positions of a model window (the engine's ``select_references``)."""
    if num_ref == -1:
        return [i for i in range(0, length, ref_step) if i not in local]
    refs: list[int] = []
    half = num_ref // 2
    for i in range(max(0, center - ref_step * half), min(length, center + ref_step * half) + 1, ref_step):
        if i in local:
            continue
        if len(refs) > num_ref:
            break
        if i < length:
            refs.append(i)
    return refs


def _model_windows(length: int, stride: int, ref_step: int, num_ref: int) -> list[tuple[range, list[int]]]:
    windows = []
    for center in range(0, length, stride):
        local = range(max(0, center - stride), min(length, center + stride + 1))
        windows.append((local, model_references(center, local, length, ref_step, num_ref)))
    return windows


def _propagate_windows(length: int, stride: int, context: int) -> list[tuple[range, list[int]]]:
    windows = []
    for start in range(0, length, stride):
        targets = range(start, min(length, start + stride))
        lo, hi = max(0, start - context), min(length, targets[-1] + context + 1)
        windows.append((targets, [i for i in range(lo, hi) if i not in targets]))
    return windows


def positions_read(
    outputs: set[int] | list[int] | tuple[int, ...],
    length: int,
    engine: str,
    neighbor_stride: int = 5,
    ref_step: int = 10,
    num_ref: int = -1,
    context_frames: int = 20,
    carry_every: int | None = 30,
) -> set[int]:
    """Positions the engine reads to produce ``outputs`` exactly (the engine's ``plan_frames(...).reads``).

    ``context_frames``/``carry_every`` are the propagate engine's ``context_frames`` and ``carry_restart_frames``
    (the bridge sends both, so the server's own defaults cannot differ); ``carry_every=None``: no temporal carry.
    ``engine="auto"`` may run either kind, so its answer is the union of both.
    """
    if engine == "auto":
        return positions_read(outputs, length, "e2fgvi_hq", neighbor_stride, ref_step, num_ref) | positions_read(
            outputs, length, "propagate", neighbor_stride, ref_step, num_ref, context_frames, carry_every
        )
    needed = set(outputs)
    if engine in MODEL_ENGINES:
        windows = _model_windows(length, neighbor_stride, ref_step, num_ref)
    else:
        windows = _propagate_windows(length, neighbor_stride, context_frames)
        if carry_every:
            for position in outputs:
                needed.update(range(carry_every * (position // carry_every), position))
    read: set[int] = set()
    for local, refs in windows:
        if needed.intersection(local):
            read.update(local)
            read.update(refs)
    return read

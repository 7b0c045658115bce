"""The shot plan: which frames each window processes, which it only looks at, and when a frame is final.

The official ``test.py`` protocol is the default: a window of local frames ``[c - stride, c + stride]`` for each
centre ``c = 0, stride, 2*stride, ...``; reference frames every ``ref_step`` frames over the whole shot that are not
local (``num_ref=-1``), or the official "nearest ``num_ref``" selection. Positions here are indices into the shot
(0 .. length-1), never plate frame numbers: the runner maps them.

Knowing in advance when each position is used last is what lets the runner stream: a frame is read when the first
window needs it, written out after the last window that outputs it, and dropped when no window needs it any more.

``plan_frames`` cuts a shot plan down to what a subset of output positions needs (a farm chunk, a host bridge's
"the chunk around frame N"): the windows whose results reach those positions, and the positions those windows read.
Running only these gives the same pixels as the whole shot, bit for bit (the runner's contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal.config import EngineConfig


@dataclass(frozen=True)
class Window:
    """One model call: ``local`` positions are inpainted and output, ``refs`` only give context.

    ``clean``: the positions of the request's reference (clean-plate) frames the window also holds, after ``refs``
    and with only their untrusted pixels masked. Their pixels come from the painted files, not the plate, so they
    are not in ``inputs`` (what the runner reads); every window of a model engine holds all of them, which keeps
    a ``frames`` subset or farm chunk equal to the whole run.
    """

    index: int
    center: int
    local: tuple[int, ...]
    refs: tuple[int, ...]
    clean: tuple[int, ...] = ()

    @property
    def inputs(self) -> tuple[int, ...]:
        """Plate positions in the model input order of the official script: local frames, then references."""
        return self.local + self.refs


@dataclass(frozen=True)
class ShotPlan:
    """All windows of a shot plus, per position, the last window that outputs it.

    ``carry_every``: the engine carries state from one output to the next (propagate's temporal fill) and restarts
    it at every multiple of this position; None when a window's result depends only on its own inputs.
    """

    length: int
    windows: tuple[Window, ...]
    last_output_window: dict[int, int] = field(default_factory=dict)
    carry_every: int | None = None

    def outputs_after(self, window_index: int) -> list[int]:
        """Positions whose result is final once window ``window_index`` has been blended."""
        return sorted(p for p, w in self.last_output_window.items() if w == window_index)

    def needed_by(self, window_index: int) -> set[int]:
        """Positions read by window ``window_index`` (empty past the end)."""
        if 0 <= window_index < len(self.windows):
            return set(self.windows[window_index].inputs)
        return set()


def select_references(center: int, local: tuple[int, ...], length: int, ref_step: int, num_ref: int) -> list[int]:
    """Reference positions of the window centred on ``center``, as the official ``get_ref_index``.

    ``num_ref=-1``: every ``ref_step``-th position of the shot not in the window. Otherwise the official code walks
    ``range(max(0, c - ref_step*(num_ref//2)), min(length, c + ref_step*(num_ref//2)) + 1, ref_step)`` and keeps up
    to ``num_ref + 1`` positions (its ``len > num_ref`` check comes before the append). That range can reach
    ``length`` itself, one past the last frame, where the official script would fail; we drop such positions.
    """
    local_set = set(local)
    refs: list[int] = []
    if num_ref == -1:
        return [i for i in range(0, length, ref_step) if i not in local_set]
    half = num_ref // 2
    start = max(0, center - ref_step * half)
    end = min(length, center + ref_step * half)
    for i in range(start, end + 1, ref_step):
        if i in local_set:
            continue
        if len(refs) > num_ref:
            break
        if i < length:
            refs.append(i)
    return refs


def plan_shot(
    length: int, config: EngineConfig, context_frames: int | None = None, clean: Sequence[int] = ()
) -> ShotPlan:
    """Cut a shot of ``length`` frames into windows.

    ``context_frames`` replaces the model protocol for engines that want a plain sliding neighbourhood (the
    weight-free ``propagate`` engine): windows centred every ``neighbor_stride`` frames output their
    ``neighbor_stride`` centre frames and read ``context_frames`` more on each side, with no references.
    ``clean``: positions of reference (clean-plate) frames that every window of the model protocol holds after its
    official references (``Window.clean``; ignored with ``context_frames``, whose engine holds its references
    itself); the official windows are otherwise unchanged.
    """
    if length <= 0:
        raise ConfigError("the shot has no frames: check --frames and the plate pattern")
    clean = tuple(sorted({int(p) for p in clean}))
    outside = [p for p in clean if not 0 <= p < length]
    if outside:
        raise ConfigError(f"reference frame positions {outside[:5]} lie outside the shot of {length} frames")
    stride = config.neighbor_stride
    windows: list[Window] = []
    if context_frames is None:
        for number, center in enumerate(range(0, length, stride)):
            local = tuple(range(max(0, center - stride), min(length, center + stride + 1)))
            refs = tuple(select_references(center, local, length, config.ref_step, config.num_ref))
            windows.append(Window(number, center, local, refs, clean))
    else:
        for number, start in enumerate(range(0, length, stride)):
            targets = tuple(range(start, min(length, start + stride)))
            lo, hi = max(0, start - context_frames), min(length, targets[-1] + context_frames + 1)
            context = tuple(i for i in range(lo, hi) if i not in targets)
            windows.append(Window(number, start, targets, context))
    last_output: dict[int, int] = {}
    for window in windows:
        for position in window.local:
            last_output[position] = window.index
    return ShotPlan(length, tuple(windows), last_output)


@dataclass(frozen=True)
class FramePlan:
    """What producing ``outputs`` takes: the windows to run (shot order), the positions they read, the warm-up.

    ``warmup``: positions computed but not written, because a carried state must be rebuilt from its restart point
    before the first output (propagate); ``windows_skipped`` counts the shot's windows that are not run.
    """

    outputs: tuple[int, ...]
    windows: tuple[Window, ...]
    reads: tuple[int, ...]
    warmup: tuple[int, ...]
    windows_skipped: int
    last_output_window: dict[int, int] = field(default_factory=dict)

    def outputs_after(self, window_index: int) -> list[int]:
        """Output positions whose result is final once window ``window_index`` (its shot index) is blended."""
        return sorted(p for p, w in self.last_output_window.items() if w == window_index)

    def needed_after(self, run_index: int) -> set[int]:
        """Positions read by the window run after the ``run_index``-th one (empty past the end)."""
        if 0 <= run_index + 1 < len(self.windows):
            return set(self.windows[run_index + 1].inputs)
        return set()


def plan_frames(shot_plan: ShotPlan, output_positions) -> FramePlan:
    """The part of ``shot_plan`` that produces ``output_positions`` (indices into the shot) exactly.

    A position's result is the blend of every window whose ``local`` holds it, so those windows run, in shot order;
    with a carried state (``shot_plan.carry_every = K``) the positions from the last restart ``K * (p // K)`` up to
    each output ``p`` are computed too. Nothing else is read or run. Raises ``ConfigError`` for positions outside
    the shot or an empty selection.
    """
    outputs = tuple(sorted({int(p) for p in output_positions}))
    if not outputs:
        raise ConfigError("no frames to produce: the frames range is empty")
    outside = [p for p in outputs if not 0 <= p < shot_plan.length]
    if outside:
        raise ConfigError(f"output positions {outside[:5]} lie outside the shot of {shot_plan.length} frames")
    needed = set(outputs)
    if shot_plan.carry_every:
        every = shot_plan.carry_every
        for position in outputs:
            needed.update(range(every * (position // every), position))
    windows = tuple(w for w in shot_plan.windows if needed.intersection(w.local))
    reads = tuple(sorted({p for w in windows for p in w.inputs}))
    warmup = tuple(sorted(needed - set(outputs)))
    last = {p: shot_plan.last_output_window[p] for p in outputs}
    return FramePlan(outputs, windows, reads, warmup, len(shot_plan.windows) - len(windows), last)

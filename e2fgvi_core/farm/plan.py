"""Chunk planning: which frames each farm task writes, which it reads, which windows it runs, what it costs.

A chunk is exact because the engine's shot plan does not depend on who runs it: every task plans the whole shot
(``shot``: windows and references over all of it) and runs only the windows that contribute to its own frames
(``frames``). This module asks the engine for that plan, so what ``e2fgvi farm plan`` prints is what the tasks run.

Chunk boundaries follow OpenJD's ``TASK_CHUNKING`` extension with ``rangeConstraint: CONTIGUOUS``: a range of ``n``
frames at chunk size ``c`` becomes ``ceil(n / c)`` contiguous chunks whose sizes differ by at most one, the larger
ones spread evenly (25 frames at 10: 9/8/8; 37 at 10: 10/9/9/9). The fallback template (no extension) steps by
``c`` instead and leaves the remainder to the last chunk (37 at 10: 10/10/10/7).

Cost is counted in frame passes: one per frame read (encoder features or flow inputs of that frame) plus, per
window run, one per frame the window feeds through propagation and the transformer (its local frames and
references). It is proportional to compute time for a given frame size, so it compares chunk sizes; it is not
seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.io.sequence import format_frame_ranges, parse_frame_range
from e2fgvi_core.removal.api import RemovalRequest
from e2fgvi_core.removal.engine_registry import ENGINES
from e2fgvi_core.removal.plan import ShotPlan, plan_frames

FARM_ENGINES = tuple(name for name, traits in ENGINES.items() if traits.chunk_exact)
"""Engines a farm job may name: the registry's chunk-exact ones. ``auto`` is resolved when the bundle is written,
never on a worker (two workers with different checkpoints installed would otherwise mix engines within one shot)."""


@dataclass(frozen=True)
class Chunk:
    """One farm task: plate frame numbers it writes and reads, shot windows it runs, its cost in frame passes."""

    index: int
    frames: tuple[int, ...]
    reads: tuple[int, ...]
    windows: tuple[int, ...]
    cost: int

    @property
    def frame_range(self) -> str:
        return f"{self.frames[0]}-{self.frames[-1]}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "frames": self.frame_range,
            "frames_written": len(self.frames),
            "reads": format_frame_ranges(self.reads),
            "frames_read": len(self.reads),
            "windows": list(self.windows),
            "cost": self.cost,
        }


@dataclass(frozen=True)
class FarmPlan:
    """All chunks of a shot, and the cost of running the shot in one process for comparison."""

    shot: tuple[int, ...]
    chunk_size: int
    chunking: bool
    engine: str
    chunks: tuple[Chunk, ...]
    windows_total: int
    single_run_cost: int

    @property
    def chunks_cost(self) -> int:
        return sum(chunk.cost for chunk in self.chunks)

    @property
    def overhead(self) -> float:
        """Extra work of the chunked run over one process, as a fraction (0.25: a quarter more)."""
        return self.chunks_cost / self.single_run_cost - 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "shot": f"{self.shot[0]}-{self.shot[-1]}",
            "chunk_size": self.chunk_size,
            "chunking": "TASK_CHUNKING" if self.chunking else "fallback",
            "engine": self.engine,
            "windows_total": self.windows_total,
            "single_run_cost": self.single_run_cost,
            "chunks_cost": self.chunks_cost,
            "overhead": round(self.overhead, 4),
            "chunks": [chunk.to_json() for chunk in self.chunks],
        }

    def table(self) -> str:
        """The plan as a fixed-width text table with a summary line (what ``e2fgvi farm plan`` prints)."""
        header = ("chunk", "frames", "written", "read", "windows", "cost", "cost/frame")
        rows = [
            (
                str(chunk.index + 1),
                chunk.frame_range,
                str(len(chunk.frames)),
                str(len(chunk.reads)),
                f"{len(chunk.windows)} ({chunk.windows[0]}-{chunk.windows[-1]})" if chunk.windows else "0",
                str(chunk.cost),
                f"{chunk.cost / len(chunk.frames):.1f}",
            )
            for chunk in self.chunks
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(text.rjust(width) for text, width in zip(row, widths)) for row in [header, *rows]]
        lines.append(
            f"{len(self.chunks)} chunks of {self.shot[0]}-{self.shot[-1]} ({len(self.shot)} frames, {self.engine}, "
            f"chunk {self.chunk_size}): cost {self.chunks_cost} frame passes against {self.single_run_cost} for one "
            f"process ({self.windows_total} windows), overhead {100 * self.overhead:+.1f}%"
        )
        return "\n".join(lines)


def compare_table(plans: Sequence[FarmPlan]) -> str:
    """One line per plan of the same shot at different chunk sizes: how chunk size trades tasks against overhead."""
    header = ("chunk", "tasks", "frames/task", "read/task", "windows/task", "cost/task", "total cost", "overhead")

    def spread(values: list[int]) -> str:
        return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"

    rows = [
        (
            str(plan.chunk_size),
            str(len(plan.chunks)),
            spread([len(c.frames) for c in plan.chunks]),
            spread([len(c.reads) for c in plan.chunks]),
            spread([len(c.windows) for c in plan.chunks]),
            spread([c.cost for c in plan.chunks]),
            str(plan.chunks_cost),
            f"{100 * plan.overhead:+.1f}%",
        )
        for plan in plans
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(text.rjust(width) for text, width in zip(row, widths)) for row in [header, *rows]]
    first = plans[0]
    lines.append(
        f"shot {first.shot[0]}-{first.shot[-1]} ({len(first.shot)} frames, {first.engine}): one process costs "
        f"{first.single_run_cost} frame passes ({first.windows_total} windows)"
    )
    return "\n".join(lines)


def split_contiguous(first: int, last: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(first, last)`` frame pairs of OpenJD's balanced CONTIGUOUS chunks of ``first..last``.

    ``ceil(n / chunk_size)`` chunks; each gets ``n // count`` frames, and the ``n % count`` extra frames go to the
    chunks at positions ``i * count // extra`` (i = 0 .. extra-1), which is how openjd-model spreads them: the plan
    has to name the same frame ranges the manager will hand to the tasks.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1 frame, got {chunk_size}")
    total = last - first + 1
    if total < 1:
        raise ConfigError(f"the frame range {first}-{last} is empty")
    count = -(-total // chunk_size)
    base, extra = divmod(total, count)
    sizes = [base] * count
    for i in range(extra):
        sizes[i * count // extra] += 1
    chunks, start = [], first
    for size in sizes:
        chunks.append((start, start + size - 1))
        start += size
    return chunks


def split_stepped(first: int, last: int, chunk_size: int) -> list[tuple[int, int]]:
    """Chunks of the fallback template: every ``chunk_size`` frames from ``first``, the last one shorter."""
    if chunk_size < 1:
        raise ConfigError(f"chunk size must be at least 1 frame, got {chunk_size}")
    if last < first:
        raise ConfigError(f"the frame range {first}-{last} is empty")
    return [(start, min(start + chunk_size - 1, last)) for start in range(first, last + 1, chunk_size)]


def parse_shot(text: str | None) -> tuple[int, ...]:
    """Frames of a shot range such as ``1001-1300``; a shot is one contiguous range (chunks must tile it)."""
    if text is None or not str(text).strip():
        raise ConfigError("no shot range: give --shot (or --frames) such as 1001-1300")
    frames = parse_frame_range(str(text))
    if frames[-1] - frames[0] + 1 != len(frames):
        raise ConfigError(f"shot range {text!r} has gaps: a farm shot is one contiguous range such as 1001-1300")
    return frames


def engine_shot_plan(request: RemovalRequest, length: int, references: Sequence[int] = ()) -> ShotPlan:
    """The engine's own plan of a shot of ``length`` frames: the one call into the engine's planning.

    The same ``plan(length, config)`` the runner calls, without loading any weights (the model engines plan by the
    official protocol, with the ``references`` positions, reference frames, in every window; the weight-free engine
    by its context size and carry restarts, from the request's settings; it holds its references itself).
    """
    from e2fgvi_core.removal.engines import PropagateEngine
    from e2fgvi_core.removal.plan import plan_shot

    if not ENGINES[request.engine].needs_weights:
        return PropagateEngine(request.propagate).plan(length, request.config)
    return plan_shot(length, request.config, clean=references)


def windows_for_positions(plan: ShotPlan, positions: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(windows, positions read)`` a run writing only ``positions`` (shot indices) runs and reads.

    The engine's subset plan (``removal.plan.plan_frames``): every window whose output reaches one of the positions,
    plus, for an engine that carries state from frame to frame, the warm-up windows from the last restart.
    """
    subset = plan_frames(plan, positions)
    return tuple(w.index for w in subset.windows), subset.reads


def _cost(plan: ShotPlan, windows: Sequence[int], reads: Sequence[int], references: frozenset[int]) -> int:
    """Frame passes: the plate frames read, plus every frame each window runs on: its inputs and its reference
    frames (a model window's ``clean`` ones; the weight-free engine holds the references beside its inputs)."""
    total = len(reads)
    for index in windows:
        window = plan.windows[index]
        total += len(window.inputs) + (len(window.clean) if window.clean else len(references - set(window.inputs)))
    return total


def plan_chunks(request: RemovalRequest, shot: str, chunk_size: int, chunking: bool = True) -> FarmPlan:
    """Cut ``shot`` into the chunks the farm will run, with what each reads, runs and costs.

    Fails with a ``ConfigError`` before anything runs on an empty or gapped range, a chunk size below 1, or an
    engine a farm cannot name (``auto``).
    """
    if request.engine not in FARM_ENGINES:
        raise ConfigError(
            f"a farm job needs a definite engine ({', '.join(FARM_ENGINES)}), got {request.engine!r}: resolve "
            "'auto' where the job is written"
        )
    frames = parse_shot(shot)
    split = split_contiguous if chunking else split_stepped
    bounds = split(frames[0], frames[-1], chunk_size)
    references = frozenset(number - frames[0] for number in request.reference_paths())
    plan = engine_shot_plan(request, len(frames), sorted(references))
    chunks = []
    for index, (first, last) in enumerate(bounds):
        positions = range(first - frames[0], last - frames[0] + 1)
        windows, reads = windows_for_positions(plan, positions)
        chunks.append(
            Chunk(
                index=index,
                frames=tuple(range(first, last + 1)),
                reads=tuple(frames[p] for p in reads),
                windows=windows,
                cost=_cost(plan, windows, reads, references),
            )
        )
    all_windows = [w.index for w in plan.windows]
    return FarmPlan(
        shot=frames,
        chunk_size=chunk_size,
        chunking=chunking,
        engine=request.engine,
        chunks=tuple(chunks),
        windows_total=len(plan.windows),
        single_run_cost=_cost(plan, all_windows, range(len(frames)), references),
    )

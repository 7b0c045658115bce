"""``e2fgvi remove --resume`` and what a cancelled run says: which output frames are already this job's.

Why here and not in the runner: a frame counts as done only when its file reads in full and carries exactly this
request's provenance, the check a retried farm task makes (``farm.render_chunk.is_complete`` with
``expected_provenance``); this module asks that check about a whole ``remove`` run, so ``--resume`` and the
Ctrl-C message agree with the farm on what "complete" means.

A resumed run must plan the same shot as the first one, so its request names the shot explicitly (the first run's
``shot``, else its ``frames``, else every plate frame on disk) and only the missing frames as ``frames``: the
engine then runs the windows those frames need and writes the same bytes a whole run would. The runner records a
default shot in the provenance as it resolved, so a frame of a first run and of a resumed one carry the same shot,
and a frame of ``--frames 1001-1005`` (whose shot was 1001-1005) is never taken for one of the whole shot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from e2fgvi_core.io.sequence import FrameSequence, format_frame_ranges, resolve_frames
from e2fgvi_core.removal.request import RemovalRequest


@dataclass(frozen=True)
class ResumePlan:
    """The frames a run would write, those already complete, and the request that writes the rest (None: none)."""

    frames: tuple[int, ...]
    complete: tuple[int, ...]
    request: RemovalRequest | None


def _shot_text(request: RemovalRequest) -> str:
    if request.shot:
        return request.shot
    if request.frames:
        return request.frames
    return format_frame_ranges(resolve_frames(FrameSequence(request.plate), None)).replace(" ", "")


def _with_shot(request: RemovalRequest, frames: str | None) -> RemovalRequest:
    return RemovalRequest.from_mapping({**request.to_mapping(), "shot": _shot_text(request), "frames": frames})


def output_frames(request: RemovalRequest) -> tuple[int, ...]:
    """The frame numbers ``request`` writes (its ``frames`` inside its shot, as the runner resolves them)."""
    pinned = _with_shot(request, request.frames)
    return pinned.output_numbers(pinned.shot_numbers())


def complete_frames(
    request: RemovalRequest, weights_sha256: str | None, frames: Sequence[int] | None = None
) -> tuple[int, ...]:
    """Frames of ``request`` (default: all it writes) whose output file is complete and carries its provenance.

    ``request.engine`` must be the resolved engine and ``weights_sha256`` the digest of the weights it loads (None
    for the weight-free engine): both are part of the provenance."""
    from e2fgvi_core.farm.render_chunk import expected_provenance, is_complete

    frames = output_frames(request) if frames is None else tuple(frames)
    output, plate = FrameSequence(request.out), FrameSequence(request.plate)
    pinned = _with_shot(request, request.frames)  # the runner records a default shot as it resolved
    return tuple(
        f for f in frames if is_complete(output.path(f), expected_provenance(pinned, f, weights_sha256), plate.path(f))
    )


def plan_resume(request: RemovalRequest, weights_sha256: str | None) -> ResumePlan:
    """What ``--resume`` renders: every frame of ``request`` not already complete, with the first run's shot."""
    frames = output_frames(request)
    complete = complete_frames(request, weights_sha256, frames)
    todo = [f for f in frames if f not in set(complete)]
    rest = _with_shot(request, format_frame_ranges(todo).replace(" ", "")) if todo else None
    return ResumePlan(frames, complete, rest)


def cancelled_message(request: RemovalRequest, weights_sha256: str | None) -> str:
    """The line a Ctrl-C prints: the job was cancelled, which frames are complete, how to finish it."""
    frames = output_frames(request)
    complete = complete_frames(request, weights_sha256, frames)
    if not complete:
        return f"cancelled: none of the {len(frames)} frames was complete yet; no partial file was left"
    return (
        f"cancelled: {len(complete)} of {len(frames)} frames are complete ({format_frame_ranges(complete)}) in "
        f"{request.out}, no partial file was left; add --resume to the same command to render only the rest"
    )


def _resolved(request: RemovalRequest) -> tuple[RemovalRequest, str | None]:
    """``request`` with ``auto`` resolved as the run resolves it (and the weights it picked named), and the sha256
    of those weights: the engine and weights are part of every frame's provenance."""
    from dataclasses import replace

    from e2fgvi_core.removal.engine_registry import choose_engine

    choice = choose_engine(request.engine, request.weights)
    return replace(request, engine=choice.engine, weights=request.weights or choice.weights), choice.weights_sha256


def resumed_request(request: RemovalRequest, say) -> RemovalRequest | None:
    """``--resume``: the request for the frames not yet complete (None when every frame is), saying what is kept."""
    resolved, sha256 = _resolved(request)
    plan = plan_resume(resolved, sha256)
    if plan.complete:
        say(
            f"kept {len(plan.complete)} of {len(plan.frames)} frames already complete: {format_frame_ranges(plan.complete)}"
        )
    if plan.request is None:
        say(f"all {len(plan.frames)} frames are complete in {request.out}: nothing to render")
    return plan.request


def interrupted_message(request: RemovalRequest) -> str:
    """``cancelled_message`` for a request as the user gave it (``auto`` resolved here, as the run did)."""
    resolved, sha256 = _resolved(request)
    return cancelled_message(resolved, sha256)

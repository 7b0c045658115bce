"""One farm task: render the frames of one chunk exactly as a single run over the whole shot would.

The request names the whole ``shot`` (windows and references span it) and this chunk's ``frames``; the engine runs
only the windows that contribute to them. A task runs on the worker session's ``e2fgvi-server`` when the step
environment started one (``E2FGVI_FARM_SERVER`` holds its address), else in this process: the bytes are the same.

Farm tasks fail and are retried, so: every frame is written atomically (temp file + rename, by the writer); a
killed task's temp files are removed when the task runs again; ``resume`` skips a frame only when its file reads
completely, has the plate frame's size and channels, and carries this job's provenance (engine, frame number, shot
protocol, weights sha256, colourspace); anything else (a truncated file, another job's or a foreign file) is
rendered again. Any failure raises an ``E2fgviError``, which the CLI prints as one line with a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from e2fgvi_core.errors import CheckpointError, ConfigError, E2fgviError
from e2fgvi_core.farm.plan import FARM_ENGINES, parse_shot
from e2fgvi_core.io.sequence import FrameSequence, format_frame_ranges, parse_frame_range, resolve_frames
from e2fgvi_core.io.writer import sweep_stale_temp_files
from e2fgvi_core.removal.api import RemovalRequest

SERVER_ENV = "E2FGVI_FARM_SERVER"
HELLO_TIMEOUT_S = 5.0  # the session server's broker answers at once; silence this long means it is gone


@dataclass(frozen=True)
class ChunkResult:
    """What a task did: frames it rendered, frames it kept (already valid), where it ran."""

    frames: tuple[int, ...]
    rendered: tuple[int, ...]
    skipped: tuple[int, ...]
    where: str
    seconds: float = 0.0


def chunk_frames(shot: str, frames: str | None = None, first_frame: int | None = None, chunk: int | None = None):
    """The plate frames of one chunk: an explicit range (``TASK_CHUNKING``) or ``chunk`` frames from ``first_frame``
    clipped to the shot (the fallback template); either way they must lie inside the shot."""
    shot_frames = parse_shot(shot)
    if frames is not None:
        if first_frame is not None or chunk is not None:
            raise ConfigError("give either --frames or --first-frame with --chunk, not both")
        wanted = parse_frame_range(frames)
    else:
        if first_frame is None or chunk is None:
            raise ConfigError("no chunk: give --frames RANGE, or --first-frame N with --chunk SIZE")
        if chunk < 1:
            raise ConfigError(f"--chunk must be at least 1 frame, got {chunk}")
        wanted = tuple(range(first_frame, min(first_frame + chunk - 1, shot_frames[-1]) + 1))
    outside = sorted(set(wanted) - set(shot_frames))
    if outside or not wanted:
        raise ConfigError(
            f"chunk frames {format_frame_ranges(outside) or '(none)'} are outside the shot "
            f"{shot_frames[0]}-{shot_frames[-1]}"
        )
    return tuple(wanted)


def weights_sha256(request: RemovalRequest) -> str | None:
    """sha256 of the weights this task will load (None for the weight-free engine), without loading them."""
    from e2fgvi_core.removal.engine_registry import ENGINES
    from e2fgvi_core.weights import file_sha256, resolve_weights

    if not ENGINES[request.engine].needs_weights:
        return None

    if request.weights and Path(request.weights).expanduser().is_file():
        return file_sha256(Path(request.weights).expanduser())
    return resolve_weights(request.weights, request.engine).sha256


def expected_provenance(request: RemovalRequest, frame: int, sha256: str | None) -> dict[str, str]:
    """The ``e2fgvi:*`` attributes the runner writes on ``frame`` of this job (``removal.runner.job_provenance``, the
    one place that knows them), as the writer stores them; the measured HDR keys are compared by ``is_complete``."""
    from e2fgvi_core.io.writer import provenance_attributes
    from e2fgvi_core.removal.runner import job_provenance

    variant = request.engine if sha256 is not None else None
    attributes = provenance_attributes(job_provenance(request, request.engine, variant, sha256, frame))
    return {key: value for key, value in attributes.items() if value != ""}  # files keep no empty strings


def is_complete(path: str, expected: dict[str, str], plate_path: str) -> bool:
    """True when ``path`` reads in full, matches the plate frame's size and channels and carries exactly the
    provenance ``expected`` (every ``e2fgvi:*`` attribute, no more, no less)."""
    from e2fgvi_core.io.reader import read_frame, read_header

    if not os.path.isfile(path):
        return False
    try:
        frame = read_frame(path)
        plate = read_header(plate_path)
    except E2fgviError:
        return False
    if frame.pixels.shape[:2] != (plate.height, plate.width) or tuple(frame.channels) != tuple(plate.channels):
        return False
    from e2fgvi_core.io.writer import provenance_attributes
    from e2fgvi_core.removal.runner import MEASURED_PROVENANCE_KEYS

    measured = set(provenance_attributes(dict.fromkeys(MEASURED_PROVENANCE_KEYS, 0)))
    found = {str(k): str(v) for k, v in frame.metadata.items() if str(k).startswith("e2fgvi:")}
    return {k: v for k, v in found.items() if k not in measured} == expected


def _check_request(request: RemovalRequest, shot: str) -> None:
    if request.engine not in FARM_ENGINES:
        raise ConfigError(f"a farm task needs a definite engine ({', '.join(FARM_ENGINES)}), got {request.engine!r}")
    if not request.plate:
        raise ConfigError("no plate: give --plate PATTERN")
    if not request.out:
        raise ConfigError("no output: give --out PATTERN (farm tasks write files)")
    parse_shot(shot)


def render_chunk(
    request: RemovalRequest,
    shot: str,
    frames: Sequence[int],
    *,
    resume: bool = False,
    expected_weights_sha256: str | None = None,
    server: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ChunkResult:
    """Render ``frames`` (plate frame numbers inside ``shot``) of the removal ``request`` and return what was done.

    ``server``: address of the session's ``e2fgvi-server`` (default ``$E2FGVI_FARM_SERVER``; empty: in-process).
    ``expected_weights_sha256``: refuse to run when this worker's weights differ (chunks would not match).
    """
    import time

    start = time.monotonic()
    log = log or (lambda message: print(f"e2fgvi farm render-chunk: {message}", file=sys.stderr, flush=True))
    _check_request(request, shot)
    frames = tuple(sorted(frames))
    sha256 = weights_sha256(request)
    if expected_weights_sha256 and sha256 != expected_weights_sha256:
        raise CheckpointError(
            f"this worker's {request.engine} weights have sha256 {sha256}, the job wants {expected_weights_sha256}: "
            "install the job's checkpoint (e2fgvi weights add) or name it with --weights"
        )
    output = FrameSequence(request.out)
    plate = FrameSequence(request.plate)
    resolve_frames(plate, frames)  # every plate frame of the chunk is there (the engine's own check and message)
    removed = sweep_stale_temp_files(request.out)  # also when every frame is already complete (--resume)
    if removed:
        log(f"removed {len(removed)} temp file(s) of an interrupted run")
    skipped: tuple[int, ...] = ()
    if resume:
        skipped = tuple(
            f for f in frames if is_complete(output.path(f), expected_provenance(request, f, sha256), plate.path(f))
        )
    todo = tuple(f for f in frames if f not in skipped)
    if skipped:
        log(f"kept {len(skipped)} complete frame(s): {format_frame_ranges(skipped)}")
    if not todo:
        return ChunkResult(frames, (), skipped, "nothing to do", time.monotonic() - start)
    chunk_request = RemovalRequest.from_mapping(
        {**request.to_mapping(), "shot": shot, "frames": format_frame_ranges(todo).replace(" ", "")}
    )
    address = os.environ.get(SERVER_ENV, "") if server is None else server
    if address:
        where = _render_on_server(chunk_request, address, log)
    else:
        where = _render_here(chunk_request)
    return ChunkResult(frames, todo, skipped, where, time.monotonic() - start)


def _render_here(request: RemovalRequest) -> str:
    from e2fgvi_core.removal.api import run_removal

    run_removal(request)
    return "in-process"


def _render_on_server(request: RemovalRequest, address: str, log: Callable[[str], None]) -> str:
    """Run on the session's server; when it does not answer, run in-process instead (same bytes)."""
    from e2fgvi_core.cli.remote import error_from_remote, request_for_server
    from e2fgvi_core.errors import ClientError, RequestTimeoutError, ServerUnavailableError
    from e2fgvi_host.client import Client
    from e2fgvi_server.protocol import RemoteError

    try:
        with Client(address, retries=1) as client:
            client.hello(timeout_s=HELLO_TIMEOUT_S)
            client.submit(request_for_server(request)).wait()
    except (ServerUnavailableError, RequestTimeoutError) as exc:
        log(f"the session server at {address} does not answer ({exc}): rendering in-process")
        return _render_here(request)
    except (RemoteError, ClientError) as exc:
        raise error_from_remote(exc) from None
    return f"server {address}"

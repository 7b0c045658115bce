"""The Remove Object effect, described and driven the way OpenFX describes and drives an image effect.

Why this shape: every host asks for one frame at a time (Nuke's ``engine``, Resolve's ``Process``, a Blender
frame change), but the engine is cheapest and exact when it runs a range of frames in one job. So the first
``render(frame)`` submits one job for the chunk of frames around it, keeps what comes back in a bounded frame
cache, and serves the next frames from it. Every job's ``frames`` is a subset of the node's whole ``shot``, so each
frame equals the same frame of one whole-shot run, bit for bit, however the host walks the range. A host adapter
is then a thin translation: clips and knobs from ``describe()``, its progress UI from the ``on_progress``
callback, its error display from ``BridgeError.message`` (one line, no traceback, no bare code).

    effect = RemoveObjectEffect(PathClip("/shot/plate.%04d.exr"), PathClip("/shot/matte.%04d.exr"),
                                BridgeParams(engine="propagate", shot="1001-1100"), output="/shot/clean.%04d.exr")
    frame = effect.render(1042)       # one job for 1040-1049; frame.path is the finished file
    effect.process_range(1001, 1100)  # or one job for the whole range, with progress and cancel
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from e2fgvi_core.errors import E2fgviError
from e2fgvi_core.removal.engine_registry import describe_choice

from .. import launcher
from ..client import Client, RequestTimeoutError, ResultFrame, ServerUnavailableError, wire
from .clips import ArrayClip, PathClip
from .errors import BridgeCancelled, BridgeError, ParamsError, artist_message
from .frame_cache import FrameCache
from .params import BridgeParams, describe_params
from .references import REFERENCE_FRAMES, check_reference_frames, parse_reference_frames, reference_entries

EFFECT_NAME = "Remove Object"
WAIT_POLL_S = 0.1  # how often a waiting job looks at the cancel flag
CANCEL_WAIT_S = 30.0  # how long a cancelled job may take to stop before the bridge gives up waiting

Clip = PathClip | ArrayClip


@dataclass(frozen=True)
class ProgressReport:
    """What a host progress bar shows: frames done of total in the current job, speed and time left."""

    frames_done: int
    frames_total: int
    frames_per_s: float | None
    eta_s: float | None
    stage: str
    engine: str = ""  # the engine, weights and precision in words, once the server has accepted the job

    @property
    def fraction(self) -> float:
        return self.frames_done / self.frames_total if self.frames_total else 0.0

    @property
    def text(self) -> str:
        """The one progress line every host shows: frames, speed, time left and what runs them."""
        rate = f", {self.frames_per_s:.2f} frames/s" if self.frames_per_s else ""
        eta = f", {self.eta_s:.0f} s left" if self.eta_s else ""
        engine = f" ({self.engine})" if self.engine else ""
        return f"{self.frames_done}/{self.frames_total} frames{rate}{eta}{engine}"


ProgressCallback = Callable[[ProgressReport], None]


def describe() -> dict[str, Any]:
    """The effect as a host registers it: clips, parameters (types, defaults, ranges, labels, help), actions."""
    return {
        "name": EFFECT_NAME,
        "clips": [
            {"name": "Source", "channels": "any", "optional": False, "help": "the plate (RGBA or any channels)"},
            {
                "name": "Matte",
                "channels": "any",
                "optional": True,
                "help": "what to remove (> 0); absent: Source's alpha or the 'Matte channel' of Source",
            },
            {
                "name": "Reference",
                "channels": "RGB or RGBA",
                "optional": True,
                "help": "clean frames you painted (alpha, if any: which pixels to trust), used at its Reference frames",
                "params": [dict(REFERENCE_FRAMES)],
            },
            {"name": "Output", "channels": "as Source", "optional": False, "help": "Source with the matte filled"},
        ],
        "params": describe_params(),
        "actions": ["frames_needed", "region_of_interest", "is_identity", "render", "process_range", "cancel"],
    }


def parse_shot(text: str | None) -> tuple[int, int]:
    """``"1001-1100"`` -> (1001, 1100); the node's range is one contiguous range."""
    try:
        first, _, last = str(text).strip().partition("-")
        first_frame, last_frame = int(first), int(last or first)
    except ValueError:
        raise ParamsError(f"Shot range (shot) must look like 1001-1100, got {text!r}") from None
    if last_frame < first_frame:
        raise ParamsError(f"Shot range (shot) {text!r} ends before it starts")
    return first_frame, last_frame


def format_frames(frames: list[int] | tuple[int, ...] | set[int]) -> str:
    """[1001, 1002, 1003, 1007] -> "1001-1003,1007" (the engine's frame-range syntax)."""
    ordered = sorted(set(frames))
    parts, index = [], 0
    while index < len(ordered):
        end = index
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        parts.append(f"{ordered[index]}" if end == index else f"{ordered[index]}-{ordered[end]}")
        index = end + 1
    return ",".join(parts)


class RemoveObjectEffect:
    """One Remove Object node: its clips, parameters, frame cache and the connection to the server.

    ``source``/``matte`` are ``PathClip`` (frames travel by path: the server reads the files) or ``ArrayClip``
    (frames travel by value). ``matte=None`` takes the matte from Source (``matte_channel``, else alpha).
    ``output`` is a pattern the server writes atomically (results come back by path) or None (by value).
    ``reference`` (optional) is the Reference clip and ``reference_frames`` which of its frames are references
    (``"1050,1080-1082"`` or numbers; empty: none): every job of the shot sends all of them (``reference``
    entries; a value clip's frames are written to EXR under ``scratch``, default this user's private temp folder),
    and they are part of every frame's cache key.
    ``on_progress`` is called on the client's I/O thread with a ``ProgressReport``; keep it short.
    """

    def __init__(
        self,
        source: Clip,
        matte: Clip | None = None,
        params: BridgeParams | None = None,
        *,
        output: str | None = None,
        cache: FrameCache | None = None,
        on_progress: ProgressCallback | None = None,
        start_local_server: bool = True,
        reference: Clip | None = None,
        reference_frames: str | list[int] | tuple[int, ...] | None = None,
        scratch: str | None = None,
    ) -> None:
        self.source = source
        self.matte = matte
        self.reference = reference
        self.reference_frames = parse_reference_frames(reference_frames)
        self.scratch = scratch
        self._written: set[str] = set()  # reference files this effect wrote (removed on close)
        self.params = params or BridgeParams()
        self.output = output
        self.cache = cache or FrameCache()
        self.on_progress = on_progress
        self.start_local_server = start_local_server
        self.jobs_submitted = 0
        self.frames_computed: list[int] = []  # every frame a job produced, in order (what a test counts)
        self.server_process = None  # the local server this effect started (None: one was answering already)
        self._cancel = threading.Event()
        self._footprints: dict[tuple[str, int], list[int]] = {}  # (parameter digest, frame) -> frames it reads
        self._client: Client | None = None
        self._lock = threading.RLock()

    # --- OpenFX-style actions ---------------------------------------------------------------------------
    describe = staticmethod(describe)

    def set_params(self, params: BridgeParams) -> None:
        """New knob values; cached frames stay valid where the pixel-changing parameters are the same."""
        self.params = params

    def set_reference(self, reference: Clip | None, frames: str | list[int] | tuple[int, ...] | None) -> None:
        """A new Reference clip or frames; cached frames stay valid where the references' content is the same."""
        self.reference = reference
        self.reference_frames = parse_reference_frames(frames)

    @property
    def shot_range(self) -> tuple[int, int]:
        if self.params.shot is None:
            raise BridgeError(wire.CONFIG_ERROR, artist_message(wire.CONFIG_ERROR, "set the Shot range (shot)"))
        return parse_shot(self.params.shot)

    def frames_needed(self, frame: int) -> list[int]:
        """The input frames the engine reads to produce ``frame`` (Source and Matte alike).

        The server answers from the engine's own plan (the protocol's ``footprint``), once per chunk and parameter
        set: the bridge keeps no copy of the window rule, so it cannot drift from what a job really reads.
        """
        self._check_in_shot(frame)
        key = (self.params.digest(), frame)
        with self._lock:
            if key not in self._footprints:
                chunk = self._chunk_of(frame)
                request = {**self.params.request_fields(), "frames": format_frames(chunk)}
                try:
                    answer = self._connect().footprint(request)
                except E2fgviError as exc:
                    raise _translate(exc, self.params.server) from None
                for number in chunk:
                    self._footprints[self.params.digest(), number] = sorted(answer[number])
            return list(self._footprints[key])

    def region_of_interest(self, frame: int) -> dict[str, None]:
        """The input region each clip must provide for ``frame``: None, the whole data window.

        The engine decides its crop from the matte of many frames (``roi_margin`` around their union), and fills
        from anywhere in the frame, so the honest answer for any output region is the full input frame.
        """
        self._check_in_shot(frame)
        regions: dict[str, None] = {"Source": None, "Matte": None}
        if self.reference is not None and self.reference_frames:
            regions["Reference"] = None  # at its reference frames (whatever the frame asked for), whole
        return regions

    def is_identity(self, frame: int) -> bool:
        """True when ``frame``'s matte is empty, so the output is Source unchanged and no server call is needed.

        Answered only where the matte's pixels can be looked at (a value clip, or a path clip with a reader);
        otherwise False, and the server passes the frame through itself (same pixels, one job more).
        """
        matte_clip = self.matte or self.source
        pixels = matte_clip.pixels(frame)
        if pixels is None:
            return False
        pixels = np.asarray(pixels)
        if pixels.ndim == 3:
            if self.matte is None:
                pixels = pixels[..., -1]  # Source's alpha (named channels are the adapter's to pick)
            elif pixels.shape[-1] == 4:
                pixels = pixels[..., 3]  # the engine reads a matte's alpha when it has one
        return not bool(np.any(pixels > 0))

    def render(self, frame: int) -> ResultFrame:
        """The finished ``frame``: from the cache, else from one job for the stale frames of its chunk."""
        self._check_in_shot(frame)
        with self._lock:
            # a hit (the host's usual call) digests only this frame's inputs; the chunk's keys only on a miss
            cached = self.cache.get(frame, self._frame_keys([frame])[frame])
            if cached is not None:
                return cached
            keys = self._frame_keys(self._chunk_of(frame))
            stale = [f for f, key in keys.items() if not self.cache.holds(f, key)]
            results = self._run_job(stale, keys)
            return results[frame]

    def process_range(self, first: int, last: int) -> list[ResultFrame]:
        """Every frame of ``first..last`` in one job (cached frames are not recomputed); progress and cancel."""
        self._check_in_shot(first)
        self._check_in_shot(last)
        with self._lock:
            keys = self._frame_keys(list(range(first, last + 1)))
            stale = [f for f, key in keys.items() if not self.cache.holds(f, key)]
            results = self._run_job(stale, keys) if stale else {}
            out = []
            for number in range(first, last + 1):
                found = results.get(number) or self.cache.get(number, keys[number])
                if found is None:  # evicted between the job and now: the budget is smaller than the range
                    found = self._run_job([number], keys)[number]
                out.append(found)
            return out

    def cancel(self) -> None:
        """Cancel the running job (from any thread); the waiting ``render``/``process_range`` raises."""
        self._cancel.set()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        for path in list(self._written):  # the reference frames this effect wrote for the server
            try:
                os.unlink(path)
            except OSError:
                pass
            self._written.discard(path)

    def __enter__(self) -> RemoveObjectEffect:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the chunk, its keys and its job ----------------------------------------------------------------
    def _check_in_shot(self, frame: int) -> None:
        first, last = self.shot_range
        if not first <= frame <= last:
            raise BridgeError(
                wire.CONFIG_ERROR,
                artist_message(wire.CONFIG_ERROR, f"frame {frame} is outside the shot range {first}-{last}"),
            )

    def _chunk_of(self, frame: int) -> list[int]:
        first, last = self.shot_range
        size = self.params.chunk_size
        start = first + (frame - first) // size * size
        return list(range(start, min(last, start + size - 1) + 1))

    def _frame_keys(self, frames: list[int]) -> dict[int, str]:
        """Each frame's cache key: parameters, output mode and the digests of the input frames it reads."""
        digests: dict[tuple[str, int], str] = {}

        def digest(clip: Clip, name: str, number: int) -> str:
            if (name, number) not in digests:
                digests[name, number] = clip.digest(number)
            return digests[name, number]

        base = f"{self.params.digest()}|{self.params.shot}|{self.output}|{self._references_digest()}"
        keys = {}
        for frame in frames:
            hasher = hashlib.blake2b(base.encode(), digest_size=16)
            for number in self.frames_needed(frame):
                hasher.update(f"|{number}:{digest(self.source, 'source', number)}".encode())
                if self.matte is not None:
                    hasher.update(f"/{digest(self.matte, 'matte', number)}".encode())
            keys[frame] = hasher.hexdigest()
        return keys

    def _references_digest(self) -> str:
        """The reference frames and their content: every frame reads every reference (any window may carry it)."""
        self._check_references()
        if self.reference is None or not self.reference_frames:
            return "no references"
        return ",".join(f"{n}:{self.reference.digest(n)}" for n in self.reference_frames)

    def _check_references(self) -> None:
        check_reference_frames(self.reference_frames, self.shot_range, has_clip=self.reference is not None)

    def _request(self, frames: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The submit's request and its by-value inputs for producing ``frames``."""
        request: dict[str, Any] = {**self.params.request_fields(), "frames": format_frames(frames), "out": self.output}
        if self.reference is not None and self.reference_frames:  # all of them, whatever the chunk: exact chunks
            request["reference"] = reference_entries(self.reference, self.reference_frames, self.scratch, self._written)
        inputs: dict[str, Any] = {}
        reads = sorted({n for f in frames for n in self.frames_needed(f)})
        for name, clip in (("plate", self.source), ("matte", self.matte)):
            if isinstance(clip, PathClip):
                request[name] = clip.pattern
            elif isinstance(clip, ArrayClip):
                inputs[f"{name}_frames"] = {number: clip.value(number) for number in reads}
        return request, inputs

    def _connect(self) -> Client:
        if self._client is None:
            address = self.params.server
            if self.start_local_server and wire.is_loopback_endpoint(address):
                try:
                    self.server_process = launcher.ensure_local_server(address)
                except E2fgviError as exc:
                    raise _translate(exc, address) from None
            self._client = Client(address)
        return self._client

    def _run_job(self, frames: list[int], keys: dict[int, str]) -> dict[int, ResultFrame]:
        """One server job producing ``frames``; results go into the cache under ``keys``."""
        self._cancel.clear()
        request, inputs = self._request(frames)
        started = time.monotonic()
        submitted: list[Any] = []  # the job handle, once submit returns: its `accepted` names the engine
        report = self._reporter(len(frames), started, submitted)
        client = self._connect()
        try:
            handle = client.submit(request, on_progress=report, **inputs)
        except E2fgviError as exc:
            raise _translate(exc, self.params.server) from None
        submitted.append(handle)
        self.jobs_submitted += 1
        result = self._wait(handle)
        missing = [f for f in frames if f not in result.frames]
        if missing:
            raise BridgeError(
                wire.INTERNAL_ERROR,
                artist_message(wire.INTERNAL_ERROR, f"the job returned no frame {format_frames(missing)}"),
            )
        produced = {f: result.frames[f] for f in frames}
        for number, frame_result in produced.items():
            if frame_result.pixels is not None:
                frame_result = replace(frame_result, pixels=np.array(frame_result.pixels))  # own the bytes
                produced[number] = frame_result
            self.cache.put(number, keys[number], frame_result)
        self.frames_computed.extend(frames)
        if self.on_progress is not None:
            seconds = max(time.monotonic() - started, 1e-9)
            engine = describe_choice(handle.accepted)
            self.on_progress(ProgressReport(len(frames), len(frames), len(frames) / seconds, 0.0, "done", engine))
        return produced

    def _wait(self, handle) -> Any:
        while True:
            if self._cancel.is_set():
                handle.cancel()
                try:
                    handle.wait(CANCEL_WAIT_S)
                except E2fgviError:
                    pass
                raise BridgeCancelled()
            try:
                result = handle.wait(WAIT_POLL_S)
            except RequestTimeoutError:
                continue
            except E2fgviError as exc:
                if isinstance(exc, wire.RemoteError) and exc.code == wire.CANCELLED:
                    raise BridgeCancelled() from None
                raise _translate(exc, self.params.server) from None
            # A cancel asked for while the result was on its way (the server finished first) still wins: the host
            # was promised BridgeCancelled, and nothing of this job is handed back or cached.
            if self._cancel.is_set():
                raise BridgeCancelled()
            return result

    def _reporter(self, total: int, started: float, submitted: list[Any]) -> Callable[[dict[str, Any]], None]:
        def report(progress: dict[str, Any]) -> None:
            if self.on_progress is None:
                return
            fields = wire.ProgressFields.from_fields(progress)
            done, seconds = fields.frames_done, time.monotonic() - started
            rate = done / seconds if done and seconds > 0 else None
            eta = (total - done) / rate if rate else None
            engine = describe_choice(submitted[0].accepted) if submitted else ""
            self.on_progress(ProgressReport(min(done, total), total, rate, eta, fields.stage, engine))

        return report


def _translate(exc: Exception, address: str) -> BridgeError:
    if isinstance(exc, BridgeError):
        return exc
    if isinstance(exc, wire.RemoteError):
        return BridgeError(exc.code, artist_message(exc.code, exc.message))
    if isinstance(exc, ServerUnavailableError):
        return BridgeError(exc.code, artist_message(exc.code, f"at {address} ({exc})"))
    code = getattr(exc, "code", wire.E2FGVI_ERROR)
    return BridgeError(code, artist_message(code, str(exc)))

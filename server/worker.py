"""The per-device worker: takes one job at a time from the queue and runs it through ``removal.api.run_removal``.

Why one thread per device with one shared ``ShotCache``: the model and the cache are what make a server faster than
a fresh process per request. Every job on this device goes through the same cache, so a second submit of the same
shot (or one with a few matte frames changed) reuses the encoder features and flows of the first. The worker never
touches a socket: it turns progress reports and finished frames into ``JobEvent``s for the broker.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from e2fgvi_core.errors import ConfigError, E2fgviError, JobCancelled
from e2fgvi_core.removal.engine_registry import ENGINE_CHOICES, ENGINES
from e2fgvi_core.removal.request import RemovalRequest
from e2fgvi_server import protocol as wire
from e2fgvi_server.config import ServerConfig
from e2fgvi_server.events import JobEvent, Outbox, log_job_event
from e2fgvi_server.jobs import CANCELLED, DONE, FAILED, Job, JobQueue

log = logging.getLogger("e2fgvi.server")

TAKE_TIMEOUT_S = 0.2
PROGRESS_MIN_INTERVAL_S = 0.05  # at most ~20 progress messages a second per job; the last one always goes out


class StreamingSink:
    """A by-value sink that hands each finished frame to the broker as soon as the engine writes it.

    Frames are sent once, in the order the engine finishes them; the client puts them back in frame order.
    """

    def __init__(self, emit: Callable[[int, Any], None]) -> None:
        self._emit = emit
        self._lock = threading.Lock()
        self.frames: list[int] = []

    def check(self) -> None:
        """Memory is always writable."""

    def write(self, frame: int, result, provenance) -> str | None:
        with self._lock:
            self.frames.append(int(frame))
        self._emit(int(frame), result)
        return None


class Worker(threading.Thread):
    """Runs queued jobs on one device, one at a time; owns the shared ``ShotCache``."""

    def __init__(self, config: ServerConfig, queue: JobQueue, outbox: Outbox) -> None:
        super().__init__(name="e2fgvi-worker", daemon=True)
        self.config = config
        self.queue = queue
        self.outbox = outbox
        self.stop_event = threading.Event()
        self.current: Job | None = None
        self._cache = None
        self._api = None
        self._engine_error: str | None = None
        self._engine_ready = threading.Event()  # set once preload has imported torch and the engine

    # --- engine, loaded lazily so `hello` answers before torch is imported --------------------------------
    @property
    def api(self):
        if self._api is None:
            from e2fgvi_core.removal import api

            self._api = api
        return self._api

    @property
    def cache(self):
        if self._cache is None:
            api = self.api
            if self.config.cache_budget_bytes is not None:
                self._cache = api.ShotCache(api.CacheConfig(budget_bytes=self.config.cache_budget_bytes))
            else:
                self._cache = api.ShotCache()
        return self._cache

    def preload(self) -> None:
        """Import the engine in the background (torch takes seconds) so the first job does not pay for it."""
        try:
            _ = self.cache
            import importlib

            importlib.import_module("e2fgvi_core.removal.runner")  # pulls torch in while no job waits for it
            self._engine_ready.set()
        except Exception as exc:  # noqa: BLE001 - reported on the first submit and in status
            self._engine_error = f"{type(exc).__name__}: {exc}"
            log.error("event=engine_import_failed\n%s", traceback.format_exc())

    def run(self) -> None:
        self.preload()
        while not self.stop_event.is_set():
            job = self.queue.take(TAKE_TIMEOUT_S)
            if job is None:
                continue
            self.current = job
            try:
                self.run_job(job)
            finally:
                self.current = None

    def stop(self, cancel_running: bool, reason: str = "server shutting down") -> None:
        """Ask the thread to stop after the current job; cancel that job first when ``cancel_running``."""
        self.stop_event.set()
        job = self.current
        if cancel_running and job is not None:
            self.queue.cancel(reason, job_id=job.job_id)

    # --- one job ---------------------------------------------------------------------------------------
    def run_job(self, job: Job) -> None:
        log_job_event("job_started", job, queued_s=round((job.started_s or time.time()) - job.created_s, 3))
        started = time.perf_counter()
        try:
            if job.cancel.is_set():
                raise JobCancelled(f"job {job.job_id} cancelled: {job.cancel_reason or 'cancelled'}")
            summary = self._run_engine(job)
            seconds = time.perf_counter() - started
            final = {"final": True, **summary.to_mapping(), "server_seconds": round(seconds, 6)}
            stats = final["cache"]
            job.summary = final
            self.queue.finish(job, DONE)
            log_job_event(
                "job_done",
                job,
                frames=len(summary.frames),
                engine=summary.engine,
                seconds=seconds,
                engine_seconds=summary.seconds,
                cache_hits=stats.get("hits") if stats else None,  # this job's own (None: the engine has no cache)
                cache_misses=stats.get("misses") if stats else None,
            )
            self._post(job, wire.RESULT, final, record=True, final=True)
        except JobCancelled as exc:
            self._fail(job, CANCELLED, exc.code, str(exc), "job_cancelled")
        except E2fgviError as exc:
            self._fail(job, FAILED, exc.code, str(exc), "job_failed")
        except MemoryError:
            self._fail(job, FAILED, "device_error", "out of memory while running the job", "job_failed")
        except Exception as exc:  # noqa: BLE001 - a bug in the engine or here: report it, keep serving
            log.error("event=job_internal_error job=%s\n%s", job.job_id, traceback.format_exc())
            self._fail(job, FAILED, wire.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", "job_failed")

    def _fail(self, job: Job, state: str, code: str, message: str, event: str) -> None:
        complete = sorted(job.frames_complete)
        if complete:  # a cancelled or failed job still says which frames are complete files
            from e2fgvi_core.io.sequence import format_frame_ranges

            message = f"{message} ({len(complete)} complete frame(s) kept: {format_frame_ranges(complete)})"
        job.error = (code, message)
        self.queue.finish(job, state)
        log_job_event(
            event, job, level=logging.WARNING if state == FAILED else logging.INFO, code=code, message=message
        )
        self._post(job, wire.ERROR, wire.error_fields(code, message, frames_complete=complete), record=True, final=True)

    def _run_engine(self, job: Job):
        api = self.api
        request = job.removal if job.removal is not None else self.validate(job.request, job.inputs)
        kwargs: dict[str, Any] = {}
        if job.inputs:
            kwargs["source"] = api.MemorySource(_frames_from_wire(job.inputs["plate_frames"]), name="plate by value")
            if "matte_frames" in job.inputs:
                kwargs["matte_source"] = api.MemorySource(
                    _frames_from_wire(job.inputs["matte_frames"]), name="matte by value"
                )
        if request.out is None:
            kwargs["sink"] = StreamingSink(lambda frame, result: self._post_frame(job, frame, result))
        progress = _ProgressRelay(lambda fields: self._post(job, wire.PROGRESS, fields), job)
        job.frames_complete = []
        kwargs["no_links"] = request.out is not None  # out was resolved inside a root at submit: no link may appear
        summary = api.run_removal(
            request,
            progress=progress,
            cancel=job.cancel,
            cache=self.cache,
            on_warning=lambda message: self._post(job, wire.PROGRESS, {**progress.last, "warning": message}),
            on_frame_written=lambda frame, path: self._frame_written(job, frame, path),
            **kwargs,
        )
        progress.flush()
        return summary

    def _frame_written(self, job: Job, frame: int, path: str | None) -> None:
        """A frame is complete: by-path jobs get its ``result`` now (by-value ones got it from the sink)."""
        job.frames_complete.append(int(frame))
        if path is not None:
            self._post(job, wire.RESULT, wire.result_frame_fields(frame, path), record=True)

    def _post_frame(self, job: Job, frame: int, result: Any) -> None:
        fields, arrays, channels = wire.result_frame_message(frame, result)
        self._post(job, wire.RESULT, fields, arrays=arrays, channels=channels, record=True)

    def _post(
        self,
        job: Job,
        kind: str,
        fields: dict[str, Any],
        arrays=(),
        channels=None,
        record: bool = False,
        final: bool = False,
    ) -> None:
        self.outbox.post(JobEvent(job, kind, fields, list(arrays), list(channels or []), record=record, final=final))

    # --- what the broker asks for hello/status and to validate a submit --------------------------------
    def describe(self, kind: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "engines": list(ENGINE_CHOICES),
            "engine_traits": {name: traits.to_mapping() for name, traits in ENGINES.items()},
            "engine_loaded": self._engine_ready.is_set(),
            "engine_error": self._engine_error,
        }
        info["devices"] = _devices()
        info["weights"] = _installed_weights()
        if kind == "status":
            info["cache"] = self._cache.stats().to_mapping() if self._cache is not None else None
            info["device_memory"] = _device_memory()
        return info

    def engine_mapping(self, request: dict[str, Any]) -> dict[str, Any]:
        """A submit's ``request`` as ``RemovalRequest`` keys: a request naming no device gets the server's
        ``--device``."""
        mapping = dict(request)
        if not mapping.get("device"):
            mapping["device"] = self.config.device
        return mapping

    def validate(self, request: dict[str, Any], inputs: dict[str, Any]):
        """Parse a submit once, before it is queued, and return the ``RemovalRequest`` the job keeps: the request
        must build, and say where frames come from."""
        removal = RemovalRequest.from_mapping(self.engine_mapping(request))  # loaded at start; never torch
        if not inputs and not request.get("plate"):
            raise ConfigError(
                "submit needs 'request.plate' (a path pattern on the server's storage) or "
                "'plate_frames' (frames by value)"
            )
        return removal

    def announce(self, removal: RemovalRequest) -> tuple[RemovalRequest, dict[str, Any]]:
        """The engine, weights and precision a validated submit will run with (``EngineChoice.to_mapping``: the
        ``accepted`` message's ``engine``, ``weights``, ``weights_sha256``, ``precision``), and the request with
        ``auto`` resolved so the job runs what was announced. Called on the broker's thread: the precision of a
        model engine is resolved only once the engine is imported (torch is never imported here), None before."""
        from dataclasses import replace

        from e2fgvi_core.removal.engine_registry import choose_engine, run_precision

        choice = choose_engine(removal.engine, removal.weights)
        precision = None
        if ENGINES[choice.engine].needs_weights and self._engine_ready.is_set():
            precision = run_precision(choice.engine, removal.config.precision, removal.device)
        announced = choice.to_mapping(precision)
        if choice.notice:  # `auto` fell back: the same sentence in-process and here (engine_registry's notice)
            announced["notice"] = choice.notice
        return replace(removal, engine=choice.engine), announced


def footprint(mapping: dict[str, Any]) -> dict[str, Any]:
    """The ``footprint`` reply to a request: for each frame it produces, the shot frames that frame reads.

    Answered from the engine's own plan (``removal.plan.plan_frames`` over the plan the runner uses), so a host
    plug-in fetches exactly the frames a job will read and keys its cache on them, with no copy of the window rule.
    """
    from dataclasses import replace

    from e2fgvi_core.farm.plan import engine_shot_plan
    from e2fgvi_core.removal.engine_registry import choose_engine
    from e2fgvi_core.removal.plan import plan_frames

    removal = RemovalRequest.from_mapping(mapping)
    shot = removal.shot_numbers()
    if shot is None:
        raise ConfigError("footprint needs 'request.shot' (the node's frame range, e.g. 1001-1100)")
    outputs = removal.output_numbers(shot)
    if len(outputs) > wire.FOOTPRINT_FRAME_LIMIT:  # answered on the broker's thread: keep each answer small
        raise ConfigError(
            f"footprint of {len(outputs)} frames asked; ask for at most {wire.FOOTPRINT_FRAME_LIMIT} at a time "
            "('frames': the chunk a host is about to run)"
        )
    engine = choose_engine(removal.engine, removal.weights).engine
    plan = engine_shot_plan(replace(removal, engine=engine), len(shot))
    position = {number: i for i, number in enumerate(shot)}
    reads = {frame: [shot[p] for p in plan_frames(plan, [position[frame]]).reads] for frame in outputs}
    return wire.footprint_reply_fields(engine, reads)


class _ProgressRelay:
    """Turns engine ``Progress`` reports into ``progress`` messages, at most every PROGRESS_MIN_INTERVAL_S."""

    def __init__(self, send: Callable[[dict[str, Any]], None], job: Job) -> None:
        self._send = send
        self._job = job
        self._last_sent = 0.0
        self._pending: dict[str, Any] | None = None
        self.last: dict[str, Any] = {"frames_done": 0, "frames_total": 0, "stage": "starting"}

    def __call__(self, report) -> None:
        job = self._job
        job.frames_done, job.frames_total, job.stage = report.frames_done, report.frames_total, report.stage
        fields = wire.ProgressFields(
            report.frames_done, report.frames_total, report.stage, report.elapsed_s, report.eta_s
        ).to_fields()
        self.last = fields
        now = time.monotonic()
        if now - self._last_sent >= PROGRESS_MIN_INTERVAL_S or report.frames_done >= report.frames_total:
            self._last_sent = now
            self._pending = None
            self._send(fields)
        else:
            self._pending = fields

    def flush(self) -> None:
        if self._pending is not None:
            self._send(self._pending)
            self._pending = None


def _frames_from_wire(entries: list[wire.ValueFrame]) -> dict[int, Any]:
    """Frames by value as the engine's ``Frame``s (the protocol has checked and completed every field)."""
    from e2fgvi_core.io.frame import Frame

    return {
        entry.frame: Frame(
            pixels=entry.pixels,
            channels=entry.channels,
            data_window=entry.data_window,
            display_window=entry.display_window,
            metadata=dict(entry.metadata),
            path=f"frame {entry.frame} by value",
        )
        for entry in entries
    }


def _devices() -> list[dict[str, Any]]:
    devices = [{"name": "cpu"}]
    try:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(index)
                devices.append({"name": f"cuda:{index}", "model": props.name, "memory_bytes": props.total_memory})
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install must not break hello/status
        log.debug("event=device_query_failed error=%r", exc)
    return devices


def _device_memory() -> dict[str, Any]:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {
        f"cuda:{i}": {
            "allocated_bytes": torch.cuda.memory_allocated(i),
            "reserved_bytes": torch.cuda.memory_reserved(i),
        }
        for i in range(torch.cuda.device_count())
    }


def _installed_weights() -> list[dict[str, Any]]:
    try:
        from e2fgvi_core.weights import installed_weights

        return [{"name": w.name, "variant": w.variant, "sha256": w.sha256} for w in installed_weights()]
    except Exception as exc:  # noqa: BLE001
        return [{"error": f"{type(exc).__name__}: {exc}"}]

"""The streaming loop: read a frame when a window needs it, write it when its last window is done, drop it after.

The official script loads the whole shot as float tensors (1,000 frames of 1080p would be ~25 GB). Here the plan
says in advance which window reads and outputs each position, so the runner holds only the frames of the current
and the next window, plus the blend accumulators of frames still in flight; encoder features and flows live in the
``ShotCache``, whose byte budget bounds them. Frames whose (dilated) matte is empty pass through untouched, and a
window whose local frames all have empty mattes does not run the model at all.

Pixels outside the dilated matte are never recomputed: the output starts as a copy of the input frame in its native
dtype (every channel: alpha, extra channels, values > 1, negatives, NaN) and only the RGB channels inside the hole
are replaced. 8-bit plates follow the official uint8 protocol exactly; other plates are processed in float32
display-referred values (scene-linear float plates through ``e2fgvi_core.io.colour``) and converted back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from e2fgvi_core.errors import ConfigError, DeviceError, JobCancelled, MatteError, SequenceError
from e2fgvi_core.io.channels import rgb_channel_indices
from e2fgvi_core.io.colour import build_colour_transform
from e2fgvi_core.io.sequence import format_frame_ranges
from e2fgvi_core.io.windows import on_display_window, to_own_data_window
from e2fgvi_core.removal.blend import WindowBlend, composite_window_frame
from e2fgvi_core.removal.cache import ShotCache, digest_arrays
from e2fgvi_core.removal.engine_registry import choose_engine
from e2fgvi_core.removal.engines import build_engine
from e2fgvi_core.removal.exposure import ExposedColour, measure_exposure
from e2fgvi_core.removal.feather import feather_native, feather_weights
from e2fgvi_core.removal.grain import regrain_fill
from e2fgvi_core.removal.hole import (
    empty_shot_warning,
    frame_hole,
    hole_share,
    hole_warnings,
    matte_of_frame,
    nearly_full_warning,
)
from e2fgvi_core.removal.matte_outputs import check_matte_outputs, with_matte_channel, write_matte_frame
from e2fgvi_core.removal.memory import release_free_memory
from e2fgvi_core.removal.plan import FramePlan, Window, plan_frames
from e2fgvi_core.removal.prepare import (
    is_quantised,
    resize_display,
    resize_matte,
    resize_prediction,
    to_display,
    to_official_scale,
)
from e2fgvi_core.removal.request import Progress, RemovalRequest, RemovalSummary
from e2fgvi_core.removal.roi import Geometry, plan_geometry
from e2fgvi_core.removal.sources import FileSink, MemorySink, SequenceSource, input_paths, output_encoding_for
from e2fgvi_core.schema import PATH_WEIGHTS, pixel_fields


@dataclass
class _Loaded:
    """A plate frame as the runner holds it while windows need it."""

    frame: Any  # on the display window (io/windows.py); ``original`` is the frame as read
    original: Any
    display: np.ndarray
    matte: np.ndarray
    hole: np.ndarray
    rgb: tuple[int, int, int]
    linear: bool


class ShotRunner:
    """One run over one shot; see the module docstring for the memory and pixel guarantees."""

    def __init__(
        self,
        request: RemovalRequest,
        numbers: tuple[int, ...],
        outputs: tuple[int, ...],
        source,
        matte_source,
        sink,
        engine,
        cache: ShotCache,
        progress=None,
        cancel: threading.Event | None = None,
        notices=(),
        on_warning=None,
        on_frame_written=None,
        matte_sink=None,
    ) -> None:
        self.request = request
        self.config = request.config
        self.numbers = numbers
        self.outputs = outputs
        self.source = source
        self.matte_source = matte_source
        self.sink = sink
        self.engine = engine
        self.cache = cache
        self.progress = progress
        self.cancel = cancel
        self.colour = build_colour_transform(request.colour)
        colour = request.colour
        self._colour_key = f"{colour.colorspace}|{colour.display}|{colour.ocio_config}"
        self.warnings: list[str] = list(notices)
        self._loaded: dict[int, _Loaded] = {}
        self._digests: dict[int, str] = {}
        self._size: tuple[int, int] | None = None
        self._quantise: bool | None = None
        self.reads = 0
        self.peak_resident = 0
        self.matte = request.matte_config
        self.matte_sink = matte_sink  # the --write-matte FileSink, or None
        self.on_warning = on_warning
        self.on_frame_written = on_frame_written
        self._matte_noted = False
        self._exposed: ExposedColour | None = None
        self._frames_with_hole = 0
        self._hole_shares: dict[int, float] = {}  # frame number -> share of the frame the hole covers

    # -- frames ---------------------------------------------------------------------------------------------
    def _load(self, position: int) -> _Loaded:
        loaded = self._loaded.get(position)
        if loaded is not None:
            return loaded
        number = self.numbers[position]
        where = self.source.describe(number)
        original = self.source.read(number)
        frame = on_display_window(original)
        self.reads += 1
        matte_frame = None if self.matte_source is None else self.matte_source.read(number)
        matte, note = matte_of_frame(frame, matte_frame, self.matte, note=not self._matte_noted)
        if note:
            self._matte_noted = True
            self._warn(note)
        if matte_frame is not None and matte.shape != frame.pixels.shape[:2]:
            raise MatteError(
                f"{self.matte_source.describe(number)} is {matte.shape[1]}x{matte.shape[0]} but {where} is "
                f"{frame.pixels.shape[1]}x{frame.pixels.shape[0]}: plate and matte must have the same size"
            )
        size = (frame.pixels.shape[1], frame.pixels.shape[0])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise SequenceError(f"{where} is {size[0]}x{size[1]} but the shot is {self._size[0]}x{self._size[1]}")
        quantise = is_quantised(frame.pixels)
        if self._quantise is None:
            self._quantise = quantise
        elif quantise != self._quantise:
            raise SequenceError(f"{where} is {frame.pixels.dtype} but earlier frames of the shot are not")
        rgb = rgb_channel_indices(frame.channels)
        linear = np.issubdtype(frame.pixels.dtype, np.floating)
        colour = self._exposed_colour(position, frame, matte) if linear else self.colour
        display = to_display(frame.pixels, rgb, linear, colour, self.config.nan_policy, where, self._warn)
        hole = frame_hole(matte, self.matte)
        for message in hole_warnings(where, hole, frame.pixels[..., list(rgb)]):
            self._warn(message)
        self._frames_with_hole += bool(hole.any())
        self._hole_shares[number] = hole_share(hole)
        loaded = _Loaded(frame, original, display, matte, hole, rgb, linear)
        self._loaded[position] = loaded
        self.peak_resident = max(self.peak_resident, len(self._loaded))
        if position not in self._digests:  # the hole, not the matte: threshold, invert and dilation change it
            self._digests[position] = digest_arrays(
                display, hole, extra=f"{frame.pixels.dtype}|{linear}|{self._colour_key}"
            )
        return loaded

    def _exposed_colour(self, position: int, frame, matte: np.ndarray) -> ExposedColour:
        """The colour transform of float plates with the shot's exposure (measured once, on the shot's first
        frame, so every chunk of the shot divides by the same number; ``removal/exposure.py``)."""
        if self._exposed is None:
            settings = self.request.colour
            exposure = settings.exposure
            if exposure is None:
                if position != 0:
                    frame = on_display_window(self.source.read(self.numbers[0]))
                    matte_frame = None if self.matte_source is None else self.matte_source.read(self.numbers[0])
                    matte, _ = matte_of_frame(frame, matte_frame, self.matte, note=False)
                rgb = rgb_channel_indices(frame.channels)
                exposure = measure_exposure(frame.pixels[..., list(rgb)], frame_hole(matte, self.matte))
            self._exposed = ExposedColour(self.colour, exposure, settings.highlight_rolloff)
        return self._exposed

    def reference_frames(self) -> dict:
        """The request's reference (clean-plate) frames by shot position, converted as the plate is (its colour
        transform and the shot's exposure), with their alpha as the trust: ``propagate.references.Reference``."""
        from e2fgvi_core.io.channels import alpha_channel_index
        from e2fgvi_core.io.reader import read_frame
        from e2fgvi_core.propagate.references import Reference

        position = {number: i for i, number in enumerate(self.numbers)}
        first = on_display_window(self.source.read(self.numbers[0]))  # the plate's size and exposure, not cached
        plate_size = (first.pixels.shape[1], first.pixels.shape[0])
        colour = self.colour
        if np.issubdtype(first.pixels.dtype, np.floating):
            matte_frame = None if self.matte_source is None else self.matte_source.read(self.numbers[0])
            colour = self._exposed_colour(0, first, matte_of_frame(first, matte_frame, self.matte, note=False)[0])
        references = {}
        for number, path in sorted(self.request.reference_paths().items()):
            if number not in position:
                raise ConfigError(
                    f"reference frame {number} ({path}) is not a frame of the shot "
                    f"({self.numbers[0]}-{self.numbers[-1]}): give references inside --shot"
                )
            frame = on_display_window(read_frame(path))
            size = (frame.pixels.shape[1], frame.pixels.shape[0])
            if size != plate_size:
                raise SequenceError(
                    f"reference {path} is {size[0]}x{size[1]} but the shot is {plate_size[0]}x{plate_size[1]}"
                )
            rgb = rgb_channel_indices(frame.channels)
            linear = np.issubdtype(frame.pixels.dtype, np.floating)
            display = to_display(frame.pixels, rgb, linear, colour, self.config.nan_policy, path, self._warn)
            display = display.astype(np.float32) / 255.0 if display.dtype == np.uint8 else display
            alpha = alpha_channel_index(frame.channels)
            trust = np.ones(display.shape[:2], np.float32)
            if alpha is not None:
                values = frame.pixels[..., alpha].astype(np.float32)
                kind = frame.pixels.dtype
                trust = values / float(np.iinfo(kind).max) if np.issubdtype(kind, np.integer) else values
            references[position[number]] = Reference(display, trust)
        return references

    def _digest(self, position: int) -> str:
        if position not in self._digests:
            self._load(position)
        return self._digests[position]

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def _prepare(self, position: int, geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
        """Display frame and dilated hole of ``position`` cropped/resized to the window's processing geometry."""
        loaded = self._load(position)
        x0, y0, x1, y1 = geometry.rect
        display = loaded.display[y0:y1, x0:x1]
        if not geometry.resized:
            return np.ascontiguousarray(display), np.ascontiguousarray(loaded.hole[y0:y1, x0:x1])
        # As test.py at a set size: resize the frame, resize the raw matte (nearest), then dilate.
        matte = resize_matte(loaded.matte[y0:y1, x0:x1], geometry.proc_wh)
        return resize_display(np.ascontiguousarray(display), geometry.proc_wh), frame_hole(matte, self.matte)

    # -- the loop -------------------------------------------------------------------------------------------
    def frame_plan(self) -> FramePlan:
        """The windows that produce this run's output frames, and what they read (``plan.plan_frames``)."""
        position = {number: i for i, number in enumerate(self.numbers)}
        shot_plan = self.engine.plan(len(self.numbers), self.config)
        return plan_frames(shot_plan, [position[n] for n in self.outputs])

    def run(self) -> RemovalSummary:
        start = time.monotonic()
        cache_before = self.cache.stats()
        uses_cache = getattr(self.engine, "cache", None) is not None  # the propagate engine has none
        plan = self.frame_plan()
        wanted = set(plan.outputs)
        blend: WindowBlend | None = None
        outputs: list[str] = []
        written: list[int] = []
        passthrough = 0
        windows_run = 0
        total = len(plan.outputs)
        self._report(0, total, "starting", start)
        for run_index, window in enumerate(plan.windows):
            if self.cancel is not None and self.cancel.is_set():
                raise JobCancelled(f"cancelled after {len(written)} of {total} frames (complete frames were kept)")
            local = [self._load(p) for p in window.local]
            if blend is None:
                blend = WindowBlend(self.config.blend, quantise=bool(self._quantise))
            if any(item.hole.any() for item in local):
                self._run_window(window, local, blend, wanted)
                windows_run += 1
            for position in plan.outputs_after(window.index):
                path, was_passthrough = self._finish(position, blend)
                passthrough += was_passthrough
                written.append(self.numbers[position])
                if path:
                    outputs.append(path)
                if self.on_frame_written is not None:
                    self.on_frame_written(self.numbers[position], path)
                self._report(len(written), total, f"window {run_index + 1}/{len(plan.windows)}", start)
            keep = plan.needed_after(run_index)
            for position in list(self._loaded):
                if position not in keep:
                    del self._loaded[position]
            # Freed frames and activations go back to the system now, not when the heap happens to shrink: without
            # this, glibc's heap fragmentation made RSS creep up with shot length (removal/memory.py).
            release_free_memory()
        empty = empty_shot_warning(self.reads, self._frames_with_hole)
        if empty:
            self._warn(empty)
        full = nearly_full_warning(self._hole_shares, len(self._hole_shares))
        if full:
            self._warn(full)
        seconds = time.monotonic() - start
        self._report(len(written), total, "done", start)
        return RemovalSummary(
            frames=tuple(written),
            outputs=tuple(outputs),
            seconds=seconds,
            # The job's own counters (the server's cache is shared); None where the engine has no cache at all.
            cache_stats=self.cache.stats().since(cache_before) if uses_cache else None,
            engine=self.engine.name,
            variant=self.engine.variant,
            weights_sha256=self.engine.weights_sha256,
            frames_passthrough=passthrough,
            windows_run=windows_run,
            windows_planned=len(plan.windows),
            frames_read=self.reads,
            frames_warmup=len(plan.warmup),
            warnings=tuple(self.warnings),
        )

    def _run_window(self, window: Window, local: list[_Loaded], blend: WindowBlend, wanted: set[int]) -> None:
        geometry = plan_geometry(
            self._size,
            [item.hole for item in local],
            roi=self.config.roi,
            margin=self.config.roi_margin,
            proxy=self.config.proxy,
            engine=self.engine.name,
        )
        try:
            preds = self.engine.run_window(
                window,
                geometry,
                self._digest,
                lambda p: self._prepare(p, geometry),
                context=self._colour_key,
            )
        except self.engine.out_of_memory_errors as exc:
            w, h = geometry.proc_wh
            raise DeviceError(
                f"out of memory on {getattr(self.engine, 'device', 'the device')} in window {window.index} "
                f"(frames {self.numbers[window.local[0]]}-{self.numbers[window.local[-1]]}, {w}x{h}, "
                f"{len(window.inputs) + len(window.clean)} frames): use --roi auto, --proxy 0.5, a smaller --num-ref "
                "or fewer --reference frames"
            ) from exc
        x0, y0, x1, y1 = geometry.rect
        for position, item in zip(window.local, local):
            if position not in wanted or not item.hole.any():
                continue
            pred = preds[position]
            if geometry.resized:
                pred = resize_prediction(np.ascontiguousarray(pred), (x1 - x0, y1 - y0))
            if self._quantise:
                full = item.display.astype(np.float32)
                full[y0:y1, x0:x1] = to_official_scale(pred)
            else:
                full = item.display.copy()
                full[y0:y1, x0:x1] = pred
            blend.add(position, composite_window_frame(full, item.display, item.hole, bool(self._quantise)))

    def _finish(self, position: int, blend: WindowBlend) -> tuple[str | None, int]:
        """Compose the output frame of ``position`` (native dtype, RGB replaced inside the hole) and write it."""
        item = self._load(position)
        frame = item.frame
        number = self.numbers[position]
        if not item.hole.any():
            result_frame, was_passthrough = frame, 1
            weights = np.zeros(item.hole.shape, np.float32)
        else:
            filled = blend.result(position)
            pixels = frame.pixels.copy()
            hole = item.hole
            if not self._quantise:
                values = np.clip(filled, 0.0, None)
                if item.linear:
                    values = self._exposed.to_linear(values)
                if np.issubdtype(pixels.dtype, np.integer):
                    top = np.iinfo(pixels.dtype).max
                    values = np.clip(np.round(values * top), 0, top)
                filled = values.astype(pixels.dtype)
            if self.request.regrain:  # the last per-frame step: the engine's fill and its cache stay grain-free
                neighbour, neighbour_hole = self._grain_neighbour(position)
                filled = regrain_fill(pixels[..., list(item.rgb)], filled, hole, number, 0, neighbour, neighbour_hole)
            weights = feather_weights(hole, self.matte.feather)
            if self.matte.feather:
                filled = feather_native(pixels[..., list(item.rgb)], filled, weights)
            if len(set(item.rgb)) == 1:
                pixels[..., item.rgb[0]][hole] = filled.astype(np.float32).mean(axis=-1)[hole].astype(pixels.dtype)
            else:
                for k, channel in enumerate(item.rgb):
                    pixels[..., channel][hole] = filled[..., k][hole]
            result_frame, was_passthrough = frame.with_pixels(pixels), 0
        result_frame = to_own_data_window(with_matte_channel(result_frame, weights, self.matte), item.original)
        if self.matte_sink is not None:
            write_matte_frame(self.matte_sink, number, frame, weights)
        path = self.sink.write(number, result_frame, self._provenance(number))
        return path, was_passthrough

    def _grain_neighbour(self, position: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The plate frame ``--regrain`` compares ``position`` with to tell grain from texture (``removal/grain.py``):
        the shot's previous frame (the next for the first), as RGB pixels and its hole; (None, None) in a one-frame
        shot. The same frame for ``position`` in every run (exactness); read without the loop's bookkeeping."""
        other = position - 1 if position > 0 else position + 1
        if other >= len(self.numbers):
            return None, None
        loaded = self._loaded.get(other)
        if loaded is not None:
            frame, hole = loaded.frame, loaded.hole
        else:
            number = self.numbers[other]
            frame = on_display_window(self.source.read(number))
            matte_frame = None if self.matte_source is None else self.matte_source.read(number)
            hole = frame_hole(matte_of_frame(frame, matte_frame, self.matte, note=False)[0], self.matte)
        return frame.pixels[..., list(rgb_channel_indices(frame.channels))], hole

    def _provenance(self, number: int) -> dict[str, Any]:
        engine = self.engine
        data = job_provenance(self.request, engine.name, engine.variant, engine.weights_sha256, number, self.numbers)
        if self._exposed is not None:
            data["exposure"] = float(self._exposed.exposure)
            data["highlight_rolloff"] = self._exposed.knee or 0
        return data

    def _report(self, done: int, total: int, stage: str, start: float) -> None:
        if self.progress is None:
            return
        elapsed = time.monotonic() - start
        eta = elapsed / done * (total - done) if done else None
        self.progress(Progress(done, total, stage, elapsed, eta))


def run_request(
    request: RemovalRequest,
    progress=None,
    cancel=None,
    cache: ShotCache | None = None,
    source=None,
    matte_source=None,
    sink=None,
    on_warning=None,
    on_frame_written=None,
    no_links: bool = False,
) -> RemovalSummary:
    """Open the sources and sink, pick the engine, and run the shot (the body of ``api.run_removal``)."""
    shot = request.shot_numbers()
    if source is None:
        if not request.plate:
            raise SequenceError("no plate: give --plate PATTERN (or frames by value)")
        source = SequenceSource(request.plate, shot, name="plate")
    numbers = tuple(source.frame_numbers())
    if shot is not None and not isinstance(source, SequenceSource):
        missing = sorted(set(shot) - set(numbers))
        if missing:
            named = request.shot or request.frames
            raise SequenceError(f"frames {missing[:10]} of range {named} are not in the given frames")
        numbers = shot
    if not numbers:
        raise SequenceError("the frame range is empty")
    outputs = request.output_numbers(numbers)
    if matte_source is None and request.matte:
        matte_source = SequenceSource(request.matte, numbers, name="matte")
    check_matte_outputs(request.matte_config, request.out, outputs)
    inputs = input_paths(source, matte_source)
    if sink is None:
        encoding = output_encoding_for(request, source, numbers[0]) if request.out else None
        sink = FileSink(request.out, inputs, outputs, no_links, encoding) if request.out else MemorySink()
    matte_write = request.matte_config.write
    matte_sink = FileSink(matte_write, inputs, outputs, no_links, flag="--write-matte") if matte_write else None
    shared = cache is not None
    cache = cache if shared else ShotCache()
    choice = choose_engine(request.engine, request.weights)
    notices = (choice.notice,) if choice.notice else ()
    runner = ShotRunner(
        request, numbers, outputs, source, matte_source, sink, None, cache, progress, cancel, notices,
        on_warning, on_frame_written, matte_sink,
    )  # fmt: skip
    references = runner.reference_frames() if request.reference else None  # converted as the plate is
    for checked in (matte_sink, sink):  # the matte first: a refused matte leaves no empty result folder
        if checked is not None:
            checked.check()
    if progress is not None:  # the first report: everything that can be refused before any work has passed
        progress(Progress(0, len(outputs), "loading engine", 0.0, None))
    runner.engine = build_engine(
        choice.engine, request.weights, request.device, cache, request.propagate, references, shared=shared
    )
    return runner.run()


MEASURED_PROVENANCE_KEYS = ("exposure", "highlight_rolloff")
"""Provenance keys measured during a run (the HDR exposure), not known from the request alone."""


def job_provenance(
    request: RemovalRequest,
    engine: str,
    variant: str | None,
    weights_sha256: str | None,
    frame: int,
    shot: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The provenance of one output frame that follows from the request alone (the farm's ``--resume`` compares it).

    Every setting the request schema marks as changing pixels is here, under its wire key (a new setting cannot be
    left out), so a frame written by another job is never taken for ours; the weights are named by their sha256,
    the propagate knobs only for that engine. The run adds the measured keys of ``MEASURED_PROVENANCE_KEYS``.
    """
    from e2fgvi_core import __version__

    data: dict[str, Any] = {"engine": engine, "frame": frame, "version": __version__}
    if variant:
        data["model_variant"] = variant
        data["weights_sha256"] = weights_sha256
    for spec in pixel_fields():
        if spec.key in data or spec.path == PATH_WEIGHTS or (spec.group == "propagate" and engine != "propagate"):
            continue
        value = request.value_of(spec.key)
        data[spec.key] = "" if value is None else value
    if not request.plate:
        data["plate"] = "by value"
    # the shot as it resolved (``shot``, else ``frames``, else what the run found on disk): a frame of
    # `--frames 1001-1005` is never taken for one of the whole shot (`remove --resume`, `farm render-chunk --resume`)
    numbers = shot if shot is not None else request.shot_numbers()
    data["shot"] = format_frame_ranges(numbers).replace(" ", "") if numbers else ""
    return data

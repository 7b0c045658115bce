"""What fills a window: the E2FGVI generator run stage by stage through the cache, or the weight-free engine.

The official script calls ``model(masked_frames, num_local_frames)`` once per window, which re-encodes every frame
of the window (references included) and recomputes every flow, although consecutive windows share most of them.
``ModelEngine`` runs the same computation as separable stages instead: encoder features once per frame and
completed flows once per adjacent pair (through the ``ShotCache``, one frame or pair per call: kernels may pick
other algorithms for other batch sizes, and a cached value must equal a fresh one bit for bit), then per window
only propagation, the transformer and the decoder, decoding only the local frames (the official script decodes
the references too and throws them away). A window's predictions are cached as well, keyed by all its inputs:
re-running a shot after a matte tweak re-runs only the windows that read a changed frame. Reference (clean-plate)
frames the artist painted join every window after the official references, masked only where their alpha does not
trust them (``clean_frame_input``), so the transformer attends to the true background.

Both engines share one contract with the runner: ``plan(length, config)`` and ``run_window(window, geometry,
digests, prepare) -> {position: (h, w, 3) float32 display-referred prediction in [0, 1]}`` at processing size, and
``out_of_memory_errors`` (the exception types that mean the device ran out of memory).

The registry of the user's ``--engine`` choices and their traits is ``engine_registry`` (no engine implementation
imported there, so the CLI, the host side and ``roi`` read it without loading either engine).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from e2fgvi_core.errors import ConfigError, DeviceError
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.propagate.flow import frame_digest
from e2fgvi_core.propagate.references import TRUSTED, Reference
from e2fgvi_core.removal.cache import ShotCache, digest_arrays
from e2fgvi_core.removal.config import EngineConfig
from e2fgvi_core.removal.engine_registry import ENGINES
from e2fgvi_core.removal.plan import ShotPlan, Window, plan_shot
from e2fgvi_core.removal.prepare import (
    prediction_to_display,
    resize_display,
    resize_matte,
    symmetric_pad,
    to_model_input,
)

if TYPE_CHECKING:
    from e2fgvi_core.removal.roi import Geometry

Prepare = Callable[[int], tuple[np.ndarray, np.ndarray]]
"""position -> (display (h, w, 3) uint8 or float32, dilated hole (h, w) bool) at the window's processing size."""


def _key(*parts: str) -> str:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=20).hexdigest()


def clean_frame_input(reference: Reference, geometry: Geometry, quantised: bool) -> tuple[np.ndarray, np.ndarray]:
    """A reference (clean-plate) frame as a model engine's window holds it: ``(display, hole)`` like ``Prepare``.

    Cropped and resized exactly as the runner prepares a plate frame for ``geometry`` (the ROI rectangle, then the
    processing size by the plate's filter), so it lines up with the window's own frames. ``quantised`` (8-bit
    plates): the reference enters as an 8-bit frame, as every frame of that protocol does. The hole is where its
    alpha trusts it less than ``propagate.references.TRUSTED`` (resized like a matte, nearest, and not dilated:
    the alpha says exactly which pixels were painted); elsewhere its pixels are known, as a plate frame's are
    outside the matte.
    """
    x0, y0, x1, y1 = geometry.rect
    display = np.ascontiguousarray(reference.rgb[y0:y1, x0:x1])
    hole = np.ascontiguousarray(reference.trust[y0:y1, x0:x1] < TRUSTED)
    if quantised:
        display = np.round(display * np.float32(255)).astype(np.uint8)
    if geometry.resized:
        display, hole = resize_display(display, geometry.proc_wh), resize_matte(hole, geometry.proc_wh)
    return display, hole


class ModelEngine:
    """E2FGVI / E2FGVI-HQ generator stages with per-frame features and per-pair flows from the cache.

    ``references``: the request's reference (clean-plate) frames by shot position (``propagate.references.
    Reference`` at the plate's full size, display-referred like the plate). The plan puts them in every window
    (``Window.clean``): the window's model input is its local frames, its official references, then these, each
    masked only where its alpha does not trust it. At a reference's own frame the output is the reference over the
    prediction by its trust (as the propagate engine's). Their content digests are part of every window's cache key.
    """

    def __init__(
        self, model, variant: str, weights_sha256: str, device, cache: ShotCache, references: dict | None = None
    ) -> None:
        self.model = model
        self.variant = variant
        self.name = variant
        self.weights_sha256 = weights_sha256
        self.device = device
        self.cache = cache
        self.model_id = f"{variant}:{weights_sha256}"
        self.counts = {"features": 0, "flows": 0, "windows": 0}
        from e2fgvi_core.device import out_of_memory_errors

        self.out_of_memory_errors = out_of_memory_errors()
        self.precision = "fp32"
        self.references: dict[int, Reference] = dict(references or {})
        self._clean_digests = {p: reference.digest().hex() for p, reference in self.references.items()}

    def plan(self, length: int, config: EngineConfig) -> ShotPlan:
        from e2fgvi_core.models.precision import resolve_precision

        # Checked before any frame is read: an unsupported precision is bad input, not a failure mid-shot.
        self.precision = resolve_precision(config.precision, self.device)
        return plan_shot(length, config, clean=tuple(self.references))

    def run_window(
        self, window: Window, geometry: Geometry, digests: Callable[[int], str], prepare: Prepare, context: str = ""
    ) -> dict[int, np.ndarray]:
        import torch

        from e2fgvi_core.models.precision import autocast

        gkey = f"{self.model_id}|{self.precision}|{geometry.key}|{context}"
        # The whole window's result depends on its inputs' contents in order: a re-run after a matte tweak
        # elsewhere in the shot takes it from the cache without running any stage. A repainted reference (another
        # digest) is another window.
        clean_keys = [f"clean:{self._clean_digests[p]}" for p in window.clean]
        window_key = _key(gkey, str(len(window.local)), *(digests(p) for p in window.inputs), *clean_keys)
        done = self.cache.get("windows", window_key)
        if done is not None:
            return {p: done[i] for i, p in enumerate(window.local)}
        self._check_fits(window, geometry)
        inputs: dict[int, torch.Tensor] = {}

        def padded_input(display: np.ndarray, hole: np.ndarray) -> torch.Tensor:
            if geometry.pad_multiple_hw is not None:
                display = symmetric_pad(display, geometry.pad_multiple_hw)
                hole = symmetric_pad(hole, geometry.pad_multiple_hw)
            return to_model_input(display, hole)[None].to(self.device)

        def model_input(position: int) -> torch.Tensor:
            if position not in inputs:
                inputs[position] = padded_input(*prepare(position))
            return inputs[position]

        def fetch_features(positions: list[int]) -> dict[int, torch.Tensor]:
            keys = {p: _key(gkey, digests(p)) for p in positions}
            found = {p: self.cache.get("features", keys[p]) for p in dict.fromkeys(positions)}
            missing = [p for p, value in found.items() if value is None]
            if missing:
                # One frame per call: oneDNN picks algorithms by batch size, so a batch of other sizes can differ in
                # the last bit, and cached and uncached runs must be identical.
                for p in missing:
                    with autocast(self.precision, self.device):
                        found[p] = self.model.encode(model_input(p))[0]
                    self.cache.put("features", keys[p], found[p])
                self.counts["features"] += len(missing)
            return {p: value.to(self.device) for p, value in found.items()}

        def fetch_flows(pairs: list[tuple[int, int]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
            keys = {pair: _key(gkey, digests(pair[0]), digests(pair[1])) for pair in pairs}
            found = {pair: self.cache.get("flows", keys[pair]) for pair in pairs}
            missing = [pair for pair, value in found.items() if value is None]
            if missing:
                small = {p: self.model.flow_inputs(model_input(p)) for pair in missing for p in pair}
                for a, b in missing:
                    found[(a, b)] = (
                        self.model.estimate_flows(small[a], small[b])[0],
                        self.model.estimate_flows(small[b], small[a])[0],
                    )
                    self.cache.put("flows", keys[(a, b)], found[(a, b)])
                self.counts["flows"] += len(missing)
            return [(found[pair][0].to(self.device), found[pair][1].to(self.device)) for pair in pairs]

        def fetch_clean_features() -> list[torch.Tensor]:
            """Encoder features of the reference frames, one per call as the plate's, cached by their content."""
            if not window.clean:
                return []
            quantised = prepare(window.local[0])[0].dtype == np.uint8  # the 8-bit protocol, as the window's frames
            found = []
            for position, clean_key in zip(window.clean, clean_keys):
                key = _key(gkey, clean_key, f"quantised={quantised}")
                value = self.cache.get("features", key)
                if value is None:
                    model_in = padded_input(*clean_frame_input(self.references[position], geometry, quantised))
                    with autocast(self.precision, self.device):
                        value = self.model.encode(model_in)[0]
                    self.cache.put("features", key, value)
                    self.counts["features"] += 1
                found.append(value.to(self.device))
            return found

        local = list(window.local)
        with torch.inference_mode():
            feats = fetch_features(local + list(window.refs))
            clean_feats = fetch_clean_features()
            local_feat = torch.stack([feats[p] for p in local])[None]
            pairs = fetch_flows(list(itertools.pairwise(local)))
            if pairs:
                flows_forward = torch.stack([f for f, _ in pairs])[None]
                flows_backward = torch.stack([b for _, b in pairs])[None]
            else:
                h4, w4 = local_feat.shape[-2:]
                flows_forward = flows_backward = local_feat.new_zeros((1, 0, 2, h4, w4))
            inputs.clear()
            # Flows stay float32 (they are sampling positions); the rest follows the precision.
            with autocast(self.precision, self.device):
                feat = self.model.propagate(local_feat, flows_forward, flows_backward)
                context = [feats[p] for p in window.refs] + clean_feats
                if context:
                    feat = torch.cat([feat, torch.stack(context)[None]], dim=1)
                feat = feat + self.model.hallucinate(feat)
                # One frame per decoder call: the decoder's full-resolution activations are its memory peak
                # (2.9 GB per 128-channel map of 11 frames at 1080p), and a fixed batch size keeps results
                # independent of the window's length.
                pred = torch.cat([self.model.decode(feat[0, i : i + 1]) for i in range(len(local))])
            display = prediction_to_display(pred.float())
        h, w = geometry.proc_wh[1], geometry.proc_wh[0]
        result = np.ascontiguousarray(display[:, :h, :w])
        for i, position in enumerate(local):
            if position in window.clean:  # at its own frame the painted reference is the answer, by its trust
                painted = self.references[position].crop(geometry.rect, geometry.proc_wh)
                trust = painted.trust[..., None]
                result[i] = trust * painted.rgb + (1 - trust) * result[i]
        self.cache.put("windows", window_key, result)
        self.counts["windows"] += 1
        return {p: result[i] for i, p in enumerate(local)}

    def _check_fits(self, window: Window, geometry: Geometry) -> None:
        """Refuse a window whose estimated working memory exceeds what the device has free, before it starts."""
        w, h = geometry.proc_wh
        if geometry.pad_multiple_hw is not None:
            mh, mw = geometry.pad_multiple_hw
            h, w = -(-h // mh) * mh, -(-w // mw) * mw
        frames = len(window.inputs) + len(window.clean)
        need = self.model.estimate_window_bytes(frames, len(window.local), h, w)
        free = available_memory_bytes(self.device)
        if free is not None and need > free:
            raise DeviceError(
                f"window {window.index} needs about {need / 2**30:.1f} GiB on {self.device} ({frames} "
                f"frames at {w}x{h}) but {free / 2**30:.1f} GiB is free: use --roi auto (process only around the "
                f"matte), --proxy 0.5 (half size) or a smaller --num-ref"
            )


def available_memory_bytes(device) -> int | None:
    """Free memory of ``device`` now: CUDA's free bytes, Linux's MemAvailable for the CPU, None where unknown."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


class PropagateEngine:
    """The weight-free engine: sliding neighbourhoods of ``context_frames`` on each side, no references.

    Its temporal carry (``temporal_spatial_fill``) makes a frame depend on the frames filled before it, so it
    restarts at every ``carry_restart_frames``-th position of the shot: the plan says so (``carry_every``) and
    ``plan_frames`` warms a subset up from the restart before it.

    With a ``cache`` (the server's shared ``ShotCache``) a re-submit reuses what the content it depends on fixes:
    each pair's completed flows and camera motion (kind ``flows``, keyed by both frames' pixels and holes and the
    flow settings) and each window's outputs (kind ``windows``, keyed by the settings, every input's digest and the
    carry it started from; after a hit the carry is set to what the uncached run left, so the next window is
    unchanged too). Cached and uncached runs are identical bit for bit.
    """

    name = "propagate"
    variant = None
    weights_sha256 = None
    out_of_memory_errors: tuple[type[BaseException], ...] = (MemoryError,)

    def __init__(
        self, config: PropagateConfig | None = None, cache: ShotCache | None = None, references: dict | None = None
    ) -> None:
        """``references``: clean frames by shot position (``propagate.references.Reference`` at the plate's full
        size, display-referred like the plate): every window reads them, as extra frames beside its own."""
        from e2fgvi_core.propagate.inpainter import PropagateInpainter

        self.config = config if config is not None else PropagateConfig.from_mapping(None)
        self.cache = cache
        self.references = dict(references or {})
        self._reference_key = [f"{p}:{self.references[p].digest().hex()}" for p in sorted(self.references)]
        self.inpainter = PropagateInpainter(self.config, cache)
        # frame_digest of this run's prepared frames, by (shot position, geometry key): the last window's only.
        self._hashed: dict[tuple[int, str], bytes] = {}
        self.counts = {"features": 0, "flows": 0, "windows": 0}

    def plan(self, length: int, config: EngineConfig) -> ShotPlan:
        plan = plan_shot(length, config, context_frames=self.config.context_frames)
        carries = self.config.temporal_spatial_fill > 0
        return replace(plan, carry_every=self.config.carry_restart_frames if carries else None)

    def run_window(
        self, window: Window, geometry: Geometry, digests: Callable[[int], str], prepare: Prepare, context: str = ""
    ) -> dict[int, np.ndarray]:
        window_key = None if self.cache is None else self._window_key(window, geometry, digests, context)
        if window_key is not None:
            done = self.cache.get("windows", window_key)
            if done is not None:
                filled, last_digest = done
                self.inpainter.carry = (last_digest, filled[-1].copy())
                return {p: filled[i].copy() for i, p in enumerate(window.local)}
        positions = sorted(set(window.inputs) | set(self.references))
        frames, holes, hashed = [], [], {}
        for position in positions:
            display, hole = prepare(position)
            if display.dtype == np.uint8:
                display = display.astype(np.float32) / np.float32(255)
            frames.append(np.clip(display, 0.0, 1.0).astype(np.float32))
            holes.append(np.asarray(hole, dtype=bool))
            # The next window holds most of these frames again: each prepared frame is hashed once per run (its
            # first read is the position's frame for the whole run, as the runner's own digests are).
            where = (position, geometry.key)
            hashed[where] = self._hashed.get(where) or frame_digest(frames[-1], holes[-1])
        self._hashed = hashed
        targets = [positions.index(p) for p in window.local]
        every = self.config.carry_restart_frames
        # Every restart the window reads, its targets' and those just after them (the detail fades into the next).
        restarts = [i for i, p in enumerate(positions) if p % every == 0]
        references = {
            positions.index(p): reference.crop(geometry.rect, geometry.proc_wh)
            for p, reference in self.references.items()
        }
        digests = [hashed[(p, geometry.key)] for p in positions]
        filled = self.inpainter.fill(np.stack(frames), np.stack(holes), targets, restarts, references, digests)
        if window_key is not None:
            self.cache.put("windows", window_key, (filled.copy(), self.inpainter.carry[0]))
        self.counts["windows"] += 1
        return {p: filled[i] for i, p in enumerate(window.local)}

    def _window_key(self, window: Window, geometry: Geometry, digests: Callable[[int], str], context: str) -> str:
        """Content address of a window's outputs: settings, geometry, inputs in order, and the carry it starts from."""
        carry = self.inpainter.carry
        carried = "none" if carry is None else carry[0].hex() + digest_arrays(carry[1])
        settings = repr(sorted(self.config.to_mapping().items()))
        positions = sorted(set(window.inputs) | set(self.references))
        return _key(
            *self._reference_key,
            "propagate",
            settings,
            geometry.key,
            context,
            str([positions.index(p) for p in window.local]),
            str([p % self.config.carry_restart_frames == 0 for p in window.local]),
            *(digests(p) for p in positions),
            carried,
        )


_MODELS: dict[tuple[str, str, str], tuple[object, object]] = {}
_MODELS_LOCK = threading.Lock()


def load_model(weights: str | None, variant: str, device) -> tuple[object, object]:
    """``(model, InstalledWeights)``, loaded once per process per (weights, variant, device): runs share it."""
    from e2fgvi_core.weights import load_generator

    key = (str(weights), variant, str(device))
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load_generator(weights, variant, device)
        return _MODELS[key]


def build_engine(
    engine: str,
    weights: str | None,
    device: str | None,
    cache: ShotCache,
    propagate: PropagateConfig | None = None,
    references: dict | None = None,
    *,
    shared: bool,
):
    """The engine implementation of a resolved engine name (a key of ``ENGINES``); ``propagate`` its settings,
    ``references`` its clean frames by shot position (``propagate.references.Reference``).

    ``shared``: whether ``cache`` outlives this run (the server's). The weight-free engine uses only a shared one:
    within one run it reads each window once and its flow estimator keeps the pairs the next window needs, so a
    private cache would only hold every window and pair of the shot, memory growing with its length."""
    traits = ENGINES.get(engine)
    if traits is None:
        raise ConfigError(f"engine {engine!r} is not resolved: choose one of {', '.join(ENGINES)}")
    if not traits.needs_weights:
        if device not in (None, "", "auto", "cpu"):  # torch is imported only then: the weight-free engine needs none
            from e2fgvi_core.device import select_device

            select_device(device)  # an explicit device that is not there is an error for every engine
        return PropagateEngine(propagate, cache if shared else None, references)
    from e2fgvi_core.device import out_of_memory_errors, select_device

    torch_device = select_device(device)
    try:
        model, installed = load_model(weights, engine, torch_device)
    except out_of_memory_errors() as exc:
        raise DeviceError(f"out of memory loading the {engine} model on {torch_device}: use --device cpu") from exc
    return ModelEngine(model, engine, installed.sha256, torch_device, cache, references)

"""``PropagateConfig``: the knobs of the weight-free ``propagate`` engine.

One frozen dataclass so the CLI flags, server ``submit`` parameters and farm job parameters all map onto the same
validated values (``from_mapping`` names the bad key and lists the valid ones).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from e2fgvi_core.errors import ConfigError

FLOW_PRESETS = ("ultrafast", "fast", "medium", "fine")
SPATIAL_METHODS = ("telea", "ns")
RESAMPLE_KERNELS = ("linear", "cubic", "lanczos")


@dataclass(frozen=True)
class PropagateConfig:
    """Parameters of flow-guided propagation.

    ``context_frames``: frames used on each side of a target (the runner streams windows of ``2 * n + 1``); 20 rather
    than 12 gained 0.6 dB on two of the benchmark's four cases (camera-guided fetches do not drift, so farther frames
    help), 30 only 0.2 dB more for 50% more memory (compare
    ``E2FGVI_PROPAGATE_CONTEXT_FRAMES=12 python benchmarks/quality.py --no-docs`` and ``=30`` with the default run).
    ``flow_preset``: OpenCV DIS preset for the optical flow between adjacent frames (``fine`` is ``medium`` down to
    full resolution: slower, more accurate).
    ``flow_mask_dilation_px``: how far around the holes the measured flow is distrusted and re-completed.
    ``flow_smoothing_iterations``: Jacobi sweeps that relax the completed flow towards a harmonic fill.
    ``consistency_px`` / ``consistency_ratio``: a flow step is kept while the forward and backward flows agree to
    within ``consistency_px + consistency_ratio * |flow|`` pixels.
    ``seam_correction``: diffuse the colour difference on the hole's border into the propagated pixels (a cheap
    Poisson blend) so exposure changes between frames leave no seam.
    ``spatial_method`` / ``spatial_radius_px``: OpenCV inpainting for pixels no frame of the window ever sees.
    ``candidates_per_direction``: how many frames that saw a point are averaged in each temporal direction. Colours
    of several frames never line up to the pixel, so averaging them blurs: on docs/quality.md's benchmark 1 against 3
    raised tennis/object hole detail 0.65 -> 0.70 (the issue's floor is 0.7) for -0.04 dB PSNR and a hole E_warp of
    4.92 against 4.77, the other three cases within 0.02 dB, and made the engine faster (fewer chain steps; compare
    ``E2FGVI_PROPAGATE_CANDIDATES_PER_DIRECTION=3 python benchmarks/quality.py --no-docs`` with the default run).
    ``camera_motion_px``: hole pixels where the completed flow follows the camera motion (a homography per frame
    pair, fitted to the measured flow) to within this many pixels take their colour along the composed
    homographies from the nearest frames that show them as non-moving background, instead of from flow chains,
    which drift inside large holes and fetch passers-by; where the camera motion is known but no frame shows a
    hole pixel as background, the spatial fill paints it. On docs/quality.md's benchmark 6 beat 4 (tennis with
    static masks +0.8 dB, others within 0.1 dB: compare
    ``E2FGVI_PROPAGATE_CAMERA_MOTION_PX=4 python benchmarks/quality.py --no-docs`` with the default run); 0 turns it
    off (flow chains everywhere).
    ``temporal_spatial_fill``: weight in [0, 1] of the previous output frame, carried along the completed flow, in
    what no frame shows (the rest is this frame's spatial fill): an exponential average along the motion, so that
    painted areas do not flicker. On docs/quality.md's benchmark 0.75 against 0 lowered E_warp in all four cases
    (schoolgirls with static masks 0.987 -> 0.924, below Telea's 0.984; tennis with object masks 1.051 -> 1.001)
    and changed PSNR by +0.09 to +0.15 dB in three, -0.03 dB on tennis/static (compare
    ``E2FGVI_PROPAGATE_TEMPORAL_SPATIAL_FILL=0 python benchmarks/quality.py --no-docs`` with the default run). 1.0
    (carry only, ``=1``) is better on schoolgirls with object masks (28.32 dB) but worse on tennis with object masks
    (27.96 dB, E_warp 1.077, against 28.19 / 1.001) and on tennis/static. 0 paints every frame anew.
    ``carry_restart_frames``: the carry restarts (takes nothing from the frame before) at every multiple of this
    many frames of the shot, so a frame depends only on the frames since the last restart and a farm chunk or a
    ``frames`` subset reproduces the whole run bit for bit, after warming up from the restart before its first
    frame (at most this many frames computed and not written). A multiple of the window stride (5) keeps that
    warm-up to whole windows. 30 against no restart (the 70-frame clips restart at 30 and 60)
    cost at most 0.01 dB PSNR on docs/quality.md's benchmark (tennis/object 28.19 -> 28.18, schoolgirls/object
    28.13 -> 28.12, the static cases unchanged; E_warp within 0.003; compare
    ``E2FGVI_PROPAGATE_CARRY_RESTART_FRAMES=1000 python benchmarks/quality.py --no-docs``, no restart in a 70-frame
    clip, with the default run in one environment: these were measured with OpenCV 5.0, whose DIS flow gives
    slightly other absolute numbers than the 4.11 of docs/quality.md). Those numbers predate the detail layer: a
    restart now swaps the carried paint and detail for fresh ones, which the frames before it hand over to gradually
    (docs/engine.md, the weight-free engine's before -> after table).
    ``resample_kernel``: how colours are sampled between pixels (``linear``, ``cubic``, ``lanczos``; cubic and
    Lanczos clamped to the 2x2 pixels around the sample, so no halos). A bilinear sample half a pixel off keeps about
    half the detail; on 24 frames of docs/quality.md's four cases ``cubic`` against ``linear`` raised hole detail
    0.40 -> 0.51, 0.56 -> 0.75, 0.81 -> 0.92 where frames reveal the background, PSNR -0.14 to +0.11 dB (compare
    ``E2FGVI_PROPAGATE_RESAMPLE_KERNEL=linear E2FGVI_PROPAGATE_SPATIAL_DETAIL=0 python benchmarks/quality.py
    --frames 24 --no-docs`` with ``E2FGVI_PROPAGATE_SPATIAL_DETAIL=0`` alone). ``lanczos`` against ``cubic`` on
    docs/quality.md's four cases: hole detail 0.699 -> 0.706 (tennis/object; the floor an artist's "no smear" needs
    is 0.7), 0.857 -> 0.872, 0.866 -> 0.870, 0.706 -> 0.702, PSNR equal or up to +0.06 dB, hole E_warp lower on three and
    +0.003 on tennis/static (compare ``E2FGVI_PROPAGATE_RESAMPLE_KERNEL=cubic python benchmarks/quality.py --no-docs``
    with the default run).
    ``spatial_detail``: gain of the fine-detail band (``spatial_fill.add_detail``) added to what no frame shows: on
    a key frame (the carry restarts) copied from beside the hole, then carried whole along the motion, so the smooth
    spatial fill gets the surroundings' texture without flicker. 0 paints a smear (Telea alone). On the same 24
    frames 1.0 against 0 raised schoolgirls/static hole detail 0.01 -> 0.73 for -0.69 dB PSNR and a hole E_warp of
    1.21 (the ground truth's own 1.00), tennis/object 0.51 -> 0.64 for -0.11 dB (compare
    ``E2FGVI_PROPAGATE_SPATIAL_DETAIL=0 python benchmarks/quality.py --frames 24 --no-docs`` with the default).
    ``flow_cache_pairs``: at most this many completed flow pairs are kept between calls (overlapping windows reuse
    them; only the latest window's pairs are kept), so memory stays bounded by one window.
    """

    SCHEMA: ClassVar[dict[str, dict[str, Any]]] = {
        "context_frames": {
            "label": "Propagate context", "help": "frames on each side the propagate engine looks at",
            "minimum": 1, "maximum": 100,
        },
        "carry_restart_frames": {
            "label": "Propagate restart", "help": "the propagate engine's temporal carry restarts every N frames",
            "minimum": 1, "maximum": 100000,
        },
        "flow_cache_pairs": {"pixels": False},
    }  # fmt: skip
    """Request-schema metadata beyond what a field says by itself (``e2fgvi_core.schema``): host labels, and the
    knobs that change no pixel. Every other knob is a ``--propagate-*`` option with its default in its help."""

    context_frames: int = 20
    flow_preset: str = "medium"
    flow_mask_dilation_px: int = 6
    flow_smoothing_iterations: int = 15
    consistency_px: float = 1.0
    consistency_ratio: float = 0.1
    seam_correction: bool = True
    spatial_method: str = "telea"
    spatial_radius_px: int = 5
    flow_cache_pairs: int = 64
    candidates_per_direction: int = 1
    camera_motion_px: float = 6.0
    temporal_spatial_fill: float = 0.75
    carry_restart_frames: int = 30
    resample_kernel: str = "lanczos"
    spatial_detail: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.context_frames, int) or not 1 <= self.context_frames <= 100:
            raise ConfigError(f"propagate context_frames={self.context_frames!r}: must be an integer in 1..100")
        if self.flow_preset not in FLOW_PRESETS:
            raise ConfigError(f"propagate flow_preset={self.flow_preset!r}: choose from {', '.join(FLOW_PRESETS)}")
        if self.resample_kernel not in RESAMPLE_KERNELS:
            raise ConfigError(
                f"propagate resample_kernel={self.resample_kernel!r}: choose from {', '.join(RESAMPLE_KERNELS)}"
            )
        if self.spatial_method not in SPATIAL_METHODS:
            raise ConfigError(
                f"propagate spatial_method={self.spatial_method!r}: choose from {', '.join(SPATIAL_METHODS)}"
            )
        if not isinstance(self.candidates_per_direction, int) or self.candidates_per_direction < 1:
            raise ConfigError(
                f"propagate candidates_per_direction={self.candidates_per_direction!r}: must be an integer >= 1"
            )
        for name in ("flow_mask_dilation_px", "flow_smoothing_iterations", "flow_cache_pairs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"propagate {name}={value!r}: must be an integer >= 0")
        if not isinstance(self.carry_restart_frames, int) or self.carry_restart_frames < 1:
            raise ConfigError(f"propagate carry_restart_frames={self.carry_restart_frames!r}: must be an integer >= 1")
        if not isinstance(self.spatial_radius_px, int) or self.spatial_radius_px < 1:
            raise ConfigError(f"propagate spatial_radius_px={self.spatial_radius_px!r}: must be an integer >= 1")
        if not isinstance(self.temporal_spatial_fill, (int, float)) or not 0.0 <= self.temporal_spatial_fill <= 1.0:
            raise ConfigError(
                f"propagate temporal_spatial_fill={self.temporal_spatial_fill!r}: must be a number in 0..1"
            )
        for name in ("consistency_px", "consistency_ratio", "camera_motion_px", "spatial_detail"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"propagate {name}={value!r}: must be a number >= 0")
        if not isinstance(self.seam_correction, bool):
            raise ConfigError(f"propagate seam_correction={self.seam_correction!r}: must be true or false")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None = None, *, use_env: bool = True) -> PropagateConfig:
        """Build from a mapping (CLI, submit parameters, job file); strings are converted to the field's type.

        Environment variables ``E2FGVI_PROPAGATE_<FIELD>`` (e.g. ``E2FGVI_PROPAGATE_CONTEXT_FRAMES``) give defaults
        below the mapping. An unknown key raises ``ConfigError`` listing the valid keys.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        if use_env:
            for name, spec in fields.items():
                env = os.environ.get(f"E2FGVI_PROPAGATE_{name.upper()}")
                if env is not None:
                    values[name] = _convert(name, env, spec.default, f"E2FGVI_PROPAGATE_{name.upper()}")
        for key, value in (mapping or {}).items():
            if key not in fields:
                raise ConfigError(f"unknown propagate option {key!r}: valid options are {', '.join(fields)}")
            values[key] = _convert(key, value, fields[key].default, key)
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """Every field by name: what ``from_mapping`` takes back (provenance, the server's submit)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _convert(name: str, value: Any, default: Any, source: str) -> Any:
    """Coerce ``value`` to the type of ``default``; strings come from env vars and CLI flags."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"propagate {source}={value!r}: must be true or false")
    if isinstance(default, int):
        if isinstance(value, bool):
            raise ConfigError(f"propagate {source}={value!r}: must be an integer")
        try:
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            return int(number)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"propagate {source}={value!r}: must be an integer") from exc
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"propagate {source}={value!r}: must be a number") from exc
    return str(value) if not isinstance(value, str) else value

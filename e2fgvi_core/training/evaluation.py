"""``e2fgvi train eval``: score a run's checkpoint on held-out clips with the project's metrics.

Protocol (the paper's video-completion protocol, as ``benchmarks/quality.py`` applies it): each held-out clip is the
ground truth; its first ``frames`` frames are resized to the training size and hidden under seeded masks of two
kinds, ``static`` blobs (``mask_synthesis.static_masks``) and ``moving`` object-like shapes
(``mask_synthesis.training_masks`` with a fixed seed per clip); the generator fills them; outputs are composited
into the ground truth, quantised to 8 bits and scored with ``e2fgvi_core.metrics`` (PSNR/SSIM of the whole frame
by the paper's rule, PSNR inside the hole, E_warp), the same functions the quality benchmark uses. ``hole_l1`` is the
mean absolute error inside the hole in [0, 1] units, the quantity training lowers.

The generator runs on windows shaped like training samples: ``num_local_frames`` consecutive frames (the last
window moved back to end at the clip's end) plus ``num_ref_frames`` references spread evenly over the rest of the
clip. This is not the shot engine's plan (``e2fgvi remove`` uses the official strides), so the numbers compare
checkpoints of one run with each other, not with the benchmark tables.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from e2fgvi_core import metrics
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.mask_synthesis import static_masks, training_masks
from e2fgvi_core.models import InpaintGenerator, build_generator
from e2fgvi_core.training.config import TrainConfig
from e2fgvi_core.training.data import Clip, ClipSamples, find_clips
from e2fgvi_core.training.run_folder import find_checkpoint, load_training_state, write_atomic

__all__ = ["MASK_KINDS", "ClipScore", "EvalReport", "evaluate_run", "fill_clip", "reference_positions"]

MASK_KINDS = ("static", "moving")
EVAL_MASK_SEED = 1234


@dataclass(frozen=True)
class ClipScore:
    clip: str
    masks: str
    frames: int
    psnr: float
    ssim: float
    hole_psnr: float
    hole_l1: float
    ewarp: float


@dataclass(frozen=True)
class EvalReport:
    run_dir: str
    step: int
    variant: str
    size: tuple[int, int]
    scores: list[ClipScore]

    def mean(self, key: str) -> float:
        values = [getattr(s, key) for s in self.scores if math.isfinite(getattr(s, key))]
        return float(np.mean(values)) if values else float("nan")

    def to_json(self) -> dict:
        data = asdict(self)
        data["mean"] = {k: self.mean(k) for k in ("psnr", "ssim", "hole_psnr", "hole_l1", "ewarp")}
        return data


def reference_positions(length: int, local: list[int], count: int) -> list[int]:
    """``count`` clip positions outside ``local``, spread evenly over the clip (fewer when the clip is short)."""
    rest = [i for i in range(length) if i not in set(local)]
    if count <= 0 or not rest:
        return []
    picks = np.linspace(0, len(rest) - 1, num=min(count, len(rest)))
    return sorted({rest[round(p)] for p in picks})


def fill_clip(
    generator: InpaintGenerator, frames: torch.Tensor, masks: torch.Tensor, num_local: int, num_ref: int
) -> torch.Tensor:
    """Fill a whole clip window by window: frames (t, 3, h, w) in [-1, 1], masks (t, 1, h, w) -> outputs composited
    into the frames outside the masks, same shape."""
    length = frames.shape[0]
    out = frames.clone()
    starts = list(range(0, max(length - num_local, 0) + 1, num_local))
    if starts[-1] + num_local < length:
        starts.append(length - num_local)
    with torch.no_grad():
        for start in starts:
            local = list(range(start, min(start + num_local, length)))
            index = local + reference_positions(length, local, num_ref)
            window = frames[index] * (1 - masks[index])
            pred, _ = generator(window[None], len(local))
            pred = pred[: len(local)]
            out[local] = frames[local] * (1 - masks[local]) + masks[local] * pred
    return out


def evaluate_run(
    run_dir: str | Path, data_dir: str | Path | None = None, step: int | None = None, frames: int = 20
) -> EvalReport:
    """Score checkpoint ``step`` (default: the newest) of ``run_dir`` on the clips of ``data_dir`` (default: the
    run's ``data.holdout``); writes ``eval_step_NNNNNN.json`` into the run folder and returns the report."""
    from e2fgvi_core.training.trainer import load_run_config

    run_dir = Path(run_dir)
    config: TrainConfig = load_run_config(run_dir)
    data_dir = data_dir or config.data.holdout
    if not data_dir:
        raise ConfigError("no held-out clips: give --data DIR (or set data.holdout in the run's config)")
    data = config.data
    clips = find_clips(data_dir, min_frames=data.num_local_frames)
    found_step, path = find_checkpoint(run_dir, step)
    state = load_training_state(path)
    generator = build_generator(config.variant)
    generator.load_state_dict(state["generator"], strict=True)
    generator.eval()
    loader = ClipSamples(clips, data, config.seed)
    scores = []
    for number, clip in enumerate(clips):
        for kind in MASK_KINDS:
            scores.append(_score_clip(generator, loader, clip, kind, frames, EVAL_MASK_SEED + number))
    report = EvalReport(str(run_dir), found_step, config.variant, tuple(data.size), scores)
    text = json.dumps(report.to_json(), indent=1)
    write_atomic(run_dir / f"eval_step_{found_step:06d}.json", lambda tmp: tmp.write_text(text))
    return report


def _score_clip(generator, loader: ClipSamples, clip: Clip, kind: str, limit: int, seed: int) -> ClipScore:
    data = loader.config
    indices = list(range(min(limit, len(clip)))) if limit else list(range(len(clip)))
    frames, _ = loader.load(clip, indices, None, mask_seed=seed)
    h, w = data.size
    if kind == "static":
        holes = static_masks((len(indices), h, w), seed)
    else:
        holes = training_masks((h, w), indices, seed)
    masks = torch.from_numpy(holes.astype(np.float32))[:, None]
    filled = fill_clip(generator, frames, masks, data.num_local_frames, data.num_ref_frames)
    truth = _to_unit(frames)
    output = _to_unit(filled)
    truth_u8, output_u8 = metrics.to_u8(truth), metrics.to_u8(output)
    if min(h, w) >= metrics.PAPER_SSIM_WINDOW:
        pairs = [metrics.paper_psnr_ssim(t, o) for t, o in zip(truth_u8, output_u8)]
    else:  # frames smaller than the paper's 65-pixel SSIM window (tiny test sizes): a 7-pixel window
        pairs = [
            (metrics.psnr(t, o, 255.0), metrics.ssim(t, o, 255.0, win_size=7)) for t, o in zip(truth_u8, output_u8)
        ]
    hole_psnr = [metrics.psnr(t, o, 255.0, mask=m) for t, o, m in zip(truth_u8, output_u8, holes)]
    hole_l1 = float(np.abs(output - truth)[np.broadcast_to(holes[..., None], truth.shape)].mean())
    ewarp = metrics.warping_error(output_u8.astype(np.float32) / 255.0, metrics.ground_truth_warps(truth_u8))
    return ClipScore(
        clip=clip.name,
        masks=kind,
        frames=len(indices),
        psnr=_finite_mean([p for p, _ in pairs]),
        ssim=_finite_mean([s for _, s in pairs]),
        hole_psnr=_finite_mean(hole_psnr),
        hole_l1=hole_l1,
        ewarp=ewarp,
    )


def _to_unit(frames: torch.Tensor) -> np.ndarray:
    """(t, 3, h, w) in [-1, 1] -> (t, h, w, 3) float32 in [0, 1]."""
    return ((frames.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy().astype(np.float32)


def _finite_mean(values: list[float]) -> float:
    values = [v for v in values if math.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")

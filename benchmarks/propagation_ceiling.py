"""How far can flow-guided propagation go on the quality benchmark's object-mask cases? (``make bench-ceiling``)

Why: docs/quality.md's target asks ``propagate`` for +3 dB whole-frame PSNR over per-frame Telea with object masks.
On tennis the masks sit on the player most of the time; what is missing there is a person's pose that no frame shows
behind the mask. This script measures the ceiling of the method itself: the same engine, the same masks and windows,
but fed the *ground-truth* optical flow (OpenCV DIS on the unmasked frames, which no real run can have) inside the
holes, everywhere or only on the clip's own moving objects. If even that stays near +3 dB, better flow completion
cannot reach the target and only a model that hallucinates content can.

In-memory (no file I/O), windows as the runner streams them (10 targets, ``context_frames`` on each side).
Writes ``docs/propagation_ceiling.md``. Usage: ``python benchmarks/propagation_ceiling.py [--seed 2022] [--no-docs]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality  # the benchmark's clips, masks and seeds

from e2fgvi_core import metrics
from e2fgvi_core.mask_synthesis import dilate_masks, object_masks
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.propagate.flow import FlowEstimator
from e2fgvi_core.propagate.inpainter import PropagateInpainter

TARGETS_PER_WINDOW = 10
EVERYWHERE = "everywhere"  # ground-truth flow over the whole frame


class GroundTruthFlows(FlowEstimator):
    """The engine's flow estimator with the ground-truth flow pasted in where ``regions[k]`` is True for pair k
    (everywhere when ``regions`` is None).

    Camera motions stay those fitted to the masked frames (what a real run has); only the flows change.
    """

    def __init__(self, config: PropagateConfig, forward: list, backward: list, regions: list | None) -> None:
        super().__init__(config)
        self.truth = (forward, backward)
        self.regions = regions
        self.first = 0  # shot index of the window's first frame, set before each fill

    def window_flows(self, frames: np.ndarray, holes: np.ndarray, digests: list[bytes] | None = None):
        forward, backward, motions = super().window_flows(frames, holes, digests)
        for j in range(len(forward)):
            k = self.first + j
            if self.regions is None:
                forward[j], backward[j] = self.truth[0][k], self.truth[1][k]
            else:
                where = self.regions[k][..., None]
                forward[j] = np.where(where, self.truth[0][k], forward[j])
                backward[j] = np.where(where, self.truth[1][k], backward[j])
        return forward, backward, motions


def fill_shot(inpainter: PropagateInpainter, gt_u8: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """All frames of the shot, window by window in frame order; uint8 results."""
    frames = gt_u8.astype(np.float32) / 255.0
    t = len(frames)
    context = inpainter.context_frames
    out = np.empty_like(gt_u8)
    for start in range(0, t, TARGETS_PER_WINDOW):
        lo, hi = max(start - context, 0), min(start + TARGETS_PER_WINDOW + context, t)
        targets = list(range(start - lo, min(start + TARGETS_PER_WINDOW, t) - lo))
        if isinstance(inpainter.flows, GroundTruthFlows):
            inpainter.flows.first = lo
        filled = inpainter.fill(frames[lo:hi], holes[lo:hi], targets)
        out[start : start + len(targets)] = metrics.to_u8(filled)
    return out


def whole_psnr(gt: np.ndarray, holes: np.ndarray, result: np.ndarray) -> tuple[float, float]:
    """Mean per-frame whole-frame PSNR (paper protocol) and pooled PSNR on the hole."""
    composite = np.where(holes[..., None], result, gt)
    per_frame = [metrics.psnr(g, c, 255.0) for g, c in zip(gt, composite)]
    return float(np.mean(per_frame)), metrics.psnr(gt[holes], composite[holes], 255.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, default=quality.DEFAULT_FOOTAGE)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--frames", type=int, default=None, help="use only the first N frames of each clip")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    if not args.footage.is_dir():
        print(f"propagation ceiling: {args.footage} is absent; put the project's shared/ folder beside the checkout")
        return 2
    started = time.perf_counter()
    clips = {c: quality.load_clip(args.footage, c, args.frames) for c in quality.CLIPS}
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    rows = []
    for clip in quality.CLIPS:
        gt, own = clips[clip]
        objects = dilate_masks(own)
        other = clips[next(c for c in quality.CLIPS if c != clip)][1]
        seed = args.seed + 17 * quality.CLIPS.index(clip) + quality.MASK_KINDS.index("object")
        holes = dilate_masks(object_masks(other, gt.shape[:3], seed))
        grays = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in gt]
        forward = [dis.calc(grays[k], grays[k + 1], None) for k in range(len(gt) - 1)]
        backward = [dis.calc(grays[k + 1], grays[k], None) for k in range(len(gt) - 1)]
        telea = np.stack([cv2.inpaint(g, h.astype(np.uint8), 5, cv2.INPAINT_TELEA) for g, h in zip(gt, holes)])
        base, _ = whole_psnr(gt, holes, telea)
        on_objects = [objects[k] | objects[k + 1] for k in range(len(gt) - 1)]
        variants = [
            ("telea (baseline)", None, None),
            ("propagate (engine default)", PropagateConfig(), None),
            ("propagate, ground-truth flow on the clip's own objects only", PropagateConfig(), on_objects),
            ("propagate, ground-truth flow everywhere", PropagateConfig(), EVERYWHERE),
            (
                "propagate, ground-truth flow everywhere, flow chains only (camera_motion_px=0)",
                PropagateConfig(camera_motion_px=0.0),
                EVERYWHERE,
            ),
        ]
        for name, config, regions in variants:
            if config is None:
                result = telea
            else:
                inpainter = PropagateInpainter(config)
                if regions is not None:
                    inpainter.flows = GroundTruthFlows(
                        config, forward, backward, None if regions is EVERYWHERE else regions
                    )
                result = fill_shot(inpainter, gt, holes)
            value, hole_value = whole_psnr(gt, holes, result)
            rows.append((clip, name, value, value - base, hole_value))
            print(
                f"{clip:12s} {name:80s} PSNR {value:6.2f} ({value - base:+.2f} dB) hole {hole_value:6.2f}", flush=True
            )
    if not args.no_docs:
        lines = [
            "# Propagation ceiling on the object-mask cases",
            "",
            "Generated by `make bench-ceiling` (`python benchmarks/propagation_ceiling.py"
            + (f" --frames {args.frames}" if args.frames else "")
            + f" --seed {args.seed}`); do not",
            f"edit by hand. Run time {time.perf_counter() - started:.0f} s.",
            "",
            "Same clips, masks (object kind, same seeds) and scoring as docs/quality.md (whole-frame PSNR, mean over",
            "frames; hole PSNR pooled over the clip), windows of 10 targets in memory. *Ground-truth flow* is OpenCV",
            "DIS (PRESET_MEDIUM) on the unmasked frames pasted into the engine's flows: an oracle no real run has,",
            "so these rows bound what any flow completion could give the propagate method.",
            "",
            "| clip | fill | PSNR | vs telea | hole PSNR |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {c} | {n} | {v:.2f} | {d:+.2f} dB | {h:.2f} |" for c, n, v, d, h in rows]
        lines.append("")
        path = args.docs / "propagation_ceiling.md"
        temp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        temp.write_text("\n".join(lines))
        os.replace(temp, path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hole detail with and without ``--regrain`` on the shared footage (the Regrain section of docs/engine.md).

Why: ``--regrain`` exists to bring the fill's fine detail to the plate's; this measures that the way
``benchmarks/quality.py`` does, on the same clips and seeded masks: hole detail (the result's high-pass energy in
the hole over the ground truth's there: a smear is near 0, the truth's own texture 1), hole PSNR (grain is not the
true texture, so it costs a little PSNR), hole E_warp (fresh grain every frame changes the hole from frame to
frame, as the plate's own grain does: compare with the ground truth's) and the one-thread CPU milliseconds
``regrain_fill`` takes per frame.

Both rows run ``propagate`` through the request (8-bit PNG files in and out), the second with ``regrain``.
``--add-grain LEVELS`` first adds fresh grain to the clip (the shared clips are web video: their high-pass detail is
texture, which stays from frame to frame, not grain).
Usage: ``python benchmarks/grain.py [--frames 24] [--clips schoolgirls] [--kinds static object] [--add-grain 4]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality import CLIPS, DEFAULT_FOOTAGE, MASK_KINDS, load_clip, read_results, write_png

from e2fgvi_core import metrics
from e2fgvi_core.mask_synthesis import dilate_masks, object_masks, static_masks
from e2fgvi_core.removal.api import RemovalRequest, run_removal
from e2fgvi_core.removal.grain import regrain_fill


def run_propagate(plate: Path, matte: Path, out: Path, count: int, regrain: bool) -> float:
    """``propagate`` files in -> files out through the request; returns seconds (I/O included)."""
    request = RemovalRequest.from_mapping(
        {
            "plate": str(plate / "%05d.png"),
            "matte": str(matte / "%05d.png"),
            "out": str(out / "%05d.png"),
            "frames": f"0-{count - 1}",
            "engine": "propagate",
            "regrain": regrain,
        }
    )
    start = time.perf_counter()
    run_removal(request)
    return time.perf_counter() - start


def hole_scores(gt: np.ndarray, holes: np.ndarray, result: np.ndarray, warps) -> dict[str, float]:
    """Hole detail, hole PSNR and hole E_warp (x 1e3) of composites (the result inside the hole, truth outside)."""
    composite = np.where(holes[..., None], result, gt)
    psnr = [metrics.psnr(g, c, 255.0, h) for g, c, h in zip(gt, composite, holes) if h.any()]
    as_float = composite.astype(np.float32) / 255.0
    return {
        "detail": metrics.hole_detail(composite, gt, holes),
        "psnr": float(np.mean(psnr)),
        "ewarp": 1e3 * metrics.warping_error(as_float, warps, regions=holes[:-1]),
    }


def regrain_cpu_ms(gt: np.ndarray, holes: np.ndarray) -> float:
    """One-thread CPU milliseconds per frame of ``regrain_fill`` alone (robust on a loaded machine; the runs'
    wall times are not), on a blurred fill, each frame measured against its previous frame as the runner does."""
    cv2.setNumThreads(1)
    try:
        start = time.process_time()
        for t in range(1, len(gt)):
            fill = np.where(holes[t][..., None], cv2.GaussianBlur(gt[t], (0, 0), 3), gt[t])
            regrain_fill(gt[t], fill, holes[t], t, 0, gt[t - 1], holes[t - 1])
        return 1e3 * (time.process_time() - start) / max(len(gt) - 1, 1)
    finally:
        cv2.setNumThreads(-1)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE, help="folder with tennis/ and schoolgirls/")
    parser.add_argument("--frames", type=int, default=24, help="the first N frames of each clip")
    parser.add_argument("--clips", nargs="+", default=["schoolgirls"], choices=CLIPS)
    parser.add_argument("--kinds", nargs="+", default=list(MASK_KINDS), choices=MASK_KINDS)
    parser.add_argument("--seed", type=int, default=2022, help="the masks' seed (quality.py's default)")
    parser.add_argument(
        "--add-grain",
        type=float,
        default=0.0,
        metavar="LEVELS",
        help="first add fresh Gaussian grain of this deviation (8-bit levels, every frame and channel, seeded) to "
        "the clip, as a grainy film or high-ISO plate would have (it is then part of the ground truth too)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.footage.is_dir():
        print(f"grain benchmark: {args.footage} is absent; put the project's shared/ folder beside the checkout")
        return 2
    clips = {c: load_clip(args.footage, c, args.frames) for c in CLIPS}
    rows = []
    with tempfile.TemporaryDirectory(prefix="e2fgvi-grain-") as temp:
        work = Path(temp)
        for clip in args.clips:
            gt, _ = clips[clip]
            if args.add_grain:
                noise = np.random.default_rng(args.seed).standard_normal(gt.shape) * args.add_grain
                gt = np.clip(np.round(gt + noise), 0, 255).astype(np.uint8)
            other = clips[next(c for c in CLIPS if c != clip)][1]
            warps = metrics.ground_truth_warps(gt)
            for kind in args.kinds:
                seed = args.seed + 17 * CLIPS.index(clip) + MASK_KINDS.index(kind)  # quality.py's masks
                masks = (
                    static_masks(gt.shape[:3], seed) if kind == "static" else object_masks(other, gt.shape[:3], seed)
                )
                holes = dilate_masks(masks)
                case = work / f"{clip}_{kind}"
                for i in range(len(gt)):
                    write_png(case / "plate" / f"{i:05d}.png", gt[i])
                    write_png(case / "matte" / f"{i:05d}.png", (masks[i] * 255).astype(np.uint8))
                truth = hole_scores(gt, holes, gt, warps)
                seconds: dict[bool, float] = {}
                for regrain in (False, True):
                    out = case / ("regrain" if regrain else "plain")
                    out.mkdir()
                    seconds[regrain] = run_propagate(case / "plate", case / "matte", out, len(gt), regrain)
                    scores = hole_scores(gt, holes, read_results(out, len(gt)), warps)
                    name = "propagate --regrain" if regrain else "propagate"
                    rows.append((clip, kind, name, scores, len(gt) / seconds[regrain]))
                rows.append((clip, kind, "(ground truth)", truth, float("nan")))
                print(f"{clip} {kind}: regrain_fill {regrain_cpu_ms(gt, holes):.1f} ms/frame (one thread)", flush=True)
    print("\n| clip / masks | run | hole detail | hole PSNR | hole E_warp (x1e3) | frames/s |")
    print("|---|---|---|---|---|---|")
    for clip, kind, name, s, fps in rows:
        rate = "" if math.isnan(fps) else f"{fps:.1f}"
        print(f"| {clip} / {kind} | {name} | {s['detail']:.2f} | {s['psnr']:.2f} | {s['ewarp']:.3f} | {rate} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

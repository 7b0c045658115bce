"""Reference-frame walk-through on the schoolgirls shot (``make bench-reference``): the docs' before/after sheet.

Why: docs/engine.md and docs/hosts.md show an artist what one painted clean frame does where no frame of the shot
ever shows the background (people standing still). The sheet must come from a real run, so this drives the real
command line, files in and files out, the way an artist would:

1. the plate (the clip's frames) and a matte (the quality benchmark's seeded *static* blobs) are written as PNGs;
2. ``e2fgvi remove --engine propagate`` fills it: the "before";
3. the "painted" clean frame: the shot's middle frame with the hole painted clean. Here the paint is the ground
   truth (the footage has it), saved as a PNG without alpha: every pixel trusted;
4. ``e2fgvi remove --engine propagate --reference N=clean.png``: the "after".

Prints whole-frame and hole PSNR of both against the ground truth and writes ``docs/img/reference_schoolgirls.png``
(``quality.py``'s sheet: rows a few frames; columns the plate with its hole, the hole, without the reference, with
it, the ground truth).
Usage: ``python benchmarks/reference_walkthrough.py [--frames N] [--work DIR] [--sheet PATH]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2fgvi_core import metrics
from e2fgvi_core.mask_synthesis import static_masks
from e2fgvi_core.removal.prepare import dilate_hole
from e2fgvi_core.testing import SHARED_DIR

_spec = importlib.util.spec_from_file_location("quality", ROOT / "benchmarks" / "quality.py")
quality = importlib.util.module_from_spec(_spec)
sys.modules["quality"] = quality  # its dataclasses look their module up
_spec.loader.exec_module(quality)  # its clip loading, PNG writing and contact sheet: one copy of each

CLIP = "schoolgirls"
SEED = 2022
EXACT_FRAME_PSNR = quality.EXACT_FRAME_PSNR  # the reference frame itself comes out exact (infinite PSNR)


def remove(work: Path, out: str, count: int, extra: list[str]) -> float:
    """One real ``e2fgvi remove`` run (the ``e2fgvi`` installed beside this Python); returns seconds."""
    command = [
        str(Path(sys.executable).parent / "e2fgvi"), "remove",
        "--plate", str(work / "plate" / "%05d.png"),
        "--matte", str(work / "matte" / "%05d.png"),
        "--out", str(work / out / "%05d.png"),
        "--frames", f"0-{count - 1}",
        "--engine", "propagate",
        "--roi", "full",
        *extra,
    ]  # fmt: skip
    print("$ e2fgvi", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.perf_counter() - start


def scores(result: np.ndarray, truth: np.ndarray, holes: np.ndarray) -> tuple[float, float]:
    """Mean whole-frame PSNR (an exact frame counts as 60 dB) and pooled hole PSNR (8-bit, peak 255), as the quality benchmark scores them."""
    frames = [min(metrics.psnr(t, r, data_range=255.0), EXACT_FRAME_PSNR) for r, t in zip(result, truth, strict=True)]
    whole = float(np.mean(frames))
    error = (result.astype(np.float64) - truth.astype(np.float64))[holes]
    hole = 10 * np.log10(255.0**2 / max(float(np.mean(error**2)), 1e-12))
    return whole, hole


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=None, help="first N frames of the clip (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="keep the run's files here (default: a temp folder)")
    parser.add_argument("--sheet", type=Path, default=ROOT / "docs" / "img" / "reference_schoolgirls.png")
    args = parser.parse_args(argv)

    truth, _ = quality.load_clip(SHARED_DIR / "footage", CLIP, args.frames)
    count = len(truth)
    mattes = static_masks(truth.shape[:3], SEED)
    with tempfile.TemporaryDirectory(prefix="e2fgvi-reference-") as temp:
        work = args.work or Path(temp)
        for i in range(count):
            quality.write_png(work / "plate" / f"{i:05d}.png", truth[i])
            quality.write_png(work / "matte" / f"{i:05d}.png", (mattes[i] * 255).astype(np.uint8))
        middle = count // 2  # the "painted" frame, without alpha: trusted everywhere
        quality.write_png(work / "paint" / f"clean.{middle:05d}.png", truth[middle])

        before_s = remove(work, "before", count, [])
        after_s = remove(
            work, "after", count, ["--reference", f"{middle}={work / 'paint' / f'clean.{middle:05d}.png'}"]
        )
        before = quality.read_results(work / "before", count)
        after = quality.read_results(work / "after", count)

    holes = np.stack([dilate_hole(m) for m in mattes])
    for label, result, seconds in (("without reference", before, before_s), ("with reference", after, after_s)):
        whole, hole = scores(result, truth, holes)
        print(f"{label}: PSNR {whole:.2f} dB, hole PSNR {hole:.2f} dB, {count / seconds:.1f} frames/s")
    quality.contact_sheet(truth, holes, {"without reference": before, f"with reference ({middle})": after}, args.sheet)
    print(f"contact sheet: {args.sheet.relative_to(ROOT) if args.sheet.is_relative_to(ROOT) else args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

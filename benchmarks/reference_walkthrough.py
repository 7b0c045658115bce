"""Reference-frame walk-through on the schoolgirls shot (``make bench-reference``): the docs' before/after sheet.

Why: docs/engine.md and docs/hosts.md show an artist what one painted clean frame does where no frame of the shot
ever shows the background (people standing still). The sheet must come from a real run, so this drives the real
command line, files in and files out, the way an artist would:

1. the plate (the clip's frames) and a matte (the quality benchmark's seeded *static* blobs) are written as PNGs;
2. ``e2fgvi remove --engine propagate`` fills it: the "before";
3. the "painted" clean frame: the shot's middle frame with the hole painted clean. Here the paint is the ground
   truth (the footage has it), saved as an RGBA PNG whose alpha is 1 where the artist trusts the pixels;
4. ``e2fgvi remove --engine propagate --reference N=clean.png``: the "after".

Prints whole-frame and hole PSNR of both against the ground truth and writes ``docs/img/reference_schoolgirls.png``
(rows: a few frames; columns: the plate with its matte, without the reference, with it, the ground truth).
Usage: ``python benchmarks/reference_walkthrough.py [--frames N] [--work DIR] [--sheet PATH]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2fgvi_core import metrics
from e2fgvi_core.mask_synthesis import static_masks
from e2fgvi_core.removal.prepare import dilate_hole
from e2fgvi_core.testing import SHARED_DIR

CLIP = "schoolgirls"
SEED = 2022
SHEET_SCALE = 0.5
EXACT_FRAME_PSNR = (
    60.0  # the reference frame itself comes out exact (infinite PSNR); it counts as this, as in quality.py
)


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"reference walk-through: cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels.ndim == 3:
        order = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        pixels = cv2.cvtColor(pixels, order)
    if not cv2.imwrite(str(path), pixels):
        raise SystemExit(f"reference walk-through: cannot write {path}")


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


def sheet(plate: np.ndarray, holes: np.ndarray, columns: dict[str, np.ndarray], path: Path) -> None:
    picks = sorted({len(plate) // 5, len(plate) // 2, (4 * len(plate)) // 5})
    names = ["plate + matte", *columns]
    rows = []
    for i in picks:
        shown = plate[i].copy()
        shown[holes[i]] = (0.5 * shown[holes[i]] + 0.5 * np.array([0, 200, 0])).astype(np.uint8)
        tiles = [shown] + [c[i] for c in columns.values()]
        small = [cv2.resize(t, None, fx=SHEET_SCALE, fy=SHEET_SCALE, interpolation=cv2.INTER_AREA) for t in tiles]
        rows.append(
            np.concatenate(
                [cv2.copyMakeBorder(s, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for s in small], 1
            )
        )
    header = np.full((22, rows[0].shape[1], 3), 255, np.uint8)
    width = rows[0].shape[1] // len(names)
    for k, name in enumerate(names):
        cv2.putText(header, name, (k * width + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(path, np.concatenate([header, *rows], axis=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=None, help="first N frames of the clip (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="keep the run's files here (default: a temp folder)")
    parser.add_argument("--sheet", type=Path, default=ROOT / "docs" / "img" / "reference_schoolgirls.png")
    args = parser.parse_args(argv)

    names = sorted((SHARED_DIR / "footage" / CLIP / "frames").glob("*.png"))[: args.frames or None]
    if not names:
        raise SystemExit(f"reference walk-through: no frames in {SHARED_DIR / 'footage' / CLIP}")
    truth = np.stack([read_rgb(p) for p in names])
    count = len(truth)
    mattes = static_masks(truth.shape[:3], SEED)
    with tempfile.TemporaryDirectory(prefix="e2fgvi-reference-") as temp:
        work = args.work or Path(temp)
        for i in range(count):
            write_image(work / "plate" / f"{i:05d}.png", truth[i])
            write_image(work / "matte" / f"{i:05d}.png", (mattes[i] * 255).astype(np.uint8))
        middle = count // 2
        clean = np.concatenate([truth[middle], np.full(truth.shape[1:3] + (1,), 255, np.uint8)], axis=2)
        write_image(work / "paint" / f"clean.{middle:05d}.png", clean)

        before_s = remove(work, "before", count, [])
        after_s = remove(
            work, "after", count, ["--reference", f"{middle}={work / 'paint' / f'clean.{middle:05d}.png'}"]
        )
        before = np.stack([read_rgb(work / "before" / f"{i:05d}.png") for i in range(count)])
        after = np.stack([read_rgb(work / "after" / f"{i:05d}.png") for i in range(count)])

    holes = np.stack([dilate_hole(m) for m in mattes])
    for label, result, seconds in (("without reference", before, before_s), ("with reference", after, after_s)):
        whole, hole = scores(result, truth, holes)
        print(f"{label}: PSNR {whole:.2f} dB, hole PSNR {hole:.2f} dB, {count / seconds:.1f} frames/s")
    columns = {"without reference": before, f"with reference (frame {middle})": after, "ground truth": truth}
    sheet(truth, holes, columns, args.sheet)
    print(f"contact sheet: {args.sheet.relative_to(ROOT) if args.sheet.is_relative_to(ROOT) else args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

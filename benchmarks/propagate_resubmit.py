"""Re-submit timing of ``propagate`` with a shared ShotCache (what the server holds): tennis at 432x240.

Usage: ``python benchmarks/propagate_resubmit.py WORK [--frames N] [--masks people|player] [--profile]``. Runs, in one
process with one shared cache: the first run, an identical re-run, a re-run with the mattes of frames 10-12 changed
(an 8x8 patch added in a corner) and an uncached run after the change (a fresh cache). Prints wall and CPU seconds
of each, frames/s of the first run, the cache's hits and misses per kind for the tweak run, how many output frames
the tweak changed and by how much far from the change, and whether cached outputs equal uncached ones bit for bit.
"""

import argparse
import cProfile
import importlib.util
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
spec = importlib.util.spec_from_file_location("q", str(ROOT / "benchmarks" / "quality.py"))
q = importlib.util.module_from_spec(spec)
sys.modules["q"] = q
spec.loader.exec_module(q)
from e2fgvi_core.io import Frame, write_frame, writer
from e2fgvi_core.mask_synthesis import object_masks
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.propagate.flow import FlowEstimator
from e2fgvi_core.removal.api import RemovalRequest, run_removal
from e2fgvi_core.removal.cache import ShotCache

CHANGED = (10, 11, 12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument(
        "--masks",
        choices=("people", "player"),
        default="people",
        help="people: schoolgirls' people as static-ish mattes (some background never revealed); player: tennis's "
        "own moving player (revealed within a few frames)",
    )
    parser.add_argument("--profile", action="store_true", help="print where the re-runs spend their time")
    args = parser.parse_args()
    work, n = args.work, args.frames
    gt, masks = q.load_clip(q.DEFAULT_FOOTAGE, "tennis", n)
    if args.masks == "people":
        _, other = q.load_clip(q.DEFAULT_FOOTAGE, "schoolgirls", n)
        masks = object_masks(other, gt.shape[:3], 2022)
    for i in range(n):
        q.write_png(work / "plate" / f"{i:05d}.png", gt[i])
        q.write_png(work / "matte" / f"{i:05d}.png", (masks[i] * 255).astype(np.uint8))
    caches = {"shared": ShotCache()}

    def run(tag: str, cache: ShotCache) -> tuple[float, float, dict]:
        request = RemovalRequest.from_mapping(
            {
                "plate": str(work / "plate/%05d.png"),
                "matte": str(work / "matte/%05d.png"),
                "out": str(work / tag / "%05d.png"),
                "frames": f"0-{n - 1}",
                "engine": "propagate",
                "roi": "full",
            }
        )
        before = cache.stats()
        profile = cProfile.Profile() if args.profile and tag in ("b", "c") else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        run_removal(request, cache=cache)
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profile is not None:
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(8)
            print(
                f"--- {'identical re-run' if tag == 'b' else '3 mattes changed'}: most time by function\n{text.getvalue()}"
            )
        return wall, cpu, cache.stats().since(before).to_mapping()

    first = run("a", caches["shared"])
    identical = run("b", caches["shared"])
    for i in CHANGED:
        matte = masks[i].copy()
        matte[:8, :8] = True
        q.write_png(work / "matte" / f"{i:05d}.png", (matte * 255).astype(np.uint8))
    tweak = run("c", caches["shared"])
    uncached = run("d", ShotCache())

    def same(x: str, y: str) -> bool:
        return all(
            np.array_equal(q.read_rgb(work / x / f"{i:05d}.png"), q.read_rgb(work / y / f"{i:05d}.png"))
            for i in range(n)
        )

    # How much the matte change moved each output frame: pixels changed and the largest change in 8-bit levels.
    moved = [
        np.abs(q.read_rgb(work / "a" / f"{i:05d}.png").astype(int) - q.read_rgb(work / "c" / f"{i:05d}.png")).max(-1)
        for i in range(n)
    ]
    changed = sum(bool(m.any()) for m in moved)
    far = [i for i in range(n) if min(abs(i - k) for k in CHANGED) > 5]
    line = ", ".join(
        f"{name} {wall:.2f} s wall / {cpu:.2f} s CPU ({first[0] / wall:.1f}x)"
        for name, (wall, cpu, _) in (("first", first), ("identical", identical), ("3 mattes changed", tweak))
    )
    print(f"{n} frames 432x240, {args.masks} mattes: {line}")
    print(f"uncached after the change {uncached[0]:.2f} s wall / {uncached[1]:.2f} s CPU")
    print(f"first run {n / first[0]:.2f} frames/s; output frames the matte change changed: {changed} of {n}")
    print(
        f"frames more than 5 from the change ({len(far)}): at most {max(int((moved[i] > 0).sum()) for i in far)} "
        f"pixels changed in one, by at most {max(int(moved[i].max()) for i in far)} levels of 255"
    )
    stats = tweak[2]
    print(f"tweak run cache hits {stats['hits_by_kind']}, misses {stats['misses_by_kind']}")
    print(f"identical outputs: identical re-run {same('a', 'b')}, tweak vs uncached {same('c', 'd')}")
    png_write_cost(gt[0], work / "png")
    # Why the tweak changes every frame within reach: a pair's flow (DIS, coarse to fine) and camera motion (one
    # homography fitted to the whole frame) change almost everywhere when its matte changes anywhere.
    frames = gt.astype(np.float32) / np.float32(255)
    k = CHANGED[0]
    before = FlowEstimator(PropagateConfig()).pair_flows(frames[k], masks[k], frames[k + 1], masks[k + 1])
    tweaked = [masks[i].copy() for i in (k, k + 1)]
    for matte in tweaked:
        matte[:8, :8] = True
    after = FlowEstimator(PropagateConfig()).pair_flows(frames[k], tweaked[0], frames[k + 1], tweaked[1])
    moved = int((before[0] != after[0]).any(axis=-1).sum())
    same_motion = before[2].homography is not None and np.array_equal(before[2].homography, after[2].homography)
    print(
        f"pair {k}-{k + 1} after the 8x8 matte change: flow changed at {moved} of {masks[k].size} pixels, "
        f"homography {'unchanged' if same_motion else 'changed'}"
    )


def png_write_cost(rgb: np.ndarray, folder: Path, repeats: int = 20) -> None:
    """CPU ms to write one frame as PNG at the project's zlib level (``io.writer.PNG_COMPRESSION_LEVEL``) and at
    OpenImageIO's default 6, and the file sizes: why an identical re-submit is no longer mostly PNG writing."""
    frame = Frame.from_array(rgb)
    kept = writer.PNG_COMPRESSION_LEVEL
    costs = {}
    try:
        for level in (kept, 6):
            writer.PNG_COMPRESSION_LEVEL = level
            path = folder / f"level{level}.png"
            start = time.process_time()
            for _ in range(repeats):
                write_frame(path, frame)
            costs[level] = (1e3 * (time.process_time() - start) / repeats, path.stat().st_size)
    finally:
        writer.PNG_COMPRESSION_LEVEL = kept
    (ms, size), (ms6, size6) = costs[kept], costs[6]
    print(
        f"PNG write of one {rgb.shape[1]}x{rgb.shape[0]} frame: level {kept} {ms:.1f} ms CPU, {size} bytes; "
        f"level 6 {ms6:.1f} ms CPU, {size6} bytes ({100 * (size / size6 - 1):+.1f}% size)"
    )


if __name__ == "__main__":
    main()

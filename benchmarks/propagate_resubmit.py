"""Re-submit timing of ``propagate`` with a shared ShotCache (what the server holds): 30 frames of tennis, 432x240.

Usage: ``python benchmarks/propagate_resubmit.py WORK_FOLDER``. Prints the first run, an identical re-run, a re-run
with 3 of 30 mattes changed and an uncached run after the change, and whether cached outputs equal uncached ones.
"""

import importlib.util
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
from e2fgvi_core.mask_synthesis import object_masks
from e2fgvi_core.removal.api import RemovalRequest, run_removal
from e2fgvi_core.removal.cache import ShotCache

work = Path(sys.argv[1])
n = 30
gt, _ = q.load_clip(q.DEFAULT_FOOTAGE, "tennis", n)
_, other = q.load_clip(q.DEFAULT_FOOTAGE, "schoolgirls", n)
masks = object_masks(other, gt.shape[:3], 2022)
for i in range(n):
    q.write_png(work / "plate" / f"{i:05d}.png", gt[i])
    q.write_png(work / "matte" / f"{i:05d}.png", (masks[i] * 255).astype(np.uint8))
cache = ShotCache()


def run(tag):
    r = RemovalRequest.from_mapping(
        {
            "plate": str(work / "plate/%05d.png"),
            "matte": str(work / "matte/%05d.png"),
            "out": str(work / tag / "%05d.png"),
            "frames": f"0-{n - 1}",
            "engine": "propagate",
            "roi": "full",
        }
    )
    t = time.perf_counter()
    run_removal(r, cache=cache)
    return time.perf_counter() - t


a = run("a")
b = run("b")
for i in (10, 11, 12):
    m = masks[i].copy()
    m[:8, :8] = True
    q.write_png(work / "matte" / f"{i:05d}.png", (m * 255).astype(np.uint8))
c = run("c")
cache2 = cache
cache = ShotCache()
d = run("d")
same_b = all(
    np.array_equal(q.read_rgb(work / "a" / f"{i:05d}.png"), q.read_rgb(work / "b" / f"{i:05d}.png")) for i in range(n)
)
same_c = all(
    np.array_equal(q.read_rgb(work / "c" / f"{i:05d}.png"), q.read_rgb(work / "d" / f"{i:05d}.png")) for i in range(n)
)
print(
    f"first {a:.2f} s, identical {b:.2f} s ({a / b:.1f}x), 3 of 30 mattes changed {c:.2f} s ({a / c:.1f}x), uncached after change {d:.2f} s; identical outputs: {same_b} {same_c}"
)

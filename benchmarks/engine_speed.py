"""Seconds per frame of the shot engine at 432x240: the official per-window forward vs our staged engine, cold and
with a warm cache (the re-run after a matte tweak elsewhere in the shot).

    .venv/bin/python benchmarks/engine_speed.py --frames 20 [--device cpu|cuda] [--threads 2] [--skip-official]

Weights are deterministic (``../shared/parity/fill_weights.py`` when present, else the default initialisation):
values do not change the cost. ``official`` runs ``model(masked, num_local)`` once per window exactly as
``test.py`` (every frame re-encoded in every window, flows recomputed, references decoded); ``cold`` is
``run_removal`` with an empty cache; ``warm`` runs the same shot again with the same cache; ``one matte tweaked``
changes the matte of one frame that is not a reference and runs again; ``no cache`` gives the cache a zero budget.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _shot(length: int, height: int, width: int):
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, size=(height // 4, (width + 4 * length) // 4, 3), dtype=np.uint8)
    texture = np.kron(wide, np.ones((4, 4, 1), np.uint8))
    frames = np.stack([texture[:height, 4 * t : 4 * t + width] for t in range(length)])
    mattes = np.zeros((length, height, width), np.uint8)
    for t in range(length):
        mattes[t, 80:150, 100 + 6 * t : 170 + 6 * t] = 255
    return frames, mattes


def _weights(device: str) -> Path:
    import torch

    from e2fgvi_core.models import build_generator

    model = build_generator("e2fgvi_hq")
    fill = ROOT.parent / "shared" / "parity" / "fill_weights.py"
    if fill.exists():
        spec = importlib.util.spec_from_file_location("fill_weights", fill)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.fill_weights(model, 1)
    path = Path(tempfile.mkdtemp()) / "bench_e2fgvi_hq.pth"
    torch.save(model.state_dict(), path)
    return path


def _official(frames, mattes, weights: Path, device: str) -> float:
    """test.py's loop: one full forward per window (no cache), composite omitted (negligible)."""
    import torch

    from e2fgvi_core.removal.config import EngineConfig
    from e2fgvi_core.removal.plan import plan_shot
    from e2fgvi_core.removal.prepare import dilate_hole
    from e2fgvi_core.weights import load_generator

    model, _ = load_generator(str(weights), "e2fgvi_hq", torch.device(device))
    imgs = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255) * 2 - 1
    holes = torch.from_numpy(np.stack([dilate_hole(m > 0) for m in mattes])).float()[:, None]
    start = time.perf_counter()
    with torch.inference_mode():
        for window in plan_shot(len(frames), EngineConfig()).windows:
            ids = list(window.inputs)
            masked = (imgs[ids] * (1 - holes[ids]))[None].to(device)
            pred, _ = model(masked, len(window.local))
            pred.cpu()
    return time.perf_counter() - start


def _engine(frames, mattes, weights: Path, device: str, cache) -> tuple[float, object]:
    from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal

    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(weights), "device": device, "roi": "full"}
    )
    start = time.perf_counter()
    summary = run_removal(
        request,
        cache=cache,
        source=MemorySource(dict(enumerate(frames))),
        matte_source=MemorySource(dict(enumerate(mattes)), "matte"),
        sink=MemorySink(),
    )
    return time.perf_counter() - start, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", default="432x240")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--skip-official", action="store_true")
    args = parser.parse_args()
    import torch

    from e2fgvi_core.removal.cache import ShotCache
    from e2fgvi_core.removal.config import CacheConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    frames, mattes = _shot(args.frames, height, width)
    weights = _weights(args.device)
    print(f"shot: {args.frames} frames {width}x{height}, device {args.device}, torch threads {torch.get_num_threads()}")
    # warm-up: one small run so kernel selection does not count against the first measurement
    _engine(frames[:6], mattes[:6], weights, args.device, ShotCache())
    if not args.skip_official:
        seconds = _official(frames, mattes, weights, args.device)
        print(f"official per-window forward : {seconds:8.2f} s  {seconds / args.frames:6.3f} s/frame")
    cache = ShotCache()
    seconds, summary = _engine(frames, mattes, weights, args.device, cache)
    print(
        f"engine, cold cache          : {seconds:8.2f} s  {seconds / args.frames:6.3f} s/frame  "
        f"(features {summary.cache_stats.misses_by_kind['features']}, flows {summary.cache_stats.misses_by_kind['flows']} computed)"
    )
    before = summary.cache_stats
    seconds, summary = _engine(frames, mattes, weights, args.device, cache)
    print(
        f"engine, warm cache (re-run) : {seconds:8.2f} s  {seconds / args.frames:6.3f} s/frame  "
        f"(cache hits {summary.cache_stats.hits - before.hits}, {summary.cache_stats.bytes / 2**20:.1f} MiB held)"
    )
    tweaked = mattes.copy()
    tweak = args.frames // 2 + 2  # not a reference frame (those are read by every window)
    tweaked[tweak, 20:40, 20:60] = 255  # an artist adds a patch to the matte of one frame
    before = summary.cache_stats
    seconds, summary = _engine(frames, tweaked, weights, args.device, cache)
    rerun = {k: summary.cache_stats.misses_by_kind[k] - before.misses_by_kind[k] for k in before.misses_by_kind}
    print(f"engine, one matte tweaked   : {seconds:8.2f} s  {seconds / args.frames:6.3f} s/frame  (recomputed {rerun})")
    seconds, summary = _engine(frames, mattes, weights, args.device, ShotCache(CacheConfig(budget_bytes=0)))
    print(
        f"engine, no cache at all     : {seconds:8.2f} s  {seconds / args.frames:6.3f} s/frame  (every stage in every window)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

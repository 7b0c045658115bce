"""Peak resident memory of one removal, 40 vs 200 frames of the same size: streaming means no growth with length.

    .venv/bin/python benchmarks/engine_memory.py [--size 640x360] [--engine propagate|e2fgvi_hq] [--num-ref 2]

Writes a PNG plate + matte sequence to a temporary folder, then runs each length in its own process through
``run_removal`` (files in, files out) and reports that process's peak RSS (``ru_maxrss``). For ``e2fgvi_hq`` the
weights are deterministic (``../shared/parity/fill_weights.py``), ``--roi auto`` crops each window to its mattes,
and ``--num-ref`` should be fixed: with ``-1`` the official protocol reads T/ref_step references per window. The
cache (features, flows, window predictions) grows up to its budget (``--cache-bytes``, default 1 GiB): give a
small budget to see the streaming bound alone; each line also gives the cache's bytes at the end of the run, the
part of the growth that is the cache filling up to its budget. ``E2FGVI_MALLOC_TRIM=0`` turns off the runner's
per-window ``malloc_trim`` (``e2fgvi_core/removal/memory.py``) to measure what it saves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CHILD = """
import json, resource, sys
from e2fgvi_core.removal.api import RemovalRequest, run_removal
summary = run_removal(RemovalRequest.from_mapping(json.loads(sys.argv[1])))
print(json.dumps({"frames": len(summary.frames), "seconds": summary.seconds, "cache_bytes": summary.cache_stats.bytes,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def write_shot(folder: Path, length: int, width: int, height: int) -> None:
    from e2fgvi_core.io import Frame, write_frame

    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, size=(height // 8 + 1, (width + 2 * length) // 8 + 1, 3), dtype=np.uint8)
    texture = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    for t in range(length):
        frame = np.ascontiguousarray(texture[:height, 2 * t : 2 * t + width])
        matte = np.zeros((height, width), dtype=np.uint8)
        x = 40 + 2 * t
        matte[height // 2 - 15 : height // 2 + 15, x : x + 30] = 255
        write_frame(folder / f"plate.{t + 1:04d}.png", Frame.from_array(frame))
        write_frame(folder / f"matte.{t + 1:04d}.png", Frame.from_array(matte))


def peak(folder: Path, frames: str, extra: dict, cache_bytes: str | None = None) -> dict:
    request = {
        "plate": str(folder / "plate.%04d.png"),
        "matte": str(folder / "matte.%04d.png"),
        "out": str(folder / f"out{frames}" / "clean.%04d.png"),
        "frames": frames,
        **extra,
    }
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if cache_bytes:
        env["E2FGVI_CACHE_BYTES"] = cache_bytes
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(request)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--engine", default="propagate", choices=("propagate", "e2fgvi_hq"))
    parser.add_argument("--num-ref", type=int, default=2)
    parser.add_argument("--lengths", default="40,200")
    parser.add_argument("--roi-margin", type=int, default=48, help="context margin of --roi auto crops (48)")
    parser.add_argument("--cache-bytes", help="cache budget of each run ($E2FGVI_CACHE_BYTES, e.g. 64M; default 1G)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    lengths = [int(v) for v in args.lengths.split(",")]
    extra: dict = {"engine": args.engine, "num_ref": args.num_ref}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.engine == "e2fgvi_hq":
            import importlib.util

            import torch

            from e2fgvi_core.models import build_generator

            model = build_generator("e2fgvi_hq")
            fill = ROOT.parent / "shared" / "parity" / "fill_weights.py"
            spec = importlib.util.spec_from_file_location("fill_weights", fill)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.fill_weights(model, 1)
            torch.save(model.state_dict(), folder / "w.pth")
            extra.update(weights=str(folder / "w.pth"), device="cpu", roi="auto", roi_margin=args.roi_margin)
        write_shot(folder, max(lengths), width, height)
        frame_mb = width * height * 3 / 2**20
        print(
            f"{args.engine}, {width}x{height} ({frame_mb:.2f} MiB per RGB frame), num_ref {args.num_ref}, "
            f"cache budget {args.cache_bytes or 'default'}"
        )
        for length in lengths:
            result = peak(folder, f"1-{length}", extra, args.cache_bytes)
            print(
                f"{length:5d} frames: peak RSS {result['maxrss_kb'] / 1024:8.1f} MiB, {result['seconds']:.1f} s, "
                f"cache {result['cache_bytes'] / 2**20:.1f} MiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

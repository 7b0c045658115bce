"""Peak resident memory of removals against shot length and frame size, each case in its own process.

Why a process per case: ``ru_maxrss`` is a process's high-water mark, so cases run in one process would hide each
other. Each child builds E2FGVI-HQ with deterministic weights (``../shared/parity/fill_weights.py``, seed 1),
records its RSS once the model is loaded (``model RSS``), runs ``run_removal`` on a synthetic shot generated on the
fly (a panning texture with a small moving object; frames are produced when read and dropped when written, so the
shot itself costs nothing) and reports its peak RSS, the seconds per frame and, for the model, the engine's
estimate of the largest window (``InpaintGenerator.estimate_window_bytes``).

Cases (``--cases``, comma-separated):

* ``length``: 40, 100 and 200 frames at 432x240, ``--roi auto``, ``--num-ref 2`` (a fixed window: with ``-1``
  the official protocol reads T/10 references per window), cache budget 64 MiB: memory must not grow with length;
* ``window``: the first 11 frames of a 432x240 shot with ``--roi full`` (windows of up to 11 frames): the working
  set of one standard window;
* ``forward20``: one generator forward of (1, 20, 3, 240, 432) with 11 local frames, fast path and reference path
  (the shape the issue's 4.7 GiB was measured on);
* ``resolution``: ``--frames-large`` frames (default 3, one window) at 1280x720 and 1920x1080 full frame, and at
  1920x1080 with a small object and ``--roi auto`` (also the seconds-per-frame comparison of ROI vs full frame).

    .venv/bin/python benchmarks/memory.py                       # every case
    .venv/bin/python benchmarks/memory.py --cases length,window --json /tmp/memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("length", "window", "forward20", "resolution")

_CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch

from e2fgvi_core.testing import load_fill_weights, write_filled_checkpoint

spec = json.loads(sys.argv[1])


def rss_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


if spec["kind"] == "forward":
    from e2fgvi_core.models import build_generator

    model = build_generator("e2fgvi_hq", attention_impl=spec["attention"]).eval()
    load_fill_weights()(model, 1)
    torch.manual_seed(0)
    frames = torch.rand(1, 20, 3, 240, 432) * 2 - 1
    model_rss = rss_bytes()
    start = time.perf_counter()
    with torch.inference_mode():
        model(frames, 11)
    seconds, estimate, count = time.perf_counter() - start, model.estimate_window_bytes(20, 11, 240, 432), 20
else:
    from e2fgvi_core.io.frame import Frame
    from e2fgvi_core.removal.api import RemovalRequest, run_removal
    from e2fgvi_core.removal.engines import load_model

    width, height, count, box = spec["width"], spec["height"], spec["frames"], spec["box"]
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, size=(height // 8 + 1, (width + 2 * count) // 8 + 2, 3), dtype=np.uint8)
    texture = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))

    class ShotSource:
        # Frames made when read: the shot's length costs no memory of its own.
        def __init__(self, matte):
            self.matte = matte

        def frame_numbers(self):
            return tuple(range(count))

        def describe(self, frame):
            return f"synthetic frame {frame}"

        def read(self, frame):
            if not self.matte:
                return Frame.from_array(np.ascontiguousarray(texture[:height, 2 * frame : 2 * frame + width]))
            matte = np.zeros((height, width), np.uint8)
            if box is None:
                matte[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
            else:
                x = width // 4 + 2 * frame
                matte[height // 2 - box // 2 : height // 2 + box // 2, x : x + box] = 255
            return Frame.from_array(matte)

    class DropSink:
        frames = 0

        def check(self):
            pass

        def write(self, frame, result, provenance):
            DropSink.frames += 1

    weights = str(write_filled_checkpoint(spec["weights"], seed=1))
    model, _ = load_model(weights, "e2fgvi_hq", torch.device("cpu"))
    model_rss = rss_bytes()
    request = RemovalRequest.from_mapping({"engine": "e2fgvi_hq", "weights": weights, "device": "cpu", **spec["request"]})
    summary = run_removal(request, source=ShotSource(False), matte_source=ShotSource(True), sink=DropSink())
    seconds = summary.seconds
    from e2fgvi_core.removal.engine_registry import ENGINES
    from e2fgvi_core.removal.plan import plan_shot

    largest = max(plan_shot(count, request.config).windows, key=lambda window: len(window.inputs))
    multiple_h, multiple_w = ENGINES["e2fgvi_hq"].pad_multiple_hw  # what the engine pads whole frames to
    pad_h, pad_w = -(-height // multiple_h) * multiple_h, -(-width // multiple_w) * multiple_w
    estimate = model.estimate_window_bytes(len(largest.inputs), len(largest.local), pad_h, pad_w)
print(json.dumps({"seconds": seconds, "frames": count, "model_rss": model_rss, "estimate": estimate,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run_child(spec: dict, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"memory benchmark: case {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cases(names: list[str], weights: str, frames_large: int) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    small_object = {"roi": "auto", "num_ref": 2, "roi_margin": 8}
    if "length" in names:
        for length in (40, 100, 200):
            out.append(
                (
                    f"432x240, {length} frames, roi auto, num_ref 2, cache 64M",
                    {
                        "width": 432,
                        "height": 240,
                        "frames": length,
                        "box": 30,
                        "request": small_object,
                        "cache_bytes": "64M",
                    },
                )
            )
    if "window" in names:
        out.append(
            (
                "432x240, 11 frames, roi full (windows of <= 11 frames)",
                {"width": 432, "height": 240, "frames": 11, "box": None, "request": {"roi": "full"}},
            )
        )
    if "forward20" in names:
        for attention in ("fused", "reference"):
            out.append(
                (
                    f"forward (1, 20, 3, 240, 432), 11 local, {attention} path",
                    {"kind": "forward", "attention": attention},
                )
            )
    if "resolution" in names:  # the ROI case first: cheap, and the full-frame cases it is compared with follow
        out.append(
            (
                f"1920x1080, {frames_large} frames, 60 px object, roi auto",
                {
                    "width": 1920,
                    "height": 1080,
                    "frames": frames_large,
                    "box": 60,
                    "request": {"roi": "auto", "roi_margin": 48},
                },
            )
        )
        for width, height in ((1920, 1080), (1280, 720)):
            out.append(
                (
                    f"{width}x{height}, {frames_large} frames, matte over half the frame, roi full",
                    {
                        "width": width,
                        "height": height,
                        "frames": frames_large,
                        "box": None,
                        "request": {"roi": "full"},
                    },
                )
            )
    for _, spec in out:
        spec.setdefault("kind", "removal")
        spec["weights"] = weights
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--frames-large", type=int, default=3, help="frames of the 720p/1080p shots (3)")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of the children (0: default)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        raise SystemExit(f"memory benchmark: unknown case {unknown[0]!r}; cases: {', '.join(CASES)}")
    import tempfile

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec in cases(names, str(Path(tmp) / "w.pth"), args.frames_large):
            cache = spec.pop("cache_bytes", None)
            if cache:
                os.environ["E2FGVI_CACHE_BYTES"] = cache
            else:
                os.environ.pop("E2FGVI_CACHE_BYTES", None)
            result = run_child(spec, args.threads)
            result["case"] = label
            results.append(result)
            print(
                f"{label:62s} peak RSS {result['peak_rss'] / 2**30:6.2f} GiB (model loaded: "
                f"{result['model_rss'] / 2**30:.2f} GiB, window estimate {result['estimate'] / 2**30:.2f} GiB), "
                f"{result['seconds'] / result['frames']:7.2f} s/frame",
                flush=True,
            )
    print(
        f"\nbenchmarks/memory.py {' '.join(argv if argv is not None else sys.argv[1:])}; load average "
        f"{os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} CPUs"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

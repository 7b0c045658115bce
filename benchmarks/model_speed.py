"""Time one E2FGVI-HQ generator forward on CPU, whole and per stage.

The shape is one window of the official test protocol at the standard size: (1, 20, 3, 240, 432) with 11 local
frames (the ~40 s reference cost of the official code is in ../shared/parity/README.md). Weights are random (speed
does not depend on them). Run from the project root:

    .venv/bin/python benchmarks/model_speed.py                      # 2 threads, fused attention
    .venv/bin/python benchmarks/model_speed.py --compare-attention  # also time block 0 with both attentions
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2fgvi_core.models import build_generator
from e2fgvi_core.models.deform_conv import resolve_backend


def _timed(results: dict, name: str, fn):
    start = time.perf_counter()
    value = fn()
    results[name] = time.perf_counter() - start
    return value


def run_stages(model, frames: torch.Tensor, num_local: int) -> dict[str, float]:
    """Per-stage seconds of one forward, running the stages the way ``forward`` composes them."""
    b, t, c, h, w = frames.shape
    times: dict[str, float] = {}
    flows = _timed(times, "flows (SPyNet)", lambda: model.complete_flows(frames[:, :num_local]))
    enc = _timed(times, "encoder", lambda: model.encode(frames.reshape(b * t, c, h, w)))
    enc = enc.view(b, t, *enc.shape[1:])
    local = _timed(times, "propagation", lambda: model.propagate(enc[:, :num_local], *flows))
    feat = torch.cat([local, enc[:, num_local:]], dim=1)
    size = tuple(feat.shape[-2:])
    tokens = _timed(times, "soft split", lambda: model.split_tokens(feat))
    tokens = _timed(times, "transformer", lambda: model.transform_tokens(tokens, size))
    comp = _timed(times, "soft composition", lambda: model.compose_tokens(tokens, size))
    feat = feat + comp.view(feat.shape)
    _timed(times, "decoder", lambda: model.decode(feat.view(b * t, *feat.shape[2:])))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--local", type=int, default=11)
    parser.add_argument("--size", type=int, nargs=2, default=(240, 432), metavar=("H", "W"))
    parser.add_argument("--attention", choices=("fused", "reference"), default="fused")
    parser.add_argument("--compare-attention", action="store_true", help="time transformer block 0 with both")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_generator("e2fgvi_hq", attention_impl=args.attention).eval()
    frames = torch.rand(1, args.frames, 3, *args.size) * 2 - 1
    report: dict[str, object] = {
        "shape": [1, args.frames, 3, *args.size],
        "local_frames": args.local,
        "threads": args.threads,
        "attention": args.attention,
        "deform_backend": resolve_backend("cpu"),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
    }
    with torch.inference_mode():
        start = time.perf_counter()
        model(frames, args.local)
        report["forward_s"] = time.perf_counter() - start
        report["stages_s"] = run_stages(model, frames, args.local)
        if args.compare_attention:
            feat = model.encode(frames[0]).unsqueeze(0)
            tokens = model.split_tokens(feat)
            size = tuple(feat.shape[-2:])
            block = model.transformer[0]
            for impl in ("fused", "reference"):
                block.attn.impl = impl
                start = time.perf_counter()
                block(tokens, size)
                report[f"block0_{impl}_s"] = time.perf_counter() - start
            block.attn.impl = args.attention
    report["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    print(
        f"E2FGVI-HQ forward {report['shape']} local={args.local} threads={args.threads} "
        f"attention={args.attention} dcn={report['deform_backend']} torch={torch.__version__}"
    )
    print(f"  whole forward      {report['forward_s']:7.2f} s")
    for name, seconds in report["stages_s"].items():
        print(f"  {name:18s} {seconds:7.2f} s")
    if args.compare_attention:
        print(f"  block 0 fused      {report['block0_fused_s']:7.2f} s")
        print(f"  block 0 reference  {report['block0_reference_s']:7.2f} s")
    print(f"  peak RSS           {report['peak_rss_gib']:7.2f} GiB")
    print(
        f"  (machine: {report['cpu_count']} CPUs, 1-min load average {report['load_average_before']:.1f} before the "
        "run: other processes on the same cores slow OpenMP down a lot)"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

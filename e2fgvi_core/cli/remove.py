"""``e2fgvi remove``: clean frames out of a plate and a matte, with a progress bar and a one-line summary.

Every flag maps onto ``RemovalRequest``/``EngineConfig`` (the same dataclasses the server and the farm fill), so
a value the CLI accepts is one the server accepts. ``--server ADDRESS`` sends the request to a running
``e2fgvi-server`` instead of running it here.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from e2fgvi_core.removal.api import ENGINES, Progress, RemovalRequest, run_removal
from e2fgvi_core.removal.config import BLEND_MODES, PRECISIONS, ROI_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plate", required=True, help="plate pattern: plate.%%04d.exr, plate.####.exr, plate.@@@@.exr")
    parser.add_argument("--matte", help="matte pattern (default: the --matte-channel of the plate, alpha)")
    parser.add_argument("--out", required=True, help="output pattern; files are written atomically")
    parser.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: every frame on disk)")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto: E2FGVI-HQ when a checkpoint is installed, else the weight-free propagate engine",
    )
    parser.add_argument("--weights", help="checkpoint file or installed name (see `e2fgvi weights list`)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--roi", choices=ROI_MODES, help="auto (default): crop each window to its mattes; full: whole frames"
    )
    parser.add_argument("--roi-margin", type=int, help="context margin around the mattes for --roi auto, pixels (48)")
    parser.add_argument("--proxy", type=float, help="process at this scale (e.g. 0.5) and upsample the fill (1.0)")
    parser.add_argument("--neighbor-stride", type=int, help="local window stride, as the official script (5)")
    parser.add_argument("--ref-step", type=int, help="a reference frame every N frames (10)")
    parser.add_argument("--num-ref", type=int, help="-1: all references of the shot (default); N: the nearest N")
    parser.add_argument("--blend", choices=BLEND_MODES, help="official running 0.5 blend (default) or mean")
    parser.add_argument("--matte-channel", help="channel of the matte (or of the plate without --matte)")
    parser.add_argument("--colorspace", help="OpenColorIO colourspace of float plates (default: linear sRGB curve)")
    parser.add_argument(
        "--nan-policy",
        choices=("zero", "error"),
        help="NaN/Inf in the plate: read as 0 with a warning (default) or refuse the frame",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="model arithmetic: auto (default: fp32), fp32, bf16 (GPUs, CPUs with AVX-512 BF16/AMX), fp16 (GPUs)",
    )
    parser.add_argument("--server", metavar="ADDRESS", help="run on an e2fgvi-server (e.g. tcp://127.0.0.1:5577)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_request(args: argparse.Namespace) -> RemovalRequest:
    """The request described by the parsed flags (validated by ``RemovalRequest.from_mapping``)."""
    return RemovalRequest.from_mapping(
        {
            "plate": args.plate,
            "matte": args.matte,
            "out": args.out,
            "frames": args.frames,
            "matte_channel": args.matte_channel,
            "engine": args.engine,
            "weights": args.weights,
            "device": args.device,
            "colorspace": args.colorspace,
            "roi": args.roi,
            "roi_margin": args.roi_margin,
            "proxy": args.proxy,
            "neighbor_stride": args.neighbor_stride,
            "ref_step": args.ref_step,
            "num_ref": args.num_ref,
            "blend": args.blend,
            "nan_policy": args.nan_policy,
            "precision": args.precision,
        }
    )


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """One self-rewriting line on stderr: bar, frames, frames/s, ETA, stage."""

    WIDTH = 24

    def __init__(self, stream=sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = progress.frames_done == progress.frames_total or progress.stage == "done"
        if not final and now - self._last < 0.2:
            return
        self._last = now
        total = max(progress.frames_total, 1)
        filled = int(self.WIDTH * progress.frames_done / total)
        rate = progress.frames_done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        line = (
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress.frames_done}/{progress.frames_total} frames "
            f"{rate:5.2f} frames/s ETA {_clock(progress.eta_s)} {progress.stage:<14}"
        )
        self.stream.write(line)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    request = build_request(args)
    if args.server:
        from e2fgvi_core.cli.remote import run_remote

        return int(run_remote(request, args.server, quiet=args.quiet))
    from e2fgvi_core.removal.engines import choose_engine

    choice = choose_engine(request.engine, request.weights)
    if choice.notice:
        print(f"e2fgvi remove: {choice.notice}", file=sys.stderr)
    request = dataclasses.replace(request, engine=choice.engine)
    bar = ProgressBar(enabled=not args.quiet and sys.stderr is not None)
    try:
        summary = run_removal(request, progress=bar)
    finally:
        bar.close()
    for message in summary.warnings:
        print(f"e2fgvi remove: warning: {message}", file=sys.stderr)
    stats = summary.cache_stats
    rate = summary.frames_written / summary.seconds if summary.seconds > 0 else 0.0
    model = f" ({summary.variant}, weights {summary.weights_sha256[:12]})" if summary.weights_sha256 else ""
    cache = f"; cache {stats.hits} hits / {stats.misses} misses" if stats is not None else ""
    print(
        f"e2fgvi remove: wrote {summary.frames_written} frames to {request.out} in {summary.seconds:.1f} s "
        f"({rate:.2f} frames/s) with {summary.engine}{model}; {summary.frames_passthrough} passed through "
        f"(empty matte){cache}",
        file=sys.stderr,
    )
    return 0

"""``e2fgvi remove``: clean frames out of a plate and a matte, with a progress bar and a one-line summary.

Every flag maps onto ``RemovalRequest``/``EngineConfig`` (the same dataclasses the server and the farm fill), so
a value the CLI accepts is one the server accepts. ``--server ADDRESS`` sends the request to a running
``e2fgvi-server`` instead of running it here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from e2fgvi_core.io.matte import DEFAULT_DILATE, DEFAULT_MATTE_CHANNEL_OUT
from e2fgvi_core.io.output_encoding import OUT_COLORSPACES
from e2fgvi_core.removal.api import ENGINES, Progress, RemovalRequest, run_removal
from e2fgvi_core.removal.config import BLEND_MODES, ROI_MODES

EPILOG = """examples:
  e2fgvi remove --plate shot/plate.%04d.exr --matte shot/matte.%04d.png --out clean/clean.%04d.exr
  e2fgvi remove --plate plate.####.exr --matte-channel mask.A --frames 1001-1010 --dilate 6 --feather 2 \\
      --write-matte check/matte.####.png --out clean.####.exr --json
"""
"""Shown under ``e2fgvi remove --help``: the everyday call, and one with the matte controls and a summary."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Everyday options first (inputs, output, matte, colour, engine), protocol internals under "advanced"."""
    io = parser.add_argument_group("plate, matte and output")
    io.add_argument("--plate", required=True, help="plate pattern: plate.%%04d.exr, plate.####.exr, plate.@@@@.exr")
    io.add_argument("--matte", help="matte pattern (default: the --matte-channel of the plate, alpha)")
    io.add_argument("--out", required=True, help="output pattern with a frame token; files are written atomically")
    io.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: every frame on disk)")
    io.add_argument("--out-channels", metavar="R,G,B", help="write only these channels (e.g. for PNG output)")
    io.add_argument(
        "--out-colorspace",
        choices=OUT_COLORSPACES,
        help="auto (default): EXR outputs scene-linear, PNG/JPEG/DPX display-referred; raw: the plate's values",
    )
    matte = parser.add_argument_group("matte")
    matte.add_argument("--matte-channel", help="channel of the matte (default: alpha, else any channel over threshold)")
    matte.add_argument("--matte-threshold", type=float, help="remove above this [0, 1) value (0.5 float, 0 integer)")
    matte.add_argument("--matte-invert", action="store_true", default=None, help="remove where the matte is NOT set")
    matte.add_argument("--dilate", type=int, help=f"grow the matte N times by a 3x3 cross ({DEFAULT_DILATE}, official)")
    matte.add_argument("--feather", type=int, help="soft composite edge N pixels wide, inside the hole (0: hard)")
    matte.add_argument("--write-matte", metavar="PATTERN", help="also write the matte actually used, per frame")
    matte.add_argument(
        "--matte-channel-out",
        nargs="?",
        const=DEFAULT_MATTE_CHANNEL_OUT,
        metavar="NAME",
        help=f"EXR output also carries the matte used as channel NAME ({DEFAULT_MATTE_CHANNEL_OUT})",
    )
    colour = parser.add_argument_group("colour")
    colour.add_argument("--colorspace", help="OpenColorIO colourspace of the plate (default: linear sRGB curve)")
    colour.add_argument("--exposure", type=float, help="divide float plates by this (default: measured per shot)")
    colour.add_argument(
        "--highlight-rolloff", type=float, metavar="KNEE", help="compress highlights above KNEE in (0, 1) for the model"
    )
    run = parser.add_argument_group("engine and run")
    run.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto: E2FGVI-HQ when a checkpoint is installed, else the weight-free propagate engine",
    )
    run.add_argument("--weights", help="checkpoint file or installed name (see `e2fgvi weights list`)")
    run.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps; an explicit device must exist")
    run.add_argument("--server", metavar="ADDRESS", help="run on an e2fgvi-server (e.g. tcp://127.0.0.1:5577)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    advanced = parser.add_argument_group("advanced (the protocol's internals)")
    advanced.add_argument(
        "--roi", choices=ROI_MODES, help="auto (default): crop each window to its mattes; full: whole frames"
    )
    advanced.add_argument("--roi-margin", type=int, help="context margin around the mattes for --roi auto (48)")
    advanced.add_argument("--proxy", type=float, help="process at this scale (e.g. 0.5) and upsample the fill (1.0)")
    advanced.add_argument("--neighbor-stride", type=int, help="local window stride, as the official script (5)")
    advanced.add_argument("--ref-step", type=int, help="a reference frame every N frames (10)")
    advanced.add_argument("--num-ref", type=int, help="-1: all references of the shot (default); N: the nearest N")
    advanced.add_argument("--blend", choices=BLEND_MODES, help="official running 0.5 blend (default) or mean")
    advanced.add_argument(
        "--nan-policy",
        choices=("zero", "error"),
        help="NaN/Inf in the plate: read as 0 with a warning (default) or refuse the frame",
    )


def build_request(args: argparse.Namespace) -> RemovalRequest:
    """The request described by the parsed flags (validated by ``RemovalRequest.from_mapping``)."""
    return RemovalRequest.from_mapping(
        {
            "plate": args.plate,
            "matte": args.matte,
            "out": args.out,
            "frames": args.frames,
            "matte_channel": args.matte_channel,
            "matte_threshold": args.matte_threshold,
            "matte_invert": args.matte_invert,
            "matte_dilate": args.dilate,
            "matte_feather": args.feather,
            "matte_write": args.write_matte,
            "matte_channel_out": args.matte_channel_out,
            "out_channels": args.out_channels,
            "out_colorspace": args.out_colorspace,
            "engine": args.engine,
            "weights": args.weights,
            "device": args.device,
            "colorspace": args.colorspace,
            "exposure": args.exposure,
            "highlight_rolloff": args.highlight_rolloff,
            "roi": args.roi,
            "roi_margin": args.roi_margin,
            "proxy": args.proxy,
            "neighbor_stride": args.neighbor_stride,
            "ref_step": args.ref_step,
            "num_ref": args.num_ref,
            "blend": args.blend,
            "nan_policy": args.nan_policy,
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

    def interrupt(self) -> None:
        """End the bar's line so a message printed now starts on its own line; the bar redraws after it."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    request = build_request(args)
    if args.server:
        from e2fgvi_core.cli.remote import run_remote

        return int(run_remote(request, args.server, quiet=args.quiet, as_json=args.json))
    from e2fgvi_core.removal.engines import choose_engine

    choice = choose_engine(request.engine, request.weights)
    if choice.notice:
        print(f"e2fgvi remove: {choice.notice}", file=sys.stderr)
    request = dataclasses.replace(request, engine=choice.engine)
    bar = ProgressBar(enabled=not args.quiet and sys.stderr is not None)

    def warn_now(message: str) -> None:
        bar.interrupt()
        print(f"e2fgvi remove: warning: {message}", file=sys.stderr)

    try:
        summary = run_removal(request, progress=bar, on_warning=warn_now)
    finally:
        bar.close()
    stats = summary.cache_stats
    rate = summary.frames_written / summary.seconds if summary.seconds > 0 else 0.0
    model = f" ({summary.variant}, weights {summary.weights_sha256[:12]})" if summary.weights_sha256 else ""
    print(
        f"e2fgvi remove: wrote {summary.frames_written} frames to {request.out} in {summary.seconds:.1f} s "
        f"({rate:.2f} frames/s) with {summary.engine}{model}; {summary.frames_passthrough} passed through "
        f"(empty matte); {cache_text(summary.engine, stats.hits if stats else None, stats.misses if stats else None)}"
        + (f"; {len(summary.warnings)} warning(s) above" if summary.warnings else ""),
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(summary_mapping(summary, request.out), sort_keys=True))
    return 0


def cache_text(engine: str | None, hits: int | None, misses: int | None) -> str:
    """The summary's cache words: the job's own counters, or plainly that the engine does not cache."""
    if engine == "propagate":
        return "no cache (the propagate engine does not cache features between runs)"
    if hits is None:
        return "no cache"
    return f"cache {hits} hits / {misses} misses (this job)"


def summary_mapping(summary, out: str | None) -> dict:
    """The ``--json`` summary: what a pipeline script needs from a run, in stable keys."""
    stats = summary.cache_stats
    return {
        "frames": list(summary.frames),
        "outputs": list(summary.outputs),
        "out": out,
        "seconds": round(summary.seconds, 6),
        "engine": summary.engine,
        "variant": summary.variant,
        "weights_sha256": summary.weights_sha256,
        "frames_passthrough": summary.frames_passthrough,
        "windows_run": summary.windows_run,
        "warnings": list(summary.warnings),
        "caches": summary.engine != "propagate",
        "cache": None
        if stats is None or summary.engine == "propagate"
        else {"hits": stats.hits, "misses": stats.misses},
    }

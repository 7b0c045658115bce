"""``e2fgvi remove``: clean frames out of a plate and a matte, with a progress bar and a one-line summary.

Every flag maps onto a flat key of ``RemovalRequest.from_mapping`` (the same dataclasses the server and the farm
fill), so a value the CLI accepts is one the server accepts. ``--server ADDRESS`` sends the request to a running
``e2fgvi-server`` instead of running it here; what either path prints lives in ``cli/report.py``. ``--help`` shows
the everyday options first and the protocol's internals under "advanced", then two examples.
"""

from __future__ import annotations

import argparse
import dataclasses

from e2fgvi_core.cli.report import ProgressBar, print_json, print_notice, print_summary, print_warnings, summary_json
from e2fgvi_core.io.matte import DEFAULT_DILATE, DEFAULT_MATTE_CHANNEL_OUT
from e2fgvi_core.io.output_encoding import OUT_COLORSPACES
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.removal.config import BLEND_MODES, PRECISIONS, ROI_MODES
from e2fgvi_core.removal.engines import ENGINE_CHOICES
from e2fgvi_core.removal.request import PROPAGATE_PREFIX, RemovalRequest

REQUEST_FLAGS = (
    "plate", "matte", "out", "shot", "frames", "matte_channel", "matte_threshold", "matte_invert", "matte_dilate",
    "matte_feather", "matte_write", "matte_channel_out", "out_channels", "out_colorspace", "engine", "weights",
    "device", "colorspace", "display", "ocio_config", "exposure", "highlight_rolloff", "roi", "roi_margin", "proxy",
    "neighbor_stride", "ref_step", "num_ref", "blend", "nan_policy", "precision",
)  # fmt: skip
"""Flags whose destination is a ``RemovalRequest`` flat key of the same name (plus every ``--propagate-*``)."""

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
    io.add_argument("--frames", help="frames to produce and write, e.g. 1001-1010, inside --shot (default: all)")
    io.add_argument(
        "--shot", help="the shot's frame range: what windows and references see (default: --frames, else all on disk)"
    )
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
    matte.add_argument(
        "--dilate", dest="matte_dilate", type=int, help=f"grow the matte N times by a 3x3 cross ({DEFAULT_DILATE})"
    )
    matte.add_argument(
        "--feather", dest="matte_feather", type=int, help="soft composite edge N pixels wide, inside the hole (0)"
    )
    matte.add_argument("--write-matte", dest="matte_write", metavar="PATTERN", help="also write the matte used")
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
    colour.add_argument(
        "--display", help="OpenColorIO display-referred colourspace the model sees (needs --colorspace)"
    )
    colour.add_argument("--ocio-config", help="OpenColorIO config file or ocio:// URI (default: $OCIO, else built-in)")
    run_group = parser.add_argument_group("engine and run")
    run_group.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default="auto",
        help="auto: E2FGVI-HQ when a checkpoint is installed, else the weight-free propagate engine",
    )
    run_group.add_argument("--weights", help="checkpoint file or installed name (see `e2fgvi weights list`)")
    run_group.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps; an explicit device must exist")
    run_group.add_argument("--server", metavar="ADDRESS", help="run on an e2fgvi-server (e.g. tcp://127.0.0.1:5577)")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    run_group.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
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
    advanced.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="model arithmetic: auto (default: fp32), fp32, bf16 (GPUs, CPUs with AVX-512 BF16/AMX), fp16 (GPUs)",
    )
    group = parser.add_argument_group("propagate engine (advanced)", "per-job settings of the weight-free engine")
    for spec in dataclasses.fields(PropagateConfig):
        env = f"E2FGVI_PROPAGATE_{spec.name.upper()}"
        group.add_argument(
            f"--propagate-{spec.name.replace('_', '-')}", metavar="VALUE", help=f"default {spec.default} (or ${env})"
        )


def build_request(args: argparse.Namespace) -> RemovalRequest:
    """The request described by the parsed flags (validated by ``RemovalRequest.from_mapping``)."""
    values = {key: getattr(args, key) for key in REQUEST_FLAGS}
    for spec in dataclasses.fields(PropagateConfig):
        values[PROPAGATE_PREFIX + spec.name] = getattr(args, PROPAGATE_PREFIX + spec.name)
    return RemovalRequest.from_mapping(values)


def summary_mapping(summary, out: str | None) -> dict:
    """The ``--json`` summary of an in-process run (``report.summary_json``'s keys)."""
    stats = summary.cache_stats
    return summary_json(
        frames=list(summary.frames),
        outputs=list(summary.outputs),
        out=out,
        seconds=summary.seconds,
        engine=summary.engine,
        variant=summary.variant,
        weights_sha256=summary.weights_sha256,
        frames_passthrough=summary.frames_passthrough,
        windows_run=summary.windows_run,
        warnings=list(summary.warnings),
        cache=None if stats is None else (stats.hits, stats.misses),
    )


def run(args: argparse.Namespace) -> int:
    request = build_request(args)
    if args.server:
        from e2fgvi_core.cli.remote import run_remote

        return int(run_remote(request, args.server, quiet=args.quiet, as_json=args.json))
    from e2fgvi_core.removal.api import run_removal
    from e2fgvi_core.removal.engines import choose_engine

    choice = choose_engine(request.engine, request.weights)
    if choice.notice:
        print_notice(choice.notice)
    request = dataclasses.replace(request, engine=choice.engine)
    bar = ProgressBar(enabled=not args.quiet)

    def warn_now(message: str) -> None:
        bar.interrupt()
        print_warnings([message])

    try:
        summary = run_removal(request, progress=bar, on_warning=warn_now)
    finally:
        bar.close()
    stats = summary.cache_stats
    print_summary(
        frames=summary.frames_written,
        out=request.out,
        seconds=summary.seconds,
        engine=summary.engine,
        model=f" ({summary.variant}, weights {summary.weights_sha256[:12]})" if summary.weights_sha256 else "",
        passthrough=summary.frames_passthrough,
        cache=(stats.hits, stats.misses) if stats is not None else None,
        warnings=len(summary.warnings),
    )
    if args.json:
        print_json(summary_mapping(summary, request.out))
    return 0

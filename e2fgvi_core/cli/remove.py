"""``e2fgvi remove``: clean frames out of a plate and a matte, with a progress bar and a one-line summary.

Every flag maps onto a flat key of ``RemovalRequest.from_mapping`` (the same dataclasses the server and the farm
fill), so a value the CLI accepts is one the server accepts. ``--server ADDRESS`` sends the request to a running
``e2fgvi-server`` instead of running it here; what either path prints lives in ``cli/report.py``.
"""

from __future__ import annotations

import argparse
import dataclasses

from e2fgvi_core.cli.report import ProgressBar, print_notice, print_summary, print_warnings
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.removal.config import BLEND_MODES, ROI_MODES
from e2fgvi_core.removal.engines import ENGINE_CHOICES
from e2fgvi_core.removal.request import PROPAGATE_PREFIX, RemovalRequest

REQUEST_FLAGS = (
    "plate", "matte", "out", "shot", "frames", "matte_channel", "engine", "weights", "device", "colorspace",
    "display", "ocio_config", "roi", "roi_margin", "proxy", "neighbor_stride", "ref_step", "num_ref", "blend",
    "nan_policy",
)  # fmt: skip
"""Flags whose destination is a ``RemovalRequest`` flat key of the same name (plus every ``--propagate-*``)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plate", required=True, help="plate pattern: plate.%%04d.exr, plate.####.exr, plate.@@@@.exr")
    parser.add_argument("--matte", help="matte pattern (default: the --matte-channel of the plate, alpha)")
    parser.add_argument("--out", required=True, help="output pattern; files are written atomically")
    parser.add_argument(
        "--shot", help="the shot's frame range: what windows and references see (default: --frames, else all on disk)"
    )
    parser.add_argument("--frames", help="frames to produce and write, e.g. 1001-1010, inside --shot (default: all)")
    parser.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
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
        "--display", help="OpenColorIO display-referred colourspace the model sees (needs --colorspace)"
    )
    parser.add_argument("--ocio-config", help="OpenColorIO config file or ocio:// URI (default: $OCIO, else built-in)")
    parser.add_argument(
        "--nan-policy",
        choices=("zero", "error"),
        help="NaN/Inf in the plate: read as 0 with a warning (default) or refuse the frame",
    )
    group = parser.add_argument_group("propagate engine", "per-job settings of the weight-free engine")
    for spec in dataclasses.fields(PropagateConfig):
        env = f"E2FGVI_PROPAGATE_{spec.name.upper()}"
        group.add_argument(
            f"--propagate-{spec.name.replace('_', '-')}", metavar="VALUE", help=f"default {spec.default} (or ${env})"
        )
    parser.add_argument("--server", metavar="ADDRESS", help="run on an e2fgvi-server (e.g. tcp://127.0.0.1:5577)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_request(args: argparse.Namespace) -> RemovalRequest:
    """The request described by the parsed flags (validated by ``RemovalRequest.from_mapping``)."""
    values = {key: getattr(args, key) for key in REQUEST_FLAGS}
    for spec in dataclasses.fields(PropagateConfig):
        values[PROPAGATE_PREFIX + spec.name] = getattr(args, PROPAGATE_PREFIX + spec.name)
    return RemovalRequest.from_mapping(values)


def run(args: argparse.Namespace) -> int:
    request = build_request(args)
    if args.server:
        from e2fgvi_core.cli.remote import run_remote

        return int(run_remote(request, args.server, quiet=args.quiet))
    from e2fgvi_core.removal.api import run_removal
    from e2fgvi_core.removal.engines import choose_engine

    choice = choose_engine(request.engine, request.weights)
    if choice.notice:
        print_notice(choice.notice)
    request = dataclasses.replace(request, engine=choice.engine)
    bar = ProgressBar(enabled=not args.quiet)
    try:
        summary = run_removal(request, progress=bar)
    finally:
        bar.close()
    print_warnings(summary.warnings)
    stats = summary.cache_stats
    print_summary(
        frames=summary.frames_written,
        out=request.out,
        seconds=summary.seconds,
        engine=summary.engine,
        model=f" ({summary.variant}, weights {summary.weights_sha256[:12]})" if summary.weights_sha256 else "",
        passthrough=summary.frames_passthrough,
        cache=(stats.hits, stats.misses) if stats is not None else None,
    )
    return 0

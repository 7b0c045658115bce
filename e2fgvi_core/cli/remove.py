"""``e2fgvi remove``: clean frames out of a plate and a matte, with a progress bar and a one-line summary.

Every flag maps onto a flat key of ``RemovalRequest.from_mapping`` (the same dataclasses the server and the farm
fill), so a value the CLI accepts is one the server accepts. ``--server ADDRESS`` sends the request to a running
``e2fgvi-server`` instead of running it here; what either path prints lives in ``cli/report.py``. ``--help`` shows
the everyday options first and the protocol's internals under "advanced", then two examples.
"""

from __future__ import annotations

import argparse
import dataclasses

from e2fgvi_core.cli.report import (
    ProgressBar,
    print_json,
    print_notice,
    print_summary,
    print_warnings,
    summary_json,
)
from e2fgvi_core.removal.request import RemovalRequest
from e2fgvi_core.schema import RequestField, request_fields

CLI_GROUPS = {
    "io": ("plate, matte and output", None),
    "matte": ("matte", None),
    "colour": ("colour", None),
    "engine": ("engine and run", None),
    "advanced": ("advanced (the protocol's internals)", None),
    "propagate": ("propagate engine (advanced)", "per-job settings of the weight-free engine"),
}
"""``--help``'s sections, in order, by the request schema's ``cli_group`` (everyday options first)."""
_PYTHON_TYPES = {"int": int, "float": float, "str": str, "list": str}  # a list option appends its strings

EPILOG = """examples:
  e2fgvi remove --plate shot/plate.%04d.exr --matte shot/matte.%04d.png --out clean/clean.%04d.exr
  e2fgvi remove --plate plate.####.exr --matte-channel mask.A --frames 1001-1010 --dilate 6 --feather 2 \\
      --write-matte check/matte.####.png --out clean.####.exr --json
"""
"""Shown under ``e2fgvi remove --help``: the everyday call, and one with the matte controls and a summary."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per request setting, from the request schema (``e2fgvi_core.schema``), grouped everyday first;
    then the options of this command itself (``--server``, ``--quiet``, ``--json``)."""
    groups = {name: parser.add_argument_group(title, text) for name, (title, text) in CLI_GROUPS.items()}
    for spec in request_fields():
        _add_option(groups[spec.cli_group], spec)
    run_group = groups["engine"]
    run_group.add_argument("--server", metavar="ADDRESS", help="run on an e2fgvi-server (e.g. tcp://127.0.0.1:5577)")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    run_group.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    add_resume_and_sheet_options(run_group)


def add_resume_and_sheet_options(group) -> None:
    """``--resume`` (``cli/resume.py``; farm ``render-chunk`` takes it from here too) and ``--contact-sheet``."""
    group.add_argument(
        "--resume",
        action="store_true",
        help="keep the frames whose file is complete and carries this request's provenance; render the rest",
    )
    group.add_argument(
        "--contact-sheet",
        metavar="PATH",
        help="also write a few frames as plate | matte | result into one image (e.g. sheet.png)",
    )


def _add_option(group: argparse._ArgumentGroup, spec: RequestField) -> None:
    """The option of one request setting: its key is the destination, its schema entry the rest."""
    shown_default = spec.default not in (None, False) and "default" not in spec.help
    text = f"{spec.help} (default: {spec.default})" if shown_default else spec.help
    options: dict = {"dest": spec.key, "help": text.replace("%", "%%")}  # argparse formats help with %
    if spec.choices:
        options["choices"] = spec.choices
    elif spec.type != "bool":
        options["type"] = _PYTHON_TYPES[spec.type]
    if spec.key == "engine":
        options["default"] = spec.default  # shown by --help; every other unset option means "the default"
    options.update(spec.cli)
    group.add_argument(spec.option, **options)


def build_request(args: argparse.Namespace) -> RemovalRequest:
    """The request described by the parsed options (validated by ``RemovalRequest.from_mapping``)."""
    return RemovalRequest.from_mapping({spec.key: getattr(args, spec.key) for spec in request_fields()})


def interrupted_message(args: argparse.Namespace) -> str:
    """What a Ctrl-C says (``cli/main.py`` asks): the job was cancelled and which frames are complete."""
    from e2fgvi_core.cli.resume import interrupted_message as message

    return message(build_request(args))


def run(args: argparse.Namespace) -> int:
    request = build_request(args)
    whole = request  # the job as asked: what --contact-sheet draws from, after --resume narrowed the run
    if args.contact_sheet:
        from e2fgvi_core.contact_sheet import check_sheet_path

        check_sheet_path(args.contact_sheet, request)
    if args.resume:
        from e2fgvi_core.cli.resume import resumed_request

        request = resumed_request(request, print_notice)
        if request is None:
            return _draw_sheet(args, whole)
    if args.server:
        from e2fgvi_core.cli.remote import run_remote

        code = int(run_remote(request, args.server, quiet=args.quiet, as_json=args.json))
        return code or _draw_sheet(args, whole)
    from e2fgvi_core.cli.report import print_engine_line
    from e2fgvi_core.removal.api import run_removal
    from e2fgvi_core.removal.engine_registry import choose_engine, run_precision

    choice = choose_engine(request.engine, request.weights)
    if choice.notice:
        print_notice(choice.notice)
    announced = choice.to_mapping(run_precision(choice.engine, request.config.precision, request.device))
    request = dataclasses.replace(request, engine=choice.engine)
    bar = ProgressBar(enabled=not args.quiet)
    shown: list[bool] = []

    def progress(report) -> None:
        if not shown:  # the run's first report comes once every check has passed, before the first frame
            shown.append(True)
            bar.interrupt()
            print_engine_line(announced)  # engine, weights, precision
        bar(report)

    def warn_now(message: str) -> None:
        bar.interrupt()
        print_warnings([message])

    try:
        summary = run_removal(request, progress=progress, on_warning=warn_now)
    finally:
        bar.close()
    print_summary(summary, request.out)
    if args.json:
        print_json(summary_json(summary, request.out, **announced))
    return _draw_sheet(args, whole)


def _draw_sheet(args: argparse.Namespace, request: RemovalRequest) -> int:
    """``--contact-sheet PATH``: plate | matte | result of a few written frames, drawn from the files."""
    if args.contact_sheet:
        from e2fgvi_core.cli.resume import output_frames
        from e2fgvi_core.contact_sheet import write_removal_sheet

        print_notice(f"contact sheet {write_removal_sheet(args.contact_sheet, request, output_frames(request))}")
    return 0

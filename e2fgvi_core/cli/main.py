"""``e2fgvi``: the command-line entry point.

Each subcommand lives in its own module of this package and exposes two functions:
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code). Modules are imported only when their
subcommand runs, so ``e2fgvi --help`` stays fast and a broken optional dependency affects one subcommand.
Errors of the ``E2fgviError`` tree are printed as one line on stderr with exit code 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from e2fgvi_core.errors import E2fgviError

# subcommand -> (module under e2fgvi_core.cli, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "remove": ("remove", "remove an object from a frame range (plate + matte -> clean frames)"),
    "weights": ("weights", "install and list model checkpoints"),
    "demo": ("demo", "synthesise a small shot, remove its occluder and report the PSNR"),
    "status": ("status", "ask a running e2fgvi-server for its queue, cache and devices"),
    "install": ("install", "install a host plug-in (blender, ...) or the server as a user service"),
    "uninstall": ("uninstall", "take out what `e2fgvi install HOST` put in"),
    "farm": ("farm", "render farm: plan chunks, write an OpenJD job bundle, render one chunk"),
    "train": ("train", "fine-tune or train E2FGVI from scratch; eval and export a run"),
}


def build_parser() -> argparse.ArgumentParser:
    from e2fgvi_core import __version__

    parser = argparse.ArgumentParser(prog="e2fgvi", description="Remove objects from video with E2FGVI.")
    parser.add_argument("--version", action="version", version=f"e2fgvi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def _load(name: str):
    return importlib.import_module(f"e2fgvi_core.cli.{SUBCOMMANDS[name][0]}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help", "--version"):
        if argv and argv[0] == "--version":
            parser.parse_args(argv)  # prints "e2fgvi <version>" and exits 0
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(SUBCOMMANDS)}")
    name = argv[0]
    module = _load(name)
    sub_parser = argparse.ArgumentParser(
        prog=f"e2fgvi {name}",
        description=SUBCOMMANDS[name][1],
        epilog=getattr(module, "EPILOG", None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[1:])
    try:
        return int(module.run(args))
    except E2fgviError as exc:
        print(f"e2fgvi {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # a subcommand may say what the interruption left (remove: which frames are complete), else one word
        explain = getattr(module, "interrupted_message", None)
        try:
            message = explain(args) if explain is not None else "interrupted"
        except (E2fgviError, KeyboardInterrupt):
            message = "interrupted"
        print(f"e2fgvi {name}: {message}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``e2fgvi weights add|list|remove|default|dir``: the per-user checkpoint store.

Which weights engine ``auto`` uses is set here (``default``), never by ``add`` alone: ``list`` shows it, and marks
the official checkpoints (by sha256) that ``auto`` would take without a default.
"""

from __future__ import annotations

import argparse

from e2fgvi_core import weights as store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = store.DOWNLOAD_HELP
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="validate a checkpoint and install it into the per-user store")
    add.add_argument("path", help="checkpoint file, e.g. E2FGVI-HQ-CVPR22.pth")
    add.add_argument("--name", help="name to install it under (default: the file name without .pth)")
    add.add_argument(
        "--default", action="store_true", help="also make it the default: what engine auto (the default engine) uses"
    )
    sub.add_parser("list", help="list installed checkpoints, the default and the official ones")
    remove = sub.add_parser("remove", help="delete installed weights from the store")
    remove.add_argument("name", help="installed name (see: e2fgvi weights list)")
    default = sub.add_parser("default", help="set the weights engine auto uses: NAME, or none for no default")
    default.add_argument("name", help="installed name, or none")
    sub.add_parser("dir", help="print the store folder (set E2FGVI_WEIGHTS_DIR to move it)")


def run(args: argparse.Namespace) -> int:
    if args.action == "add":
        installed = store.add_weights(args.path, name=args.name, make_default=args.default)
        print(f"installed {installed.name} ({installed.variant}, sha256 {installed.sha256}) -> {installed.path}")
        print(_auto_line(installed))
        return 0
    if args.action == "remove":
        removed = store.remove_weights(args.name)
        print(f"removed {removed.name} ({removed.variant}, sha256 {removed.sha256})")
        return 0
    if args.action == "default":
        if args.name.lower() == "none":
            store.set_default(None)
            print("no default weights: engine auto uses an official checkpoint if one is installed, else propagate")
        else:
            chosen = store.set_default(args.name)
            print(f"default weights: {chosen.name} ({chosen.variant}); engine auto now uses them")
        return 0
    if args.action == "dir":
        print(store.weights_dir())
        return 0
    return _list()


def _auto_line(installed: store.InstalledWeights) -> str:
    """After ``add``: whether engine ``auto`` will use the new weights, and how to make it."""
    chosen = store.auto_weights()
    if chosen is not None and chosen.name == installed.name:
        return f"engine auto uses {installed.name} ({'default' if not installed.official else 'official checkpoint'})"
    return (
        f"engine auto does not use {installed.name} (it is neither the default nor an official checkpoint): use it "
        f"with --weights {installed.name}, or make it the default with: e2fgvi weights default {installed.name}"
    )


def _list() -> int:
    installed = store.installed_weights()
    if not installed:
        print(f"no weights installed in {store.weights_dir()}")
        print(store.DOWNLOAD_HELP)
        return 0
    default = store.default_name()
    auto = store.auto_weights()
    print(f"{'name':<28} {'variant':<10} {'MB':>7}  {'marks':<17} sha256")
    for weights in installed:
        marks = ",".join(
            mark
            for mark, on in (
                ("default", weights.name == default),
                ("official", weights.official),
                ("auto", auto is not None and weights.name == auto.name),
            )
            if on
        )
        print(
            f"{weights.name:<28} {weights.variant:<10} {weights.bytes / 1e6:7.1f}  {marks or '-':<17} {weights.sha256}"
        )
    if auto is None:
        print("engine auto: propagate (no default and no official checkpoint; set one: e2fgvi weights default NAME)")
    else:
        print(f"engine auto: {auto.variant} with {auto.name}")
    print(f"store: {store.weights_dir()}")
    return 0

"""``e2fgvi weights add PATH`` / ``e2fgvi weights list`` / ``e2fgvi weights dir``."""

from __future__ import annotations

import argparse

from e2fgvi_core import weights as store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = store.DOWNLOAD_HELP
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="validate a checkpoint and install it into the per-user store")
    add.add_argument("path", help="checkpoint file, e.g. E2FGVI-HQ-CVPR22.pth")
    add.add_argument("--name", help="name to install it under (default: the file name without .pth)")
    sub.add_parser("list", help="list installed checkpoints")
    sub.add_parser("dir", help="print the store folder (set E2FGVI_WEIGHTS_DIR to move it)")


def run(args: argparse.Namespace) -> int:
    if args.action == "add":
        installed = store.add_weights(args.path, name=args.name)
        print(f"installed {installed.name} ({installed.variant}, sha256 {installed.sha256}) -> {installed.path}")
        return 0
    if args.action == "dir":
        print(store.weights_dir())
        return 0
    installed = store.installed_weights()
    if not installed:
        print(f"no weights installed in {store.weights_dir()}")
        print(store.DOWNLOAD_HELP)
        return 0
    print(f"{'name':<28} {'variant':<10} {'MB':>7}  sha256")
    for weights in installed:
        print(f"{weights.name:<28} {weights.variant:<10} {weights.bytes / 1e6:7.1f}  {weights.sha256}")
    print(f"store: {store.weights_dir()}")
    return 0

"""``e2fgvi install HOST`` / ``e2fgvi uninstall HOST``: put the host side where a host finds it, or take it out.

Each host's installer is a module of ``installers/`` (``installers.available()``); this module only turns flags
into an ``InstallContext`` and runs the installer's plan through the shared machinery, so every host gets the same
``--target``, ``--dry-run`` and undo behaviour. Commands an installer wants run afterwards (``systemctl --user
enable``...) are printed, and run only when the installer's own flag asks for it (``--enable``).
"""

from __future__ import annotations

import argparse
import subprocess

from e2fgvi_core.errors import ConfigError

COMMON = ("host", "target", "dry_run", "platform")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _add(parser, uninstalling=False)


def add_uninstall_arguments(parser: argparse.ArgumentParser) -> None:
    _add(parser, uninstalling=True)


def _add(parser: argparse.ArgumentParser, uninstalling: bool) -> None:
    import e2fgvi_installers as installers
    from e2fgvi_installers._framework import PLATFORMS

    hosts = parser.add_subparsers(dest="host", metavar="HOST", required=True)
    for name in installers.available():
        module = installers.load(name)
        sub = hosts.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        sub.add_argument("--target", metavar="DIR", help="install into DIR instead of the host's user folder")
        sub.add_argument("--dry-run", action="store_true", help="print every change, write nothing")
        sub.add_argument("--platform", choices=PLATFORMS, help="lay files out for this OS (default: this machine's)")
        sub.set_defaults(uninstalling=uninstalling)
        module.add_arguments(sub)


def run(args: argparse.Namespace) -> int:
    import e2fgvi_installers as installers
    from e2fgvi_installers import _framework

    module = installers.load(args.host)
    options = {k: v for k, v in vars(args).items() if k not in (*COMMON, "uninstalling")}
    ctx = _framework.InstallContext.from_environment(args.platform, args.target, args.dry_run)
    follow_up = getattr(module, "follow_up", None)
    commands = follow_up(ctx, options, "uninstall" if args.uninstalling else "install") if follow_up else []
    if args.uninstalling:
        _run_commands(commands, options, args.dry_run)  # stop the service while its files are still there
        _framework.uninstall(ctx, module.NAME)
    else:
        _framework.install(ctx, module.NAME, module.plan(ctx, options))
        _run_commands(commands, options, args.dry_run)
    return 0


def _run_commands(commands: list[list[str]], options: dict, dry_run: bool) -> None:
    for command in commands:
        shown = " ".join(command)
        if options.get("enable") and not dry_run:
            print(f"running: {shown}")
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                raise ConfigError(f"{shown} exited with code {done.returncode}")
        else:
            print(f"{'would run' if dry_run and options.get('enable') else 'next, run'}: {shown}")

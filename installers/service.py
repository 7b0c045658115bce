"""``e2fgvi install service``: ``e2fgvi-server`` as a per-user service that starts at login.

Linux: a systemd user unit (``$XDG_CONFIG_HOME/systemd/user/e2fgvi-server.service``). macOS: a launchd agent
(``~/Library/LaunchAgents/org.e2fgvi.server.plist``). Windows has no per-user service manager without admin
rights, so the documented alternative is a scheduled task at logon running a small ``.cmd`` written here
(``%APPDATA%\\e2fgvi\\e2fgvi-server-service.cmd``). The service manager's own commands (``systemctl --user``,
``launchctl``, ``schtasks``) are printed, and run only with ``--enable``.
"""

from __future__ import annotations

import argparse
import os
import plistlib
from pathlib import Path
from typing import Any

from e2fgvi_core.errors import ConfigError

from ._framework import Change, InstallContext, WriteFile

NAME = "service"
DESCRIPTION = "run e2fgvi-server as a user service (systemd user unit, launchd agent, or a Windows logon task)"
UNIT_NAME = "e2fgvi-server.service"
AGENT_LABEL = "org.e2fgvi.server"
TASK_NAME = "e2fgvi-server"
DEFAULT_BIND = "tcp://127.0.0.1:5577"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", default=DEFAULT_BIND, help=f"address the server listens on ({DEFAULT_BIND})")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--output-root",
        action="append",
        default=[],
        help="restrict the server's outputs to this folder (repeatable; default: a loopback server writes wherever "
        "you may; required with a non-loopback --bind)",
    )
    parser.add_argument("--server-arg", action="append", default=[], help="any other e2fgvi-server flag (repeatable)")
    parser.add_argument("--enable", action="store_true", help="also run the service manager's enable/start command")


def server_argv(options: dict[str, Any]) -> list[str]:
    """The service's command line: this installation's ``e2fgvi-server`` plus the user's options."""
    from e2fgvi_host.launcher import server_command  # one place knows how a server is started
    from e2fgvi_server.protocol import is_loopback_endpoint

    bind = options.get("bind") or DEFAULT_BIND
    if not is_loopback_endpoint(bind) and not options.get("output_root"):
        raise ConfigError(
            f"--bind {bind} lets other machines use the server: give the folders it may write with --output-root DIR"
        )
    argv = [*server_command(), "--bind", bind]
    if options.get("device"):
        argv += ["--device", options["device"]]
    for root in options.get("output_root") or []:
        argv += ["--output-root", str(Path(root).expanduser())]
    return argv + list(options.get("server_arg") or [])


def unit_path(ctx: InstallContext) -> Path:
    return (ctx.target or ctx.config_dir / "systemd" / "user") / UNIT_NAME


def agent_path(ctx: InstallContext) -> Path:
    return (ctx.target or ctx.home / "Library" / "LaunchAgents") / f"{AGENT_LABEL}.plist"


def task_script_path(ctx: InstallContext) -> Path:
    return (ctx.target or ctx.data_dir / "e2fgvi") / "e2fgvi-server-service.cmd"


def plan(ctx: InstallContext, options: dict[str, Any]) -> list[Change]:
    argv = server_argv(options)
    if ctx.platform == "linux":
        return [WriteFile(unit_path(ctx), systemd_unit(argv).encode())]
    if ctx.platform == "macos":
        return [WriteFile(agent_path(ctx), launchd_agent(argv, ctx.home))]
    return [WriteFile(task_script_path(ctx), windows_script(argv).encode())]


def follow_up(ctx: InstallContext, options: dict[str, Any], action: str) -> list[list[str]]:
    """The service manager's commands after an install (enable, start) or before an uninstall (stop, disable)."""
    if ctx.platform == "linux":
        if action == "install":
            return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT_NAME]]
        return [["systemctl", "--user", "disable", "--now", UNIT_NAME]]
    if ctx.platform == "macos":
        domain = f"gui/{os.getuid() if hasattr(os, 'getuid') else 501}"
        verb = "bootstrap" if action == "install" else "bootout"
        return [["launchctl", verb, domain, str(agent_path(ctx))]]
    if action == "install":
        script = str(task_script_path(ctx))
        return [["schtasks", "/Create", "/TN", TASK_NAME, "/SC", "ONLOGON", "/RL", "LIMITED", "/F", "/TR", script]]
    return [["schtasks", "/Delete", "/TN", TASK_NAME, "/F"]]


def _systemd_quote(arg: str) -> str:
    if arg and not any(c in arg for c in ' \t"\\$%;'):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%")
    return f'"{escaped}"'


def systemd_unit(argv: list[str]) -> str:
    return (
        "[Unit]\n"
        "Description=E2FGVI Remove Object inference server (e2fgvi-server)\n"
        "After=network.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={' '.join(_systemd_quote(a) for a in argv)}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_agent(argv: list[str], home: Path) -> bytes:
    log = str(home / "Library" / "Logs" / "e2fgvi-server.log")
    agent = {
        "Label": AGENT_LABEL,
        "ProgramArguments": argv,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }
    return plistlib.dumps(agent, sort_keys=True)


def windows_script(argv: list[str]) -> str:
    quoted = " ".join(f'"{a}"' if " " in a else a for a in argv)
    return (
        f"@echo off\r\nrem Started at logon by the scheduled task {TASK_NAME} (e2fgvi install service)\r\n{quoted}\r\n"
    )

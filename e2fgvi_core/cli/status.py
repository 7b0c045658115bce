"""``e2fgvi status --server ADDRESS``: what a running ``e2fgvi-server`` is doing (queue, job, cache, devices).

Why: the first question when a host's Remove Object node seems stuck is "is the server alive and busy?". This
answers it in one command, without torch, through the same client library the hosts use.
"""

from __future__ import annotations

import argparse
import json
import sys

from e2fgvi_core.errors import ClientError, ServerUnavailableError

STATUS_TIMEOUT_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from e2fgvi_server.protocol import DEFAULT_ADDRESS

    parser.add_argument(
        "--server", default=DEFAULT_ADDRESS, metavar="ADDRESS", help=f"server endpoint (default {DEFAULT_ADDRESS})"
    )
    parser.add_argument("--json", action="store_true", help="print the raw status reply as JSON")
    parser.add_argument("--timeout-s", type=float, default=STATUS_TIMEOUT_S, help="how long to wait for a reply")


def run(args: argparse.Namespace) -> int:
    from e2fgvi_host.client import Client
    from e2fgvi_server.protocol import RemoteError

    try:
        with Client(args.server, retries=0, heartbeat_interval_s=max(0.1, args.timeout_s / 3)) as client:
            status = client.status(timeout_s=args.timeout_s)
    except (ClientError, RemoteError) as exc:
        raise ServerUnavailableError(
            f"no e2fgvi-server answered at {args.server}: {exc}; start one with `e2fgvi-server --bind {args.server}`"
        ) from None
    if args.json:
        json.dump({k: v for k, v in status.items() if k not in ("v", "type", "req")}, sys.stdout, indent=2)
        print()
        return 0
    print(format_status(args.server, status))
    return 0


def format_status(address: str, status: dict) -> str:
    """A few human lines: server, running job, queue, cache, devices."""
    header = (
        f"server   {address} (up {status.get('uptime_s', 0):.0f} s, {status.get('clients', 0)} clients, "
        f"{status.get('jobs_completed', 0)} jobs completed)"
    )
    lines = [header]
    running = status.get("running")
    if running:
        lines.append(
            f"running  {running['job_id']} {running.get('shot') or ''} {running['frames_done']}/"
            f"{running['frames_total']} frames ({running.get('stage') or 'starting'})"
        )
    else:
        lines.append("running  nothing")
    queue = status.get("queue") or []
    lines.append(
        f"queue    {len(queue)} job(s)"
        + "".join(f"\n         {j['job_id']} priority {j['priority']} {j.get('shot') or ''}" for j in queue)
    )
    cache = status.get("cache")
    if cache:
        lines.append(
            f"cache    {cache['hits']} hits / {cache['misses']} misses, {cache['entries']} entries, "
            f"{cache['bytes'] / 1e6:.1f} of {cache['budget_bytes'] / 1e6:.0f} MB"
        )
    devices = ", ".join(d.get("model", d["name"]) if d["name"] != "cpu" else "cpu" for d in status.get("devices", []))
    lines.append(f"devices  {devices or 'unknown'}")
    return "\n".join(lines)

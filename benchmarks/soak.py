"""Soak test of ``e2fgvi-server``: N clients x M jobs with random cancels, server restarts and client kills.

    .venv/bin/python benchmarks/soak.py [--clients 4] [--jobs 6] [--restarts 2] [--kills 2] [--seed 1]
                                        [--time-limit-s 600]

Loopback only (a real server process on ``127.0.0.1``, restarted with SIGKILL at random moments on the same port;
real ``Client`` objects, some closed abruptly mid-job as a crashed host would). Bounded in count (clients x jobs)
and in time (``--time-limit-s``; every wait has a timeout). Each job is by path or by value at random and checked
against its expected frame set. The report counts: jobs, frames delivered, ``lost`` (a finished job missing
frames, or a by-path frame missing on disk), ``duplicated`` (a frame delivered twice to one handle), ``hangs``
(a wait that ran out), and the peak RSS of the server processes and of this client process. Exit status 1 when
lost, duplicated or hangs is not 0.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.testing import ServerProcess, free_port, make_shot
from e2fgvi_host.client import Client
from e2fgvi_server import protocol as wire

JOB_WAIT_S = 120.0
FRAMES = 6


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter = Counter()

    def add(self, name: str, value: int = 1) -> None:
        with self.lock:
            self.counts[name] += value


def run_client(index: int, args, address: str, shot: dict, roots: Path, tally: Tally, kills: list[int]) -> None:
    rng = random.Random(args.seed * 1000 + index)
    plate = {n: read_frame(shot["plate"] % n) for n in range(1001, 1001 + FRAMES)}
    matte = {n: read_frame(shot["matte"] % n) for n in plate}
    client = Client(address, heartbeat_interval_s=0.5)
    try:
        for job in range(args.jobs):
            by_value = rng.random() < 0.5
            seen: Counter = Counter()
            out = None if by_value else str(roots / f"c{index}" / f"j{job}" / "out.%04d.exr")
            request = {**shot, "engine": "propagate"} if not by_value else {"engine": "propagate"}
            if out:
                request["out"] = out
            extra = {"plate_frames": plate, "matte_frames": matte} if by_value else {}
            handle = client.submit(request, on_result=lambda r, seen=seen: seen.update([r.frame]), **extra)
            tally.add("jobs")
            if rng.random() < args.cancel_rate:
                time.sleep(rng.uniform(0, 0.5))
                handle.cancel()
            if kills and rng.random() < 0.3:
                with tally.lock:
                    kill = kills.pop() if kills else None
                if kill is not None:  # this host "crashes": the client goes away without a word, a new one starts
                    time.sleep(rng.uniform(0, 0.3))
                    client.close()
                    tally.add("client_kills")
                    client = Client(address, heartbeat_interval_s=0.5)
                    continue
            try:
                result = handle.wait(JOB_WAIT_S)
            except wire.RemoteError as exc:
                tally.add("cancelled" if exc.code == wire.CANCELLED else f"error_{exc.code}")
                continue
            except TimeoutError:
                tally.add("hangs")
                continue
            except Exception as exc:  # noqa: BLE001 - counted, shown in the report
                tally.add(f"error_{type(exc).__name__}")
                continue
            tally.add("done")
            tally.add("frames", len(result.frames))
            if sorted(result.frames) != list(range(1001, 1001 + FRAMES)):
                tally.add("lost")
            if any(count > 1 for count in seen.values()):
                tally.add("duplicated")
            if out and not all(Path(out % n).is_file() for n in result.frames):
                tally.add("lost")
    finally:
        client.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=6, help="jobs per client")
    parser.add_argument("--restarts", type=int, default=2, help="server SIGKILL + restart, after random job counts")
    parser.add_argument("--kills", type=int, default=2, help="clients closed abruptly mid-job")
    parser.add_argument("--cancel-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="e2fgvi-soak-") as tmp:
        roots = Path(tmp) / "roots"
        roots.mkdir()
        shot = make_shot(roots / "shot", frames=FRAMES, size=(48, 64), seed=args.seed)
        address = f"tcp://127.0.0.1:{free_port()}"
        server_args = ["--output-root", str(roots), "--heartbeat-interval-s", "0.5"]
        servers = [ServerProcess(address, server_args, Path(tmp) / "server-0.log").start()]
        peak_server = 0
        kills = list(range(args.kills))
        threads = [
            threading.Thread(target=run_client, args=(i, args, address, shot, roots, tally, kills), daemon=True)
            for i in range(args.clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        total = args.clients * args.jobs  # restart when this many jobs have been submitted (random, spread out)
        restart_at = sorted(rng.sample(range(1, max(2, total)), min(args.restarts, max(1, total - 1))))
        while any(t.is_alive() for t in threads) and time.monotonic() - started < args.time_limit_s:
            try:
                peak_server = max(peak_server, psutil.Process(servers[-1].process.pid).memory_info().rss)
            except psutil.Error:
                pass
            if restart_at and tally.counts["jobs"] >= restart_at[0]:
                restart_at.pop(0)
                servers[-1].kill()
                tally.add("server_restarts")
                log = Path(tmp) / f"server-{len(servers)}.log"
                servers.append(ServerProcess(address, server_args, log).start())
            time.sleep(0.1)
        for thread in threads:
            thread.join(max(0.0, args.time_limit_s - (time.monotonic() - started)) + 1)
            if thread.is_alive():
                tally.add("hangs")
        seconds = time.monotonic() - started
        for server in servers:
            server.kill()
    counts = tally.counts
    report = {
        "clients": args.clients,
        "jobs_per_client": args.jobs,
        "jobs": counts["jobs"],
        "done": counts["done"],
        "cancelled": counts["cancelled"],
        "errors": {k: v for k, v in counts.items() if k.startswith("error_")},
        "frames": counts["frames"],
        "lost": counts["lost"],
        "duplicated": counts["duplicated"],
        "hangs": counts["hangs"],
        "server_restarts": counts["server_restarts"],
        "client_kills": counts["client_kills"],
        "seconds": round(seconds, 1),
        "peak_rss_server_mib": round(peak_server / 2**20, 1),
        "peak_rss_clients_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(report, indent=2))
    return 0 if report["lost"] == report["duplicated"] == report["hangs"] == 0 else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())

"""What the server costs and what its cache saves.

1. Round-trip overhead per frame, frames by value, at 432x240 and 1920x1080: a real ``e2fgvi-server`` process,
   the weight-free ``propagate`` engine, half-float RGB plates in and out. Reported per frame:
   ``server - engine`` (the worker: frames from the wire, streaming results) and ``client - engine`` (everything
   a host sees on top of the engine: encode, transfer both ways, queue, decode).
2. Speed-up of a second submit of the same shot (E2FGVI-HQ; the server's ShotCache keeps encoder features and
   flows). Needs weights: ``--weights PATH`` or the deterministic parity weights of ``../shared/parity``.

    .venv/bin/python benchmarks/server_overhead.py                 # both parts, numbers as a markdown table
    .venv/bin/python benchmarks/server_overhead.py --skip-cache    # only the overhead part
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from e2fgvi_host.client import Client, RequestTimeoutError

START_TIMEOUT_S = 60.0
JOB_TIMEOUT_S = 3600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(root: Path, log_path: Path, ipc: bool = False) -> tuple[subprocess.Popen, str]:
    address = f"ipc://{root}/server.sock" if ipc else f"tcp://127.0.0.1:{free_port()}"
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "e2fgvi_server.main",
                "--bind",
                address,
                "--output-root",
                str(root),
                "--log-level",
                "WARNING",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    with Client(address, retries=1000, heartbeat_interval_s=0.2) as client:
        while time.monotonic() < deadline:
            try:
                client.hello(timeout_s=1.0)
                return process, address
            except RequestTimeoutError:
                if process.poll() is not None:
                    break
    process.kill()
    raise SystemExit(f"server did not start; see {log_path}")


def synthetic_frames(count: int, height: int, width: int, seed: int = 0) -> tuple[dict, dict]:
    """Half-float RGB plates with a drifting texture and a small moving box matte (float32, one channel)."""
    rng = np.random.default_rng(seed)
    texture = rng.random((height, width + 4 * count, 3), dtype=np.float32) * 0.5 + 0.1
    plates, mattes = {}, {}
    box_h, box_w = max(8, height // 8), max(8, width // 10)
    for i in range(count):
        plates[1001 + i] = np.ascontiguousarray(texture[:, 4 * i : 4 * i + width]).astype(np.float16)
        matte = np.zeros((height, width, 1), np.float32)
        y, x = height // 2 - box_h // 2, (width // 4 + 3 * i) % (width - box_w)
        matte[y : y + box_h, x : x + box_w] = 1.0
        mattes[1001 + i] = matte
    return plates, mattes


def measure_overhead(client: Client, label: str, height: int, width: int, frames: int, repeats: int) -> dict:
    plates, mattes = synthetic_frames(frames, height, width)
    client.submit({"engine": "propagate"}, plate_frames=plates, matte_frames=mattes).wait(JOB_TIMEOUT_S)  # warm-up
    rows = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = client.submit({"engine": "propagate"}, plate_frames=plates, matte_frames=mattes).wait(JOB_TIMEOUT_S)
        client_s = time.perf_counter() - start
        assert len(result.frames) == frames
        rows.append((client_s, result.summary["server_seconds"], result.summary["seconds"]))
    client_s, server_s, engine_s = (float(np.median([r[i] for r in rows])) for i in range(3))
    return {
        "size": label,
        "frames": frames,
        "repeats": repeats,
        "mb_per_frame_each_way": plates[1001].nbytes / 1e6,
        "engine_ms_per_frame": 1000 * engine_s / frames,
        "server_minus_engine_ms_per_frame": 1000 * (server_s - engine_s) / frames,
        "client_minus_engine_ms_per_frame": 1000 * (client_s - engine_s) / frames,
    }


def load_parity_weights(folder: Path) -> str | None:
    """The deterministic E2FGVI-HQ checkpoint (seed 0), or None where ../shared is absent."""
    from e2fgvi_core.testing import SHARED_DIR, write_filled_checkpoint

    if not (SHARED_DIR / "parity" / "fill_weights.py").exists():
        return None
    return str(write_filled_checkpoint(folder / "e2fgvi_hq_parity_seed0.pth", seed=0))


def write_shot(folder: Path, plates: dict, mattes: dict) -> dict:
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    for number, plate in plates.items():
        for name, pixels, fmt in (("plate", plate, "half"), ("matte", mattes[number], "float")):
            h, w, c = pixels.shape
            spec = oiio.ImageSpec(w, h, c, fmt)
            out = oiio.ImageOutput.create(str(folder / f"{name}.{number:04d}.exr"))
            out.open(str(folder / f"{name}.{number:04d}.exr"), spec)
            out.write_image(pixels)
            out.close()
    return {"plate": str(folder / "plate.%04d.exr"), "matte": str(folder / "matte.%04d.exr")}


def measure_second_submit(
    client: Client, root: Path, weights: str, height: int, width: int, frames: int, device: str
) -> dict:
    """Warm the model on another shot, then submit one shot twice: first (cold cache) vs second (warm cache)."""
    base = {"engine": "e2fgvi_hq", "weights": weights, "device": device}
    warm = write_shot(root / "warm", *synthetic_frames(3, height, width, seed=1))
    client.submit({**base, **warm, "out": str(root / "warm" / "out.%04d.exr")}).wait(JOB_TIMEOUT_S)
    shot = write_shot(root / "shot", *synthetic_frames(frames, height, width, seed=2))
    times = []
    for name in ("first", "second"):
        start = time.perf_counter()
        result = client.submit({**base, **shot, "out": str(root / "shot" / f"{name}.%04d.exr")}).wait(JOB_TIMEOUT_S)
        times.append((time.perf_counter() - start, result.summary["seconds"], result.summary["cache"]))
    return {
        "size": f"{width}x{height}",
        "frames": frames,
        "device": device,
        "first_s": times[0][1],
        "second_s": times[1][1],
        "speedup": times[0][1] / times[1][1],
        "cache_after_second": {k: times[1][2][k] for k in ("hits", "misses", "entries", "bytes")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames-small", type=int, default=20, help="frames per job at 432x240")
    parser.add_argument("--frames-hd", type=int, default=5, help="frames per job at 1920x1080")
    parser.add_argument("--skip-cache", action="store_true", help="skip the E2FGVI-HQ second-submit part")
    parser.add_argument("--weights", help="E2FGVI-HQ checkpoint (default: parity test weights from ../shared)")
    parser.add_argument("--cache-size", default="240x432", help="HxW of the second-submit shot (default 240x432)")
    parser.add_argument("--cache-frames", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--ipc", action="store_true", help="talk over ipc:// instead of tcp://127.0.0.1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="e2fgvi-bench-") as tmp:
        root = Path(tmp)
        process, address = start_server(root, root / "server.log", ipc=args.ipc)
        try:
            report = {"overhead": [], "cache": None}
            with Client(address) as client:
                report["overhead"].append(
                    measure_overhead(client, "432x240", 240, 432, args.frames_small, args.repeats)
                )
                report["overhead"].append(
                    measure_overhead(client, "1920x1080", 1080, 1920, args.frames_hd, args.repeats)
                )
                if not args.skip_cache:
                    weights = args.weights or load_parity_weights(root)
                    if weights is None:
                        print("no weights: pass --weights or put ../shared/parity beside the checkout", file=sys.stderr)
                    else:
                        h, w = (int(v) for v in args.cache_size.split("x"))
                        report["cache"] = measure_second_submit(
                            client, root, weights, h, w, args.cache_frames, args.device
                        )
        finally:
            process.kill()
            process.wait(10)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        "| frames by value | frames/job | MB/frame each way | engine ms/frame | server - engine ms/frame | "
        "client - engine ms/frame |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in report["overhead"]:
        print(
            f"| {row['size']} | {row['frames']} | {row['mb_per_frame_each_way']:.2f} | "
            f"{row['engine_ms_per_frame']:.1f} | {row['server_minus_engine_ms_per_frame']:.2f} | "
            f"{row['client_minus_engine_ms_per_frame']:.2f} |"
        )
    if report["cache"]:
        c = report["cache"]
        print(
            f"\nE2FGVI-HQ, {c['frames']} frames at {c['size']} on {c['device']}: first submit "
            f"{c['first_s']:.2f} s, second {c['second_s']:.2f} s, speed-up x{c['speedup']:.2f} "
            f"(cache after the second: {c['cache_after_second']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

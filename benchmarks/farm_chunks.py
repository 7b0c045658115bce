"""What chunking a shot for the farm costs, measured: one in-process run against `openjd run` of the job bundle.

The real tennis clip of ``../shared/footage`` (70 frames, 432x240) with its object masks, the weight-free
``propagate`` engine (no weights needed). For each chunk size: wall time of ``openjd run`` over every chunk in one
local session (one session server, as one worker would run them), the same with every task standalone
(``SessionServer=off``), and whether every frame equals the single run bit for bit. Also prints what
``e2fgvi farm plan`` predicted (cost in frame passes), to compare prediction and measurement.

    .venv/bin/python benchmarks/farm_chunks.py                   # chunk sizes 10 and 35
    .venv/bin/python benchmarks/farm_chunks.py --chunks 10,35,70
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from e2fgvi_core.testing import SHARED_DIR


def _pixels(pattern: str, frames) -> dict[int, bytes]:
    from e2fgvi_core.io import read_frame

    return {f: read_frame(pattern % f).pixels.tobytes() for f in frames}


def _worker_env(folder: Path) -> dict[str, str]:
    """``e2fgvi`` on PATH for the openjd runner (as on an installed worker), this checkout importable."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "e2fgvi"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m e2fgvi_core.cli.main "$@"\n')
    launcher.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{PROJECT_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.pop("E2FGVI_FARM_SERVER", None)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="10,35", help="comma list of chunk sizes")
    parser.add_argument("--clip", default="tennis", choices=("tennis", "schoolgirls"))
    args = parser.parse_args()
    clip = SHARED_DIR / "footage" / args.clip
    if not clip.is_dir():
        print(f"{clip} is absent: put the project's shared/ folder beside the checkout", file=sys.stderr)
        return 2
    from e2fgvi_core.farm.bundle import write_bundle
    from e2fgvi_core.io.sequence import FrameSequence
    from e2fgvi_core.removal.api import RemovalRequest, run_removal

    frames = FrameSequence(str(clip / "frames" / "%05d.png")).scan()
    shot = f"{frames[0]}-{frames[-1]}"
    job = {"plate": str(clip / "frames" / "%05d.png"), "matte": str(clip / "masks" / "%05d.png"), "engine": "propagate"}
    folder = Path(tempfile.mkdtemp(prefix="e2fgvi-farm-bench-"))
    try:
        env = _worker_env(folder)
        single_out = str(folder / "single" / "%05d.png")
        start = time.monotonic()
        run_removal(RemovalRequest.from_mapping({**job, "out": single_out, "shot": shot}))
        single_s = time.monotonic() - start
        reference = _pixels(single_out, frames)
        print(f"clip {args.clip}, {len(frames)} frames {shot}, propagate; one in-process run: {single_s:.1f} s")
        print(
            "| chunk | tasks | plan cost (one run = 1.00) | openjd run, session server | openjd run, standalone | exact |"
        )
        print("|---|---|---|---|---|---|")
        for size in (int(text) for text in args.chunks.split(",")):
            times = []
            exact = True
            for server in (True, False):
                out = folder / f"chunk{size}-{'server' if server else 'standalone'}" / "%05d.png"
                farm = {"chunk_size": size, "session_server": server}
                bundle = write_bundle(out.parent.with_suffix(".bundle"), {**job, "out": str(out)}, farm, shot=shot)
                command = [sys.executable, "-m", "openjd", *bundle.openjd_run_command()[1:]]
                start = time.monotonic()
                done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                times.append(time.monotonic() - start)
                if done.returncode != 0:
                    print((done.stdout + done.stderr)[-3000:], file=sys.stderr)
                    return 1
                exact = exact and _pixels(str(out), frames) == reference
            plan = bundle.plan
            print(
                f"| {size} | {len(plan.chunks)} | {plan.chunks_cost / plan.single_run_cost:.2f} | {times[0]:.1f} s "
                f"({times[0] / single_s:.2f}x) | {times[1]:.1f} s ({times[1] / single_s:.2f}x) | "
                f"{'yes' if exact else 'NO'} |"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

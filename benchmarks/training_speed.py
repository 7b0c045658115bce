"""Training speed of ``e2fgvi train`` (steps/s), for docs/training.md.

Why: users plan fine-tuning runs in hours of GPU or CPU time; the number they need is seconds per step of their
config on their machine. The script trains ``--steps`` steps of a preset (``test``, ``tiny`` or ``official``, with
optional ``--set KEY=VALUE`` overrides, as the CLI takes them) into a temporary run folder and reports the median
seconds of the steps after the first (which pays for allocation and warm-up), read from the run's ``losses.csv``.
Without ``--data`` it writes synthetic panning clips of the training size (the speed does not depend on content).

Usage: ``python benchmarks/training_speed.py --preset test --steps 10``;
``python benchmarks/training_speed.py --preset official --steps 3 --set data.batch_size=1 --set data.num_workers=0``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2fgvi_core.cli.train import set_overrides
from e2fgvi_core.device import select_device
from e2fgvi_core.training import PRESETS, TrainConfig, Trainer
from e2fgvi_core.training.config import merge_dotted
from e2fgvi_core.training.run_log import read_losses


def synthetic_clips(root: Path, size: tuple[int, int], frames: int = 12) -> Path:
    """Two panning clips of smooth seeded noise at ``size`` (h, w)."""
    h, w = size
    for seed in range(2):
        rng = np.random.default_rng(seed)
        big = cv2.resize(rng.uniform(0, 255, (h // 8 + 4, w // 8 + 4, 3)).astype(np.float32), (w + 2 * frames, h + 8))
        folder = root / f"clip{seed}"
        folder.mkdir(parents=True)
        for i in range(frames):
            cv2.imwrite(
                str(folder / f"{i:04d}.png"), np.clip(big[4 : 4 + h, 2 * i : 2 * i + w], 0, 255).astype(np.uint8)
            )
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="test", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--data", help="folder of clips (default: synthetic clips of the training size)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"steps": args.steps, "save_every": args.steps, "device": args.device, **set_overrides(args.set)}
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig.from_mapping(merge_dotted(PRESETS[args.preset], overrides))
        data = args.data or str(synthetic_clips(Path(tmp) / "clips", config.data.size))
        config = config.with_overrides({"data.root": data})
        Trainer(config, Path(tmp) / "run").train()
        seconds = [row["seconds"] for row in read_losses(Path(tmp) / "run" / "losses.csv")]
    steady = seconds[1:] or seconds
    median = statistics.median(steady)
    d = config.data
    print(
        f"{config.variant} {d.size[0]}x{d.size[1]} batch {d.batch_size} frames {d.num_local_frames}+{d.num_ref_frames} "
        f"on {select_device(config.device)} "
        f"({torch.get_num_threads()} threads): {args.steps} steps, median {median:.3f} s/step after the first "
        f"= {1 / median:.3f} steps/s (first step {seconds[0]:.2f} s)"
    )


if __name__ == "__main__":
    main()

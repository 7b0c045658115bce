"""Fixtures of the training tests: synthetic panning clips written as PNG folders, and the tiny config."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from e2fgvi_core.training import PRESETS, TrainConfig
from e2fgvi_core.training.config import merge_dotted


def write_panning_clip(folder: Path, seed: int, frames: int = 12, size=(48, 72), speed=(1, 2)) -> Path:
    """A camera pan over a seeded smooth texture of one look (warm tint, darker and lighter blobs): frame i is the
    window shifted by i * speed (dy, dx) pixels. Clips of other seeds share the look, not the content."""
    rng = np.random.default_rng(seed)
    h, w = size
    big_h, big_w = h + speed[0] * frames + 8, w + speed[1] * frames + 8
    coarse = rng.uniform(-50, 50, size=(big_h // 6 + 2, big_w // 6 + 2, 1)).astype(np.float32)
    texture = (
        np.array([60, 130, 210], np.float32)
        + cv2.resize(coarse, (big_w, big_h), interpolation=cv2.INTER_CUBIC)[..., None]
    )
    for _ in range(6):  # a few sharp-edged shapes so the content has structure to carry
        shade = float(rng.uniform(0.5, 1.2))
        centre = (int(rng.integers(0, big_w)), int(rng.integers(0, big_h)))
        cv2.circle(texture, centre, int(rng.integers(4, 12)), [60 * shade, 130 * shade, 210 * shade], -1)
    texture = np.clip(texture, 0, 255).astype(np.uint8)  # BGR as written
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        y, x = 4 + speed[0] * i, 4 + speed[1] * i
        cv2.imwrite(str(folder / f"{i:04d}.png"), texture[y : y + h, x : x + w])
    return folder


@pytest.fixture(scope="session")
def clips_dir(tmp_path_factory) -> Path:
    """Two training clips and, under holdout/, one held-out clip (another texture, same motion)."""
    root = tmp_path_factory.mktemp("clips")
    write_panning_clip(root / "train" / "pan_a", seed=1)
    write_panning_clip(root / "train" / "pan_b", seed=2, speed=(0, 2))
    write_panning_clip(root / "holdout" / "pan_c", seed=3)
    return root


def tiny_config(clips_dir: Path, **overrides) -> TrainConfig:
    """The ``test`` preset (the test-only tiny variant) on the synthetic clips, plus dotted-key ``overrides``."""
    base = merge_dotted(
        PRESETS["test"], {"data.root": str(clips_dir / "train"), "data.holdout": str(clips_dir / "holdout")}
    )
    return TrainConfig.from_mapping(merge_dotted(base, overrides))


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny networks gain nothing from two on CI, and lose a lot on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class PoisonedSamples:
    """The real samples, except that the sample numbers in ``bad`` (or all, with ``bad=None``) get NaN frames."""

    def __init__(self, samples, bad: set[int] | None):
        self.samples = samples
        self.bad = bad

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, n: int):
        frames, masks = self.samples[n]
        if self.bad is None or n in self.bad:
            frames = frames.clone()
            frames[:, :, :4, :4] = float("nan")
        return frames, masks


@pytest.fixture(scope="session")
def tiny(clips_dir):
    """``tiny(**dotted_overrides) -> TrainConfig`` on the synthetic clips."""
    return lambda **overrides: tiny_config(clips_dir, **overrides)


@pytest.fixture
def poisoned():
    return PoisonedSamples


@pytest.fixture
def run_cli(tmp_path):
    """``run_cli(*args) -> CompletedProcess``: ``python -m e2fgvi_core.cli.main`` as a real subprocess, one thread,
    with an empty weights store in ``tmp_path``."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]

    def run(*args: str, timeout: float = 600, module: tuple[str, ...] = ("-m", "e2fgvi_core.cli.main")):
        env = dict(os.environ, PYTHONPATH=str(root), E2FGVI_WEIGHTS_DIR=str(tmp_path / "weights"), OMP_NUM_THREADS="1")
        return subprocess.run(
            [sys.executable, *module, *args],
            check=False,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run

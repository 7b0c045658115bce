"""Fixtures of the engine tests: deterministic HQ checkpoints on disk and small synthetic shots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def make_checkpoint(fill_weights, tmp_path_factory):
    """``make_checkpoint(seed) -> path``: an e2fgvi_hq state_dict filled by the parity weight helper, saved once."""
    import torch

    from e2fgvi_core.models import build_generator

    made: dict[int, Path] = {}

    def make(seed: int) -> Path:
        if seed not in made:
            model = build_generator("e2fgvi_hq")
            fill_weights(model, seed)
            path = tmp_path_factory.mktemp("weights") / f"e2fgvi_hq_seed{seed}.pth"
            torch.save(model.state_dict(), path)
            made[seed] = path
        return made[seed]

    return make


@pytest.fixture(scope="session")
def synthetic_shot():
    """The ``make_synthetic_shot`` function (a fixture, since test modules are imported in importlib mode)."""
    return make_synthetic_shot


def make_synthetic_shot(length: int, height: int, width: int, seed: int = 0, box: int = 16, empty=()):
    """(frames uint8 (t, h, w, 3), mattes bool (t, h, w)): a panning texture with a moving square matte.

    Positions listed in ``empty`` get an empty matte.
    """
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, size=(height, width + 4 * length, 3), dtype=np.uint8)
    texture = (texture.astype(np.float32) * 0.5 + np.roll(texture, 1, axis=1).astype(np.float32) * 0.5).astype(np.uint8)
    frames = np.stack([texture[:, 2 * t : 2 * t + width] for t in range(length)])
    mattes = np.zeros((length, height, width), dtype=bool)
    for t in range(length):
        if t in empty:
            continue
        y = (height - box) // 2
        x = (3 * t) % max(1, width - box)
        mattes[t, y : y + box, x : x + box] = True
    return frames, mattes

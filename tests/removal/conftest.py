"""Fixtures of the engine tests: deterministic HQ checkpoints on disk and small synthetic shots."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2fgvi_core.testing import make_synthetic_shot


@pytest.fixture(scope="session")
def make_checkpoint(filled_checkpoint, tmp_path_factory):
    """``make_checkpoint(seed) -> path``: an e2fgvi_hq state_dict filled by the parity weight helper, saved once."""
    made: dict[int, Path] = {}

    def make(seed: int) -> Path:
        if seed not in made:
            path = tmp_path_factory.mktemp("weights") / f"e2fgvi_hq_seed{seed}.pth"
            made[seed] = filled_checkpoint(path, seed=seed)
        return made[seed]

    return make


@pytest.fixture(scope="session")
def synthetic_shot():
    """The ``make_synthetic_shot`` function (a fixture, since test modules are imported in importlib mode)."""
    return make_synthetic_shot

"""Shared fixtures: paths to ../shared and helpers that skip clearly where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2fgvi_core.testing import SHARED_DIR, load_fill_weights

PARITY = SHARED_DIR / "parity"
FOOTAGE = SHARED_DIR / "footage"


def require_shared(path: Path) -> Path:
    """Return ``path`` or skip the test with a message naming what is missing."""
    if not path.exists():
        pytest.skip(f"{path} is absent: put the project's shared/ folder beside the checkout to run this test")
    return path


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    return require_shared(PARITY)


@pytest.fixture(scope="session")
def footage_dir() -> Path:
    return require_shared(FOOTAGE)


@pytest.fixture(scope="session")
def fill_weights(parity_dir):
    """The official deterministic weight-fill function from ../shared/parity/fill_weights.py."""
    return load_fill_weights(parity_dir.parent)


@pytest.fixture(scope="session")
def filled_checkpoint(parity_dir):
    """``filled_checkpoint(path, variant="e2fgvi_hq", seed=1) -> path``: ``testing.write_filled_checkpoint``, with
    the test skipped (not failed) where ../shared is absent."""
    from e2fgvi_core.testing import write_filled_checkpoint

    return write_filled_checkpoint

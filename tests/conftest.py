"""Shared fixtures: paths to ../shared and helpers that skip clearly where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from e2fgvi_core.testing import PROJECT_ROOT

SHARED = Path(os.environ.get("E2FGVI_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
PARITY = SHARED / "parity"
FOOTAGE = SHARED / "footage"


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
    import importlib.util

    spec = importlib.util.spec_from_file_location("fill_weights", parity_dir / "fill_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill_weights

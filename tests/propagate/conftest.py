"""Fixtures for the weight-free engine: a synthetic panning shot with known hidden background, real footage."""

from __future__ import annotations

import pytest

from e2fgvi_core.testing import PanningShot, make_panning_shot


@pytest.fixture(scope="module")
def panning_shot() -> PanningShot:
    return make_panning_shot()

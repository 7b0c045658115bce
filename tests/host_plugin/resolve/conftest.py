"""Fixtures of the Resolve/Fusion tests: the stand-ins on ``sys.path``, a real server, a small float shot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

STANDINS = Path(__file__).resolve().parents[2] / "standins"
if str(STANDINS) not in sys.path:
    sys.path.insert(0, str(STANDINS))

import host_test_support as support


@pytest.fixture
def server(tmp_path):
    running = support.start_server(tmp_path)
    yield running
    running.kill()


@pytest.fixture
def shot(tmp_path):
    return support.make_float_shot(tmp_path / "shot")

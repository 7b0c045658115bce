"""Fixtures of the Nuke tests: the ``nuke`` stand-in on ``sys.path`` (fresh session per test), a real server, a shot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

STANDINS = Path(__file__).resolve().parents[2] / "standins"
if str(STANDINS) not in sys.path:
    sys.path.insert(0, str(STANDINS))

import host_test_support as support
import nuke


@pytest.fixture
def nuke_session():
    """An empty Nuke session: no nodes, no menus, no callbacks."""
    nuke.standin.__init__()
    yield nuke
    nuke.standin.__init__()


@pytest.fixture
def server(tmp_path):
    running = support.start_server(tmp_path)
    yield running
    running.kill()


@pytest.fixture
def shot(tmp_path):
    return support.make_float_shot(tmp_path / "shot")

"""Fixtures of the Nuke tests: a fresh session of the ``nuke`` stand-in per test (``server`` and ``shot`` come from
``tests/host_plugin/conftest.py``, which also puts the stand-ins on ``sys.path``)."""

from __future__ import annotations

import nuke
import pytest


@pytest.fixture
def nuke_session():
    """An empty Nuke session: no nodes, no menus, no callbacks."""
    nuke.standin.__init__()
    yield nuke
    nuke.standin.__init__()

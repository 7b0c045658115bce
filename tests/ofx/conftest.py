"""Fixtures of the OpenFX tests: the built plug-in, a real server, a small EXR shot and the whole-shot reference run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.testing import ServerProcess, free_address, make_shot

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from ofx_support import COUNT, FIRST, build_plugin, whole_run


@pytest.fixture(scope="session")
def plugin_binary() -> Path:
    return build_plugin()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for the module (outputs confined to its folder)."""
    root = tmp_path_factory.mktemp("ofx")
    running = ServerProcess(
        free_address(),
        ["--output-root", str(root), "--heartbeat-interval-s", "0.5"],
        root / "server.log",
    ).start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    """A 12-frame half-float EXR plate with its float matte (a moving square)."""
    folder = tmp_path_factory.mktemp("shot")
    make_shot(folder, frames=COUNT, first=FIRST)
    return folder


@pytest.fixture(scope="module")
def whole(shot) -> dict[int, np.ndarray]:
    return whole_run(shot)


@pytest.fixture(scope="module", autouse=True)
def one_openmp_thread():
    """Processes these tests start (the server the plug-in starts itself among them) compute with one OpenMP
    thread, as ``testing.subprocess_env``'s children do: E2FGVI-HQ's bits depend on the thread count. Per module,
    not at import: set when this file was imported, it leaked into every other test's children and broke the
    farm's bit-for-bit test (its in-process run kept two threads, the farm's server got one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield

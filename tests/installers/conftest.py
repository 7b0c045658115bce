"""Fixtures for installs that must be self-contained: host-dependency wheels, and a Python that lacks them.

``host_wheels``: pyzmq, msgpack and numpy wheels for this Python on this OS, fetched once per session with
``pip download`` (or taken from ``$E2FGVI_TEST_WHEELS``), passed to installers as ``--wheels DIR``.
``isolated_site``: this environment's site-packages seen through links, without zmq, msgpack and our own
packages, so a ``python -I -S`` given only that folder (and what an installer placed) plays a host's Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

HIDDEN_PREFIXES = ("zmq", "pyzmq", "msgpack", "e2fgvi", "__editable__", "_e2fgvi")


@pytest.fixture(scope="session")
def host_wheels(tmp_path_factory) -> Path:
    """pyzmq, msgpack, numpy for this Python, and pyzmq, msgpack for every Python Blender uses (its extension carries
    them all), on this OS: what ``--wheels DIR`` must hold for these tests' installs."""
    given = os.environ.get("E2FGVI_TEST_WHEELS")
    if given:
        return Path(given)
    from installers import _dependencies
    from installers.blender import BLENDER_PYTHONS, BUNDLED_WITH_BLENDER, host_side_distributions

    folder = tmp_path_factory.mktemp("wheels")
    this = f"{sys.version_info[0]}.{sys.version_info[1]}"
    wanted = {this: _dependencies.requirements(host_side_distributions())}
    for python in BLENDER_PYTHONS.values():
        blender = _dependencies.requirements(host_side_distributions(), BUNDLED_WITH_BLENDER)
        wanted[python] = sorted(set(wanted.get(python, [])) | set(blender))
    for python, reqs in wanted.items():
        argv = [sys.executable, "-m", "pip", "download", "--dest", str(folder), "--only-binary=:all:", "--quiet"]
        argv += ["--python-version", python, "--implementation", "cp", "--disable-pip-version-check", "--no-deps"]
        for tag in _dependencies.PLATFORM_TAGS["linux"]:
            argv += ["--platform", tag]
        done = subprocess.run([*argv, *reqs], capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot download {reqs} for {python} (no index? set E2FGVI_TEST_WHEELS): {done.stderr[-300:]}")
    return folder


@pytest.fixture(scope="session")
def isolated_site(tmp_path_factory) -> Path:
    if sys.platform.startswith("win"):
        pytest.skip("the isolated host Python is built with symlinks")
    site = Path(sysconfig.get_paths()["purelib"])
    folder = tmp_path_factory.mktemp("isolated-site")
    for entry in site.iterdir():
        if entry.name.startswith(HIDDEN_PREFIXES) or entry.suffix == ".pth":
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="session")
def host_python(isolated_site):
    """``host_python(script, *front, env=None) -> CompletedProcess``: ``script`` in a host-like Python (no site, no
    PYTHONPATH; ``front`` folders then ``isolated_site`` on sys.path), its current folder a fresh temp folder."""

    def run(script: str, *front: Path, env: dict[str, str] | None = None, timeout_s: float = 300):
        paths = [str(p) for p in front] + [str(isolated_site)]
        argv = [sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {paths!r}\n{script}"]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_s, check=False, env=env, cwd=isolated_site.parent
        )

    return run

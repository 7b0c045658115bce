"""The plug-in under valgrind memcheck: one render run of the test host, no invalid reads or writes, no definite leaks
in the plug-in's code (Python's own allocations are not judged: only errors with a frame in RemoveObject.ofx)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.testing import PROJECT_ROOT, subprocess_env

HERE = Path(__file__).resolve().parent


def _plugin_errors(xml_path: Path) -> list[str]:
    """Memcheck errors (invalid access, uninitialised use, definite leaks) with a stack frame in the plug-in."""
    found = []
    for error in ET.parse(xml_path).getroot().iter("error"):
        kind = error.findtext("kind") or ""
        if kind.startswith("Leak_") and kind != "Leak_DefinitelyLost":
            continue
        objects = [frame.findtext("obj") or "" for frame in error.iter("frame")]
        if any(obj.endswith("RemoveObject.ofx") for obj in objects):
            what = error.findtext("what") or error.findtext("xwhat/text") or ""
            found.append(f"{kind}: {what}")
    return found


@pytest.mark.slow
def test_a_render_run_under_memcheck_is_clean(plugin_binary, server, tmp_path):
    if shutil.which("valgrind") is None:
        pytest.fail("valgrind is missing: apt-get install valgrind")
    rng = np.random.default_rng(5)
    h, w = 24, 32
    for i, frame in enumerate(range(1001, 1009)):
        np.save(tmp_path / f"plate.{frame}.npy", rng.random((h, w, 3), dtype=np.float32))
        matte = np.zeros((h, w, 1), np.float32)
        matte[8:16, 4 + i : 12 + i] = 1.0
        np.save(tmp_path / f"matte.{frame}.npy", matte)
    report = tmp_path / "memcheck.xml"
    command = [
        "valgrind",
        "--tool=memcheck",
        "--leak-check=full",
        "--xml=yes",
        f"--xml-file={report}",
        sys.executable,
        str(HERE / "valgrind_render.py"),
        str(plugin_binary),
        str(tmp_path),
        server.address,
    ]
    temp = tmp_path / "temp"  # the plug-in's private scratch folder for the reference frame goes under it
    temp.mkdir()
    env = subprocess_env(PYTHONMALLOC="malloc", TMPDIR=str(temp))
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for frame in (1006, 1002, 1003):
        image = np.load(tmp_path / f"out.{frame}.npy")
        assert np.isfinite(image[h - 17 : h - 3, 2:20]).all()  # the window was written
    assert _plugin_errors(report) == []
    scratch = temp / f"e2fgvi-{os.getuid()}" / "bridge"
    assert scratch.is_dir() and list(scratch.iterdir()) == []  # the reference was written there, then removed

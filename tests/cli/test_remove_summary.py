"""What `e2fgvi remove` tells people and scripts (issue 10): version, grouped help, --json, provenance, servers
that are not there."""

from __future__ import annotations

import json
import socket
import time

import numpy as np

from e2fgvi_core import __version__
from e2fgvi_core.io import Frame, read_frame, write_frame


def _shot(folder, length=2):
    yy, xx = np.mgrid[0:32, 0:48].astype(np.float32)
    matte = np.zeros((32, 48), np.uint8)
    matte[10:20, 16:30] = 255
    for i in range(length):
        rgb = np.stack([xx / 48, yy / 32, 0.5 + 0.3 * np.sin((xx + i) / 6)], -1)
        write_frame(folder / f"plate.{1001 + i:04d}.exr", Frame.from_array(rgb.astype(np.float16)))
        write_frame(folder / f"matte.{1001 + i:04d}.png", Frame.from_array(matte))
    return ("--plate", str(folder / "plate.%04d.exr"), "--matte", str(folder / "matte.%04d.png"))


def test_version_and_grouped_help_with_examples(run_cli):
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"e2fgvi {__version__}"
    shown = run_cli("remove", "--help")
    assert shown.returncode == 0
    text = shown.stdout[shown.stdout.index("options:") :]  # after the usage line
    assert text.index("plate, matte and output:") < text.index("matte:") < text.index("advanced (")
    assert text.index("--dilate") < text.index("advanced (") < text.index("--neighbor-stride")
    assert text.count("  e2fgvi remove --plate") == 2  # two examples


def test_json_summary_provenance_and_plain_cache_words(run_cli, tmp_path):
    args = _shot(tmp_path)
    done = run_cli(
        "remove", *args, "--out", str(tmp_path / "out" / "c.%04d.exr"), "--engine", "propagate", "--quiet", "--json",
        "--dilate", "2", "--feather", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["frames"] == [1001, 1002] and summary["engine"] == "propagate"
    # propagate caches its flows and windows only in a cache that outlives the run (the server's): in one process it
    # reads each window once, and a private cache would only grow with the shot; the plain words say so
    assert summary["caches"] is False and summary["cache"] is None
    assert done.stderr.rstrip().endswith("no cache"), done.stderr[-300:]  # the summary line, --json or not
    assert len(summary["outputs"]) == 2
    meta = read_frame(tmp_path / "out" / "c.1001.exr").metadata
    assert meta["e2fgvi:version"] == __version__
    assert meta["e2fgvi:plate"] == args[1] and meta["e2fgvi:matte"] == args[3]
    assert meta["e2fgvi:matte_dilate"] == "2" and meta["e2fgvi:matte_feather"] == "1" and "e2fgvi:exposure" in meta


def test_server_that_is_not_there_fails_fast_with_one_line(run_cli, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()
    done = run_cli("remove", *_shot(tmp_path), "--out", str(tmp_path / "o.%04d.exr"), "--server", address)
    elapsed = time.monotonic() - started
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and f"e2fgvi-server --bind {address}" in lines[0]
    assert elapsed < 5 + 3  # within 5 s of work (+ the interpreter's start on a loaded CI machine)

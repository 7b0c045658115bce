"""``e2fgvi status --server`` and ``e2fgvi remove --server``, run as real commands against a real server."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np

from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.testing import run_python, subprocess_env

CLI_TIMEOUT_S = 120


def _e2fgvi(support, *args: str) -> subprocess.CompletedProcess:
    return run_python(
        ["-m", "e2fgvi_core.cli.main", *args],
        timeout_s=CLI_TIMEOUT_S,
    )


def test_status_prints_queue_cache_and_devices_and_json(server, support):
    result = _e2fgvi(support, "status", "--server", server.address)
    assert result.returncode == 0, result.stderr
    assert "running  nothing" in result.stdout and "queue    0 job(s)" in result.stdout
    assert "devices  cpu" in result.stdout
    raw = _e2fgvi(support, "status", "--server", server.address, "--json")
    data = json.loads(raw.stdout)
    assert data["running"] is None and data["queue"] == [] and "cache" in data


def test_status_of_a_missing_server_is_one_clear_line(support):
    address = f"tcp://127.0.0.1:{support.free_port()}"
    result = _e2fgvi(support, "status", "--server", address, "--timeout-s", "1")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "e2fgvi-server --bind" in lines[0]


def test_remove_as_another_user_says_the_server_refused_it_not_that_none_answered(
    server, shot, server_factory, tmp_path
):
    out = server_factory.roots / "other" / "out.%04d.exr"
    other_user = subprocess_env(E2FGVI_SERVER_ACCESS_KEY_FILE=str(tmp_path / "not-readable-by-this-user.key"))
    done = run_python(
        ["-m", "e2fgvi_core.cli.main", "remove", "--plate", shot["plate"], "--matte", shot["matte"]]
        + ["--out", str(out), "--engine", "propagate", "--server", server.address, "--quiet"],
        timeout_s=CLI_TIMEOUT_S,
        env=other_user,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"the e2fgvi-server at {server.address} refused this client: access_denied" in lines[0]
    assert "no e2fgvi-server answered" not in lines[0]  # before: it said none answered
    assert not out.parent.exists()


def test_remove_through_the_server_writes_the_same_frames_as_in_process(server, shot, server_factory, support):
    local = server_factory.roots / "local" / "out.%04d.exr"
    remote = server_factory.roots / "remote" / "out.%04d.exr"
    common = ["--plate", shot["plate"], "--matte", shot["matte"], "--engine", "propagate", "--quiet"]
    here = _e2fgvi(support, "remove", *common, "--out", str(local), "--json")
    assert here.returncode == 0, here.stderr
    there = _e2fgvi(support, "remove", *common, "--out", str(remote), "--server", server.address, "--json")
    assert there.returncode == 0, there.stderr
    assert "wrote 8 frames" in there.stderr and "with propagate" in there.stderr
    # one --json summary wherever the job ran (before: the server's own keys, without outputs/seconds/caches)
    local_json, remote_json = json.loads(here.stdout), json.loads(there.stdout)
    assert set(remote_json) - {"server", "server_seconds"} == set(local_json)
    for key in ("frames", "engine", "frames_passthrough", "windows_run"):
        assert remote_json[key] == local_json[key], key
    # propagate caches only in a cache that outlives the run: the server's, not one private to a process
    assert remote_json["caches"] is True and local_json["caches"] is False and local_json["cache"] is None
    assert [os.path.basename(p) for p in remote_json["outputs"]] == [os.path.basename(p) for p in local_json["outputs"]]
    for number in range(1001, 1009):
        assert np.array_equal(read_frame(str(local) % number).pixels, read_frame(str(remote) % number).pixels)


def test_remove_through_the_server_reports_server_errors_as_one_line(server, shot, tmp_path, support):
    outside = tmp_path / "not_a_root" / "out.%04d.exr"
    result = _e2fgvi(
        support,
        "remove",
        "--plate",
        shot["plate"],
        "--matte",
        shot["matte"],
        "--engine",
        "propagate",
        "--out",
        str(outside),
        "--server",
        server.address,
        "--quiet",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "outside the allowed roots" in lines[0]


def test_the_no_checkpoint_note_is_the_same_sentence_in_process_and_through_the_server(
    server_factory, shot, tmp_path, monkeypatch
):
    from e2fgvi_core.removal.engine_registry import PROPAGATE_NOTICE

    monkeypatch.setenv("E2FGVI_WEIGHTS_DIR", str(tmp_path / "no-weights-installed"))  # the server's store too
    server = server_factory()
    notes = []
    for where, extra in (("local", []), ("remote", ["--server", server.address])):
        out = server_factory.roots / where / "out.%04d.exr"
        done = run_python(
            ["-m", "e2fgvi_core.cli.main", "remove", "--plate", shot["plate"], "--matte", shot["matte"]]
            + ["--out", str(out), "--quiet", *extra],
            timeout_s=CLI_TIMEOUT_S,
            env=subprocess_env(),
        )
        assert done.returncode == 0, done.stderr
        notes.append([line for line in done.stderr.splitlines() if "E2FGVI checkpoint" in line])
    assert notes[0] == notes[1] == [f"e2fgvi remove: {PROPAGATE_NOTICE}"]  # before: the server path said nothing

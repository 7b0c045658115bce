"""Render-chunk on real files: chunked runs through `openjd run` equal one in-process run bit for bit; a killed task
leaves no partial frame and its re-run gives the same bytes; --resume keeps only valid frames."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2fgvi_core.farm.bundle import write_bundle

SHOT = "1001-1037"  # the farm_shot fixture's frames
FRAMES = range(1001, 1038)
SHOT_LENGTH = len(FRAMES)
_SINGLE_RUNS: dict[str, dict[int, tuple]] = {}


def _settings(engine: str) -> dict:
    if engine == "propagate":
        return {"engine": "propagate"}
    return {"engine": "e2fgvi_hq", "weights": "hq-test", "device": "cpu"}


@pytest.fixture(scope="module")
def single_run(tmp_path_factory, farm_shot, pixels):
    """``single_run(engine)``: pixels of one in-process run over the whole shot (once per engine and module)."""
    from e2fgvi_core.removal.api import RemovalRequest, run_removal

    folder = tmp_path_factory.mktemp("single-runs")

    def run(engine: str) -> dict[int, tuple]:
        if engine not in _SINGLE_RUNS:
            out = str(folder / f"single-{engine}" / "clean.%04d.exr")
            run_removal(RemovalRequest.from_mapping({**farm_shot, "out": out, **_settings(engine)}))
            _SINGLE_RUNS[engine] = pixels(out, FRAMES)
        return _SINGLE_RUNS[engine]

    return run


def _openjd_command(bundle) -> list[str]:
    command = bundle.openjd_run_command()
    assert command[:2] == ["openjd", "run"]
    return command[1:]


@pytest.mark.farm
@pytest.mark.parametrize(
    "engine, chunking, session_server",
    [
        ("propagate", True, True),
        pytest.param("e2fgvi_hq", True, True, marks=pytest.mark.slow),
        ("propagate", False, False),
    ],
    ids=["propagate-chunked-server", "hq-chunked-server", "propagate-fallback-standalone"],
)
def test_openjd_run_chunks_equal_one_run_bit_for_bit(
    farm_shot, tmp_path, use_store, openjd, single_run, pixels, engine, chunking, session_server
):
    out = tmp_path / "out" / "clean.%04d.exr"
    farm = {"chunk_size": 10, "chunking": chunking, "session_server": session_server}
    bundle = write_bundle(tmp_path / "bundle", {**farm_shot, "out": str(out), **_settings(engine)}, farm)
    sizes = [len(c.frames) for c in bundle.plan.chunks]
    assert sizes == ([10, 9, 9, 9] if chunking else [10, 10, 10, 7])
    done = openjd(*_openjd_command(bundle))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    ranges = re.findall(r"render-chunk: frames (\d+-\d+) of shot", log)
    assert sorted(ranges) == sorted(c.frame_range for c in bundle.plan.chunks), log[-3000:]
    if session_server:
        assert log.count("(server tcp://127.0.0.1:") == len(bundle.plan.chunks)
        pid = int(re.search(r"session server pid (\d+)", log).group(1))
        assert "stopped the session server" in log
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    else:
        assert log.count("(in-process)") == len(bundle.plan.chunks)
    expected = single_run(engine)
    assert pixels(str(out), FRAMES) == expected
    from e2fgvi_core.farm.render_chunk import expected_provenance, is_complete
    from e2fgvi_core.removal.api import RemovalRequest

    request = RemovalRequest.from_mapping({**farm_shot, **_settings(engine)})
    sha = bundle.parameters["WeightsSha256"] or None
    for frame in FRAMES:  # what --resume would keep: the runner's provenance, exactly
        assert is_complete(str(out) % frame, expected_provenance(request, frame, sha), farm_shot["plate"] % frame)


def _render_chunk_args(shot: dict, out: Path, frames: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "e2fgvi_core.cli.main",
        "farm",
        "render-chunk",
        "--plate",
        shot["plate"],
        "--matte",
        shot["matte"],
        "--out",
        str(out),
        "--engine",
        "propagate",
        "--shot",
        SHOT,
        "--frames",
        frames,
        "--quiet",
        *extra,
    ]


def test_killed_task_rerun_leaves_no_partial_file_and_same_bytes(farm_shot, tmp_path, farm_env, single_run, pixels):
    from e2fgvi_core.farm.render_chunk import expected_provenance, is_complete
    from e2fgvi_core.removal.api import RemovalRequest

    out = tmp_path / "out" / "clean.%04d.exr"
    process = subprocess.Popen(
        _render_chunk_args(farm_shot, out, SHOT), env=farm_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if out.parent.is_dir() and len(list(out.parent.glob("clean.*.exr"))) >= 3:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(60)
    assert process.returncode == -signal.SIGKILL, "the task finished before it could be killed"
    written = sorted(out.parent.glob("clean.*.exr"))
    assert 3 <= len(written) < SHOT_LENGTH
    request = RemovalRequest.from_mapping({**farm_shot, "engine": "propagate"})
    for path in written:  # what a killed task leaves under a frame's name is a complete frame of this job
        frame = int(path.name.split(".")[1])
        plate = farm_shot["plate"] % frame
        assert is_complete(str(path), expected_provenance(request, frame, None), plate), path
    stale = out.parent / ".clean.1030.exr.99999-deadbeef.tmp.exr"  # as if killed inside a write
    stale.write_bytes(b"half a frame")
    rerun = subprocess.run(
        _render_chunk_args(farm_shot, out, SHOT, "--resume"), env=farm_env, capture_output=True, text=True, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"kept {len(written)} complete" in rerun.stderr
    assert re.search(r"removed [12] temp file", rerun.stderr) and not stale.exists()  # 2: killed inside a write
    assert sorted(p.name for p in out.parent.iterdir()) == [f"clean.{f}.exr" for f in FRAMES]
    assert pixels(str(out), FRAMES) == single_run("propagate")


def test_resume_redoes_truncated_and_foreign_frames_only(farm_shot, tmp_path, farm_env, single_run, pixels):
    from e2fgvi_core.io import read_frame, write_frame

    out = tmp_path / "out" / "clean.%04d.exr"
    chunk = "1011-1019"
    first = subprocess.run(
        _render_chunk_args(farm_shot, out, chunk), env=farm_env, capture_output=True, text=True, check=False
    )
    assert first.returncode == 0, first.stderr
    paths = {f: Path(str(out) % f) for f in range(1011, 1020)}
    data = paths[1012].read_bytes()
    paths[1012].write_bytes(data[: len(data) // 2])  # truncated
    write_frame(paths[1013], read_frame(farm_shot["plate"] % 1013))  # foreign: no provenance
    other = read_frame(paths[1014])
    write_frame(paths[1014], other, metadata={"engine": "e2fgvi_hq", "frame": 1014})  # another job's provenance
    write_frame(paths[1015], read_frame(paths[1016]))  # another frame of this job under 1015's name
    kept = {f: os.stat(p).st_ino for f, p in paths.items() if f not in (1012, 1013, 1014, 1015)}
    again = subprocess.run(
        _render_chunk_args(farm_shot, out, chunk, "--resume"), env=farm_env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr
    assert "rendered 1012-1015 " in again.stderr and f"kept {len(kept)} complete" in again.stderr
    assert {f: os.stat(paths[f]).st_ino for f in kept} == kept  # valid frames were not rewritten
    expected = single_run("propagate")
    assert pixels(str(out), range(1011, 1020)) == {f: expected[f] for f in range(1011, 1020)}


def test_worker_with_other_weights_refuses_in_one_line(farm_shot, tmp_path, use_store, farm_env):
    args = _render_chunk_args(farm_shot, tmp_path / "out" / "c.%04d.exr", "1001-1010", "--weights-sha256", "0" * 64)
    args[args.index("propagate")] = "e2fgvi_hq"
    done = subprocess.run(
        args, env={**farm_env, "E2FGVI_WEIGHTS_DIR": str(use_store)}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "sha256" in lines[0] and "0" * 64 in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("frames, message", [("1030-1040", "outside the shot"), ("", "empty frame range")])
def test_bad_chunk_is_one_line_and_writes_nothing(farm_shot, tmp_path, farm_env, frames, message):
    done = subprocess.run(
        _render_chunk_args(farm_shot, tmp_path / "out" / "c.%04d.exr", frames),
        env=farm_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


def test_a_session_server_that_does_not_answer_means_in_process(farm_shot, tmp_path, farm_env, single_run, pixels):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    out = tmp_path / "out" / "clean.%04d.exr"
    done = subprocess.run(
        _render_chunk_args(farm_shot, out, "1020-1028"),
        env={**farm_env, "E2FGVI_FARM_SERVER": dead},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"the session server at {dead} does not answer" in done.stderr and "(in-process)" in done.stderr
    expected = single_run("propagate")
    assert pixels(str(out), range(1020, 1029)) == {f: expected[f] for f in range(1020, 1029)}


@pytest.mark.farm
def test_settings_without_a_job_parameter_travel_in_settings(farm_shot, tmp_path, openjd, pixels, monkeypatch):
    """A propagate setting reaches the task through the ``Settings`` parameter (one chunk run by ``openjd run``)."""
    import json

    from e2fgvi_core.removal.api import RemovalRequest, run_removal

    monkeypatch.setenv("E2FGVI_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    settings = {"engine": "propagate", "propagate_context_frames": 1}
    reference = str(tmp_path / "single" / "clean.%04d.exr")
    run_removal(RemovalRequest.from_mapping({**farm_shot, "out": reference, **settings}))
    out = tmp_path / "out" / "clean.%04d.exr"
    bundle = write_bundle(tmp_path / "bundle", {**farm_shot, "out": str(out), **settings}, {"session_server": False})
    assert json.loads(bundle.parameters["Settings"]) == {"propagate_context_frames": 1}
    done = openjd(*_openjd_command(bundle), "--tasks", json.dumps([{"Frames": "1011-1019"}]))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert pixels(str(out), range(1011, 1020)) == pixels(reference, range(1011, 1020))
    default = str(tmp_path / "default" / "clean.%04d.exr")
    run_removal(
        RemovalRequest.from_mapping(
            {**farm_shot, "out": default, "engine": "propagate", "frames": "1011-1019", "shot": SHOT}
        )
    )
    assert pixels(default, range(1011, 1020)) != pixels(reference, range(1011, 1020))  # the setting matters

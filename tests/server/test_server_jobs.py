"""Real jobs through a real server: same output as in-process, many clients, cancel, killed clients and servers.

The weight-free ``propagate`` engine keeps these fast; the ``long`` shot (64 frames at 320x240, about 0.6 s
per window here) gives the tests time to cancel or kill something in the middle of a job.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal
from e2fgvi_core.testing import wait_until
from e2fgvi_host.client import Client
from e2fgvi_server import protocol as wire

JOB_TIMEOUT_S = 120.0
LONG_FRAMES = 64  # ~0.6 s per 5-frame window here: long enough to cancel or kill mid-job
RESTART_FRAMES = 24  # runs to the end (twice, in part): keep it short
OUT_NAME = re.compile(r"^(plate|matte|out)\.\d{4}\.exr$")


def _in_process(request: dict, **kwargs):
    sink = MemorySink()
    run_removal(RemovalRequest.from_mapping(request), sink=sink, **kwargs)
    return {n: f.pixels for n, f in sink.frames.items()}


def _frames_by_value(pattern: str, numbers) -> dict:
    return {n: read_frame(pattern % n) for n in numbers}


def _assert_no_partial_files(folder: Path) -> None:
    """Only complete, readable EXRs: no temp files, nothing half-written."""
    for path in folder.iterdir():
        assert OUT_NAME.match(path.name), f"unexpected file left behind: {path.name}"
        if path.name.startswith("out."):
            assert read_frame(str(path)).pixels.size > 0


@pytest.fixture
def long_shot(server_factory, support):
    return support.make_shot(server_factory.roots / "long", frames=LONG_FRAMES, size=(240, 320), seed=5)


def test_round_trip_by_path_and_by_value_equal_the_in_process_engine(client, shot, server_factory):
    out = server_factory.roots / "by_path" / "out.%04d.exr"
    request = {**shot, "engine": "propagate"}
    expected = _in_process(request)
    progress = []
    by_path = client.submit({**request, "out": str(out)}, on_progress=progress.append).wait(JOB_TIMEOUT_S)
    assert sorted(by_path.frames) == sorted(expected)
    for number, frame in by_path.frames.items():
        assert frame.path == str(out) % number
        assert np.array_equal(read_frame(frame.path).pixels, expected[number])
    assert progress and progress[-1]["frames_done"] == progress[-1]["frames_total"] == 8
    assert by_path.summary["engine"] == "propagate" and by_path.summary["seconds"] > 0

    plate = _frames_by_value(shot["plate"], expected)
    matte = _frames_by_value(shot["matte"], expected)
    by_value = client.submit({"engine": "propagate"}, plate_frames=plate, matte_frames=matte).wait(JOB_TIMEOUT_S)
    assert sorted(by_value.frames) == sorted(expected)
    for number, frame in by_value.frames.items():
        assert frame.path is None and frame.channels == ["R", "G", "B"]
        assert frame.pixels.dtype == np.float16 and np.array_equal(frame.pixels, expected[number])
    _assert_no_partial_files(out.parent)


def test_eight_clients_three_jobs_each_every_frame_once_no_cross_talk(server, server_factory, support):
    shots = [support.make_shot(server_factory.roots / f"c{i}", frames=6, size=(32, 48), seed=i) for i in range(8)]
    ranges = ["1001-1006", "1002-1005", "1003-1006"]
    expected = {}
    inputs = {}
    for i, shot in enumerate(shots):
        plate = _frames_by_value(shot["plate"], range(1001, 1007))
        matte = _frames_by_value(shot["matte"], range(1001, 1007))
        inputs[i] = (plate, matte)
        for j, frames in enumerate(ranges):
            expected[i, j] = _in_process(
                {"engine": "propagate", "frames": frames}, source=MemorySource(plate), matte_source=MemorySource(matte)
            )
    delivered: dict[tuple[int, int], Counter] = {key: Counter() for key in expected}
    results: dict[tuple[int, int], dict] = {}
    errors: list[BaseException] = []

    def run_client(i: int) -> None:
        try:
            with Client(server.address, heartbeat_interval_s=0.5) as client:
                handles = []
                for j, frames in enumerate(ranges):
                    plate, matte = inputs[i]
                    handles.append(
                        client.submit(
                            {"engine": "propagate", "frames": frames},
                            plate_frames=plate,
                            matte_frames=matte,
                            key=f"client{i}-job{j}",
                            on_result=lambda r, k=(i, j): delivered[k].update([r.frame]),
                        )
                    )
                for j, handle in enumerate(handles):
                    results[i, j] = {n: f.pixels for n, f in handle.wait(JOB_TIMEOUT_S).frames.items()}
        except BaseException as exc:  # noqa: BLE001 - reported below with the client number
            errors.append(exc)

    threads = [threading.Thread(target=run_client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOB_TIMEOUT_S * 2)
    assert not errors, errors
    assert len(results) == 24
    for key, frames in expected.items():
        assert set(delivered[key]) == set(frames) and all(c == 1 for c in delivered[key].values()), key
        assert all(np.array_equal(results[key][n], frames[n]) for n in frames), f"wrong pixels for {key}"
    with Client(server.address) as client:
        assert client.status()["jobs_completed"] == 24


def test_cancel_mid_job_stops_at_a_window_boundary_and_leaves_no_partial_file(client, long_shot, server_factory):
    out = server_factory.roots / "long" / "out.%04d.exr"
    started = threading.Event()
    handle = client.submit(
        {**long_shot, "engine": "propagate", "out": str(out)},
        on_progress=lambda p: p["frames_done"] > 0 and started.set(),
    )
    assert started.wait(60), "the job never reported progress"
    handle.cancel()
    with pytest.raises(wire.RemoteError) as info:
        handle.wait(60)
    assert info.value.code == "cancelled" and handle.cancelled
    status = client.status()
    assert status["running"] is None and status["queue"] == []
    written = sorted(Path(out.parent).glob("out.*.exr"))
    assert 0 < len(written) < LONG_FRAMES
    _assert_no_partial_files(out.parent)


def test_a_job_queued_behind_another_reports_its_position_and_can_be_cancelled(client, long_shot, shot, server_factory):
    first = client.submit({**long_shot, "engine": "propagate", "out": str(server_factory.roots / "q1" / "o.%04d.exr")})
    second = client.submit({**shot, "engine": "propagate", "out": str(server_factory.roots / "q2" / "o.%04d.exr")})
    second.wait_accepted(30)
    status = client.status()
    assert status["running"]["key"] == first.key and [j["key"] for j in status["queue"]] == [second.key]
    second.cancel()
    with pytest.raises(wire.RemoteError, match="cancelled"):
        second.wait(30)
    first.cancel()
    with pytest.raises(wire.RemoteError, match="cancelled"):
        first.wait(60)


CLIENT_SCRIPT = textwrap.dedent("""
    import sys, time
    from e2fgvi_host.client import Client
    client = Client(sys.argv[1], heartbeat_interval_s=0.5)
    handle = client.submit({"plate": sys.argv[2], "matte": sys.argv[3], "out": sys.argv[4], "engine": "propagate"},
                           keep_running=sys.argv[5] == "keep", key="killed-client-job", secret="its-secret",
                           on_progress=lambda p: print("progress", p["frames_done"], flush=True))
    time.sleep(600)
""")


@pytest.mark.parametrize("keep", [False, True])
def test_client_killed_mid_job_cancels_the_job_unless_it_asked_to_keep_running(
    server, long_shot, server_factory, support, keep
):
    out = server_factory.roots / "long" / "out.%04d.exr"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLIENT_SCRIPT,
            server.address,
            long_shot["plate"],
            long_shot["matte"],
            str(out),
            "keep" if keep else "cancel",
        ],
        cwd=support.PROJECT_ROOT,
        env=support.subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("progress"), line
    finally:
        process.kill()
        process.wait(10)
    with Client(server.address) as client:
        if keep:  # still running after the lapse; its submitter re-attaches by key + secret + request and cancels
            assert wait_until(lambda: "event=client_lapsed_job_kept" in server.log(), 30), (
                "timed out waiting for the lapse to be noticed"
            )
            running = client.status()["running"]
            assert running is not None and running["state"] == "running"
            assert running["key"] is None and running["shot"] is None and not running["mine"]  # not this connection's
            request = {"plate": long_shot["plate"], "matte": long_shot["matte"], "out": str(out), "engine": "propagate"}
            handle = client.submit(request, key="killed-client-job", secret="its-secret")  # nothing new is queued
            assert handle.wait_accepted(10) == running["job_id"] and "reattached" in handle.events
            handle.cancel()
            with pytest.raises(wire.RemoteError, match="cancelled"):
                handle.wait(60)
        assert wait_until(lambda: client.status()["running"] is None, 60), "timed out waiting for the job to stop"
        assert client.ping() < 1.0
    if not keep:
        assert "event=client_lapsed_job_cancelled" in server.log() and "event=job_cancelled" in server.log()
        assert len(sorted(out.parent.glob("out.*.exr"))) < LONG_FRAMES
    _assert_no_partial_files(out.parent)


def test_server_sigkilled_mid_job_client_resubmits_to_the_restarted_server_and_completes(server_factory, support):
    server = server_factory()
    long_shot = support.make_shot(server_factory.roots / "restart", frames=RESTART_FRAMES, size=(240, 320), seed=7)
    out = server_factory.roots / "restart" / "out.%04d.exr"
    started = threading.Event()
    events = []
    with Client(server.address, heartbeat_interval_s=0.3, heartbeat_liveness=3, retries=100) as client:
        handle = client.submit(
            {**long_shot, "engine": "propagate", "out": str(out)},
            key="shot-long-v1",
            on_progress=lambda p: p["frames_done"] > 0 and started.set(),
            on_event=lambda event, h: events.append(event),
        )
        assert started.wait(60), "the job never reported progress"
        server.kill(signal.SIGKILL)
        restarted = support.ServerProcess(server.address, server.args, server.log_path.with_name("restarted.log"))
        try:
            time.sleep(1.5)  # let the client notice the silence before the new server comes up
            restarted.start(wait=False)
            result = handle.wait(JOB_TIMEOUT_S)
        finally:
            restarted.kill()
    assert "server_lost_resubmitted" in events and handle.reconnects >= 1
    assert sorted(result.frames) == list(range(1001, 1001 + RESTART_FRAMES))
    assert len(list(out.parent.glob("out.*.exr"))) == RESTART_FRAMES
    _assert_no_partial_files(out.parent)
    plate = read_frame(long_shot["plate"] % 1001)
    assert all(read_frame(str(out) % n).pixels.shape == plate.pixels.shape for n in result.frames)


@pytest.mark.parametrize("finish", [False, True])
def test_sigterm_cancels_or_finishes_the_running_job_and_exits_cleanly(server_factory, support, finish):
    server = server_factory(*(["--finish-running"] if finish else []))
    frames = 24 if finish else LONG_FRAMES
    shot = support.make_shot(server_factory.roots / "term", frames=frames, size=(240, 320), seed=9)
    out = server_factory.roots / "term" / "out.%04d.exr"
    started = threading.Event()
    with Client(server.address, heartbeat_interval_s=0.3, retries=0) as client:
        handle = client.submit(
            {**shot, "engine": "propagate", "out": str(out)},
            on_progress=lambda p: p["frames_done"] > 0 and started.set(),
        )
        assert started.wait(60), "the job never reported progress"
        server.process.send_signal(signal.SIGTERM)
        assert server.wait_exit(60) == 0
        if finish:
            assert len(handle.wait(30).frames) == frames
        else:
            with pytest.raises(wire.RemoteError, match="cancelled"):
                handle.wait(30)
    written = list(out.parent.glob("out.*.exr"))
    assert len(written) == frames if finish else len(written) < frames
    _assert_no_partial_files(out.parent)
    assert "event=server_stopped" in server.log()


@pytest.mark.parametrize("bare_name", [False, True], ids=["folder", "current-folder"])
def test_stale_temp_files_of_dead_writers_are_swept_and_live_ones_kept(tmp_path, monkeypatch, bare_name):
    """``bare_name``: ``--out out.%04d.exr`` with no folder part (before: never swept, ``os.listdir("")`` failed)."""
    from e2fgvi_core.io.writer import sweep_stale_temp_files

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(30)
    stale = tmp_path / f".out.1001.exr.{dead.pid}-0123abcd.tmp.exr"
    live = tmp_path / f".out.1002.exr.{os.getpid()}-0123abcd.tmp.exr"
    keep = tmp_path / "out.1003.exr"
    for path in (stale, live, keep):
        path.write_bytes(b"x")
    if bare_name:
        monkeypatch.chdir(tmp_path)
    pattern = "out.%04d.exr" if bare_name else str(tmp_path / "out.%04d.exr")
    assert sweep_stale_temp_files(pattern) == [stale.name]
    assert live.exists() and keep.exists() and not stale.exists()


def test_ipc_endpoint_and_resubmitting_a_finished_key(server_factory, tmp_path, support):
    """Same key again: a finished job by path is re-attached and replayed (nothing runs); a finished job by value
    has released its pixels, so it runs again and returns them."""
    server = server_factory(address=f"ipc://{tmp_path}/e2fgvi.sock")
    shot = support.make_shot(server_factory.roots / "ipc", frames=6, size=(32, 48), seed=11)
    out = str(server_factory.roots / "ipc" / "out.%04d.exr")
    with Client(server.address) as client:
        first = client.submit({**shot, "engine": "propagate", "out": out}, key="path-key")
        first_result = first.wait(JOB_TIMEOUT_S)
        again = client.submit({**shot, "engine": "propagate", "out": out}, key="path-key")
        again_result = again.wait(JOB_TIMEOUT_S)
        assert "reattached" in again.events and again.job_id == first.job_id
        assert sorted(again_result.frames) == sorted(first_result.frames)
        assert client.status()["jobs_completed"] == 1

        plate = _frames_by_value(shot["plate"], range(1001, 1007))
        matte = _frames_by_value(shot["matte"], range(1001, 1007))
        by_value = client.submit({"engine": "propagate"}, plate_frames=plate, matte_frames=matte, key="value-key")
        by_value.wait(JOB_TIMEOUT_S)
        rerun = client.submit({"engine": "propagate"}, plate_frames=plate, matte_frames=matte, key="value-key")
        rerun_result = rerun.wait(JOB_TIMEOUT_S)
        assert "accepted" in rerun.events and rerun.job_id != by_value.job_id
        assert sorted(rerun_result.frames) == list(range(1001, 1007))
        assert all(f.pixels is not None for f in rerun_result.frames.values())
        assert client.status()["jobs_completed"] == 3

"""Issue 11: the server and client under faults and attack, against real server processes.

Job keys are not a capability (items 2), a restarted server is noticed (3), an oversized by-value submit is refused
before it leaves (4).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.testing import run_python
from e2fgvi_host.client import Client, ClientError
from e2fgvi_server import protocol as wire

JOB_TIMEOUT_S = 120


def _frames(pattern: str, numbers) -> dict:
    return {n: read_frame(pattern % n) for n in numbers}


def _slow_shot(support, server_factory, name="slow"):
    """A shot that takes the propagate engine a few seconds on CPU (long enough to act while it runs)."""
    return support.make_shot(server_factory.roots / name, frames=24, size=(240, 320), seed=3)


def test_status_hides_other_clients_keys_and_paths_and_a_stolen_key_is_refused(server, server_factory, support):
    slow = _slow_shot(support, server_factory)
    out = str(server_factory.roots / "slow" / "out.%04d.exr")
    request = {**slow, "engine": "propagate", "out": out}
    with Client(server.address, heartbeat_interval_s=0.5) as owner, Client(server.address) as other:
        handle = owner.submit(request, key="owners-key")
        handle.wait_accepted(30)
        mine = owner.status()
        seen = mine["running"] or mine["queue"][0]
        assert seen["key"] == "owners-key" and seen["shot"] == slow["plate"] and seen["mine"]
        theirs = other.status()
        seen = theirs["running"] or theirs["queue"][0]
        assert seen["key"] is None and seen["shot"] is None and not seen["mine"]
        # the key alone (any request, even the identical one) re-attaches nothing for another connection
        for attempt in ({}, request):
            stolen = other.submit(attempt, key="owners-key")
            with pytest.raises(wire.RemoteError) as caught:
                stolen.wait(30)
            assert caught.value.code == "access_denied"
        steal_cancel = other.submit(request, key="other-key")  # its own job, then try to cancel the owner's
        # with the access key, so the refusal is the ownership check, not the access check
        other._send_command(("cancel", {"key": "owners-key", wire.ACCESS_KEY_FIELD: other.access_key()}))
        result = handle.wait(JOB_TIMEOUT_S)  # the owner still gets every frame and the final message
        assert sorted(result.frames) == list(range(1001, 1025)) and result.summary["final"]
        steal_cancel.cancel()
    assert "event=job_reattached" not in server.log()
    assert "only its submitter may cancel it" in server.log()


def test_a_key_reused_with_a_different_request_is_refused_not_attached(client, shot, server_factory):
    out = str(server_factory.roots / "reuse" / "out.%04d.exr")
    first = client.submit({**shot, "engine": "propagate", "out": out}, key="shot-a")
    first.wait(JOB_TIMEOUT_S)
    other_out = str(server_factory.roots / "reuse" / "other.%04d.exr")
    again = client.submit({**shot, "engine": "propagate", "out": other_out}, key="shot-a")
    with pytest.raises(wire.RemoteError) as caught:
        again.wait(30)
    assert caught.value.code == "key_conflict" and "different request" in str(caught.value)
    assert not list((server_factory.roots / "reuse").glob("other.*"))


def test_every_connection_attached_to_a_job_gets_its_final_message(server, server_factory, support):
    slow = _slow_shot(support, server_factory)
    request = {**slow, "engine": "propagate", "out": str(server_factory.roots / "slow" / "out.%04d.exr")}
    with Client(server.address) as first, Client(server.address) as second:
        one = first.submit(request, key="shared", secret="s3cret")
        one.wait_accepted(30)
        two = second.submit(request, key="shared", secret="s3cret")  # the submitter's secret: may re-attach
        assert two.wait_accepted(30) == one.job_id and "reattached" in two.events
        a, b = one.wait(JOB_TIMEOUT_S), two.wait(JOB_TIMEOUT_S)
    assert sorted(a.frames) == sorted(b.frames) == list(range(1001, 1025))
    assert a.summary["final"] and b.summary["final"]


def test_a_server_restarted_within_the_liveness_is_noticed_and_the_job_resubmitted(server_factory, support):
    """The new server answers pings at once, so silence never shows the restart; the instance id in its replies
    does, and the pending job is resubmitted by key (liveness here is 30 s: the wait would otherwise time out)."""
    address = f"tcp://127.0.0.1:{support.free_port()}"
    first = server_factory(address=address)
    shot = support.make_shot(server_factory.roots / "restart", frames=6, size=(32, 48), seed=4)
    out = str(server_factory.roots / "restart" / "out.%04d.exr")
    with Client(address, heartbeat_interval_s=0.5, heartbeat_liveness=60) as client:
        before = client.hello()["instance"]
        os.kill(first.process.pid, signal.SIGSTOP)  # the submit reaches a server that will never answer it
        handle = client.submit({**shot, "engine": "propagate", "out": out})
        time.sleep(0.3)
        first.kill()
        started = time.monotonic()
        second = server_factory(address=address)
        result = handle.wait(20)
        assert time.monotonic() - started < 20
        assert client.hello()["instance"] != before and client.restarts_seen == 1
    assert sorted(result.frames) == list(range(1001, 1007))
    assert "server_lost_resubmitted" in handle.events and "event=job_done" in second.log()


def test_the_cli_wait_has_an_overall_bound_and_cancels_the_job(server, server_factory, support):
    slow = _slow_shot(support, server_factory)
    out = str(server_factory.roots / "slow" / "cli.%04d.exr")
    started = time.monotonic()
    done = run_python(
        ["-m", "e2fgvi_core.cli.main", "remove", "--plate", slow["plate"], "--matte", slow["matte"]]
        + ["--out", out, "--engine", "propagate", "--quiet", "--server", server.address],
        env=support.subprocess_env(E2FGVI_REMOTE_TIMEOUT_S="1"),
        timeout_s=120,
    )
    assert done.returncode != 0 and time.monotonic() - started < 60
    lines = done.stderr.strip().splitlines()  # the engine line (the job had started), then one error line
    assert lines[-1].startswith("e2fgvi remove: error:") and "did not finish within 1.0 s" in lines[-1], done.stderr
    assert lines[:-1] in ([], ["e2fgvi remove: engine propagate"]), done.stderr
    with Client(server.address) as client:
        assert client.status()["running"] is None or "event=job_cancel_requested" in server.log()
    assert "event=job_cancel_requested" in server.log()


def test_a_by_value_submit_over_the_message_limit_is_refused_before_it_leaves(server_factory):
    server = server_factory("--max-message-bytes", "100000")
    plate = {1001 + i: np.zeros((120, 160, 3), np.float32) for i in range(2)}  # 230 kB per frame
    with Client(server.address, heartbeat_interval_s=0.5) as client:
        started = time.monotonic()
        with pytest.raises(ClientError, match="max_message_bytes"):
            client.submit({"engine": "propagate"}, plate_frames=plate)
        assert time.monotonic() - started < 10
        small = {1001 + i: np.zeros((8, 8, 3), np.float32) for i in range(20)}  # 768 B each, 15 kB in all
        assert client.submit({"engine": "propagate"}, plate_frames=small).wait_accepted(30)
        assert client.ping() < 1.0


def test_a_multipart_submit_over_the_message_limit_in_total_gets_an_error_reply(server_factory):
    """Each part under ZMQ_MAXMSGSIZE (so ZeroMQ delivers it) but the message over it: an error, not a silence."""
    import zmq

    server = server_factory("--max-message-bytes", "100000")
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(server.address)
    try:
        header = wire.pack_header({"v": wire.PROTOCOL_VERSION, "type": "submit", "req": 7, "key": "big"})
        sock.send_multipart([header, b"x" * 60000, b"y" * 60000])
        assert sock.poll(10000), "no reply: the server dropped the message silently"
        reply = wire.decode(sock.recv_multipart())
        assert reply.type == "error" and reply.get("req") == 7 and "max_message_bytes" in reply.get("message")
    finally:
        sock.close(0)


def test_a_huge_frame_range_is_refused_at_once_and_never_stalls_the_broker(client, shot, server_factory, support):
    out = str(server_factory.roots / "huge" / "out.%04d.exr")
    started = time.monotonic()
    handle = client.submit({**shot, "frames": "1-200000000", "engine": "propagate", "out": out})
    with pytest.raises(wire.RemoteError, match="more than the limit of 100000"):
        handle.wait(30)
    assert time.monotonic() - started < 5
    assert client.ping() < 1.0
    done = run_python(
        ["-m", "e2fgvi_core.cli.main", "remove", "--plate", shot["plate"], "--matte", shot["matte"]]
        + ["--out", out, "--frames", "1-30000000", "--engine", "propagate", "--quiet"],
        timeout_s=60,
    )
    assert done.returncode == 2 and "E2FGVI_MAX_FRAMES" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_frames_by_value_held_for_unfinished_jobs_have_an_overall_budget(server_factory, support):
    server = server_factory("--max-value-bytes", "19000")
    slow = _slow_shot(support, server_factory)
    small = {1001 + i: np.zeros((8, 8, 4), np.float32) for i in range(15)}  # RGBA (matte in A): 15360 bytes
    mattes = {n: np.ones((8, 8, 1), np.float32) for n in small}  # 3840 bytes more: over the budget
    with Client(server.address, heartbeat_interval_s=0.5) as client:
        blocker = client.submit({**slow, "engine": "propagate", "out": str(server_factory.roots / "b.%04d.exr")})
        blocker.wait_accepted(30)
        with pytest.raises(wire.RemoteError, match="max_value_bytes"):
            client.submit({"engine": "propagate"}, plate_frames=small, matte_frames=mattes).wait(30)
        first = client.submit({"engine": "propagate"}, plate_frames=small)  # 15360: held while queued
        first.wait_accepted(30)
        with pytest.raises(wire.RemoteError, match="already holds 15360 bytes"):
            client.submit({"engine": "propagate"}, plate_frames=small).wait(30)
        blocker.cancel()
        assert sorted(first.wait(JOB_TIMEOUT_S).frames) == sorted(small)
        again = client.submit({"engine": "propagate"}, plate_frames=small)  # the budget is free again
        assert sorted(again.wait(JOB_TIMEOUT_S).frames) == sorted(small)


OTHER_USER_SCRIPT = """
import json, os, sys
from e2fgvi_host.client import Client
from e2fgvi_server import protocol as wire
os.setgid(65534)
os.setuid(65534)  # from here on another local user, as on a shared workstation
answers = {"can_read_key": wire.read_access_key() is not None}
with Client(sys.argv[1], heartbeat_interval_s=0.5) as client:
    for name, call in (("hello", client.hello), ("status", client.status)):
        try:
            call(timeout_s=10)
            answers[name] = "ok"
        except wire.RemoteError as exc:
            answers[name] = exc.code
    handle = client.submit({"plate": sys.argv[2], "matte": sys.argv[3], "out": sys.argv[4], "engine": "propagate"})
    try:
        handle.wait(20)
        answers["submit"] = "ok"
    except wire.RemoteError as exc:
        answers["submit"] = exc.code
    answers["ping"] = client.ping(timeout_s=10) < 5
print(json.dumps(answers))
"""


def _as_other_user(support, address: str, shot: dict, out: str) -> dict:
    import json

    done = run_python(
        ["-c", OTHER_USER_SCRIPT, address, shot["plate"], shot["matte"], out],
        timeout_s=90,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root (the CI runs the tests as root)")
def test_another_local_user_cannot_use_the_server_by_default(server, shot, server_factory, support):
    out = str(server_factory.roots / "other" / "out.%04d.exr")
    answers = _as_other_user(support, server.address, shot, out)
    assert answers == {
        "can_read_key": False,
        "hello": "access_denied",
        "status": "access_denied",
        "submit": "access_denied",
        "ping": True,
    }
    assert not (server_factory.roots / "other").exists()
    key_file = wire.default_access_key_file()
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    with Client(server.address) as client:  # the server's own user reads the key and is served
        assert client.status()["running"] is None


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root (the CI runs the tests as root)")
def test_open_access_is_an_explicit_choice_and_says_so(server_factory, shot, support):
    server = server_factory("--open-access")
    out = str(server_factory.roots / "open" / "out.%04d.exr")
    answers = _as_other_user(support, server.address, shot, out)
    assert answers["hello"] == "ok" and answers["status"] == "ok"
    assert "event=open_access" in server.log()


def test_a_token_on_the_command_line_is_refused_and_the_environment_works(server_factory, support):
    refused = server_factory("--token", "leaked", start=False)  # before: accepted with a warning in the log
    refused.start(wait=False)
    assert refused.process.wait(60) == 2
    assert "--token is refused" in refused.log() and "E2FGVI_SERVER_TOKEN" in refused.log()
    server = server_factory()  # ServerProcess gives the token in E2FGVI_SERVER_TOKEN
    with Client(server.address) as client:
        assert client.shutdown(support.TOKEN)["ok"] is True
    assert server.wait_exit(15) == 0


@pytest.mark.parametrize("key", ["frames", "shot"])
def test_a_frame_number_past_any_integer_is_one_config_error_in_the_cli_and_over_the_server(
    key, client, shot, server_factory
):
    out = str(server_factory.roots / "overflow" / "out.%04d.exr")
    huge = "1-99999999999999999999999"  # before: OverflowError (len of a range) traceback / internal_error
    handle = client.submit({**shot, key: huge, "engine": "propagate", "out": out})
    with pytest.raises(wire.RemoteError) as caught:
        handle.wait(30)
    assert caught.value.code == "config_error" and "beyond the limit of +/-999999999" in caught.value.message
    done = run_python(
        ["-m", "e2fgvi_core.cli.main", "remove", "--plate", shot["plate"], "--matte", shot["matte"]]
        + ["--out", out, f"--{key}", huge, "--engine", "propagate", "--quiet"],
        timeout_s=60,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "beyond the limit of +/-999999999" in lines[0] and "Traceback" not in done.stderr


def test_the_access_key_file_is_created_private_once(tmp_path, monkeypatch):
    from e2fgvi_core.errors import ConfigError
    from e2fgvi_server.config import ServerConfig
    from e2fgvi_server.security import load_or_create_access_key

    path = tmp_path / "cfg" / "key"
    config = ServerConfig(access_key_file=str(path))
    key = load_or_create_access_key(config)
    assert key and path.stat().st_mode & 0o777 == 0o600 and load_or_create_access_key(config) == key
    monkeypatch.setenv(wire.ACCESS_KEY_FILE_ENV, str(path))
    assert wire.read_access_key() == key
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        load_or_create_access_key(config)
    assert load_or_create_access_key(ServerConfig(access_key_file=str(path), open_access=True)) is None


def test_a_queued_jobs_folder_swapped_for_a_link_cannot_write_outside_the_roots(
    server, server_factory, support, tmp_path
):
    slow = _slow_shot(support, server_factory)
    folder = server_factory.roots / "swap"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    first_frame = []

    def swap(progress) -> None:  # on the first frame written
        if progress.get("frames_done", 0) >= 1 and not first_frame:
            first_frame.append(progress["frames_done"])
            folder.rename(server_factory.roots / "swap-was")
            folder.symlink_to(outside)  # the attacker's swap, after the submit was checked

    with Client(server.address, heartbeat_interval_s=0.5) as client:
        handle = client.submit({**slow, "engine": "propagate", "out": str(folder / "out.%04d.exr")}, on_progress=swap)
        with pytest.raises(wire.RemoteError) as caught:
            handle.wait(JOB_TIMEOUT_S)
    assert (
        first_frame
        and caught.value.code == "output_error"
        and "changed since the job was accepted" in str(caught.value)
    )
    assert list(outside.iterdir()) == []
    assert server.alive()


def test_the_private_temp_root_is_made_0700_and_a_planted_link_is_refused(tmp_path, monkeypatch):
    import tempfile

    from e2fgvi_core.errors import ConfigError
    from e2fgvi_server.config import ServerConfig
    from e2fgvi_server.protocol import private_temp_root
    from e2fgvi_server.security import prepare_private_temp_root

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = ServerConfig(output_roots=(private_temp_root(),))  # given as a root: made private or refused
    prepare_private_temp_root(config)
    assert os.stat(private_temp_root()).st_mode & 0o777 == 0o700
    os.rmdir(private_temp_root())
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", private_temp_root())  # planted by another user before the server starts
    with pytest.raises(ConfigError, match="not a private folder"):
        prepare_private_temp_root(config)


def test_an_output_path_with_a_nul_byte_is_an_output_error(client, shot, server_factory, server):
    out = str(server_factory.roots / "nul") + "/out\x00.%04d.exr"
    with pytest.raises(wire.RemoteError) as caught:
        client.submit({**shot, "engine": "propagate", "out": out}).wait(30)
    assert caught.value.code == "output_error" and "NUL" in str(caught.value)
    assert "Traceback" not in server.log() and client.ping() < 1.0


def test_a_frame_given_twice_by_value_is_refused(client):
    plate = [np.zeros((8, 8, 4), np.float32), np.ones((8, 8, 4), np.float32)]
    parts = wire.pack_submit(
        "twice", {"engine": "propagate"}, plate_frames={1001: plate[0], 1002: plate[1]}, access_key=client.access_key()
    )
    header = wire.unpack_header(parts[0])
    header["plate_frames"][1]["frame"] = 1001  # one frame twice, each with its own buffer
    parts = [wire.pack_header(header), *parts[1:]]
    from e2fgvi_host.client import JobHandle

    handle = JobHandle(client, "twice", parts, None, None, None)
    client._send_command(("submit", handle))
    with pytest.raises(wire.RemoteError, match="names frame 1001 a second time"):
        handle.wait(30)


def test_the_cli_sweeps_temp_files_left_by_a_killed_run(shot_maker, tmp_path, support):
    shot = shot_maker(tmp_path / "shot", frames=3)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f".clean.1001.exr.{dead.pid}-0123abcd.tmp.exr"  # what a SIGKILLed writer leaves
    stale.write_bytes(b"half a frame")
    live = out / f".clean.1002.exr.{os.getpid()}-0123abcd.tmp.exr"  # a writer still running: kept
    live.write_bytes(b"in progress")
    done = run_python(
        ["-m", "e2fgvi_core.cli.main", "remove", "--plate", shot["plate"], "--matte", shot["matte"]]
        + ["--out", str(out / "clean.%04d.exr"), "--engine", "propagate", "--quiet"],
        timeout_s=120,
    )
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in out.glob("clean.*.exr")) == [f"clean.{n}.exr" for n in (1001, 1002, 1003)]

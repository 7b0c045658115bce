"""The client library against real servers: ensure_local_server, timeouts, dead-server detection, bad input."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from e2fgvi_host.client import Client, ClientError, RequestTimeoutError, ServerUnavailableError
from e2fgvi_host.launcher import ensure_local_server
from e2fgvi_server import protocol as wire


def test_ensure_local_server_starts_one_waits_for_hello_and_reuses_it(address, server_env, spawned):
    process = ensure_local_server(address, timeout_s=60)
    assert process is not None
    spawned.append(process)
    with Client(address) as client:
        hello = client.hello()
        assert hello["pid"] == process.pid and hello["versions"] == [wire.PROTOCOL_VERSION]
    assert ensure_local_server(address, timeout_s=60) is None  # one answers now: nothing new is started
    # its log is in this user's 0700 temp folder, never at a predictable name in the shared temp dir
    log = os.path.join(wire.private_temp_root(), f"server-{os.getpid()}.log")
    assert os.path.isfile(log) and os.stat(wire.private_temp_root()).st_mode & 0o077 == 0
    with Client(address) as client:
        assert client.shutdown("tok")["ok"] is True
    assert process.wait(15) == 0


def test_ensure_local_server_refuses_remote_addresses_and_reports_a_server_that_cannot_start(address, monkeypatch):
    with pytest.raises(ClientError, match="this machine only"):
        ensure_local_server("tcp://10.1.2.3:5577")
    monkeypatch.setenv("E2FGVI_SERVER_COMMAND", "false")
    with pytest.raises(ServerUnavailableError, match="exited with code 1"):
        ensure_local_server(address, timeout_s=20)


def test_requests_to_nobody_fail_after_the_retries_instead_of_hanging(address):
    start = time.monotonic()
    with Client(address, heartbeat_interval_s=0.2, heartbeat_liveness=2, retries=2) as client:
        with pytest.raises(ServerUnavailableError, match="after 2 reconnects"):
            client.ping(timeout_s=30)
        assert client.reconnects == 2
    assert time.monotonic() - start < 10
    with Client(address, retries=100) as client, pytest.raises(RequestTimeoutError, match="within 0.3 s"):
        client.status(timeout_s=0.3)


def test_a_killed_server_is_reported_to_the_next_request(address, server_env, spawned, tmp_path):
    process = ensure_local_server(address, timeout_s=60)
    spawned.append(process)
    with Client(address, heartbeat_interval_s=0.2, heartbeat_liveness=2, retries=1) as client:
        handle = client.submit(
            {"engine": "propagate", "frames": "1-3"}, plate_frames={1: np.zeros((8, 8, 3), np.float32)}
        )
        with pytest.raises(wire.RemoteError):
            handle.wait(30)  # missing frames 2-3 -> error reply: the server is alive and answers
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        with pytest.raises(ServerUnavailableError):
            client.ping(timeout_s=30)


def test_frames_of_a_dtype_that_cannot_travel_are_refused_before_sending(address):
    with Client(address) as client, pytest.raises(wire.ProtocolError, match="uint16 cannot travel"):
        client.submit({"engine": "propagate"}, plate_frames={1: np.zeros((4, 4, 3), np.uint16)})
    with pytest.raises(ClientError, match="both server_public_key"):
        Client(address, server_public_key="/nope")

"""A real ``e2fgvi-server`` process on loopback: handshake, bad input of every kind, fuzzing, limits, CURVE, shutdown.

Raw DEALER sockets play the misbehaving clients (what a buggy host or an attacker would send); the real client
library checks that the server still serves everyone afterwards.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys

import msgpack
import numpy as np
import pytest
import zmq

from e2fgvi_core.testing import run_python
from e2fgvi_host.client import Client, RequestTimeoutError, ServerUnavailableError
from e2fgvi_server import protocol as wire

REPLY_TIMEOUT_MS = 5000


class RawPeer:
    """A bare DEALER socket for sending anything at all, with a bounded wait for replies."""

    def __init__(self, address: str) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(address)

    def send(self, parts: list) -> None:
        """Send ``parts``; a header map gets this user's access key (the server's user is the one misbehaving)."""
        try:
            header = msgpack.unpackb(parts[0]) if isinstance(parts[0], bytes) else None
        except Exception:  # noqa: BLE001 - fuzz: not a header at all, send as it is
            header = None
        if isinstance(header, dict) and wire.ACCESS_KEY_FIELD not in header:
            parts = [msgpack.packb({**header, wire.ACCESS_KEY_FIELD: wire.read_access_key()}), *parts[1:]]
        self.socket.send_multipart(parts, copy=False)

    def receive(self, timeout_ms: int = REPLY_TIMEOUT_MS) -> wire.Message | None:
        if not self.socket.poll(timeout_ms):
            return None
        return wire.decode(self.socket.recv_multipart(copy=False))

    def close(self) -> None:
        self.socket.close(0)
        self.context.term()


@pytest.fixture
def raw(server):
    peer = RawPeer(server.address)
    yield peer
    peer.close()


def test_hello_describes_versions_capabilities_devices_and_weights(client):
    hello = client.hello()
    assert hello["versions"] == [1] and hello["type"] == "hello"
    assert "submit_by_value" in hello["capabilities"] and "cancel" in hello["capabilities"]
    assert {d["name"] for d in hello["devices"]} >= {"cpu"}
    assert isinstance(hello["weights"], list) and "propagate" in hello["engines"]
    assert client.ping() < 1.0


def test_version_mismatch_gets_a_clear_error_not_a_hang(raw):
    raw.send([msgpack.packb({"v": 2, "type": "hello", "req": 7})])
    reply = raw.receive()
    assert reply is not None and reply.type == wire.ERROR and reply.get("code") == "protocol_error"
    assert "version 2 is not supported" in reply.get("message") and "v1" in reply.get("message")


@pytest.mark.parametrize(
    "parts, code, needle",
    [
        ([msgpack.packb({"v": 1, "type": "dance", "req": 1})], "protocol_error", "unknown message type 'dance'"),
        ([msgpack.packb({"v": 1, "type": "pong", "req": 1})], "protocol_error", "a client may not send 'pong'"),
        ([msgpack.packb({"v": 1, "type": "submit", "req": 1})], "protocol_error", "'key'"),
        (
            [
                msgpack.packb(
                    {
                        "v": 1,
                        "type": "submit",
                        "req": 1,
                        "key": "k",
                        "request": {"plate": "/x.%04d.exr", "neighbour_stride": 3},
                    }
                )
            ],
            "config_error",
            "unknown request key 'neighbour_stride'; valid keys:",
        ),
        (
            [msgpack.packb({"v": 1, "type": "submit", "req": 1, "key": "k", "request": {}})],
            "config_error",
            "plate_frames",
        ),
        ([msgpack.packb({"v": 1, "type": "cancel", "req": 1, "job_id": "nope"})], "unknown_job", "no job with job_id"),
        ([msgpack.packb({"v": 1, "type": "shutdown", "req": 1, "token": "wrong"})], "access_denied", "token"),
        (
            [
                msgpack.packb(
                    {
                        "v": 1,
                        "type": "submit",
                        "req": 1,
                        "key": "k",
                        "request": {"engine": "propagate"},
                        "plate_frames": [{"frame": 1, "buffer": 3}],
                        "buffers": [{"dtype": "uint8", "shape": [1, 1, 3]}],
                    }
                ),
                b"abc",
            ],
            "protocol_error",
            "names buffer 3",
        ),
        (
            [
                msgpack.packb(
                    {
                        "v": 1,
                        "type": "submit",
                        "req": 1,
                        "key": "k",
                        "request": {},
                        "buffers": [{"dtype": "float32", "shape": [64, 64, 3]}],
                    }
                ),
                b"short",
            ],
            "protocol_error",
            "carries 5 bytes",
        ),
    ],
)
def test_bad_requests_get_an_error_reply_naming_the_problem(raw, parts, code, needle):
    raw.send(parts)
    reply = raw.receive()
    assert reply is not None and reply.type == wire.ERROR, reply
    assert reply.get("code") == code and needle in reply.get("message")
    assert reply.get("req") == 1


def test_output_outside_roots_is_refused_and_nothing_is_written(client, server_factory, shot, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    handle = client.submit({**shot, "engine": "propagate", "out": str(outside / "out.%04d.exr")})
    with pytest.raises(wire.RemoteError) as info:
        handle.wait(10)
    assert info.value.code == "output_error" and str(server_factory.roots) in info.value.message
    escape = str(server_factory.roots / "shot" / ".." / ".." / "outside" / "o.%04d.exr")
    with pytest.raises(wire.RemoteError, match="'..'"):
        client.submit({**shot, "engine": "propagate", "out": escape}).wait(10)
    assert list(outside.iterdir()) == []


def test_missing_input_frames_fail_the_job_with_the_gap_listed(client, shot, server_factory):
    (server_factory.roots / "shot" / "plate.1004.exr").unlink()
    handle = client.submit({**shot, "engine": "propagate", "out": str(server_factory.roots / "o" / "o.%04d.exr")})
    with pytest.raises(wire.RemoteError) as info:
        handle.wait(30)
    assert info.value.code in ("missing_frames", "sequence_error") and "1004" in info.value.message
    assert client.ping() < 1.0


def test_seeded_fuzz_then_the_server_still_answers_and_completes_a_real_job(server, shot, server_factory):
    rng = random.Random(20240501)
    types = list(wire.MESSAGE_TYPES) + ["", "PING", "x" * 300]
    peer = RawPeer(server.address)
    replies = 0
    try:
        for i in range(300):
            choice = i % 6
            if choice == 0:  # random bytes, random number of parts
                parts = [rng.randbytes(rng.randint(0, 64)) for _ in range(rng.randint(1, 4))]
            elif choice == 1:  # msgpack, but not a valid header
                parts = [
                    msgpack.packb(
                        rng.choice(
                            [
                                None,
                                1,
                                "ping",
                                [1, 2],
                                {"v": "1"},
                                {"type": "ping"},
                                {"v": 1, "type": rng.choice(types)},
                                {1: 2},
                            ]
                        )
                    )
                ]
            elif choice == 2:  # a valid header that lies about its buffers
                shape = [rng.randint(0, 40) for _ in range(rng.randint(0, 4))]
                desc = {"dtype": rng.choice(["float16", "float32", "uint8", "int64", 5]), "shape": shape}
                parts = [
                    msgpack.packb(
                        {"v": 1, "type": "submit", "key": f"f{i}", "request": {}, "buffers": [desc] * rng.randint(0, 2)}
                    )
                ]
                parts += [rng.randbytes(rng.randint(0, 200)) for _ in range(rng.randint(0, 2))]
            elif choice == 3:  # structurally valid submits with wrong field types
                request = rng.choice(
                    [
                        {"plate": 5},
                        {"plate": "/nope.%04d.exr", "engine": "magic"},
                        {"plate": "/nope.%04d.exr", "proxy": "big"},
                        {"out": "../../x"},
                        {"plate": "/nope.%04d.exr", "frames": "zz"},
                        [],
                    ]
                )
                parts = [
                    msgpack.packb(
                        {
                            "v": 1,
                            "type": "submit",
                            "key": rng.choice([f"k{i}", "", 5, None]),
                            "request": request,
                            "priority": rng.choice([0, "high", True]),
                            "plate_frames": rng.choice([None, [], [{"frame": "a"}], 7]),
                        }
                    )
                ]
            elif choice == 4:  # cancel/status/hello with odd fields
                parts = [
                    msgpack.packb(
                        {
                            "v": 1,
                            "type": rng.choice(["cancel", "status", "hello", "ping"]),
                            "req": rng.choice([1, "r", [1], {"a": 1}, 2**70 if False else -1]),
                            "job_id": rng.choice([None, 3, "x"]),
                            "key": rng.choice([None, "k"]),
                        }
                    )
                ]
            else:  # truncated valid messages
                valid = wire.encode(wire.SUBMIT, {"key": "t", "request": {}}, [np.zeros((4, 4, 3), np.uint8)])
                data = bytes(valid[0])
                parts = [data[: rng.randint(0, len(data))], bytes(valid[1])[: rng.randint(0, 48)]]
            peer.send(parts)
            while peer.socket.poll(0):
                peer.socket.recv_multipart()
                replies += 1
        while peer.receive(500) is not None:
            replies += 1
    finally:
        peer.close()
    assert replies >= 250  # nearly every bad message earns an error reply
    assert server.alive()
    with Client(server.address, heartbeat_interval_s=0.5) as client:
        assert client.ping(timeout_s=5) < 1.0
        out = server_factory.roots / "after_fuzz" / "out.%04d.exr"
        result = client.submit({**shot, "engine": "propagate", "out": str(out)}).wait(60)
        assert sorted(result.frames) == list(range(1001, 1009))
        assert all(f.path and f.path.endswith(".exr") for f in result.frames.values())


def test_oversized_message_is_dropped_and_the_server_keeps_serving(server_factory):
    server = server_factory("--max-message-bytes", "65536", "--max-header-bytes", "4096")
    peer = RawPeer(server.address)
    try:
        big = np.zeros((200, 200, 3), np.float32)  # 480 kB buffer > 64 kB ZMQ_MAXMSGSIZE
        peer.send(
            wire.encode(
                wire.SUBMIT,
                {"key": "big", "request": {"engine": "propagate"}, "plate_frames": [{"frame": 1, "buffer": 0}]},
                [big],
            )
        )
        assert peer.receive(1500) is None  # libzmq drops the connection: no job, no reply
    finally:
        peer.close()
    assert server.alive()
    with Client(server.address) as client:
        assert client.ping(5) < 1.0
        assert client.status()["queue"] == [] and client.status()["running"] is None
    big_header = msgpack.packb({"v": 1, "type": "ping", "req": 3, "pad": "x" * 10000})
    peer = RawPeer(server.address)
    try:
        peer.send([big_header])
        reply = peer.receive()
        assert reply is not None and reply.type == wire.ERROR and reply.get("code") == "protocol_error"
        assert "exceeds the limit of 4096 bytes" in reply.get("message")
    finally:
        peer.close()


def test_shutdown_needs_the_token_and_the_access_key_and_stops_the_process_cleanly(server, support):
    with Client(server.address, access_key="another-users-guess") as stranger:  # before: the token alone stopped it
        with pytest.raises(wire.RemoteError) as info:
            stranger.shutdown(support.TOKEN)
        assert info.value.code == "access_denied" and "access key" in info.value.message
    with Client(server.address) as client:
        with pytest.raises(wire.RemoteError) as info:
            client.shutdown("not-the-token")
        assert info.value.code == "access_denied"
        assert client.shutdown(support.TOKEN)["ok"] is True
    assert server.wait_exit(15) == 0
    assert "event=shutdown_requested" in server.log() and "event=server_stopped" in server.log()


def test_network_bind_without_curve_is_refused_at_start(support):
    result = run_python(
        ["-m", "e2fgvi_server.main", "--bind", "tcp://0.0.0.0:0"],
        timeout_s=60,
    )
    assert result.returncode == 2
    assert "--insecure" in result.stderr and "CURVE" in result.stderr


def test_curve_refuses_unauthenticated_and_unknown_clients_and_serves_authorised_ones(
    server_factory, tmp_path, support
):
    keys = tmp_path / "keys"
    made = run_python(
        ["-m", "e2fgvi_server.main", "keys", str(keys)],
        timeout_s=60,
    )
    assert made.returncode == 0, made.stderr
    good = {"server_public_key": str(keys / "server.key"), "client_secret_key": str(keys / "client.key_secret")}
    server = server_factory(
        "--curve-secret-key",
        str(keys / "server.key_secret"),
        "--curve-authorized-dir",
        str(keys / "authorized"),
        client_kwargs=good,
    )
    with (
        Client(server.address, retries=0, heartbeat_interval_s=0.3) as plain,
        pytest.raises((RequestTimeoutError, ServerUnavailableError)),
    ):
        plain.hello(timeout_s=2.0)
    stranger_keys = tmp_path / "stranger"
    subprocess.run(
        [sys.executable, "-m", "e2fgvi_server.main", "keys", str(stranger_keys)],
        cwd=support.PROJECT_ROOT,
        env=support.subprocess_env(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    with (
        Client(
            server.address,
            retries=0,
            heartbeat_interval_s=0.3,
            server_public_key=str(keys / "server.key"),
            client_secret_key=str(stranger_keys / "client.key_secret"),
        ) as stranger,
        pytest.raises((RequestTimeoutError, ServerUnavailableError)),
    ):
        stranger.hello(timeout_s=2.0)
    with Client(server.address, **good) as trusted:
        assert trusted.hello()["versions"] == [1]
        assert trusted.ping() < 1.0
    assert server.alive()


def test_sigterm_with_nothing_running_exits_zero(server):
    server.kill(signal.SIGTERM)
    assert server.process.returncode == 0
    assert "signal=SIGTERM" in server.log()

"""Output roots (no '..', no symlink escapes), bind policy, CURVE key files, and ServerConfig validation."""

from __future__ import annotations

import os

import pytest
import zmq.auth

from e2fgvi_core.errors import ConfigError, OutputError
from e2fgvi_server.config import ServerConfig
from e2fgvi_server.protocol import is_loopback_endpoint
from e2fgvi_server.protocol import is_loopback_peer as is_local_peer
from e2fgvi_server.security import (
    check_bind_policy,
    confine_output,
    generate_keys,
    load_key_pair,
    load_or_create_token,
)


def test_outputs_inside_roots_are_accepted_and_resolved(tmp_path):
    root = tmp_path / "root"
    (root / "shot").mkdir(parents=True)
    assert confine_output(str(root / "shot" / "out.%04d.exr"), (str(root),)) == str(root / "shot" / "out.%04d.exr")
    # a folder that does not exist yet is fine as long as it would be inside the root
    assert confine_output(str(root / "new" / "o.####.exr"), (str(root),)).startswith(str(root.resolve()))


@pytest.mark.parametrize("relative", ["../escape/out.%04d.exr", "shot/../../out.%04d.exr"])
def test_dotdot_is_refused(tmp_path, relative):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(OutputError, match=r"'\.\.'"):
        confine_output(str(root / relative), (str(root),))


def test_symlink_escape_relative_path_and_foreign_root_are_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(OutputError, match="outside the allowed roots") as info:
        confine_output(str(root / "link" / "out.%04d.exr"), (str(root),))
    assert str(root) in str(info.value)  # the message lists the valid roots
    with pytest.raises(OutputError, match="must be absolute"):
        confine_output("out.%04d.exr", (str(root),))
    with pytest.raises(OutputError, match="outside the allowed roots"):
        confine_output("/etc/out.%04d.exr", (str(root),))
    os.symlink(outside / "x.exr", root / "file.exr")
    with pytest.raises(OutputError, match="not a plain file"):
        confine_output(str(root / "file.exr"), (str(root),))


@pytest.mark.parametrize(
    "endpoint, loopback",
    [
        ("tcp://127.0.0.1:5577", True),
        ("tcp://127.3.2.1:1", True),
        ("tcp://[::1]:5577", True),
        ("tcp://localhost:5577", True),
        ("ipc:///tmp/x.sock", True),
        ("tcp://*:5577", False),
        ("tcp://0.0.0.0:5577", False),
        ("tcp://10.1.2.3:5577", False),
        ("tcp://eth0:5577", False),
    ],
)
def test_loopback_detection(endpoint, loopback):
    assert is_loopback_endpoint(endpoint) is loopback


def test_network_bind_needs_curve_or_explicit_insecure(tmp_path):
    with pytest.raises(ConfigError, match="--insecure"):
        check_bind_policy(ServerConfig(binds=("tcp://0.0.0.0:5577",)))
    roots = (str(tmp_path),)  # a server others can reach must be given its output roots (test_output_policy)
    warnings = check_bind_policy(ServerConfig(binds=("tcp://0.0.0.0:5577",), insecure=True, output_roots=roots))
    assert warnings and "INSECURE" in warnings[0]
    keys = generate_keys(tmp_path / "keys")
    config = ServerConfig(
        binds=("tcp://0.0.0.0:5577",),
        curve_secret_key=str(keys["server_secret"]),
        curve_authorized_dir=str(keys["authorized_dir"]),
        output_roots=roots,
    )
    assert check_bind_policy(config) == []
    assert check_bind_policy(ServerConfig(binds=("tcp://127.0.0.1:5577",))) == []


def test_generated_keys_load_and_secret_files_are_private(tmp_path):
    keys = generate_keys(tmp_path / "keys")
    public, secret = load_key_pair(keys["server_secret"])
    assert len(public) == 40 and len(secret) == 40
    assert zmq.auth.load_certificate(str(keys["server_public"])) == (public, None)
    assert oct(keys["client_secret"].stat().st_mode & 0o777) == "0o600"
    assert (keys["authorized_dir"] / keys["client_public"].name).is_file()
    with pytest.raises(ConfigError, match="no secret key"):
        load_key_pair(keys["server_public"])


def test_local_peer_detection():
    assert is_local_peer(None) and is_local_peer("127.0.0.1") and is_local_peer("::1")
    assert not is_local_peer("10.0.0.5") and not is_local_peer("192.168.1.2")


def test_token_is_created_once_in_the_token_file(tmp_path):
    path = tmp_path / "state" / "server.token"
    token = load_or_create_token(ServerConfig(token_file=str(path)))
    assert len(token) >= 24 and path.read_text().strip() == token
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_token(ServerConfig(token_file=str(path))) == token
    assert load_or_create_token(ServerConfig(token="given")) == "given"


def test_config_from_mapping_names_bad_keys_and_values():
    with pytest.raises(ConfigError, match="unknown server setting 'bnid'.*binds"):
        ServerConfig.from_mapping({"bnid": "tcp://127.0.0.1:1"})
    with pytest.raises(ConfigError, match="'heartbeat_liveness' has the invalid value 'three'"):
        ServerConfig.from_mapping({"heartbeat_liveness": "three"})
    with pytest.raises(ConfigError, match="must start with tcp://, ipc://"):
        ServerConfig.from_mapping({"binds": ["udp://x"]})
    with pytest.raises(ConfigError, match="heartbeat_interval_s must be positive"):
        ServerConfig.from_mapping({"heartbeat_interval_s": 0})
    with pytest.raises(ConfigError, match="'insecure' has the invalid value 'maybe'"):
        ServerConfig.from_mapping({"insecure": "maybe"})


def test_config_from_env_with_command_line_on_top(tmp_path):
    environ = {
        "E2FGVI_SERVER_BINDS": "tcp://127.0.0.1:6001,ipc:///tmp/e.sock",
        "E2FGVI_SERVER_HEARTBEAT_LIVENESS": "5",
        "E2FGVI_SERVER_INSECURE": "yes",
        "E2FGVI_SERVER_OUTPUT_ROOTS": os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]),
    }
    config = ServerConfig.from_env({"heartbeat_liveness": 4}, environ=environ)
    assert config.binds == ("tcp://127.0.0.1:6001", "ipc:///tmp/e.sock")
    assert config.heartbeat_liveness == 4 and config.insecure is True
    assert config.output_roots == (str(tmp_path / "a"), str(tmp_path / "b"))
    assert config.client_timeout_s == pytest.approx(4.0)


def test_device_setting_is_the_default_device_of_requests_that_name_none():
    from e2fgvi_server.jobs import JobQueue
    from e2fgvi_server.worker import Worker

    worker = Worker(ServerConfig(device="cpu"), JobQueue(), outbox=None)
    assert worker.engine_mapping({"plate": "p.%04d.exr", "shot": "1001-1300"}) == {
        "plate": "p.%04d.exr",
        "shot": "1001-1300",
        "device": "cpu",
    }
    assert worker.engine_mapping({"plate": "p.%04d.exr", "device": "cuda:1"})["device"] == "cuda:1"
    assert worker.engine_mapping({"plate": "p.%04d.exr", "device": ""})["device"] == "cpu"


def test_every_byte_size_takes_512M_style_sizes_on_the_command_line_and_in_the_environment():
    """Before: --max-value-bytes 4G and E2FGVI_SERVER_MAX_VALUE_BYTES=4G were refused (only plain ints)."""
    from e2fgvi_server.main import build_parser

    flags = build_parser().parse_args(
        ["--max-message-bytes", "1G", "--max-value-bytes", "4G", "--max-header-bytes", "2M"]
    )
    overrides = {k: v for k, v in vars(flags).items() if k.endswith("_bytes") and v is not None}
    environ = {"E2FGVI_SERVER_MAX_VALUE_BYTES": "3G", "E2FGVI_SERVER_MAX_HEADER_BYTES": "512K"}
    from_env = ServerConfig.from_env({}, environ=environ)
    assert (from_env.max_value_bytes, from_env.max_header_bytes) == (3 << 30, 512 << 10)
    config = ServerConfig.from_env(overrides, environ=environ)
    assert (config.max_message_bytes, config.max_value_bytes, config.max_header_bytes) == (1 << 30, 4 << 30, 2 << 20)

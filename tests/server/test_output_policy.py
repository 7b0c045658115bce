"""Where the server writes: a private loopback server writes wherever its user may; roots are for a server others
can reach (required there) or a restriction asked for with ``--output-root``; every refusal names the setting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from e2fgvi_core.errors import ConfigError, OutputError
from e2fgvi_core.testing import ServerProcess, make_shot, subprocess_env
from e2fgvi_host.client import Client
from e2fgvi_server.config import ServerConfig
from e2fgvi_server.security import check_bind_policy, confine_output

JOB_TIMEOUT_S = 120


def test_a_private_loopback_server_writes_wherever_its_user_may(tmp_path):
    config = ServerConfig()  # loopback, access key demanded
    assert config.private and config.write_roots is None
    project = tmp_path / "mnt" / "projects" / "show" / "renders"  # a project drive: neither $HOME nor temp root
    assert confine_output(str(project / "out.%04d.exr"), config.write_roots) == str(project / "out.%04d.exr")
    # '..' is resolved (links first, then the parent), not a reason to refuse where nothing is confined
    (tmp_path / "shot").mkdir()
    assert confine_output(str(tmp_path / "shot" / ".." / "o.####.exr"), None) == str(tmp_path / "o.####.exr")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputError, match="cannot write in"):
        confine_output(str(tmp_path / "a_file" / "sub" / "o.####.exr"), None)
    (tmp_path / "dir.exr").mkdir()
    with pytest.raises(OutputError, match="not a plain file"):
        confine_output(str(tmp_path / "dir.exr"), None)
    with pytest.raises(OutputError, match="must be absolute"):
        confine_output("renders/o.####.exr", None)


def test_output_root_restricts_a_loopback_server_and_the_refusal_names_the_setting(tmp_path):
    config = ServerConfig.from_mapping({"output_roots": [str(tmp_path / "allowed")]})
    assert config.private and config.write_roots == (str(tmp_path / "allowed"),)
    with pytest.raises(OutputError) as info:
        confine_output(str(tmp_path / "elsewhere" / "o.####.exr"), config.write_roots)
    assert "--output-root" in str(info.value) and "E2FGVI_SERVER_OUTPUT_ROOTS" in str(info.value)


@pytest.mark.parametrize(
    "settings, why",
    [
        ({"binds": ["tcp://0.0.0.0:5577"], "insecure": True}, "other machines"),
        ({"open_access": True}, "every local user"),
    ],
)
def test_a_server_others_can_use_needs_explicit_output_roots(tmp_path, settings, why):
    config = ServerConfig.from_mapping(settings)
    assert not config.private and config.write_roots == ()
    with pytest.raises(ConfigError, match=why) as info:
        check_bind_policy(config)
    assert "--output-root" in str(info.value)
    with pytest.raises(OutputError, match="--output-root"):  # and even if started anyway, it writes nowhere
        confine_output(str(tmp_path / "o.####.exr"), config.write_roots)
    restricted = ServerConfig.from_mapping({**settings, "output_roots": [str(tmp_path)]})
    check_bind_policy(restricted)  # accepted once told where it may write
    assert restricted.write_roots == (str(tmp_path),)


def test_the_server_command_refuses_a_network_bind_without_roots_in_one_line(support):
    done = subprocess.run(
        [sys.executable, "-m", "e2fgvi_server.main", "--bind", f"tcp://0.0.0.0:{support.free_port()}", "--insecure"],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "--output-root" in lines[0] and "E2FGVI_SERVER_OUTPUT_ROOTS" in lines[0]


def test_a_default_server_writes_a_project_outside_home_and_temp(support, tmp_path):
    # no flags: what `e2fgvi-server` and the hosts' auto-start run
    server = ServerProcess(f"tcp://127.0.0.1:{support.free_port()}", [], tmp_path / "server.log")
    shot_dir = tmp_path / "projects" / "shot010"  # under the shared temp dir: outside $HOME and the private root
    shot = make_shot(shot_dir)
    out = shot_dir / "comp" / "clean.%04d.exr"
    try:
        server.start()
        with Client(server.address, heartbeat_interval_s=0.5) as client:
            assert client.hello()["output_roots"] == []  # none: wherever this user may write
            client.submit({**shot, "engine": "propagate", "out": str(out)}).wait(JOB_TIMEOUT_S)
    finally:
        server.kill()
    assert len(list(out.parent.glob("clean.*.exr"))) == 8

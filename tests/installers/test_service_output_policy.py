"""``e2fgvi install service --output-root X`` does what docs/hosts.md says: without it the service writes wherever
the user may; with it the service is restricted to X; a network bind without it is refused at install."""

from __future__ import annotations

import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_host.launcher import server_command
from e2fgvi_server.config import ServerConfig
from e2fgvi_server.main import build_parser
from installers import service


def _service_config(options: dict) -> ServerConfig:
    """The ServerConfig the installed service's command line gives (parsed by e2fgvi-server's own parser)."""
    argv = service.server_argv(options)
    args = vars(build_parser().parse_args(argv[len(server_command()) :]))
    args.pop("log_level")
    return ServerConfig.from_env(args, environ={})


def test_the_service_writes_anywhere_by_default_and_output_root_restricts_it(tmp_path):
    assert _service_config({}).write_roots is None
    restricted = _service_config({"output_root": [str(tmp_path / "shots")]})
    assert restricted.write_roots == (str(tmp_path / "shots"),)


def test_a_network_service_without_output_root_is_refused_naming_the_flag(tmp_path):
    with pytest.raises(ConfigError, match="--output-root"):
        service.server_argv({"bind": "tcp://0.0.0.0:5577"})
    config = _service_config({"bind": "tcp://0.0.0.0:5577", "output_root": [str(tmp_path)], "server_arg": []})
    assert config.write_roots == (str(tmp_path),)

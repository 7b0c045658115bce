"""An empty frame range is an error (docs/io.md), not "the whole shot": ``--frames ""`` and ``--shot ""`` on the
command line and ``"frames": ""`` on the wire are one-line config errors."""

from __future__ import annotations

import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal.request import RemovalRequest
from e2fgvi_core.testing import make_shot


@pytest.mark.parametrize("key", ["frames", "shot"])
def test_an_empty_range_is_a_one_line_config_error_in_the_cli(run_cli, tmp_path, key):
    shot = make_shot(tmp_path / "shot", frames=4)
    out = tmp_path / "out" / "c.%04d.exr"
    done = run_cli(
        "remove", "--plate", shot["plate"], "--matte", shot["matte"], "--out", str(out), f"--{key}", "",
        "--engine", "propagate", "--quiet",
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr  # before: exit 0, the whole shot rendered
    assert "empty frame range" in lines[0] and key in lines[0]
    assert not out.parent.exists()


@pytest.mark.parametrize("key", ["frames", "shot"])
def test_an_empty_range_on_the_wire_is_a_config_error(key):
    with pytest.raises(ConfigError, match="empty frame range"):
        RemovalRequest.from_mapping({"plate": "/shots/p.%04d.exr", key: ""})

"""Per-user folders follow each platform's convention (``platformdirs``), and the environment overrides still win.

Before: the weights store and the server's access key spelled XDG paths out by hand, so on macOS the weights went
to ``~/Library/Caches`` but the access key to ``~/.config`` (a Linux folder). The platform is switched in a fresh
interpreter (``sys.platform`` set before anything imports ``platformdirs``); Windows needs the real Win32 API.
"""

from __future__ import annotations

import json

import pytest

from e2fgvi_core.testing import PER_USER_FOLDER_VARIABLES, run_python, subprocess_env

PROBE = """
import json, sys
sys.platform = {platform!r}
from e2fgvi_core import weights
from e2fgvi_server import protocol
print(json.dumps([str(weights.weights_dir()), protocol.default_access_key_file()]))
"""


def _folders(platform: str, home, **env: str) -> list[str]:
    base = {k: v for k, v in subprocess_env().items() if k not in PER_USER_FOLDER_VARIABLES}
    base.pop("E2FGVI_WEIGHTS_DIR", None)
    base.pop("E2FGVI_SERVER_ACCESS_KEY_FILE", None)
    done = run_python(["-c", PROBE.format(platform=platform)], 60, {**base, "HOME": str(home), **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {}, [".cache/e2fgvi/weights", ".config/e2fgvi/server-access.key"]),
        ("linux", {"XDG_CACHE_HOME": "{home}/xc", "XDG_CONFIG_HOME": "{home}/xg"}, ["xc/e2fgvi/weights", "xg/e2fgvi/server-access.key"]),
        ("darwin", {}, ["Library/Caches/e2fgvi/weights", "Library/Application Support/e2fgvi/server-access.key"]),
    ],
)  # fmt: skip
def test_weights_and_access_key_live_in_the_platform_s_own_folders(tmp_path, platform, env, expected):
    env = {k: v.format(home=tmp_path) for k, v in env.items()}
    assert _folders(platform, tmp_path, **env) == [str(tmp_path / e) for e in expected]


def test_the_environment_overrides_still_win(tmp_path):
    env = {"E2FGVI_WEIGHTS_DIR": str(tmp_path / "w"), "E2FGVI_SERVER_ACCESS_KEY_FILE": str(tmp_path / "k.key")}
    assert _folders("darwin", tmp_path, **env) == [str(tmp_path / "w"), str(tmp_path / "k.key")]

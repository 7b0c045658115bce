"""The host side must load in a host's Python: no torch, nothing of ours but the protocol, the error tree and the
per-user folders (the bridge adds the request schema: tests/host_plugin/test_bridge.py), and
import names (``e2fgvi_host``, ``e2fgvi_server``) that cannot collide with a host's own ``server`` module."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from e2fgvi_core.testing import PROJECT_ROOT, subprocess_env

HEAVY = ("torch", "cv2", "OpenImageIO")
OURS = ("e2fgvi_core", "e2fgvi_server", "e2fgvi_host", "server", "host_plugin")
HOST_SIDE_MODULES = [
    "e2fgvi_core",
    "e2fgvi_core.errors",
    "e2fgvi_core.user_dirs",  # the per-user folders (platformdirs): where the access key lives
    "e2fgvi_host",
    "e2fgvi_host.client",
    "e2fgvi_host.launcher",
    "e2fgvi_server",
    "e2fgvi_server.protocol",
]
LOADED = (
    "import json, sys; import e2fgvi_host.client, e2fgvi_host.launcher; "
    f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY + OURS!r})))"
)


def _python(code: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60
    )


def test_importing_the_host_side_pulls_in_no_torch_and_only_the_protocol_of_ours():
    result = _python(LOADED, PROJECT_ROOT, subprocess_env())
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert not [m for m in loaded if m.split(".")[0] in HEAVY], loaded
    assert loaded == HOST_SIDE_MODULES


def test_a_users_own_server_module_does_not_collide_with_the_host_side(tmp_path):
    """A host's Python with its own top-level ``server`` package (and ``host_plugin.py``) first on sys.path: the
    host side still imports, by its own names, from the installed package (cwd is not the checkout), and the
    user's modules stay the ones ``import server`` finds."""
    user = tmp_path / "user_site"
    (user / "server").mkdir(parents=True)
    (user / "server" / "__init__.py").write_text("WHOSE = 'the user'\n")
    (user / "host_plugin.py").write_text("WHOSE = 'the user'\n")
    env = subprocess_env(pythonpath=str(user))
    code = (
        LOADED + "; import server, host_plugin; "
        "print(json.dumps([server.WHOSE, host_plugin.WHOSE, e2fgvi_host.client.__name__, "
        "e2fgvi_host.client.wire.__name__]))"
    )
    result = _python(code, tmp_path, env)
    assert result.returncode == 0, result.stderr
    loaded_line, names_line = result.stdout.strip().splitlines()
    loaded = json.loads(loaded_line)
    assert not [m for m in loaded if m.split(".")[0] in HEAVY], loaded
    assert loaded == HOST_SIDE_MODULES  # the user's server/host_plugin were not touched by our imports
    assert json.loads(names_line) == ["the user", "the user", "e2fgvi_host.client", "e2fgvi_server.protocol"]


def _imported_roots(path) -> set[str]:
    source = path.read_text()
    return {name.split(".")[0] for name in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, flags=re.MULTILINE)}


def test_protocol_module_imports_only_numpy_msgpack_and_the_error_tree():
    source = (PROJECT_ROOT / "server" / "protocol.py").read_text()
    ours = set(re.findall(r"^\s*(?:from|import)\s+(e2fgvi\w*[\w.]*)", source, flags=re.MULTILINE))
    assert ours == {"e2fgvi_core", "e2fgvi_core.errors"}
    assert _imported_roots(PROJECT_ROOT / "server" / "protocol.py") - set(sys.stdlib_module_names) == {
        "e2fgvi_core",
        "msgpack",
        "numpy",
    }
    assert "pickle." not in source and "eval(" not in source and "exec(" not in source


def test_the_error_tree_imports_only_the_standard_library():
    assert _imported_roots(PROJECT_ROOT / "e2fgvi_core" / "errors.py") <= set(sys.stdlib_module_names)


def test_nothing_imports_the_folders_by_their_repository_names():
    """``server``/``host_plugin`` are folder names only; code that imported them would break in a host."""
    pattern = re.compile(r"^\s*(?:from|import)\s+(?:server|host_plugin)\b", flags=re.MULTILINE)
    spawn = re.compile(r"-m\s+server\.main|\"server\.main\"")
    offenders = []
    for folder in ("e2fgvi_core", "server", "host_plugin", "tests", "benchmarks", "installers"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            source = path.read_text(errors="replace")
            if pattern.search(source) or spawn.search(source):
                offenders.append(str(path.relative_to(PROJECT_ROOT)))
    assert offenders == []

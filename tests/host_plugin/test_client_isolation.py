"""host_plugin.client must load in a host's Python: no torch, no e2fgvi_core, nothing of ours but server.protocol."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_client_pulls_in_neither_torch_nor_e2fgvi_core():
    code = (
        "import json, sys; import e2fgvi_host.client; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'e2fgvi_core', 'server', 'host_plugin', 'cv2', 'OpenImageIO', 'pickle'))))"
    )
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert not [m for m in loaded if m.startswith(("torch", "e2fgvi_core", "cv2", "OpenImageIO"))], loaded
    assert [m for m in loaded if m.startswith("server")] == ["server", "server.protocol"]


def test_protocol_module_imports_nothing_of_ours():
    source = (PROJECT_ROOT / "server" / "protocol.py").read_text()
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, flags=re.MULTILINE)
    assert sorted({name.split(".")[0] for name in imports}) == [
        "__future__",
        "collections",
        "dataclasses",
        "math",
        "msgpack",
        "numpy",
        "typing",
    ]
    assert "pickle." not in source and "eval(" not in source and "exec(" not in source

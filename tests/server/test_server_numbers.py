"""Numbers a server reports are the ones people typed and the job's own (issue 10, item 8)."""

from __future__ import annotations

import json
import subprocess
import sys


def _status_json(support, address: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", "status", "--server", address, "--json"],
        cwd=support.PROJECT_ROOT,
        env=support.subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cache_budget_flag_takes_the_same_sizes_as_the_environment(server_factory, support):
    server = server_factory("--cache-budget-bytes", "512M")
    assert _status_json(support, server.address)["cache"]["budget_bytes"] == 512 << 20

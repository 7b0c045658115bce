"""The server's ``accepted`` message names the engine, weights and precision a job will run with (issue 22): the
user learns before the first frame, not from the summary, which weights made the shot. A real server process, a
real weights store shared with it through ``E2FGVI_WEIGHTS_DIR``."""

from __future__ import annotations

import json

from e2fgvi_core import weights as store
from e2fgvi_core.testing import run_python, wait_until, write_filled_checkpoint
from e2fgvi_host.client import Client


def test_accepted_names_engine_weights_and_precision(server_factory, shot, tmp_path, monkeypatch):
    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    scratch = store.add_weights(write_filled_checkpoint(tmp_path / "scratch.pth", seed=2))
    server = server_factory()  # inherits E2FGVI_WEIGHTS_DIR: the same store
    out = str(server_factory.roots / "out" / "clean.%04d.exr")
    with Client(server.address, heartbeat_interval_s=0.5) as client:
        assert wait_until(lambda: client.hello()["engine_loaded"], timeout_s=120)  # precision needs the engine
        request = {**shot, "out": out, "frames": "1001-1002"}
        handle = client.submit(request)  # auto: installed but not the default, so propagate
        handle.wait_accepted(60)
        fields = {k: handle.accepted.get(k) for k in ("engine", "weights", "weights_sha256", "precision")}
        assert fields == {"engine": "propagate", "weights": None, "weights_sha256": None, "precision": None}
        handle.wait(120)
        store.set_default(scratch.name)  # the server reads the store at each submit
        handle = client.submit({**request, "device": "cpu"})
        handle.wait_accepted(60)
        fields = {k: handle.accepted.get(k) for k in ("engine", "weights", "weights_sha256", "precision")}
        assert fields == {
            "engine": "e2fgvi_hq",
            "weights": "scratch",
            "weights_sha256": scratch.sha256,
            "precision": "fp32",
        }
        handle.cancel()

        remote = run_python(  # `remove --server` prints the accepted line before the first frame, and --json has it
            [
                "-m", "e2fgvi_core.cli.main", "remove", "--server", server.address, "--plate", shot["plate"],
                "--matte", shot["matte"], "--frames", "1001-1002", "--out", out, "--device", "cpu", "--json",
            ],
            timeout_s=300,
        )  # fmt: skip
        assert remote.returncode == 0, remote.stderr
        line = f"e2fgvi remove: engine e2fgvi_hq, weights scratch (sha256 {scratch.sha256[:12]}), precision fp32\n"
        assert remote.stderr.index(line) < remote.stderr.index("frames/s")
        summary = json.loads(remote.stdout)
        assert (summary["weights"], summary["weights_sha256"], summary["precision"]) == (
            "scratch",
            scratch.sha256,
            "fp32",
        )

"""Numbers a server reports are the ones people typed and the job's own (issue 10, item 8)."""

from __future__ import annotations

import json

from e2fgvi_core.testing import run_python, wait_until


def _status_json(support, address: str) -> dict:
    done = run_python(
        ["-m", "e2fgvi_core.cli.main", "status", "--server", address, "--json"],
        timeout_s=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cache_budget_flag_takes_the_same_sizes_as_the_environment(server_factory, support):
    server = server_factory("--cache-budget-bytes", "512M")
    assert _status_json(support, server.address)["cache"]["budget_bytes"] == 512 << 20


def test_by_path_results_stream_and_a_cancel_lists_the_complete_frames(server_factory, support):
    """Before: by-path results all arrived at the end; a cancelled job said 0 frames although files were on disk."""
    from pathlib import Path

    import pytest

    from e2fgvi_host.client import Client
    from e2fgvi_server import protocol as wire

    shot = support.make_shot(server_factory.roots / "long", frames=40, size=(240, 320), seed=5)
    out = server_factory.roots / "long" / "out.%04d.exr"
    server = server_factory()
    with Client(server.address, heartbeat_interval_s=0.5) as client:
        handle = client.submit({**shot, "engine": "propagate", "out": str(out)})
        assert wait_until(lambda: len(handle.frames) >= 1, 120), "timed out waiting for a first streamed result"
        assert not handle.done  # the result came while the job was still running
        handle.cancel()
        with pytest.raises(wire.RemoteError) as info:
            handle.wait(60)
    on_disk = sorted(int(p.name.split(".")[1]) for p in Path(out.parent).glob("out.*.exr"))
    assert info.value.code == "cancelled" and 0 < len(on_disk) < 40
    assert info.value.details["frames_complete"] == on_disk
    assert f"{len(on_disk)} complete frame(s) kept" in info.value.message
    assert sorted(handle.frames) == on_disk  # each complete frame was announced, as it was written


def test_job_summaries_carry_the_job_s_own_cache_counters_and_propagate_says_it_has_none(
    server_factory, support, filled_checkpoint, tmp_path
):
    from e2fgvi_host.client import Client

    weights = filled_checkpoint(tmp_path / "hq.pth", seed=1)
    shot = support.make_shot(server_factory.roots / "s", frames=6, size=(48, 64))
    server = server_factory("--device", "cpu")
    common = {**shot, "engine": "e2fgvi_hq", "weights": str(weights), "device": "cpu"}
    with Client(server.address, heartbeat_interval_s=1.0) as client:  # loading torch stalls the server at first
        first = client.submit({**common, "out": str(server_factory.roots / "a" / "o.%04d.exr")}).wait(300).summary
        second = client.submit({**common, "out": str(server_factory.roots / "b" / "o.%04d.exr")}).wait(300).summary
        flat = client.submit({**shot, "engine": "propagate", "out": str(server_factory.roots / "c" / "o.%04d.exr")})
        flat = flat.wait(300).summary
    assert first["cache"]["misses"] > 0
    # The second identical job hits what the first computed; its counters are its own, not the running total.
    assert second["cache"]["misses"] == 0 and second["cache"]["hits"] > 0
    assert flat["cache"]["misses_by_kind"]["flows"] == 5  # propagate caches its own: one pair of 6 frames each
    log = server.log()
    assert "cache_misses=0" in log


def test_warnings_arrive_while_the_job_runs_and_in_the_result_and_write_matte_stays_in_the_roots(
    server_factory, support, tmp_path
):
    import numpy as np
    import pytest

    from e2fgvi_core.io import Frame, read_frame, write_frame
    from e2fgvi_host.client import Client
    from e2fgvi_server import protocol as wire

    shot = support.make_shot(server_factory.roots / "empty", frames=3, size=(48, 64))
    for n in (1001, 1002, 1003):  # an empty matte on every frame
        write_frame(shot["matte"] % n, Frame.from_array(np.zeros((48, 64), np.float32)))
    server = server_factory()
    seen: list[str] = []
    with Client(server.address, heartbeat_interval_s=0.5) as client:
        request = {**shot, "engine": "propagate", "out": str(server_factory.roots / "o" / "c.%04d.exr")}
        request["matte_write"] = str(server_factory.roots / "m" / "m.%04d.exr")
        result = client.submit(request, on_progress=lambda p: "warning" in p and seen.append(p["warning"])).wait(120)
        with pytest.raises(wire.RemoteError) as outside:
            client.submit({**request, "matte_write": str(tmp_path / "elsewhere.%04d.exr")}).wait(60)
    assert any("matte is empty on all 3 frames" in w for w in result.summary["warnings"])
    assert any("matte is empty on all 3 frames" in w for w in seen)
    assert read_frame(server_factory.roots / "m" / "m.1002.exr").pixels.max() == 0.0
    assert outside.value.code == "output_error" and not list(tmp_path.glob("elsewhere.*"))

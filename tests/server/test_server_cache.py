"""The server's shared ShotCache: a second submit of the same shot reuses features and flows (seen in ``status``).

Needs the real E2FGVI-HQ network (the weight-free engine keeps no cache) with deterministic weights from
``../shared/parity``; on a 2-core CPU the first run of a tiny shot takes tens of seconds, hence ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_host.client import Client

HQ_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def hq_checkpoint(filled_checkpoint, tmp_path_factory):
    return filled_checkpoint(tmp_path_factory.mktemp("weights") / "e2fgvi_hq_seed0.pth", seed=0)


@pytest.mark.slow
def test_second_submit_reuses_the_cache_and_a_matte_change_recomputes_only_its_frames(
    server_factory, support, hq_checkpoint
):
    server = server_factory("--device", "cpu")
    shot = support.make_shot(server_factory.roots / "hq", frames=4, size=(48, 64), seed=3)
    request = {**shot, "engine": "e2fgvi_hq", "weights": str(hq_checkpoint), "device": "cpu"}
    with Client(server.address, heartbeat_interval_s=1.0) as client:
        first = client.submit({**request, "out": str(server_factory.roots / "hq" / "a.%04d.exr")}).wait(HQ_TIMEOUT_S)
        after_first = client.status()["cache"]
        assert after_first["misses"] > 0 and after_first["entries"] > 0
        second = client.submit({**request, "out": str(server_factory.roots / "hq" / "b.%04d.exr")}).wait(HQ_TIMEOUT_S)
        after_second = client.status()["cache"]
        assert after_second["misses"] == after_first["misses"]  # nothing recomputed
        assert after_second["hits"] > after_first["hits"]
        assert second.summary["seconds"] < first.summary["seconds"]

        # change the matte of one frame: only what depends on it is computed again
        from e2fgvi_core.io.reader import read_frame
        from e2fgvi_core.io.writer import write_frame

        matte_path = shot["matte"] % 1003
        matte = read_frame(matte_path)
        pixels = np.array(matte.pixels)
        pixels[:4, :4] = 1.0
        matte.pixels = pixels
        write_frame(matte_path, matte)
        client.submit({**request, "out": str(server_factory.roots / "hq" / "c.%04d.exr")}).wait(HQ_TIMEOUT_S)
        after_change = client.status()["cache"]
        recomputed = {
            kind: after_change["misses_by_kind"].get(kind, 0) - after_second["misses_by_kind"].get(kind, 0)
            for kind in ("features", "flows")
        }
        # one frame's features + the flows of its (at most two) pairs; window predictions that read it run again
        assert recomputed["features"] == 1 and 0 < recomputed["flows"] <= 2, recomputed

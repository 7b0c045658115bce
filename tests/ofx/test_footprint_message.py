"""The protocol's ``footprint`` message: which shot frames a request's frames read, answered from the engine's plan."""

from __future__ import annotations

import pytest

from e2fgvi_core.farm.plan import engine_shot_plan
from e2fgvi_core.removal.api import RemovalRequest
from e2fgvi_core.removal.plan import plan_frames
from e2fgvi_host.client import Client
from e2fgvi_server import protocol as wire


@pytest.mark.parametrize(
    "settings",
    [
        {"engine": "propagate"},
        {
            "engine": "propagate",
            "neighbor_stride": 3,
            "propagate_context_frames": 4,
            "propagate_carry_restart_frames": 7,
        },
        {"engine": "e2fgvi_hq", "neighbor_stride": 3, "ref_step": 4, "num_ref": 2},
        {"engine": "e2fgvi_hq"},
    ],
)
def test_the_footprint_is_the_engine_plan(server, settings):
    shot, frames = "1001-1037", list(range(1010, 1016))
    request = {**settings, "shot": shot, "frames": "1010-1015"}
    with Client(server.address) as client:
        answer = client.footprint(request)
    plan = engine_shot_plan(RemovalRequest.from_mapping(request), 37)
    assert sorted(answer) == frames
    for frame in frames:
        assert answer[frame] == [1001 + p for p in plan_frames(plan, [frame - 1001]).reads], frame


def test_a_bad_footprint_request_is_refused_by_name(server):
    with Client(server.address) as client:
        with pytest.raises(wire.RemoteError) as refused:
            client.footprint({"engine": "propagate", "frames": "1001-1003", "bogus_key": 1, "shot": "1001-1010"})
        assert refused.value.code == wire.CONFIG_ERROR and "bogus_key" in refused.value.message
        with pytest.raises(wire.RemoteError) as no_shot:
            client.footprint({"engine": "propagate"})
        assert no_shot.value.code == wire.CONFIG_ERROR


def test_a_footprint_needs_the_access_key(server):
    with Client(server.address, access_key="wrong") as client, pytest.raises(wire.RemoteError) as refused:
        client.footprint({"engine": "propagate", "shot": "1001-1010"})
    assert refused.value.code == wire.ACCESS_DENIED

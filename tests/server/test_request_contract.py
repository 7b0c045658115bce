"""The server keeps the request it validated at submit: the engine registry in ``hello``, per-job propagate and
colour settings reaching the engine, and a bad shot/frames pair refused before it is queued."""

from __future__ import annotations

import json

import numpy as np
import pytest

from e2fgvi_core.errors import ClientError
from e2fgvi_core.io import read_frame
from e2fgvi_core.removal.api import MemorySink, RemovalRequest, run_removal
from e2fgvi_core.removal.engine_registry import ENGINE_CHOICES, ENGINES
from e2fgvi_server.protocol import RemoteError

JOB_TIMEOUT_S = 300


def test_hello_lists_the_engine_registry(client):
    hello = client.hello()
    assert hello["engines"] == list(ENGINE_CHOICES)
    assert hello["engine_traits"] == {name: traits.to_mapping() for name, traits in ENGINES.items()}


def test_per_job_propagate_and_colour_settings_reach_the_engine(client, shot, server_factory):
    pytest.importorskip("PyOpenColorIO")
    settings = {
        "engine": "propagate",
        "colorspace": "ACEScg",
        "propagate_temporal_spatial_fill": 0.0,
        "propagate_context_frames": 3,
    }
    out = str(server_factory.roots / "out" / "clean.%04d.exr")
    result = client.submit({**shot, **settings, "out": out}).wait(JOB_TIMEOUT_S)
    assert len(result.frames) == 8

    first = read_frame(out.replace("%04d", "1001"))
    assert first.metadata["e2fgvi:colorspace"] == "ACEScg"
    used = first.metadata  # every pixel-changing setting under its request key
    assert json.loads(used["e2fgvi:propagate_temporal_spatial_fill"]) == 0.0
    assert json.loads(used["e2fgvi:propagate_context_frames"]) == 3

    # The same request run here gives the same pixels; the default settings give other ones.
    served = read_frame(out.replace("%04d", "1004")).pixels
    sinks = {}
    for name, mapping in (("same", {**shot, **settings}), ("default", {**shot, "engine": "propagate"})):
        sinks[name] = MemorySink()
        run_removal(RemovalRequest.from_mapping(mapping), sink=sinks[name])
    assert np.array_equal(served, sinks["same"].frames[1004].pixels)
    assert not np.array_equal(served, sinks["default"].frames[1004].pixels)


def test_frames_outside_the_shot_are_refused_at_submit(client, shot, server_factory):
    out = str(server_factory.roots / "out" / "bad.%04d.exr")
    request = {**shot, "shot": "1001-1004", "frames": "1003-1006", "engine": "propagate", "out": out}
    with pytest.raises((RemoteError, ClientError)) as caught:
        client.submit(request).wait(JOB_TIMEOUT_S)
    assert getattr(caught.value, "code", "") == "config_error"
    assert "not all inside shot" in str(caught.value)
    assert not (server_factory.roots / "out").exists() or not list((server_factory.roots / "out").glob("bad.*"))

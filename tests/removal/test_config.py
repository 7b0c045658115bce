"""EngineConfig / CacheConfig / RemovalRequest: defaults are the official protocol, bad values name their key."""

from __future__ import annotations

import dataclasses

import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal.api import RemovalRequest
from e2fgvi_core.removal.config import CacheConfig, EngineConfig


def test_defaults_are_the_official_protocol():
    config = EngineConfig()
    assert (config.neighbor_stride, config.ref_step, config.num_ref, config.blend) == (5, 10, -1, "official")
    assert config.roi == "auto" and config.proxy == 1.0


def test_from_mapping_converts_and_ignores_none():
    config = EngineConfig.from_mapping(
        {"neighbor_stride": "3", "num_ref": 4, "blend": "MEAN", "proxy": "0.5", "roi": None}
    )
    assert (config.neighbor_stride, config.num_ref, config.blend, config.proxy, config.roi) == (
        3,
        4,
        "mean",
        0.5,
        "auto",
    )


@pytest.mark.parametrize(
    "mapping, word",
    [
        ({"neighbour_stride": 5}, "neighbour_stride"),
        ({"neighbor_stride": 0}, "neighbor_stride"),
        ({"num_ref": -2}, "num_ref"),
        ({"blend": "max"}, "official, mean"),
        ({"roi": "box"}, "auto, full"),
        ({"proxy": 2}, "proxy"),
        ({"ref_step": "ten"}, "ref_step"),
    ],
)
def test_bad_values_name_the_key(mapping, word):
    with pytest.raises(ConfigError, match=word):
        EngineConfig.from_mapping(mapping)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EngineConfig().neighbor_stride = 3  # type: ignore[misc]


def test_cache_config_from_env(monkeypatch):
    monkeypatch.setenv("E2FGVI_CACHE_BYTES", "64M")
    assert CacheConfig.from_env().budget_bytes == 64 << 20
    monkeypatch.setenv("E2FGVI_CACHE_BYTES", "lots")
    with pytest.raises(ConfigError, match="E2FGVI_CACHE_BYTES"):
        CacheConfig.from_env()
    with pytest.raises(ConfigError, match="budget_bytes"):
        CacheConfig.from_mapping({"budget_bytes": -1})


def test_request_from_mapping_splits_engine_keys():
    request = RemovalRequest.from_mapping({"plate": "p.%04d.exr", "out": "o.%04d.exr", "ref_step": 7, "weights": ""})
    assert request.config.ref_step == 7 and request.weights is None and request.engine == "auto"
    with pytest.raises(ConfigError, match="empty frame range"):  # an empty range names no frame: not "all of them"
        RemovalRequest.from_mapping({"plate": "p.%04d.exr", "frames": ""})
    assert RemovalRequest.from_mapping(request.to_mapping()) == request
    with pytest.raises(ConfigError, match="platte"):
        RemovalRequest.from_mapping({"platte": "x"})
    with pytest.raises(ConfigError, match="e2fgvi_hq"):
        RemovalRequest.from_mapping({"engine": "sd"})

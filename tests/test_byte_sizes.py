"""One parser for byte counts: the environment, the CLI flags and the server settings accept the same text."""

from __future__ import annotations

import pytest

from e2fgvi_core.byte_sizes import parse_byte_size
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal.config import CacheConfig


def test_suffixes_are_binary_and_plain_integers_pass():
    assert parse_byte_size("512M") == 512 << 20
    assert parse_byte_size("2g") == 2 << 30 and parse_byte_size("1.5G") == 3 << 29
    assert parse_byte_size("64KiB") == 64 << 10 and parse_byte_size(" 7 ") == 7 and parse_byte_size(9) == 9


@pytest.mark.parametrize("bad", ["", "-1", "12X", "1.5", True, None, -3, "0.3K"])
def test_bad_sizes_name_the_setting(bad):
    with pytest.raises(ConfigError, match="cache_budget_bytes"):
        parse_byte_size(bad, "cache_budget_bytes")


def test_cache_config_from_env_and_mapping_agree(monkeypatch):
    monkeypatch.setenv("E2FGVI_CACHE_BYTES", "512M")
    assert CacheConfig.from_env() == CacheConfig.from_mapping({"budget_bytes": "512M"}) == CacheConfig(512 << 20)

"""The request schema (``e2fgvi_core.schema``): one wire key per setting, and every caller's view derived from it.

Each path setting is walked through every caller that handles paths: the CLI's ``--server`` path and the farm
bundle make it absolute (a real server refuses it relative and confines every written one:
``tests/server/test_request_schema.py``), and no caller keeps a list of its own.
"""

from __future__ import annotations

import os
import re

import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal.request import RemovalRequest, RemovalSummary
from e2fgvi_core.schema import (
    PATH_READ,
    PATH_READ_FRAMES,
    PATH_WEIGHTS,
    PATH_WRITE,
    absolutise_paths,
    field_for,
    path_fields,
    request_fields,
    request_keys,
)
from e2fgvi_core.testing import PROJECT_ROOT, make_shot

RELATIVE = {
    PATH_WEIGHTS: "ckpt/mine.pth",
    PATH_WRITE: "rel/out.%04d.exr",
    PATH_READ: "rel/in.%04d.exr",
    PATH_READ_FRAMES: ("1001=rel/clean.exr",),
}
"""A relative value of each kind of path setting that names a file (a weights value needs a file-like name)."""


def test_every_setting_has_one_wire_key_and_a_request_round_trips():
    keys = [spec.key for spec in request_fields()]
    assert len(keys) == len(set(keys)) and set(keys) == set(request_keys())
    request = RemovalRequest.from_mapping({"plate": "/p.%04d.exr", "matte_dilate": 2, "propagate_context_frames": 3})
    assert request.matte_config.dilate == 2 and request.propagate.context_frames == 3
    assert RemovalRequest.from_mapping(request.to_mapping()) == request
    assert set(request.to_mapping()) == set(keys)
    # the nested spellings (config, colour, matte_config, propagate) are not wire keys: one spelling per setting
    for nested in ("config", "colour", "matte_config", "propagate"):
        with pytest.raises(ConfigError, match=f"unknown request key '{nested}'"):
            RemovalRequest.from_mapping({nested: {}})


def test_the_path_settings_are_the_declared_ones():
    """A regression guard on the metadata itself: each path the engine reads or writes is declared as such."""
    kinds = {spec.key: spec.path for spec in path_fields()}
    assert kinds == {
        "plate": PATH_READ,
        "matte": PATH_READ,
        "out": PATH_WRITE,
        "weights": PATH_WEIGHTS,
        "ocio_config": PATH_READ,
        "matte_write": PATH_WRITE,
        "reference": PATH_READ_FRAMES,
    }


@pytest.mark.parametrize("key", [spec.key for spec in path_fields()])
def test_every_path_setting_is_made_absolute_for_a_server(key, tmp_path, monkeypatch):
    from e2fgvi_core.cli.remote import request_for_server

    monkeypatch.chdir(tmp_path)
    spec = field_for(key)
    relative = RELATIVE[spec.path]
    mapping = {"plate": "/abs/plate.%04d.exr", "out": "/abs/out.%04d.exr", key: relative}
    sent = request_for_server(RemovalRequest.from_mapping(mapping))
    if spec.path == PATH_READ_FRAMES:
        assert list(sent[key]) == [f"1001={tmp_path / 'rel' / 'clean.exr'}"]
    else:
        assert sent[key] == os.path.join(str(tmp_path), relative)
    assert absolutise_paths({"ocio_config": "ocio://default", "weights": "e2fgvi_hq"}) == {
        "ocio_config": "ocio://default",  # a URI and an installed name are not files: left as they are
        "weights": "e2fgvi_hq",
    }


def test_every_path_setting_reaches_the_farm_bundle_absolute(tmp_path, monkeypatch):
    from e2fgvi_core.farm.bundle import write_bundle

    make_shot(tmp_path / "shot", frames=4)
    monkeypatch.chdir(tmp_path)
    bundle = write_bundle(
        tmp_path / "bundle",
        {
            "plate": "shot/plate.%04d.exr",
            "matte": "shot/matte.%04d.exr",
            "out": "out/clean.%04d.exr",
            "matte_write": "check/matte.%04d.exr",
            "engine": "propagate",
        },
        {"chunk_size": 2},
    )
    text = bundle.parameter_values.read_text() + bundle.asset_references.read_text()
    for written in ("shot/plate.%04d.exr", "out/clean.%04d.exr", "check/matte.%04d.exr"):
        assert str(tmp_path / written) in text.replace("\\/", "/")  # Settings carries matte_write as JSON
    assert str(tmp_path / "check") in bundle.asset_references.read_text()  # its folder is an output of the job


def test_a_run_summary_has_one_mapping_both_ways():
    summary = RemovalSummary(
        frames=(1001, 1002), outputs=("/o/c.1001.exr", "/o/c.1002.exr"), seconds=1.5, cache_stats=None,
        engine="propagate", windows_run=2, warnings=("careful",),
    )  # fmt: skip
    assert RemovalSummary.from_mapping(summary.to_mapping()) == summary
    assert RemovalSummary.from_mapping({**summary.to_mapping(), "server_seconds": 2.0}) == summary


CALLERS = (
    "e2fgvi_core/cli/remote.py",
    "e2fgvi_core/cli/remove.py",
    "e2fgvi_core/farm/bundle.py",
    "e2fgvi_core/farm/template.py",
    "server/broker.py",
    "server/worker.py",
    "host_plugin/bridge/params.py",
    "host_plugin/nuke/node.py",
)


@pytest.mark.parametrize("path", CALLERS)
def test_no_caller_keeps_its_own_list_of_request_settings(path):
    """The lists that drifted (PATH_KEYS, the output check's keys, REQUEST_FLAGS, the flag map, the bridge's
    literals) are gone: no caller lists request settings by hand, and none lists path settings at all (which
    settings are paths, and of which kind, is the schema's to say)."""
    source = (PROJECT_ROOT / path).read_text()
    assert not re.search(r"^(PATH_KEYS|REQUEST_FLAGS|_FLAG_OF_KEY|COLOUR_KEYS|_OWN_FIELDS)\b", source, re.MULTILINE)
    assert '"matte_write"' not in source and "'matte_write'" not in source
    keys = {spec.key for spec in path_fields()}
    for literal in re.findall(r'\(\s*(?:"\w+"\s*,\s*)+"\w+"\s*,?\s*\)', source):  # tuples of string literals only
        named = [word for word in re.findall(r'"(\w+)"', literal) if word in keys]
        assert len(named) < 2, f"{path}: a list of path settings: {literal}"

"""One engine registry (``removal.engines.ENGINES``): every consumer in this process reads it (the server's
``hello`` is checked against it in tests/server/test_request_contract.py)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from e2fgvi_core.cli import demo, remove
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal.engine_registry import ENGINE_CHOICES, ENGINES, choose_engine
from e2fgvi_core.removal.request import RemovalRequest
from e2fgvi_core.removal.roi import plan_geometry


def _choices(module) -> tuple[str, ...]:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    (action,) = [a for a in parser._actions if "--engine" in a.option_strings]
    return tuple(action.choices)


def test_cli_engine_choices_are_the_registry():
    assert ENGINE_CHOICES == ("auto", *ENGINES)
    assert _choices(remove) == ENGINE_CHOICES
    assert _choices(demo) == ENGINE_CHOICES


def test_request_validation_accepts_exactly_the_registry():
    for name in ENGINE_CHOICES:
        assert RemovalRequest.from_mapping({"engine": name}).engine == name
    with pytest.raises(ConfigError, match="engine must be one of auto, e2fgvi_hq, e2fgvi, propagate"):
        RemovalRequest.from_mapping({"engine": "telea"})
    assert choose_engine("propagate", None).engine == "propagate"


def test_roi_policy_follows_the_traits():
    hole = np.zeros((360, 640), bool)
    hole[100:140, 200:260] = True
    for name, traits in ENGINES.items():
        geometry = plan_geometry((640, 360), [hole], roi="auto", margin=8, proxy=1.0, engine=name)
        if traits.fixed_size_wh is not None:
            assert geometry.proc_wh == traits.fixed_size_wh and geometry.is_full_frame
        elif traits.crops_to_roi:
            assert not geometry.is_full_frame and geometry.pad_multiple_hw == traits.pad_multiple_hw
        else:
            assert geometry.is_full_frame and geometry.pad_multiple_hw is None


def test_auto_without_weights_falls_back_with_the_registered_notice(monkeypatch, tmp_path):
    monkeypatch.setenv("E2FGVI_WEIGHTS_DIR", str(tmp_path / "empty"))
    choice = choose_engine("auto", None)
    assert choice.engine == "propagate" and choice.notice == ENGINES["propagate"].notice

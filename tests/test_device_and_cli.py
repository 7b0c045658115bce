"""Device selection and the CLI dispatcher."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from e2fgvi_core.device import select_device
from e2fgvi_core.errors import DeviceError
from e2fgvi_core.testing import PROJECT_ROOT


def test_auto_prefers_cuda_then_mps_then_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    mps = getattr(torch.backends, "mps", None)
    if expected == "cpu" and mps is not None and mps.is_available():
        expected = "mps"
    assert select_device(None).type == expected
    assert select_device("auto").type == expected
    assert select_device("cpu").type == "cpu"


def test_auto_order_is_cuda_then_mps_then_cpu(monkeypatch):
    """The preference order itself, whatever this machine has."""
    mps = getattr(torch.backends, "mps", None)
    if mps is None:
        pytest.skip("this torch has no MPS backend module")
    for cuda, has_mps, expected in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(mps, "is_available", lambda has_mps=has_mps: has_mps)
        assert select_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_explicit_unavailable_device_is_an_error():
    with pytest.raises(DeviceError, match="CUDA is not available"):
        select_device("cuda")


def test_unknown_device_lists_choices():
    with pytest.raises(DeviceError, match="use auto, cpu"):
        select_device("tpu9")


def test_cli_help_and_unknown_command():
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", *a],
        check=False,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    helped = run("--help")
    assert helped.returncode == 0 and "remove" in helped.stdout and "weights" in helped.stdout
    unknown = run("frobnicate")
    assert unknown.returncode == 2 and "unknown command" in unknown.stderr

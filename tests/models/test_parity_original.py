"""Case 2 of ../shared/parity: one forward of the original (fixed 240x432) E2FGVI generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2fgvi_core.models import build_generator
from tests.models.conftest import PARITY_ERRORS, record_error, run_stages

CASE = "2 e2fgvi"
# case-2 slices: 2x the case-1 limit of that stage (../shared/parity/README.md)
SLICE_TOLERANCES = {
    "enc_feat": 4e-5,
    "feat_prop_out": 4e-5,
    "softsplit_out": 4e-5,
    "transformer_block0_out": 1e-4,
    "transformer_out": 2e-4,
    "softcomp_out": 6e-4,
}
SLICES = {
    "enc_feat": lambda a: a[:, :8],
    "feat_prop_out": lambda a: a[:, :, :8],
    "softsplit_out": lambda a: a[..., :32],
    "transformer_block0_out": lambda a: a[..., :32],
    "transformer_out": lambda a: a[..., :32],
    "softcomp_out": lambda a: a[:, :8],
}


@pytest.fixture(scope="module")
def original_stages(fill_weights, original_case, attention_impl):
    """Every stage of case 2, with the fast (fused) and with the reference attention path."""
    model = build_generator("e2fgvi", attention_impl=attention_impl)
    fill_weights(model, int(original_case["weights_seed"]))
    captured = []
    align = model.feat_prop_module.deform_align["backward_"]
    handle = align.register_forward_hook(lambda module, args, output: captured.append((args, output)))
    stages = run_stages(model, torch.from_numpy(original_case["masked_frames"]), int(original_case["num_local_frames"]))
    handle.remove()
    stages["dcn_call"] = captured[1]  # the second call of the backward branch, as recorded in the golden file
    return stages


def test_output_and_flows(original_stages, original_case):
    max_err, mean_err = record_error(CASE, "output", original_stages["output"], original_case["output"], 2e-4)
    assert max_err <= 2e-4 and mean_err <= 1e-5
    for name in ("pred_flows_forward", "pred_flows_backward"):
        max_err, _ = record_error(CASE, name, original_stages[name], original_case[name], 5e-5)
        assert max_err <= 5e-5, name


@pytest.mark.parametrize("name", list(SLICES))
def test_stage_slices_and_stats(original_stages, original_case, name):
    full = original_stages[name]
    assert tuple(full.shape) == tuple(original_case[f"{name}_shape"])
    ours = SLICES[name](full.numpy())
    max_err, _ = record_error(CASE, f"{name}_slice", ours, original_case[f"{name}_slice"], SLICE_TOLERANCES[name])
    assert max_err <= SLICE_TOLERANCES[name]
    _check_stats(full, original_case[f"{name}_stats"], name)


def _check_stats(tensor: torch.Tensor, golden: np.ndarray, name: str) -> None:
    """[sum, sum|v|, sum v^2, min, max] in float64: sums to relative 1e-5, extremes to the slice tolerance."""
    v = tensor.double()
    ours = np.array([v.sum().item(), v.abs().sum().item(), (v * v).sum().item(), v.min().item(), v.max().item()])
    scale = np.array([golden[1], golden[1], golden[2]])  # sum of signed values: relative to sum |v|
    rel = np.abs(ours[:3] - golden[:3]) / np.maximum(scale, 1e-12)
    PARITY_ERRORS.append((CASE, f"{name}_stats (relative)", float(rel.max()), float("nan"), 1e-5))
    assert rel.max() <= 1e-5, f"{name} stats {ours} vs {golden}"
    assert np.abs(ours[3:] - golden[3:]).max() <= 1e-3, f"{name} min/max {ours[3:]} vs {golden[3:]}"


def test_dcn_call_stats(original_stages, original_case):
    """The recorded deformable-alignment call (inputs and output) matches the golden statistics."""
    (x, extra_feat, flow_1, flow_2), out = original_stages["dcn_call"]
    for name, tensor in (
        ("dcn_x", x),
        ("dcn_extra_feat", extra_feat),
        ("dcn_flow_1", flow_1),
        ("dcn_flow_2", flow_2),
        ("dcn_out", out),
    ):
        _check_stats(tensor, original_case[f"{name}_stats"], name)

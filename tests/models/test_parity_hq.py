"""Case 1 of ../shared/parity: one E2FGVI-HQ forward, every stage, against the official implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2fgvi_core.models import build_generator
from tests.models.conftest import record_error, run_stages

# recommended acceptance of ../shared/parity/README.md (max abs diff)
TOLERANCES = {
    "output": 1e-4,
    "pred_flows_forward": 5e-5,
    "pred_flows_backward": 5e-5,
    "enc_feat": 2e-5,
    "feat_prop_out": 2e-5,
    "softsplit_out": 2e-5,
    "transformer_block0_out": 5e-5,
    "transformer_out": 1e-4,
    "softcomp_out": 3e-4,
}
CASE = "1 e2fgvi_hq (fused attn)"


def test_forward_output_and_flows(hq_forward, hq_case):
    output, (flows_forward, flows_backward) = hq_forward
    max_err, mean_err = record_error(CASE, "output (forward)", output, hq_case["output"], TOLERANCES["output"])
    assert max_err <= TOLERANCES["output"] and mean_err <= 1e-5
    for name, ours in (("pred_flows_forward", flows_forward), ("pred_flows_backward", flows_backward)):
        max_err, _ = record_error(CASE, name, ours, hq_case[name], TOLERANCES[name])
        assert max_err <= TOLERANCES[name], name


@pytest.mark.parametrize("name", [k for k in TOLERANCES if not k.startswith("pred_flows")])
def test_stage_outputs(hq_stages, hq_case, name):
    max_err, mean_err = record_error(CASE, name, hq_stages[name], hq_case[name], TOLERANCES[name])
    assert max_err <= TOLERANCES[name]
    if name == "output":
        assert mean_err <= 1e-5


def test_second_order_alignment_unit_case(hq_model, hq_case):
    align = hq_model.feat_prop_module.deform_align["backward_"]
    inputs = [torch.from_numpy(hq_case[k]) for k in ("dcn_x", "dcn_extra_feat", "dcn_flow_1", "dcn_flow_2")]
    with torch.inference_mode():
        out = align(*inputs)
    max_err, _ = record_error(CASE, "dcn_out (unit case)", out, hq_case["dcn_out"], 2e-5)
    assert max_err <= 2e-5


def test_backward_branch_uses_forward_flow_index(hq_forward, hq_case):
    """The documented quirk: at frame 2 the backward branch's first-order flow is forward flow index 1."""
    flows_forward = hq_forward[1][0]
    assert np.abs(flows_forward[:, 1].numpy() - hq_case["dcn_flow_1"]).max() <= 5e-5


def test_reference_attention_matches_golden_and_fused(fill_weights, hq_case, hq_stages):
    """The plain explicit-softmax attention (kept for parity) agrees with the golden file and the fused path."""
    model = build_generator("e2fgvi_hq", attention_impl="reference")
    fill_weights(model, int(hq_case["weights_seed"]))
    stages = run_stages(model, torch.from_numpy(hq_case["masked_frames"]), int(hq_case["num_local_frames"]))
    case = "1 e2fgvi_hq (reference attn)"
    for name in ("transformer_block0_out", "transformer_out", "softcomp_out", "output"):
        max_err, _ = record_error(case, name, stages[name], hq_case[name], TOLERANCES[name])
        assert max_err <= TOLERANCES[name], name
    fused_vs_reference = (stages["transformer_out"] - hq_stages["transformer_out"]).abs().max().item()
    assert fused_vs_reference <= 2e-5

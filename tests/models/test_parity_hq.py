"""Case 1 of ../shared/parity: one E2FGVI-HQ forward, every stage, against the official implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.models.conftest import record_error

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


def case_name(impl: str) -> str:
    return f"1 e2fgvi_hq ({impl} attn)"


def test_forward_output_and_flows(hq_forward, hq_case, attention_impl):
    output, (flows_forward, flows_backward) = hq_forward
    max_err, mean_err = record_error(
        case_name(attention_impl), "output (forward)", output, hq_case["output"], TOLERANCES["output"]
    )
    assert max_err <= TOLERANCES["output"] and mean_err <= 1e-5
    for name, ours in (("pred_flows_forward", flows_forward), ("pred_flows_backward", flows_backward)):
        max_err, _ = record_error(case_name(attention_impl), name, ours, hq_case[name], TOLERANCES[name])
        assert max_err <= TOLERANCES[name], name


@pytest.mark.parametrize("name", [k for k in TOLERANCES if not k.startswith("pred_flows")])
def test_stage_outputs(hq_stages, hq_case, name, attention_impl):
    max_err, mean_err = record_error(case_name(attention_impl), name, hq_stages[name], hq_case[name], TOLERANCES[name])
    assert max_err <= TOLERANCES[name]
    if name == "output":
        assert mean_err <= 1e-5


def test_second_order_alignment_unit_case(hq_model, hq_case):
    align = hq_model.feat_prop_module.deform_align["backward_"]
    inputs = [torch.from_numpy(hq_case[k]) for k in ("dcn_x", "dcn_extra_feat", "dcn_flow_1", "dcn_flow_2")]
    with torch.inference_mode():
        out = align(*inputs)
    max_err, _ = record_error("1 e2fgvi_hq", "dcn_out (unit case)", out, hq_case["dcn_out"], 2e-5)
    assert max_err <= 2e-5


def test_backward_branch_uses_forward_flow_index(hq_forward, hq_case):
    """The documented quirk: at frame 2 the backward branch's first-order flow is forward flow index 1."""
    flows_forward = hq_forward[1][0]
    assert np.abs(flows_forward[:, 1].numpy() - hq_case["dcn_flow_1"]).max() <= 5e-5


def test_fast_and_reference_attention_agree(hq_stages_of):
    """The fused chunked attention and the plain explicit-softmax one differ only by arithmetic order."""
    fused, reference = hq_stages_of("fused"), hq_stages_of("reference")
    for name, limit in (("transformer_block0_out", 5e-6), ("transformer_out", 2e-5), ("output", 2e-5)):
        assert (fused[name] - reference[name]).abs().max().item() <= limit, name

"""Fixtures for the model tests: golden parity cases, filled generators, one shared run per case, and an error
table printed at the end of the session (the numbers docs/model.md records)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2fgvi_core.models import build_generator

PARITY_ERRORS: list[tuple[str, str, float, float, float]] = []  # (case, array, max, mean, tolerance)


def record_error(case: str, name: str, ours, golden, tolerance: float) -> tuple[float, float]:
    """Measure |ours - golden| (max, mean), remember it for the summary table, and return it."""
    ours = ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    assert ours.shape == golden.shape, f"{case} {name}: shape {ours.shape} != golden {golden.shape}"
    diff = np.abs(ours.astype(np.float64) - golden.astype(np.float64))
    max_err, mean_err = float(diff.max()), float(diff.mean())
    PARITY_ERRORS.append((case, name, max_err, mean_err, tolerance))
    return max_err, mean_err


def pytest_terminal_summary(terminalreporter):
    if not PARITY_ERRORS:
        return
    terminalreporter.section("E2FGVI parity errors (float32, CPU)")
    terminalreporter.write_line(f"{'case':28s} {'array':40s} {'max abs':>10s} {'mean abs':>10s} {'limit':>8s}")
    for case, name, max_err, mean_err, tol in PARITY_ERRORS:
        terminalreporter.write_line(f"{case:28s} {name:40s} {max_err:10.2e} {mean_err:10.2e} {tol:8.0e}")


def run_stages(model, masked_frames: torch.Tensor, num_local_frames: int) -> dict[str, torch.Tensor]:
    """Run the generator stage by stage (as the engine does) and keep every intermediate the golden files hold."""
    b, t, c, h, w = masked_frames.shape
    l_t = num_local_frames
    out: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        flows_forward, flows_backward = model.complete_flows(masked_frames[:, :l_t])
        enc = model.encode(masked_frames.reshape(b * t, c, h, w))
        out["enc_feat"] = enc
        enc = enc.view(b, t, *enc.shape[1:])
        prop = model.propagate(enc[:, :l_t], flows_forward, flows_backward)
        out["feat_prop_out"] = prop
        feat = torch.cat([prop, enc[:, l_t:]], dim=1)
        feat_size = tuple(feat.shape[-2:])
        tokens = model.split_tokens(feat)
        out["softsplit_out"] = tokens
        out["transformer_block0_out"] = model.transformer[0](tokens, feat_size)
        tokens = model.transform_tokens(tokens, feat_size)
        out["transformer_out"] = tokens
        comp = model.compose_tokens(tokens, feat_size)
        out["softcomp_out"] = comp
        feat = feat + comp.view(feat.shape)
        out["output"] = model.decode(feat.view(b * t, *feat.shape[2:]))
    out["pred_flows_forward"], out["pred_flows_backward"] = flows_forward, flows_backward
    return out


@pytest.fixture(scope="session")
def hq_case(parity_dir):
    return dict(np.load(parity_dir / "e2fgvi_hq_forward.npz"))


@pytest.fixture(scope="session")
def original_case(parity_dir):
    return dict(np.load(parity_dir / "e2fgvi_forward.npz"))


# Every parity test runs against both attention paths: "fused" (the fast path the engine uses) and "reference"
# (the plain explicit-softmax formulation kept for exactly this check).
ATTENTION_PATHS = ("fused", "reference")


@pytest.fixture(scope="session")
def hq_models(fill_weights, hq_case):
    """``hq_models(impl)``: the case-1 generator with attention ``impl``, built and filled once per impl."""
    built: dict[str, object] = {}

    def get(impl: str):
        if impl not in built:
            model = build_generator("e2fgvi_hq", attention_impl=impl)
            fill_weights(model, int(hq_case["weights_seed"]))
            built[impl] = model.eval()
        return built[impl]

    return get


@pytest.fixture(scope="session")
def hq_stages_of(hq_models, hq_case):
    """``hq_stages_of(impl)``: the stage-by-stage run of case 1 with that attention path (computed once)."""
    runs: dict[str, dict[str, torch.Tensor]] = {}

    def get(impl: str):
        if impl not in runs:
            frames = torch.from_numpy(hq_case["masked_frames"])
            runs[impl] = run_stages(hq_models(impl), frames, int(hq_case["num_local_frames"]))
        return runs[impl]

    return get


@pytest.fixture(scope="session", params=ATTENTION_PATHS)
def attention_impl(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def hq_model(hq_models, attention_impl):
    return hq_models(attention_impl)


@pytest.fixture(scope="session")
def hq_stages(hq_stages_of, attention_impl):
    """Stage-by-stage run of case 1 (shared by the parity and stage-equivalence tests)."""
    return hq_stages_of(attention_impl)


@pytest.fixture(scope="session")
def hq_forward(hq_model, hq_case):
    """One plain ``forward`` of case 1."""
    with torch.inference_mode():
        return hq_model(torch.from_numpy(hq_case["masked_frames"]), int(hq_case["num_local_frames"]))

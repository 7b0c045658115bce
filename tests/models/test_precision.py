"""--precision: what a device runs natively, refusing the rest with a one-line reason, and the config field."""

from __future__ import annotations

import pytest
import torch

from e2fgvi_core.errors import ConfigError, DeviceError
from e2fgvi_core.models.precision import (
    AUTO_MIN_DELTA_DB,
    PRECISIONS,
    auto_precision,
    choose_precision,
    cpu_native_bf16,
    resolve_precision,
    supported_precisions,
)
from e2fgvi_core.removal.config import PRECISIONS as CONFIG_PRECISIONS
from e2fgvi_core.removal.config import EngineConfig


def test_config_and_models_name_the_same_precisions():
    assert CONFIG_PRECISIONS == PRECISIONS


def test_auto_and_fp32_run_everywhere():
    assert resolve_precision("auto", "cpu") in supported_precisions("cpu")
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert supported_precisions("cpu")[0] == "fp32"


def test_auto_rule_needs_native_arithmetic_and_a_measured_delta():
    """bf16 only where the device runs it natively and it measured >= 40 dB inside the matte; fp32 otherwise."""
    good, poor = AUTO_MIN_DELTA_DB + 5, AUTO_MIN_DELTA_DB - 0.1
    assert auto_precision("cpu", ("fp32", "bf16"), {("cpu", "bf16"): good})[0] == "bf16"
    assert auto_precision("cpu", ("fp32", "bf16"), {("cpu", "bf16"): AUTO_MIN_DELTA_DB})[0] == "bf16"
    precision, reason = auto_precision("cpu", ("fp32", "bf16"), {("cpu", "bf16"): poor})
    assert precision == "fp32" and f"{poor:.1f} dB" in reason
    precision, reason = auto_precision("cpu", ("fp32", "bf16"), {("cpu", "bf16"): None})
    assert precision == "fp32" and "not measured" in reason
    precision, reason = auto_precision("cpu", ("fp32",), {("cpu", "bf16"): good})  # a CPU without native bf16
    assert precision == "fp32" and "no native bfloat16" in reason
    # CUDA: bf16 first, fp16 where bf16 does not qualify
    deltas = {("cuda", "bf16"): poor, ("cuda", "fp16"): good}
    assert auto_precision("cuda", ("fp32", "bf16", "fp16"), deltas)[0] == "fp16"


def test_choose_precision_says_why_for_this_machine():
    choice = choose_precision("auto", "cpu")
    assert choice.precision == resolve_precision("auto", "cpu")
    assert choice.describe().startswith(f"precision {choice.precision} (auto: ")
    if not cpu_native_bf16():
        assert choice.precision == "fp32" and "no native bfloat16" in choice.reason
    assert choose_precision("fp32", "cpu").reason == "--precision fp32"


def test_fp16_is_refused_on_cpu_with_the_alternatives():
    with pytest.raises(DeviceError, match=r"--precision fp16 on cpu: float16 is for GPUs.*use --precision fp32"):
        resolve_precision("fp16", "cpu")


@pytest.mark.skipif(cpu_native_bf16(), reason="this CPU computes bf16 natively")
def test_bf16_is_refused_on_a_cpu_without_native_bf16():
    with pytest.raises(DeviceError, match="no native bfloat16"):
        resolve_precision("bf16", "cpu")


@pytest.mark.skipif(not cpu_native_bf16(), reason="this CPU has no native bf16")
def test_bf16_is_accepted_on_a_cpu_with_native_bf16():
    assert resolve_precision("bf16", "cpu") == "bf16"


def test_unknown_precision_is_refused():
    with pytest.raises(DeviceError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", "cpu")


def test_engine_config_validates_precision():
    assert EngineConfig().precision == "auto"
    assert EngineConfig.from_mapping({"precision": "BF16"}).precision == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, fp16"):
        EngineConfig.from_mapping({"precision": "half"})


@pytest.mark.skipif(cpu_native_bf16(), reason="this CPU computes bf16 natively")
def test_run_refuses_emulated_bf16_before_writing_anything(fill_weights, tmp_path):
    import numpy as np

    from e2fgvi_core.models import build_generator
    from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal

    model = build_generator("e2fgvi_hq")
    fill_weights(model, 1)
    weights = tmp_path / "w.pth"
    torch.save(model.state_dict(), weights)
    frames = {i: np.full((60, 108, 3), 100, np.uint8) for i in range(3)}
    mattes = {i: np.zeros((60, 108), np.uint8) for i in range(3)}
    mattes[1][20:30, 40:50] = 255
    sink = MemorySink()
    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(weights), "device": "cpu", "precision": "bf16"}
    )
    with pytest.raises(DeviceError, match="no native bfloat16"):
        run_removal(request, source=MemorySource(frames), matte_source=MemorySource(mattes, "matte"), sink=sink)
    assert sink.frames == {}


def bf16_psnr_inside_hole(model, case, frames: int | None = None) -> float:
    """PSNR (dB, images in [0, 1]) of a bf16-autocast forward against fp32 inside the case's holes."""
    import numpy as np

    masked = torch.from_numpy(case["masked_frames"])[:, :frames]
    local = min(int(case["num_local_frames"]), masked.shape[1])
    with torch.inference_mode():
        fp32, _ = model(masked, local)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16, _ = model(masked, local)
    holes = torch.from_numpy(case["masks_uint8"][: masked.shape[1]] > 0)[:, None].expand_as(fp32)
    diff = ((bf16.float() - fp32) / 2)[holes]  # [-1, 1] -> [0, 1] scale
    return float(10 * np.log10(1.0 / diff.pow(2).mean().item()))


@pytest.mark.skipif(not cpu_native_bf16(), reason="this CPU has no native bf16 (emulated: ~40x slower than fp32)")
def test_bf16_forward_of_the_parity_case_is_above_the_auto_threshold(hq_models, hq_case):
    """The fast (fused) generator under bf16 autocast, parity weights, parity case 1: inside the holes it stays
    above the 40 dB that ``auto`` requires (docs/performance.md measured ~47 dB on the shared clips)."""
    assert bf16_psnr_inside_hole(hq_models("fused"), hq_case) >= AUTO_MIN_DELTA_DB

"""Reduced precision for inference: which precisions a device runs natively, and the autocast that applies one.

Why a check and not just ``torch.autocast``: on a CPU without native bfloat16 arithmetic (AVX-512 BF16 or AMX;
e.g. AMD Zen 3 with AVX2 only) oneDNN emulates bf16 by converting to float32 around every kernel, which is slower
than float32 and less accurate (measured in docs/performance.md). ``--precision bf16`` is therefore refused there
with a ``DeviceError`` that says why, instead of silently making the run slower. float16 is for GPUs only (CPU
float16 kernels are emulated everywhere).

``auto`` is float32 on every device: the reduced-precision paths have been measured only where the hardware was
available (docs/performance.md says where); a faster default for a device is a one-line change once measured.
"""

from __future__ import annotations

import contextlib
import functools
import sys

import torch

from e2fgvi_core.errors import DeviceError

__all__ = ["PRECISIONS", "autocast", "cpu_native_bf16", "resolve_precision", "supported_precisions"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def cpu_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX-BF16), as oneDNN needs for bf16 to pay."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("flags"):
                        flags = set(line.split(":", 1)[1].split())
                        return "avx512_bf16" in flags or "amx_bf16" in flags
        except OSError:
            pass
    # elsewhere (macOS arm64 has bf16 in NEON on recent chips, but oneDNN's CPU support is what counts)
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def supported_precisions(device: torch.device | str) -> tuple[str, ...]:
    """The explicit precisions ``device`` runs natively, float32 first."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        bf16 = torch.cuda.get_device_capability(index) >= (8, 0)  # Ampere and later
        return ("fp32", "bf16", "fp16") if bf16 else ("fp32", "fp16")
    if device.type == "cpu":
        return ("fp32", "bf16") if cpu_native_bf16() else ("fp32",)
    return ("fp32",)


def resolve_precision(requested: str, device: torch.device | str) -> str:
    """``requested`` (``auto``, ``fp32``, ``bf16``, ``fp16``) as the precision to run on ``device``; raises
    ``DeviceError`` naming the device, the reason and the precisions it does support."""
    device = torch.device(device)
    if requested not in PRECISIONS:
        raise DeviceError(f"unknown precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "fp32"
    supported = supported_precisions(device)
    if requested in supported:
        return requested
    if device.type == "cpu" and requested == "bf16":
        why = "this CPU has no native bfloat16 (AVX-512 BF16 or AMX): emulated bf16 is slower than fp32 here"
    elif device.type == "cpu":
        why = "float16 is for GPUs (CPU float16 kernels are emulated)"
    else:
        why = f"{device.type} does not run {requested} natively"
    raise DeviceError(f"--precision {requested} on {device}: {why}; use --precision {' or '.join(supported)}")


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """A context that runs the generator's matmuls and convolutions in ``precision`` (``fp32``: nothing)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=_DTYPES[precision])

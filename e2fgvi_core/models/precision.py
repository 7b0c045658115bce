"""Reduced precision for inference: which precisions a device runs natively, and the autocast that applies one.

Why a check and not just ``torch.autocast``: on a CPU without native bfloat16 arithmetic (AVX-512 BF16 or AMX;
e.g. AMD Zen 3 with AVX2 only) oneDNN emulates bf16 by converting to float32 around every kernel, which is slower
than float32 and less accurate (measured in docs/performance.md). ``--precision bf16`` is therefore refused there
with a ``DeviceError`` that says why, instead of silently making the run slower. float16 is for GPUs only (CPU
float16 kernels are emulated everywhere).

``auto`` follows one rule (``auto_precision``): a reduced precision only where the device runs it natively *and*
its quality delta against float32 inside the matte was measured at >= ``AUTO_MIN_DELTA_DB`` (``MEASURED_DELTA_DB``,
docs/performance.md gives the measurement and its command); float32 otherwise. ``choose_precision`` returns the
resolved precision with the reason, for whoever prints it before the first frame.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from dataclasses import dataclass

import torch

from e2fgvi_core.errors import DeviceError

__all__ = [
    "AUTO_MIN_DELTA_DB",
    "MEASURED_DELTA_DB",
    "PRECISIONS",
    "PrecisionChoice",
    "auto_precision",
    "autocast",
    "choose_precision",
    "cpu_native_bf16",
    "resolve_precision",
    "supported_precisions",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

AUTO_MIN_DELTA_DB = 40.0
# PSNR of each reduced precision against float32 inside the matte (E2FGVI-HQ, parity weights, the shared clips), per
# device type: the worse clip, from docs/performance.md "Reduced precision" (benchmarks/speed.py; CUDA from
# benchmarks/gpu_check.py). None: not measured yet, so ``auto`` keeps float32 there. CPU bf16: tennis 46.9 dB,
# schoolgirls 47.0 dB on 4-frame 216x120 slices in oneDNN's emulated bf16 (the native instructions' arithmetic:
# bf16 operands, float32 accumulation) on an AVX2 CPU; to re-measure on whole clips on a CPU with AVX-512 BF16.
MEASURED_DELTA_DB: dict[tuple[str, str], float | None] = {
    ("cpu", "bf16"): 46.9,
    ("cuda", "bf16"): None,
    ("cuda", "fp16"): None,
}


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run uses and why (``--precision auto`` resolved, or the explicit request accepted)."""

    requested: str
    precision: str
    reason: str

    def describe(self) -> str:
        """One line for the run's log, e.g. ``precision fp32 (auto: this CPU has no native bfloat16 ...)``."""
        return f"precision {self.precision} ({self.reason})"


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
    return choose_precision(requested, device).precision


def auto_precision(
    device_type: str, native: tuple[str, ...], deltas: dict[tuple[str, str], float | None] | None = None
) -> tuple[str, str]:
    """``auto``'s rule as a pure function: the first reduced precision in ``native`` (bf16 before fp16) whose measured
    in-matte delta on ``device_type`` is >= ``AUTO_MIN_DELTA_DB``, else fp32; returns (precision, reason)."""
    deltas = MEASURED_DELTA_DB if deltas is None else deltas
    why_not = []
    for candidate in ("bf16", "fp16"):
        if candidate not in native:
            continue
        delta = deltas.get((device_type, candidate))
        if delta is None:
            why_not.append(f"{candidate} runs natively but its quality delta was not measured on {device_type}")
        elif delta < AUTO_MIN_DELTA_DB:
            why_not.append(
                f"{candidate} measured {delta:.1f} dB against fp32 inside the matte (< {AUTO_MIN_DELTA_DB:g})"
            )
        else:
            return candidate, (
                f"auto: {device_type} runs {candidate} natively and it measured {delta:.1f} dB against fp32 inside the "
                f"matte (>= {AUTO_MIN_DELTA_DB:g})"
            )
    if not why_not:
        why_not.append(
            "this CPU has no native bfloat16 (AVX-512 BF16 or AMX)" if device_type == "cpu" else "no native bf16/fp16"
        )
    return "fp32", "auto: " + "; ".join(why_not)


def choose_precision(requested: str, device: torch.device | str) -> PrecisionChoice:
    """``requested`` resolved on ``device`` with the reason (``auto`` by ``auto_precision``); an explicit precision
    the device does not run natively raises ``DeviceError`` naming the device, the reason and the alternatives."""
    device = torch.device(device)
    if requested not in PRECISIONS:
        raise DeviceError(f"unknown precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    supported = supported_precisions(device)
    if requested == "auto":
        precision, reason = auto_precision(device.type, supported)
        return PrecisionChoice(requested, precision, reason)
    if requested in supported:
        return PrecisionChoice(requested, requested, f"--precision {requested}")
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

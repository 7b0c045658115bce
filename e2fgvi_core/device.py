"""Compute-device selection: CUDA when available, then Apple MPS, then CPU; ``--device`` overrides."""

from __future__ import annotations

import torch

from e2fgvi_core.errors import DeviceError


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exception types a device raises when it runs out of memory, for ``except`` clauses.

    Why types and not the message text: CUDA's and MPS's allocators both raise ``torch.OutOfMemoryError`` (a
    ``RuntimeError`` subclass, whatever its wording in a given release), and a host allocation that fails raises
    ``MemoryError``; matching "out of memory" in a message also caught unrelated errors that quoted it.
    """
    return (torch.OutOfMemoryError, MemoryError)


def select_device(requested: str | None = None) -> torch.device:
    """Return the device to run on.

    ``requested`` is ``None``/``"auto"`` for automatic choice, or any torch device string (``"cpu"``,
    ``"cuda"``, ``"cuda:1"``, ``"mps"``). An explicit request for an unavailable device raises
    ``DeviceError`` rather than silently falling back, so a farm node without a GPU fails loudly.
    """
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {requested!r} requested but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {requested!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    elif device.type == "mps":
        if not _mps_available():
            raise DeviceError(f"device {requested!r} requested but MPS is not available on this machine")
    elif device.type != "cpu":
        raise DeviceError(f"unsupported device {requested!r}: use auto, cpu, cuda, cuda:N or mps")
    return device


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()

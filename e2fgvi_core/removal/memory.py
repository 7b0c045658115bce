"""Giving freed heap memory back to the system between windows, so a long shot's RSS does not creep up.

Measured (docs/engine.md, "Memory"): with the model on the CPU, resident memory between windows kept rising after
the cache had reached its budget (+60 to +80 MiB over 200 frames of 640x360), although no Python object or tensor
was kept per window. The cause is glibc's allocator: torch's CPU tensors of a few hundred KiB (cached features,
window activations) land on the malloc heap once glibc's dynamic mmap threshold has risen, long-lived cache entries
end up interleaved with the freed activations of earlier windows, and glibc only ever gives back the top of a heap.
``malloc_trim(0)`` releases the free pages inside the heaps as well (``madvise(MADV_DONTNEED)``); called once per
window it costs well under a millisecond per window here and keeps the resident set at what is live (the model, the
frames in flight and the cache within its budget).

Only glibc has ``malloc_trim``; elsewhere (macOS, Windows, musl) ``release_free_memory`` does nothing. Setting
``$E2FGVI_MALLOC_TRIM=0`` turns it off (for measuring the difference).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable

_TRIM: Callable[[int], int] | None | bool = False  # False = not looked up yet; None = not available


def _lookup_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc (musl has no malloc_trim)
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def trim_enabled() -> bool:
    """Whether ``release_free_memory`` does anything here: glibc, and not turned off by ``$E2FGVI_MALLOC_TRIM=0``."""
    global _TRIM
    if os.environ.get("E2FGVI_MALLOC_TRIM", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if _TRIM is False:
        _TRIM = _lookup_trim()
    return _TRIM is not None


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system (glibc ``malloc_trim(0)``); True when it was called."""
    if not trim_enabled() or not callable(_TRIM):
        return False
    _TRIM(0)
    return True

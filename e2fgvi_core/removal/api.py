"""The public entry point of the shot engine: one request in, clean frames out.

The CLI, the server's workers and the farm's chunk renderer all call ``run_removal``; they differ only in how they
fill a ``RemovalRequest`` (``removal/request.py``) and what they do with ``Progress`` reports. Frames normally come
from and go to image sequences (``plate``/``matte``/``out`` patterns); the server can pass them by value instead
with ``MemorySource`` and ``MemorySink`` (``removal/sources.py``).

    from e2fgvi_core.removal.api import RemovalRequest, run_removal
    summary = run_removal(request, progress=callback, cancel=threading.Event(), cache=shared_cache)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from e2fgvi_core.removal.cache import CacheStats, ShotCache
from e2fgvi_core.removal.config import CacheConfig, EngineConfig
from e2fgvi_core.removal.engine_registry import ENGINE_CHOICES, ENGINES
from e2fgvi_core.removal.plan import FramePlan, plan_frames
from e2fgvi_core.removal.request import Progress, RemovalRequest, RemovalSummary
from e2fgvi_core.removal.runner import run_request
from e2fgvi_core.removal.sources import MemorySink, MemorySource

__all__ = [
    "ENGINES",
    "ENGINE_CHOICES",
    "CacheConfig",
    "CacheStats",
    "EngineConfig",
    "FramePlan",
    "MemorySink",
    "MemorySource",
    "Progress",
    "RemovalRequest",
    "RemovalSummary",
    "ShotCache",
    "plan_frames",
    "run_removal",
]

ProgressCallback = Callable[[Progress], None]


def run_removal(
    request: RemovalRequest,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache: ShotCache | None = None,
    *,
    source: Any | None = None,
    matte_source: Any | None = None,
    sink: Any | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_frame_written: Callable[[int, str | None], None] | None = None,
    no_links: bool = False,
) -> RemovalSummary:
    """Run one removal and return its summary; raises an ``E2fgviError`` subclass on bad input.

    Only the windows that contribute to ``request.frames`` run (``plan.plan_frames``), and the frames written equal
    the same frames of a whole-shot run bit for bit. ``cache`` is shared between runs (the server holds one);
    without it a model engine uses a cache private to this run (features and flows computed once per frame and
    pair) and propagate none (``engines.build_engine``). ``cancel.is_set()`` is checked between windows and raises ``JobCancelled``: frames already written are
    complete files, nothing is left half-written. ``source``/``matte_source``/``sink`` replace the
    ``plate``/``matte``/``out`` patterns (frames by value). ``on_warning(message)`` hears each warning when it
    arises (the summary lists them all again); ``on_frame_written(frame, path)`` hears each frame once its file is
    complete (path None for a memory sink), so a server streams results and knows what survived a cancel.
    ``no_links`` (the server): each output frame is written relative to its folder opened without following links,
    so a folder swapped for a link cannot escape.
    """
    return run_request(
        request,
        progress=progress,
        cancel=cancel,
        cache=cache,
        source=source,
        matte_source=matte_source,
        sink=sink,
        on_warning=on_warning,
        on_frame_written=on_frame_written,
        no_links=no_links,
    )

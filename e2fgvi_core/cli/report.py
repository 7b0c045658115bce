"""What ``e2fgvi remove`` prints, in-process or through a server: the progress bar, warnings, the summary line.

Why a module of its own: ``remove`` (in-process) and ``remote`` (``--server``) print the same things, so scripts do
not care where the frames were computed; both import this module and neither imports the other.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from e2fgvi_core.removal.engine_registry import describe_choice
from e2fgvi_core.removal.request import Progress, RemovalSummary

PREFIX = "e2fgvi remove"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """One self-rewriting line on stderr: bar, frames, frames/s, ETA, stage.

    The CLI's one bar: ``e2fgvi train`` draws its steps with ``draw`` too (``cli/train.py``), so both commands
    look alike and redraw at a bounded rate.
    """

    WIDTH = 24
    INTERVAL_S = 0.2  # at most ~5 redraws a second; the final state always shows

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream is not None
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        final = progress.frames_done == progress.frames_total or progress.stage == "done"
        rate = progress.frames_done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        fraction = progress.frames_done / max(progress.frames_total, 1)
        count, speed = f"{progress.frames_done}/{progress.frames_total} frames", f"{rate:5.2f} frames/s"
        self.draw(fraction, count, speed, progress.eta_s, f"{progress.stage:<14}", final)

    def draw(self, fraction: float, count: str, rate: str, eta_s: float | None, tail: str, now: bool) -> None:
        """``[####....] COUNT RATE ETA mm:ss TAIL``; ``now`` draws even within INTERVAL_S (a final state)."""
        if not self.enabled:
            return
        clock = time.monotonic()
        if not now and clock - self._last < self.INTERVAL_S:
            return
        self._last = clock
        filled = int(self.WIDTH * min(max(fraction, 0.0), 1.0))
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {count} {rate} ETA {_clock(eta_s)} {tail}")
        self.stream.flush()
        self._drawn = True

    def interrupt(self) -> None:
        """End the bar's line so a message printed now starts on its own line; the bar redraws after it."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def print_notice(message: str) -> None:
    print(f"{PREFIX}: {message}", file=sys.stderr)


def engine_fields(message: Mapping[str, Any]) -> dict[str, Any]:
    """The engine choice keys (``EngineChoice.to_mapping``: engine, weights, weights_sha256, precision) of a
    server's ``accepted`` message, for ``print_engine_line`` and ``--json``."""
    from e2fgvi_core.removal.engine_registry import EngineChoice

    return {key: message.get(key) for key in EngineChoice("").to_mapping()}


def print_engine_line(choice: Mapping[str, Any]) -> None:
    """Say which engine, weights and precision run, before the first frame (in-process and through a server)."""
    print(f"{PREFIX}: {describe_choice(choice)}", file=sys.stderr)


def print_warnings(messages: Iterable[str]) -> None:
    for message in messages:
        print(f"{PREFIX}: warning: {message}", file=sys.stderr)


def print_summary(summary: RemovalSummary, out: str | None, where: str = "") -> None:
    """The one-line summary: frames written, where, how fast, with which engine, the job's cache hits/misses."""
    frames, seconds = summary.frames_written, summary.seconds
    rate = frames / seconds if seconds > 0 else 0.0
    stats = summary.cache_stats
    cache = (stats.hits, stats.misses) if stats is not None else None
    model = f" ({summary.variant}, weights {summary.weights_sha256[:12]})" if summary.weights_sha256 else ""
    if summary.variant and not summary.weights_sha256:
        model = f" ({summary.variant})"
    where_text = f"; {where}" if where else ""
    warned = f"; {len(summary.warnings)} warning(s) above" if summary.warnings else ""
    print(
        f"{PREFIX}: wrote {frames} frames to {out} in {seconds:.1f} s ({rate:.2f} frames/s) with {summary.engine}"
        f"{model}; {summary.frames_passthrough} passed through (empty matte); {cache_text(cache)}"
        f"{where_text}{warned}",
        file=sys.stderr,
    )


def cache_text(cache: tuple[int, int] | None) -> str:
    """The summary's cache words: the job's own counters, or plainly that the run had no cache."""
    if cache is None:
        return "no cache"
    return f"cache {cache[0]} hits / {cache[1]} misses (this job)"


def summary_json(summary: RemovalSummary, out: str | None, **extra: Any) -> dict[str, Any]:
    """The ``--json`` summary of ``e2fgvi remove``, in-process or through a server: the run summary
    (``RemovalSummary.to_mapping``, the same keys a server's ``result`` carries) plus the ``out`` pattern and
    ``caches`` (whether the engine had a cache); ``extra`` adds where it ran (``server``, ``server_seconds``)."""
    return {**summary.to_mapping(), "out": out, "caches": summary.cache_stats is not None, **extra}


def print_json(summary: Mapping[str, Any]) -> None:
    """The ``--json`` summary on stdout (the human lines stay on stderr)."""
    print(json.dumps(dict(summary), sort_keys=True))

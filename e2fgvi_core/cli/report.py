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

from e2fgvi_core.removal.request import Progress, RemovalSummary

PREFIX = "e2fgvi remove"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """One self-rewriting line on stderr: bar, frames, frames/s, ETA, stage."""

    WIDTH = 24

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream is not None
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = progress.frames_done == progress.frames_total or progress.stage == "done"
        if not final and now - self._last < 0.2:
            return
        self._last = now
        total = max(progress.frames_total, 1)
        filled = int(self.WIDTH * progress.frames_done / total)
        rate = progress.frames_done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        line = (
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress.frames_done}/{progress.frames_total} frames "
            f"{rate:5.2f} frames/s ETA {_clock(progress.eta_s)} {progress.stage:<14}"
        )
        self.stream.write(line)
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


def engine_line(choice: Mapping[str, Any]) -> str:
    """The engine, weights and precision of a run in words, from ``EngineChoice.to_mapping`` keys (in-process) or
    the server's ``accepted`` message (the same keys): e.g. ``engine e2fgvi_hq, weights finetuned (sha256
    0123456789ab), precision fp32``."""
    words = [f"engine {choice.get('engine')}"]
    if choice.get("weights"):
        sha = str(choice.get("weights_sha256") or "")[:12]
        words.append(f"weights {choice['weights']}" + (f" (sha256 {sha})" if sha else ""))
    if choice.get("precision"):
        words.append(f"precision {choice['precision']}")
    return ", ".join(words)


def print_engine_line(choice: Mapping[str, Any]) -> None:
    """Say which engine, weights and precision run, before the first frame (in-process and through a server)."""
    print(f"{PREFIX}: {engine_line(choice)}", file=sys.stderr)


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
        f"{model}; {summary.frames_passthrough} passed through (empty matte); {cache_text(summary.engine, cache)}"
        f"{where_text}{warned}",
        file=sys.stderr,
    )


def cache_text(engine: str | None, cache: tuple[int, int] | None) -> str:
    """The summary's cache words: the job's own counters, or plainly that the engine has no cache."""
    if engine == "propagate":
        return "no cache (the propagate engine does not cache features between runs)"
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

"""The hand-over from worker threads to the broker thread, and the one-line log format for job events.

Why: a ZeroMQ socket belongs to one thread. The worker never touches the ROUTER socket; it posts events here and
pokes an inproc socket so the broker's poll wakes at once (no polling latency added to each frame).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

log = logging.getLogger("e2fgvi.server")

WAKE_ENDPOINT = "inproc://e2fgvi-server-wake"


@dataclass
class JobEvent:
    """A message for the client of ``job``: ``kind`` is a protocol type; ``record`` keeps it for replay."""

    job: Any
    kind: str
    fields: dict[str, Any]
    arrays: list[np.ndarray] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    record: bool = False
    final: bool = False


class Outbox:
    """Thread-safe queue of ``JobEvent`` plus a wake-up socket the broker polls."""

    def __init__(self, context: zmq.Context) -> None:
        self._context = context
        self._queue: queue.Queue[JobEvent] = queue.Queue()
        self._lock = threading.Lock()
        self._push: zmq.Socket | None = None
        self.wake = context.socket(zmq.PULL)
        self.wake.linger = 0
        self.wake.bind(WAKE_ENDPOINT)

    def post(self, event: JobEvent) -> None:
        self._queue.put(event)
        with self._lock:
            if self._push is None:
                self._push = self._context.socket(zmq.PUSH)
                self._push.linger = 0
                self._push.connect(WAKE_ENDPOINT)
            try:
                self._push.send(b"", zmq.NOBLOCK)
            except zmq.Again:
                pass  # the broker is already behind on wake-ups; it drains the whole queue each time

    def drain(self) -> list[JobEvent]:
        while True:
            try:
                self.wake.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events

    def close(self) -> None:
        with self._lock:
            if self._push is not None:
                self._push.close(0)
                self._push = None
        self.wake.close(0)


def log_job_event(event: str, job: Any = None, level: int = logging.INFO, **fields: Any) -> None:
    """One logfmt line per job event: ``event=job_done job=3f2a key=... frames=24 seconds=1.9``."""
    parts = [f"event={event}"]
    if job is not None:
        parts.append(f"job={job.job_id}")
        parts.append(f"key={_quote(job.key)}")
    for name, value in fields.items():
        if value is not None:
            parts.append(f"{name}={_quote(value)}")
    log.log(level, " ".join(parts))


def _quote(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text

"""Jobs and the job queue: priority FIFO, one job on the device at a time, cancel tokens, idempotent keys.

Why idempotent keys: a client that lost its connection (server restart, network blip) cannot know whether its
``submit`` arrived. It resubmits with the same ``key``; if the server already has that job (queued, running or
recently finished) the client is re-attached to it and its results are replayed, so no shot runs twice
(zguide, "Idempotent Services").
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)


@dataclass(eq=False)
class Job:
    """One submitted removal: what to run, who asked, and what has been sent back so far.

    ``client`` is the ZeroMQ identity of the submitting connection; ``watchers`` every connection attached since.
    ``replies`` keeps the per-frame ``result`` messages already sent (and the final one), so a re-attached
    client can be brought up to date without running anything again.
    """

    key: str
    client: bytes
    request: dict[str, Any]
    priority: int = 0
    keep_running: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)  # frames by value: {"plate": [...], "matte": [...]}
    removal: Any = None  # the RemovalRequest parsed from ``request`` at submit (None until validated)
    announced: dict[str, Any] = field(default_factory=dict)  # engine, weights, weights_sha256, precision at submit
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = QUEUED
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""
    created_s: float = field(default_factory=time.time)
    started_s: float | None = None
    finished_s: float | None = None
    frames_done: int = 0
    frames_total: int = 0
    stage: str = ""
    frames_complete: list[int] = field(default_factory=list)  # frames whose file (or result) is complete
    replies: list[list[Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    error: tuple[str, str] | None = None
    replayable: bool = True  # False once returned pixels were released: a resubmit then runs the job again
    digest: str = ""  # of the request and its buffers: a resubmit with this key must match it to re-attach
    secret_hash: str | None = None  # sha256 of the submitter's secret: proves a resubmit from a new connection
    watchers: list[bytes] = field(default_factory=list)  # every connection attached to the job gets its events
    input_bytes: int = 0  # size of the frames by value it holds (the server's memory budget counts them)

    def __post_init__(self) -> None:
        if not self.watchers:
            self.watchers = [self.client]

    def attach(self, client: bytes) -> None:
        """Report to ``client`` too (a re-attach from a new connection)."""
        if client not in self.watchers:
            self.watchers.append(client)

    def describe(self, viewer: bytes | None = None) -> dict[str, Any]:
        """The job as it appears in a ``status`` reply (no pixels, no client identity). Another client's job
        shows neither its key (a key is what re-attaches) nor its paths."""
        mine = viewer is None or viewer in self.watchers
        return {
            "job_id": self.job_id,
            "key": self.key if mine else None,
            "mine": mine,
            "state": self.state,
            "priority": self.priority,
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "stage": self.stage,
            "shot": (self.request.get("shot") or self.request.get("plate")) if mine else None,
            "age_s": round(time.time() - self.created_s, 3),
        }


class JobQueue:
    """Thread-safe priority FIFO (higher ``priority`` first, then arrival order) with a registry by id and key.

    The broker thread puts and cancels; the worker thread takes. Finished jobs are kept (up to ``retain``) so a
    late resubmit or cancel still finds them.
    """

    def __init__(self, max_queued: int = 256, retain: int = 64) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[int, int, Job]] = []
        self._seq = itertools.count()
        self._by_key: dict[str, Job] = {}
        self._by_id: dict[str, Job] = {}
        self._finished: OrderedDict[str, Job] = OrderedDict()
        self._running: Job | None = None
        self._closed = False
        self.max_queued = max_queued
        self.retain = retain
        self.completed = 0

    def put(self, job: Job) -> Job:
        """Queue ``job``. A key already known is the broker's to settle (re-attach or refuse) before this call."""
        with self._lock:
            if job.key in self._by_key:
                raise ValueError(f"key {job.key!r} is already job {self._by_key[job.key].job_id}")
            if len(self._heap) >= self.max_queued:
                raise OverflowError(f"the queue is full ({self.max_queued} jobs); retry later")
            self._by_key[job.key] = job
            self._by_id[job.job_id] = job
            heapq.heappush(self._heap, (-job.priority, next(self._seq), job))
            self._lock.notify_all()
            return job

    def take(self, timeout_s: float) -> Job | None:
        """Block up to ``timeout_s`` for the next queued job and mark it running (one at a time)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not self._closed:
                while self._heap and self._heap[0][2].state != QUEUED:
                    heapq.heappop(self._heap)  # cancelled while queued
                if self._heap and self._running is None:
                    _, _, job = heapq.heappop(self._heap)
                    job.state = RUNNING
                    job.started_s = time.time()
                    self._running = job
                    return job
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)
            return None

    def finish(self, job: Job, state: str) -> None:
        """Record the end of ``job`` (done, failed or cancelled) and free the device for the next one."""
        with self._lock:
            job.state = state
            job.finished_s = time.time()
            if self._running is job:
                self._running = None
            if state == DONE:
                self.completed += 1
            job.inputs = {}  # release frames by value as soon as possible
            self._finished[job.key] = job
            while len(self._finished) > self.retain:
                old_key, old = self._finished.popitem(last=False)
                self._by_key.pop(old_key, None)
                self._by_id.pop(old.job_id, None)
            self._lock.notify_all()

    def cancel(self, reason: str, job_id: str | None = None, key: str | None = None) -> Job | None:
        """Set the cancel token of a job; a queued job is finished at once. None when the job is unknown."""
        with self._lock:
            job = self.find(job_id, key)
            if job is None or job.state in FINAL_STATES:
                return job
            job.cancel_reason = reason
            job.cancel.set()
            if job.state == QUEUED:
                self.finish(job, CANCELLED)
            return job

    def forget(self, job: Job) -> None:
        """Drop a finished job from the registry (its key may then be submitted afresh)."""
        with self._lock:
            if job.state in FINAL_STATES:
                self._by_key.pop(job.key, None)
                self._by_id.pop(job.job_id, None)
                self._finished.pop(job.key, None)

    def find(self, job_id: str | None = None, key: str | None = None) -> Job | None:
        with self._lock:
            return self._by_id.get(job_id) if job_id else self._by_key.get(key) if key else None

    def held_input_bytes(self) -> int:
        """Bytes of frames by value held by unfinished jobs (the server's ``max_value_bytes`` budget)."""
        with self._lock:
            return sum(j.input_bytes for j in self._by_key.values() if j.state not in FINAL_STATES)

    def active_for_client(self, client: bytes) -> list[Job]:
        """Unfinished jobs reporting to ``client`` (to cancel when its heartbeat lapses)."""
        with self._lock:
            return [j for j in self._by_key.values() if client in j.watchers and j.state not in FINAL_STATES]

    @property
    def running(self) -> Job | None:
        return self._running

    def queued(self) -> list[Job]:
        with self._lock:
            return [j for _, _, j in sorted(self._heap) if j.state == QUEUED]

    def position(self, job: Job) -> int:
        """0 when running, else 1 + the number of queued jobs ahead of it."""
        if job.state == RUNNING:
            return 0
        queued = self.queued()
        return queued.index(job) + 1 if job in queued else 0

    def close(self) -> list[Job]:
        """Stop handing out jobs; cancel and return the queued ones."""
        with self._lock:
            self._closed = True
            pending = self.queued()
            for job in pending:
                job.cancel_reason = "server shutting down"
                job.cancel.set()
                self.finish(job, CANCELLED)
            self._lock.notify_all()
            return pending

"""Client library for ``e2fgvi-server``: submit jobs, follow progress, get frames back, cancel, survive restarts.

Why it looks like this: hosts (Nuke, Resolve, Blender) run their own Python, which often cannot load torch, so this
module imports only ``e2fgvi_server.protocol`` (and through it ``e2fgvi_core.errors``) of ours plus zmq, msgpack,
numpy and the standard library (a test checks ``sys.modules``). Every field it sends or reads is packed and parsed
by ``e2fgvi_server.protocol``, the same functions the server uses; starting a local server is
``e2fgvi_host.launcher``. One background thread owns the DEALER socket (ZeroMQ sockets belong to one thread): it sends
heartbeats while anything is pending, notices a dead server when replies stop for ``interval x liveness``, and
then reconnects and resends (zguide's Lazy Pirate). Jobs carry an idempotent ``key``, so a resubmit after a
reconnect re-attaches to the job if the server still has it, or runs it again on a restarted server; frames are
delivered to the caller exactly once either way.

    from e2fgvi_host.client import Client
    with Client("tcp://127.0.0.1:5577") as client:
        handle = client.submit({"plate": "/shots/a/plate.%04d.exr", "matte": "/shots/a/matte.%04d.exr",
                                "out": "/shots/a/clean.%04d.exr", "engine": "propagate"},
                               on_progress=lambda p: print(p["frames_done"], "/", p["frames_total"]))
        result = handle.wait(timeout_s=600)
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import zmq

from e2fgvi_server import protocol as wire
from e2fgvi_server.protocol import ClientError, RequestTimeoutError, ResultFrame, ServerUnavailableError

__all__ = [
    "Client",
    "ClientError",
    "JobHandle",
    "JobResult",
    "RequestTimeoutError",
    "ResultFrame",
    "ServerUnavailableError",
]

log = logging.getLogger("e2fgvi.client")

# Reliability numbers (zguide): every wait has a timeout, every timeout has a name.
RECONNECT_RETRIES = 5  # reconnects without hearing back before pending work fails
REQUEST_TIMEOUT_S = 10.0
IO_POLL_MS = 50
CLOSE_LINGER_MS = 500  # time a cancel sent just before close() gets to leave
MIN_UPLOAD_BYTES_PER_S = 50e6  # silence while a big by-value submit is still leaving is not a dead server


@dataclass
class JobResult:
    """A finished job: its frames by number and the server's summary (timings, cache counters, engine)."""

    job_id: str
    key: str
    frames: dict[int, ResultFrame]
    summary: dict[str, Any]


class _Request:
    """A pending request/reply exchange (hello, ping, status, shutdown), matched by ``req``."""

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        self.kind = kind
        self.fields = fields
        self.done = threading.Event()
        self.reply: wire.Message | None = None
        self.error: Exception | None = None
        self.sent_s = 0.0


class JobHandle:
    """A submitted job: progress, per-frame results, cancel, and a ``wait`` with timeout.

    Callbacks run on the client's I/O thread; keep them short (post to the host's UI thread if needed).
    """

    def __init__(
        self, client: Client, key: str, parts: list[Any], on_progress, on_result, on_event, secret: str = ""
    ) -> None:
        self._client = client
        self.key = key
        self.secret = secret  # with the key, what lets a new connection (or process) re-attach to this job
        self.job_id: str | None = None
        self._parts = parts
        self._on_progress = on_progress
        self._on_result = on_result
        self._on_event = on_event
        self._done = threading.Event()
        self._accepted = threading.Event()
        self.frames: dict[int, ResultFrame] = {}
        self.progress: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.accepted: dict[str, Any] = {}  # the `accepted` message: job id, engine, weights, precision
        self.error: Exception | None = None
        self.events: list[str] = []
        self.reconnects = 0
        self._tracker = None  # zmq.MessageTracker of the last send of the submit
        self._upload_until = 0.0
        self._nbytes = sum(memoryview(p).nbytes for p in parts)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, wire.RemoteError) and self.error.code == wire.CANCELLED

    def cancel(self) -> None:
        """Ask the server to cancel; ``wait`` then raises a RemoteError with code ``cancelled``."""
        fields = {"key": self.key}
        if self.job_id:
            fields["job_id"] = self.job_id
        if self.secret:
            fields["secret"] = self.secret
        key = self._client.access_key()
        if key is not None:
            fields[wire.ACCESS_KEY_FIELD] = key
        self._client._send_command(("cancel", fields))

    def wait(self, timeout_s: float | None = None) -> JobResult:
        """Block until the job finishes; return its result or raise its error (RequestTimeoutError on timeout)."""
        if not self._done.wait(timeout_s):
            raise RequestTimeoutError(
                f"job {self.job_id or self.key} did not finish within {timeout_s} s ({len(self.frames)} frames so far)"
            )
        if self.error is not None:
            raise self.error
        return JobResult(self.job_id or "", self.key, dict(sorted(self.frames.items())), self.summary)

    result = wait

    def wait_accepted(self, timeout_s: float | None = None) -> str:
        """Block until the server acknowledged the submit; return the job id."""
        if not self._accepted.wait(timeout_s) and not self._done.is_set():
            raise RequestTimeoutError(f"submit {self.key} was not accepted within {timeout_s} s")
        if self.error is not None and self.job_id is None:
            raise self.error
        return self.job_id or ""

    # --- called on the I/O thread ----------------------------------------------------------------------
    def _send_submit(self, sock: zmq.Socket) -> None:
        """(Re)send the submit; silence is not taken as a dead server before it can have left at the minimum rate."""
        self._tracker = _send(sock, self._parts, track=True)
        self._upload_until = time.monotonic() + self._nbytes / MIN_UPLOAD_BYTES_PER_S

    def _note(self, event: str) -> None:
        self.events.append(event)
        if self._on_event is not None:
            _safe_call(self._on_event, event, self)

    def _handle(self, message: wire.Message) -> None:
        kind = message.type
        if kind == wire.ACCEPTED:
            self.accepted = dict(message.header)
            self.job_id = message.get("job_id")
            self._note("reattached" if message.get("reattached") else "accepted")
            self._accepted.set()
        elif kind == wire.PROGRESS:
            self.progress = dict(message.header)
            if self._on_progress is not None:
                _safe_call(self._on_progress, self.progress)
        elif kind == wire.RESULT and message.get("final"):
            self.summary = dict(message.header)
            self._finish(None)
        elif kind == wire.RESULT:
            self._add_frame(message)
        elif kind == wire.ERROR:
            self._finish(_remote_error(message))

    def _add_frame(self, message: wire.Message) -> None:
        result = wire.parse_result_frame(message)
        if result is None or result.frame in self.frames:
            return  # replayed after a re-attach: delivered once already
        self.frames[result.frame] = result
        if self._on_result is not None:
            _safe_call(self._on_result, result)

    def _finish(self, error: Exception | None) -> None:
        if self._done.is_set():
            return
        self.error = error
        self._note("failed" if error else "done")
        self._done.set()
        self._accepted.set()


class Client:
    """Connection to one ``e2fgvi-server`` (DEALER socket, background I/O thread, Lazy Pirate reconnects).

    ``server_public_key``/``client_secret_key`` are CURVE certificate files (``e2fgvi-server keys``); give both to
    talk to a server started with ``--curve-secret-key``.
    """

    _ids = itertools.count()

    def __init__(
        self,
        address: str = wire.DEFAULT_ADDRESS,
        *,
        heartbeat_interval_s: float = wire.HEARTBEAT_INTERVAL_S,
        heartbeat_liveness: int = wire.HEARTBEAT_LIVENESS,
        retries: int = RECONNECT_RETRIES,
        server_public_key: str | None = None,
        client_secret_key: str | None = None,
        context: zmq.Context | None = None,
        access_key: str | None = None,
    ) -> None:
        self.address = address
        self._access_key = access_key  # default: read from this user's access key file at each request
        self.heartbeat_interval_s = heartbeat_interval_s
        self.heartbeat_liveness = heartbeat_liveness
        self.retries = retries
        self._curve = _load_curve(server_public_key, client_secret_key)
        self._context = context or zmq.Context.instance()
        self._commands: queue.Queue = queue.Queue()
        self._wake_endpoint = f"inproc://e2fgvi-client-{os.getpid()}-{next(self._ids)}-{uuid.uuid4().hex[:6]}"
        self._wake_lock = threading.Lock()
        self._wake_pull = self._context.socket(zmq.PULL)
        self._wake_pull.linger = 0
        self._wake_pull.bind(self._wake_endpoint)
        self._wake_push = self._context.socket(zmq.PUSH)
        self._wake_push.linger = 0
        self._wake_push.connect(self._wake_endpoint)
        self._req_ids = itertools.count(1)
        self._requests: dict[int, _Request] = {}
        self._jobs: dict[str, JobHandle] = {}
        self._closing = threading.Event()
        self.reconnects = 0
        self.server_instance: str | None = None  # from every reply; a change means the server restarted
        self.restarts_seen = 0
        self._restarted = False
        self._limits: tuple[int, int] | None = None  # (max_message_bytes, max_header_bytes) from hello
        self._thread = threading.Thread(target=self._io_loop, name="e2fgvi-client-io", daemon=True)
        self._thread.start()

    # --- public API -----------------------------------------------------------------------------------------
    def hello(self, timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """The server's versions, capabilities, devices and installed weights."""
        return self._request(
            wire.HELLO, {"client": "e2fgvi_host.client", "versions": list(wire.SUPPORTED_VERSIONS)}, timeout_s
        ).header

    def ping(self, timeout_s: float = REQUEST_TIMEOUT_S) -> float:
        """Round-trip time in seconds."""
        start = time.perf_counter()
        self._request(wire.PING, {}, timeout_s)
        return time.perf_counter() - start

    def status(self, timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """Queue, running job, cache statistics, devices and device memory."""
        return self._request(wire.STATUS, {}, timeout_s).header

    def footprint(self, request: Mapping[str, Any], timeout_s: float = REQUEST_TIMEOUT_S) -> dict[int, list[int]]:
        """``{frame: [shot frames it reads]}`` for each frame ``request`` produces (``shot``, ``frames`` and the
        engine settings of a submit): the engine's own plan, answered without reading or running anything."""
        return wire.parse_footprint(self._request(wire.FOOTPRINT, wire.footprint_fields(request), timeout_s))

    def shutdown(self, token: str, timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """Stop the server (only from this machine, only with its token)."""
        return self._request(wire.SHUTDOWN, {"token": token}, timeout_s).header

    def submit(
        self,
        request: Mapping[str, Any],
        *,
        key: str | None = None,
        plate_frames: Mapping[int, Any] | None = None,
        matte_frames: Mapping[int, Any] | None = None,
        priority: int = 0,
        keep_running: bool = False,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        on_result: Callable[[ResultFrame], None] | None = None,
        on_event: Callable[[str, JobHandle], None] | None = None,
        secret: str | None = None,
    ) -> JobHandle:
        """Queue a removal; returns at once with a ``JobHandle``.

        ``request`` holds ``RemovalRequest`` keys (plate, matte, out, frames, engine, parameters...); ``out``
        None (or absent) returns frames by value. ``plate_frames``/``matte_frames`` pass inputs by value:
        ``{frame_number: array (h, w, c) or Frame-like object with .pixels/.channels/.data_window}``. ``key``
        makes the submit idempotent (default: a new uuid); reuse it with the same request and the handle's
        ``secret`` (default: a new random one) to re-attach to the job from another connection, e.g. after a crash.
        A submit by value larger than the server's ``max_message_bytes`` (from ``hello``) raises ClientError here.
        """
        key = key or uuid.uuid4().hex
        secret = secret or secrets.token_urlsafe(24)
        parts = wire.pack_submit(  # header first, buffers as views of the arrays
            key,
            request,
            plate_frames=plate_frames,
            matte_frames=matte_frames,
            priority=priority,
            keep_running=keep_running,
            secret=secret,
            access_key=self.access_key(),
        )
        if len(parts) > 1:
            self._check_message_size(parts)
        handle = JobHandle(self, key, parts, on_progress, on_result, on_event, secret)
        self._send_command(("submit", handle))
        return handle

    def close(self) -> None:
        """Stop the I/O thread and close the socket (jobs keep running on the server unless cancelled)."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._wake()
        self._thread.join(5.0)
        with self._wake_lock:
            self._wake_push.close(0)

    def __enter__(self) -> Client:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def access_key(self) -> str | None:
        """The key the server's user holds (``protocol.read_access_key``): given, or read from the per-user file
        (read again each time, so a server started after this client is found)."""
        return self._access_key or wire.read_access_key()

    def _check_message_size(self, parts: list[Any]) -> None:
        """Refuse a submit the server would drop (ZeroMQ closes the connection on an oversized message, and the
        client would wait forever): the limit comes from ``hello``, asked once per server instance."""
        if self._limits is None:
            try:
                hello = self.hello(timeout_s=max(2.0, self.heartbeat_interval_s * self.heartbeat_liveness))
            except (RequestTimeoutError, ServerUnavailableError):
                return  # no server yet: the submit is resent when one answers, and the server checks the total
            self._limits = (int(hello.get("max_message_bytes") or 0), int(hello.get("max_header_bytes") or 0))
        max_message, max_header = self._limits
        sizes = [memoryview(p).nbytes for p in parts]
        if max_header and sizes[0] > max_header:
            raise ClientError(
                f"the submit header is {sizes[0]} bytes, over the server's limit of {max_header} (max_header_bytes)"
            )
        if max_message and sum(sizes) > max_message:
            raise ClientError(
                f"the submit carries {sum(sizes)} bytes of frames by value, over the server's limit of {max_message} "
                "bytes per message (max_message_bytes): send fewer or smaller frames, or submit by path"
            )

    # --- plumbing between caller threads and the I/O thread -------------------------------------------------
    def _request(self, kind: str, fields: dict[str, Any], timeout_s: float) -> wire.Message:
        key = self.access_key()
        try:
            return self._request_once(kind, fields, key, timeout_s)
        except wire.RemoteError as exc:
            fresh = self.access_key()
            if exc.code != wire.ACCESS_DENIED or fresh == key:
                raise
            # the request left before a server starting for the first time had written its key: once more
            return self._request_once(kind, fields, fresh, timeout_s)

    def _request_once(self, kind: str, fields: dict[str, Any], key: str | None, timeout_s: float) -> wire.Message:
        if key is not None:
            fields = {**fields, wire.ACCESS_KEY_FIELD: key}
        pending = _Request(kind, fields)
        self._send_command(("request", pending))
        if not pending.done.wait(timeout_s):
            pending.error = RequestTimeoutError(f"no {kind} reply from {self.address} within {timeout_s} s")
            self._send_command(("forget", pending))
            raise pending.error
        if pending.error is not None:
            raise pending.error
        if pending.reply is None:
            raise ClientError(f"{kind} to {self.address} finished without a reply")
        return pending.reply

    def _send_command(self, command: tuple) -> None:
        if self._closing.is_set():
            raise ClientError("the client is closed")
        self._commands.put(command)
        self._wake()

    def _wake(self) -> None:
        with self._wake_lock:
            try:
                self._wake_push.send(b"", zmq.NOBLOCK)
            except (zmq.Again, zmq.ZMQError):
                pass

    def _connect(self) -> zmq.Socket:
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        sock.rcvhwm = 0
        sock.sndhwm = 0
        if self._curve is not None:
            server_public, client_public, client_secret = self._curve
            sock.curve_serverkey = server_public
            sock.curve_publickey = client_public
            sock.curve_secretkey = client_secret
        sock.connect(self.address)
        return sock

    def _io_loop(self) -> None:
        sock = self._connect()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_pull, zmq.POLLIN)
        last_heard = time.monotonic()
        last_ping = 0.0
        failures = 0
        try:
            while not self._closing.is_set():
                ready = dict(poller.poll(IO_POLL_MS))
                if self._wake_pull in ready:
                    while True:
                        try:
                            self._wake_pull.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                busy_before = self._busy()
                for command in self._drain_commands():
                    self._run_command(sock, command)
                if not busy_before and self._busy():
                    last_heard = time.monotonic()  # silence before there was anything to wait for does not count
                if sock in ready:
                    while True:
                        try:
                            parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        last_heard = time.monotonic()
                        failures = 0
                        self._dispatch(parts)
                    if self._restarted:  # a new server answers at the same address: it never heard of our jobs
                        self._restarted = False
                        self._resend_all(sock)
                now = time.monotonic()
                if not self._busy() or self._uploading():
                    last_heard = now  # a big submit still leaving: the server cannot answer before it arrives
                    continue
                if now - last_ping >= self.heartbeat_interval_s:
                    _send(sock, wire.encode(wire.PING, {"req": 0}))
                    last_ping = now
                if now - last_heard > self.heartbeat_interval_s * self.heartbeat_liveness:
                    failures += 1
                    if failures > self.retries:
                        self._fail_all(
                            ServerUnavailableError(
                                f"no reply from {self.address} after {self.retries} reconnects; is e2fgvi-server "
                                "running (e2fgvi status --server ADDRESS)?"
                            )
                        )
                        failures = 0
                        last_heard = now
                        continue
                    log.warning(
                        "server %s silent for %.1f s: reconnecting (%d/%d) and resending",
                        self.address,
                        now - last_heard,
                        failures,
                        self.retries,
                    )
                    poller.unregister(sock)
                    sock.close(0)
                    sock = self._connect()
                    poller.register(sock, zmq.POLLIN)
                    self.reconnects += 1
                    self._resend_all(sock)
                    last_heard = now
        finally:
            cancels = [c for c in self._drain_commands() if c[0] == "cancel"]  # a cancel right before close
            for command in cancels:
                self._run_command(sock, command)
            sock.close(CLOSE_LINGER_MS if cancels else 0)
            self._wake_pull.close(0)
            self._fail_all(ClientError("the client was closed"))

    def _drain_commands(self) -> list[tuple]:
        commands = []
        while True:
            try:
                commands.append(self._commands.get_nowait())
            except queue.Empty:
                return commands

    def _uploading(self) -> bool:
        """A submit is still being sent, at no less than MIN_UPLOAD_BYTES_PER_S (a dead server does not stall us
        longer than its size allows)."""
        now = time.monotonic()
        return any(
            h._tracker is not None and not h._tracker.done and now < h._upload_until for h in self._jobs.values()
        )

    def _busy(self) -> bool:
        return bool(self._requests) or any(not h.done for h in self._jobs.values())

    def _run_command(self, sock: zmq.Socket, command: tuple) -> None:
        kind, payload = command
        if kind == "request":
            req = next(self._req_ids)
            self._requests[req] = payload
            payload.fields["req"] = req
            payload.sent_s = time.monotonic()
            _send(sock, wire.encode(payload.kind, payload.fields))
        elif kind == "forget":
            self._requests.pop(payload.fields.get("req"), None)
        elif kind == "submit":
            self._jobs[payload.key] = payload
            payload._send_submit(sock)
        elif kind == "cancel":
            _send(sock, wire.encode(wire.CANCEL, {**payload, "req": next(self._req_ids)}))

    def _resend_all(self, sock: zmq.Socket) -> None:
        for pending in self._requests.values():
            _send(sock, wire.encode(pending.kind, pending.fields))
        for handle in self._jobs.values():
            if not handle.done:
                handle.reconnects += 1
                handle._note("server_lost_resubmitted")
                handle._send_submit(sock)

    def _dispatch(self, parts: list[Any]) -> None:
        try:
            message = wire.decode(parts)
        except wire.ProtocolError as exc:
            log.error("undecodable message from %s: %s", self.address, exc)
            if "version" in str(exc):
                self._fail_all(exc)
            return
        self._note_instance(message.get("instance"))
        key = message.get("key")
        handle = self._jobs.get(key) if isinstance(key, str) else None
        req = message.get("req")
        if handle is not None and message.type in (wire.ACCEPTED, wire.PROGRESS, wire.RESULT, wire.ERROR):
            handle._handle(message)
            if handle.done:
                self._jobs.pop(handle.key, None)
            return
        pending = self._requests.pop(req, None) if isinstance(req, int) and req else None
        if pending is None:
            if message.type == wire.ERROR:
                log.warning("error from %s: %s: %s", self.address, message.get("code"), message.get("message"))
            return
        if message.type == wire.ERROR:
            pending.error = _remote_error(message)
        else:
            pending.reply = message
        pending.done.set()

    def _note_instance(self, instance: Any) -> None:
        """Notice a restarted server (ZeroMQ reconnects by itself and the new one answers pings): its pending jobs
        must be submitted again by key, or their waits would never end (zguide's Lazy Pirate resend)."""
        if not isinstance(instance, str):
            return
        if self.server_instance is not None and instance != self.server_instance:
            log.warning(
                "server %s restarted (instance %s -> %s): resubmitting", self.address, self.server_instance, instance
            )
            self.restarts_seen += 1
            self._restarted = True
            self._limits = None
        self.server_instance = instance

    def _fail_all(self, error: Exception) -> None:
        for pending in list(self._requests.values()):
            pending.error = error
            pending.done.set()
        self._requests.clear()
        for handle in list(self._jobs.values()):
            handle._finish(error)
        self._jobs.clear()


def _send(sock: zmq.Socket, parts: list[Any], track: bool = False):
    """Send without blocking: a DEALER with no live peer (server gone, CURVE handshake refused) would block.

    A message that cannot go out now is not lost for good: the reconnect path resends every pending request
    and job. With ``track`` the returned MessageTracker tells when a large submit has left this process.
    """
    try:
        tracker = sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False, track=track)
        return tracker if track else True
    except zmq.Again:
        return None if track else False


def _remote_error(message: wire.Message) -> wire.RemoteError:
    return wire.RemoteError(message.get("code", wire.E2FGVI_ERROR), message.get("message", ""), message.header)


def _safe_call(callback: Callable, *args: Any) -> None:
    try:
        callback(*args)
    except Exception:  # a host callback must never kill the I/O thread
        log.exception("client callback %r failed", callback)


def _load_curve(server_public_key: str | None, client_secret_key: str | None):
    if server_public_key is None and client_secret_key is None:
        return None
    if not (server_public_key and client_secret_key):
        raise ClientError("CURVE needs both server_public_key (server.key) and client_secret_key (client.key_secret)")
    import zmq.auth

    server_public, _ = zmq.auth.load_certificate(server_public_key)
    client_public, client_secret = zmq.auth.load_certificate(client_secret_key)
    if client_secret is None:
        raise ClientError(f"{client_secret_key} holds no secret key: give the client's *.key_secret file")
    return server_public, client_public, client_secret

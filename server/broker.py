"""The ROUTER loop: receive, validate, dispatch on ``type``, forward worker events, purge lapsed clients.

Why this shape (zguide's ``mdbroker``): one thread owns the socket and does nothing slow, so every client gets
its ``pong``, ``status`` and ``error`` replies while a job runs on the device. Anything that arrives is decoded
by ``e2fgvi_server.protocol`` with limits; whatever is wrong with a message earns an ``error`` reply (or, when not even
an identity can be read, a log line) and the loop goes on serving everyone else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
import traceback
import uuid
from typing import Any

import numpy as np
import zmq

from e2fgvi_core.errors import AccessDeniedError, ConfigError, E2fgviError, KeyConflictError, UnknownJobError
from e2fgvi_core.schema import PATH_WRITE, check_paths_absolute, field_for, path_fields
from e2fgvi_server import protocol as wire
from e2fgvi_server.config import ServerConfig
from e2fgvi_server.events import JobEvent, Outbox, log_job_event
from e2fgvi_server.jobs import CANCELLED, Job, JobQueue
from e2fgvi_server.security import confine_output, start_curve

log = logging.getLogger("e2fgvi.server")

MAX_KEY_CHARS = 200
# need the access key (shutdown the token too: a token read from a leak alone must not stop the server); ping does not
KEYED_TYPES = (wire.HELLO, wire.STATUS, wire.SUBMIT, wire.CANCEL, wire.SHUTDOWN, wire.FOOTPRINT)
MAX_MESSAGES_PER_TURN = 256  # fairness: forward worker events at least this often under a flood of requests
CLOSE_LINGER_MS = 1000


class Broker:
    """Owns the ROUTER socket, the client table and the routing of job events to (re-attached) clients."""

    def __init__(
        self,
        config: ServerConfig,
        queue: JobQueue,
        token: str,
        context: zmq.Context | None = None,
        worker=None,
        access_key: str | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.token = token
        self.access_key = access_key  # None: open access (or CURVE authenticates clients)
        self.context = context or zmq.Context.instance()
        self.worker = worker  # describe(kind) for hello/status, validate(request, inputs) for submits
        self.clients: dict[bytes, float] = {}
        self.started = time.time()
        self.instance = uuid.uuid4().hex  # in every reply: a client that sees it change knows the server restarted
        self.stopping = False
        self.shutdown_requested = False
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.socket.setsockopt(zmq.MAXMSGSIZE, config.max_message_bytes)
        self.socket.sndhwm = 0  # never drop a result frame for a slow client; memory is bounded by the jobs
        self.socket.rcvhwm = 0
        self.socket.router_handover = True  # a client reconnecting with a fixed identity takes over
        self.authenticator = start_curve(self.context, self.socket, config)
        self.outbox = Outbox(self.context)
        self.endpoints: list[str] = []
        self._poller = zmq.Poller()
        self._poller.register(self.socket, zmq.POLLIN)
        self._poller.register(self.outbox.wake, zmq.POLLIN)

    def bind(self) -> list[str]:
        for endpoint in self.config.binds:
            self.socket.bind(endpoint)
            self.endpoints.append(self.socket.last_endpoint.decode())
        return self.endpoints

    def serve(self, should_stop=lambda: False) -> None:
        """Run until ``should_stop()`` or a ``shutdown`` message: poll, dispatch, forward events, purge."""
        while not (self.shutdown_requested or should_stop()):
            self.turn()

    def drain(self, done, timeout_s: float | None) -> None:
        """Keep answering (pings, status, job events) while the server winds down, until ``done()`` or timeout.

        New submits are refused meanwhile, so clients hear about the end of their jobs instead of silence.
        """
        self.stopping = True
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not done() and (deadline is None or time.monotonic() < deadline):
            self.turn()
        self.forward_events()

    def turn(self) -> None:
        """One turn of the loop (zguide's ``mediate``): poll with timeout, dispatch, forward, purge."""
        ready = dict(self._poller.poll(self.config.poll_timeout_ms))
        if self.socket in ready:
            for _ in range(MAX_MESSAGES_PER_TURN):
                try:
                    parts = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self.process_client(parts)
        self.forward_events()
        self.purge_clients()

    def close(self) -> None:
        self.forward_events()
        self.outbox.close()
        self.socket.close(CLOSE_LINGER_MS)  # let the last error/result messages reach their clients
        if self.authenticator is not None:
            self.authenticator.stop()

    # --- incoming -------------------------------------------------------------------------------------------
    def process_client(self, parts: list[zmq.Frame]) -> None:
        identity = parts[0].bytes
        self.clients[identity] = time.monotonic()
        req = key = None
        try:
            size = sum(part.buffer.nbytes for part in parts[1:])
            if size > self.config.max_message_bytes:  # each part passed ZMQ_MAXMSGSIZE, the whole does not
                header = wire.unpack_header(parts[1].buffer, self.config.max_header_bytes) if len(parts) > 1 else {}
                req = header.get("req")
                raise wire.ProtocolError(
                    f"the message is {size} bytes, over this server's max_message_bytes of "
                    f"{self.config.max_message_bytes}: send fewer frames per submit, or submit by path",
                    header,
                )
            message = wire.decode(parts[1:], self.config.max_header_bytes)
            req = message.get("req")
            if message.type == wire.SUBMIT and isinstance(message.get("key"), str):
                key = message.get("key")[:MAX_KEY_CHARS]  # so the client can match the error to its job
            if message.type not in wire.CLIENT_TYPES:
                raise wire.ProtocolError(
                    f"a client may not send {message.type!r}; valid requests: {', '.join(wire.CLIENT_TYPES)}"
                )
            if message.type in KEYED_TYPES:
                self._check_access_key(message)
            handler = getattr(self, f"on_{message.type}")
            handler(identity, message, parts)
        except E2fgviError as exc:
            if isinstance(exc, wire.ProtocolError) and req is None:
                req = exc.header.get("req")
                if exc.header.get("type") == wire.SUBMIT and isinstance(exc.header.get("key"), str):
                    key = exc.header["key"][:MAX_KEY_CHARS]
            log.warning("event=request_refused client=%s code=%s message=%r", identity.hex()[:8], exc.code, str(exc))
            self.reply(identity, wire.ERROR, wire.error_fields(exc.code, str(exc), req=_safe_req(req), key=key))
        except Exception as exc:  # noqa: BLE001 - a bug: keep serving, tell the client, keep the traceback in the log
            log.error("event=internal_error client=%s\n%s", identity.hex()[:8], traceback.format_exc())
            self.reply(
                identity,
                wire.ERROR,
                wire.error_fields(wire.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", req=_safe_req(req), key=key),
            )

    def _check_access_key(self, message: wire.Message) -> None:
        """Only the server's user (who can read its access key file) may use it, even on loopback."""
        if self.access_key is None:
            return
        given = message.get(wire.ACCESS_KEY_FIELD)
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), self.access_key.encode()):
            raise AccessDeniedError(
                "this server serves only the user who started it: the client must send the access key from "
                f"that user's {wire.ACCESS_KEY_FILE_ENV} file (default ~/.config/e2fgvi/server-access.key)"
            )

    def on_hello(self, identity: bytes, message: wire.Message, parts) -> None:
        fields = {
            "req": _safe_req(message.get("req")),
            "versions": list(wire.SUPPORTED_VERSIONS),
            "server": "e2fgvi-server",
            "pid": os.getpid(),
            "instance": self.instance,
            "capabilities": [
                "submit_by_path",
                "submit_by_value",
                "return_by_value",
                "cancel",
                "priority",
                "idempotent_keys",
                "keep_running",
                "status",
                "shutdown",
                "footprint",
            ],
            "heartbeat_interval_s": self.config.heartbeat_interval_s,
            "heartbeat_liveness": self.config.heartbeat_liveness,
            "max_message_bytes": self.config.max_message_bytes,
            "max_header_bytes": self.config.max_header_bytes,
            "output_roots": list(self.config.output_roots),
        }
        fields.update(self._extra("hello"))
        self.reply(identity, wire.HELLO, fields)

    def on_footprint(self, identity: bytes, message: wire.Message, parts) -> None:
        """Which shot frames the request's frames read (planning only: nothing is read or queued)."""
        from e2fgvi_server.worker import footprint

        request = dict(wire.require(message.header, "request", dict, "footprint"))
        mapping = self.worker.engine_mapping(request) if self.worker is not None else request
        self.reply(identity, wire.FOOTPRINT, {"req": _safe_req(message.get("req")), **footprint(mapping)})

    def on_ping(self, identity: bytes, message: wire.Message, parts) -> None:
        self.reply(identity, wire.PONG, {"req": _safe_req(message.get("req")), "time": time.time()})

    def on_status(self, identity: bytes, message: wire.Message, parts) -> None:
        running = self.queue.running
        fields = {
            "req": _safe_req(message.get("req")),
            "running": running.describe(identity) if running else None,
            "queue": [j.describe(identity) for j in self.queue.queued()],
            "clients": len(self.clients),
            "jobs_completed": self.queue.completed,
            "uptime_s": round(time.time() - self.started, 3),
        }
        fields.update(self._extra("status"))
        self.reply(identity, wire.STATUS, fields)

    def on_shutdown(self, identity: bytes, message: wire.Message, parts) -> None:
        peer = _peer_address(parts)
        if not wire.is_loopback_peer(peer):
            raise AccessDeniedError(f"shutdown is accepted only from this machine, not from {peer}")
        token = message.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise AccessDeniedError(
                "shutdown needs the server's token (field 'token'); see --token-file / $E2FGVI_SERVER_TOKEN"
            )
        log.info("event=shutdown_requested client=%s", identity.hex()[:8])
        self.reply(identity, wire.SHUTDOWN, {"req": _safe_req(message.get("req")), "ok": True})
        self.shutdown_requested = True

    def on_cancel(self, identity: bytes, message: wire.Message, parts) -> None:
        job_id, key = message.get("job_id"), message.get("key")
        if not isinstance(job_id, str) and not isinstance(key, str):
            raise wire.ProtocolError("cancel needs a string 'job_id' or 'key'")
        found = self.queue.find(job_id if isinstance(job_id, str) else None, key if isinstance(key, str) else None)
        if found is not None and not _may_use(found, identity, message.get("secret")):
            raise AccessDeniedError("that job belongs to another client; only its submitter may cancel it")
        job = self.queue.cancel(
            "cancelled by client",
            job_id=job_id if isinstance(job_id, str) else None,
            key=key if isinstance(key, str) else None,
        )
        if job is None:
            raise UnknownJobError(
                f"no job with {'job_id ' + job_id if isinstance(job_id, str) else 'key ' + key}; "
                "it may have finished long ago or been submitted before a server restart"
            )
        log_job_event("job_cancel_requested", job, client=identity.hex()[:8], state=job.state)
        if job.state == CANCELLED and job.error is None:  # it was still queued: the worker will never see it
            self.notify_cancelled(job)

    def notify_cancelled(self, job: Job) -> None:
        """A job cancelled while still queued: tell its client now (the worker never sees it)."""
        job.error = (wire.CANCELLED, job.cancel_reason or "cancelled")
        log_job_event("job_cancelled", job, reason=job.cancel_reason)
        self.send_event(
            JobEvent(
                job,
                wire.ERROR,
                wire.error_fields(wire.CANCELLED, f"job {job.job_id} cancelled: {job.cancel_reason}"),
                record=True,
                final=True,
            )
        )

    def on_submit(self, identity: bytes, message: wire.Message, parts) -> None:
        header = message.header
        if self.stopping:
            raise E2fgviError("the server is shutting down; submit again once it has restarted")
        key = wire.require(header, "key", str, "submit")
        if not 0 < len(key) <= MAX_KEY_CHARS:
            raise wire.ProtocolError(f"submit 'key' must have 1 to {MAX_KEY_CHARS} characters")
        request = dict(wire.require(header, "request", dict, "submit"))
        priority = header.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise ConfigError(f"submit 'priority' must be an integer, got {priority!r}")
        keep_running = header.get("keep_running", False)
        if not isinstance(keep_running, bool):
            raise ConfigError(f"submit 'keep_running' must be true or false, got {keep_running!r}")
        secret = header.get("secret")
        if secret is not None and not (isinstance(secret, str) and 0 < len(secret) <= MAX_KEY_CHARS):
            raise wire.ProtocolError(f"submit 'secret' must be a string of 1 to {MAX_KEY_CHARS} characters")
        digest = request_digest(request, message)
        existing = self.queue.find(key=key)
        if existing is not None:
            if not _may_use(existing, identity, secret):
                raise AccessDeniedError(
                    f"key {key!r} is another client's job; a job re-attaches only to the connection or secret "
                    "that submitted it: submit with a key of your own"
                )
            if not hmac.compare_digest(existing.digest, digest):
                raise KeyConflictError(
                    f"key {key!r} is already job {existing.job_id} with a different request; "
                    "submit this request with a new key"
                )
            if existing.replayable:
                self._reattach(identity, existing, message)
                return
            self.queue.forget(existing)  # finished by value and its pixels are gone: run it again
        inputs = wire.unpack_value_inputs(message)
        input_bytes = sum(array.nbytes for array in message.arrays) if inputs else 0
        held = self.queue.held_input_bytes()
        if input_bytes and held + input_bytes > self.config.max_value_bytes:
            raise ConfigError(
                f"the server already holds {held} bytes of frames by value for unfinished jobs; this submit's "
                f"{input_bytes} would pass its budget of {self.config.max_value_bytes} (max_value_bytes): "
                "submit again when a job has finished, or submit by path"
            )
        check_request_paths(request)
        for spec in path_fields(PATH_WRITE):  # every path the job writes, as the request schema declares them
            if request.get(spec.key) is not None:
                request[spec.key] = confine_output(request[spec.key], self.config.write_roots)
        removal = self.worker.validate(request, inputs) if self.worker is not None else None
        announced: dict[str, Any] = {}
        if removal is not None:  # the engine, weights and precision it will run with, said in `accepted`
            removal, announced = self.worker.announce(removal)
        job = Job(
            key=key, client=identity, request=request, priority=priority, keep_running=keep_running, inputs=inputs
        )
        job.removal = removal  # the validated RemovalRequest, parsed once here; the worker runs it as it is
        job.announced = announced
        job.digest = digest
        job.input_bytes = input_bytes
        job.secret_hash = _hash_secret(secret)
        try:
            job = self.queue.put(job)
        except OverflowError as exc:
            raise ConfigError(str(exc)) from None
        log_job_event(
            "job_accepted",
            job,
            client=identity.hex()[:8],
            priority=priority,
            by_value=bool(inputs),
            plate=request.get("plate"),
            out=request.get("out"),
        )
        self._accepted(identity, job, message, reattached=False)

    def _reattach(self, identity: bytes, job: Job, message: wire.Message) -> None:
        job.attach(identity)
        log_job_event("job_reattached", job, client=identity.hex()[:8], state=job.state)
        self._accepted(identity, job, message, reattached=True, state=job.state)
        for recorded in list(job.replies):
            self.socket.send_multipart([identity, *recorded], copy=False)

    def _accepted(self, identity: bytes, job: Job, message: wire.Message, **extra: Any) -> None:
        fields = {
            "req": _safe_req(message.get("req")),
            "job_id": job.job_id,
            "key": job.key,
            "position": self.queue.position(job),
            **job.announced,
        }
        self.reply(identity, wire.ACCEPTED, {**fields, **extra})

    # --- outgoing -------------------------------------------------------------------------------------------
    def reply(self, identity: bytes, kind: str, fields: dict[str, Any], arrays=(), channels=None) -> None:
        fields = {**fields, "instance": self.instance}
        self.socket.send_multipart([identity, *wire.encode(kind, fields, arrays, channels)], copy=False)

    def send_event(self, event: JobEvent) -> None:
        """Send a job's event to every connection attached to it (so no re-attach starves an earlier one)."""
        job = event.job
        fields = {"job_id": job.job_id, "key": job.key, "instance": self.instance}
        fields.update(event.fields)
        parts = wire.encode(event.kind, fields, event.arrays, event.channels)
        if event.record:
            job.replies.append(parts)
        for watcher in list(job.watchers):
            self.socket.send_multipart([watcher, *parts], copy=False)
        if event.final:
            self._release_pixels(job, parts)

    def _release_pixels(self, job: Job, final_parts: list) -> None:
        """Do not keep returned pixels of finished jobs: a late resubmit of a job that succeeded by value runs
        again (its inputs come with it); a failed one still gets its error replayed."""
        if not any(len(parts) > 1 for parts in job.replies):
            return
        if job.error is None:
            job.replies = []
            job.replayable = False
        else:
            job.replies = [final_parts]

    def forward_events(self) -> None:
        for event in self.outbox.drain():
            self.send_event(event)

    def purge_clients(self) -> None:
        """Forget clients silent for heartbeat_interval x liveness; cancel their jobs unless keep_running."""
        deadline = time.monotonic() - self.config.client_timeout_s
        for identity, last_seen in list(self.clients.items()):
            if last_seen >= deadline:
                continue
            del self.clients[identity]
            for job in self.queue.active_for_client(identity):
                job.watchers.remove(identity)
                if job.watchers:
                    log_job_event("client_lapsed_job_watched", job, client=identity.hex()[:8])
                    continue
                if job.keep_running:
                    log_job_event("client_lapsed_job_kept", job, client=identity.hex()[:8])
                    continue
                self.queue.cancel("client heartbeat lapsed", job_id=job.job_id)
                log_job_event("client_lapsed_job_cancelled", job, client=identity.hex()[:8], state=job.state)
                if job.state == CANCELLED and job.error is None:
                    self.notify_cancelled(job)

    def _extra(self, kind: str) -> dict[str, Any]:
        if self.worker is None:
            return {}
        try:
            return dict(self.worker.describe(kind))
        except Exception:  # noqa: BLE001
            log.error("event=worker_describe_failed\n%s", traceback.format_exc())
            return {}


def check_request_paths(request: dict[str, Any]) -> None:
    """Refuse, naming the key, a setting the request schema does not have (one spelling per setting: a second
    spelling could carry a path past the checks below) and a relative path in any path setting (this process's
    working folder is not the client's)."""
    for key in request:
        field_for(key)
    check_paths_absolute(request)


def request_digest(request: dict[str, Any], message: wire.Message) -> str:
    """What makes two submits the same job: the request, the frames-by-value entries and every buffer's bytes."""
    digest = hashlib.sha256()
    described = {"request": request, **{name: message.get(name) for name in wire.VALUE_INPUT_FIELDS}}
    digest.update(json.dumps(described, sort_keys=True, default=repr).encode())
    for array, channels in zip(message.arrays, message.channels or [None] * len(message.arrays)):
        digest.update(f"|{array.dtype.str}{array.shape}{channels}|".encode())
        digest.update(np.ascontiguousarray(array))
    return digest.hexdigest()


def _hash_secret(secret: str | None) -> str | None:
    return hashlib.sha256(secret.encode()).hexdigest() if secret else None


def _may_use(job: Job, identity: bytes, secret: Any) -> bool:
    """The connection that submitted ``job`` (or one attached since), or one holding its submitter's secret."""
    if identity in job.watchers:
        return True
    if job.secret_hash is None or not isinstance(secret, str):
        return False
    return hmac.compare_digest(job.secret_hash, _hash_secret(secret) or "")


def _safe_req(req: Any) -> Any:
    """Echo a request id only when it is a small plain value (it is copied into every reply)."""
    if isinstance(req, (int, str)) and not isinstance(req, bool) and len(str(req)) <= 64:
        return req
    return None


def _peer_address(parts: list[zmq.Frame]) -> str | None:
    for part in parts[1:2]:
        try:
            return part.get("Peer-Address")
        except (zmq.ZMQError, AttributeError, KeyError):
            return None
    return None

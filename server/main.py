"""``e2fgvi-server``: the persistent inference server, and ``e2fgvi-server keys`` to make CURVE keys.

Why a long-lived process: loading the model and computing a shot's encoder features and flows are the slow parts;
a server keeps both between requests and lets several hosts and scripts share one GPU. It binds loopback only
unless told otherwise (and then wants CURVE keys), and on SIGINT/SIGTERM it cancels (or, with
``--finish-running``, finishes) the running job, so no half-written file is ever left behind.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

import zmq

from e2fgvi_core.errors import E2fgviError
from e2fgvi_server import protocol as wire
from e2fgvi_server.broker import Broker
from e2fgvi_server.config import ServerConfig
from e2fgvi_server.events import log_job_event
from e2fgvi_server.jobs import JobQueue
from e2fgvi_server.security import (
    check_bind_policy,
    generate_keys,
    load_or_create_access_key,
    load_or_create_token,
    prepare_private_temp_root,
)
from e2fgvi_server.worker import Worker

log = logging.getLogger("e2fgvi.server")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="e2fgvi-server",
        description=f"Serve E2FGVI object removal over ZeroMQ (protocol v{wire.PROTOCOL_VERSION}). "
        f"Default endpoint {wire.DEFAULT_ADDRESS}. `e2fgvi-server keys DIR` writes CURVE keys.",
    )
    parser.add_argument(
        "--bind",
        action="append",
        dest="binds",
        metavar="ENDPOINT",
        help=f"endpoint to listen on, repeatable (tcp://HOST:PORT or ipc:///path); default {wire.DEFAULT_ADDRESS}",
    )
    parser.add_argument(
        "--output-root",
        action="append",
        dest="output_roots",
        metavar="DIR",
        help="restrict outputs to this folder, repeatable. Default: a loopback server, which demands your access "
        "key, writes wherever you may; a non-loopback bind, --open-access or CURVE requires at least one",
    )
    # no --token: a secret on the command line is readable by every local user (ps, /proc/PID/cmdline)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument(
        "--token-file",
        help="file holding the shutdown token; a new token is written there (or give it in $E2FGVI_SERVER_TOKEN)",
    )
    parser.add_argument(
        "--access-key-file", help="per-user access key clients must send (default ~/.config/e2fgvi/server-access.key)"
    )
    parser.add_argument(
        "--open-access",
        action="store_true",
        default=None,
        help="let every local user use this server (no access key): only on a single-user machine",
    )
    parser.add_argument("--max-message-bytes", help="largest accepted message part, e.g. 1G (ZMQ_MAXMSGSIZE)")
    parser.add_argument("--max-value-bytes", help="budget for frames by value held by unfinished jobs (default 4G)")
    parser.add_argument("--max-header-bytes", help="largest accepted msgpack header (default 1M)")
    parser.add_argument("--heartbeat-interval-s", type=float, help="expected client ping interval (default 1.0)")
    parser.add_argument("--heartbeat-liveness", type=int, help="missed intervals before a client is purged (3)")
    parser.add_argument(
        "--finish-running",
        dest="finish_running_on_shutdown",
        action="store_true",
        default=None,
        help="on SIGINT/SIGTERM finish the running job instead of cancelling it",
    )
    parser.add_argument("--curve-secret-key", help="server certificate (*.key_secret): turns CURVE on")
    parser.add_argument("--curve-authorized-dir", help="folder of client public keys (*.key) allowed to connect")
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow a non-loopback bind without CURVE (everyone on the network can use the server)",
    )
    parser.add_argument("--device", help="compute device: auto, cpu, cuda[:n], mps")
    parser.add_argument("--cache-budget-bytes", help="byte budget of the shared feature/flow cache (e.g. 512M, 2G)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def run_keys(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="e2fgvi-server keys", description="write a CURVE key pair for the server and one for a client"
    )
    parser.add_argument("folder", help="where to write server.key, server.key_secret, client.key, client.key_secret")
    args = parser.parse_args(argv)
    paths = generate_keys(args.folder)
    print(f"server secret key : {paths['server_secret']}  (give to e2fgvi-server --curve-secret-key)")
    print(f"server public key : {paths['server_public']}  (give to clients)")
    print(f"client secret key : {paths['client_secret']}  (give to the client)")
    print(f"authorised clients: {paths['authorized_dir']}  (give to e2fgvi-server --curve-authorized-dir)")
    return 0


def serve(config: ServerConfig, ready: threading.Event | None = None, stop: threading.Event | None = None) -> int:
    """Bind, start the worker, run the broker until a signal or a ``shutdown`` message, then stop cleanly."""
    for warning in check_bind_policy(config):
        log.warning("event=insecure_bind detail=%r", warning)
    prepare_private_temp_root(config)
    token = load_or_create_token(config)
    access_key = load_or_create_access_key(config)
    if access_key is None and not config.curve_enabled:
        log.warning('event=open_access detail="every local user may use this server (--open-access)"')
    stop = stop or threading.Event()
    context = zmq.Context()
    queue = JobQueue(config.max_queued_jobs, config.retain_finished_jobs)
    broker = None
    worker = None
    try:
        broker = Broker(config, queue, token, context, access_key=access_key)
        worker = Worker(config, queue, broker.outbox)
        broker.worker = worker
        endpoints = broker.bind()
        worker.start()
        log.info(
            "event=server_started endpoints=%s curve=%s roots=%s",
            ",".join(endpoints),
            config.curve_enabled,
            ",".join(config.output_roots),
        )
        if ready is not None:
            ready.set()
        broker.serve(should_stop=stop.is_set)
        _shut_down(config, broker, worker, queue)
        return 0
    finally:
        if broker is not None:
            broker.close()
        context.term()
        log.info("event=server_stopped")


def _shut_down(config: ServerConfig, broker: Broker, worker: Worker, queue: JobQueue) -> None:
    """Cancel what is queued; cancel or finish the running job; tell every client; then return."""
    for job in queue.close():
        broker.notify_cancelled(job)
    running = queue.running
    if running is not None:
        log_job_event(
            "shutdown_running_job", running, action="finish" if config.finish_running_on_shutdown else "cancel"
        )
    worker.stop(cancel_running=not config.finish_running_on_shutdown)
    grace = config.shutdown_grace_s if not config.finish_running_on_shutdown else None
    broker.drain(lambda: not worker.is_alive(), grace)  # clients keep getting pongs and their job's last message
    if worker.is_alive():
        log.warning('event=worker_still_running detail="the engine did not stop in %ss"', grace)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "keys":
        return run_keys(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if args.token is not None:
        print(
            "e2fgvi-server: error: --token is refused: a secret on the command line is visible to every local user "
            "(ps, /proc/PID/cmdline); give it in $E2FGVI_SERVER_TOKEN or a --token-file",
            file=sys.stderr,
        )
        return 2
    overrides = {k: v for k, v in vars(args).items() if k != "log_level"}
    try:
        config = ServerConfig.from_env(overrides)
        stop = threading.Event()

        def on_signal(signum, frame):
            log.info("event=signal signal=%s", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        return serve(config, stop=stop)
    except E2fgviError as exc:
        print(f"e2fgvi-server: error: {exc}", file=sys.stderr)
        return 2
    except zmq.ZMQError as exc:
        print(f"e2fgvi-server: error: cannot serve: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

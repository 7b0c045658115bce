"""``e2fgvi farm``: plan a shot's chunks, write the OpenJD template or a job bundle, render one chunk.

    e2fgvi farm plan --frames 1001-1300 --chunk 50 [--json]
    e2fgvi farm template OUT.yaml [--fallback]
    e2fgvi farm bundle OUTDIR --plate ... --out ... --shot 1001-1300 --chunk 10   (the options of `e2fgvi remove`)
    e2fgvi farm render-chunk ... --shot 1001-1300 --frames 1001-1010 [--resume]   (what each task runs)
    e2fgvi farm session-start / session-stop                                       (the step environment)

``bundle`` and ``render-chunk`` take exactly the flags of ``e2fgvi remove`` (they build the request the same way),
so a setting the CLI accepts is one a farm job carries.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from e2fgvi_core.atomic_files import write_text_atomic
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.farm.config import DEFAULT_CHUNK_SIZE

ACTIONS = {
    "plan": "print the chunks of a shot: frames written and read, windows, estimated cost",
    "template": "write the OpenJD job template (jobtemplate-2023-09)",
    "bundle": "write a job bundle (template.yaml + parameter_values.yaml) for openjd run / deadline bundle submit",
    "render-chunk": "render one chunk of a shot exactly as a single run would (what each farm task runs)",
    "session-start": "start the worker session's e2fgvi-server (the step environment's onEnter)",
    "session-stop": "stop the worker session's e2fgvi-server (the step environment's onExit)",
}


def _removal_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``e2fgvi remove`` (``--shot``, ``--frames`` and every setting), so a farm job carries the same."""
    from e2fgvi_core.cli import remove

    remove.add_arguments(parser)


def _chunking_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK_SIZE, help="frames per task (default %(default)s)")
    parser.add_argument(
        "--fallback", action="store_true", help="plain INT task range instead of the TASK_CHUNKING extension"
    )


def _worker_arguments(parser: argparse.ArgumentParser) -> None:
    from e2fgvi_core.farm.config import DEFAULT_GPU_MEMORY_MIB, DEFAULT_WORKER_COMMAND

    parser.add_argument(
        "--worker-command",
        default=DEFAULT_WORKER_COMMAND,
        metavar="PROGRAM",
        help="the e2fgvi program workers run, on their PATH or a full path (job parameter Command; default "
        "%(default)s)",
    )
    parser.add_argument(
        "--gpu-memory-mib",
        type=int,
        default=DEFAULT_GPU_MEMORY_MIB,
        help="GPU memory a model engine's job asks of a worker, in MiB (default %(default)s)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    plan = actions.add_parser("plan", help=ACTIONS["plan"], description=ACTIONS["plan"])
    plan.add_argument("--frames", "--shot", dest="shot", required=True, help="shot range, e.g. 1001-1300")
    plan.add_argument(
        "--chunk",
        default=str(DEFAULT_CHUNK_SIZE),
        help="frames per task, or a comma list (10,25,50,100) to compare chunk sizes",
    )
    plan.add_argument(
        "--fallback", action="store_true", help="plain INT task range instead of the TASK_CHUNKING extension"
    )
    from e2fgvi_core.farm.plan import FARM_ENGINES
    from e2fgvi_core.removal.engine_registry import AUTO, ENGINE_CHOICES

    plan.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default=AUTO,
        help="engine whose plan to show; auto (default): the one `e2fgvi remove` and `farm bundle` would pick here",
    )
    plan.add_argument("--weights", help="checkpoint file or installed name (as `e2fgvi remove --weights`)")
    plan.add_argument("--neighbor-stride", type=int, help="local window stride (5)")
    plan.add_argument("--ref-step", type=int, help="a reference frame every N frames (10)")
    plan.add_argument("--num-ref", type=int, help="-1: all references of the shot (default); N: the nearest N")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    template = actions.add_parser("template", help=ACTIONS["template"], description=ACTIONS["template"])
    template.add_argument("path", help="file to write (e.g. e2fgvi_job.yaml); - for stdout")
    template.add_argument("--fallback", action="store_true", help="without the TASK_CHUNKING extension")
    _worker_arguments(template)
    template.add_argument(
        "--engine",
        choices=FARM_ENGINES,
        default="e2fgvi_hq",
        help="the job's engine (default %(default)s): a model engine's job asks for a GPU worker",
    )

    bundle = actions.add_parser("bundle", help=ACTIONS["bundle"], description=ACTIONS["bundle"])
    bundle.add_argument("folder", help="bundle folder to write")
    _removal_arguments(bundle)
    _chunking_arguments(bundle)
    bundle.add_argument(
        "--no-session-server", action="store_true", help="tasks run standalone (no e2fgvi-server per session)"
    )
    _worker_arguments(bundle)

    chunk = actions.add_parser("render-chunk", help=ACTIONS["render-chunk"], description=ACTIONS["render-chunk"])
    _removal_arguments(chunk)
    chunk.add_argument("--first-frame", type=int, help="fallback template: first frame of the chunk (with --chunk)")
    chunk.add_argument("--chunk", type=int, help="fallback template: frames per chunk (with --first-frame)")
    # --resume comes with the flags of `e2fgvi remove` (cli/remove.py): keep frames complete with this job's provenance
    chunk.add_argument("--weights-sha256", help="refuse to run unless the weights have this sha256")
    chunk.add_argument("--settings", default="{}", help="further request keys as a JSON object")

    start = actions.add_parser("session-start", help=ACTIONS["session-start"], description=ACTIONS["session-start"])
    start.add_argument("--state", required=True, help="state file in the session's working directory")
    start.add_argument("--enabled", choices=("on", "off"), default="on", help="off: do nothing (tasks run standalone)")
    start.add_argument("--out", required=True, help="output pattern (the server may write under its folder)")
    start.add_argument("--device", help="server device: auto, cpu, cuda[:n], mps")
    stop = actions.add_parser("session-stop", help=ACTIONS["session-stop"], description=ACTIONS["session-stop"])
    stop.add_argument("--state", required=True, help="state file written by session-start")


def _say(message: str) -> None:
    print(f"e2fgvi farm: {message}", file=sys.stderr, flush=True)


def _request(args: argparse.Namespace, extra: dict | None = None):
    from e2fgvi_core.cli import remove
    from e2fgvi_core.removal.api import RemovalRequest

    if getattr(args, "server", None):
        raise ConfigError("--server does not apply to farm jobs: tasks use their worker session's server")
    if getattr(args, "contact_sheet", None):
        raise ConfigError(
            "--contact-sheet does not apply to farm jobs: run `e2fgvi remove --contact-sheet` on the result"
        )
    request = remove.build_request(args)
    if extra:
        request = RemovalRequest.from_mapping({**request.to_mapping(), **extra})
    return request


def _run_plan(args: argparse.Namespace) -> int:
    from e2fgvi_core.farm.plan import compare_table, plan_chunks
    from e2fgvi_core.removal.api import RemovalRequest
    from e2fgvi_core.removal.engine_registry import choose_engine

    try:
        sizes = [int(text) for text in str(args.chunk).split(",")]
    except ValueError:
        raise ConfigError(f"--chunk must be a number of frames or a comma list of them, got {args.chunk!r}") from None
    choice = choose_engine(args.engine, args.weights)  # as `remove` and `farm bundle` resolve it
    request = RemovalRequest.from_mapping(
        {
            "engine": choice.engine,
            "neighbor_stride": args.neighbor_stride,
            "ref_step": args.ref_step,
            "num_ref": args.num_ref,
        }
    )
    plans = [plan_chunks(request, args.shot, size, chunking=not args.fallback) for size in sizes]
    if choice.notice:
        _say(choice.notice)
    if args.json:
        data = [plan.to_json() for plan in plans]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2))
    else:
        print(plans[0].table() if len(plans) == 1 else compare_table(plans))
    return 0


def _run_template(args: argparse.Namespace) -> int:
    from e2fgvi_core.farm.config import FarmConfig
    from e2fgvi_core.farm.template import template_yaml

    farm = FarmConfig.from_mapping({"command": args.worker_command, "gpu_memory_mib": args.gpu_memory_mib})
    text = template_yaml(
        not args.fallback, engine=args.engine, gpu_memory_mib=farm.gpu_memory_mib, command=farm.command
    )
    if args.path == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(args.path, text)
        _say(f"wrote {args.path}; check it with: openjd check {args.path}")
    return 0


def _run_bundle(args: argparse.Namespace) -> int:
    from e2fgvi_core.farm.bundle import write_bundle

    farm = {
        "chunk_size": args.chunk,
        "chunking": not args.fallback,
        "session_server": not args.no_session_server,
        "command": args.worker_command,
        "gpu_memory_mib": args.gpu_memory_mib,
    }
    bundle = write_bundle(args.folder, _request(args), farm, shot=args.shot)
    if bundle.notice:
        _say(bundle.notice)
    print(bundle.plan.table())
    _say(f"wrote {bundle.folder} ({bundle.template.name}, {bundle.parameter_values.name})")
    _say(f"run it here: {bundle.openjd_run_text()}")
    _say(f"submit it:   deadline bundle submit {bundle.folder}")
    return 0


def _run_render_chunk(args: argparse.Namespace) -> int:
    from e2fgvi_core.farm.render_chunk import chunk_frames, render_chunk

    try:
        settings = json.loads(args.settings or "{}")
    except ValueError as exc:
        raise ConfigError(f"--settings is not JSON: {exc}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"--settings must be a JSON object of request keys, got {args.settings!r}")
    shot = args.shot
    if not shot:
        raise ConfigError("no shot: give --shot RANGE (the range the windows and references span)")
    frames = chunk_frames(shot, args.frames, args.first_frame, args.chunk)
    args.frames = None
    request = _request(args, settings)
    result = render_chunk(
        request, shot, frames, resume=args.resume, expected_weights_sha256=args.weights_sha256 or None
    )
    from e2fgvi_core.io.sequence import format_frame_ranges

    done = format_frame_ranges(result.rendered) or "none"
    print(
        f"e2fgvi farm render-chunk: frames {frames[0]}-{frames[-1]} of shot {shot}: rendered {done} "
        f"({result.where}), kept {len(result.skipped)} complete, in {result.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


def _run_session_start(args: argparse.Namespace) -> int:
    from e2fgvi_core.errors import E2fgviError
    from e2fgvi_core.farm.session_server import openjd_env_line, start_session_server

    if args.enabled == "off":
        _say("session server off: tasks run standalone")
        return 0
    try:
        server = start_session_server(Path(args.state), args.out, args.device)
    except (E2fgviError, OSError) as exc:
        _say(f"warning: no session server ({exc}); tasks run standalone")
        return 0
    _say(f"session server pid {server.pid} at {server.address} (log {server.log})")
    print(openjd_env_line(server), flush=True)
    return 0


def _run_session_stop(args: argparse.Namespace) -> int:
    from e2fgvi_core.farm.session_server import stop_session_server

    server = stop_session_server(Path(args.state))
    _say(f"stopped the session server pid {server.pid}" if server else "no session server to stop")
    return 0


def run(args: argparse.Namespace) -> int:
    handlers = {
        "plan": _run_plan,
        "template": _run_template,
        "bundle": _run_bundle,
        "render-chunk": _run_render_chunk,
        "session-start": _run_session_start,
        "session-stop": _run_session_stop,
    }
    return handlers[args.action](args)

"""The Open Job Description job template (``jobtemplate-2023-09``) of a farm removal.

One step, ``Remove``, whose tasks are the chunks of the shot. With the ``TASK_CHUNKING`` extension (the default)
the task parameter ``Frames`` is ``CHUNK[INT]`` over the shot with contiguous chunks, so the manager hands each task
a range such as ``1001-1010`` and balances the sizes; the fallback template, for managers without the extension,
steps an ``INT`` parameter ``ChunkStart`` by the chunk size and each task renders ``ChunkSize`` frames from there.
Each task runs ``e2fgvi farm render-chunk``, which plans the whole shot and writes only its frames.

A step environment starts one ``e2fgvi-server`` per worker session (``e2fgvi farm session-start``) and stops it
when the session ends, so consecutive chunks on one worker share the loaded model and the shot cache; it tells the
tasks where the server is through ``openjd_env`` (``E2FGVI_FARM_SERVER``). Without it a task runs in-process.

The step asks the manager for a GPU worker (host requirements ``amount.worker.gpu`` >= 1 and
``amount.worker.gpu.memory``) when the template is written for a model engine (one that needs weights), and for
nothing when it is written for the weight-free engine: the engine's ``needs_weights`` trait decides, and the
``Engine`` parameter of that template offers only the engines of the same kind, so a job cannot switch to a model
engine on a CPU-only worker. Every action runs the job parameter ``Command`` (default ``e2fgvi``, found on the
worker's PATH): point it at a venv's ``bin/e2fgvi`` where the queue environment does not put one on PATH.

Job parameters are generated from one table (``JOB_PARAMETERS``): their names, the ``render-chunk`` flag each
feeds; a request setting's parameter takes its type, description, default, choices and range from the request
schema (``e2fgvi_core.schema``), so the template never restates a request fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.farm.config import DEFAULT_CHUNK_SIZE, DEFAULT_GPU_MEMORY_MIB, DEFAULT_WORKER_COMMAND
from e2fgvi_core.farm.plan import FARM_ENGINES
from e2fgvi_core.removal.engine_registry import ENGINES
from e2fgvi_core.schema import PATH_READ, PATH_WRITE, field_for, request_keys

SPECIFICATION_VERSION = "jobtemplate-2023-09"
STEP_NAME = "Remove"
CHUNK_PARAMETER = "Frames"
FALLBACK_PARAMETER = "ChunkStart"
COMMAND_PARAMETER = "Command"
ENGINE_PARAMETER = "Engine"
DEFAULT_ENGINE = "e2fgvi_hq"  # what `farm template` writes without --engine; bundles name the request's engine
SESSION_STATE_FILE = "e2fgvi-server.json"
SWITCH_VALUES = ("on", "off")


@dataclass(frozen=True)
class JobParameter:
    """One job parameter: OpenJD name and type, and the flat ``RemovalRequest`` key it carries (None: a farm
    setting the template itself uses). ``render-chunk`` takes the key as the ``e2fgvi remove`` flag of that name."""

    name: str
    kind: str
    key: str | None
    description: str
    default: Any = None
    allowed: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None

    def definition(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.kind, "description": self.description}
        if self.default is not None:
            data["default"] = self.default
        if self.allowed:
            data["allowedValues"] = list(self.allowed)
        if self.min_value is not None:
            data["minValue"] = self.min_value
        if self.max_value is not None:
            data["maxValue"] = self.max_value
        if self.kind in ("STRING", "PATH") and self.default is None:
            data["minLength"] = 1
        return data

    @property
    def flag(self) -> str | None:
        """The ``render-chunk`` option: the ``e2fgvi remove`` option of a request setting, else ``--key``."""
        if self.key is None:
            return None
        return field_for(self.key).option if self.key in request_keys() else "--" + self.key.replace("_", "-")


_KINDS = {"int": "INT", "float": "FLOAT", "str": "STRING", "bool": "STRING"}


def _request_parameter(key: str, **override: Any) -> JobParameter:
    """The job parameter of a request setting, from its request-schema entry (type, help, default, choices,
    range): the template restates nothing of the request. Its name is the key in CamelCase."""
    spec = field_for(key)
    values: dict[str, Any] = {
        "name": "".join(part.capitalize() for part in key.split("_")),
        "kind": "PATH" if spec.path in (PATH_READ, PATH_WRITE) else _KINDS[spec.type],
        "key": key,
        "description": spec.help[:1].upper() + spec.help[1:] + ".",
        "default": "" if spec.default is None else spec.default,
        "allowed": spec.choices or (),
        "min_value": spec.minimum,
        "max_value": spec.maximum,
    }
    values.update(override)
    return JobParameter(**values)


def _job_parameters() -> tuple[JobParameter, ...]:
    return (
        _request_parameter("plate", default=None),
        _request_parameter("matte"),
        _request_parameter("matte_channel"),
        _request_parameter("out", default=None),
        _request_parameter(
            "shot", default=None, description="Shot range, e.g. 1001-1300: windows and references span it."
        ),
        JobParameter(
            "ChunkSize", "INT", None, "Frames per task (the manager balances chunk sizes).", DEFAULT_CHUNK_SIZE, (), 1
        ),
        _request_parameter("engine", default=DEFAULT_ENGINE, allowed=FARM_ENGINES),
        _request_parameter("weights", kind="STRING"),
        JobParameter(
            "WeightsSha256", "STRING", "weights_sha256", "sha256 the workers' weights must have; empty: any.", ""
        ),
        _request_parameter("device", default="auto"),
        _request_parameter("colorspace"),
        _request_parameter("roi"),
        _request_parameter("roi_margin", max_value=None),
        _request_parameter("proxy"),
        _request_parameter("neighbor_stride", max_value=None),
        _request_parameter("ref_step", max_value=None),
        _request_parameter("num_ref", max_value=None),
        _request_parameter("blend"),
        _request_parameter("nan_policy"),
        JobParameter(
            "Settings",
            "STRING",
            "settings",
            "Further request settings as JSON (propagate_*, matte_* options, display, ocio_config).",
            "{}",
        ),
        JobParameter(
            COMMAND_PARAMETER,
            "STRING",
            None,
            "The e2fgvi program every action runs: a name on the worker's PATH, or a full path such as "
            "/opt/e2fgvi/venv/bin/e2fgvi (see docs/farm.md, worker set-up).",
            DEFAULT_WORKER_COMMAND,
        ),
        JobParameter(
            "SessionServer",
            "STRING",
            None,
            "on: one e2fgvi-server per worker session; off: tasks run standalone.",
            "on",
            SWITCH_VALUES,
        ),
    )


JOB_PARAMETERS: tuple[JobParameter, ...] = _job_parameters()


def _ref(name: str, scope: str = "Param") -> str:
    """An OpenJD format-string reference such as ``{{Param.Shot}}``."""
    return "{{" + f"{scope}.{name}" + "}}"


def _render_args(chunking: bool) -> list[str]:
    args = ["farm", "render-chunk", "--resume"]
    for parameter in JOB_PARAMETERS:
        if parameter.flag is not None:
            args += [parameter.flag, _ref(parameter.name)]
    if chunking:
        args += ["--frames", _ref(CHUNK_PARAMETER, "Task.Param")]
    else:
        args += ["--first-frame", _ref(FALLBACK_PARAMETER, "Task.Param"), "--chunk", _ref("ChunkSize")]
    return args


def _task_parameter(chunking: bool) -> dict[str, Any]:
    if chunking:
        return {
            "name": CHUNK_PARAMETER,
            "type": "CHUNK[INT]",
            "range": _ref("Shot"),
            "chunks": {"defaultTaskCount": _ref("ChunkSize"), "rangeConstraint": "CONTIGUOUS"},
        }
    return {"name": FALLBACK_PARAMETER, "type": "INT", "range": f"{_ref('Shot')}:{_ref('ChunkSize')}"}


def _session_environment() -> dict[str, Any]:
    state = "{{Session.WorkingDirectory}}/" + SESSION_STATE_FILE
    start = ["farm", "session-start", "--state", state, "--enabled", _ref("SessionServer")]
    start += ["--out", _ref("Out"), "--device", _ref("Device")]
    return {
        "name": "E2fgviServer",
        "description": "One e2fgvi-server per worker session: chunks on this worker reuse its model and cache.",
        "script": {
            "actions": {
                "onEnter": {"command": _ref(COMMAND_PARAMETER), "args": start},
                "onExit": {"command": _ref(COMMAND_PARAMETER), "args": ["farm", "session-stop", "--state", state]},
            }
        },
    }


def engines_like(engine: str) -> tuple[str, ...]:
    """The farm engines a template written for ``engine`` offers: those that need a GPU worker as it does."""
    if engine not in FARM_ENGINES:
        raise ConfigError(f"a farm template needs a definite engine ({', '.join(FARM_ENGINES)}), got {engine!r}")
    return tuple(name for name in FARM_ENGINES if ENGINES[name].needs_weights == ENGINES[engine].needs_weights)


def host_requirements(engine: str, gpu_memory_mib: int = DEFAULT_GPU_MEMORY_MIB) -> dict[str, Any] | None:
    """OpenJD ``hostRequirements`` of the step: a GPU with ``gpu_memory_mib`` for a model engine, else None."""
    if not ENGINES[engine].needs_weights:
        return None
    return {
        "amounts": [
            {"name": "amount.worker.gpu", "min": 1},
            {"name": "amount.worker.gpu.memory", "min": gpu_memory_mib},  # MiB
        ]
    }


def build_template(
    chunking: bool = True,
    name: str = "E2FGVI remove object",
    engine: str = DEFAULT_ENGINE,
    gpu_memory_mib: int = DEFAULT_GPU_MEMORY_MIB,
    command: str = DEFAULT_WORKER_COMMAND,
) -> dict[str, Any]:
    """The job template as a mapping (``openjd check`` accepts it); ``chunking=False`` gives the fallback.

    ``engine``: the job's engine (the ``Engine`` default); a model engine's template asks for a GPU worker with
    ``gpu_memory_mib`` MiB of GPU memory. ``command``: the ``Command`` default, the program every action runs."""
    offered = engines_like(engine)
    template: dict[str, Any] = {"specificationVersion": SPECIFICATION_VERSION}
    if chunking:
        template["extensions"] = ["TASK_CHUNKING"]
    template["name"] = name
    definitions = [parameter.definition() for parameter in JOB_PARAMETERS]
    for definition in definitions:
        if definition["name"] == ENGINE_PARAMETER:
            definition.update(default=engine, allowedValues=list(offered))
        elif definition["name"] == COMMAND_PARAMETER:
            definition["default"] = command
    template["parameterDefinitions"] = definitions
    step: dict[str, Any] = {"name": STEP_NAME}
    requirements = host_requirements(engine, gpu_memory_mib)
    if requirements:
        step["hostRequirements"] = requirements
    step["stepEnvironments"] = [_session_environment()]
    step["parameterSpace"] = {"taskParameterDefinitions": [_task_parameter(chunking)]}
    step["script"] = {"actions": {"onRun": {"command": _ref(COMMAND_PARAMETER), "args": _render_args(chunking)}}}
    template["steps"] = [step]
    return template


def template_yaml(
    chunking: bool = True,
    name: str = "E2FGVI remove object",
    engine: str = DEFAULT_ENGINE,
    gpu_memory_mib: int = DEFAULT_GPU_MEMORY_MIB,
    command: str = DEFAULT_WORKER_COMMAND,
) -> str:
    """The job template as YAML text (what ``e2fgvi farm template`` and bundles write)."""
    import yaml

    template = build_template(chunking, name, engine, gpu_memory_mib, command)
    return yaml.safe_dump(template, sort_keys=False, width=120)

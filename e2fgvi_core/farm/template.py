"""The Open Job Description job template (``jobtemplate-2023-09``) of a farm removal.

One step, ``Remove``, whose tasks are the chunks of the shot. With the ``TASK_CHUNKING`` extension (the default)
the task parameter ``Frames`` is ``CHUNK[INT]`` over the shot with contiguous chunks, so the manager hands each task
a range such as ``1001-1010`` and balances the sizes; the fallback template, for managers without the extension,
steps an ``INT`` parameter ``ChunkStart`` by the chunk size and each task renders ``ChunkSize`` frames from there.
Each task runs ``e2fgvi farm render-chunk``, which plans the whole shot and writes only its frames.

A step environment starts one ``e2fgvi-server`` per worker session (``e2fgvi farm session-start``) and stops it
when the session ends, so consecutive chunks on one worker share the loaded model and the shot cache; it tells the
tasks where the server is through ``openjd_env`` (``E2FGVI_FARM_SERVER``). Without it a task runs in-process.

Job parameters are generated from one table (``JOB_PARAMETERS``): their names, the ``render-chunk`` flag each
feeds, and defaults taken from ``EngineConfig`` so the template never restates an engine default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from e2fgvi_core.farm.config import DEFAULT_CHUNK_SIZE
from e2fgvi_core.farm.plan import FARM_ENGINES
from e2fgvi_core.removal.config import BLEND_MODES, NAN_POLICIES, ROI_MODES, EngineConfig

SPECIFICATION_VERSION = "jobtemplate-2023-09"
STEP_NAME = "Remove"
CHUNK_PARAMETER = "Frames"
FALLBACK_PARAMETER = "ChunkStart"
COMMAND = "e2fgvi"
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
        return None if self.key is None else "--" + self.key.replace("_", "-")


def _job_parameters() -> tuple[JobParameter, ...]:
    engine = EngineConfig()
    return (
        JobParameter("Plate", "PATH", "plate", "Plate sequence pattern (plate.%04d.exr, plate.####.exr)."),
        JobParameter("Matte", "PATH", "matte", "Matte sequence pattern; empty: the MatteChannel of the plate.", ""),
        JobParameter("MatteChannel", "STRING", "matte_channel", "Channel of the matte; empty: alpha.", ""),
        JobParameter("Out", "PATH", "out", "Output sequence pattern; frames are written atomically."),
        JobParameter("Shot", "STRING", "shot", "Shot range, e.g. 1001-1300: windows and references span it."),
        JobParameter(
            "ChunkSize", "INT", None, "Frames per task (the manager balances chunk sizes).", DEFAULT_CHUNK_SIZE, (), 1
        ),
        JobParameter("Engine", "STRING", "engine", "Engine of every chunk.", "e2fgvi_hq", FARM_ENGINES),
        JobParameter("Weights", "STRING", "weights", "Checkpoint path or installed name; empty: the installed.", ""),
        JobParameter(
            "WeightsSha256", "STRING", "weights_sha256", "sha256 the workers' weights must have; empty: any.", ""
        ),
        JobParameter("Device", "STRING", "device", "auto, cpu, cuda, cuda:N or mps.", "auto"),
        JobParameter("Colorspace", "STRING", "colorspace", "OpenColorIO colourspace of float plates.", ""),
        JobParameter(
            "Roi", "STRING", "roi", "auto: crop windows to their mattes; full: whole frames.", engine.roi, ROI_MODES
        ),
        JobParameter(
            "RoiMargin", "INT", "roi_margin", "Context margin around the mattes, pixels.", engine.roi_margin, (), 0
        ),
        JobParameter("Proxy", "FLOAT", "proxy", "Processing scale (0.05-1.0).", engine.proxy, (), 0.05, 1.0),
        JobParameter("NeighborStride", "INT", "neighbor_stride", "Local window stride.", engine.neighbor_stride, (), 1),
        JobParameter("RefStep", "INT", "ref_step", "A reference frame every N frames.", engine.ref_step, (), 1),
        JobParameter(
            "NumRef", "INT", "num_ref", "-1: all references of the shot; N: the nearest N.", engine.num_ref, (), -1
        ),
        JobParameter("Blend", "STRING", "blend", "Blend of overlapping windows.", engine.blend, BLEND_MODES),
        JobParameter(
            "NanPolicy", "STRING", "nan_policy", "NaN/Inf in the plate: zero or error.", engine.nan_policy, NAN_POLICIES
        ),
        JobParameter(
            "Settings",
            "STRING",
            "settings",
            "Further RemovalRequest keys as JSON (propagate_*, matte_* options, display, ocio_config).",
            "{}",
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
                "onEnter": {"command": COMMAND, "args": start},
                "onExit": {"command": COMMAND, "args": ["farm", "session-stop", "--state", state]},
            }
        },
    }


def build_template(chunking: bool = True, name: str = "E2FGVI remove object") -> dict[str, Any]:
    """The job template as a mapping (``openjd check`` accepts it); ``chunking=False`` gives the fallback."""
    template: dict[str, Any] = {"specificationVersion": SPECIFICATION_VERSION}
    if chunking:
        template["extensions"] = ["TASK_CHUNKING"]
    template["name"] = name
    template["parameterDefinitions"] = [parameter.definition() for parameter in JOB_PARAMETERS]
    template["steps"] = [
        {
            "name": STEP_NAME,
            "stepEnvironments": [_session_environment()],
            "parameterSpace": {"taskParameterDefinitions": [_task_parameter(chunking)]},
            "script": {"actions": {"onRun": {"command": COMMAND, "args": _render_args(chunking)}}},
        }
    ]
    return template


def template_yaml(chunking: bool = True, name: str = "E2FGVI remove object") -> str:
    """The job template as YAML text (what ``e2fgvi farm template`` and bundles write)."""
    import yaml

    return yaml.safe_dump(build_template(chunking, name), sort_keys=False, width=120)

"""Job bundles: the one way a farm job is written, for the CLI (``e2fgvi farm bundle``) and host nodes alike.

A bundle is a folder in the AWS Deadline Cloud layout: ``template.yaml`` (the OpenJD job template),
``parameter_values.yaml`` (``parameterValues``: this job's values) and ``asset_references.yaml`` (the plate and
matte folders as inputs, the output folder as output, for job attachments). ``openjd run FOLDER/template.yaml -p
NAME=VALUE ...`` runs it locally and ``deadline bundle submit FOLDER`` sends it to Deadline Cloud.

Everything a task could trip over is checked here, before any task exists: an empty or gapped shot, a chunk size
below 1, a missing plate or matte frame, an output pattern that is an input, an engine that cannot run (``auto`` is
resolved now, so all chunks use one engine, and the weights' sha256 is recorded so a worker with other weights
refuses to run instead of producing frames that do not match).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from e2fgvi_core.atomic_files import write_text_atomic
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.farm.config import FarmConfig
from e2fgvi_core.farm.plan import FarmPlan, parse_shot, plan_chunks
from e2fgvi_core.farm.template import COMMAND_PARAMETER, JOB_PARAMETERS, template_yaml
from e2fgvi_core.io.sequence import (
    FrameSequence,
    check_outputs_spare_inputs,
    file_identities,
    format_frame_ranges,
    resolve_frames,
)
from e2fgvi_core.removal.api import RemovalRequest
from e2fgvi_core.schema import (
    PATH_READ,
    PATH_READ_FRAMES,
    PATH_WEIGHTS,
    PATH_WRITE,
    absolutise_paths,
    file_paths,
    path_fields,
)

TEMPLATE_FILE = "template.yaml"
PARAMETER_VALUES_FILE = "parameter_values.yaml"
ASSET_REFERENCES_FILE = "asset_references.yaml"
# Job parameters that are not request keys: filled from the shot, the weights check and the extra settings.
_SPECIAL_KEYS = ("shot", "weights_sha256", "settings")


@dataclass(frozen=True)
class FarmBundle:
    """A written bundle: its files, the chunk plan the tasks will follow, the job parameter values."""

    folder: Path
    template: Path
    parameter_values: Path
    asset_references: Path
    plan: FarmPlan
    parameters: dict[str, Any]
    notice: str | None = None

    def openjd_run_command(self) -> list[str]:
        """``openjd run`` with every parameter as ``-p NAME=VALUE``: the bundle run on this machine."""
        command = ["openjd", "run", str(self.template)]
        for name, value in self.parameters.items():
            command += ["-p", f"{name}={value}"]
        return command

    def openjd_run_text(self) -> str:
        return shlex.join(self.openjd_run_command())


def _path_values(request: RemovalRequest, *kinds: str) -> list[str]:
    """The request's file paths of these kinds (URIs and installed weights names left out)."""
    return [path for spec in path_fields(*kinds) for path in file_paths(spec, request.value_of(spec.key))]


def _shot_of(request: RemovalRequest, shot: str | None) -> str:
    """The shot range: given, else the request's ``shot`` (or ``frames``), else every plate frame on disk.

    A farm job renders its whole shot: ``frames`` may repeat the shot but not name a subset of it.
    """
    shot = shot or getattr(request, "shot", None) or request.frames
    if request.frames and shot and request.frames != shot:
        raise ConfigError(
            f"a farm job renders its whole shot: --frames {request.frames} differs from the shot {shot}; give the "
            "range as --shot (a subset of frames is `e2fgvi remove --shot ... --frames ...`)"
        )
    if shot:
        return shot
    frames = FrameSequence(request.plate).scan()
    if not frames:
        raise ConfigError(f"no plate frames on disk for {request.plate}: give --shot or check the pattern")
    return format_frame_ranges(frames).replace(" ", "")


def extra_settings(request: RemovalRequest) -> dict[str, Any]:
    """Request keys no job parameter carries and whose value is not the default (they travel in ``Settings``)."""
    carried = {p.key for p in JOB_PARAMETERS if p.key} | {"frames"}
    defaults = RemovalRequest().to_mapping()
    return {
        key: value
        for key, value in request.to_mapping().items()
        if key not in carried and value is not None and value != defaults.get(key)
    }


def job_parameter_values(request: RemovalRequest, shot: str, farm: FarmConfig, sha256: str | None) -> dict[str, Any]:
    """``{job parameter name: value}`` of this job, in template order (paths absolute, empty strings for unset)."""
    mapping = request.to_mapping()
    special = {"shot": shot, "weights_sha256": sha256 or "", "settings": json.dumps(extra_settings(request))}
    values: dict[str, Any] = {}
    for parameter in JOB_PARAMETERS:
        if parameter.name == "ChunkSize":
            value: Any = farm.chunk_size
        elif parameter.name == "SessionServer":
            value = "on" if farm.session_server else "off"
        elif parameter.name == COMMAND_PARAMETER:
            value = farm.command
        elif parameter.key in _SPECIAL_KEYS:
            value = special[parameter.key]
        else:
            value = mapping.get(parameter.key)  # paths are absolute already (write_bundle)
        values[parameter.name] = "" if value is None else value
    return values


def _check_inputs(request: RemovalRequest, shot: str) -> None:
    if not request.plate:
        raise ConfigError("no plate: give --plate PATTERN")
    if not request.out:
        raise ConfigError("no output: give --out PATTERN (farm tasks write files)")
    frames = parse_shot(shot)
    inputs = [FrameSequence(request.plate)] + ([FrameSequence(request.matte)] if request.matte else [])
    for sequence in inputs:
        resolve_frames(sequence, frames)
    # compared as files (device and inode), as every task's FileSink will: another spelling or a link is caught
    # here, when the job is written, not on the farm
    identities = file_identities([sequence.path(f) for sequence in inputs for f in frames])
    for spec in path_fields(PATH_WRITE):
        pattern = request.value_of(spec.key)
        if pattern:
            check_outputs_spare_inputs((FrameSequence(pattern).path(f) for f in frames), identities, spec.option)


def write_bundle(
    folder: str | os.PathLike,
    request: RemovalRequest | Mapping[str, Any],
    farm: FarmConfig | Mapping[str, Any] | None = None,
    *,
    shot: str | None = None,
) -> FarmBundle:
    """Check the job, plan its chunks and write the bundle into ``folder``; return what was written.

    ``request``: a ``RemovalRequest`` or its flat mapping (the keys of ``e2fgvi remove``; ``frames`` or ``shot``
    is the shot range, default every plate frame on disk). ``farm``: ``FarmConfig`` or its mapping
    (``chunk_size``, ``chunking``, ``session_server``). Raises an ``E2fgviError`` naming the problem; nothing is
    written then.
    """
    from e2fgvi_core.farm.render_chunk import weights_sha256
    from e2fgvi_core.removal.engine_registry import choose_engine

    if isinstance(request, RemovalRequest):
        request = request.to_mapping()
    # every path setting of the schema absolute now: tasks run in other folders (and on other machines)
    request = RemovalRequest.from_mapping(absolutise_paths(request))
    if not isinstance(farm, FarmConfig):
        farm = FarmConfig.from_mapping(farm)
    if not request.plate:
        raise ConfigError("no plate: give --plate PATTERN")
    shot = _shot_of(request, shot)
    _check_inputs(request, shot)
    choice = choose_engine(request.engine, request.weights)
    request = replace(request, engine=choice.engine)
    sha256 = weights_sha256(request)
    plan = plan_chunks(request, shot, farm.chunk_size, farm.chunking)
    parameters = job_parameter_values(request, shot, farm, sha256)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    import yaml

    files = {name: target / name for name in (TEMPLATE_FILE, PARAMETER_VALUES_FILE, ASSET_REFERENCES_FILE)}
    write_text_atomic(
        files[TEMPLATE_FILE],
        template_yaml(
            farm.chunking,
            name=f"E2FGVI remove {Path(request.out).name}",
            engine=request.engine,
            gpu_memory_mib=farm.gpu_memory_mib,
            command=farm.command,
        ),
    )
    values = {"parameterValues": [{"name": name, "value": value} for name, value in parameters.items()]}
    write_text_atomic(files[PARAMETER_VALUES_FILE], yaml.safe_dump(values, sort_keys=False, width=120))
    inputs = sorted({os.path.dirname(p) for p in _path_values(request, PATH_READ, PATH_READ_FRAMES)})
    outputs = sorted({os.path.dirname(p) for p in _path_values(request, PATH_WRITE)})
    assets = {
        "assetReferences": {
            "inputs": {"directories": inputs, "filenames": _path_values(request, PATH_WEIGHTS)},
            "outputs": {"directories": outputs},
            "referencedPaths": [],
        }
    }
    write_text_atomic(files[ASSET_REFERENCES_FILE], yaml.safe_dump(assets, sort_keys=False, width=120))
    return FarmBundle(
        folder=target,
        template=files[TEMPLATE_FILE],
        parameter_values=files[PARAMETER_VALUES_FILE],
        asset_references=files[ASSET_REFERENCES_FILE],
        plan=plan,
        parameters=parameters,
        notice=choice.notice,
    )

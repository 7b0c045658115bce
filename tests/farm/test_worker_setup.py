"""What a farm job asks of its workers: ``farm plan`` picks the engine as ``remove`` does, a model engine's job asks
for a GPU worker (the weight-free one for nothing), and every action runs the job's ``Command`` parameter, so a
worker without ``e2fgvi`` on PATH can be pointed at one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from e2fgvi_core.farm.bundle import write_bundle
from e2fgvi_core.farm.template import COMMAND_PARAMETER
from e2fgvi_core.testing import make_shot

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "e2fgvi_core.cli.main", *args]
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_farm_plan_resolves_auto_as_remove_does(farm_env, tmp_path):
    env = {**farm_env, "E2FGVI_WEIGHTS_DIR": str(tmp_path / "no-weights-installed")}
    default = _cli(env, "farm", "plan", "--frames", "1001-1037", "--json")  # before: e2fgvi_hq, needing weights
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["engine"] == "propagate"
    assert "no E2FGVI checkpoint is installed" in default.stderr
    auto = _cli(env, "farm", "plan", "--frames", "1001-1037", "--json", "--engine", "auto")  # before: refused
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout == default.stdout


@pytest.mark.farm
@pytest.mark.parametrize("engine", ["e2fgvi_hq", "e2fgvi", "propagate"])
def test_a_model_engines_job_asks_for_a_gpu_worker_and_the_weight_free_one_for_nothing(
    e2fgvi, openjd, tmp_path, engine
):
    from e2fgvi_core.removal.engine_registry import ENGINES

    path = tmp_path / "job.yaml"
    done = e2fgvi("farm", "template", str(path), "--engine", engine, "--gpu-memory-mib", "12000")
    assert done.returncode == 0, done.stderr
    checked = openjd("check", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    template = yaml.safe_load(path.read_text())
    step = template["steps"][0]
    parameters = {p["name"]: p for p in template["parameterDefinitions"]}
    if ENGINES[engine].needs_weights:
        assert step["hostRequirements"] == {
            "amounts": [
                {"name": "amount.worker.gpu", "min": 1},
                {"name": "amount.worker.gpu.memory", "min": 12000},
            ]
        }
        assert parameters["Engine"]["allowedValues"] == ["e2fgvi_hq", "e2fgvi"]  # never propagate on a GPU worker
    else:
        assert "hostRequirements" not in step
        assert parameters["Engine"]["allowedValues"] == ["propagate"]  # never a model on a CPU-only worker
    assert parameters["Engine"]["default"] == engine
    assert parameters[COMMAND_PARAMETER]["default"] == "e2fgvi"
    commands = [step["script"]["actions"]["onRun"]["command"]]
    commands += [action["command"] for action in step["stepEnvironments"][0]["script"]["actions"].values()]
    assert commands == ["{{Param.Command}}"] * 3


def test_a_bundle_asks_for_a_gpu_only_when_its_resolved_engine_needs_one(farm_shot, tmp_path, use_store):
    request = {**farm_shot, "out": str(tmp_path / "o" / "out.%04d.exr")}
    weightless = write_bundle(tmp_path / "a", {**request, "engine": "auto"}, {"session_server": False})
    assert weightless.parameters["Engine"] == "propagate"  # no official or default weights in the store
    assert "hostRequirements" not in yaml.safe_load(weightless.template.read_text())["steps"][0]
    model = write_bundle(
        tmp_path / "b", {**request, "engine": "e2fgvi_hq", "weights": "hq-test"}, {"gpu_memory_mib": 6000}
    )
    amounts = yaml.safe_load(model.template.read_text())["steps"][0]["hostRequirements"]["amounts"]
    assert {"name": "amount.worker.gpu.memory", "min": 6000} in amounts


def _openjd_run(bundle, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "openjd", "run", *extra, *bundle.openjd_run_command()[2:]]
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)


def _without_e2fgvi(env: dict[str, str]) -> dict[str, str]:
    """``env`` with no folder on PATH that holds an ``e2fgvi``: a worker where nobody installed it on PATH."""
    path = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "e2fgvi").exists())
    return {**env, "PATH": path}


def _venv(folder: Path, e2fgvi_bin: Path, calls: Path) -> Path:
    """A venv-like folder whose ``bin/e2fgvi`` logs its action and runs this checkout's CLI."""
    program = folder / "bin" / "e2fgvi"
    program.parent.mkdir(parents=True)
    program.write_text(f'#!/bin/sh\necho "$1 $2" >> "{calls}"\nexec "{e2fgvi_bin / "e2fgvi"}" "$@"\n')
    program.chmod(0o755)
    return program


@pytest.mark.farm
def test_a_worker_without_e2fgvi_on_path_runs_the_jobs_command(e2fgvi_bin, farm_env, openjd, tmp_path):
    shot = make_shot(tmp_path / "shot", frames=6)
    out = tmp_path / "out" / "clean.%04d.exr"
    calls = tmp_path / "calls.txt"
    program = _venv(tmp_path / "venv", e2fgvi_bin, calls)  # on no PATH
    farm = {"chunk_size": 3, "session_server": False, "command": str(program)}
    bundle = write_bundle(tmp_path / "bundle", {**shot, "out": str(out), "engine": "propagate"}, farm)
    assert bundle.parameters[COMMAND_PARAMETER] == str(program)
    done = _openjd_run(bundle, _without_e2fgvi(farm_env))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert calls.read_text().splitlines().count("farm render-chunk") == len(bundle.plan.chunks) == 2
    assert all(Path(str(out) % frame).is_file() for frame in range(1001, 1007))


@pytest.mark.farm
def test_the_documented_queue_environment_puts_the_venv_on_path(e2fgvi_bin, farm_env, openjd, tmp_path):
    text = (PROJECT_ROOT / "docs" / "farm.md").read_text()
    block = next(b for b in text.split("```yaml\n")[1:] if "environment-2023-09" in b).split("```")[0]
    environment = tmp_path / "e2fgvi-venv.yaml"
    environment.write_text(block)
    checked = openjd("check", str(environment))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shot = make_shot(tmp_path / "shot", frames=6)
    out = tmp_path / "out" / "clean.%04d.exr"
    calls = tmp_path / "calls.txt"
    venv = tmp_path / "venv"
    _venv(venv, e2fgvi_bin, calls)
    bundle = write_bundle(tmp_path / "bundle", {**shot, "out": str(out), "engine": "propagate"}, {"chunk_size": 3})
    assert bundle.parameters[COMMAND_PARAMETER] == "e2fgvi"  # by name, found on the PATH the environment sets
    done = _openjd_run(bundle, _without_e2fgvi(farm_env), "--environment", str(environment), "-p", f"E2fgviVenv={venv}")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert calls.read_text().splitlines() == [
        "farm session-start",
        "farm render-chunk",
        "farm render-chunk",
        "farm session-stop",
    ]
    assert "stopped the session server" in log
    assert all(Path(str(out) % frame).is_file() for frame in range(1001, 1007))

"""The OpenJD template: `openjd check` accepts every template the code writes; its task command is one the real
render-chunk parser takes; bad job parameters stop the job before any task runs."""

from __future__ import annotations

import argparse

import pytest

from e2fgvi_core.farm.template import CHUNK_PARAMETER, FALLBACK_PARAMETER, JOB_PARAMETERS, build_template


@pytest.mark.farm
@pytest.mark.parametrize("fallback", [False, True])
def test_openjd_check_passes_on_every_template(e2fgvi, openjd, tmp_path, fallback):
    path = tmp_path / "job.yaml"
    done = e2fgvi("farm", "template", str(path), *(["--fallback"] if fallback else []))
    assert done.returncode == 0, done.stderr
    checked = openjd("check", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "passes validation checks" in checked.stdout


@pytest.mark.parametrize("chunking", [True, False])
def test_task_command_parses_with_the_render_chunk_parser(chunking):
    """Substitute each job parameter's default (or a sample value) and parse the task's args for real."""
    from e2fgvi_core.cli import farm

    template = build_template(chunking)
    step = template["steps"][0]
    task = step["script"]["actions"]["onRun"]
    samples = {"Plate": "/shots/a/plate.%04d.exr", "Out": "/shots/a/out.%04d.exr", "Shot": "1001-1037"}
    values = {p.name: samples.get(p.name, p.default) for p in JOB_PARAMETERS}
    task_values = {
        "{{Task.Param." + CHUNK_PARAMETER + "}}": "1011-1019",
        "{{Task.Param." + FALLBACK_PARAMETER + "}}": "1011",
    }
    args = [_substitute(arg, values, task_values) for arg in task["args"]]
    parser = argparse.ArgumentParser()
    farm.add_arguments(parser)
    assert args[0] == "farm"
    parsed = parser.parse_args(args[1:])
    assert parsed.action == "render-chunk" and parsed.resume and parsed.shot == "1001-1037"
    request = farm._request(parsed)
    assert request.plate == samples["Plate"] and request.engine == "e2fgvi_hq" and request.matte is None
    if chunking:
        assert parsed.frames == "1011-1019"
    else:
        assert (parsed.first_frame, parsed.chunk) == (1011, 10)
    env = step["stepEnvironments"][0]["script"]["actions"]
    session = {"{{Session.WorkingDirectory}}": "/sessions/s1"}
    enter = parser.parse_args([_substitute(a, values, session) for a in env["onEnter"]["args"][1:]])
    assert (enter.action, enter.enabled, enter.out) == ("session-start", "on", samples["Out"])
    assert enter.state == "/sessions/s1/e2fgvi-server.json"
    leave = parser.parse_args([_substitute(a, values, session) for a in env["onExit"]["args"][1:]])
    assert (leave.action, leave.state) == ("session-stop", enter.state)


def _substitute(arg: str, values: dict, extra: dict) -> str:
    for name, value in values.items():
        arg = arg.replace("{{Param." + name + "}}", str(value))
    for key, value in extra.items():
        arg = arg.replace(key, value)
    assert "{{" not in arg, arg
    return arg


def test_every_request_key_of_the_template_is_a_request_key():
    from e2fgvi_core.removal.api import RemovalRequest

    keys = set(RemovalRequest().to_mapping())
    carried = {p.key for p in JOB_PARAMETERS if p.key} - {"shot", "weights_sha256", "settings"}
    assert carried <= keys, carried - keys

"""The Nuke node's *Submit to farm* through the ``nuke`` stand-in: the real ``e2fgvi farm bundle`` writes the bundle
and the real ``openjd check`` reads it. Nothing runs on a farm here; ``tests/farm`` runs bundles with ``openjd run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import host_test_support as support

from e2fgvi_core.farm.config import DEFAULT_CHUNK_SIZE
from e2fgvi_core.testing import subprocess_env
from e2fgvi_host.nuke import node as remove_node


def parameter_values(folder: Path) -> dict:
    data = yaml.safe_load((folder / "parameter_values.yaml").read_text())
    return {entry["name"]: entry["value"] for entry in data["parameterValues"]}


def test_submit_to_farm_writes_a_bundle_of_the_rendered_inputs(nuke_session, shot, tmp_path):
    nuke = nuke_session
    assert remove_node.DEFAULT_CHUNK_SIZE is DEFAULT_CHUNK_SIZE  # the knob's default is the farm's, imported
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work")
    created["range_first"].setValue(shot["first"] + 1)
    created["farm_chunk"].setValue(2)
    created["matte_dilate"].setValue(2)
    created["regrain"].setValue(True)  # a checkbox: the bare --regrain switch on the bundle's command line

    folder = remove_node.submit_to_farm(created)
    assert folder is not None, nuke.standin.messages
    assert {name.split(".")[-1] for name, *_ in nuke.standin.executed} == {"WriteSource", "WriteMatte"}
    where = remove_node.paths(created)
    assert Path(where["source_full"] % (shot["first"] + 1)).exists()
    values = parameter_values(Path(folder))
    assert values["Plate"] == where["source_full"] and values["Matte"] == where["matte_full"]
    assert values["Out"] == where["clean_full"]
    assert values["Shot"] == f"{shot['first'] + 1}-{shot['last']}" and values["ChunkSize"] == 2
    settings = json.loads(values["Settings"])
    assert values["Engine"] == "propagate" and settings["matte_dilate"] == 2 and settings["regrain"] is True
    checked = subprocess.run(
        [sys.executable, "-m", "openjd", "check", str(Path(folder) / "template.yaml")],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shown = nuke.standin.messages[-1]
    assert f"deadline bundle submit {folder}" in shown and "openjd run" in shown
    assert created["status"].value().startswith(f"farm bundle written: {folder}")

    again = remove_node.submit_to_farm(created)  # a written (maybe submitted) bundle is never overwritten
    assert again == str(Path(folder).with_name("bundle_v002"))


def test_a_bad_setting_gives_one_line_and_writes_nothing(nuke_session, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work")
    created["farm_chunk"].setValue(0)
    assert remove_node.submit_to_farm(created) is None
    assert nuke.standin.messages[-1] == (
        "Remove Object: Farm chunk (farm_chunk) must be a whole number of frames, 1 or more; got 0"
    )
    assert nuke.standin.executed == [] and not (tmp_path / "work").exists()  # refused before rendering

    created["farm_chunk"].setValue(3)
    created["engine"].setValue("e2fgvi_hq")
    created["weights"].setValue(str(tmp_path / "missing.pth"))
    assert remove_node.submit_to_farm(created) is None  # refused by `e2fgvi farm bundle`: no bundle written
    text = nuke.standin.messages[-1]
    assert text.startswith("Remove Object: ") and "\n" not in text and "missing.pth" in text, text
    assert created["status"].value().startswith("failed:")
    assert not (tmp_path / "work" / "farm" / "bundle_v001").exists()
    assert support.read_exr(remove_node.paths(created)["source_full"] % shot["first"]).shape[:2] == (40, 56)


def test_submit_to_farm_sends_the_reference_frames_it_rendered(nuke_session, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work")
    created.setInput(2, nuke.allNodes("Read")[0])  # the plate stands in for a painted frame
    created["reference_frames"].setValue("1002,1004-1005")
    folder = remove_node.submit_to_farm(created)
    assert folder is not None, nuke.standin.messages
    executed = [(name.split(".")[-1], first, last) for name, first, last in nuke.standin.executed]
    assert [e for e in executed if e[0] == "WriteReference"] == [
        ("WriteReference", 1002, 1002), ("WriteReference", 1004, 1005)
    ]  # fmt: skip
    pattern = remove_node.paths(created)["reference_full"]
    settings = json.loads(parameter_values(Path(folder))["Settings"])
    assert settings["reference"] == [f"1002,1004-1005={pattern}"]
    assert all(Path(pattern % f).is_file() for f in (1002, 1004, 1005))

"""The Nuke node's Reference input (a clean frame the artist painted) and a node deleted while its job runs, through
the ``nuke`` stand-in against a real ``e2fgvi-server`` process, with real EXR files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import host_test_support as support

from e2fgvi_host.bridge import REFERENCE_FRAMES
from e2fgvi_host.nuke import node as remove_node

REF_FRAME = 1003
PAINT = (0.3, 0.02, 0.3)  # purple, below the shot's exposure (the engine clips a fill's context above it)


def _painted_reference(shot: dict, folder: Path) -> tuple[Path, np.ndarray]:
    """The plate of ``REF_FRAME`` with its matte painted purple, as an RGB file (no alpha: every pixel trusted)."""
    plate = support.read_exr(shot["plate"] % REF_FRAME)[..., :3]
    hole = support.read_exr(shot["matte"] % REF_FRAME)[..., 0] > 0
    plate[hole] = PAINT
    path = folder / "paint" / "clean_1003.exr"
    support.write_exr(path, plate, ("R", "G", "B"))
    return path, hole


def test_a_reference_input_is_rendered_at_its_frames_and_fills_the_hole(nuke_session, server, shot, tmp_path):
    """An RGB reference (no alpha) is trusted everywhere: an ``rgba`` Write would have given it an alpha of 0 (Nuke
    writes a missing channel black), i.e. no trust at all, and the fill would not change."""
    nuke = nuke_session
    painted, hole = _painted_reference(shot, tmp_path)
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    reference = nuke.nodes.Read(file=str(painted), first=REF_FRAME, last=REF_FRAME)
    created.setInput(2, reference)
    created["reference_frames"].setValue(str(REF_FRAME))
    assert created["reference_frames"].label() == REFERENCE_FRAMES["label"]  # the knob is the bridge's clip setting
    assert support.nuke_process(nuke, created), nuke.standin.messages

    executed = [(name.split(".")[-1], first, last) for name, first, last in nuke.standin.executed]
    assert ("WriteReference", REF_FRAME, REF_FRAME) in executed  # only at the reference frame
    assert [e for e in executed if e[0] == "WriteReference"] == [("WriteReference", REF_FRAME, REF_FRAME)]
    rendered = remove_node.paths(created)["reference_full"] % REF_FRAME
    np.testing.assert_array_equal(support.read_exr(rendered), support.read_exr(painted))  # RGB, as painted

    with_ref = tmp_path / "cli_ref"
    done = support.cli_remove(
        "--plate", shot["plate"], "--matte", shot["matte"], "--out", str(with_ref / "c.%04d.exr"), "--engine",
        "propagate", "--frames", f"{shot['first']}-{shot['last']}", "--reference", f"{REF_FRAME}={painted}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plain = tmp_path / "cli_plain"
    done = support.cli_remove(
        "--plate", shot["plate"], "--matte", shot["matte"], "--out", str(plain / "c.%04d.exr"), "--engine",
        "propagate", "--frames", f"{shot['first']}-{shot['last']}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for frame in range(shot["first"], shot["last"] + 1):  # the node's result is `e2fgvi remove --reference`'s
        np.testing.assert_array_equal(
            nuke.sample_image(created, frame)[0], support.read_exr(with_ref / f"c.{frame:04d}.exr"), str(frame)
        )
    ours = nuke.sample_image(created, REF_FRAME)[0][hole][:, :3].mean(axis=0)
    without = support.read_exr(plain / f"c.{REF_FRAME:04d}.exr")[hole][:, :3].mean(axis=0)
    np.testing.assert_allclose(ours, PAINT, atol=0.01)  # the painted purple is the fill at its frame
    assert np.abs(without - PAINT).max() > 0.1  # and only with the reference


def test_reference_frames_without_the_input_or_outside_the_range_are_one_line(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    created["reference_frames"].setValue(str(REF_FRAME))
    assert not support.nuke_process(nuke, created)
    assert nuke.standin.messages[-1] == (
        "Remove Object: Reference frames (reference_frames) are set: connect a Reference input, or empty Reference "
        "frames"
    )
    created.setInput(2, nuke.allNodes("Read")[0])
    created["reference_frames"].setValue("999")
    assert not support.nuke_process(nuke, created)
    assert nuke.standin.messages[-1] == (
        "Remove Object: Reference frames (reference_frames): frame 999 is outside the shot range 1001-1006"
    )
    assert nuke.standin.executed == []  # refused before anything was rendered


@pytest.mark.parametrize("callbacks", [True, False], ids=["destroy-callback", "no-callback"])
def test_a_node_deleted_while_its_job_runs_is_left_alone(nuke_session, server, shot, tmp_path, callbacks):
    """In Nuke every call on a deleted node raises ValueError ("A PythonObject is not attached to a node"): the
    finish on the main thread must not touch it. With the node's callbacks registered (menu.py) the job is
    cancelled at once; without them it runs out and its result is dropped. Either way nothing raises, nothing is
    cached, and a new node can process into the same folder."""
    nuke = nuke_session
    if callbacks:
        remove_node.register()
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    run = remove_node.process(created)
    assert run is not None and not run.done.is_set()
    nuke.delete(created)
    with pytest.raises(ValueError, match="not attached"):
        created["status"].value()
    assert nuke.standin.run_main_loop(run.done.is_set, 300)  # the queued finish ran and raised nothing
    assert not run.ok and nuke.standin.thread_violations == []
    assert run.effect.cache.frames() == [] or not callbacks  # cancelled: nothing of the job was kept
    assert run.effect not in remove_node._effects.values() and remove_node._running == {}
    again = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    assert support.nuke_process(nuke, again), nuke.standin.messages

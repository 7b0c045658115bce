"""The Nuke *Remove Object* node driven through the ``nuke`` stand-in against a real ``e2fgvi-server`` process.

What is real: the node's code and its adapter, the server, the EXR files (rendered by the stand-in's Write nodes
through OpenImageIO, read back the same way), and the reference ``e2fgvi remove`` run. What is a stand-in: Nuke.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import host_test_support as support

from e2fgvi_host.bridge import describe
from e2fgvi_host.nuke import node as remove_node


def reference(shot, out: Path, *extra: str) -> Path:
    done = support.cli_remove(
        "--plate", shot["plate"], "--out", str(out / "ref.%04d.exr"), "--engine", "propagate",
        "--frames", f"{shot['first']}-{shot['last']}", *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out / "ref.%04d.exr"


def test_menu_shortcut_and_knobs_follow_describe(nuke_session):
    nuke = nuke_session
    remove_node.register()
    item = nuke.menu("Nodes").findItem("E2FGVI/Remove Object")
    assert item is not None and item["shortcut"] == remove_node.SHORTCUT
    nuke.root()["first_frame"].setValue(1001)
    nuke.root()["last_frame"].setValue(1010)
    created = item["command"]()
    knobs = created.knobs()
    for param in describe()["params"]:
        if param["name"] in ("shot", "chunk_size"):
            assert param["name"] not in knobs  # the range knobs and Process replace them: absent, not idle
            continue
        knob = knobs[param["name"]]
        assert knob.label() == param["label"]
        assert knob.tooltip().startswith(param["help"])
        if param["name"] != "matte_channel":
            assert knob.value() == ("" if param["default"] is None else param["default"])
        if param.get("choices"):
            assert knob.values() == list(param["choices"])
    assert (knobs["range_first"].value(), knobs["range_last"].value()) == (1001, 1010)
    assert knobs["matte_from"].values() == list(remove_node.MATTE_FROM)
    assert (
        knobs["submit_farm"].label() == "Submit to farm"
        and knobs["farm_chunk"].value() == remove_node.DEFAULT_CHUNK_SIZE
    )


def test_process_writes_what_e2fgvi_remove_writes(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    assert support.nuke_process(nuke, created), nuke.standin.messages

    executed = {name.split(".")[-1] for name, *_ in nuke.standin.executed}
    assert executed == {"WriteSource", "WriteMatte"}
    ref = reference(shot, tmp_path, "--matte", shot["matte"])
    result = created.node("Result")
    for frame in range(shot["first"], shot["last"] + 1):
        expected = support.read_exr(str(ref) % frame)
        np.testing.assert_array_equal(support.read_exr(result["file"].value() % frame), expected)
        shown, channels = nuke.sample_image(created, frame)
        np.testing.assert_array_equal(shown, expected)
        assert channels == ["R", "G", "B", "A"]
    task = nuke.standin.progress_tasks[-1]
    assert task.values[0] == 0 and task.messages  # the window starts at 0%, however fast the server reports
    assert task.values == sorted(task.values)  # and only moves forward
    assert "6 frames processed" in created["status"].value()


def test_unprocessed_frames_show_an_error_not_black(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    created["range_last"].setValue(shot["first"] + 2)
    assert support.nuke_process(nuke, created), nuke.standin.messages
    nuke.sample_image(created, shot["first"] + 2)
    with pytest.raises(nuke.RenderError, match="Read error"):
        nuke.sample_image(created, shot["first"] + 3)


def test_source_alpha_as_matte(nuke_session, server, tmp_path):
    nuke = nuke_session
    shot = support.make_float_shot(tmp_path / "alpha")
    for frame in range(shot["first"], shot["last"] + 1):  # the matte moves into the plate's alpha
        plate = support.read_exr(shot["plate"] % frame)
        plate[..., 3] = support.read_exr(shot["matte"] % frame)[..., 0]
        support.write_exr(Path(shot["plate"] % frame), plate, ("R", "G", "B", "A"))
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address, matte_input=False)
    created["matte_from"].setValue("Source alpha")
    assert support.nuke_process(nuke, created), nuke.standin.messages
    assert {name.split(".")[-1] for name, *_ in nuke.standin.executed} == {"WriteSource"}
    ref = reference(shot, tmp_path, "--matte-channel", "A")
    for frame in (shot["first"], shot["last"]):
        np.testing.assert_array_equal(
            support.read_exr(created.node("Result")["file"].value() % frame), support.read_exr(str(ref) % frame)
        )


def test_reopened_script_finds_its_results(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    remove_node.register()
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    created["roi_margin"].setValue(24)
    assert support.nuke_process(nuke, created)
    expected = nuke.sample_image(created, shot["first"] + 1)[0]
    script = tmp_path / "comp.nk"
    nuke.scriptSave(str(script))

    nuke.scriptClear()
    assert nuke.toNode(created.name()) is None
    nuke.scriptOpen(str(script))
    reopened = nuke.toNode(created.name())
    assert reopened["roi_margin"].value() == 24 and reopened["server"].value() == server.address
    assert reopened["status"].value() == f"{shot['last'] - shot['first'] + 1} of 6 frames processed"
    np.testing.assert_array_equal(nuke.sample_image(reopened, shot["first"] + 1)[0], expected)

    reopened["roi_margin"].setValue(32)  # the knob-changed callback says the results are stale
    assert reopened["status"].value() == "settings changed: press Process"


def test_proxy_mode_renders_and_cleans_at_proxy_size(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    nuke.root()["proxy"].setValue(True)
    assert support.nuke_process(nuke, created), nuke.standin.messages
    where = remove_node.paths(created)
    proxy_plate = support.read_exr(where["source_proxy"] % shot["first"])
    assert proxy_plate.shape[:2] == (20, 28)
    cleaned = support.read_exr(where["clean_proxy"] % shot["first"])
    assert cleaned.shape == proxy_plate.shape
    assert not Path(where["clean_full"] % shot["first"]).exists()
    assert nuke.sample_image(created, shot["first"])[0].shape == proxy_plate.shape


def test_bad_input_gives_one_line_and_keeps_results(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    assert support.nuke_process(nuke, created)
    before = support.read_exr(created.node("Result")["file"].value() % shot["first"])

    created.setInput(1, None)
    assert not support.nuke_process(nuke, created)
    assert nuke.standin.messages[-1] == (
        "Remove Object: connect the Matte input, or set Matte from to Source alpha / Source channel"
    )
    matte_read = nuke.allNodes("Read")[1]
    created.setInput(1, matte_read)
    matte_read["file"].setValue(str(tmp_path / "nowhere.%04d.exr"))
    assert not support.nuke_process(nuke, created)
    assert nuke.standin.messages[-1].startswith("Remove Object: rendering the inputs failed:")
    assert "\n" not in nuke.standin.messages[-1]
    assert created["status"].value().startswith("failed:")
    np.testing.assert_array_equal(support.read_exr(created.node("Result")["file"].value() % shot["first"]), before)


def test_cancel_leaves_no_result(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    nuke.standin.cancel_after_updates = 1
    assert not support.nuke_process(nuke, created)
    assert created["status"].value() == "failed: cancelled"
    assert created.node("Result")["file"].value() == ""
    assert not Path(remove_node.paths(created)["clean_full"] % shot["first"]).exists()


def test_process_returns_while_the_server_works_and_calls_nuke_only_on_its_main_thread(
    nuke_session, server, shot, tmp_path
):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    run = remove_node.process(created)
    assert run is not None and created["status"].value().startswith("processing")
    # the result is shown by a call queued for the main loop: nothing before the loop turns, however fast the server
    assert created.node("Result")["file"].value() == ""
    assert nuke.standin.run_main_loop(run.done.is_set, 300) and run.ok, nuke.standin.messages
    assert created.node("Result")["file"].value() == remove_node.paths(created)["clean_full"]
    assert nuke.standin.thread_violations == []
    server_task = nuke.standin.progress_tasks[-1]
    assert server_task.thread != "MainThread" and server_task.values  # progress from the worker, as documented

    nuke.env["gui"] = False  # `nuke -t`: no main loop to come back to, so Process finishes before returning
    again = remove_node.process(created)
    assert again is not None and again.done.is_set() and again.ok


def test_a_second_process_shows_the_new_frames(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    remove_node.register()
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    assert support.nuke_process(nuke, created), nuke.standin.messages
    frame = shot["first"] + 1
    before = nuke.sample_image(created, frame)[0]  # the Read has cached this frame now
    nuke.standin.panel_edit(created, "matte_dilate", 9)
    assert created["status"].value() == "settings changed: press Process"
    assert support.nuke_process(nuke, created), nuke.standin.messages
    on_disk = support.read_exr(remove_node.paths(created)["clean_full"] % frame)
    assert not np.array_equal(on_disk, before)
    np.testing.assert_array_equal(nuke.sample_image(created, frame)[0], on_disk)  # reloaded, not the cached frame


def test_a_farm_render_of_the_script_executes_none_of_the_internal_writes(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    user_write = nuke.nodes.Write(file=str(tmp_path / "comp.%04d.exr"), create_directories=True)
    user_write.setInput(0, nuke.allNodes("Read")[0])  # the artist's own Write, of the plate
    assert nuke.standin.render_script() == [user_write.fullName()]  # before any Process: nothing of ours runs
    nuke.standin.executed.clear()
    assert support.nuke_process(nuke, created), nuke.standin.messages
    assert all(created.node(name)["disable"].value() for name in ("WriteSource", "WriteMatte"))
    sources = sorted(Path(remove_node.paths(created)["source_full"] % f).stat().st_mtime_ns for f in (1001, 1006))
    assert nuke.standin.render_script() == [user_write.fullName()]  # `nuke -x` leaves the rendered inputs alone
    assert sorted(Path(remove_node.paths(created)["source_full"] % f).stat().st_mtime_ns for f in (1001, 1006)) == (
        sources
    )


def test_the_node_panel_has_no_empty_user_tab_and_a_rename_keeps_the_results(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    remove_node.register()
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    created["work_folder"].setValue("")  # the default folder: e2fgvi/<node> beside the script
    script = tmp_path / "comp.nk"
    nuke.scriptSave(str(script))
    assert created.panel_tabs() == ["Remove Object"]  # the hidden knobs are INVISIBLE: no "User" tab
    assert support.nuke_process(nuke, created), nuke.standin.messages
    where = remove_node.paths(created)
    assert where["clean_full"].startswith(str(tmp_path / "e2fgvi" / created.name()))
    shown = nuke.sample_image(created, shot["first"])[0]

    created.setName("CleanPlate")
    assert remove_node.paths(created) == where  # the results folder was kept at the first Process
    assert remove_node.count_results(created) == (6, 6)
    nuke.scriptSave(str(script))
    nuke.scriptOpen(str(script))
    reopened = nuke.toNode("CleanPlate")
    assert reopened.panel_tabs() == ["Remove Object"]
    assert reopened["status"].value() == "6 of 6 frames processed"
    np.testing.assert_array_equal(nuke.sample_image(reopened, shot["first"])[0], shown)


def test_the_standin_keeps_nukes_main_thread_rule(nuke_session):
    nuke = nuke_session
    group = nuke.createNode("Group")
    knob = nuke.String_Knob("x", "x")
    group.addKnob(knob)
    caught: list[BaseException] = []

    def from_a_thread() -> None:
        try:
            knob.setValue("set from a thread")
        except nuke.ThreadError as exc:
            caught.append(exc)
        nuke.executeInMainThread(knob.setValue, ("set on the main thread",))

    worker = threading.Thread(target=from_a_thread)
    worker.start()
    worker.join()
    assert caught and knob.value() == ""  # refused; the queued call waits for the main loop
    assert nuke.standin.run_main_loop(lambda: knob.value() != "", 10)
    assert knob.value() == "set on the main thread"


def test_cancel_while_the_server_works_reaches_the_job(nuke_session, server, shot, tmp_path):
    nuke = nuke_session
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    # Cancel in the server's progress window (made by the worker thread) once the server has reported progress
    nuke.standin.cancel_if = lambda task: task.thread != "MainThread" and len(task.values) >= 1
    assert not support.nuke_process(nuke, created)
    assert created["status"].value() == "failed: cancelled", nuke.standin.messages
    assert created.node("Result")["file"].value() == ""  # nothing shown for a cancelled run
    assert nuke.standin.thread_violations == []


def test_regrain_is_a_checkbox_off_by_default_that_reaches_the_request(nuke_session, server, tmp_path):
    """``regrain`` (a bool in the schema) is a Boolean_Knob; on, the job regrains (its provenance says so, the hole
    gains the plate's grain) and a farm bundle gets the bare ``--regrain`` switch."""
    nuke = nuke_session
    shot = support.make_float_shot(tmp_path / "grainy", grain=0.02)
    created = support.nuke_remove_script(nuke, shot, tmp_path / "work", server.address)
    knob = created.knobs()["regrain"]
    assert knob.Class() == "Boolean_Knob" and knob.value() is False and knob.label() == "Regrain"
    params, *_ = remove_node.params_of(created)
    assert params.regrain is False and "--regrain" not in remove_node.farm_flags(params)

    created["regrain"].setValue(True)
    params, *_ = remove_node.params_of(created)
    flags = remove_node.farm_flags(params)
    assert flags.count("--regrain") == 1 and "True" not in flags and "False" not in flags
    assert support.nuke_process(nuke, created), nuke.standin.messages
    ref = reference(shot, tmp_path, "--matte", shot["matte"], "--regrain")
    plain = reference(shot, tmp_path / "plain", "--matte", shot["matte"])
    result = created.node("Result")["file"].value()
    for frame in range(shot["first"], shot["last"] + 1):
        assert support.provenance(result % frame, "regrain") == "true"
        pixels = support.read_exr(result % frame)
        np.testing.assert_array_equal(pixels, support.read_exr(str(ref) % frame))
        hole = support.read_exr(shot["matte"] % frame)[..., 0] > 0
        assert support.hole_detail(pixels, hole) > 1.1 * support.hole_detail(support.read_exr(str(plain) % frame), hole)

"""The built OpenFX plug-in, loaded by our ctypes OFX host and driven against a real ``e2fgvi-server``.

Every render is compared bit for bit with one whole-shot ``e2fgvi remove`` (propagate engine): scrambled order,
render windows smaller than the frame, the Filter context's matte in Source's alpha, 8-bit input, two host threads.
Failures must come back as an error status plus one line through the message suite, never as a crash.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from ofx_host import HOST_ERRORS, STAT_FAILED, STAT_OK, Host
from ofx_support import COUNT, FIRST, SHOT, frames_of, whole_run

from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.removal.plan import plan_frames
from e2fgvi_core.testing import free_address, make_synthetic_shot, wait_until, write_png_shot
from e2fgvi_host.bridge.effect import describe
from e2fgvi_host.bridge.params import describe_params
from e2fgvi_host.bridge.references import REFERENCE_FRAMES
from e2fgvi_host.client import Client

GENERAL, FILTER = "OfxImageEffectContextGeneral", "OfxImageEffectContextFilter"
LAST = FIRST + COUNT - 1


def _instance(host: Host, server, folder, context: str = GENERAL, plate: str = "plate.%04d.exr",
              matte: str | None = "matte.%04d.exr", **params):  # fmt: skip
    inputs = {"Source": (frames_of(folder, plate), (FIRST, LAST))}
    if matte:
        inputs["Matte"] = (frames_of(folder, matte), (FIRST, LAST))
    effect = host.create_instance(context, inputs)
    values = {"engine": "propagate", "shot": SHOT, "server": server.address if server else free_address(),
              "chunk_size": 4, **params}  # fmt: skip
    for name, value in values.items():
        host.set_param(effect, name, value)
    return effect


def _jobs_completed(server) -> int:
    with Client(server.address) as client:
        return int(client.status()["jobs_completed"])


def test_describes_itself_from_the_bridge_parameters(plugin_binary):
    host = Host(plugin_binary)
    assert host.plugin.pluginIdentifier == b"org.e2fgvi.RemoveObject"
    assert (host.plugin.pluginVersionMajor, host.plugin.pluginVersionMinor) == (1, 0)
    descriptor = host.load()
    assert descriptor.props.values["OfxPropLabel"] == ["Remove Object"]
    assert descriptor.props.values["OfxImageEffectPluginPropGrouping"] == ["E2FGVI"]
    assert set(descriptor.props.values["OfxImageEffectPropSupportedContexts"]) == {GENERAL, FILTER}
    assert descriptor.props.values["OfxImageEffectPropTemporalClipAccess"] == [1]
    general, filtering = host.describe_in_context(GENERAL), host.describe_in_context(FILTER)
    assert list(general.clips) == ["Source", "Matte", "Reference", "Output"]
    assert general.clips["Matte"].props.values["OfxImageClipPropOptional"] == [1]
    reference = general.clips["Reference"].props.values
    assert reference["OfxImageClipPropOptional"] == [1]  # hosts may leave it unconnected
    assert reference["OfxImageEffectPropSupportedComponents"] == ["OfxImageComponentRGBA", "OfxImageComponentRGB"]
    assert list(filtering.clips) == ["Source", "Output"]
    described = describe_params()
    clip_settings = [entry for clip in describe()["clips"] for entry in clip.get("params", ())]
    assert [entry["name"] for entry in clip_settings] == [REFERENCE_FRAMES["name"]]
    assert list(general.params) == [entry["name"] for entry in described + clip_settings] + ["process_shot"]
    assert REFERENCE_FRAMES["name"] not in filtering.params  # the Filter context has no Reference clip
    kinds = {"int": "Integer", "float": "Double", "str": "String", "bool": "Boolean"}  # ofxParam.h's types
    for entry in described + clip_settings:
        kind = "Choice" if entry.get("choices") else kinds[entry["type"]]
        assert general.params[entry["name"]].kind == f"OfxParamType{kind}", entry["name"]
        props = general.params[entry["name"]].props.values
        assert props["OfxPropLabel"] == [entry["label"]] and props["OfxParamPropHint"] == [entry["help"]]
        if entry.get("choices"):
            assert props["OfxParamPropChoiceOption"] == list(entry["choices"])
            assert props["OfxParamPropDefault"] == [list(entry["choices"]).index(entry["default"])]
        elif entry["default"] is not None:
            assert props["OfxParamPropDefault"] == [entry["default"]], entry["name"]
        if entry.get("minimum") is not None:
            assert props["OfxParamPropMin"] == [entry["minimum"]] and props["OfxParamPropMax"] == [entry["maximum"]]
    assert general.params["regrain"].props.values["OfxParamPropDefault"] == [0]  # a checkbox, off
    assert general.params["process_shot"].kind == "OfxParamTypePushButton"
    assert host.unload() == STAT_OK


def test_scrambled_order_and_small_windows_equal_one_whole_run(plugin_binary, server, shot, whole):
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot)
    before = _jobs_completed(server)
    order = [1006, 1001, 1011, 1012, 1002, 1009, 1005, 1003, 1004, 1007, 1008, 1010]
    h, w = whole[FIRST].shape[:2]
    for index, frame in enumerate(order):
        window = (0, 0, w, h) if index % 2 else (5, 7, w // 2 + 3, h - 9)  # x1, y1, x2, y2, bottom-up
        status, image = host.render(effect, frame, window)
        assert status == STAT_OK, host.messages
        x1, y1, x2, y2 = window
        rows = slice(h - y2, h - y1)
        np.testing.assert_array_equal(image[rows, x1:x2], whole[frame][rows, x1:x2], err_msg=str(frame))
        outside = np.ones((h, w), bool)
        outside[rows, x1:x2] = False
        assert np.isnan(image[outside].astype(np.float32)).all()  # nothing written outside the render window
    assert _jobs_completed(server) - before == 3  # one job per chunk of 4, whatever the order
    assert host.messages == [] and HOST_ERRORS == []
    assert all(clip.images_out == 0 for clip in effect.clips.values())  # every image released
    assert host.destroy(effect) == STAT_OK


def test_frames_needed_and_regions_of_interest_are_truthful(plugin_binary, server, shot):
    from e2fgvi_core.farm.plan import engine_shot_plan
    from e2fgvi_core.removal.api import RemovalRequest

    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot)
    status, out = host.frames_needed(effect, 1006)
    assert status == STAT_OK
    plan = engine_shot_plan(RemovalRequest(engine="propagate"), COUNT)
    reads = plan_frames(plan, [p - FIRST for p in range(1005, 1009)]).reads  # the chunk 1005-1008
    expected = sorted(FIRST + p for p in reads)
    ranges = out.values["OfxImageClipPropFrameRange_Source"]
    listed = sorted(f for a, b in zip(ranges[::2], ranges[1::2]) for f in range(int(a), int(b) + 1))
    assert listed == expected and out.values["OfxImageClipPropFrameRange_Matte"] == ranges
    status, roi = host.regions_of_interest(effect, 1006, (3, 3, 10, 10))
    assert status == STAT_OK
    assert roi.values["OfxImageClipPropRoI_Source"] == [0.0, 0.0, 64.0, 48.0]  # the whole frame, whatever the window
    host.destroy(effect)


def test_filter_context_takes_the_matte_from_source_alpha(plugin_binary, server, shot):
    for frame in range(FIRST, LAST + 1):
        plate = frames_of(shot, "plate.%04d.exr")(frame)
        matte = frames_of(shot, "matte.%04d.exr")(frame).astype(np.float16)
        rgba = np.concatenate([plate, matte], axis=-1)
        write_frame(shot / f"rgba.{frame:04d}.exr", Frame.from_array(rgba, ["R", "G", "B", "A"]))
    reference = whole_run(shot, plate="rgba.%04d.exr", matte=None, out="whole_rgba.%04d.exr")
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot, FILTER, plate="rgba.%04d.exr", matte=None)
    for frame in (1010, 1002, 1007):
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        assert image.shape[-1] == 4
        np.testing.assert_array_equal(image, reference[frame], err_msg=str(frame))
    host.destroy(effect)


def test_8_bit_input_is_converted_not_refused(plugin_binary, server, tmp_path):
    frames, mattes = make_synthetic_shot(COUNT, 40, 56, seed=3)
    folder = write_png_shot(tmp_path, frames, mattes, first=FIRST)
    reference = whole_run(folder, plate="plate.%04d.png", matte="matte.%04d.png", out="whole.%04d.png")
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, folder, plate="plate.%04d.png", matte="matte.%04d.png")
    assert effect.clips["Output"].props.values["OfxImageEffectPropPixelDepth"] == ["OfxBitDepthByte"]
    for frame in (1004, 1012, 1001):
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        assert image.dtype == np.uint8
        np.testing.assert_array_equal(image, reference[frame], err_msg=str(frame))
    host.destroy(effect)


def test_two_host_threads_rendering_at_once_get_correct_frames(plugin_binary, server, shot, whole):
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot, chunk_size=3)
    results: dict[int, tuple[int, np.ndarray]] = {}

    def worker(frames: list[int]) -> None:
        for frame in frames:
            results[frame] = host.render(effect, frame)

    threads = [threading.Thread(target=worker, args=(frames,)) for frames in ([1012, 1003, 1008], [1004, 1011, 1001])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(thread.is_alive() for thread in threads)
    for frame, (status, image) in results.items():
        assert status == STAT_OK, host.messages
        np.testing.assert_array_equal(image, whole[frame], err_msg=str(frame))
    host.destroy(effect)


def test_without_a_server_render_fails_with_one_line_not_a_crash(plugin_binary, shot, monkeypatch):
    monkeypatch.delenv("E2FGVI_SERVER_COMMAND", raising=False)
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, None, shot)  # a free port: nothing answers there
    started = time.monotonic()
    status, _ = host.render(effect, 1003)
    assert status == STAT_FAILED
    assert time.monotonic() - started < 60  # bounded by the protocol's heartbeat numbers, never forever
    assert len(host.messages) == 1
    kind, text = host.messages[0]
    assert kind == "OfxMessageError" and "\n" not in text and "does not answer" in text, text
    status, _ = host.frames_needed(effect, 1003)
    assert status != STAT_OK  # the host falls back to its default; nothing crashed
    assert host.destroy(effect) == STAT_OK


def test_abort_mid_chunk_cancels_the_job_on_the_server(plugin_binary, server, shot):
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot, chunk_size=COUNT)
    host.on_progress = lambda found, value: found.abort.set()  # the artist presses Esc as soon as work shows
    status, _ = host.render(effect, 1005)
    assert status == STAT_FAILED
    assert host.messages == []  # an abort the host asked for is not an error to show
    with Client(server.address) as client:
        assert wait_until(lambda: client.status()["running"] is None and not client.status()["queue"], 30)
    effect.abort.clear()
    host.on_progress = None
    status, _ = host.render(effect, 1005)  # nothing half-done was cached: the next render runs and succeeds
    assert status == STAT_OK, host.messages
    host.destroy(effect)


def test_process_shot_renders_the_whole_shot_as_one_job_with_progress(plugin_binary, server, shot, whole):
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot)
    before = _jobs_completed(server)
    assert host.press(effect, "process_shot", FIRST) == STAT_OK, host.messages
    assert _jobs_completed(server) - before == 1
    kinds = [kind for kind, _ in host.progress]
    assert kinds[0] == "start" and kinds[-1] == "end" and "update" in kinds
    assert host.progress[-2] == ("update", 1.0)
    for frame in (LAST, FIRST, 1006):
        status, image = host.render(effect, frame)
        assert status == STAT_OK
        np.testing.assert_array_equal(image, whole[frame])
    assert _jobs_completed(server) - before == 1  # every frame came from the plug-in's cache
    host.destroy(effect)


@pytest.mark.parametrize("engine", ["propagate"])
def test_a_changed_parameter_recomputes(plugin_binary, server, shot, engine):
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot, engine=engine)
    before = _jobs_completed(server)
    status, default = host.render(effect, 1002)
    host.set_param(effect, "matte_dilate", 1)
    status, changed = host.render(effect, 1002)
    assert status == STAT_OK and _jobs_completed(server) - before == 2
    reference = whole_run(shot, "--dilate", "1", out="dilate1.%04d.exr")
    np.testing.assert_array_equal(changed, reference[1002])
    assert not np.array_equal(default, changed)
    host.destroy(effect)


@pytest.mark.slow
def test_e2fgvi_hq_with_the_parity_weights_equals_one_whole_run(
    plugin_binary, server, shot, filled_checkpoint, tmp_path
):
    weights = filled_checkpoint(tmp_path / "hq.pth", seed=1)
    reference = whole_run(shot, "--weights", str(weights), out="hq.%04d.exr", engine="e2fgvi_hq")
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot, engine="e2fgvi_hq", weights=str(weights), chunk_size=6)
    for frame in (1009, 1002):
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        np.testing.assert_array_equal(image, reference[frame], err_msg=str(frame))
    host.destroy(effect)


def test_a_server_dying_mid_job_gives_an_error_not_a_crash(plugin_binary, shot, tmp_path):
    from e2fgvi_core.testing import ServerProcess

    dying = ServerProcess(free_address(), ["--output-root", str(tmp_path)], tmp_path / "server.log").start()
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, dying, shot, chunk_size=COUNT)
    host.on_progress = lambda found, value: dying.kill()  # the server goes away while the job runs
    try:
        started = time.monotonic()
        status, _ = host.render(effect, 1004)
        assert status == STAT_FAILED
        assert time.monotonic() - started < 120  # the protocol's retries, then an answer
        assert len(host.messages) == 1 and "does not answer" in host.messages[0][1], host.messages
        assert host.destroy(effect) == STAT_OK
    finally:
        dying.kill()


def _hole_detail(pixels: np.ndarray, hole: np.ndarray) -> float:
    """The high-pass energy inside ``hole`` (RGB minus its 4-neighbour mean): what ``--regrain`` raises."""
    rgb = pixels[..., :3].astype(np.float64)
    around = sum(np.roll(rgb, step, axis) for step in (1, -1) for axis in (0, 1)) / 4
    return float((rgb - around)[hole].std())


def test_regrain_checked_reaches_the_request_and_chunks_equal_one_whole_run(plugin_binary, server, shot, tmp_path):
    """The Boolean parameter travels in the request as a msgpack bool (the server refuses 1 for a bool) and each
    chunk, by value, equals one whole ``--regrain`` run; the grainy plate's grain shows in the hole."""
    for frame in range(FIRST, LAST + 1):
        plate = frames_of(shot, "plate.%04d.exr")(frame).astype(np.float32)
        plate += 0.02 * np.random.default_rng(frame).standard_normal(plate.shape).astype(np.float32)
        write_frame(tmp_path / f"plate.{frame:04d}.exr", Frame.from_array(plate, ["R", "G", "B"]))
        write_frame(
            tmp_path / f"matte.{frame:04d}.exr", Frame.from_array(frames_of(shot, "matte.%04d.exr")(frame), ["Y"])
        )
    regrained, plain = whole_run(tmp_path, "--regrain", out="regrained.%04d.exr"), whole_run(tmp_path)
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, tmp_path, regrain=1)
    for frame in (1006, 1001, 1012, 1003):
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        np.testing.assert_array_equal(image, regrained[frame], err_msg=str(frame))
        hole = frames_of(shot, "matte.%04d.exr")(frame)[..., 0] > 0
        assert _hole_detail(image, hole) > _hole_detail(plain[frame], hole), frame  # grain on top of the fill
    host.destroy(effect)

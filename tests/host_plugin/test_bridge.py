"""The bridge against a real ``e2fgvi-server`` process: by path and by value, chunks, cache keys, cancel, errors.

Shots are tiny (12 frames of 64x48, chunks of 4) and every job uses the weight-free ``propagate`` engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import host_test_support as support  # tests/standins, put on sys.path by tests/host_plugin/conftest.py
import numpy as np
import pytest

from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.removal.api import RemovalRequest
from e2fgvi_core.testing import PROJECT_ROOT, ServerProcess, free_address, free_port, subprocess_env
from e2fgvi_host.bridge import (
    ArrayClip,
    BridgeCancelled,
    BridgeError,
    BridgeParams,
    PathClip,
    RemoveObjectEffect,
    describe,
    request_keys,
)

FIRST, COUNT, SIZE = 1001, 12, (48, 64)
SHOT = f"{FIRST}-{FIRST + COUNT - 1}"


def _env() -> dict[str, str]:
    return subprocess_env()


@pytest.fixture(scope="module")
def server_address(tmp_path_factory):
    """One real server for the module; outputs are confined to the module's temporary folder."""
    root = tmp_path_factory.mktemp("bridge")
    server = ServerProcess(
        free_address(),
        ["--output-root", str(root), "--heartbeat-interval-s", "0.5"],
        root / "server.log",
    ).start()
    yield server.address, root
    server.kill()


def _plate(index: int) -> np.ndarray:
    h, w = SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack(
        [0.2 + 0.15 * np.sin(xx / 5 + index * 0.3), 0.3 + 0.1 * np.cos(yy / 4), 0.25 + 0.1 * np.sin((xx + yy) / 7)], -1
    ).astype(np.float16)


def _matte(index: int, empty: bool = False) -> np.ndarray:
    h, w = SIZE
    matte = np.zeros((h, w, 1), np.float32)
    if not empty:
        x0 = 8 + 2 * index
        matte[h // 3 : h // 3 + 12, x0 : x0 + 12] = 1.0
    return matte


@pytest.fixture
def shot(server_address, tmp_path):
    """Plate and matte EXRs under the server's root; the matte of the last frame is empty."""
    _, root = server_address
    folder = Path(root) / tmp_path.name
    folder.mkdir()
    for i in range(COUNT):
        write_frame(folder / f"plate.{FIRST + i:04d}.exr", Frame.from_array(_plate(i), ["R", "G", "B"]))
        write_frame(folder / f"matte.{FIRST + i:04d}.exr", Frame.from_array(_matte(i, empty=i == COUNT - 1), ["Y"]))
    return folder


def _params(address: str, **changes) -> BridgeParams:
    return BridgeParams(engine="propagate", shot=SHOT, server=address, chunk_size=4, **changes)


def _path_effect(address: str, folder: Path, out: str = "clean", **changes) -> RemoveObjectEffect:
    return RemoveObjectEffect(
        PathClip(str(folder / "plate.%04d.exr")),
        PathClip(str(folder / "matte.####.exr")),
        _params(address, **changes),
        output=str(folder / f"{out}.%04d.exr"),
    )


def _whole_run(folder: Path, *flags: str, out: str = "whole") -> dict[int, np.ndarray]:
    command = [
        sys.executable,
        "-m",
        "e2fgvi_core.cli.main",
        "remove",
        "--plate",
        str(folder / "plate.%04d.exr"),
        "--matte",
        str(folder / "matte.%04d.exr"),
        "--out",
        str(folder / f"{out}.%04d.exr"),
        "--frames",
        SHOT,
        "--engine",
        "propagate",
        "--quiet",
        *flags,
    ]
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return {f: read_frame(folder / f"{out}.{f:04d}.exr").pixels for f in range(FIRST, FIRST + COUNT)}


def test_params_are_removal_request_keys_and_described():
    for key in request_keys():  # an unknown key is refused by name; None means "the default"
        RemovalRequest.from_mapping({key: None})
    assert {"server", "chunk_size"}.isdisjoint(request_keys())
    defaults = BridgeParams()
    propagate = PropagateConfig()
    assert (defaults.propagate_context_frames, defaults.propagate_carry_restart_frames) == (
        propagate.context_frames,
        propagate.carry_restart_frames,
    )  # the node's defaults are `e2fgvi remove`'s
    described = {p["name"]: p for p in describe()["params"]}
    assert described["num_ref"]["minimum"] == -1 and described["engine"]["choices"][-1] == "propagate"
    assert [c["name"] for c in describe()["clips"]] == ["Source", "Matte", "Reference", "Output"]
    (reference,) = [c for c in describe()["clips"] if c["name"] == "Reference"]
    assert reference["optional"] and [p["name"] for p in reference["params"]] == ["reference_frames"]
    assert "reference_frames" not in {p["name"] for p in describe()["params"]}  # the clip's, not a request key
    with pytest.raises(BridgeError, match=r"Proxy scale \(proxy\) must be in"):
        BridgeParams.from_mapping({"proxy": 3})
    with pytest.raises(BridgeError, match="unknown Remove Object parameter 'dilate'"):
        BridgeParams.from_mapping({"dilate": 3})


def test_bridge_reads_the_request_schema_and_loads_no_torch_opencv_or_openimageio():
    """The node's parameters come from the core's request schema (never restated), which a host's Python can load:
    no torch, OpenCV or OpenImageIO, and of the core only the schema and the modules holding its dataclasses."""
    code = (
        "import json, sys; import e2fgvi_host.bridge; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'cv2', 'OpenImageIO', 'e2fgvi_core'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert not [m for m in loaded if m.split(".")[0] in ("torch", "cv2", "OpenImageIO")], loaded
    assert "e2fgvi_core.schema" in loaded
    assert not [m for m in loaded if m.startswith(("e2fgvi_core.models", "e2fgvi_core.removal.runner"))], loaded


def test_chunks_by_path_equal_one_whole_run(server_address, shot):
    address, _ = server_address
    reports = []
    with _path_effect(address, shot) as effect:
        effect.on_progress = reports.append
        order = [1006, 1001, 1011, 1012, 1002, 1009, 1005, 1003, 1004, 1007, 1008, 1010]
        results = {f: effect.render(f) for f in order}
    assert effect.jobs_submitted == 3  # one job per chunk of 4, whatever order the host asks in
    whole = _whole_run(shot)
    for frame, result in results.items():
        assert result.path == str(shot / f"clean.{frame:04d}.exr")
        np.testing.assert_array_equal(read_frame(result.path).pixels, whole[frame], err_msg=str(frame))
    assert reports[-1].frames_done == reports[-1].frames_total == 4
    # the host's progress line names what runs the job (the server's `accepted`), as the CLI does before frame one
    assert reports[-1].engine == "engine propagate" and reports[-1].text.endswith("(engine propagate)")


def test_a_changed_dilation_or_feather_recomputes_and_equals_e2fgvi_remove(server_address, shot):
    address, _ = server_address
    chunk = range(FIRST, FIRST + 4)
    with _path_effect(address, shot) as effect:
        default = {r.frame: read_frame(r.path).pixels for r in effect.process_range(chunk[0], chunk[-1])}
        for dilate, feather in ((1, 0), (1, 2)):
            effect.frames_computed.clear()
            effect.set_params(_params(address, matte_dilate=dilate, matte_feather=feather))
            results = effect.process_range(chunk[0], chunk[-1])
            assert effect.frames_computed == list(chunk)  # the cached frames of the old setting are not reused
            whole = _whole_run(shot, "--dilate", str(dilate), "--feather", str(feather), out=f"d{dilate}f{feather}")
            for result in results:
                np.testing.assert_array_equal(
                    read_frame(result.path).pixels, whole[result.frame], err_msg=str(result.frame)
                )
        effect.frames_computed.clear()
        effect.set_params(_params(address, matte_dilate=1, matte_feather=2))
        effect.process_range(chunk[0], chunk[-1])
        assert effect.frames_computed == []  # same settings again: served from the cache
    assert not np.array_equal(default[FIRST], whole[FIRST])  # the settings do change pixels


def test_by_value_equals_by_path_and_is_served_from_the_cache(server_address, shot):
    address, _ = server_address
    plates = {FIRST + i: _plate(i) for i in range(COUNT)}
    mattes = {FIRST + i: _matte(i, empty=i == COUNT - 1) for i in range(COUNT)}
    with (
        RemoveObjectEffect(
            ArrayClip(plates.__getitem__, ["R", "G", "B"]), ArrayClip(mattes.__getitem__, ["Y"]), _params(address)
        ) as by_value,
        _path_effect(address, shot) as by_path,
    ):
        value_frames = by_value.process_range(FIRST, FIRST + 7)
        path_frames = by_path.process_range(FIRST, FIRST + 7)
        assert by_value.jobs_submitted == by_path.jobs_submitted == 1
        for got, on_disk in zip(value_frames, path_frames):
            assert got.path is None and on_disk.pixels is None
            np.testing.assert_array_equal(got.pixels, read_frame(on_disk.path).pixels)
        again = by_value.render(FIRST + 5)  # cached: no second job
        assert by_value.jobs_submitted == 1 and again is value_frames[5]
        assert by_value.cache.stats.hits == 1


def test_the_frame_cache_is_bounded_and_answers_only_its_key():
    from e2fgvi_host.bridge import FrameCache
    from e2fgvi_host.client import ResultFrame

    pixels = np.zeros((4, 4, 3), np.float32)  # 192 bytes a frame
    cache = FrameCache(budget_bytes=2 * pixels.nbytes)
    for frame in (1, 2, 3):
        cache.put(frame, f"k{frame}", ResultFrame(frame, pixels=pixels))
    assert cache.frames() == [2, 3] and cache.stats.evictions == 1 and cache.stats.bytes == 2 * pixels.nbytes
    assert cache.get(2, "other") is None and cache.stats.stale == 1
    assert cache.get(3, "k3").frame == 3 and cache.stats.hits == 1


def test_is_identity_needs_no_server(server_address):
    address, _ = server_address
    mattes = {FIRST + i: _matte(i, empty=i == COUNT - 1) for i in range(COUNT)}
    effect = RemoveObjectEffect(ArrayClip(lambda f: _plate(f - FIRST)), ArrayClip(mattes.__getitem__), _params(address))
    assert effect.is_identity(FIRST + COUNT - 1) and not effect.is_identity(FIRST)
    assert effect.jobs_submitted == 0 and effect.region_of_interest(FIRST) == {"Source": None, "Matte": None}
    assert effect.frames_needed(FIRST) == list(range(FIRST, FIRST + COUNT))  # context 20 covers the tiny shot


def test_a_changed_input_frame_or_parameter_invalidates_exactly_what_it_affects(server_address):
    address, _ = server_address
    count = 30  # long enough that a frame's footprint is not the whole shot
    plates = {FIRST + i: _plate(i) for i in range(count)}
    mattes = {FIRST + i: _matte(i % 12) for i in range(count)}
    params = dataclasses.replace(_params(address), shot=f"{FIRST}-{FIRST + count - 1}", chunk_size=10)
    with RemoveObjectEffect(ArrayClip(plates.__getitem__), ArrayClip(mattes.__getitem__), params) as effect:
        effect.process_range(FIRST, FIRST + count - 1)
        assert effect.frames_computed == list(range(FIRST, FIRST + count))
        changed = FIRST + count - 1
        mattes[changed] = _matte(3)  # repaint the matte of the last frame
        affected = [f for f in range(FIRST, FIRST + count) if changed in effect.frames_needed(f)]
        assert 0 < len(affected) < count
        effect.frames_computed.clear()
        effect.process_range(FIRST, FIRST + count - 1)
        assert effect.frames_computed == affected
        effect.frames_computed.clear()
        effect.set_params(dataclasses.replace(params, chunk_size=3, server=address))  # no pixel changes
        effect.process_range(FIRST, FIRST + 4)
        assert effect.frames_computed == []
        effect.set_params(dataclasses.replace(params, roi_margin=8))  # every frame changes
        effect.render(FIRST)
        assert effect.frames_computed == list(range(FIRST, FIRST + 10))


def test_path_inputs_are_keyed_by_content_not_by_file_time(server_address, shot):
    address, _ = server_address
    with _path_effect(address, shot, out="keyed") as effect:
        effect.render(FIRST)
        matte = shot / f"matte.{FIRST + 2:04d}.exr"
        content = matte.read_bytes()
        matte.write_bytes(content)  # same bytes, new modification time
        os.utime(matte, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        effect.render(FIRST + 1)
        assert effect.jobs_submitted == 1
        write_frame(matte, Frame.from_array(_matte(5), ["Y"]))  # the artist repaints the matte of one frame
        effect.render(FIRST + 1)
        assert effect.jobs_submitted == 2 and effect.cache.stats.stale == 1


@pytest.mark.parametrize("when", ["first", "last"])
def test_cancel_stops_the_job_and_caches_nothing(server_address, shot, when):
    """A cancel asked for while ``process_range`` waits always raises and caches nothing, whoever finishes first.

    Why both moments: on the first progress the cancel usually reaches the server mid-job (the job stops); on the
    server's last progress every window has run and only the final result is still on its way, so the cancel
    cannot stop the job and must still win. Before, the bridge looked at its cancel flag only every 0.1 s and
    returned (and cached) a result that arrived in between: on an idle machine this 12-frame job ends ~0.15 s
    after its first progress, so the "first" case failed there and the "last" one nearly always.
    """
    address, _ = server_address
    effect = _path_effect(address, shot, out=f"cancelled-{when}")

    def cancel_on_progress(report):
        # progress runs on the client's I/O thread, before that thread handles the job's final result
        if when == "first" or report.frames_done >= report.frames_total > 0:
            effect.cancel()

    effect.on_progress = cancel_on_progress
    with effect, pytest.raises(BridgeCancelled, match="cancelled"):
        effect.process_range(FIRST, FIRST + COUNT - 1)
    assert effect.cache.frames() == []
    leftovers = [p.name for p in shot.iterdir() if ".tmp" in p.name]  # the writer's temp names (io.writer)
    assert leftovers == []  # frames the server finished before the cancel are whole files; no temp files remain


def test_a_local_server_is_started_when_none_answers(server_address, shot, monkeypatch):
    _, root = server_address
    command = f"{sys.executable} -m e2fgvi_server.main --output-root {root}"
    monkeypatch.setenv("E2FGVI_SERVER_COMMAND", command)
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    address = f"tcp://127.0.0.1:{free_port()}"
    effect = _path_effect(address, shot, out="started")
    try:
        frame = effect.render(FIRST + COUNT - 1)
        assert effect.server_process is not None and effect.server_process.poll() is None
        assert Path(frame.path).is_file() and effect.jobs_submitted == 1
    finally:
        effect.close()
        if effect.server_process is not None:
            effect.server_process.kill()
            effect.server_process.wait(10)


def test_server_errors_are_one_line_an_artist_reads(server_address, shot, monkeypatch):
    address, _ = server_address
    (shot / "plate.1004.exr").unlink()
    with _path_effect(address, shot) as effect, pytest.raises(BridgeError) as caught:
        effect.render(FIRST)
    assert caught.value.code == "missing_frames"
    assert caught.value.message.startswith("Some input frames are missing: ")
    assert "1004" in caught.value.message and "\n" not in caught.value.message and "Traceback" not in str(caught.value)

    monkeypatch.setenv("E2FGVI_SERVER_COMMAND", f"{sys.executable} -c 'raise SystemExit(3)'")
    dead = f"tcp://127.0.0.1:{free_port()}"
    with _path_effect(dead, shot) as effect, pytest.raises(BridgeError) as caught:
        effect.render(FIRST)
    assert caught.value.code == "server_unavailable"
    assert caught.value.message.startswith(f"No Remove Object server answers: at {dead}")
    assert "exited with code 3" in caught.value.message


# --- the Reference clip ---------------------------------------------------------------------------------------------
REF_FRAME = FIRST + 4
PURPLE, ORANGE = (0.3, 0.02, 0.3), (0.3, 0.2, 0.02)  # purple, orange: below the shot's exposure (values above clip)


def _painted(colour: tuple[float, float, float]) -> np.ndarray:
    """The plate of ``REF_FRAME`` with the matte's region painted ``colour`` (an artist's clean frame, RGB)."""
    painted = _plate(REF_FRAME - FIRST).astype(np.float32)
    painted[_matte(REF_FRAME - FIRST)[..., 0] > 0] = colour
    return painted


def _hole_mean(pixels: np.ndarray) -> np.ndarray:
    return np.asarray(pixels, np.float32)[_matte(REF_FRAME - FIRST)[..., 0] > 0][:, :3].mean(axis=0)


def test_reference_chunks_equal_one_whole_run_and_a_changed_reference_is_never_served_stale(server_address, shot):
    """Every chunk's job sends every reference (inside --shot), so chunks equal one whole run with the same
    --reference; the reference's content is in every frame's key, so repainting it recomputes."""
    address, _ = server_address
    ref = shot / f"ref.{REF_FRAME:04d}.exr"
    write_frame(ref, Frame.from_array(_painted(PURPLE), ["R", "G", "B"]))
    with _path_effect(address, shot, out="withref") as effect:
        effect.set_reference(PathClip(str(shot / "ref.%04d.exr")), str(REF_FRAME))
        order = [1006, 1001, 1011, 1012, 1002, 1009, 1005, 1003, 1004, 1007, 1008, 1010]
        results = {f: read_frame(effect.render(f).path).pixels for f in order}
        assert effect.jobs_submitted == 3 and effect.region_of_interest(FIRST)["Reference"] is None
        green = _whole_run(shot, "--reference", f"{REF_FRAME}={ref}", out="whole_purple")
        for frame in order:
            np.testing.assert_array_equal(results[frame], green[frame], err_msg=str(frame))
        plain = _whole_run(shot, out="whole_plain")
        with_ref, without = _hole_mean(results[REF_FRAME]), _hole_mean(plain[REF_FRAME])
        np.testing.assert_allclose(with_ref, PURPLE, atol=0.01)  # the painted purple fills the hole at its frame
        assert np.abs(without - PURPLE).max() > 0.1

        write_frame(ref, Frame.from_array(_painted(ORANGE), ["R", "G", "B"]))  # the artist repaints it
        effect.frames_computed.clear()
        repainted = read_frame(effect.render(REF_FRAME).path).pixels
        assert effect.frames_computed == list(range(FIRST + 4, FIRST + 8))  # the chunk again, not the cached frames
        blue = _whole_run(shot, "--reference", f"{REF_FRAME}={ref}", out="whole_orange")
        np.testing.assert_array_equal(repainted, blue[REF_FRAME])
        np.testing.assert_allclose(_hole_mean(repainted), ORANGE, atol=0.01)

        effect.set_reference(effect.reference, "")  # no reference frames: the plain result, recomputed
        effect.frames_computed.clear()
        np.testing.assert_array_equal(read_frame(effect.render(FIRST).path).pixels, plain[FIRST])
        assert effect.frames_computed == list(range(FIRST, FIRST + 4))


def test_a_reference_by_value_is_written_to_scratch_and_equals_the_same_reference_by_path(server_address, shot):
    """A host handing pixels (an ArrayClip) gets the same frames as one whose reference is a file: the bridge writes
    the frame to an EXR in its scratch folder (named by content) and removes it when the effect closes."""
    address, _ = server_address
    scratch = shot / "scratch"
    scratch.mkdir()
    painted = _painted(PURPLE)
    write_frame(shot / f"ref.{REF_FRAME:04d}.exr", Frame.from_array(painted, ["R", "G", "B"]))
    by_value = _path_effect(address, shot, out="byvalue")
    by_value.set_reference(ArrayClip({REF_FRAME: painted}.__getitem__, ["R", "G", "B"]), [REF_FRAME])
    by_value.scratch = str(scratch)
    with by_value, _path_effect(address, shot, out="bypath") as by_path:
        by_path.set_reference(PathClip(str(shot / "ref.%04d.exr")), str(REF_FRAME))
        got = [read_frame(r.path).pixels for r in by_value.process_range(FIRST, FIRST + 7)]
        expected = [read_frame(r.path).pixels for r in by_path.process_range(FIRST, FIRST + 7)]
        (written,) = scratch.iterdir()
        assert written.name.startswith(f"reference.{REF_FRAME}.") and written.suffix == ".exr"
        np.testing.assert_array_equal(read_frame(written).pixels, painted)
    for ours, theirs in zip(got, expected):
        np.testing.assert_array_equal(ours, theirs)
    assert list(scratch.iterdir()) == []  # closed: the written reference is gone


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_an_integer_reference_by_value_is_written_as_a_png_of_its_depth_and_equals_that_png_by_path(
    server_address, shot, dtype
):
    """An 8- or 16-bit reference is display-referred: written as float it would be read as scene-linear (and
    brightened); the bridge writes a PNG of its depth, which the server reads as it reads the artist's PNG."""
    address, _ = server_address
    scratch = shot / "scratch"
    scratch.mkdir()
    painted = np.round(np.clip(_painted(PURPLE), 0.0, 1.0) * np.iinfo(dtype).max).astype(dtype)
    write_frame(shot / f"ref_int.{REF_FRAME:04d}.png", Frame.from_array(painted, ["R", "G", "B"]))
    by_value = _path_effect(address, shot, out="byvalue_int")
    by_value.set_reference(ArrayClip({REF_FRAME: painted}.__getitem__, ["R", "G", "B"]), [REF_FRAME])
    by_value.scratch = str(scratch)
    with by_value, _path_effect(address, shot, out="bypath_int") as by_path:
        by_path.set_reference(PathClip(str(shot / "ref_int.%04d.png")), str(REF_FRAME))
        got = [read_frame(r.path).pixels for r in by_value.process_range(FIRST + 4, FIRST + 7)]
        expected = [read_frame(r.path).pixels for r in by_path.process_range(FIRST + 4, FIRST + 7)]
        (written,) = scratch.iterdir()
        assert written.name.startswith(f"reference.{REF_FRAME}.") and written.suffix == ".png"
        back = read_frame(written).pixels
        assert back.dtype == dtype and back.shape == painted.shape
        np.testing.assert_array_equal(back, painted)
    for ours, theirs in zip(got, expected):
        np.testing.assert_array_equal(ours, theirs)
    plain = _whole_run(shot, out="whole_plain_int")
    assert not np.array_equal(got[0], plain[REF_FRAME])  # the reference did take part


def test_reference_frames_outside_the_shot_or_without_a_clip_are_refused_before_any_job(server_address, shot):
    address, _ = server_address
    with _path_effect(address, shot) as effect:
        effect.set_reference(None, "1005")
        with pytest.raises(BridgeError, match=r"^Reference frames \(reference_frames\) are set: connect a Reference"):
            effect.render(FIRST)
        effect.set_reference(PathClip(str(shot / "plate.%04d.exr")), "1005,2000")
        with pytest.raises(BridgeError, match="frame 2000 is outside the shot range 1001-1012"):
            effect.render(FIRST)
        with pytest.raises(BridgeError, match="Reference frames"):
            effect.set_reference(effect.reference, "10-x")
        assert effect.jobs_submitted == 0


def _grainy_plate(index: int) -> np.ndarray:
    """The plate with fresh grain every frame (seeded by the frame): what ``regrain`` measures and matches."""
    noise = np.random.default_rng(FIRST + index).standard_normal((*SIZE, 3)).astype(np.float32)
    return _plate(index).astype(np.float32) + 0.02 * noise


def test_regrain_is_a_bool_parameter_and_chunks_with_it_equal_one_whole_run(server_address, tmp_path):
    (regrain,) = [p for p in describe()["params"] if p["name"] == "regrain"]
    assert (regrain["type"], regrain["default"], regrain["label"], regrain["request"]) == (
        "bool",
        False,
        "Regrain",
        True,
    )
    assert BridgeParams().regrain is False and BridgeParams().request_fields()["regrain"] is False
    for given, read in ((True, True), (1, True), ("on", True), ("false", False), (0, False), ("", False)):
        assert BridgeParams.from_mapping({"regrain": given}).regrain is read, given  # checkboxes, JSON, text
    for wrong in ("maybe", 2):
        with pytest.raises(BridgeError, match=r"Regrain \(regrain\) must be on or off"):
            BridgeParams.from_mapping({"regrain": wrong})
    with pytest.raises(BridgeError, match=r"Regrain \(regrain\) must be a bool"):
        BridgeParams(regrain=1)
    assert BridgeParams(regrain=True).digest() != BridgeParams().digest()  # the frame cache tells them apart

    address, root = server_address
    folder = Path(root) / f"{tmp_path.name}-grainy"
    folder.mkdir()
    plates = {FIRST + i: _grainy_plate(i) for i in range(COUNT)}
    mattes = {FIRST + i: _matte(i) for i in range(COUNT)}
    for frame, plate in plates.items():
        write_frame(folder / f"plate.{frame:04d}.exr", Frame.from_array(plate, ["R", "G", "B"]))
        write_frame(folder / f"matte.{frame:04d}.exr", Frame.from_array(mattes[frame], ["Y"]))
    order = [1006, 1001, 1011, 1012, 1002, 1009, 1005, 1003, 1004, 1007, 1008, 1010]
    with _path_effect(address, folder, regrain=True) as effect:
        results = {f: effect.render(f) for f in order}
    assert effect.jobs_submitted == 3
    whole, plain = _whole_run(folder, "--regrain", out="whole"), _whole_run(folder, out="plain")
    for frame, result in results.items():
        pixels = read_frame(result.path).pixels
        np.testing.assert_array_equal(pixels, whole[frame], err_msg=str(frame))
        assert read_frame(result.path).metadata["e2fgvi:regrain"] == "true"
        hole = mattes[frame][..., 0] > 0
        # The fill already carries some of the plate's grain (propagated from other frames): regrain tops it up to
        # the grain of the plate around the hole, neither leaving it short nor piling grain on grain.
        around = support.hole_detail(plates[frame], support.ring_around(hole, 2, 6))
        regrained, before = support.hole_detail(pixels, hole), support.hole_detail(plain[frame], hole)
        assert regrained > before and abs(regrained - around) < abs(before - around), (frame, regrained, before, around)
    with RemoveObjectEffect(  # by value: the plug-ins' way (only the frames the server names are sent)
        ArrayClip(plates.__getitem__, ["R", "G", "B"]),
        ArrayClip(mattes.__getitem__, ["Y"]),
        _params(address, regrain=True),
    ) as by_value:
        for got in by_value.process_range(FIRST + 4, FIRST + 7):
            np.testing.assert_array_equal(got.pixels, whole[got.frame], err_msg=str(got.frame))

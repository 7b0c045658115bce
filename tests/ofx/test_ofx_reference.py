"""The OpenFX plug-in's Reference clip: clean frames an artist painted, through the built binary and a real server.

As the bridge does (tests/host_plugin/test_bridge.py): every chunk's job sends every listed reference frame (written
by the plug-in as a float EXR in the user's private scratch folder), so chunks rendered in any order equal one whole
``e2fgvi remove --reference N=PATH`` bit for bit; the references' content is in every frame's cache key, so a
repainted reference recomputes; what cannot be sent is refused in one line, with no job and no crash.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from ofx_host import HOST_ERRORS, STAT_FAILED, STAT_OK, Host
from ofx_support import COUNT, FIRST, SHOT, frames_of, whole_run

from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.testing import make_synthetic_shot, write_png_shot
from e2fgvi_host.client import Client

GENERAL = "OfxImageEffectContextGeneral"
LAST = FIRST + COUNT - 1
REF_FRAME = FIRST + 4
PURPLE, ORANGE = (0.3, 0.02, 0.3), (0.3, 0.2, 0.02)  # below the plate's exposure, far from the square's red


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """The plug-in's private scratch folder under a temp root of this test (``$TMPDIR``, as Python's tempfile)."""
    root = tmp_path / "temp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    return root / f"e2fgvi-{os.getuid()}" / "bridge"


def _jobs_completed(server) -> int:
    with Client(server.address) as client:
        return int(client.status()["jobs_completed"])


def _painted(shot: Path, colour: tuple[float, float, float], alpha: np.ndarray | None = None) -> np.ndarray:
    """The plate of REF_FRAME with its matte's region painted ``colour`` (an artist's clean frame), float RGB(A)."""
    painted = frames_of(shot, "plate.%04d.exr")(REF_FRAME).astype(np.float32)
    painted[_hole(shot)] = colour
    return painted if alpha is None else np.concatenate([painted, alpha[..., None].astype(np.float32)], -1)


def _hole(shot: Path) -> np.ndarray:
    return frames_of(shot, "matte.%04d.exr")(REF_FRAME)[..., 0] > 0


def _reference_clip(shot: Path, painted: dict[int, np.ndarray], plate: str = "plate.%04d.exr"):
    """A Reference input as a host gives it: the painted frames where painted, the plate elsewhere (a paint branch)."""
    plate = frames_of(shot, plate)
    return lambda frame: painted[frame] if frame in painted else plate(frame).astype(painted[REF_FRAME].dtype)


def _instance(host: Host, server, shot: Path, reference=None, reference_range=(FIRST, LAST),
              plate: str = "plate.%04d.exr", matte: str = "matte.%04d.exr", **params):  # fmt: skip
    inputs = {"Source": (frames_of(shot, plate), (FIRST, LAST)), "Matte": (frames_of(shot, matte), (FIRST, LAST))}
    if reference is not None:
        inputs["Reference"] = (reference, reference_range)
    effect = host.create_instance(GENERAL, inputs)
    values = {"engine": "propagate", "shot": SHOT, "server": server.address, "chunk_size": 4, **params}
    for name, value in values.items():
        host.set_param(effect, name, value)
    return effect


def _hole_mean(pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
    return np.asarray(pixels, np.float32)[hole][:, :3].mean(axis=0)


def test_reference_chunks_equal_one_whole_run_and_a_repainted_reference_recomputes(
    plugin_binary, server, shot, whole, scratch
):
    purple = _painted(shot, PURPLE)
    ref = shot / f"ref_purple.{REF_FRAME:04d}.exr"
    write_frame(ref, Frame.from_array(purple, ["R", "G", "B"]))
    with_purple = whole_run(shot, "--reference", f"{REF_FRAME}={ref}", out="whole_purple.%04d.exr")
    host = Host(plugin_binary)
    host.load()
    painted = {REF_FRAME: purple}
    effect = _instance(host, server, shot, _reference_clip(shot, painted), reference_frames=str(REF_FRAME))
    status, needed = host.frames_needed(effect, LAST)
    assert status == STAT_OK and needed.values["OfxImageClipPropFrameRange_Reference"] == [REF_FRAME, REF_FRAME]
    before = _jobs_completed(server)
    order = [1006, 1001, 1011, 1012, 1002, 1009, 1005, 1003, 1004, 1007, 1008, 1010]
    for frame in order:
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        np.testing.assert_array_equal(image, with_purple[frame], err_msg=str(frame))
    assert _jobs_completed(server) - before == 3  # one job per chunk of 4, each with the reference
    hole = _hole(shot)
    np.testing.assert_allclose(_hole_mean(with_purple[REF_FRAME], hole), PURPLE, atol=0.01)  # the painted colour
    assert np.abs(_hole_mean(whole[REF_FRAME], hole) - PURPLE).max() > 0.1  # ...which the plain run does not give
    (written,) = scratch.iterdir()  # written once for the three jobs, private, named by frame and content
    assert written.name.startswith(f"reference.{REF_FRAME}.") and written.suffix == ".exr"
    assert (os.stat(scratch).st_mode & 0o777) == 0o700 and (os.stat(scratch.parent).st_mode & 0o777) == 0o700
    np.testing.assert_array_equal(read_frame(written).pixels, purple)  # a float EXR OpenImageIO reads back exactly

    orange = _painted(shot, ORANGE)
    painted[REF_FRAME] = orange  # the artist repaints it upstream
    ref = shot / f"ref_orange.{REF_FRAME:04d}.exr"
    write_frame(ref, Frame.from_array(orange, ["R", "G", "B"]))
    with_orange = whole_run(shot, "--reference", f"{REF_FRAME}={ref}", out="whole_orange.%04d.exr")
    before = _jobs_completed(server)
    for frame in (REF_FRAME, FIRST):
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        np.testing.assert_array_equal(image, with_orange[frame], err_msg=str(frame))
    assert _jobs_completed(server) - before == 2  # both chunks recomputed: no stale purple from the cache
    np.testing.assert_allclose(_hole_mean(with_orange[REF_FRAME], hole), ORANGE, atol=0.01)

    host.set_param(effect, "reference_frames", "")  # no reference frames: the plain result, recomputed
    status, image = host.render(effect, REF_FRAME)
    assert status == STAT_OK and _jobs_completed(server) - before == 3
    np.testing.assert_array_equal(image, whole[REF_FRAME])
    assert host.messages == [] and HOST_ERRORS == []
    assert all(clip.images_out == 0 for clip in effect.clips.values())
    assert len(list(scratch.iterdir())) == 2
    assert host.destroy(effect) == STAT_OK
    assert list(scratch.iterdir()) == []  # the instance's reference files go with it


def test_an_rgba_reference_trusts_only_its_alpha(plugin_binary, server, shot, scratch):
    hole = _hole(shot)
    alpha = np.ones(hole.shape, np.float32)
    columns = np.flatnonzero(hole.any(axis=0))
    alpha[:, : (columns[0] + columns[-1]) // 2] = 0.0  # the left half of the painted hole is not to be trusted
    painted = _painted(shot, PURPLE, alpha)
    ref = shot / f"ref_rgba.{REF_FRAME:04d}.exr"
    write_frame(ref, Frame.from_array(painted, ["R", "G", "B", "A"]))
    expected = whole_run(shot, "--reference", f"{REF_FRAME}={ref}", out="whole_rgba.%04d.exr")
    host = Host(plugin_binary)
    host.load()
    effect = _instance(host, server, shot, _reference_clip(shot, {REF_FRAME: painted}), reference_frames=str(REF_FRAME))
    for frame in (REF_FRAME, LAST):
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        np.testing.assert_array_equal(image, expected[frame], err_msg=str(frame))
    (written,) = scratch.iterdir()
    assert list(read_frame(written).channels) == ["R", "G", "B", "A"]
    trusted, untrusted = hole & (alpha > 0), hole & (alpha == 0)
    np.testing.assert_allclose(_hole_mean(expected[REF_FRAME], trusted), PURPLE, atol=0.01)
    assert np.abs(_hole_mean(expected[REF_FRAME], untrusted) - PURPLE).max() > 0.05  # alpha 0: not copied
    assert host.destroy(effect) == STAT_OK


@pytest.mark.parametrize(
    ("frames", "connected", "expected"),
    [
        ("1005", False, "Reference frames (reference_frames) are set: connect a Reference input"),
        ("1005,2000", True, "Reference frames (reference_frames): frame 2000 is outside the shot range 1001-1012"),
        ("1005,1007", True, "the Reference input gives no image at frame 1007"),
        ("10-x", True, "Reference frames (reference_frames): cannot parse '10-x'"),
    ],
    ids=["no-clip", "outside-shot", "frame-not-given", "unparsable"],
)
def test_reference_frames_that_cannot_be_sent_give_one_line_and_no_job(
    plugin_binary, server, shot, scratch, frames, connected, expected
):
    host = Host(plugin_binary)
    host.load()
    clip = _reference_clip(shot, {REF_FRAME: _painted(shot, PURPLE)}) if connected else None
    effect = _instance(host, server, shot, clip, reference_range=(REF_FRAME, REF_FRAME), reference_frames=frames)
    before = _jobs_completed(server)
    status, _ = host.render(effect, 1002)
    assert status == STAT_FAILED
    assert len(host.messages) == 1, host.messages
    kind, text = host.messages[0]
    assert kind == "OfxMessageError" and "\n" not in text and expected in text, text
    assert _jobs_completed(server) == before and HOST_ERRORS == []
    assert all(c.images_out == 0 for c in effect.clips.values())
    assert host.destroy(effect) == STAT_OK
    assert not scratch.exists() or list(scratch.iterdir()) == []


def test_a_scratch_folder_others_may_write_is_refused_not_used(plugin_binary, server, shot, scratch):
    """Another user could plant a link in a shared folder: as the bridge's ``ensure_private_folder``, the plug-in
    writes only into a folder of this user nobody else may write to, and says so in one line otherwise."""
    scratch.parent.mkdir(mode=0o700)
    scratch.parent.chmod(0o777)
    host = Host(plugin_binary)
    host.load()
    clip = _reference_clip(shot, {REF_FRAME: _painted(shot, PURPLE)})
    effect = _instance(host, server, shot, clip, reference_frames=str(REF_FRAME))
    status, _ = host.render(effect, FIRST)
    assert status == STAT_FAILED and len(host.messages) == 1, host.messages
    assert "is not a private folder of this user" in host.messages[0][1] and "\n" not in host.messages[0][1]
    assert not scratch.exists()
    assert host.destroy(effect) == STAT_OK


def test_an_8_bit_reference_is_sent_as_8_bit_values_and_equals_a_png_reference_to_the_cli(
    plugin_binary, server, tmp_path, scratch
):
    frames, mattes = make_synthetic_shot(COUNT, 40, 56, seed=3)
    folder = write_png_shot(tmp_path, frames, mattes, first=FIRST)
    hole = frames_of(folder, "matte.%04d.png")(REF_FRAME)[..., 0] > 0
    painted = frames_of(folder, "plate.%04d.png")(REF_FRAME).copy()
    painted[hole] = np.round(np.array(PURPLE) * 255).astype(np.uint8)  # painted in the host's 8-bit display values
    ref = folder / f"ref_8bit.{REF_FRAME:04d}.png"
    write_frame(ref, Frame.from_array(painted, ["R", "G", "B"]))
    expected = whole_run(
        folder, "--reference", f"{REF_FRAME}={ref}", plate="plate.%04d.png", matte="matte.%04d.png", out="w.%04d.png"
    )
    host = Host(plugin_binary)
    host.load()
    clip = _reference_clip(folder, {REF_FRAME: painted}, "plate.%04d.png")
    effect = _instance(host, server, folder, clip, reference_frames=str(REF_FRAME), plate="plate.%04d.png",
                       matte="matte.%04d.png")  # fmt: skip
    for frame in (REF_FRAME, 1012, FIRST):
        status, image = host.render(effect, frame)
        assert status == STAT_OK, host.messages
        assert image.dtype == np.uint8
        np.testing.assert_array_equal(image, expected[frame], err_msg=str(frame))
    # The painted 8-bit values land in the hole as they are (not read as scene-linear and brightened).
    assert np.abs(_hole_mean(expected[REF_FRAME], hole) / 255.0 - PURPLE).max() < 0.01
    assert host.destroy(effect) == STAT_OK

"""The Resolve Studio script driven through the ``DaVinciResolveScript`` stand-in against a real ``e2fgvi-server``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import DaVinciResolveScript as dvr
import host_test_support as support

from e2fgvi_host.bridge import BridgeParams
from e2fgvi_host.resolve import adapter, resolve_script

PAINT = (0.4, 0.05, 0.4)  # the reference hole's colour: far from the background, under the shot's exposure (0.45)


@pytest.fixture
def timeline(shot):
    """Plate on V1 at timeline frame 100, its matte on V2 over the same frames, playhead on the plate."""
    dvr.standin.reset()
    frames = shot["last"] - shot["first"] + 1
    plate = dvr.standin.add_media(shot["plate"], shot["first"], shot["last"])
    matte = dvr.standin.add_media(shot["matte"], shot["first"], shot["last"])
    dvr.standin.place(plate, 1, 100, frames)
    dvr.standin.place(matte, 2, 100, frames)
    dvr.standin.playhead = 102
    yield dvr.standin.timeline
    dvr.standin.reset()


def test_cleans_the_clip_and_places_it_above_the_matte(timeline, shot, server, tmp_path):
    plan = resolve_script.run(adapter.connect(), BridgeParams(engine="propagate", server=server.address), log=[].append)

    assert (plan.first, plan.last, plan.track, plan.record_frame) == (shot["first"], shot["last"], 3, 100)
    [placed] = timeline.GetItemListInTrack("video", 3)
    assert (placed.GetStart(), placed.GetDuration()) == (100, shot["last"] - shot["first"] + 1)
    assert placed.GetMediaPoolItem().GetClipProperty("File Path").endswith(f"[{shot['first']}-{shot['last']}].exr")

    ref = tmp_path / "ref" / "ref.%04d.exr"
    done = support.cli_remove(
        "--plate", shot["plate"], "--matte", shot["matte"], "--out", str(ref), "--engine", "propagate"
    )
    assert done.returncode == 0, done.stderr
    for frame in range(shot["first"], shot["last"] + 1):
        np.testing.assert_array_equal(support.read_exr(plan.out % frame), support.read_exr(str(ref) % frame))


def test_a_reference_above_the_matte_is_a_reference_frame_and_the_result_goes_above_it(
    timeline, shot, server, tmp_path
):
    """A painted still on the track above the matte, trimmed to its frame, is the reference there: the hole at that
    frame takes the painted colour, the result equals ``e2fgvi remove --reference N=PATH`` bit for bit and goes on the
    track above the reference. With the playhead on the reference (Resolve's current item) the plate is still found,
    on a second run too (the first result on top)."""
    at = shot["first"] + 2  # the plate frame at timeline frame 102
    hole = support.read_exr(shot["matte"] % at)[..., 0] > 0
    painted = support.read_exr(shot["plate"] % at)
    painted[hole, :3] = PAINT
    still = tmp_path / "paint" / "clean.exr"
    support.write_exr(still, painted, ("R", "G", "B", "A"))
    [media] = dvr.standin.media_pool.ImportMedia([str(still)])
    dvr.standin.place(media, 3, 102, 1)

    plan = resolve_script.run(adapter.connect(), BridgeParams(engine="propagate", server=server.address), log=[].append)

    assert (plan.reference, plan.track) == ({at: str(still)}, 4)
    [placed] = timeline.GetItemListInTrack("video", 4)
    assert (placed.GetStart(), placed.GetDuration()) == (100, shot["last"] - shot["first"] + 1)
    ref = tmp_path / "ref" / "ref.%04d.exr"
    done = support.cli_remove(
        "--plate", shot["plate"], "--matte", shot["matte"], "--out", str(ref), "--engine", "propagate",
        "--reference", f"{at}={still}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for frame in range(shot["first"], shot["last"] + 1):
        np.testing.assert_array_equal(support.read_exr(plan.out % frame), support.read_exr(str(ref) % frame))
    paint_error = np.abs(support.read_exr(plan.out % at)[hole, :3] - PAINT).mean()
    assert paint_error < 0.02, paint_error  # a fill without the reference is about 0.3 away

    plate, matte = resolve_script.find_clips(timeline)  # the playhead on the first result, over the reference
    again = resolve_script.plan_removal(
        plate, matte, str(tmp_path / "again"), resolve_script.find_reference(timeline, matte)
    )
    assert (plate.track, matte.track, again.reference, again.track) == (1, 2, {at: str(still)}, 4)


def test_a_numbered_reference_sequence_gives_the_file_it_shows_at_each_plate_frame(timeline, shot, tmp_path):
    numbered = tmp_path / "paint" / "clean.%04d.exr"
    for number in (7, 8, 9):
        support.write_exr(Path(str(numbered) % number), np.zeros((2, 2, 3), np.float32), ("R", "G", "B"))
    media = dvr.standin.add_media(str(numbered), 7, 9)
    dvr.standin.place(media, 3, 103, 2, left_offset=1)  # shows clean.0008 at timeline 103, clean.0009 at 104
    plate, matte = resolve_script.find_clips(timeline)
    plan = resolve_script.plan_removal(
        plate, matte, str(tmp_path / "out"), resolve_script.find_reference(timeline, matte)
    )
    assert plan.reference == {shot["first"] + 3: str(numbered) % 8, shot["first"] + 4: str(numbered) % 9}


def test_playhead_over_plate_and_matte_finds_both(timeline, shot):
    plate, matte = resolve_script.find_clips(timeline)  # Resolve's current item is the matte, on top
    assert (plate.track, matte.track) == (1, 2)
    assert resolve_script.sequence_of(plate) == (shot["plate"], shot["first"])


def test_trimmed_clip_cleans_only_what_the_timeline_shows(shot):
    dvr.standin.reset()
    plate = dvr.standin.add_media(shot["plate"], shot["first"], shot["last"])
    matte = dvr.standin.add_media(shot["matte"], shot["first"], shot["last"])
    dvr.standin.place(plate, 1, 50, 3, left_offset=2)
    dvr.standin.place(matte, 2, 50, 3, left_offset=2)
    dvr.standin.playhead = 50
    plan = resolve_script.plan_removal(*resolve_script.find_clips(dvr.standin.timeline))
    assert (plan.first, plan.last) == (shot["first"] + 2, shot["first"] + 4)


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        ("no_matte", "no matte clip on V2 above"),
        ("shifted", "must cover the same timeline frames"),
        ("movie", "is not an image sequence"),
        ("renumbered", "number the matte sequence like the plate"),
        ("still_over_frames", "is one still shown at 3 plate frames (1002-1004): trim it to the frame you painted"),
        ("three_alike", "V1, V2 and V3 all hold a clip over timeline frames 0-5, so plate, matte and reference cannot"),
    ],
)
def test_unusable_timelines_give_one_line(shot, tmp_path, arrange, expected, capsys):
    dvr.standin.reset()
    plate = dvr.standin.add_media(shot["plate"], shot["first"], shot["last"])
    dvr.standin.place(plate, 1, 0, 6)
    if arrange in ("still_over_frames", "three_alike"):
        dvr.standin.place(dvr.standin.add_media(shot["matte"], shot["first"], shot["last"]), 2, 0, 6)
        still = tmp_path / "clean.exr"
        support.write_exr(still, np.zeros((2, 2, 3), np.float32), ("R", "G", "B"))
        [media] = dvr.standin.media_pool.ImportMedia([str(still)])
        dvr.standin.place(media, 3, *((1, 3) if arrange == "still_over_frames" else (0, 6)))  # a still's length
    if arrange == "shifted":
        dvr.standin.place(dvr.standin.add_media(shot["matte"], shot["first"], shot["last"]), 2, 1, 5)
    if arrange == "movie":
        movie = tmp_path / "clip.mov"
        movie.write_bytes(b"")
        [media] = dvr.standin.media_pool.ImportMedia([str(movie)])
        dvr.standin.place(media, 2, 0, 6)
    if arrange == "renumbered":
        dvr.standin.place(dvr.standin.add_media(shot["matte"], shot["first"], shot["last"]), 2, 0, 6, left_offset=1)
    tracks = [list(track) for track in dvr.standin.timeline.tracks]
    assert resolve_script.main(str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.startswith("Remove Object: ") and expected in err and err.count("\n") == 1
    assert dvr.standin.timeline.tracks == tracks  # nothing placed


def test_settings_file_and_resolve_not_running(tmp_path, capsys):
    (tmp_path / resolve_script.SETTINGS_FILE).write_text(json.dumps({"engine": "propagate", "roi_margin": 12}))
    assert resolve_script.load_settings(str(tmp_path)) == BridgeParams(engine="propagate", roi_margin=12)
    (tmp_path / resolve_script.SETTINGS_FILE).write_text(json.dumps({"engine": "fast"}))
    assert resolve_script.main(str(tmp_path)) == 1
    assert "Engine (engine) must be one of" in capsys.readouterr().err
    (tmp_path / resolve_script.SETTINGS_FILE).unlink()
    dvr.standin.running = False
    try:
        assert resolve_script.main(str(tmp_path)) == 1
    finally:
        dvr.standin.reset()
    assert "Resolve does not answer scripting calls" in capsys.readouterr().err


def test_started_from_the_scripts_menu_uses_the_resolve_object_it_is_given(
    timeline, shot, server, tmp_path, monkeypatch, capsys
):
    """Resolve's Workspace > Scripts hands the script a ``resolve`` global; DaVinciResolveScript need not import."""
    import __main__

    monkeypatch.setitem(sys.modules, "DaVinciResolveScript", None)  # `import` raises ImportError, as inside Resolve
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path / "no-resolve-here"))
    (tmp_path / resolve_script.SETTINGS_FILE).write_text(json.dumps({"engine": "propagate", "server": server.address}))
    assert resolve_script.main(str(tmp_path)) == 1  # outside Resolve without its module: one line, never a traceback
    assert "set RESOLVE_SCRIPT_API" in capsys.readouterr().err

    launcher = {"resolve": dvr.Resolve(), "resolve_script": resolve_script, "folder": str(tmp_path)}
    exec("code = resolve_script.main(folder)", launcher)  # noqa: S102 - the launcher script, with Resolve's global
    assert launcher["code"] == 0, capsys.readouterr().err
    assert len(timeline.GetItemListInTrack("video", 3)) == 1
    monkeypatch.setattr(__main__, "resolve", dvr.Resolve(), raising=False)  # a script run as __main__
    assert resolve_script.main(str(tmp_path)) == 0, capsys.readouterr().err
    assert len(timeline.GetItemListInTrack("video", 4)) == 1  # a second run: a new track, a new version folder
    monkeypatch.delattr(__main__, "resolve")
    assert resolve_script.main(str(tmp_path), resolve=dvr.Resolve()) == 0  # or passed in by the launcher
    assert len(timeline.GetItemListInTrack("video", 5)) == 1


def test_results_go_where_the_user_can_write(timeline, shot, server, tmp_path, monkeypatch):
    """A plate folder the user cannot write to (here: ``e2fgvi`` there is a file, so the folder cannot be made)
    sends the result to ~/e2fgvi/resolve; each run gets a new version folder; ``output_folder`` overrides both."""
    from e2fgvi_server import protocol

    monkeypatch.setenv(protocol.ACCESS_KEY_FILE_ENV, protocol.default_access_key_file())  # the server's key stays
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    blocked = Path(shot["plate"]).parent / resolve_script.OUTPUT_FOLDER
    blocked.write_text("not a folder")
    params = BridgeParams(engine="propagate", server=server.address)
    plan = resolve_script.run(adapter.connect(), params, log=[].append)
    assert Path(plan.out).parent == home / "e2fgvi" / "resolve" / "plate_clean_v001"
    assert Path(plan.out % shot["first"]).is_file()
    again = resolve_script.plan_removal(*resolve_script.find_clips(timeline))
    assert Path(again.out).parent.name == "plate_clean_v002"
    chosen = resolve_script.plan_removal(*resolve_script.find_clips(timeline), str(tmp_path / "mine"))
    assert Path(chosen.out).parent == tmp_path / "mine" / "plate_clean_v001"
    assert blocked.read_text() == "not a folder"

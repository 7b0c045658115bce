"""The Blender add-on in real Blender (``bpy`` 5.0 as a module) against a real ``e2fgvi-server`` process.

Each test runs this file as a script in a fresh interpreter (``bpy`` is heavy and keeps global state), which
registers the add-on, builds a scene with a strip of the shared tennis clip (20 frames) and its matte strip, runs
``bpy.ops.e2fgvi.remove_object()`` (synchronous, as in ``blender -b``) and prints what it found as JSON.
The result must equal ``e2fgvi remove`` on the same input, pixel for pixel.

    python tests/host_plugin/test_blender_addon.py picture docs/img/blender_remove_object.png ADDRESS
makes the before/after picture of docs/hosts.md from such a run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from e2fgvi_core.testing import PROJECT_ROOT, SHARED_DIR

CLIP = SHARED_DIR / "footage" / "tennis"
FRAMES = 20
MOVIE_FRAMES = 8
TWICE_FRAMES = 4  # the "press it again" scenario: short, it runs the operator twice
REF_SHOT_FRAMES, REF_AT, PAINT = 6, 3, (200, 40, 200)  # the reference scenario: a painted clean frame at frame 3
REF_HOLE = (slice(16, 32), slice(24, 44))
REF_FILE = f"clean.{REF_AT:04d}.png"  # numbered: the compositor plays it as a one-file image sequence

pytestmark = pytest.mark.blender


# --- the part that runs inside Blender's Python ------------------------------------------------------------------
def build_scene(bpy, matte: bool = True, frames: int = FRAMES):
    """A scene with the plate strip (channel 1, active) and the matte strip (channel 2, selected), from frame 1."""
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    plate = editor.strips.new_image("plate", str(CLIP / "frames" / "00000.png"), 1, 1)
    for i in range(1, frames):
        plate.elements.append(f"{i:05d}.png")
    strips = [plate]
    if matte:
        mask = editor.strips.new_image("matte", str(CLIP / "masks" / "00000.png"), 2, 1)
        for i in range(1, frames):
            mask.elements.append(f"{i:05d}.png")
        strips.append(mask)
    for strip in editor.strips:
        strip.select = strip in strips
    editor.active_strip = plate
    scene.frame_start, scene.frame_end = 1, frames
    return scene


def make_movie(bpy, path: str, frames: int) -> None:
    """An H.264 movie of the clip's first ``frames`` frames, rendered by Blender itself."""
    scene = bpy.data.scenes.new("movie-maker")
    editor = scene.sequence_editor_create()
    strip = editor.strips.new_image("frames", str(CLIP / "frames" / "00000.png"), 1, 1)
    for i in range(1, frames):
        strip.elements.append(f"{i:05d}.png")
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 432, 240, 100
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.image_settings.media_type = "VIDEO"
    scene.render.image_settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format, scene.render.ffmpeg.codec = "MPEG4", "H264"
    scene.view_settings.view_transform = "Standard"
    scene.render.filepath = path
    bpy.ops.render.render(animation=True, scene=scene.name)
    bpy.data.scenes.remove(scene)


def build_movie_scene(bpy, movie: str, frames: int):
    """The movie as the plate strip (channel 1, from frame 1) and the image-sequence matte strip above it."""
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    plate = editor.strips.new_movie("movie", movie, 1, 1)
    mask = editor.strips.new_image("matte", str(CLIP / "masks" / "00000.png"), 2, 1)
    for i in range(1, frames):
        mask.elements.append(f"{i:05d}.png")
    for strip in editor.strips:
        strip.select = True
    editor.active_strip = plate
    return scene


def describe_strips(scene) -> list[dict]:
    return [
        {
            "name": s.name,
            "channel": s.channel,
            "start": s.frame_final_start,
            "duration": s.frame_final_duration,
            "type": s.type,
            "directory": getattr(s, "directory", None),
            "files": [e.filename for e in s.elements] if s.type == "IMAGE" else [],
        }
        for s in sorted(scene.sequence_editor.strips, key=lambda s: s.channel)
    ]


def scenario(kind: str, address: str, out_dir: str) -> dict:
    import bpy

    import e2fgvi_host.blender as addon
    from e2fgvi_host.blender import adapter

    addon.register()
    if kind == "movie":
        movie = os.path.join(out_dir, "..", f"{Path(out_dir).name}-movie.mp4")
        make_movie(bpy, movie, MOVIE_FRAMES)
        scene = build_movie_scene(bpy, movie, MOVIE_FRAMES)
        editor = scene.sequence_editor
        # the frames the add-on will send, rendered the same way, for the test's `e2fgvi remove` run
        matte_sequence = adapter.strip_sequence(editor.strips["matte"], "the matte")
        adapter.render_strip(scene, editor.strips["movie"], out_dir + "-frames", matte_sequence, matte=False)
    else:
        scene = build_scene(bpy, matte=kind != "missing_matte", frames=TWICE_FRAMES if kind == "twice" else FRAMES)
    settings = scene.e2fgvi
    report_defaults = {
        p["name"]: getattr(settings, p["name"]) for p in adapter.describe()["params"] if p["name"] != "shot"
    }
    settings.engine, settings.server, settings.output_dir = "propagate", address, out_dir
    report: dict = {"kind": kind, "defaults": report_defaults}
    if kind == "cancel":

        def cancel_when_running():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                job = adapter._RUNNING
                if job is not None and job.progress is not None:
                    report["cancelled_at"] = job.progress.frames_done
                    adapter.cancel_running()
                    return
                time.sleep(0.01)

        threading.Thread(target=cancel_when_running, daemon=True).start()
    try:
        report["result"] = sorted(bpy.ops.e2fgvi.remove_object())
    except RuntimeError as exc:  # what a script sees for an operator that reported an error
        report["error"] = str(exc)
    if kind == "twice":  # the artist presses Remove Object again right away, selection as the first run left it
        report["selected"] = sorted(s.name for s in scene.sequence_editor.strips if s.select)
        try:
            report["again"] = sorted(bpy.ops.e2fgvi.remove_object())
        except RuntimeError as exc:
            report["again"] = str(exc)
    report["strips"] = describe_strips(scene)
    if kind in ("run", "twice"):
        tree = bpy.data.node_groups.new("Compositing", "CompositorNodeTree")
        scene.compositing_node_group = tree
        plate_image = bpy.data.images.load(str(CLIP / "frames" / "00000.png"))
        matte_image = bpy.data.images.load(str(CLIP / "masks" / "00000.png"))
        nodes = []
        for image in (plate_image, matte_image):
            image.source = "SEQUENCE"
            node = tree.nodes.new("CompositorNodeImage")
            node.image, node.frame_start = image, 1
            node.frame_duration, node.frame_offset = (8, -1) if kind == "run" else (TWICE_FRAMES, -1)
            nodes.append(node)
        for node in tree.nodes:
            node.select = node in nodes
        tree.nodes.active = nodes[0]
        report["compositor_result"] = sorted(bpy.ops.e2fgvi.remove_object_compositor())
        if kind == "twice":
            try:
                report["compositor_again"] = sorted(bpy.ops.e2fgvi.remove_object_compositor())
            except RuntimeError as exc:
                report["compositor_again"] = str(exc)
        made = [n for n in tree.nodes if n not in nodes]
        report["compositor_nodes"] = [
            {
                "image": bpy.path.abspath(n.image.filepath),
                "source": n.image.source,
                "start": n.frame_start,
                "duration": n.frame_duration,
                "offset": n.frame_offset,
            }
            for n in made
        ]
    addon.unregister()
    return report


def reference_scenario(address: str, out_dir: str) -> dict:
    """Plate (channel 1, active), matte (2) and a painted clean frame as a one-frame image strip (3) at REF_AT: the
    operator runs once with plate and matte selected, then again with the reference selected too. Then the compositor
    operator on Image nodes of the same files: matte and reference at the same height (refused), a fourth Image node
    selected (refused), a single-image reference (refused), then the reference node above the matte's (runs)."""
    import bpy

    import e2fgvi_host.blender as addon

    addon.register()
    shot = Path(f"{out_dir}-shot")
    scene = bpy.context.scene
    editor = scene.sequence_editor_create()
    made = {}
    for channel, name in ((1, "plate"), (2, "matte")):
        strip = editor.strips.new_image(name, str(shot / f"{name}.0001.png"), channel, 1)
        for i in range(2, REF_SHOT_FRAMES + 1):
            strip.elements.append(f"{name}.{i:04d}.png")
        made[name] = strip
    clean = editor.strips.new_image("clean", str(shot / REF_FILE), 3, REF_AT)
    clean.frame_final_duration = 1
    scene.frame_start, scene.frame_end = 1, REF_SHOT_FRAMES
    settings = scene.e2fgvi
    settings.engine, settings.server, settings.output_dir = "propagate", address, out_dir
    report: dict = {}
    for run, selected in (("plain", ("plate", "matte")), ("with_reference", ("plate", "matte", "clean"))):
        for strip in editor.strips:
            strip.select = strip.name in selected
        editor.active_strip = made["plate"]
        try:
            report[run] = sorted(bpy.ops.e2fgvi.remove_object())
        except RuntimeError as exc:
            report[run] = str(exc)
    report["strips"] = describe_strips(scene)

    tree = bpy.data.node_groups.new("Compositing", "CompositorNodeTree")
    scene.compositing_node_group = tree
    nodes = {}
    for name, first, start, duration, y in (
        ("comp", "plate.0001.png", 1, REF_SHOT_FRAMES, 0),
        ("matte", "matte.0001.png", 1, REF_SHOT_FRAMES, -300),
        ("clean", REF_FILE, REF_AT, 1, -300),  # at the matte's height first: refused
        ("spare", "matte.0001.png", 1, REF_SHOT_FRAMES, -600),
    ):
        image = bpy.data.images.load(str(shot / first))
        image.source = "SEQUENCE"
        node = tree.nodes.new("CompositorNodeImage")
        node.image, node.label, node.location = image, name, (0, y)
        # Blender shows file number offset + 1 at the node's first frame
        node.frame_start, node.frame_duration, node.frame_offset = start, duration, int(first.split(".")[1]) - 1
        nodes[name] = node
    still = tree.nodes.new("CompositorNodeImage")  # a single image: Blender shows it at every frame
    still.image, still.label, still.location = bpy.data.images.load(str(shot / REF_FILE)), "still", (0, 300)
    for run, selected, clean_y in (
        ("compositor_same_height", ("comp", "matte", "clean"), -300),
        ("compositor_four", ("comp", "matte", "clean", "spare"), 300),
        ("compositor_still", ("comp", "matte", "still"), 300),
        ("compositor", ("comp", "matte", "clean"), 300),
    ):
        nodes["clean"].location = (0, clean_y)
        for node in tree.nodes:
            node.select = node.label in selected
        tree.nodes.active = nodes["comp"]
        try:
            report[run] = sorted(bpy.ops.e2fgvi.remove_object_compositor())
        except RuntimeError as exc:
            report[run] = str(exc)
    addon.unregister()
    return report


def regrain_scenario(address: str, out_dir: str) -> dict:
    """The Regrain setting as Blender shows it (its RNA property), then a run with it checked."""
    import bpy

    import e2fgvi_host.blender as addon

    addon.register()
    scene = build_scene(bpy, frames=TWICE_FRAMES)
    settings = scene.e2fgvi
    prop = type(settings).bl_rna.properties["regrain"]
    report: dict = {"property": [prop.type, prop.name, prop.default, settings.regrain]}
    settings.engine, settings.server, settings.output_dir = "propagate", address, out_dir
    settings.regrain = True
    report["result"] = sorted(bpy.ops.e2fgvi.remove_object())
    report["strips"] = describe_strips(scene)
    addon.unregister()
    return report


def make_picture(path: str, address: str) -> None:
    """Before (plate with its matte in red) and after (the add-on's result), frames 5 and 15, side by side."""
    import tempfile

    import numpy as np

    from e2fgvi_core.io.frame import Frame
    from e2fgvi_core.io.reader import read_frame
    from e2fgvi_core.io.writer import write_frame

    out_dir = tempfile.mkdtemp(prefix="e2fgvi-picture-")
    report = scenario("run", address, out_dir)
    result = next(s for s in report["strips"] if s["name"].endswith("clean"))
    rows = []
    for number in (5, 15):
        plate = read_frame(CLIP / "frames" / f"{number:05d}.png").pixels[..., :3].astype(np.float32)
        matte = read_frame(CLIP / "masks" / f"{number:05d}.png").pixels[..., :1] > 0
        before = np.where(matte, 0.5 * plate + 0.5 * np.array([255, 0, 0], np.float32), plate)
        after = read_frame(Path(result["directory"]) / f"{number:05d}.png").pixels[..., :3]
        gap = np.full((plate.shape[0], 8, 3), 255, np.uint8)
        rows.append(np.concatenate([before.astype(np.uint8), gap, after.astype(np.uint8)], axis=1))
    picture = np.concatenate([rows[0], np.full((8, rows[0].shape[1], 3), 255, np.uint8), rows[1]], axis=0)
    write_frame(path, Frame.from_array(picture, ["R", "G", "B"]))


# --- the tests -----------------------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    from e2fgvi_core.testing import subprocess_env

    return subprocess_env()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CLIP.is_dir():
        pytest.skip(f"{CLIP} is absent: put the project's shared/ folder beside the checkout to run this test")
    if importlib.util.find_spec("bpy") is None:  # found, not imported: bpy stays out of the pytest process
        pytest.skip("Blender's bpy module is not installed (pip install bpy==5.0.1)")
    from e2fgvi_core.testing import ServerProcess, free_address

    root = tmp_path_factory.mktemp("blender")
    server = ServerProcess(free_address(), ["--output-root", str(root)], root / "server.log").start()
    yield server.address, root
    server.kill()


def run_in_blender(kind: str, address: str, out_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, kind, address, str(out_dir)],
        cwd=PROJECT_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cli_remove(plate: Path, out_dir: Path, frames: int, *flags: str) -> subprocess.CompletedProcess:
    """``e2fgvi remove`` on the shared clip's matte, as an artist would run it outside Blender."""
    command = [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", "--plate", str(plate)]
    command += ["--matte", str(CLIP / "masks" / "#####.png"), "--out", str(out_dir / "#####.png")]
    command += ["--frames", f"0-{frames - 1}", "--engine", "propagate", "--quiet", *flags]
    return subprocess.run(
        command, cwd=PROJECT_ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False
    )


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_a_missing_matte_strip_is_a_clear_message(server, tmp_path):
    address, root = server
    report = run_in_blender("missing_matte", address, root / tmp_path.name)
    assert (
        report["error"]
        == "Error: Remove Object: select a matte strip together with the plate 'plate' (none is selected)\n"
    )
    assert [s["name"] for s in report["strips"]] == ["plate"]
    from e2fgvi_host.bridge import describe

    expected = {p["name"]: "" if p["default"] is None else p["default"] for p in describe()["params"]}
    assert report["defaults"] == {k: v for k, v in expected.items() if k != "shot"}  # the panel's knobs
    assert files_under(root / tmp_path.name) == []


def test_cancel_mid_run_leaves_no_strip_and_no_files(server, tmp_path):
    address, root = server
    report = run_in_blender("cancel", address, root / tmp_path.name)
    assert "cancelled_at" in report and report["result"] == ["CANCELLED"]
    assert [s["name"] for s in report["strips"]] == ["plate", "matte"]
    assert files_under(root / tmp_path.name) == []


def test_the_installed_extension_registers_from_its_own_files(server, tmp_path):
    """What ``e2fgvi install blender`` writes loads in Blender by itself: vendored host side, no torch, no core."""
    target = tmp_path / "extensions"
    done = subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", "install", "blender", "--target", str(target)],
        cwd=PROJECT_ROOT,
        env={**_env(), "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ours = ("e2fgvi_core", "e2fgvi_server", "e2fgvi_host", "server", "host_plugin")
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import bpy; import e2fgvi_remove_object as ext; "
        "ext.register(); ok = hasattr(bpy.types.Scene, 'e2fgvi') and 'remove_object' in dir(bpy.ops.e2fgvi); "
        "ext.unregister(); "
        "print(json.dumps({'ok': ok, 'ours': {n: m.__file__ for n, m in sys.modules.items() "
        f"if n.split('.')[0] in {ours!r}}}, 'heavy': sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('torch', 'cv2', 'OpenImageIO'))}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    report = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["heavy"] == []
    vendor = target / "e2fgvi_remove_object" / "_vendor"
    assert any(".bridge" in name for name in report["ours"])
    assert {n: f for n, f in report["ours"].items() if not Path(f).is_relative_to(vendor)} == {}


def test_pressing_remove_object_again_right_after_a_run_works(server, tmp_path):
    """The new result strip is neither selected nor taken for a second matte: the same selection runs again."""
    address, root = server
    out_dir = root / tmp_path.name
    report = run_in_blender("twice", address, out_dir)
    assert report.get("result") == ["FINISHED"], report
    assert report["selected"] == ["matte", "plate"]
    assert report.get("again") == ["FINISHED"], report
    names = [(s["name"], s["channel"]) for s in report["strips"]]
    assert names == [("plate", 1), ("matte", 2), ("plate clean", 3), ("plate clean.001", 4)]
    assert report["compositor_result"] == report["compositor_again"] == ["FINISHED"]  # the compositor alike
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "Image_clean_v001", "Image_clean_v002", "plate_clean_v001", "plate_clean_v002"
    ]  # fmt: skip


def test_regrain_is_a_checkbox_off_by_default_and_checked_equals_e2fgvi_remove_regrain(server, tmp_path):
    import numpy as np

    from e2fgvi_core.io.reader import read_frame

    address, root = server
    report = run_in_blender("regrain", address, root / tmp_path.name)
    assert report["property"] == ["BOOLEAN", "Regrain", False, False], report
    assert report.get("result") == ["FINISHED"], report
    clean = next(s for s in report["strips"] if s["name"].endswith("clean"))
    for name, flags in (("regrained", ("--regrain",)), ("plain", ())):
        cli = _cli_remove(CLIP / "frames" / "#####.png", tmp_path / name, TWICE_FRAMES, *flags)
        assert cli.returncode == 0, cli.stderr
    assert clean["files"] == [f"{i:05d}.png" for i in range(TWICE_FRAMES)]
    changed = 0
    for name in clean["files"]:
        ours = read_frame(Path(clean["directory"]) / name).pixels
        np.testing.assert_array_equal(ours, read_frame(tmp_path / "regrained" / name).pixels, err_msg=name)
        changed += int(np.count_nonzero(ours != read_frame(tmp_path / "plain" / name).pixels))
    assert changed > 0  # the grain reached the job: the hole is not the plain fill


def test_a_third_strip_or_image_node_above_the_matte_is_a_reference_frame_that_fills_the_hole(server, tmp_path):
    """The painted clean frame (a one-frame image strip above the matte; in the compositor an Image node placed above
    the matte's) is trusted background at its frame: the hole there is the painted colour, and the static hole, which
    no frame reveals, takes it at the other frames too; both results equal ``e2fgvi remove --reference``. Matte and
    reference nodes at the same height, a fourth selected node, or a single-image reference are a one-line error."""
    import numpy as np

    from e2fgvi_core.io.frame import Frame
    from e2fgvi_core.io.reader import read_frame
    from e2fgvi_core.io.writer import write_frame

    address, root = server
    out_dir = root / tmp_path.name
    shot = Path(f"{out_dir}-shot")
    shot.mkdir(parents=True)
    rng = np.random.default_rng(5)
    background = np.kron(rng.integers(0, 256, (12, 16, 3)), np.ones((4, 4, 1))).astype(np.uint8)  # 48x64
    for number in range(1, REF_SHOT_FRAMES + 1):
        plate, matte = background.copy(), np.zeros(background.shape[:2], np.uint8)
        plate[REF_HOLE], matte[REF_HOLE] = (255, 0, 0), 255
        write_frame(shot / f"plate.{number:04d}.png", Frame.from_array(plate))
        write_frame(shot / f"matte.{number:04d}.png", Frame.from_array(matte))
    painted = background.copy()
    painted[REF_HOLE] = PAINT
    write_frame(shot / REF_FILE, Frame.from_array(painted))

    report = run_in_blender("reference", address, out_dir)
    assert report["plain"] == report["with_reference"] == report["compositor"] == ["FINISHED"], report
    assert report["compositor_same_height"] == (
        "Error: Remove Object: place the reference Image node above the matte's: 'matte' and 'clean' are at the same "
        "height\n"
    )
    assert report["compositor_four"] == (
        "Error: Remove Object: select the matte's Image node and at most one reference Image node above it besides "
        "the plate's; 3 are selected\n"
    )
    assert report["compositor_still"].startswith(
        "Error: Remove Object: the reference 'still' is a single image, which Blender shows at every frame; set its "
        "Source to Image Sequence"
    )
    assert sorted(p.name for p in out_dir.iterdir()) == ["comp_clean_v001", "plate_clean_v001", "plate_clean_v002"]
    assert [(s["name"], s["channel"]) for s in report["strips"]] == [
        ("plate", 1), ("matte", 2), ("clean", 3), ("plate clean", 4), ("plate clean.001", 5)
    ]  # fmt: skip
    cli = subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", "--plate", str(shot / "plate.%04d.png"), "--matte",
         str(shot / "matte.%04d.png"), "--out", str(tmp_path / "cli" / "c.%04d.png"), "--engine", "propagate",
         "--frames", f"1-{REF_SHOT_FRAMES}", "--reference", f"{REF_AT}={shot / REF_FILE}", "--quiet"],
        cwd=PROJECT_ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    for number in range(1, REF_SHOT_FRAMES + 1):
        plain = read_frame(out_dir / "plate_clean_v001" / f"plate.{number:04d}.png").pixels.astype(np.float32)
        ours = read_frame(out_dir / "plate_clean_v002" / f"plate.{number:04d}.png").pixels
        np.testing.assert_array_equal(ours, read_frame(tmp_path / "cli" / f"c.{number:04d}.png").pixels)
        compositor = read_frame(out_dir / "comp_clean_v001" / f"plate.{number:04d}.png").pixels
        np.testing.assert_array_equal(compositor, ours, err_msg=f"compositor, frame {number}")
        paint_error = np.abs(ours[REF_HOLE].astype(np.float32) - PAINT).mean()
        assert paint_error < np.abs(plain[REF_HOLE] - PAINT).mean() - 50, number  # the reference fills the hole
        if number == REF_AT:
            assert paint_error < 2.0  # at its own frame the painted pixels are the result


@pytest.mark.slow
def test_remove_object_adds_an_aligned_strip_equal_to_e2fgvi_remove(server, tmp_path):
    import numpy as np

    from e2fgvi_core.io.reader import read_frame

    address, root = server
    out_dir = root / tmp_path.name
    report = run_in_blender("run", address, out_dir)
    assert report.get("result") == ["FINISHED"], report
    plate, matte, clean = report["strips"]
    assert (matte["name"], matte["channel"]) == ("matte", 2)
    assert clean["name"] == "plate clean" and clean["channel"] == 3  # first free channel above the plate
    assert (clean["start"], clean["duration"]) == (plate["start"], plate["duration"]) == (1, FRAMES)
    assert clean["files"] == plate["files"] and Path(clean["directory"]) == out_dir / "plate_clean_v001"
    assert files_under(out_dir / "plate_clean_v001") == plate["files"]

    cli = _cli_remove(CLIP / "frames" / "#####.png", tmp_path / "cli", FRAMES)
    assert cli.returncode == 0, cli.stderr
    for name in plate["files"]:
        ours = read_frame(Path(clean["directory"]) / name).pixels
        np.testing.assert_array_equal(ours, read_frame(tmp_path / "cli" / name).pixels, err_msg=name)
    assert not np.array_equal(ours, read_frame(CLIP / "frames" / name).pixels)  # something was removed

    assert report["compositor_result"] == ["FINISHED"]
    (node,) = report["compositor_nodes"]
    assert node["source"] == "SEQUENCE" and (node["start"], node["duration"], node["offset"]) == (1, 8, -1)
    assert Path(node["image"]) == out_dir / "Image_clean_v001" / "00000.png"
    assert files_under(out_dir / "Image_clean_v001") == plate["files"][:8]
    assert sorted(p.name for p in out_dir.iterdir()) == ["Image_clean_v001", "plate_clean_v001"]  # no run folders


@pytest.mark.slow
def test_a_movie_plate_is_rendered_to_frames_and_the_result_aligned(server, tmp_path):
    import numpy as np

    from e2fgvi_core.io.reader import read_frame

    address, root = server
    out_dir = root / tmp_path.name
    report = run_in_blender("movie", address, out_dir)
    assert report.get("result") == ["FINISHED"], report
    movie, _matte, clean = report["strips"]
    assert movie["type"] == "MOVIE" and clean["type"] == "IMAGE"
    assert (clean["name"], clean["start"], clean["duration"]) == ("movie clean", 1, MOVIE_FRAMES)
    assert clean["files"] == [f"{i:05d}.png" for i in range(MOVIE_FRAMES)]  # numbered like the matte's files
    assert sorted(p.name for p in out_dir.iterdir()) == ["movie_clean_v001"]  # the rendered inputs are gone
    frames = Path(f"{out_dir}-frames")
    cli = _cli_remove(frames / "#####.png", tmp_path / "cli", MOVIE_FRAMES)
    assert cli.returncode == 0, cli.stderr
    for name in clean["files"]:
        ours = read_frame(Path(clean["directory"]) / name).pixels
        np.testing.assert_array_equal(ours, read_frame(tmp_path / "cli" / name).pixels, err_msg=name)


if __name__ == "__main__":
    if sys.argv[1] == "picture":
        make_picture(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "reference":
        print(json.dumps(reference_scenario(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "regrain":
        print(json.dumps(regrain_scenario(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(scenario(sys.argv[1], sys.argv[2], sys.argv[3])))

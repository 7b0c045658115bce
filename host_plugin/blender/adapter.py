"""Blender's side of Remove Object: strips and image nodes in, an image-sequence strip or Image node out.

Why it is cut this way: everything Blender-specific (which strip is the plate, where its files are, how a result
becomes a strip aligned frame for frame) is here and in the operator/panel modules; the job itself is the bridge's
(``RemoveObjectEffect.process_range`` over the strip's frames, one server job, progress, cancel). ``RemovalJob.run``
touches no ``bpy`` at all, so the modal operator can run it on a worker thread while Blender's UI keeps drawing;
``prepare`` and ``finish`` run on Blender's main thread.

Frames travel by path: image-sequence strips already are files the server can read; movie and mask strips are
rendered alone to a numbered PNG sequence first (in a hidden folder removed when the job ends). The result is written by the
server into a hidden run folder and renamed to ``<output dir>/<plate>_clean_vNNN/`` only when every frame is there,
so a cancelled or failed run leaves neither a strip nor a file.

A third selected strip is the reference (clean frames the artist painted): of the two strips selected besides the
active plate, the one on the lower channel is the matte and the one above it the reference. Every plate frame the
reference strip shows is a reference frame (the file it shows there; alpha, if any, says which pixels to trust), so a
painted frame is an image strip trimmed to that frame. The compositor takes the same rule with a third selected Image
node: of the two besides the active plate's, the lower one on the node canvas is the matte, the upper one the
reference (an image sequence, read like the plate's nodes).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass

import bpy

from ..bridge import BridgeError, BridgeParams, FrameFiles, PathClip, ProgressReport, RemoveObjectEffect, describe
from ..client import wire

_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")
SETTINGS_SKIP = ("shot",)  # derived from the strip's frame range, never typed by the artist
DEFAULT_OUTPUT_DIR = "//e2fgvi/"


class AdapterError(BridgeError):
    """Something about the Blender scene an artist must fix (no matte strip, a movie strip...)."""

    def __init__(self, message: str) -> None:
        super().__init__("config_error", message)


@dataclass(frozen=True)
class ImageSequence:
    """A numbered image sequence as Blender shows it: files, the numbers in view, and where frame one sits."""

    directory: str
    prefix: str
    width: int
    suffix: str
    numbers: tuple[int, ...]  # file numbers of the frames in view, in timeline order
    timeline_start: int  # timeline frame of numbers[0]

    @property
    def pattern(self) -> str:
        return os.path.join(self.directory, f"{self.prefix}{'#' * self.width}{self.suffix}")

    def filename(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}{self.suffix}"

    def number_at(self, timeline_frame: int) -> int | None:
        index = timeline_frame - self.timeline_start
        return self.numbers[index] if 0 <= index < len(self.numbers) else None


def numbered_sequence(directory: str, filenames: list[str], timeline_start: int, what: str) -> ImageSequence:
    """The numbered sequence behind ``filenames``; an ``AdapterError`` when they are not one."""
    parts = [_NUMBERED.match(name) for name in filenames]
    if not filenames or not all(parts):
        raise AdapterError(f"{what} needs numbered image files (name.0001.png ...); got {filenames[:2]}")
    shapes = {(m["prefix"], len(m["number"]), m["suffix"]) for m in parts}
    numbers = tuple(int(m["number"]) for m in parts)
    if len(shapes) != 1 or numbers != tuple(range(numbers[0], numbers[0] + len(numbers))):
        raise AdapterError(f"{what} must be one sequence of consecutive numbered files ({filenames[0]} ...)")
    prefix, width, suffix = shapes.pop()
    return ImageSequence(bpy.path.abspath(directory), prefix, width, suffix, numbers, timeline_start)


def strip_sequence(strip, what: str) -> ImageSequence:
    """The frames of an image-sequence strip that are in view (its trims applied)."""
    if strip.type != "IMAGE":
        raise AdapterError(
            f"{what} '{strip.name}' is a {strip.type.lower()} strip; Remove Object takes image-sequence, movie "
            "and mask strips"
        )
    elements = list(strip.elements)
    first = round(strip.frame_final_start - strip.frame_start)
    visible = elements[first : first + int(strip.frame_final_duration)]
    return numbered_sequence(strip.directory, [e.filename for e in visible], int(strip.frame_final_start), what)


RENDERED_TYPES = ("MOVIE", "MASK")


def render_strip(scene, strip, folder: str, numbered_like: ImageSequence | None, matte: bool) -> ImageSequence:
    """A movie or mask strip rendered to a numbered PNG sequence in ``folder`` (8-bit; the matte as one channel).

    Files are numbered like ``numbered_like`` at the same timeline frames (the plate's file numbers), else by
    timeline frame. The strip is rendered alone in a temporary scene at its own resolution (movies) or the scene's
    (masks), with the Standard view transform, so the pixels are the strip's own.
    """
    if strip.type not in RENDERED_TYPES:
        raise AdapterError(
            f"the {'matte' if matte else 'plate'} '{strip.name}' is a {strip.type.lower()} strip; "
            "Remove Object takes image-sequence, movie and mask strips"
        )
    start, end = int(strip.frame_final_start), int(strip.frame_final_end)
    shift = numbered_like.numbers[0] - numbered_like.timeline_start if numbered_like is not None else 0
    temp = bpy.data.scenes.new(f"e2fgvi-render-{uuid.uuid4().hex[:6]}")
    try:
        editor = temp.sequence_editor_create()
        if strip.type == "MOVIE":
            copy = editor.strips.new_movie(
                "source", bpy.path.abspath(strip.filepath), 1, int(strip.frame_start) + shift, fit_method="ORIGINAL"
            )
            width, height = copy.elements[0].orig_width, copy.elements[0].orig_height
        else:
            copy = editor.strips.new_mask("source", strip.mask, 1, int(strip.frame_start) + shift)
            percent = scene.render.resolution_percentage / 100
            width, height = round(scene.render.resolution_x * percent), round(scene.render.resolution_y * percent)
        copy.frame_offset_start, copy.frame_offset_end = strip.frame_offset_start, strip.frame_offset_end
        render = temp.render
        render.resolution_x, render.resolution_y, render.resolution_percentage = width, height, 100
        render.image_settings.file_format = "PNG"
        render.image_settings.color_mode = "BW" if matte else "RGB"
        render.image_settings.color_depth = "8"
        render.filepath = os.path.join(folder, "#####")
        temp.view_settings.view_transform = "Standard"
        temp.view_settings.look = "None"
        temp.frame_start, temp.frame_end = start + shift, end - 1 + shift
        os.makedirs(folder, exist_ok=True)
        bpy.ops.render.render(animation=True, scene=temp.name)
    finally:
        bpy.data.scenes.remove(temp)
    names = [f"{n:05d}.png" for n in range(start + shift, end + shift)]
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise AdapterError(f"rendering '{strip.name}' to images left out {missing[0]} in {folder}")
    return numbered_sequence(folder, names, start, f"the rendered '{strip.name}'")


def image_node_sequence(node, what: str) -> ImageSequence:
    """The frames an Image node of the compositor plays (an image datablock with source 'SEQUENCE')."""
    image = node.image
    if image is None or image.source != "SEQUENCE":
        raise AdapterError(f"{what} must be an Image node showing an image sequence")
    directory, first_name = os.path.split(bpy.path.abspath(image.filepath))
    match = _NUMBERED.match(first_name)
    if match is None:
        raise AdapterError(f"{what} needs numbered image files; got {first_name}")
    start = int(node.frame_offset) + 1  # Blender shows file number offset + 1 at the node's first frame
    names = [
        f"{match['prefix']}{n:0{len(match['number'])}d}{match['suffix']}"
        for n in range(start, start + int(node.frame_duration))
    ]
    return numbered_sequence(directory, names, int(node.frame_start), what)


def check_alignment(plate: ImageSequence, matte: ImageSequence) -> None:
    """The matte must show, at every timeline frame of the plate, the file with the plate's number."""
    for index, number in enumerate(plate.numbers):
        frame = plate.timeline_start + index
        other = matte.number_at(frame)
        if other is None:
            raise AdapterError(f"the matte does not cover timeline frame {frame} of the plate")
        if other != number:
            raise AdapterError(
                f"the matte is not aligned with the plate: at timeline frame {frame} the plate shows file number "
                f"{number} and the matte {other}; move the matte strip so the numbers match"
            )


def strip_reference_shown(strip) -> dict[int, str]:
    """Timeline frame -> the file a reference strip shows there (an image strip: a numbered sequence, or one still
    image shown for the strip's whole length)."""
    if strip.type != "IMAGE":
        raise AdapterError(
            f"the reference '{strip.name}' is a {strip.type.lower()} strip; give the painted frames as an image "
            "strip (PNG or EXR; alpha, if any, says which pixels to trust)"
        )
    elements = list(strip.elements)
    directory = bpy.path.abspath(strip.directory)
    shown = {}
    for timeline in range(int(strip.frame_final_start), int(strip.frame_final_end)):
        index = 0 if len(elements) == 1 else timeline - int(strip.frame_start)
        if 0 <= index < len(elements):
            shown[timeline] = os.path.join(directory, elements[index].filename)
    return shown


def node_reference_shown(node) -> dict[int, str]:
    """Timeline frame -> the file a reference Image node shows there: an image sequence read as the plate's nodes are
    (one painted frame: a one-file sequence, Frames 1, Start Frame at the painted frame)."""
    what = f"the reference '{_label(node)}'"
    if node.image is not None and node.image.source == "FILE":
        raise AdapterError(
            f"{what} is a single image, which Blender shows at every frame; set its Source to Image Sequence and "
            "place it with Frames and Start Frame (one painted frame: Frames 1, Start Frame at that frame)"
        )
    sequence = image_node_sequence(node, what)
    return {
        sequence.timeline_start + index: os.path.join(sequence.directory, sequence.filename(number))
        for index, number in enumerate(sequence.numbers)
    }


def reference_files(shown: dict[int, str], plate: ImageSequence, what: str) -> dict[int, str]:
    """Plate frame number -> reference file, from what the reference shows on the timeline: every plate frame it
    shows is a reference frame (alpha, if the file has one, says which pixels to trust; the engine reads it)."""
    files = {plate.number_at(t): path for t, path in shown.items() if plate.number_at(t) is not None}
    if not files:
        last = plate.timeline_start + len(plate.numbers) - 1
        raise AdapterError(
            f"{what} shows none of the plate's frames (timeline frames {plate.timeline_start}-{last}): place it "
            "within them"
        )
    return files


def params_from_settings(settings, shot: str) -> BridgeParams:
    """The bridge parameters of the scene's Remove Object settings, for the given shot range."""
    values = {p["name"]: getattr(settings, p["name"]) for p in describe()["params"] if p["name"] not in SETTINGS_SKIP}
    return BridgeParams.from_mapping({**values, "shot": shot})


def output_root(settings) -> str:
    """Where results go: the settings' folder (``//`` is the .blend's folder; unsaved files use this user's private
    temp folder, which is also one of a default server's output roots)."""
    folder = settings.output_dir or DEFAULT_OUTPUT_DIR
    if folder.startswith("//") and not bpy.data.filepath:
        folder = os.path.join(wire.ensure_private_folder(wire.private_temp_root()), "blender", folder[2:])
    return os.path.abspath(bpy.path.abspath(folder))


class RemovalJob:
    """One Remove Object run: prepared on the main thread, run anywhere, finished on the main thread."""

    def __init__(
        self,
        plate: ImageSequence,
        matte: ImageSequence,
        params: BridgeParams,
        out_root: str,
        name: str,
        scratch: tuple[str, ...] = (),
        reference: dict[int, str] | None = None,
    ) -> None:
        self.scratch = list(scratch)  # folders of rendered inputs, removed when the job ends
        self.plate = plate
        self.matte = matte
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "plate"
        self.out_root = out_root
        self.run_dir = os.path.join(out_root, f".{self.name}.run-{uuid.uuid4().hex[:8]}")
        output = os.path.join(self.run_dir, f"{plate.prefix}{'#' * plate.width}{plate.suffix}")
        self.effect = RemoveObjectEffect(PathClip(plate.pattern), PathClip(matte.pattern), params, output=output)
        if reference:
            self.effect.set_reference(FrameFiles(reference), sorted(reference))
        self.progress: ProgressReport | None = None
        self.error: BridgeError | None = None
        self.result_dir: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        """The job (no ``bpy`` here): process the plate's frames, then move the run folder into place."""
        global _RUNNING
        _RUNNING = self
        try:
            self.effect.on_progress = self._note_progress
            self.effect.process_range(self.plate.numbers[0], self.plate.numbers[-1])
            self.result_dir = self._publish()
        except BridgeError as exc:
            self.error = exc
            shutil.rmtree(self.run_dir, ignore_errors=True)
        finally:
            self.effect.close()
            for folder in self.scratch:
                shutil.rmtree(folder, ignore_errors=True)
            _RUNNING = None
            self.done.set()

    def cancel(self) -> None:
        self.effect.cancel()

    def _note_progress(self, report: ProgressReport) -> None:
        self.progress = report

    def _publish(self) -> str:
        version = 1
        while os.path.exists(os.path.join(self.out_root, f"{self.name}_clean_v{version:03d}")):
            version += 1
        final = os.path.join(self.out_root, f"{self.name}_clean_v{version:03d}")
        os.replace(self.run_dir, final)
        return final

    def status_text(self) -> str:
        report = self.progress
        if report is None:
            return "Remove Object: starting..."
        return f"Remove Object: {report.text} (Esc cancels)"


_RUNNING: RemovalJob | None = None


def cancel_running() -> bool:
    """Cancel the job that is running now, from any thread (a pipeline's watchdog); False when none runs."""
    job = _RUNNING
    if job is None:
        return False
    job.cancel()
    return True


# --- the Video Sequencer -------------------------------------------------------------------------------------
def sequencer_job(scene, settings) -> tuple[RemovalJob, object]:
    """The job for the active strip (plate), the other selected strip (matte) and, when a third is selected, the
    reference (the upper of the two); raises ``AdapterError``."""
    editor = scene.sequence_editor
    plate_strip = editor.active_strip if editor else None
    if plate_strip is None:
        raise AdapterError("make the plate strip active (click it) and select its matte strip too")
    others = sorted((s for s in editor.strips if s.select and s != plate_strip), key=lambda s: s.channel)
    if not others:
        raise AdapterError(f"select a matte strip together with the plate '{plate_strip.name}' (none is selected)")
    if len(others) > 2:
        raise AdapterError(
            f"select the matte strip and at most one reference strip above it besides the plate "
            f"'{plate_strip.name}'; {len(others)} are selected"
        )
    if len(others) == 2 and others[0].channel == others[1].channel:
        raise AdapterError(f"put the reference '{others[1].name}' on a channel above the matte '{others[0].name}'")
    reference_strip = others[1] if len(others) == 2 else None
    out_root, scratch = output_root(settings), []
    inputs = os.path.join(out_root, f".{uuid.uuid4().hex[:8]}.inputs")
    try:
        plate = strip_sequence(plate_strip, "the plate") if plate_strip.type == "IMAGE" else None
        matte = strip_sequence(others[0], "the matte") if others[0].type == "IMAGE" else None
        if plate is None:  # numbered like an image-sequence matte, so both show the same numbers at each frame
            scratch.append(inputs)
            plate = render_strip(scene, plate_strip, os.path.join(inputs, "plate"), matte, matte=False)
        if matte is None:
            scratch.append(inputs)
            matte = render_strip(scene, others[0], os.path.join(inputs, "matte"), plate, matte=True)
        try:
            check_alignment(plate, matte)
        except AdapterError as exc:
            if reference_strip is None:
                raise
            raise AdapterError(
                f"{exc.message} (of the two strips selected besides the plate, the lower channel is the matte, "
                "the upper one the reference)"
            ) from None
        reference = None
        if reference_strip is not None:
            reference = reference_files(
                strip_reference_shown(reference_strip), plate, f"the reference '{reference_strip.name}'"
            )
        params = params_from_settings(settings, f"{plate.numbers[0]}-{plate.numbers[-1]}")
        job = RemovalJob(plate, matte, params, out_root, plate_strip.name, tuple(sorted(set(scratch))), reference)
        return job, plate_strip
    except BaseException:
        shutil.rmtree(inputs, ignore_errors=True)
        raise


def add_result_strip(scene, job: RemovalJob, plate_strip):
    """The result as an image-sequence strip on the first free channel above the plate, frame for frame."""
    editor = scene.sequence_editor
    start, end = job.plate.timeline_start, job.plate.timeline_start + len(job.plate.numbers)
    channel = plate_strip.channel + 1
    while any(s.channel == channel and s.frame_final_start < end and s.frame_final_end > start for s in editor.strips):
        channel += 1
    names = [job.plate.filename(n) for n in job.plate.numbers]
    strip = editor.strips.new_image(
        name=f"{plate_strip.name} clean",
        filepath=os.path.join(job.result_dir, names[0]),
        channel=channel,
        frame_start=start,
    )
    for name in names[1:]:
        strip.elements.append(name)
    strip.colorspace_settings.name = plate_strip.colorspace_settings.name
    # Blender selects a new strip; left selected it would be a second matte candidate and the artist's next press of
    # Remove Object (same plate, same matte) would be refused. The selection stays what the artist made.
    strip.select = False
    editor.active_strip = plate_strip
    return strip


# --- the compositor -------------------------------------------------------------------------------------------
def compositor_job(scene, settings) -> tuple[RemovalJob, object]:
    """The job for the active Image node (plate), the other selected Image node (matte) and, when a third is
    selected, the reference: of the two besides the plate, the lower one on the node canvas is the matte and the
    upper one the reference (the sequencer's rule, channels there, height here); raises ``AdapterError``."""
    tree = getattr(scene, "compositing_node_group", None)
    if tree is None:
        raise AdapterError("the scene has no compositor node group: enable Use Nodes in the Compositor")
    plate_node = tree.nodes.active
    if plate_node is None or plate_node.type != "IMAGE":
        raise AdapterError("make the plate's Image node active and select its matte's Image node too")
    others = sorted((n for n in tree.nodes if n.select and n != plate_node and n.type == "IMAGE"), key=_canvas_y)
    if not others:
        raise AdapterError("select the matte's Image node together with the plate's (none is selected)")
    if len(others) > 2:
        raise AdapterError(
            "select the matte's Image node and at most one reference Image node above it besides the plate's; "
            f"{len(others)} are selected"
        )
    if len(others) == 2 and _canvas_y(others[0]) == _canvas_y(others[1]):
        raise AdapterError(
            f"place the reference Image node above the matte's: '{_label(others[0])}' and '{_label(others[1])}' "
            "are at the same height"
        )
    matte_node, reference_node = others[0], others[1] if len(others) == 2 else None
    plate = image_node_sequence(plate_node, "the plate")
    matte = image_node_sequence(matte_node, "the matte")
    try:
        check_alignment(plate, matte)
    except AdapterError as exc:
        if reference_node is None:
            raise
        raise AdapterError(
            f"{exc.message} (of the two Image nodes selected besides the plate's, the lower one is the matte, "
            "the upper one the reference)"
        ) from None
    reference = None
    if reference_node is not None:
        shown = node_reference_shown(reference_node)
        reference = reference_files(shown, plate, f"the reference '{_label(reference_node)}'")
    params = params_from_settings(settings, f"{plate.numbers[0]}-{plate.numbers[-1]}")
    job = RemovalJob(plate, matte, params, output_root(settings), _label(plate_node), reference=reference)
    return job, plate_node


def _canvas_y(node) -> float:
    """The node's height on the canvas (inside a Frame node ``location`` is relative to the frame)."""
    return float(getattr(node, "location_absolute", node.location).y)


def _label(node) -> str:
    return node.label or node.name


def add_result_node(scene, job: RemovalJob, plate_node):
    """A new Image node playing the result sequence, placed beside the plate's node, same frame range."""
    tree = scene.compositing_node_group
    first = os.path.join(job.result_dir, job.plate.filename(job.plate.numbers[0]))
    image = bpy.data.images.load(first, check_existing=False)
    image.source = "SEQUENCE"
    image.colorspace_settings.name = plate_node.image.colorspace_settings.name
    node = tree.nodes.new("CompositorNodeImage")
    node.image = image
    node.frame_start = plate_node.frame_start
    node.frame_duration = plate_node.frame_duration
    node.frame_offset = plate_node.frame_offset
    node.location = (plate_node.location.x, plate_node.location.y - 300)
    node.label = f"{plate_node.label or plate_node.name} clean"
    node.select = False  # as for strips: the next press takes the same plate and matte, not the result
    tree.nodes.active = plate_node
    return node

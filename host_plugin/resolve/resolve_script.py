"""*Remove Object* for DaVinci Resolve Studio (Workspace > Scripts): clean the clip under the playhead.

What it does: the clip under the playhead is the plate, the clip on the video track above it (covering the same
timeline frames) the matte; both must be image sequences with the same frame numbers. An image clip on the track
directly above the matte is the reference (clean frames the artist painted; the Blender sequencer's rule): every plate
frame it shows is a reference frame, and its file there the reference file. Their range goes to the server through
the host bridge (one job, by path; the reference as the bridge's Reference clip), and the cleaned sequence is
imported into the media pool and placed on the first free track above the matte and reference, aligned frame for
frame. Resolve calls go through ``adapter.py`` only.

Why a still reference must be trimmed to one frame: Resolve gives a still dropped on the timeline its standard still
duration (5 seconds by default), and a reference is trusted background at every frame it shows; a still painted for
one frame is wrong at the others wherever the camera or the background moves, so accepting it would silently make a
hundred frames carry the wrong background. Several painted frames come as a numbered image sequence.

Why Studio only: Resolve 21.1 moved Python scripting to the Studio edition; the free edition uses the Fuse
(``RemoveObject.fuse``) on the Fusion page instead. Settings: the bridge's parameters (``describe()``), read from
``e2fgvi_resolve.json`` beside the Workspace > Scripts launcher when it exists (keys as in ``BridgeParams``, plus
``output_folder``), else the defaults.

Where results go: ``output_folder`` when set; else ``e2fgvi/`` beside the plate when this user can write there; else
``~/e2fgvi/resolve/`` (plates often sit on a read-only share). Each run gets a new ``<plate>_clean_vNNN`` folder, so
a second run never rewrites frames Resolve has already imported (and may show from its cache).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bridge import BridgeError, BridgeParams, FrameFiles, ParamsError, PathClip, ProgressReport, RemoveObjectEffect
from . import adapter

SETTINGS_FILE = "e2fgvi_resolve.json"
OUTPUT_FOLDER = "e2fgvi"  # results go beside the plate, in this sub-folder, when the user may write there
OUTPUT_FOLDER_KEY = "output_folder"  # the one settings-file key that is not a bridge parameter
_BRACKETS = re.compile(r"\[(\d+)-(\d+)\]")
_RESULT_FOLDER = re.compile(r"_clean_v\d{3}[/\\][^/\\]*$")  # a clip this script placed: <stem>_clean_vNNN/<file>
_STILL_SUFFIXES = (".exr", ".png", ".tif", ".tiff", ".dpx", ".tga", ".jpg", ".jpeg")  # a painted still's file


class ResolveScriptError(Exception):
    """Why the script cannot run, as one line for the Console."""


@dataclass(frozen=True)
class RemovalPlan:
    """What the script will do: the sequences, the source frames, the reference files (plate frame -> file; empty:
    none) and where the result goes on the timeline."""

    plate: str
    matte: str
    first: int
    last: int
    out: str
    record_frame: int
    track: int
    reference: dict[int, str] = field(default_factory=dict)


def sequence_of(clip: adapter.TimelineClip) -> tuple[str, int]:
    """``/s/plate.[1001-1100].exr`` -> (``/s/plate.%04d.exr``, 1001): the pattern and the media's first frame."""
    match = _BRACKETS.search(clip.file_path)
    if match is None:
        raise ResolveScriptError(
            f"clip {clip.name!r} on V{clip.track} is not an image sequence ({clip.file_path or 'no file'}); "
            "Remove Object reads EXR/PNG/TIFF sequences"
        )
    digits = len(match.group(1))
    pattern = clip.file_path[: match.start()] + f"%0{digits}d" + clip.file_path[match.end() :]
    return pattern, int(match.group(1))


def writable_folder(folder: str) -> bool:
    """Whether this user can make ``folder`` and create a file in it (tried for real: permissions, read-only
    mounts and ACLs all answer the same way)."""
    import tempfile

    try:
        os.makedirs(folder, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".e2fgvi-probe-")
    except OSError:
        return False
    os.close(handle)
    os.remove(probe)
    return True


def results_folder(plate_folder: str, chosen: str | None = None) -> str:
    """The folder this run's result goes under (see the module docstring): chosen, beside the plate, or home."""
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    beside = os.path.join(plate_folder, OUTPUT_FOLDER)
    if writable_folder(beside):
        return beside
    return os.path.join(os.path.expanduser("~"), "e2fgvi", "resolve")


def _next_version(parent: str, stem: str) -> str:
    number = 1
    while os.path.exists(os.path.join(parent, f"{stem}_clean_v{number:03d}")):
        number += 1
    return os.path.join(parent, f"{stem}_clean_v{number:03d}")


def plan_removal(
    plate: adapter.TimelineClip,
    matte: adapter.TimelineClip,
    output_folder: str | None = None,
    reference: adapter.TimelineClip | None = None,
) -> RemovalPlan:
    """Check that the matte lines up with the plate and say which frames to clean, which are reference frames
    (``reference``: the clip above the matte, ``find_reference``) and where the result goes."""
    if (matte.start, matte.duration) != (plate.start, plate.duration):
        raise ResolveScriptError(
            f"the matte {matte.name!r} on V{matte.track} must cover the same timeline frames as the plate "
            f"{plate.name!r} ({plate.start}-{plate.start + plate.duration - 1}); it covers "
            f"{matte.start}-{matte.start + matte.duration - 1}"
        )
    plate_pattern, plate_media_first = sequence_of(plate)
    matte_pattern, matte_media_first = sequence_of(matte)
    first = plate_media_first + plate.left_offset
    matte_first = matte_media_first + matte.left_offset
    if matte_first != first:
        raise ResolveScriptError(
            f"the matte shows frame {matte_first} where the plate shows frame {first}; number the matte "
            "sequence like the plate (the engine pairs frames by number)"
        )
    references = reference_files(reference, plate, first) if reference is not None else {}
    folder, name = os.path.split(plate_pattern)
    stem = name.split("%", 1)[0].rstrip("._")
    version = _next_version(results_folder(folder, output_folder), stem)
    out = os.path.join(version, f"{stem}_clean.%0{len(str(first))}d.exr")
    return RemovalPlan(
        plate_pattern,
        matte_pattern,
        first,
        first + plate.duration - 1,
        out,
        plate.start,
        (reference or matte).track + 1,
        references,
    )


def reference_files(reference: adapter.TimelineClip, plate: adapter.TimelineClip, first: int) -> dict[int, str]:
    """Plate frame number -> reference file, for every plate frame the reference clip shows (``first``: the plate
    frame at the plate clip's start). A numbered sequence gives the file of the frame it shows there; a still must
    show at one plate frame only (see the module docstring)."""
    shown = range(
        max(reference.start, plate.start), min(reference.start + reference.duration, plate.start + plate.duration)
    )
    what = f"the reference {reference.name!r} on V{reference.track}"
    match = _BRACKETS.search(reference.file_path)
    if match is not None:
        head, tail = reference.file_path[: match.start()], reference.file_path[match.end() :]
        at_zero = int(match.group(1)) + reference.left_offset - reference.start  # the number it would show at frame 0
        return {first + t - plate.start: f"{head}{at_zero + t:0{len(match.group(1))}d}{tail}" for t in shown}
    if not reference.file_path.lower().endswith(_STILL_SUFFIXES):
        raise ResolveScriptError(
            f"{what} is not an image sequence or a still image ({reference.file_path or 'no file'}); give the painted "
            "frames as EXR/PNG/TIFF (alpha, if any, says which pixels to trust)"
        )
    if len(shown) != 1:
        frames = f"{first + shown.start - plate.start}-{first + shown.stop - 1 - plate.start}"
        raise ResolveScriptError(
            f"{what} is one still shown at {len(shown)} plate frames ({frames}): trim it to the frame you painted, "
            "or give several painted frames as a numbered image sequence"
        )
    return {first + shown.start - plate.start: reference.file_path}


def find_clips(timeline: Any) -> tuple[adapter.TimelineClip, adapter.TimelineClip]:
    """The plate (under the playhead) and its matte (the clip on the track above over the same frames).

    Resolve's current item is the top clip under the playhead: earlier results, then a reference (above the matte,
    usually shorter), then the matte (over the plate's very frames). A matte covers its plate's frames, a reference
    need not: that tells them apart. Three stacked clips over the same frames cannot be told apart (a reference over
    the whole shot, or a clip under the plate): refused in one line rather than guessed.
    """
    current = adapter.current_clip(timeline)
    if current is None:
        raise ResolveScriptError("no clip under the playhead: park the playhead on the plate")
    on_a_result = False
    while _RESULT_FOLDER.search(current.file_path) and current.track > 1:  # a result of an earlier run is on top
        below = _below(timeline, current)
        if below is None:
            break
        current, on_a_result = below, True
    below = _below(timeline, current)
    under = _below(timeline, below) if below is not None else None
    if below is not None and _same_frames(below, current):
        if under is not None and _same_frames(under, below):
            last = current.start + current.duration - 1
            raise ResolveScriptError(
                f"V{under.track}, V{below.track} and V{current.track} all hold a clip over timeline frames "
                f"{current.start}-{last}, so plate, matte and reference cannot be told apart: trim the reference to "
                "the frames you painted, or move the clip under the plate to another track"
            )
        return below, current  # the playhead is over plate and matte
    above = None if on_a_result else _overlapping(adapter.clips_on_track(timeline, current.track + 1), current)
    if above is not None:
        return current, above  # the playhead is on the plate alone (plan_removal refuses a matte that does not line up)
    if below is not None and under is not None and _same_frames(under, below):
        return under, below  # the playhead is on a reference shown over part of the plate
    if below is not None:
        return below, current
    raise ResolveScriptError(
        f"no matte clip on V{current.track + 1} above {current.name!r}: put the matte on the track above the plate"
    )


def find_reference(timeline: Any, matte: adapter.TimelineClip) -> adapter.TimelineClip | None:
    """The reference: the clip on the track directly above the matte over some of its frames (results of earlier
    runs there are passed over); None when there is none."""
    track = matte.track + 1
    while (clip := _overlapping(adapter.clips_on_track(timeline, track), matte)) is not None:
        if not _RESULT_FOLDER.search(clip.file_path):
            return clip
        track += 1
    return None


def _below(timeline: Any, clip: adapter.TimelineClip) -> adapter.TimelineClip | None:
    return _overlapping(adapter.clips_on_track(timeline, clip.track - 1), clip) if clip.track > 1 else None


def _same_frames(one: adapter.TimelineClip, other: adapter.TimelineClip) -> bool:
    return (one.start, one.duration) == (other.start, other.duration)


def _overlapping(clips: list[adapter.TimelineClip], clip: adapter.TimelineClip) -> adapter.TimelineClip | None:
    end = clip.start + clip.duration
    return next((c for c in clips if c.start < end and clip.start < c.start + c.duration), None)


def load_settings(folder: str) -> BridgeParams:
    return _load(folder)[0]


def _load(folder: str) -> tuple[BridgeParams, str | None]:
    """The bridge parameters and the ``output_folder`` of ``e2fgvi_resolve.json`` in ``folder`` (defaults without)."""
    path = os.path.join(folder, SETTINGS_FILE)
    values: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            values = dict(json.load(handle))
    chosen = values.pop(OUTPUT_FOLDER_KEY, None)
    return BridgeParams.from_mapping(values), (str(chosen) if chosen else None)


def run(
    resolve: Any, params: BridgeParams, log: Callable[[str], None] = print, output_folder: str | None = None
) -> RemovalPlan:
    """Clean the plate under the playhead and put the result on the timeline; returns what was done."""
    timeline = adapter.current_timeline(resolve)
    plate, matte = find_clips(timeline)
    plan = plan_removal(plate, matte, output_folder, find_reference(timeline, matte))
    params = BridgeParams.from_mapping({**params.to_mapping(), "shot": f"{plan.first}-{plan.last}"})
    log(f"Remove Object: {plan.plate} frames {plan.first}-{plan.last} -> {plan.out}")
    if plan.reference:
        log(f"Remove Object: reference frames {', '.join(str(frame) for frame in sorted(plan.reference))}")

    def on_progress(report: ProgressReport) -> None:
        log(f"Remove Object: {report.text}")

    with RemoveObjectEffect(
        PathClip(plan.plate),
        PathClip(plan.matte),
        params,
        output=plan.out,
        on_progress=on_progress,
        reference=FrameFiles(plan.reference) if plan.reference else None,
        reference_frames=sorted(plan.reference),
    ) as effect:
        effect.process_range(plan.first, plan.last)
    item = adapter.import_sequence(resolve, plan.out, plan.first, plan.last)
    frames = plan.last - plan.first + 1
    track = plan.track  # the first track above matte and reference with nothing over the plate's frames
    while _overlapping(adapter.clips_on_track(timeline, track), matte) is not None:
        track += 1
    adapter.place_on_track(resolve, timeline, item, track, plan.record_frame, frames)
    log(f"Remove Object: placed the result on V{track}")
    return plan


def main(settings_folder: str | None = None, resolve: Any = None) -> int:
    """Entry point of the Workspace > Scripts item: one line in the Console on failure, never a traceback.

    ``settings_folder`` holds ``e2fgvi_resolve.json`` (the installed launcher passes its own folder); ``resolve`` is
    the object Resolve gives a script it starts (None: the ``resolve`` global of the script that called this, which
    is where Resolve puts it, else a scripting connection from outside Resolve, ``adapter.connect``).
    """
    if resolve is None:
        resolve = sys._getframe(1).f_globals.get("resolve")  # the launcher script's globals, as Resolve set them
    try:
        params, output_folder = _load(settings_folder or os.path.dirname(os.path.abspath(__file__)))
        run(adapter.connect(resolve), params, output_folder=output_folder)
    except (ResolveScriptError, adapter.ResolveUnavailableError, BridgeError, ParamsError) as exc:
        print(f"Remove Object: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a settings file that is not JSON
        print(f"Remove Object: {SETTINGS_FILE}: {exc}", file=sys.stderr)
        return 1
    return 0

"""*Remove Object* for DaVinci Resolve Studio (Workspace > Scripts): clean the clip under the playhead.

What it does: the clip under the playhead is the plate, the clip on the video track above it (covering the same
timeline frames) the matte; both must be image sequences with the same frame numbers. Their range goes to the
server through the host bridge (one job, by path), and the cleaned sequence is imported into the media pool and
placed on the track above the matte, aligned frame for frame. Resolve calls go through ``adapter.py`` only.

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
from dataclasses import dataclass
from typing import Any

from ..bridge import BridgeError, BridgeParams, ParamsError, PathClip, ProgressReport, RemoveObjectEffect
from . import adapter

SETTINGS_FILE = "e2fgvi_resolve.json"
OUTPUT_FOLDER = "e2fgvi"  # results go beside the plate, in this sub-folder, when the user may write there
OUTPUT_FOLDER_KEY = "output_folder"  # the one settings-file key that is not a bridge parameter
_BRACKETS = re.compile(r"\[(\d+)-(\d+)\]")
_RESULT_FOLDER = re.compile(r"_clean_v\d{3}[/\\][^/\\]*$")  # a clip this script placed: <stem>_clean_vNNN/<file>


class ResolveScriptError(Exception):
    """Why the script cannot run, as one line for the Console."""


@dataclass(frozen=True)
class RemovalPlan:
    """What the script will do: the sequences, the source frames, and where the result goes on the timeline."""

    plate: str
    matte: str
    first: int
    last: int
    out: str
    record_frame: int
    track: int


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
    plate: adapter.TimelineClip, matte: adapter.TimelineClip, output_folder: str | None = None
) -> RemovalPlan:
    """Check that the matte lines up with the plate and say which frames to clean and where the result goes."""
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
    folder, name = os.path.split(plate_pattern)
    stem = name.split("%", 1)[0].rstrip("._")
    version = _next_version(results_folder(folder, output_folder), stem)
    out = os.path.join(version, f"{stem}_clean.%0{len(str(first))}d.exr")
    return RemovalPlan(
        plate_pattern, matte_pattern, first, first + plate.duration - 1, out, plate.start, matte.track + 1
    )


def find_clips(timeline: Any) -> tuple[adapter.TimelineClip, adapter.TimelineClip]:
    """The plate (under the playhead) and its matte (the clip on the track above over the same frames)."""
    current = adapter.current_clip(timeline)
    if current is None:
        raise ResolveScriptError("no clip under the playhead: park the playhead on the plate")
    on_a_result = False
    while _RESULT_FOLDER.search(current.file_path) and current.track > 1:  # a result of an earlier run is on top
        below = _overlapping(adapter.clips_on_track(timeline, current.track - 1), current)
        if below is None:
            break
        current, on_a_result = below, True
    above = None if on_a_result else _overlapping(adapter.clips_on_track(timeline, current.track + 1), current)
    if above is not None:
        return current, above
    below = _overlapping(adapter.clips_on_track(timeline, current.track - 1), current) if current.track > 1 else None
    if below is not None:  # Resolve's current item is the top one: the playhead is over plate and matte
        return below, current
    raise ResolveScriptError(
        f"no matte clip on V{current.track + 1} above {current.name!r}: put the matte on the track above the plate"
    )


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
    plan = plan_removal(plate, matte, output_folder)
    params = BridgeParams.from_mapping({**params.to_mapping(), "shot": f"{plan.first}-{plan.last}"})
    log(f"Remove Object: {plan.plate} frames {plan.first}-{plan.last} -> {plan.out}")

    def on_progress(report: ProgressReport) -> None:
        log(f"Remove Object: {report.text}")

    with RemoveObjectEffect(
        PathClip(plan.plate), PathClip(plan.matte), params, output=plan.out, on_progress=on_progress
    ) as effect:
        effect.process_range(plan.first, plan.last)
    item = adapter.import_sequence(resolve, plan.out, plan.first, plan.last)
    frames = plan.last - plan.first + 1
    track = plan.track  # the first track above the matte with nothing over the plate's frames (an earlier result)
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

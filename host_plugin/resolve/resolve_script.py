"""*Remove Object* for DaVinci Resolve Studio (Workspace > Scripts): clean the clip under the playhead.

What it does: the clip under the playhead is the plate, the clip on the video track above it (covering the same
timeline frames) the matte; both must be image sequences with the same frame numbers. Their range goes to the
server through the host bridge (one job, by path), and the cleaned sequence is imported into the media pool and
placed on the track above the matte, aligned frame for frame. Resolve calls go through ``adapter.py`` only.

Why Studio only: Resolve 21.1 moved Python scripting to the Studio edition; the free edition uses the Fuse
(``RemoveObject.fuse``) on the Fusion page instead. Settings: the bridge's parameters (``describe()``), read from
``e2fgvi_resolve.json`` beside the Workspace > Scripts launcher when it exists (keys as in ``BridgeParams``), else the defaults.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..bridge import BridgeError, BridgeParams, ParamsError, PathClip, ProgressReport, RemoveObjectEffect
from . import adapter

SETTINGS_FILE = "e2fgvi_resolve.json"
OUTPUT_FOLDER = "e2fgvi"  # results go beside the plate, in this sub-folder
_BRACKETS = re.compile(r"\[(\d+)-(\d+)\]")


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


def plan_removal(plate: adapter.TimelineClip, matte: adapter.TimelineClip) -> RemovalPlan:
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
    out = os.path.join(folder, OUTPUT_FOLDER, f"{stem}_clean.%0{len(str(first))}d.exr")
    return RemovalPlan(
        plate_pattern, matte_pattern, first, first + plate.duration - 1, out, plate.start, matte.track + 1
    )


def find_clips(timeline: Any) -> tuple[adapter.TimelineClip, adapter.TimelineClip]:
    """The plate (under the playhead) and its matte (the clip on the track above over the same frames)."""
    current = adapter.current_clip(timeline)
    if current is None:
        raise ResolveScriptError("no clip under the playhead: park the playhead on the plate")
    above = _overlapping(adapter.clips_on_track(timeline, current.track + 1), current)
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
    path = os.path.join(folder, SETTINGS_FILE)
    values: Mapping[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
    return BridgeParams.from_mapping(values)


def run(resolve: Any, params: BridgeParams, log: Callable[[str], None] = print) -> RemovalPlan:
    """Clean the plate under the playhead and put the result on the timeline; returns what was done."""
    timeline = adapter.current_timeline(resolve)
    plate, matte = find_clips(timeline)
    plan = plan_removal(plate, matte)
    params = BridgeParams.from_mapping({**params.to_mapping(), "shot": f"{plan.first}-{plan.last}"})
    log(f"Remove Object: {plan.plate} frames {plan.first}-{plan.last} -> {plan.out}")

    def on_progress(report: ProgressReport) -> None:
        eta = f", {report.eta_s:.0f} s left" if report.eta_s else ""
        log(f"Remove Object: {report.frames_done}/{report.frames_total} frames{eta}")

    with RemoveObjectEffect(
        PathClip(plan.plate), PathClip(plan.matte), params, output=plan.out, on_progress=on_progress
    ) as effect:
        effect.process_range(plan.first, plan.last)
    item = adapter.import_sequence(resolve, plan.out, plan.first, plan.last)
    adapter.place_on_track(resolve, timeline, item, plan.track, plan.record_frame, plan.last - plan.first + 1)
    log(f"Remove Object: placed the result on V{plan.track}")
    return plan


def main(settings_folder: str | None = None) -> int:
    """Entry point of the Workspace > Scripts item: one line in the Console on failure, never a traceback.

    ``settings_folder`` holds ``e2fgvi_resolve.json`` (the installed launcher passes its own folder).
    """
    try:
        params = load_settings(settings_folder or os.path.dirname(os.path.abspath(__file__)))
        run(adapter.connect(), params)
    except (ResolveScriptError, adapter.ResolveUnavailableError, BridgeError, ParamsError) as exc:
        print(f"Remove Object: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a settings file that is not JSON
        print(f"Remove Object: {SETTINGS_FILE}: {exc}", file=sys.stderr)
        return 1
    return 0

"""Every call into DaVinci Resolve's Python scripting API (``DaVinciResolveScript``), in one module.

Why one module: Resolve cannot run in CI, and since Resolve 21.1 its Python scripting is a Studio feature, so the
part that touches it is kept small, written against Blackmagic's documented API (``scriptapp``,
``GetProjectManager``, ``GetCurrentProject``, ``GetCurrentTimeline``, ``GetCurrentVideoItem``, ``GetTrackCount``,
``GetItemListInTrack``, ``GetMediaPoolItem``, ``GetClipProperty``, ``GetMediaPool``, ``ImportMedia``,
``AppendToTimeline``, ``AddTrack``) and exercised through a stand-in of that API (``tests/standins``).
``resolve_script.py`` decides what to do with plain values (``TimelineClip``); this module only talks to Resolve.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any


class ResolveUnavailableError(RuntimeError):
    """Resolve's scripting API cannot be reached (not Studio, scripting off, or Resolve not running)."""


@dataclass(frozen=True)
class TimelineClip:
    """One video clip on the timeline, as plain values: where it sits and which file it shows.

    ``start`` is the first timeline frame, ``duration`` the number of frames, ``left_offset`` the first source frame
    used (0 = the media's first frame), ``file_path`` the media pool item's "File Path" property (for an image
    sequence Resolve writes the frame range in brackets, e.g. ``/shots/plate.[1001-1100].exr``).
    """

    track: int
    start: int
    duration: int
    left_offset: int
    file_path: str
    name: str
    item_id: str


# Where Blackmagic's scripting README says the ``DaVinciResolveScript`` module lives when ``RESOLVE_SCRIPT_API`` is
# not set (its ``Modules`` folder): a script started outside Resolve finds it without a PYTHONPATH edit.
_DEFAULT_SCRIPT_API = {
    "darwin": "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting",
    "win32": os.path.join(
        os.environ.get("PROGRAMDATA", r"C:\ProgramData"),
        "Blackmagic Design",
        "DaVinci Resolve",
        "Support",
        "Developer",
        "Scripting",
    ),
    "linux": "/opt/resolve/Developer/Scripting",
}


def _script_module() -> Any:
    """``DaVinciResolveScript``: importable as is, else from ``$RESOLVE_SCRIPT_API/Modules`` or the default folder."""
    try:
        import DaVinciResolveScript as dvr
    except ImportError:
        api = os.environ.get("RESOLVE_SCRIPT_API") or _DEFAULT_SCRIPT_API.get(sys.platform, "")
        modules = os.path.join(api, "Modules")
        if not api or not os.path.isfile(os.path.join(modules, "DaVinciResolveScript.py")):
            raise ResolveUnavailableError(
                "DaVinciResolveScript cannot be imported: run this from Resolve Studio's Workspace > Scripts menu, "
                "or set RESOLVE_SCRIPT_API to Resolve's Developer/Scripting folder"
            ) from None
        sys.path.append(modules)
        import DaVinciResolveScript as dvr
    return dvr


def connect(given: Any = None) -> Any:
    """The running Resolve: ``given`` (the ``resolve`` object Resolve hands a script it starts from Workspace >
    Scripts), else the ``resolve`` global of the launching script, else ``DaVinciResolveScript.scriptapp("Resolve")``
    (a script started outside Resolve)."""
    if given is not None:
        return given
    launched = getattr(sys.modules.get("__main__"), "resolve", None)
    if launched is not None and hasattr(launched, "GetProjectManager"):
        return launched
    resolve = _script_module().scriptapp("Resolve")
    if resolve is None:
        raise ResolveUnavailableError("Resolve does not answer scripting calls (Preferences > General > scripting)")
    return resolve


def current_timeline(resolve: Any) -> Any:
    project = resolve.GetProjectManager().GetCurrentProject()
    if project is None:
        raise ResolveUnavailableError("no project is open in Resolve")
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise ResolveUnavailableError("the current project has no timeline open")
    return timeline


def _clip(item: Any, track: int) -> TimelineClip:
    media = item.GetMediaPoolItem()
    path = str(media.GetClipProperty("File Path") or "") if media is not None else ""
    return TimelineClip(
        track=track,
        start=int(item.GetStart()),
        duration=int(item.GetDuration()),
        left_offset=int(item.GetLeftOffset()),
        file_path=path,
        name=str(item.GetName()),
        item_id=str(item.GetUniqueId()),
    )


def video_track_count(timeline: Any) -> int:
    return int(timeline.GetTrackCount("video"))


def clips_on_track(timeline: Any, track: int) -> list[TimelineClip]:
    """The clips of video track ``track`` (1 = the lowest), in timeline order."""
    items = timeline.GetItemListInTrack("video", track) or []
    return sorted((_clip(item, track) for item in items), key=lambda c: c.start)


def current_clip(timeline: Any) -> TimelineClip | None:
    """The clip under the playhead (Resolve's current video item), with the track it is on."""
    item = timeline.GetCurrentVideoItem()
    if item is None:
        return None
    wanted = str(item.GetUniqueId())
    for track in range(1, video_track_count(timeline) + 1):
        for clip in clips_on_track(timeline, track):
            if clip.item_id == wanted:
                return clip
    return None


def import_sequence(resolve: Any, pattern: str, first: int, last: int) -> Any:
    """Import the image sequence ``pattern`` (``clean.%04d.exr``) frames ``first..last`` into the media pool."""
    media_pool = resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    items = media_pool.ImportMedia([{"FilePath": pattern, "StartIndex": int(first), "EndIndex": int(last)}])
    if not items:
        raise ResolveUnavailableError(f"Resolve did not import {pattern} ({first}-{last})")
    return items[0]


def place_on_track(resolve: Any, timeline: Any, item: Any, track: int, record_frame: int, frames: int) -> None:
    """Put ``frames`` frames of media pool ``item`` on video ``track`` at timeline frame ``record_frame``
    (the track is added when the timeline has fewer).

    ``AppendToTimeline``'s ``endFrame`` is the first media frame *not* placed (``endFrame - startFrame`` frames; see
    docs/hosts.md, "What the stand-ins model"), and ``recordFrame`` an absolute timeline frame (``GetStart()``'s)."""
    while video_track_count(timeline) < track:
        timeline.AddTrack("video")
    media_pool = resolve.GetProjectManager().GetCurrentProject().GetMediaPool()
    placed = media_pool.AppendToTimeline(
        [
            {
                "mediaPoolItem": item,
                "startFrame": 0,
                "endFrame": int(frames),
                "trackIndex": int(track),
                "recordFrame": int(record_frame),
            }
        ]
    )
    if not placed:
        raise ResolveUnavailableError(f"Resolve did not place the result on video track {track}")

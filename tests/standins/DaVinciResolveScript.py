"""A stand-in for DaVinci Resolve's ``DaVinciResolveScript`` module, written from Blackmagic's scripting README.

Why: Resolve cannot run here, yet ``host_plugin/resolve/adapter.py`` must be exercised for real. This module holds a
project with one timeline of video tracks and a media pool, and implements only the documented calls the adapter
makes: ``scriptapp("Resolve")``, ``Resolve.GetProjectManager``, ``ProjectManager.GetCurrentProject``,
``Project.GetCurrentTimeline``/``GetMediaPool``, ``Timeline.GetTrackCount``/``GetItemListInTrack``/
``GetCurrentVideoItem``/``AddTrack``, ``TimelineItem.GetStart``/``GetDuration``/``GetLeftOffset``/``GetName``/
``GetUniqueId``/``GetMediaPoolItem``, ``MediaPoolItem.GetClipProperty``, ``MediaPool.ImportMedia`` (an image
sequence given as ``{"FilePath": "clean.%04d.exr", "StartIndex", "EndIndex"}``; every frame must exist, or Resolve
imports nothing) and ``MediaPool.AppendToTimeline`` (clip-info dicts). Track and item numbers are 1-based as in
Resolve. "File Path" of an image sequence is written with the range in brackets (``plate.[1001-1100].exr``); a single
image file imports as a still whose "File Path" is the file itself. A still on the timeline may last any number of
frames (Resolve gives a dropped still its *Standard still duration*, 5 s by default): ``standin.place`` places any
length, as an editor's trim would.

``AppendToTimeline``'s range is half-open: ``startFrame`` is the first media frame used and ``endFrame`` the first one
*not* used, so the item is ``endFrame - startFrame`` frames long (the README only names the keys; Blackmagic's forum
example "startFrame 0, endFrame 25 appends the first 25 frames" and the scripting community's measurements on Resolve
Studio 21 agree). ``recordFrame`` is an absolute timeline frame. A range past the media's end places nothing.

Test hooks (not Resolve API): ``standin.reset()``, ``standin.add_media(path)``, ``standin.place(...)``,
``standin.playhead``.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

_ids = itertools.count(1)


class MediaPoolItem:
    def __init__(self, file_path: str, frames: int) -> None:
        self._file_path = file_path
        self.frames = frames
        self._id = f"mpi-{next(_ids)}"

    def GetClipProperty(self, propertyName: str | None = None) -> Any:
        properties = {"File Path": self._file_path, "Frames": str(self.frames), "Type": "Video"}
        return properties if propertyName is None else properties.get(propertyName, "")

    def GetName(self) -> str:
        return os.path.basename(self._file_path)

    def GetUniqueId(self) -> str:
        return self._id


class TimelineItem:
    def __init__(self, media: MediaPoolItem, start: int, duration: int, left_offset: int) -> None:
        self._media = media
        self._start, self._duration, self._left = start, duration, left_offset
        self._id = f"item-{next(_ids)}"

    def GetStart(self, subframe_precision: bool = False) -> int:
        return self._start

    def GetEnd(self, subframe_precision: bool = False) -> int:
        return self._start + self._duration

    def GetDuration(self, subframe_precision: bool = False) -> int:
        return self._duration

    def GetLeftOffset(self, subframe_precision: bool = False) -> int:
        return self._left

    def GetName(self) -> str:
        return self._media.GetName()

    def GetUniqueId(self) -> str:
        return self._id

    def GetMediaPoolItem(self) -> MediaPoolItem:
        return self._media


class Timeline:
    def __init__(self) -> None:
        self.tracks: list[list[TimelineItem]] = [[]]

    def GetTrackCount(self, trackType: str) -> int:
        return len(self.tracks) if trackType == "video" else 0

    def AddTrack(self, trackType: str, subTrackType: Any = None) -> bool:
        if trackType != "video":
            return False
        self.tracks.append([])
        return True

    def GetItemListInTrack(self, trackType: str, index: int) -> list[TimelineItem]:
        if trackType != "video" or not 1 <= index <= len(self.tracks):
            return []
        return list(self.tracks[index - 1])

    def GetCurrentVideoItem(self) -> TimelineItem | None:
        """The top-most clip under the playhead, as Resolve reports it."""
        for items in reversed(self.tracks):
            for item in items:
                if item._start <= standin.playhead < item._start + item._duration:
                    return item
        return None

    def GetStartFrame(self) -> int:
        return 0


class MediaPool:
    def __init__(self) -> None:
        self.items: list[MediaPoolItem] = []

    def ImportMedia(self, items: list[Any]) -> list[MediaPoolItem]:
        imported = []
        for entry in items:
            if isinstance(entry, dict):
                pattern, first, last = entry["FilePath"], int(entry["StartIndex"]), int(entry["EndIndex"])
                if any(not os.path.exists(pattern % f) for f in range(first, last + 1)):
                    continue
                digits = re.search(r"%0(\d+)d", pattern)
                width = int(digits.group(1)) if digits else 1
                shown = re.sub(r"%0?\d*d", f"[{first:0{width}d}-{last:0{width}d}]", pattern)
                media = MediaPoolItem(shown, last - first + 1)
            else:
                if not os.path.exists(entry):
                    continue
                media = MediaPoolItem(entry, 1)
            self.items.append(media)
            imported.append(media)
        return imported

    def AppendToTimeline(self, clips: list[dict]) -> list[TimelineItem]:
        placed = []
        timeline = standin.timeline
        for info in clips:
            media = info["mediaPoolItem"]
            start_frame, end_frame = int(info.get("startFrame", 0)), int(info.get("endFrame", media.frames))
            track = int(info.get("trackIndex", 1))
            if not 1 <= track <= len(timeline.tracks) or not 0 <= start_frame < end_frame <= media.frames:
                continue
            item = TimelineItem(media, int(info["recordFrame"]), end_frame - start_frame, start_frame)
            timeline.tracks[track - 1].append(item)
            placed.append(item)
        return placed


class Project:
    def GetCurrentTimeline(self) -> Timeline | None:
        return standin.timeline

    def GetMediaPool(self) -> MediaPool:
        return standin.media_pool

    def GetName(self) -> str:
        return "stand-in project"


class ProjectManager:
    def GetCurrentProject(self) -> Project | None:
        return standin.project


class Resolve:
    def GetProjectManager(self) -> ProjectManager:
        return ProjectManager()


def scriptapp(name: str) -> Resolve | None:
    return Resolve() if name == "Resolve" and standin.running else None


class _Standin:
    def reset(self) -> None:
        self.running = True
        self.project: Project | None = Project()
        self.timeline: Timeline | None = Timeline()
        self.media_pool = MediaPool()
        self.playhead = 0

    def add_media(self, pattern: str, first: int, last: int) -> MediaPoolItem:
        [media] = self.media_pool.ImportMedia([{"FilePath": pattern, "StartIndex": first, "EndIndex": last}])
        return media

    def place(self, media: MediaPoolItem, track: int, start: int, duration: int, left_offset: int = 0) -> TimelineItem:
        while len(self.timeline.tracks) < track:
            self.timeline.AddTrack("video")
        item = TimelineItem(media, start, duration, left_offset)
        self.timeline.tracks[track - 1].append(item)
        return item


standin = _Standin()
standin.reset()

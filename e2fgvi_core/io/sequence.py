"""Image-sequence patterns, frame ranges and gap reports.

A pattern names every frame of a shot: ``plate.%04d.exr`` (printf style), ``plate.####.exr`` or
``plate.@@@@.exr`` (one ``#``/``@`` per digit), ``plate.%d.exr`` (no padding), or a single file without a token,
which then stands for every frame (a still matte held over a shot). ``frame`` is always an absolute frame number
(1001), never a position in a list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from e2fgvi_core.errors import ConfigError, MissingFramesError, SequenceError

__all__ = [
    "FrameSequence",
    "check_outputs_spare_inputs",
    "file_identities",
    "format_frame_ranges",
    "parse_frame_range",
    "require_frame_token",
    "resolve_frames",
]

_TOKEN = re.compile(r"%(0?)(\d*)d|#+|@+")
_RANGE_PART = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:x\s*(\d+)\s*)?)?$")


@dataclass(frozen=True)
class FrameSequence:
    """A sequence of frame files named by one pattern.

    ``padding`` is the minimum number of digits (0 = none); negative frames are written ``-001`` as printf does.
    """

    pattern: str

    def __post_init__(self) -> None:
        text = os.fspath(self.pattern)
        object.__setattr__(self, "pattern", text)
        name = os.path.basename(text)
        tokens = list(_TOKEN.finditer(name))
        if len(tokens) > 1:
            raise SequenceError(f"{text}: more than one frame-number token; use one of %04d, ####, @@@@ or %d")
        if "%" in _TOKEN.sub("", name).replace("%%", ""):
            raise SequenceError(f"{text}: unsupported '%' token; use one of %04d, ####, @@@@ or %d")
        if re.search(r"%0?\d*d", os.path.dirname(text)):
            raise SequenceError(f"{text}: the frame-number token must be in the file name, not in the folder")

    @property
    def is_single_file(self) -> bool:
        """True when the pattern has no frame token: the same file serves every frame."""
        return self._token() is None

    @property
    def padding(self) -> int:
        token = self._token()
        if token is None:
            return 0
        text = token.group(0)
        if text[0] in "#@":
            return len(text)
        return int(token.group(2) or 0) if token.group(1) else 0

    def path(self, frame: int) -> str:
        """The file name of ``frame``."""
        token = self._token()
        if token is None:
            return self.pattern
        folder, name = os.path.split(self.pattern)
        digits = f"{int(frame):0{self.padding}d}" if self.padding else str(int(frame))
        return os.path.join(folder, name[: token.start()] + digits + name[token.end() :])

    def scan(self) -> tuple[int, ...]:
        """The frame numbers whose files exist on disk, sorted; ``(0,)`` for an existing single file."""
        if self.is_single_file:
            return (0,) if os.path.isfile(self.pattern) else ()
        folder, name = os.path.split(self.pattern)
        token = self._token()
        regex = re.compile(re.escape(name[: token.start()]) + r"(-?\d+)" + re.escape(name[token.end() :]) + r"$")
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            return ()
        frames = []
        for entry in entries:
            match = regex.match(entry)
            if match and os.path.basename(self.path(int(match.group(1)))) == entry:
                frames.append(int(match.group(1)))
        return tuple(sorted(frames))

    def _token(self) -> re.Match | None:
        return _TOKEN.search(os.path.basename(self.pattern))

    def __str__(self) -> str:
        return self.pattern


MAX_FRAMES_ENV = "E2FGVI_MAX_FRAMES"
DEFAULT_MAX_FRAMES = 100_000  # over an hour at 24 fps in one shot; more is a typo (or an attack), not a shot
MAX_RANGE_TEXT = 10_000
MAX_FRAME_NUMBER = 999_999_999  # nine digits: hosts keep frame numbers in 32-bit ints, the wire in 64-bit ones


def max_frames() -> int:
    """The most frames one range may name (``E2FGVI_MAX_FRAMES``): ranges are counted before any list is built."""
    raw = os.environ.get(MAX_FRAMES_ENV, "")
    if not raw:
        return DEFAULT_MAX_FRAMES
    if not raw.isdigit() or int(raw) < 1:
        raise SequenceError(f"{MAX_FRAMES_ENV} must be a positive whole number, got {raw!r}")
    return int(raw)


def parse_frame_range(text: str) -> tuple[int, ...]:
    """Frames of ``"1001-1100"``, ``"1001"``, ``"1001-1010,1020"`` or ``"1001-1100x2"``, sorted and unique.

    Each part is checked and counted before a single frame number is made, so ``1-200000000`` fails in
    microseconds with the limit named (``max_frames``) instead of filling memory.
    """
    if text is None or not str(text).strip():
        raise SequenceError("empty frame range: give e.g. 1001-1100, 1001, or 1001-1010,1020")
    if len(str(text)) > MAX_RANGE_TEXT:
        raise SequenceError(f"frame range of {len(str(text))} characters: write it as ranges (e.g. 1001-1100)")
    spans: list[range] = []
    for part in str(text).split(","):
        match = _RANGE_PART.match(part)
        if not match:
            raise SequenceError(
                f"frame range {text!r}: cannot parse {part.strip()!r}; use e.g. 1001-1100, 1001, 1001-1010,1020 "
                "or 1001-1100x2"
            )
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        step = int(match.group(3) or 1)
        for number in (start, end):
            if abs(number) > MAX_FRAME_NUMBER:
                raise SequenceError(
                    f"frame range {str(text)[:80]!r}: frame {str(number)[:30]} is beyond the limit of "
                    f"+/-{MAX_FRAME_NUMBER} (frame numbers have at most 9 digits)"
                )
        if end < start:
            raise SequenceError(f"frame range {text!r}: {part.strip()!r} is empty (end {end} before start {start})")
        if step < 1:
            raise SequenceError(f"frame range {text!r}: step in {part.strip()!r} must be at least 1")
        spans.append(range(start, end + 1, step))
    limit = max_frames()
    count = sum((span.stop - 1 - span.start) // span.step + 1 for span in spans)  # len() of a huge range overflows
    if count > limit:
        raise SequenceError(
            f"frame range {str(text)[:80]!r} names {count} frames, more than the limit of {limit} "
            f"({MAX_FRAMES_ENV}); give the shot's real range"
        )
    frames: set[int] = set()
    for span in spans:
        frames.update(span)
    return tuple(sorted(frames))


def format_frame_ranges(frames: Iterable[int]) -> str:
    """``[1003, 1010, 1011, 1012]`` -> ``"1003, 1010-1012"``: how gaps are shown to people."""
    ordered = sorted({int(f) for f in frames})
    parts = []
    index = 0
    while index < len(ordered):
        end = index
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        parts.append(str(ordered[index]) if end == index else f"{ordered[index]}-{ordered[end]}")
        index = end + 1
    return ", ".join(parts)


def resolve_frames(
    sequence: FrameSequence | str,
    frame_range: str | Sequence[int] | None = None,
    *,
    allow_gaps: bool = False,
) -> tuple[int, ...]:
    """The frames to process, checked against the disk.

    With ``frame_range`` every requested frame must exist (``MissingFramesError`` lists the gaps); without it
    the frames on disk are used, and a hole between the first and last of them is an error too unless
    ``allow_gaps`` (the protocol treats frames as consecutive). A single-file pattern serves any range.
    """
    seq = sequence if isinstance(sequence, FrameSequence) else FrameSequence(sequence)
    if frame_range is None:
        on_disk = seq.scan()
        if not on_disk:
            folder = os.path.dirname(seq.pattern) or "."
            hint = "" if Path(folder).is_dir() else f" (folder {folder} does not exist)"
            raise MissingFramesError(f"{seq.pattern}: no frames found on disk{hint}")
        if seq.is_single_file or allow_gaps:
            return on_disk
        wanted = tuple(range(on_disk[0], on_disk[-1] + 1))
        _raise_on_gaps(seq, wanted, set(on_disk), "; pass a frame range to use part of the sequence")
        return wanted
    wanted = parse_frame_range(frame_range) if isinstance(frame_range, str) else tuple(sorted(set(frame_range)))
    if not wanted:
        raise SequenceError(f"{seq.pattern}: the frame range is empty")
    if seq.is_single_file:
        if not os.path.isfile(seq.pattern):
            raise MissingFramesError(f"{seq.pattern}: file not found")
        return wanted
    present = set(seq.scan())
    folder = os.path.dirname(seq.pattern) or "."
    hint = "" if present else (f"; folder {folder} does not exist" if not os.path.isdir(folder) else "; none on disk")
    _raise_on_gaps(seq, wanted, present, hint)
    return wanted


def require_frame_token(pattern: str, frame_count: int, flag: str = "--out") -> None:
    """Refuse an output pattern without a frame token for more than one frame, before any work.

    A single-file input pattern is a still held over the shot; a single-file *output* for several frames would
    write every frame over the same file and leave only the last one, a silent loss an artist finds in dailies.
    """
    if frame_count > 1 and FrameSequence(pattern).is_single_file:
        path = Path(pattern)
        suggestion = path.with_name(f"{path.stem}.%04d{path.suffix}")
        raise SequenceError(
            f"{flag} {pattern} has no frame-number token but {frame_count} frames would be written to it, each "
            f"over the last; use a pattern such as {suggestion}"
        )


def _raise_on_gaps(seq: FrameSequence, wanted: Sequence[int], present: set[int], hint: str) -> None:
    missing = [f for f in wanted if f not in present]
    if missing:
        raise MissingFramesError(
            f"{seq.pattern}: missing frames {format_frame_ranges(missing)} (of {format_frame_ranges(wanted)}){hint}"
        )


def file_identities(paths: Iterable[str]) -> dict[tuple[int, int], str]:
    """``{(device, inode): path}`` of every existing file in ``paths``, links followed.

    Why identities and not names: ``plate.####.png``, ``plate.%04d.png``, ``plate.@@@@.png`` and a symlinked folder
    all name the same files; only the file system can say two names are one file.
    """
    identities: dict[tuple[int, int], str] = {}
    for path in paths:
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            continue
        identities.setdefault((info.st_dev, info.st_ino), path)
    return identities


def check_outputs_spare_inputs(
    outputs: Iterable[str], inputs: Mapping[tuple[int, int], str], flag: str = "--out"
) -> None:
    """Refuse (``ConfigError``) when any output path is the same file as an input frame (``file_identities``).

    ``flag`` names the option whose pattern made ``outputs`` (``--out``, ``--write-matte``) in the message.

    The one check for the CLI and the server, run before any work; ``io.writer.write_frame`` repeats it for each
    frame just before the rename, so a folder swapped for a link meanwhile cannot overwrite an input either.
    """
    if not inputs:
        return
    for identity, path in file_identities(outputs).items():
        if identity in inputs:
            raise ConfigError(
                f"output {path} is the same file as input {inputs[identity]}: it would overwrite that input; "
                f"give {flag} a different folder or name"
            )

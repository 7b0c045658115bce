"""Writing frames atomically, with their source's channels, windows and metadata plus our provenance.

A render that dies half-way must never leave a truncated EXR that a compositor would read as a valid frame: the
image is written to a temporary file in the destination folder (same file system, so the rename is atomic) and
moved over the final name with ``os.replace`` only once OpenImageIO has closed it. On any failure the temporary
file is removed and ``OutputError`` names the file and the reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

from e2fgvi_core.errors import OutputError
from e2fgvi_core.io import _oiio
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.processes import process_alive

__all__ = [
    "LOSSY_EXR_COMPRESSIONS",
    "PROVENANCE_PREFIX",
    "check_output_folder",
    "provenance_attributes",
    "sweep_stale_temp_files",
    "write_frame",
]

PROVENANCE_PREFIX = "e2fgvi:"
# Temp names written here: ".<name>.<pid>-<hex>.tmp<suffix>" (and the write probe): a dead pid means a leftover.
STALE_TEMP = re.compile(r"^\.(?:.+\.|e2fgvi-write-check\.)(\d+)-[0-9a-f]{8}(?:\.tmp(?:\.\w+)?)?$")
log = logging.getLogger("e2fgvi.io")
LOSSY_EXR_COMPRESSIONS = frozenset({"dwaa", "dwab", "b44", "b44a", "pxr24"})
_LOSSLESS_EXR_FALLBACK = "zip"
# Formats that store arbitrary string attributes; the others get the provenance as JSON in ImageDescription.
PNG_COMPRESSION_LEVEL = 1
"""zlib level of written PNGs. Lossless at every level; level 1 writes a 432x240 frame in 11 ms against 31 ms at
OpenImageIO's default 6 (one core), for files about 3% larger: at the default, writing PNGs was 75% of a cached
re-submit."""
_FORMATS_WITH_CUSTOM_ATTRIBUTES = frozenset({"openexr", "png"})


def write_frame(
    path: str | os.PathLike,
    frame: Frame,
    metadata: Mapping[str, Any] | None = None,
    *,
    compression: str | None = None,
    pixel_format: str | None = None,
    protect: Mapping[tuple[int, int], str] | None = None,
    no_links: bool = False,
) -> Path:
    """Write ``frame`` to ``path`` atomically and return the final path.

    ``metadata`` is provenance (engine, model variant, weights sha256, parameters ...): each key is stored as a
    string attribute ``e2fgvi:<key>`` on top of the frame's own metadata. ``compression`` overrides the file's
    compression; when it is not given and the source EXR used a lossy one (DWA, B44, PXR24), ``zip`` is used so
    pixels outside the matte come back bit-identical. ``pixel_format`` (``"half"``, ``"float"``, ``"uint8"``,
    ``"uint16"``) stores the pixels in another format than their dtype. Missing folders are created. Formats that
    cannot hold custom attributes (TIFF, JPEG, DPX) get the provenance as JSON in ``ImageDescription`` unless the
    source already has one. Pixels are written as given: alpha is never premultiplied or divided out.
    ``protect`` (``sequence.file_identities`` of the inputs): just before the rename the final path is checked again
    against them, so a folder swapped for a link since the run started cannot make the write replace an input.
    ``no_links`` (the server, whose output paths were resolved inside its roots at submit): the folder is opened
    one component at a time refusing any symlink, and the frame is written and renamed relative to that open
    folder, so a folder swapped for a link after the submit cannot send the write outside the roots.
    """
    target = Path(os.path.abspath(os.fspath(path))) if no_links else Path(os.fspath(path))
    format_name = _format_of_output(target)
    # With no_links every step below works relative to this fd, never through the path's folders again.
    folder_fd = _open_folder_without_links(target) if no_links else None
    try:
        if folder_fd is None:
            _ensure_folder(target)
        spec = _spec_with_provenance(target, frame, format_name, compression, pixel_format, metadata)
        temp_name = f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{target.suffix}"
        temp = _temp_path(target, temp_name, folder_fd)
        handle = None
        try:
            handle = _oiio.create_output(str(temp), OutputError)
            _write_parts(handle, temp, target, spec, frame, _other_parts(frame, format_name))
            closing, handle = handle, None
            _oiio.check(closing.close(), closing, "finish", str(target), OutputError)
            _refuse_protected(target, protect, folder_fd)
            if folder_fd is None:
                os.replace(temp, target)
            else:
                os.replace(temp_name, target.name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except OSError as exc:
            _discard(handle, temp)
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        except BaseException:
            _discard(handle, temp)
            raise
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
    return target


def _temp_path(target: Path, temp_name: str, folder_fd: int | None) -> Path:
    """Where OpenImageIO writes the temp file: beside ``target``, or inside the open folder through /proc."""
    if folder_fd is None:
        return target.with_name(temp_name)
    proc_folder = Path(f"/proc/self/fd/{folder_fd}")
    return proc_folder / temp_name if proc_folder.is_dir() else target.parent / temp_name


def _other_parts(frame: Frame, format_name: str) -> list[tuple[Any, np.ndarray]]:
    """The parts after the first of a multi-part EXR source (depth, mattes, AOVs): copied into the output as they
    are, so removing an object from the beauty does not silently drop the rest of the file."""
    if format_name != "openexr" or not frame.path or _oiio.format_of(str(frame.path)) != "openexr":
        return []
    source = oiio.ImageInput.open(str(frame.path))
    if source is None:
        return []
    parts = []
    try:
        index = 1
        while source.seek_subimage(index, 0):
            spec = oiio.ImageSpec(source.spec())
            pixels = source.read_image(index, 0, 0, spec.nchannels, spec.format)
            if pixels is None:
                raise OutputError(f"cannot copy part {index} of {frame.path}: {source.geterror()}")
            spec.channelformats = ()
            parts.append((spec, pixels))
            index += 1
    finally:
        source.close()
    return parts


def _write_parts(handle: Any, temp: Path, target: Path, spec: Any, frame: Frame, others: list) -> None:
    """Write the result as the first part, then each other part of the source unchanged."""
    specs = [spec, *(part_spec for part_spec, _ in others)]
    opened = handle.open(str(temp), specs) if others else handle.open(str(temp), spec)
    _oiio.check(opened, handle, "open", str(target), OutputError)
    _oiio.check(
        handle.write_image(np.ascontiguousarray(frame.pixels)), handle, "write pixels to", str(target), OutputError
    )
    for part_spec, pixels in others:
        _oiio.check(handle.open(str(temp), part_spec, "AppendSubimage"), handle, "open", str(target), OutputError)
        _oiio.check(handle.write_image(pixels), handle, "write a part of", str(target), OutputError)


def _spec_with_provenance(target, frame, format_name, compression, pixel_format, metadata):
    """The output spec with our provenance keys (in ImageDescription for formats without custom attributes)."""
    spec = _build_spec(target, frame, format_name, compression, pixel_format)
    provenance = provenance_attributes(metadata or {})
    for key, value in provenance.items():
        spec.attribute(key, value)
    if (
        provenance
        and format_name not in _FORMATS_WITH_CUSTOM_ATTRIBUTES
        and not spec.get_string_attribute("ImageDescription")
    ):
        spec.attribute("ImageDescription", json.dumps(provenance, sort_keys=True))
    return spec


def _open_folder_without_links(target: Path) -> int:
    """An fd of ``target``'s folder reached from ``/`` without following any symlink (missing folders are made)."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in target.parent.parts[1:]:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
            try:
                next_fd = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                next_fd = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except OSError as exc:
        os.close(fd)
        raise OutputError(
            f"cannot write {target}: its folder {target.parent} has changed since the job was accepted "
            f"({part!r}: {exc.strerror or exc}; a link there is refused, as it could lead outside the output roots)"
        ) from exc
    return fd


def _refuse_protected(
    target: Path, protect: Mapping[tuple[int, int], str] | None, folder_fd: int | None = None
) -> None:
    if not protect:
        return
    try:
        info = os.stat(target) if folder_fd is None else os.stat(target.name, dir_fd=folder_fd)
    except (OSError, ValueError):
        return
    source = protect.get((info.st_dev, info.st_ino))
    if source is not None:
        raise OutputError(f"cannot write {target}: it is the same file as input {source}; nothing was replaced")


def sweep_stale_temp_files(out_pattern: str) -> list[str]:
    """Remove temp files a killed writer left in the output folder (their process is gone); return their names.

    Outputs are written to a temp file and renamed, so a SIGKILL can leave a temp file but never a half-written
    output. The next run (CLI or server job) writing to the same folder clears such leftovers; files of live processes are kept.
    """
    folder = os.path.dirname(out_pattern) or "."  # a bare "clean.%04d.exr" writes to the current folder
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = STALE_TEMP.match(name)
        if match is None or process_alive(int(match.group(1))):
            continue
        try:
            os.remove(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            continue
    if removed:
        log.info("event=stale_temp_removed folder=%s files=%d", folder, len(removed))
    return removed


def check_output_folder(path: str | os.PathLike) -> Path:
    """Create the folder of output ``path`` (a file name or a pattern) and prove it takes a file; return it.

    Called before a run so that an unwritable destination fails in a second, not after hours of processing.
    Raises ``OutputError`` naming the folder; leaves nothing behind.
    """
    target = Path(os.fspath(path))
    _format_of_output(target)
    _ensure_folder(target)
    probe = target.parent / f".e2fgvi-write-check.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"cannot write {target}: output folder {target.parent} is not writable ({exc.strerror or exc})"
        ) from exc
    return target.parent


def provenance_attributes(metadata: Mapping[str, Any]) -> dict[str, str]:
    """``metadata`` as ``e2fgvi:``-prefixed string attributes (non-strings are stored as JSON)."""
    attributes = {}
    for key, value in metadata.items():
        name = key if str(key).startswith(PROVENANCE_PREFIX) else f"{PROVENANCE_PREFIX}{key}"
        attributes[name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return attributes


def _format_of_output(target: Path) -> str:
    """OpenImageIO's format name for ``target``'s extension; ``OutputError`` when no format has it."""
    format_name = _oiio.format_of(target.name)
    if format_name is None:
        raise OutputError(f"cannot write {target}: unknown image extension; known: {_oiio.known_extensions()}")
    return format_name


def _ensure_folder(target: Path) -> None:
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or str(exc))
        raise OutputError(f"cannot write {target}: output folder {folder} cannot be created ({reason})") from exc
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {target}: output folder {folder} is not writable")


def _build_spec(target: Path, frame: Frame, format_name: str, compression: str | None, pixel_format: str | None) -> Any:
    where = str(target)
    file_format = pixel_format or _oiio.format_for_dtype(frame.pixels.dtype, where, OutputError)
    if pixel_format is not None:
        _oiio.dtype_for_format(pixel_format, where, OutputError)
    x, y, width, height = frame.data_window
    spec = oiio.ImageSpec(width, height, len(frame.channels), file_format)
    spec.x, spec.y = x, y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = frame.display_window
    spec.channelnames = frame.channels
    if frame.channel_formats and format_name == "openexr" and pixel_format is None:
        spec.channelformats = tuple(oiio.TypeDesc(f) for f in frame.channel_formats)

    if format_name != "openexr":
        spec.attribute("oiio:UnassociatedAlpha", 1)  # write alpha and colour as given, as the reader reads them
    same_format = frame.path is None or _oiio.format_of(frame.path) == format_name
    _oiio.write_attributes(spec, frame.metadata, frame.metadata_types, same_format)
    if compression is not None:
        spec.attribute("compression", compression)
    elif format_name == "png":
        spec.attribute("png:compressionLevel", PNG_COMPRESSION_LEVEL)
    elif format_name == "openexr":
        current = spec.get_string_attribute("compression", "")
        if current.partition(":")[0].lower() in LOSSY_EXR_COMPRESSIONS:
            spec.attribute("compression", _LOSSLESS_EXR_FALLBACK)
    return spec


def _discard(handle: Any, temp: Path) -> None:
    """Best-effort cleanup after a failed write: the original failure is what the user needs to see."""
    if handle is not None:
        with contextlib.suppress(Exception):
            handle.close()
    with contextlib.suppress(OSError):
        temp.unlink(missing_ok=True)

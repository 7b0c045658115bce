"""The Fuse in real LuaJIT 2.1 (``lupa``) with the Fuse API stand-in (``fusion/fusion_standin.lua``) loaded: the
Python half of that stand-in (frames in, EXRIO's files through OpenImageIO), shared by the Fuse's tests and
``hosts_picture.py``."""

from __future__ import annotations

from pathlib import Path

import lupa.luajit21 as luajit
import numpy as np
import OpenImageIO as oiio

HERE = Path(__file__).resolve().parent
FUSE = HERE.parents[1] / "host_plugin" / "resolve" / "RemoveObject.fuse"
STANDIN = HERE / "fusion" / "fusion_standin.lua"
FUSION_API_MARKER = "-- Fusion API (the only part that calls Fusion)"


def _window_of(spec) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """An EXR's display and data windows as Fusion rectangles (left, bottom, right, top; y up from the bottom)."""
    height = spec.full_y + spec.full_height
    display = (spec.full_x, 0, spec.full_x + spec.full_width, spec.full_height)
    data = (spec.x, height - (spec.y + spec.height), spec.x + spec.width, height - spec.y)
    return display, data


class FusionSession:
    """One LuaJIT state with the Fuse API stand-in and the Fuse loaded; frames come from numpy arrays.

    ``data_windows`` gives an input's data window (Fusion's DoD) as (left, bottom, right, top) where it is not the
    whole frame. ``fuse`` is the Fuse file to load (default: the checkout's). EXRIO's files are real EXRs written and read with OpenImageIO."""

    def __init__(
        self, frames: dict[str, dict[int, np.ndarray]], first: int, last: int, data_windows=None, fuse: Path = FUSE
    ) -> None:
        self.frames = frames
        self.data_windows = data_windows or {}
        self.lua = luajit.LuaRuntime(unpack_returned_tuples=True, encoding="latin-1")
        assert "LuaJIT 2.1" in self.lua.eval("jit.version")
        self.lua.execute(STANDIN.read_text())
        self.standin = self.lua.globals().Standin
        self.standin.host_frame = self._host_frame
        self.standin.exr_header = self._exr_header
        self.standin.exr_read = self._exr_read
        self.standin.exr_write = self._exr_write
        self.standin.comp_start, self.standin.comp_end = first, last
        self.standin.load(Path(fuse).read_text())  # the checkout's Fuse, or one an install wrote

    def _host_frame(self, name: str, frame: float):
        image = self.frames.get(name, {}).get(int(frame))
        if image is None:
            return None
        rows_up = np.ascontiguousarray(image[::-1], dtype=np.float32)  # Fusion's (0, 0) is the bottom left
        window = self.data_windows.get(name, (0, 0, image.shape[1], image.shape[0]))
        return (image.shape[1], image.shape[0], rows_up.tobytes(), *window)

    def _exr_header(self, path: str):
        handle = oiio.ImageInput.open(path)
        if handle is None:
            return None
        spec = handle.spec()
        handle.close()
        display, data = _window_of(spec)
        return self.lua.table_from(
            {"display": self.lua.table_from(display), "data": self.lua.table_from(data),
             "names": self.lua.table_from(list(spec.channelnames))}
        )  # fmt: skip

    def _exr_read(self, path: str, name: str):
        buf = oiio.ImageBuf(path)
        names = list(buf.spec().channelnames)
        if name not in names:
            return None
        plane = buf.get_pixels(oiio.FLOAT)[..., names.index(name)]
        return np.ascontiguousarray(plane[::-1], np.float32).tobytes()  # rows bottom to top, as Fusion's

    def _exr_write(self, path: str, display, data, names, planes):
        (dl, db, dr, dt), (left, bottom, right, top) = tuple(display.values()), tuple(data.values())
        width, height = right - left, top - bottom
        stack = [
            np.frombuffer(planes[i + 1].encode("latin-1"), np.float32).reshape(height, width) for i in range(len(names))
        ]
        pixels = np.ascontiguousarray(np.stack(stack, -1)[::-1])
        spec = oiio.ImageSpec(width, height, len(names), oiio.FLOAT)
        spec.x, spec.y = left, (dt - db) - top
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = dl, 0, dr - dl, dt - db
        spec.channelnames = tuple(names[i + 1] for i in range(len(names)))
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(path)
        if out is None or not out.open(path, spec):
            return False, f"cannot write {path}: {oiio.geterror()}"
        out.write_image(pixels)
        out.close()
        return True, ""

    def set(self, name: str, value) -> None:
        self.standin.set(name, value)

    def render(self, frame: int) -> np.ndarray:
        width, height, data = self.standin.render(frame)  # latin-1: Lua's byte string, one char per byte
        return np.frombuffer(data.encode("latin-1"), np.float32).reshape(height, width, 4)[::-1]

    def controls(self) -> dict[str, dict]:
        return {c.name: c for c in self.standin.controls().values()}

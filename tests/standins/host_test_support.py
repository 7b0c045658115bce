"""Helpers of the Nuke and Resolve tests on top of ``e2fgvi_core.testing``: a real server writing under a folder, a
small float RGBA shot (matte in a channel named A, as Nuke reads it), the reference ``e2fgvi remove`` run, EXR reading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio

from e2fgvi_core.testing import PROJECT_ROOT, ServerProcess, free_address, subprocess_env

CLI_TIMEOUT_S = 300.0


def start_server(root: Path) -> ServerProcess:
    """A real server on a free loopback port, writing only under ``root``; the caller kills it."""
    args = ["--output-root", str(root), "--heartbeat-interval-s", "0.5"]
    return ServerProcess(free_address(), args, root / "server.log").start()


def write_exr(path: Path, pixels: np.ndarray, channels: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, oiio.FLOAT)
    spec.channelnames = channels
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32)), out.geterror()
    out.close()


def read_exr(path: str | Path) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    assert not buf.has_error, buf.geterror()
    return buf.get_pixels(oiio.FLOAT)


def make_float_shot(
    folder: Path, frames: int = 6, size: tuple[int, int] = (40, 56), first: int = 1001, grain: float = 0.0
) -> dict:
    """A float32 RGBA plate (a textured background, a red square moving over it) and its one-channel matte.

    ``grain``: the deviation of fresh Gaussian noise added to every frame's background (seeded by the frame), the
    plate ``--regrain`` measures and matches."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(frames):
        plate = np.stack(
            [
                0.25 + 0.2 * np.sin(xx / 4 + i * 0.4),
                0.3 + 0.15 * np.cos(yy / 3 + i * 0.1),
                0.2 + 0.1 * np.sin((xx + yy) / 6),
                np.ones_like(xx),
            ],
            -1,
        ).astype(np.float32)
        matte = np.zeros((h, w, 1), np.float32)
        x0 = 6 + 3 * i
        matte[12:24, x0 : x0 + 10] = 1.0
        if grain:
            plate[..., :3] += grain * np.random.default_rng(first + i).standard_normal((h, w, 3)).astype(np.float32)
        plate[matte[..., 0] > 0, :3] = (1.0, 0.0, 0.0)
        write_exr(folder / f"plate.{first + i:04d}.exr", plate, ("R", "G", "B", "A"))
        write_exr(folder / f"matte.{first + i:04d}.exr", matte, ("A",))
    return {
        "plate": str(folder / "plate.%04d.exr"),
        "matte": str(folder / "matte.%04d.exr"),
        "first": first,
        "last": first + frames - 1,
    }


def hole_detail(pixels: np.ndarray, hole: np.ndarray) -> float:
    """The high-pass energy inside ``hole`` (deviation of RGB minus its 3x3 mean): what ``--regrain`` raises."""
    rgb = pixels[..., :3].astype(np.float64)
    padded = np.pad(rgb, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = rgb.shape[:2]
    mean = sum(padded[y : y + h, x : x + w] for y in range(3) for x in range(3)) / 9.0
    return float((rgb - mean)[hole].std())


def ring_around(hole: np.ndarray, gap_px: int, width_px: int) -> np.ndarray:
    """The pixels ``gap_px`` to ``gap_px + width_px`` away from ``hole`` (bool (h, w)): the plate beside it."""
    distance = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (distance > gap_px) & (distance <= gap_px + width_px)


def provenance(path: str | Path, key: str) -> str | None:
    """The ``e2fgvi:KEY`` attribute of an output EXR (what a request wrote into it), None when absent."""
    buf = oiio.ImageBuf(str(path))
    assert not buf.has_error, buf.geterror()
    value = buf.spec().getattribute(f"e2fgvi:{key}")
    return None if value is None else str(value)


def nuke_remove_script(nuke, shot: dict, work: Path, server_address: str | None = None, matte_input: bool = True):
    """A Nuke script (the stand-in) with Reads of the plate and the matte and a Remove Object node over the shot.

    The node uses the propagate engine and ``work`` as its work folder; ``server_address`` None keeps the default.
    """
    from e2fgvi_host.nuke import node as remove_node

    nuke.root()["first_frame"].setValue(shot["first"])
    nuke.root()["last_frame"].setValue(shot["last"])
    plate = nuke.nodes.Read(file=shot["plate"], first=shot["first"], last=shot["last"])
    matte = nuke.nodes.Read(file=shot["matte"], first=shot["first"], last=shot["last"])
    created = remove_node.create()
    created.setInput(0, plate)
    if matte_input:
        created.setInput(1, matte)
    if server_address is not None:
        created["server"].setValue(server_address)
    created["engine"].setValue("propagate")
    created["work_folder"].setValue(str(work))
    return created


def nuke_process(nuke, node, timeout_s: float = CLI_TIMEOUT_S) -> bool:
    """Press *Process* on ``node`` and be Nuke's main loop until the run has finished; whether it succeeded."""
    from e2fgvi_host.nuke import node as remove_node

    run = remove_node.process(node)
    if run is None:
        return False
    assert nuke.standin.run_main_loop(run.done.is_set, timeout_s), "Process did not finish"
    return run.ok


def cli_remove(*args: str) -> subprocess.CompletedProcess:
    """``e2fgvi remove ARGS`` in a fresh interpreter (the reference every host result is compared with)."""
    return subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", *args, "--quiet"],
        check=False, cwd=PROJECT_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip


def cli_command() -> str:
    """How a host runs the ``e2fgvi`` command of this checkout (what the installer writes into the Fuse)."""
    return f"{sys.executable} -m e2fgvi_core.cli.main"

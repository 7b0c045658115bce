"""Make the OpenFX picture of docs/hosts.md from a real render of the test host on the shared footage.

    python tests/ofx/ofx_picture.py docs/img/ofx_remove_object.png

What runs: the built plug-in (build/ofx, `make ofx`) loaded by the ctypes test host (tests/ofx/ofx_host.py) in the
Filter context, against a real ``e2fgvi-server`` (propagate engine, chunks of 10); the first 20 frames of the tennis
clip (../shared/footage) as float RGBA with the mask in alpha. Columns: the plate with the matte in red, the
plug-in's result; rows: frames 5 and 15. It also prints whether each frame equals one whole-shot `e2fgvi remove`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ofx_host import STAT_OK, Host
from ofx_support import BINARY, build_plugin

from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.testing import SHARED_DIR, ServerProcess, free_address, run_python

FOOTAGE = SHARED_DIR / "footage" / "tennis"
FRAMES = 20
SHOWN = (5, 15)


def main(target: str) -> None:
    if not FOOTAGE.is_dir():
        raise SystemExit(f"no footage at {FOOTAGE}: set E2FGVI_SHARED_DIR to the shared/ folder")
    binary = BINARY if BINARY.is_file() else build_plugin()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        for index in range(FRAMES):
            rgb = oiio.ImageBuf(str(FOOTAGE / "frames" / f"{index:05d}.png")).get_pixels(oiio.FLOAT)[..., :3]
            mask = oiio.ImageBuf(str(FOOTAGE / "masks" / f"{index:05d}.png")).get_pixels(oiio.FLOAT)
            alpha = (mask.max(axis=-1) > 0).astype(np.float32)
            rgba = np.dstack([rgb, alpha]).astype(np.float32)
            write_frame(root / f"plate.{index:04d}.exr", Frame.from_array(rgba, ["R", "G", "B", "A"]))
        shot = f"0-{FRAMES - 1}"
        whole = run_python(
            ["-m", "e2fgvi_core.cli.main", "remove", "--plate", str(root / "plate.%04d.exr"), "--out",
             str(root / "whole.%04d.exr"), "--frames", shot, "--engine", "propagate", "--quiet"],
            timeout_s=1800,
        )  # fmt: skip
        if whole.returncode != 0:
            raise SystemExit(whole.stderr)
        server = ServerProcess(free_address(), ["--output-root", str(root)], root / "server.log").start()
        try:
            host = Host(binary)
            host.load()
            plates = {i: read_frame(root / f"plate.{i:04d}.exr").pixels for i in range(FRAMES)}
            effect = host.create_instance(
                "OfxImageEffectContextFilter", {"Source": (plates.__getitem__, (0, FRAMES - 1))}
            )
            for name, value in {
                "engine": "propagate",
                "shot": shot,
                "server": server.address,
                "chunk_size": 10,
            }.items():
                host.set_param(effect, name, value)
            rows = []
            for frame in SHOWN:
                status, image = host.render(effect, frame)
                if status != STAT_OK:
                    raise SystemExit(f"render failed: {host.messages}")
                reference = read_frame(root / f"whole.{frame:04d}.exr").pixels
                print(f"frame {frame}: equals the whole-shot e2fgvi remove: {np.array_equal(image, reference)}")
                plate = plates[frame]
                before = plate[..., :3].copy()
                hole = plate[..., 3] > 0
                before[hole] = 0.4 * before[hole] + 0.6 * np.array([1.0, 0.0, 0.0])
                rows.append(np.hstack([before, image[..., :3]]))
            host.destroy(effect)
        finally:
            server.kill()
    picture = np.clip(np.vstack(rows), 0.0, 1.0)
    out = oiio.ImageBuf(oiio.ImageSpec(picture.shape[1], picture.shape[0], 3, oiio.UINT8))
    out.set_pixels(oiio.ROI(), picture.astype(np.float32))
    if not out.write(target):
        raise SystemExit(out.geterror())
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1])

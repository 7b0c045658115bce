"""One render run of the test host, for ``valgrind --tool=memcheck`` (tests/ofx/test_ofx_valgrind.py starts it):
Source, Matte and a Reference clip with one reference frame (the plug-in writes it as an EXR in ``$TMPDIR``).

Light on purpose: only ctypes and numpy are imported (frames come as .npy files the test wrote), so the run under
memcheck stays short; the server runs outside valgrind. Arguments: plug-in binary, frames folder, server address.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ofx_host import STAT_OK, Host


def main(binary: str, folder: str, address: str) -> int:
    root = Path(folder)
    first, last = 1001, 1008

    def source(frame: int) -> np.ndarray:
        return np.load(root / f"plate.{frame}.npy")

    def matte(frame: int) -> np.ndarray:
        return np.load(root / f"matte.{frame}.npy")

    def reference(frame: int) -> np.ndarray:  # a painted clean frame (RGBA: alpha = trust), written by the plug-in
        painted = np.concatenate([source(frame), np.ones(source(frame).shape[:2] + (1,), np.float32)], -1)
        painted[8:16, 4:20, :3] = (0.3, 0.02, 0.3)
        return painted

    host = Host(binary)
    host.load()
    clips = {
        "Source": (source, (first, last)),
        "Matte": (matte, (first, last)),
        "Reference": (reference, (first, last)),
    }
    effect = host.create_instance("OfxImageEffectContextGeneral", clips)
    settings = {"engine": "propagate", "shot": f"{first}-{last}", "server": address, "chunk_size": 4,
                "reference_frames": "1005"}  # fmt: skip
    for name, value in settings.items():
        host.set_param(effect, name, value)
    for frame in (1006, 1002, 1003):
        status, image = host.render(effect, frame, (2, 3, 20, 17))
        if status != STAT_OK:
            print("render failed:", host.messages, file=sys.stderr)
            return 1
        np.save(root / f"out.{frame}.npy", image)
    host.destroy(effect)
    host.unload()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))

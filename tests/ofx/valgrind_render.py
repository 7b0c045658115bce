"""One render run of the test host, for ``valgrind --tool=memcheck`` (tests/ofx/test_ofx_valgrind.py starts it).

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

    host = Host(binary)
    host.load()
    effect = host.create_instance(
        "OfxImageEffectContextGeneral", {"Source": (source, (first, last)), "Matte": (matte, (first, last))}
    )
    for name, value in {"engine": "propagate", "shot": f"{first}-{last}", "server": address, "chunk_size": 4}.items():
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

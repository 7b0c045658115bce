"""HDR equivariance of the exposure normalisation: ``remove(k * plate)`` against ``k * remove(plate)`` inside the hole.

Run: ``python benchmarks/hdr_equivariance.py`` (weight-free engine, a 4-frame 80x48 scene-linear plate, frames by
value). Prints, per factor k, the largest relative difference inside the dilated hole and the brightest fill value;
docs/engine.md "HDR plates" quotes the output.
"""

from __future__ import annotations

import numpy as np

from e2fgvi_core.io import Frame
from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal

yy, xx = np.mgrid[0:48, 0:80].astype(np.float32)
plate = {
    1001 + i: np.stack(
        [0.3 + 0.25 * np.sin((xx + 2 * i) / 8), 0.25 + yy / 100, 0.2 + 0.2 * np.cos((xx + yy) / 11)], -1
    ).astype(np.float32)
    for i in range(4)
}
matte = np.zeros((48, 80), np.float32)
matte[14:30, 30:50] = 1
mattes = {n: matte for n in plate}


def run(k):
    sink = MemorySink()
    run_removal(
        RemovalRequest.from_mapping({"engine": "propagate"}),
        source=MemorySource({n: Frame.from_array(v * k) for n, v in plate.items()}),
        matte_source=MemorySource({n: Frame.from_array(m) for n, m in mattes.items()}),
        sink=sink,
    )
    return np.stack([sink.frames[n].pixels for n in sorted(plate)])


base = run(1.0)
hole = np.zeros((48, 80), bool)
hole[10:34, 26:54] = True
for k in (4.0, 3.0, 0.37):  # a power of two is exact; others round in float32
    out = run(k)
    d = np.abs(out[:, hole] - k * base[:, hole]) / np.maximum(k * np.abs(base[:, hole]), 1e-6)
    print(
        f"k={k}: max relative difference inside the hole {d.max():.3g}, max fill value {out[:, 14:30, 30:50].max():.3f}"
    )

"""`e2fgvi demo` on a fresh machine (no weights): synthetic EXR shot in, clean EXRs + contact sheet out, PSNR printed."""

from __future__ import annotations

import re

import numpy as np


def test_demo_without_weights_uses_propagate_and_reports_psnr(run_cli, tmp_path):
    out = tmp_path / "demo_output"
    done = run_cli("demo", "--output", str(out), "--frames", "12", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "weight-free 'propagate' engine" in done.stdout
    match = re.search(r"PSNR vs the clean plate: ([0-9.]+) dB in the hole, ([0-9.]+) dB whole frame", done.stdout)
    assert match, done.stdout
    assert float(match.group(1)) > 25.0 and float(match.group(2)) > float(match.group(1))
    assert len(list((out / "clean").glob("clean.*.exr"))) == 12
    from e2fgvi_core.io import read_frame

    sheet = read_frame(out / "contact_sheet.png")
    assert sheet.pixels.dtype == np.uint8 and sheet.pixels.shape[1] > 3 * 288
    plate = read_frame(out / "shot" / "plate.1001.exr")
    assert plate.pixels.dtype == np.float16

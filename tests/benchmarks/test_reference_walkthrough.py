"""The docs' reference-frame walk-through (``make bench-reference``) runs as an artist would, through the real
``e2fgvi remove`` command, and the painted clean frame must make the fill closer to the truth, not only different."""

from __future__ import annotations

import re

import pytest

from e2fgvi_core.testing import SHARED_DIR, run_python


def test_a_painted_reference_frame_brings_the_fill_closer_to_the_truth(tmp_path):
    if not (SHARED_DIR / "footage" / "schoolgirls").is_dir():
        pytest.skip(f"{SHARED_DIR} lacks footage/: put the project's shared/ folder beside the checkout")
    sheet = tmp_path / "sheet.png"
    done = run_python(["benchmarks/reference_walkthrough.py", "--frames", "8", "--sheet", str(sheet)], timeout_s=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    found = {
        label: (float(whole), float(hole))
        for label, whole, hole in re.findall(
            r"^(with(?:out)? reference): PSNR ([\d.]+) dB, hole PSNR ([\d.]+)", done.stdout, re.MULTILINE
        )
    }
    assert set(found) == {"without reference", "with reference"}, done.stdout
    assert found["with reference"][1] > found["without reference"][1] + 1.0, found
    assert found["with reference"][0] > found["without reference"][0], found
    assert sheet.stat().st_size > 10_000

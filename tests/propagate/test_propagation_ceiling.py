"""The propagation-ceiling benchmark runs on a few real frames, and its oracle really changes the engine's flows."""

from __future__ import annotations

import importlib.util
import sys

from e2fgvi_core.testing import PROJECT_ROOT

BENCHMARKS = PROJECT_ROOT / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_ceiling_table_has_every_clip_and_fill(footage_dir, tmp_path):
    ceiling = _load("propagation_ceiling")
    assert ceiling.main(["--footage", str(footage_dir), "--frames", "6", "--docs", str(tmp_path)]) == 0
    rows = [line.split("|") for line in (tmp_path / "propagation_ceiling.md").read_text().splitlines()]
    rows = [
        [cell.strip() for cell in row[1:-1]]
        for row in rows
        if len(row) == 7 and row[1].strip() in ("tennis", "schoolgirls")
    ]
    assert len(rows) == 10
    by = {(clip, fill): float(psnr) for clip, fill, psnr, _, _ in rows}
    for clip in ("tennis", "schoolgirls"):
        assert rows[[r[0] for r in rows].index(clip)][3] == "+0.00 dB", "the baseline row is the reference"
        default = by[(clip, "propagate (engine default)")]
        oracle = by[(clip, "propagate, ground-truth flow everywhere, flow chains only (camera_motion_px=0)")]
        assert oracle != default, "the ground-truth flows must reach the engine"

"""The quality benchmark runs end to end on a few real frames and writes its table and contact sheet."""

from __future__ import annotations

import importlib.util
import sys

import cv2

from e2fgvi_core.testing import PROJECT_ROOT

BENCHMARK = PROJECT_ROOT / "benchmarks" / "quality.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("quality_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_benchmark_writes_table_and_contact_sheet(footage_dir, tmp_path):
    quality = _load_benchmark()
    argv = ["--footage", str(footage_dir), "--frames", "8", "--clips", "schoolgirls", "--kinds", "object"]
    assert quality.main([*argv, "--docs", str(tmp_path)]) == 0
    text = (tmp_path / "quality.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| schoolgirls | object |")]
    assert [row.split("|")[4].strip() for row in rows][:2] == ["telea", "propagate"]
    assert all(row.rstrip().endswith("| yes |") for row in rows), "outside the hole must stay bit-identical"
    header = next(line for line in text.splitlines() if line.startswith("| clip |"))
    column = [name.strip() for name in header.split("|")].index("hole detail")
    details = [float(row.split("|")[column]) for row in rows]
    assert all(0.0 < d < 2.0 for d in details), details  # a ratio to the ground truth's own detail
    sheet = cv2.imread(str(tmp_path / "img" / "quality_schoolgirls_object.png"))
    assert sheet is not None and sheet.shape[0] > 3 * 120 and sheet.shape[1] >= 5 * 216

"""benchmarks/gpu_check.py cannot rot while no GPU is at hand: its smoke run (the same checks on the CPU at tiny
sizes) runs here as a user would start it, and every row of its table must pass or be a refusal the CPU owes."""

from __future__ import annotations

import pytest

from e2fgvi_core.testing import SHARED_DIR, run_python

CHECK_ROWS = ("parity e2fgvi_hq fused", "parity e2fgvi_hq reference", "fp32 tennis", "bf16 tennis", "fp16 tennis")
CHECK_ROWS += ("fp32 216x120", "peak memory fp32", "peak memory fp16", "farm chunk", "server on cpu, two clients")


@pytest.mark.slow
def test_gpu_check_smoke_run_passes_every_row():
    if not (SHARED_DIR / "parity").is_dir() or not (SHARED_DIR / "footage").is_dir():
        pytest.skip(f"{SHARED_DIR} lacks parity/ or footage/: put the project's shared/ folder beside the checkout")
    done = run_python(["benchmarks/gpu_check.py", "--smoke"], timeout_s=1200)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 3 and cells[0] != "check" and not cells[0].startswith("---"):
            rows[cells[0]] = cells[1]
    for name in CHECK_ROWS:
        matching = [result for check, result in rows.items() if check.startswith(name)]
        assert matching, f"no {name!r} row in the table:\n{done.stdout[-3000:]}"
        assert all(result in ("ok", "refused") for result in matching), (name, matching)
    # what the CPU must do and not refuse
    for name in ("parity", "fp32 tennis", "farm chunk", "server on cpu"):
        assert all(r == "ok" for c, r in rows.items() if c.startswith(name)), (name, rows)
    assert rows[next(c for c in rows if c.startswith("fp16 tennis"))] == "refused"

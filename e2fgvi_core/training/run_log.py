"""What a run records for people: ``losses.csv`` (always), TensorBoard scalars (when ``tensorboard`` is installed),
``losses.png`` (OpenCV) and ``preview.png``, a strip of masked input / output / ground truth of a held-out sample.

The CSV holds every step with full float precision (``repr``), so two runs can be compared bit for bit; on resume
the rows after the checkpoint's step (written by the interrupted run after its last checkpoint) are dropped.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np

from e2fgvi_core.training.run_folder import LOSS_PLOT, LOSSES_CSV, PREVIEW, write_atomic

__all__ = ["CSV_COLUMNS", "LOSS_COLUMNS", "LossLog", "plot_losses", "read_losses", "write_preview"]

LOSS_COLUMNS = ("hole", "valid", "flow", "adversarial", "discriminator", "total")
CSV_COLUMNS = ("step", "lr", *LOSS_COLUMNS, "grad_norm_g", "grad_norm_d", "skipped", "seconds")


class LossLog:
    """Appends one row per step to ``losses.csv`` and mirrors the losses to TensorBoard when available."""

    def __init__(self, run_dir: Path, resume_step: int | None):
        self.path = Path(run_dir) / LOSSES_CSV
        if resume_step is None or not self.path.exists():
            write_atomic(self.path, lambda tmp: tmp.write_text(",".join(CSV_COLUMNS) + "\n"))
        else:
            kept = [row for row in read_losses(self.path) if int(row["step"]) <= resume_step]
            text = ",".join(CSV_COLUMNS) + "\n" + "".join(_line(row) for row in kept)
            write_atomic(self.path, lambda tmp: tmp.write_text(text))
        self._handle = open(self.path, "a", newline="")  # noqa: SIM115 (open for the whole run; close() closes it)
        self._tensorboard = _tensorboard_writer(Path(run_dir) / "tensorboard")

    def append(self, row: dict) -> None:
        self._handle.write(_line(row))
        self._handle.flush()
        if self._tensorboard is not None:
            for key in ("lr", *LOSS_COLUMNS):
                value = row.get(key)
                if value is not None and math.isfinite(value):
                    self._tensorboard.add_scalar(f"loss/{key}" if key != "lr" else "lr", value, row["step"])

    def close(self) -> None:
        self._handle.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_losses(path: Path) -> list[dict]:
    """The rows of a ``losses.csv``: step and skipped as int, the rest as float."""
    with open(path, newline="") as handle:
        rows = []
        for row in csv.DictReader(handle):
            rows.append({k: (int(v) if k in ("step", "skipped") else float(v)) for k, v in row.items()})
        return rows


def _line(row: dict) -> str:
    return ",".join(repr(row.get(k, float("nan"))) for k in CSV_COLUMNS) + "\n"


def _tensorboard_writer(folder: Path):
    if importlib.util.find_spec("tensorboard") is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder))


# ------------------------------------------------------------------------------------------------------ plot
_COLOURS = {  # BGR
    "hole": (40, 40, 220),
    "valid": (40, 160, 40),
    "flow": (200, 120, 0),
    "adversarial": (160, 0, 160),
    "discriminator": (0, 140, 200),
    "total": (30, 30, 30),
}


def plot_losses(run_dir: Path, width: int = 900, height: int = 420) -> Path:
    """``losses.png``: every loss column of ``losses.csv`` against the step, log scale (so skipped steps and values
    <= 0, e.g. a negative adversarial loss, are left out)."""
    rows = [r for r in read_losses(Path(run_dir) / LOSSES_CSV) if not r["skipped"]]
    canvas = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 150, 20, 40
    series = {k: [(r["step"], r[k]) for r in rows if math.isfinite(r[k]) and r[k] > 0] for k in LOSS_COLUMNS}
    values = [v for points in series.values() for _, v in points]
    steps = [r["step"] for r in rows]
    if values and steps:
        lo, hi = math.log10(min(values)), math.log10(max(values))
        hi = hi if hi > lo else lo + 1.0
        first, last = min(steps), max(max(steps), min(steps) + 1)

        def point(step: int, value: float) -> tuple[int, int]:
            x = left + (step - first) / (last - first) * (width - left - right)
            y = top + (hi - math.log10(value)) / (hi - lo) * (height - top - bottom)
            return round(x), round(y)

        cv2.rectangle(canvas, (left, top), (width - right, height - bottom), (180, 180, 180), 1)
        for label_y, value in ((top, hi), (height - bottom, lo)):
            cv2.putText(canvas, f"{10**value:.3g}", (5, label_y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        for label_x, step in ((left, first), (width - right, last)):
            cv2.putText(canvas, str(step), (label_x - 10, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        for row, (name, points) in enumerate(series.items()):
            if not points:
                continue
            line = np.array([point(s, v) for s, v in points], np.int32)
            cv2.polylines(canvas, [line], False, _COLOURS[name], 1, cv2.LINE_AA)
            y = top + 15 + 18 * row
            cv2.line(canvas, (width - right + 10, y - 4), (width - right + 30, y - 4), _COLOURS[name], 2)
            cv2.putText(canvas, name, (width - right + 35, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        cv2.putText(canvas, "step", (width // 2, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    path = Path(run_dir) / LOSS_PLOT
    _write_png(path, canvas)
    return path


def write_preview(run_dir: Path, masked: np.ndarray, output: np.ndarray, truth: np.ndarray) -> Path:
    """``preview.png``: three rows (masked input, composited output, ground truth) of (t, h, w, 3) uint8 RGB."""
    strip = np.concatenate([np.concatenate(list(rows), axis=1) for rows in (masked, output, truth)], axis=0)
    scale = max(1, 120 // masked.shape[1])  # tiny training sizes are enlarged to about 120 pixels a row
    if scale > 1:
        strip = cv2.resize(strip, (strip.shape[1] * scale, strip.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    path = Path(run_dir) / PREVIEW
    _write_png(path, cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return path


def _write_png(path: Path, image: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise OSError(f"cannot encode {path.name}")
        tmp.write_bytes(encoded.tobytes())

    write_atomic(path, write)

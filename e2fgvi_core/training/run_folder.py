"""The run folder of ``e2fgvi train``: what it holds, and atomic reads and writes of its training checkpoints.

Layout::

    config.toml                     the config actually used (``--resume`` reads it back)
    losses.csv                      one row per step (losses, learning rate, gradient norms, skipped steps)
    losses.png                      the loss plot
    preview.png                     input / output / ground truth of a held-out sample, at the last checkpoint
    checkpoints/step_000020.pt      generator, discriminator, optimisers, schedulers, scaler, step, RNG states
    eval_step_000020.json           written by ``e2fgvi train eval``

Checkpoints are written to a temporary file in the same folder and renamed, so a crash never leaves a partial one;
they are read with ``torch.load(weights_only=True)`` (no code runs from the file).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import torch

from e2fgvi_core.atomic_files import write_atomic  # re-exported: the training modules import it from here
from e2fgvi_core.errors import CheckpointError, TrainingError

__all__ = [
    "CONFIG_FILE",
    "LOSSES_CSV",
    "capture_rng",
    "checkpoint_path",
    "list_checkpoints",
    "load_training_state",
    "prune_checkpoints",
    "restore_rng",
    "save_training_state",
    "write_atomic",
]

CONFIG_FILE = "config.toml"
LOSSES_CSV = "losses.csv"
LOSS_PLOT = "losses.png"
PREVIEW = "preview.png"
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"step_(\d{6,})\.pt$")


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:06d}.pt"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of the run's checkpoints, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def find_checkpoint(run_dir: Path, step: int | None = None) -> tuple[int, Path]:
    """The checkpoint of ``step`` (default: the newest); ``TrainingError`` listing the steps there are."""
    found = list_checkpoints(run_dir)
    if not found:
        raise TrainingError(f"run folder {run_dir} has no checkpoints ({CHECKPOINT_DIR}/step_*.pt)")
    if step is None:
        return found[-1]
    for candidate in found:
        if candidate[0] == step:
            return candidate
    raise TrainingError(f"run folder {run_dir} has no checkpoint of step {step}: steps {[s for s, _ in found]}")


def save_training_state(run_dir: Path, step: int, state: dict) -> Path:
    path = checkpoint_path(run_dir, step)
    write_atomic(path, lambda tmp: torch.save(state, tmp))
    return path


def load_training_state(path: Path, map_location="cpu") -> dict:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 (corrupt, truncated or unsafe: one line naming the file)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"training checkpoint {path} cannot be read ({detail})") from None
    if not isinstance(state, dict) or "generator" not in state or "step" not in state:
        raise CheckpointError(f"training checkpoint {path} is not an e2fgvi train checkpoint")
    return state


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints; step 0 (the starting point) always stays."""
    found = [item for item in list_checkpoints(run_dir) if item[0] != 0]
    for _, path in found[: max(len(found) - keep, 0)]:
        path.unlink(missing_ok=True)


def capture_rng() -> dict:
    """The Python, numpy and torch (CPU and CUDA) global RNG states, as plain tensors and tuples."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    random.setstate(_as_tuples(state["python"]))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value):
    """``random.setstate`` needs tuples where a round trip may give lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuples(v) for v in value)
    return value

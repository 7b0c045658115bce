"""``e2fgvi train export``: a run's generator as a checkpoint in the official key layout.

The file is a plain ``state_dict`` (parameter name -> tensor, no trainer container, no ``module.`` prefix), exactly
the keys and shapes of ``E2FGVI-HQ-CVPR22.pth`` / ``E2FGVI-CVPR22.pth``, so ``e2fgvi weights add`` installs it and
``e2fgvi remove --weights`` uses it like an official checkpoint. It is checked by loading it back through the same
safe, strict loader the engine uses before it is renamed into place.
"""

from __future__ import annotations

from pathlib import Path

import torch

from e2fgvi_core.errors import CheckpointError, ConfigError
from e2fgvi_core.models import list_variants, load_checkpoint
from e2fgvi_core.training.run_folder import find_checkpoint, load_training_state, write_atomic

__all__ = ["export_generator"]


def export_generator(run_dir: str | Path, out: str | Path, step: int | None = None) -> tuple[int, str, Path]:
    """Write the generator of checkpoint ``step`` (default: the newest) of ``run_dir`` to ``out``; returns
    ``(step, variant, out)``. Only the official variants can be exported: test variants have no official layout."""
    found_step, path = find_checkpoint(Path(run_dir), step)
    state = load_training_state(path)
    variant = state.get("variant", "")
    if variant not in list_variants():
        raise ConfigError(
            f"run {run_dir} trains the test-only variant {variant!r}: only {', '.join(list_variants())} have an "
            "official checkpoint layout to export to (--preset tiny trains e2fgvi_hq at a tiny size and exports)"
        )
    generator_state = {k: v.detach().cpu().contiguous() for k, v in state["generator"].items()}
    out = Path(out)

    def write(tmp: Path) -> None:
        torch.save(generator_state, tmp)
        found, _ = load_checkpoint(tmp)
        if found != variant:
            raise CheckpointError(f"export of {path} reads back as {found}, not {variant}")

    write_atomic(out, write)
    return found_step, variant, out

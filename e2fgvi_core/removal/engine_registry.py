"""The engines a user can pick (``--engine``, request ``engine``) and what callers must know about each.

Why a module of its own: the CLI's choices, the server's ``hello``, request validation, the ROI policy, the farm and
the host side all read these traits, and none of them should load an engine (torch, OpenCV) to do so. Standard
library only; ``engines.py`` holds the implementations and imports this, never the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2fgvi_core.errors import CheckpointError, ConfigError

ORIGINAL_SIZE_WH = (432, 240)
"""The only processing size of the original ``e2fgvi`` model (width, height)."""
HQ_MULTIPLE_HW = (60, 108)
"""E2FGVI-HQ inputs are mirror-padded to multiples of this (height, width), as the official test script does."""

PROPAGATE_NOTICE = (
    "no E2FGVI checkpoint is installed: using the weight-free 'propagate' engine (install the official E2FGVI-HQ "
    "checkpoint with `e2fgvi weights add --default E2FGVI-HQ-CVPR22.pth` for the model's quality)"
)


@dataclass(frozen=True)
class EngineTraits:
    """What callers must know about an engine without loading it.

    ``fixed_size_wh``: the only processing size it runs at (whole frames resized to it; ROI does not apply);
    ``pad_multiple_hw``: processing sizes are padded to multiples of this (None: any size); ``crops_to_roi``:
    ``--roi auto`` crops windows to their mattes; ``needs_weights``: a checkpoint must be installed;
    ``chunk_exact``: a ``frames`` subset equals the same frames of a whole-shot run bit for bit; ``notice``: the
    sentence shown when ``auto`` falls back to it.
    """

    name: str
    description: str
    needs_weights: bool
    chunk_exact: bool
    fixed_size_wh: tuple[int, int] | None = None
    pad_multiple_hw: tuple[int, int] | None = None
    crops_to_roi: bool = False
    notice: str | None = None

    def to_mapping(self) -> dict[str, object]:
        """The traits as plain values (the server's ``hello`` lists them)."""
        return {
            "name": self.name,
            "description": self.description,
            "needs_weights": self.needs_weights,
            "chunk_exact": self.chunk_exact,
            "fixed_size_wh": list(self.fixed_size_wh) if self.fixed_size_wh else None,
            "pad_multiple_hw": list(self.pad_multiple_hw) if self.pad_multiple_hw else None,
            "crops_to_roi": self.crops_to_roi,
        }


ENGINES: dict[str, EngineTraits] = {
    "e2fgvi_hq": EngineTraits(
        "e2fgvi_hq",
        "E2FGVI-HQ: any size (padded to multiples of 60x108), windows cropped to the mattes",
        needs_weights=True,
        chunk_exact=True,
        pad_multiple_hw=HQ_MULTIPLE_HW,
        crops_to_roi=True,
    ),
    "e2fgvi": EngineTraits(
        "e2fgvi",
        "E2FGVI (original): whole frames resized to 432x240",
        needs_weights=True,
        chunk_exact=True,
        fixed_size_wh=ORIGINAL_SIZE_WH,
    ),
    "propagate": EngineTraits(
        "propagate",
        "weight-free flow-guided propagation on the CPU (no checkpoint needed)",
        needs_weights=False,
        chunk_exact=True,
        notice=PROPAGATE_NOTICE,
    ),
}
"""The engines, by the name the user picks (``--engine``, request ``engine``); ``auto`` resolves to one of them."""

AUTO = "auto"
ENGINE_CHOICES: tuple[str, ...] = (AUTO, *ENGINES)
"""Every accepted ``engine`` value, in the order the CLI lists them."""


def check_engine_name(engine: str) -> str:
    """``engine`` if it is ``auto`` or a registered engine, else a ``ConfigError`` listing the choices."""
    if engine not in ENGINE_CHOICES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINE_CHOICES)}; got {engine!r}")
    return engine


@dataclass(frozen=True)
class EngineChoice:
    """The engine a request resolves to, the weights it will load, and a sentence for the user when ``auto`` fell
    back. ``weights``: the installed name (or the checkpoint file's stem) and ``weights_sha256`` its digest, both
    None for a weight-free engine; shown before the first frame so nobody learns from the summary line which
    weights made a shot."""

    engine: str
    notice: str | None = None
    weights: str | None = None
    weights_sha256: str | None = None

    def to_mapping(self, precision: str | None = None) -> dict[str, str | None]:
        """The choice as the keys callers show and send (``--json``, the server's ``accepted``): ``engine``,
        ``weights``, ``weights_sha256``, ``precision`` (the resolved one; None for the weight-free engine)."""
        return {
            "engine": self.engine,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "precision": precision,
        }


def describe_choice(choice: Mapping[str, Any]) -> str:
    """The engine, weights and precision of a run in words, from ``EngineChoice.to_mapping`` keys (in-process) or
    the server's ``accepted`` message (the same keys): e.g. ``engine e2fgvi_hq, weights finetuned (sha256
    0123456789ab), precision fp32``. The CLI prints it before the first frame; host progress texts show it."""
    if not choice.get("engine"):
        return ""
    words = [f"engine {choice.get('engine')}"]
    if choice.get("weights"):
        sha = str(choice.get("weights_sha256") or "")[:12]
        words.append(f"weights {choice['weights']}" + (f" (sha256 {sha})" if sha else ""))
    if choice.get("precision"):
        words.append(f"precision {choice['precision']}")
    return ", ".join(words)


def _pinned(engine: str, installed) -> EngineChoice:
    return EngineChoice(engine, weights=installed.name, weights_sha256=installed.sha256)


def choose_engine(engine: str, weights: str | None) -> EngineChoice:
    """Resolve ``auto`` and name the weights a model engine will load.

    ``auto``: with ``weights`` given, the engine of their variant; else the store's default weights or an official
    checkpoint (``weights.auto_weights``); else ``propagate``, with a notice that names installed weights it left
    out. Installing a checkpoint alone never changes what ``auto`` runs. A checkpoint path given with an explicit
    engine is hashed, not loaded here: the engine validates it once when it loads it (and says what is missing when
    no weights are found: ``weights`` is None then).
    """
    from e2fgvi_core import weights as store

    if engine != AUTO:
        traits = ENGINES[check_engine_name(engine)]
        if not traits.needs_weights:
            return EngineChoice(engine)
        if weights and Path(weights).expanduser().is_file():
            path = Path(weights).expanduser()
            return EngineChoice(engine, weights=path.stem, weights_sha256=store.file_sha256(path))
        try:
            return _pinned(engine, store.resolve_weights(weights, engine))
        except CheckpointError:  # said where the engine loads its weights, as for every caller that only plans
            return EngineChoice(engine)
    if weights:
        installed = store.resolve_weights(weights, None)
        return _pinned(installed.variant, installed)
    try:
        chosen = store.auto_weights()
        others = [w.name for w in store.installed_weights()]
    except CheckpointError:
        chosen, others = None, []
    if chosen is not None:
        return _pinned(chosen.variant, chosen)
    for name, traits in ENGINES.items():  # registry order: the best engine first
        if not traits.needs_weights:
            notice = traits.notice
            if others:
                notice = unused_weights_notice(name, others)
            return EngineChoice(name, notice)
    raise CheckpointError("no engine is available")


def unused_weights_notice(engine: str, names: list[str]) -> str:
    """What ``auto`` says when weights are installed but none is the default or official."""
    listed = ", ".join(repr(n) for n in names)
    return (
        f"using the weight-free {engine!r} engine: the installed weights ({listed}) are neither the default nor an "
        f"official checkpoint; use them with --weights NAME, or for every run with `e2fgvi weights default NAME`"
    )


def run_precision(engine: str, requested: str, device: str | None) -> str | None:
    """The precision a run of ``engine`` uses (``requested`` resolved on ``device`` by ``models.precision``, the
    function the engine itself calls), None for a weight-free engine. Imports torch only for a model engine, which
    loads it anyway; raises ``DeviceError`` for a precision or device the machine does not run."""
    if not ENGINES[engine].needs_weights:
        return None
    from e2fgvi_core.device import select_device
    from e2fgvi_core.models.precision import resolve_precision

    return resolve_precision(requested, select_device(device))

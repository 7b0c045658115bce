"""Safe checkpoint loading: ``weights_only`` unpickling, container unwrapping, variant detection, key checks.

A checkpoint is an interface: ``checkpoint_filter_fn`` only unwraps containers (a trainer dict's ``netG`` /
``generator`` / ``state_dict`` entry, a DataParallel ``module.`` prefix) and never renames keys.
"""

from __future__ import annotations

import functools
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from e2fgvi_core.errors import CheckpointError

__all__ = ["checkpoint_filter_fn", "detect_variant", "expected_state_shapes", "load_checkpoint", "validate_state_dict"]

_CONTAINER_KEYS = ("netG", "generator", "state_dict", "model")
_DATA_PARALLEL_PREFIX = "module."
_LISTED = 5  # how many offending keys an error message names


def checkpoint_filter_fn(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the generator state dict inside ``obj`` (a state dict or a trainer's container dict)."""
    for _ in range(3):  # nested containers, e.g. {"state_dict": {"netG": ...}}
        if not isinstance(obj, Mapping):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in _CONTAINER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj:
        kind = type(obj).__name__ if not isinstance(obj, Mapping) else "an empty dict"
        raise CheckpointError(f"{source} is not a state dict (found {kind}): expected parameter names -> tensors")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{source} is not a state dict: entries {bad[:_LISTED]!r} are not tensors; "
            f"containers understood: {', '.join(_CONTAINER_KEYS)}"
        )
    state = dict(obj)
    if all(k.startswith(_DATA_PARALLEL_PREFIX) for k in state):
        state = {k[len(_DATA_PARALLEL_PREFIX) :]: v for k, v in state.items()}
    return state


def detect_variant(keys: Iterable[str]) -> str:
    """``e2fgvi_hq`` when the soft composition has ``sc.bias_conv.weight``, ``e2fgvi`` when it has ``sc.bias``."""
    keys = set(keys)
    if "sc.bias_conv.weight" in keys:
        return "e2fgvi_hq"
    if "sc.bias" in keys:
        return "e2fgvi"
    if any(k.endswith("weight_orig") for k in keys):
        raise CheckpointError("this is a discriminator checkpoint (dis_*.pth), not a generator: use gen_*.pth")
    sample = sorted(keys)[:_LISTED]
    raise CheckpointError(
        "not an E2FGVI generator: neither 'sc.bias_conv.weight' (e2fgvi_hq) nor 'sc.bias' (e2fgvi) is present "
        f"(first keys: {sample})"
    )


@functools.cache
def expected_state_shapes(variant: str) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Key -> (shape, dtype) of ``variant``'s state dict, from a model built on the meta device (no memory)."""
    from e2fgvi_core.models import build_generator

    with torch.device("meta"):
        model = build_generator(variant)
    return {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}


def validate_state_dict(state: Mapping[str, torch.Tensor], variant: str, source: str = "checkpoint") -> None:
    """Raise ``CheckpointError`` unless ``state`` loads strictly into ``variant`` (same keys and shapes)."""
    expected = expected_state_shapes(variant)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {expected[k][0]})"
        for k in expected
        if k in state and tuple(state[k].shape) != expected[k][0]
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[:_LISTED]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:_LISTED]}")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es), e.g. {wrong[:_LISTED]}")
        raise CheckpointError(f"{source} does not fit the {variant} generator: {'; '.join(parts)}")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[str, dict]:
    """Load a generator checkpoint safely and check it: returns ``(variant, state_dict)``.

    ``torch.load(..., weights_only=True)`` never runs code from the file; a pickle that needs arbitrary objects,
    a truncated or corrupt file, a non-state-dict or a state dict of another model raises ``CheckpointError``,
    whose message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        with warnings.catch_warnings():
            # a plain pickle (not torch.save) makes torch warn about its protocol before refusing it: the refusal
            # below is the one line the user gets, so the warning (two lines on stderr) is dropped
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        match = re.search(r"GLOBAL ([\w.]+)", text)
        # a truncated legacy pickle can cut a name short (e.g. "torch._utils._rebuild_tens"): corruption, not code
        if match and not _is_truncated_name(match.group(1)):
            raise CheckpointError(
                f"checkpoint {path} is unsafe: unpickling it needs the Python object {match.group(1)!r}, which could "
                "run code; only plain tensor state dicts are accepted (re-save with torch.save(model.state_dict()))"
            ) from None
        if "Weights only load failed" in text and not match:
            detail = next((ln.strip() for ln in text.splitlines() if "Unsupported" in ln), "refused by weights_only")
            raise CheckpointError(
                f"checkpoint {path} is unsafe to load: weights_only unpickling refused it ({detail}); only plain "
                "tensor state dicts written by torch.save are accepted"
            ) from None
        raise CheckpointError(f"checkpoint {path} is corrupt or not a PyTorch file ({_first_line(text)})") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError, IndexError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {_first_line(str(exc))})"
        ) from None
    state = checkpoint_filter_fn(obj, source=f"checkpoint {path}")
    try:
        variant = detect_variant(state)
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    validate_state_dict(state, variant, source=f"checkpoint {path}")
    return variant, state


def _is_truncated_name(name: str) -> bool:
    """True when ``name`` starts in an already-imported module but names nothing there (a cut-off global).

    Nothing is imported: names outside loaded modules count as real (and so as unsafe).
    """
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is None:
            continue
        obj = module
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return True
            obj = getattr(obj, attr)
        return False
    return False


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"

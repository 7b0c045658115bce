"""Weight-free engines (numpy + OpenCV, no torch): ``PropagateInpainter`` fills holes by flow-guided propagation.

The names load on first use (PEP 562): the request schema reads ``propagate.config`` without loading OpenCV.
"""

import importlib
from typing import Any

_EXPORTS = {"PropagateConfig": "config", "PropagateInpainter": "inpainter"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

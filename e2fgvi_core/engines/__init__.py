"""Weight-free engines (numpy + OpenCV, no torch): ``PropagateInpainter`` fills holes by flow-guided propagation."""

from e2fgvi_core.engines.config import PropagateConfig
from e2fgvi_core.engines.propagate import PropagateInpainter

__all__ = ["PropagateConfig", "PropagateInpainter"]

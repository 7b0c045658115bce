"""Weight-free engines (numpy + OpenCV, no torch): ``PropagateInpainter`` fills holes by flow-guided propagation."""

from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.propagate.inpainter import PropagateInpainter

__all__ = ["PropagateConfig", "PropagateInpainter"]

"""E2FGVI networks (torch only; no I/O, no shot logic).

``build_generator(variant)`` for ``"e2fgvi"`` / ``"e2fgvi_hq"``, ``build_discriminator()``, and safe checkpoint
loading with ``load_checkpoint(path) -> (variant, state_dict)``.
"""

from __future__ import annotations

from e2fgvi_core.models import config as _config  # noqa: F401  (registers the variants)
from e2fgvi_core.models._checkpoint import (
    checkpoint_filter_fn,
    detect_variant,
    expected_state_shapes,
    load_checkpoint,
    validate_state_dict,
)
from e2fgvi_core.models._registry import get_variant_config, list_variants
from e2fgvi_core.models.config import GeneratorConfig
from e2fgvi_core.models.deform_conv import modulated_deform_conv2d
from e2fgvi_core.models.discriminator import Discriminator
from e2fgvi_core.models.generator import InpaintGenerator, ModelInputError

__all__ = [
    "Discriminator",
    "GeneratorConfig",
    "InpaintGenerator",
    "ModelInputError",
    "build_discriminator",
    "build_generator",
    "checkpoint_filter_fn",
    "detect_variant",
    "expected_state_shapes",
    "get_variant_config",
    "list_variants",
    "load_checkpoint",
    "modulated_deform_conv2d",
    "validate_state_dict",
]


def build_generator(variant: str = "e2fgvi_hq", **overrides) -> InpaintGenerator:
    """A freshly initialised generator of ``variant`` (load a checkpoint into it for real use).

    ``overrides`` replace fields of the variant's ``GeneratorConfig`` (e.g. ``attention_impl="reference"``).
    """
    config = get_variant_config(variant)
    if overrides:
        config = GeneratorConfig.from_mapping({**config.to_mapping(), **overrides})
    return InpaintGenerator(config)


def build_discriminator(in_channels: int = 3, use_sigmoid: bool = False) -> Discriminator:
    """The T-PatchGAN discriminator used for training (spectral-normalised 3D convolutions)."""
    return Discriminator(in_channels=in_channels, use_sigmoid=use_sigmoid, use_spectral_norm=True)

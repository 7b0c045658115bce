"""Per-variant generator configuration (channels, depths, windows, fold size) and the registered variants.

The two official variants differ only in how they handle size: ``e2fgvi`` has a fixed 60x108 feature map (240x432
input) and a learned positional bias after soft composition; ``e2fgvi_hq`` takes any size whose token grid fits
its 5x9 windows and uses a 3x3 ``bias_conv`` instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.models._registry import register_variant
from e2fgvi_core.models.focal_transformer import ATTENTION_IMPLS

__all__ = ["GeneratorConfig"]


def _pair(key: str, value) -> tuple[int, int]:
    try:
        a, b = value
        return (int(a), int(b))
    except (TypeError, ValueError):
        raise ConfigError(f"generator config key {key!r} must be a pair of integers, got {value!r}") from None


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of one ``InpaintGenerator`` variant."""

    variant: str
    hidden: int = 512  # token width
    num_blocks: int = 8
    num_heads: int = 4
    window_size: tuple[int, int] = (5, 9)  # tokens per attention window
    ffn_hidden: int = 1960  # F3N width, a multiple of the patch area (40 x 49)
    kernel_size: tuple[int, int] = (7, 7)  # soft split patch
    stride: tuple[int, int] = (3, 3)
    padding: tuple[int, int] = (3, 3)
    fixed_feat_size: tuple[int, int] | None = None  # original model: (60, 108); HQ: None (any size)
    deform_groups: int = 16
    max_residue_magnitude: float = 10.0
    attention_impl: str = "fused"  # "fused" (scaled_dot_product_attention) or "reference" (explicit softmax)

    @property
    def soft_comp_bias(self) -> str:
        """``learned`` positional bias for a fixed size, ``conv`` otherwise."""
        return "learned" if self.fixed_feat_size is not None else "conv"

    @property
    def fixed_input_size(self) -> tuple[int, int] | None:
        if self.fixed_feat_size is None:
            return None
        return (self.fixed_feat_size[0] * 4, self.fixed_feat_size[1] * 4)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> GeneratorConfig:
        """Build from a plain mapping (e.g. a recorded config); names the first bad key."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - set(fields))
        if unknown:
            raise ConfigError(f"unknown generator config key {unknown[0]!r}: valid keys are {sorted(fields)}")
        if "variant" not in mapping:
            raise ConfigError("generator config needs the key 'variant'")
        values: dict[str, object] = {}
        for key, value in mapping.items():
            if key in ("window_size", "kernel_size", "stride", "padding"):
                value = _pair(key, value)
            elif key == "fixed_feat_size":
                value = None if value is None else _pair(key, value)
            elif key == "attention_impl":
                if value not in ATTENTION_IMPLS:
                    raise ConfigError(
                        f"generator config key 'attention_impl' is {value!r}: use {' or '.join(ATTENTION_IMPLS)}"
                    )
            elif key == "max_residue_magnitude":
                value = float(value)
            elif key != "variant" and (not isinstance(value, int) or value <= 0):
                raise ConfigError(f"generator config key {key!r} must be a positive integer, got {value!r}")
            values[key] = value
        config = cls(**values)
        if config.hidden % config.num_heads:
            raise ConfigError(f"generator config key 'hidden' ({config.hidden}) must divide by num_heads")
        if config.ffn_hidden % (config.kernel_size[0] * config.kernel_size[1]):
            raise ConfigError("generator config key 'ffn_hidden' must be a multiple of the soft-split patch area")
        return config

    def to_mapping(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@register_variant
def e2fgvi() -> GeneratorConfig:
    """E2FGVI (CVPR 2022), checkpoint ``E2FGVI-CVPR22.pth``: 240x432 input only."""
    return GeneratorConfig(variant="e2fgvi", fixed_feat_size=(60, 108))


@register_variant
def e2fgvi_hq() -> GeneratorConfig:
    """E2FGVI-HQ, checkpoint ``E2FGVI-HQ-CVPR22.pth``: any size padded to multiples of 60x108."""
    return GeneratorConfig(variant="e2fgvi_hq")


@register_variant
def test_e2fgvi_hq() -> GeneratorConfig:
    """Tiny HQ-shaped variant for fast tests (full CNN parts, a 2-block narrow transformer)."""
    return GeneratorConfig(variant="test_e2fgvi_hq", hidden=64, num_blocks=2, num_heads=2, ffn_hidden=98)


@register_variant
def test_e2fgvi() -> GeneratorConfig:
    """Tiny fixed-size variant for fast tests (feature map 30x54, input 120x216)."""
    return GeneratorConfig(
        variant="test_e2fgvi", hidden=64, num_blocks=2, num_heads=2, ffn_hidden=98, fixed_feat_size=(30, 54)
    )


@register_variant
def test_e2fgvi_hq_tiny() -> GeneratorConfig:
    """Smallest HQ-shaped variant, for CPU training tests: 2x3 token windows, so 24x36 frames fit."""
    return GeneratorConfig(
        variant="test_e2fgvi_hq_tiny", hidden=64, num_blocks=1, num_heads=2, window_size=(2, 3), ffn_hidden=98
    )

"""Variant registry: a variant name maps to a function returning its ``GeneratorConfig`` (timm-style decorator).

Names starting with ``test_`` are tiny variants for fast tests; ``list_variants()`` hides them by default.
"""

from __future__ import annotations

from collections.abc import Callable

from e2fgvi_core.errors import ConfigError

__all__ = ["get_variant_config", "list_variants", "register_variant"]

_VARIANTS: dict[str, Callable[[], object]] = {}


def register_variant(fn: Callable[[], object]) -> Callable[[], object]:
    """Register ``fn`` (named after the variant) as the source of that variant's config."""
    if fn.__name__ in _VARIANTS:
        raise ValueError(f"variant {fn.__name__!r} registered twice")
    _VARIANTS[fn.__name__] = fn
    return fn


def list_variants(include_test: bool = False) -> list[str]:
    """The registered variant names, sorted; ``test_*`` ones only with ``include_test=True``."""
    return sorted(name for name in _VARIANTS if include_test or not name.startswith("test_"))


def get_variant_config(variant: str):
    """The ``GeneratorConfig`` of ``variant``; ``ConfigError`` naming the valid variants otherwise."""
    try:
        return _VARIANTS[variant]()
    except KeyError:
        raise ConfigError(f"unknown model variant {variant!r}: use one of {', '.join(list_variants())}") from None

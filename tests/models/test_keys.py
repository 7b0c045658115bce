"""State-dict layout = the official checkpoints' (names, shapes, dtypes, order), so they load with strict=True."""

from __future__ import annotations

import json

import pytest
import torch

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.models import build_discriminator, build_generator, get_variant_config, list_variants

_DTYPES = {"int64": torch.int64, "float32": torch.float32}


def _check_layout(state: dict, keys_file) -> None:
    spec = json.loads(keys_file.read_text())
    expected = spec["state_dict"]
    assert list(state) == list(expected), "state_dict keys or their order differ from the official checkpoint"
    for key, shape in expected.items():
        assert list(state[key].shape) == shape, key
        dtype = _DTYPES[spec["dtypes_other_than_float32"].get(key, "float32")]
        assert state[key].dtype == dtype, key
    assert len(state) == spec["num_entries"]


@pytest.mark.parametrize("variant", ["e2fgvi_hq", "e2fgvi"])
def test_generator_layout_equals_official(variant, parity_dir):
    model = build_generator(variant)
    _check_layout(model.state_dict(), parity_dir / f"keys_{variant}.json")
    spec = json.loads((parity_dir / f"keys_{variant}.json").read_text())
    assert sorted(name for name, _ in model.named_buffers()) == sorted(spec["buffers"])
    assert sum(p.numel() for p in model.parameters()) == spec["num_parameters"]


def test_discriminator_layout_equals_official(parity_dir):
    model = build_discriminator()
    _check_layout(model.state_dict(), parity_dir / "keys_discriminator.json")
    spec = json.loads((parity_dir / "keys_discriminator.json").read_text())
    assert sum(p.numel() for p in model.parameters()) == spec["num_parameters"]


def test_official_layout_loads_strictly(parity_dir):
    """A state dict shaped like E2FGVI-HQ-CVPR22.pth (values from our layout) loads with strict=True."""
    spec = json.loads((parity_dir / "keys_e2fgvi_hq.json").read_text())
    source = build_generator("e2fgvi_hq").state_dict()
    checkpoint = {k: source[k].clone() for k in spec["state_dict"]}
    result = build_generator("e2fgvi_hq").load_state_dict(checkpoint, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_variants_registry():
    assert list_variants() == ["e2fgvi", "e2fgvi_hq"]
    assert "test_e2fgvi_hq" in list_variants(include_test=True)
    with pytest.raises(ConfigError, match="'e2fgvi_xl'.*e2fgvi, e2fgvi_hq"):
        get_variant_config("e2fgvi_xl")
    with pytest.raises(ConfigError, match="'heads'"):
        build_generator("e2fgvi_hq", heads=3)


def test_discriminator_scores_patches():
    model = build_discriminator().eval()
    with torch.inference_mode():
        scores = model(torch.rand(1, 5, 3, 128, 128) * 2 - 1)
    assert scores.shape == (1, 5, 128, 2, 2)
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("variant", list_variants(include_test=True))
def test_every_registered_variant_builds_and_validates(variant):
    """Registry-driven: each variant builds, records its name, and passes its own strict-load check."""
    from e2fgvi_core.models import expected_state_shapes, validate_state_dict

    model = build_generator(variant)
    assert model.variant == variant == get_variant_config(variant).variant
    state = model.state_dict()
    assert {k: (tuple(v.shape), v.dtype) for k, v in state.items()} == expected_state_shapes(variant)
    validate_state_dict(state, variant)

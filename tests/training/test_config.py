"""Training configs: official defaults, file formats, and bad configs refused before training starts."""

from __future__ import annotations

import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.training import TrainConfig
from e2fgvi_core.training.config import dump_toml, load_config_file


def test_tiny_preset_trains_an_exportable_variant_at_a_tiny_size():
    """`--preset tiny` is the documented quick path that must end in `train export` (issue 22): the real E2FGVI-HQ
    generator (an official key layout) at the smallest size it takes; `test` is the tests' test-only variant."""
    from e2fgvi_core.models import list_variants
    from e2fgvi_core.training import PRESETS

    tiny = TrainConfig.from_mapping(PRESETS["tiny"])  # validated against the model: the size is one it takes
    assert tiny.variant in list_variants() and tiny.data.size == (52, 100)
    assert (tiny.data.batch_size, tiny.data.num_local_frames, tiny.data.num_ref_frames) == (1, 2, 1)
    assert TrainConfig.from_mapping(PRESETS["test"]).variant not in list_variants()


def test_defaults_are_the_official_e2fgvi_hq_recipe():
    config = TrainConfig.from_mapping({})
    assert config.variant == "e2fgvi_hq" and config.data.size == (240, 432)
    assert (config.data.num_local_frames, config.data.num_ref_frames, config.data.batch_size) == (5, 3, 8)
    assert (config.optim.lr, config.optim.beta1, config.optim.beta2) == (1e-4, 0.0, 0.99)
    assert config.optim.milestones == (400_000,) and config.optim.gamma == 0.1 and config.steps == 500_000
    loss = config.loss
    assert (loss.hole_weight, loss.valid_weight, loss.flow_weight, loss.adversarial_weight) == (1, 1, 1, 0.01)
    assert loss.gan_loss == "hinge" and loss.discriminator and config.seed == 2021


def test_toml_round_trip_and_yaml(tmp_path, tiny):
    config = tiny(**{"optim.module_lr": {"update_spynet": 0.25}, "data.crop_scale": [0.5, 0.9]})
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(config))
    assert TrainConfig.from_mapping(load_config_file(path)) == config
    yaml_path = tmp_path / "run.yaml"
    yaml_path.write_text("variant: test_e2fgvi_hq_tiny\nsteps: 7\ndata:\n  size: [24, 36]\n  num_local_frames: 2\n")
    pytest.importorskip("yaml")
    loaded = TrainConfig.from_mapping(load_config_file(yaml_path))
    assert loaded.steps == 7 and loaded.data.size == (24, 36)


@pytest.mark.parametrize(
    "mapping, expected",
    [
        ({"stepz": 3}, "unknown config key 'stepz'"),
        ({"data": {"sizee": [240, 432]}}, "unknown config key 'data.sizee'"),
        ({"data": {"size": [100, 100]}}, "config key 'data.size' is 100x100"),
        ({"variant": "e2fgvi", "data": {"size": [120, 216]}}, "only accepts 240x432"),
        ({"variant": "e2fgvi_xl"}, "use one of e2fgvi, e2fgvi_hq"),
        ({"optim": {"lr": "fast"}}, "'optim.lr' must be a finite non-negative number"),
        ({"optim": {"module_lr": {"spynet": 0.1}}}, "use generator modules encoder"),
        ({"loss": {"gan_loss": "lsgan"}}, "use hinge"),
        ({"data": {"num_local_frames": 1}}, "at least 2"),
    ],
)
def test_bad_configs_name_the_key(mapping, expected):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_mapping(mapping)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_bad_config_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("steps = = 3\n")
    with pytest.raises(ConfigError, match="broken.toml is not valid"):
        load_config_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")


def test_the_config_reference_in_the_docs_is_the_defaults():
    """docs/training.md lists every key with its default: the block must parse to exactly the default config."""
    import re
    from pathlib import Path

    import tomllib

    doc = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", doc, flags=re.DOTALL)
    mapping = tomllib.loads(block)
    assert TrainConfig.from_mapping(mapping) == TrainConfig()
    listed = set(mapping) | {f"{s}.{k}" for s in ("data", "loss", "optim") for k in mapping[s]}
    every = set(TrainConfig().to_mapping()) | {
        f"{s}.{k}" for s in ("data", "loss", "optim") for k in TrainConfig().to_mapping()[s]
    }
    assert listed == every

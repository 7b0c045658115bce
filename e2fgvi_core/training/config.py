"""What a training run is: one frozen ``TrainConfig`` (with ``DataConfig``, ``LossConfig``, ``OptimConfig``) read
from a TOML or YAML file, a preset, and command-line overrides, validated before any frame is read.

Defaults are the official E2FGVI-HQ recipe (``configs/train_e2fgvi_hq.json`` of MCG-NKU/E2FGVI): 240x432 frames,
5 local + 3 reference frames, batch 8, Adam lr 1e-4 with betas (0, 0.99), learning rate x0.1 at 400k of 500k
iterations, loss weights hole 1, valid 1, flow 1, adversarial 0.01 (hinge). The ``tiny`` preset is the full
E2FGVI-HQ at a tiny size (a CPU run of minutes whose checkpoint exports); ``test`` is the tests' test-only
variant. The file written to a run folder (``config.toml``) is the config actually used.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from e2fgvi_core.errors import ConfigError, ModelInputError

__all__ = [
    "GAN_LOSSES",
    "GENERATOR_MODULES",
    "PRESETS",
    "RESUME_OVERRIDABLE",
    "DataConfig",
    "LossConfig",
    "OptimConfig",
    "TrainConfig",
    "dump_toml",
    "load_config_file",
    "merge_dotted",
    "parse_size",
]

GAN_LOSSES = ("hinge",)
# top-level generator attributes (checkpoint key prefixes) that may get their own learning-rate multiplier
GENERATOR_MODULES = ("encoder", "decoder", "feat_prop_module", "ss", "sc", "transformer", "update_spynet")
# keys that may change when a run is resumed (everything else must match the recorded config)
RESUME_OVERRIDABLE = ("steps", "save_every", "keep_checkpoints", "device", "data.num_workers")


@dataclass(frozen=True)
class DataConfig:
    """Where samples come from and what they look like."""

    root: str = ""  # folder of clips: one folder of frames per clip (or <clip>/frames + <clip>/masks)
    holdout: str = ""  # folder of held-out clips: the preview strip and `e2fgvi train eval` default
    size: tuple[int, int] = (240, 432)  # (h, w) training size; the model must accept it
    num_local_frames: int = 5
    num_ref_frames: int = 3
    batch_size: int = 8  # global: split over the DDP processes
    num_workers: int = 2
    masks: str = "synthetic"  # "synthetic" (seeded shapes, still or moving) or "folders" (<clip>/masks)
    crop_scale: tuple[float, float] = (0.6, 1.0)  # random crop: this fraction of the largest crop of the right aspect
    flip: bool = True  # random horizontal flip, as the official data loader


@dataclass(frozen=True)
class LossConfig:
    """The E2FGVI losses and their weights."""

    hole_weight: float = 1.0
    valid_weight: float = 1.0
    flow_weight: float = 1.0
    adversarial_weight: float = 0.01
    gan_loss: str = "hinge"
    discriminator: bool = True  # False: no T-PatchGAN (the official "no_dis")


@dataclass(frozen=True)
class OptimConfig:
    """Adam for generator and discriminator, multi-step learning-rate decay, clipping."""

    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.99
    milestones: tuple[int, ...] = (400_000,)
    gamma: float = 0.1
    module_lr: dict[str, float] = field(default_factory=lambda: {"update_spynet": 1.0})  # multipliers of lr
    grad_clip_norm: float = 0.0  # 0: no clipping (official); else max total L2 norm per network


@dataclass(frozen=True)
class TrainConfig:
    """One training run (``e2fgvi train``)."""

    variant: str = "e2fgvi_hq"
    init: str = ""  # generator checkpoint to start from ("" = from scratch)
    steps: int = 500_000
    seed: int = 2021
    device: str = "auto"
    amp: bool = True  # mixed precision (float16 autocast + gradient scaling) on CUDA; ignored elsewhere
    save_every: int = 5000
    keep_checkpoints: int = 3  # newest checkpoints kept (step 0 is always kept: `eval --step 0` scores the start)
    max_bad_steps: int = 5  # consecutive non-finite steps before rolling back to the last checkpoint
    max_rollbacks: int = 3  # rollbacks without a good step in between before the run stops
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> TrainConfig:
        """Build and validate; a bad key or value raises ``ConfigError`` naming it (``section.key``)."""
        values = _section(cls, mapping, "", sections={"data": DataConfig, "loss": LossConfig, "optim": OptimConfig})
        config = cls(**values)
        config.validate()
        return config

    def to_mapping(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: Mapping[str, object]) -> TrainConfig:
        """A copy with dotted keys replaced (``{"optim.lr": 2e-4, "steps": 40}``), validated again."""
        return TrainConfig.from_mapping(merge_dotted(self.to_mapping(), overrides))

    def validate(self) -> None:
        """Checks across keys and against the model: done before training starts."""
        from e2fgvi_core.models import build_generator, list_variants

        if self.variant not in list_variants(include_test=True):
            raise ConfigError(f"config key 'variant' is {self.variant!r}: use one of {', '.join(list_variants())}")
        data = self.data
        if data.num_local_frames < 2:
            raise ConfigError("config key 'data.num_local_frames' must be at least 2 (the flow loss needs pairs)")
        if data.num_ref_frames < 0:
            raise ConfigError("config key 'data.num_ref_frames' must be 0 or more")
        if data.masks not in ("synthetic", "folders"):
            raise ConfigError(f"config key 'data.masks' is {data.masks!r}: use 'synthetic' or 'folders'")
        low, high = data.crop_scale
        if not 0.0 < low <= high <= 1.0:
            raise ConfigError(f"config key 'data.crop_scale' is {data.crop_scale}: need 0 < low <= high <= 1")
        if self.loss.gan_loss not in GAN_LOSSES:
            raise ConfigError(f"config key 'loss.gan_loss' is {self.loss.gan_loss!r}: use {' or '.join(GAN_LOSSES)}")
        unknown = sorted(set(self.optim.module_lr) - set(GENERATOR_MODULES))
        if unknown:
            raise ConfigError(
                f"config key 'optim.module_lr' names {unknown[0]!r}: use generator modules {', '.join(GENERATOR_MODULES)}"
            )
        if list(self.optim.milestones) != sorted(self.optim.milestones):
            raise ConfigError(f"config key 'optim.milestones' must increase, got {list(self.optim.milestones)}")
        import torch

        with torch.device("meta"):
            model = build_generator(self.variant)
        h, w = data.size
        try:
            model.check_input_size(h, w)
        except ModelInputError as exc:  # say which key to change
            raise ConfigError(f"config key 'data.size' is {h}x{w}: {exc}") from None


# ------------------------------------------------------------------------------------------------ presets
PRESETS: dict[str, dict[str, object]] = {
    "official": {},
    # The quick path of a new user (docs/training.md): the real E2FGVI-HQ generator at the smallest frame size it
    # takes (52x100), 2 + 1 frames, batch 1, so a CPU runs it in minutes and `e2fgvi train export` writes a
    # checkpoint that `e2fgvi weights add` installs. It shows the mechanics; it does not make useful weights.
    "tiny": {
        "variant": "e2fgvi_hq",
        "steps": 20,
        "seed": 7,
        "save_every": 10,
        "keep_checkpoints": 2,
        "max_bad_steps": 2,
        "max_rollbacks": 2,
        "data": {"size": [52, 100], "num_local_frames": 2, "num_ref_frames": 1, "batch_size": 1, "num_workers": 0},
        "optim": {"lr": 1e-3, "beta1": 0.9, "milestones": [15], "gamma": 0.5},
    },
    # The configuration of the tests: the smallest registered variant (test-only, 24x36 frames), a fraction of a
    # second per step on one CPU thread; a test variant has no official key layout, so these runs do not export.
    "test": {
        "variant": "test_e2fgvi_hq_tiny",
        "steps": 40,
        "seed": 7,
        "save_every": 10,
        "keep_checkpoints": 10,
        "max_bad_steps": 2,
        "max_rollbacks": 2,
        "data": {"size": [24, 36], "num_local_frames": 2, "num_ref_frames": 1, "batch_size": 1, "num_workers": 0},
        "optim": {"lr": 1e-3, "beta1": 0.9, "milestones": [30], "gamma": 0.5},
    },
}


# ------------------------------------------------------------------------------------------------ files
def load_config_file(path: str | Path) -> dict[str, object]:
    """The raw mapping in a TOML (``.toml``) or YAML (``.yaml``/``.yml``, needs PyYAML) config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(path.read_text())
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"config file {path}: YAML needs PyYAML (pip install pyyaml); or use TOML") from None
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"config file {path} must hold a mapping at the top level")
            return data
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigError(f"config file {path} is not valid: {_first_line(str(exc))}") from None
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 (yaml.YAMLError and its subclasses, PyYAML being optional)
        raise ConfigError(f"config file {path} is not valid: {_first_line(str(exc))}") from None
    raise ConfigError(f"config file {path}: use a .toml or .yaml file")


def dump_toml(config: TrainConfig) -> str:
    """``config`` as TOML text that ``load_config_file`` reads back to an equal config (written by ``tomli_w``)."""
    import tomli_w

    return tomli_w.dumps(config.to_mapping())


def parse_size(text: str) -> list[int]:
    """``"240x432"`` (h x w) -> ``[240, 432]``; ``ConfigError`` otherwise."""
    try:
        h, w = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"size {text!r} must be HxW, e.g. 240x432") from None
    return [h, w]


def merge_dotted(base: Mapping[str, object], overrides: Mapping[str, object]) -> dict[str, object]:
    """``base`` (nested) with ``overrides`` applied; override keys are dotted (``data.size``) or nested mappings."""
    merged = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in base.items()}
    for key, value in overrides.items():
        if isinstance(value, Mapping) and "." not in key:
            section = merged.setdefault(key, {})
            if not isinstance(section, dict):
                raise ConfigError(f"config key {key!r} is not a section")
            section.update(value)
            continue
        head, _, rest = key.partition(".")
        if rest:
            section = merged.setdefault(head, {})
            if not isinstance(section, dict):
                raise ConfigError(f"config key {head!r} is not a section")
            merged[head] = merge_dotted(section, {rest: value})
        else:
            merged[key] = value
    return merged


# ------------------------------------------------------------------------------------------------ helpers
def _section(cls, mapping: Mapping[str, object], prefix: str, sections: dict | None = None) -> dict[str, object]:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"config key {prefix.rstrip('.') or 'top level'!r} must be a table of keys")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(f"unknown config key {prefix + unknown[0]!r}: valid keys are {', '.join(sorted(fields))}")
    defaults = cls()
    values: dict[str, object] = {}
    for key, value in mapping.items():
        name = prefix + key
        if sections and key in sections:
            values[key] = sections[key](**_section(sections[key], value, name + "."))
            continue
        values[key] = _coerce(name, value, getattr(defaults, key))
    return values


def _coerce(name: str, value: object, default: object) -> object:
    """``value`` converted to the type of ``default``, or ``ConfigError`` naming the key."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config key {name!r} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 0:
            raise ConfigError(f"config key {name!r} must be a non-negative integer, got {value!r}")
        if (name == "steps" or name.endswith(("batch_size", "_every", "num_local_frames"))) and value <= 0:
            raise ConfigError(f"config key {name!r} must be a positive integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        return _number(name, value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"config key {name!r} must be a string, got {value!r}")
        return value
    if isinstance(default, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {name!r} must be a table of name = number")
        return {str(k): _number(f"{name}.{k}", v) for k, v in value.items()}
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {name!r} must be a list, got {value!r}")
        items = [_coerce(f"{name}[{i}]", v, default[0]) for i, v in enumerate(value)] if default else list(value)
        if name.endswith(("size", "crop_scale")) and len(items) != 2:
            raise ConfigError(f"config key {name!r} must be a pair, got {value!r}")
        if name.endswith("size") and min(items) <= 0:
            raise ConfigError(f"config key {name!r} must be two positive integers (h, w), got {value!r}")
        return tuple(items)
    raise ConfigError(f"config key {name!r} has an unsupported value {value!r}")


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"config key {name!r} must be a finite non-negative number, got {value!r}")
    return float(value)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"

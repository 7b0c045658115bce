"""Fine-tuning and training from scratch (``e2fgvi train``): data, losses, trainer, evaluation and export.

``TrainConfig`` describes a run; ``train(config, run_dir)`` runs it; ``evaluate_run`` scores a checkpoint on
held-out clips; ``export_generator`` writes the official checkpoint layout. See ``docs/training.md``.
"""

from e2fgvi_core.training.config import PRESETS, DataConfig, LossConfig, OptimConfig, TrainConfig
from e2fgvi_core.training.evaluation import EvalReport, evaluate_run
from e2fgvi_core.training.export import export_generator
from e2fgvi_core.training.trainer import StepReport, Trainer, TrainSummary, load_run_config, train

__all__ = [
    "PRESETS",
    "DataConfig",
    "EvalReport",
    "LossConfig",
    "OptimConfig",
    "StepReport",
    "TrainConfig",
    "TrainSummary",
    "Trainer",
    "evaluate_run",
    "export_generator",
    "load_run_config",
    "train",
]

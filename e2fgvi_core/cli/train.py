"""``e2fgvi train``: fine-tune or train E2FGVI from scratch; ``e2fgvi train eval RUN_DIR``; ``e2fgvi train export``.

The config comes from ``--config FILE`` (TOML or YAML) or ``--preset`` (``official``, the default, ``tiny`` or
``test``), then the common-case flags (``--data``, ``--steps``, ``--size``, ``--init``) and any ``--set KEY=VALUE``,
all validated into one ``TrainConfig`` before a frame is read. ``--resume`` continues the run in ``--out`` from its newest
checkpoint with its recorded config.
"""

from __future__ import annotations

import argparse
import sys

import tomllib

from e2fgvi_core.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file (.toml or .yaml); keys as in docs/training.md")
    parser.add_argument(
        "--preset",
        help="starting config: official (default); tiny (E2FGVI-HQ at 52x100, minutes on a CPU, exports); "
        "test (the tests' test-only variant, does not export)",
    )
    parser.add_argument("--data", help="folder of training clips, one folder of frames per clip (data.root)")
    parser.add_argument("--holdout", help="folder of held-out clips for the preview strip and eval (data.holdout)")
    parser.add_argument("--out", help="run folder: config.toml, losses.csv, losses.png, preview.png, checkpoints/")
    parser.add_argument("--steps", type=int, help="train until this step (steps)")
    parser.add_argument("--init", help="generator checkpoint to fine-tune, e.g. E2FGVI-HQ-CVPR22.pth (init)")
    parser.add_argument("--size", help="training size HxW, e.g. 240x432 (data.size)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any config key, e.g. optim.lr=5e-5"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    evaluate = sub.add_parser("eval", help="score a checkpoint on held-out clips (PSNR, SSIM, E_warp)")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data", dest="eval_data", help="folder of held-out clips (default: the run's data.holdout)")
    evaluate.add_argument("--step", type=int, help="checkpoint step (default: the newest; 0: the starting weights)")
    evaluate.add_argument("--frames", type=int, default=20, help="frames scored per clip (default 20; 0: all)")
    export = sub.add_parser("export", help="write the generator in the official checkpoint layout")
    export.add_argument("run_dir")
    export.add_argument("out", help="output .pth (install it with `e2fgvi weights add`)")
    export.add_argument("--step", type=int, help="checkpoint step (default: the newest)")


def _value(text: str):
    """A ``--set`` value as TOML reads it (numbers, true/false, [lists], "strings"), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    """The dotted config keys the flags set."""
    from e2fgvi_core.training.config import parse_size

    overrides: dict[str, object] = {}
    for key, value in (
        ("data.root", args.data),
        ("data.holdout", args.holdout),
        ("steps", args.steps),
        ("init", args.init),
        ("device", args.device),
    ):
        if value is not None:
            overrides[key] = value
    if args.size:
        overrides["data.size"] = parse_size(args.size)
    overrides.update(set_overrides(args.set))
    return overrides


def set_overrides(items: list[str]) -> dict[str, object]:
    """The dotted config keys of ``--set KEY=VALUE`` flags (also read by ``benchmarks/training_speed.py``)."""
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: use KEY=VALUE, e.g. optim.lr=5e-5")
        overrides[key.strip()] = _value(value.strip())
    return overrides


def build_config(args: argparse.Namespace):
    """The ``TrainConfig`` of a new run: preset or file, then flags."""
    from e2fgvi_core.training.config import PRESETS, TrainConfig, load_config_file, merge_dotted

    if args.config and args.preset:
        raise ConfigError("give --config or --preset, not both (a config file can start from any values)")
    if args.config:
        base = load_config_file(args.config)
    else:
        preset = args.preset or "official"
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
        base = PRESETS[preset]
    return TrainConfig.from_mapping(merge_dotted(base, overrides_from(args)))


class TrainProgress:
    """The CLI's one progress bar (``report.ProgressBar``) for training steps: step, it/s, ETA, the latest losses."""

    def __init__(self, enabled: bool = True) -> None:
        from e2fgvi_core.cli.report import ProgressBar

        self.bar = ProgressBar(enabled=enabled)

    def __call__(self, report) -> None:
        losses = " ".join(f"{k} {v:.4f}" for k, v in report.losses.items() if k in ("hole", "valid", "flow"))
        final = report.step == report.steps or report.skipped
        tail = f"{losses}{' SKIPPED' if report.skipped else ''}   "
        fraction = report.step / max(report.steps, 1)
        count, rate = f"step {report.step}/{report.steps}", f"{report.steps_per_s:5.2f} it/s"
        self.bar.draw(fraction, count, rate, report.eta_s, tail, final)

    def close(self) -> None:
        self.bar.close()


def run(args: argparse.Namespace) -> int:
    if args.action == "eval":
        return _run_eval(args)
    if args.action == "export":
        return _run_export(args)
    from e2fgvi_core.training import Trainer, load_run_config

    if not args.out:
        raise ConfigError("--out RUN_DIR is required: the folder that will hold the run")
    if args.resume:
        if args.config or args.preset:
            raise ConfigError("--resume uses the config recorded in the run folder: drop --config/--preset")
        config = load_run_config(args.out, overrides_from(args))
    else:
        config = build_config(args)
    bar = TrainProgress(enabled=not args.quiet and sys.stderr is not None)
    try:
        trainer = Trainer(config, args.out, resume=args.resume, progress=bar)
        summary = trainer.train()
    finally:
        bar.close()
    if not trainer.context.is_main:
        return 0
    for message in summary.messages:
        print(f"e2fgvi train: {message}", file=sys.stderr)
    print(
        f"e2fgvi train: steps {summary.first_step}->{summary.last_step} of {config.variant} in {summary.seconds:.1f} s "
        f"({summary.steps_per_s:.3f} it/s), {summary.skipped_steps} skipped, {summary.rollbacks} rollback(s); "
        f"checkpoint {summary.checkpoint}",
        file=sys.stderr,
    )
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from e2fgvi_core.training import evaluate_run

    report = evaluate_run(args.run_dir, args.eval_data, step=args.step, frames=args.frames)
    print(f"{report.variant} step {report.step} at {report.size[0]}x{report.size[1]}")
    print(
        f"{'clip':<16} {'masks':<7} {'frames':>6} {'PSNR':>7} {'SSIM':>6} {'hole PSNR':>9} {'hole L1':>8} {'E_warp':>9}"
    )
    for s in report.scores:
        print(
            f"{s.clip:<16} {s.masks:<7} {s.frames:>6} {s.psnr:7.2f} {s.ssim:6.4f} {s.hole_psnr:9.2f} "
            f"{s.hole_l1:8.4f} {s.ewarp:9.6f}"
        )
    print(
        f"{'mean':<16} {'':<7} {'':>6} {report.mean('psnr'):7.2f} {report.mean('ssim'):6.4f} "
        f"{report.mean('hole_psnr'):9.2f} {report.mean('hole_l1'):8.4f} {report.mean('ewarp'):9.6f}"
    )
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from e2fgvi_core.training import export_generator

    step, variant, out = export_generator(args.run_dir, args.out, step=args.step)
    print(f"exported step {step} ({variant}, official key layout) to {out}; install it with: e2fgvi weights add {out}")
    return 0

"""The training loop of ``e2fgvi train``: E2FGVI's generator against the T-PatchGAN discriminator, with the official
losses and schedule, a NaN/Inf guard with rollback, atomic resumable checkpoints and the run folder's logs.

One step, in the official order: the generator fills the masked clip; the discriminator takes one Adam step on real
clips vs. detached composites (hinge); the generator takes one Adam step on hole L1 + valid L1 + flow-completion L1
+ adversarial loss (see ``losses.py``); both learning rates follow their multi-step schedules.

Guard: a step whose losses or gradient norms are not finite is skipped (no update; ``skipped`` = 1 in
``losses.csv``). After ``max_bad_steps`` skipped steps in a row the networks and optimisers go back to the last
checkpoint (the data stream keeps moving on, so the same bad batches are not replayed); after ``max_rollbacks``
rollbacks with no good step in between the run stops with ``TrainingError``. With mixed precision, a non-finite
gradient of a finite loss is the gradient scaler's business (it lowers the scale and skips the update) and does not
count as a bad step.

Exact resume: a checkpoint holds every state that the next steps read (networks, optimisers, schedulers, gradient
scalers, guard counters, global RNG states); samples depend only on (seed, sample number) (``data.py``), so a run
resumed from step 20 gives the losses of an uninterrupted run bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from e2fgvi_core.device import select_device
from e2fgvi_core.errors import ConfigError, TrainingError
from e2fgvi_core.models import build_discriminator, build_generator, list_variants, load_checkpoint
from e2fgvi_core.models._checkpoint import checkpoint_filter_fn, validate_state_dict
from e2fgvi_core.training.config import (
    GENERATOR_MODULES,
    RESUME_OVERRIDABLE,
    TrainConfig,
    dump_toml,
    load_config_file,
    merge_dotted,
)
from e2fgvi_core.training.data import ClipSamples, SampleIds, find_clips, worker_seed
from e2fgvi_core.training.distributed import any_rank, join_distributed, leave_distributed
from e2fgvi_core.training.losses import (
    FlowCompletionLoss,
    discriminator_hinge_loss,
    generator_hinge_loss,
    hole_valid_l1,
)
from e2fgvi_core.training.run_folder import (
    CONFIG_FILE,
    capture_rng,
    find_checkpoint,
    list_checkpoints,
    load_training_state,
    prune_checkpoints,
    restore_rng,
    save_training_state,
    write_atomic,
)
from e2fgvi_core.training.run_log import LOSS_COLUMNS, LossLog, plot_losses, write_preview

__all__ = ["StepReport", "TrainSummary", "Trainer", "load_run_config", "train"]


@dataclass(frozen=True)
class StepReport:
    """What the progress bar shows after each step."""

    step: int
    steps: int
    losses: dict[str, float]
    lr: float
    skipped: bool
    steps_per_s: float
    eta_s: float | None


@dataclass(frozen=True)
class TrainSummary:
    """The outcome of ``Trainer.train``."""

    run_dir: Path
    first_step: int
    last_step: int
    skipped_steps: int
    rollbacks: int
    seconds: float
    checkpoint: Path | None
    messages: list[str] = field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        done = self.last_step - self.first_step
        return done / self.seconds if self.seconds > 0 else 0.0


def load_run_config(run_dir: Path, overrides: dict | None = None) -> TrainConfig:
    """The config recorded in ``run_dir`` with the overrides ``--resume`` allows (``RESUME_OVERRIDABLE``)."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise TrainingError(f"{run_dir} is not a run folder (no {CONFIG_FILE}): nothing to resume")
    config = TrainConfig.from_mapping(load_config_file(path))
    overrides = dict(overrides or {})
    recorded = _flatten(config.to_mapping())
    changed = sorted(k for k, v in _flatten(merge_dotted({}, overrides)).items() if recorded.get(k) != v)
    refused = [k for k in changed if k not in RESUME_OVERRIDABLE]
    if refused:
        raise ConfigError(
            f"cannot change {refused[0]!r} when resuming {run_dir} (it changes what the run computes); "
            f"changeable on resume: {', '.join(RESUME_OVERRIDABLE)}"
        )
    return config.with_overrides(overrides) if overrides else config


class Trainer:
    """One training run in ``run_dir``; ``resume=True`` continues from its newest checkpoint.

    ``dataset`` replaces the samples read from ``config.data.root`` (it must yield what ``ClipSamples`` yields);
    ``progress`` is called after every step with a ``StepReport``.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        dataset: Dataset | None = None,
        progress: Callable[[StepReport], None] | None = None,
    ):
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.messages: list[str] = []
        existing = list_checkpoints(self.run_dir)
        if existing and not resume:
            raise TrainingError(
                f"run folder {self.run_dir} already holds a run (checkpoints up to step {existing[-1][0]}): "
                "use --resume to continue it or --out another folder"
            )
        if resume and not existing:
            raise TrainingError(f"run folder {self.run_dir} has no checkpoint to resume from")
        data = config.data
        device = select_device(config.device)
        self.context = join_distributed(device)
        if self.context.enabled and device.type == "cuda":
            device = torch.device("cuda", self.context.local_rank)
        self.device = device
        if data.batch_size % self.context.world_size:
            raise ConfigError(
                f"config key 'data.batch_size' ({data.batch_size}) must divide by the {self.context.world_size} processes"
            )
        if dataset is None:
            clips = find_clips(
                data.root, min_frames=data.num_local_frames + data.num_ref_frames, need_masks=data.masks == "folders"
            )
            dataset = ClipSamples(clips, data, config.seed)
        self.dataset = dataset
        self.preview_samples = self._preview_source(dataset)

        torch.manual_seed(config.seed)
        self.generator = build_generator(config.variant).init_weights().to(device)
        if config.init and not resume:  # a resumed run reads its weights from its checkpoint
            self.generator.load_state_dict(_init_state(config.init, config.variant), strict=True)
        self.flow_loss = FlowCompletionLoss(self.generator).to(device)
        self.discriminator = build_discriminator(use_sigmoid=False).to(device) if config.loss.discriminator else None
        self.optim_g = torch.optim.Adam(self._generator_groups(), betas=(config.optim.beta1, config.optim.beta2))
        self.sched_g = self._schedule(self.optim_g)
        self.optim_d = self.sched_d = None
        if self.discriminator is not None:
            self.optim_d = torch.optim.Adam(
                self.discriminator.parameters(), lr=config.optim.lr, betas=(config.optim.beta1, config.optim.beta2)
            )
            self.sched_d = self._schedule(self.optim_d)
        self.amp = bool(config.amp and device.type == "cuda")
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=self.amp)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=self.amp)
        self.step = 0
        self.bad_in_a_row = 0
        self.rollbacks_since_good = 0
        self.skipped_total = 0
        self.rollbacks_total = 0

        if resume:
            _, path = find_checkpoint(self.run_dir)
            self._load_state(load_training_state(path, map_location=device), full=True)
        if self.context.is_main:  # the config actually used (on resume: with its new steps, cadences, workers)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self.run_dir / CONFIG_FILE, lambda tmp: tmp.write_text(dump_toml(config)))
        self.g_train = self.generator
        self.d_train = self.discriminator
        if self.context.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.g_train = DistributedDataParallel(self.generator, device_ids=ids)
            if self.discriminator is not None:
                self.d_train = DistributedDataParallel(self.discriminator, device_ids=ids)
        self.log = LossLog(self.run_dir, self.step if resume else None) if self.context.is_main else None
        if not resume:
            self._save()  # step 0: the rollback point of the first steps and the "before" of `eval --step 0`

    # ------------------------------------------------------------------------------------------------ setup
    def _generator_groups(self) -> list[dict]:
        """One Adam parameter group per module with a learning-rate multiplier, one for the rest."""
        lr = self.config.optim.lr
        multipliers = self.config.optim.module_lr
        groups: dict[str, list] = {name: [] for name in multipliers}
        rest = []
        for name, param in self.generator.named_parameters():
            top = name.split(".", 1)[0]
            groups.get(top, rest).append(param)
        result = [{"params": rest, "lr": lr, "name": "rest"}]
        result += [
            {"params": groups[n], "lr": lr * multipliers[n], "name": n} for n in GENERATOR_MODULES if n in groups
        ]
        return [g for g in result if g["params"]]

    def _schedule(self, optimizer: torch.optim.Optimizer):
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(self.config.optim.milestones), gamma=self.config.optim.gamma
        )

    def _preview_source(self, dataset: Dataset):
        """(dataset, clip) of the held-out preview sample: the first held-out clip, else the first training clip."""
        if not isinstance(dataset, ClipSamples):
            return None
        data = self.config.data
        if data.holdout:
            clips = find_clips(data.holdout, min_frames=data.num_local_frames + data.num_ref_frames)
            return clips[0]
        return dataset.clips[0]

    def _loader(self) -> DataLoader:
        data = self.config.data
        sampler = SampleIds(data.batch_size, self.step, self.context.rank, self.context.world_size)
        seed = self.config.seed

        def init_worker(worker_id: int) -> None:
            value = worker_seed(seed, self.step, self.context.rank, worker_id)
            torch.manual_seed(value)
            np.random.seed(value % 2**32)

        return DataLoader(
            self.dataset,
            batch_size=data.batch_size // self.context.world_size,
            sampler=sampler,
            num_workers=data.num_workers,
            worker_init_fn=init_worker if data.num_workers else None,
            generator=torch.Generator().manual_seed(worker_seed(seed, self.step, self.context.rank, -1 % 2**31)),
            pin_memory=self.device.type == "cuda",
        )

    # ------------------------------------------------------------------------------------------------ state
    def _state(self) -> dict:
        state = {
            "format": "e2fgvi-train-1",
            "variant": self.config.variant,
            "step": self.step,
            "generator": self.generator.state_dict(),
            "optim_g": self.optim_g.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "guard": {
                "bad_in_a_row": self.bad_in_a_row,
                "rollbacks_since_good": self.rollbacks_since_good,
                "skipped_total": self.skipped_total,
                "rollbacks_total": self.rollbacks_total,
            },
            "rng": capture_rng(),
        }
        if self.discriminator is not None:
            state.update(
                discriminator=self.discriminator.state_dict(),
                optim_d=self.optim_d.state_dict(),
                sched_d=self.sched_d.state_dict(),
                scaler_d=self.scaler_d.state_dict(),
            )
        return state

    def _load_state(self, state: dict, full: bool) -> None:
        """``full``: everything (resume); otherwise networks and optimisers only (rollback)."""
        if state.get("variant") != self.config.variant:
            raise TrainingError(f"checkpoint is a {state.get('variant')} run, the config says {self.config.variant}")
        self.generator.load_state_dict(state["generator"])
        self.optim_g.load_state_dict(state["optim_g"])
        if self.discriminator is not None:
            if "discriminator" not in state:
                raise TrainingError("the checkpoint was trained without a discriminator but loss.discriminator is on")
            self.discriminator.load_state_dict(state["discriminator"])
            self.optim_d.load_state_dict(state["optim_d"])
        if full:
            self.step = int(state["step"])
            self.sched_g.load_state_dict(state["sched_g"])
            self.scaler_g.load_state_dict(state["scaler_g"])
            if self.discriminator is not None:
                self.sched_d.load_state_dict(state["sched_d"])
                self.scaler_d.load_state_dict(state["scaler_d"])
            guard = state["guard"]
            self.bad_in_a_row = guard["bad_in_a_row"]
            self.rollbacks_since_good = guard["rollbacks_since_good"]
            self.skipped_total = guard["skipped_total"]
            self.rollbacks_total = guard["rollbacks_total"]
            restore_rng(state["rng"])
        else:  # the optimisers' learning rates follow the current schedule, not the checkpoint's
            for optimizer, schedule in ((self.optim_g, self.sched_g), (self.optim_d, self.sched_d)):
                if optimizer is not None:
                    for group, lr in zip(optimizer.param_groups, schedule.get_last_lr()):
                        group["lr"] = lr

    def _save(self) -> Path | None:
        if not self.context.is_main:
            return None
        path = save_training_state(self.run_dir, self.step, self._state())
        prune_checkpoints(self.run_dir, self.config.keep_checkpoints)
        self._write_preview()
        if self.log is not None:
            plot_losses(self.run_dir)
        return path

    def _rollback(self, reason: str) -> None:
        path = find_checkpoint(self.run_dir)[1] if self.context.is_main else None
        if self.context.enabled:  # every process reloads rank 0's checkpoint file
            box = [str(path) if path else None]
            torch.distributed.broadcast_object_list(box, src=0)
            path = Path(box[0])
        state = load_training_state(path, map_location=self.device)
        self._load_state(state, full=False)
        self.rollbacks_total += 1
        self.rollbacks_since_good += 1
        self.bad_in_a_row = 0
        self.messages.append(f"step {self.step}: {reason}; rolled back networks and optimisers to step {state['step']}")

    # ------------------------------------------------------------------------------------------------ steps
    def train(self) -> TrainSummary:
        """Run until ``config.steps``; returns a summary. ``TrainingError`` when the guard gives up."""
        first = self.step
        start = time.perf_counter()
        path = None
        try:
            if self.step < self.config.steps:
                batches = iter(self._loader())
                while self.step < self.config.steps:
                    self._train_step(next(batches), first, start)
                    if self.step % self.config.save_every == 0 or self.step == self.config.steps:
                        path = self._save()
            if self.context.enabled:
                torch.distributed.barrier()
        finally:
            if self.log is not None:
                self.log.close()
        if self.context.is_main and path is None and list_checkpoints(self.run_dir):
            path = find_checkpoint(self.run_dir)[1]
        leave_distributed(self.context)
        return TrainSummary(
            run_dir=self.run_dir,
            first_step=first,
            last_step=self.step,
            skipped_steps=self.skipped_total,
            rollbacks=self.rollbacks_total,
            seconds=time.perf_counter() - start,
            checkpoint=path,
            messages=list(self.messages),
        )

    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.float16)

    def _train_step(self, batch, first: int, start: float) -> None:
        step_start = time.perf_counter()
        row, ok = self._update(batch)
        self.step += 1
        with warnings.catch_warnings():  # the schedule counts iterations, skipped ones too (no optimizer.step)
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step()` before")
            for schedule in (self.sched_g, self.sched_d):
                if schedule is not None:
                    schedule.step()
        row.update(step=self.step, skipped=0 if ok else 1, seconds=time.perf_counter() - step_start)
        if ok:
            self.bad_in_a_row = 0
            self.rollbacks_since_good = 0
        else:
            self.skipped_total += 1
            self.bad_in_a_row += 1
        if self.log is not None:
            self.log.append(row)
        self._report(row, first, start)
        if not ok and self.bad_in_a_row >= self.config.max_bad_steps:
            reason = f"{self.bad_in_a_row} non-finite steps in a row ({row['why']})"
            if self.rollbacks_since_good >= self.config.max_rollbacks:
                raise TrainingError(
                    f"training diverged at step {self.step}: {reason} after {self.rollbacks_since_good} rollback(s) "
                    "to the last checkpoint; check the data for NaN/Inf frames, lower optim.lr or set "
                    "optim.grad_clip_norm (see docs/training.md)"
                )
            self._rollback(reason)

    def _update(self, batch) -> tuple[dict, bool]:
        """One optimisation step; returns (the losses row, whether the step was applied)."""
        cfg = self.config
        # contiguous (b, t, c, h, w), whoever collated the batch: a batch's memory layout decides which convolution
        # kernels run (last-bit differences), and exact resume must not depend on num_workers
        frames, masks = (t.to(self.device, non_blocking=True).contiguous() for t in batch)
        b, t, c, h, w = frames.shape
        local = cfg.data.num_local_frames
        row: dict = {"lr": self.optim_g.param_groups[0]["lr"], "why": ""}
        masked = frames * (1 - masks)
        with self._autocast():
            pred, flows = self.g_train(masked, local)
        pred = pred.float().view(b, t, c, h, w)
        comp = frames * (1 - masks) + masks * pred
        flow = self.flow_loss(flows, frames[:, :local]) * cfg.loss.flow_weight
        adversarial = pred.new_zeros(())
        # the spectral norm's power iteration updates buffers in every forward: a skipped step puts them back
        self._buffers_before = [b.clone() for b in self.discriminator.buffers()] if self.discriminator else []
        if self.discriminator is not None:
            with self._autocast():
                real_scores = self.d_train(frames)
                fake_scores = self.d_train(comp.detach())
            d_loss = discriminator_hinge_loss(real_scores.float(), fake_scores.float())
            row["discriminator"] = float(d_loss.detach())
            if self._not_finite(row["discriminator"]):
                return self._skip(row, "discriminator loss"), False
            self.optim_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(d_loss).backward()
            norm_d = self._gradient_norm(self.optim_d, self.scaler_d, self.discriminator)
            row["grad_norm_d"] = norm_d
            if not self.amp and self._not_finite(norm_d):
                self.optim_d.zero_grad(set_to_none=True)
                return self._skip(row, "discriminator gradients"), False
            self.scaler_d.step(self.optim_d)
            self.scaler_d.update()
            with self._autocast():
                gen_scores = self.d_train(comp)
            adversarial = generator_hinge_loss(gen_scores.float()) * cfg.loss.adversarial_weight
        hole, valid = hole_valid_l1(pred, frames, masks)
        hole, valid = hole * cfg.loss.hole_weight, valid * cfg.loss.valid_weight
        total = hole + valid + flow + adversarial
        row.update(
            hole=float(hole.detach()),
            valid=float(valid.detach()),
            flow=float(flow.detach()),
            adversarial=float(adversarial.detach()),
            total=float(total.detach()),
        )
        if self._not_finite(row["total"]):
            bad = [k for k in ("hole", "valid", "flow", "adversarial") if not math.isfinite(row[k])]
            return self._skip(row, "loss " + ", ".join(bad or ["total"])), False
        self.optim_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        norm_g = self._gradient_norm(self.optim_g, self.scaler_g, self.generator)
        row["grad_norm_g"] = norm_g
        if not self.amp and self._not_finite(norm_g):
            self.optim_g.zero_grad(set_to_none=True)
            return self._skip(row, "generator gradients"), False
        self.scaler_g.step(self.optim_g)
        self.scaler_g.update()
        if self.context.enabled:
            self._average_row(row)
        return row, True

    def _gradient_norm(self, optimizer, scaler, module) -> float:
        """Total L2 norm of the (unscaled) gradients, clipped to ``optim.grad_clip_norm`` when that is set."""
        scaler.unscale_(optimizer)
        params = [p for p in module.parameters() if p.grad is not None]
        limit = self.config.optim.grad_clip_norm
        if limit > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, limit, error_if_nonfinite=False)
        else:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad.float()) for p in params]))
        return float(norm)

    def _not_finite(self, value) -> bool:
        value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        return any_rank(not math.isfinite(value), self.context, self.device)

    def _skip(self, row: dict, why: str) -> dict:
        """Mark ``row`` as skipped and undo the step's side effects (the discriminator's buffers)."""
        row["why"] = why
        if self.discriminator is not None:
            with torch.no_grad():
                for buffer, before in zip(self.discriminator.buffers(), self._buffers_before):
                    buffer.copy_(before)
        return row

    def _average_row(self, row: dict) -> None:
        keys = [k for k in LOSS_COLUMNS if k in row]
        values = torch.tensor([row[k] for k in keys], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(values)
        for key, value in zip(keys, (values / self.context.world_size).tolist()):
            row[key] = value

    def _report(self, row: dict, first: int, start: float) -> None:
        if row["skipped"]:
            self.messages.append(f"step {self.step}: skipped, {row['why']} not finite")
        if self.progress is None:
            return
        elapsed = time.perf_counter() - start
        rate = (self.step - first) / elapsed if elapsed > 0 else 0.0
        self.progress(
            StepReport(
                step=self.step,
                steps=self.config.steps,
                losses={k: row[k] for k in LOSS_COLUMNS if k in row},
                lr=row["lr"],
                skipped=bool(row["skipped"]),
                steps_per_s=rate,
                eta_s=(self.config.steps - self.step) / rate if rate > 0 else None,
            )
        )

    # ------------------------------------------------------------------------------------------------ preview
    def _write_preview(self) -> None:
        clip = self.preview_samples
        if clip is None:
            return
        from e2fgvi_core.training.evaluation import reference_positions

        data = self.config.data
        local = data.num_local_frames
        indices = list(range(local)) + reference_positions(len(clip), list(range(local)), data.num_ref_frames)
        frames, masks = self.dataset.load(clip, indices, None, mask_seed=self.config.seed)
        frames, masks = frames[None].to(self.device), masks[None].to(self.device)
        self.generator.eval()
        try:
            with torch.no_grad():
                pred, _ = self.generator(frames * (1 - masks), local)
        finally:
            self.generator.train()
        pred = pred.view(frames.shape)
        comp = frames * (1 - masks) + masks * pred

        def to_u8(x: torch.Tensor) -> np.ndarray:
            x = ((x[0, :local].clamp(-1, 1) + 1) * 127.5).round().byte()
            return x.permute(0, 2, 3, 1).cpu().numpy()

        write_preview(self.run_dir, to_u8(frames * (1 - masks)), to_u8(comp), to_u8(frames))


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, **kwargs) -> TrainSummary:
    """Build a ``Trainer`` and run it (the library form of ``e2fgvi train``)."""
    return Trainer(config, run_dir, resume=resume, **kwargs).train()


def _init_state(path: str, variant: str) -> dict:
    """The generator state dict to start from: an official checkpoint (or our export), strictly checked."""
    if variant in list_variants():
        found, state = load_checkpoint(path)
        if found != variant:
            raise ConfigError(f"--init {path} is an {found} checkpoint but the config trains {variant}")
        return state
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (corrupt, truncated or unsafe: one line naming the file)
        raise ConfigError(f"--init {path} cannot be read ({type(exc).__name__})") from None
    state = checkpoint_filter_fn(obj, source=f"checkpoint {path}")
    validate_state_dict(state, variant, source=f"checkpoint {path}")
    return state


def _flatten(mapping: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and key != "module_lr":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = list(value) if isinstance(value, tuple) else value
    return out

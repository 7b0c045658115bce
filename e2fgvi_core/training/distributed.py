"""``torchrun`` (DDP) support: the same config trains on one process or many.

``torchrun --nproc_per_node N -m e2fgvi_core.cli.main train --config FILE`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; each process then draws its share of every batch (``data.batch_size`` is the global batch, as in
the official trainer), gradients are averaged by DDP, and only rank 0 writes the run folder. The backend is NCCL
on CUDA and gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from e2fgvi_core.errors import ConfigError

__all__ = ["Distributed", "any_rank", "join_distributed"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: rank, world size, and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join_distributed(device: torch.device) -> Distributed:
    """Read the ``torchrun`` environment; with more than one process, initialise the process group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank)


def any_rank(flag: bool, context: Distributed, device: torch.device) -> bool:
    """True when ``flag`` is true on any process (every process must then take the same branch)."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def leave_distributed(context: Distributed) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()

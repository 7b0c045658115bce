"""FarmConfig: how a shot is cut into farm tasks, validated once for the CLI, the bundle writer and host nodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from e2fgvi_core.errors import ConfigError

DEFAULT_CHUNK_SIZE = 10
DEFAULT_WORKER_COMMAND = "e2fgvi"
"""The program farm actions run unless the job's ``Command`` parameter names another (e.g. a venv's bin/e2fgvi)."""
DEFAULT_GPU_MEMORY_MIB = 8192
"""GPU memory a model engine's job asks of a worker (``amount.worker.gpu.memory``): a floor chosen to keep jobs off
small cards, not a measurement; raise it with ``--gpu-memory-mib`` for large plates with ``--roi full``."""


@dataclass(frozen=True)
class FarmConfig:
    """``chunk_size``: frames per task (the manager balances them: 25 frames at 10 run as 9/8/8).

    ``chunking``: write the ``TASK_CHUNKING`` template (one task per contiguous chunk, sizes balanced by the
    manager) or the plain fallback (an INT task parameter stepping by ``chunk_size``, for managers without the
    extension). ``session_server``: start one ``e2fgvi-server`` per worker session so consecutive chunks on a
    worker reuse the loaded model and the shot cache (off: every task runs standalone in its own process).
    ``command``: the ``e2fgvi`` program workers run (the job's ``Command`` parameter). ``gpu_memory_mib``: the GPU
    memory a model engine's job asks of its workers.
    """

    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunking: bool = True
    session_server: bool = True
    command: str = DEFAULT_WORKER_COMMAND
    gpu_memory_mib: int = DEFAULT_GPU_MEMORY_MIB

    def __post_init__(self) -> None:
        if isinstance(self.chunk_size, bool) or not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be a whole number of frames >= 1, got {self.chunk_size!r}")
        for name in ("chunking", "session_server"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.command, str) or not self.command.strip():
            raise ConfigError(f"command must name the e2fgvi program workers run, got {self.command!r}")
        if isinstance(self.gpu_memory_mib, bool) or not isinstance(self.gpu_memory_mib, int) or self.gpu_memory_mib < 1:
            raise ConfigError(f"gpu_memory_mib must be a whole number of MiB >= 1, got {self.gpu_memory_mib!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> FarmConfig:
        """Validate a flat mapping (CLI flags, host knobs); ``None`` values keep the defaults; names the bad key."""
        names = [f.name for f in fields(cls)]
        values: dict[str, Any] = {}
        for key, value in (data or {}).items():
            if key not in names:
                raise ConfigError(f"unknown FarmConfig key {key!r}; valid keys: {', '.join(names)}")
            if value is None:
                continue
            if key in ("chunk_size", "gpu_memory_mib") and isinstance(value, str):
                try:
                    value = int(value)
                except ValueError:
                    raise ConfigError(f"{key} must be a whole number >= 1, got {value!r}") from None
            values[key] = value
        return cls(**values)

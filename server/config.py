"""ServerConfig: every knob of ``e2fgvi-server`` in one frozen dataclass.

Why one place: the command line, the environment (``E2FGVI_SERVER_*``) and tests all build the same object
through ``from_mapping()``, which validates each value and names the bad key, so a typo in a service file fails at
start with one line instead of misbehaving later.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2fgvi_core.byte_sizes import parse_byte_size
from e2fgvi_core.errors import ConfigError
from e2fgvi_server.protocol import (
    DEFAULT_ADDRESS,
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_LIVENESS,
    MAX_HEADER_BYTES,
    is_loopback_endpoint,
)

POLL_TIMEOUT_MS = 100
MAX_MESSAGE_BYTES = 1 << 30  # per message part (ZMQ_MAXMSGSIZE): a 4K float32 RGBA frame is ~135 MB
SHUTDOWN_GRACE_S = 30.0
MAX_VALUE_BYTES = 4 << 30  # frames by value held for unfinished jobs, all clients together

ENV_PREFIX = "E2FGVI_SERVER_"


@dataclass(frozen=True)
class ServerConfig:
    """What the server binds, what it accepts, where it may write, and how it decides a client is gone."""

    binds: tuple[str, ...] = (DEFAULT_ADDRESS,)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_header_bytes: int = MAX_HEADER_BYTES
    max_queued_jobs: int = 256
    max_value_bytes: int = MAX_VALUE_BYTES
    retain_finished_jobs: int = 64
    output_roots: tuple[str, ...] = ()  # empty: wherever this user may write, allowed only for a private server
    token: str | None = None
    token_file: str | None = None
    access_key_file: str | None = None  # default: protocol.default_access_key_file() (per user, mode 0600)
    open_access: bool = False  # True: any local user may use the server (no access key); never the default
    heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S
    heartbeat_liveness: int = HEARTBEAT_LIVENESS
    poll_timeout_ms: int = POLL_TIMEOUT_MS
    finish_running_on_shutdown: bool = False
    shutdown_grace_s: float = SHUTDOWN_GRACE_S
    curve_secret_key: str | None = None
    curve_authorized_dir: str | None = None
    insecure: bool = False
    device: str = "auto"
    cache_budget_bytes: int | None = None

    @property
    def client_timeout_s(self) -> float:
        """Silence after which a client is purged (its jobs cancelled unless they asked to keep running)."""
        return self.heartbeat_interval_s * self.heartbeat_liveness

    @property
    def curve_enabled(self) -> bool:
        return self.curve_secret_key is not None

    @property
    def private(self) -> bool:
        """Only this user can use the server: every bind is loopback and each request must carry the access key.

        Why it matters for writes: such a server can only be asked to write where its user could write anyway, so
        it needs no output roots; a server others can reach (network bind, CURVE clients, ``--open-access``) does.
        """
        exposed = any(not is_loopback_endpoint(e) for e in self.binds)
        return not exposed and not self.open_access and not self.curve_enabled

    @property
    def write_roots(self) -> tuple[str, ...] | None:
        """The folders outputs are confined to; None: anywhere the user may write (a private server without roots).

        A server others can reach without ``--output-root`` gets ``()``: every write refused (``serve`` refuses
        to start it first, in ``check_bind_policy``).
        """
        if self.output_roots:
            return self.output_roots
        return None if self.private else ()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ServerConfig:
        """Validate ``mapping`` (unknown keys and wrong types name the key) and build the config."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            if key not in known:
                raise ConfigError(f"unknown server setting {key!r}; valid settings: {', '.join(sorted(known))}")
            if value is None:
                continue
            values[key] = _coerce(key, value)
        config = cls(**values)
        config._check()
        return config

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> ServerConfig:
        """Settings from ``E2FGVI_SERVER_<NAME>`` variables, then ``overrides`` (the command line) on top."""
        environ = os.environ if environ is None else environ
        known = {f.name for f in dataclasses.fields(cls)}
        mapping: dict[str, Any] = {}
        for name in known:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                mapping[name] = raw
        mapping.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_mapping(mapping)

    def _check(self) -> None:
        if not self.binds:
            raise ConfigError("binds: at least one endpoint is needed, e.g. tcp://127.0.0.1:5577")
        for endpoint in self.binds:
            if not endpoint.startswith(("tcp://", "ipc://", "inproc://")):
                raise ConfigError(f"binds: endpoint {endpoint!r} must start with tcp://, ipc:// or inproc://")
        for name in (
            "max_message_bytes",
            "max_header_bytes",
            "max_queued_jobs",
            "max_value_bytes",
            "heartbeat_liveness",
            "poll_timeout_ms",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.heartbeat_interval_s <= 0:
            raise ConfigError(f"heartbeat_interval_s must be positive, got {self.heartbeat_interval_s}")
        if self.curve_authorized_dir and not self.curve_secret_key:
            raise ConfigError("curve_authorized_dir is set but curve_secret_key is not: CURVE needs the server's key")


# Sizes: 512M, 2G or a plain 536870912, the same on the command line, in the environment and in a mapping.
_BYTE_KEYS = frozenset({"max_message_bytes", "max_header_bytes", "max_value_bytes", "cache_budget_bytes"})
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _coerce(key: str, value: Any) -> Any:
    """Bring a value from the CLI, the environment or a mapping to the field's type; name the key on failure."""
    tuple_keys = {"binds", "output_roots"}
    int_keys = {"max_queued_jobs", "retain_finished_jobs", "heartbeat_liveness", "poll_timeout_ms"}
    float_keys = {"heartbeat_interval_s", "shutdown_grace_s"}
    bool_keys = {"finish_running_on_shutdown", "insecure", "open_access"}
    try:
        if key in tuple_keys:
            if isinstance(value, str):
                sep = "," if key == "binds" else os.pathsep
                value = [v for v in value.split(sep) if v]
            items = tuple(str(v) for v in value)
            if key == "output_roots":
                items = tuple(str(Path(v).expanduser()) for v in items)
            return items
        if key in _BYTE_KEYS:
            return parse_byte_size(value, key)
        if key in int_keys:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return int(value)
        if key in float_keys:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return float(value)
        if key in bool_keys:
            if isinstance(value, str):
                if value.lower() not in _BOOL_WORDS:
                    raise ValueError(f"use one of {', '.join(_BOOL_WORDS)}")
                return _BOOL_WORDS[value.lower()]
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if not isinstance(value, str):
            raise ValueError("expected a string")  # noqa: TRY004 - turned into ConfigError below
        return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"server setting {key!r} has the invalid value {value!r}: {exc}") from None

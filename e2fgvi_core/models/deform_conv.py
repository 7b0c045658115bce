"""Modulated deformable convolution (DCNv2) behind one function, with interchangeable backends.

E2FGVI's second-order deformable alignment was trained with mmcv's compiled ``ModulatedDeformConv2d``. mmcv is a
heavy, platform-specific dependency, so the default here is a pure-PyTorch formulation that runs on every device;
``torchvision.ops.deform_conv2d`` and ``mmcv.ops.modulated_deform_conv2d`` are used when installed and chosen.

Semantics (mmcv DCNv2, which the checkpoints expect):

* offsets ``(n, deform_groups * 2 * kh * kw, ho, wo)``: channel ``g*2K + 2k`` is dy, ``g*2K + 2k + 1`` is dx for
  deform group ``g`` and kernel point ``k = i*kw + j``;
* mask ``(n, deform_groups * kh * kw, ho, wo)``: channel ``g*K + k`` modulates that sample;
* a sample at ``(y, x)`` is bilinear with zeros outside the image (a point with ``y <= -1``, ``y >= h``,
  ``x <= -1`` or ``x >= w`` reads 0); the bias is added after the convolution.

Backend choice: ``E2FGVI_DEFORM_BACKEND=auto|torch|torchvision|mmcv`` (default ``auto``: the compiled kernels on
CUDA tensors when installed, else the pure ``torch`` one, which is the fastest choice on CPU).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from e2fgvi_core.errors import ConfigError

__all__ = [
    "BACKENDS",
    "DeformConvConfig",
    "available_backends",
    "modulated_deform_conv2d",
    "resolve_backend",
]

BACKENDS = ("torch", "torchvision", "mmcv")
ENV_BACKEND = "E2FGVI_DEFORM_BACKEND"


@dataclass(frozen=True)
class DeformConvConfig:
    """Which deformable-convolution backend to use (``auto`` picks per device)."""

    backend: str = "auto"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> DeformConvConfig:
        unknown = sorted(set(mapping) - {"backend"})
        if unknown:
            raise ConfigError(f"unknown deform-conv config key {unknown[0]!r}: valid keys are ['backend']")
        backend = str(mapping.get("backend", "auto")).strip().lower() or "auto"
        valid = ("auto",) + BACKENDS
        if backend not in valid:
            raise ConfigError(f"unknown deformable-convolution backend {backend!r}: use one of {', '.join(valid)}")
        return cls(backend=backend)

    @classmethod
    def from_env(cls) -> DeformConvConfig:
        """Read ``E2FGVI_DEFORM_BACKEND``; an invalid value names the variable."""
        value = os.environ.get(ENV_BACKEND, "auto")
        try:
            return cls.from_mapping({"backend": value})
        except ConfigError as exc:
            raise ConfigError(f"{ENV_BACKEND}: {exc}") from None


# ---------------------------------------------------------------------------------------------------------------
# pure PyTorch backend


def _deform_conv_torch(x, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups):
    """Batched bilinear sampling of every kernel point (one ``grid_sample``) followed by one matmul.

    The only large temporary is the column matrix ``(n, c_in * kh * kw, ho * wo)`` that any im2col
    formulation needs.
    """
    n, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    k = kh * kw
    dg = deform_groups
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    if h == 1 or w == 1:
        # grid_sample cannot address a single row/column with align_corners=True; an extra zero row/column is
        # outside the image for DCN anyway, so padding with it changes nothing.
        x = F.pad(x, (0, 1 if w == 1 else 0, 0, 1 if h == 1 else 0))
        h, w = x.shape[-2:]

    # Sampling positions and the bilinear samples stay in float32 under reduced precision (a bfloat16 position near
    # x = 400 is off by a pixel); only the final matmul follows autocast.
    dtype, device = torch.promote_types(offset.dtype, torch.float32), offset.device
    offset, mask, x = offset.to(dtype), mask.to(dtype), x.to(dtype)
    # base sampling positions of each kernel point, (k, ho, 1) and (k, 1, wo)
    ki = torch.arange(kh, device=device, dtype=dtype).repeat_interleave(kw)
    kj = torch.arange(kw, device=device, dtype=dtype).repeat(kh)
    base_y = (torch.arange(ho, device=device, dtype=dtype) * sh - ph)[None, :, None] + (ki * dh)[:, None, None]
    base_x = (torch.arange(wo, device=device, dtype=dtype) * sw - pw)[None, None, :] + (kj * dw)[:, None, None]

    off = offset.view(n, dg, k, 2, ho, wo)
    pos_y = off[:, :, :, 0] + base_y  # (n, dg, k, ho, wo)
    pos_x = off[:, :, :, 1] + base_x
    grid = torch.stack((2.0 * pos_x / (w - 1) - 1.0, 2.0 * pos_y / (h - 1) - 1.0), dim=-1)
    grid = grid.view(n * dg, k * ho, wo, 2)

    cols = F.grid_sample(
        x.reshape(n * dg, c_in // dg, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )  # (n*dg, c_in/dg, k*ho, wo)
    # modulate in place: grid_sample's output is a fresh tensor and its backward does not need it
    cols = cols.view(n, dg, c_in // dg, k, ho * wo).mul_(mask.view(n, dg, 1, k, ho * wo))
    cols = cols.view(n, groups, c_per_group * k, ho * wo)
    out = torch.matmul(weight.view(groups, c_out // groups, c_per_group * k), cols)
    out = out.view(n, c_out, ho, wo)
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1)
    return out


# ---------------------------------------------------------------------------------------------------------------
# optional compiled backends


def _deform_conv_torchvision(x, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups):
    from torchvision.ops import deform_conv2d

    # torchvision infers the groups from the weight shape and the deform groups from the offset shape
    return deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)


def _deform_conv_mmcv(x, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups):
    from mmcv.ops import modulated_deform_conv2d as mmcv_dcn

    return mmcv_dcn(x, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups)


_IMPLEMENTATIONS = {
    "torch": _deform_conv_torch,
    "torchvision": _deform_conv_torchvision,
    "mmcv": _deform_conv_mmcv,
}


@functools.cache
def _backend_works(name: str, device_type: str) -> bool:
    """Whether a backend imports and runs a tiny call on this device type (probed once, cached)."""
    if name == "torch":
        return True
    try:
        device = torch.device(device_type)
        x = torch.zeros(1, 2, 3, 3, device=device)
        offset = torch.zeros(1, 18, 3, 3, device=device)
        mask = torch.ones(1, 9, 3, 3, device=device)
        weight = torch.zeros(2, 2, 3, 3, device=device)
        bias = torch.zeros(2, device=device)
        _IMPLEMENTATIONS[name](x, offset, mask, weight, bias, (1, 1), (1, 1), (1, 1), 1, 1)
        return True
    except Exception:  # noqa: BLE001 - any import/runtime failure means "unavailable"
        return False


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """The backends that import and run on ``device`` (``torch`` always)."""
    device_type = torch.device(device).type
    return [name for name in BACKENDS if _backend_works(name, device_type)]


def resolve_backend(device: torch.device | str = "cpu", config: DeformConvConfig | None = None) -> str:
    """The backend a call on ``device`` will use; an explicit but unavailable choice raises ``ConfigError``."""
    config = config or DeformConvConfig.from_env()
    device_type = torch.device(device).type
    if config.backend == "auto":
        if device_type == "cuda":
            for name in ("mmcv", "torchvision"):
                if _backend_works(name, device_type):
                    return name
        return "torch"
    if not _backend_works(config.backend, device_type):
        raise ConfigError(
            f"deformable-convolution backend {config.backend!r} is not available on {device_type} "
            f"(set {ENV_BACKEND} to one of: {', '.join(['auto'] + available_backends(device_type))})"
        )
    return config.backend


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def modulated_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    deform_groups: int = 1,
    backend: str | None = None,
) -> torch.Tensor:
    """Modulated deformable convolution with mmcv DCNv2 semantics (see the module docstring).

    ``x`` (n, c_in, h, w); ``offset`` (n, 2*dg*kh*kw, ho, wo); ``mask`` (n, dg*kh*kw, ho, wo) in [0, 1];
    ``weight`` (c_out, c_in/groups, kh, kw). Returns (n, c_out, ho, wo) in ``x``'s dtype and device.
    ``backend`` overrides the environment/auto choice for this call.
    """
    config = DeformConvConfig.from_mapping({"backend": backend}) if backend is not None else None
    name = resolve_backend(x.device, config)
    return _IMPLEMENTATIONS[name](
        x, offset, mask, weight, bias, _pair(stride), _pair(padding), _pair(dilation), int(groups), int(deform_groups)
    )

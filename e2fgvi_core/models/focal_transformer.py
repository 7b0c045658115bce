"""Temporal focal transformer: window attention across time with rolled and pooled context, plus the F3N.

Each 5x9 token window attends, for all T frames at once, to three sets of keys/values:

1. the window itself (T x 45 tokens);
2. the four diagonally *rolled* copies of the token grid (shifts of +-half a window), restricted to the 120 positions
   listed in the ``valid_ind_rolled`` buffer: the neighbourhood around the window. The roll is cyclic, so at the
   grid border the neighbours wrap around to the opposite side (unmasked), as in the trained model;
3. a coarse level: every window pooled to one token by ``pool_layers.0`` (a learned ``Linear(45, 1)``), gathered in
   a 5x9 neighbourhood of the pooled grid; positions outside the pooled grid are zero vectors with a -100 logit
   bias (not -inf).

Two interchangeable implementations of the attention itself: ``"reference"`` (explicit softmax, kept for parity
checks) and ``"fused"`` (``scaled_dot_product_attention``, the default: much faster on CPU and it never
materialises the (queries x keys) logits).

The same block serves both generators: the HQ model passes the feature-map size of the current input, the
original model always 60x108.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from e2fgvi_core.models.soft_split import token_grid_size

__all__ = ["ATTENTION_IMPLS", "FusionFeedForward", "TemporalFocalTransformerBlock", "WindowAttention"]

ATTENTION_IMPLS = ("fused", "reference")
POOLED_PADDING_BIAS = -100.0
GATHER_BUDGET_BYTES = 64 << 20  # gathered keys/values of the fused attention per chunk of windows


def rolled_valid_indices(window_size: tuple[int, int], expand_size: tuple[int, int]) -> list[int]:
    """Positions kept from the 4 rolled windows (stacked tl, tr, bl, br; 45 positions each).

    Each rolled copy keeps the band of ``expand_size`` rows or columns that lies outside the window itself.
    """
    wh, ww = window_size
    eh, ew = expand_size
    kept = []
    for corner in range(4):
        top, left = corner < 2, corner % 2 == 0  # tl, tr, bl, br
        for i in range(wh):
            for j in range(ww):
                inside_rows = i < wh - eh if top else i >= eh
                inside_cols = j < ww - ew if left else j >= ew
                if not (inside_rows and inside_cols):
                    kept.append(corner * wh * ww + i * ww + j)
    return kept


class _WindowIndex:
    """Gather indices for one token-grid size, built once and reused (plain tensors, never inference tensors)."""

    def __init__(self, grid: tuple[int, int], window_size, expand_size, rolled: list[int], device: torch.device):
        h, w = grid
        wh, ww = window_size
        eh, ew = expand_size
        n_wh, n_ww = h // wh, w // ww
        shifts = ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))  # torch.roll shifts of tl, tr, bl, br
        window, rolled_idx, pooled, pooled_valid = [], [], [], []
        pad_h, pad_w = wh // 2, ww // 2
        padded_w = n_ww + 2 * pad_w
        for a in range(n_wh):
            for b in range(n_ww):
                window += [(a * wh + i) * w + b * ww + j for i in range(wh) for j in range(ww)]
                for r in rolled:
                    corner, pos = divmod(r, wh * ww)
                    i, j = divmod(pos, ww)
                    sy, sx = shifts[corner]
                    rolled_idx.append(((a * wh + i - sy) % h) * w + (b * ww + j - sx) % w)
                for di in range(wh):
                    for dj in range(ww):
                        pooled.append((a + di) * padded_w + b + dj)
                        y, x = a + di - pad_h, b + dj - pad_w
                        pooled_valid.append(0 <= y < n_wh and 0 <= x < n_ww)
        with torch.inference_mode(False):
            self.window = torch.tensor(window, dtype=torch.long, device=device)
            self.rolled = torch.tensor(rolled_idx, dtype=torch.long, device=device)
            self.pooled = torch.tensor(pooled, dtype=torch.long, device=device)
            self.pooled_valid = torch.tensor(pooled_valid, dtype=torch.bool, device=device).view(n_wh * n_ww, -1)
        self.num_windows = n_wh * n_ww
        self.pooled_grid = (n_wh, n_ww)
        self.pooled_pad = (pad_h, pad_w)


class WindowAttention(nn.Module):
    """Temporal focal window attention over (B, T, H, W, C) tokens; returns the same shape."""

    def __init__(self, dim: int, window_size: tuple[int, int], num_heads: int, impl: str = "fused"):
        super().__init__()
        self.dim = dim
        self.window_size = tuple(window_size)
        self.expand_size = tuple(i // 2 for i in self.window_size)
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.impl = impl
        self.register_buffer(
            "valid_ind_rolled", torch.tensor(rolled_valid_indices(self.window_size, self.expand_size), dtype=torch.long)
        )
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self._index_cache: dict[tuple, _WindowIndex] = {}

    def _load_from_state_dict(self, *args, **kwargs):
        self._index_cache.clear()  # the indices derive from ``valid_ind_rolled``, which a checkpoint may bring
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, *args, **kwargs):
        self._index_cache.clear()  # .to(device) / .cuda(): rebuild the indices on the new device when next needed
        return super()._apply(*args, **kwargs)

    def _index(self, grid: tuple[int, int], device: torch.device) -> _WindowIndex:
        key = (grid, device)
        if key not in self._index_cache:
            rolled = [int(i) for i in self.valid_ind_rolled.tolist()]
            self._index_cache[key] = _WindowIndex(grid, self.window_size, self.expand_size, rolled, device)
        return self._index_cache[key]

    def _to_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T, nW, n, heads, hd) -> (B*nW, heads, T*n, hd), time-major within a window."""
        b, t_len, n_win, n, heads, hd = t.shape
        return t.permute(0, 2, 4, 1, 3, 5).reshape(b * n_win, heads, t_len * n, hd)

    def forward(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """``x`` (B, T, H, W, C) normalised tokens; ``pooled`` (B, T, H/wh, W/ww, C) one token per window."""
        if self.impl == "reference":
            return self._forward_reference(x, pooled)
        return self._forward_fused(x, pooled)

    def _pooled_kv(self, pooled: torch.Tensor, index: _WindowIndex) -> torch.Tensor:
        """Keys/values of the pooled tokens, zero-padded around the pooled grid: (B, T, padded nWh*nWw, 2C)."""
        c = self.dim
        kv_pooled = F.linear(pooled, self.qkv.weight[c:], self.qkv.bias[c:])  # (B, T, nWh, nWw, 2C)
        pad_h, pad_w = index.pooled_pad
        kv_pooled = F.pad(kv_pooled, (0, 0, pad_w, pad_w, pad_h, pad_h))
        return kv_pooled.flatten(2, 3)

    def _key_bias(self, index: _WindowIndex, t: int, n_rolled: int, dtype: torch.dtype) -> torch.Tensor:
        """(nW, T*(45 + 120 + 45)) additive logit bias: 0 except padded pooled positions (-100), all frames alike."""
        n = self.window_size[0] * self.window_size[1]
        pool_bias = torch.zeros(index.num_windows, t, n, dtype=dtype, device=index.window.device)
        pool_bias.masked_fill_(~index.pooled_valid[:, None, :], POOLED_PADDING_BIAS)
        zeros = pool_bias.new_zeros(index.num_windows, t * (n + n_rolled))
        return torch.cat([zeros, pool_bias.view(index.num_windows, -1)], dim=1)

    def _forward_fused(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """The fast path: one gather per chunk of windows straight into the (token, head) layout that
        ``scaled_dot_product_attention`` reads as strided views (no per-head copies, no concatenation), a few
        windows at a time so the gathered keys/values stay within ``GATHER_BUDGET_BYTES``, and the attended
        queries scattered back by index. Each window is its own attention problem, so the chunking does not
        change the result (tested bit for bit)."""
        b, t, h, w, c = x.shape
        heads, hd = self.num_heads, c // self.num_heads
        n = self.window_size[0] * self.window_size[1]
        index = self._index((h, w), x.device)
        n_win, hw = index.num_windows, h * w
        n_rolled = index.rolled.numel() // n_win

        qkv = self.qkv(x).view(b, t, hw, 3 * c)
        kv_pooled = self._pooled_kv(pooled, index)
        # keys/values of every token and every padded pooled token, frame-major: position f * stride + p
        kv = torch.cat([qkv[..., c:], kv_pooled], dim=2)
        stride = kv.shape[2]
        kv = kv.view(b, t * stride, 2 * c)
        q_src = qkv[..., :c].reshape(b, t * hw, c)

        frames = torch.arange(t, device=x.device)
        q_index = (frames[None, :, None] * hw + index.window.view(n_win, 1, n)).view(n_win, t * n)
        kv_index = torch.cat(  # the reference's key order: own window, rolled, pooled; each time-major
            [
                (frames[None, :, None] * stride + index.window.view(n_win, 1, n)).view(n_win, -1),
                (frames[None, :, None] * stride + index.rolled.view(n_win, 1, n_rolled)).view(n_win, -1),
                (frames[None, :, None] * stride + hw + index.pooled.view(n_win, 1, n)).view(n_win, -1),
            ],
            dim=1,
        )
        bias = self._key_bias(index, t, n_rolled, qkv.dtype)
        n_keys = kv_index.shape[1]

        out = torch.empty_like(q_src)
        chunk = self.windows_per_chunk(b, n_keys, c)
        for start in range(0, n_win, chunk):
            stop = min(start + chunk, n_win)
            m = stop - start
            q = q_src.index_select(1, q_index[start:stop].reshape(-1)).view(b * m, t * n, heads, hd).transpose(1, 2)
            kv_win = kv.index_select(1, kv_index[start:stop].reshape(-1)).view(b * m, n_keys, 2, heads, hd)
            k, v = kv_win[:, :, 0].transpose(1, 2), kv_win[:, :, 1].transpose(1, 2)
            mask = bias[start:stop].view(1, m, 1, 1, n_keys).expand(b, m, 1, 1, n_keys).reshape(b * m, 1, 1, n_keys)
            part = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)
            out.index_copy_(1, q_index[start:stop].reshape(-1), part.transpose(1, 2).reshape(b, m * t * n, c))
        return self.proj(out).view(b, t, hw, c).view(b, t, h, w, c)

    def windows_per_chunk(self, b: int, n_keys: int, c: int) -> int:
        """How many windows the fused path gathers at once: enough to keep the kernel busy, few enough that the
        gathered keys and values (``2 * b * n_keys * c`` values per window) stay within ``GATHER_BUDGET_BYTES``."""
        return max(1, GATHER_BUDGET_BYTES // (2 * b * n_keys * c * 4))

    def _forward_reference(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """The plain formulation kept for the parity tests and the benchmark's reference mode: every window's
        keys/values gathered for the whole grid at once, copied per head, concatenated, explicit softmax."""
        b, t, h, w, c = x.shape
        heads, hd = self.num_heads, c // self.num_heads
        wh, ww = self.window_size
        index = self._index((h, w), x.device)
        n_win = index.num_windows

        qkv = self.qkv(x).view(b, t, h * w, 3, heads, hd)
        win = qkv.index_select(2, index.window).view(b, t, n_win, wh * ww, 3, heads, hd)
        q = self._to_heads(win[..., 0, :, :])
        k_win, v_win = self._to_heads(win[..., 1, :, :]), self._to_heads(win[..., 2, :, :])

        n_rolled = index.rolled.numel() // n_win
        rolled = qkv[:, :, :, 1:].index_select(2, index.rolled).view(b, t, n_win, n_rolled, 2, heads, hd)
        k_rolled, v_rolled = self._to_heads(rolled[..., 0, :, :]), self._to_heads(rolled[..., 1, :, :])

        kv_pooled = self._pooled_kv(pooled, index).view(b, t, -1, 2, heads, hd).index_select(2, index.pooled)
        kv_pooled = kv_pooled.view(b, t, n_win, wh * ww, 2, heads, hd)
        k_pool, v_pool = self._to_heads(kv_pooled[..., 0, :, :]), self._to_heads(kv_pooled[..., 1, :, :])

        k = torch.cat([k_win, k_rolled, k_pool], dim=2)
        v = torch.cat([v_win, v_rolled, v_pool], dim=2)
        bias = self._key_bias(index, t, n_rolled, q.dtype)
        bias = bias.view(1, n_win, 1, 1, -1).expand(b, n_win, 1, 1, -1).reshape(b * n_win, 1, 1, -1)
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1) + bias, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b * n_win, t * wh * ww, c)
        out = self.proj(out)
        out = out.view(b, h // wh, w // ww, t, wh, ww, c).permute(0, 3, 1, 4, 2, 5, 6)
        return out.reshape(b, t, h, w, c)


class FusionFeedForward(nn.Module):
    """F3N: the feed-forward layer folds its hidden tokens back onto the feature map (averaging the overlaps) and
    unfolds them again, so neighbouring tokens exchange information before the output projection."""

    def __init__(self, dim: int, hidden: int, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.padding = tuple(padding)
        if hidden % (self.kernel_size[0] * self.kernel_size[1]):
            raise ValueError(f"F3N hidden width {hidden} must be a multiple of the patch area")
        self.conv1 = nn.Sequential(nn.Linear(dim, hidden))
        self.conv2 = nn.Sequential(nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        """``x`` (b, t*f_h*f_w, dim) -> same shape."""
        fold_args = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}
        n_vecs = math.prod(token_grid_size(output_size, self.kernel_size, self.stride, self.padding))
        x = self.conv1(x)
        b, n, c = x.shape
        area = self.kernel_size[0] * self.kernel_size[1]
        normalizer = F.fold(x.new_ones(1, area, n_vecs), output_size=output_size, **fold_args)
        folded = F.fold(x.view(-1, n_vecs, c).permute(0, 2, 1), output_size=output_size, **fold_args)
        x = F.unfold(folded / normalizer, **fold_args).permute(0, 2, 1).reshape(b, n, c)
        return self.conv2(x)


class TemporalFocalTransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm1(x)), then + F3N(norm2(x)). Tokens (B, T, H, W, C)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: tuple[int, int],
        ffn_hidden: int,
        kernel_size,
        stride,
        padding,
        attention_impl: str = "fused",
    ):
        super().__init__()
        self.window_size = tuple(window_size)
        self.pool_layers = nn.ModuleList([nn.Linear(self.window_size[0] * self.window_size[1], 1)])
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, self.window_size, num_heads, impl=attention_impl)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim, ffn_hidden, kernel_size, stride, padding)
        with torch.no_grad():  # training-time init: the pooling starts as a plain average
            self.pool_layers[0].weight.fill_(1.0 / (self.window_size[0] * self.window_size[1]))
            self.pool_layers[0].bias.zero_()

    def pool_windows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H/wh, W/ww, C): each window reduced to one token by the learned pooling."""
        b, t, h, w, c = x.shape
        wh, ww = self.window_size
        windows = x.view(b, t, h // wh, wh, w // ww, ww, c).permute(0, 2, 4, 1, 3, 5, 6)
        windows = windows.reshape(b, h // wh, w // ww, t, wh * ww, c).transpose(4, 5)
        pooled = self.pool_layers[0](windows).flatten(-2)  # (B, nWh, nWw, T, C)
        return pooled.permute(0, 3, 1, 2, 4)

    def forward(self, x: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        b, t, h, w, c = x.shape
        y = self.norm1(x)
        x = x + self.attn(y, self.pool_windows(y))
        if self.attn.impl == "reference":
            y = self.norm2(x)
            return x + self.mlp(y.view(b, t * h * w, c), output_size).view(b, t, h, w, c)
        # Fast path: the F3N one frame at a time (it folds each frame on its own). Its 1960-wide hidden tokens and
        # their fold/unfold copies are the block's largest temporaries (2 GB per copy for 11 frames at 1080p), and
        # a fixed batch keeps the result independent of the window's length (a GEMM over more rows may round
        # differently).
        out = torch.empty_like(x)
        for i in range(t):
            frame = x[:, i]
            out[:, i] = frame + self.mlp(self.norm2(frame).reshape(b, h * w, c), output_size).view(b, h, w, c)
        return out

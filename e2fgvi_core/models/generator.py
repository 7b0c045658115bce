"""InpaintGenerator: E2FGVI's end-to-end flow-guided video inpainting network (Li et al., CVPR 2022).

Stages, in the paper's vocabulary and in the order ``forward`` runs them:

1. ``complete_flows``: SPyNet flows between adjacent *masked* local frames at quarter resolution;
2. ``encode``: per-frame CNN features at quarter resolution;
3. ``propagate``: flow-guided bidirectional feature propagation over the local frames;
4. ``hallucinate``: soft split -> temporal focal transformer -> soft composition over local + reference frames
   (a residual added to the features);
5. ``decode``: features back to RGB, ``tanh``.

The stages are public so the engine can cache what depends on one frame (encoder features) or one adjacent pair of
frames (flows) and only recompute the per-window parts. Attribute names are the official checkpoint keys.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from e2fgvi_core.errors import ModelInputError
from e2fgvi_core.models._registry import get_variant_config
from e2fgvi_core.models.config import GeneratorConfig
from e2fgvi_core.models.decoder import build_decoder
from e2fgvi_core.models.encoder import Encoder
from e2fgvi_core.models.flow_completion import SPyNet
from e2fgvi_core.models.focal_transformer import TemporalFocalTransformerBlock
from e2fgvi_core.models.propagation import BidirectionalPropagation, SecondOrderDeformableAlignment
from e2fgvi_core.models.soft_split import SoftComp, SoftSplit, token_grid_size

__all__ = ["FEATURE_CHANNELS", "InpaintGenerator", "ModelInputError"]

FEATURE_CHANNELS = 128


class InpaintGenerator(nn.Module):
    """Both official generators; the variant's ``GeneratorConfig`` decides fixed-size vs any-size behaviour."""

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        self.config = config if config is not None else get_variant_config("e2fgvi_hq")
        cfg = self.config
        c = FEATURE_CHANNELS
        self.encoder = Encoder()
        self.decoder = build_decoder(c)
        self.feat_prop_module = BidirectionalPropagation(
            c, deform_groups=cfg.deform_groups, max_residue_magnitude=cfg.max_residue_magnitude
        )
        self.ss = SoftSplit(c, cfg.hidden, cfg.kernel_size, cfg.stride, cfg.padding)
        self.sc = SoftComp(
            c,
            cfg.hidden,
            cfg.kernel_size,
            cfg.stride,
            cfg.padding,
            bias=cfg.soft_comp_bias,
            fixed_size=cfg.fixed_feat_size,
        )
        self.transformer = nn.ModuleList(
            TemporalFocalTransformerBlock(
                cfg.hidden,
                cfg.num_heads,
                cfg.window_size,
                cfg.ffn_hidden,
                cfg.kernel_size,
                cfg.stride,
                cfg.padding,
                attention_impl=cfg.attention_impl,
            )
            for _ in range(cfg.num_blocks)
        )
        self.update_spynet = SPyNet()

    @property
    def variant(self) -> str:
        return self.config.variant

    # ------------------------------------------------------------------------------------------------------------
    # configuration helpers

    def init_weights(self, gain: float = 0.02) -> InpaintGenerator:
        """Training-time initialisation (normal(0, gain) weights, zero biases, zero offset branch); SPyNet is left
        alone. Inference always loads a checkpoint instead."""
        for name, module in self.named_modules():
            if name.startswith("update_spynet"):
                continue
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, SecondOrderDeformableAlignment):
                nn.init.zeros_(module.conv_offset[-1].weight)
                nn.init.zeros_(module.conv_offset[-1].bias)
        return self

    def check_input_size(self, h: int, w: int) -> None:
        """Raise ``ModelInputError`` unless frames of h x w can go through this variant."""
        fixed = self.config.fixed_input_size
        if fixed is not None and (h, w) != fixed:
            raise ModelInputError(
                f"variant {self.variant!r} only accepts {fixed[0]}x{fixed[1]} (h x w) frames, got {h}x{w}: "
                f"resize to {fixed[1]}x{fixed[0]} or use e2fgvi_hq"
            )
        if h % 4 or w % 4:
            raise ModelInputError(f"frame size {h}x{w} (h x w) must be a multiple of 4 (pad to multiples of 60x108)")
        grid = token_grid_size((h // 4, w // 4), self.config.kernel_size, self.config.stride, self.config.padding)
        wh, ww = self.config.window_size
        if grid[0] % wh or grid[1] % ww:
            raise ModelInputError(
                f"frame size {h}x{w} (h x w) gives a {grid[0]}x{grid[1]} token grid that {wh}x{ww} windows do not "
                f"tile: pad frames to multiples of 60x108"
            )

    def estimate_window_bytes(self, frames: int, local: int, h: int, w: int) -> int:
        """Peak working memory (activations, not weights) of one fast-path window of ``frames`` inputs, ``local``
        of them local, at h x w (after padding). Why: a window that cannot fit is refused before it starts, with
        the number, instead of failing (or swapping) halfway. Counted from the fast path's largest live tensors
        (float32 elements): the window's features (4 copies of 128 channels per frame), then the larger of one
        transformer block (12 token-wide tensors over all frames + one frame's F3N hidden tokens + the gathered
        keys/values), one propagation step (its condition, offsets and the 2304-row deformable column matrix)
        and one frame of soft split/composition patches (6272 wide); docs/performance.md compares it with
        measured peaks."""
        from e2fgvi_core.models.focal_transformer import GATHER_BUDGET_BYTES

        cfg = self.config
        fh, fw = h // 4, w // 4
        pixels = fh * fw
        tokens = math.prod(token_grid_size((fh, fw), cfg.kernel_size, cfg.stride, cfg.padding))
        patch = FEATURE_CHANNELS * cfg.kernel_size[0] * cfg.kernel_size[1]
        features = 4 * FEATURE_CHANNELS * frames * pixels
        transformer = 12 * cfg.hidden * frames * tokens + 5 * cfg.ffn_hidden * tokens
        propagation = (4000 + 2 * FEATURE_CHANNELS * local) * pixels
        soft = 2 * patch * tokens + cfg.hidden * frames * tokens
        return 4 * (features + max(transformer, propagation, soft)) + 2 * GATHER_BUDGET_BYTES

    # ------------------------------------------------------------------------------------------------------------
    # stages

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) masked frames in [-1, 1] (0 in holes) -> (n, 128, h/4, w/4) features."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ModelInputError(f"encode expects (n, 3, h, w) frames, got shape {tuple(frames.shape)}")
        return self.encoder(frames)

    def flow_inputs(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) in [-1, 1] -> (n, 3, h/4, w/4) in [0, 1]: what SPyNet sees (bilinear, align_corners)."""
        return F.interpolate(
            (frames + 1) / 2, scale_factor=1 / 4, mode="bilinear", align_corners=True, recompute_scale_factor=True
        )

    def estimate_flows(self, ref_small: torch.Tensor, supp_small: torch.Tensor) -> torch.Tensor:
        """Flow ref -> supp, (n, 2, h/4, w/4), from two outputs of ``flow_inputs``."""
        return self.update_spynet(ref_small, supp_small)

    def complete_flows(self, local_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, l, 3, h, w) masked local frames in [-1, 1] -> (flows_forward i->i+1, flows_backward i+1->i),
        each (b, l-1, 2, h/4, w/4)."""
        b, l_t, c, h, w = local_frames.shape
        small = self.flow_inputs(local_frames.reshape(b * l_t, c, h, w))
        hs, ws = small.shape[-2:]
        if l_t < 2:
            empty = small.new_zeros(b, 0, 2, hs, ws)
            return empty, empty.clone()
        small = small.view(b, l_t, c, hs, ws)
        ref = small[:, :-1].reshape(-1, c, hs, ws)
        supp = small[:, 1:].reshape(-1, c, hs, ws)
        flows_forward = self.estimate_flows(ref, supp).view(b, l_t - 1, 2, hs, ws)
        flows_backward = self.estimate_flows(supp, ref).view(b, l_t - 1, 2, hs, ws)
        return flows_forward, flows_backward

    def propagate(
        self, local_feat: torch.Tensor, flows_forward: torch.Tensor, flows_backward: torch.Tensor
    ) -> torch.Tensor:
        """(b, l, 128, h/4, w/4) local features + flows -> propagated features (b, l, 128, h/4, w/4), ``+ x``
        residual included. The forward flows drive the backward branch, as in the official model."""
        return self.feat_prop_module(local_feat, flows_forward, flows_backward)

    @property
    def reference_path(self) -> bool:
        """``attention_impl="reference"`` selects the plain formulation of every optimised stage (parity tests,
        the benchmark's reference mode); otherwise the fast path: fused chunked attention, and soft split, F3N and
        soft composition one frame at a time (their 6272- and 1960-wide patch tensors are the window's largest
        temporaries; a fixed batch keeps results independent of the window length)."""
        return self.config.attention_impl == "reference"

    def split_tokens(self, feat: torch.Tensor) -> torch.Tensor:
        """Soft split: (b, t, 128, h', w') -> tokens (b, t, f_h, f_w, hidden)."""
        b, t, c, h, w = feat.shape
        if self.reference_path:
            return self.ss(feat.reshape(b * t, c, h, w), b, (h, w))
        return torch.cat([self.ss(feat[:, i], b, (h, w)) for i in range(t)], dim=1)

    def transform_tokens(self, tokens: torch.Tensor, feat_size: tuple[int, int], blocks: int | None = None):
        """Run the first ``blocks`` (default all) temporal focal transformer blocks on (b, t, f_h, f_w, hidden)."""
        for block in list(self.transformer)[:blocks]:
            tokens = block(tokens, feat_size)
        return tokens

    def compose_tokens(self, tokens: torch.Tensor, feat_size: tuple[int, int]) -> torch.Tensor:
        """Soft composition: tokens (b, t, f_h, f_w, hidden) -> (b*t, 128, h', w')."""
        if self.reference_path:
            return self.sc(tokens, tokens.shape[1], feat_size)
        t = tokens.shape[1]
        frames = [self.sc(tokens[:, i : i + 1], 1, feat_size) for i in range(t)]  # each (b, 128, h', w')
        return torch.stack(frames, dim=1).flatten(0, 1)

    def hallucinate(self, feat: torch.Tensor) -> torch.Tensor:
        """(b, t, 128, h', w') propagated local + reference features -> the transformer's residual, same shape
        (soft split -> focal transformer -> soft composition); the caller adds it to ``feat``."""
        b, t, c, h, w = feat.shape
        self.check_input_size(4 * h, 4 * w)
        tokens = self.transform_tokens(self.split_tokens(feat), (h, w))
        return self.compose_tokens(tokens, (h, w)).view(b, t, c, h, w)

    def decode(self, feat: torch.Tensor) -> torch.Tensor:
        """(n, 128, h/4, w/4) -> (n, 3, h, w) frames in [-1, 1]."""
        return torch.tanh(self.decoder(feat))

    # ------------------------------------------------------------------------------------------------------------

    def forward(
        self, masked_frames: torch.Tensor, num_local_frames: int
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The official contract: (b, t, 3, h, w) masked frames in [-1, 1], the first ``num_local_frames`` being the
        local window and the rest reference frames -> ((b*t, 3, h, w) frames in [-1, 1], (flows_forward,
        flows_backward) each (b, l-1, 2, h/4, w/4))."""
        if masked_frames.dim() != 5 or masked_frames.shape[2] != 3:
            raise ModelInputError(f"expected (b, t, 3, h, w) frames, got shape {tuple(masked_frames.shape)}")
        b, t, c, h, w = masked_frames.shape
        l_t = int(num_local_frames)
        if not 1 <= l_t <= t:
            raise ModelInputError(f"num_local_frames={num_local_frames} must be between 1 and the {t} frames given")
        self.check_input_size(h, w)

        flows = self.complete_flows(masked_frames[:, :l_t])
        enc_feat = self.encode(masked_frames.reshape(b * t, c, h, w))
        _, fc, fh, fw = enc_feat.shape
        enc_feat = enc_feat.view(b, t, fc, fh, fw)
        local_feat = self.propagate(enc_feat[:, :l_t], flows[0], flows[1])
        feat = torch.cat([local_feat, enc_feat[:, l_t:]], dim=1)
        feat = feat + self.hallucinate(feat)
        output = self.decode(feat.view(b * t, fc, fh, fw))
        return output, flows

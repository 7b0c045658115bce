"""Training samples from folders of clips: consecutive local frames + random references, cropped, resized, masked.

A data folder holds one folder per clip. A clip folder holds its frames (PNG, JPEG, TIFF, BMP or WebP, read with
OpenCV, sorted by name), either directly or in a ``frames/`` subfolder; with ``data.masks = "folders"`` the masks
are in ``<clip>/masks/`` under the same file names (any non-zero value is hole).

Determinism: sample ``n`` of a run (the global position in the stream of samples, ``step * batch + slot``) is
drawn from ``numpy.random.default_rng([seed, n])`` alone, so it is the same whichever process or data-loader worker
draws it, and a resumed run continues the stream at ``step * batch`` exactly. Clips are visited in a seeded
permutation per pass over the data, as an epoch-shuffled loader does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.mask_synthesis import training_masks
from e2fgvi_core.training.config import DataConfig

__all__ = ["Clip", "ClipSamples", "SampleIds", "find_clips", "read_rgb", "worker_seed"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@dataclass(frozen=True)
class Clip:
    """One clip: its frame files in order and, when it has them, its mask files (same length)."""

    name: str
    frames: tuple[Path, ...]
    masks: tuple[Path, ...] | None = None

    def __len__(self) -> int:
        return len(self.frames)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def find_clips(root: str | Path, min_frames: int = 1, need_masks: bool = False) -> list[Clip]:
    """The clips under ``root`` with at least ``min_frames`` frames; ``ConfigError`` when none is usable."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise ConfigError(f"data folder {str(root) or '(none)'!r} does not exist: give a folder of clip folders")
    clips, short = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        frame_dir = folder / "frames" if (folder / "frames").is_dir() else folder
        frames = _images(frame_dir)
        if not frames:
            continue
        masks = None
        if need_masks:
            mask_dir = folder / "masks"
            masks = tuple(mask_dir / p.name for p in frames)
            missing = [p.name for p in masks if not p.is_file()]
            if missing:
                raise ConfigError(
                    f"clip {folder.name}: {len(missing)} frame(s) have no mask in {mask_dir}, e.g. {missing[0]}"
                )
        if len(frames) < min_frames:
            short.append(f"{folder.name} ({len(frames)})")
            continue
        clips.append(Clip(folder.name, tuple(frames), masks))
    if not clips:
        why = f"; too short (< {min_frames} frames): {', '.join(short)}" if short else ""
        raise ConfigError(
            f"no usable clips in {root}: expected one folder of frames ({'/'.join(IMAGE_SUFFIXES)}) per clip{why}"
        )
    return clips


def read_rgb(path: Path) -> np.ndarray:
    """(h, w, 3) uint8 RGB of an image file; ``ConfigError`` naming the file when OpenCV cannot read it."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ConfigError(f"cannot read frame {path} (not an image OpenCV reads)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    """(h, w) bool: any non-zero value in any channel is hole."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ConfigError(f"cannot read mask {path}")
    return image.reshape(image.shape[0], image.shape[1], -1).any(axis=2)


class ClipSamples(Dataset):
    """``dataset[n]`` -> (frames (t, 3, h, w) float32 in [-1, 1], masks (t, 1, h, w) float32 in {0, 1}), with
    t = local + reference frames, the local ones first and consecutive."""

    def __init__(self, clips: list[Clip], config: DataConfig, seed: int):
        self.clips = clips
        self.config = config
        self.seed = int(seed)
        self.length = config.num_local_frames + config.num_ref_frames

    def __len__(self) -> int:
        return 2**62  # an endless stream, indexed by the global sample number

    def clip_of(self, n: int) -> Clip:
        """The clip sample ``n`` comes from: pass ``n // len(clips)`` visits the clips in its own seeded order."""
        count = len(self.clips)
        order = np.random.default_rng([self.seed, n // count, 1]).permutation(count)
        return self.clips[int(order[n % count])]

    def __getitem__(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        clip = self.clip_of(n)
        rng = np.random.default_rng([self.seed, int(n)])
        indices = self.frame_indices(len(clip), rng)
        return self.load(clip, indices, rng, mask_seed=int(rng.integers(2**31)))

    def frame_indices(self, clip_length: int, rng: np.random.Generator) -> list[int]:
        """``num_local_frames`` consecutive positions, then ``num_ref_frames`` others in increasing order."""
        local = self.config.num_local_frames
        pivot = int(rng.integers(0, clip_length - local + 1))
        rest = [i for i in range(clip_length) if not pivot <= i < pivot + local]
        refs = sorted(int(i) for i in rng.choice(rest, size=self.config.num_ref_frames, replace=False))
        return list(range(pivot, pivot + local)) + refs

    def load(
        self, clip: Clip, indices: list[int], rng: np.random.Generator | None, mask_seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames and masks at ``indices``: one random crop and flip for all of them (``rng=None``: whole frame,
        no flip, for held-out samples)."""
        h, w = self.config.size
        frames = [read_rgb(clip.frames[i]) for i in indices]
        src_h, src_w = frames[0].shape[:2]
        for i, frame in zip(indices, frames):
            if frame.shape[:2] != (src_h, src_w):
                raise ConfigError(f"clip {clip.name}: frame {clip.frames[i].name} is not {src_w}x{src_h} as the others")
        box = self._crop_box(src_h, src_w, rng)
        flip = rng is not None and self.config.flip and rng.uniform() < 0.5
        frames = np.stack([self._fit(frame, box, flip, cv2.INTER_AREA) for frame in frames])
        if self.config.masks == "folders" and clip.masks is not None:
            masks = np.stack(
                [
                    self._fit(read_mask(clip.masks[i]).astype(np.uint8), box, flip, cv2.INTER_NEAREST) > 0
                    for i in indices
                ]
            )
        else:
            masks = training_masks((h, w), indices, mask_seed)
        frames_t = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().float().div(127.5).sub(1.0)
        masks_t = torch.from_numpy(masks.astype(np.float32))[:, None]
        return frames_t, masks_t

    def _crop_box(self, src_h: int, src_w: int, rng: np.random.Generator | None) -> tuple[int, int, int, int]:
        """(y, x, crop_h, crop_w): the training aspect ratio, a seeded fraction of the largest such crop."""
        h, w = self.config.size
        aspect = w / h
        full_h = min(src_h, src_w / aspect)
        scale = 1.0 if rng is None else float(rng.uniform(*self.config.crop_scale))
        crop_h = max(1, min(src_h, round(full_h * scale)))
        crop_w = max(1, min(src_w, round(crop_h * aspect)))
        if rng is None:
            return (src_h - crop_h) // 2, (src_w - crop_w) // 2, crop_h, crop_w
        return int(rng.integers(0, src_h - crop_h + 1)), int(rng.integers(0, src_w - crop_w + 1)), crop_h, crop_w

    def _fit(self, image: np.ndarray, box: tuple[int, int, int, int], flip: bool, interpolation: int) -> np.ndarray:
        y, x, ch, cw = box
        h, w = self.config.size
        crop = np.ascontiguousarray(image[y : y + ch, x : x + cw])
        if (ch, cw) != (h, w):
            interpolation = interpolation if (ch >= h or interpolation == cv2.INTER_NEAREST) else cv2.INTER_LINEAR
            crop = cv2.resize(crop, (w, h), interpolation=interpolation)
        return np.ascontiguousarray(crop[:, ::-1]) if flip else crop


class SampleIds(Sampler[int]):
    """The sample numbers one process draws, from ``start_step`` on: step s, slot j of this rank's share of the
    batch is sample ``s * batch_size + rank * per_rank + j``. Endless; the trainer stops it."""

    def __init__(self, batch_size: int, start_step: int, rank: int = 0, world_size: int = 1):
        self.per_rank = batch_size // world_size
        self.batch_size = batch_size
        self.start_step = start_step
        self.rank = rank

    def __iter__(self) -> Iterator[int]:
        for step in itertools.count(self.start_step):
            base = step * self.batch_size + self.rank * self.per_rank
            yield from range(base, base + self.per_rank)

    def __len__(self) -> int:
        return 2**62


def worker_seed(seed: int, start_step: int, rank: int, worker_id: int) -> int:
    """Seed of the global RNGs of one data-loader worker, from (seed, step, rank, worker); the samples themselves
    do not use global RNGs (see the module docstring), this keeps anything else a worker does reproducible too."""
    return int(np.random.SeedSequence([seed, start_step, rank, worker_id]).generate_state(1)[0])

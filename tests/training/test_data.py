"""Training samples: local frames consecutive, references elsewhere, seeded, identical with worker processes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.mask_synthesis import training_masks
from e2fgvi_core.training.data import ClipSamples, SampleIds, find_clips


def _samples(config, seed=None):
    data = config.data
    clips = find_clips(data.root, min_frames=data.num_local_frames + data.num_ref_frames)
    return ClipSamples(clips, data, config.seed if seed is None else seed)


def test_sample_shapes_ranges_and_frame_choice(tiny):
    config = tiny(**{"data.num_local_frames": 3, "data.num_ref_frames": 2})
    samples = _samples(config)
    frames, masks = samples[5]
    assert frames.shape == (5, 3, 24, 36) and masks.shape == (5, 1, 24, 36)
    assert frames.min() >= -1 and frames.max() <= 1 and set(masks.unique().tolist()) <= {0.0, 1.0}
    assert 0 < masks.mean() < 0.9
    for n in range(20):
        rng = np.random.default_rng([config.seed, n])
        indices = samples.frame_indices(12, rng)
        local, refs = indices[:3], indices[3:]
        assert local == list(range(local[0], local[0] + 3)) and refs == sorted(refs) and not set(refs) & set(local)


def test_samples_depend_on_seed_and_number_only(tiny):
    config = tiny()
    a, b = _samples(config), _samples(config)
    for n in (0, 1, 7):
        assert all(torch.equal(x, y) for x, y in zip(a[n], b[n]))
    assert not torch.equal(a[0][0], a[1][0])
    assert not torch.equal(a[3][0], _samples(config, seed=config.seed + 1)[3][0])
    visited = {a.clip_of(n).name for n in range(2)}
    assert visited == {"pan_a", "pan_b"}  # one pass visits every clip once


def test_worker_processes_give_the_same_batches(tiny):
    config = tiny(**{"data.batch_size": 2})
    samples = _samples(config)

    def batches(workers: int, start_step: int):
        loader = torch.utils.data.DataLoader(
            samples, batch_size=2, sampler=SampleIds(2, start_step), num_workers=workers
        )
        it = iter(loader)
        return [next(it) for _ in range(3)]

    plain, with_workers, resumed = batches(0, 0), batches(2, 0), batches(0, 1)
    for x, y in zip(plain, with_workers):
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1])
    assert torch.equal(plain[1][0], resumed[0][0])  # a loader started at step 1 continues the stream exactly


def test_ddp_ranks_draw_disjoint_shares():
    def first(rank):
        return list(zip(range(4), iter(SampleIds(4, start_step=3, rank=rank, world_size=2))))

    assert [n for _, n in first(0)] == [12, 13, 16, 17] and [n for _, n in first(1)] == [14, 15, 18, 19]


def test_training_masks_are_seeded_shapes_still_or_moving():
    kinds = set()
    for seed in range(12):
        masks = training_masks((48, 72), [0, 1, 2, 30], seed)
        assert np.array_equal(masks, training_masks((48, 72), [0, 1, 2, 30], seed))
        assert masks.shape == (4, 48, 72) and all(0.02 < m.mean() < 0.8 for m in masks)
        assert np.array_equal(masks[1], training_masks((48, 72), [1], seed)[0])  # frame i depends on i, not on the list
        centres = [np.argwhere(m).mean(axis=0) for m in masks]
        steps = [np.abs(b - a).max() for a, b in itertools.pairwise(centres[:3])]
        assert max(steps) <= 4.0  # at most 3 px a frame (+ rounding)
        kinds.add("still" if np.array_equal(masks[0], masks[3]) else "moving")
    assert kinds == {"still", "moving"}


def test_empty_or_short_data_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no usable clips"):
        find_clips(tmp_path)
    (tmp_path / "short").mkdir()
    import cv2

    cv2.imwrite(str(tmp_path / "short" / "0.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match=r"too short \(< 3 frames\): short \(1\)"):
        find_clips(tmp_path, min_frames=3)
    with pytest.raises(ConfigError, match="does not exist"):
        find_clips(tmp_path / "nope")

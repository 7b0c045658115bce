"""Benchmark and training masks: seeded, reproducible, moving where they should."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.mask_synthesis import dilate_masks, object_masks, static_masks


def test_masks_are_seeded_and_move():
    other = np.zeros((5, 60, 80), bool)
    other[:, 20:40, 30:50] = True
    a = object_masks(other, (12, 60, 80), seed=1)
    b = object_masks(other, (12, 60, 80), seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[0], a[-1]), "object masks must move over the shot"
    blobs = static_masks((3, 60, 80), seed=2)
    assert np.array_equal(blobs[0], blobs[2]) and 0.01 < blobs[0].mean() < 0.5


def test_dilated_masks_grow_by_the_engine_dilation():
    masks = np.zeros((2, 30, 30), bool)
    masks[:, 15, 15] = True
    holes = dilate_masks(masks)
    assert holes.shape == masks.shape and holes[:, 15, 11].all() and not holes[:, 15, 10].any()

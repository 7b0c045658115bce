"""The feathered composite edge (``--feather N``): inside the hole only, hard edge at 0."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.removal.feather import feather_composite, feather_weights


def test_feather_ramps_inside_the_hole_and_never_leaves_it():
    hole = np.zeros((21, 21), bool)
    hole[3:18, 3:18] = True
    assert np.array_equal(feather_weights(hole, 0), hole.astype(np.float32))
    weights = feather_weights(hole, 3)
    assert (weights[~hole] == 0).all()
    assert weights[3, 10] == np.float32(0.25) and weights[4, 10] == np.float32(0.5) and weights[10, 10] == 1.0
    assert np.all(np.diff(weights[3:11, 10]) >= 0)


def test_feather_composite_is_exact_where_the_weight_is_zero_or_one():
    rng = np.random.default_rng(3)
    plate = rng.random((9, 9, 3), dtype=np.float32) * 5
    fill = rng.random((9, 9, 3), dtype=np.float32)
    hole = np.zeros((9, 9), bool)
    hole[2:7, 2:7] = True
    weights = feather_weights(hole, 1)
    out = feather_composite(plate, fill, weights)
    assert np.array_equal(out[~hole], plate[~hole])
    assert np.array_equal(out[weights == 1], fill[weights == 1])
    edge = (weights > 0) & (weights < 1)
    assert edge.any() and np.allclose(out[edge], plate[edge] * 0.5 + fill[edge] * 0.5)

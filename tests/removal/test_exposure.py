"""The exposure normalisation of scene-linear plates (``removal/exposure.py``): homogeneous, invertible."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.io.colour import build_colour_transform
from e2fgvi_core.removal.exposure import ExposedColour, measure_exposure, rolloff, unrolloff


def _plate(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((40, 50, 3)) * 3.0).astype(np.float32)


def test_exposure_is_positively_homogeneous_bit_for_bit_for_powers_of_two():
    plate = _plate()
    hole = np.zeros((40, 50), bool)
    hole[10:20, 15:30] = True
    s = measure_exposure(plate, hole)
    assert 2.5 < s < 3.0
    assert measure_exposure(plate * 4, hole) == 4 * s
    assert measure_exposure(np.zeros_like(plate), hole) == 1.0


def test_exposed_colour_round_trips_and_maps_k_times_the_plate_to_the_same_display():
    plate = _plate(1)
    colour = build_colour_transform()
    base = ExposedColour(colour, 2.0)
    pushed = ExposedColour(colour, 8.0)
    assert np.array_equal(base.to_display(plate), pushed.to_display(plate * 4))
    display = np.linspace(0, 1, 11, dtype=np.float32)[:, None].repeat(3, 1)
    assert np.array_equal(pushed.to_linear(display), 4 * base.to_linear(display))
    assert base.to_linear(display).max() == 2.0  # a fill at display 1 comes back at the exposure: > 1 survives


def test_rolloff_is_invertible_and_keeps_highlights_below_one():
    x = np.array([0.0, 0.5, 0.8, 1.0, 4.0, 50.0], np.float32)
    y = rolloff(x, 0.8)
    assert (y < 1).all() and np.array_equal(y[:3], x[:3]) and np.all(np.diff(y) > 0)
    assert np.allclose(unrolloff(y, 0.8), x, rtol=2e-4)

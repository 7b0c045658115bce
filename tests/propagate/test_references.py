"""Reference (clean-plate) frames in the weight-free engine: trusted pixels travel to the frames around them."""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core import metrics
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.propagate import PropagateConfig, PropagateInpainter
from e2fgvi_core.propagate.references import Reference


def _static_shot(frames: int = 9, size: tuple[int, int] = (64, 80)):
    """A textured background under a static hole that no frame ever reveals (people standing still)."""
    rng = np.random.default_rng(21)
    h, w = size
    small = rng.random((h // 4, w // 4, 3)).astype(np.float32)
    background = np.kron(small, np.ones((4, 4, 1), np.float32))  # blocky texture, flow-trackable
    truth = np.repeat(background[None], frames, axis=0)
    holes = np.zeros((frames, h, w), bool)
    holes[:, 20:44, 24:56] = True
    plate = truth.copy()
    plate[holes] = (1.0, 0.0, 0.0)
    return plate, holes, truth


def test_a_reference_frame_is_carried_to_the_frames_around_it():
    plate, holes, truth = _static_shot()
    targets = list(range(len(plate)))
    without = PropagateInpainter(PropagateConfig(context_frames=8)).fill(plate, holes, targets)
    reference = {4: Reference(truth[4], np.ones(truth.shape[1:3], np.float32))}
    with_ref = PropagateInpainter(PropagateConfig(context_frames=8)).fill(plate, holes, targets, references=reference)
    for i in targets:
        gain = metrics.psnr(truth[i], with_ref[i], mask=holes[i]) - metrics.psnr(truth[i], without[i], mask=holes[i])
        assert metrics.psnr(truth[i], with_ref[i], mask=holes[i]) > 35.0 and gain > 15.0, (i, gain)
    np.testing.assert_array_equal(with_ref[4][holes[4]], truth[4][holes[4]])  # trusted: the reference itself
    np.testing.assert_array_equal(with_ref[:, ~holes[0]], plate[:, ~holes[0]])  # outside the hole: the input


def test_untrusted_reference_pixels_are_blended_by_their_alpha_and_never_carried():
    plate, holes, truth = _static_shot()
    trust = np.zeros(truth.shape[1:3], np.float32)
    trust[:, :40] = 1.0  # the left half of the hole is trusted
    trust[:, 40:] = 0.25  # the right half only blended at its own frame
    config = PropagateConfig(context_frames=8)
    without = PropagateInpainter(config).fill(plate, holes, [2, 4])
    filled = PropagateInpainter(config).fill(plate, holes, [2, 4], references={4: Reference(truth[4], trust)})
    left, right = holes[4].copy(), holes[4].copy()
    left[:, 40:] = False
    right[:, :40] = False
    np.testing.assert_array_equal(filled[1][left], truth[4][left])
    # At its frame, an untrusted pixel is 0.25 of the reference over the fill of what else is known.
    assert metrics.psnr(truth[4], filled[1], mask=right) > metrics.psnr(truth[4], without[1], mask=right)
    assert metrics.psnr(truth[2], filled[0], mask=left) > 35.0  # trusted pixels travel
    assert metrics.psnr(truth[2], filled[0], mask=right) < 30.0  # untrusted ones do not


def test_bad_references_are_refused_with_a_clear_message():
    plate, holes, truth = _static_shot()
    inpainter = PropagateInpainter(PropagateConfig(context_frames=4))
    with pytest.raises(ConfigError, match="reference indices"):
        inpainter.fill(plate, holes, [0], references={20: Reference.from_pixels(truth[0])})
    with pytest.raises(ConfigError, match="does not match the plate"):
        inpainter.fill(plate, holes, [0], references={1: Reference.from_pixels(truth[0][:32])})
    with pytest.raises(ConfigError, match="RGB or RGBA"):
        Reference.from_pixels(truth[0][..., :2])
    rgba = Reference.from_pixels(np.concatenate([truth[0], np.full((*truth.shape[1:3], 1), 0.5, np.float32)], -1))
    assert float(rgba.trust.mean()) == pytest.approx(0.5)


def test_the_engine_gives_every_window_the_reference_even_beyond_its_reach():
    """``PropagateEngine`` with a shared cache: a reference 20 frames from a window's own frames still fills it, and
    a second run takes every window from the cache with the same outputs."""
    from e2fgvi_core.removal.cache import ShotCache
    from e2fgvi_core.removal.config import EngineConfig
    from e2fgvi_core.removal.engines import PropagateEngine
    from e2fgvi_core.removal.roi import plan_geometry

    plate, holes, truth = _static_shot(frames=30, size=(48, 64))
    reference = {29: Reference(truth[29], np.ones(truth.shape[1:3], np.float32))}
    cache = ShotCache()

    def run(references) -> dict[int, np.ndarray]:
        engine = PropagateEngine(PropagateConfig(context_frames=3), cache, references)
        outputs: dict[int, np.ndarray] = {}
        for window in engine.plan(len(plate), EngineConfig()).windows:
            geometry = plan_geometry((64, 48), [holes[p] for p in window.local], roi="full", margin=0, proxy=1.0,
                                     engine="propagate")  # fmt: skip
            digest = lambda p: f"{p}"
            done = engine.run_window(window, geometry, digest, lambda p: (plate[p], holes[p]))
            outputs.update({p: v for p, v in done.items() if p not in outputs})
        return outputs

    plain, first, second = run({}), run(reference), run(reference)
    assert metrics.psnr(truth[0], first[0], mask=holes[0]) > metrics.psnr(truth[0], plain[0], mask=holes[0]) + 15.0
    assert cache.stats().hits_by_kind["windows"] >= len(first) // 5
    for p in first:
        np.testing.assert_array_equal(first[p], second[p])


def _passer_by_shot(frames: int = 21, size: tuple[int, int] = (64, 96)):
    """A static textured background under a static hole, and a magenta passer-by walking 2 px a frame along the
    rows of the hole: at the middle frame he stands half inside it."""
    _, holes, truth = _static_shot(frames, size)
    holes[:] = False
    holes[:, 20:44, 40:72] = True
    for i in range(frames):
        x = 14 + 2 * i  # the middle frame (10): columns 34..45, half in the hole
        truth[i, 26:40, x : x + 12] = (1.0, 0.0, 1.0)
    plate = truth.copy()
    plate[holes] = (0.0, 1.0, 0.0)
    return plate, holes, truth


def test_a_passer_by_in_the_reference_is_not_copied_to_the_frames_he_has_left():
    """The reference is a real frame: the background it shows is fetched straight into the far frames along the
    camera motion, but the passer-by it shows inside the hole is no background there (``still_background``)."""
    plate, holes, truth = _passer_by_shot()
    middle = len(plate) // 2
    reference = {middle: Reference.from_pixels(truth[middle])}
    targets = [0, 1, 19, 20]
    config = PropagateConfig(context_frames=20)
    filled = PropagateInpainter(config).fill(plate, holes, targets, references=reference)
    without = PropagateInpainter(config).fill(plate, holes, targets)
    ghost = holes[0] & (truth[middle] == (1.0, 0.0, 1.0)).all(axis=-1)  # where he stands inside the hole at 10
    assert ghost.sum() > 50
    for out, plain, i in zip(filled, without, targets):
        magenta = (out[..., 0] > 0.8) & (out[..., 1] < 0.2) & (out[..., 2] > 0.8)
        assert magenta[ghost].mean() < 0.05, i  # no ghost of him
        here = (truth[i] == (1.0, 0.0, 1.0)).all(axis=-1)  # where he stands at i: no frame shows it
        background = holes[i] & ~grow(ghost | here, 3)
        # The reference's background, exactly, on most of it (the watershed that extends the passer-by into the
        # hole follows colour edges, which this random texture has everywhere).
        exact = (np.abs(out - truth[i]).max(axis=-1) < 0.02)[background].mean()
        gain = metrics.psnr(truth[i], out, mask=background) - metrics.psnr(truth[i], plain, mask=background)
        assert exact > 0.5 and gain > 5.0, (i, exact, gain)


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    from e2fgvi_core.propagate.harmonic import grow_mask

    return grow_mask(mask, radius)


def test_people_standing_in_the_reference_are_copied_while_they_stay_and_not_after_they_leave():
    """Standing people change nothing for twenty frames around the reference, then leave: the reference is compared
    with each target itself, so they fill the frames that show them and leave no ghost in those that do not."""
    frames = 31
    _, holes, truth = _static_shot(frames, (64, 96))
    holes[:] = False
    holes[:, 20:44, 40:72] = True
    person = np.zeros(truth.shape[1:3], bool)
    person[26:40, 34:46] = True  # half inside the hole
    truth[:21, person] = (1.0, 0.0, 1.0)  # stands there until frame 20, gone from 21 on
    plate = truth.copy()
    plate[holes] = (0.0, 1.0, 0.0)
    reference = {10: Reference.from_pixels(truth[10])}
    targets = [4, 27, 30]
    filled = PropagateInpainter(PropagateConfig(context_frames=20)).fill(plate, holes, targets, references=reference)
    inside = holes[0] & person
    assert inside.sum() > 50
    # Frame 4 shows him where the reference does: the hole takes him too, exactly where he stands.
    assert metrics.psnr(truth[4], filled[0], mask=holes[4]) > 35.0
    for out, i in zip(filled[1:], targets[1:]):
        magenta = (out[..., 0] > 0.8) & (out[..., 1] < 0.2) & (out[..., 2] > 0.8)
        assert magenta[inside].mean() < 0.05, i  # gone: no ghost of him
        background = holes[i] & ~grow(person, 3)
        exact = (np.abs(out - truth[i]).max(axis=-1) < 0.02)[background].mean()
        assert exact > 0.5, (i, exact)

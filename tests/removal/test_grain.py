"""``--regrain`` (``removal/grain.py``): the plate's grain measured around the hole per channel and brightness band,
matched grain added to the fill only, deterministic per frame (subsets and chunks equal the whole run), through the
request schema to the CLI with real EXR files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.removal import grain
from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal
from e2fgvi_core.removal.runner import job_provenance
from e2fgvi_core.schema import field_for, pixel_fields
from e2fgvi_core.testing import make_shot, run_e2fgvi, write_exr

H, W = 120, 176
SIGMA = np.array([0.020, 0.010, 0.030], np.float32)  # grain per channel (float plates)
FIRST = 1001


def _gradient(h: int = H, w: int = W) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([0.15 + 0.6 * xx / w, 0.3 + 0.3 * yy / h, 0.45 + 0.1 * (xx + yy) / (w + h)], -1)


def _grain(rng, shape, width: float = 0.0) -> np.ndarray:
    """Unit-deviation Gaussian grain, white or blurred by ``width`` px."""
    noise = rng.standard_normal(shape).astype(np.float32)
    if width:
        noise = np.stack([cv2.GaussianBlur(noise[..., c], (0, 0), width) for c in range(shape[-1])], -1)
        noise /= noise.std(axis=(0, 1))
    return noise


def _disc(h: int = H, w: int = W, radius: int = 28) -> np.ndarray:
    hole = np.zeros((h, w), np.uint8)
    cv2.circle(hole, (w // 2, h // 2), radius, 1, -1)
    return hole.astype(bool)


def _deep(hole: np.ndarray) -> np.ndarray:
    """Hole pixels away from its edge (the high-pass blur there reads the plate too)."""
    return hole & (cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5) > 5)


def _energy(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Mean squared high-pass residual per channel over ``region``."""
    return (grain.high_pass(image.astype(np.float32))[region] ** 2).mean(axis=0)


# ----------------------------------------------------------------------------------------------- measurement
@pytest.mark.parametrize("width", [0.0, 1.0], ids=["white", "coarse"])
def test_the_measured_grain_matches_the_plate_per_channel_and_band(width):
    rng = np.random.default_rng(3)
    base = _gradient()
    # Grain grows with brightness: the bands must see it (darkest band half the brightest's deviation).
    level = grain.luma(base)[..., None]
    amplitude = SIGMA * (0.5 + (level - level.min()) / (level.max() - level.min()))
    noise = _grain(rng, base.shape, width)
    plate = base + noise * amplitude
    hole = _disc()
    known = grain.ring_around(hole)
    profile = grain.measure_grain(plate, known)
    assert profile is not None and profile.sigma.shape == (grain.BANDS, 3)
    # The truth: the high-pass residual of the grain alone, in each band of the same pixels.
    truth = grain.high_pass(noise * amplitude)[known]
    order = np.argsort(grain.luma(plate)[known], kind="stable")
    for band, pixels in enumerate(np.array_split(order, grain.BANDS)):
        expected = truth[pixels].std(axis=0)
        np.testing.assert_allclose(profile.sigma[band], expected, rtol=0.15)
    assert profile.sigma[-1].mean() > 1.4 * profile.sigma[0].mean()  # the band dependence is seen
    np.testing.assert_allclose(profile.width, width, atol=0.2)  # how coarse: from the autocorrelation
    np.testing.assert_allclose(profile.mix, np.eye(3), atol=0.1)  # independent channels


def test_luma_grain_is_measured_as_correlated_across_channels():
    rng = np.random.default_rng(4)
    base = _gradient()
    plate = base + _grain(rng, base.shape[:2] + (1,)) * SIGMA  # one noise in every channel
    profile = grain.measure_grain(plate, grain.ring_around(_disc()))
    correlation = profile.mix @ profile.mix.T
    assert correlation.min() > 0.9
    field = grain.grain_field((0, 0, 64, 64), profile, FIRST)
    assert np.corrcoef(field.reshape(-1, 3).T).min() > 0.9  # the synthetic grain is luma grain too


def _textured_pair(pan: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(previous, current, texture of current): a static texture (stronger than the grain), the camera panning
    ``pan`` px to the right between the frames, fresh grain in each."""
    texture = 0.4 + 0.05 * _grain(rng, (H + 20, W + 20, 3), 0.8)
    previous = texture[10 : 10 + H, 10 : 10 + W] + _grain(rng, (H, W, 3)) * SIGMA
    current_texture = texture[10 : 10 + H, 10 + pan : 10 + pan + W]
    return previous, current_texture + _grain(rng, (H, W, 3)) * SIGMA, current_texture


@pytest.mark.parametrize("pan", [0, 3], ids=["still", "pan"])
def test_a_neighbour_frame_tells_the_grain_from_the_texture(pan):
    """One frame cannot tell texture from grain (both are high-pass detail); what changes between two frames of
    the shot, aligned by the camera's pan, is the grain alone."""
    rng = np.random.default_rng(10)
    previous, current, texture = _textured_pair(pan, rng)
    hole = _disc()
    known = grain.ring_around(hole)
    alone = grain.measure_grain(current, known)
    truth = grain.high_pass(current - texture)[known].std(axis=0)  # the grain's own residual
    assert (alone.sigma.mean(axis=0) > 1.3 * truth).all()  # one frame: texture read as grain
    assert grain.pan_between(current, known, previous, (0, 0, W, H)) == (0, 0)  # the whole frame: no reach left
    inner = (20, 20, W - 20, H - 20)  # a crop: the search reaches beyond it, inside the frame
    crop = (slice(20, H - 20), slice(20, W - 20))
    shift = grain.pan_between(current[crop], known[crop], previous, inner)
    assert shift == (pan, 0)
    aligned, shown = grain.shifted_window(previous, inner, shift)
    profile = grain.measure_grain(current[crop], known[crop], aligned, known[crop] & shown)
    truth = grain.high_pass(current - texture)[crop][known[crop]].std(axis=0)
    np.testing.assert_allclose(profile.sigma.mean(axis=0), truth, rtol=0.15)
    assert (profile.share < 0.9).all()
    # The fill with the texture and no grain gets the grain, not the texture's worth of noise.
    filled = np.where(hole[..., None], texture, current)
    regrained = grain.regrain_fill(current, filled, hole, FIRST, neighbour=previous, neighbour_hole=hole)
    added = (regrained - filled)[_deep(hole)].std(axis=0)
    np.testing.assert_allclose(added, SIGMA, rtol=0.25)


def test_no_plate_around_the_hole_means_no_grain():
    plate = _gradient() + _grain(np.random.default_rng(5), (H, W, 3)) * SIGMA
    hole = np.ones((H, W), bool)
    filled = np.full_like(plate, 0.5)
    assert grain.regrain_fill(plate, filled, hole, FIRST) is filled


# ------------------------------------------------------------------------------------------------- the fill
@pytest.mark.parametrize("dtype", ["float16", "float32", "uint8"])
def test_regrain_gives_a_smooth_fill_the_plates_high_pass_energy_and_leaves_the_rest(dtype):
    rng = np.random.default_rng(6)
    base = _gradient()
    plate = base + _grain(rng, base.shape) * SIGMA
    hole = _disc()
    if dtype == "uint8":
        plate, smooth = (np.clip(np.round(x * 255), 0, 255).astype(np.uint8) for x in (plate, base))
    else:
        plate, smooth = plate.astype(dtype), base.astype(dtype)
    filled = np.where(hole[..., None], smooth, plate)
    regrained = grain.regrain_fill(plate, filled, hole, FIRST)
    assert regrained.dtype == plate.dtype
    assert np.array_equal(regrained[~hole], filled[~hole])  # outside the hole: untouched
    deep = _deep(hole)
    wanted = _energy(plate, deep)
    assert (_energy(filled, deep) / wanted).max() < 0.05  # the smooth fill: no detail
    ratio = _energy(regrained, deep) / wanted
    assert ((ratio > 0.7) & (ratio < 1.3)).all(), ratio
    # Grain is noise around the fill, not a shift of it.
    assert abs(float(regrained[deep].astype(np.float32).mean() - filled[deep].astype(np.float32).mean())) < (
        0.5 if dtype == "uint8" else 0.002
    )


def test_a_fill_that_carries_the_grain_gets_little_more():
    rng = np.random.default_rng(7)
    base = _gradient()
    plate = base + _grain(rng, base.shape) * SIGMA
    hole = _disc()
    carried = np.where(hole[..., None], base + _grain(rng, base.shape) * SIGMA, plate)  # its own grain, as propagated
    ratio = _energy(grain.regrain_fill(plate, carried, hole, FIRST), _deep(hole)) / _energy(plate, _deep(hole))
    assert (ratio < 1.3).all(), ratio
    half = np.where(hole[..., None], base + _grain(rng, base.shape) * SIGMA * 0.5, plate)  # half of it: topped up
    ratio = _energy(grain.regrain_fill(plate, half, hole, FIRST), _deep(hole)) / _energy(plate, _deep(hole))
    assert ((ratio > 0.7) & (ratio < 1.3)).all(), ratio


def test_the_grain_depends_on_the_frame_only_not_on_the_hole():
    ones = np.ones(3, np.float32)
    widths = np.array([0.0, 0.8, 1.2], np.float32)
    profile = grain.GrainProfile(np.array([0.5]), ones[None], widths, np.eye(3), ones, ones, 1000)
    whole = grain.grain_field((0, 0, 200, 150), profile, FIRST)
    part = grain.grain_field((37, 81, 140, 150), profile, FIRST)  # another hole's box: the same grain there
    np.testing.assert_array_equal(part, whole[81:150, 37:140])
    assert np.array_equal(grain.grain_field((0, 0, 200, 150), profile, FIRST), whole)  # again: the same bits
    other = grain.grain_field((0, 0, 200, 150), profile, FIRST + 1)
    assert abs(np.corrcoef(other.ravel(), whole.ravel())[0, 1]) < 0.05  # the next frame: new grain
    # Unit deviation of the high-pass residual, whatever the width (then scaled by the measured deviation).
    residual = grain.high_pass(whole)[10:-10, 10:-10].reshape(-1, 3)
    np.testing.assert_allclose(residual.std(axis=0), 1.0, rtol=0.06)


# --------------------------------------------------------------------------------------------------- a run
def _grainy_shot(length: int = 10) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """8-bit plate: a smooth gradient with fresh grain every frame and a static grey disc to remove (no frame
    shows what is behind it, so the fill is made up), its matte."""
    rng = np.random.default_rng(8)
    base = _gradient()
    hole = _disc(radius=20)
    frames, mattes = {}, {}
    for i in range(length):
        plate = base + _grain(rng, base.shape) * SIGMA * 1.5
        plate[hole] = 0.8
        frames[FIRST + i] = np.clip(np.round(plate * 255), 0, 255).astype(np.uint8)
        mattes[FIRST + i] = hole.astype(np.uint8) * 255
    return frames, mattes


def _run(frames, mattes, regrain: bool, subset: str | None = None) -> dict[int, np.ndarray]:
    sink = MemorySink()
    request = RemovalRequest.from_mapping(
        {"engine": "propagate", "regrain": regrain, "shot": f"{FIRST}-{max(frames)}", "frames": subset}
    )
    run_removal(request, source=MemorySource(frames), matte_source=MemorySource(mattes, "matte"), sink=sink)
    return sink.arrays()


def test_a_run_with_regrain_adds_grain_inside_the_hole_only_and_chunks_equal_the_whole_run():
    frames, mattes = _grainy_shot()
    plain = _run(frames, mattes, regrain=False)
    regrained = _run(frames, mattes, regrain=True)
    first = regrained[FIRST]
    hole = (first != plain[FIRST]).any(axis=-1)
    dilated = cv2.dilate(mattes[FIRST], np.ones((3, 3), np.uint8), iterations=8) > 0  # beyond the dilated hole
    assert hole.any() and not (hole & ~dilated).any()
    for number in frames:
        outside = ~dilated
        assert np.array_equal(regrained[number][outside], plain[number][outside])
        assert np.array_equal(regrained[number][outside], frames[number][outside])  # bit-identical to the plate
    deep = _deep(mattes[FIRST] > 0)
    wanted = np.mean([_energy(frames[n], grain.ring_around(mattes[FIRST] > 0)) for n in frames], axis=0)
    with_grain = np.mean([_energy(regrained[n], deep) for n in frames], axis=0) / wanted
    without = np.mean([_energy(plain[n], deep) for n in frames], axis=0) / wanted
    assert ((with_grain > 0.7) & (with_grain < 1.3)).all(), (with_grain, without)
    assert (with_grain > without).all()
    # Exact: each --frames subset gives the whole run's bits (grain seeded by the frame number alone).
    for subset in (f"{FIRST + 3}-{FIRST + 5}", f"{FIRST + 9}"):
        part = _run(frames, mattes, regrain=True, subset=subset)
        for number, pixels in part.items():
            assert np.array_equal(pixels, regrained[number]), f"frame {number} of {subset} differs"
    # The grain changes from frame to frame (a static pattern would read as dirt on the lens).
    change = regrained[FIRST + 1][deep].astype(np.int16) - regrained[FIRST][deep].astype(np.int16)
    assert np.abs(change).mean() > 2


def test_the_neighbour_frame_is_the_same_read_or_already_held():
    """A chunk may hold the neighbour frame (a window read it) or not (it reads it): the same pixels and hole."""
    from e2fgvi_core.removal.cache import ShotCache
    from e2fgvi_core.removal.runner import ShotRunner

    frames, mattes = _grainy_shot(4)
    numbers = tuple(sorted(frames))
    request = RemovalRequest.from_mapping({"engine": "propagate", "regrain": True})
    source, matte_source = MemorySource(frames), MemorySource(mattes, "matte")
    runner = ShotRunner(request, numbers, numbers, source, matte_source, MemorySink(), None, ShotCache())
    read_pixels, read_hole = runner._grain_neighbour(2)
    runner._load(1)
    held_pixels, held_hole = runner._grain_neighbour(2)
    assert np.array_equal(read_pixels, held_pixels) and np.array_equal(read_hole, held_hole)
    assert np.array_equal(read_pixels, frames[FIRST + 1]) and read_hole.any()
    assert np.array_equal(runner._grain_neighbour(0)[0], frames[FIRST + 1])  # the first frame: the next one
    single = ShotRunner(request, numbers[:1], numbers[:1], source, matte_source, MemorySink(), None, ShotCache())
    assert single._grain_neighbour(0) == (None, None)  # a one-frame shot: one frame's measure


# ------------------------------------------------------------------------------------------- the schema
def test_regrain_is_one_request_setting_that_changes_pixels():
    spec = field_for("regrain")
    assert spec.group is None and spec.type == "bool" and spec.default is False and spec.option == "--regrain"
    assert spec in pixel_fields()
    request = RemovalRequest.from_mapping({"plate": "/p.%04d.exr", "regrain": True})
    assert RemovalRequest.from_mapping(request.to_mapping()) == request  # the wire's round trip
    assert job_provenance(request, "propagate", None, None, FIRST)["regrain"] is True
    assert job_provenance(RemovalRequest(plate="/p.%04d.exr"), "propagate", None, None, FIRST)["regrain"] is False
    with pytest.raises(ConfigError, match="regrain must be true or false"):
        RemovalRequest.from_mapping({"regrain": "yes"})


def test_regrain_reaches_the_farm_bundle(tmp_path):
    from e2fgvi_core.farm.bundle import write_bundle

    shot = make_shot(tmp_path / "shot", frames=4)
    bundle = write_bundle(
        tmp_path / "bundle", {**shot, "out": str(tmp_path / "out" / "c.%04d.exr"), "regrain": True}, {"chunk_size": 2}
    )
    values = yaml.safe_load(bundle.parameter_values.read_text())
    settings = next(p["value"] for p in values["parameterValues"] if p["name"] == "Settings")
    assert json.loads(settings) == {"regrain": True}


def test_remove_regrain_end_to_end_with_exr_files(tmp_path):
    """``e2fgvi remove --regrain`` on half-float EXR files: the hole gets the plate's grain, the rest is the
    plate's bits, and the frames record it in their provenance."""
    from e2fgvi_core.io.reader import read_frame

    rng = np.random.default_rng(9)
    base = _gradient(72, 96)
    hole = _disc(72, 96, radius=14)
    for i in range(4):
        plate = base + _grain(rng, base.shape) * SIGMA
        plate[hole] = (1.0, 0.0, 0.0)
        write_exr(tmp_path / f"plate.{FIRST + i:04d}.exr", plate.astype(np.float16), "half")
        write_exr(tmp_path / f"matte.{FIRST + i:04d}.exr", hole[..., None].astype(np.float32), "float")
    outputs = {}
    for flag in ((), ("--regrain",)):
        out = tmp_path / ("regrain" if flag else "plain") / "c.%04d.exr"
        done = run_e2fgvi(
            ["remove", "--plate", str(tmp_path / "plate.%04d.exr"), "--matte", str(tmp_path / "matte.%04d.exr"),
             "--out", str(out), "--engine", "propagate", "--quiet", *flag],
            tmp_path / "home",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[bool(flag)] = [read_frame(str(out).replace("%04d", f"{FIRST + i:04d}")) for i in range(4)]
    deep = _deep(hole)
    ring = grain.ring_around(cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=4) > 0)
    for plain, regrained in zip(outputs[False], outputs[True]):
        assert regrained.metadata.get("e2fgvi:regrain") == "true"
        assert plain.metadata.get("e2fgvi:regrain") == "false"
        assert np.array_equal(regrained.pixels[ring], plain.pixels[ring])
        ratio = _energy(regrained.pixels, deep) / _energy(regrained.pixels, ring)
        assert ((ratio > 0.6) & (ratio < 1.4)).all(), ratio

"""I3D network and VFID: checkpoint names and shapes, safe strict loading, the score itself, the benchmark column.

No real I3D weights exist here (we never download any), so the network runs with seeded random weights. The
expected state-dict layout is a fixture written from the reference network's channel table, not from our code.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from e2fgvi_core import metrics
from e2fgvi_core.errors import CheckpointError
from e2fgvi_core.metrics import i3d
from e2fgvi_core.testing import PROJECT_ROOT

SHAPES = PROJECT_ROOT / "tests" / "data" / "i3d_rgb_state_dict_shapes.json"
BENCHMARK = PROJECT_ROOT / "benchmarks" / "quality.py"
SIZE = (24, 64, 96)  # t, h, w: small enough for a few seconds on 2 CPU cores


@pytest.fixture(scope="module")
def network() -> i3d.InceptionI3d:
    torch.manual_seed(0)
    return i3d.build_i3d()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, network) -> Path:
    path = tmp_path_factory.mktemp("i3d") / "i3d_random.pt"
    torch.save(network.state_dict(), path)
    return path


def _moving_texture(seed: int) -> np.ndarray:
    """A smooth, panning colour texture (t, h, w, 3) uint8: stands in for natural footage."""
    rng = np.random.default_rng(seed)
    t, h, w = SIZE
    coarse = rng.uniform(30, 220, (h // 8 + 2, w // 8 + t // 4 + 3, 3)).astype(np.float32)
    big = np.kron(coarse, np.ones((8, 8, 1), np.float32))
    smooth = np.stack([np.roll(big, -2 * i, axis=1) for i in range(t)])[:, :h, :w]
    kernel = np.ones(5, np.float32) / 5
    for axis in (1, 2):
        smooth = np.apply_along_axis(np.convolve, axis, smooth, kernel, mode="same")
    return np.clip(smooth, 0, 255).astype(np.uint8)


def _calibrated(network: i3d.InceptionI3d, frames: np.ndarray) -> i3d.InceptionI3d:
    """A copy with running statistics taken from one clip, then used as fixed ones.

    Random weights with clip statistics make every input change look equally large (the features of a random deep
    net decorrelate fast); with running statistics the network is one fixed, well-scaled function of its input,
    so "a small change scores lower than a large one" can be checked.
    """
    calibrated = copy.deepcopy(network)
    norms = [m for m in calibrated.modules() if isinstance(m, i3d.ClipBatchNorm)]
    stats = {}
    hooks = [
        m.register_forward_pre_hook(
            lambda mod, args: stats.__setitem__(mod, torch.var_mean(args[0], dim=(0, 2, 3, 4), correction=0))
        )
        for m in norms
    ]
    video = torch.from_numpy(frames[: i3d.CHUNK_FRAMES]).permute(3, 0, 1, 2)[None].float() / 255.0
    with torch.no_grad():
        calibrated(video)
    for hook in hooks:
        hook.remove()
    for m in norms:
        var, mean = stats[m]
        m.running_var.copy_(var)
        m.running_mean.copy_(mean)
        m.clip_statistics = False
    return calibrated


# --------------------------------------------------------------------------------------------------- checkpoint
def test_state_dict_names_and_shapes_match_the_reference_checkpoint(network):
    expected = json.loads(SHAPES.read_text())["shapes"]
    got = {key: list(value.shape) for key, value in network.state_dict().items()}
    assert sorted(got) == sorted(expected)
    assert got == expected
    assert len(expected) == 344


def test_load_is_strict_and_keeps_every_tensor(checkpoint, network):
    loaded = i3d.load_i3d(checkpoint)
    for key, value in network.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_checkpoint_without_batch_counters_loads(tmp_path, network):
    """Checkpoints saved by PyTorch before 0.4.1 have no num_batches_tracked; they take no part in the maths."""
    state = {k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pt"
    torch.save(state, path)
    assert torch.equal(i3d.load_i3d(path).Mixed_5c.b0.conv3d.weight, network.Mixed_5c.b0.conv3d.weight)


class _Payload:
    """Stands for anything whose unpickling would run our code."""


@pytest.mark.parametrize(
    "kind", ["missing_file", "corrupt", "truncated", "code", "missing_key", "wrong_shape", "extra_key"]
)
def test_bad_files_are_refused_with_their_name(tmp_path, network, checkpoint, kind):
    path = tmp_path / f"{kind}.pt"
    state = dict(network.state_dict())
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 not really a checkpoint")
    elif kind == "truncated":
        path.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    elif kind == "code":
        torch.save({"model": _Payload()}, path)
    elif kind == "missing_key":
        del state["Mixed_4c.b2b.conv3d.weight"]
    elif kind == "wrong_shape":
        state["logits.conv3d.weight"] = torch.zeros(600, 1024, 1, 1, 1)  # another class count
    elif kind == "extra_key":
        state["module.extra"] = torch.zeros(1)
    if kind in ("missing_key", "wrong_shape", "extra_key"):
        torch.save(state, path)
    with pytest.raises(CheckpointError, match=path.name) as refused:
        i3d.load_i3d(path)
    if kind == "code":
        assert "run code" in str(refused.value)


# ------------------------------------------------------------------------------------------------------- network
def test_clip_statistics_are_those_of_a_network_left_in_training_mode(network):
    """The paper's evaluation never calls eval(): batch norm uses the clip's statistics. We match that, read-only."""
    video = torch.from_numpy(_moving_texture(1)[:10]).permute(3, 0, 1, 2)[None].float() / 255.0
    reference = copy.deepcopy(network)
    for module in reference.modules():
        if isinstance(module, i3d.ClipBatchNorm):
            module.__class__ = nn.BatchNorm3d  # stock PyTorch batch norm, training mode below
    reference.train()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    with torch.no_grad():
        ours = network(video)
        theirs = reference(video)
    assert ours.shape == (1, i3d.FEATURE_DIM)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in network.state_dict().items()), "buffers must not change"


def test_chunks_cover_the_clip():
    assert i3d.chunk_starts(8) == [0]
    assert i3d.chunk_starts(20) == [0, 10]
    assert i3d.chunk_starts(25) == [0, 10, 15]
    assert i3d.chunk_starts(25, chunk_frames=10, stride=5) == [0, 5, 10, 15]


def test_features_are_one_row_per_chunk(network):
    features = i3d.video_features(_moving_texture(2), network)
    assert features.shape == (len(i3d.chunk_starts(SIZE[0])), i3d.FEATURE_DIM)
    assert np.isfinite(features).all() and features.std(axis=0).max() > 0


# ---------------------------------------------------------------------------------------------------------- VFID
def test_vfid_is_zero_for_the_same_set_and_grows_with_the_difference(network):
    real = [_moving_texture(3), _moving_texture(4)]
    fixed = _calibrated(network, real[0])
    noise = [np.random.default_rng(s).integers(0, 256, real[0].shape, dtype=np.uint8) for s in (5, 6)]
    touched = [v.copy() for v in real]
    for v in touched:
        v[:, 24:40, 40:56] = v[:, 24:40, 40:56].mean(axis=(1, 2), keepdims=True).astype(np.uint8)  # a flat patch
    far = i3d.vfid(real, noise, fixed)
    near = i3d.vfid(real, touched, fixed)
    assert abs(i3d.vfid(real, real, fixed)) < 1e-6 * far
    assert 0 < near < 0.1 * far
    assert i3d.vfid(noise, real, fixed) == pytest.approx(far, rel=1e-6)
    # The score is metrics.frechet_distance of the two fitted Gaussians; clip statistics give a finite score too.
    a = np.concatenate([i3d.video_features(v, network) for v in real])
    b = np.concatenate([i3d.video_features(v, network) for v in noise])
    mu1, s1, mu2, s2 = *i3d.gaussian(a), *i3d.gaussian(b)
    assert i3d.vfid(real, noise, network) == pytest.approx(metrics.frechet_distance(mu1, s1, mu2, s2))
    assert abs(i3d.vfid(real, real, network)) < 1e-4


def test_one_sample_has_zero_covariance():
    mu, sigma = i3d.gaussian(np.ones((1, 4)))
    assert mu.tolist() == [1, 1, 1, 1] and not sigma.any()


# ----------------------------------------------------------------------------------------------------- benchmark
def _load_benchmark():
    spec = importlib.util.spec_from_file_location("quality_benchmark_vfid", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_benchmark_adds_a_vfid_column_with_weights(footage_dir, checkpoint, tmp_path, capsys):
    quality = _load_benchmark()
    argv = ["--footage", str(footage_dir), "--frames", "8", "--clips", "schoolgirls", "--kinds", "object"]
    assert quality.main([*argv, "--docs", str(tmp_path), "--i3d-weights", str(checkpoint)]) == 0
    text = (tmp_path / "quality.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| clip |"))
    assert header.rstrip().endswith("| VFID |")
    rows = [  # the engines' rows (the ground truth's own row and the reference run carry no VFID)
        line
        for line in text.splitlines()
        if line.startswith("| schoolgirls | object |") and any(f"| {e} |" in line for e in ("telea", "propagate"))
    ]
    assert len(rows) == 2
    values = [float(row.rstrip(" |").rsplit("|", 1)[1]) for row in rows]
    assert all(np.isfinite(v) and v >= -1e-6 for v in values)
    assert "**VFID**" in text and checkpoint.name in text and "VFID skipped" not in text
    assert "VFID" in capsys.readouterr().out


def test_benchmark_refuses_bad_weights_in_one_line(footage_dir, tmp_path, capsys, monkeypatch):
    quality = _load_benchmark()
    bad = tmp_path / "i3d.pt"
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("E2FGVI_I3D_WEIGHTS", str(bad))
    argv = ["--footage", str(footage_dir), "--frames", "8", "--clips", "schoolgirls", "--kinds", "object"]
    assert quality.main([*argv, "--no-docs"]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and str(bad) in out[0] and out[0].startswith("quality benchmark:")

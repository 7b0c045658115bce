"""`e2fgvi train` as a real subprocess: train, resume, eval, bad configs; export into `weights add` and `remove`;
`torchrun` with two gloo processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2fgvi_core.training.run_folder import list_checkpoints
from e2fgvi_core.training.run_log import read_losses


def _one_error_line(done, expected: str) -> None:
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and expected in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_train_resume_eval_from_the_command_line(run_cli, clips_dir, tmp_path):
    run = tmp_path / "run"
    data = ("--data", str(clips_dir / "train"), "--holdout", str(clips_dir / "holdout"))
    done = run_cli("train", "--preset", "test", *data, "--out", str(run), "--steps", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "steps 0->2 of test_e2fgvi_hq_tiny" in done.stderr and "it/s" in done.stderr
    done = run_cli("train", "--out", str(run), "--resume", "--steps", "3")
    assert done.returncode == 0, done.stderr
    assert "steps 2->3" in done.stderr and "step 3/3" in done.stderr and "ETA" in done.stderr  # the progress bar
    assert [r["step"] for r in read_losses(run / "losses.csv")] == [1, 2, 3]
    assert "steps = 3\n" in (run / "config.toml").read_text()  # the config actually used, resume included
    done = run_cli("train", "eval", str(run), "--frames", "4")
    assert done.returncode == 0, done.stderr
    assert "step 3 at 24x36" in done.stdout and "pan_c" in done.stdout and "mean" in done.stdout
    _one_error_line(run_cli("train", "export", str(run), str(tmp_path / "tiny.pth")), "test-only variant")
    assert not (tmp_path / "tiny.pth").exists()


@pytest.mark.parametrize(
    "flags, expected",
    [
        (("--preset", "test", "--data", "EMPTY"), "no usable clips in"),
        (("--preset", "test", "--data", "TRAIN", "--set", "data.bogus=1"), "unknown config key 'data.bogus'"),
        (("--data", "TRAIN", "--size", "100x100"), "config key 'data.size' is 100x100"),
    ],
)
def test_bad_configs_fail_before_training_with_one_line(run_cli, clips_dir, tmp_path, flags, expected):
    (tmp_path / "empty").mkdir()
    paths = {"EMPTY": str(tmp_path / "empty"), "TRAIN": str(clips_dir / "train")}
    done = run_cli("train", *(paths.get(f, f) for f in flags), "--out", str(tmp_path / "run"), "--quiet")
    _one_error_line(done, expected)
    assert not list_checkpoints(tmp_path / "run")


@pytest.mark.slow
def test_exported_full_model_installs_and_removes(run_cli, clips_dir, tmp_path):
    """One step of the full E2FGVI-HQ at 60x108, exported, installed with `weights add`, used by `e2fgvi remove`."""
    from e2fgvi_core.io import Frame, read_frame, write_frame
    from e2fgvi_core.models import build_generator, load_checkpoint

    run = tmp_path / "hq"
    done = run_cli(
        "train",
        "--data",
        str(clips_dir / "train"),
        "--out",
        str(run),
        "--steps",
        "1",
        "--size",
        "60x108",
        "--set",
        "data.num_local_frames=2",
        "--set",
        "data.num_ref_frames=1",
        "--set",
        "data.batch_size=1",
        "--set",
        "data.num_workers=0",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "export" / "finetuned.pth"
    done = run_cli("train", "export", str(run), str(out))
    assert done.returncode == 0, done.stderr
    variant, state = load_checkpoint(out)
    assert variant == "e2fgvi_hq" and all(isinstance(v, torch.Tensor) for v in state.values())
    build_generator("e2fgvi_hq").load_state_dict(state, strict=True)
    done = run_cli("weights", "add", str(out))
    assert done.returncode == 0 and "installed finetuned (e2fgvi_hq" in done.stdout, done.stderr

    shot = tmp_path / "shot"
    rng = np.random.default_rng(5)
    for i in range(4):
        write_frame(shot / f"plate.{1001 + i:04d}.png", Frame.from_array(rng.integers(0, 256, (40, 64, 3), np.uint8)))
        matte = np.zeros((40, 64), np.uint8)
        matte[12:24, 20:36] = 255
        write_frame(shot / f"matte.{1001 + i:04d}.png", Frame.from_array(matte))
    done = run_cli(
        "remove",
        "--plate",
        str(shot / "plate.%04d.png"),
        "--matte",
        str(shot / "matte.%04d.png"),
        "--out",
        str(shot / "out" / "clean.%04d.png"),
        "--engine",
        "e2fgvi_hq",
        "--weights",
        "finetuned",
        "--device",
        "cpu",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 4 frames" in done.stderr and "e2fgvi_hq" in done.stderr
    assert read_frame(shot / "out" / "clean.1001.png").pixels.shape == (40, 64, 3)


@pytest.mark.slow
def test_torchrun_two_gloo_processes(run_cli, clips_dir, tmp_path):
    run = tmp_path / "ddp"
    done = run_cli(
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "e2fgvi_core.cli.main",
        "train",
        "--preset",
        "test",
        "--data",
        str(clips_dir / "train"),
        "--out",
        str(run),
        "--steps",
        "2",
        "--set",
        "data.batch_size=2",
        "--device",
        "cpu",
        "--quiet",
        module=("-m", "torch.distributed.run"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_losses(run / "losses.csv")
    assert [r["step"] for r in rows] == [1, 2] and not any(r["skipped"] for r in rows)
    assert [s for s, _ in list_checkpoints(run)] == [0, 2]
    assert done.stderr.count("e2fgvi train: steps 0->2") == 1  # only rank 0 reports

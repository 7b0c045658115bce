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
def test_tiny_preset_exports_installs_is_used_by_remove_and_removed(run_cli, clips_dir, tmp_path):
    """The quick path of docs/training.md (issue 22): `train --preset tiny`, `train export`, `weights add`; `remove`
    leaves the new weights alone until they are the default, then names them before the first frame; `weights
    remove` takes them out again."""
    import json

    from e2fgvi_core.io import Frame, read_frame, write_frame
    from e2fgvi_core.models import build_generator, load_checkpoint

    run = tmp_path / "tiny"
    done = run_cli("train", "--preset", "tiny", "--data", str(clips_dir / "train"), "--out", str(run), "--steps", "1")
    assert done.returncode == 0, done.stderr
    assert "steps 0->1 of e2fgvi_hq" in done.stderr
    out = tmp_path / "export" / "finetuned.pth"
    done = run_cli("train", "export", str(run), str(out))
    assert done.returncode == 0, done.stderr
    variant, state = load_checkpoint(out)
    assert variant == "e2fgvi_hq" and all(isinstance(v, torch.Tensor) for v in state.values())
    build_generator("e2fgvi_hq").load_state_dict(state, strict=True)
    done = run_cli("weights", "add", str(out))
    assert done.returncode == 0 and "installed finetuned (e2fgvi_hq" in done.stdout, done.stderr
    assert "engine auto does not use finetuned" in done.stdout

    shot = tmp_path / "shot"
    rng = np.random.default_rng(5)
    for i in range(2):
        write_frame(shot / f"plate.{1001 + i:04d}.png", Frame.from_array(rng.integers(0, 256, (40, 64, 3), np.uint8)))
        matte = np.zeros((40, 64), np.uint8)
        matte[12:24, 20:36] = 255
        write_frame(shot / f"matte.{1001 + i:04d}.png", Frame.from_array(matte))

    def remove(name: str):
        plate, matte = str(shot / "plate.%04d.png"), str(shot / "matte.%04d.png")
        out = str(shot / name / "clean.%04d.png")
        done = run_cli("remove", "--plate", plate, "--matte", matte, "--out", out, "--device", "cpu", "--json")
        assert done.returncode == 0, done.stderr
        return done.stderr, json.loads(done.stdout)

    stderr, summary = remove("before")  # a training experiment never becomes what `auto` runs by being installed
    assert summary["engine"] == "propagate" and "('finetuned') are neither the default" in stderr
    assert run_cli("weights", "default", "finetuned").returncode == 0
    stderr, summary = remove("after")
    assert stderr.index("e2fgvi remove: engine e2fgvi_hq, weights finetuned (sha256 ") < stderr.index("frames/s")
    assert (summary["engine"], summary["weights"], summary["precision"]) == ("e2fgvi_hq", "finetuned", "fp32")
    assert read_frame(shot / "after" / "clean.1001.png").pixels.shape == (40, 64, 3)
    done = run_cli("weights", "remove", "finetuned")
    assert done.returncode == 0 and "removed finetuned" in done.stdout
    assert "no weights installed" in run_cli("weights", "list").stdout
    assert remove("gone")[1]["engine"] == "propagate"


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

"""The trainer on the tiny config: it learns, resumes bit for bit, skips NaN batches and stops when it diverges.

One 40-step run (module fixture) serves the learning, run-folder and resume tests; the guard tests are a few steps.
"""

from __future__ import annotations

import math
import shutil

import cv2
import pytest
import torch

from e2fgvi_core.errors import ConfigError, TrainingError
from e2fgvi_core.training import Trainer, evaluate_run, load_run_config
from e2fgvi_core.training.data import ClipSamples, find_clips
from e2fgvi_core.training.run_folder import checkpoint_path, list_checkpoints, load_training_state
from e2fgvi_core.training.run_log import LOSS_COLUMNS, read_losses

LOSSES = [*LOSS_COLUMNS, "lr", "grad_norm_g", "grad_norm_d", "skipped"]


@pytest.fixture(scope="module")
def forty_steps(tmp_path_factory, tiny):
    """The test preset trained 40 steps without interruption (checkpoints every 10)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_dir = tmp_path_factory.mktemp("run") / "tiny"
        summary = Trainer(tiny(), run_dir).train()
    finally:
        torch.set_num_threads(threads)
    return run_dir, summary


def test_run_folder_holds_config_losses_plot_preview_and_checkpoints(forty_steps):
    run_dir, summary = forty_steps
    assert summary.last_step == 40 and summary.skipped_steps == 0 and summary.rollbacks == 0
    rows = read_losses(run_dir / "losses.csv")
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert all(math.isfinite(r[k]) for r in rows for k in LOSS_COLUMNS)
    assert rows[-1]["lr"] == pytest.approx(rows[0]["lr"] * 0.5)  # the milestone at step 30, gamma 0.5
    assert [s for s, _ in list_checkpoints(run_dir)] == [0, 10, 20, 30, 40]
    assert load_run_config(run_dir).variant == "test_e2fgvi_hq_tiny"
    for name in ("losses.png", "preview.png"):
        image = cv2.imread(str(run_dir / name))
        assert image is not None and image.std() > 5, name


def test_held_out_hole_error_drops(forty_steps, clips_dir):
    run_dir, _ = forty_steps
    before = evaluate_run(run_dir, clips_dir / "holdout", step=0, frames=8)
    after = evaluate_run(run_dir, clips_dir / "holdout", frames=8)
    assert after.step == 40 and before.step == 0
    assert after.mean("hole_l1") < 0.7 * before.mean("hole_l1"), (before.to_json(), after.to_json())
    assert after.mean("hole_psnr") > before.mean("hole_psnr") + 1.0
    assert (run_dir / "eval_step_000040.json").is_file()


def test_resume_from_step_20_matches_the_uninterrupted_run_bit_for_bit(forty_steps, tmp_path):
    run_dir, _ = forty_steps
    interrupted = tmp_path / "interrupted"
    (interrupted / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "config.toml", interrupted)
    shutil.copy(run_dir / "losses.csv", interrupted)  # rows past step 20 are dropped on resume
    for step in (0, 10, 20):
        shutil.copy(checkpoint_path(run_dir, step), interrupted / "checkpoints")
    config = load_run_config(interrupted, {"data.num_workers": 1})  # worker processes must not change anything
    summary = Trainer(config, interrupted, resume=True).train()
    assert (summary.first_step, summary.last_step) == (20, 40)
    expected = read_losses(run_dir / "losses.csv")
    got = read_losses(interrupted / "losses.csv")
    assert [r["step"] for r in got] == list(range(1, 41))
    for want, have in zip(expected[20:], got[20:]):
        assert {k: have[k] for k in LOSSES} == {k: want[k] for k in LOSSES}, want["step"]
    a = load_training_state(checkpoint_path(run_dir, 40))
    b = load_training_state(checkpoint_path(interrupted, 40))
    for part in ("generator", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part


def test_resume_refuses_changes_that_alter_the_run(forty_steps):
    run_dir, _ = forty_steps
    with pytest.raises(ConfigError, match="cannot change 'optim.lr' when resuming"):
        load_run_config(run_dir, {"optim.lr": 1.0})
    with pytest.raises(TrainingError, match="already holds a run"):
        Trainer(load_run_config(run_dir), run_dir)


def _tiny_samples(config):
    data = config.data
    return ClipSamples(find_clips(data.root, min_frames=3), data, config.seed)


def test_a_nan_batch_is_skipped_and_changes_nothing(tiny, poisoned, tmp_path):
    config = tiny(steps=3, save_every=2)
    trainer = Trainer(config, tmp_path / "run", dataset=poisoned(_tiny_samples(config), bad={2}))  # step 3's sample
    summary = trainer.train()
    rows = read_losses(tmp_path / "run" / "losses.csv")
    assert [r["skipped"] for r in rows] == [0, 0, 1] and summary.skipped_steps == 1 and summary.rollbacks == 0
    assert any("step 3: skipped, discriminator loss not finite" in m for m in summary.messages)
    two = load_training_state(checkpoint_path(tmp_path / "run", 2))
    three = load_training_state(checkpoint_path(tmp_path / "run", 3))
    for part in ("generator", "discriminator"):
        for key, value in three[part].items():
            assert torch.isfinite(value).all() and torch.equal(value, two[part][key]), key
    assert three["optim_g"]["state"].keys() == two["optim_g"]["state"].keys()
    assert all(
        torch.equal(three["optim_g"]["state"][i]["exp_avg"], two["optim_g"]["state"][i]["exp_avg"])
        for i in two["optim_g"]["state"]
    )


def test_only_bad_batches_roll_back_then_stop_with_a_clear_message(tiny, poisoned, tmp_path):
    config = tiny(steps=20)  # tiny: 2 bad steps in a row roll back, 2 rollbacks without progress stop the run
    trainer = Trainer(config, tmp_path / "run", dataset=poisoned(_tiny_samples(config), bad=None))
    with pytest.raises(TrainingError) as info:
        trainer.train()
    message = str(info.value)
    assert message.startswith("training diverged at step 6: 2 non-finite steps in a row") and "\n" not in message
    assert "after 2 rollback(s)" in message and "optim.lr" in message
    assert sum("rolled back networks and optimisers to step 0" in m for m in trainer.messages) == 2
    start = load_training_state(checkpoint_path(tmp_path / "run", 0))
    assert all(torch.equal(v, start["generator"][k]) for k, v in trainer.generator.state_dict().items())
    assert [r["skipped"] for r in read_losses(tmp_path / "run" / "losses.csv")] == [1] * 6

"""The weights store with real checkpoint files on disk (deterministic weights, full-size generators)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from e2fgvi_core import weights as store
from e2fgvi_core.errors import CheckpointError
from e2fgvi_core.models import build_discriminator, build_generator
from e2fgvi_core.testing import PROJECT_ROOT


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, fill_weights):
    """Real checkpoint files: HQ, original, and a few broken ones."""
    folder = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for variant, filename in (("e2fgvi_hq", "E2FGVI-HQ-test.pth"), ("e2fgvi", "E2FGVI-test.pth")):
        model = fill_weights(build_generator(variant), seed=3)
        torch.save(model.state_dict(), folder / filename)
        paths[variant] = folder / filename
    data = paths["e2fgvi_hq"].read_bytes()
    (folder / "truncated.pth").write_bytes(data[: len(data) // 2])
    paths["truncated"] = folder / "truncated.pth"
    (folder / "corrupt.pth").write_bytes(os.urandom(4096))
    paths["corrupt"] = folder / "corrupt.pth"
    torch.save(build_discriminator().state_dict(), folder / "discriminator.pth")
    paths["discriminator"] = folder / "discriminator.pth"
    hq = torch.load(paths["e2fgvi_hq"], weights_only=True)
    torch.save({"netG": {f"module.{k}": v for k, v in hq.items()}}, folder / "wrapped.pth")
    paths["wrapped"] = folder / "wrapped.pth"
    return paths


@pytest.fixture()
def store_dir(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    monkeypatch.setenv(store.WEIGHTS_DIR_ENV, str(folder))
    return folder


class _RunsCode:
    """A pickle payload that would create a file if it were ever unpickled with code execution."""

    marker = None

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_add_detects_variant_records_sha256_and_lists(checkpoints, store_dir):
    installed = store.add_weights(checkpoints["e2fgvi_hq"])
    assert installed.variant == "e2fgvi_hq"
    assert installed.path.parent == store_dir
    assert installed.sha256 == hashlib.sha256(checkpoints["e2fgvi_hq"].read_bytes()).hexdigest()
    original = store.add_weights(checkpoints["e2fgvi"], name="orig")
    assert original.variant == "e2fgvi"
    names = [(w.name, w.variant) for w in store.installed_weights()]
    assert names == [("E2FGVI-HQ-test", "e2fgvi_hq"), ("orig", "e2fgvi")]
    with pytest.raises(CheckpointError, match="no default or official weights"):  # installed is not chosen
        store.resolve_weights(None, None)
    store.set_default("orig")
    assert store.resolve_weights(None, None).name == "orig"
    assert store.resolve_weights(None, "e2fgvi_hq").name == "E2FGVI-HQ-test"
    assert store.resolve_weights(None, "e2fgvi").name == "orig"
    assert store.resolve_weights("orig", None).sha256 == original.sha256


def test_installed_weights_load_and_reproduce_the_source_model(checkpoints, store_dir, fill_weights):
    store.add_weights(checkpoints["e2fgvi_hq"])
    model, weights = store.load_generator(None, "e2fgvi_hq", device="cpu")
    assert not model.training and weights.variant == "e2fgvi_hq"
    reference = fill_weights(build_generator("e2fgvi_hq"), seed=3)
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), name


def test_wrapped_checkpoint_is_unwrapped(checkpoints, store_dir):
    assert store.add_weights(checkpoints["wrapped"]).variant == "e2fgvi_hq"


@pytest.mark.parametrize("kind", ["truncated", "corrupt", "discriminator"])
def test_broken_checkpoints_are_refused_and_nothing_is_installed(checkpoints, store_dir, kind):
    with pytest.raises(CheckpointError) as info:
        store.add_weights(checkpoints[kind])
    assert str(checkpoints[kind]) in str(info.value)
    assert store.installed_weights() == []
    assert not store_dir.exists() or not list(store_dir.glob("*.pth"))


def test_pickle_with_code_is_never_executed(tmp_path, store_dir):
    marker = tmp_path / "pwned"
    _RunsCode.marker = marker
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        torch.save({"weight": _RunsCode()}, handle, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(CheckpointError) as info:
        store.add_weights(path)
    assert not marker.exists()
    assert "unsafe" in str(info.value).lower() or "weights_only" in str(info.value)


def test_missing_weights_message_says_how_to_install(store_dir):
    with pytest.raises(CheckpointError, match="e2fgvi weights add"):
        store.resolve_weights(None, "e2fgvi_hq")
    with pytest.raises(CheckpointError, match="no checkpoint file or installed weights named 'nope'"):
        store.resolve_weights("nope", None)


def test_variant_mismatch_is_refused(checkpoints, store_dir):
    with pytest.raises(CheckpointError, match="e2fgvi_hq"):
        store.load_generator(str(checkpoints["e2fgvi"]), "e2fgvi_hq")


def _cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=300,
    )


def test_cli_add_list_and_one_line_errors(checkpoints, store_dir):
    env = dict(os.environ, **{store.WEIGHTS_DIR_ENV: str(store_dir)})
    empty = _cli("weights", "list", env=env)
    assert empty.returncode == 0 and "no weights installed" in empty.stdout
    added = _cli("weights", "add", str(checkpoints["e2fgvi_hq"]), env=env)
    assert added.returncode == 0, added.stderr
    assert "e2fgvi_hq" in added.stdout
    listed = _cli("weights", "list", env=env)
    assert "E2FGVI-HQ-test" in listed.stdout and "e2fgvi_hq" in listed.stdout
    bad = _cli("weights", "add", str(checkpoints["corrupt"]), env=env)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "corrupt.pth" in bad.stderr


# --- which weights engine auto uses: the user's choice, never a side effect of `add` (issue 22) ---------------
def test_added_weights_are_not_used_by_auto_until_made_the_default(checkpoints, store_dir):
    from e2fgvi_core.removal.engine_registry import choose_engine

    scratch = store.add_weights(checkpoints["e2fgvi_hq"], name="scratch")
    choice = choose_engine("auto", None)
    assert choice.engine == "propagate" and choice.weights is None
    assert "'scratch'" in choice.notice and "e2fgvi weights default NAME" in choice.notice
    assert store.set_default("scratch") == scratch
    assert json.loads((store_dir / store.STATE_FILE).read_text()) == {"default": "scratch"}
    choice = choose_engine("auto", None)
    assert (choice.engine, choice.weights, choice.weights_sha256, choice.notice) == (
        "e2fgvi_hq",
        "scratch",
        scratch.sha256,
        None,
    )
    store.set_default(None)
    assert choose_engine("auto", None).engine == "propagate"
    assert [w.name for w in store.installed_weights()] == ["scratch"]  # the default lives apart from the index


def test_official_checkpoint_is_used_by_auto_and_preferred_over_newer_weights(checkpoints, store_dir, monkeypatch):
    from e2fgvi_core.removal.engine_registry import choose_engine

    official = store.add_weights(checkpoints["e2fgvi_hq"], name="E2FGVI-HQ-CVPR22")
    monkeypatch.setitem(store.OFFICIAL_SHA256, official.sha256, "E2FGVI-HQ-CVPR22.pth")
    newer = checkpoints["e2fgvi_hq"].parent / "newer.pth"
    torch.save({k: v + 1 for k, v in torch.load(checkpoints["e2fgvi_hq"], weights_only=True).items()}, newer)
    store.add_weights(newer)
    assert choose_engine("auto", None).weights == "E2FGVI-HQ-CVPR22"
    assert store.resolve_weights(None, "e2fgvi_hq").name == "E2FGVI-HQ-CVPR22"  # --engine e2fgvi_hq as well
    store.set_default("newer")  # the user's default wins over the official one
    assert choose_engine("auto", None).weights == "newer"
    assert choose_engine("e2fgvi_hq", None).weights == "newer"


def test_explicit_engine_prefers_the_default_of_its_variant(checkpoints, store_dir):
    from e2fgvi_core.removal.engine_registry import choose_engine

    store.add_weights(checkpoints["e2fgvi_hq"], name="first")
    store.add_weights(checkpoints["e2fgvi_hq"], name="second")
    store.add_weights(checkpoints["e2fgvi"], name="orig")
    assert store.resolve_weights(None, "e2fgvi_hq").name == "second"  # no default: the newest, as before
    store.set_default("first")
    assert store.resolve_weights(None, "e2fgvi_hq").name == "first"
    assert store.resolve_weights(None, "e2fgvi").name == "orig"  # a default of another variant is not forced on it
    assert choose_engine("e2fgvi", None).weights == "orig"
    path = choose_engine("e2fgvi_hq", str(checkpoints["e2fgvi_hq"]))  # a path: hashed, named by its stem
    assert (path.weights, path.weights_sha256) == ("E2FGVI-HQ-test", store.file_sha256(checkpoints["e2fgvi_hq"]))


def test_remove_deletes_file_and_entry_and_clears_the_default(checkpoints, store_dir):
    kept = store.add_weights(checkpoints["e2fgvi"], name="orig")
    gone = store.add_weights(checkpoints["e2fgvi_hq"], name="scratch", make_default=True)
    assert store.default_name() == "scratch"
    assert store.remove_weights("scratch") == gone
    assert not gone.path.exists() and store.installed_weights() == [kept]
    assert store.default_name() is None
    with pytest.raises(CheckpointError, match="no installed weights named 'scratch' \\(installed: orig\\)"):
        store.remove_weights("scratch")
    with pytest.raises(CheckpointError, match="no installed weights named 'nope'"):
        store.set_default("nope")
    assert store.default_name() is None  # a refused default leaves the state as it was
    kept.path.unlink()  # a file deleted by hand: its index entry still goes with `remove`
    assert store.remove_weights("orig").name == "orig" and json.loads((store_dir / "index.json").read_text()) == {
        "weights": []
    }


def test_cli_remove_default_list_marks_and_refused_pickle_in_one_line(checkpoints, store_dir, tmp_path):
    env = dict(os.environ, **{store.WEIGHTS_DIR_ENV: str(store_dir)})
    added = _cli("weights", "add", str(checkpoints["e2fgvi_hq"]), "--name", "scratch", env=env)
    assert added.returncode == 0, added.stderr
    assert "engine auto does not use scratch" in added.stdout and "e2fgvi weights default scratch" in added.stdout
    listed = _cli("weights", "list", env=env)
    assert "engine auto: propagate" in listed.stdout
    assert _cli("weights", "default", "scratch", env=env).returncode == 0
    listed = _cli("weights", "list", env=env)
    row = next(line for line in listed.stdout.splitlines() if line.startswith("scratch"))
    assert "default,auto" in row and "engine auto: e2fgvi_hq with scratch" in listed.stdout
    assert _cli("weights", "default", "none", env=env).returncode == 0
    assert store.default_name() is None
    removed = _cli("weights", "remove", "scratch", env=env)
    assert removed.returncode == 0 and "removed scratch" in removed.stdout
    assert store.installed_weights() == [] and not list(store_dir.glob("*.pth"))
    missing = _cli("weights", "remove", "scratch", env=env)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        "e2fgvi weights: error: no installed weights named 'scratch' (none installed); see: e2fgvi weights list"
    ]
    _RunsCode.marker = tmp_path / "pwned"
    plain = tmp_path / "plain.pth"  # a plain pickle (not torch.save): torch warns about its protocol, then refuses
    with open(plain, "wb") as handle:
        pickle.dump({"weight": _RunsCode()}, handle, protocol=4)
    refused = _cli("weights", "add", str(plain), env=env)
    assert refused.returncode == 2 and not _RunsCode.marker.exists()
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "plain.pth" in refused.stderr and "Warning" not in refused.stderr


def test_remove_names_engine_weights_and_precision_before_the_first_frame(checkpoints, store_dir, tmp_path):
    from e2fgvi_core.io import Frame, write_frame

    rng = np.random.default_rng(5)
    for i in range(2):
        write_frame(tmp_path / f"plate.{1001 + i}.png", Frame.from_array(rng.integers(0, 256, (40, 64, 3), np.uint8)))
        matte = np.zeros((40, 64), np.uint8)
        matte[12:24, 20:36] = 255
        write_frame(tmp_path / f"matte.{1001 + i}.png", Frame.from_array(matte))
    env = dict(os.environ, **{store.WEIGHTS_DIR_ENV: str(store_dir)})
    scratch = store.add_weights(checkpoints["e2fgvi_hq"], name="scratch")
    shot = ("--plate", str(tmp_path / "plate.%04d.png"), "--matte", str(tmp_path / "matte.%04d.png"), "--json")

    def remove(out: str):
        done = _cli("remove", *shot, "--out", str(tmp_path / out / "clean.%04d.png"), "--device", "cpu", env=env)
        assert done.returncode == 0, done.stderr
        return done.stderr, json.loads(done.stdout)

    stderr, summary = remove("a")  # installed, not the default: auto runs propagate and says why
    assert "installed weights ('scratch') are neither the default nor an official checkpoint" in stderr
    assert stderr.index("e2fgvi remove: engine propagate\n") < stderr.index("frames/s")
    assert (summary["engine"], summary["weights"], summary["precision"]) == ("propagate", None, None)
    store.set_default("scratch")
    stderr, summary = remove("b")
    line = f"e2fgvi remove: engine e2fgvi_hq, weights scratch (sha256 {scratch.sha256[:12]}), precision fp32\n"
    assert stderr.index(line) < stderr.index("frames/s")  # before the progress bar's first drawing
    assert (summary["engine"], summary["weights"], summary["weights_sha256"], summary["precision"]) == (
        "e2fgvi_hq",
        "scratch",
        scratch.sha256,
        "fp32",
    )

"""The weights store with real checkpoint files on disk (deterministic weights, full-size generators)."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys

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
    assert store.resolve_weights(None, None).name == "E2FGVI-HQ-test"
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

"""Safe checkpoint loading: round trip bit for bit, container unwrapping, and one clear error per bad file."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from e2fgvi_core.errors import CheckpointError
from e2fgvi_core.models import (
    build_discriminator,
    build_generator,
    checkpoint_filter_fn,
    detect_variant,
    load_checkpoint,
)


class _RunsCode:
    """An object whose unpickling would call os.system: weights_only must refuse the file."""

    def __reduce__(self):
        return (os.system, ("echo this-should-never-run",))


@pytest.fixture(scope="module")
def hq_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    model = build_generator("e2fgvi_hq").eval()
    path = tmp_path_factory.mktemp("ckpt") / "gen_hq.pth"
    torch.save(model.state_dict(), path)
    return model, path


def test_round_trip_reproduces_outputs_bit_for_bit(hq_checkpoint):
    model, path = hq_checkpoint
    variant, state = load_checkpoint(path)
    assert variant == "e2fgvi_hq"
    loaded = build_generator(variant).eval()
    loaded.load_state_dict(state, strict=True)
    frames = torch.rand(1, 3, 3, 60, 108, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        expected, (ff_a, fb_a) = model(frames, 2)
        got, (ff_b, fb_b) = loaded(frames, 2)
    assert torch.equal(expected, got) and torch.equal(ff_a, ff_b) and torch.equal(fb_a, fb_b)


def test_original_variant_detected(tmp_path):
    path = tmp_path / "gen_orig.pth"
    torch.save(build_generator("e2fgvi").state_dict(), path)
    assert load_checkpoint(path)[0] == "e2fgvi"


def test_containers_are_unwrapped_without_renaming(hq_checkpoint, tmp_path):
    _, path = hq_checkpoint
    state = torch.load(path, weights_only=True)
    wrapped = {"netG": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}
    target = tmp_path / "trainer.pth"
    torch.save(wrapped, target)
    variant, unwrapped = load_checkpoint(target)
    assert variant == "e2fgvi_hq" and list(unwrapped) == list(state)
    assert list(checkpoint_filter_fn({"state_dict": state})) == list(state)


def test_detect_variant():
    assert detect_variant(["sc.bias_conv.weight", "encoder.layers.0.weight"]) == "e2fgvi_hq"
    assert detect_variant(["sc.bias", "encoder.layers.0.weight"]) == "e2fgvi"
    with pytest.raises(CheckpointError, match="sc.bias_conv.weight.*sc.bias"):
        detect_variant(["fc.weight"])


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pth does not exist"):
        load_checkpoint(tmp_path / "nope.pth")


def test_truncated_file(hq_checkpoint, tmp_path):
    _, path = hq_checkpoint
    data = path.read_bytes()
    target = tmp_path / "truncated.pth"
    target.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="truncated.pth is truncated or corrupt"):
        load_checkpoint(target)


def test_truncated_legacy_file_is_corrupt_not_unsafe(tmp_path):
    target = tmp_path / "legacy.pth"
    torch.save({"a": torch.zeros(4)}, target, _use_new_zipfile_serialization=False)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="legacy.pth is .*corrupt"):
        load_checkpoint(target)


def test_garbage_file(tmp_path):
    target = tmp_path / "garbage.pth"
    target.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth is .*corrupt"):
        load_checkpoint(target)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch", "pickle2", "pickle4"])
def test_pickle_that_runs_code_is_refused_as_unsafe(tmp_path, writer, capfd):
    target = tmp_path / "evil.pth"
    if writer == "torch":
        torch.save({"encoder.layers.0.weight": torch.zeros(1), "hook": _RunsCode()}, target)
    else:
        with open(target, "wb") as f:
            pickle.dump({"hook": _RunsCode()}, f, protocol=int(writer[-1]))
    expected = "evil.pth is unsafe to load.*Unsupported" if writer == "pickle4" else "evil.pth is unsafe.*system"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(target)
    assert "this-should-never-run" not in capfd.readouterr().out


def test_not_a_state_dict(tmp_path):
    target = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], target)
    with pytest.raises(CheckpointError, match="list.pth is not a state dict \\(found list\\)"):
        load_checkpoint(target)
    target = tmp_path / "mixed.pth"
    torch.save({"sc.bias": torch.zeros(1), "note": "hello"}, target)
    with pytest.raises(CheckpointError, match="not a state dict.*'note'"):
        load_checkpoint(target)


def test_discriminator_checkpoint_is_named(tmp_path):
    target = tmp_path / "dis.pth"
    torch.save(build_discriminator().state_dict(), target)
    with pytest.raises(CheckpointError, match="discriminator checkpoint"):
        load_checkpoint(target)


def test_other_model_lists_missing_and_mismatched_keys(hq_checkpoint, tmp_path):
    _, path = hq_checkpoint
    state = torch.load(path, weights_only=True)
    del state["decoder.6.bias"]
    state["extra.head.weight"] = torch.zeros(2)
    state["ss.embedding.weight"] = torch.zeros(512, 10)
    target = tmp_path / "other.pth"
    torch.save(state, target)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(target)
    message = str(info.value)
    assert "e2fgvi_hq" in message and "decoder.6.bias" in message and "extra.head.weight" in message
    assert "ss.embedding.weight (512, 10) (expected (512, 6272))" in message
    assert "\n" not in message

"""Job bundles: the Deadline Cloud layout read back by Deadline's own reader, `openjd check`, and bad jobs refused
before anything is written or run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2fgvi_core.errors import E2fgviError, MissingFramesError
from e2fgvi_core.farm.bundle import write_bundle


def _request(shot: dict, out: Path, **extra) -> dict:
    return {"plate": shot["plate"], "matte": shot["matte"], "out": str(out / "clean.%04d.exr"), **extra}


def test_bundle_files_read_back_with_deadline_reader(farm_shot, tmp_path, monkeypatch):
    monkeypatch.setenv("E2FGVI_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    bundle = write_bundle(tmp_path / "bundle", _request(farm_shot, tmp_path / "out", proxy=0.5), {"chunk_size": 10})
    assert sorted(p.name for p in bundle.folder.iterdir()) == [
        "asset_references.yaml",
        "parameter_values.yaml",
        "template.yaml",
    ]
    assert bundle.notice and "propagate" in bundle.notice  # auto resolved now, not on each worker
    reader = pytest.importorskip("deadline.client.job_bundle.parameters")
    values = {p["name"]: p.get("value") for p in reader.read_job_bundle_parameters(str(bundle.folder))}
    assert values["Engine"] == "propagate" and values["Shot"] == "1001-1037" and values["ChunkSize"] == 10
    assert values["Plate"] == farm_shot["plate"] and float(values["Proxy"]) == 0.5
    assert values["WeightsSha256"] == "" and json.loads(values["Settings"]) == {}
    assets = bundle.asset_references.read_text()
    assert str(Path(farm_shot["plate"]).parent) in assets and str(tmp_path / "out") in assets
    assert [c.frame_range for c in bundle.plan.chunks] == ["1001-1010", "1011-1019", "1020-1028", "1029-1037"]


def test_model_bundle_records_the_weights_sha256(farm_shot, tmp_path, use_store):
    from e2fgvi_core.weights import resolve_weights

    bundle = write_bundle(tmp_path / "bundle", _request(farm_shot, tmp_path / "out", weights="hq-test"), None)
    assert bundle.parameters["Engine"] == "e2fgvi_hq"
    assert bundle.parameters["WeightsSha256"] == resolve_weights("hq-test").sha256


@pytest.mark.farm
def test_bundle_template_passes_openjd_check(farm_shot, tmp_path, openjd, e2fgvi):
    done = e2fgvi(
        "farm",
        "bundle",
        str(tmp_path / "b"),
        "--plate",
        farm_shot["plate"],
        "--matte",
        farm_shot["matte"],
        "--out",
        str(tmp_path / "out" / "clean.%04d.exr"),
        "--chunk",
        "25",
        "--engine",
        "propagate",
    )
    assert done.returncode == 0, done.stderr
    assert "openjd run" in done.stderr and "deadline bundle submit" in done.stderr
    assert "2 chunks of 1001-1037" in done.stdout
    checked = openjd("check", str(tmp_path / "b" / "template.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    "change, farm, error",
    [
        ({"frames": "990-1010"}, None, MissingFramesError),
        ({"matte": "/nonexistent/matte.%04d.exr"}, None, MissingFramesError),
        ({}, {"chunk_size": 0}, E2fgviError),
        ({"frames": "1010-1001"}, None, E2fgviError),
        ({"engine": "e2fgvi_hq", "weights": "not-installed"}, None, E2fgviError),
    ],
)
def test_bad_jobs_are_refused_before_anything_is_written(farm_shot, tmp_path, use_store, change, farm, error):
    request = {**_request(farm_shot, tmp_path / "out"), "engine": "propagate", **change}
    with pytest.raises(error):
        write_bundle(tmp_path / "bundle", request, farm)
    assert not (tmp_path / "bundle").exists() and not (tmp_path / "out").exists()


def test_a_subset_of_the_shot_is_refused(farm_shot, tmp_path):
    request = {**_request(farm_shot, tmp_path / "out"), "engine": "propagate", "frames": "1001-1010"}
    with pytest.raises(E2fgviError, match="renders its whole shot"):
        write_bundle(tmp_path / "bundle", request, shot="1001-1037")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("key", ["out", "matte_write"])
@pytest.mark.parametrize("spelling", ["same", "hashes"])
def test_an_output_over_the_plate_is_refused(farm_shot, tmp_path, key, spelling):
    """Compared as files: ``plate.####.exr`` is ``plate.%04d.exr`` (before: only the same string was refused)."""
    request = {"plate": farm_shot["plate"], "out": str(tmp_path / "out.%04d.exr"), "engine": "propagate"}
    target = farm_shot["plate"] if spelling == "same" else farm_shot["plate"].replace("%04d", "####")
    with pytest.raises(E2fgviError, match="overwrite that input"):
        write_bundle(tmp_path / "bundle", {**request, key: target})
    assert not (tmp_path / "bundle").exists()


@pytest.mark.farm
@pytest.mark.parametrize(
    "params, message",
    [(["-p", "ChunkSize=0"], "ChunkSize"), (["-p", "Plate="], "Plate"), (["-p", "Engine=auto"], "Engine")],
)
def test_openjd_refuses_bad_parameters_before_any_task(farm_shot, tmp_path, openjd, params, message):
    bundle = write_bundle(tmp_path / "bundle", {**_request(farm_shot, tmp_path / "out"), "engine": "propagate"})
    given = [arg for name, value in bundle.parameters.items() for arg in ("-p", f"{name}={value}")]
    done = openjd("run", str(bundle.template), *given, *params, timeout=120)
    assert done.returncode != 0
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("ERROR generating Job")]
    assert len(errors) == 1 and message in errors[0], done.stdout + done.stderr
    assert "render-chunk" not in done.stdout and not (tmp_path / "out").exists()

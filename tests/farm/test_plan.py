"""Chunk planning: the manager's chunk boundaries, the engine's windows per chunk, bad parameters at plan time."""

from __future__ import annotations

import json

import pytest

from e2fgvi_core.errors import ConfigError, E2fgviError
from e2fgvi_core.farm.config import FarmConfig
from e2fgvi_core.farm.plan import engine_shot_plan, plan_chunks, split_contiguous, split_stepped
from e2fgvi_core.removal.api import RemovalRequest


def test_contiguous_chunks_are_the_ones_openjd_hands_out():
    """The plan must name the ranges the manager gives the tasks: compare with openjd-model's own division."""
    chunking = pytest.importorskip("openjd.model._step_param_space_iter")
    for total in range(1, 61):
        for size in range(1, 16):
            ours = [f"{a}-{b}" for a, b in split_contiguous(1001, 1000 + total, size)]
            assert ours == chunking.divide_int_interval_into_chunks(size, 1001, 1000 + total), (total, size)


def test_balanced_and_stepped_sizes():
    assert [b - a + 1 for a, b in split_contiguous(1, 25, 10)] == [9, 8, 8]
    assert [b - a + 1 for a, b in split_contiguous(1001, 1037, 10)] == [10, 9, 9, 9]
    assert [b - a + 1 for a, b in split_stepped(1001, 1037, 10)] == [10, 10, 10, 7]


@pytest.mark.parametrize("engine", ["e2fgvi_hq", "propagate"])
@pytest.mark.parametrize("chunking", [True, False])
def test_chunks_tile_the_shot_and_run_exactly_the_contributing_windows(engine, chunking):
    request = RemovalRequest.from_mapping({"engine": engine})
    plan = plan_chunks(request, "1001-1037", 10, chunking)
    written = [f for chunk in plan.chunks for f in chunk.frames]
    assert written == list(range(1001, 1038))
    shot_plan = engine_shot_plan(request, 37)
    for chunk in plan.chunks:
        positions = {f - 1001 for f in chunk.frames}
        if shot_plan.carry_every:  # propagate's carry: warm up from the restart before the chunk's first frame
            every = shot_plan.carry_every
            positions |= set(range(every * (min(positions) // every), min(positions)))
        contributing = [w.index for w in shot_plan.windows if positions & set(w.local)]
        assert list(chunk.windows) == contributing
        read = sorted({1001 + p for i in chunk.windows for p in shot_plan.windows[i].inputs})
        assert list(chunk.reads) == read and set(chunk.frames) <= set(chunk.reads)
        assert chunk.cost == len(chunk.reads) + sum(len(shot_plan.windows[i].inputs) for i in chunk.windows)
    assert plan.single_run_cost == 37 + sum(len(w.inputs) for w in shot_plan.windows)
    assert plan.chunks_cost > plan.single_run_cost  # overlapping windows run in two chunks


def test_model_chunks_read_the_references_of_the_whole_shot():
    """num_ref=-1: every window sees a reference every 10 frames of the shot, so the first chunk reads frame 1291."""
    plan = plan_chunks(RemovalRequest.from_mapping({"engine": "e2fgvi_hq"}), "1001-1300", 50)
    first = plan.chunks[0]
    assert 1291 in first.reads and 1001 + 10 * 29 in first.reads
    assert [len(c.frames) for c in plan.chunks] == [50] * 6


@pytest.mark.parametrize("engine", ["e2fgvi_hq", "propagate"])
def test_reference_frames_count_in_every_window_they_join_but_read_no_plate_frame(engine):
    """A reference frame runs in every window beside the plate frames (a model window appends it after the official
    references, the weight-free engine holds it beside its context), so the farm's cost counts it there; which
    plate frames a chunk reads does not change."""
    plain = plan_chunks(RemovalRequest.from_mapping({"engine": engine}), "1001-1100", 10)
    referenced = plan_chunks(
        RemovalRequest.from_mapping({"engine": engine, "reference": ["1005=/paint/clean.1005.exr"]}), "1001-1100", 10
    )
    assert [c.reads for c in referenced.chunks] == [c.reads for c in plain.chunks]
    assert [c.windows for c in referenced.chunks] == [c.windows for c in plain.chunks]
    shot_plan = engine_shot_plan(RemovalRequest.from_mapping({"engine": engine}), 100)
    holding = [w for w in shot_plan.windows if engine == "e2fgvi_hq" or 4 not in w.inputs]
    assert len(holding) > len(shot_plan.windows) // 2, "most windows do not see frame 1005 themselves"
    assert referenced.single_run_cost == plain.single_run_cost + len(holding)
    assert referenced.chunks[-1].cost > plain.chunks[-1].cost


@pytest.mark.parametrize(
    "shot, chunk, engine, message",
    [
        ("1005-1002", 10, "e2fgvi_hq", "is empty"),
        ("", 10, "e2fgvi_hq", "no shot range"),
        ("1001-1010,1020-1030", 10, "e2fgvi_hq", "has gaps"),
        ("1001-1037", 0, "e2fgvi_hq", "chunk size must be at least 1"),
        ("1001-1037", 10, "auto", "needs a definite engine"),
    ],
)
def test_bad_parameters_fail_at_plan_time(shot, chunk, engine, message):
    with pytest.raises(E2fgviError, match=message):
        plan_chunks(RemovalRequest.from_mapping({"engine": engine}), shot, chunk)


def test_farm_config_validates_and_names_the_key():
    assert FarmConfig.from_mapping({"chunk_size": "25"}).chunk_size == 25
    with pytest.raises(ConfigError, match="chunk_size must be a whole number"):
        FarmConfig.from_mapping({"chunk_size": 0})
    with pytest.raises(ConfigError, match="unknown FarmConfig key 'chunks'"):
        FarmConfig.from_mapping({"chunks": 5})


def test_cli_plan_table_and_json_agree(e2fgvi):
    table = e2fgvi("farm", "plan", "--frames", "1001-1300", "--chunk", "50")
    assert table.returncode == 0, table.stderr
    as_json = e2fgvi("farm", "plan", "--frames", "1001-1300", "--chunk", "50", "--json")
    data = json.loads(as_json.stdout)
    assert [c["frames"] for c in data["chunks"]] == [f"{s}-{s + 49}" for s in range(1001, 1301, 50)]
    rows = table.stdout.splitlines()[1:-1]
    for row, chunk in zip(rows, data["chunks"], strict=True):
        cells = row.split()
        assert cells[1] == chunk["frames"] and int(cells[3]) == chunk["frames_read"] and int(cells[-2]) == chunk["cost"]
    assert f"overhead {100 * data['overhead']:+.1f}%" in table.stdout


def test_cli_plan_bad_chunk_is_one_line(e2fgvi):
    done = e2fgvi("farm", "plan", "--frames", "1001-1300", "--chunk", "0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["e2fgvi farm: error: chunk size must be at least 1 frame, got 0"]

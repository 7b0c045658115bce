"""Patterns, frame ranges, disk scans and gap reports on real files."""

from __future__ import annotations

import pytest

from e2fgvi_core.errors import MissingFramesError, SequenceError
from e2fgvi_core.io.sequence import FrameSequence, format_frame_ranges, parse_frame_range, resolve_frames


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("/s/plate.%04d.exr", "/s/plate.1001.exr"),
        ("/s/plate.####.exr", "/s/plate.1001.exr"),
        ("/s/plate.@@@@.exr", "/s/plate.1001.exr"),
        ("/s/plate.%d.exr", "/s/plate.1001.exr"),
        ("/s/plate.%06d.exr", "/s/plate.001001.exr"),
        ("/s/plate.@@@@@@.exr", "/s/plate.001001.exr"),
        ("/s/still.exr", "/s/still.exr"),
    ],
)
def test_pattern_paths(pattern, expected):
    assert FrameSequence(pattern).path(1001) == expected


def test_padding_and_negative_frames():
    seq = FrameSequence("a.####.png")
    assert seq.padding == 4
    assert seq.path(7) == "a.0007.png"
    assert seq.path(12345) == "a.12345.png"
    assert seq.path(-5) == "a.-005.png"
    assert FrameSequence("a.%d.png").path(7) == "a.7.png"


def test_bad_patterns_are_rejected():
    with pytest.raises(SequenceError, match="more than one"):
        FrameSequence("a.%04d.####.exr")
    with pytest.raises(SequenceError, match="unsupported"):
        FrameSequence("a.%s.exr")


@pytest.mark.parametrize("token", ["%04d", "####", "@@@@"])
def test_scan_finds_frames_on_disk(make_sequence, tmp_path, token):
    make_sequence([1001, 1002, 1005, 12000])
    (tmp_path / "plate.1003.png.tmp").write_text("not a frame")
    (tmp_path / "plate.01004.png").write_text("wrong padding")
    (tmp_path / "other.1004.png").write_text("other sequence")
    assert FrameSequence(str(tmp_path / f"plate.{token}.png")).scan() == (1001, 1002, 1005, 12000)


def test_scan_of_missing_folder_is_empty(tmp_path):
    assert FrameSequence(str(tmp_path / "nope" / "a.%04d.exr")).scan() == ()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1001-1005", (1001, 1002, 1003, 1004, 1005)),
        ("1001", (1001,)),
        ("1001-1003,1020", (1001, 1002, 1003, 1020)),
        ("1020, 1001-1002", (1001, 1002, 1020)),
        ("1001-1009x4", (1001, 1005, 1009)),
        ("-3--1", (-3, -2, -1)),
        ("1001-1002,1002", (1001, 1002)),
    ],
)
def test_parse_frame_range(text, expected):
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize(
    "text, match", [("", "empty"), ("1100-1001", "empty"), ("10a", "cannot parse"), ("1-", "cannot")]
)
def test_parse_frame_range_errors(text, match):
    with pytest.raises(SequenceError, match=match):
        parse_frame_range(text)


def test_format_frame_ranges():
    assert format_frame_ranges([1012, 1003, 1010, 1011]) == "1003, 1010-1012"
    assert format_frame_ranges([]) == ""


def test_missing_frames_message_lists_gaps(make_sequence):
    present = [f for f in range(1001, 1021) if f not in (1003, 1010, 1011, 1012)]
    pattern = make_sequence(present)
    with pytest.raises(MissingFramesError) as info:
        resolve_frames(pattern, "1001-1020")
    message = str(info.value)
    assert message == f"{pattern}: missing frames 1003, 1010-1012 (of 1001-1020)"
    assert "\n" not in message
    assert isinstance(info.value, SequenceError)


def test_resolve_explicit_range_and_list(make_sequence):
    pattern = make_sequence(range(1001, 1011))
    assert resolve_frames(pattern, "1002-1004,1008") == (1002, 1003, 1004, 1008)
    assert resolve_frames(pattern, [1005, 1001]) == (1001, 1005)


def test_resolve_scans_disk_and_reports_holes(make_sequence):
    pattern = make_sequence([1001, 1002, 1003, 1006])
    with pytest.raises(MissingFramesError, match=r"missing frames 1004-1005 \(of 1001-1006\)"):
        resolve_frames(pattern)
    assert resolve_frames(pattern, allow_gaps=True) == (1001, 1002, 1003, 1006)
    assert resolve_frames(pattern, "1001-1003") == (1001, 1002, 1003)


def test_resolve_nothing_on_disk(tmp_path):
    with pytest.raises(MissingFramesError, match="no frames found"):
        resolve_frames(str(tmp_path / "x.%04d.exr"))
    with pytest.raises(MissingFramesError, match="does not exist"):
        resolve_frames(str(tmp_path / "nope" / "x.%04d.exr"))


def test_resolve_empty_range_is_an_error(make_sequence):
    pattern = make_sequence([1001])
    with pytest.raises(SequenceError, match="empty"):
        resolve_frames(pattern, "1005-1001")
    with pytest.raises(SequenceError, match="empty"):
        resolve_frames(pattern, [])


def test_single_file_serves_any_range(make_sequence, tmp_path):
    make_sequence([1], name="still.%04d.png")
    still = str(tmp_path / "still.0001.png")
    assert resolve_frames(still, "1001-1003") == (1001, 1002, 1003)
    assert FrameSequence(still).path(1002) == still
    with pytest.raises(MissingFramesError, match="not found"):
        resolve_frames(str(tmp_path / "absent.png"), "1-2")


def test_range_on_a_missing_folder_says_so(tmp_path):
    with pytest.raises(MissingFramesError, match=r"missing frames 1-3 \(of 1-3\); folder .*nope does not exist"):
        resolve_frames(str(tmp_path / "nope" / "x.%04d.exr"), "1-3")

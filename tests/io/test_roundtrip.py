"""Read -> write -> read through real files: pixels, windows, channels and metadata come back unchanged."""

from __future__ import annotations

import json
import os

import numpy as np
import OpenImageIO as oiio
import pytest

from e2fgvi_core.errors import OutputError, SequenceError
from e2fgvi_core.io import Frame, check_output_folder, read_frame, read_header, write_frame

HALF_SPECIALS = np.array([0x7E01, 0x7C01, 0xFE33, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x7BFF], dtype=np.uint16)
FLOAT_SPECIALS = np.array(
    [0x7FC00001, 0x7F800001, 0xFFC12345, 0x7F800000, 0xFF800000, 0x80000000, 0x00000001, 0x7F7FFFFF], dtype=np.uint32
)


def _bits(array: np.ndarray) -> np.ndarray:
    return array.view({2: np.uint16, 4: np.uint32, 1: np.uint8}[array.dtype.itemsize])


def _hdr_pixels(rng, dtype, shape=(6, 8, 5)) -> np.ndarray:
    """Values in [-4, 12] plus NaN payloads, infinities, -0 and denormals in the first row."""
    pixels = (rng.standard_normal(shape) * 4 + 2).astype(dtype)
    specials = (HALF_SPECIALS if dtype == np.float16 else FLOAT_SPECIALS).view(dtype)
    pixels[0, :, :] = np.resize(specials, (shape[1], shape[2]))
    return pixels


@pytest.mark.parametrize("dtype, file_format", [(np.float16, "half"), (np.float32, "float")])
def test_exr_roundtrip_is_bit_identical(oiio_write, tmp_path, rng, dtype, file_format):
    channels = ("R", "G", "B", "A", "depth.Z")
    pixels = _hdr_pixels(rng, dtype)
    source = oiio_write(
        tmp_path / "src.exr",
        pixels,
        channels=channels,
        attributes={"studio:shot": "sq010_sh020", "studio:take": 3, "compression": "piz"},
        data_origin=(37, 11),
        display_window=(0, 0, 64, 48),
    )
    frame = read_frame(source)
    assert frame.dtype == dtype
    assert frame.channels == channels
    assert frame.data_window == (37, 11, 8, 6)
    assert frame.display_window == (0, 0, 64, 48)
    assert np.array_equal(_bits(frame.pixels), _bits(pixels))
    assert frame.metadata["studio:shot"] == "sq010_sh020"
    assert frame.path == str(source)

    out = write_frame(tmp_path / "out" / "dst.exr", frame, {"engine": "e2fgvi_hq", "weights_sha256": "ab" * 32})
    back = read_frame(out)
    assert back.dtype == dtype
    assert back.channels == channels
    assert (back.data_window, back.display_window) == (frame.data_window, frame.display_window)
    assert np.array_equal(_bits(back.pixels), _bits(pixels)), "pixels changed on the way out"
    for key, value in frame.metadata.items():
        assert back.metadata[key] == value, key
    assert back.metadata["e2fgvi:engine"] == "e2fgvi_hq"
    assert back.metadata["e2fgvi:weights_sha256"] == "ab" * 32
    assert back.metadata["compression"] == "piz"


def test_exr_typed_metadata_keeps_its_types(tmp_path):
    spec_attributes = {
        "timecode": (oiio.TypeTimeCode, (0x01020304, 0)),
        "framesPerSecond": (oiio.TypeRational, (24, 1)),
    }
    spec = oiio.ImageSpec(4, 2, 3, "half")
    for key, (typedesc, value) in spec_attributes.items():
        spec.attribute(key, typedesc, value)
    spec.attribute("worldToCamera", oiio.TypeMatrix, tuple(float(i) for i in range(16)))
    path = str(tmp_path / "typed.exr")
    out = oiio.ImageOutput.create(path)
    out.open(path, spec)
    out.write_image(np.zeros((2, 4, 3), np.float16))
    out.close()

    back = read_frame(write_frame(tmp_path / "copy.exr", read_frame(path)))
    # OpenImageIO 3.0 names the EXR timecode smpte:TimeCode, 3.2 timecode: found by its type.
    timecodes = [name for name, type_name in back.metadata_types.items() if type_name == "timecode"]
    assert [back.metadata[name] for name in timecodes] == [(0x01020304, 0)]
    assert back.metadata_types["framesPerSecond"] == "rational"
    assert back.metadata_types["worldToCamera"] == "matrix"
    assert back.metadata["framesPerSecond"] == (24, 1)
    assert back.metadata["worldToCamera"] == tuple(float(i) for i in range(16))


def test_exr_mixed_channel_formats_roundtrip(oiio_write, tmp_path, rng):
    pixels = _hdr_pixels(rng, np.float16).astype(np.float32)
    pixels[..., 4] = rng.standard_normal((6, 8)).astype(np.float32) * 1000  # depth needs float precision
    source = oiio_write(
        tmp_path / "mixed.exr",
        pixels,
        channels=("R", "G", "B", "A", "Z"),
        file_format="float",
        channel_formats=("half", "half", "half", "half", "float"),
    )
    frame = read_frame(source)
    assert frame.channel_formats == ("half", "half", "half", "half", "float")
    back = read_frame(write_frame(tmp_path / "mixed_out.exr", frame))
    assert back.channel_formats == frame.channel_formats
    assert np.array_equal(_bits(back.pixels), _bits(frame.pixels))
    assert np.array_equal(back.pixels[..., 4], pixels[..., 4])


def test_overscan_data_window_with_negative_origin(oiio_write, tmp_path, rng):
    pixels = rng.random((10, 12, 3)).astype(np.float16)
    source = oiio_write(tmp_path / "os.exr", pixels, data_origin=(-2, -1), display_window=(0, 0, 8, 8))
    back = read_frame(write_frame(tmp_path / "os_out.exr", read_frame(source)))
    assert back.data_window == (-2, -1, 12, 10)
    assert back.display_window == (0, 0, 8, 8)
    assert np.array_equal(back.pixels, pixels)


def test_lossy_exr_compression_is_replaced_by_lossless(tmp_path, rng):
    frame = Frame.from_array(rng.random((4, 4, 3)).astype(np.float16), metadata={"compression": "dwaa:45"})
    back = read_frame(write_frame(tmp_path / "x.exr", frame))
    assert back.metadata["compression"] == "zip"
    assert np.array_equal(back.pixels, frame.pixels)
    explicit = read_frame(write_frame(tmp_path / "y.exr", frame, compression="piz"))
    assert explicit.metadata["compression"] == "piz"


@pytest.mark.parametrize(
    "ext, dtype, channels",
    [
        ("png", np.uint8, 3),
        ("png", np.uint8, 4),
        ("png", np.uint16, 3),
        ("tif", np.uint8, 3),
        ("tif", np.uint16, 4),
        ("tif", np.float32, 3),
        ("dpx", np.uint16, 3),
        ("dpx", np.uint8, 3),
    ],
)
def test_lossless_formats_roundtrip(oiio_write, tmp_path, rng, ext, dtype, channels):
    if np.issubdtype(dtype, np.integer):
        pixels = rng.integers(0, np.iinfo(dtype).max, (5, 7, channels), endpoint=True).astype(dtype)
    else:
        pixels = (rng.random((5, 7, channels)) * 3 - 1).astype(dtype)
    source = oiio_write(tmp_path / f"src.{ext}", pixels)
    frame = read_frame(source)
    assert frame.dtype == dtype
    assert np.array_equal(frame.pixels, pixels)
    back = read_frame(write_frame(tmp_path / f"out.{ext}", frame, {"engine": "propagate"}))
    assert back.dtype == dtype
    assert np.array_equal(back.pixels, pixels)
    assert back.channels == frame.channels
    if ext == "png":
        assert back.metadata["e2fgvi:engine"] == "propagate"
    else:  # TIFF and DPX have no place for arbitrary attributes: the provenance goes to ImageDescription
        assert json.loads(back.metadata["ImageDescription"]) == {"e2fgvi:engine": "propagate"}


def test_dpx_10bit_keeps_its_bit_depth(oiio_write, tmp_path, rng):
    pixels = rng.integers(0, 65535, (4, 6, 3), endpoint=True).astype(np.uint16)
    source = oiio_write(tmp_path / "ten.dpx", pixels, attributes={"oiio:BitsPerSample": 10})
    frame = read_frame(source)
    assert frame.metadata["oiio:BitsPerSample"] == 10
    back = read_frame(write_frame(tmp_path / "ten_out.dpx", frame))
    assert back.metadata["oiio:BitsPerSample"] == 10
    assert np.array_equal(back.pixels, frame.pixels)


def test_jpeg_reads_uint8_and_writes_close(oiio_write, tmp_path):
    yy, xx = np.mgrid[0:16, 0:16]
    pixels = np.stack([xx * 16, yy * 16, (xx + yy) * 8], axis=-1).astype(np.uint8)
    frame = read_frame(oiio_write(tmp_path / "src.jpg", pixels))
    assert frame.dtype == np.uint8 and frame.pixels.shape == (16, 16, 3)
    back = read_frame(write_frame(tmp_path / "out.jpg", frame))
    assert np.abs(back.pixels.astype(int) - pixels.astype(int)).mean() < 6


def test_exr_to_png_drops_exr_only_controls(oiio_write, tmp_path, rng):
    frame = read_frame(
        oiio_write(
            tmp_path / "a.exr",
            rng.random((4, 4, 3)).astype(np.float16),
            attributes={"compression": "piz", "studio:shot": "x"},
        )
    )
    back = read_frame(write_frame(tmp_path / "a.png", frame, pixel_format="uint8"))
    assert back.dtype == np.uint8
    assert back.metadata.get("compression") != "piz"
    assert back.metadata["studio:shot"] == "x"


def test_read_header_does_not_need_pixels(oiio_write, tmp_path):
    source = oiio_write(
        tmp_path / "h.exr", np.zeros((3, 5, 4), np.float16), data_origin=(2, 3), display_window=(0, 0, 20, 10)
    )
    header = read_header(source)
    assert header.channels == ("R", "G", "B", "A")
    assert header.dtype == np.float16
    assert (header.width, header.height) == (5, 3)
    assert header.display_window == (0, 0, 20, 10)
    assert header.format_name == "openexr"


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(SequenceError, match=r"cannot read .*absent\.exr: no such file"):
        read_frame(tmp_path / "absent.exr")
    broken = tmp_path / "broken.exr"
    broken.write_bytes(b"\x76\x2f\x31\x01 truncated")
    with pytest.raises(SequenceError) as info:
        read_frame(broken)
    assert str(broken) in str(info.value) and "\n" not in str(info.value)


def test_write_into_a_path_whose_parent_is_a_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    frame = Frame.from_array(np.zeros((2, 2, 3), np.float16))
    with pytest.raises(OutputError, match="is a file, not a folder") as info:
        write_frame(blocker / "sub" / "x.exr", frame)
    assert "\n" not in str(info.value)
    assert blocker.read_text() == "a file, not a folder"


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out" / "x.exr"
    good = Frame.from_array(np.ones((4, 4, 3), np.float16))
    write_frame(target, good)
    broken = Frame.from_array(np.zeros((4, 4, 3), np.float16))
    broken.pixels = np.zeros((2, 2, 3), np.float16)  # too small: OpenImageIO fails after the temp file was opened
    with pytest.raises(OutputError, match="x.exr"):
        write_frame(target, broken)
    assert os.listdir(target.parent) == ["x.exr"]
    assert np.array_equal(read_frame(target).pixels, good.pixels)


def test_unsupported_channel_count_or_extension(tmp_path):
    with pytest.raises(OutputError, match="7-channel"):
        write_frame(tmp_path / "x.png", Frame.from_array(np.zeros((2, 2, 7), np.uint8)))
    with pytest.raises(OutputError, match="known: .*exr"):
        write_frame(tmp_path / "x.nope", Frame.from_array(np.zeros((2, 2, 3), np.uint8)))
    assert os.listdir(tmp_path) == []


def test_frame_validates_its_shape():
    with pytest.raises(SequenceError, match="data window"):
        Frame(np.zeros((2, 3, 3), np.float16), ("R", "G", "B"), (0, 0, 2, 2), (0, 0, 2, 2))
    with pytest.raises(SequenceError, match="names"):
        Frame(np.zeros((2, 2, 3), np.float16), ("R", "G"), (0, 0, 2, 2), (0, 0, 2, 2))
    frame = Frame.from_array(np.zeros((2, 2), np.uint8))
    assert frame.channels == ("Y",) and frame.pixels.shape == (2, 2, 1)
    other = frame.with_pixels(np.ones((2, 2, 1), np.uint8))
    assert other.channels == ("Y",) and other.pixels.max() == 1 and frame.pixels.max() == 0


def test_check_output_folder_creates_and_probes(tmp_path):
    folder = check_output_folder(tmp_path / "new" / "deep" / "out.%04d.exr")
    assert folder == tmp_path / "new" / "deep" and folder.is_dir()
    assert os.listdir(folder) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "file" / "out.####.exr")
    with pytest.raises(OutputError, match="unknown image extension"):
        check_output_folder(tmp_path / "out.%04d.mov")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_is_an_output_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            write_frame(folder / "x.exr", Frame.from_array(np.zeros((2, 2, 3), np.float16)))
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)

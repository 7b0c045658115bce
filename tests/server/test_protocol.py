"""Protocol v1: encode/decode round trips without copies, and refusal of every kind of malformed message."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import zmq

from e2fgvi_core import errors
from e2fgvi_server import protocol as wire


@pytest.mark.parametrize("dtype", ["float16", "float32", "uint8"])
def test_round_trip_keeps_dtype_shape_channels_and_values(dtype):
    rng = np.random.default_rng(3)
    array = (rng.random((5, 7, 4)) * 200).astype(dtype)
    parts = wire.encode(wire.RESULT, {"frame": 1001, "buffer": 0}, [array], [["R", "G", "B", "A"]])
    message = wire.decode([bytes(p) for p in parts])
    assert message.type == wire.RESULT and message.get("frame") == 1001 and message.get("v") == 1
    assert message.arrays[0].dtype == np.dtype(dtype) and message.arrays[0].shape == (5, 7, 4)
    assert np.array_equal(message.arrays[0], array)
    assert message.channels == [["R", "G", "B", "A"]]


def test_encode_sends_views_of_the_array_and_decode_reads_received_memory_in_place():
    array = np.arange(24 * 32 * 3, dtype=np.float32).reshape(24, 32, 3)
    parts = wire.encode(wire.SUBMIT, {"key": "k"}, [array])
    assert np.shares_memory(np.frombuffer(parts[1], np.uint8), array)  # no copy on the way out
    context = zmq.Context()
    a, b = context.socket(zmq.PAIR), context.socket(zmq.PAIR)
    try:
        a.bind("inproc://proto-test")
        b.connect("inproc://proto-test")
        a.send_multipart(parts, copy=False)
        assert b.poll(2000)
        frames = b.recv_multipart(copy=False)
        message = wire.decode(frames)
        received = np.frombuffer(frames[1].buffer, np.uint8)
        assert np.shares_memory(message.arrays[0], received)  # no copy on the way in
        assert np.array_equal(message.arrays[0], array)
    finally:
        a.close(0)
        b.close(0)
        context.term()


def test_non_contiguous_and_big_endian_arrays_are_sent_correctly():
    array = np.arange(60, dtype=">f4").reshape(3, 5, 4)[:, ::2, :3]
    message = wire.decode([bytes(p) for p in wire.encode(wire.RESULT, {}, [array])])
    assert np.array_equal(message.arrays[0], array.astype("<f4"))


def _header(**fields) -> bytes:
    return msgpack.packb({"v": 1, "type": "result", **fields})


@pytest.mark.parametrize(
    "parts, needle",
    [
        ([], "empty message"),
        ([b"\xc1\xc1"], "not valid msgpack"),
        ([msgpack.packb([1, 2])], "must be a msgpack map"),
        ([msgpack.packb({"type": "ping"})], "no integer 'v'"),
        ([msgpack.packb({"v": 2, "type": "ping"})], "protocol version 2 is not supported"),
        ([msgpack.packb({"v": 1, "type": "frobnicate"})], "unknown message type 'frobnicate'"),
        ([msgpack.packb({"v": 1, "type": "ping", "x": msgpack.ExtType(5, b"xx")})], "extension type 5"),
        ([_header(buffers=[{"dtype": "float32", "shape": [2, 2, 1], "channels": ["Y"]}]), b"\0" * 15], "carries 15"),
        (
            [_header(buffers=[{"dtype": "float32", "shape": [2, 2, 1]}])],
            "describes 1 buffers but the message carries 0",
        ),
        ([_header(), b"\0" * 4], "describes 0 buffers but the message carries 1"),
        ([_header(buffers=[{"dtype": "float64", "shape": [1]}]), b"\0" * 8], "float64"),
        ([_header(buffers=[{"dtype": "uint8", "shape": [1, 1, 1, 1]}]), b"\0"], "1 to 3"),
        ([_header(buffers=[{"dtype": "uint8", "shape": [-1]}]), b""], "non-negative"),
        ([_header(buffers=[{"dtype": "uint8", "shape": [1, 1, 2], "channels": ["R"]}]), b"\0\0"], "2 channel names"),
        ([_header(buffers="nope")], "'buffers' must be a list"),
        ([_header(buffers=[7]), b""], "buffers[0] must be a map"),
    ],
)
def test_malformed_messages_raise_protocol_error_naming_the_problem(parts, needle):
    with pytest.raises(wire.ProtocolError) as info:
        wire.decode(parts)
    assert needle in str(info.value)
    assert info.value.code == "protocol_error"


def test_header_size_limit_is_enforced():
    big = msgpack.packb({"v": 1, "type": "ping", "pad": "x" * 5000})
    with pytest.raises(wire.ProtocolError, match="exceeds the limit of 1000 bytes"):
        wire.decode([big], max_header_bytes=1000)


def test_encode_refuses_dtypes_that_cannot_travel():
    with pytest.raises(wire.ProtocolError, match="float16, float32, uint8"):
        wire.encode(wire.RESULT, {}, [np.zeros((2, 2, 1), np.float64)])


def _tree(root: type) -> list[type]:
    return [root, *(cls for sub in root.__subclasses__() for cls in _tree(sub))]


def test_error_codes_match_the_error_tree():
    """The wire codes are the `code` of the exception that raised them (STYLE: one source of truth)."""
    tree = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.E2fgviError)}
    wire_codes = set(wire.ERROR_CODES) - {wire.INTERNAL_ERROR}
    assert wire_codes == tree
    assert wire.ProtocolError is errors.ProtocolError  # one class, not a mirror
    for name, value in vars(wire).items():  # every code constant of the protocol is a class's code
        if name.isupper() and (name.endswith(("_ERROR", "_FRAMES", "_DENIED", "_JOB")) or name == "CANCELLED"):
            assert value in wire.ERROR_CODES, name


def test_one_root_and_one_table_from_code_to_class():
    """Every class of the tree (the client's and the wire's included) is an E2fgviError; the table names each
    class of errors.py under its own, unique code, and unknown codes fall back to the root."""
    defined = [c for c in _tree(errors.E2fgviError) if c.__module__ == errors.__name__]
    assert sorted(c.__name__ for c in defined) == sorted(c.__name__ for c in errors.ERROR_CLASSES.values())
    assert len({c.code for c in defined}) == len(defined)
    assert all(errors.ERROR_CLASSES[c.code] is c for c in defined)
    for cls in (wire.RemoteError, wire.ClientError, wire.ServerUnavailableError, wire.RequestTimeoutError):
        assert issubclass(cls, errors.E2fgviError)
    assert issubclass(errors.RequestTimeoutError, TimeoutError)
    assert errors.class_for_code("missing_frames") is errors.MissingFramesError
    assert errors.class_for_code("not_a_code") is errors.E2fgviError


def test_the_cli_maps_a_remote_error_to_its_class_through_the_table():
    from e2fgvi_core.cli.remote import error_from_remote

    mapped = error_from_remote(wire.RemoteError("missing_frames", "frames 1003-1004 are missing"))
    assert type(mapped) is errors.MissingFramesError and str(mapped) == "frames 1003-1004 are missing"
    assert type(error_from_remote(errors.ServerUnavailableError("nobody"))) is errors.ServerUnavailableError
    unknown = error_from_remote(wire.RemoteError("from_the_future", "new"))
    assert type(unknown) is errors.E2fgviError and str(unknown) == "from_the_future: new"


def _round_trip(parts):
    return wire.decode([bytes(p) for p in parts])


def test_frames_by_value_pack_and_unpack_with_the_same_module():
    class FrameLike:
        def __init__(self, pixels, channels, data_window, display_window):
            self.pixels, self.channels = pixels, channels
            self.data_window, self.display_window = data_window, display_window

    rng = np.random.default_rng(5)
    plate = {1002: rng.random((4, 6, 3)).astype(np.float16), 1001: rng.random((4, 6, 3)).astype(np.float32)}
    matte = {1001: FrameLike(np.ones((4, 6), np.uint8), ["A"], (2, 1, 6, 4), (0, 0, 10, 8))}
    parts = wire.pack_submit("k1", {"engine": "propagate"}, plate_frames=plate, matte_frames=matte, priority=3)
    message = _round_trip(parts)
    assert message.type == wire.SUBMIT and message.get("key") == "k1" and message.get("priority") == 3
    assert message.get("request") == {"engine": "propagate"} and message.get("keep_running") is False
    inputs = wire.unpack_value_inputs(message)
    assert [f.frame for f in inputs["plate_frames"]] == [1001, 1002]  # sorted by frame number
    for got in inputs["plate_frames"]:
        assert got.pixels.dtype == plate[got.frame].dtype and np.array_equal(got.pixels, plate[got.frame])
        assert got.channels == ("R", "G", "B") and got.data_window == got.display_window == (0, 0, 6, 4)
    (m,) = inputs["matte_frames"]
    assert m.pixels.shape == (4, 6, 1) and m.channels == ("A",)
    assert m.data_window == (2, 1, 6, 4) and m.display_window == (0, 0, 10, 8)


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"plate_frames": []}, "non-empty list"),
        ({"plate_frames": [{"frame": 1, "buffer": 1}]}, "names buffer 1"),
        ({"plate_frames": [{"frame": 1, "buffer": 0}, {"frame": 2, "buffer": 0}]}, "each may be used once"),
        ({"plate_frames": [{"frame": "a", "buffer": 0}]}, "'frame'"),
        ({"plate_frames": [{"frame": 1, "buffer": 0, "data_window": [0, 0, 1]}]}, "data_window must be"),
        ({"matte_frames": [{"frame": 1, "buffer": 0}]}, "needs 'plate_frames'"),
    ],
)
def test_bad_frames_by_value_are_refused_naming_the_entry(fields, needle):
    message = _round_trip(
        wire.encode(wire.SUBMIT, {"key": "k", "request": {}, **fields}, [np.zeros((2, 2, 3), np.float32)])
    )
    with pytest.raises(wire.ProtocolError, match=needle):
        wire.unpack_value_inputs(message)


def test_a_plate_frame_must_be_h_w_c_and_odd_dtypes_cannot_be_packed():
    message = _round_trip(
        wire.encode(wire.SUBMIT, {"plate_frames": [{"frame": 1, "buffer": 0}]}, [np.zeros((2, 2), np.float32)])
    )
    with pytest.raises(wire.ProtocolError, match=r"must be \(h, w, c\)"):
        wire.unpack_value_inputs(message)
    with pytest.raises(wire.ProtocolError, match="plate_frames frame 7: dtype uint16 cannot travel"):
        wire.pack_submit("k", {}, plate_frames={7: np.zeros((2, 2, 3), np.uint16)})


def test_result_frames_by_value_and_by_path_round_trip():
    class Result:
        pixels = np.arange(24, dtype=np.float64).reshape(2, 4, 3)
        channels = ("R", "G", "B")
        data_window = (0, 0, 4, 2)
        display_window = (0, 0, 8, 4)

    fields, arrays, channels = wire.result_frame_message(1005, Result())
    got = wire.parse_result_frame(_round_trip(wire.encode(wire.RESULT, fields, arrays, channels)))
    assert got.frame == 1005 and got.path is None and got.pixels.dtype == np.float32  # float64 cannot travel
    assert np.array_equal(got.pixels, Result.pixels.astype(np.float32)) and got.channels == ["R", "G", "B"]
    assert got.data_window == (0, 0, 4, 2) and got.display_window == (0, 0, 8, 4)
    by_path = wire.parse_result_frame(_round_trip(wire.encode(wire.RESULT, wire.result_frame_fields(7, "/o/a.exr"))))
    assert by_path.frame == 7 and by_path.path == "/o/a.exr" and by_path.pixels is None
    assert wire.parse_result_frame(_round_trip(wire.encode(wire.RESULT, {"frame": "x"}))) is None


def test_progress_fields_round_trip_and_tolerate_missing_values():
    sent = wire.ProgressFields(3, 10, "windows", 1.23456, None)
    assert sent.to_fields() == {
        "frames_done": 3,
        "frames_total": 10,
        "stage": "windows",
        "elapsed_s": 1.235,
        "eta_s": None,
    }
    assert wire.ProgressFields.from_fields(sent.to_fields()) == wire.ProgressFields(3, 10, "windows", 1.235, None)
    assert wire.ProgressFields.from_fields({}) == wire.ProgressFields(0, 0, "", 0.0, None)


def test_heartbeat_numbers_are_defined_once_for_client_and_server():
    from e2fgvi_host.client import Client
    from e2fgvi_server.config import ServerConfig

    config = ServerConfig()
    assert (config.heartbeat_interval_s, config.heartbeat_liveness) == (
        wire.HEARTBEAT_INTERVAL_S,
        wire.HEARTBEAT_LIVENESS,
    )
    defaults = Client.__init__.__kwdefaults__
    assert (defaults["heartbeat_interval_s"], defaults["heartbeat_liveness"]) == (
        wire.HEARTBEAT_INTERVAL_S,
        wire.HEARTBEAT_LIVENESS,
    )


@pytest.mark.parametrize(
    "peer, local",
    [
        (None, True),
        ("", True),
        ("127.0.0.1", True),
        ("127.0.0.1:5577", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.5", False),
        ("10.0.0.5:5577", False),
        ("example.org", False),
    ],
)
def test_loopback_peers(peer, local):
    assert wire.is_loopback_peer(peer) is local


def test_message_types_are_the_documented_snake_case_strings():
    assert wire.MESSAGE_TYPES == (
        "hello",
        "submit",
        "accepted",
        "progress",
        "result",
        "error",
        "cancel",
        "status",
        "ping",
        "pong",
        "shutdown",
        "footprint",
    )
    assert wire.PROTOCOL_VERSION == 1

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


def test_error_codes_match_the_error_tree():
    """The wire codes are the `code` of the exception that raised them (STYLE: one source of truth)."""
    tree = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.E2fgviError)}
    wire_codes = set(wire.ERROR_CODES) - {wire.INTERNAL_ERROR}
    assert wire_codes == tree
    assert wire.ProtocolError.code == errors.ProtocolError.code


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
    )
    assert wire.PROTOCOL_VERSION == 1

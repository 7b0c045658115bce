"""The request schema over a real server: every path setting refused relative and every written one confined,
whatever its spelling (the nested ``matte_config.write`` that once slipped past the output check is an unknown key
now, and a key given twice is refused), and relative paths given to ``remove --server`` mean the caller's folder.
"""

from __future__ import annotations

import os
import subprocess
import sys

import msgpack
import pytest
import zmq

from e2fgvi_core.schema import PATH_READ, PATH_READ_FRAMES, PATH_WEIGHTS, PATH_WRITE, path_fields
from e2fgvi_core.testing import make_shot, subprocess_env
from e2fgvi_server import protocol as wire


def _relative_value(spec):
    return {
        PATH_WEIGHTS: "ckpt/mine.pth",
        PATH_WRITE: "rel/out.%04d.exr",
        PATH_READ: "rel/in.%04d.exr",
        PATH_READ_FRAMES: ["1001=rel/clean.exr"],
    }[spec.path]


def _raw_submit(address: str, header_pairs: list) -> wire.Message:
    """A submit whose header is packed pair by pair, so a key can be given twice (msgpack keeps the last)."""
    packer = msgpack.Packer(use_bin_type=True)

    def pack(value) -> bytes:
        if isinstance(value, list) and value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
            return packer.pack_map_header(len(value)) + b"".join(pack(k) + pack(v) for k, v in value)
        return packer.pack(value)

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(address)
    try:
        sock.send_multipart([pack(header_pairs)])
        assert sock.poll(30000), "no reply from the server"
        return wire.decode(sock.recv_multipart())
    finally:
        sock.close(0)


def _header(key: str, request_pairs: list) -> list:
    return [
        ("v", wire.PROTOCOL_VERSION),
        ("type", "submit"),
        ("req", 1),
        ("key", key),
        (wire.ACCESS_KEY_FIELD, wire.read_access_key()),
        ("request", request_pairs),
    ]


def test_the_server_refuses_relative_nested_duplicate_and_outside_paths_naming_the_key(server_factory, tmp_path):
    server = server_factory()
    shot = make_shot(server_factory.roots / "shot")
    outside = tmp_path / "outside"
    base = [("plate", shot["plate"]), ("matte", shot["matte"]), ("engine", "propagate")]
    inside = str(server_factory.roots / "out" / "clean.%04d.exr")
    for spec in path_fields():
        pairs = [(k, v) for k, v in base if k != spec.key] + [(spec.key, _relative_value(spec))]
        reply = _raw_submit(server.address, _header(f"rel-{spec.key}", pairs))
        assert reply.type == "error" and reply.get("code") == "config_error", reply.header
        assert spec.key in reply.get("message") and "relative" in reply.get("message")
    for spec in path_fields(PATH_WRITE):  # every written path is confined to the roots, whatever its key
        pattern = str(outside / spec.key / "x.%04d.exr")
        pairs = [*base, *{"out": inside, spec.key: pattern}.items()]
        reply = _raw_submit(server.address, _header(f"out-{spec.key}", pairs))
        assert reply.type == "error" and reply.get("code") == "output_error", reply.header
    nested = [*base, ("out", inside), ("matte_config", [("write", str(outside / "m.%04d.exr"))])]
    reply = _raw_submit(server.address, _header("nested", nested))
    assert reply.type == "error" and reply.get("code") == "config_error" and "'matte_config'" in reply.get("message")
    twice = [*base, ("out", inside), ("matte_write", inside.replace("clean", "m")), ("matte_write", str(outside))]
    reply = _raw_submit(server.address, _header("twice", twice))
    assert reply.type == "error" and reply.get("code") == "config_error" and "'matte_write'" in reply.get("message")
    assert not outside.exists()  # nothing was written outside the roots, under any spelling


def test_relative_paths_through_remove_server_mean_the_callers_folder(server_factory, tmp_path):
    """Before: ``--write-matte rel/...`` was refused as "must be absolute" and ``--ocio-config rel.ocio`` was
    looked up in the server's working folder; now both mean what they mean without ``--server``."""
    pytest.importorskip("PyOpenColorIO")
    import PyOpenColorIO as ocio

    server = server_factory()
    work = server_factory.roots / "work"
    shot = make_shot(work / "shot")
    ocio.Config.CreateFromFile("ocio://default").serialize(str(work / "studio.ocio"))
    done = subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", "--plate", os.path.relpath(shot["plate"], work), "--matte", os.path.relpath(shot["matte"], work),
        "--out", "clean/c.%04d.exr", "--write-matte", "check/m.%04d.exr", "--ocio-config", "studio.ocio",
        "--colorspace", "ACEScg", "--engine", "propagate", "--frames", "1001-1002", "--quiet",
        "--server", server.address], cwd=work, env=subprocess_env(), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (work / "check").iterdir()) == ["m.1001.exr", "m.1002.exr"]
    assert sorted(p.name for p in (work / "clean").iterdir()) == ["c.1001.exr", "c.1002.exr"]

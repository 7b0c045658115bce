"""Make the before/after picture of docs/hosts.md (Nuke and Resolve/Fusion) from a real run on the shared footage.

    python tests/standins/hosts_picture.py docs/img/nuke_fusion_remove_object.png

What runs: a real ``e2fgvi-server`` (propagate engine); the Nuke node's Process through the ``nuke`` stand-in (its
Write nodes render EXRs, the bridge submits them by path); the Fuse in LuaJIT through the Fuse API stand-in (it runs
``e2fgvi remove --server`` per chunk). The first 20 frames of the tennis clip (../shared/footage) with its masks as
the plate's alpha. Columns: the plate with the matte in red, the Nuke node's result, the Fuse's result; rows:
frames 5 and 15. It also prints whether the two hosts' results are identical.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import host_test_support as support

from e2fgvi_core.testing import SHARED_DIR

FOOTAGE = SHARED_DIR / "footage" / "tennis"
FRAMES = 20
SHOWN = (5, 15)


def load_shot(folder: Path) -> dict:
    """The clip as float RGBA EXRs with the mask in alpha (what an artist's Shuffle would give the node)."""
    for index in range(FRAMES):
        rgb = oiio.ImageBuf(str(FOOTAGE / "frames" / f"{index:05d}.png")).get_pixels(oiio.FLOAT)[..., :3]
        mask = oiio.ImageBuf(str(FOOTAGE / "masks" / f"{index:05d}.png")).get_pixels(oiio.FLOAT)
        alpha = (mask.max(axis=-1) > 0).astype(np.float32)
        support.write_exr(folder / f"plate.{index:04d}.exr", np.dstack([rgb, alpha]), ("R", "G", "B", "A"))
    return {"plate": str(folder / "plate.%04d.exr"), "first": 0, "last": FRAMES - 1}


def run_nuke(shot: dict, server, work: Path) -> dict[int, np.ndarray]:
    import nuke

    from e2fgvi_host.nuke import node as remove_node

    nuke.root()["first_frame"].setValue(shot["first"])
    nuke.root()["last_frame"].setValue(shot["last"])
    plate = nuke.nodes.Read(file=shot["plate"], first=shot["first"], last=shot["last"])
    created = remove_node.create()
    created.setInput(0, plate)
    for name, value in (("server", server.address), ("engine", "propagate"), ("matte_from", "Source alpha")):
        created[name].setValue(value)
    created["work_folder"].setValue(str(work))
    if not support.nuke_process(nuke, created):
        raise SystemExit(f"Nuke node failed: {nuke.standin.messages}")
    return {f: nuke.sample_image(created, f)[0] for f in SHOWN}


def run_fuse(shot: dict, server, cache: Path) -> dict[int, np.ndarray]:
    from fusion_session import FusionSession

    frames = {f: support.read_exr(shot["plate"] % f) for f in range(shot["first"], shot["last"] + 1)}
    session = FusionSession({"Source": frames}, shot["first"], shot["last"])
    # the footage's float EXRs are scene-linear like the Nuke node's default; the Fuse's default is Resolve's
    settings = (("engine", 3), ("server", server.address), ("matte_from", 1), ("cache", str(cache)), ("colorspace", ""))
    for name, value in settings:
        session.set(name, value)
    return {frame: session.render(frame) for frame in SHOWN}


def main(target: str) -> None:
    if not FOOTAGE.is_dir():
        raise SystemExit(f"no footage at {FOOTAGE}: set E2FGVI_SHARED_DIR to the shared/ folder")
    os.environ["E2FGVI_FUSE_COMMAND"] = support.cli_command()
    os.environ["PYTHONPATH"] = str(support.PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        shot = load_shot(root / "shot")
        server = support.start_server(root)
        try:
            nuke_frames = run_nuke(shot, server, root / "nuke")
            fuse_frames = run_fuse(shot, server, root / "fuse")
        finally:
            server.kill()
        rows = []
        for frame in SHOWN:
            plate = support.read_exr(shot["plate"] % frame)
            before = plate[..., :3].copy()
            before[plate[..., 3] > 0] = 0.4 * before[plate[..., 3] > 0] + 0.6 * np.array([1.0, 0.0, 0.0])
            rows.append(np.hstack([before, nuke_frames[frame][..., :3], fuse_frames[frame][..., :3]]))
            same = np.array_equal(nuke_frames[frame][..., :3], fuse_frames[frame][..., :3])
            print(f"frame {frame}: Nuke node and Fuse results identical: {same}")
    picture = np.clip(np.vstack(rows), 0.0, 1.0)
    out = oiio.ImageBuf(oiio.ImageSpec(picture.shape[1], picture.shape[0], 3, oiio.UINT8))
    out.set_pixels(oiio.ROI(), picture.astype(np.float32))
    if not out.write(target):
        raise SystemExit(out.geterror())
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1])

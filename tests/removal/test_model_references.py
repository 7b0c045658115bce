"""Reference (clean-plate) frames with the E2FGVI engines: every window holds them after the official references,
masked only where their alpha does not trust them, cropped and sized as the window's own frames.

With the deterministic parity weights: the output of a frame equals, bit for bit, the official ``test.py`` protocol
(windows of neighbours + every ``ref_step``-th frame, composite, running blend) built here by hand with the
reference frames appended to each window's model input; ``frames`` subsets and farm-like chunks equal the whole run;
a repainted reference is never a stale cache hit; and through ``e2fgvi remove`` the reference changes the fill.
Kept small (216x120 frames cropped to 108x60 windows, 10 frames, 5 local frames a window): a model window costs
about a second on a CPU.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from e2fgvi_core.cli.main import main as e2fgvi_main
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal
from e2fgvi_core.removal.cache import ShotCache
from e2fgvi_core.removal.engines import load_model
from e2fgvi_core.removal.roi import plan_geometry
from e2fgvi_core.testing import make_synthetic_shot, write_png_shot

SEED = 1
FIRST, LENGTH, HEIGHT, WIDTH = 1001, 10, 120, 216
# test.py's --neighbor_stride and --step, smaller than their defaults (5, 10): a window of 5 local frames costs about
# a tenth of one of 11 on a CPU
STRIDE, REF_STEP = 2, 4
CLEAN = {1003: False, 1007: True}  # reference frames; True: painted with an alpha that distrusts a corner
UNTRUSTED = (slice(40, 64), slice(0, 30))  # where 1007's alpha is 0 (it overlaps the hole at 1007)
OBJECT = (255, 40, 200)  # what the plate shows inside the matte


def _shot() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(plate uint8 (t, h, w, 3), mattes bool, clean background uint8): a panning texture under a moving object."""
    clean, mattes = make_synthetic_shot(LENGTH, HEIGHT, WIDTH, seed=5)
    plate = clean.copy()
    plate[mattes] = OBJECT
    return plate, mattes, clean


def _holes(mattes: np.ndarray) -> np.ndarray:
    """The official dilation (test.py): a 3x3 cross, 4 iterations."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    return np.stack([cv2.dilate(m.astype(np.uint8), cross, iterations=4) for m in mattes]).astype(bool)


def _write_references(folder, clean: np.ndarray) -> tuple[str, ...]:
    """The clean frames as the artist would save them; 1007 as RGBA with a distrusted corner."""
    entries = []
    for number, with_alpha in CLEAN.items():
        pixels = clean[number - FIRST]
        if with_alpha:
            alpha = np.full(pixels.shape[:2] + (1,), 255, np.uint8)
            alpha[UNTRUSTED] = 0
            pixels = np.concatenate([pixels, alpha], axis=-1)
        path = folder / f"clean.{number}.png"
        write_frame(path, Frame.from_array(pixels))
        entries.append(f"{number}={path}")
    return tuple(entries)


def _request(weights, references=(), **settings) -> RemovalRequest:
    mapping = {"engine": "e2fgvi_hq", "weights": str(weights), "device": "cpu", "roi": "auto", "roi_margin": 8}
    mapping.update(neighbor_stride=STRIDE, ref_step=REF_STEP)
    return RemovalRequest.from_mapping({**mapping, "reference": list(references), **settings})


def _run(request: RemovalRequest, plate, mattes, cache: ShotCache | None = None) -> dict[int, np.ndarray]:
    sink = MemorySink()
    frames = {FIRST + i: f for i, f in enumerate(plate)}
    matte_frames = {FIRST + i: m.astype(np.uint8) * 255 for i, m in enumerate(mattes)}
    run_removal(
        request, source=MemorySource(frames), matte_source=MemorySource(matte_frames, "matte"), sink=sink, cache=cache
    )
    return {number: frame.pixels for number, frame in sink.frames.items()}


def _staged_window(model, frames: torch.Tensor, num_local: int) -> torch.Tensor:
    """``model(frames, num_local)[0][:num_local]`` computed by its stages one frame (or pair) per call: the
    official forward's arithmetic in the batch sizes the engine uses (a batched convolution may differ in the last
    bit, so this is what bit-for-bit equality is checked against; the forward itself is checked to 1e-4)."""
    with torch.inference_mode():
        feats = [model.encode(frames[:, i])[0] for i in range(frames.shape[1])]
        small = [model.flow_inputs(frames[:, i]) for i in range(num_local)]
        forward = [model.estimate_flows(small[i], small[i + 1])[0] for i in range(num_local - 1)]
        backward = [model.estimate_flows(small[i + 1], small[i])[0] for i in range(num_local - 1)]
        feat = model.propagate(
            torch.stack(feats[:num_local])[None], torch.stack(forward)[None], torch.stack(backward)[None]
        )
        feat = torch.cat([feat, torch.stack(feats[num_local:])[None]], dim=1)
        feat = feat + model.hallucinate(feat)
        pred = torch.cat([model.decode(feat[0, i : i + 1]) for i in range(num_local)])
        official, _ = model(frames, num_local)
    assert (official[:num_local] - pred).abs().max() <= 1e-4  # the same computation as the official forward
    return pred


def _official_input(u8: np.ndarray) -> torch.Tensor:
    """(n, h, w, 3) uint8 -> (n, 3, h, w) float32 in [-1, 1], as test.py: ``u8.float().div(255) * 2 - 1``."""
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float().div(255) * 2 - 1


def _official_frame(model, plate, mattes, clean, position: int) -> np.ndarray:
    """Frame ``position`` by the official test.py protocol with the reference frames appended to every window."""
    holes = _holes(mattes)
    masked = _official_input(plate) * (1 - torch.from_numpy(holes).float()[:, None])
    clean_ids = sorted(n - FIRST for n in CLEAN)
    untrusted = np.zeros((len(clean_ids), HEIGHT, WIDTH), bool)
    untrusted[clean_ids.index(1007 - FIRST)][UNTRUSTED] = True  # alpha 0 < 0.5: masked like a hole
    references = _official_input(clean[clean_ids]) * (1 - torch.from_numpy(untrusted).float()[:, None])
    comp = None
    for center in range(0, LENGTH, STRIDE):
        neighbor_ids = list(range(max(0, center - STRIDE), min(LENGTH, center + STRIDE + 1)))
        if position not in neighbor_ids:
            continue
        ref_ids = [i for i in range(0, LENGTH, REF_STEP) if i not in neighbor_ids]
        # --roi auto: the window's crop (the engine's own rule), the same for plate and references
        geometry = plan_geometry(
            (WIDTH, HEIGHT), [holes[i] for i in neighbor_ids], roi="auto", margin=8, proxy=1.0, engine="e2fgvi_hq"
        )
        x0, y0, x1, y1 = geometry.rect
        assert (x1 - x0, y1 - y0) == (108, 60)  # a real crop of the 216x120 frame, no padding needed
        window = torch.cat([masked[neighbor_ids + ref_ids], references])[None, :, :, y0:y1, x0:x1]
        pred = _staged_window(model, window.contiguous(), len(neighbor_ids))
        pred = ((pred + 1) / 2).permute(0, 2, 3, 1).numpy() * 255
        full = plate[position].astype(np.float32)
        full[y0:y1, x0:x1] = pred[neighbor_ids.index(position)]
        img = np.where(holes[position][..., None], full.astype(np.uint8), plate[position])
        comp = img if comp is None else comp.astype(np.float32) * 0.5 + img.astype(np.float32) * 0.5
    return comp.astype(np.uint8)


def test_a_frame_equals_the_official_window_with_the_reference_frames_appended(make_checkpoint, tmp_path):
    weights = make_checkpoint(SEED)
    plate, mattes, clean = _shot()
    references = _write_references(tmp_path, clean)
    model, _ = load_model(str(weights), "e2fgvi_hq", torch.device("cpu"))  # the engine's own instance
    # frame 1006: windows centred on 4 (locals 2-6, the references' own frames among them, official references 0
    # and 8) and 6 (locals 4-8, official reference 0)
    number = FIRST + 5
    out = _run(_request(weights, references, frames=str(number), shot=f"{FIRST}-{FIRST + LENGTH - 1}"), plate, mattes)
    np.testing.assert_array_equal(out[number], _official_frame(model, plate, mattes, clean, number - FIRST))


def test_references_are_shot_level_chunks_equal_the_whole_run_and_a_repaint_is_no_stale_hit(make_checkpoint, tmp_path):
    weights = make_checkpoint(SEED)
    plate, mattes, clean = _shot()
    shared = ShotCache()  # a server's: kept across the two jobs
    first = _run(_request(weights, _write_references(tmp_path, clean)), plate, mattes, shared)
    repainted = tmp_path / "repainted"
    repainted.mkdir()
    painted = np.ascontiguousarray(clean[..., ::-1])  # other pixels, same frames
    references = _write_references(repainted, painted)
    whole = _run(_request(weights, references), plate, mattes, shared)
    stats = shared.stats()  # the plate's features and flows came from the cache, every window ran again
    assert stats.misses_by_kind["windows"] == 2 * 5 and stats.hits_by_kind["features"] > 0
    assert any(not np.array_equal(whole[n], first[n]) for n in whole)  # the references take part
    holes = _holes(mattes)
    for number, with_alpha in CLEAN.items():  # at its own frame a reference is the answer where it is trusted
        hole, trusted = holes[number - FIRST], holes[number - FIRST].copy()
        if with_alpha:
            trusted[UNTRUSTED] = False
        np.testing.assert_array_equal(whole[number][trusted], painted[number - FIRST][trusted])
        distrusted = hole & ~trusted
        assert not with_alpha or not np.array_equal(whole[number][distrusted], painted[number - FIRST][distrusted])
    shot = f"{FIRST}-{FIRST + LENGTH - 1}"
    chunks = {}
    for frames in ("1001-1005", "1006-1010"):  # farm-like chunks: the whole shot named, a fresh process's cache
        chunks.update(_run(_request(weights, references, frames=frames, shot=shot), plate, mattes, ShotCache()))
    for number, pixels in whole.items():  # equal to the whole run that followed another reference on one cache
        np.testing.assert_array_equal(chunks[number], pixels, err_msg=f"frame {number}")


def test_e2fgvi_remove_with_a_reference_changes_the_fill_and_nothing_outside_it(
    make_checkpoint, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("E2FGVI_WEIGHTS_DIR", str(tmp_path / "store"))  # no weights of the user's own
    weights = make_checkpoint(SEED)
    plate, mattes, clean = _shot()
    folder = write_png_shot(tmp_path / "shot", plate, mattes.astype(np.uint8) * 255)
    references = _write_references(tmp_path, clean)
    common = ["remove", "--plate", str(folder / "plate.%04d.png"), "--matte", str(folder / "matte.%04d.png")]
    common += ["--engine", "e2fgvi_hq", "--weights", str(weights), "--device", "cpu", "--quiet"]
    common += ["--neighbor-stride", str(STRIDE), "--ref-step", str(REF_STEP)]
    common += ["--frames", "1001-1002", "--shot", f"{FIRST}-{FIRST + LENGTH - 1}"]
    assert e2fgvi_main([*common, "--out", str(tmp_path / "plain" / "c.%04d.png")]) == 0
    with_refs = [arg for entry in references for arg in ("--reference", entry)]
    assert e2fgvi_main([*common, "--out", str(tmp_path / "ref" / "c.%04d.png"), *with_refs]) == 0
    holes = _holes(mattes)
    for number in (1001, 1002):
        plain = read_frame(tmp_path / "plain" / f"c.{number}.png").pixels
        ref = read_frame(tmp_path / "ref" / f"c.{number}.png").pixels
        hole = holes[number - FIRST]
        np.testing.assert_array_equal(ref[~hole], plate[number - FIRST][~hole])  # outside the hole: the plate
        assert not np.array_equal(ref[hole], plain[hole])  # the reference reaches the fill
        assert "e2fgvi:reference" in read_frame(tmp_path / "ref" / f"c.{number}.png").metadata
    capsys.readouterr()
    outside_shot = e2fgvi_main([*common, "--out", str(tmp_path / "bad" / "c.%04d.png"), "--reference", "999=x.png"])
    assert outside_shot == 2 and "reference frame 999" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_the_plan_puts_every_reference_in_every_model_window_beside_the_official_ones():
    from e2fgvi_core.errors import ConfigError
    from e2fgvi_core.removal.config import EngineConfig
    from e2fgvi_core.removal.plan import plan_frames, plan_shot

    official = plan_shot(LENGTH, EngineConfig())
    plan = plan_shot(LENGTH, EngineConfig(), clean=(6, 2))
    assert all(window.clean == (2, 6) for window in plan.windows)
    assert [(w.local, w.refs) for w in plan.windows] == [(w.local, w.refs) for w in official.windows]
    subset = plan_frames(plan, [LENGTH - 1])
    assert subset.windows and all(w.clean == (2, 6) for w in subset.windows)  # a chunk holds them all too
    assert subset.reads == plan_frames(official, [LENGTH - 1]).reads  # they are not plate reads
    with pytest.raises(ConfigError, match="outside the shot"):
        plan_shot(LENGTH, EngineConfig(), clean=(LENGTH,))


def test_a_reference_is_cropped_and_sized_as_the_plate_frames_of_its_window():
    """Through the runner's own resizers: an 8-bit plate's references as 8-bit frames (Pillow's bicubic, as
    test.py resizes frames), a float plate's in float; the distrusted pixels resized as a matte (nearest)."""
    from e2fgvi_core.propagate.references import Reference
    from e2fgvi_core.removal.engines import clean_frame_input
    from e2fgvi_core.removal.prepare import resize_display, resize_matte

    height, width = 240, 432  # a proxy of 0.5 crops to 120x216 (twice the model's multiple) inside it
    pixels = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    trust = np.ones((height, width), np.float32)
    trust[100:110, 150:170] = 0.25
    reference = Reference(pixels.astype(np.float32) / 255.0, trust)
    hole = np.zeros((height, width), bool)
    hole[96:116, 140:180] = True
    geometry = plan_geometry((width, height), [hole], roi="auto", margin=8, proxy=0.5, engine="e2fgvi_hq")
    x0, y0, x1, y1 = geometry.rect
    assert geometry.resized and not geometry.is_full_frame
    untrusted = resize_matte(trust[y0:y1, x0:x1] < 0.5, geometry.proc_wh)
    assert untrusted.any() and not untrusted.all()
    display, masked = clean_frame_input(reference, geometry, quantised=True)
    assert display.dtype == np.uint8
    np.testing.assert_array_equal(display, resize_display(np.ascontiguousarray(pixels[y0:y1, x0:x1]), geometry.proc_wh))
    np.testing.assert_array_equal(masked, untrusted)
    display, masked = clean_frame_input(reference, geometry, quantised=False)
    expected = resize_display(np.ascontiguousarray(reference.rgb[y0:y1, x0:x1]), geometry.proc_wh)
    assert display.dtype == np.float32 and np.array_equal(display, expected) and np.array_equal(masked, untrusted)

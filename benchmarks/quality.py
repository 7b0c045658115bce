"""Video-completion quality benchmark on real footage (``make bench-quality``).

Why: the weight-free ``propagate`` engine and E2FGVI need one yardstick, measured the way the E2FGVI paper
measures: real clips are the ground truth, seeded synthetic masks are removed, and the result is scored against the
original frames. Two mask kinds, as in the paper: *static* blobs (same on every frame) and *object* masks (the
other clip's object masks, moved over the frame by a seeded drift). Engines compared on the same masks: per-frame
``cv2.inpaint`` (Telea) as a baseline, ``propagate``, and E2FGVI-HQ when a checkpoint is installed.

Every engine goes files in -> files out (8-bit PNG plate and matte, PNG result), so its frames/s include I/O;
``propagate`` and E2FGVI-HQ run through the shot engine (``e2fgvi_core.removal.api.run_removal``).

Writes ``docs/quality.md`` (table) and ``docs/img/quality_<clip>_<masks>.png`` (contact sheets). VFID is added
when the user names I3D weights (``--i3d-weights PATH`` or ``E2FGVI_I3D_WEIGHTS``; see ``e2fgvi_core/metrics/i3d.py``).
Usage: ``python benchmarks/quality.py [--frames N] [--clips tennis schoolgirls] [--i3d-weights PATH] [--no-docs]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2fgvi_core import metrics
from e2fgvi_core.errors import E2fgviError
from e2fgvi_core.mask_synthesis import dilate_masks, object_masks, static_masks
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.propagate.global_motion import MOVING_PX
from e2fgvi_core.removal.api import RemovalRequest, run_removal
from e2fgvi_core.removal.prepare import dilate_hole
from e2fgvi_core.testing import SHARED_DIR

if TYPE_CHECKING:
    from e2fgvi_core.metrics.i3d import InceptionI3d

DEFAULT_FOOTAGE = SHARED_DIR / "footage"
CLIPS = ("tennis", "schoolgirls")
MASK_KINDS = ("object", "static")
SHEET_SCALE = 0.5
DETAIL_RANGE = (0.7, 1.3)  # hole detail between a smear and noise (the weight-free issue's target, every row)
EXACT_FRAME_PSNR = 60.0  # a frame left exact has infinite PSNR; it counts as this in the background-exact mean


@dataclass
class Score:
    """One engine's numbers on one clip and mask kind."""

    engine: str
    psnr: float
    ssim: float
    hole_psnr: float
    hole_ssim: float
    background_psnr: float
    psnr_background_exact: float
    ewarp: float
    hole_ewarp: float
    hole_detail: float
    fps: float
    outside_identical: bool
    vfid: float = float("nan")  # set when I3D weights were given


# ----------------------------------------------------------------------------------------------------------- data
def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"quality benchmark: cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_clip(footage: Path, clip: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Frames (t, h, w, 3) uint8 RGB and object masks (t, h, w) bool of a clip of ``../shared/footage``."""
    names = sorted((footage / clip / "frames").glob("*.png"))
    if not names:
        raise SystemExit(
            f"quality benchmark: no frames in {footage / clip / 'frames'}; see ../shared/footage/README.md"
        )
    names = names[:limit] if limit else names
    frames = np.stack([read_rgb(p) for p in names])
    masks = np.stack([cv2.imread(str(footage / clip / "masks" / p.name), cv2.IMREAD_GRAYSCALE) > 0 for p in names])
    return frames, masks


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Atomic PNG write (temp file in the same folder + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.tmp{os.getpid()}.png")
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    if not cv2.imwrite(str(temp), image):
        raise SystemExit(f"quality benchmark: cannot write {temp}")
    os.replace(temp, path)


# -------------------------------------------------------------------------------------------------------- engines
def run_telea(plate: Path, matte: Path, out: Path, count: int) -> float:
    """Per-frame OpenCV Telea inpainting, files in -> files out; returns seconds."""
    start = time.perf_counter()
    for i in range(count):
        frame = cv2.imread(str(plate / f"{i:05d}.png"), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(matte / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0
        hole = dilate_hole(mask).astype(np.uint8)
        filled = cv2.inpaint(frame, hole, 5, cv2.INPAINT_TELEA)
        write_png(out / f"{i:05d}.png", cv2.cvtColor(filled, cv2.COLOR_BGR2RGB))
    return time.perf_counter() - start


def run_engine(engine: str, plate: Path, matte: Path, out: Path, count: int, config: dict) -> float:
    """``propagate`` / ``e2fgvi_hq`` through the shot engine's public API; returns seconds (I/O included)."""
    request = RemovalRequest.from_mapping(
        {
            "plate": str(plate / "%05d.png"),
            "matte": str(matte / "%05d.png"),
            "out": str(out / "%05d.png"),
            "frames": f"0-{count - 1}",
            "engine": engine,
            **config,
        }
    )
    start = time.perf_counter()
    run_removal(request)
    return time.perf_counter() - start


def run_with_reference(
    gt: np.ndarray, plate: Path, matte: Path, out: Path, reference: int, config: dict
) -> tuple[np.ndarray, float]:
    """``propagate`` given the ground truth's frame ``reference`` as a clean (reference) frame, through the request
    path (``reference`` key, the frame written as a PNG file); returns the results (t, h, w, 3) uint8 and seconds
    (I/O included, as the other rows)."""
    clean = out.parent / f"reference_{reference:05d}.png"
    write_png(clean, gt[reference])
    out.mkdir()
    config = {**config, "reference": [f"{reference}={clean}"]}
    seconds = run_engine("propagate", plate, matte, out, len(gt), config)
    return read_results(out, len(gt)), seconds


def hq_available() -> bool:
    """True when an E2FGVI-HQ checkpoint is installed (never downloads one)."""
    try:
        from e2fgvi_core.weights import installed_weights
    except ImportError:
        return False
    try:
        return any(w.variant == "e2fgvi_hq" for w in installed_weights())
    except Exception:  # noqa: BLE001 - a broken store means "not available" for a benchmark
        return False


# ----------------------------------------------------------------------------------------------------------- VFID
def load_vfid_network(path: Path | None, notes: list[str]) -> InceptionI3d | None:
    """The I3D network for VFID from the user's weights, or ``None`` (VFID skipped; ``notes`` says which).

    torch is imported only here, so without weights the benchmark stays numpy + OpenCV. A file that is absent or
    not I3D RGB weights raises ``CheckpointError`` (``main`` prints it on one line and exits 2).
    """
    if path is None:
        notes.append(
            "VFID skipped: needs user-supplied I3D weights (`--i3d-weights` or E2FGVI_I3D_WEIGHTS); nothing is"
            " downloaded."
        )
        return None
    from e2fgvi_core.metrics.i3d import load_i3d
    from e2fgvi_core.weights import file_sha256

    path = path.expanduser()
    network = load_i3d(path)
    notes.append(f"VFID: I3D weights `{path.name}` (sha256 {file_sha256(path)[:12]}).")
    return network


def vfid_protocol() -> list[str]:
    """The protocol bullet of VFID for ``docs/quality.md`` (only when it was computed)."""
    from e2fgvi_core.metrics.i3d import CHUNK_FRAMES, CHUNK_STRIDE, FEATURE_DIM

    return [
        "* **VFID** (lower is closer): Frechet distance between Gaussians fitted to the I3D features of the ground",
        "  truth and of the composited result (Inception-v1 I3D, `Mixed_5c` averaged over time and space,",
        f"  {FEATURE_DIM}-d; RGB in [0, 1]; batch norm with the clip's own statistics, as the paper's evaluation,",
        "  which leaves the network in training mode). The paper fits one vector per test video over its test set;",
        f"  a case here is one clip, so each sample is a chunk of {CHUNK_FRAMES} consecutive frames (one every",
        f"  {CHUNK_STRIDE} frames, the last ending on the last frame). Values depend on the weights (see Notes).",
    ]


# -------------------------------------------------------------------------------------------------------- scoring
def score(
    engine: str, gt: np.ndarray, holes: np.ndarray, objects: np.ndarray, result: np.ndarray, warps, seconds: float
) -> Score:
    """Paper protocol on 8-bit composites; hole-only PSNR/SSIM (7-pixel window); E_warp whole and in the hole.

    ``objects``: the clip's own (dilated) object masks. Hole pixels on them show a moving foreground object in the
    ground truth, which no frame shows behind the mask; ``background_psnr`` scores the other hole pixels only.
    """
    outside_identical = bool(np.array_equal(result[~holes], gt[~holes]))
    composite = np.where(holes[..., None], result, gt)
    # A frame left exact (a reference frame, the ground truth's own row) has infinite PSNR: it counts as
    # EXACT_FRAME_PSNR, so a mean over frames stays finite.
    whole = [metrics.paper_psnr_ssim(g, c) for g, c in zip(gt, composite)]
    whole = [(min(p, EXACT_FRAME_PSNR), s) for p, s in whole]
    hole_psnr = [min(metrics.psnr(g, c, 255.0, h), EXACT_FRAME_PSNR) for g, c, h in zip(gt, composite, holes)]
    hole_ssim = [metrics.ssim(g, c, 255.0, 7, h) for g, c, h in zip(gt, composite, holes)]
    background = holes & ~objects
    background_psnr = (
        min(metrics.psnr(gt[background], composite[background], 255.0), EXACT_FRAME_PSNR)
        if background.any()
        else float("nan")
    )
    # The ceiling of background recovery: this engine's result with the background part of the hole made exact
    # (what is left is the hole on the clip's own moving objects, which no frame shows).
    exact = np.where(background[..., None], gt, composite)
    per_frame = [min(metrics.psnr(g, c, 255.0), EXACT_FRAME_PSNR) for g, c in zip(gt, exact)]
    psnr_background_exact = float(np.mean(per_frame))
    as_float = composite.astype(np.float32) / 255.0
    return Score(
        engine=engine,
        psnr=float(np.mean([p for p, _ in whole])),
        ssim=float(np.mean([s for _, s in whole])),
        hole_psnr=float(np.nanmean(hole_psnr)),
        hole_ssim=float(np.nanmean(hole_ssim)),
        background_psnr=background_psnr,
        psnr_background_exact=psnr_background_exact,
        ewarp=metrics.warping_error(as_float, warps),
        hole_ewarp=metrics.warping_error(as_float, warps, regions=holes[:-1]),
        hole_detail=metrics.hole_detail(composite, gt, holes),
        fps=len(gt) / seconds,
        outside_identical=outside_identical,
    )


def read_results(folder: Path, count: int) -> np.ndarray:
    return np.stack([read_rgb(folder / f"{i:05d}.png") for i in range(count)])


# ---------------------------------------------------------------------------------------------------- contact sheet
def contact_sheet(gt: np.ndarray, holes: np.ndarray, results: dict[str, np.ndarray], path: Path) -> None:
    """Rows: a few frames; columns: input (hole greyed), mask, each engine, ground truth; labelled."""
    t = len(gt)
    picks = sorted({t // 5, t // 2, (4 * t) // 5})
    columns = ["input", "mask"] + list(results) + ["ground truth"]
    rows = []
    for i in picks:
        masked = gt[i].copy()
        masked[holes[i]] = (0.5 * masked[holes[i]] + 0.5 * np.array([0, 200, 0])).astype(np.uint8)
        mask = np.repeat((holes[i] * 255).astype(np.uint8)[..., None], 3, axis=2)
        tiles = [masked, mask] + [np.where(holes[i][..., None], r[i], gt[i]) for r in results.values()] + [gt[i]]
        small = [cv2.resize(tile, None, fx=SHEET_SCALE, fy=SHEET_SCALE, interpolation=cv2.INTER_AREA) for tile in tiles]
        rows.append(np.concatenate([_pad(s) for s in small], axis=1))
    header = np.full((22, rows[0].shape[1], 3), 255, np.uint8)
    width = rows[0].shape[1] // len(columns)
    for k, name in enumerate(columns):
        cv2.putText(header, name, (k * width + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_png(path, np.concatenate([header] + rows, axis=0))


def _pad(tile: np.ndarray) -> np.ndarray:
    return cv2.copyMakeBorder(tile, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))


# ----------------------------------------------------------------------------------------------------------- docs
def markdown(
    table: dict[tuple[str, str], list[Score]],
    shares: dict[tuple[str, str], float],
    args,
    notes: list[str],
    elapsed_s: float,
) -> str:
    lines = [
        "# Quality: video completion on real footage",
        "",
        "Generated by `make bench-quality` (`python benchmarks/quality.py"
        + (f" --frames {args.frames}" if args.frames else "")
        + f" --seed {args.seed}`); do not edit by hand. Total run time {elapsed_s:.0f} s.",
        "",
        "Protocol (the E2FGVI paper's `evaluate.py`): the clips of `../shared/footage/` are the ground truth; seeded",
        "synthetic masks are removed and each result is composited into the ground truth outside the (dilated) hole,",
        "quantised to 8 bits and scored per frame, then averaged over the frames of the clip:",
        "",
        "* **PSNR / SSIM**: whole frame, peak 255, SSIM with a 65-pixel uniform window averaged over RGB (paper).",
        "* **hole PSNR / SSIM**: inside the hole only (SSIM: 7-pixel window, map averaged over hole pixels).",
        "* **E_warp** (x 10^-3, lower is steadier): mean squared difference of output t and output t+1 warped back,",
        "  RGB in [0, 1], over pixels where the flow is consistent (whole frame / hole pixels of frame t); flow:",
        f"  {metrics.EWARP_FLOW_METHOD}.",
        "* **hole detail** (1 = as much fine detail as the truth; a smear scores near 0, noise above 1): luma minus",
        f"  its Gaussian blur (sigma {metrics.completion.HOLE_DETAIL_SIGMA:g}), squared, averaged over the hole",
        "  pixels of all frames, of the composite divided by that of the ground truth (PSNR rewards blur;",
        "  detail and E_warp together do not).",
        "* **frames/s**: files in -> files out (read PNG plate and matte, fill, composite, write PNG), one process,",
        (
            f"  {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), 1-minute load average"
            f" {os.getloadavg()[0]:.1f} when the table was written (the run's own work included)."
        ),
        "* Masks: *object* = the other clip's object masks (ping-pong over its frames) swept across the frame at a",
        "  seeded constant speed (1.5-3 px/frame, bouncing within +-25% of the width); *static* = seeded blobs, the",
        "  same on every frame. The engine dilates them (3x3 cross, 4 iterations); the hole scored is that matte.",
        "* Engines: `telea` = per-frame `cv2.inpaint` (Telea, radius 5); `propagate` = this project's weight-free",
        f"  engine through `run_removal` (`--engine propagate`, `--roi {args.roi}`); `e2fgvi_hq` = when a",
        "  checkpoint is installed.",
        "* **hole on objects**: share of the hole's pixels that lie on the clip's own moving objects (its masks,",
        "  dilated): there the ground truth is a moving person that no frame shows behind the mask, which no",
        "  propagation can recover; **background PSNR** scores the other hole pixels only (pooled over the clip);",
        "  **PSNR, background exact**: the whole-frame PSNR the engine would score if the background part of its",
        "  hole were exact (its fill on the objects kept): the most that better background recovery can give",
        f"  (a frame left exact counts as {EXACT_FRAME_PSNR:.0f} dB).",
    ]
    with_vfid = bool(args.i3d_weights)
    if with_vfid:
        lines += vfid_protocol()
    lines += [
        "",
        (
            "| clip | masks | hole on objects | engine | PSNR | SSIM | hole PSNR | hole SSIM | background PSNR"
            " | PSNR, background exact | E_warp | hole E_warp | hole detail | frames/s | outside identical |"
            + (" VFID |" if with_vfid else "")
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if with_vfid else ""),
    ]
    for (clip, kind), scores in table.items():
        for s in scores:
            lines.append(
                f"| {clip} | {kind} | {100 * shares[(clip, kind)]:.0f}% | {s.engine} | {s.psnr:.2f} | {s.ssim:.4f}"
                f" | {s.hole_psnr:.2f} | {s.hole_ssim:.4f} | {s.background_psnr:.2f} | {s.psnr_background_exact:.2f}"
                f" | {1e3 * s.ewarp:.3f} | {1e3 * s.hole_ewarp:.3f} | {s.hole_detail:.3f} | {s.fps:.1f}"
                f" | {'yes' if s.outside_identical else 'NO'} |" + (f" {s.vfid:.4f} |" if with_vfid else "")
            )
    lines += ["", "## Targets", ""]
    for (clip, kind), scores in table.items():
        by = {s.engine: s for s in scores}
        if "telea" in by and "propagate" in by:
            gain = by["propagate"].psnr - by["telea"].psnr
            steadier = by["propagate"].ewarp < by["telea"].ewarp
            lines.append(
                f"* {clip} / {kind}: propagate - telea whole-frame PSNR = {gain:+.2f} dB"
                + (" (target >= +3 dB)" if kind == "object" else "")
                + (
                    "; ceiling with the background part of the hole exact:"
                    f" {by['propagate'].psnr_background_exact - by['telea'].psnr:+.2f} dB"
                    if kind == "object"
                    else ""
                )
                + f"; E_warp {'lower' if steadier else 'NOT lower'} than telea"
                f" ({1e3 * by['propagate'].ewarp:.3f} vs {1e3 * by['telea'].ewarp:.3f});"
                f" propagate {by['propagate'].fps:.1f} frames/s (target >= 5)"
            )
    for (clip, kind), scores in table.items():
        by = {s.engine: s for s in scores}
        if "propagate" in by and "(ground truth)" in by:
            p, truth = by["propagate"], by["(ground truth)"]
            line = (
                f"* {clip} / {kind}: propagate hole detail {p.hole_detail:.3f} (target 0.7-1.3:"
                f" {'met' if DETAIL_RANGE[0] <= p.hole_detail <= DETAIL_RANGE[1] else 'NOT met'}), hole E_warp"
                f" {1e3 * p.hole_ewarp:.3f} (the ground truth's own {1e3 * truth.hole_ewarp:.3f})"
            )
            if "propagate + reference" in by:
                r = by["propagate + reference"]
                line += (
                    f"; with one reference frame: PSNR {r.psnr - p.psnr:+.2f} dB over propagate, hole detail"
                    f" {r.hole_detail:.3f}, hole E_warp {1e3 * r.hole_ewarp:.3f}"
                )
            lines.append(line)
    capped = [
        f"{clip} / {kind}"
        for (clip, kind), scores in table.items()
        if kind == "object"
        and {"telea", "propagate"} <= {s.engine for s in scores}
        and next(s for s in scores if s.engine == "propagate").psnr_background_exact
        - next(s for s in scores if s.engine == "telea").psnr
        < 3.0
    ]
    if capped:
        lines += [
            "",
            f"On {', '.join(capped)} even an exact background part of the hole stays below +3 dB over telea: the",
            "rest of the error lies on the clip's own moving objects under the mask (a person whose limbs move where",
            "no frame shows them). Fetching them from other frames needs their motion inside the hole:",
            "docs/propagation_ceiling.md (`make bench-ceiling`) feeds the same engine the ground-truth flow, which",
            "no real run has, and only then does it clear +3 dB; with its own smooth (harmonic) flow completion it",
            "stays at the gain above. Closing that gap takes a learned flow completion and hallucination (E2FGVI-HQ).",
        ]
    lines += ["", "## Contact sheets", ""]
    for clip, kind in table:
        lines += [f"{clip}, {kind} masks:", "", f"![{clip} {kind}](img/quality_{clip}_{kind}.png)", ""]
    lines += ["## Notes", ""] + [f"* {n}" for n in notes] + [""]
    lines += [
        "## The propagate engine in brief",
        "",
        "`e2fgvi_core.propagate.PropagateInpainter` (numpy + OpenCV, no torch, no weights): OpenCV DIS flow between",
        "adjacent frames on the masked frames (holes pre-filled smoothly), flow inside the dilated holes of both",
        "frames replaced by a multi-scale harmonic fill (push-pull pyramid + Jacobi sweeps); the camera motion of",
        "each frame pair fitted as a homography (RANSAC on the measured flow around the holes, then least",
        "squares on the points within 1 px of it until they settle, so a few points more or fewer do not",
        "flip the fit), pixels whose",
        (
            f"measured flow departs from it by more than {MOVING_PX:g} px flagged as moving foreground. Hole pixels"
            " whose completed"
        ),
        "flow follows the camera motion (within `CAMERA_MOTION_PX`) take their colour along the composed",
        "homographies from the nearest frames, both directions, that show them as non-moving background (no drift",
        "in large holes, no ghosts of passers-by); the others follow flow chains to the nearest frames that see",
        (
            f"them (forward-backward checked, the nearest {PropagateConfig().candidates_per_direction} per direction"
            " (`CANDIDATES_PER_DIRECTION`), both directions weighted by distance and"
        ),
        "agreement). Colours are sampled with a Lanczos kernel, clamped to the 2x2 pixels around each sample",
        "(`RESAMPLE_KERNEL`). Pixels that no frame shows as background under a known camera motion, and pixels no",
        "chain reaches, are painted by OpenCV Telea plus the fine-detail band of the surroundings (`SPATIAL_DETAIL`,",
        "copied from beside the hole on key frames, then carried); the colour difference on the hole border is",
        "diffused into the propagated pixels (seam correction). What no frame shows is blended with the previous",
        "output frame carried along the motion (`TEMPORAL_SPATIAL_FILL` of it), so painted areas do not flicker.",
        "A reference (clean) frame's trusted pixels are known pixels of its frame; hole pixels that follow the camera",
        "take its colour directly along the camera motion (composed, then aligned on the two frames themselves:",
        "no drift) where no nearer frame shows them, but only where the reference shows what that frame shows: what",
        "differs between the two (camera-compensated) seeds *moving*, the rest *still*, and a watershed on the",
        "reference's colours extends both into the hole (people in the reference fill the frames that show them too,",
        "and leave no ghost in the frames they have left).",
        "Options: `PropagateConfig` fields, also settable as",
        "environment variables `E2FGVI_PROPAGATE_<FIELD>`: "
        + ", ".join(f"`{f.name.upper()}`" for f in dataclasses.fields(PropagateConfig))
        + ".",
        "",
    ]
    return "\n".join(lines)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    temp.write_text(text)
    os.replace(temp, path)


# ----------------------------------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE, help="folder with tennis/ and schoolgirls/")
    parser.add_argument("--frames", type=int, default=None, help="use only the first N frames of each clip")
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=CLIPS)
    parser.add_argument("--kinds", nargs="+", default=list(MASK_KINDS), choices=MASK_KINDS)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--roi", default="full", choices=["full", "auto"], help="engine ROI mode for propagate")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where quality.md and img/ go")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    parser.add_argument("--no-reference", action="store_true", help="skip the propagate + reference rows")
    parser.add_argument(
        "--skip", nargs="+", default=[], choices=["telea", "propagate"], help="engines to leave out (faster iteration)"
    )
    parser.add_argument(
        "--i3d-weights",
        type=Path,
        default=os.environ.get("E2FGVI_I3D_WEIGHTS") or None,
        help="I3D RGB weights (i3d_rgb_imagenet.pt of pytorch-i3d) to add VFID; default $E2FGVI_I3D_WEIGHTS",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.footage.is_dir():
        print(f"quality benchmark: {args.footage} is absent; put the project's shared/ folder beside the checkout")
        return 2
    started = time.perf_counter()
    notes = []
    engines = [e for e in ("telea", "propagate") if e not in args.skip]
    if hq_available():
        engines.append("e2fgvi_hq")
    else:
        notes.append("e2fgvi_hq skipped: no E2FGVI-HQ checkpoint installed (`e2fgvi weights add ...`).")
    if not args.no_reference:
        notes.append(
            "`propagate + reference`: the ground truth's middle frame given as one reference (clean-plate) frame, written"
            " as a PNG file and given through the request's `reference` key (`--reference FRAME=PATH`), files in ->"
            " files out like the other rows."
        )
    try:
        i3d_network = load_vfid_network(args.i3d_weights, notes)
    except E2fgviError as exc:
        print(f"quality benchmark: {exc}")
        return 2
    if i3d_network is not None:
        from e2fgvi_core.metrics import i3d  # torch only when VFID is asked for
    clips = {c: load_clip(args.footage, c, args.frames) for c in CLIPS}
    table: dict[tuple[str, str], list[Score]] = {}
    shares: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="e2fgvi-quality-") as temp:
        work = Path(temp)
        for clip in args.clips:
            gt, own = clips[clip]
            objects = dilate_masks(own)
            other = clips[next(c for c in CLIPS if c != clip)][1]
            warps = metrics.ground_truth_warps(gt)
            for kind in args.kinds:
                seed = args.seed + 17 * CLIPS.index(clip) + MASK_KINDS.index(kind)
                if kind == "static":
                    masks = static_masks(gt.shape[:3], seed)
                else:
                    masks = object_masks(other, gt.shape[:3], seed)
                holes = dilate_masks(masks)
                shares[(clip, kind)] = float((holes & objects).sum() / max(holes.sum(), 1))
                case = work / f"{clip}_{kind}"
                for i in range(len(gt)):
                    write_png(case / "plate" / f"{i:05d}.png", gt[i])
                    write_png(case / "matte" / f"{i:05d}.png", (masks[i] * 255).astype(np.uint8))
                results, scores = {}, []
                real_features = i3d.video_features(gt, i3d_network) if i3d_network is not None else None
                for engine in engines:
                    out = case / engine
                    out.mkdir()
                    if engine == "telea":
                        seconds = run_telea(case / "plate", case / "matte", out, len(gt))
                    else:
                        config = {"roi": args.roi} if engine == "propagate" else {}
                        seconds = run_engine(engine, case / "plate", case / "matte", out, len(gt), config)
                    results[engine] = read_results(out, len(gt))
                    scores.append(score(engine, gt, holes, objects, results[engine], warps, seconds))
                    s = scores[-1]
                    if i3d_network is not None:
                        composite = np.where(holes[..., None], results[engine], gt)
                        fake_features = i3d.video_features(composite, i3d_network)
                        s.vfid = i3d.vfid_from_features(real_features, fake_features)
                    print(
                        f"{clip:12s} {kind:7s} {engine:10s} PSNR {s.psnr:6.2f} SSIM {s.ssim:.4f}"
                        f" hole {s.hole_psnr:6.2f} / {s.hole_ssim:.4f} bg {s.background_psnr:6.2f}"
                        f" E_warp {1e3 * s.ewarp:.3f} hole {1e3 * s.hole_ewarp:.3f} detail {s.hole_detail:.3f}"
                        f" {s.fps:5.1f} fps outside identical {s.outside_identical}"
                        + (f" VFID {s.vfid:.4f}" if i3d_network is not None else ""),
                        flush=True,
                    )
                if not args.no_reference:
                    reference = len(gt) // 2
                    result, seconds = run_with_reference(
                        gt, case / "plate", case / "matte", case / "propagate_reference", reference, {"roi": args.roi}
                    )
                    name = "propagate + reference"
                    results[name] = result
                    scores.append(score(name, gt, holes, objects, result, warps, seconds))
                    s = scores[-1]
                    print(
                        f"{clip:12s} {kind:7s} {name} PSNR {s.psnr:6.2f} hole {s.hole_psnr:6.2f}"
                        f" E_warp {1e3 * s.ewarp:.3f} hole {1e3 * s.hole_ewarp:.3f} detail {s.hole_detail:.3f}"
                        f" {s.fps:5.1f} fps",
                        flush=True,
                    )
                # The truth's own steadiness and detail: what the hole E_warp and hole detail targets compare with.
                scores.append(score("(ground truth)", gt, holes, objects, gt, warps, float("nan")))
                table[(clip, kind)] = scores
                if not args.no_docs:
                    contact_sheet(gt, holes, results, args.docs / "img" / f"quality_{clip}_{kind}.png")
    if not args.no_docs:
        write_text(args.docs / "quality.md", markdown(table, shares, args, notes, time.perf_counter() - started))
        print(f"wrote {args.docs / 'quality.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``e2fgvi demo`` (``make demo``): the product's main job on a fresh machine, end to end, in under two minutes.

It synthesises a shot whose clean plate it knows (a camera pan over a procedural texture, with a moving occluder
and its matte), writes it as scene-linear half-float EXR the way a compositor would hand it over, runs the same
removal as ``e2fgvi remove`` with the default engine (E2FGVI-HQ with the default or official weights, else the
weight-free ``propagate`` engine, said plainly), writes the clean EXRs and a before/after contact sheet PNG, and
prints the PSNR of the result against the clean plate, in the hole and over the whole frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from e2fgvi_core.contact_sheet import SAMPLE_FRAMES
from e2fgvi_core.io.colour import decode_srgb as srgb_decode
from e2fgvi_core.io.colour import encode_srgb as srgb_encode
from e2fgvi_core.removal.engine_registry import ENGINE_CHOICES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="demo_output", help="folder for the shot, results and contact sheet")
    parser.add_argument("--frames", type=int, default=20, help="length of the synthetic shot (20)")
    parser.add_argument("--size", default="288x160", help="frame size WxH (288x160)")
    parser.add_argument("--engine", default="auto", choices=ENGINE_CHOICES)
    parser.add_argument("--weights", help="checkpoint file or installed name")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")


def synthesise_shot(length: int, width: int, height: int, seed: int = 2022):
    """(plates_linear, mattes, clean_linear): float32 (t, h, w, 3) scene-linear, bool (t, h, w), float32.

    The background is a wide procedural texture (smooth colour fields, stripes and blocks, so flow and structure
    exist) panned by 3 px per frame; the occluder is a dark disc moving against the pan.
    """
    rng = np.random.default_rng(seed)
    wide = width + 3 * length + 8
    yy, xx = np.mgrid[0:height, 0:wide].astype(np.float32)
    display = np.stack(
        [
            0.45 + 0.25 * np.sin(xx / 23.0) * np.cos(yy / 31.0),
            0.40 + 0.20 * np.sin((xx + yy) / 17.0),
            0.35 + 0.25 * np.cos(xx / 41.0 - yy / 29.0),
        ],
        axis=-1,
    )
    display += 0.15 * ((np.floor(xx / 24) + np.floor(yy / 24)) % 2)[..., None]
    for _ in range(12):
        x0, y0 = rng.integers(0, wide - 30), rng.integers(0, height - 20)
        display[y0 : y0 + rng.integers(8, 20), x0 : x0 + rng.integers(10, 30)] = rng.uniform(0.1, 0.9, 3)
    display += rng.normal(0, 0.01, display.shape).astype(np.float32)
    linear = srgb_decode(np.clip(display, 0.0, 1.0))
    clean = np.stack([linear[:, 3 * t : 3 * t + width] for t in range(length)]).astype(np.float32)
    plates = clean.copy()
    mattes = np.zeros((length, height, width), dtype=bool)
    radius = max(6, height // 7)
    fy, fx = np.mgrid[0:height, 0:width]
    for t in range(length):
        cx = width * 0.75 - t * (width * 0.5 / max(1, length - 1))
        cy = height * 0.5 + height * 0.15 * np.sin(t / 3.0)
        disc = (fx - cx) ** 2 + (fy - cy) ** 2 <= radius**2
        mattes[t] = disc
        plates[t][disc] = srgb_decode(np.array([0.12, 0.10, 0.09], np.float32))
    return plates, mattes, clean


def _write_shot(folder: Path, plates: np.ndarray, mattes: np.ndarray, first: int) -> None:
    from e2fgvi_core.io import Frame, write_frame

    for i, (plate, matte) in enumerate(zip(plates, mattes)):
        write_frame(folder / f"plate.{first + i:04d}.exr", Frame.from_array(plate.astype(np.float16)))
        write_frame(folder / f"matte.{first + i:04d}.exr", Frame.from_array(matte.astype(np.float16), ("A",)))


def _contact_sheet(before: np.ndarray, after: np.ndarray, clean: np.ndarray, mattes: np.ndarray) -> np.ndarray:
    """uint8 sheet: one row per sample frame, columns before (matte outlined) | after | clean plate."""
    from e2fgvi_core.contact_sheet import display_uint8, draw_sheet, outline_matte, sample_positions

    rows = []
    for i in sample_positions(len(before), SAMPLE_FRAMES):
        cells = [display_uint8(image) for image in (before[i], after[i], clean[i])]
        rows.append([outline_matte(cells[0], mattes[i]), cells[1], cells[2]])
    return draw_sheet(rows)


def run(args: argparse.Namespace) -> int:
    from e2fgvi_core.errors import ConfigError
    from e2fgvi_core.io import Frame, read_frame, write_frame
    from e2fgvi_core.metrics import psnr
    from e2fgvi_core.removal.api import RemovalRequest, run_removal
    from e2fgvi_core.removal.engine_registry import choose_engine
    from e2fgvi_core.removal.prepare import dilate_hole

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must be WxH, e.g. 288x160; got {args.size!r}") from None
    if args.frames < 2 or width < 32 or height < 32:
        raise ConfigError("--frames must be >= 2 and --size at least 32x32")
    start = time.monotonic()
    folder = Path(args.output)
    first = 1001
    plates, mattes, clean = synthesise_shot(args.frames, width, height)
    _write_shot(folder / "shot", plates, mattes, first)
    print(f"e2fgvi demo: wrote a {args.frames}-frame {width}x{height} scene-linear EXR shot to {folder / 'shot'}")

    choice = choose_engine(args.engine, args.weights)
    if choice.notice:
        print(f"e2fgvi demo: {choice.notice}")
    else:
        print(f"e2fgvi demo: using {choice.engine}")
    request = RemovalRequest.from_mapping(
        {
            "plate": str(folder / "shot" / "plate.%04d.exr"),
            "matte": str(folder / "shot" / "matte.%04d.exr"),
            "out": str(folder / "clean" / "clean.%04d.exr"),
            "engine": choice.engine,
            "weights": args.weights,
            "device": args.device,
        }
    )
    summary = run_removal(request)
    after = np.stack(
        [
            read_frame(folder / "clean" / f"clean.{first + i:04d}.exr").pixels[..., :3].astype(np.float32)
            for i in range(args.frames)
        ]
    )
    sheet = _contact_sheet(plates, after, clean, mattes)
    write_frame(folder / "contact_sheet.png", Frame.from_array(sheet))

    # PSNR in display space (what the eye and the model see), against the clean plate the demo synthesised.
    display_after = np.clip(srgb_encode(after), 0, 1)
    display_clean = np.clip(srgb_encode(clean), 0, 1)
    holes = np.stack([dilate_hole(m) for m in mattes])
    stacked = (-1, width, 3)  # psnr scores (h, w, c) images: stack the frames vertically
    in_hole = psnr(display_clean.reshape(stacked), display_after.reshape(stacked), mask=holes.reshape(-1, width))
    whole = psnr(display_clean.reshape(stacked), display_after.reshape(stacked))
    seconds = time.monotonic() - start
    print(
        f"e2fgvi demo: {summary.frames_written} frames with {summary.engine} in {summary.seconds:.1f} s "
        f"(total {seconds:.1f} s); PSNR vs the clean plate: {in_hole:.2f} dB in the hole, {whole:.2f} dB whole frame"
    )
    print(
        f"e2fgvi demo: results in {folder / 'clean'}, contact sheet {folder / 'contact_sheet.png'} "
        f"(before | after | clean plate)"
    )
    sys.stdout.flush()
    return 0
